"""`edgesnn simulate --engine fixed-python|fixed-c` and `edgesnn compile`: the happy paths agree with
each other and with the library, and bad input fails with a named error and leaves no file."""

import struct
import zlib

import numpy as np
import pytest

from edgesnn.emit import from_blob
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.graph import Graph
from edgesnn.quantize.reference import simulate_fixed
from tests.helpers.cli import run

pytest.importorskip("nir")


@pytest.fixture
def braille(braille, tmp_path):
    """conftest's imported Braille RNN, with inputs for it saved as x.npy."""
    out = braille
    x = (np.random.default_rng(0).random((6, 20, 12)) < 0.35).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    return out, x


def test_fixed_engines_agree_and_match_the_library(braille, tmp_path, capsys):
    model, x = braille
    opts = ["--weight-bits", "6", "--state-bits", "14", "--rounding", "stochastic", "--calib", tmp_path / "x.npy"]
    for engine in ("fixed-python", "fixed-c"):
        assert run("simulate", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / f"{engine}.npz",
                   "--engine", engine, *opts) == 0
        out = capsys.readouterr().out
        assert "memory traffic per input: param bytes read" in out and f"({engine})" in out
    with np.load(tmp_path / "fixed-python.npz") as a, np.load(tmp_path / "fixed-c.npz") as b:
        assert set(a.files) == set(b.files) == {"out_spikes", "pred"}
        np.testing.assert_array_equal(a["out_spikes"], b["out_spikes"])
        np.testing.assert_array_equal(a["pred"], b["pred"])
        q = quantize(Graph.load(model), QuantConfig(6, 14, rounding="stochastic"), x)
        np.testing.assert_array_equal(a["out_spikes"], simulate_fixed(q, x).outputs)


def test_early_exit_saves_steps(braille, tmp_path, capsys):
    model, _ = braille
    assert run("simulate", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "o.npz", "--engine", "fixed-c",
               "--exit-nats", "1.9") == 0
    assert "steps on average (early exit)" in capsys.readouterr().out
    with np.load(tmp_path / "o.npz") as z:
        assert z["steps"].shape == (6,) and z["steps"].min() >= 1


def test_float_engine_is_unchanged(braille, tmp_path):
    model, _ = braille
    assert run("simulate", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "f.npz") == 0
    assert run("simulate", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "g.npz", "--engine", "float") == 0
    with np.load(tmp_path / "f.npz") as a, np.load(tmp_path / "g.npz") as b:
        assert a["out_spikes"].dtype == np.float32
        np.testing.assert_array_equal(a["out_spikes"], b["out_spikes"])


def test_compile_writes_blob_and_sources_that_run(braille, tmp_path, capsys):
    model, x = braille
    assert run("compile", model, "-o", tmp_path / "fw", "--weight-bits", "8", "--rounding", "truncate",
               "--name", "kws", "--calib", tmp_path / "x.npy", "--arena-bytes", 100000) == 0
    out = capsys.readouterr().out
    assert "model.blob" in out and "arena" in out and "not checked" not in out
    assert sorted(p.name for p in (tmp_path / "fw").iterdir()) == ["model.blob", "model.c", "model.h"]
    assert b"extern const esn_model kws_model;" in (tmp_path / "fw" / "model.h").read_bytes()
    q = from_blob((tmp_path / "fw" / "model.blob").read_bytes())
    assert q.config.rounding == "truncate"
    # the compiled blob runs through both fixed engines, without re-quantizing
    for engine in ("fixed-c", "fixed-python"):
        assert run("simulate", tmp_path / "fw" / "model.blob", "--inputs", tmp_path / "x.npy", "-o",
                   tmp_path / f"{engine}.npz", "--engine", engine) == 0
    with np.load(tmp_path / "fixed-c.npz") as z:
        np.testing.assert_array_equal(z["out_spikes"], simulate_fixed(q, x).outputs)
    # compiling again replaces the files
    assert run("compile", model, "-o", tmp_path / "fw", "--state-bits", "12") == 0
    assert from_blob((tmp_path / "fw" / "model.blob").read_bytes()).config.state_bits == 12


