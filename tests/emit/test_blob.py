"""The model blob: layout, round trips, and the C loader's answer to truncated, corrupted, hostile
and foreign-version blobs (an error code, never a crash)."""

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from edgesnn.emit import BlobError, from_blob, to_blob
from edgesnn.emit.blob import (EDGE_BYTES, HEADER_BYTES, MODEL_BYTES, NODE_BYTES, SEC_EDGES, SEC_MODEL, SEC_NODES,
                               SEC_PARAMS, read_header)
from edgesnn.errors import EmitError, QuantizeError
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime import CModel, run_c
from edgesnn.runtime.binding import _lib
from edgesnn.quantize.reference import simulate_fixed
from tests.helpers.models import assert_same, paper_case, quant_config, random_graph, reference, spikes


@pytest.fixture(scope="module")
def braille_q():
    """The NIR paper's Braille RNN quantized (stochastic rounding, an early exit), with inputs."""
    q, x = paper_case("braille_subtract", QuantConfig(rounding="stochastic"))
    return q.with_exit(400), x


def load_status(blob: bytes, size: int | None = None) -> int:
    """esn_blob_load's status for `blob` (the first `size` bytes of it)."""
    ffi, lib = _lib()
    buf = ffi.new("uint64_t[]", max(1, (len(blob) + 7) // 8))
    ffi.memmove(buf, blob, len(blob))
    bm = ffi.new("esn_blob_model *")
    return lib.esn_blob_load(bm, buf, len(blob) if size is None else size)


def recrc(b: bytearray) -> bytes:
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[16:struct.unpack_from("<I", b, 8)[0]])))
    return bytes(b)


def patched(blob: bytes, offset: int, fmt: str, value) -> bytes:
    """The blob with one field changed and its CRC made valid again: what a hostile writer would do."""
    b = bytearray(blob)
    struct.pack_into(fmt, b, offset, value)
    return recrc(b)


# ---------------------------------------------------------------------------------------------
# Layout and round trips
# ---------------------------------------------------------------------------------------------

def test_layout_header_sections_alignment_and_crc(braille_q):
    q, _ = braille_q
    b = to_blob(q)
    assert b[:4] == b"ESNB" and struct.unpack_from("<HHII", b, 4) == (5, 48, len(b), zlib.crc32(b[16:]))
    h = read_header(b)
    secs = h["sections"]
    assert set(secs) == {1, 2, 3, 4, 5} and len(b) % 8 == 0
    assert all(o % 8 == 0 for o, _, _ in secs.values())
    ends = sorted((o, o + s) for o, s, _ in secs.values())
    assert all(a[1] <= b_[0] for a, b_ in zip(ends, ends[1:]))  # no overlap
    n = len(q.graph.nodes)
    assert secs[SEC_MODEL][1:] == (MODEL_BYTES, 1) and secs[SEC_NODES][1:] == (n * NODE_BYTES, n)
    assert secs[SEC_EDGES][1:] == (len(q.graph.edges) * EDGE_BYTES, len(q.graph.edges))
    p_lo, p_size, arrays = secs[SEC_PARAMS]
    refs = [struct.unpack_from("<IIBBH", b, secs[SEC_NODES][0] + k * NODE_BYTES + 80 + 12 * s)
            for k in range(n) for s in range(11)]
    present = [(o, c) for o, c, _, _, _ in refs if c]
    assert all(bits in (2, 4, 8, 16, 32) and mode <= 2 and not pad for _, c, bits, mode, pad in refs if c)
    assert len(present) == arrays == sum(len(layer.params) for layer in q.layers.values())
    assert all(o % 8 == 0 and p_lo <= o < p_lo + p_size for o, _ in present)


