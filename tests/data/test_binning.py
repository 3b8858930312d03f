"""Binning events into [N, T, ...] counts: the numpy path against a hand-written loop and against tonic's
own ToFrame (where tonic is installed), saturation at 255, events past T*dt left out."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.errors import EdgesnnError
from edgesnn.events import bin_events

CAM = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
AUD = np.dtype([("x", "<i2"), ("t", "<i8"), ("p", "<i1")])


def events(rng, n, w, h, t_max, camera=True, npol=2):
    ev = np.zeros(n, dtype=CAM if camera else AUD)
    ev["x"] = rng.integers(0, w, n)
    if camera:
        ev["y"] = rng.integers(0, h, n)
    ev["t"] = np.sort(rng.integers(0, t_max, n))
    ev["p"] = rng.integers(0, npol, n)
    return ev


def by_hand(recs, sensor, dt, steps, size=None, merge=False):
    """The documented binning, one event at a time."""
    w, h, npol = sensor
    cam = "y" in recs[0].dtype.names
    nw, nh = (w, h) if size is None else (size[0], size[1] if cam else 1)
    npo = 1 if merge else npol
    out = np.zeros((len(recs), steps, npo, nh, nw), dtype=np.int64)
    for i, ev in enumerate(recs):
        for e in ev:
            k = int(e["t"]) // dt
            if k >= steps:
                continue
            x = int(e["x"]) * nw // w
            y = int(e["y"]) * nh // h if cam else 0
            out[i, k, 0 if merge else int(e["p"]), y, x] += 1
    out = np.minimum(out, 255).astype(np.uint8)
    if cam:
        return out
    out = out[:, :, :, 0, :]
    return out[:, :, 0] if npo == 1 else out


@pytest.mark.parametrize("camera", [True, False])
@pytest.mark.parametrize("size,merge", [(None, False), (None, True), ((5, 3), False), ((4, 4), True)])
def test_numpy_binning_is_the_documented_one(camera, size, merge):
    rng = np.random.default_rng(3)
    sensor = (11, 7, 2) if camera else (11, 1, 2)
    size = None if size is None else (size if camera else (size[0], 1))
    recs = [events(rng, n, 11, 7, 5000, camera) for n in (0, 1, 40, 300)]
    got, sat = bin_events(recs, sensor, 400, 11, size=size, merge_polarity=merge, use_tonic=False)
    want = by_hand(recs, sensor, 400, 11, size, merge)
    assert got.dtype == np.uint8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert sat == 0
    # 11 steps of 400 cover t < 4400: events after that are left out
    assert got.sum() == sum(int((r["t"] < 4400).sum()) for r in recs)


def test_counts_saturate_at_255_and_are_counted():
    ev = np.zeros(300, dtype=CAM)
    ev["x"], ev["y"], ev["t"], ev["p"] = 2, 1, np.arange(300), 1
    got, sat = bin_events([ev], (4, 4, 2), 1000, 2, use_tonic=False)
    assert got[0, 0, 1, 1, 2] == 255 and sat == 1 and got.sum() == 255


def test_bad_binning_is_refused():
    ev = np.zeros(1, dtype=CAM)
    for dt, steps in ((0, 3), (1.5, 3), (10, 0)):
        with pytest.raises(EdgesnnError):
            bin_events([ev], (4, 4, 2), dt, steps, use_tonic=False)


@pytest.mark.parametrize("camera", [True, False])
@pytest.mark.parametrize("npol", [1, 2])
def test_numpy_path_equals_tonics_ToFrame(camera, npol):
    tonic_t = pytest.importorskip("tonic.transforms")
    rng = np.random.default_rng(5)
    sensor = (34, 34, npol) if camera else (70, 1, npol)
    recs = [events(rng, n, sensor[0], sensor[1], 300_000, camera, npol) for n in (1, 500, 4000)]
    dt, steps = 10_000, 27   # leaves out the last 30 ms of events
    got, _ = bin_events(recs, sensor, dt, steps, use_tonic=False)
    for i, ev in enumerate(recs):
        frames = tonic_t.ToFrame(sensor_size=sensor, time_window=dt, start_time=0, end_time=dt * steps,
                                 include_incomplete=True)(ev.copy())
        assert frames.shape[0] == steps
        np.testing.assert_array_equal(got[i].reshape(frames.shape), frames)
    via_tonic, _ = bin_events(recs, sensor, dt, steps, use_tonic=True)
    np.testing.assert_array_equal(via_tonic, got)


def test_tonic_path_is_the_one_taken_when_asked(monkeypatch):
    tonic_t = pytest.importorskip("tonic.transforms")
    calls = []
    real = tonic_t.ToFrame.__call__
    monkeypatch.setattr(tonic_t.ToFrame, "__call__", lambda self, ev: calls.append(1) or real(self, ev))
    rng = np.random.default_rng(0)
    bin_events([events(rng, 50, 8, 8, 1000)], (8, 8, 2), 100, 10, use_tonic=True)
    assert calls == [1]
    bin_events([events(rng, 50, 8, 8, 1000)], (8, 8, 2), 100, 10, use_tonic=False)
    assert calls == [1]