def _version2(blob: bytes) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<H", b, 4, 2)
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[16:])))
    return bytes(b)


@pytest.mark.parametrize("args,msg", [
    (["simulate", "{m}", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--weight-bits", "6"],
     r"--weight-bits: quantization settings apply to the fixed-point engines only"),
    (["simulate", "{m}", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--engine", "fixed-c", "--weight-bits", "20"],
     r"weight_bits = 20 is outside \[1, 16\]"),
    (["simulate", "{m}", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--engine", "fixed-python", "--state-bits", "4"],
     r"state_bits = 4 is outside \[8, 32\]"),
    (["simulate", "{m}", "--inputs", "{xf}", "-o", "{tmp}/o.npz", "--engine", "fixed-c"],
     r"inputs must be spike counts \(integers 0..255\); found 0.5"),
    (["simulate", "{m}", "--inputs", "{xf}", "-o", "{tmp}/o.npz", "--engine", "fixed-python"],
     r"inputs must be spike counts"),
    (["simulate", "{tmp}/v2.blob", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--engine", "fixed-c"],
     r"v2.blob: blob format version 2 is not supported: this edgesnn .* reads version 5; re-run `edgesnn compile`"),
    (["simulate", "{tmp}/cut.blob", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--engine", "fixed-c"],
     r"cut.blob: blob truncated: 100 bytes of the \d+ its header declares"),
    (["simulate", "{tmp}/ok.blob", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--engine", "fixed-c", "--rounding",
      "nearest"], r"already quantized; rounding cannot change it"),
    (["simulate", "{tmp}/ok.blob", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--engine", "float"],
     r"already quantized; run it with --engine fixed-python or fixed-c"),
    (["simulate", "{m}", "--inputs", "{x}", "-o", "{tmp}/o.npz", "--engine", "fixed-c", "--calib", "{m}"],
     r"calibration inputs must be a .npy array file \(np.save\) or a data set .npz holding 'inputs'"),
    (["compile", "{m}", "-o", "{tmp}/fw", "--arena-bytes", "1000"],
     r"arena of 1000 bytes is too small: this model needs \d+ \(esn_arena_size\)"),
    (["compile", "{m}", "-o", "{tmp}/fw", "--weight-bits", "0"], r"weight_bits = 0 is outside \[1, 16\]"),
    (["compile", "{m}", "-o", "{tmp}/fw", "--name", "9lives"], r"model name '9lives' must be a C identifier"),
    (["compile", "{tmp}/v2.blob", "-o", "{tmp}/fw"], r"blob format version 2 is not supported"),
])
def test_bad_input_is_named_and_writes_nothing(braille, tmp_path, capsys, args, msg):
    import re
    model, x = braille
    np.save(tmp_path / "xf.npy", np.full(x.shape, 0.5, np.float32))
    assert run("compile", model, "-o", tmp_path / "ok") == 0
    blob = (tmp_path / "ok" / "model.blob").read_bytes()
    (tmp_path / "ok.blob").write_bytes(blob)
    (tmp_path / "v2.blob").write_bytes(_version2(blob))
    (tmp_path / "cut.blob").write_bytes(blob[:100])
    before = sorted(p.name for p in tmp_path.iterdir())
    capsys.readouterr()
    sub = {"{m}": str(model), "{x}": str(tmp_path / "x.npy"), "{xf}": str(tmp_path / "xf.npy"), "{tmp}": str(tmp_path)}
    argv = []
    for a in args:
        for k, v in sub.items():
            a = a.replace(k, v)
        argv.append(a)
    assert run(*argv) == 1
    err = capsys.readouterr().err
    assert re.search(msg, err), err
    assert err.startswith(f"edgesnn {args[0]}: error:") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output file, no partial folder
