"""Where the files edgesnn ships beside its code live: board files, calibrations, the C runtime's sources
(firmware is built from them) and the example models and data (the demo and the held-out calibration check).

In a source checkout (an editable install) they are the repository's own folders `boards/`,
`calibration/`, `runtime_c/` and `examples/`. A wheel carries copies of them under `edgesnn/_share/`
(setup.py's build step puts them there), so an installed edgesnn needs nothing beside it.

Two environment variables add places of the user's own, searched before the shipped ones:
- `EDGESNN_BOARDS`: folders of board files (`*.toml`), separated by `os.pathsep`; a file there with
  the id of a shipped board replaces it.
- `EDGESNN_CALIBRATION_DIR`: where calibrations are looked up first and where `edgesnn calibrate`
  writes by default. Without it, an installed edgesnn writes to the user's data folder
  (`$XDG_DATA_HOME/edgesnn/calibration`, looked up before the shipped calibrations), never into
  site-packages; a checkout writes to its own `calibration/`, as `make calibrate` expects.

A calibration of the user's own steers the planner, so one is used only when nobody else can have
written it: the file and its folder must be owned by the user and not writable by group or others
(UntrustedFile otherwise: one error naming the file and what to do; never silently skipped, which would
plan with other figures than the user expects). The checkout's own calibration/ is the repository's.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import EdgesnnError


class UntrustedFile(EdgesnnError):
    """A file of the user's own that others could have written (another owner, or group/other-writable)."""

PACKAGE = Path(__file__).resolve().parent
SHARED_FOLDERS = ("boards", "calibration", "runtime_c", "examples")


def _checkout() -> Path | None:
    """The repository this package sits in, when it is a source checkout."""
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "runtime_c" / "src").is_dir():
        return root
    return None


CHECKOUT = _checkout()
SHARE = CHECKOUT or PACKAGE / "_share"

BOARDS_DIR = SHARE / "boards"
CALIBRATION_DIR = SHARE / "calibration"
RUNTIME_C = SHARE / "runtime_c"
EXAMPLES = SHARE / "examples"


def board_dirs() -> list[Path]:
    """Folders of board files, the user's (EDGESNN_BOARDS) first, then the shipped catalogue."""
    extra = [Path(p) for p in os.environ.get("EDGESNN_BOARDS", "").split(os.pathsep) if p]
    return [*extra, BOARDS_DIR]


def user_calibration_dir() -> Path:
    """Where calibrations of the user's own go: EDGESNN_CALIBRATION_DIR, else the checkout's
    calibration/, else $XDG_DATA_HOME/edgesnn/calibration."""
    env = os.environ.get("EDGESNN_CALIBRATION_DIR")
    if env:
        return Path(env)
    if CHECKOUT is not None:
        return CALIBRATION_DIR
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "edgesnn" / "calibration"


def calibration_file(board_id: str) -> Path:
    """The calibration of `board_id` that applies: the user's when there is one, else the shipped one
    (which may not exist: the cost model then uses the board file's priors)."""
    mine = user_calibration_dir() / f"{board_id}.json"
    if not mine.exists():
        return CALIBRATION_DIR / f"{board_id}.json"
    if mine.parent.resolve() != CALIBRATION_DIR.resolve():
        check_not_writable_by_others(mine, "calibration")
    return mine


def untrusted(path: Path, *, root_ok: bool = False, group_ok: bool = False) -> tuple[Path, str] | None:
    """(the file or folder at fault, why) when `path` or its folder could have been written by someone else:
    owned by another user (root allowed when root_ok), or writable by others (or by the group unless group_ok);
    None when both are safe."""
    for p in (path.parent, path):
        st = os.stat(p)
        if st.st_uid != os.getuid() and not (root_ok and st.st_uid == 0):
            whom = f"neither you (uid {os.getuid()}) nor root" if root_ok else f"not by you (uid {os.getuid()})"
            return p, f"is owned by uid {st.st_uid}, {whom}"
        if st.st_mode & (0o002 if group_ok else 0o022):
            return p, f"has mode {stat.S_IMODE(st.st_mode):04o}: {'anyone' if group_ok else 'group or others'} can write it"
    return None


def check_not_writable_by_others(path: Path, what: str) -> None:
    """UntrustedFile unless `path` and its folder are owned by the user and not writable by group or others."""
    bad = untrusted(path)
    if bad:
        p, why = bad
        raise UntrustedFile(f"{path}: not used as the {what} for its board: {p} {why}, so someone else may have "
                            f"written it; if it is yours, `chmod go-w {p}`, else remove it (or set "
                            f"EDGESNN_CALIBRATION_DIR to a folder of your own)")
