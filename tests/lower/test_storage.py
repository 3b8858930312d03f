"""Every tensor at its precision: packed 2- and 4-bit weight rows, parameters once per layer or channel at the
width their values need, and the C runtime reading them bit-exactly as the Python reference computes."""

import struct

import numpy as np
import pytest

from edgesnn.emit import BlobError, from_blob, to_blob
from edgesnn.emit.blob import NODE_BYTES, SEC_NODES, read_header, validate_blob
from edgesnn.lower import lower, pack_rows, unpack_rows
from edgesnn.quantize import QuantConfig
from edgesnn.quantize.qgraph import PM_CHANNEL, PM_ELEM, PM_LAYER, param_storage, weight_storage_bits
from edgesnn.quantize.reference import simulate_fixed
from edgesnn.runtime import CModel, run_c
from edgesnn.runtime.binding import _lib
from tests.helpers.models import assert_same, paper_case

from ..emit.test_blob import load_status, patched


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("row_len", [1, 2, 3, 5, 8, 9])
def test_rows_pack_and_unpack(bits, row_len):
    rng = np.random.default_rng(bits * 10 + row_len)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    w = rng.integers(lo, hi + 1, size=row_len * 7)
    w[:2] = lo, hi  # the extremes
    data = pack_rows(w, bits, row_len)
    row_bytes = (row_len * bits + 7) // 8
    assert len(data) == 7 * row_bytes
    np.testing.assert_array_equal(unpack_rows(data, bits, row_len, w.size), w)
    if bits < 8:  # two's complement, low bits first; a row's last byte padded with zero bits
        assert data[0] & ((1 << bits) - 1) == w[0] & ((1 << bits) - 1)
        used = row_len * bits % 8
        if used:
            assert all(b >> used == 0 for b in data[row_bytes - 1::row_bytes])


def test_weight_storage_is_the_smallest_container():
    assert [weight_storage_bits(b) for b in range(1, 17)] == [1, 2, 4, 4] + [8] * 4 + [16] * 8


@pytest.mark.parametrize("row_len", [1, 3, 7, 8, 9, 17])
def test_binary_rows_pack_signs_and_unpack(row_len):
    """1 bit: the signs of +-m, bit 1 for a negative weight, 8 a byte, low bit first, rows on a byte."""
    rng = np.random.default_rng(row_len)
    w = rng.choice([-5, 5], size=row_len * 7)
    data = pack_rows(w, 1, row_len)
    row_bytes = (row_len + 7) // 8
    assert len(data) == 7 * row_bytes
    np.testing.assert_array_equal(unpack_rows(data, 1, row_len, w.size), np.sign(w))
    assert data[0] & 1 == int(w[0] < 0) and (row_len < 2 or (data[0] >> 1) & 1 == int(w[1] < 0))
    if row_len % 8:
        assert all(b >> (row_len % 8) == 0 for b in data[row_bytes - 1::row_bytes])


