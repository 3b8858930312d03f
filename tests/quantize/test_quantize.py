"""Quantization (Q-SpiNN per-kind precision) and the fixed-point reference semantics."""

import json

import numpy as np
import pytest

from edgesnn.data import load_dataset
from edgesnn.errors import QuantizeError, SimulationError
from edgesnn.graph import Graph, ir
from edgesnn.quantize import QGraph, QuantConfig, quantize
from edgesnn.quantize.fixedpoint import EXP_LUT, entropy_q8, noise, quantize_values, rshift, sat
from edgesnn.graph.simulate import simulate
from edgesnn.quantize.reference import simulate_fixed
from tests.helpers.paths import EXAMPLES


def example(name):
    g = Graph.load(EXAMPLES / "models" / f"{name}.json")
    x, y = load_dataset(EXAMPLES / "data" / "digits_test.npz")
    return g, x.reshape(*x.shape[:2], *g.input.shape), y


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,msg", [
    (dict(weight_bits=0), "weight_bits = 0 is outside [1, 16]"),
    (dict(weight_bits=17), "weight_bits = 17 is outside [1, 16]"),
    (dict(state_bits=7), "state_bits = 7 is outside [8, 32]"),
    (dict(state_bits=33), "state_bits = 33"),
    (dict(decay_bits=20), "decay_bits = 20"),
    (dict(threshold_bits=20, state_bits=16), "threshold_bits = 20 exceeds state_bits = 16"),
    (dict(rounding="floor"), "rounding 'floor' is not one of truncate, nearest, stochastic"),
    (dict(weight_bits=8.5), "weight_bits = 8.5"),
    (dict(seed=-1), "seed -1"),
])
def test_settings_out_of_range_are_named(kw, msg):
    import re
    with pytest.raises(QuantizeError, match=re.escape(msg)):
        QuantConfig(**kw)


def test_all_problems_reported_at_once():
    with pytest.raises(QuantizeError) as e:
        QuantConfig(weight_bits=0, state_bits=64, rounding="x")
    assert "weight_bits" in str(e.value) and "state_bits" in str(e.value) and "rounding" in str(e.value)


# ---------------------------------------------------------------------------------------------
# Integer primitives
# ---------------------------------------------------------------------------------------------

def test_rshift_rounding_modes():
    p = np.array([-7, -6, -5, -4, -1, 0, 1, 4, 5, 6, 7], np.int64)
    np.testing.assert_array_equal(rshift(p, 2, "truncate"), np.floor(p / 4))
    np.testing.assert_array_equal(rshift(p, 2, "nearest"), np.floor(p / 4 + 0.5))
    # stochastic with noise r: floor((p + (r mod 4)) / 4); r = 3 rounds every non-multiple up
    np.testing.assert_array_equal(rshift(p, 2, "stochastic", np.full_like(p, 3)), np.ceil(p / 4))
    np.testing.assert_array_equal(rshift(p, 2, "stochastic", np.full_like(p, 4)), np.floor(p / 4))
    np.testing.assert_array_equal(rshift(p, 0, "nearest"), p)


def test_stochastic_rounding_is_unbiased_and_reproducible():
    r = noise(seed=7, layer=1, step=3, count=100_000, stream=0)
    assert r.min() >= 0 and r.max() < 2 ** 32
    np.testing.assert_array_equal(r, noise(7, 1, 3, 100_000, 0))
    assert not np.array_equal(r, noise(8, 1, 3, 100_000, 0))
    assert not np.array_equal(r, noise(7, 1, 4, 100_000, 0))
    mean = rshift(np.full(100_000, 5, np.int64), 3, "stochastic", r).mean()  # 5/8 on average
    assert abs(mean - 5 / 8) < 0.01
    q = quantize_values(np.full(100_000, 0.3), "stochastic", np.random.default_rng(0))
    assert abs(q.mean() - 0.3) < 0.01 and set(np.unique(q)) == {0, 1}


