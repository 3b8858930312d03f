"""The offline memory plan: lowering places every buffer and state block of esn_init's arena (dead buffers'
bytes given to later ones), the blob carries the offsets, and the runtime checks them instead of placing
anything; a plan that puts a region outside the arena, misaligned, or over a live region is refused by the
C loader and by the Python reader alike."""

import struct
import sys

import pytest

from edgesnn.emit import BlobError, from_blob, to_blob
from edgesnn.emit.blob import NODE_BYTES, SEC_MODEL, SEC_NODES, read_header
from edgesnn.lower import lower
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime import CModel
from edgesnn.runtime.binding import _lib
from tests.helpers.models import paper_case
from tests.helpers.paths import ROOT

from ..emit.test_blob import load_status, patched

sys.path.insert(0, str(ROOT / "bench"))
from real_models import MODELS, spike_inputs  # noqa: E402


def _regions_alive_together_never_share_bytes(low, plan):
    """Checked here independently of plan_problem: the only live regions that share bytes are a neuron layer's
    buffer and its input's, at the same offset, where it may write in place (the layer's int32 working bytes at its
    own step, its uint8 spikes from the region's start after it), and a narrowing layer's output and its own
    working bytes. Returns the in-place layers."""
    spans = []
    for (what, k, parity), size, first, last in low._regions():
        at = plan.state_off[k] if what == "state" else plan.buf_off[k][parity]
        spans.append((at, at + size, first, last, what, k))
    in_place = set()
    for i, (o, e, f, l, what, k) in enumerate(spans):
        assert o >= low.arena_base() and e <= plan.arena_bytes and o % 8 == 0
        for o2, e2, f2, l2, what2, k2 in spans[i + 1:]:
            if o < e2 and o2 < e and f <= l2 and f2 <= l:
                assert what == "buf" and what2 in ("buf", "work") and o == o2
                if k == k2:   # a spiking layer's uint8 output inside the int32 bytes it computed in
                    assert what2 == "work" and low.nodes[k].out_bits == 8 and e - o == low.buf_bytes(k) < e2 - o2
                    continue
                nd = low.nodes[k2]
                assert nd.n_edges == 1 and l == k2 == f2 and low.nodes[k].out_bits == 32
                assert low.owner(low.edges[nd.first_edge].src) == k and low.nodes[k].out_size == nd.out_size
                in_place.add(k2)
    return len(in_place)


@pytest.mark.parametrize("case", ["braille_subtract", "cnn_sinabs"])
def test_the_plan_reuses_dead_buffers_and_the_runtime_takes_it(case):
    q, _ = paper_case(case, QuantConfig())
    low = lower(q)
    plan = low.memory_plan()
    in_place = _regions_alive_together_never_share_bytes(low, plan)
    assert in_place >= 1   # a neuron layer writes its spikes over the synaptic sums it reads
    assert low.plan_problem(plan) is None
    every_region_alone = low.arena_base() + sum(size for _, size, _, _ in low._regions())
    assert plan.arena_bytes <= every_region_alone
    if case == "cnn_sinabs":  # a feed-forward stack: most buffers are dead by the time later ones are written
        assert plan.arena_bytes < every_region_alone * 0.8
    assert CModel(to_blob(q)).arena_size == plan.arena_bytes == low.arena_bytes


def test_real_sized_cnn_arena_shrinks_with_the_plan():
    g = MODELS["nmnist_cnn"]()
    q = quantize(g, QuantConfig(weight_bits=4, state_bits=8), spike_inputs(g.input.shape, n=4, seed=1))
    low = lower(q)
    every_region_alone = low.arena_base() + sum(size for _, size, _, _ in low._regions())
    # every buffer at its width (uint8 Input, spikes and pool sums), int8 state, each in its own bytes (157,136 B
    # with int32 buffers)
    assert every_region_alone == 154_392
    # dead buffers reused and the LIF layers writing in place, their uint8 spikes over the first quarter of the int32
    # sums they read: 70,432 B when every buffer was int32 (issue #14's target: 64 KiB)
    assert low.arena_bytes == low.memory_plan().arena_bytes == 61_944 <= 65_536
    assert _regions_alive_together_never_share_bytes(low, low.memory_plan()) == 3   # lif1, lif2, the readout


