"""The neuron layers' fast paths (runtime_c/src/kernels/esn_neuron.c: IF/LIF/LI and ALIF at v stored in 8 or 16
bits, int32 arithmetic, constants per layer or channel) against the Python fixed-point reference, state by state
and counter by counter: random parameters over their validated ranges, each kind, width (8, 16 and 12 bits, the
last the loop with runtime saturation bounds), reset, spike rule and rounding (stochastic takes the generic loop,
checked too), and values at the edges the fast paths' bound arguments rest on: inputs beyond +-2^29 (the clamp),
biases at +-2^28 and beyond it (the generic loop), decays 0 and 2^db, thresholds 1 and 2^(sb-1) - 1, v_reset at
both ends of the state range, ALIF beta at 2^16 - 1 and 2^16 (the generic loop), eta grown past 2^15 (the 64-bit
neuron inside the fast loop) and a layer with two inputs (their sum clamped once); per-neuron alpha and threshold
at 8 or 16 bits (LIF's pern loop; LI's alpha at 16), and the per-neuron layouts the fast paths decline. That the fast paths are taken
on Cortex-M4 is shown by their instruction counts on QEMU (tests/firmware/test_neuron_targets.py,
bench/bench_mcu.py --neurons)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from edgesnn.cost.model import _fast_neuron
from edgesnn.graph import Graph, ir
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.quantize.qgraph import PM_ELEM, param_storage
from edgesnn.quantize.reference import simulate_fixed
from edgesnn.runtime import run_c
from tests.helpers.models import assert_same

FAN_IN = 24
N = 40


def _neuron(kind: str, n: int, reset: str, rule: str):
    ones = np.ones(n)
    common = dict(name="nrn", gain=ones, bias=0 * ones)
    spiking = dict(threshold=ones, v_reset=0 * ones, reset=reset, spike_rule=rule)
    if kind == "IF":
        return ir.IF(**common, **spiking)
    if kind == "LIF":
        return ir.LIF(alpha=0.9 * ones, **common, **spiking)
    if kind == "LI":
        return ir.LI(alpha=0.9 * ones, **common)
    if kind == "CubaLIF":
        return ir.CubaLIF(alpha=0.9 * ones, alpha_syn=0.8 * ones, gain_syn=ones, **common, **spiking)
    return ir.ALIF(alpha=0.9 * ones, rho=0.95 * ones, b0=ones, beta=0.5 * ones, spike_rule=rule, **common)


def _model(kind, config, reset="subtract", rule=">", two_inputs=False, seed=0, fan_in=FAN_IN):
    """Input -> Linear (-> the neuron, and a second Linear into it with two_inputs) -> neuron -> Output."""
    rng = np.random.default_rng(seed)
    nodes = {"in": ir.Input(name="in", shape=(fan_in,)), "fc": ir.Linear(name="fc", weight=rng.normal(size=(N, fan_in))),
             "nrn": _neuron(kind, N, reset, rule), "out": ir.Output(name="out", shape=(N,))}
    edges = [("in", "fc"), ("fc", "nrn"), ("nrn", "out")]
    if two_inputs:
        nodes["fc2"] = ir.Linear(name="fc2", weight=rng.normal(size=(N, fan_in)))
        edges += [("in", "fc2"), ("fc2", "nrn")]
    x = (rng.random((4, 6, fan_in)) < 0.5).astype(np.uint8)
    return quantize(Graph(nodes, edges, 1e-3), config, x)


def _inputs(rng, n=3, steps=14, big=False):
    x = (rng.random((n, steps, FAN_IN)) < 0.4).astype(np.uint8)
    return x * (rng.integers(1, 256, x.shape).astype(np.uint8) if big else rng.integers(1, 4, x.shape).astype(np.uint8))


def _layer_params(q, kind, rng, edges=False):
    """Random integer parameters for the neuron node, each one value for the whole layer (ALIF: alpha, rho and
    eta_inc one per neuron, at 16 bits), over the ranges esn_model_validate admits; edges: their extremes."""
    cfg = q.config
    p = q.layers["nrn"].params
    smax = (1 << (cfg.state_bits - 1)) - 1
    one = 1 << cfg.decay_bits

    def pick(lo, hi, ends):  # log-uniform in magnitude, so that small thresholds (layers that spike) come up
        if edges:
            return int(rng.choice(ends))
        mag = int(2 ** rng.uniform(0, np.log2(max(abs(lo), abs(hi), 1))))
        return int(np.clip(mag if lo >= 0 or rng.random() < 0.5 else -mag, lo, hi))

    def fill(name, value):
        p[name] = np.full(p[name].shape, value, np.int32)

    if "alpha" in p and kind != "ALIF":
        fill("alpha", pick(0, one, [0, 1, one - 1, one]))
    if "bias" in p:  # bmax: the largest |bias| the IF/LIF/LI loop folds into its rounding term (esn_bias_max)
        bmax = min((((1 << 31) - 1) >> cfg.decay_bits) - 32767, 1 << 28)
        fill("bias", pick(-smax, smax, [-bmax - 1, -bmax, -smax - 1, 0, smax, bmax, bmax + 1, 1 << 28]))
    if "threshold" in p:
        thr = pick(1, smax, [1, 2, smax])
        fill("threshold", thr)
        fill("v_reset", pick(-smax - 1, smax, [-smax - 1, 0, smax]))
    if kind == "ALIF":
        n = p["alpha"].shape[0]
        p["alpha"] = rng.integers(max(0, one - 400), one + 1, n).astype(np.int32)
        p["rho"] = rng.integers(max(0, one - 300), one + 1, n).astype(np.int32)
        p["rho"][:4] = one  # no decay: eta grows past 2^15 (the 64-bit neuron of the fast loop)
        p["eta_inc"] = rng.integers(min(200, 1 << cfg.adapt_bits), (1 << cfg.adapt_bits) + 1, n).astype(np.int32)
        p["eta_inc"][:4] = 1 << cfg.adapt_bits
        fill("b0", pick(1, smax, [1, smax]))
        fill("beta", pick(0, 0xFFFF, [0, 1, 0xFFFF]))


def _check(q, x, label):
    ref = simulate_fixed(q, x, record_states=True)
    got = run_c(q, x, record_states=True)
    assert_same(ref, got, label, q)
    return ref


@pytest.mark.parametrize("kind", ["IF", "LIF", "LI", "ALIF"])
@pytest.mark.parametrize("state_bits", [8, 9, 12, 15, 16])   # 9..15: the two-SSAT saturation, every shift's ends
@pytest.mark.parametrize("rounding", ["truncate", "nearest", "stochastic"])
def test_fast_paths_match_the_reference_over_random_parameters(kind, state_bits, rounding):
    rng = np.random.default_rng(zlib.crc32(f"{kind} {state_bits} {rounding}".encode()))
    resets = ["zero", "value", "subtract"] if kind in ("IF", "LIF") else ["subtract"]
    spiked = wide = 0
    for trial in range(6):
        reset, rule = resets[trial % len(resets)], [">", ">="][trial // 3 % 2]
        q = _model(kind, QuantConfig(8, state_bits, rounding=rounding, adapt_bits=12), reset, rule, seed=trial)
        _layer_params(q, kind, rng, edges=trial >= 4)
        if kind == "ALIF" and trial == 5:  # no adaptation, the lowest threshold: eta grows past 2^15
            q.layers["nrn"].params["beta"][:] = 0
            q.layers["nrn"].params["b0"][:] = 1
        x = _inputs(rng, steps=24 if kind == "ALIF" else 14, big=trial % 2 == 1)
        ref = _check(q, x, f"{kind} sb{state_bits} {rounding} {reset} {rule} #{trial}")
        if kind != "LI":
            spiked += int(ref.counts["nrn"]["spikes_out"].sum() > 0)
        if kind == "ALIF":
            wide = max(wide, int(ref.states["nrn"]["eta"].max()))
    assert kind == "LI" or spiked >= 3  # the spike paths ran
    # and the fast loop's 64-bit neuron (ALIF's fast path is at 8 and 16 bits; these seeds reach it at 8, 12, 16)
    assert kind != "ALIF" or rounding == "stochastic" or state_bits in (9, 15) or wide >= 1 << 15


@pytest.mark.parametrize("kind", ["IF", "LIF", "LI", "ALIF"])
@pytest.mark.parametrize("decay_bits", [2, 3, 15, 16])
def test_decay_widths_at_the_ends_of_their_range(kind, decay_bits):
    """The bias folded into the rounding term has room 2^(31-db) - 2^15: all of 2^28 at db = 2, only 0 at db = 16
    (LI and ALIF then take the generic loop: alpha = 2^16 does not fit their 16-bit alpha)."""
    rng = np.random.default_rng(decay_bits)
    for trial in range(8):
        config = QuantConfig(8, 16, decay_bits=decay_bits, adapt_bits=[4, 16, 12][trial % 3],
                             rounding=["nearest", "truncate"][trial % 2])
        q = _model(kind, config,
                   ["zero", "value", "subtract"][trial % 3] if kind in ("IF", "LIF") else "subtract", seed=trial)
        _layer_params(q, kind, rng, edges=trial >= 3)
        _check(q, _inputs(rng, big=trial % 2 == 0), f"{kind} db{decay_bits} #{trial}")


@pytest.mark.parametrize("kind", ["IF", "LIF", "LI", "ALIF", "CubaLIF"])
@pytest.mark.parametrize("state_bits", [8, 16])
def test_inputs_beyond_the_clamp_and_two_inputs(kind, state_bits):
    """16-bit weights and input counts up to 255 put |acc| beyond 2^29 (the fast loops clamp it first), and two
    Linear layers into one neuron layer take the summing pre-pass."""
    rng = np.random.default_rng(state_bits)
    fan_in = 72  # 72 * 255 * 32767 > 2^29
    for two in (False, True):
        q = _model(kind, QuantConfig(16, state_bits, adapt_bits=12), two_inputs=two, seed=3, fan_in=fan_in)
        for name in ("fc", "fc2"):
            if name in q.layers:  # rows of one sign, alternating: both ends of the range
                w = q.layers[name].params["weight"]
                sign = np.where(np.arange(w.shape[0]) % 2 == 0, 1, -1)[:, None]
                q.layers[name].params["weight"] = (sign * np.full(w.shape, 32767)).astype(w.dtype)
        _layer_params(q, kind, rng)
        x = np.full((2, 5, fan_in), 255, np.uint8)
        x[1, ::2] = 0
        acc = np.abs(x[0, 0].astype(np.int64) @ q.layers["fc"].params["weight"].T.astype(np.int64)).max()
        assert acc > 1 << 29
        _check(q, x, f"{kind} sb{state_bits} two={two}")


@pytest.mark.parametrize("kind", ["LIF", "ALIF"])
def test_parameters_outside_the_fast_bounds_take_the_generic_loop_bit_exactly(kind):
    """A bias beyond 2^28, an ALIF beta of 2^16, per-neuron thresholds or biases, a late reset and several spikes a
    step: the fast paths decline them (their bounds or shapes do not hold) and the generic loop is exact."""
    rng = np.random.default_rng(7)
    cases = ["bias", "elem", "late", "multi"] if kind == "LIF" else ["bias", "beta", "elem", "alpha8"]
    for case in cases:
        q = _model(kind, QuantConfig(8, 16, adapt_bits=12))
        if case == "late":
            q.graph.nodes["nrn"].reset_late = True
            q = quantize(q.graph, q.config, _inputs(rng))
        _layer_params(q, kind, rng)
        p = q.layers["nrn"].params
        if case == "bias":
            p["bias"][:] = (1 << 28) + 1
        elif case == "beta":
            p["beta"][:] = 1 << 16
        elif case == "elem":
            p["bias"] = rng.integers(-50, 50, p["bias"].shape).astype(np.int32)
        elif case == "alpha8":
            p["alpha"] = rng.integers(0, 100, p["alpha"].shape).astype(np.int32)  # per neuron at 8 bits
        elif case == "multi":
            q.graph.nodes["nrn"].max_spikes = 3
        _check(q, _inputs(rng, big=True), f"{kind} {case}")


def test_channel_parameters_take_the_fast_loop_per_channel():
    """A CNN's LIF layer with its threshold per channel and its bias per layer: constants reloaded per channel."""
    from edgesnn.lower import lower
    from edgesnn.quantize.qgraph import PM_CHANNEL
    from tests.helpers.models import paper_case
    for sb, rounding in ((16, "nearest"), (8, "truncate")):
        q, x = paper_case("cnn_sinabs", QuantConfig(weight_bits=8, state_bits=sb, rounding=rounding), n=2, steps=6)
        name = next(k for k, layer in q.layers.items() if "threshold" in layer.params and layer.params["threshold"].ndim == 3)
        p = q.layers[name].params
        c = p["threshold"].shape[0]
        p["threshold"] = np.clip(p["threshold"] + (np.arange(c) % 3)[:, None, None], 1, (1 << (sb - 1)) - 1).astype(np.int32)
        p["bias"] = np.full_like(p["bias"], 1)
        nd = next(nd for nd in lower(q).nodes if nd.name == name)
        assert nd.modes["threshold"] == PM_CHANNEL
        ref = _check(q, x, f"cnn sb{sb}")
        assert ref.counts[name]["spikes_out"].sum() > 0


