"""Compact storage of arrays on a quantization grid (artifact.encode_array(compact=True), Graph.save(compact=True)):
exact round trips, the plain form where a grid would not be exact, and refusals of malformed packed data."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from edgesnn.artifact import decode_array, encode_array
from edgesnn.errors import EdgesnnError
from edgesnn.graph import Graph, ir


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("n,lo,hi,bits", [(1, 1, 2, 4), (7, -8, 8, 4), (4096, -7, 8, 4), (9, -128, 128, 8),
                                          (300, -50, 51, 8)])
@pytest.mark.parametrize("scale", [0.0123, 3.0e-7, 1.0, 2.5e30])
def test_grid_round_trip_is_bit_exact(n, lo, hi, bits, scale):
    k = np.random.default_rng(n).integers(lo, hi, n)
    k[0] = 1
    a = k.astype(np.float32) * np.float32(scale)
    d = encode_array(a.reshape(-1, 1) if n > 1 else a, compact=True)
    assert d["grid"] == {"bits": bits, "scale": float(np.float32(scale))}
    assert len(base64.b64decode(d["b64"])) == (n if bits == 8 else (n + 1) // 2)
    back = decode_array(json.loads(json.dumps(d)))
    assert back.dtype == np.float32 and back.shape == (a.reshape(-1, 1) if n > 1 else a).shape
    np.testing.assert_array_equal(_bits(back).ravel(), _bits(a))


@pytest.mark.parametrize("a", [
    np.random.default_rng(0).normal(size=50).astype(np.float32),            # not on a grid
    np.array([1.0, 200.0], np.float32),                                     # k beyond int8
    np.array([1.0, -0.0, 2.0], np.float32),                                 # -0.0 would come back as +0.0
    np.zeros(5, np.float32), np.array([], np.float32),                      # no scale to find
    np.array([1.0, 2.0], np.float64),                                       # float64 stays float64
    np.array([1.0, np.inf], np.float32)])
def test_off_grid_arrays_keep_the_plain_form(a):
    d = encode_array(a, compact=True)
    assert "grid" not in d and d["dtype"] == a.dtype.name
    np.testing.assert_array_equal(decode_array(d).view(np.uint8), a.view(np.uint8))


def test_plain_is_the_default():
    assert "grid" not in encode_array(np.array([1.0, 2.0], np.float32))


def _grid(k_bytes: bytes, shape, bits=4, scale=0.5) -> dict:
    return {"dtype": "float32", "shape": list(shape), "grid": {"bits": bits, "scale": scale},
            "b64": base64.b64encode(k_bytes).decode()}


def test_nibble_order_and_sign():
    # element 0 in the low nibble; 0xF = -1, 0x8 = -8, 0x7 = 7
    a = decode_array(_grid(bytes([0xF1, 0x78, 0x02]), (5,)))
    np.testing.assert_array_equal(a, np.float32([1, -1, -8, 7, 2]) * np.float32(0.5))


@pytest.mark.parametrize("d,msg", [
    (_grid(bytes([0x21, 0x30]), (3,)), "padding nibble after the last 4-bit value is not zero"),
    (_grid(bytes([0x21]), (3,)), r"1 bytes stored for 3 4-bit values \(need 2\)"),
    (_grid(bytes(3), (2,), bits=8), r"3 bytes stored for 2 8-bit values \(need 2\)"),
    (_grid(bytes(1), (2,), bits=2), r"grid bits 2 is not one of \(4, 8\)"),
    (_grid(bytes(1), (2,), bits=True), r"grid bits True is not one of \(4, 8\)"),
    (_grid(bytes(1), (2,), scale=-1.0), "grid scale -1.0 is not a positive finite float32 value"),
    (_grid(bytes(1), (2,), scale=float("nan")), "grid scale nan is not a positive finite float32 value"),
    (_grid(bytes(1), (2,), scale=0.1), "grid scale 0.1 is not a positive finite float32 value"),
    ({**_grid(bytes(1), (2,)), "dtype": "int8"}, "a grid array must be float32, not 'int8'"),
    ({**_grid(bytes(1), (2,)), "grid": {"bits": 4}}, "grid must hold exactly 'bits' and 'scale'"),
    ({**_grid(bytes(1), (2,)), "grid": [4, 0.5]}, "grid must hold exactly 'bits' and 'scale'"),
])
def test_malformed_grid_arrays_are_refused(d, msg):
    with pytest.raises(EdgesnnError, match=rf"node 'fc' field 'weight': malformed stored array \(.*{msg}.*\)"):
        decode_array(d, "node 'fc' field 'weight'")


def _qat_like_graph() -> Graph:
    rng = np.random.default_rng(3)
    w = rng.integers(-7, 8, (16, 9)).astype(np.float32) * np.float32(0.031)
    one = np.ones(16, np.float32)
    nodes = [ir.Input(name="input", shape=(9,)),
             ir.Affine(name="fc", weight=w, bias=rng.normal(size=16).astype(np.float32)),
             ir.LIF(name="lif", gain=one, bias=0 * one, threshold=one, v_reset=0 * one,
                    alpha=np.full(16, 0.9, np.float32), reset="subtract"),
             ir.Output(name="output", shape=(16,))]
    return Graph({n.name: n for n in nodes}, [("input", "fc"), ("fc", "lif"), ("lif", "output")], 1e-3)


def test_graph_compact_save_is_exact_and_smaller(tmp_path):
    g = _qat_like_graph()
    g.save(tmp_path / "plain.json")
    g.save(tmp_path / "compact.json", compact=True)
    d = json.loads((tmp_path / "compact.json").read_text())
    fc = next(n for n in d["nodes"] if n["name"] == "fc")
    assert fc["weight"]["grid"]["bits"] == 4 and "grid" not in fc["bias"]
    g2 = Graph.load(tmp_path / "compact.json")
    for name, node in g.nodes.items():
        for key, a in node.arrays().items():
            b = g2.nodes[name].arrays()[key]
            assert b.dtype == a.dtype and b.shape == a.shape
            np.testing.assert_array_equal(b.view(np.uint8), a.view(np.uint8))
    fc_plain = next(n for n in json.loads((tmp_path / "plain.json").read_text())["nodes"] if n["name"] == "fc")
    assert len(fc["weight"]["b64"]) * 7 < len(fc_plain["weight"]["b64"])  # 4 bits vs 32, base64 both


def test_graph_load_names_the_node_of_a_bad_grid(tmp_path):
    d = _qat_like_graph().to_dict(compact=True)
    fc = next(n for n in d["nodes"] if n["name"] == "fc")
    fc["weight"]["b64"] = fc["weight"]["b64"][:8]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(EdgesnnError, match=r"node 'fc' field 'weight': malformed stored array \(6 bytes stored for "
                                           r"144 4-bit values \(need 72\)\)"):
        Graph.load(tmp_path / "bad.json")


def _palette(idx_bytes: bytes, shape, values=(0.25, -1.5, 3.0), bits=4) -> dict:
    return {"dtype": "float32", "shape": list(shape),
            "palette": {"bits": bits, "b64": base64.b64encode(np.asarray(values, "<f4").tobytes()).decode()},
            "b64": base64.b64encode(idx_bytes).decode()}


@pytest.mark.parametrize("distinct,bits", [(2, 4), (12, 4), (16, 4), (17, 8), (256, 8)])
def test_palette_round_trip_for_few_distinct_values(distinct, bits):
    values = np.random.default_rng(distinct).normal(size=distinct).astype(np.float32)
    a = np.repeat(values, 900 // distinct + 1)[:900].reshape(30, 30)  # e.g. a per-channel parameter per neuron
    d = encode_array(a, compact=True)
    assert "grid" not in d and d["palette"]["bits"] == bits
    back = decode_array(json.loads(json.dumps(d)))
    np.testing.assert_array_equal(back.view(np.uint32), a.view(np.uint32))


def test_palette_keeps_negative_zero_and_nan_free_values_exact():
    a = np.array([-0.0, 0.0, 1e-45, -0.0] * 8, np.float32)
    d = encode_array(a, compact=True)
    assert "palette" in d
    np.testing.assert_array_equal(decode_array(d).view(np.uint32), a.view(np.uint32))


def test_palette_only_where_smaller():
    assert "palette" not in encode_array(np.float32([1.5, 2.25, 3.125]) ** 2 / 7, compact=True)  # 3 of 3 distinct


def test_palette_index_order():
    # index = nibble - 8 stored two's complement: nibble 0x8 is value 0, 0x9 value 1, 0xA value 2
    np.testing.assert_array_equal(decode_array(_palette(bytes([0x98, 0x0A]), (3,))), np.float32([0.25, -1.5, 3.0]))


@pytest.mark.parametrize("d,msg", [
    (_palette(bytes([0x98, 0x0B]), (3,)), "palette index 3 beyond its 3 values"),
    (_palette(bytes([0x98, 0x1A]), (3,)), "padding nibble after the last 4-bit value is not zero"),
    (_palette(bytes([0x98]), (3,)), r"1 bytes stored for 3 4-bit values \(need 2\)"),
    (_palette(bytes(2), (2,), bits=5), r"palette bits 5 is not one of \(4, 8\)"),
    (_palette(bytes(1), (2,), values=range(17)), "at most 16 float32 values"),
    (_palette(bytes(1), (2,), values=()), "palette of 0 bytes: need 1 to 16 float32 values"),
    ({**_palette(bytes(1), (2,)), "dtype": "float64"}, "a palette array must be float32, not 'float64'"),
    ({**_palette(bytes(1), (2,)), "palette": {"bits": 4}}, "palette must hold exactly 'bits' and 'b64'"),
    ({**_palette(bytes(1), (2,)), "grid": {"bits": 4, "scale": 1.0}}, "a grid or a palette, not both"),
])
def test_malformed_palette_arrays_are_refused(d, msg):
    with pytest.raises(EdgesnnError, match=rf"node 'lif' field 'alpha': malformed stored array \(.*{msg}.*\)"):
        decode_array(d, "node 'lif' field 'alpha'")
