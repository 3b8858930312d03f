"""The command line: each command's happy path, and bad input that must fail loudly and leave no file."""

import subprocess
import sys

import numpy as np
import pytest

from edgesnn.graph import Graph
from tests.helpers.cli import run
from tests.helpers.paths import FIXTURES

pytest.importorskip("nir")


def test_import_info_simulate(braille, tmp_path, capsys):
    g = Graph.load(braille)
    assert g.meta["dialect"] == "snntorch" and g.nodes["lif1.lif"].reset == "zero"
    assert run("info", braille) == 0
    table = capsys.readouterr().out
    assert "lif1.lif" in table and "CubaLIF (+rec from lif1.w_rec)" in table and "total" in table
    x = (np.random.default_rng(0).random((5, 20, 12)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert run("simulate", braille, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "out.npz") == 0
    assert "spikes out" in capsys.readouterr().out
    with np.load(tmp_path / "out.npz") as z:
        assert set(z.files) == {"out_spikes", "pred"}
        assert z["out_spikes"].shape == (5, 20, 7) and z["pred"].shape == (5,)
        np.testing.assert_array_equal(z["pred"], np.argmax(z["out_spikes"].sum(1), axis=1))


def test_export_then_import_gives_the_same_outputs(braille, tmp_path):
    assert run("export", braille, "-o", tmp_path / "b.nir") == 0
    assert run("import", tmp_path / "b.nir", "--dt", "1e-4", "-o", tmp_path / "b2.json") == 0
    from edgesnn.graph.simulate import simulate
    x = (np.random.default_rng(1).random((3, 15, 12)) < 0.3).astype(np.uint8)
    np.testing.assert_array_equal(simulate(Graph.load(braille), x).outputs,
                                  simulate(Graph.load(tmp_path / "b2.json"), x).outputs)


def test_export_refuses_alif_and_leaves_no_file(tmp_path, capsys):
    from edgesnn.graph import ALIF, Input, Linear, Output
    n = 2
    g = Graph({"x": Input(name="x", shape=(n,)), "fc": Linear(name="fc", weight=np.eye(n)),
               "a": ALIF(name="a", alpha=np.full(n, .9), gain=np.ones(n), bias=np.zeros(n), rho=np.full(n, .99),
                         b0=np.ones(n), beta=np.full(n, 1.8)),
               "y": Output(name="y", shape=(n,))}, [("x", "fc"), ("fc", "a"), ("a", "y")], 1e-3)
    g.save(tmp_path / "alif.json")
    assert run("export", tmp_path / "alif.json", "-o", tmp_path / "alif.nir") == 1
    assert "node 'a' (ALIF): NIR has no equivalent" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "alif.json"]


def test_readout_model_writes_out_mem(tmp_path):
    n = 3
    from edgesnn.graph import LI, Input, Linear, Output
    g = Graph({"x": Input(name="x", shape=(n,)), "fc": Linear(name="fc", weight=np.eye(n)),
               "li": LI(name="li", alpha=np.full(n, 0.5), gain=np.ones(n), bias=np.zeros(n)),
               "y": Output(name="y", shape=(n,))}, [("x", "fc"), ("fc", "li"), ("li", "y")], 1e-3)
    g.save(tmp_path / "m.json")
    np.save(tmp_path / "x.npy", np.eye(n, dtype=np.float32)[None].repeat(2, 0))
    assert run("simulate", tmp_path / "m.json", "--inputs", tmp_path / "x.npy", "-o", tmp_path / "o.npz") == 0
    with np.load(tmp_path / "o.npz") as z:
        assert set(z.files) == {"out_mem", "pred"}
        np.testing.assert_allclose(z["out_mem"][0, :, 0], [1.0, 0.5, 0.25])


@pytest.mark.parametrize("setup,args,msg", [
    (None, ["import", "{tmp}/absent.nir", "--dt", "1e-3", "-o", "{tmp}/o.json"], "absent.nir: no such file"),
    ("junk", ["import", "{tmp}/junk.nir", "--dt", "1e-3", "-o", "{tmp}/o.json"], "cannot read as a NIR"),
    ("braille", ["import", "{braille_nir}", "--dt", "1", "--dialect", "snntorch", "-o", "{tmp}/o.json"],
     "exceeds the time constant"),
    ("model", ["simulate", "{tmp}/m.json", "--inputs", "{tmp}/bad_shape.npy", "-o", "{tmp}/o.npz"],
     r"needs \[N, T, 12\]"),
    ("model", ["simulate", "{tmp}/m.json", "--inputs", "{tmp}/m.json", "-o", "{tmp}/o.npz"],
     "must be a .npy array file"),
    ("model", ["simulate", "{tmp}/m.json", "--inputs", "{tmp}/nan.npy", "-o", "{tmp}/o.npz"], "NaN"),
    ("model", ["simulate", "{tmp}/bad_model.json", "--inputs", "{tmp}/x.npy", "-o", "{tmp}/o.npz"],
     "not valid JSON"),
    ("model", ["simulate", "{tmp}/x.npy", "--inputs", "{tmp}/x.npy", "-o", "{tmp}/o.npz"], "not valid JSON"),
    ("model", ["info", "{tmp}/cnn.nir"], "a NIR file; convert it first"),
])
def test_bad_input_fails_with_a_named_error_and_no_output(nir_paper, tmp_path, capsys, setup, args, msg):
    braille_nir = nir_paper / "03_rnn" / "braille_noDelay_bias_zero.nir"
    if setup == "junk":
        (tmp_path / "junk.nir").write_bytes(b"not hdf5 at all")
    if setup == "model":
        assert run("import", braille_nir, "--dt", "1e-4", "--dialect", "snntorch", "-o", tmp_path / "m.json") == 0
        np.save(tmp_path / "bad_shape.npy", np.zeros((2, 5, 13), np.uint8))
        np.save(tmp_path / "nan.npy", np.full((2, 5, 12), np.nan, np.float32))
        np.save(tmp_path / "x.npy", np.zeros((2, 5, 12), np.uint8))
        (tmp_path / "bad_model.json").write_text("{ truncated")
        (tmp_path / "cnn.nir").write_bytes(b"")
    argv = [a.format(tmp=tmp_path, braille_nir=braille_nir) for a in args]
    capsys.readouterr()
    assert run(*argv) == 1
    err = capsys.readouterr().err
    assert f"edgesnn {argv[0]}: error:" in err
    import re
    assert re.search(msg, err), err
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "o.npz").exists()
    assert not list(tmp_path.glob(".o.*")), "a temporary file was left behind"


