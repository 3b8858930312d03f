"""The recurrent sequential-digits examples (examples/train_recurrent.py): the recorded float and
fixed-point accuracies and synaptic operations are what `simulate` / `simulate_fixed` give, ALIF beats
LIF of the same size on the permuted task, and the LIF models' NIR copies predict the same. No torch."""

import json

import numpy as np
import pytest

from edgesnn.data import load_dataset
from edgesnn.graph import Graph, ir
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.graph.simulate import simulate
from edgesnn.quantize.reference import simulate_fixed
from tests.helpers.paths import EXAMPLES

RESULTS = json.loads((EXAMPLES / "models" / "results.json").read_text())
NAMES = ["seqdigits_alif", "seqdigits_lif", "psdigits_alif", "psdigits_lif"]


@pytest.fixture(scope="module")
def runs():
    out = {}
    for name in NAMES:
        rec = RESULTS[name]
        g = Graph.load(EXAMPLES / "models" / rec["model"])
        x, y = load_dataset(EXAMPLES / "data" / rec["test_data"])
        out[name] = (g, x, y, simulate(g, x))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_recorded_float_accuracy_and_synops(runs, name):
    g, x, y, sim = runs[name]
    rec = RESULTS[name]
    assert x.shape == (rec["test_samples"], 64, 4) and x.dtype == np.uint8
    assert float(np.mean(sim.pred == y)) == rec["accuracy"] == rec["accuracy_simulate"]
    synops = sum(int(c["synops"].sum()) for c in sim.counts.values()) / len(y)
    assert round(synops, 1) == rec["synops_per_sample"]
    kind = ir.ALIF if rec["neuron"] == "ALIF" else ir.LIF
    neuron = next(n for n in g.nodes.values() if isinstance(n, kind))
    assert neuron.size == rec["hidden"] == 64
    assert len(g.schedule().back_edges) == 1  # the recurrent connection


@pytest.mark.parametrize("name", NAMES)
def test_recorded_fixed_point_accuracy(runs, name):
    g, x, y, _ = runs[name]
    rec = RESULTS[name]
    val, _ = load_dataset(EXAMPLES / "data" / rec["val_data"])
    fc = rec["fixed_config"]
    q = quantize(g, QuantConfig(weight_bits=fc["weight_bits"], state_bits=fc["state_bits"], rounding=fc["rounding"]),
                 val)
    assert float(np.mean(simulate_fixed(q, x).pred == y)) == rec["accuracy_fixed"]


def test_alif_beats_lif_of_the_same_size_on_permuted_digits():
    alif, lif = RESULTS["psdigits_alif"], RESULTS["psdigits_lif"]
    assert alif["hidden"] == lif["hidden"]
    assert alif["accuracy"] > lif["accuracy"] and alif["accuracy_fixed"] > lif["accuracy_fixed"]


@pytest.mark.parametrize("name", ["seqdigits_lif", "psdigits_lif"])
def test_lif_nir_copy_predicts_the_same(runs, name):
    pytest.importorskip("nir")
    from edgesnn.graph.nir_io import read_nir
    g, x, _, sim = runs[name]
    g2 = read_nir(EXAMPLES / "models" / RESULTS[name]["nir"], dt=None)
    assert np.array_equal(simulate(g2, x).pred, sim.pred)
    assert "nir" not in RESULTS[name.replace("lif", "alif")]  # ALIF has no NIR form