def test_binary_weights_are_one_magnitude_per_layer_and_never_zero():
    q, _ = paper_case("braille_subtract", QuantConfig(weight_bits=1))
    low = lower(q)
    weighted = [n for n in low.nodes if "weight" in n.params]
    assert len(weighted) >= 3  # fc1, fc2 and the recurrent lif1.w_rec
    for nd in weighted:
        w = np.abs(nd.params["weight"])
        assert nd.bits["weight"] == 1 and 1 <= nd.wmag <= 127 and np.all(w == nd.wmag), nd.name
        assert nd.param_nbytes("weight") == nd.params["weight"].size // nd.weight_row_len * \
            ((nd.weight_row_len + 7) // 8)
    graph_w = q.graph.nodes["fc1"].weight
    assert np.all((q.layers["fc1"].params["weight"] < 0) == (graph_w < 0))  # the signs; a zero weight is +m
    b = to_blob(q)
    back = from_blob(b)
    assert to_blob(back) == b
    np.testing.assert_array_equal(back.layers["fc1"].params["weight"], q.layers["fc1"].params["weight"])


def test_parameters_are_stored_once_where_they_agree_at_the_width_they_need():
    same = np.full((3, 4, 4), 900)
    per_channel = np.repeat(np.array([1, -2, 100])[:, None, None], 16, axis=0).reshape(3, 4, 4)
    per_element = np.arange(48).reshape(3, 4, 4) - 24
    v, mode, bits = param_storage(same, True)
    assert (mode, bits, v.tolist()) == (PM_LAYER, 16, [900])
    v, mode, bits = param_storage(per_channel, True)
    assert (mode, bits, v.tolist()) == (PM_CHANNEL, 8, [1, -2, 100])
    assert param_storage(per_channel, False)[1:] == (PM_ELEM, 8)  # a bias or a rank-1 layer has no channels
    assert param_storage(per_element, True)[1:] == (PM_ELEM, 8)
    assert param_storage(np.array([0, 1 << 20]), False)[1:] == (PM_ELEM, 32)
    assert param_storage(np.array([-129, 5]), False)[1:] == (PM_ELEM, 16)


def _cnn_with_channel_params(config):
    """The NIR paper's CNN with its first IF layer's threshold per channel and its bias per neuron."""
    q, x = paper_case("cnn_sinabs", config, n=2, steps=6)
    name = next(k for k, layer in q.layers.items() if "threshold" in layer.params and layer.params["threshold"].ndim == 3)
    p = q.layers[name].params
    c = p["threshold"].shape[0]
    p["threshold"] = (p["threshold"] + (np.arange(c) % 3)[:, None, None]).astype(np.int32)
    p["bias"] = (np.arange(p["bias"].size).reshape(p["bias"].shape) % 5 - 2).astype(np.int32)
    return q, x, name


@pytest.mark.parametrize("weight_bits", [1, 2, 3, 4, 6, 8, 12])
def test_c_runtime_is_bit_exact_at_every_storage(weight_bits):
    """Packed and byte weights through Conv2d and Linear, parameters per layer, channel and neuron: fixed-c
    equals the reference (outputs, every counter, every state), and the blob round-trips."""
    q, x, lif = _cnn_with_channel_params(QuantConfig(weight_bits=weight_bits, state_bits=16))
    low = lower(q)
    nd = next(n for n in low.nodes if n.name == lif)
    assert (nd.modes["threshold"], nd.modes["v_reset"], nd.modes["bias"]) == (PM_CHANNEL, PM_LAYER, PM_ELEM)
    assert {n.bits["weight"] for n in low.nodes if "weight" in n.params} == {weight_storage_bits(weight_bits)}
    ref = simulate_fixed(q, x, record_states=True)
    assert_same(ref, run_c(q, x, record_states=True), f"w{weight_bits}", qgraph=q)
    b = to_blob(q)
    assert to_blob(from_blob(b)) == b


def test_packed_weights_shrink_the_blob():
    q4, _ = paper_case("braille_subtract", QuantConfig(weight_bits=4))
    q8, _ = paper_case("braille_subtract", QuantConfig(weight_bits=8))
    w = sum(int(layer.params["weight"].size) for layer in q4.layers.values() if "weight" in layer.params)
    assert len(to_blob(q8)) - len(to_blob(q4)) >= w // 2 - 8 * len(q4.layers)


def _ref_offset(blob: bytes, node: int, slot: int) -> int:
    return read_header(blob)["sections"][SEC_NODES][0] + node * NODE_BYTES + 80 + 12 * slot


@pytest.mark.parametrize("what,field,fmt,value", [
    ("weights at 3 bits", 8, "<B", 3),
    ("weights narrower than weight_bits", 8, "<B", 2),
    ("an unknown mode", 9, "<B", 3),
    ("weights per layer", 9, "<B", PM_LAYER),
    ("a reserved field", 10, "<H", 1),
])
def test_hostile_weight_storage_is_refused_by_both_readers(what, field, fmt, value):
    q, _ = paper_case("braille_subtract", QuantConfig(weight_bits=4))
    b = to_blob(q)
    low = lower(q)
    k = next(i for i, n in enumerate(low.nodes) if "weight" in n.params)
    bad = patched(b, _ref_offset(b, k, 0) + field, fmt, value)
    _, lib = _lib()
    assert load_status(bad) == lib.ESN_ERR_PARAM, what
    with pytest.raises(BlobError, match="parameter array missing, unexpected or out of bounds"):
        CModel(bad)
    with pytest.raises(BlobError, match=r"node 'fc1' \(Linear\): (parameter 'weight' stored at \d+ bits in mode \d+"
                                        r"|absent or malformed storage record of parameter 'weight')$"):
        from_blob(bad)


def test_binary_weights_at_1_bit_are_bit_exact_through_recurrence():
    """Dense and recurrent binary rows (braille: fc1 256 -> 38, its w_rec 38 -> 38): fixed-c equals the reference."""
    q, x = paper_case("braille_subtract", QuantConfig(weight_bits=1, rounding="stochastic", seed=5), n=3, steps=12)
    ref = simulate_fixed(q, x, record_states=True)
    assert ref.counts["lif1.w_rec"]["synops"].sum() > 0 and ref.counts["fc1"]["param_bytes_read"].sum() > 0
    assert_same(ref, run_c(q, x, record_states=True), "w1 braille", qgraph=q)


def _wmag_offset(blob: bytes, node: int) -> int:
    return read_header(blob)["sections"][SEC_NODES][0] + node * NODE_BYTES + 76


@pytest.mark.parametrize("what,weight_bits,where,field,value,status,msg", [
    ("1-bit rows in a 4-bit model", 4, "ref", 8, 1, "PARAM", r"parameter 'weight' stored at 1 bits"),
    ("4-bit rows in a 1-bit model", 1, "ref", 8, 4, "PARAM", r"parameter 'weight' stored at 4 bits"),
    ("no magnitude", 1, "wmag", 0, 0, "PARAM", r"binary weight magnitude 0"),
    ("a magnitude beyond a byte", 1, "wmag", 0, 128, "ENUM", r"binary weight magnitude 128"),
    ("a magnitude on 4-bit rows", 4, "wmag", 0, 3, "PARAM", r"binary weight magnitude 3"),
    ("a magnitude on a neuron layer", 1, "wmag+1", 0, 3, "PARAM", r"binary weight magnitude 3"),
])
def test_hostile_binary_weights_are_refused_by_both_readers(what, weight_bits, where, field, value, status, msg):
    q, _ = paper_case("braille_subtract", QuantConfig(weight_bits=weight_bits))
    b = to_blob(q)
    low = lower(q)
    k = next(i for i, n in enumerate(low.nodes) if "weight" in n.params)
    if where == "ref":
        bad = patched(b, _ref_offset(b, k, 0) + field, "<B", value)
    else:
        j = k if where == "wmag" else next(i for i, n in enumerate(low.nodes) if "alpha" in n.params)
        bad = patched(b, _wmag_offset(b, j), "<I", value)
    _, lib = _lib()
    assert load_status(bad) == getattr(lib, f"ESN_ERR_{status}"), what
    with pytest.raises(BlobError, match=msg):
        validate_blob(bad)


def test_a_parameter_whose_count_is_not_its_mode_is_refused():
    q, _ = paper_case("braille_subtract", QuantConfig())
    b = to_blob(q)
    low = lower(q)
    k, slot = next((i, 4) for i, n in enumerate(low.nodes) if "alpha" in n.params)  # ESN_P_ALPHA (a LIF layer)
    count = struct.unpack_from("<I", b, _ref_offset(b, k, slot) + 4)[0]
    mode = b[_ref_offset(b, k, slot) + 9]
    _, lib = _lib()
    other = PM_ELEM if mode == PM_LAYER else PM_LAYER
    bad = patched(b, _ref_offset(b, k, slot) + 9, "<B", other)
    assert count in (1, low.nodes[k].out_size)
    assert load_status(bad) == lib.ESN_ERR_PARAM
    with pytest.raises(BlobError, match=r"parameter 'alpha' holds \d+ values; its shape and storage give \d+"):
        from_blob(bad)
    channel = patched(b, _ref_offset(b, k, slot) + 9, "<B", PM_CHANNEL)  # a rank-1 layer has no channels
    assert load_status(channel) == lib.ESN_ERR_PARAM
    with pytest.raises(BlobError, match=r"parameter 'alpha' stored at \d+ bits in mode 1"):
        from_blob(channel)


def test_state_at_8_bits_is_stored_in_bytes():
    """v saturated to 8 bits takes one byte a neuron in the arena (int16 up to 16 bits), bit-exact with the
    reference state by state."""
    q8, x = paper_case("braille_subtract", QuantConfig(state_bits=8, current_bits=8))
    q16, _ = paper_case("braille_subtract", QuantConfig(state_bits=16, current_bits=16))
    low8, low16 = lower(q8), lower(q16)
    for k, nd in enumerate(low8.nodes):
        if low8.state_bytes(k):  # CubaLIF: v and i one byte each instead of two; pending stays int16
            assert low16.state_bytes(k) - low8.state_bytes(k) >= 2 * nd.out_size - 8, nd.name
    assert low8.arena_bytes < low16.arena_bytes
    assert CModel(to_blob(q8)).arena_size == low8.arena_bytes
    assert_same(simulate_fixed(q8, x, record_states=True), run_c(q8, x, record_states=True), "8-bit state", q8)


@pytest.mark.parametrize("reset", ["zero", "value", "subtract"])
@pytest.mark.parametrize("rule", [">", ">="])
@pytest.mark.parametrize("state_bits,rounding", [(8, "truncate"), (16, "nearest"), (24, "nearest")])
def test_if_lif_fast_loop_matches_the_reference(reset, rule, state_bits, rounding):
    """The runtime's IF/LIF loop for layer-wide parameters (v in 8 or 16 bits; 24 bits takes the generic loop):
    every reset, spike rule and deterministic rounding, state by state against the specification."""
    import dataclasses
    from edgesnn.graph import Graph
    from tests.helpers.models import example_case
    from tests.helpers.paths import MODELS
    q, x = example_case(MODELS / "digits_mlp.json", QuantConfig(6, state_bits, rounding=rounding), n=6)
    def layer_wide(a):
        return np.full_like(np.asarray(a, float), float(np.mean(a)))
    nodes = {k: dataclasses.replace(nd, reset=reset, spike_rule=rule, threshold=layer_wide(nd.threshold),
                                    alpha=layer_wide(nd.alpha), bias=layer_wide(nd.bias),
                                    v_reset=layer_wide(nd.threshold) * 0.25)
             if nd.kind == "LIF" else nd for k, nd in q.graph.nodes.items()}
    g = Graph(nodes, q.graph.edges, q.graph.dt, q.graph.meta)
    from edgesnn.quantize import quantize
    q2 = quantize(g, q.config, x)
    low = lower(q2)
    assert all(nd.modes[s] != PM_ELEM for nd in low.nodes if nd.kind == "LIF" for s in nd.params)
    r = simulate_fixed(q2, x)
    assert all(r.counts[k]["spikes_out"].sum() > 0 for k in ("lif1", "lif2"))  # the layers do spike
    assert_same(simulate_fixed(q2, x, record_states=True), run_c(q2, x, record_states=True), f"{reset} {rule}", q2)
