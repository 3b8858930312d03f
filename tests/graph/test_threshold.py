"""Threshold, NIR's stateless spike generator (s = x > threshold, or >= by the spike rule): the IR node and its
checks, the file round trip, NIR import (every dialect's spike rule) and export, the float simulator, float
against the fixed-point specification on a model where both compute the same integers, PTQ's units, and the
tables of `edgesnn info`."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from edgesnn.cli import main
from edgesnn.errors import GraphError, NirError
from edgesnn.graph import ir
from edgesnn.graph.dialects import DIALECTS
from edgesnn.graph.kinds import KINDS
from edgesnn.graph.nir_io import from_nir, read_nir, to_nir, write_nir
from edgesnn.graph.simulate import simulate
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.quantize.stateless import stateless_refusal
from edgesnn.report import graph_info
from tests.helpers.models import reference, spikes, threshold_graph

DT = 1e-3


def chain(th: ir.Threshold, n_in: int = 3, weight=None) -> ir.Graph:
    """Input(n_in) -> Linear -> th -> Output."""
    n = th.size
    w = np.eye(n, n_in) if weight is None else weight
    return ir.Graph({"x": ir.Input(name="x", shape=(n_in,)), "fc": ir.Linear(name="fc", weight=w), th.name: th,
                     "y": ir.Output(name="y", shape=(n,))}, [("x", "fc"), ("fc", th.name), (th.name, "y")], DT)


# ----------------------------------------------------------------------------------------------
# The kind and the IR node
# ----------------------------------------------------------------------------------------------

def test_the_row():
    k = KINDS["Threshold"]
    assert k.neuron and k.spiking and k.state == () and k.n_state() == 0
    assert k.required == {"threshold"} and not k.optional and k.family == "threshold"
    assert not k.statelessable and k.knobs == () and ir.Threshold in ir.NEURON_TYPES
    assert ir.Threshold.spiking and ir.Threshold.stateful   # stateful: a neuron layer (counted, fed by weights)


def test_validation_names_node_and_field():
    good = ir.Threshold(name="t", threshold=np.array([0.5, 1.0]))
    assert good.spike_rule == ">" and good.size == 2 and good.neuron_shape == (2,)
    with pytest.raises(GraphError, match=r"node 't' \(Threshold\): field 'threshold' has shape \(2,\) but the layer "
                                         r"receives \(3,\)"):
        chain(good, weight=np.ones((3, 3)))
    with pytest.raises(GraphError, match=r"node 't' \(Threshold\): field 'threshold' must be positive"):
        chain(ir.Threshold(name="t", threshold=np.array([0.5, 0.0])))
    with pytest.raises(GraphError, match=r"node 't' \(Threshold\): spike_rule '<' is not one of"):
        chain(ir.Threshold(name="t", threshold=np.ones(3), spike_rule="<"))
    with pytest.raises(GraphError, match=r"node 't': field 'threshold' has a non-finite value \(nan\) at index \(1,\)"):
        chain(ir.Threshold(name="t", threshold=np.array([1.0, np.nan, 1.0])))


def test_dict_and_file_round_trip(tmp_path):
    th = ir.Threshold(name="t", threshold=np.array([[0.1, 1 / 3, 2.5]], np.float32), spike_rule=">=")
    d = json.loads(json.dumps(th.to_dict(), allow_nan=False))
    assert set(d) == {"kind", "name", "threshold", "spike_rule"} and d["kind"] == "Threshold"
    back = ir.Node.from_dict(d)
    assert type(back) is ir.Threshold and back.spike_rule == ">="
    assert back.threshold.dtype == np.float32 and back.threshold.tobytes() == th.threshold.tobytes()
    with pytest.raises(GraphError, match=r"\(Threshold\): unknown fields \['bias'\]"):
        ir.Node.from_dict({**d, "bias": d["threshold"]})
    g = threshold_graph()
    g.save(tmp_path / "g.json")
    g2 = ir.Graph.load(tmp_path / "g.json")
    assert g2.to_dict() == g.to_dict() and g2.output_spiking


# ----------------------------------------------------------------------------------------------
# Float simulator
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [">", ">="])
def test_float_is_the_input_against_the_threshold_each_step(rule):
    thr = np.array([1.0, 2.0, 0.5])
    g = chain(ir.Threshold(name="t", threshold=thr, spike_rule=rule))
    x = np.random.default_rng(0).integers(0, 4, (5, 9, 3)).astype(np.uint8)
    r = simulate(g, x, record_states=True)
    want = (x > thr) if rule == ">" else (x >= thr)       # nothing carried: step t depends on x[t] only
    np.testing.assert_array_equal(r.outputs, want)
    assert r.output_spiking and r.states == {}
    np.testing.assert_array_equal(r.counts["t"]["neuron_updates"], np.full((5, 9), 3))
    np.testing.assert_array_equal(r.counts["t"]["spikes_out"], want.sum(axis=2))


@pytest.mark.parametrize("rule", [">", ">="])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float_equals_fixed_python_where_both_are_exact(rule, seed):
    """threshold_graph: every number a multiple of the 1/64 unit, so float32 and fixed point agree exactly."""
    g = threshold_graph(rule)
    q = quantize(g, QuantConfig(weight_bits=8, state_bits=16))
    assert q.layers["th1"].scales["v"] == q.layers["th2"].scales["v"] == 1 / 64
    x = spikes((8, 24, 6), 0.4, seed, max_count=3)
    f, p = simulate(g, x), reference(q, x, False)
    np.testing.assert_array_equal(f.outputs, p.outputs)
    assert p.outputs.sum() > 0
    for layer in ("th1", "th2"):
        for c in ("neuron_updates", "spikes_out"):
            np.testing.assert_array_equal(f.counts[layer][c], p.counts[layer][c], err_msg=f"{layer} {c}")


# ----------------------------------------------------------------------------------------------
# PTQ
# ----------------------------------------------------------------------------------------------

def test_ptq_threshold_in_the_input_units():
    q = quantize(threshold_graph(), QuantConfig(weight_bits=8, state_bits=16))
    for name, thr in (("th1", [64, 96, 128, 80]), ("th2", [40, 64, 100])):
        ql = q.layers[name]
        assert set(ql.params) == {"threshold"} and ql.params["threshold"].dtype == np.int32
        np.testing.assert_array_equal(ql.params["threshold"], thr)       # threshold / (1/64)
    assert q.layers["fc1"].target == "th1" and q.layers["fc1"].into == "v"
    # threshold_bits: kept to that many significant bits, as every spiking kind's
    q4 = quantize(threshold_graph(), QuantConfig(weight_bits=8, state_bits=16, threshold_bits=4))
    assert all(int(t).bit_length() - (int(t) & -int(t)).bit_length() + 1 <= 4 for t in q4.layers["th1"].params["threshold"])
    assert "keeps no state already" in stateless_refusal(threshold_graph().nodes["th1"])


# ----------------------------------------------------------------------------------------------
# NIR
# ----------------------------------------------------------------------------------------------

def nir_graph(threshold, metadata=None) -> nir.NIRGraph:
    n = 3
    return nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([n])),
                               "fc": nir.Affine(weight=np.eye(n) * 0.5, bias=np.zeros(n)),
                               "th": nir.Threshold(threshold=np.asarray(threshold, float), metadata=metadata or {}),
                               "out": nir.Output(output_type=np.array([n]))},
                        edges=[("in", "fc"), ("fc", "th"), ("th", "out")])


@pytest.mark.filterwarnings("ignore:.*differs from dt")  # snnTorch's own dt is 1e-4; the node has no dynamics
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_nir_import_every_dialect(dialect):
    """No time constant: no dt conversion; the spike rule is the dialect's, as for its other spiking nodes."""
    g = from_nir(nir_graph([0.25, 0.5, 1.0]), dt=DT, dialect=dialect, force=True)
    th = g.nodes["th"]
    assert type(th) is ir.Threshold and th.spike_rule == DIALECTS[dialect].spike_rule
    np.testing.assert_array_equal(th.threshold, [0.25, 0.5, 1.0])
    assert g.predecessors("th") == ["fc"] and g.output_spiking


