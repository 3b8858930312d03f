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
"""

from __future__ import annotations

import os
from pathlib import Path

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
    return mine if mine.exists() else CALIBRATION_DIR / f"{board_id}.json"
