"""The layer-major schedule (runtime_c/src/esn_schedule.c): equal to time-step-major, exact arena, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from c.esn_models import assert_same, example_case, example_models, paper_case, quant_config, random_graph, spikes
from edgesnn.emit import arena_size, arena_size_layer_major, to_blob
from edgesnn.errors import EmitError, QuantizeError
from edgesnn.quantize import QuantConfig
from edgesnn.runtime import ArenaTooSmall, CModel, ScheduleRefused, run_c

EXAMPLES = [p for p in example_models() if p.stem in ("digits_mlp", "digits_cnn")]


def _same_counters(a, b, label):
    """Outputs and every counter but cycles (a clock) equal, per input, step and node."""
    np.testing.assert_array_equal(a.outputs, b.outputs, err_msg=label)
    assert a.counts.keys() == b.counts.keys()
    for node, cs in a.counts.items():
        for c, v in cs.items():
            if c != "cycles":
                np.testing.assert_array_equal(v, b.counts[node][c], err_msg=f"{label}: {node}.{c}")


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_layer_major_equals_time_major(path):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"))
    time_major = run_c(q, x)
    layer_major = run_c(q, x, schedule="layer")
    assert sum(int(c["spikes_out"].sum()) for c in time_major.counts.values()) > 0
    _same_counters(time_major, layer_major, path.stem)


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_layer_major_arena_is_exact(path):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=2)
    steps = x.shape[1]
    m = CModel(to_blob(q))
    need = arena_size_layer_major(q, steps)
    assert m.arena_size_layer_major(steps) == need and need % 8 == 0
    assert arena_size(q) == m.arena_size
    run_c(q, x, schedule="layer", arena_bytes=need)
    with pytest.raises(ArenaTooSmall, match=str(need)):
        run_c(q, x, schedule="layer", arena_bytes=need - 1)
    for t in (1, 2, 7, 100):
        assert m.arena_size_layer_major(t) == arena_size_layer_major(q, t)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(g=random_graph(), cfg=quant_config(), data=st.data())
def test_random_feed_forward_graphs(g, cfg, data):
    from edgesnn.quantize import quantize
    if g.schedule().back_edges:
        reject()
    n, steps = 2, data.draw(st.integers(1, 8), label="steps")
    x = spikes((n, steps, *g.input.shape), data.draw(st.sampled_from([0.1, 0.5])), data.draw(st.integers(0, 99)),
               data.draw(st.sampled_from([1, 4])))
    try:
        q = quantize(g, cfg, x)
    except QuantizeError:
        reject()
    _same_counters(run_c(q, x), run_c(q, x, schedule="layer"), "random graph")
    m = CModel(to_blob(q))
    assert m.arena_size_layer_major(steps) == arena_size_layer_major(q, steps)


def test_recurrent_graph_refused(nir_paper):
    q, x = paper_case("braille_subtract", QuantConfig(), n=2, steps=4)
    assert q.graph.schedule().back_edges
    with pytest.raises(ScheduleRefused, match="recurrent edge"):
        run_c(q, x, schedule="layer")
    with pytest.raises(EmitError, match="recurrent edge"):
        arena_size_layer_major(q, 4)
    m = CModel(to_blob(q))  # the C side refuses on its own too
    with pytest.raises(ScheduleRefused, match="recurrent edge or early exit"):
        m.arena_size_layer_major(4)
    assert m.lib.esn_run_layer_major(m.model, m._arena, 1 << 20, m.ffi.new("uint8_t[]", 4 * 1024), 4, m.ffi.NULL,
                                     m.ffi.NULL, m.ffi.NULL) == m.lib.ESN_ERR_SCHEDULE


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
def test_early_exit_refused():
    q, x = example_case(EXAMPLES[0], QuantConfig(8, 16, rounding="nearest"), n=2)
    q = q.with_exit(300)
    with pytest.raises(ScheduleRefused, match="early exit"):
        run_c(q, x, schedule="layer")
    with pytest.raises(ScheduleRefused):
        CModel(to_blob(q)).arena_size_layer_major(4)


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
def test_bad_schedule_and_states_refused():
    q, x = example_case(EXAMPLES[0], QuantConfig(8, 16, rounding="nearest"), n=1)
    with pytest.raises(Exception, match="schedule"):
        run_c(q, x, schedule="fused")
    with pytest.raises(Exception, match="record_states"):
        run_c(q, x, schedule="layer", record_states=True)


# ---------------------------------------------------------------------------------------------
# Cost model and planner
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not EXAMPLES, reason="no example models")
def test_cost_model_knows_each_schedules_arena():
    from edgesnn.board import get_board
    from edgesnn.cost import memory, schedule_arenas
    q, x = example_case(EXAMPLES[0], QuantConfig(8, 16, rounding="nearest"), n=1)
    a = schedule_arenas(q, 16)
    assert a == {"time-step-major": arena_size(q), "layer-major": arena_size_layer_major(q, 16)}
    board = get_board("qemu-mps2-an386")
    assert memory(q, board, schedule="layer-major", steps=16)[1]["arena"] == a["layer-major"]
    assert memory(q, board)[1]["arena"] == a["time-step-major"]
    assert "early exit" in schedule_arenas(q.with_exit(300), 16)["layer-major"]["refused"]


def _tiny_board(tmp_path, sram: int):
    from pathlib import Path
    from edgesnn.board import load_board_file
    root = Path(__file__).resolve().parents[1]  # the board of test_plan's too-small case, with `sram` bytes
    text = (root / "boards" / "qemu-mps2-an386.toml").read_text()
    text = text.replace('id = "qemu-mps2-an386"', 'id = "tiny-test"').replace("131_072", str(sram))
    text = text.replace("stack_bytes = 4_096", "stack_bytes = 1_024")
    text = text.replace("arena_bytes = 65_536", "arena_bytes = 512")
    (tmp_path / str(sram)).mkdir()
    path = tmp_path / str(sram) / "tiny-test.toml"
    path.write_text(text)
    return load_board_file(path)


def test_infeasible_lever_states_the_layer_major_arena(tmp_path):
    from pathlib import Path
    from edgesnn.data import load_dataset
    from edgesnn.graph import Graph
    from edgesnn.plan import Infeasible, plan
    from edgesnn.quantize import quantize
    root = Path(__file__).resolve().parents[1]
    g = Graph.load(root / "examples" / "models" / "digits_mlp.json")
    x, y = load_dataset(root / "examples" / "data" / "digits_val.npz")
    x, y = x[:40], y[:40]
    cfg = [QuantConfig(8, 16, rounding="nearest")]
    for steps in (16, 1):  # at T = 16 layer-major needs more than time-major; at T = 1 less
        (tmp_path / str(steps)).mkdir()
        xs = x[:, :steps]
        q = quantize(g, cfg[0], xs)
        lm, tm = arena_size_layer_major(q, steps), arena_size(q)
        first = plan(g, _tiny_board(tmp_path / str(steps), 2048), xs, y, configs=cfg, workers=1, sensitivity=False)
        assert isinstance(first, Infeasible)
        other = sum(first.demand["sram_terms"].values()) - first.demand["sram_terms"]["arena"]
        if steps == 1:  # a board between the two: only layer-major would fit
            assert lm < tm
            r = plan(g, _tiny_board(tmp_path / str(steps), other + lm), xs, y, configs=cfg, workers=1,
                     sensitivity=False)
            assert isinstance(r, Infeasible)
        else:
            assert lm > tm
            r = first
        lever = next(lv for lv in r.levers if "layer-major" in lv)
        assert f"arena {lm} B at T = {steps} instead of {tm} B" in lever
        assert ("which fits" in lever) == (steps == 1)
        assert "host C runtime only" in lever and "not in the emitted firmware" in lever
