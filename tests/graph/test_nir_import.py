"""NIR import/export: the real graphs in tests/fixtures/nir_paper, every convention knob, and bad files."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from edgesnn.errors import NirError  # noqa: E402
from edgesnn.graph import ir  # noqa: E402
from edgesnn.graph.nir_io import NirWarning, from_nir, from_raw, read_nir, read_raw, to_nir, write_nir  # noqa: E402
from edgesnn.graph.simulate import simulate  # noqa: E402
from tests.helpers.paths import FIXTURES  # noqa: E402

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
    with pytest.warns(NirWarning, match=r"--dt 0.0001 s differs from dt = 0.00141786 s, recovered from Rockpool"):
        g = read_nir(path, dt=DT, dialect="rockpool")  # not a Rockpool file: its r says another dt
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
    ("norse", 0.9, 0.2, ">", "zero"),         # dt/tau = 0.1: true taus, read literally (k = dt/tau, gain k*r)
    ("snntorch", 0.9, 0.2, ">", "subtract"),
    ("spikingjelly", 0.9, 0.2, ">=", "zero"),
    ("rockpool", np.exp(-0.1), 1.0, ">=", "subtract"),                # r only encodes dt
    ("sinabs", np.exp(-1 / 0.01), 2 * (1 - np.exp(-1 / 0.01)), ">=", "subtract")])  # tau in steps
def test_dialects_discretise_as_documented(dialect, alpha, gain, rule, reset):
    import warnings
    with warnings.catch_warnings():  # 1e-3 is not snnTorch's or this file's Rockpool dt: that warning is tested below
        warnings.simplefilter("ignore", NirWarning)
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
    (nir.I(r=np.ones(3)), "node 'lif': NIR node type 'I' is not supported"),
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
    with pytest.raises(NirError, match=r"<memory>: NIR files do not store the time step and dialect 'nir' has no "
                                       r"fixed one; pass dt \(--dt SECONDS\)"):
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


# ---------------------------------------------------------------------------------------------
# dt: from the file, the exporter, or the caller; Norse's tau reading; snnTorch's beta clamp
# ---------------------------------------------------------------------------------------------

def quiet_import(*args, **kw):
    """from_nir, failing on any warning, returning (graph, notes)."""
    import warnings
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return from_nir(*args, notes=notes, **kw), notes


@pytest.mark.parametrize("dialect,dt,note", [
    ("snntorch", 1e-4, "dt = 0.0001 s, fixed by snnTorch's export_to_nir"),
    ("sinabs", 1.0, "dt = 1 s, one step: Sinabs's time constants are in steps")])
def test_dt_defaults_to_the_exporters_own(dialect, dt, note):
    g, notes = quiet_import(lif_graph(), dialect=dialect)
    assert g.dt == dt and notes[0] == note


@pytest.mark.parametrize("dialect,hint", [
    ("nir", "the step the model was trained and exported with"),
    ("norse", r"the dt of the Norse cells \(Norse's default is 1e-3\)"),
    ("spikingjelly", r"the dt given to export_to_nir \(SpikingJelly's default is 1e-4\)")])
def test_dialects_without_a_fixed_dt_ask_for_it(dialect, hint):
    with pytest.raises(NirError, match=rf"has no fixed one; pass dt \(--dt SECONDS\): {hint}"):
        from_nir(lif_graph(), dialect=dialect)


def test_a_dt_that_differs_from_snntorchs_warns_naming_both_and_is_used():
    with pytest.warns(NirWarning, match=r"--dt 0.001 s differs from dt = 0.0001 s, fixed by snnTorch's export_to_nir; "
                                        r"the model is re-discretised at 0.001 s and will not compute what snnTorch"):
        g = from_nir(lif_graph(), dt=1e-3, dialect="snntorch")
    assert g.dt == 1e-3
    np.testing.assert_allclose(g.nodes["lif"].alpha, 0.9)
    g, notes = quiet_import(lif_graph(), dt=1e-4, dialect="snntorch")  # the same dt: no warning, no note
    assert notes == []


def test_sinabs_dt_only_names_the_step_length():
    g, notes = quiet_import(lif_graph(), dt=1e-3, dialect="sinabs")
    assert g.dt == 1e-3 and "the dynamics do not depend on it" in notes[0]
    np.testing.assert_allclose(g.nodes["lif"].alpha, np.exp(-1 / 0.01))


def test_rockpool_dt_is_recovered_from_r(nir_paper):
    for path, dt in ((FIXTURES / "rockpool_mlp.nir", 1e-3), (FIXTURES / "rockpool_ties.nir", 1e-3),
                     (nir_paper / "01_lif" / "lif_rockpool.nir", 1e-4)):
        notes = []
        assert read_nir(path, dialect="rockpool", notes=notes).dt == dt
        assert notes[0] == f"dt = {dt:g} s, recovered from Rockpool's r = tau*exp(-dt/tau)/dt"
    raw = raw_with("lif", "r", np.array([2.0, 2.0, 50.0]))
    with pytest.raises(NirError, match=r"<memory>: NIR files do not store the time step and the dt recovered from r "
                                       r"= tau\*exp\(-dt/tau\)/dt differs between neurons \(lif 0.0001961 to "
                                       r"0.003517 s\); pass dt \(--dt SECONDS\): the dt of the Rockpool modules"):
        from_raw(raw, dialect="rockpool")
    with pytest.raises(NirError, match="from node 'lif': r and tau must be positive"):
        from_raw(raw_with("lif", "r", np.array(-1.0)), dialect="rockpool")
    assert from_raw(raw_with("lif", "r", np.array(-1.0)), dt=1e-3, dialect="rockpool").dt == 1e-3


def test_edgesnn_files_record_dt_and_refuse_another_unless_forced(tmp_path):
    g = from_nir(lif_graph(), dt=1e-3)
    write_nir(g, tmp_path / "m.nir")
    notes = []
    assert read_nir(tmp_path / "m.nir", notes=notes).dt == 1e-3 and notes == ["dt = 0.001 s, recorded in the file"]
    assert read_nir(tmp_path / "m.nir", dt=1e-3).dt == 1e-3
    with pytest.raises(NirError, match=r"m\.nir: the file records dt = 0.001 s and --dt 0.0001 differs; importing at "
                                       r"another step changes the model's dynamics \(leave out --dt, or "
                                       r"re-discretise at 0.0001 s with --force\)"):
        read_nir(tmp_path / "m.nir", dt=1e-4)
    notes = []
    forced = read_nir(tmp_path / "m.nir", dt=1e-4, force=True, notes=notes)
    assert forced.dt == 1e-4 and notes == ["dt = 0.0001 s, forced (the file records 0.001 s)"]
    np.testing.assert_allclose(forced.nodes["lif"].alpha, 0.99)


# -- Norse: true taus or dt*tau, decided per file ------------------------------------------------

def norse_fixture(case):
    with np.load(FIXTURES / f"{case}.npz") as z:
        data = {k: z[k] for k in z.files}
    return read_raw(FIXTURES / f"{case}.nir"), data


def true_taus(raw, dt, only=None):
    """The file as to_nir(..., dt=1.0) writes it: every tau (of node `only`, if given) divided by dt."""
    import copy
    raw = copy.deepcopy(raw)
    for name, node in raw["nodes"].items():
        for key in ("tau", "tau_mem", "tau_syn"):
            if key in node and (only is None or name == only):
                node[key] = np.asarray(node[key], np.float64) / dt
    return raw


@pytest.mark.parametrize("case", ["norse_mlp", "norse_box"])
def test_norse_safe_export_reads_literally_and_computes_the_same(case):
    raw, data = norse_fixture(case)
    dt = float(data["dt"])
    notes_bugged, notes_safe = [], []
    bugged = from_raw(raw, dt=dt, dialect="norse", notes=notes_bugged)
    safe = from_raw(true_taus(raw, dt), dt=dt, dialect="norse", notes=notes_safe)
    assert notes_bugged[-1].startswith("norse: time constants read as dt*tau, as Norse 1.1's to_nir writes them "
                                       "(norse#411), so tau/dt is used: dt/tau = ")
    assert "above 1 at every neuron (unstable if read literally)" in notes_bugged[-1]
    assert notes_safe[-1].startswith("norse: time constants read as true taus (literal), as to_nir(..., dt=1.0) or "
                                     "an older Norse writes them: dt/tau = ")
    inputs = data["inputs"]
    a, b = simulate(bugged, inputs).outputs, simulate(safe, inputs).outputs
    np.testing.assert_array_equal(a, b)
    if case == "norse_mlp":
        np.testing.assert_array_equal(b, data["out"])
    # read the other way round, each file is wrong: the override is honoured
    wrong = from_raw(true_taus(raw, dt), dt=dt, dialect="norse", norse_tau="scaled")
    assert not np.array_equal(simulate(wrong, inputs).outputs, a)


def test_norse_mixed_file_is_refused_naming_the_nodes_and_can_be_forced():
    raw, data = norse_fixture("norse_mlp")
    dt = float(data["dt"])
    mixed = true_taus(raw, dt, only="1")
    with pytest.raises(NirError, match=r"<memory>: cannot tell how Norse wrote the time constants: at dt = 0.001 s, "
                                       r"dt/tau is 1.tau_mem 0\.0\d+ to 0\.\d+; 1.tau_syn .*; 3.tau_mem \d+ to \d+; "
                                       r"3.tau_syn .*choose a reading with --norse-tau literal \(true taus\) or "
                                       r"--norse-tau scaled \(dt\*tau, norse#411\)"):
        from_raw(mixed, dt=dt, dialect="norse")
    notes = []
    from_raw(mixed, dt=dt, dialect="norse", norse_tau="scaled", notes=notes)
    assert notes[-1] == ("norse: time constants read as dt*tau, as Norse 1.1's to_nir writes them (norse#411), "
                         "so tau/dt is used (--norse-tau scaled)")
    with pytest.raises(NirError, match="unstable"):  # node 3 read literally: dt/tau is about 100
        from_raw(mixed, dt=dt, dialect="norse", norse_tau="literal")
    with pytest.raises(NirError, match="--norse-tau scaled applies to dialect 'norse' only, not 'nir'"):
        from_raw(raw, dt=dt, norse_tau="scaled")
    with pytest.raises(NirError, match="norse_tau 'both' is not one of auto, literal, scaled"):
        from_raw(raw, dt=dt, dialect="norse", norse_tau="both")


def test_norse_paper_file_with_true_taus_reads_literally(nir_paper):
    notes = []
    g = read_nir(nir_paper / "01_lif" / "lif_norse.nir", dt=DT, dialect="norse", notes=notes)
    assert "true taus" in notes[-1]
    np.testing.assert_allclose(next(n for n in g.nodes.values() if isinstance(n, ir.LIF)).alpha, 1 - DT / 2.5e-3)


# -- snnTorch: beta clamped to [0, 1] as snnTorch runs it -----------------------------------------

def snntorch_raw(beta, alpha=None):
    """A file as snnTorch's export_to_nir writes Leaky (or Synaptic with alpha): tau = dt/(1-beta), r = tau/dt."""
    dt = 1e-4
    with np.errstate(divide="ignore"):
        tau = dt / (1 - np.asarray(beta, np.float64))
    n = tau.size
    if alpha is None:
        neuron = nir.LIF(tau=np.ones(n), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))
    else:
        neuron = nir.CubaLIF(tau_mem=np.ones(n), tau_syn=np.ones(n), r=np.ones(n), v_leak=np.zeros(n),
                             v_threshold=np.ones(n), w_in=np.ones(n))
    raw = nir.NIRGraph(nodes={"x": nir.Input(input_type=np.array([n])), "fc": nir.Linear(weight=np.eye(n)),
                              "lif": neuron, "y": nir.Output(output_type=np.array([n]))},
                       edges=[("x", "fc"), ("fc", "lif"), ("lif", "y")], type_check=False).to_dict()
    node = raw["nodes"]["lif"]
    node["tau" if alpha is None else "tau_mem"], node["r"] = tau, tau / dt
    if alpha is not None:
        with np.errstate(divide="ignore"):
            node["tau_syn"] = dt / (1 - np.asarray(alpha, np.float64))
        node["w_in"] = node["tau_syn"] / dt
    return raw