def test_help_answers():
    out = subprocess.run([sys.executable, "-m", "edgesnn.cli", "import", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for word in ("--dt", "--dialect", "snntorch", "sinabs", "spikingjelly", "rockpool", "norse"):
        assert word in out.stdout


def test_import_takes_the_exporters_dt_and_says_so(nir_paper, tmp_path, capsys):
    braille_nir = nir_paper / "03_rnn" / "braille_noDelay_bias_zero.nir"
    assert run("import", braille_nir, "--dialect", "snntorch", "-o", tmp_path / "m.json") == 0
    out = capsys.readouterr().out
    assert "note: dt = 0.0001 s, fixed by snnTorch's export_to_nir\n" in out
    assert "(snntorch dialect, dt = 0.0001 s)" in out
    assert Graph.load(tmp_path / "m.json").dt == 1e-4
    # no dialect dt and none in the file: one error that asks for --dt
    assert run("import", braille_nir, "-o", tmp_path / "o.json") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no fixed one; pass dt (--dt SECONDS)" in err
    assert not (tmp_path / "o.json").exists()


def test_import_warns_when_dt_differs_from_the_exporters(tmp_path, capsys):
    import nir
    n = 3
    nir.write(tmp_path / "m.nir", nir.NIRGraph(
        nodes={"x": nir.Input(input_type=np.array([n])), "fc": nir.Linear(weight=np.eye(n)),
               "lif": nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 100.0), v_leak=np.zeros(n), v_threshold=np.ones(n)),
               "y": nir.Output(output_type=np.array([n]))},
        edges=[("x", "fc"), ("fc", "lif"), ("lif", "y")]))
    assert run("import", tmp_path / "m.nir", "--dialect", "snntorch", "--dt", "1e-3", "-o", tmp_path / "m.json") == 0
    err = capsys.readouterr().err
    assert err.startswith("edgesnn import: warning: ") and err.count("\n") == 1
    assert "--dt 0.001 s differs from dt = 0.0001 s, fixed by snnTorch's export_to_nir" in err
    assert Graph.load(tmp_path / "m.json").dt == 1e-3


