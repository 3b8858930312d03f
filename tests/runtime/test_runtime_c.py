"""The C runtime (through cffi) against the Python specification, simulate_fixed: identical outputs,
states, counters and early-exit steps on the NIR paper's graphs, the example models and random
graphs over every node kind, shape, bit width and rounding mode; its fixed-point primitives against
edgesnn.quantize.fixedpoint; the arena size and its refusals."""

import re
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from edgesnn.emit import to_blob
from edgesnn.lower import arena_size
from edgesnn.errors import EdgesnnError, QuantizeError, SimulationError
from edgesnn.quantize import QuantConfig, ptq
from edgesnn.quantize.fixedpoint import EXP_LUT, LN_LUT, entropy_q8, hash32, noise, rshift, sat
from edgesnn.runtime import ArenaTooSmall, CModel, run_c
from edgesnn.runtime.binding import _lib
from tests.helpers.models import (PAPER_EXIT, PAPER_GRAPHS, assert_same, example_case, example_models, paper_case,
                                 quant_config, random_graph, reference, spikes)
from tests.helpers.paths import ROOT

CONFIGS = [QuantConfig(rounding="truncate"), QuantConfig(6, 12, rounding="nearest"),
           QuantConfig(12, 24, current_bits=20, decay_bits=14, rounding="stochastic", seed=7)]


# ---------------------------------------------------------------------------------------------
# Real models
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", CONFIGS, ids=["trunc-8-16", "near-6-12", "stoch-12-24"])
@pytest.mark.parametrize("key", list(PAPER_GRAPHS))
def test_nir_paper_graphs_bit_exact(nir_paper, key, cfg):
    q, x = paper_case(key, cfg)
    ref = reference(q, x)
    assert sum(c["spikes_out"].sum() for c in ref.counts.values()) > 0  # the comparison is not vacuous
    assert_same(ref, run_c(q, x, record_states=True), key, q)


@pytest.mark.parametrize("key", list(PAPER_GRAPHS))
def test_nir_paper_graphs_with_early_exit(nir_paper, key):
    q, x = paper_case(key, QuantConfig(rounding="stochastic", seed=3), n=6, steps=16)
    q = q.with_exit(*PAPER_EXIT[key])
    ref = reference(q, x)
    assert ref.steps.min() < 16 and len(set(ref.steps.tolist())) > 1  # inputs exit, at different steps
    assert_same(ref, run_c(q, x, record_states=True), key, q)


EXAMPLES = example_models()


