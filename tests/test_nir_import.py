"""NIR import/export: the real graphs in ../shared/nir_paper, every convention knob, and bad files."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from edgesnn.errors import NirError  # noqa: E402
from edgesnn.graph import ir  # noqa: E402
from edgesnn.graph.nir_io import from_nir, from_raw, read_nir, to_nir, write_nir  # noqa: E402
from edgesnn.sim import simulate  # noqa: E402

DT = 1e-4


def trace(nir_paper, platform):
    return np.loadtxt(nir_paper / "01_lif" / f"lif_{platform}.csv", delimiter=",")


# ---------------------------------------------------------------------------------------------
# The NIR paper's single-neuron traces
# ---------------------------------------------------------------------------------------------

def test_norse_trace_reproduced_spike_for_spike_and_in_voltage(nir_paper):
    # written by an older Norse exporter (tau = 1/tau_mem_inv): the literal Euler reading is Norse's
    g = read_nir(nir_paper / "01_lif" / "lif_norse.nir", dt=DT, dialect="nir")
    data = trace(nir_paper, "norse")
    r = simulate(g, data[None, :, :1].astype(np.float32), record_states=True)
    np.testing.assert_array_equal(r.outputs[0, :, 0], data[:, 2])
    assert data[:, 2].sum() == 4  # the trace really spikes
    lif = next(n for n in g.nodes.values() if isinstance(n, ir.LIF))
    np.testing.assert_allclose(r.states[lif.name]["v"][0, :, 0], data[:, 1], atol=1e-6)


def test_norse_and_snntorch_traces_spike_at_the_same_steps(nir_paper):
    norse, snn = trace(nir_paper, "norse"), trace(nir_paper, "snntorch")
    np.testing.assert_array_equal(norse[:, 0], snn[:, 0])
    np.testing.assert_array_equal(np.flatnonzero(norse[:, 2]), np.flatnonzero(snn[:, 2]))
    g = read_nir(nir_paper / "01_lif" / "lif_norse.nir", dt=DT, dialect="nir")
    out = simulate(g, snn[None, :, :1].astype(np.float32)).outputs[0, :, 0]
    np.testing.assert_array_equal(np.flatnonzero(out), np.flatnonzero(snn[:, 2]))


def test_euler_reproduces_the_exact_trace_and_rockpool_decays_exactly(nir_paper):
    """The 'exact' trace spikes where forward Euler does; the rockpool dialect decays exactly."""
    path = nir_paper / "01_lif" / "lif_norse.nir"
    stimulus = trace(nir_paper, "exact")[None, :, :1]
    euler = simulate(read_nir(path, dt=DT, dialect="nir"), stimulus).outputs[0, :, 0]
    np.testing.assert_array_equal(np.flatnonzero(euler), np.flatnonzero(trace(nir_paper, "exact")[:, 2]))
    g = read_nir(path, dt=DT, dialect="rockpool")
    lif = next(n for n in g.nodes.values() if isinstance(n, ir.LIF))
    np.testing.assert_allclose(lif.alpha, np.exp(-DT / 2.5e-3), rtol=1e-6)
    # (Rockpool's own trace, from lif_rockpool.nir, is reproduced in the next test.)


def test_rockpool_file_that_nir_type_check_rejects_still_imports(nir_paper):
    path = nir_paper / "01_lif" / "lif_rockpool.nir"
    with pytest.raises(ValueError):
        nir.read(path)  # nir's own reader refuses it; ours reads the runnable graph
    g = read_nir(path, dt=DT, dialect="rockpool")
    assert g.output.shape == (1,)
    data = trace(nir_paper, "rockpool")
    r = simulate(g, data[None, :, :1].astype(np.float32), record_states=True)
    np.testing.assert_array_equal(np.flatnonzero(r.outputs[0, :, 0]), np.flatnonzero(data[:, 2]))
    assert data[:, 2].sum() >= 3


# ---------------------------------------------------------------------------------------------
# The CNN and the recurrent networks
# ---------------------------------------------------------------------------------------------

def test_sinabs_cnn_imports_and_runs(nir_paper):
    g = read_nir(nir_paper / "02_cnn" / "cnn_sinabs.nir", dt=1e-3, dialect="sinabs")
    sched = g.schedule()
    assert g.input.shape == (2, 34, 34) and g.output.shape == (10,)
    assert sched.shapes["0"] == (16, 16, 16) and sched.shapes["8"] == (128,)
    ifs = [n for n in g.nodes.values() if isinstance(n, ir.IF)]
    assert len(ifs) == 5 and all(n.spike_rule == ">=" and n.reset == "subtract" and n.max_spikes > 1 for n in ifs)
    x = (np.random.default_rng(0).random((3, 8, 2, 34, 34)) < 0.15).astype(np.float32)
    r = simulate(g, x)
    assert r.outputs.shape == (3, 8, 10)
    assert r.counts["1"]["spikes_out"].sum() > 0
    assert np.all(r.outputs == np.round(r.outputs)) and np.all(r.outputs >= 0)


@pytest.mark.parametrize("name,reset", [("braille_noDelay_bias_zero", "zero"),
                                        ("braille_noDelay_noBias_subtract", "subtract")])
def test_braille_rnn_imports_with_its_recurrent_edge(nir_paper, name, reset):
    g = read_nir(nir_paper / "03_rnn" / f"{name}.nir", dt=DT, dialect="snntorch", reset=reset)
    sched = g.schedule()
    assert sched.back_edges == {("lif1.w_rec", "lif1.lif")}
    assert g.input.shape == (12,) and g.output.shape == (7,)
    hidden = g.nodes["lif1.lif"]
    assert isinstance(hidden, ir.CubaLIF) and hidden.reset == reset
    import json
    params = json.loads((nir_paper / "03_rnn" / name.replace("braille", "parameters").replace("_zero", "_ref_zero")
                         .replace("_subtract", "_ref_subtract")).with_suffix(".json").read_text())
    np.testing.assert_allclose(hidden.alpha_syn, params["alpha_r"], rtol=1e-6)
    np.testing.assert_allclose(hidden.alpha, params["beta_r"], rtol=1e-6)
    x = (np.random.default_rng(1).random((4, 30, 12)) < 0.3).astype(np.float32)
    r = simulate(g, x)
    assert r.counts["lif1.lif"]["spikes_out"].sum() > 0
    assert r.counts["lif1.w_rec"]["synops"].sum() == r.counts["lif1.w_rec"]["spikes_in"].sum() * hidden.size


def test_recurrent_edge_is_delayed_by_one_step(nir_paper):
    g = read_nir(nir_paper / "03_rnn" / "braille_noDelay_noBias_subtract.nir", dt=DT, dialect="snntorch")
    x = (np.random.default_rng(2).random((2, 25, 12)) < 0.4).astype(np.float32)
    r = simulate(g, x)
    hidden_spikes = r.counts["lif1.lif"]["spikes_out"]
    rec_in = r.counts["lif1.w_rec"]["spikes_in"]
    np.testing.assert_array_equal(rec_in, hidden_spikes)  # w_rec reads the spikes of the same step...
    d = dict(g.nodes)
    cut = ir.Graph(d, [e for e in g.edges if e != ("lif1.w_rec", "lif1.lif")], g.dt)
    r_cut = simulate(cut, x)
    first = int(np.argmax(hidden_spikes.sum(0) > 0))
    # ...and they reach the hidden layer only one step later: identical up to and including `first`.
    np.testing.assert_array_equal(r.outputs[:, :first + 1], r_cut.outputs[:, :first + 1])
    assert not np.array_equal(r.outputs, r_cut.outputs)


# ---------------------------------------------------------------------------------------------
# Round trips and conventions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel,dialect,dt", [
    ("01_lif/lif_norse.nir", "norse", DT), ("01_lif/two_lif_neurons.nir", "nir", 1e-3),
    ("02_cnn/cnn_sinabs.nir", "sinabs", 1e-3), ("03_rnn/braille_noDelay_bias_zero.nir", "snntorch", DT),
    ("03_rnn/braille_noDelay_noBias_subtract.nir", "norse", DT)])
def test_export_then_import_keeps_the_model(nir_paper, tmp_path, rel, dialect, dt):
    g = read_nir(nir_paper / rel, dt=dt, dialect=dialect)
    write_nir(g, tmp_path / "m.nir")
    back = read_nir(tmp_path / "m.nir", dt=dt)  # edgesnn's own files read with the default dialect
    assert list(back.nodes) == list(g.nodes) and back.edges == g.edges
    for name, node in g.nodes.items():
        other = back.nodes[name]
        assert type(other) is type(node)
        for key, a in node.arrays().items():
            np.testing.assert_allclose(other.arrays()[key], a, rtol=1e-9, atol=1e-12, err_msg=f"{name}.{key}")
        for key in ("reset", "spike_rule", "reset_late", "max_spikes", "syn_delay", "stride", "padding"):
            assert getattr(other, key, None) == getattr(node, key, None), (name, key)
    x = (np.random.default_rng(3).random((2, 12, *g.input.shape)) < 0.3).astype(np.float32)
    np.testing.assert_array_equal(simulate(g, x, dtype=np.float64).outputs,
                                  simulate(back, x, dtype=np.float64).outputs)


def lif_graph(tau=0.01, **lif_kw):
    lif = dict(tau=np.asarray(tau), r=np.array(2.0), v_leak=np.array(0.0), v_threshold=np.array(1.0))
    lif.update(lif_kw)
    return nir.NIRGraph(nodes={"x": nir.Input(input_type=np.array([3])),
                               "fc": nir.Linear(weight=np.eye(3)),
                               "lif": nir.LIF(**lif),
                               "y": nir.Output(output_type=np.array([3]))},
                        edges=[("x", "fc"), ("fc", "lif"), ("lif", "y")], type_check=False)


def test_zero_d_parameters_broadcast_to_the_neuron_shape():
    g = from_nir(lif_graph(), dt=1e-3)
    lif = g.nodes["lif"]
    assert lif.alpha.shape == (3,) and lif.threshold.shape == (3,)
    np.testing.assert_allclose(lif.alpha, 0.9)
    np.testing.assert_allclose(lif.gain, 1e-3 * 2.0 / 0.01)


@pytest.mark.parametrize("dialect,alpha,gain,rule,reset", [
    ("nir", 0.9, 0.2, ">", "zero"),
    ("norse", 1 - 1e-6 / 0.01, 2e-4, ">", "zero"),             # Norse 1.1 writes tau = dt * tau_true
    ("snntorch", 0.9, 0.2, ">", "subtract"),
    ("spikingjelly", 0.9, 0.2, ">=", "zero"),
    ("rockpool", np.exp(-0.1), 1.0, ">=", "subtract"),                # r only encodes dt
    ("sinabs", np.exp(-1 / 0.01), 2 * (1 - np.exp(-1 / 0.01)), ">=", "subtract")])  # tau in steps
def test_dialects_discretise_as_documented(dialect, alpha, gain, rule, reset):
    lif = from_nir(lif_graph(), dt=1e-3, dialect=dialect).nodes["lif"]
    np.testing.assert_allclose(lif.alpha, alpha, rtol=1e-12)
    np.testing.assert_allclose(lif.gain, gain, rtol=1e-12)
    assert lif.spike_rule == rule and lif.reset == reset


def test_input_and_output_found_by_type_not_name():
    g = from_nir(lif_graph(), dt=1e-3)
    assert g.input.name == "x" and g.output.name == "y"


def test_nested_subgraph_is_flattened():
    inner = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])),
                                "lif": nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3),
                                               v_threshold=np.ones(3)),
                                "rec": nir.Linear(weight=0.5 * np.eye(3)),
                                "out": nir.Output(output_type=np.array([3]))},
                         edges=[("in", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")], type_check=False)
    outer = nir.NIRGraph(nodes={"x": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=np.eye(3)),
                                "block": inner, "y": nir.Output(output_type=np.array([3]))},
                         edges=[("x", "fc"), ("fc", "block"), ("block", "y")], type_check=False)
    g = from_nir(outer, dt=1e-3)
    assert set(g.nodes) == {"x", "fc", "block.lif", "block.rec", "y"}
    assert g.schedule().back_edges == {("block.rec", "block.lif")}


def test_flatten_start_dim_counting_the_batch_axis():
    def graph(start):
        return nir.NIRGraph(nodes={"x": nir.Input(input_type=np.array([2, 3, 4])),
                                   "f": nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=start),
                                   "fc": nir.Linear(weight=np.ones((5, 24))),
                                   "y": nir.Output(output_type=np.array([5]))},
                            edges=[("x", "f"), ("f", "fc"), ("fc", "y")], type_check=False)
    from edgesnn.graph.dialects import DIALECTS, Dialect
    assert from_nir(graph(0), dt=1e-3).schedule().shapes["f"] == (24,)

    class TorchLike(Dialect):
        name, flatten_counts_batch = "torchlike", True
    DIALECTS["torchlike"] = TorchLike()
    try:
        assert from_nir(graph(1), dt=1e-3, dialect="torchlike").schedule().shapes["f"] == (24,)
    finally:
        del DIALECTS["torchlike"]
    with pytest.raises(NirError, match=r"node 'fc'.*expects input shape \(24,\), got \(2, 12\)"):
        from_nir(graph(1), dt=1e-3)


# ---------------------------------------------------------------------------------------------
# Bad input: one clear error naming the file, node or field
# ---------------------------------------------------------------------------------------------

def test_malformed_hdf5_is_a_clear_error(tmp_path):
    p = tmp_path / "junk.nir"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(NirError, match=r"junk\.nir: cannot read as a NIR \(HDF5\) file"):
        read_nir(p, dt=1e-3)


def test_missing_file_and_non_nir_hdf5(tmp_path):
    with pytest.raises(NirError, match="no such file"):
        read_nir(tmp_path / "absent.nir", dt=1e-3)
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("data", data=np.zeros(3))
    with pytest.raises(NirError, match="not a NIR graph"):
        read_nir(tmp_path / "other.h5", dt=1e-3)


@pytest.mark.parametrize("node,msg", [
    (nir.Threshold(threshold=np.ones(3)), "node 'lif': NIR node type 'Threshold' is not supported"),
    (nir.Delay(delay=np.ones(3)), "node 'lif': NIR node type 'Delay' is not supported")])
def test_unsupported_node_is_named(tmp_path, node, msg):
    g = lif_graph()
    g.nodes["lif"] = node
    nir.write(tmp_path / "m.nir", g)
    with pytest.raises(NirError, match=msg):
        read_nir(tmp_path / "m.nir", dt=1e-3)


def raw_with(node: str, field: str, value):
    """A NIR graph as plain data with one field changed (nir's classes would refuse some of these)."""
    raw = lif_graph().to_dict()
    raw["nodes"][node][field] = value
    return raw


def test_nan_parameter_is_named():
    raw = raw_with("lif", "v_threshold", np.array([1.0, np.nan, 1.0]))
    with pytest.raises(NirError, match="node 'lif': field 'v_threshold' contains NaN"):
        from_raw(raw, dt=1e-3)


def test_nan_weight_is_named():
    g = lif_graph()
    g.nodes["fc"] = nir.Linear(weight=np.array([[1, 0, 0], [0, np.inf, 0], [0, 0, 1.0]]))
    with pytest.raises(NirError, match="node 'fc': field 'weight' contains NaN or infinite"):
        from_nir(g, dt=1e-3)


def test_shape_mismatch_is_named():
    g = lif_graph()
    g.nodes["fc"] = nir.Linear(weight=np.ones((3, 4)))
    with pytest.raises(NirError, match=r"node 'fc' \(Linear\): expects input shape \(4,\), got \(3,\)"):
        from_nir(g, dt=1e-3)
    with pytest.raises(NirError, match=r"node 'lif': field 'tau' has shape \(4,\)"):
        from_raw(raw_with("lif", "tau", np.full(4, 0.01)), dt=1e-3)


def test_missing_and_unstable_dt():
    with pytest.raises(NirError, match="do not store the time step; pass dt"):
        from_nir(lif_graph(), dt=None)
    with pytest.raises(NirError, match="positive number of seconds"):
        from_nir(lif_graph(), dt=-1.0)
    with pytest.raises(NirError, match=r"node 'lif' \(LIF\): dt = 0.02 s exceeds the time constant 0.01 s"):
        from_nir(lif_graph(), dt=0.02)
    with pytest.raises(NirError, match="time constant must be positive"):
        from_nir(lif_graph(tau=-0.01), dt=1e-3)


def test_unknown_dialect_and_reset():
    with pytest.raises(NirError, match="unknown dialect 'brian'"):
        from_nir(lif_graph(), dt=1e-3, dialect="brian")
    with pytest.raises(NirError, match="reset 'hard'"):
        from_nir(lif_graph(), dt=1e-3, reset="hard")


def test_two_inputs_refused():
    g = lif_graph()
    g.nodes["x2"] = nir.Input(input_type=np.array([3]))
    g.edges.append(("x2", "fc"))
    with pytest.raises(NirError, match=r"one Input and one Output; found inputs \['x', 'x2'\]"):
        from_nir(g, dt=1e-3)


def test_alif_cannot_be_exported_to_nir():
    n = 2
    g = ir.Graph({"x": ir.Input(name="x", shape=(n,)), "fc": ir.Linear(name="fc", weight=np.eye(n)),
                  "a": ir.ALIF(name="a", alpha=np.full(n, .9), gain=np.ones(n), bias=np.zeros(n), rho=np.full(n, .99),
                               b0=np.ones(n), beta=np.full(n, 1.8)),
                  "y": ir.Output(name="y", shape=(n,))}, [("x", "fc"), ("fc", "a"), ("a", "y")], 1e-3)
    with pytest.raises(NirError, match=r"node 'a' \(ALIF\): NIR has no equivalent"):
        to_nir(g)
