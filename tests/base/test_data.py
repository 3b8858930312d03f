"""edgesnn.data: the digits split, rate coding, and the .npz data set format."""

import io
import os

import numpy as np
import pytest

from edgesnn.data import load_dataset, load_digits_split, rate_code, save_dataset
from edgesnn.errors import EdgesnnError


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------------------------
# digits and rate coding
# ----------------------------------------------------------------------------------------------

def test_digits_split_shapes_range_and_seed():
    pytest.importorskip("sklearn")
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=0, test_fraction=0.2)
    assert x_tr.shape == (1437, 8, 8) and x_te.shape == (360, 8, 8)
    assert x_tr.dtype == np.float32 and x_te.dtype == np.float32
    assert 0 <= x_tr.min() and x_tr.max() == 1.0
    assert y_tr.shape == (1437,) and y_te.shape == (360,)
    assert set(np.unique(y_te)) == set(range(10))  # stratified: every class in the test split
    again = load_digits_split(seed=0, test_fraction=0.2)
    assert np.array_equal(again[2], x_te) and np.array_equal(again[3], y_te)
    other = load_digits_split(seed=1, test_fraction=0.2)
    assert not np.array_equal(other[3], y_te)


def test_digits_split_bad_fraction():
    with pytest.raises(EdgesnnError, match="test_fraction"):
        load_digits_split(test_fraction=1.0)


def test_rate_code_shape_dtype_determinism_and_rate():
    rng = np.random.default_rng(0)
    images = rng.random((20, 8, 8)).astype(np.float32)
    s = rate_code(images, 16, seed=3)
    assert s.shape == (20, 16, 8, 8) and s.dtype == np.uint8
    assert set(np.unique(s)) <= {0, 1}
    assert np.array_equal(s, rate_code(images, 16, seed=3))
    assert not np.array_equal(s, rate_code(images, 16, seed=4))
    # the documented rule: u from default_rng(seed).random((N, T, *shape)), spike iff u < p
    u = np.random.default_rng(3).random((20, 16, 8, 8))
    assert np.array_equal(s, (u < images[:, None]).astype(np.uint8))
    # the empirical rate follows the intensity
    big = rate_code(np.full((1, 4), 0.25), 4000, seed=0)
    assert abs(big.mean() - 0.25) < 0.02


def test_rate_code_extremes():
    images = np.array([[0.0, 1.0]])
    s = rate_code(images, 50, seed=0)
    assert s[0, :, 0].sum() == 0 and s[0, :, 1].sum() == 50


@pytest.mark.parametrize("images, steps, match", [
    (np.array([[1.5]]), 4, r"\[0, 1\]"),
    (np.array([[-0.1]]), 4, r"\[0, 1\]"),
    (np.array([[np.nan]]), 4, r"\[0, 1\]"),
    (np.array([0.5]), 4, r"\[N, \*image_shape\]"),
    (np.array([[0.5]]), 0, "steps"),
    (np.array([[0.5]]), 2.5, "steps"),
    (np.array([["a"]]), 4, "numeric"),
])
def test_rate_code_rejects(images, steps, match):
    with pytest.raises(EdgesnnError, match=match):
        rate_code(images, steps, seed=0)


# ----------------------------------------------------------------------------------------------
# the .npz format
# ----------------------------------------------------------------------------------------------

def _set(n=5, t=3, shape=(4,)):
    rng = np.random.default_rng(0)
    return (rng.random((n, t, *shape)) < 0.5).astype(np.uint8), np.arange(n) % 3


def test_roundtrip(tmp_path):
    x, y = _set(shape=(1, 2, 2))
    path = tmp_path / "sub" / "d.npz"
    save_dataset(path, x, y)
    x2, y2 = load_dataset(path)
    assert x2.dtype == x.dtype and np.array_equal(x2, x) and np.array_equal(y2, y)
    assert _files(path.parent) == ["d.npz"]  # no temporary left behind


