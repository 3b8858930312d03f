"""The example generators (examples/make_event_digits.py, examples/make_sequence_digits.py): deterministic for
a seed, the documented shapes and rates, and a command-line round trip with the digits CNN."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgesnn.api import simulate
from edgesnn.data import load_events, load_inputs
from tests.helpers.cli import run
from tests.helpers.paths import EXAMPLES, MODELS

pytest.importorskip("sklearn")
sys.path.insert(0, str(EXAMPLES))
import make_event_digits as med  # noqa: E402
import make_sequence_digits as msd  # noqa: E402


@pytest.fixture(scope="module")
def images():
    return med.digits(6)


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_event_digits_are_deterministic_and_shaped_as_documented(images):
    x, _ = images
    a, b, c = med.make_event_digits(x, 0), med.make_event_digits(x, 0), med.make_event_digits(x, 1)
    assert same(a, b) and not same(a, c)
    for ev in a:
        assert ev.dtype.names == ("x", "y", "t", "p")
        assert ev["x"].min() >= 0 and ev["x"].max() < 34 and ev["y"].min() >= 0 and ev["y"].max() < 34
        assert np.all(np.diff(ev["t"]) >= 0) and ev["t"].min() >= 0 and ev["t"].max() < 300_000
        assert set(np.unique(ev["p"])) == {0, 1}
        # the three saccades each make events
        assert all(np.count_nonzero((ev["t"] >= k * 100_000) & (ev["t"] < (k + 1) * 100_000)) > 200
                   for k in range(3))
    # the docstring's figure: about 3,700 events per digit (N-MNIST's digits hold a few thousand)
    assert 2_500 < np.mean([len(ev) for ev in a]) < 5_000
    # refractory period: one event per pixel per millisecond at most
    for ev in a:
        key = ev["y"].astype(np.int64) * 34 + ev["x"]
        order = np.lexsort((ev["t"], key))
        k, t = key[order], ev["t"][order]
        gaps = np.diff(t)[np.diff(k) == 0]
        assert gaps.min() > med.REFRACTORY_US - med.FRAME_US


def test_sequence_digits_are_deterministic_and_shaped_as_documented(images):
    x, _ = images
    a, b, c = msd.make_sequence_digits(x, 0), msd.make_sequence_digits(x, 0), msd.make_sequence_digits(x, 1)
    assert same(a, b) and not same(a, c)
    for ev in a:
        assert ev.dtype.names == ("x", "t", "p")
        assert ev["x"].min() >= 0 and ev["x"].max() < 700 and not ev["p"].any()
        assert np.all(np.diff(ev["t"]) >= 0) and ev["t"].max() < 1_000_000
    assert 2_500 < np.mean([len(ev) for ev in a]) < 6_500   # docstring: about 4,300 per digit


def test_sequence_file_bins_to_the_documented_shape(tmp_path):
    path = tmp_path / "seq.npz"
    assert msd.main(["-o", str(path), "--n", "5"]) == 0
    x, y = load_inputs(path)
    assert x.shape == (5, 50, 700) and x.dtype == np.uint8 and y.tolist() == [0, 1, 2, 3, 4]
    recs, _, _ = load_events(path)
    assert x.sum() == sum(len(r) for r in recs)   # every event lies within 50 x 20 ms


def test_event_digits_cli_round_trip_with_the_digits_cnn(tmp_path, capsys):
    """An 8x8, merged-polarity binning is the digits CNN's input [T, 1, 8, 8]; the CNN was trained on rate-coded
    digits, so only the plumbing is tested here, not an accuracy."""
    path = tmp_path / "ev8.npz"
    assert med.main(["-o", str(path), "--n", "8", "--size", "8", "--merge-polarity", "--dt", "18750",
                     "--steps", "16"]) == 0
    x, y = load_inputs(path)
    assert x.shape == (8, 16, 1, 8, 8) and y.tolist() == list(range(8))
    out = tmp_path / "out.npz"
    assert run("simulate", MODELS / "digits_cnn.json", "--inputs", path, "-o", out, "--engine", "fixed-c") == 0
    got = np.load(out)
    want = simulate(MODELS / "digits_cnn.json", x, engine="fixed-c", labels=y).measurement
    np.testing.assert_array_equal(got["pred"], want.pred)
    assert got["labels"].tolist() == y.tolist() and "accuracy" in capsys.readouterr().out


def test_plan_takes_an_event_file(tmp_path):
    path = tmp_path / "ev8.npz"
    assert med.main(["-o", str(path), "--n", "10", "--size", "8", "--merge-polarity", "--dt", "18750",
                     "--steps", "16"]) == 0
    assert run("plan", MODELS / "digits_cnn.json", "--data", path, "-o", tmp_path / "plan.json",
               "--workers", "1") == 0
    assert (tmp_path / "plan.json").exists()
