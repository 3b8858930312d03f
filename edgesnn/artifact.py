"""Plain-data helpers shared by every artifact: exact array encoding and version stamps.

Arrays are stored as base64 of their little-endian bytes, so a JSON round trip is exact
(decimal floats would not be) and a 100k-weight model stays a few hundred KiB.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import EdgesnnError

_DTYPES = {"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "bool"}


def encode_array(a: np.ndarray) -> dict:
    a = np.asarray(a)
    if a.dtype.name not in _DTYPES:
        raise EdgesnnError(f"cannot store an array of dtype {a.dtype}")
    le = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return {"dtype": a.dtype.name, "shape": list(a.shape),
            "b64": base64.b64encode(np.ascontiguousarray(le).tobytes()).decode("ascii")}


def decode_array(d: dict, where: str = "array") -> np.ndarray:
    try:
        dtype = np.dtype(d["dtype"]).newbyteorder("<")
        if d["dtype"] not in _DTYPES:
            raise ValueError(f"dtype {d['dtype']!r} not allowed")
        shape = tuple(int(s) for s in d["shape"])
        raw = base64.b64decode(d["b64"], validate=True)
        a = np.frombuffer(raw, dtype=dtype)
        if a.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{a.size} values stored for shape {shape}")
        return a.reshape(shape).astype(dtype.newbyteorder("="))
    except (KeyError, TypeError, ValueError) as e:
        raise EdgesnnError(f"{where}: malformed stored array ({e})") from None


def stamp(kind: str, body: dict) -> dict:
    """Add the artifact kind and the edgesnn version that wrote it."""
    return {"artifact": kind, "edgesnn_version": __version__, **body}


class OutputError(EdgesnnError):
    """An output path that cannot be written: a folder where a file is asked for, no permission, a file
    where a folder would have to be."""


def check_writable(path: str | os.PathLike, what: str = "-o") -> None:
    """Refuse, before any work is done, an output file that cannot be written: an existing folder, a path under
    a file, a folder without write permission. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {path}: is a folder; give a file name")
    parent = path.parent
    while not parent.exists():  # the folders atomic_write_bytes would create: the nearest existing one decides
        if parent == parent.parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path}: cannot write in {parent} (permission denied)")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temporary file in the same folder, so a failure leaves no partial file. An output that cannot
    be written raises OutputError (one line naming the path), never a bare OSError."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it an ordinary file's mode
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def load_json(path: str | os.PathLike) -> Any:
    """A JSON artifact, parsed; every way it cannot be is one EdgesnnError naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise EdgesnnError(f"{path}: no such file") from None
    except OSError as e:  # a folder, no permission
        raise EdgesnnError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return json.loads(data)
    except RecursionError:
        raise EdgesnnError(f"{path}: not valid JSON (nested too deeply to parse)") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, and Python's 4300-digit integer limit
        raise EdgesnnError(f"{path}: not valid JSON ({e})") from None


# ---- sizes: bounded before anything is allocated (model files, NIR files, data files)

ENV_MAX_ELEMENTS = "EDGESNN_MAX_ELEMENTS"
DEFAULT_MAX_ELEMENTS = 1 << 26
"""Default bound on the elements of any one tensor of a model or data file, and on a model's tensors in all:
67,108,864 (256 MiB at float32), a hundred times the largest real model here (the MNIST-sized MLP's 401,408
weights) and beyond any microcontroller's memory; raise it with EDGESNN_MAX_ELEMENTS."""


def max_elements() -> int:
    """The element limit: $EDGESNN_MAX_ELEMENTS when set (a positive integer), else DEFAULT_MAX_ELEMENTS."""
    raw = os.environ.get(ENV_MAX_ELEMENTS)
    if raw is None or raw.strip() == "":
        return DEFAULT_MAX_ELEMENTS
    try:
        v = int(raw.replace("_", ""))
    except ValueError:
        v = 0
    if v < 1 or len(raw) > 30:
        raise EdgesnnError(f"{ENV_MAX_ELEMENTS}={raw[:40]!r}: need a positive integer (elements per tensor)")
    return v


def check_elements(shape, what: str, *, error: type[EdgesnnError] = EdgesnnError) -> int:
    """The element count of `shape`, or `error` naming `what` when it exceeds max_elements()."""
    n = math.prod(int(s) for s in shape)
    limit = max_elements()
    if n > limit:
        raise error(f"{what}: shape {tuple(int(s) for s in shape)} holds {n:,} elements, more than the limit of "
                    f"{limit:,} ({ENV_MAX_ELEMENTS} raises it)")
    return n
