"""Plain-data helpers shared by every artifact: exact array encoding and version stamps.

Arrays are stored as base64 of their little-endian bytes, so a JSON round trip is exact
(decimal floats would not be) and a 100k-weight model stays a few hundred KiB.

A float32 array whose values all lie on one grid, value = float32(k) * float32(s) for small integers k
(the weights of a model trained with quantization in the loop and set to its deployed values), can be
stored compactly: `encode_array(a, compact=True)` writes
    {"dtype": "float32", "shape": [...], "grid": {"bits": 4 or 8, "scale": s}, "b64": k packed}
(k two's complement, 4-bit k two to a byte, element 2i in the low nibble, an odd count's last high nibble
zero), and only when decoding gives back every value bit for bit (float32 multiplication rounds k * s
once, the same on every IEEE machine); otherwise it writes the plain form. A 4-bit grid takes an eighth
of float32's bytes.

Otherwise, a float32 array of few distinct values (a neuron parameter learnt per channel and stored per
neuron, a constant) is stored as its palette and packed 4- or 8-bit indices into it:
    {"dtype": "float32", "shape": [...], "palette": {"bits": 4 or 8, "b64": the distinct values, float32}, "b64": ...}
again exact (the values are copied, not computed), and only where it takes fewer bytes than the plain form.
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


GRID_BITS = (4, 8)


def _grid(a: np.ndarray) -> tuple[int, np.float32, np.ndarray] | None:
    """(bits, scale, k) with float32(k) * scale == a bit for bit, or None. The scale tried is the smallest
    non-zero magnitude (a grid's k = +-1 when it occurs, which a trained layer of any size holds)."""
    if a.dtype != np.float32 or a.size == 0 or not np.all(np.isfinite(a)):
        return None
    mags = np.abs(a[a != 0])
    if mags.size == 0:
        return None
    s = np.float32(mags.min())
    k = np.rint(a.astype(np.float64) / np.float64(s))
    if np.abs(k).max() > 127:
        return None
    k = k.astype(np.int8)
    back = k.astype(np.float32) * s
    if not np.array_equal(back.view(np.uint32), a.view(np.uint32)):  # bit for bit (keeps -0.0 out)
        return None
    bits = 4 if k.min() >= -8 and k.max() <= 7 else 8
    return bits, s, k


def _pack(k: np.ndarray, bits: int) -> bytes:
    flat = k.reshape(-1)
    if bits == 8:
        return flat.astype("<i1").tobytes()
    u = (flat.astype(np.int16) & 0xF).astype(np.uint8)
    if u.size % 2:
        u = np.append(u, np.uint8(0))
    return (u[0::2] | (u[1::2] << 4)).astype(np.uint8).tobytes()


def _unpack(raw: bytes, bits: int, n: int) -> np.ndarray:
    """int8 k [n] from packed bytes; refuses a wrong length or a set padding nibble."""
    want = n if bits == 8 else (n + 1) // 2
    if len(raw) != want:
        raise ValueError(f"{len(raw)} bytes stored for {n} {bits}-bit values (need {want})")
    b = np.frombuffer(raw, dtype=np.uint8)
    if bits == 8:
        return b.view(np.int8).copy()
    u = np.empty(2 * b.size, dtype=np.uint8)
    u[0::2], u[1::2] = b & 0xF, b >> 4
    if n % 2 and u[-1]:
        raise ValueError("the padding nibble after the last 4-bit value is not zero")
    u = u[:n].astype(np.int8)
    return np.where(u >= 8, u - 16, u).astype(np.int8)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _palette(a: np.ndarray) -> dict | None:
    """The palette form of a float32 array of at most 256 distinct bit patterns, when it is smaller."""
    if a.dtype != np.float32 or a.size == 0:
        return None
    values, idx = np.unique(np.ascontiguousarray(a).reshape(-1).view(np.uint32), return_inverse=True)
    if values.size > 256:
        return None
    bits = 4 if values.size <= 16 else 8
    packed = _pack((idx.astype(np.int16) - (8 if bits == 4 else 128)).astype(np.int8), bits)
    if len(packed) + 4 * values.size >= 4 * a.size:
        return None
    return {"dtype": "float32", "shape": list(a.shape),
            "palette": {"bits": bits, "b64": _b64(values.astype("<u4").tobytes())}, "b64": _b64(packed)}


def encode_array(a: np.ndarray, compact: bool = False) -> dict:
    """The stored form of `a`; with `compact`, a float32 array on a grid, or of few distinct values, is stored
    packed (module docstring)."""
    a = np.asarray(a)
    if compact:
        g = _grid(a)
        if g is not None:
            bits, s, k = g
            return {"dtype": "float32", "shape": list(a.shape), "grid": {"bits": bits, "scale": float(s)},
                    "b64": _b64(_pack(k, bits))}
        pal = _palette(a)
        if pal is not None:
            return pal
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
        if "grid" in d:
            if "palette" in d:
                raise ValueError("an array has a grid or a palette, not both")
            return _decode_grid(d["grid"], d["dtype"], raw, shape)
        if "palette" in d:
            return _decode_palette(d["palette"], d["dtype"], raw, shape)
        a = np.frombuffer(raw, dtype=dtype)
        if a.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{a.size} values stored for shape {shape}")
        return a.reshape(shape).astype(dtype.newbyteorder("="))
    except (KeyError, TypeError, ValueError) as e:
        raise EdgesnnError(f"{where}: malformed stored array ({e})") from None


def _decode_grid(grid, dtype: str, raw: bytes, shape: tuple[int, ...]) -> np.ndarray:
    if dtype != "float32":
        raise ValueError(f"a grid array must be float32, not {dtype!r}")
    if not isinstance(grid, dict) or set(grid) != {"bits", "scale"}:
        raise ValueError("grid must hold exactly 'bits' and 'scale'")
    bits, scale = grid["bits"], grid["scale"]
    if isinstance(bits, bool) or bits not in GRID_BITS:
        raise ValueError(f"grid bits {bits!r} is not one of {GRID_BITS}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) \
            or not 0 < scale <= float(np.finfo(np.float32).max) or float(np.float32(scale)) != scale:
        raise ValueError(f"grid scale {scale!r} is not a positive finite float32 value")
    k = _unpack(raw, int(bits), int(np.prod(shape, dtype=np.int64)))
    with np.errstate(over="ignore"):  # k * scale beyond float32 is inf, which the node's validation names
        return (k.astype(np.float32) * np.float32(scale)).reshape(shape)


def _decode_palette(pal, dtype: str, raw: bytes, shape: tuple[int, ...]) -> np.ndarray:
    if dtype != "float32":
        raise ValueError(f"a palette array must be float32, not {dtype!r}")
    if not isinstance(pal, dict) or set(pal) != {"bits", "b64"}:
        raise ValueError("palette must hold exactly 'bits' and 'b64'")
    bits = pal["bits"]
    if isinstance(bits, bool) or bits not in GRID_BITS:
        raise ValueError(f"palette bits {bits!r} is not one of {GRID_BITS}")
    if not isinstance(pal["b64"], str) or len(pal["b64"]) > 4 * ((4 << bits) + 2) // 3:
        raise ValueError(f"palette values must be base64 of at most {1 << bits} float32 values")
    values = base64.b64decode(pal["b64"], validate=True)
    if not 0 < len(values) <= 4 << bits or len(values) % 4:
        raise ValueError(f"palette of {len(values)} bytes: need 1 to {1 << bits} float32 values")
    table = np.frombuffer(values, dtype="<f4").astype(np.float32)
    idx = _unpack(raw, int(bits), int(np.prod(shape, dtype=np.int64))).astype(np.int16) + (8 if bits == 4 else 128)
    if idx.size and int(idx.max()) >= table.size:
        raise ValueError(f"palette index {int(idx.max())} beyond its {table.size} values")
    return table[idx].reshape(shape)


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