def test_parameter_rounding_modes():
    x = np.array([-1.5, -0.5, 0.4, 0.5, 1.7])
    np.testing.assert_array_equal(quantize_values(x, "truncate"), [-1, 0, 0, 0, 1])
    np.testing.assert_array_equal(quantize_values(x, "nearest"), [-1, 0, 0, 1, 2])


def test_saturation_never_wraps():
    np.testing.assert_array_equal(sat(np.array([-10 ** 6, -129, -128, 127, 128, 10 ** 6]), 8),
                                  [-128, -128, -128, 127, 127, 127])


def test_integer_entropy_tracks_the_float_entropy():
    rng = np.random.default_rng(0)
    acc = rng.integers(0, 20, size=(500, 10)).astype(np.int64)
    for t in (1, 3, 8):
        z = acc / t
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        h = -(p * np.log(np.maximum(p, 1e-300))).sum(1)
        hq = entropy_q8(acc, t, 1 << 16) / 256
        assert np.max(np.abs(hq - h)) < 0.03
    assert EXP_LUT[0] == 32768 and EXP_LUT[-1] < 2


# ---------------------------------------------------------------------------------------------
# Post-training quantization of the example models (Q-SpiNN targets)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_ptq_targets(name):
    g, x, y = example(name)
    float_acc = np.mean(simulate(g, x).pred == y)
    recorded = json.loads((EXAMPLES / "models" / "results.json").read_text())[name]["accuracy"]
    assert float_acc == pytest.approx(recorded)
    xv, _ = load_dataset(EXAMPLES / "data" / "digits_val.npz")
    calib = xv.reshape(*xv.shape[:2], *g.input.shape)[:64]
    acc_8_16 = np.mean(simulate_fixed(quantize(g, QuantConfig(8, 16), calib), x).pred == y)
    acc_16_32 = np.mean(simulate_fixed(quantize(g, QuantConfig(16, 32, threshold_bits=32, decay_bits=16), calib),
                                       x).pred == y)
    assert float_acc - acc_8_16 <= 0.005, (float_acc, acc_8_16)
    assert abs(float_acc - acc_16_32) <= 0.001, (float_acc, acc_16_32)


def test_weights_fit_their_bits_and_share_the_target_units():
    g, x, _ = example("digits_mlp")
    for bits in (2, 4, 8, 16):
        q = quantize(g, QuantConfig(weight_bits=bits))
        w = q.layers["fc1"].params["weight"].astype(np.int64)
        assert w.min() >= -(2 ** (bits - 1)) and w.max() <= 2 ** (bits - 1) - 1
        assert q.layers["fc1"].target == "lif1" and q.layers["fc1"].scales["out"] == q.layers["lif1"].scales["v"]
    q16 = quantize(g, QuantConfig(weight_bits=16, state_bits=32, threshold_bits=32))
    w_real = q16.layers["fc1"].params["weight"] * q16.layers["fc1"].scales["out"]
    np.testing.assert_allclose(w_real, g.nodes["fc1"].weight * g.nodes["lif1"].gain[:, None],
                               atol=q16.layers["fc1"].scales["out"])


