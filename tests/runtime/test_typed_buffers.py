"""Every buffer at its element width (issue #14): the Input, spike counts and pool sums <= 255 of uint8 inputs are
stored as uint8 (esn_node.out_bits), the rest as int32. Each path that reads or writes a uint8 buffer (the event
scan of dense, conv, pool and Scale layers, a pool writing uint8 sums, a neuron layer reading uint8 input, the
Output, a recurrent edge, the grouped schedules reading uint8 T-step rows) is bit-exact with the fixed-point
reference in outputs and every counter, and taken (the widths are asserted). The memory plan lets a spiking layer's
uint8 output live at the start of its int32 input's region; the C loader refuses an overlap that is not that
prefix, and an element width the bound analysis does not admit."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edgesnn.emit import BlobError, from_blob, to_blob
from edgesnn.emit.blob import NODE_BYTES, SEC_NODES, blob_from_lowered, read_header
from edgesnn.graph import ir
from edgesnn.lower import lower
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime import CModel
from edgesnn.runtime.binding import _lib, run_c
from tests.helpers.models import assert_same, reference, spikes, threshold_graph

from ..emit.test_blob import load_status, patched

pytestmark = pytest.mark.needs_c_ext


def _cnn(max_spikes: int = 1, seed: int = 0) -> ir.Graph:
    """Input(2, 10, 10) -> conv 4c3 -> lif1 -> SumPool 2x2 -> Flatten -> Affine 6 -> lif2 -> Output, and
    Input -> SumPool 2x2 -> Flatten -> xfc -> lif3 -> Output, lif3 also driven by rec, a Linear that sums lif2's spikes
    and lif3's own of the step before (a recurrent edge from a uint8 buffer)."""
    rng = np.random.default_rng(seed)
    ones = lambda *s: np.ones(s)  # noqa: E731

    def lif(name, shape):
        return ir.LIF(name=name, alpha=0.8 * ones(*shape), gain=ones(*shape), bias=0 * ones(*shape),
                      threshold=ones(*shape), v_reset=0 * ones(*shape), max_spikes=max_spikes,
                      reset="subtract" if max_spikes > 1 else "zero")

    nodes = [ir.Input(name="x", shape=(2, 10, 10)),
             ir.Conv2d(name="conv", weight=rng.normal(0.2, 0.5, (4, 2, 3, 3)), bias=np.zeros(4)),
             lif("lif1", (4, 8, 8)),
             ir.SumPool2d(name="pool", kernel_size=(2, 2), stride=(2, 2)),
             ir.Flatten(name="flat"),
             ir.Affine(name="fc", weight=rng.normal(0.1, 0.4, (6, 64)), bias=np.zeros(6)),
             lif("lif2", (6,)),
             ir.Linear(name="rec", weight=rng.normal(0, 0.3, (6, 6))),
             ir.SumPool2d(name="xpool", kernel_size=(2, 2), stride=(2, 2)),
             ir.Flatten(name="xflat"),
             ir.Linear(name="xfc", weight=rng.normal(0, 0.01, (6, 50))),
             lif("lif3", (6,)),
             ir.Output(name="y", shape=(6,))]
    edges = [("x", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "lif2"),
             ("x", "xpool"), ("xpool", "xflat"), ("xflat", "xfc"), ("lif2", "rec"), ("lif3", "rec"), ("rec", "lif3"),
             ("xfc", "lif3"), ("lif2", "y"), ("lif3", "y")]
    return ir.Graph({nd.name: nd for nd in nodes}, edges, 1e-3)


@pytest.fixture(scope="module", params=[1, 3], ids=["single", "multi-spike"])
def cnn(request):
    g = _cnn(request.param)
    x = spikes((3, 10, 2, 10, 10), 0.3, seed=2, max_count=3)
    return quantize(g, QuantConfig(8, 16), x), x, request.param


def test_widths_follow_the_bounds(cnn):
    q, _, ms = cnn
    bits = {nd.name: nd.out_bits for nd in lower(q).nodes}
    assert bits["x"] == bits["lif1"] == bits["lif2"] == bits["lif3"] == 8   # Input bytes, spike counts
    assert bits["pool"] == bits["flat"] == 8                               # 2x2 sums of <= 3 spikes: <= 12
    assert bits["xpool"] == bits["xflat"] == 32                            # 2x2 sums of bytes reach 1,020
    assert bits["conv"] == bits["fc"] == bits["rec"] == bits["xfc"] == 32  # accumulators


