"""bench/bench_memory.py's example-model table (#14: memory vs float32 at <= 1 point lost): the selection rule,
and that the model bytes it reports from the release build's ELF (export-c --no-counters, Cortex-M4) are the
lowering's weights + parameters + arena without counters. Checks the rule and the byte accounting on a reduced search, not the figures or the time."""

import sys

import pytest

from edgesnn.quantize import QuantConfig
from tests.helpers.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from bench_memory import EXAMPLE_BOARD, choose, search_example, within  # noqa: E402


def test_within_one_point_is_exact_in_counts():
    # 216 inputs: one point is 2.16 inputs, so 2 fewer right are within and 3 are not
    assert within(211, 209, 216) and not within(211, 208, 216)
    assert within(100, 101, 216)            # a quantized model better than float is within
    assert within(100, 99, 100) and not within(100, 98, 100)


def test_the_rule_takes_the_fewest_bytes_within_then_accuracy_then_fewer_bits():
    c = lambda w, s: QuantConfig(weight_bits=w, state_bits=s)  # noqa: E731
    cands = [(c(2, 8), 150, 1_000),   # cheapest but 50 inputs fewer: out
             (c(4, 16), 199, 3_000),
             (c(3, 8), 198, 3_000),   # same bytes, one fewer right
             (c(8, 16), 200, 9_000)]
    assert choose(200, 216, cands) == 1
    tie = [(c(5, 8), 200, 3_000), (c(4, 12), 200, 3_000), (c(4, 10), 200, 3_000)]
    assert choose(200, 216, tie) == 2      # same bytes and accuracy: fewer weight bits, then state bits
    assert choose(200, 216, [(c(2, 8), 150, 1_000)]) is None


@pytest.mark.needs_arm_gcc
@pytest.mark.needs_c_ext
def test_chosen_setting_is_within_one_point_and_its_elf_bytes_are_the_lowerings(boards, tmp_path):
    # the release library builds in a folder of its own: inside the shared firmware cache it would create that
    # cache with the default mode, which the cache then refuses (it must be private) for every later test
    r = search_example("digits_mlp", boards[EXAMPLE_BOARD], weight_bits=(3, 4, 8), state_bits=(8, 16),
                       cache_dir=tmp_path, test=False)
    assert r.n_val == 216 and len(r.candidates) == 6
    assert r.config is not None and within(r.float_correct, r.quant_correct, r.n_val)
    assert 100 * (r.float_correct - r.quant_correct) <= r.n_val
    ok = [b for _, k, b in r.candidates if within(r.float_correct, k, r.n_val)]
    w, p, a = r.lowered
    assert w + p + a == min(ok)                      # the fewest model bytes of the settings within
    assert r.fw.measured, r.fw.source                # read from the built ELF, not estimated
    assert r.fw.params == w + p                      # the snn_<node>_<slot> tables: weights + parameters
    assert set(r.fw.symbols) and all(n.startswith("snn_") for n in r.fw.symbols)
    assert r.fw.arena == a                           # the context's arena is esn_arena_size() without counters
    assert r.counting_arena - a == 128 * 6           # the counters of its 6 nodes: the runtime firmware keeps them
    assert r.model_bytes == w + p + a
    assert r.float32["total"] > r.model_bytes and r.ratio == r.float32["total"] / r.model_bytes
