"""Data helpers: the bundled digits set, rate coding, and edgesnn's `.npz` data set format.

A data set file is a numpy `.npz` archive with two arrays:

    inputs   [N, T, *input_shape]  spikes or values per sample and time step
             (bool, integer or float; the example sets store uint8 spikes)
    labels   [N]                   integer class of each sample

`save_dataset` checks both and writes atomically; `load_dataset` checks them again and names the
file and the field at fault in an `EdgesnnError`. Every array's `.npy` header is read and checked before
its data: a numeric dtype (bool, integer, float; never an object array, so nothing is ever unpickled), at
most EDGESNN_MAX_ELEMENTS elements (artifact.py `max_elements`), and as many data bytes as the header
promises. Only numpy is needed here; scikit-learn, which ships the digits, is imported only by
`load_digits_split`.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from .artifact import atomic_write_bytes, check_elements
from .errors import EdgesnnError
from .events import bin_events, check_events

FIELDS = ("inputs", "labels")


# ----------------------------------------------------------------------------------------------
# The digits
# ----------------------------------------------------------------------------------------------

def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """scikit-learn's bundled 8x8 digits, split into train and test, stratified by class.

    Returns (x_train, y_train, x_test, y_test): images float32 [N, 8, 8] scaled from 0..16 to
    [0, 1], labels int64 [N]. The split depends only on `seed` and `test_fraction`.
    """
    if not 0 < test_fraction < 1:
        raise EdgesnnError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise EdgesnnError("the digits data set needs scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def rate_code(images: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """Bernoulli rate coding: uint8 spikes [N, steps, *image_shape] from intensities [N, *image_shape].

    Each pixel spikes at each step independently with probability equal to its intensity, which
    must lie in [0, 1] (0 never spikes, 1 always does). Deterministic: the uniforms u come from
    `numpy.random.default_rng(seed).random((N, steps, *image_shape))` (float64, PCG64, the same on
    every platform) and a spike is `u < intensity`. The draws are made for the whole array at
    once, so a sample's spikes depend on its position in `images` as well as on `seed`.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise EdgesnnError(f"images must be [N, *image_shape], got shape {images.shape}")
    if images.dtype.kind not in "biuf":
        raise EdgesnnError(f"images must be numeric, got dtype {images.dtype}")
    p = images.astype(np.float64)
    if not np.all(np.isfinite(p)):
        raise EdgesnnError("images must hold intensities in [0, 1] (spike probabilities); "
                           "got NaN or infinite values")
    if np.any(p < 0) or np.any(p > 1):
        raise EdgesnnError("images must hold intensities in [0, 1] (spike probabilities); "
                           f"got values in [{p.min():.4g}, {p.max():.4g}]")
    if int(steps) != steps or steps < 1:
        raise EdgesnnError(f"steps must be a positive integer, got {steps!r}")
    rng = np.random.default_rng(seed)
    u = rng.random((p.shape[0], int(steps), *p.shape[1:]))
    return (u < p[:, None]).astype(np.uint8)