@pytest.mark.parametrize("schedule", ["time", "layer", "fused"])
def test_typed_paths_are_bit_exact_with_the_reference(cnn, schedule):
    """uint8 scans (conv over the Input, the dense layer over pooled spikes, the recurrent Linear over last step's
    spikes), uint8 pool sums, int32 pool sums of bytes, the Output over two uint8 spike buffers, and the grouped
    schedules reading uint8 T-step rows in place: outputs and every counter equal the reference's."""
    q, x, _ = cnn
    low = lower(q)
    back = [e for e in low.edges if e.back]
    assert [(low.nodes[e.src].name, low.nodes[e.dst].name) for e in back] == [("lif3", "rec")]   # uint8, doubled
    if schedule == "layer":   # one group per node, but rec .. lif3 (the recurrent pair) in one
        lo, hi = sorted(k for k, nd in enumerate(low.nodes) if nd.name in ("rec", "lif3"))
        schedule = [nd.name for k, nd in enumerate(low.nodes) if not lo <= k < hi]
    got = run_c(q, x, record_states=schedule == "time", schedule=schedule)
    ref = reference(q, x, record_states=schedule == "time")
    assert_same(ref, got, f"typed buffers, {schedule}", qgraph=q if schedule == "time" else None)


def test_threshold_spikes_read_as_bytes():
    """A Threshold layer's spikes (a spiking kind without state) narrowed to bytes and read by the next layer."""
    g = threshold_graph()
    x = spikes((4, 12, *g.input.shape), 0.4, seed=3)
    q = quantize(g, QuantConfig(8, 16), x)
    low = lower(q)
    assert {nd.out_bits for nd in low.nodes if nd.kind == "Threshold"} == {8}
    assert_same(reference(q, x), run_c(q, x, record_states=True), "threshold", qgraph=q)


def _field(blob: bytes, node: int, at: int) -> int:
    return read_header(blob)["sections"][SEC_NODES][0] + node * NODE_BYTES + at


def _refused(bad: bytes, status: str, match: str) -> None:
    _, lib = _lib()
    assert load_status(bad) == getattr(lib, status)
    with pytest.raises(BlobError, match=match):
        from_blob(bad)


def test_prefix_in_place_plan_is_taken_and_other_overlaps_refused(cnn):
    """lif1 writes its uint8 spikes over the first quarter of conv's int32 sums: the plan may put the next buffer
    (pool's) in the freed tail, which the C loader takes; pool's buffer inside the spikes it reads, or a neuron layer
    in place over a uint8 input, is refused by the C loader and the Python reader alike."""
    q, _, _ = cnn
    low = lower(q)
    plan = low.memory_plan()
    names = [nd.name for nd in low.nodes]
    conv, lif1, pool = names.index("conv"), names.index("lif1"), names.index("pool")
    assert low.in_place_inputs()[lif1] == conv and plan.buf_off[lif1] == plan.buf_off[conv]
    b = to_blob(q)
    assert CModel(b).arena_size == plan.arena_bytes == low.arena_bytes
    at = plan.buf_off[lif1][0]
    tail = at + low.buf_bytes(lif1)   # past the spikes, inside conv's int32 region: free after lif1's step
    assert tail + low.buf_bytes(pool) <= at + low.work_bytes(lif1)
    moved = b
    for i in (0, 1):
        moved = patched(moved, _field(b, pool, 212 + 4 * i), "<I", tail)
    ok = low.plan_problem(type(plan)([list(o) for o in plan.buf_off[:pool]] + [[tail, tail]]
                                     + [list(o) for o in plan.buf_off[pool + 1:]], plan.state_off, plan.arena_bytes))
    assert ok is None and load_status(moved) == 0 and CModel(moved).arena_size == plan.arena_bytes
    inside = b
    for i in (0, 1):
        inside = patched(inside, _field(b, pool, 212 + 4 * i), "<I", at)   # over the spikes it reads
    _refused(inside, "ESN_ERR_PLAN", "memory plan refused|the blob's memory plan is refused")


def test_element_widths_outside_the_bounds_are_refused(cnn):
    """out_bits 8 only where the bound analysis admits it (the int32 pool of bytes, a conv's accumulators refused),
    a Flatten's must be its input's, and nothing but 0, 8 and 32."""
    q, _, _ = cnn
    low = lower(q)
    names = [nd.name for nd in low.nodes]
    b = to_blob(q)
    for name, value in (("xpool", 8), ("conv", 8), ("flat", 32), ("lif1", 16)):
        bad = patched(b, _field(b, names.index(name), 77), "<B", value)
        _refused(bad, "ESN_ERR_ENUM", "output element bits|element")
    # 32 where 8 is admitted: taken (every buffer then int32-sized in the plan's check) when the plan still fits
    wide = lower(q)
    for nd in wide.nodes:
        nd.out_bits = 32
    assert CModel(blob_from_lowered(wide)).arena_size == wide.arena_bytes > low.arena_bytes
    x = spikes((2, 6, 2, 10, 10), 0.3, seed=5, max_count=3)
    assert np.array_equal(CModel(blob_from_lowered(wide)).run(x).outputs, run_c(q, x).outputs)


def test_version_4_blob_is_refused(cnn):
    q, _, _ = cnn
    old = patched(to_blob(q), 4, "<H", 4)
    _, lib = _lib()
    assert load_status(old) == lib.ESN_ERR_VERSION
    with pytest.raises(BlobError, match="version 4 is not supported"):
        from_blob(old)
    assert struct.unpack_from("<H", to_blob(q), 4)[0] == 5
