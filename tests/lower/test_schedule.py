"""Grouped schedules (runtime_c/src/esn_schedule.c) and state storage: equal to time-step-major, exact
arenas in C and Python, refusals; int16 and stateless neuron state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from edgesnn.emit import to_blob
from edgesnn.lower import (SCHEDULE_LABELS, SCHEDULES, arena_size, arena_size_layer_major, arena_size_schedule, lower,
                           schedule_spec)
from edgesnn.emit.blob import blob_from_lowered
from edgesnn.lower import align8
from edgesnn.errors import EmitError, QuantizeError, SimulationError
from edgesnn.quantize import QuantConfig, make_stateless, stateless_candidates
from edgesnn.runtime import ArenaTooSmall, CModel, ScheduleRefused, run_c
from edgesnn.quantize.reference import simulate_fixed
from edgesnn.board import STACK_MIN_SMALL_BYTES
from tests.helpers.boards import board_variant
from tests.helpers.models import (assert_same, example_case, example_models, paper_case, quant_config, random_graph,
                                 spikes)
from tests.helpers.paths import DATA, MODELS

EXAMPLES = [p for p in example_models() if p.stem in ("digits_mlp", "digits_cnn")]
RECURRENT = [p for p in example_models() if p.stem in ("psdigits_lif", "psdigits_alif")]


def _same_counters(a, b, label):
    """Outputs and every counter but cycles (a clock) equal, per input, step and node."""
    np.testing.assert_array_equal(a.outputs, b.outputs, err_msg=label)
    assert a.counts.keys() == b.counts.keys()
    for node, cs in a.counts.items():
        for c, v in cs.items():
            if c != "cycles":
                np.testing.assert_array_equal(v, b.counts[node][c], err_msg=f"{label}: {node}.{c}")


def _c_arena(q, schedule, steps) -> int:
    return CModel(blob_from_lowered(lower(q, schedule, steps))).arena_size


def _schedules(q):
    names = [nd.name for nd in lower(q).nodes]
    return ["layer", "fused", [1, len(names) - 1], names[1::2]]


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_every_schedule_equals_time_major(path):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"))
    time_major = run_c(q, x)
    assert sum(int(c["spikes_out"].sum()) for c in time_major.counts.values()) > 0
    assert_same(simulate_fixed(q, x), time_major, path.stem)
    for sch in _schedules(q):
        _same_counters(time_major, run_c(q, x, schedule=sch), f"{path.stem} {sch}")


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_schedule_arena_is_exact(path):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=2)
    steps = x.shape[1]
    assert arena_size(q) == CModel(to_blob(q)).arena_size
    for sch in _schedules(q):
        need = arena_size_schedule(q, sch, steps)
        assert _c_arena(q, sch, steps) == need and need % 8 == 0, sch
        run_c(q, x, schedule=sch, arena_bytes=need)
        with pytest.raises(ArenaTooSmall, match=str(need)):
            run_c(q, x, schedule=sch, arena_bytes=need - 1)
    assert arena_size_layer_major(q, steps) == arena_size_schedule(q, "layer", steps)
    for t in (1, 2, 7, 100):
        for sch in ("layer", "fused"):
            assert _c_arena(q, sch, t) == arena_size_schedule(q, sch, t)
    assert arena_size_schedule(q, "time", steps) == arena_size(q)
    assert arena_size_schedule(q, [len(lower(q).nodes)], steps) == arena_size(q)  # one group: esn_step


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
def test_spike_buffers_are_uint8():
    """Layer-major keeps every tensor that crosses a group for T steps: a spiking layer's as uint8 (one byte
    a neuron and step), a synaptic layer's as int32; fusing each weighted layer with its neuron layer leaves
    only spike counts crossing, so it needs less than layer-major."""
    q, _ = example_case(EXAMPLES[0] if EXAMPLES[0].stem == "digits_mlp" else EXAMPLES[-1],
                        QuantConfig(8, 16, rounding="nearest"), n=1)
    low = lower(q)
    by = {nd.name: nd for nd in low.nodes}
    if "lif1" not in by or by["lif1"].kind != "LIF":
        pytest.skip("not the MLP")
    a16, a32 = arena_size_schedule(q, "fused", 16), arena_size_schedule(q, "fused", 32)
    # one more step costs the input's bytes, one int32 output row (the Output copies one edge) and one byte per
    # spiking neuron that crosses
    n_spk = sum(nd.out_size for nd in low.nodes if nd.name == "lif1")
    assert a32 - a16 == 16 * (low.input_size + 4 * low.output_size + n_spk)
    assert arena_size_schedule(q, "fused", 16) < arena_size_schedule(q, "layer", 16)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(g=random_graph(), cfg=quant_config(), data=st.data())
def test_random_graphs_random_groups(g, cfg, data):
    from edgesnn.quantize import quantize
    n, steps = 2, data.draw(st.integers(1, 8), label="steps")
    x = spikes((n, steps, *g.input.shape), data.draw(st.sampled_from([0.1, 0.5])), data.draw(st.integers(0, 99)),
               data.draw(st.sampled_from([1, 4])))
    try:
        q = quantize(g, cfg, x)
    except QuantizeError:
        reject()
    low = lower(q)
    k = len(low.nodes)
    flags = [0] + data.draw(st.lists(st.integers(0, 1), min_size=k - 1, max_size=k - 1), label="group starts")
    ends = [low.nodes[i - 1].name for i in range(1, k) if flags[i]]
    if g.schedule().back_edges:
        sch = data.draw(st.sampled_from(["fused", ends]), label="schedule")
    else:
        sch = data.draw(st.sampled_from(["layer", "fused", ends]), label="schedule")
    try:
        need = arena_size_schedule(q, sch, steps)
    except EmitError as e:
        assert "recurrent edge" in str(e)
        with pytest.raises(ScheduleRefused, match="recurrent edge"):
            run_c(q, x, schedule=sch)
        return
    _same_counters(run_c(q, x), run_c(q, x, schedule=sch), f"random graph {sch}")
    assert _c_arena(q, sch, steps) == need


def test_recurrent_edge_across_groups_refused(nir_paper):
    q, x = paper_case("braille_subtract", QuantConfig(), n=2, steps=4)
    q = q.with_exit(None)
    assert q.graph.schedule().back_edges
    with pytest.raises(ScheduleRefused, match="recurrent edge '.*' -> '.*' crosses a group boundary"):
        run_c(q, x, schedule="layer")
    with pytest.raises(EmitError, match="recurrent edge"):
        arena_size_layer_major(q, 4)
    assert "recurrent edge" in lower(q).layer_major_refusal()
    _same_counters(run_c(q, x), run_c(q, x, schedule="fused"), "fused keeps the recurrent edge in one group")


@pytest.mark.skipif(not RECURRENT, reason="no recurrent example models")
@pytest.mark.parametrize("path", RECURRENT, ids=[p.stem for p in RECURRENT])
def test_recurrent_examples_fused(path):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=3)
    sch = ["input", "output"] if "output" in [nd.name for nd in lower(q).nodes] else "fused"
    for s in ("fused", sch):
        try:
            lower(q, s, x.shape[1])
        except EmitError:
            continue
        _same_counters(run_c(q, x), run_c(q, x, schedule=s), f"{path.stem} {s}")
        assert _c_arena(q, s, x.shape[1]) == arena_size_schedule(q, s, x.shape[1])


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
def test_the_c_loader_refuses_what_python_refuses():
    """A blob whose schedule cannot run is refused by the C loader on its own (ESN_ERR_SCHEDULE)."""
    import struct
    import zlib
    from edgesnn.runtime.binding import _lib
    q, x = example_case(EXAMPLES[0], QuantConfig(8, 16, rounding="nearest"), n=1)
    b = bytearray(to_blob(q.with_exit(300)))
    model_off = struct.unpack_from("<I", b, 48 + 4)[0]
    struct.pack_into("<I", b, model_off + 36, 16)  # a schedule of one group, with early exit on
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[16:])))
    ffi, lib = _lib()
    bm = ffi.new("esn_blob_model *")
    buf = ffi.new("uint64_t[]", len(b) // 8 + 1)
    ffi.memmove(buf, bytes(b), len(b))
    assert lib.esn_blob_load(bm, buf, len(b)) == lib.ESN_ERR_SCHEDULE


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
def test_early_exit_and_bad_schedules_refused():
    q, x = example_case(EXAMPLES[0], QuantConfig(8, 16, rounding="nearest"), n=1)
    with pytest.raises(ScheduleRefused, match="early exit"):
        run_c(q.with_exit(300), x, schedule="layer")
    assert "early exit" in lower(q.with_exit(300)).layer_major_refusal()
    run_c(q.with_exit(300), x, schedule=[len(lower(q).nodes)])  # one group is esn_step's schedule
    with pytest.raises(SimulationError, match="schedule 'diagonal'"):
        run_c(q, x, schedule="diagonal")
    with pytest.raises(SimulationError, match="sum to the"):
        run_c(q, x, schedule=[1, 1])
    with pytest.raises(SimulationError, match="not nodes of this model"):
        run_c(q, x, schedule=["nowhere"])
    with pytest.raises(SimulationError, match="record_states"):
        run_c(q, x, schedule="layer", record_states=True)


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_weight_staging(path):
    """Staged weights are copied into the arena once per input, when their group starts; the results do not
    change, and the arena grows by the largest group's copy (layer-major: the largest weight array)."""
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=2)
    steps = x.shape[1]
    low = lower(q, "layer", steps, stage="all")
    weights = [align8(nd.params["weight"].nbytes) for nd in low.nodes if nd.kind in ("Linear", "Affine", "Conv2d")]
    assert low.arena_size_sched() == arena_size_schedule(q, "layer", steps) + max(weights)
    m = CModel(blob_from_lowered(low))
    assert m.arena_size == low.arena_size_sched()
    got = m.run(x, names=[nd.name for nd in low.nodes])
    assert m.staged_bytes == low.staged_weight_bytes() == sum(nd.params["weight"].nbytes for nd in low.nodes
                                                              if nd.flags & 2)
    _same_counters(run_c(q, x), run_c(q, x, schedule="fused", stage="all"), "staged fused")
    np.testing.assert_array_equal(got.outputs.reshape(run_c(q, x).outputs.shape), run_c(q, x).outputs)
    first = next(nd.name for nd in low.nodes if nd.kind in ("Linear", "Affine", "Conv2d"))
    assert arena_size_schedule(q, "fused", steps, stage=[first]) > arena_size_schedule(q, "fused", steps)
    with pytest.raises(EmitError, match="weighted nodes only"):
        lower(q, "layer", steps, stage=["input"])
    with pytest.raises(EmitError, match="needs a grouped schedule"):
        lower(q, "time", steps, stage="all")