def test_import_of_an_edgesnn_file_uses_its_dt_and_needs_force_for_another(braille, tmp_path, capsys):
    assert run("export", braille, "-o", tmp_path / "b.nir") == 0
    assert run("import", tmp_path / "b.nir", "-o", tmp_path / "b2.json") == 0
    assert "note: dt = 0.0001 s, recorded in the file" in capsys.readouterr().out
    assert run("import", tmp_path / "b.nir", "--dt", "1e-3", "-o", tmp_path / "o.json") == 1
    err = capsys.readouterr().err
    assert "b.nir: the file records dt = 0.0001 s and --dt 0.001 differs" in err and "--force" in err
    assert not (tmp_path / "o.json").exists()
    assert run("import", tmp_path / "b.nir", "--dt", "5e-5", "--force", "-o", tmp_path / "o.json") == 0
    assert "note: dt = 5e-05 s, forced (the file records 0.0001 s)" in capsys.readouterr().out
    assert Graph.load(tmp_path / "o.json").dt == 5e-5


def test_import_says_which_norse_reading_it_took_and_refuses_an_ambiguous_file(tmp_path, capsys):
    import shutil

    import h5py
    shutil.copy(FIXTURES / "norse_mlp.nir", tmp_path / "mixed.nir")
    with h5py.File(tmp_path / "mixed.nir", "r+") as f:  # node 1 as to_nir(..., dt=1.0) writes it: true taus
        for key in ("tau_mem", "tau_syn"):
            f["node/nodes/1"][key][...] = f["node/nodes/1"][key][...] / 1e-3
    assert run("import", FIXTURES / "norse_mlp.nir", "--dialect", "norse", "--dt", "1e-3",
               "-o", tmp_path / "a.json") == 0
    assert "note: norse: time constants read as dt*tau, as Norse 1.1's to_nir writes them (norse#411)" in \
        capsys.readouterr().out
    assert run("import", tmp_path / "mixed.nir", "--dialect", "norse", "--dt", "1e-3", "-o", tmp_path / "o.json") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mixed.nir: cannot tell how Norse wrote the time constants" in err
    assert "1.tau_mem" in err and "3.tau_mem" in err and "--norse-tau literal" in err
    assert not (tmp_path / "o.json").exists()
    assert run("import", tmp_path / "mixed.nir", "--dialect", "norse", "--dt", "1e-3", "--norse-tau", "scaled",
               "-o", tmp_path / "o.json") == 0
    assert "(--norse-tau scaled)" in capsys.readouterr().out


def test_import_says_where_snntorch_beta_was_clamped(tmp_path, capsys):
    import nir
    n, dt = 2, 1e-4
    tau = dt / (1 - np.array([0.9, 1.037]))
    nir.write(tmp_path / "m.nir", nir.NIRGraph(
        nodes={"x": nir.Input(input_type=np.array([n])), "fc": nir.Linear(weight=np.eye(n)),
               "lif": nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.ones(n)),
               "y": nir.Output(output_type=np.array([n]))},
        edges=[("x", "fc"), ("fc", "lif"), ("lif", "y")]))
    assert run("import", tmp_path / "m.nir", "--dialect", "snntorch", "-o", tmp_path / "m.json") == 0
    assert ("note: node 'lif' (LIF): beta clamped to 1.0 at 1 of 2 neurons (file beta up to 1.037), as snnTorch "
            "clamps it when it runs") in capsys.readouterr().out
    np.testing.assert_allclose(Graph.load(tmp_path / "m.json").nodes["lif"].alpha, [0.9, 1.0])


def test_a_reader_that_leaves_early_is_no_traceback():
    """`edgesnn boards | head -1`-style: the pipe's reader is gone before edgesnn writes; no traceback."""
    code = ("import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); "
            "from edgesnn.cli import main; sys.exit(main(['boards']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and p.stderr == "", p.stderr