def _fast(q) -> bool:
    """The cost model's mirror of esn_neuron_fast's conditions for the neuron node (the QEMU counts of
    tests/firmware/test_neuron_targets.py show the runtime takes the path it names)."""
    return _fast_neuron(q, q.graph.nodes["nrn"], q.layers["nrn"])


def _per_neuron_params(q, kind, rng, alpha_pn=True, thr_pn=True, edges=False):
    """Per-neuron alpha (16-bit storage where db >= 8) and threshold (16-bit where some value is >= 128) over
    their validated ranges; edges: the neurons 0..3 at the ends (alpha 0, 1, 2^db - 1, 2^db; threshold 1, 2,
    2^(sb-1) - 2, 2^(sb-1) - 1). Bias (within esn_bias_max) and v_reset one value for the layer."""
    cfg = q.config
    p = q.layers["nrn"].params
    smax = (1 << (cfg.state_bits - 1)) - 1
    one = 1 << cfg.decay_bits
    _layer_params(q, kind, rng, edges=edges)
    if "bias" in p:  # within esn_bias_max (the bias bounds have their own tests above)
        p["bias"] = np.full(p["bias"].shape, rng.choice([-smax - 1, smax]) if edges else rng.integers(-9, 10), np.int32)
    if "alpha" in p and not alpha_pn:  # not 0: a stateless layer
        p["alpha"] = np.full(p["alpha"].shape, rng.choice([1, one]) if edges else rng.integers(one // 2, one + 1),
                             np.int32)
    if "alpha" in p and alpha_pn:
        p["alpha"] = rng.integers(max(0, one - one // 8), one + 1, N).astype(np.int32)
        if edges:
            p["alpha"][:4] = [0, 1, one - 1, one]
    if "threshold" in p and thr_pn:
        top = min(smax, 3000)
        p["threshold"] = np.exp(rng.uniform(0, np.log(top), N)).astype(np.int32).clip(1, smax)
        p["threshold"][-1] = top if smax >= 128 else p["threshold"][-1]
        if edges:
            p["threshold"][:4] = [1, 2, smax - 1, smax]


@pytest.mark.parametrize("kind", ["IF", "LIF", "LI"])
@pytest.mark.parametrize("state_bits", [8, 12, 16])
@pytest.mark.parametrize("rounding", ["truncate", "nearest"])
@pytest.mark.parametrize("decay_bits", [6, 12])
def test_per_neuron_time_constants_and_thresholds_take_the_fast_loop(kind, state_bits, rounding, decay_bits):
    """Alpha and threshold per neuron (a trained model's multiple timescales; at 6 decay bits alpha is stored at 8
    bits, at 8-bit state the thresholds too, as the planner's packed plans have them): every reset and spike rule,
    values at the ends of their ranges, bit-exact with the reference; the fast path is taken for LIF with both per
    neuron or both once (each at 8 or 16 bits), LI with alpha once or at 16 bits, IF with its threshold once."""
    rng = np.random.default_rng(zlib.crc32(f"pn {kind} {state_bits} {rounding} {decay_bits}".encode()))
    resets = ["zero", "value", "subtract"] if kind != "LI" else ["subtract"]
    spiked = fast = 0
    for trial in range(8):
        reset, rule = resets[trial % len(resets)], [">", ">="][trial // 3 % 2]
        q = _model(kind, QuantConfig(8, state_bits, rounding=rounding, decay_bits=decay_bits), reset, rule, seed=trial)
        alpha_pn, thr_pn = [(True, True), (True, False), (False, True), (True, True)][trial % 4]
        _per_neuron_params(q, kind, rng, alpha_pn, thr_pn, edges=trial >= 5)
        store = {k: lower_storage(q, k) for k in ("alpha", "threshold") if k in q.layers["nrn"].params}
        pn = {k: mode == PM_ELEM for k, (mode, bits) in store.items()}
        want = (all(bits == 16 or mode != PM_ELEM for mode, bits in store.values()) if kind == "LI" else
                pn["alpha"] == pn["threshold"] and all(bits in (8, 16) for _, bits in store.values()) if kind == "LIF"
                else not pn["threshold"])
        assert _fast(q) == want, (store, kind, state_bits)
        fast += want
        x = _inputs(rng, big=trial % 2 == 1)
        ref = _check(q, x, f"pn {kind} sb{state_bits} {rounding} {reset} {rule} {alpha_pn}/{thr_pn} #{trial}")
        if kind != "LI":
            spiked += int(ref.counts["nrn"]["spikes_out"].sum() > 0)
    assert kind == "LI" or spiked >= 4
    # (alpha, threshold) per neuron: (yes, yes) x4, (yes, no) x2, (no, yes) x2; stored at 8 bits where they fit
    assert fast == {"LI": 8 if decay_bits > 7 else 2, "IF": 2, "LIF": 4}[kind], (fast, store)   # LI: alpha at 16


def lower_storage(q, name):
    """(mode, bits) of the neuron node's parameter `name` as the blob stores it."""
    p = q.layers["nrn"].params[name]
    shape = q.graph.nodes["nrn"].neuron_shape
    _, mode, bits = param_storage(np.asarray(p).reshape(shape), len(shape) >= 2)
    return mode, bits


@pytest.mark.parametrize("kind", ["IF", "LIF"])
def test_per_neuron_parameters_outside_the_fast_bounds_fall_back_bit_exactly(kind):
    """An alpha per neuron at 32 bits (2^16 at decay_bits 16), a LIF with one of alpha and threshold once, IF with
    per-neuron thresholds (8 or 16 bits), per-neuron v_reset or bias: the generic loop, exact."""
    rng = np.random.default_rng(11)
    cases = ["vreset", "bias"] + (["alpha32", "alpha_once", "thr_once"] if kind == "LIF" else ["thr8", "thr16"])
    for case in cases:
        db = 16 if case == "alpha32" else 12
        q = _model(kind, QuantConfig(8, 16, decay_bits=db), "value", seed=2)
        _per_neuron_params(q, kind, rng)
        p = q.layers["nrn"].params
        if case == "thr8":
            p["threshold"] = rng.integers(1, 100, N).astype(np.int32)
        elif case == "vreset":
            p["v_reset"] = rng.integers(-50, 50, N).astype(np.int32)
        elif case == "bias":
            p["bias"] = rng.integers(-50, 50, N).astype(np.int32)
        elif case == "alpha32":
            p["alpha"][:2] = 1 << 16
        elif case == "alpha_once":
            p["alpha"][:] = 4000
        elif case == "thr_once":
            p["threshold"][:] = 300
        assert not _fast(q), case
        _check(q, _inputs(rng, big=True), f"{kind} {case}")