def level_code(images: np.ndarray, levels: int) -> np.ndarray:
    """Thermometer (level) coding: uint8 spikes [N, *image_shape, levels] from intensities in [0, 1].

    Channel k (0 <= k < levels) spikes when the intensity exceeds k / levels: a blank pixel sends
    nothing, a full one spikes on every channel. Deterministic (no sampling).
    """
    images = np.asarray(images)
    if images.ndim < 2 or images.dtype.kind not in "biuf":
        raise EdgesnnError(f"images must be a numeric array [N, *image_shape], got {images.dtype} {images.shape}")
    p = images.astype(np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise EdgesnnError("images must hold intensities in [0, 1]")
    if int(levels) != levels or levels < 1:
        raise EdgesnnError(f"levels must be a positive integer, got {levels!r}")
    thresholds = np.arange(int(levels)) / int(levels)
    return (p[..., None] > thresholds).astype(np.uint8)


def sequential_pixels(images: np.ndarray, levels: int = 4, permutation: np.ndarray | None = None) -> np.ndarray:
    """One pixel per time step (sequential digits): uint8 [N, H*W, levels] from images [N, H, W].

    Step t carries pixel permutation[t] of the row-major image (all pixels in order when None),
    level-coded into `levels` channels (`level_code`).
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise EdgesnnError(f"images must be [N, *image_shape], got shape {images.shape}")
    flat = images.reshape(images.shape[0], -1)
    if permutation is not None:
        permutation = np.asarray(permutation)
        if sorted(permutation.tolist()) != list(range(flat.shape[1])):
            raise EdgesnnError(f"permutation must reorder the {flat.shape[1]} pixels")
        flat = flat[:, permutation]
    return level_code(flat, levels)


# ----------------------------------------------------------------------------------------------
# The .npz data set format
# ----------------------------------------------------------------------------------------------

def _check(inputs, labels, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(inputs, np.ndarray):
        raise EdgesnnError(f"{where}: field 'inputs' must be a numpy array, got {type(inputs).__name__}")
    if not isinstance(labels, np.ndarray):
        raise EdgesnnError(f"{where}: field 'labels' must be a numpy array, got {type(labels).__name__}")
    if inputs.dtype.kind not in "biuf":
        raise EdgesnnError(f"{where}: field 'inputs' has dtype {inputs.dtype}; need bool, integer or float")
    if inputs.ndim < 3:
        raise EdgesnnError(f"{where}: field 'inputs' has shape {inputs.shape}; need [N, T, *input_shape] "
                           "(at least 3 axes)")
    if inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise EdgesnnError(f"{where}: field 'inputs' has shape {inputs.shape}; need at least one sample "
                           "and one time step")
    if inputs.dtype.kind == "f" and not np.all(np.isfinite(inputs)):
        raise EdgesnnError(f"{where}: field 'inputs' contains NaN or infinite values")
    if labels.dtype.kind not in "iu":
        raise EdgesnnError(f"{where}: field 'labels' has dtype {labels.dtype}; need an integer dtype")
    if labels.shape != (inputs.shape[0],):
        raise EdgesnnError(f"{where}: field 'labels' has shape {labels.shape}; need ({inputs.shape[0]},), "
                           "one label per sample of 'inputs'")
    if labels.size and labels.min() < 0:
        raise EdgesnnError(f"{where}: field 'labels' holds a negative class ({labels.min()})")
    return inputs, labels


def save_dataset(path: str | os.PathLike, inputs: np.ndarray, labels: np.ndarray) -> None:
    """Write a data set `.npz` (compressed), atomically: a failure leaves no file behind."""
    inputs, labels = _check(inputs, labels, str(path))
    buf = io.BytesIO()
    np.savez_compressed(buf, inputs=inputs, labels=labels)
    atomic_write_bytes(path, buf.getvalue())


def load_dataset(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a data set `.npz`: returns (inputs [N, T, *input_shape], labels [N])."""
    path = Path(path)
    if is_event_file(path):
        x, y = load_event_inputs(path)
        if y is None:
            raise EdgesnnError(f"{path}: missing field 'labels' (a data set needs one label per recording)")
        return _check(x, y, str(path))
    got = _read_npz(path, FIELDS, FIELDS)
    return _check(got["inputs"], got["labels"], str(path))


def _read_npz(path: Path, fields: tuple[str, ...], required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays `fields` of an `.npz` archive that holds them (those in `required` must be there);
    every failure an EdgesnnError naming the file and the field."""
    if not path.exists():
        raise EdgesnnError(f"{path}: no such file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise EdgesnnError(f"{path}: not a readable .npz archive ({e})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise EdgesnnError(f"{path}: a single .npy array, not a data set .npz archive holding "
                           "'inputs' and 'labels'")
    with z:
        present = set(z.files)
        for key in required:
            if key not in present:
                raise EdgesnnError(f"{path}: missing field {key!r} (a data set .npz holds "
                                   f"'inputs' [N, T, ...] and 'labels' [N]; found {sorted(present)})")
        got = {}
        for key in fields:
            if key not in present:
                continue
            try:
                names = z.zip.namelist()
                info = z.zip.getinfo(key + ".npy" if key + ".npy" in names else key)
                with z.zip.open(info) as f:
                    _check_header(f, info.file_size, f"{path}: field {key!r}")
            except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
                raise EdgesnnError(f"{path}: field {key!r} is damaged ({e})") from None
            try:
                got[key] = z[key]
            except ValueError as e:  # an object array, which would need pickle
                raise EdgesnnError(f"{path}: field {key!r} cannot be read without pickle ({e})") from None
            except (OSError, EOFError, zipfile.BadZipFile) as e:
                raise EdgesnnError(f"{path}: field {key!r} is damaged ({e})") from None
    return got


def _format(path: Path, what: str, key: str) -> str:
    """'npy' or 'npz', from the file's first bytes; EdgesnnError when it is neither or cannot be read."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise EdgesnnError(f"{path}: no such file") from None
    except OSError as e:
        raise EdgesnnError(f"{path}: cannot read {what} ({e})") from None
    if magic == b"\x93NUMPY":
        return "npy"
    if magic.startswith(b"PK"):
        return "npz"
    raise EdgesnnError(f"{path}: {what} must be a .npy array file (np.save) or a data set .npz holding "
                       f"'{key}' (np.savez), and this is neither")


_MAX_HEADER = 10_000  # bytes of an .npy header (numpy's own default limit)


def _check_header(f, size: int, where: str) -> None:
    """Read the .npy header at the start of the open file `f` (of `size` bytes) and refuse, naming `where`,
    what must not be loaded: an object or structured dtype, more than max_elements() values, fewer data bytes
    than the header promises. ValueError/EOFError for a header numpy cannot parse."""
    from numpy.lib import format as npf
    version = npf.read_magic(f)
    read = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
    shape, _, dtype = read(f, max_header_size=_MAX_HEADER)
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biuf":
        raise EdgesnnError(f"{where}: dtype {dtype} is not allowed; need bool, integer or float values "
                           "(object arrays would need pickle, which edgesnn never uses)")
    n = check_elements(shape, where, error=EdgesnnError)
    need = n * dtype.itemsize
    have = size - f.tell()
    if have < need:
        raise EdgesnnError(f"{where}: truncated: the header promises {shape} {dtype} ({need:,} bytes of data), the "
                           f"file holds {max(have, 0):,}")


def _read_npy(path: Path, what: str) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            _check_header(f, path.stat().st_size, f"{path}: {what}")
    except (ValueError, OSError, EOFError) as e:
        raise EdgesnnError(f"{path}: cannot read {what} ({e})") from None
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise EdgesnnError(f"{path}: cannot read {what} ({e})") from None


def load_inputs(path: str | os.PathLike, what: str = "inputs") -> tuple[np.ndarray, np.ndarray | None]:
    """Inputs [N, T, ...] from an `.npy` array file (np.save) or a data set `.npz` holding 'inputs' and
    optionally 'labels': returns (inputs, labels or None). The one loader of every command's inputs
    (--inputs, --calib); `what` names them in messages. Labels, when present, are checked as
    load_dataset checks them; the inputs' shape and values are left to the model that takes them."""
    path = Path(path)
    if _format(path, what, "inputs") == "npy":
        if _npy_is_structured(path):
            return load_event_inputs(path)  # checks the events, then says they need a binning
        return _read_npy(path, what), None
    if is_event_file(path):
        return load_event_inputs(path)
    got = _read_npz(path, FIELDS, ("inputs",))
    inputs, labels = got["inputs"], got.get("labels")
    if labels is not None:
        check_labels(labels, inputs.shape[0] if inputs.ndim else 0, f"{path}: field 'labels'")
    return inputs, labels


def load_labels(path: str | os.PathLike, n: int) -> np.ndarray:
    """Labels [n] from an `.npy` array file, or the 'labels' field of a data set `.npz`."""
    path = Path(path)
    if _format(path, "labels", "labels") == "npy":
        return check_labels(_read_npy(path, "labels"), n, f"{path}: labels")
    return check_labels(_read_npz(path, ("labels",), ("labels",))["labels"], n, f"{path}: field 'labels'")


def check_labels(labels, n: int, where: str) -> np.ndarray:
    """Labels as a data set holds them: integers >= 0, one per input; EdgesnnError naming `where`."""
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        raise EdgesnnError(f"{where} has dtype {getattr(labels, 'dtype', type(labels).__name__)}; "
                           "need an integer dtype")
    if labels.shape != (n,):
        raise EdgesnnError(f"{where} has shape {labels.shape}; need ({n},), one label per input")
    if labels.size and labels.min() < 0:
        raise EdgesnnError(f"{where} holds a negative class ({labels.min()})")
    return labels


# ----------------------------------------------------------------------------------------------
# Event data sets (docs/data.md): recordings of tonic-style events, binned on loading (events.py)
# ----------------------------------------------------------------------------------------------

EVENT_FIELDS = ("x", "y", "t", "p", "offsets", "labels", "sensor_size", "dt", "steps", "size", "merge_polarity")
EVENT_REQUIRED = ("x", "t", "p", "offsets", "sensor_size", "dt", "steps")


def is_event_file(path: str | os.PathLike) -> bool:
    """An event data set .npz: one holding 'offsets' (read from the zip's directory, no array loaded)."""
    try:
        with zipfile.ZipFile(path) as z:
            return "offsets.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def save_events(path: str | os.PathLike, recordings, labels, sensor_size, *, dt: int, steps: int, size=None,
                merge_polarity: bool = False) -> None:
    """Write an event data set .npz (compressed, atomically): the recordings (structured arrays x, y, t, p or
    x, t, p) concatenated with their offsets, labels [N] (or None), the sensor size (W, H, P; H = 1 for
    audio) and the binning that loading applies (dt, steps, and optionally size (W', H') and merged
    polarities). Every recording is checked as loading checks it."""
    recordings = list(recordings)
    if not recordings:
        raise EdgesnnError(f"{path}: no recordings to save")
    names = recordings[0].dtype.names or ()
    for i, ev in enumerate(recordings):
        check_events(ev, sensor_size, f"{path}: recording {i}")
        if (ev.dtype.names or ()) != names:
            raise EdgesnnError(f"{path}: recording {i} has fields {ev.dtype.names}, recording 0 {names}")
    arrays = {f: np.concatenate([ev[f] for ev in recordings]) for f in names}
    arrays["offsets"] = np.concatenate([[0], np.cumsum([len(ev) for ev in recordings])]).astype(np.int64)
    arrays["sensor_size"] = np.asarray(sensor_size, dtype=np.int64)
    arrays["dt"], arrays["steps"] = np.int64(dt), np.int64(steps)
    if labels is not None:
        arrays["labels"] = check_labels(np.asarray(labels), len(recordings), f"{path}: field 'labels'")
    if size is not None:
        arrays["size"] = np.asarray(size, dtype=np.int64)
    arrays["merge_polarity"] = np.int64(bool(merge_polarity))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _scalar(a: np.ndarray, path: Path, key: str) -> int:
    if a.shape != () or a.dtype.kind not in "iu":
        raise EdgesnnError(f"{path}: field {key!r} must be an integer scalar, got {a.dtype} {a.shape}")
    return int(a)


def load_events(path: str | os.PathLike):
    """The recordings of an event data set .npz, or of a .npy holding one structured event array.

    Returns (recordings: list of structured arrays, labels [N] or None, info: dict with sensor_size, dt,
    steps, size, merge_polarity; for a .npy, sensor_size is (max x + 1, max y + 1 or 1, 2) and no binning).
    Every failure is an EdgesnnError naming the file and the field."""
    path = Path(path)
    if _format(path, "events", "offsets") == "npy":
        ev = _read_structured_npy(path)
        camera = "y" in (ev.dtype.names or ())
        check_events(ev, (2**62, 2**62, 2), f"{path}")
        ss = (int(ev["x"].max()) + 1 if ev.size else 1, (int(ev["y"].max()) + 1 if ev.size else 1) if camera else 1,
              2)
        return [ev], None, {"sensor_size": ss, "dt": None, "steps": None, "size": None, "merge_polarity": False}
    got = _read_npz(path, EVENT_FIELDS, EVENT_REQUIRED)
    ss = got["sensor_size"]
    if ss.shape != (3,) or ss.dtype.kind not in "iu" or ss.min() < 1 or ss[2] > 2:
        raise EdgesnnError(f"{path}: field 'sensor_size' must be 3 positive integers (W, H, P) with P 1 or 2, "
                           f"got {ss.tolist()}")
    info = {"sensor_size": tuple(int(s) for s in ss), "dt": _scalar(got["dt"], path, "dt"),
            "steps": _scalar(got["steps"], path, "steps"), "size": None,
            "merge_polarity": bool(_scalar(got["merge_polarity"], path, "merge_polarity"))
            if "merge_polarity" in got else False}
    if "size" in got:
        s = got["size"]
        if s.shape != (2,) or s.dtype.kind not in "iu":
            raise EdgesnnError(f"{path}: field 'size' must be 2 integers (W', H'), got {s.dtype} {s.shape}")
        info["size"] = tuple(int(v) for v in s)
    fields = [f for f in ("x", "y", "t", "p") if f in got]
    n_ev = got["t"].shape
    for f in fields:
        if got[f].ndim != 1 or got[f].shape != n_ev:
            raise EdgesnnError(f"{path}: field {f!r} has shape {got[f].shape}; need one value per event {n_ev}")
    off = got["offsets"]
    if off.ndim != 1 or off.size < 2 or off.dtype.kind not in "iu" or off[0] != 0 or off[-1] != n_ev[0] \
            or np.any(np.diff(off.astype(np.int64)) < 0):
        raise EdgesnnError(f"{path}: field 'offsets' must be [N + 1] non-decreasing integers from 0 to the "
                           f"number of events ({n_ev[0]})")
    if info["sensor_size"][1] != 1 and "y" not in got:
        raise EdgesnnError(f"{path}: field 'y' missing, and sensor_size {info['sensor_size']} has a height")
    ev = np.zeros(n_ev, dtype=[(f, got[f].dtype) for f in fields])
    for f in fields:
        ev[f] = got[f]
    check_events(ev[:0], info["sensor_size"], str(path))  # dtypes
    recs = [ev[int(a):int(b)] for a, b in zip(off[:-1], off[1:])]
    for i, r in enumerate(recs):
        check_events(r, info["sensor_size"], str(path), recording=i)
    labels = got.get("labels")
    if labels is not None:
        check_labels(labels, len(recs), f"{path}: field 'labels'")
    return recs, labels, info


def load_event_inputs(path: str | os.PathLike, use_tonic: bool | None = None):
    """(inputs uint8 [N, T, ...], labels or None) of an event data set .npz, binned as the file says."""
    recs, labels, info = load_events(path)
    if info["dt"] is None:
        raise EdgesnnError(f"{path}: a structured event array carries no binning; save it as an event data set "
                           "(edgesnn.data.save_events(..., dt=, steps=)) to run it")
    x, _ = bin_events(recs, info["sensor_size"], info["dt"], info["steps"], size=info["size"],
                      merge_polarity=info["merge_polarity"], use_tonic=use_tonic, where=str(path))
    return x, labels


def _read_structured_npy(path: Path) -> np.ndarray:
    from numpy.lib import format as npf
    try:
        with open(path, "rb") as f:
            version = npf.read_magic(f)
            read = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
            shape, _, dtype = read(f, max_header_size=_MAX_HEADER)
    except (ValueError, OSError, EOFError) as e:
        raise EdgesnnError(f"{path}: cannot read events ({e})") from None
    if dtype.fields is None or dtype.hasobject:
        raise EdgesnnError(f"{path}: not a structured event array (need fields x, y, t, p or x, t, p); "
                           f"got dtype {dtype}")
    if len(shape) != 1:
        raise EdgesnnError(f"{path}: events must be one-dimensional, got shape {shape}")
    check_elements(shape, f"{path}: events")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise EdgesnnError(f"{path}: cannot read events ({e})") from None


def _npy_is_structured(path: Path) -> bool:
    """A one-dimensional structured array with an event field (x, t or p): events, checked as events. Any
    other structured array is refused by _read_npy as a dtype edgesnn does not read."""
    from numpy.lib import format as npf
    try:
        with open(path, "rb") as f:
            version = npf.read_magic(f)
            read = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
            shape, _, dtype = read(f, max_header_size=_MAX_HEADER)
    except (ValueError, OSError, EOFError):
        return False  # _read_npy says what is wrong
    return dtype.names is not None and len(shape) == 1 and bool({"x", "t", "p"} & set(dtype.names))