# ---------------------------------------------------------------------------------------------
# State storage: int16 and stateless layers
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not EXAMPLES, reason="no example models")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_state_is_int16_up_to_16_bits(path):
    q16, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=3)
    q24, _ = example_case(path, QuantConfig(8, 24, rounding="nearest"), n=3)
    low = lower(q16)
    v_bytes = sum(nd.out_size for nd in low.nodes if nd.n_state)  # one v per neuron: 2 bytes less at <= 16 bits
    assert arena_size(q24) - arena_size(q16) >= 2 * v_bytes - 8 * len(low.nodes)
    for q in (q16, q24):
        assert arena_size(q) == CModel(to_blob(q)).arena_size
        assert_same(simulate_fixed(q, x, record_states=True), run_c(q, x, record_states=True), path.stem, q)


@pytest.mark.skipif(not EXAMPLES, reason="no example models")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_stateless_readout(path):
    q, x = example_case(path, QuantConfig(8, 16, rounding="nearest"), n=3)
    last = stateless_candidates(q)[-1]
    s = make_stateless(q, [last])
    low = lower(s)
    k = [nd.name for nd in low.nodes].index(last)
    assert low.stateless(k) and not lower(q).stateless(k)
    assert arena_size(s) == arena_size(q) - lower(q).state_bytes(k) and low.state_bytes(k) == 0
    assert arena_size(s) == CModel(to_blob(s)).arena_size
    ref = simulate_fixed(s, x, record_states=True)
    got = run_c(s, x, record_states=True)
    assert last in ref.states and last not in got.states
    assert_same(ref, got, path.stem, s)
    for sch in ("layer", "fused"):
        assert _c_arena(s, sch, x.shape[1]) == arena_size_schedule(s, sch, x.shape[1])
        _same_counters(got, run_c(s, x, schedule=sch), f"stateless {sch}")
    assert arena_size_schedule(s, "layer", 16) <= arena_size_schedule(q, "layer", 16)


