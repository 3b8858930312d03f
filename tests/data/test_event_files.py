"""Event data set files (docs/data.md): the round trip, and malformed events refused by `simulate`, `plan` and
`run` with one line naming the file and the field: exit 1, no traceback, no output file."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.data import load_dataset, load_events, load_inputs, save_events
from edgesnn.errors import EdgesnnError
from edgesnn.events import bin_events
from tests.helpers.cli import fails
from tests.helpers.paths import MODELS

CAM = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])


def recordings(n=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(20, 200))
        ev = np.zeros(k, dtype=CAM)
        ev["x"], ev["y"] = rng.integers(0, 34, k), rng.integers(0, 34, k)
        ev["t"], ev["p"] = np.sort(rng.integers(0, 300_000, k)), rng.integers(0, 2, k)
        out.append(ev)
    return out


def good_arrays(recs=None):
    recs = recording = recs or recordings()
    a = {f: np.concatenate([r[f] for r in recording]) for f in CAM.names}
    a["offsets"] = np.concatenate([[0], np.cumsum([len(r) for r in recs])]).astype(np.int64)
    a["labels"] = np.arange(len(recs), dtype=np.int64) % 10
    a["sensor_size"] = np.array([34, 34, 2])
    a["dt"], a["steps"] = np.int64(20_000), np.int64(15)
    a["size"], a["merge_polarity"] = np.array([8, 8]), np.int64(1)
    return a


def test_round_trip_and_binning_as_the_file_says(tmp_path):
    recs = recordings()
    path = tmp_path / "ev.npz"
    save_events(path, recs, [3, 1, 4, 1], (34, 34, 2), dt=20_000, steps=15, size=(8, 8), merge_polarity=True)
    back, labels, info = load_events(path)
    assert [len(r) for r in back] == [len(r) for r in recs] and labels.tolist() == [3, 1, 4, 1]
    for a, b in zip(back, recs):
        for f in CAM.names:
            np.testing.assert_array_equal(a[f], b[f])
    assert info == {"sensor_size": (34, 34, 2), "dt": 20_000, "steps": 15, "size": (8, 8), "merge_polarity": True}
    x, y = load_inputs(path)
    assert x.shape == (4, 15, 1, 8, 8) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, bin_events(recs, (34, 34, 2), 20_000, 15, size=(8, 8), merge_polarity=True,
                                                use_tonic=False)[0])
    x2, y2 = load_dataset(path)
    np.testing.assert_array_equal(x2, x)
    assert y2.tolist() == [3, 1, 4, 1]


def _write(path, arrays):
    np.savez(path, **arrays)
    return path


def _broken(name):
    a = good_arrays()
    if name == "missing p":
        del a["p"]
    elif name == "negative x":
        a["x"][5] = -1
    elif name == "x out of range":
        a["x"][5] = 34
    elif name == "y out of range":
        a["y"][7] = 40
    elif name == "unsorted t":
        a["t"][3], a["t"][4] = a["t"][4] + 1, a["t"][3]
    elif name == "negative t":
        a["t"][0] = -5
    elif name == "polarity 2":
        a["p"][2] = 2
    elif name == "float t":
        a["t"] = a["t"].astype(np.float64)
    elif name == "bad offsets":
        a["offsets"][-1] += 1
    elif name == "missing y":
        del a["y"]
    return a


CASES = {"missing p": "'p'", "negative x": "'x'", "x out of range": "'x'", "y out of range": "'y'",
         "unsorted t": "'t'", "negative t": "'t'", "polarity 2": "'p'", "float t": "'t'",
         "bad offsets": "'offsets'", "missing y": "'y'"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_events_are_one_line_naming_file_and_field(tmp_path, capsys, name):
    path = _write(tmp_path / "bad.npz", _broken(name))
    with pytest.raises(EdgesnnError) as e:
        load_inputs(path)
    assert str(path) in str(e.value) and CASES[name] in str(e.value), str(e.value)
    out = tmp_path / "out.npz"
    for argv in (("simulate", MODELS / "digits_cnn.json", "--inputs", path, "-o", out),
                 ("plan", MODELS / "digits_cnn.json", "--data", path, "-o", tmp_path / "plan.json"),
                 ("run", MODELS / "digits_cnn.json", "--inputs", path, "-o", out)):
        err = fails(capsys, *argv)
        assert str(path) in err and CASES[name] in err, err
    assert not out.exists() and not (tmp_path / "plan.json").exists() and not (tmp_path / "plan.png").exists()


def test_a_structured_npy_is_read_and_says_it_needs_a_binning(tmp_path, capsys):
    ev = recordings(1)[0]
    path = tmp_path / "ev.npy"
    np.save(path, ev)
    recs, labels, info = load_events(path)
    np.testing.assert_array_equal(recs[0], ev)
    assert labels is None and info["dt"] is None
    err = fails(capsys, "simulate", MODELS / "digits_cnn.json", "--inputs", path, "-o", tmp_path / "o.npz")
    assert str(path) in err and "binning" in err
    bad = ev.copy()
    bad["p"][0] = 3
    np.save(path, bad)
    err = fails(capsys, "simulate", MODELS / "digits_cnn.json", "--inputs", path, "-o", tmp_path / "o.npz")
    assert "'p'" in err
    np.save(path, np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("p", "<i1")]))
    assert "'t'" in fails(capsys, "simulate", MODELS / "digits_cnn.json", "--inputs", path, "-o", tmp_path / "o.npz")
    assert not (tmp_path / "o.npz").exists()


def test_save_refuses_malformed_events(tmp_path):
    recs = recordings(2)
    recs[1]["x"][0] = 99
    with pytest.raises(EdgesnnError, match="recording 1: field 'x'"):
        save_events(tmp_path / "e.npz", recs, None, (34, 34, 2), dt=1000, steps=3)
    assert not (tmp_path / "e.npz").exists()


def test_the_element_limit_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "ev.npz"
    save_events(path, recordings(), None, (34, 34, 2), dt=1000, steps=300)
    monkeypatch.setenv("EDGESNN_MAX_ELEMENTS", "100000")
    with pytest.raises(EdgesnnError, match="ev.npz binned"):
        load_inputs(path)
