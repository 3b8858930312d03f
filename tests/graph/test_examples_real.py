"""The real-sized trained examples (examples/train_real.py, examples/models/real/): they load from their 4-bit
packed files exactly, their recorded accuracy on the first test chunk is what `simulate` gives on inputs
regenerated from the seeds, and each blob at its plan's config fits the board the plan names. No torch."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from edgesnn.board import load_catalogue
from edgesnn.emit.blob import to_blob
from edgesnn.graph import Graph
from edgesnn.graph.simulate import simulate
from edgesnn.lower.program import SCHEDULES, lower
from edgesnn.quantize import QuantConfig, quantize
from tests.helpers.paths import EXAMPLES

REAL = EXAMPLES / "models" / "real"
RESULTS = json.loads((REAL / "results.json").read_text())
NAMES = ["mnist_mlp", "nmnist_cnn", "shd_alif", "shd_lif"]


def _train_real():
    sys.path.insert(0, str(EXAMPLES))
    import train_real
    return train_real


def test_every_model_is_recorded():
    assert sorted(RESULTS) == sorted(NAMES)
    assert sorted(p.stem for p in REAL.glob("*.json") if p.name != "results.json") == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_saved_small_and_loads_exactly(name):
    path = REAL / RESULTS[name]["model"]
    doc = json.loads(path.read_text())
    g = Graph.load(path)
    assert g.parameter_count() == RESULTS[name]["parameters"]
    weights = [(n["name"], n["weight"]) for n in doc["nodes"] if "weight" in n]
    assert weights and all(w.get("grid", {}).get("bits") == 4 for _, w in weights), "weights not 4-bit packed"
    # 4-bit weights and palettes: under one byte of file per stored value (float32 in base64 takes 5.3)
    assert path.stat().st_size < g.parameter_count()
    again = g.to_dict(compact=True)
    assert again["nodes"] == doc["nodes"] and again["edges"] == doc["edges"]  # save(load(file)) is the file


@pytest.mark.parametrize("name", NAMES)
def test_recorded_accuracy_on_the_first_test_chunk(name):
    tr = _train_real()
    rec = RESULTS[name]
    g = Graph.load(REAL / rec["model"])
    from train_examples import splits
    *_, x_te, y_te = splits()
    n = tr.CHUNK
    x = tr.encode(tr.TASKS[name], x_te[:n], tr.SEEDS["test"] * 1000)
    assert x.shape == (n, rec["steps"], *rec["input_shape"]) and x.dtype == np.uint8
    sim = simulate(g, x)
    assert float(np.mean(sim.pred == y_te[:n])) == rec[f"accuracy_simulate_first{n}"]
    data = EXAMPLES / "data" / rec["test_data"]
    if data.exists():  # the full test set written by training: its first chunk is the one made here
        from edgesnn.data import load_dataset
        xt, yt = load_dataset(data)
        np.testing.assert_array_equal(xt[:n], x)
        np.testing.assert_array_equal(yt, y_te)


@pytest.mark.parametrize("name", NAMES)
def test_blob_at_the_plans_config_fits_its_board(name):
    plans = RESULTS[name].get("plans")
    if not plans or not plans.get("board"):
        pytest.fail(f"{name}: no plan recorded (python examples/plan_real.py --models {name})")
    board = load_catalogue()[plans["board"]]
    q = quantize(Graph.load(REAL / RESULTS[name]["model"]), QuantConfig(**plans["config"]))
    spec = SCHEDULES[plans["schedule"]]
    steps = RESULTS[name]["steps"] if spec != "time" else None
    blob = to_blob(q, spec, steps)
    assert len(blob) <= board.flash_bytes
    assert lower(q, spec, steps).arena_size() <= board.sram_bytes
    assert plans["board"] in plans["boards_fit"]