def test_make_stateless_refuses_what_carries_state(nir_paper):
    q, _ = paper_case("braille_subtract", QuantConfig(), n=1, steps=2)
    g = q.graph
    for name, node in g.nodes.items():
        if node.kind in ("IF", "ALIF"):
            with pytest.raises(QuantizeError, match=f"layer '{name}' cannot be made stateless"):
                make_stateless(q, [name])
    with pytest.raises(QuantizeError, match="not a node"):
        make_stateless(q, ["nowhere"])
    for name in stateless_candidates(q):
        s = make_stateless(q, name)
        assert not np.any(s.layers[name].params["alpha"]) and np.any(q.layers[name].params["alpha"])
        assert not np.any(s.graph.nodes[name].alpha)


# ---------------------------------------------------------------------------------------------
# Cost model and planner
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not EXAMPLES, reason="no example models")
def test_cost_model_knows_each_schedules_arena():
    from edgesnn.board import get_board
    from edgesnn.cost import memory, schedule_arenas
    q, x = example_case(EXAMPLES[0], QuantConfig(8, 16, rounding="nearest"), n=1)
    a = schedule_arenas(q, 16)
    assert a == {"time-step-major": arena_size(q), "fused": arena_size_schedule(q, "fused", 16),
                 "layer-major": arena_size_layer_major(q, 16)}
    board = get_board("qemu-mps2-an386")
    assert memory(q, board, schedule="layer-major", steps=16)[1]["arena"] == a["layer-major"]
    assert memory(q, board, schedule="fused", steps=16)[1]["arena"] == a["fused"]
    assert memory(q, board)[1]["arena"] == a["time-step-major"]
    assert "early exit" in schedule_arenas(q.with_exit(300), 16)["layer-major"]["refused"]