def _plan_field(blob: bytes, node: int, index: int) -> int:
    return read_header(blob)["sections"][SEC_NODES][0] + node * NODE_BYTES + 212 + 4 * index


@pytest.fixture(scope="module")
def braille():
    q, _ = paper_case("braille_subtract", QuantConfig())
    return q, to_blob(q), lower(q)


def _refused(bad: bytes, status: str = "ESN_ERR_PLAN") -> None:
    _, lib = _lib()
    assert load_status(bad) == getattr(lib, status)
    with pytest.raises(BlobError, match="memory plan refused: a region outside the arena, misaligned, or over a live"):
        CModel(bad)
    with pytest.raises(BlobError, match="the blob's memory plan is refused: (node|nodes)|the blob carries no memory plan"):
        from_blob(bad)


def test_a_buffer_over_a_live_one_is_refused(braille):
    q, b, low = braille
    plan = low.memory_plan()
    k = next(i for i, nd in enumerate(low.nodes) if nd.kind == "Linear" and plan.buf_off[i][0] == plan.buf_off[i][1])
    src = low.edges[low.nodes[k].first_edge].src  # its input is alive while k is written
    _refused(patched(patched(b, _plan_field(b, k, 0), "<I", plan.buf_off[src][0]), _plan_field(b, k, 1), "<I",
                     plan.buf_off[src][0]))


def test_in_place_only_for_a_neuron_layer_over_its_only_input(braille):
    """A neuron layer may write over the buffer of its only input when it is that buffer's last reader; a
    neuron layer with two inputs (one recurrent) over one of them, or a synaptic layer over its input, is
    refused by the C loader and the Python reader alike."""
    q, b, low = braille
    plan = low.memory_plan()
    kinds = [nd.kind for nd in low.nodes]
    assert kinds == ["Input", "Linear", "CubaLIF", "Linear", "CubaLIF", "Output", "Linear"]
    assert [low.in_place_inputs().get(k) for k in range(7)] == [None, None, None, None, 3, None, None]
    assert plan.buf_off[4] == plan.buf_off[3] and CModel(b).arena_size == plan.arena_bytes   # taken as planned
    two_inputs = patched(patched(b, _plan_field(b, 2, 0), "<I", plan.buf_off[1][0]), _plan_field(b, 2, 1), "<I",
                         plan.buf_off[1][0])
    _refused(two_inputs)   # node 2 reads node 1 and, through the recurrent edge, node 6
    _refused(patched(patched(b, _plan_field(b, 3, 0), "<I", plan.buf_off[2][0]), _plan_field(b, 3, 1), "<I",
                     plan.buf_off[2][0]))   # a Linear over its input


@pytest.mark.parametrize("what,index,value", [
    ("outside the arena", 0, 1 << 30),
    ("misaligned", 0, None),
    ("inside the runtime's fixed part", 0, 8),
    ("a second buffer though no recurrent edge reads it", 1, None),
])
def test_a_region_out_of_place_is_refused(braille, what, index, value):
    q, b, low = braille
    plan = low.memory_plan()
    k = next(i for i, nd in enumerate(low.nodes) if nd.kind == "Linear" and plan.buf_off[i][0] == plan.buf_off[i][1])
    if value is None:
        value = plan.buf_off[k][0] + 4
    _refused(patched(b, _plan_field(b, k, index), "<I", value))


def test_a_state_offset_on_a_node_without_state_and_a_blob_without_plan_are_refused(braille):
    q, b, low = braille
    k = next(i for i, nd in enumerate(low.nodes) if nd.kind == "Linear")
    _refused(patched(b, _plan_field(b, k, 2), "<I", low.arena_base()))
    _refused(patched(b, read_header(b)["sections"][SEC_MODEL][0] + 40, "<I", 0))
    small = patched(b, read_header(b)["sections"][SEC_MODEL][0] + 40, "<I",
                    struct.unpack_from("<I", b, read_header(b)["sections"][SEC_MODEL][0] + 40)[0] - 8)
    _refused(small)  # the last region ends beyond the arena the plan declares
