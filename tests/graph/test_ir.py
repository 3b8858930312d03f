"""Graph IR: every node kind round-trips exactly, shapes are inferred, every malformed graph is refused
with a message naming the node and field at fault, and back edges / schedules are what the module
docstring promises."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesnn.errors import EdgesnnError, GraphError
from edgesnn.graph import ir
from edgesnn.graph.ir import NODE_TYPES, Graph
from edgesnn.graph.simulate import simulate

F32 = np.float32
DT = 1e-3


def rnd(rng, shape, lo=-1.0, hi=1.0, dtype=F32):
    return rng.uniform(lo, hi, shape).astype(dtype)


def neuron_params(kind: str, shape, rng) -> dict:
    """Valid per-neuron parameters of a neuron kind (the fields without defaults)."""
    p = {"gain": rnd(rng, shape, 0.5, 1.5), "bias": rnd(rng, shape, -0.1, 0.3)}
    if kind in ("IF", "LIF", "CubaLIF"):
        p["threshold"] = rnd(rng, shape, 0.5, 1.5)
        p["v_reset"] = rnd(rng, shape, -0.5, 0.2)
    if kind in ("LIF", "LI", "CubaLIF", "CubaLI", "ALIF"):
        p["alpha"] = rnd(rng, shape, 0.0, 1.0)
    if kind in ("CubaLIF", "CubaLI"):
        p["alpha_syn"] = rnd(rng, shape, 0.0, 1.0)
        p["gain_syn"] = rnd(rng, shape, 0.5, 1.5)
    if kind == "ALIF":
        p["rho"] = rnd(rng, shape, 0.0, 1.0)
        p["b0"] = rnd(rng, shape, 0.5, 1.5)
        p["beta"] = rnd(rng, shape, 0.0, 0.5)
    return p


def special_values(shape, dtype) -> np.ndarray:
    """Values a decimal round trip would not preserve: -0.0, 0.1, 1/3, subnormals, large."""
    tiny = np.finfo(dtype).smallest_subnormal
    vals = np.array([-0.0, 0.1, 1 / 3, tiny, -tiny, 1e30, -2.5e-7, 0.7], dtype=dtype)
    return np.resize(vals, shape).astype(dtype)


# Every node kind: a factory returning (a valid node using non-default settings, its input shape).
def _input(rng):
    return ir.Input(name="n", shape=(2, 3)), None


def _output(rng):
    return ir.Output(name="n", shape=(2, 3)), (2, 3)


def _linear(rng):
    w = rng.normal(size=(3, 4))  # float64 on purpose: dtype must survive the round trip
    w.flat[:8] = special_values(8, np.float64)
    return ir.Linear(name="n", weight=w), (4,)


def _affine(rng):
    return ir.Affine(name="n", weight=special_values((3, 4), F32), bias=rnd(rng, (3,))), (4,)


def _conv1d(rng):
    return ir.Conv1d(name="n", weight=rnd(rng, (6, 2, 3)), bias=rnd(rng, (6,)), stride=2, padding=(1,),
                     dilation=[2], groups=2), (4, 11)


def _conv2d(rng):
    return ir.Conv2d(name="n", weight=rnd(rng, (6, 2, 3, 2)), bias=rnd(rng, (6,)), stride=(2, 1),
                     padding=(1, 0), dilation=(1, 2), groups=2), (4, 9, 8)


def _sumpool(rng):
    return ir.SumPool2d(name="n", kernel_size=(2, 3), stride=(2, 1), padding=(1, 1)), (2, 6, 7)


def _avgpool(rng):
    return ir.AvgPool2d(name="n", kernel_size=3, stride=2, padding=1), (2, 6, 7)


def _flatten(rng):
    return ir.Flatten(name="n", start_dim=-2, end_dim=2), (2, 3, 4)


def _scale(rng):
    return ir.Scale(name="n", scale=special_values((2, 3), F32)), (2, 3)


def _if(rng):
    return ir.IF(name="n", **neuron_params("IF", (5,), rng), reset="subtract", spike_rule=">=",
                 reset_late=True, max_spikes=3), (5,)


def _lif(rng):
    return ir.LIF(name="n", **neuron_params("LIF", (2, 3), rng), reset="value"), (2, 3)


def _li(rng):
    return ir.LI(name="n", **neuron_params("LI", (5,), rng)), (5,)


def _cubalif(rng):
    return ir.CubaLIF(name="n", **neuron_params("CubaLIF", (5,), rng), syn_delay=True, reset="zero",
                      spike_rule=">="), (5,)


def _cubali(rng):
    return ir.CubaLI(name="n", **neuron_params("CubaLI", (5,), rng), syn_delay=True), (5,)


def _alif(rng):
    return ir.ALIF(name="n", **neuron_params("ALIF", (5,), rng), spike_rule=">="), (5,)


def _threshold(rng):
    return ir.Threshold(name="n", threshold=rnd(rng, (2, 3), 0.5, 1.5), spike_rule=">="), (2, 3)


FACTORIES = {"Input": _input, "Output": _output, "Linear": _linear, "Affine": _affine, "Conv1d": _conv1d,
             "Conv2d": _conv2d, "SumPool2d": _sumpool, "AvgPool2d": _avgpool, "Flatten": _flatten,
             "Scale": _scale, "IF": _if, "LIF": _lif, "LI": _li, "CubaLIF": _cubalif, "CubaLI": _cubali,
             "ALIF": _alif, "Threshold": _threshold}


def make(kind: str, seed: int = 0):
    if kind not in FACTORIES:
        pytest.fail(f"node kind {kind!r} is registered in NODE_TYPES but has no test factory")
    node, in_shape = FACTORIES[kind](np.random.default_rng(seed))
    assert type(node) is NODE_TYPES[kind]
    return node, in_shape


def graph_around(node, in_shape) -> Graph:
    n = node.name
    if isinstance(node, ir.Input):
        return Graph({n: node, "out": ir.Output(name="out", shape=node.shape)}, [(n, "out")], DT)
    if isinstance(node, ir.Output):
        return Graph({"in": ir.Input(name="in", shape=node.shape), n: node}, [("in", n)], DT)
    out = node.out_shape(in_shape)
    return Graph({"in": ir.Input(name="in", shape=in_shape), n: node, "out": ir.Output(name="out", shape=out)},
                 [("in", n), (n, "out")], DT, meta={"note": "x", "nested": {"k": [1, 2]}})


def assert_nodes_identical(a: ir.Node, b: ir.Node):
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert isinstance(vb, np.ndarray), f.name
            assert va.dtype == vb.dtype, f.name
            assert va.shape == vb.shape, f.name
            assert va.tobytes() == vb.tobytes(), f"{f.name} not bit-identical"
        else:
            assert type(va) is type(vb), (f.name, va, vb)
            assert va == vb, f.name


def test_every_registered_kind_has_a_factory_and_vice_versa():
    assert set(FACTORIES) == set(NODE_TYPES)
    for kind, cls in NODE_TYPES.items():
        assert cls.kind == kind


@pytest.mark.parametrize("kind", sorted(NODE_TYPES))
def test_node_dict_round_trip_is_exact(kind):
    node, _ = make(kind)
    d = node.to_dict()
    assert d["kind"] == kind
    assert set(d) == {"kind"} | {f.name for f in dataclasses.fields(node)}
    text = json.dumps(d, allow_nan=False)  # plain JSON, no NaN tokens
    back = ir.Node.from_dict(json.loads(text))
    assert_nodes_identical(node, back)
    assert back.to_dict() == d


@pytest.mark.parametrize("kind", sorted(NODE_TYPES))
def test_graph_round_trip_through_json_simulates_identically(kind):
    node, in_shape = make(kind)
    g = graph_around(node, in_shape)
    text = json.dumps(g.to_dict())
    g2 = Graph.from_dict(json.loads(text))
    assert g2.dt == g.dt and g2.meta == g.meta and g2.edges == g.edges
    assert list(g2.nodes) == list(g.nodes)
    for k in g.nodes:
        assert_nodes_identical(g.nodes[k], g2.nodes[k])
    assert g2.schedule().order == g.schedule().order
    assert g2.schedule().shapes == g.schedule().shapes
    rng = np.random.default_rng(1)
    shape = g.input.shape
    for x in (rng.uniform(-0.5, 2.0, (2, 6, *shape)).astype(F32), rng.random((2, 6, *shape)) < 0.5):
        for dtype in (np.float32, np.float64):
            r1 = simulate(g, x, dtype=dtype, record_states=True)
            r2 = simulate(g2, x, dtype=dtype, record_states=True)
            np.testing.assert_array_equal(r1.outputs, r2.outputs)
            assert r1.output_spiking == r2.output_spiking
            assert r1.totals() == r2.totals()
            for k in r1.states:
                for var in r1.states[k]:
                    np.testing.assert_array_equal(r1.states[k][var], r2.states[k][var])


def test_graph_save_load_round_trip(tmp_path):
    node, in_shape = make("Conv2d")
    g = graph_around(node, in_shape)
    g.save(tmp_path / "g.json")
    g2 = Graph.load(tmp_path / "g.json")
    assert_nodes_identical(g.nodes["n"], g2.nodes["n"])
    d = json.loads((tmp_path / "g.json").read_text())
    assert d["artifact"] == "graph" and "edgesnn_version" in d


def test_parameter_count_and_output_spiking():
    node, in_shape = make("Conv2d")
    assert graph_around(node, in_shape).parameter_count() == 6 * 2 * 3 * 2 + 6
    assert graph_around(*make("LIF")).output_spiking
    assert graph_around(*make("ALIF")).output_spiking
    assert not graph_around(*make("LI")).output_spiking
    assert not graph_around(*make("Linear")).output_spiking


# ----------------------------------------------------------------------------------------------
# Shape inference
# ----------------------------------------------------------------------------------------------

def conv2d(w_shape, **kw):
    return ir.Conv2d(name="c", weight=np.zeros(w_shape, F32), bias=np.zeros(w_shape[0], F32), **kw)


@pytest.mark.parametrize("in_shape,w_shape,kw,expect", [
    ((3, 8, 8), (5, 3, 3, 3), {}, (5, 6, 6)),
    ((3, 8, 8), (5, 3, 3, 3), dict(padding=1), (5, 8, 8)),
    ((3, 8, 9), (5, 3, 3, 3), dict(stride=2), (5, 3, 4)),
    ((3, 8, 9), (5, 3, 3, 3), dict(stride=2, padding=1), (5, 4, 5)),
    ((3, 10, 12), (6, 1, 3, 3), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=3), (6, 5, 8)),
    ((4, 7, 7), (8, 2, 2, 3), dict(groups=2, dilation=3), (8, 4, 1)),
    ((2, 5, 5), (4, 2, 5, 5), {}, (4, 1, 1)),
    ((2, 1, 1), (4, 2, 3, 3), dict(padding=1), (4, 1, 1)),
    ((1, 9, 4), (2, 1, 1, 1), dict(stride=(4, 3)), (2, 3, 2)),
])
def test_conv2d_shape(in_shape, w_shape, kw, expect):
    node = conv2d(w_shape, **kw)
    assert node.out_shape(in_shape) == expect
    g = graph_around(node, in_shape)
    assert g.schedule().shapes["c"] == expect
    # the simulator produces exactly that shape
    r = simulate(g, np.ones((1, 1, *in_shape), F32))
    assert r.outputs.shape == (1, 1, *expect)


@pytest.mark.parametrize("in_shape,w_shape,kw,expect", [
    ((2, 10), (3, 2, 3), {}, (3, 8)),
    ((2, 10), (3, 2, 3), dict(stride=3), (3, 3)),
    ((4, 20), (8, 2, 5), dict(stride=3, padding=2, dilation=2, groups=2), (8, 6)),
    ((4, 20), (8, 1, 5), dict(stride=(3,), padding=[2], dilation=np.array([2]), groups=4), (8, 6)),
    ((1, 3), (1, 1, 3), dict(padding=5), (1, 11)),
])
def test_conv1d_shape(in_shape, w_shape, kw, expect):
    node = ir.Conv1d(name="c", weight=np.zeros(w_shape, F32), bias=np.zeros(w_shape[0], F32), **kw)
    assert node.out_shape(in_shape) == expect
    assert len(node.stride) == len(node.padding) == len(node.dilation) == 1
    r = simulate(graph_around(node, in_shape), np.ones((1, 1, *in_shape), F32))
    assert r.outputs.shape == (1, 1, *expect)


def test_conv2d_scalar_geometry_broadcasts_to_pairs():
    node = conv2d((2, 1, 3, 3), stride=2, padding=1, dilation=np.int64(2))
    assert node.stride == (2, 2) and node.padding == (1, 1) and node.dilation == (2, 2)
    assert all(type(v) is int for v in (*node.stride, *node.padding, *node.dilation))


@pytest.mark.parametrize("cls", [ir.SumPool2d, ir.AvgPool2d])
@pytest.mark.parametrize("in_shape,kw,expect", [
    ((2, 8, 8), dict(kernel_size=2, stride=2), (2, 4, 4)),
    ((2, 7, 9), dict(kernel_size=2, stride=2), (2, 3, 4)),
    ((2, 7, 9), dict(kernel_size=(2, 3), stride=(2, 2), padding=(1, 0)), (2, 4, 4)),
    ((3, 5, 5), dict(kernel_size=3, stride=1, padding=1), (3, 5, 5)),
    ((1, 6, 6), dict(kernel_size=(6, 1), stride=(1, 5)), (1, 1, 2)),
])
def test_pool_shape(cls, in_shape, kw, expect):
    node = cls(name="c", **kw)
    assert node.out_shape(in_shape) == expect
    r = simulate(graph_around(node, in_shape), np.ones((1, 1, *in_shape), F32))
    assert r.outputs.shape == (1, 1, *expect)


@pytest.mark.parametrize("start,end,expect", [
    (0, -1, (120,)),
    (1, -1, (2, 60)),
    (1, 2, (2, 12, 5)),
    (-2, -1, (2, 3, 20)),
    (-3, -2, (2, 12, 5)),
    (2, 2, (2, 3, 4, 5)),
    (0, 0, (2, 3, 4, 5)),
    (-4, 3, (120,)),
    (3, -1, (2, 3, 4, 5)),
])
def test_flatten_shape(start, end, expect):
    node = ir.Flatten(name="c", start_dim=start, end_dim=end)
    assert node.out_shape((2, 3, 4, 5)) == expect
    x = np.arange(2 * 2 * 3 * 4 * 5, dtype=F32).reshape(1, 2, 2, 3, 4, 5)
    r = simulate(graph_around(node, (2, 3, 4, 5)), x)
    np.testing.assert_array_equal(r.outputs, x.reshape(1, 2, *expect))


@pytest.mark.parametrize("start,end", [(3, 1), (4, -1), (0, 4), (-5, -1), (0, -5), (-1, -2)])
def test_flatten_dims_out_of_range(start, end):
    node = ir.Flatten(name="flat", start_dim=start, end_dim=end)
    with pytest.raises(GraphError, match=r"'flat'.*dims"):
        node.out_shape((2, 3, 4, 5))


def test_flatten_default_is_everything():
    assert ir.Flatten(name="f").out_shape((3, 4, 2)) == (24,)


def test_flatten_then_linear_uses_row_major_order():
    flat = ir.Flatten(name="f")
    w = np.zeros((1, 12), F32)
    w[0, 1 * 4 + 2] = 1.0  # picks x[1, 2] in row-major order
    g = Graph({"in": ir.Input(name="in", shape=(3, 4)), "f": flat, "fc": ir.Linear(name="fc", weight=w),
               "out": ir.Output(name="out", shape=(1,))}, [("in", "f"), ("f", "fc"), ("fc", "out")], DT)
    x = np.zeros((1, 1, 3, 4), F32)
    x[0, 0, 1, 2] = 7.0
    assert simulate(g, x).outputs[0, 0, 0] == 7.0


# ----------------------------------------------------------------------------------------------
# Validation errors
# ----------------------------------------------------------------------------------------------

def mlp_nodes(rng=None, **replace):
    """in(4) -> fc1 Linear(3x4) -> lif1 LIF(3) -> fc2 Affine(2x3) -> out(2)."""
    rng = rng or np.random.default_rng(0)
    nodes = {
        "in": ir.Input(name="in", shape=(4,)),
        "fc1": ir.Linear(name="fc1", weight=rnd(rng, (3, 4))),
        "lif1": ir.LIF(name="lif1", **neuron_params("LIF", (3,), rng)),
        "fc2": ir.Affine(name="fc2", weight=rnd(rng, (2, 3)), bias=rnd(rng, (2,))),
        "out": ir.Output(name="out", shape=(2,)),
    }
    nodes.update(replace)
    return nodes


MLP_EDGES = [("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "out")]


def lif1(**kw):
    p = neuron_params("LIF", (3,), np.random.default_rng(0))
    extra = {k: v for k, v in kw.items() if k not in p}
    p.update({k: v for k, v in kw.items() if k in p})
    return ir.LIF(name="lif1", **p, **extra)


def graph_error(nodes=None, edges=None, dt=DT, fragments=()):
    nodes = mlp_nodes() if nodes is None else nodes
    edges = MLP_EDGES if edges is None else edges
    with pytest.raises(GraphError) as ei:
        Graph(nodes, edges, dt)
    msg = str(ei.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


def test_the_base_mlp_is_valid():
    g = Graph(mlp_nodes(), MLP_EDGES, DT)
    assert g.schedule().order == ("in", "fc1", "lif1", "fc2", "out")
    assert g.schedule().back_edges == frozenset()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weight(bad):
    w = np.ones((3, 4), F32)
    w[1, 2] = bad
    graph_error(mlp_nodes(fc1=ir.Linear(name="fc1", weight=w)),
                fragments=("'fc1'", "'weight'", "non-finite", "(1, 2)"))


@pytest.mark.parametrize("field", ["alpha", "threshold", "v_reset", "gain", "bias"])
def test_non_finite_neuron_parameter(field):
    a = neuron_params("LIF", (3,), np.random.default_rng(0))[field].copy()
    a[2] = np.nan
    graph_error(mlp_nodes(lif1=lif1(**{field: a})), fragments=("'lif1'", f"'{field}'", "non-finite"))


def test_non_finite_bias_and_scale():
    graph_error(mlp_nodes(fc2=ir.Affine(name="fc2", weight=np.ones((2, 3), F32),
                                        bias=np.array([0, np.inf], F32))),
                fragments=("'fc2'", "'bias'"))
    nodes = {"in": ir.Input(name="in", shape=(2,)), "s": ir.Scale(name="s", scale=np.array([1, np.nan])),
             "out": ir.Output(name="out", shape=(2,))}
    graph_error(nodes, [("in", "s"), ("s", "out")], fragments=("'s'", "'scale'"))


def test_shape_mismatch_between_layers():
    graph_error(mlp_nodes(fc2=ir.Affine(name="fc2", weight=np.ones((2, 5), F32), bias=np.ones(2, F32))),
                fragments=("'fc2'", "(5,)", "(3,)"))


def test_linear_weight_of_wrong_rank():
    graph_error(mlp_nodes(fc1=ir.Linear(name="fc1", weight=np.ones((3, 4, 1), F32))),
                fragments=("'fc1'", "weight", "(3, 4, 1)"))


def test_output_shape_mismatch():
    graph_error(mlp_nodes(out=ir.Output(name="out", shape=(3,))), fragments=("'out'", "(2,)", "(3,)"))


def test_summing_inputs_of_different_shapes():
    nodes = mlp_nodes()
    nodes["fc0"] = ir.Linear(name="fc0", weight=np.ones((2, 4), F32))
    graph_error(nodes, MLP_EDGES + [("in", "fc0"), ("fc0", "lif1")],
                fragments=("'lif1'", "different shapes", "(2,)", "(3,)"))


def test_affine_bias_of_wrong_shape():
    graph_error(mlp_nodes(fc2=ir.Affine(name="fc2", weight=np.ones((2, 3), F32), bias=np.ones(3, F32))),
                fragments=("'fc2'", "bias", "(3,)", "(2,)"))


def test_conv_bias_of_wrong_shape():
    node = ir.Conv2d(name="conv", weight=np.ones((4, 2, 3, 3), F32), bias=np.ones(3, F32))
    with pytest.raises(GraphError, match=r"'conv'.*bias.*\(3,\).*\(4,\)"):
        graph_around(node, (2, 5, 5))


@pytest.mark.parametrize("w_shape,in_shape,kw,frag", [
    ((4, 2, 3, 3), (3, 5, 5), {}, "channels"),
    ((4, 1, 3, 3), (3, 5, 5), dict(groups=3), "channels"),  # 4 output channels not divisible by 3
    ((4, 2, 3, 3), (4, 5, 5), dict(groups=0), "groups"),
    ((4, 2, 3, 3), (2, 5, 5), dict(stride=0), "stride"),
    ((4, 2, 3, 3), (2, 5, 5), dict(padding=-1), "padding"),
    ((4, 2, 3, 3), (2, 5, 5), dict(dilation=0), "dilation"),
    ((4, 2, 6, 3), (2, 5, 5), {}, "smaller than the kernel"),
    ((4, 2, 3, 3), (2, 5, 5), dict(dilation=3), "smaller than the kernel"),
    ((4, 2, 3), (2, 5, 5), {}, "weight"),
    ((4, 2, 3, 3), (2, 5), {}, "input"),
])
def test_conv2d_geometry_errors(w_shape, in_shape, kw, frag):
    node = ir.Conv2d(name="conv", weight=np.ones(w_shape, F32), bias=np.ones(w_shape[0], F32), **kw)
    with pytest.raises(GraphError) as ei:
        node.out_shape(in_shape)
    assert "'conv'" in str(ei.value) and frag in str(ei.value)


@pytest.mark.parametrize("field", ["stride", "padding", "dilation"])
def test_conv2d_geometry_with_three_entries_is_a_graph_error(field):
    with pytest.raises(GraphError, match=rf"'conv'.*{field}"):
        ir.Conv2d(name="conv", weight=np.ones((2, 1, 1, 1), F32), bias=np.ones(2, F32), **{field: (1, 1, 1)})


def test_conv1d_geometry_with_two_entries_is_a_graph_error():
    with pytest.raises(GraphError, match=r"'conv'.*stride.*single"):
        ir.Conv1d(name="conv", weight=np.ones((2, 1, 1), F32), bias=np.ones(2, F32), stride=(1, 2))


@pytest.mark.parametrize("kw,frag", [
    (dict(kernel_size=0, stride=1), "kernel_size"),
    (dict(kernel_size=2, stride=0), "stride"),
    (dict(kernel_size=2, stride=1, padding=-1), "padding"),
    (dict(kernel_size=(6, 2), stride=1), "smaller than the kernel"),
])
def test_pool_geometry_errors(kw, frag):
    node = ir.SumPool2d(name="pool", **kw)
    with pytest.raises(GraphError) as ei:
        node.out_shape((2, 5, 5))
    assert "'pool'" in str(ei.value) and frag in str(ei.value)
    with pytest.raises(GraphError, match=r"'pool'.*\[C, H, W\]"):
        ir.AvgPool2d(name="pool", kernel_size=1, stride=1).out_shape((2, 5))


def test_scale_shape_mismatch():
    nodes = {"in": ir.Input(name="in", shape=(3,)), "sc": ir.Scale(name="sc", scale=np.ones(2, F32)),
             "out": ir.Output(name="out", shape=(3,))}
    graph_error(nodes, [("in", "sc"), ("sc", "out")], fragments=("'sc'", "scale", "(2,)", "(3,)"))


@pytest.mark.parametrize("kind", ["IF", "LIF", "LI", "CubaLIF", "CubaLI", "ALIF"])
def test_neuron_parameter_of_wrong_shape(kind):
    rng = np.random.default_rng(0)
    p = neuron_params(kind, (3,), rng)
    for field in p:
        bad = dict(p)
        bad[field] = np.resize(p[field], (4,))
        nodes = mlp_nodes(lif1=NODE_TYPES[kind](name="lif1", **bad))
        graph_error(nodes, fragments=("'lif1'", f"'{field}'", "(4,)", "(3,)"))
        bad[field] = p[field].reshape(3, 1)  # same size, different shape
        graph_error(mlp_nodes(lif1=NODE_TYPES[kind](name="lif1", **bad)),
                    fragments=("'lif1'", f"'{field}'", "(3, 1)"))


@pytest.mark.parametrize("kind,field", [("LIF", "alpha"), ("LI", "alpha"), ("CubaLIF", "alpha"),
                                        ("CubaLIF", "alpha_syn"), ("CubaLI", "alpha"),
                                        ("CubaLI", "alpha_syn"), ("ALIF", "alpha"), ("ALIF", "rho")])
@pytest.mark.parametrize("bad", [-0.01, 1.0001, 2.0, -1.0])
def test_decay_outside_unit_interval(kind, field, bad):
    p = neuron_params(kind, (3,), np.random.default_rng(0))
    p[field] = p[field].copy()
    p[field][1] = bad
    graph_error(mlp_nodes(lif1=NODE_TYPES[kind](name="lif1", **p)),
                fragments=("'lif1'", f"'{field}'", "[0, 1]"))


@pytest.mark.parametrize("kind,field", [("LIF", "alpha"), ("ALIF", "rho"), ("CubaLI", "alpha_syn")])
def test_decay_endpoints_are_allowed(kind, field):
    p = neuron_params(kind, (3,), np.random.default_rng(0))
    p[field] = np.array([0.0, 1.0, 0.5], F32)
    Graph(mlp_nodes(lif1=NODE_TYPES[kind](name="lif1", **p)), MLP_EDGES, DT)


@pytest.mark.parametrize("kind", ["IF", "LIF", "CubaLIF"])
@pytest.mark.parametrize("bad", [0.0, -0.5, -1e-30])
def test_non_positive_threshold(kind, bad):
    p = neuron_params(kind, (3,), np.random.default_rng(0))
    p["threshold"] = np.array([1.0, bad, 1.0], F32)
    graph_error(mlp_nodes(lif1=NODE_TYPES[kind](name="lif1", **p)), fragments=("'lif1'", "'threshold'", "positive"))


def test_alif_threshold_and_adaptation_ranges():
    p = neuron_params("ALIF", (3,), np.random.default_rng(0))
    graph_error(mlp_nodes(lif1=ir.ALIF(name="lif1", **{**p, "b0": np.array([1, 0, 1], F32)})),
                fragments=("'lif1'", "'b0'", "positive"))
    graph_error(mlp_nodes(lif1=ir.ALIF(name="lif1", **{**p, "beta": np.array([1, -0.1, 1], F32)})),
                fragments=("'lif1'", "'beta'", "non-negative"))
    graph_error(mlp_nodes(lif1=ir.ALIF(name="lif1", **p, spike_rule="<")),
                fragments=("'lif1'", "spike_rule", "'<'"))
    Graph(mlp_nodes(lif1=ir.ALIF(name="lif1", **{**p, "beta": np.zeros(3, F32)})), MLP_EDGES, DT)


@pytest.mark.parametrize("kw,frags", [
    (dict(reset="hard"), ("reset", "'hard'")),
    (dict(reset="Zero"), ("reset", "'Zero'")),
    (dict(spike_rule="=>"), ("spike_rule", "'=>'")),
    (dict(spike_rule="<"), ("spike_rule", "'<'")),
    (dict(reset="zero", reset_late=True), ("reset_late", "subtract")),
    (dict(reset="value", reset_late=True), ("reset_late", "subtract")),
    (dict(reset="subtract", max_spikes=0), ("max_spikes", "0")),
    (dict(reset="subtract", max_spikes=256), ("max_spikes", "256")),
    (dict(reset="subtract", max_spikes=-3), ("max_spikes", "-3")),
    (dict(reset="zero", max_spikes=2), ("spikes", "subtract")),
    (dict(reset="value", max_spikes=255), ("spikes", "subtract")),
])
def test_bad_spiking_settings(kw, frags):
    graph_error(mlp_nodes(lif1=lif1(**kw)), fragments=("'lif1'", *frags))


@pytest.mark.parametrize("kw", [dict(reset="subtract", reset_late=True, max_spikes=255),
                                dict(reset="subtract", max_spikes=1), dict(reset="value", spike_rule=">=")])
def test_good_spiking_settings(kw):
    Graph(mlp_nodes(lif1=lif1(**kw)), MLP_EDGES, DT)


def test_input_shape_must_be_positive():
    for shape in [(), (0,), (4, -1)]:
        graph_error(mlp_nodes(**{"in": ir.Input(name="in", shape=shape)}), fragments=("'in'", "shape"))


def test_edge_naming_missing_node():
    graph_error(edges=MLP_EDGES + [("lif1", "ghost")], fragments=("'ghost'", "does not exist"))
    graph_error(edges=MLP_EDGES + [("ghost", "fc2")], fragments=("'ghost'", "does not exist"))


def test_duplicate_edges():
    graph_error(edges=MLP_EDGES + [("fc1", "lif1")], fragments=("duplicate",))


def test_node_stored_under_another_name():
    nodes = mlp_nodes()
    nodes["fc1"] = ir.Linear(name="dense", weight=np.ones((3, 4), F32))
    graph_error(nodes, fragments=("'fc1'", "'dense'"))


def test_non_node_value():
    graph_error(mlp_nodes(fc1={"kind": "Linear"}), fragments=("'fc1'", "not an edgesnn node"))


def test_node_not_reachable_from_input():
    nodes = mlp_nodes(orphan=ir.LIF(name="orphan", **neuron_params("LIF", (3,), np.random.default_rng(0))))
    graph_error(nodes, fragments=("not reachable", "'orphan'"))
    # an unreachable node that feeds a reachable one is still unreachable
    graph_error(nodes, MLP_EDGES + [("orphan", "fc2")], fragments=("not reachable", "'orphan'"))
    # a cycle hanging off nothing
    nodes["orphan2"] = ir.LIF(name="orphan2", **neuron_params("LIF", (3,), np.random.default_rng(0)))
    msg = graph_error(nodes, MLP_EDGES + [("orphan", "orphan2"), ("orphan2", "orphan")],
                      fragments=("not reachable", "'orphan'", "'orphan2'"))
    assert "'fc1'" not in msg


def test_two_input_nodes():
    nodes = mlp_nodes(in2=ir.Input(name="in2", shape=(4,)))
    graph_error(nodes, MLP_EDGES + [("in2", "fc1")], fragments=("exactly one Input", "'in'", "'in2'"))


def test_two_or_no_output_nodes():
    nodes = mlp_nodes(out2=ir.Output(name="out2", shape=(2,)))
    graph_error(nodes, MLP_EDGES + [("fc2", "out2")], fragments=("exactly one Output", "'out'", "'out2'"))
    nodes = mlp_nodes()
    del nodes["out"]
    graph_error(nodes, MLP_EDGES[:-1], fragments=("exactly one Output", "found 0"))


def test_output_with_outgoing_edge():
    graph_error(edges=MLP_EDGES + [("out", "fc2")], fragments=("Output", "'out'", "outgoing"))


def test_input_with_incoming_edge():
    nodes = mlp_nodes(sc=ir.Scale(name="sc", scale=np.ones(4, F32)))
    graph_error(nodes, MLP_EDGES + [("in", "sc"), ("sc", "in")], fragments=("Input", "'in'", "incoming"))


def test_node_reached_through_a_back_edge_listed_first_still_has_its_forward_input():
    """A node of a reachable graph always has a forward input (the DFS tree edge that reached it), so
    'fed only by recurrent edges' cannot arise from a graph whose every node is reachable; here the
    back edge into the LIF is listed before its forward edge and the forward edge is still used."""
    nodes = mlp_nodes(rec=ir.Linear(name="rec", weight=np.eye(3, dtype=F32)))
    edges = [("in", "fc1"), ("rec", "lif1"), ("fc1", "lif1"), ("lif1", "rec"), ("lif1", "fc2"), ("fc2", "out")]
    g = Graph(nodes, edges, DT)
    assert g.schedule().back_edges == frozenset({("rec", "lif1")})
    assert g._forward_input("lif1", g.schedule().back_edges) == "fc1"


def test_recurrent_edge_of_wrong_shape():
    nodes = mlp_nodes()
    # lif1 (3,) back into fc1, which receives the input's (4,)
    graph_error(nodes, MLP_EDGES + [("lif1", "fc1")],
                fragments=("recurrent edge", "'lif1'", "'fc1'", "(3,)", "(4,)"))
    # fc2 (2,) back into lif1 (3,)
    graph_error(nodes, MLP_EDGES + [("fc2", "lif1")],
                fragments=("recurrent edge", "'fc2'", "'lif1'", "(2,)", "(3,)"))


@pytest.mark.parametrize("dt", [0, 0.0, -1e-3, float("nan"), float("inf"), "0.001", None, [1e-3]])
def test_bad_dt(dt):
    graph_error(dt=dt, fragments=("dt", repr(dt)))


def test_good_dt_types():
    for dt in (1, 1e-4, np.float64(1e-3)):
        Graph(mlp_nodes(), MLP_EDGES, dt)


# -- dict / file errors --------------------------------------------------------------------

def mlp_dict() -> dict:
    return json.loads(json.dumps(Graph(mlp_nodes(), MLP_EDGES, DT).to_dict()))


def from_dict_error(d, *fragments, cls=GraphError):
    with pytest.raises(cls) as ei:
        Graph.from_dict(d, where="model.json")
    msg = str(ei.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


@pytest.mark.parametrize("obj,frag", [([], "list"), (None, "NoneType"), ("graph", "str"),
                                      ({"artifact": "plan"}, "plan"), ({"nodes": []}, "None")])
def test_from_dict_on_something_that_is_not_a_graph(obj, frag):
    from_dict_error(obj, "model.json", "not an edgesnn graph", frag)


def test_unknown_node_kind_in_dict():
    with pytest.raises(GraphError, match=r"'x'.*unknown node kind 'Foo'"):
        ir.Node.from_dict({"kind": "Foo", "name": "x"})
    d = mlp_dict()
    d["nodes"][2]["kind"] = "LIFF"
    from_dict_error(d, "model.json", "'lif1'", "'LIFF'", "LIF")
    d = mlp_dict()
    del d["nodes"][1]["kind"]
    from_dict_error(d, "model.json", "'fc1'", "unknown node kind None")


@pytest.mark.parametrize("kind", sorted(NODE_TYPES))
def test_missing_required_field(kind):
    node, _ = make(kind)
    d = node.to_dict()
    required = [f.name for f in dataclasses.fields(type(node))
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    assert "name" in required
    for field in required:
        bad = {k: v for k, v in d.items() if k != field}
        with pytest.raises(GraphError) as ei:
            ir.Node.from_dict(bad)
        assert f"missing field {field!r}" in str(ei.value)
        if field != "name":
            assert "'n'" in str(ei.value) and kind in str(ei.value)


@pytest.mark.parametrize("kind", sorted(NODE_TYPES))
def test_optional_fields_may_be_left_out(kind):
    node, _ = make(kind)
    d = node.to_dict()
    optional = [f for f in dataclasses.fields(type(node)) if f.default is not dataclasses.MISSING]
    for f in optional:
        del d[f.name]
    back = ir.Node.from_dict(d)
    for f in optional:
        assert getattr(back, f.name) == f.default, f.name


def test_unknown_field():
    node, _ = make("LIF")
    d = node.to_dict()
    d["tau"] = 0.5
    with pytest.raises(GraphError, match=r"'n' \(LIF\).*unknown fields \['tau'\]"):
        ir.Node.from_dict(d)
    g = mlp_dict()
    g["nodes"][1]["extra"] = 1
    from_dict_error(g, "model.json", "'fc1'", "unknown fields", "'extra'")


def test_missing_graph_fields():
    for key in ("nodes", "edges", "dt"):
        d = mlp_dict()
        del d[key]
        from_dict_error(d, "model.json", "missing field", repr(key))
    d = mlp_dict()
    del d["meta"]
    assert Graph.from_dict(d).meta == {}


def test_duplicate_node_names_in_dict():
    d = mlp_dict()
    d["nodes"].append(copy.deepcopy(d["nodes"][1]))
    from_dict_error(d, "model.json", "duplicate node names")


def test_graph_level_errors_from_dict_carry_the_location():
    d = mlp_dict()
    d["edges"].append(["lif1", "ghost"])
    from_dict_error(d, "model.json", "'ghost'")
    d = mlp_dict()
    d["dt"] = -1
    from_dict_error(d, "model.json", "dt")
    d = mlp_dict()
    d["nodes"][2]["reset"] = "bogus"
    from_dict_error(d, "model.json", "'lif1'", "'bogus'")


@pytest.mark.parametrize("corrupt", [
    lambda a: a.update(b64="!!!not base64!!!"),
    lambda a: a.update(b64=a["b64"][:-8]),          # valid characters, too few bytes
    lambda a: a.update(b64=a["b64"] + "AAAA"),      # too many bytes
    lambda a: a.update(shape=[5, 5]),
    lambda a: a.update(dtype="complex128"),
    lambda a: a.update(dtype="nonsense"),
    lambda a: a.pop("dtype"),
    lambda a: a.pop("shape"),
])
def test_corrupted_array(corrupt):
    d = mlp_dict()
    corrupt(d["nodes"][1]["weight"])
    from_dict_error(d, "'fc1'", "'weight'", "malformed", cls=EdgesnnError)


def test_corrupted_array_is_a_graph_error_naming_the_file():
    d = mlp_dict()
    d["nodes"][1]["weight"]["b64"] = "!!!not base64!!!"
    from_dict_error(d, "model.json", "'fc1'", "'weight'")


@pytest.mark.parametrize("value", [[[1.0, 2.0, 3.0, 4.0]] * 3, 1.5])
def test_array_field_given_as_plain_json_is_a_graph_error(value):
    d = mlp_dict()
    d["nodes"][1]["weight"] = value
    from_dict_error(d, "'fc1'", "'weight'")


@pytest.mark.parametrize("mutate", [
    lambda d: d["nodes"].__setitem__(1, 5),                       # node entry not an object
    lambda d: d["edges"].__setitem__(0, ["in", "fc1", "lif1"]),   # edge with three ends
])
def test_malformed_node_or_edge_entry_is_a_graph_error(mutate):
    d = mlp_dict()
    mutate(d)
    from_dict_error(d, "model.json")


def test_load_reports_missing_file_and_bad_json(tmp_path):
    with pytest.raises(EdgesnnError, match="no such file"):
        Graph.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EdgesnnError, match="not valid JSON"):
        Graph.load(tmp_path / "bad.json")
    (tmp_path / "plan.json").write_text(json.dumps({"artifact": "plan"}))
    with pytest.raises(GraphError, match="plan.json.*not an edgesnn graph"):
        Graph.load(tmp_path / "plan.json")


# ----------------------------------------------------------------------------------------------
# Back edges and schedules
# ----------------------------------------------------------------------------------------------

def assert_topological(g: Graph):
    s = g.schedule()
    assert sorted(s.order) == sorted(g.nodes)
    assert s.order[0] == g.input.name
    pos = {k: i for i, k in enumerate(s.order)}
    for a, b in g.edges:
        if (a, b) not in s.back_edges:
            assert pos[a] < pos[b], (a, b, s.order)
    for a, b in s.back_edges:
        assert pos[a] >= pos[b], (a, b)


def recurrent_lif(edges_order=0):
    rng = np.random.default_rng(0)
    nodes = {"in": ir.Input(name="in", shape=(2,)),
             "fc_in": ir.Linear(name="fc_in", weight=rnd(rng, (3, 2))),
             "lif": ir.LIF(name="lif", **neuron_params("LIF", (3,), rng)),
             "fc_rec": ir.Linear(name="fc_rec", weight=rnd(rng, (3, 3))),
             "out": ir.Output(name="out", shape=(3,))}
    edges = [("in", "fc_in"), ("fc_in", "lif"), ("lif", "fc_rec"), ("fc_rec", "lif"), ("lif", "out")]
    if edges_order:
        edges = edges[::-1]
    return Graph(nodes, edges, DT)


@pytest.mark.parametrize("edges_order", [0, 1])
def test_recurrent_layer_back_edge(edges_order):
    g = recurrent_lif(edges_order)
    s = g.schedule()
    assert s.back_edges == frozenset({("fc_rec", "lif")})
    assert_topological(g)
    assert s.shapes == {"in": (2,), "fc_in": (3,), "lif": (3,), "fc_rec": (3,), "out": (3,)}


def test_two_node_cycle():
    rng = np.random.default_rng(0)
    nodes = {"in": ir.Input(name="in", shape=(3,)),
             "a": ir.LIF(name="a", **neuron_params("LIF", (3,), rng)),
             "b": ir.LIF(name="b", **neuron_params("LIF", (3,), rng)),
             "out": ir.Output(name="out", shape=(3,))}
    g = Graph(nodes, [("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")], DT)
    assert g.schedule().back_edges == frozenset({("b", "a")})
    assert g.schedule().order == ("in", "a", "b", "out")
    assert_topological(g)


def test_self_loop_is_a_back_edge():
    rng = np.random.default_rng(0)
    nodes = {"in": ir.Input(name="in", shape=(3,)),
             "a": ir.LIF(name="a", **neuron_params("LIF", (3,), rng)),
             "out": ir.Output(name="out", shape=(3,))}
    g = Graph(nodes, [("in", "a"), ("a", "a"), ("a", "out")], DT)
    assert g.schedule().back_edges == frozenset({("a", "a")})


def test_diamond_has_no_back_edges_and_a_topological_order():
    rng = np.random.default_rng(0)
    nodes = {"in": ir.Input(name="in", shape=(3,)),
             **{k: ir.Scale(name=k, scale=rnd(rng, (3,))) for k in "abcd"},
             "out": ir.Output(name="out", shape=(3,))}
    edges = [("in", "a"), ("a", "c"), ("in", "b"), ("b", "d"), ("c", "d"), ("a", "d"), ("d", "out"), ("b", "c")]
    g = Graph(nodes, edges, DT)
    assert g.schedule().back_edges == frozenset()
    assert_topological(g)


def test_nested_cycles():
    rng = np.random.default_rng(0)
    nodes = {"in": ir.Input(name="in", shape=(2,)),
             **{k: ir.Scale(name=k, scale=rnd(rng, (2,))) for k in "abcd"},
             "out": ir.Output(name="out", shape=(2,))}
    edges = [("in", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "b"), ("d", "out")]
    g = Graph(nodes, edges, DT)
    assert g.schedule().back_edges == frozenset({("c", "a"), ("d", "b")})
    assert g.schedule().order == ("in", "a", "b", "c", "d", "out")
    assert_topological(g)


def dfs_back_edges(start, edges):
    """Independent recursive DFS in edge order: the edges that reach a node on the current path."""
    on_path, seen, back = set(), set(), set()

    def visit(u):
        seen.add(u)
        on_path.add(u)
        for a, b in edges:
            if a != u:
                continue
            if b in on_path:
                back.add((a, b))
            elif b not in seen:
                visit(b)
        on_path.discard(u)

    visit(start)
    return frozenset(back)


@st.composite
def scale_graphs(draw):
    k = draw(st.integers(1, 6))
    names = [f"s{i}" for i in range(k)]
    edges = [("in", "s0")]
    for i in range(1, k):  # a spanning tree keeps every node reachable
        parent = draw(st.integers(-1, i - 1))
        edges.append(("in" if parent < 0 else f"s{parent}", f"s{i}"))
    extra = draw(st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=8))
    edges += [(f"s{a}", f"s{b}") for a, b in extra]
    outs = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True))
    edges += [(f"s{i}", "out") for i in outs]
    edges = list(dict.fromkeys(edges))
    edges = draw(st.permutations(edges))
    scales = [draw(st.sampled_from([-1.0, -0.5, 0.25, 0.5, 1.0])) for _ in names]
    return names, edges, scales


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scale_graphs(), st.integers(0, 2**32 - 1))
def test_random_cyclic_graphs_schedule_and_simulate(case, seed):
    names, edges, scales = case
    nodes = {"in": ir.Input(name="in", shape=(2,)), "out": ir.Output(name="out", shape=(2,))}
    for n, s in zip(names, scales):
        nodes[n] = ir.Scale(name=n, scale=np.full(2, s, np.float64))
    g = Graph(nodes, edges, DT)
    back = g.schedule().back_edges
    assert back == dfs_back_edges("in", edges)
    assert_topological(g)
    # removing the back edges leaves a DAG, every back edge closes a cycle: its head reaches its tail
    fwd = [e for e in edges if e not in back]
    for a, b in back:
        reach, todo = {b}, [b]
        while todo:
            u = todo.pop()
            for x, y in fwd:
                if x == u and y not in reach:
                    reach.add(y)
                    todo.append(y)
        assert a in reach

    # independent semantics: forward edges carry this step's value, back edges last step's (0 at t=0)
    rng = np.random.default_rng(seed)
    T = 4
    x = rng.integers(-2, 3, (1, T, 2)).astype(np.float64)
    preds = {k: [a for a, b in edges if b == k] for k in nodes}
    prev = {k: np.zeros(2) for k in nodes}
    expect = np.zeros((T, 2))
    for t in range(T):
        cur = {}

        def val(k):
            if k not in cur:
                if k == "in":
                    cur[k] = x[0, t]
                else:
                    total = np.zeros(2)
                    for a in preds[k]:
                        total = total + (prev[a] if (a, k) in back else val(a))
                    cur[k] = total * nodes[k].scale if k != "out" else total
            return cur[k]

        for k in nodes:
            val(k)
        expect[t] = cur["out"]
        prev = cur
    r = simulate(g, x, dtype=np.float64)
    np.testing.assert_allclose(r.outputs[0], expect, rtol=1e-12, atol=1e-12)