def test_round_trip_is_exact(braille_q):
    for q, x in (braille_q, paper_case("cnn_sinabs", QuantConfig(6, 12)), paper_case("braille_zero", QuantConfig())):
        b = to_blob(q)
        back = from_blob(b)
        assert to_blob(back) == b
        assert back.config == q.config and back.exit == q.exit and back.graph.edges == q.graph.edges
        for name, layer in q.layers.items():
            for k, a in layer.params.items():
                np.testing.assert_array_equal(back.layers[name].params[k], a, err_msg=f"{name}.{k}")
                assert back.layers[name].params[k].dtype == a.dtype
            assert back.layers[name].scales == layer.scales and back.layers[name].target == layer.target
        assert_same(simulate_fixed(q, x, record_states=True), simulate_fixed(back, x, record_states=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(g=random_graph(), cfg=quant_config(), data=st.data())
def test_random_graphs_round_trip_and_load(g, cfg, data):
    x = spikes((2, 5, *g.input.shape), 0.4, data.draw(st.integers(0, 99)))
    try:
        q = quantize(g, cfg, x)
    except QuantizeError:
        reject()
    b = to_blob(q)
    assert to_blob(from_blob(b)) == b
    assert load_status(b) == 0
    assert_same(simulate_fixed(from_blob(b), x, record_states=True), simulate_fixed(q, x, record_states=True))


# ---------------------------------------------------------------------------------------------
# Truncated, corrupted, hostile and foreign blobs
# ---------------------------------------------------------------------------------------------

def test_every_truncation_is_a_clean_error(braille_q):
    _, lib = _lib()
    b = to_blob(braille_q[0])
    assert load_status(b) == lib.ESN_OK
    for n in range(len(b)):
        st_ = load_status(b[:n])
        assert st_ == lib.ESN_ERR_TRUNCATED, (n, st_)
        with pytest.raises(BlobError, match="truncated"):
            from_blob(b[:n])


def test_truncations_that_claim_to_be_whole_are_refused(braille_q):
    """Each prefix with its total size and CRC rewritten to match: the section and array bounds catch it."""
    _, lib = _lib()
    b = to_blob(braille_q[0])
    seen = set()
    for n in range(HEADER_BYTES, len(b), 8):
        c = bytearray(b[:n])
        struct.pack_into("<I", c, 8, n)
        st_ = load_status(recrc(c))
        assert st_ != lib.ESN_OK, n
        seen.add(st_)
    assert seen == {lib.ESN_ERR_SECTION}  # the sections beyond the claimed end


def test_random_byte_flips_fail_the_crc(braille_q):
    _, lib = _lib()
    b = to_blob(braille_q[0])
    rng = np.random.default_rng(0)
    for _ in range(300):
        c = bytearray(b)
        i = int(rng.integers(16, len(b)))
        c[i] ^= int(rng.integers(1, 256))
        assert load_status(bytes(c)) == lib.ESN_ERR_CRC
        with pytest.raises(BlobError, match="CRC"):
            from_blob(bytes(c))


def test_hostile_byte_flips_with_a_valid_crc_never_crash(braille_q):
    """Flips in the records (CRC recomputed): the loader refuses or accepts, and what it accepts runs."""
    q, x = braille_q
    _, lib = _lib()
    b = to_blob(q)
    h = read_header(b)
    lo, hi = HEADER_BYTES, h["sections"][SEC_PARAMS][0] + 64
    rng = np.random.default_rng(1)
    accepted = 0
    for _ in range(600):
        c = bytearray(b)
        for _ in range(int(rng.integers(1, 4))):
            c[int(rng.integers(lo, hi))] ^= 1 << int(rng.integers(0, 8))
        blob = recrc(c)
        st_ = load_status(blob)
        assert 0 <= st_ < lib.ESN_STATUS_COUNT
        if st_ == lib.ESN_OK:
            accepted += 1
            CModel(blob).run(x[:1].reshape(1, x.shape[1], -1))
    assert accepted < 600


@pytest.mark.parametrize("what,offset_of,fmt,value,status", [
    ("kind", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES, "<B", 99, "ESN_ERR_KIND"),
    ("reset", lambda s: s[SEC_NODES][0] + 2 * NODE_BYTES + 1, "<B", 7, "ESN_ERR_ENUM"),
    ("spike rule", lambda s: s[SEC_NODES][0] + 2 * NODE_BYTES + 2, "<B", 2, "ESN_ERR_ENUM"),
    ("max_spikes of a weighted layer", lambda s: s[SEC_NODES][0] + 3 * NODE_BYTES + 4, "<H", 3, "ESN_ERR_ENUM"),
    ("max_spikes of 256", lambda s: s[SEC_NODES][0] + 4 * NODE_BYTES + 4, "<H", 256, "ESN_ERR_ENUM"),
    ("params section size", lambda s: HEADER_BYTES + 3 * 16 + 8, "<I", 8, "ESN_ERR_PARAM"),
    ("an output size", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 32, "<I", 41, "ESN_ERR_SHAPE"),
    ("rank", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 11, "<B", 5, "ESN_ERR_SHAPE"),
    ("edge source", lambda s: s[SEC_EDGES][0], "<H", 500, "ESN_ERR_EDGE"),
    ("edge order", lambda s: s[SEC_EDGES][0] + 2, "<H", 3, "ESN_ERR_EDGE"),
    ("param offset", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 80, "<I", 2 ** 31, "ESN_ERR_PARAM"),
    ("param alignment", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 80, "<I",
     lambda s: s[SEC_PARAMS][0] + 4, "ESN_ERR_ALIGN"),
    ("param count", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 84, "<I", 7, "ESN_ERR_PARAM"),
    ("rounding", lambda s: s[SEC_MODEL][0] + 14, "<B", 3, "ESN_ERR_ENUM"),
    ("state bits", lambda s: s[SEC_MODEL][0] + 9, "<B", 40, "ESN_ERR_RANGE"),
    ("node count", lambda s: s[SEC_MODEL][0], "<H", 2000, "ESN_ERR_SECTION"),
    ("section type", lambda s: HEADER_BYTES, "<H", 9, "ESN_ERR_SECTION"),
    ("section offset", lambda s: HEADER_BYTES + 4, "<I", 2 ** 31, "ESN_ERR_SECTION"),
    ("header reserved", lambda s: 30, "<B", 1, "ESN_ERR_HEADER"),
    ("node reserved", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 79, "<B", 1, "ESN_ERR_ENUM"),
    ("accumulator shift of a neuron layer", lambda s: s[SEC_NODES][0] + 2 * NODE_BYTES + 78, "<B", 3, "ESN_ERR_RANGE"),
    ("accumulator shift 31", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 78, "<B", 31, "ESN_ERR_RANGE"),
    ("input bits", lambda s: s[SEC_MODEL][0] + 44, "<B", 7, "ESN_ERR_ENUM"),
    ("analog input bits over a byte Input buffer", lambda s: s[SEC_MODEL][0] + 44, "<B", 8, "ESN_ERR_ENUM"),
    ("model reserved", lambda s: s[SEC_MODEL][0] + 45, "<B", 1, "ESN_ERR_SECTION"),
    ("binary magnitude", lambda s: s[SEC_NODES][0] + 1 * NODE_BYTES + 76, "<B", 128, "ESN_ERR_ENUM"),
])
def test_hostile_fields_get_their_error_code(braille_q, what, offset_of, fmt, value, status):
    _, lib = _lib()
    b = to_blob(braille_q[0])
    secs = read_header(b)["sections"]
    blob = patched(b, offset_of(secs), fmt, value(secs) if callable(value) else value)
    assert load_status(blob) == getattr(lib, status), what
    with pytest.raises(BlobError, match="refused the blob"):
        CModel(blob)


def test_weights_beyond_int32_accumulators_are_refused(braille_q):
    """A blob whose weights could overflow an int32 accumulator (a valid CRC, but not from the quantizer)."""
    _, lib = _lib()
    q, _ = paper_case("cnn_sinabs", QuantConfig(16, 32))
    for layer in q.layers.values():
        if "weight" in layer.params:
            layer.params["weight"][...] = 2 ** 15 - 1
    st_ = load_status(to_blob(q))
    assert st_ == lib.ESN_ERR_OVERFLOW
    with pytest.raises(BlobError, match=r"an int32 accumulator could overflow at node '5' \(value \d+\)"):
        run_c(q, np.zeros((1, 1, 2, 34, 34), np.uint8))


def test_other_version_is_named(braille_q):
    _, lib = _lib()
    b = to_blob(braille_q[0])
    for version in (2, 3, 4, 6):  # 2: int32 parameters; 3: no tensor layouts; 4: int32 buffers (older); 6: newer
        other = patched(b, 4, "<H", version)
        assert load_status(other) == lib.ESN_ERR_VERSION
        with pytest.raises(BlobError, match=rf"blob format version {version} is not supported: this runtime reads "
                                            r"version 5; re-run `edgesnn compile`"):
            CModel(other)
        with pytest.raises(BlobError, match=rf"blob format version {version} is not supported: this edgesnn .* "
                                            r"reads version 5"):
            from_blob(other)
    assert load_status(b"XSNB" + b[4:]) == lib.ESN_ERR_MAGIC
    with pytest.raises(BlobError, match="not an edgesnn model blob"):
        from_blob(b"XSNB" + b[4:])


def test_schedule_is_read_back(braille_q):
    from edgesnn.emit import schedule_of
    _, lib = _lib()
    q = braille_q[0].with_exit(None)
    b = to_blob(q)
    assert struct.unpack_from("<H", b, 4)[0] == 5 and schedule_of(b) == ([0] * len(schedule_of(b)[0]), 0)
    n = len(schedule_of(b)[0])
    s = to_blob(q, [1, n - 1], 5)  # two groups; the recurrent edge stays inside the second
    assert struct.unpack_from("<H", s, 4)[0] == 5
    assert schedule_of(s) == ([0, 1] + [0] * (n - 2), 5)
    assert load_status(s) == lib.ESN_OK


def test_misaligned_blob_is_refused(braille_q):
    ffi, lib = _lib()
    b = to_blob(braille_q[0])
    buf = ffi.new("uint8_t[]", len(b) + 8)
    base = int(ffi.cast("uintptr_t", buf))
    start = ffi.cast("uint8_t *", buf) + (1 if base % 8 == 0 else 0)
    ffi.memmove(start, b, len(b))
    bm = ffi.new("esn_blob_model *")
    assert lib.esn_blob_load(bm, start, len(b)) == lib.ESN_ERR_ALIGN
    assert lib.esn_blob_load(bm, ffi.NULL, 0) == lib.ESN_ERR_NULL


# ---------------------------------------------------------------------------------------------
# What the emitter refuses
# ---------------------------------------------------------------------------------------------

def test_emitter_names_what_the_runtime_cannot_hold(braille_q):
    q, _ = braille_q
    import copy
    bad = copy.deepcopy(q)
    bad.layers["fc1"].params["weight"] = bad.layers["fc1"].params["weight"].astype(np.int16) * 0 + 200
    with pytest.raises(EmitError, match=r"node 'fc1' \(Linear\): weight \(weight_bits = 8\) holds 200, outside"):
        to_blob(bad)
    bad = copy.deepcopy(q)
    bad.layers["lif1.lif"].params["alpha"][0] = 1 << 20
    with pytest.raises(EmitError, match=r"node 'lif1.lif' \(CubaLIF\): parameter 'alpha' holds 1048576"):
        to_blob(bad)
    bad = copy.deepcopy(q)
    del bad.layers["lif2"].params["threshold"]
    with pytest.raises(EmitError, match=r"node 'lif2' \(CubaLIF\): parameters .* the runtime needs"):
        to_blob(bad)
    with pytest.raises(EmitError, match="expected a QGraph"):
        to_blob(q.graph)
    with pytest.raises(BlobError, match="a blob is bytes"):
        from_blob("ESNB")
