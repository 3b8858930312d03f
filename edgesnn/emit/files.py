"""Writing a set of files into one folder so that a failure leaves nothing half written."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import EmitError


def write_files(out_dir: str | os.PathLike, files: dict[str, bytes]) -> Path:
    """Writes `files` (name -> bytes) into out_dir, all or nothing.

    Everything is written into a fresh temporary folder beside out_dir first. A new out_dir is
    then that folder renamed (atomic); an existing one gets each file moved in with os.replace
    (each atomic), after every file has been written. Other files in an existing out_dir stay.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EmitError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            if Path(name).name != name or name in ("", ".", ".."):
                raise EmitError(f"{name!r}: file names only, no folders")
            (tmp / name).write_bytes(data)
        try:
            os.rename(tmp, out)  # out did not exist: one atomic step
            return out
        except OSError:
            if not out.is_dir():
                raise
        for name in files:
            os.replace(tmp / name, out / name)
        tmp.rmdir()
        return out
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