def test_nir_import_broadcasts_a_scalar_and_refuses_a_nonpositive_threshold():
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])), "fc": nir.Linear(weight=np.eye(3)),
                            "th": nir.Threshold(threshold=np.array(0.75)), "out": nir.Output(output_type=np.array([3]))},
                     edges=[("in", "fc"), ("fc", "th"), ("th", "out")], type_check=False)
    np.testing.assert_array_equal(from_nir(g, dt=DT).nodes["th"].threshold, [0.75] * 3)
    with pytest.raises(NirError, match=r"node 'th' \(Threshold\): field 'threshold' must be positive"):
        from_nir(nir_graph([0.5, -1.0, 1.0]), dt=DT)


@pytest.mark.parametrize("rule", [">", ">="])
def test_nir_export_import_round_trip(tmp_path, rule):
    g = threshold_graph(rule)
    n = to_nir(g)
    assert type(n.nodes["th2"]) is nir.Threshold and n.nodes["th2"].metadata == {"edgesnn.spike_rule": rule}
    np.testing.assert_array_equal(n.nodes["th1"].threshold, g.nodes["th1"].threshold)
    write_nir(g, tmp_path / "m.nir")
    for back in (from_nir(n), read_nir(tmp_path / "m.nir")):
        assert back.dt == g.dt and set(back.nodes) == set(g.nodes) and set(back.edges) == set(g.edges)
        assert back.schedule().order == g.schedule().order
        for k in ("th1", "th2"):
            assert back.nodes[k].to_dict() == g.nodes[k].to_dict()
        x = spikes((3, 10, 6), 0.4, 0, max_count=2)
        np.testing.assert_array_equal(simulate(back, x).outputs, simulate(g, x).outputs)
    # the spike rule the file records wins over the dialect's ('>=' in sinabs)
    assert read_nir(tmp_path / "m.nir", dialect="sinabs").nodes["th1"].spike_rule == ">"


# ----------------------------------------------------------------------------------------------
# edgesnn info
# ----------------------------------------------------------------------------------------------

def test_info_counts_neurons_without_state(tmp_path, capsys):
    g = threshold_graph()
    rows = {r["name"]: r for r in graph_info(g)["layers"]}
    assert rows["th1"]["kind"] == "Threshold" and rows["th1"]["neurons"] == 4 and rows["th1"]["parameters"] == 4
    assert rows["th1"]["state_bytes_f32"] == 0 and rows["th1"]["recurrent_from"] == ["rec"]
    g.save(tmp_path / "m.json")
    assert main(["info", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "Threshold" in out and "th2" in out
    assert main(["info", "--json", str(tmp_path / "m.json")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total"]["neurons"] == 7
