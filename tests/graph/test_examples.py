"""The committed example models: their recorded accuracy is what `simulate` gives, and the NIR
copy of each model computes exactly what the edgesnn JSON does. No torch needed."""

import json

import numpy as np
import pytest

from edgesnn.data import load_dataset
from edgesnn.graph import Graph
from edgesnn.graph.simulate import simulate
from tests.helpers.paths import EXAMPLES

RESULTS = json.loads((EXAMPLES / "models" / "results.json").read_text())
NAMES = ["digits_mlp", "digits_cnn"]


@pytest.fixture(scope="module")
def sims():
    """name -> (graph, inputs, labels, SimResult), each simulated once."""
    out = {}
    for name in NAMES:
        rec = RESULTS[name]
        graph = Graph.load(EXAMPLES / "models" / rec["model"])
        x, y = load_dataset(EXAMPLES / "data" / rec["test_data"])
        out[name] = (graph, x, y, simulate(graph, x))
    return out


def test_results_cover_both_models():
    assert set(NAMES) <= set(RESULTS)


@pytest.mark.parametrize("name", NAMES)
def test_accuracy_is_the_recorded_figure(sims, name):
    graph, x, y, sim = sims[name]
    rec = RESULTS[name]
    assert x.shape[0] == rec["test_samples"] and x.shape[1] == rec["steps"]
    acc = float(np.mean(sim.pred == y))
    assert acc == rec["accuracy"] == rec["accuracy_simulate"]
    assert acc >= 0.9


@pytest.mark.parametrize("name", NAMES)
def test_model_is_small_and_spiking(sims, name):
    graph = sims[name][0]
    assert graph.parameter_count() == RESULTS[name]["parameters"] < 20_000
    assert graph.output_spiking
    assert graph.output.shape == (10,)


@pytest.mark.parametrize("name", NAMES)
def test_nir_copy_gives_identical_outputs(sims, name):
    pytest.importorskip("nir")
    from edgesnn.graph.nir_io import read_nir
    graph, x, _, sim = sims[name]
    g2 = read_nir(EXAMPLES / "models" / RESULTS[name]["nir"], dt=graph.dt)
    assert [n.kind for n in g2.nodes.values()] == [n.kind for n in graph.nodes.values()]
    sim2 = simulate(g2, x)
    assert np.array_equal(sim2.outputs, sim.outputs)
    assert sim2.totals() == sim.totals()
    assert read_nir(EXAMPLES / "models" / RESULTS[name]["nir"], dt=None).dt == graph.dt  # dt in the file


def test_test_sets_hold_the_same_spikes():
    x, y = load_dataset(EXAMPLES / "data" / "digits_test.npz")
    xc, yc = load_dataset(EXAMPLES / "data" / "digits_test_cnn.npz")
    assert x.dtype == np.uint8 and x.shape[1:] == (16, 64) and xc.shape[1:] == (16, 1, 8, 8)
    assert np.array_equal(x.reshape(xc.shape), xc) and np.array_equal(y, yc)
    v, vy = load_dataset(EXAMPLES / "data" / "digits_val.npz")
    vc, vyc = load_dataset(EXAMPLES / "data" / "digits_val_cnn.npz")
    assert np.array_equal(v.reshape(vc.shape), vc) and np.array_equal(vy, vyc)
    assert v.shape[1:] == (16, 64)


def test_data_files_are_small():
    total = sum(p.stat().st_size for p in (EXAMPLES / "data").glob("*.npz"))
    assert total < 1_000_000
