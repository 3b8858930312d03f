"""Event streams (tonic's structured arrays) binned into the [N, T, ...] spike counts edgesnn runs.

An event is a record of a numpy structured array, as tonic gives them: camera-style fields x, y, t, p or
audio-style x, t, p (x the channel). t is an integer time (microseconds, as tonic's data sets) and p the
polarity, 0 or 1. `bin_events` turns recordings into uint8 counts:

    camera  [N, T, P, H, W]      (P = 2, or 1 with the polarities merged)
    audio   [N, T, C]            (one polarity), [N, T, 2, C] with two

Step k counts the events with k*dt <= t < (k+1)*dt (times from the recording's start, t = 0), for k < T;
events at t >= T*dt are left out. A count above 255 is saturated to 255 (uint8: the runtime's inputs are
8-bit); `bin_events` returns how many cells saturated. dt is an integer in t's unit, so the bin of an event
is exact integer arithmetic. With tonic installed, each recording is binned by tonic's own
`tonic.transforms.ToFrame(sensor_size, time_window=dt, start_time=0, end_time=T*dt, include_incomplete=True)`
(which slices exactly these windows); without it, by the numpy path here, which tests compare with tonic.

A spatial size smaller than the sensor's (`size`) maps x to x * W' // W (and y likewise) before binning:
integer nearest-lower-cell pooling, the same on both paths.

This module is arrays only (no files): `data.py` reads event data sets and checks them with `check_events`.
"""

from __future__ import annotations

import numpy as np

from .artifact import check_elements
from .errors import EdgesnnError

CAMERA = ("x", "y", "t", "p")
AUDIO = ("x", "t", "p")


def is_camera(events: np.ndarray) -> bool:
    return events.dtype.names is not None and "y" in events.dtype.names


def check_events(ev, sensor_size, where: str, recording: int | None = None) -> None:
    """Refuse malformed events with an EdgesnnError naming `where` and the field: a missing or non-integer
    field, negative or out-of-range coordinates (sensor_size = (W, H, P), H = 1 for audio), negative or
    unsorted times, a polarity other than 0/1 (or 1 on a one-polarity sensor)."""
    names = ev.dtype.names
    if names is None:
        raise EdgesnnError(f"{where}: not a structured event array (need fields x, y, t, p or x, t, p); "
                           f"got dtype {ev.dtype}")
    for f in ("x", "t", "p"):
        if f not in names:
            raise EdgesnnError(f"{where}: field {f!r} missing (events need fields x, y, t, p or x, t, p; "
                               f"found {list(names)})")
    in_rec = "" if recording is None else f" (recording {recording})"
    w, h, npol = (int(s) for s in sensor_size)
    for f, hi in (("x", w), ("y", h)):
        if f not in names:
            continue
        a = ev[f]
        if a.dtype.kind not in "iu":
            raise EdgesnnError(f"{where}: field {f!r} has dtype {a.dtype}; need integers")
        if a.size and a.min() < 0:
            raise EdgesnnError(f"{where}: field {f!r} holds a negative coordinate ({a.min()}){in_rec}")
        if a.size and a.max() >= hi:
            raise EdgesnnError(f"{where}: field {f!r} holds {a.max()}, out of range for a sensor of "
                               f"{hi} ({f} < {hi}){in_rec}")
    t = ev["t"]
    if t.dtype.kind not in "iu":
        raise EdgesnnError(f"{where}: field 't' has dtype {t.dtype}; need integer times (microseconds)")
    if t.size and t.min() < 0:
        raise EdgesnnError(f"{where}: field 't' holds a negative time ({t.min()}){in_rec}")
    if t.size > 1 and np.any(np.diff(t.astype(np.int64)) < 0):
        i = int(np.argmax(np.diff(t.astype(np.int64)) < 0))
        raise EdgesnnError(f"{where}: field 't' is not sorted (event {i + 1} at {t[i + 1]} after {t[i]}){in_rec}")
    p = ev["p"]
    if p.dtype.kind not in "biu":
        raise EdgesnnError(f"{where}: field 'p' has dtype {p.dtype}; need polarities 0/1 (bool or integer)")
    if p.size and (p.astype(np.int64).min() < 0 or p.astype(np.int64).max() > npol - 1):
        bad = p.astype(np.int64)
        v = bad.min() if bad.min() < 0 else bad.max()
        raise EdgesnnError(f"{where}: field 'p' holds polarity {v}; need 0" + (" or 1" if npol == 2 else
                           " (a one-polarity sensor)") + in_rec)


