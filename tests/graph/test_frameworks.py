"""Faithfulness: edgesnn simulates NIR files written by snnTorch, Norse, Sinabs, SpikingJelly and
Rockpool exactly as the frameworks themselves ran them (tests/fixtures, made by make_fixtures.py)."""

import json

import numpy as np
import pytest

pytest.importorskip("nir")

from edgesnn.graph import ir  # noqa: E402
from edgesnn.graph.nir_io import read_nir  # noqa: E402
from edgesnn.graph.simulate import simulate  # noqa: E402
from tests.helpers.paths import FIXTURES  # noqa: E402

CASES = sorted(p.stem for p in FIXTURES.glob("*.nir"))
FRAMEWORKS = {"snntorch", "norse", "sinabs", "spikingjelly", "rockpool"}
DT_FROM_DIALECT = {"snntorch", "sinabs", "rockpool"}


def load(case):
    meta = json.loads((FIXTURES / f"{case}.json").read_text())
    with np.load(FIXTURES / f"{case}.npz") as z:
        data = {k: z[k] for k in z.files}
    # snnTorch (dt fixed by its exporter), Sinabs (steps) and Rockpool (dt recovered from r) need no dt
    dt = None if meta["framework"] in DT_FROM_DIALECT else float(data["dt"])
    graph = read_nir(FIXTURES / f"{case}.nir", dt=dt, dialect=meta["framework"])
    assert graph.dt == float(data["dt"])
    return meta, data, graph


def test_fixtures_cover_at_least_four_frameworks():
    seen = {c.split("_")[0] for c in CASES}
    assert len(seen & FRAMEWORKS) >= 4, seen


@pytest.mark.parametrize("case", CASES)
def test_output_matches_the_framework(case):
    meta, data, graph = load(case)
    inputs = data["inputs"].reshape(*data["inputs"].shape[:2], *graph.input.shape)
    r = simulate(graph, inputs, record_states=False)
    out = r.outputs.reshape(data["out"].shape)
    if graph.output_spiking:
        assert data["out"].sum() > 0, "the fixture's output never spikes"
        differ = np.mean(out != data["out"])
        assert differ == 0, f"{differ:.2%} of output spike entries differ from {meta['framework']}"
    else:
        np.testing.assert_allclose(out, data["out"], rtol=1e-4, atol=1e-4 * np.abs(data["out"]).max())


@pytest.mark.parametrize("case", CASES)
def test_hidden_spikes_match_the_framework(case):
    meta, data, graph = load(case)
    inputs = data["inputs"].reshape(*data["inputs"].shape[:2], *graph.input.shape)
    hidden = [k[len("hidden_"):] for k in data if k.startswith("hidden_")]
    assert hidden, "fixture has no hidden layer recorded"
    # Record a hidden layer by making it the graph's output.
    for node in hidden:
        assert node in graph.nodes, f"hidden node {node!r} not in the imported graph"
        g = _with_output_at(graph, node)
        got = simulate(g, inputs).outputs.reshape(data[f"hidden_{node}"].shape)
        assert np.mean(got != data[f"hidden_{node}"]) == 0, f"hidden layer {node!r} differs"


def _with_output_at(graph: ir.Graph, node: str) -> ir.Graph:
    shape = graph.schedule().shapes[node]
    nodes = {k: v for k, v in graph.nodes.items() if not isinstance(v, ir.Output)}
    nodes["probe"] = ir.Output(name="probe", shape=shape)
    edges = [e for e in graph.edges if not isinstance(graph.nodes[e[1]], ir.Output)] + [(node, "probe")]
    return ir.Graph(nodes, edges, graph.dt)


@pytest.mark.parametrize("case", [c for c in CASES if c.endswith("_ties")])
def test_spike_rule_is_pinned_by_the_ties_fixtures(case):
    """In the *_ties fixtures v lands exactly on the threshold; the other rule must disagree."""
    meta, data, graph = load(case)
    flipped = {">": ">=", ">=": ">"}
    nodes = dict(graph.nodes)
    for k, n in nodes.items():
        if isinstance(n, ir.NEURON_TYPES) and n.spiking:
            d = n.to_dict()
            d["spike_rule"] = flipped[n.spike_rule]
            nodes[k] = ir.Node.from_dict(d)
    g = ir.Graph(nodes, graph.edges, graph.dt)
    inputs = data["inputs"].reshape(*data["inputs"].shape[:2], *graph.input.shape)
    assert np.mean(simulate(g, inputs).outputs.reshape(data["out"].shape) != data["out"]) > 0.01
