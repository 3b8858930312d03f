"""Threshold in the C runtime (cffi): bit for bit the fixed-point specification (quantize/reference.py) in
outputs and every counter, on seeded random inputs, at ties with both spike rules, and with inputs far past the
state's range; its counters those of a neuron layer without state; the blob, the C sources, the schedules and
their arenas, the C validator's refusals, and the cost model's family."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.cost.model import PRIORS, estimate, layer_info
from edgesnn.emit import to_blob, write_c
from edgesnn.emit.blob import BlobError, blob_from_lowered, from_blob
from edgesnn.errors import EmitError
from edgesnn.graph import ir
from edgesnn.graph.simulate import simulate
from edgesnn.lower import lower
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime.binding import CModel, run_c
from tests.helpers.cbuild import RUNTIME, STRICT, assert_driver_matches, build, run, write_inputs
from tests.helpers.models import assert_same, reference, spikes, threshold_graph, threshold_mixed_graph

pytestmark = pytest.mark.needs_c_ext
ROUNDINGS = ("truncate", "nearest", "stochastic")


def chain(thr, rule: str, weight) -> ir.Graph:
    """Input -> Linear(weight) -> Threshold(thr, rule) -> Output."""
    n, n_in = np.shape(weight)
    return ir.Graph({"x": ir.Input(name="x", shape=(n_in,)), "fc": ir.Linear(name="fc", weight=np.asarray(weight, float)),
                     "t": ir.Threshold(name="t", threshold=np.asarray(thr, float), spike_rule=rule),
                     "y": ir.Output(name="y", shape=(n,))}, [("x", "fc"), ("fc", "t"), ("t", "y")], 1e-3)


def all_engines(q, x):
    """(fixed-python, fixed-c) with states recorded, checked equal in outputs, counters and (no) states."""
    ref, got = reference(q, x), run_c(q, x, record_states=True)
    assert_same(ref, got, "threshold", q)
    return ref, got


# ----------------------------------------------------------------------------------------------
# Bit for bit
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("rule", [">", ">="])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_inputs_bit_exact(rule, rounding, seed):
    q = quantize(threshold_graph(rule), QuantConfig(rounding=rounding, seed=seed))
    x = spikes((6, 30, 6), 0.35, seed, max_count=4)
    ref, _ = all_engines(q, x)
    assert 0 < ref.outputs.sum() < ref.outputs.size and ref.counts["th1"]["spikes_out"].sum() > 0


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("cfg", [dict(weight_bits=4, state_bits=8), dict(weight_bits=8, state_bits=16),
                                 dict(weight_bits=12, state_bits=24, threshold_bits=6), dict(weight_bits=16, state_bits=32)])
def test_between_stateful_layers_bit_exact(cfg, rounding):
    """A Threshold keeps no state and takes no noise stream: the LIF after it draws the same noise in Python
    (layer index = neuron layers with state before it) and in C."""
    g = threshold_mixed_graph()
    x = spikes((5, 25, 10), 0.3, 3)
    q = quantize(g, QuantConfig(**cfg, rounding=rounding, seed=11), x)
    ref, got = all_engines(q, x)
    assert set(got.states) == {"lif", "ro"} and ref.counts["th"]["spikes_out"].sum() > 0
    assert ref.counts["lif"]["spikes_out"].sum() > 0


@pytest.mark.parametrize("rule", [">", ">="])
def test_input_exactly_at_the_threshold(rule):
    """acc == threshold: no spike with '>', a spike with '>='; float, fixed-python and fixed-c agree."""
    g = chain([1.0, 2.0, 3.0], rule, np.eye(3))
    q = quantize(g, QuantConfig(weight_bits=8, state_bits=16))
    w, thr = q.layers["fc"].params["weight"], q.layers["t"].params["threshold"]
    np.testing.assert_array_equal(thr, np.diag(w).astype(np.int64) * [1, 2, 3])  # ties land exactly in integers
    x = np.array([[[1, 2, 3], [0, 1, 2], [2, 3, 4], [1, 1, 1], [0, 0, 0]]], np.uint8)
    want = (x > [1, 2, 3]) if rule == ">" else (x >= [1, 2, 3])
    ref, got = all_engines(q, x)
    np.testing.assert_array_equal(ref.outputs, want)
    np.testing.assert_array_equal(simulate(g, x).outputs, want)
    np.testing.assert_array_equal(got.counts["t"]["spikes_out"], want.sum(axis=2))


@pytest.mark.parametrize("rule", [">", ">="])
def test_inputs_past_the_state_range_compare_unsaturated(rule):
    """state_bits = 8: one step's input reaches far beyond [-128, 127] both ways; the threshold is compared
    with it as it is (saturating it first would give the same spikes, the threshold lying in [1, 127])."""
    w = [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [1.0, -1.0, 0.5], [0.1, 0.1, 0.1]]
    q = quantize(chain([0.5, 0.5, 0.05, 0.8], rule, w), QuantConfig(weight_bits=8, state_bits=8))
    smax = 127
    for thr in (None, [smax, 1, smax, 1], [1, smax, 1, smax]):   # PTQ's, then the extremes the runtime admits
        if thr is not None:
            q.layers["t"].params["threshold"] = np.array(thr, np.int32)
        x = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [1, 1, 1], [60, 40, 30]]], np.uint8)
        acc = x.astype(np.int64) @ q.layers["fc"].params["weight"].astype(np.int64).T
        assert acc.max() > 4 * smax and acc.min() < -4 * smax
        t = q.layers["t"].params["threshold"]
        ref, _ = all_engines(q, x)
        np.testing.assert_array_equal(ref.outputs, acc > t if rule == ">" else acc >= t)


def test_counters_are_those_of_a_neuron_layer_without_state():
    """neuron_updates n, spikes_out the spikes, params the bytes of its one array (stored once when its values
    agree, at 8, 16 or 32 bits), arena read 4n per incoming edge (no state), arena written 4n (the output only)."""
    q = quantize(threshold_graph(), QuantConfig())
    x = spikes((3, 12, 6), 0.4, 5, max_count=2)
    ref, got = all_engines(q, x)
    for name, n, edges in (("th1", 4, 2), ("th2", 3, 1)):
        c = got.counts[name]
        thr = q.layers[name].params["threshold"].reshape(-1)
        stored = 1 if np.all(thr == thr[0]) else n
        width = 1 if thr.max() < 128 else 2 if thr.max() < 2 ** 15 else 4
        for key, per_step in (("neuron_updates", n), ("param_bytes_read", stored * width),
                              ("arena_bytes_read", 4 * n * edges),
                              ("arena_bytes_written", 4 * n), ("synops", 0), ("spikes_in", 0)):
            np.testing.assert_array_equal(c[key], np.full((3, 12), per_step), err_msg=f"{name} {key}")
    np.testing.assert_array_equal(got.counts["th2"]["spikes_out"], got.outputs.sum(axis=2))


# ----------------------------------------------------------------------------------------------
# Blob, C sources, schedules
# ----------------------------------------------------------------------------------------------

def test_blob_round_trip():
    q = quantize(threshold_graph(">="), QuantConfig(weight_bits=6, rounding="stochastic", seed=3))
    b = to_blob(q)
    back = from_blob(b)
    assert to_blob(back) == b
    th = back.graph.nodes["th2"]
    assert type(th) is ir.Threshold and th.spike_rule == ">=" and set(back.layers["th2"].params) == {"threshold"}
    np.testing.assert_array_equal(th.threshold, q.layers["th2"].params["threshold"] * q.layers["th2"].scales["v"])
    np.testing.assert_allclose(th.threshold, threshold_graph().nodes["th2"].threshold, atol=q.layers["th2"].scales["v"])
    x = spikes((2, 10, 6), 0.4, 0, max_count=3)
    assert_same(reference(q, x), reference(back, x), "blob")


@pytest.mark.parametrize("schedule", ["layer", "fused", [3, 4, 1]])
def test_schedules_and_arenas(schedule):
    q = quantize(threshold_mixed_graph(), QuantConfig())
    x = spikes((3, 16, 10), 0.3, 1)
    low = lower(q)
    assert [low.state_bytes(k) for k, nd in enumerate(low.nodes) if nd.kind == "Threshold"] == [0]
    assert CModel(to_blob(q)).arena_size == low.arena_size()
    sched = low.with_schedule(schedule, 16)
    assert CModel(blob_from_lowered(sched)).arena_size == sched.arena_bytes
    ref, got = reference(q, x, False), run_c(q, x, schedule=schedule)
    np.testing.assert_array_equal(got.outputs, ref.outputs)
    for k, cs in ref.counts.items():
        for c, a in cs.items():
            np.testing.assert_array_equal(got.counts[k][c].sum(axis=1), a.sum(axis=1), err_msg=f"{k} {c}")


def test_generated_c_sources_match(tmp_path):
    q = quantize(threshold_graph(">="), QuantConfig(rounding="nearest"))
    x = spikes((4, 14, 6), 0.4, 2, max_count=2)
    write_c(q, tmp_path / "model")
    exe = build(tmp_path / "esn_run_compiled", [tmp_path / "model" / "model.c", RUNTIME / "tools" / "esn_run.c"],
                [*STRICT, "-DESN_RUN_COMPILED"], includes=[tmp_path / "model"])
    r = run([exe, "--compiled", write_inputs(tmp_path / "x.bin", x), tmp_path / "out.bin"])
    assert r.returncode == 0, r.stderr
    assert_driver_matches(q, x, tmp_path / "out.bin", "threshold")


@pytest.mark.parametrize("field,value,what", [("reset", 2, "enumeration value out of range"),
                                              ("max_spikes", 3, "enumeration value out of range"),
                                              ("spike_rule", 2, "enumeration value out of range"),
                                              ("bias", np.zeros(4, np.int32), "parameter array missing, unexpected"),
                                              ("threshold", np.array([0, 1, 1, 1], np.int32), "out of range")])
def test_the_c_validator_refuses_what_a_threshold_cannot_hold(field, value, what):
    low = lower(quantize(threshold_graph(), QuantConfig()))
    k = [nd.name for nd in low.nodes].index("th1")
    if isinstance(value, np.ndarray):
        low.nodes[k].params[field] = value
        low.nodes[k].bits[field], low.nodes[k].modes[field] = 32, 0  # int32, one per neuron
    else:
        setattr(low.nodes[k], field, value)
    with pytest.raises(BlobError, match=rf"{what}.* at node 'th1'"):
        CModel(blob_from_lowered(low))


def test_lower_refuses_a_threshold_outside_the_state_range():
    q = quantize(threshold_graph(), QuantConfig(state_bits=8))
    layers = dict(q.layers)
    layers["th2"] = dataclasses.replace(q.layers["th2"], params={"threshold": np.array([1, 128, 5], np.int32)})
    with pytest.raises(EmitError, match=r"node 'th2' \(Threshold\): parameter 'threshold' holds 128, outside \[1, 127\]"):
        lower(dataclasses.replace(q, layers=layers))


# ----------------------------------------------------------------------------------------------
# Cost model
# ----------------------------------------------------------------------------------------------

def test_cost_family_and_prior():
    q = quantize(threshold_mixed_graph(), QuantConfig(state_bits=24))
    info = layer_info(q)["layers"]["th"]
    assert info["family"] == "threshold" and "wide_state" not in info and "reset" not in info
    x = spikes((2, 10, 10), 0.3, 0)
    rep = estimate(q, run_c(q, x), get_board("qemu-mps2-an386"))
    row = next(l for l in rep.layers if l.name == "th")
    assert row.kind == "Threshold" and row.counts["neuron_updates"] == 12 * 10
    assert row.terms["threshold.cycles_per_neuron_update"] == 12 * 10
    assert "threshold.cycles_per_neuron_update" in PRIORS and "threshold.cycles_per_spike_out" not in row.terms
    assert "Threshold" in rep.table()
