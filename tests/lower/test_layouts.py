"""Tensor layouts (esn_node.layout): lowering stores conv/pool chains channel-last where nothing that needs
row-major reads them, and the C runtime stays bit-exact with the fixed-point reference (outputs, every counter,
every state) for every choice: stride, padding, dilation, groups, Conv1d, pools, Flatten -> Linear (its weight
rows permuted), per-element and per-channel neuron parameters, outputs and recurrent edges of conv shape,
stochastic rounding, packed weights, grouped schedules; the C loader and the Python reader refuse the same
inconsistent layouts."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from edgesnn.emit import BlobError, from_blob, to_blob
from edgesnn.emit.blob import NODE_BYTES, SEC_NODES, read_header, validate_blob
from edgesnn.graph import Graph, ir
from edgesnn.lower import IN_CL, OUT_CL, lower
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.quantize.qgraph import PM_CHANNEL
from edgesnn.quantize.reference import simulate_fixed
from edgesnn.runtime import CModel, run_c
from tests.helpers.models import assert_same

CL = OUT_CL | IN_CL


def _conv(name, c_in, c_out, k, rng, groups=1, conv1d=False, **geo):
    shape = (c_out, c_in // groups, k) if conv1d else (c_out, c_in // groups, k, k)
    w = rng.normal(0, 1.5 / np.sqrt(c_in * k), shape)
    cls = ir.Conv1d if conv1d else ir.Conv2d
    return cls(name=name, weight=w, bias=rng.normal(0, 0.1, c_out), groups=groups, **geo)


def _lif(name, shape, rng, per=None):
    """LIF with thresholds per element ("elem"), per channel ("channel") or one for the layer (None)."""
    thr = np.ones(shape)
    if per == "elem":
        thr = rng.uniform(0.5, 1.5, shape)
    elif per == "channel":
        thr = thr * rng.uniform(0.5, 1.5, (shape[0],) + (1,) * (len(shape) - 1))
    return ir.LIF(name=name, gain=np.ones(shape), bias=np.zeros(shape), threshold=thr, v_reset=np.zeros(shape),
                  alpha=np.full(shape, 0.75), reset="subtract")


def _head(name, n_in, rng):
    """Flatten -> Affine(n_in -> 5) -> LIF -> Output: a readout after a channel-last tensor."""
    return [ir.Flatten(name=f"{name}_flat"),
            ir.Affine(name=f"{name}_fc", weight=rng.normal(0, 1 / np.sqrt(n_in), (5, n_in)), bias=np.zeros(5)),
            _lif(f"{name}_lif", (5,), rng), ir.Output(name="out", shape=(5,))]


def _chain(nodes, extra=(), edges=()):
    return Graph({n.name: n for n in [*nodes, *extra]},
                 [(a.name, b.name) for a, b in zip(nodes, nodes[1:])] + list(edges), 1e-3)


def _case(key):  # noqa: C901 (one graph per case)
    """(graph, {node: expected layout}) of one case."""
    rng = np.random.default_rng(sum(map(ord, key)))
    if key == "nmnist_like":
        nodes = [ir.Input(name="in", shape=(2, 10, 10)), _conv("conv1", 2, 8, 3, rng), _lif("lif1", (8, 8, 8), rng),
                 ir.SumPool2d(name="pool1", kernel_size=(2, 2), stride=(2, 2)),
                 _conv("conv2", 8, 6, 3, rng, padding=(1, 1)), _lif("lif2", (6, 4, 4), rng), *_head("h", 96, rng)]
        return _chain(nodes), {"in": 0, "conv1": OUT_CL, "lif1": CL, "pool1": CL, "conv2": CL, "lif2": CL,
                               "h_flat": CL, "h_fc": IN_CL, "h_lif": 0, "out": 0}
    if key == "stride_pad_dilation":  # conv2: stride_x == dil_x (runs); conv3: stride_x != dil_x (tap by tap)
        nodes = [ir.Input(name="in", shape=(3, 13, 11)),
                 _conv("conv1", 3, 4, 3, rng, stride=(2, 2), padding=(1, 2), dilation=(2, 2)),
                 _lif("lif1", (4, 6, 6), rng),
                 _conv("conv2", 4, 6, 2, rng, stride=(2, 1), padding=(1, 0), dilation=(1, 1)),
                 _lif("lif2", (6, 4, 5), rng),
                 _conv("conv3", 6, 4, 3, rng, stride=(1, 2), padding=(1, 1), dilation=(2, 1)),
                 _lif("lif3", (4, 2, 3), rng), *_head("h", 24, rng)]
        return _chain(nodes), {"conv1": OUT_CL, "conv2": CL, "conv3": CL, "h_fc": IN_CL}
    if key == "groups_avgpool":
        nodes = [ir.Input(name="in", shape=(4, 9, 9)), _conv("conv1", 4, 6, 3, rng, groups=2),
                 _lif("lif1", (6, 7, 7), rng), ir.AvgPool2d(name="pool", kernel_size=(3, 3), stride=(2, 2),
                                                             padding=(1, 1)),
                 _conv("conv2", 6, 9, 2, rng, groups=3), _lif("lif2", (9, 3, 3), rng), *_head("h", 81, rng)]
        return _chain(nodes), {"conv1": OUT_CL, "pool": CL, "conv2": CL, "h_fc": IN_CL}
    if key == "conv1d":
        nodes = [ir.Input(name="in", shape=(2, 20)), _conv("c1", 2, 4, 3, rng, conv1d=True, padding=(1,)),
                 _lif("lif1", (4, 20), rng), _conv("c2", 4, 4, 3, rng, conv1d=True, stride=(2,), dilation=(2,)),
                 _lif("lif2", (4, 8), rng), *_head("h", 32, rng)]
        return _chain(nodes), {"c1": OUT_CL, "lif1": CL, "c2": CL, "h_fc": IN_CL}
    if key == "partial_flatten_conv1d":  # Flatten(1, 2) keeps the channel axis first: still channel-last
        nodes = [ir.Input(name="in", shape=(2, 6, 6)), _conv("conv", 2, 4, 3, rng), _lif("lif1", (4, 4, 4), rng),
                 ir.Flatten(name="f12", start_dim=1, end_dim=2), _conv("c1d", 4, 3, 3, rng, conv1d=True),
                 _lif("lif2", (3, 14), rng), *_head("h", 42, rng)]
        return _chain(nodes), {"conv": OUT_CL, "f12": CL, "c1d": CL, "h_fc": IN_CL}
    if key == "flatten_merging_channels":  # Flatten(0, 1) of [C][H][W]: row-major
        nodes = [ir.Input(name="in", shape=(2, 6, 6)), _conv("conv", 2, 4, 3, rng), _lif("lif1", (4, 4, 4), rng),
                 ir.Flatten(name="f01", start_dim=0, end_dim=1), _conv("c1d", 16, 3, 3, rng, conv1d=True),
                 _lif("lif2", (3, 2), rng), *_head("h", 6, rng)]
        return _chain(nodes), {"conv": 0, "lif1": 0, "f01": 0, "c1d": OUT_CL, "h_fc": IN_CL}
    if key in ("per_element", "per_channel"):
        per = key.split("_")[1].replace("element", "elem")
        nodes = [ir.Input(name="in", shape=(3, 7, 7)), _conv("conv", 3, 5, 3, rng), _lif("lif", (5, 5, 5), rng, per),
                 *_head("h", 125, rng)]
        cl = key == "per_element"
        return _chain(nodes), {"conv": OUT_CL if cl else 0, "lif": CL if cl else 0, "h_fc": IN_CL if cl else 0}
    if key == "output_of_conv_shape":  # the Output reads the conv chain: row-major; a later conv may still be
        nodes = [ir.Input(name="in", shape=(2, 6, 6)), _conv("conv", 2, 3, 3, rng), _lif("lif", (3, 4, 4), rng),
                 ir.Output(name="out", shape=(3, 4, 4))]
        return _chain(nodes), {"conv": 0, "lif": 0, "out": 0}
    if key == "recurrent":  # lif1 -> conv1 is a recurrent edge: its class stays row-major; conv2's is channel-last
        nodes = [ir.Input(name="in", shape=(3, 6, 6)), _conv("conv1", 3, 3, 3, rng, padding=(1, 1)),
                 _lif("lif1", (3, 6, 6), rng), _conv("conv2", 3, 4, 3, rng), _lif("lif2", (4, 4, 4), rng),
                 *_head("h", 64, rng)]
        return _chain(nodes, edges=[("lif1", "conv1")]), {"conv1": 0, "lif1": 0, "conv2": OUT_CL, "lif2": CL}
    if key == "two_convs_one_layer":  # both inputs of lif share its layout
        a, b = _conv("ca", 2, 4, 3, rng), _conv("cb", 2, 4, 3, rng, padding=(1, 1), dilation=(2, 2))
        inp, lif = ir.Input(name="in", shape=(2, 6, 6)), _lif("lif", (4, 4, 4), rng)
        head = _head("h", 64, rng)
        nodes = [lif, *head]
        return (_chain(nodes, extra=[inp, a, b], edges=[("in", "ca"), ("in", "cb"), ("ca", "lif"), ("cb", "lif")]),
                {"ca": OUT_CL, "cb": OUT_CL, "lif": CL, "h_fc": IN_CL})
    raise KeyError(key)


CASES = ["nmnist_like", "stride_pad_dilation", "groups_avgpool", "conv1d", "partial_flatten_conv1d",
         "flatten_merging_channels", "per_element", "per_channel", "output_of_conv_shape", "recurrent",
         "two_convs_one_layer"]


def _inputs(g, n=3, steps=6, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, steps, *g.input.shape)) < 0.3).astype(np.uint8)
    return x * rng.integers(1, 4, x.shape).astype(np.uint8)  # counts 1..3: the x = 2, 3 runs and x = 1


@pytest.mark.parametrize("key", CASES)
@pytest.mark.parametrize("config", [QuantConfig(8, 16), QuantConfig(4, 16), QuantConfig(2, 8)],
                         ids=["w8", "w4", "w2"])
def test_layouts_chosen_and_bit_exact(key, config):
    g, want = _case(key)
    x = _inputs(g)
    q = quantize(g, config, x)
    low = lower(q)
    got = {nd.name: nd.layout for nd in low.nodes}
    lif = next(nd for nd in low.nodes if nd.name == "lif") if key == "per_channel" else None
    if lif is not None and PM_CHANNEL not in lif.modes.values():  # the quantized thresholds came out equal
        want = {"conv": OUT_CL, "lif": CL, "h_fc": IN_CL}
    assert {k: got[k] for k in want} == want
    assert_same(simulate_fixed(q, x, record_states=True), run_c(q, x, record_states=True), key, qgraph=q)
    b = to_blob(q)
    assert to_blob(from_blob(b)) == b
    layer = run_c(q, x, schedule="fused")  # grouped schedules run the same layouts
    ref = simulate_fixed(q, x)
    np.testing.assert_array_equal(layer.outputs, ref.outputs)
    for k, cs in ref.counts.items():
        np.testing.assert_array_equal(layer.counts[k]["synops"], cs["synops"], err_msg=k)


def test_stochastic_rounding_keeps_neuron_chains_row_major():
    """The neuron kernel keys its noise by index, that of the row-major order: those chains stay row-major."""
    g, _ = _case("nmnist_like")
    x = _inputs(g)
    q = quantize(g, QuantConfig(8, 16, rounding="stochastic"), x)
    low = lower(q)
    assert all(nd.layout == 0 for nd in low.nodes if nd.kind in ("LIF", "Flatten", "Affine"))
    assert [nd.layout for nd in low.nodes if nd.name in ("pool1", "conv2")] == [OUT_CL, IN_CL]
    assert_same(simulate_fixed(q, x, record_states=True), run_c(q, x, record_states=True), "stochastic", qgraph=q)


def test_dense_rows_after_a_channel_last_flatten_are_permuted():
    g, _ = _case("nmnist_like")
    q = quantize(g, QuantConfig(8, 16), _inputs(g))
    low = lower(q)
    fc = next(nd for nd in low.nodes if nd.name == "h_fc")
    w = np.asarray(q.layers["h_fc"].params["weight"]).T  # [in][out], row-major input order
    perm = np.arange(96).reshape(6, 16).T.reshape(-1)   # [H*W][C] storage of [C=6][4][4]
    np.testing.assert_array_equal(fc.params["weight"].reshape(96, 5), w[perm])


def _patched_layout(blob: bytes, k: int, value: int) -> bytes:
    b = bytearray(blob)
    b[read_header(blob)["sections"][SEC_NODES][0] + k * NODE_BYTES + 14] = value
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[16:])))
    return bytes(b)


@pytest.mark.parametrize("node,value", [("in", OUT_CL), ("conv1", 4), ("conv2", OUT_CL), ("lif1", OUT_CL),
                                        ("h_fc", OUT_CL | IN_CL), ("h_lif", CL), ("out", IN_CL), ("conv1", 0)])
def test_inconsistent_layouts_are_refused_by_both_readers(node, value):
    g, _ = _case("nmnist_like")
    q = quantize(g, QuantConfig(8, 16), _inputs(g))
    names = [nd.name for nd in lower(q).nodes]
    bad = _patched_layout(to_blob(q), names.index(node), value)
    with pytest.raises(BlobError, match="ENUM|layout|enumeration"):
        CModel(bad)
    with pytest.raises(BlobError, match="layout"):
        validate_blob(bad)
