"""The host's batched path (CModel.run over threads, each input by input on its own context and arena)
against the same batch on one thread: identical outputs, counters (all but the wall-clock cycles),
states, including the zero rows after an early exit, and exit steps, for any number of threads; and
the same again on a second run, so that reused contexts carry nothing over."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from edgesnn.emit import to_blob
from edgesnn.errors import QuantizeError
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.quantize.reference import FIXED_COUNTERS
from edgesnn.runtime import CModel, run_c
from edgesnn.runtime.binding import MIN_PER_THREAD, default_threads
from tests.helpers.models import (PAPER_EXIT, assert_same, example_case, example_models, paper_case, quant_config,
                                 random_graph, reference, spikes)

pytestmark = pytest.mark.needs_c_ext


def assert_identical(one, many, label: str) -> None:
    """Every field of two C results, bit for bit: states whole (zeros after an exit), not up to the exit."""
    np.testing.assert_array_equal(many.outputs, one.outputs, err_msg=f"{label}: outputs")
    assert (one.steps is None) == (many.steps is None), label
    if one.steps is not None:
        np.testing.assert_array_equal(many.steps, one.steps, err_msg=f"{label}: steps")
    assert set(many.counts) == set(one.counts), label
    for k, cs in one.counts.items():
        assert set(many.counts[k]) == set(cs) == set(FIXED_COUNTERS) | {"cycles"}, (label, k)
        for c in FIXED_COUNTERS:
            np.testing.assert_array_equal(many.counts[k][c], cs[c], err_msg=f"{label}: {k} {c}")
    assert set(many.states) == set(one.states), label
    for k, vs in one.states.items():
        assert set(many.states[k]) == set(vs), (label, k)
        for var, a in vs.items():
            np.testing.assert_array_equal(many.states[k][var], a, err_msg=f"{label}: state {k}.{var}")


def test_threads_with_early_exit_match_one_thread(nir_paper):
    """Inputs that exit at different steps, stochastic rounding (noise keyed by layer and step), a
    recurrent layer: each thread count gives the one-thread result, and the specification's."""
    q, x = paper_case("braille_subtract", QuantConfig(rounding="stochastic", seed=5), n=13, steps=16)
    q = q.with_exit(*PAPER_EXIT["braille_subtract"])
    one = run_c(q, x, record_states=True, threads=1)
    assert one.steps.min() < 16 and len(set(one.steps.tolist())) > 1  # inputs exit, at different steps
    for i, s in enumerate(one.steps):  # rows after an exit stay zero
        assert not one.outputs[i, s:].any()
        assert all(not a[i, s:].any() for vs in one.states.values() for a in vs.values())
    assert_same(reference(q, x), one, "one thread", q)
    for threads in (2, 3, 4, 13, None):
        assert_identical(one, run_c(q, x, record_states=True, threads=threads), f"{threads} threads")


@pytest.mark.parametrize("path", example_models()[:2], ids=lambda p: p.stem)
def test_example_models_any_thread_count(path):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=40)  # enough for threads to overlap
    q = q.with_exit(300)
    m = CModel(to_blob(q))
    names = list(q.graph.schedule().order)
    one = m.run(x, record_states=True, names=names, exit_on=True, threads=1)
    for threads in (2, 5, 2, 40):  # twice 2: the second run reuses the threads' contexts
        many = m.run(x, record_states=True, names=names, exit_on=True,
                     threads=threads)
        assert_identical(one, many, f"{path.stem}, {threads} threads")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(g=random_graph(), cfg=quant_config(), data=st.data())
def test_random_graphs_any_thread_count(g, cfg, data):
    n, steps = data.draw(st.integers(2, 9), label="inputs"), data.draw(st.integers(1, 8), label="steps")
    x = spikes((n, steps, *g.input.shape), data.draw(st.sampled_from([0.1, 0.4])), data.draw(st.integers(0, 999)),
               data.draw(st.sampled_from([1, 4, 255]), label="max count"))
    try:
        q = quantize(g, cfg, x)
    except QuantizeError:
        reject()
    exit_q8 = data.draw(st.sampled_from([None, 60, 400]), label="exit threshold")
    if exit_q8 is not None:
        q = q.with_exit(exit_q8)
    one = run_c(q, x, record_states=True, threads=1)
    assert_identical(one, run_c(q, x, record_states=True, threads=data.draw(st.integers(2, n))), "random graph")


def test_default_threads():
    assert default_threads(1) == 1
    assert default_threads(MIN_PER_THREAD * 2 - 1) == 1
    assert default_threads(10_000) >= 1


def _run_in_fork(blob: bytes, x: np.ndarray, names: list[str]):
    return CModel(blob).run(x, names=names).outputs  # default threads: more than one for 40 inputs


def test_a_forked_child_gets_its_own_threads():
    """The planner forks worker processes after the parent has run batches over threads: a child inherits the
    thread pool object but none of its threads, so it must start its own instead of waiting forever."""
    import multiprocessing as mp
    path = example_models()[0]
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=40)
    blob, names = to_blob(q), list(q.graph.schedule().order)
    here = CModel(blob).run(x, names=names, threads=2).outputs  # the parent's pool exists from here on
    with mp.get_context("fork").Pool(1) as pool:
        there = pool.apply_async(_run_in_fork, (blob, x, names)).get(timeout=60)
    np.testing.assert_array_equal(there, here)