def test_snntorch_learned_beta_is_clamped_as_snntorch_runs_it():
    raw = snntorch_raw([0.9, 1.037, 1.0, -0.2])
    notes = []
    g = from_raw(raw, dialect="snntorch", notes=notes)
    lif = g.nodes["lif"]
    np.testing.assert_allclose(lif.alpha, [0.9, 1.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(lif.gain, 1.0, rtol=1e-12)
    assert notes[1:] == [
        "node 'lif' (LIF): beta = 1 (tau = inf in the file) at 1 of 4 neurons: no leak",
        "node 'lif' (LIF): beta clamped to 1.0 at 1 of 4 neurons (file beta up to 1.037), as snnTorch clamps it "
        "when it runs",
        "node 'lif' (LIF): beta clamped to 0.0 at 1 of 4 neurons (file beta down to -0.2), as snnTorch clamps it "
        "when it runs"]
    # a decay of 1 integrates without leak, like IF
    x = np.zeros((1, 5, 4), np.float32)
    x[0, 0] = 0.5
    r = simulate(g, x, record_states=True)
    np.testing.assert_allclose(r.states["lif"]["v"][0, :, 1:3], 0.5)
    # the nir dialect reads the same file literally and refuses it
    with pytest.raises(NirError, match="field 'tau' contains NaN or infinite"):
        from_raw(raw, dt=1e-4)
    # at another dt a negative decay means that dt is too large, as before
    with pytest.warns(NirWarning), pytest.raises(NirError, match=r"dt = 0.001 s exceeds the time constant"):
        from_raw(raw, dt=1e-3, dialect="snntorch")


def test_snntorch_synaptic_alpha_is_clamped_too():
    notes = []
    c = from_raw(snntorch_raw([0.9, 0.95], alpha=[1.0, 1.2]), dialect="snntorch", notes=notes).nodes["lif"]
    np.testing.assert_allclose(c.alpha_syn, 1.0)
    np.testing.assert_allclose(c.gain_syn, 1.0)
    np.testing.assert_allclose(c.alpha, [0.9, 0.95])
    assert "node 'lif' (CubaLIF): alpha clamped to 1.0 at 1 of 2 neurons (file alpha up to 1.2)" in notes[-1]