def _out_shape(camera: bool, sensor_size, npol: int):
    w, h, _ = sensor_size
    if camera:
        return (npol, h, w)
    return (w,) if npol == 1 else (npol, w)


def _resize(ev: np.ndarray, sensor_size, size) -> tuple[np.ndarray, tuple[int, int, int]]:
    w, h, npol = sensor_size
    if size is None:
        return ev, (w, h, npol)
    nw, nh = int(size[0]), int(size[1]) if is_camera(ev) else 1
    if not (1 <= nw <= w and 1 <= nh <= h):
        raise EdgesnnError(f"size {tuple(size)} must lie within the sensor's {w}x{h}")
    ev = ev.copy()
    ev["x"] = ev["x"].astype(np.int64) * nw // w
    if is_camera(ev):
        ev["y"] = ev["y"].astype(np.int64) * nh // h
    return ev, (nw, nh, npol)


def bin_events(recordings, sensor_size, dt: int, steps: int, *, size=None, merge_polarity: bool = False,
               use_tonic: bool | None = None, where: str = "events") -> tuple[np.ndarray, int]:
    """uint8 counts [N, T, ...] (module docstring) of a list of structured event arrays, and the number of
    cells saturated at 255. use_tonic: None uses tonic when it is installed, True requires it, False never."""
    if int(dt) != dt or dt < 1:
        raise EdgesnnError(f"dt must be a positive integer (in the events' time unit), got {dt!r}")
    if int(steps) != steps or steps < 1:
        raise EdgesnnError(f"steps must be a positive integer, got {steps!r}")
    dt, steps = int(dt), int(steps)
    sensor_size = tuple(int(s) for s in sensor_size)
    if len(recordings) == 0:
        raise EdgesnnError("no recordings to bin")
    camera = is_camera(recordings[0])
    tonic_mod = None
    if use_tonic is not False:
        try:
            import tonic.transforms as tonic_mod
        except ImportError:
            if use_tonic:
                raise EdgesnnError("binning with tonic needs tonic: pip install 'edgesnn[data]'") from None
    out_pol = 1 if merge_polarity else sensor_size[2]
    inner = _out_shape(camera, _resize(recordings[0][:0], sensor_size, size)[1], out_pol)
    check_elements((len(recordings), steps, *inner), f"{where} binned")
    out = np.zeros((len(recordings), steps, *inner), dtype=np.uint8)
    saturated = 0
    for i, ev in enumerate(recordings):
        ev, ss = _resize(ev, sensor_size, size)
        if merge_polarity:
            ev = ev.copy()
            ev["p"] = 0
            ss = (ss[0], ss[1], 1)
        counts = (_bin_tonic(tonic_mod, ev, ss, dt, steps) if tonic_mod is not None
                  else _bin_numpy(ev, ss, dt, steps))
        counts = counts.reshape(steps, *inner)
        saturated += int(np.count_nonzero(counts > 255))
        out[i] = np.minimum(counts, 255)
    return out, saturated


def _bin_numpy(ev: np.ndarray, ss, dt: int, steps: int) -> np.ndarray:
    """int64 counts [T, P, H, W] (camera) or [T, P, W] (audio): step t // dt, events past T*dt left out."""
    w, h, npol = ss
    k = ev["t"].astype(np.int64) // dt
    keep = k < steps
    p = ev["p"].astype(np.int64)[keep]
    x = ev["x"].astype(np.int64)[keep]
    if "y" in ev.dtype.names:
        y = ev["y"].astype(np.int64)[keep]
        flat = ((k[keep] * npol + p) * h + y) * w + x
        return np.bincount(flat, minlength=steps * npol * h * w).reshape(steps, npol, h, w)
    flat = (k[keep] * npol + p) * w + x
    return np.bincount(flat, minlength=steps * npol * w).reshape(steps, npol, w)


def _bin_tonic(tonic_mod, ev: np.ndarray, ss, dt: int, steps: int) -> np.ndarray:
    if ev.size == 0:  # tonic reads t[0] to slice: an empty recording is all zeros
        return _bin_numpy(ev, ss, dt, steps)
    frames = tonic_mod.ToFrame(sensor_size=ss, time_window=dt, start_time=0, end_time=steps * dt,
                               include_incomplete=True)(ev)
    if frames.shape[0] != steps:
        raise EdgesnnError(f"tonic's ToFrame made {frames.shape[0]} frames, expected {steps}")
    return frames.astype(np.int64)