def _tiny_board(tmp_path, sram: int):
    # the board of the planner's too-small case, with `sram` bytes
    return board_variant(tmp_path, "tiny-test", sram_bytes=sram, stack_bytes=STACK_MIN_SMALL_BYTES, arena_bytes=512)


def test_infeasible_lever_states_the_layer_major_arena(tmp_path):
    from edgesnn.data import load_dataset
    from edgesnn.graph import Graph
    from edgesnn.plan import Infeasible, plan
    from edgesnn.quantize import quantize
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    x, y = x[:40], y[:40]
    cfg = [QuantConfig(8, 16, rounding="nearest")]
    # layer-major needs more than time-major at T = 16 and, since every buffer is stored at its width (uint8 input and
    # spikes: 1,880 B time-step-major against 2,032 B layer-major), at T = 1 too (it was less with int32 buffers)
    for steps in (16, 1):
        (tmp_path / str(steps)).mkdir()
        xs = x[:, :steps]
        q = quantize(g, cfg[0], xs)
        lm, tm = arena_size_layer_major(q, steps), arena_size(q)
        first = plan(g, _tiny_board(tmp_path / str(steps), 2048), xs, y, configs=cfg, workers=1, sensitivity=False)
        assert isinstance(first, Infeasible)
        assert lm > tm
        lever = next(lv for lv in first.levers if "layer-major" in lv)
        assert f"layer-major: arena {lm:,} B" in lever and f"time-step-major arena of {tm:,} B" in lever
        assert "which does not fit" in lever


def test_schedule_labels_and_runtime_names_are_one_schedule():
    """Plans say "time-step-major" and "layer-major", the runtime "time" and "layer": lower takes either."""
    q, _ = example_case(example_models()[0], QuantConfig(8, 16, rounding="nearest"), n=1)
    for label, spec in SCHEDULES.items():
        assert schedule_spec(label) == spec and SCHEDULE_LABELS[spec] == label
        assert blob_from_lowered(lower(q, label, 4)) == blob_from_lowered(lower(q, spec, 4))
    with pytest.raises(EmitError, match="expected 'time', 'layer', 'fused'"):
        lower(q, "timestep", 4)