def test_roundtrip_float_inputs(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    save_dataset(tmp_path / "f.npz", x, np.array([0, 1]))
    x2, _ = load_dataset(tmp_path / "f.npz")
    assert x2.dtype == np.float32 and np.array_equal(x, x2)


@pytest.mark.parametrize("inputs, labels, match", [
    (np.zeros((2, 3), np.uint8), np.array([0, 1]), r"field 'inputs' has shape \(2, 3\)"),
    (np.zeros((0, 3, 4), np.uint8), np.zeros(0, int), r"field 'inputs' has shape \(0, 3, 4\)"),
    (np.array([[["a"]]]), np.array([0]), r"field 'inputs' has dtype <U1"),
    (np.full((1, 2, 2), np.nan), np.array([0]), "field 'inputs' contains NaN"),
    (np.zeros((2, 3, 4), np.uint8), np.array([0, 1, 2]), r"field 'labels' has shape \(3,\); need \(2,\)"),
    (np.zeros((2, 3, 4), np.uint8), np.array([[0, 1]]), r"field 'labels' has shape \(1, 2\)"),
    (np.zeros((2, 3, 4), np.uint8), np.array([0.0, 1.0]), "field 'labels' has dtype float64"),
    (np.zeros((2, 3, 4), np.uint8), np.array([0, -1]), "field 'labels' holds a negative class"),
    ([[[0]]], np.array([0]), "field 'inputs' must be a numpy array"),
])
def test_save_rejects_and_leaves_nothing(tmp_path, inputs, labels, match):
    path = tmp_path / "bad.npz"
    with pytest.raises(EdgesnnError, match=match) as e:
        save_dataset(path, inputs, labels)
    assert str(path) in str(e.value)
    assert _files(tmp_path) == []


def test_save_failure_midway_leaves_no_partial_file(tmp_path, monkeypatch):
    import edgesnn.artifact as artifact
    x, y = _set()
    path = tmp_path / "d.npz"
    save_dataset(path, x, y)
    before = path.read_bytes()

    real_fdopen = os.fdopen

    class Boom:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError("disk full")

    monkeypatch.setattr(artifact.os, "fdopen", lambda fd, mode: Boom(real_fdopen(fd, mode)))
    with pytest.raises(artifact.OutputError, match=r"d\.npz: cannot write \(disk full\)"):   # one line, no traceback
        save_dataset(path, x[:2], y[:2])
    assert _files(tmp_path) == ["d.npz"]  # the old file, untouched; no temporary
    assert path.read_bytes() == before


def _write_npz(path, **arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def test_load_missing_file(tmp_path):
    with pytest.raises(EdgesnnError, match=r"nope\.npz: no such file"):
        load_dataset(tmp_path / "nope.npz")


@pytest.mark.parametrize("missing", ["inputs", "labels"])
def test_load_missing_field(tmp_path, missing):
    x, y = _set()
    arrays = {"inputs": x, "labels": y}
    del arrays[missing]
    path = tmp_path / "m.npz"
    _write_npz(path, **arrays)
    with pytest.raises(EdgesnnError, match=f"m.npz: missing field '{missing}'"):
        load_dataset(path)


def test_load_wrong_shape_and_dtype(tmp_path):
    x, y = _set()
    path = tmp_path / "s.npz"
    _write_npz(path, inputs=x[:, 0], labels=y)
    with pytest.raises(EdgesnnError, match=r"s\.npz: field 'inputs' has shape \(5, 4\)"):
        load_dataset(path)
    _write_npz(path, inputs=x, labels=y[:4])
    with pytest.raises(EdgesnnError, match=r"s\.npz: field 'labels' has shape \(4,\); need \(5,\)"):
        load_dataset(path)
    _write_npz(path, inputs=x, labels=y.astype(np.float32))
    with pytest.raises(EdgesnnError, match=r"s\.npz: field 'labels' has dtype float32"):
        load_dataset(path)
    _write_npz(path, inputs=x.astype("U1"), labels=y)
    with pytest.raises(EdgesnnError, match=r"s\.npz: field 'inputs': dtype <U1 is not allowed; need bool, integer or "
                                           r"float values"):   # refused from the header, before loading
        load_dataset(path)


def test_load_object_array_needs_no_pickle(tmp_path):
    path = tmp_path / "o.npz"
    _write_npz(path, inputs=np.array([None, 1], dtype=object), labels=np.array([0, 1]))
    with pytest.raises(EdgesnnError, match=r"o\.npz: field 'inputs': dtype object is not allowed; .*\(object arrays "
                                           r"would need pickle, which edgesnn never uses\)"):
        load_dataset(path)


def test_load_not_an_archive(tmp_path):
    path = tmp_path / "t.npz"
    path.write_text("hello")
    with pytest.raises(EdgesnnError, match=r"t\.npz: not a readable \.npz archive"):
        load_dataset(path)
    npy = tmp_path / "a.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(EdgesnnError, match=r"a\.npz: a single \.npy array"):
        load_dataset(npy)
    trunc = tmp_path / "c.npz"
    x, y = _set()
    save_dataset(trunc, x, y)
    trunc.write_bytes(trunc.read_bytes()[:40])
    with pytest.raises(EdgesnnError, match=r"c\.npz: not a readable \.npz archive"):
        load_dataset(trunc)