@pytest.mark.skipif(not EXAMPLES, reason="no example models in examples/models/*.json yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@pytest.mark.parametrize("exit_q8", [None, 300])
def test_example_models_bit_exact(path, exit_q8):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"))
    q = q.with_exit(exit_q8)
    assert_same(reference(q, x), run_c(q, x, record_states=True), path.stem, q)


# ---------------------------------------------------------------------------------------------
# Random graphs
# ---------------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(g=random_graph(), cfg=quant_config(), data=st.data())
def test_random_graphs_bit_exact(g, cfg, data):
    n, steps = 2, data.draw(st.integers(1, 10), label="steps")
    seed = data.draw(st.integers(0, 999), label="input seed")
    x = spikes((n, steps, *g.input.shape), data.draw(st.sampled_from([0.1, 0.4, 0.8])), seed,
               data.draw(st.sampled_from([1, 1, 4, 255]), label="max count"))
    # calibrate on these inputs, on none (heuristic ranges), or on quiet ones, so that the loud
    # inputs overrun the state ranges and saturation is exercised
    calib = data.draw(st.sampled_from(["same", "none", "quiet"]), label="calibration")
    quiet = spikes((2, steps, *g.input.shape), 0.05, seed + 1)
    try:
        from edgesnn.quantize import quantize
        q = quantize(g, cfg, {"same": x, "none": None, "quiet": quiet}[calib])
    except QuantizeError:
        reject()
    exit_q8 = data.draw(st.sampled_from([None, 0, 60, 400, 2 ** 31 - 1]), label="exit threshold")
    if exit_q8 is not None:
        q = q.with_exit(exit_q8, data.draw(st.sampled_from([None, 1, 1 << 16, 2 ** 31 - 1]), label="beta"))
    assert_same(reference(q, x), run_c(q, x, record_states=True), "random graph", q)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(g=random_graph(), cfg=quant_config(), data=st.data())
def test_random_graphs_bit_exact_with_binary_weights(g, cfg, data):
    """weight_bits 1 (+-m rows, 1 bit a weight) through every weighted kind: dense, recurrent, conv (runs of whole
    bytes and strided taps), Scale, and graded inputs (counts to 255, pool sums), which add +-x * m."""
    n, steps = 2, data.draw(st.integers(1, 8), label="steps")
    x = spikes((n, steps, *g.input.shape), data.draw(st.sampled_from([0.1, 0.4, 0.8])),
               data.draw(st.integers(0, 999), label="input seed"), data.draw(st.sampled_from([1, 1, 4, 255])))
    try:
        q = ptq.quantize(g, replace(cfg, weight_bits=1), data.draw(st.sampled_from([x, None])))
    except QuantizeError:
        reject()
    assert all(ql.params["weight"].size == 0 or np.all(np.abs(ql.params["weight"]) == np.abs(ql.params["weight"]).max())
               for ql in q.layers.values() if "weight" in ql.params)
    assert_same(reference(q, x), run_c(q, x, record_states=True), "random graph, binary weights", q)


# ---------------------------------------------------------------------------------------------
# The whole-input API, state access, arena
# ---------------------------------------------------------------------------------------------

def test_esn_run_equals_stepping_and_totals_add_up(nir_paper):
    q, x = paper_case("braille_subtract", QuantConfig(rounding="stochastic"), n=4, steps=16)
    q = q.with_exit(*PAPER_EXIT["braille_subtract"])
    ref = reference(q, x, record_states=False)
    m = CModel(to_blob(q))
    ffi, lib = m.ffi, m.lib
    order = list(q.graph.schedule().order)
    for i in range(len(x)):
        xi = np.ascontiguousarray(x[i], np.uint8)
        out = np.zeros((x.shape[1], m.model.output_size), np.int64)
        steps = ffi.new("uint32_t *")
        assert lib.esn_run(m.ctx, ffi.from_buffer("uint8_t[]", xi), x.shape[1],
                           ffi.from_buffer("int64_t[]", out), steps) == lib.ESN_OK
        assert steps[0] == ref.steps[i]
        np.testing.assert_array_equal(out, ref.outputs[i].reshape(x.shape[1], -1))
        for name, cs in ref.counts.items():
            tot = lib.esn_counters_of(m.ctx, order.index(name), 1)
            for c in ("synops", "spikes_in", "spikes_out", "neuron_updates", "arena_bytes_read"):
                assert getattr(tot, c) == cs[c][i].sum(), (name, c)
        if m.ctx.exited:  # stepping after the exit is refused until a reset
            assert lib.esn_step(m.ctx, ffi.from_buffer("uint8_t[]", xi[0])) == lib.ESN_ERR_STATE


def test_arena_size_is_exact_and_a_smaller_arena_is_refused(nir_paper):
    for key in PAPER_GRAPHS:
        q, x = paper_case(key, QuantConfig())
        size = arena_size(q)
        assert CModel(to_blob(q)).arena_size == size  # Python mirror == esn_arena_size
        assert_same(reference(q, x[:1], False), run_c(q, x[:1], arena_bytes=size), key)
        with pytest.raises(ArenaTooSmall, match=rf"arena of {size - 1} bytes is too small: this model needs {size}"):
            run_c(q, x[:1], arena_bytes=size - 1)


def test_misaligned_arena_and_call_order_are_refused(nir_paper):
    q, _ = paper_case("braille_zero", QuantConfig())
    m = CModel(to_blob(q))
    ffi, lib = m.ffi, m.lib
    buf = ffi.new("uint8_t[]", m.arena_size + 16)
    ctx = ffi.new("esn_ctx *")
    base = int(ffi.cast("uintptr_t", buf))
    odd = ffi.cast("uint8_t *", buf) + ((9 - base % 8) % 8 or 1)  # an address that is not 8-aligned
    assert lib.esn_init(ctx, m.model, odd, m.arena_size) == lib.ESN_ERR_ALIGN
    assert lib.esn_step(ctx, ffi.new("uint8_t[]", 12)) == lib.ESN_ERR_STATE  # never initialised
    assert lib.esn_init(ffi.NULL, m.model, buf, m.arena_size) == lib.ESN_ERR_NULL
    assert lib.esn_run(m.ctx, ffi.new("uint8_t[]", 12), 0, ffi.NULL, ffi.NULL) == lib.ESN_ERR_ARG
    assert lib.esn_counters_of(m.ctx, 10 ** 6, 0) == ffi.NULL
    assert lib.esn_state_read(m.ctx, 0, lib.ESN_VAR_V, ffi.new("int32_t[]", 16)) == lib.ESN_ERR_ARG  # no state


def test_non_spike_inputs_are_refused_before_the_runtime(nir_paper):
    q, x = paper_case("braille_zero", QuantConfig())
    with pytest.raises(SimulationError, match=r"spike counts \(integers 0..255\)"):
        run_c(q, x.astype(np.float32) * 0.5)
    with pytest.raises(SimulationError, match="found 300"):
        run_c(q, np.where(x > 0, 300, 0))
    with pytest.raises(EdgesnnError, match="needs"):
        run_c(q, x[:, :, :5])


# ---------------------------------------------------------------------------------------------
# Fixed-point primitives: the C helpers against edgesnn.quantize.fixedpoint
# ---------------------------------------------------------------------------------------------

def test_shifts_saturation_and_noise_match_the_spec():
    ffi, lib = _lib()
    rng = np.random.default_rng(0)
    ps = np.concatenate([rng.integers(-2 ** 62, 2 ** 62, 400), [0, 1, -1, -2 ** 62, 2 ** 62 - 1, -7, 7]])
    for mode, code in (("truncate", 0), ("nearest", 1), ("stochastic", 2)):
        for s in (0, 1, 2, 12, 16, 31):
            rand = rng.integers(0, 2 ** 32, ps.size)
            want = rshift(ps.copy(), s, mode, rand)
            got = [lib.esn_rshift(int(p), s, code, int(r)) for p, r in zip(ps, rand)]
            np.testing.assert_array_equal(got, want, err_msg=f"{mode} s={s}")
    for p in ps[:50]:
        for s in (0, 5, 62):
            assert lib.esn_asr64(int(p), s) == int(p) >> s
    for bits in (2, 8, 16, 31, 32, 63):
        for v in (0, 2 ** 40, -2 ** 40, 2 ** (bits - 1), -2 ** (bits - 1) - 1, 5, -5):
            assert lib.esn_sat64(v, bits) == int(sat(np.int64(v), bits))
    xs = rng.integers(0, 2 ** 32, 200, dtype=np.uint64)
    assert [lib.esn_hash32(int(v)) for v in xs] == hash32(xs).tolist()
    for seed, layer, step, stream in ((0, 0, 0, 0), (2 ** 32 - 1, 3, 10 ** 6, 4), (12345, 7, 99, 2)):
        key = lib.esn_noise_key(seed, layer, step, stream)
        want = noise(seed, layer, step, 300, stream)
        assert [lib.esn_noise(key, i) for i in range(300)] == want.tolist()


def test_integer_entropy_and_its_tables_match_the_spec():
    ffi, lib = _lib()
    rng = np.random.default_rng(1)
    src = (ROOT / "runtime_c" / "src" / "esn_fixedpoint.c").read_text()
    tables = re.findall(r"\{([^}]*)\};", src)
    assert [int(v) for v in re.findall(r"\d+", tables[0])] == EXP_LUT.tolist()
    assert [int(v) for v in re.findall(r"\d+", tables[1])] == LN_LUT.tolist()
    for _ in range(300):
        k = int(rng.integers(1, 12))
        t = int(rng.integers(1, 300))
        beta = int(rng.choice([1, 1 << 16, 7 << 12, 2 ** 31 - 1]))
        scale = int(rng.choice([1, 100, 2 ** 20, 2 ** 40]))
        acc = rng.integers(-scale, scale + 1, (1, k)).astype(np.int64)
        want = int(entropy_q8(acc, t, beta)[0])
        got = lib.esn_entropy_q8(ffi.from_buffer("int64_t[]", np.ascontiguousarray(acc[0])), k, t, beta)
        assert got == want, (acc, t, beta)