def test_threshold_bits_limit_significant_bits():
    g, _, _ = example("digits_mlp")
    q = quantize(g, QuantConfig(weight_bits=8, state_bits=16, threshold_bits=3))
    thr = q.layers["lif1"].params["threshold"].astype(np.int64)
    k = np.array([int(t) & -int(t) for t in thr])  # lowest set bit of each threshold
    assert np.all(thr // k < 8), "more than 3 significant bits"


def test_stochastic_quantization_is_seeded():
    g, x, _ = example("digits_mlp")
    a = quantize(g, QuantConfig(weight_bits=4, rounding="stochastic", seed=3))
    b = quantize(g, QuantConfig(weight_bits=4, rounding="stochastic", seed=3))
    c = quantize(g, QuantConfig(weight_bits=4, rounding="stochastic", seed=4))
    np.testing.assert_array_equal(a.layers["fc1"].params["weight"], b.layers["fc1"].params["weight"])
    assert not np.array_equal(a.layers["fc1"].params["weight"], c.layers["fc1"].params["weight"])
    np.testing.assert_array_equal(simulate_fixed(a, x[:20]).outputs, simulate_fixed(b, x[:20]).outputs)


def test_qgraph_round_trips(tmp_path):
    g, x, _ = example("digits_cnn")
    q = quantize(g, QuantConfig(weight_bits=6, state_bits=12, rounding="truncate")).with_exit(300)
    q.save(tmp_path / "q.json")
    back = QGraph.load(tmp_path / "q.json")
    assert back.config == q.config and back.exit == q.exit
    for k, layer in q.layers.items():
        for p, a in layer.params.items():
            np.testing.assert_array_equal(back.layers[k].params[p], a)
            assert back.layers[k].params[p].dtype == a.dtype
    r1, r2 = simulate_fixed(q, x[:10]), simulate_fixed(back, x[:10])
    np.testing.assert_array_equal(r1.outputs, r2.outputs)
    np.testing.assert_array_equal(r1.steps, r2.steps)


# ---------------------------------------------------------------------------------------------
# Fixed-point semantics by hand
# ---------------------------------------------------------------------------------------------

def one_neuron(node_kw, kind=ir.LIF, weight=1.0):
    a = lambda v: np.array([v], np.float64)  # noqa: E731
    kw = {k: a(v) for k, v in node_kw.items() if not isinstance(v, str)}
    kw.update({k: v for k, v in node_kw.items() if isinstance(v, str)})
    return Graph({"x": ir.Input(name="x", shape=(1,)), "w": ir.Linear(name="w", weight=np.array([[weight]])),
                  "n": kind(name="n", **kw), "y": ir.Output(name="y", shape=(1,))},
                 [("x", "w"), ("w", "n"), ("n", "y")], 1e-3)


def test_lif_by_hand_in_integers():
    # threshold 1, weight 0.5, alpha 0.5; with 8-bit weights the unit is 0.5/127 of a volt
    g = one_neuron(dict(alpha=0.5, gain=1.0, bias=0.0, threshold=1.0, v_reset=0.0, reset="subtract"), weight=0.5)
    cfg = QuantConfig(weight_bits=8, state_bits=16, decay_bits=8, rounding="truncate")
    q = quantize(g, cfg)
    assert q.layers["w"].params["weight"][0, 0] == 127 and q.layers["n"].params["threshold"][0] == 254
    assert q.layers["n"].params["alpha"][0] == 128
    x = np.array([1, 1, 1, 0, 1], np.uint8).reshape(1, 5, 1)
    r = simulate_fixed(q, x, record_states=True)
    # v: 127 | 63+127=190 | 95+127=222 | 111 | 55+127=182  -> never reaches 254
    np.testing.assert_array_equal(r.states["n"]["v"][0, :, 0], [127, 190, 222, 111, 182])
    x2 = np.array([2, 2, 0], np.uint8).reshape(1, 3, 1)  # two spikes per step add the row twice
    r2 = simulate_fixed(q, x2, record_states=True)
    # v: 254 -> spike (v > 254? no, rule '>') ; 127 + 254 = 381 -> spike, 381 - 254 = 127 ; 63
    np.testing.assert_array_equal(r2.outputs[0, :, 0], [0, 1, 0])
    np.testing.assert_array_equal(r2.states["n"]["v"][0, :, 0], [254, 127, 63])


def test_state_saturates_instead_of_wrapping():
    # An inhibitory input drives an IF neuron down without bound: the 8-bit state stops at -128.
    g = one_neuron(dict(gain=1.0, bias=0.0, threshold=100.0, v_reset=0.0), kind=ir.IF, weight=-1.0)
    q = quantize(g, QuantConfig(weight_bits=8, state_bits=8))
    assert q.layers["w"].params["weight"][0, 0] == -1
    v = simulate_fixed(q, np.ones((1, 300, 1), np.uint8), record_states=True).states["n"]["v"][0, :, 0]
    np.testing.assert_array_equal(v[:128], -np.arange(1, 129))
    assert np.all(v[128:] == -128), "the state wrapped or drifted past its 8-bit range"


def test_fixed_point_needs_spike_counts():
    g, x, _ = example("digits_mlp")
    q = quantize(g)
    with pytest.raises(SimulationError, match=r"spike counts \(integers 0\.\.255\); found 0\.5"):
        simulate_fixed(q, np.full((1, 2, 64), 0.5, np.float32))
    with pytest.raises(SimulationError, match="found 300"):
        simulate_fixed(q, np.full((1, 2, 64), 300, np.int32))
    with pytest.raises(SimulationError, match="found -1"):
        simulate_fixed(q, np.full((1, 2, 64), -1, np.int32))


def test_unsupported_structures_are_named():
    n = 3
    nodes = {"x": ir.Input(name="x", shape=(n,)),
             "p": ir.Scale(name="p", scale=np.ones(n)),
             "li": ir.LI(name="li", alpha=np.full(n, .5), gain=np.ones(n), bias=np.zeros(n)),
             "w": ir.Linear(name="w", weight=np.eye(n)),
             "lif": ir.LIF(name="lif", alpha=np.full(n, .5), gain=np.ones(n), bias=np.zeros(n),
                           threshold=np.ones(n), v_reset=np.zeros(n)),
             "y": ir.Output(name="y", shape=(n,))}
    g = Graph(nodes, [("x", "p"), ("p", "li"), ("li", "w"), ("w", "lif"), ("lif", "y")], 1e-3)
    with pytest.raises(QuantizeError, match=r"node 'w' \(Linear\): receives real values from 'li'"):
        quantize(g)
    g2 = Graph({"x": ir.Input(name="x", shape=(n,)), "w": ir.Linear(name="w", weight=np.eye(n)),
                "y": ir.Output(name="y", shape=(n,))}, [("x", "w"), ("w", "y")], 1e-3)
    with pytest.raises(QuantizeError, match="feeds the output directly"):
        quantize(g2)


def test_early_exit_stops_confident_inputs():
    g, x, y = example("digits_mlp")
    q = quantize(g)
    full = simulate_fixed(q, x)
    assert full.steps is None
    never = simulate_fixed(q.with_exit(0), x)
    np.testing.assert_array_equal(never.steps, 16)
    np.testing.assert_array_equal(never.outputs, full.outputs)
    some = simulate_fixed(q.with_exit(100, beta_q16=8 << 16), x)  # exit below 0.39 nat, logits x8
    assert 1 <= some.steps.min() and some.mean_steps < 8
    stopped = some.steps < 16
    assert stopped.any()
    for i in np.flatnonzero(stopped)[:20]:  # nothing is emitted or counted after the exit
        assert some.outputs[i, some.steps[i]:].sum() == 0
        assert some.counts["fc1"]["synops"][i, some.steps[i]:].sum() == 0
    assert abs(np.mean(some.pred == y) - np.mean(full.pred == y)) < 0.05


def test_recurrent_bias_reaches_step_zero_in_fixed_point_and_in_c():
    """A recurrent Affine adds its bias from step 0 (the value at rest) in every engine."""
    a = lambda v: np.array(v, np.float64)  # noqa: E731
    nodes = {"in": ir.Input(name="in", shape=(1,)), "w": ir.Linear(name="w", weight=a([[1.0]])),
             "lif": ir.LIF(name="lif", gain=a([1]), bias=a([0]), threshold=a([1]), v_reset=a([0]),
                           alpha=a([0.5]), reset="subtract"),
             "rec": ir.Affine(name="rec", weight=a([[0.5]]), bias=a([0.25])),
             "out": ir.Output(name="out", shape=(1,))}
    g = Graph(nodes, [("in", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")], 1e-3)
    x = np.array([1, 0, 0, 1, 0, 0], np.uint8).reshape(1, 6, 1)
    want = simulate(g, x, dtype=np.float64).outputs
    assert want[0, 0, 0] == 1  # 1 + 0.25 crosses only because the bias is there at t = 0
    q = quantize(g, QuantConfig(weight_bits=16, state_bits=32))
    np.testing.assert_array_equal(simulate_fixed(q, x).outputs, want)
    from edgesnn.runtime import run_c
    np.testing.assert_array_equal(run_c(q, x).outputs, want)
