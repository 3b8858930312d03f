"""The racing search (edgesnn/plan/race.py) against the exhaustive grid: the same chosen plan and front on the
example models while running a fraction of the candidate x input pairs; memory-infeasible plans reported
without simulating anything."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.data import load_dataset
from edgesnn.emit.blob import to_blob
from edgesnn.graph import Graph
from edgesnn.plan import Infeasible
from edgesnn.plan.quant_search import candidates
from edgesnn.plan.race import _bounds, weight_floor
from edgesnn.plan.search import plan
from edgesnn.quantize import QuantConfig, quantize
from tests.helpers.boards import board_variant
from tests.helpers.paths import DATA, MODELS


def _front(p):
    return [{k: v for k, v in r.items() if k != "memory"} for r in p.front]


@pytest.mark.needs_c_ext
@pytest.mark.parametrize("model,data,max_drop", [("digits_mlp", "digits_val.npz", 0.01),
                                                  ("seqdigits_lif", "seqdigits_val.npz", 0.02)])
def test_race_plans_as_the_exhaustive_grid_on_a_fraction_of_the_runs(model, data, max_drop):
    g = Graph.load(MODELS / f"{model}.json")  # seqdigits_lif: a recurrent LIF layer (rec1 -> lif1)
    x, y = load_dataset(DATA / data)
    kw = dict(max_drop=max_drop, workers=2, sensitivity=False, measure=False)
    ex = plan(g, get_board(), x, y, search="exhaustive", **kw)
    ra = plan(g, get_board(), x, y, search="race", **kw)
    assert not isinstance(ex, Infeasible) and not isinstance(ra, Infeasible)
    assert ra.qgraph.config == ex.qgraph.config and ra.schedule == ex.schedule and ra.accuracy == ex.accuracy
    assert ra.qgraph.meta.get("stateless") == ex.qgraph.meta.get("stateless")
    assert _front(ra) == _front(ex)
    assert ra.searched == ex.searched == len(candidates(g))
    info = ra.search_space["search"]
    assert info["pairs_exhaustive"] == len(candidates(g)) * len(y)
    assert info["pairs"] < info["pairs_exhaustive"]          # something was ruled out before all inputs ran
    assert info["dropped_target"] + info["dropped_front"] > 0
    assert info["fraction"] == pytest.approx(info["pairs"] / info["pairs_exhaustive"])


@pytest.mark.needs_c_ext
def test_flash_alone_rules_out_everything_without_a_simulation(tmp_path):
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    cs = [QuantConfig(weight_bits=w, state_bits=s) for w in (2, 4, 8) for s in (12, 16)]
    small = board_variant(tmp_path, "tiny-flash", flash_bytes=16 * 1024)
    ex = plan(g, small, x, y, configs=cs, workers=1, sensitivity=False, measure=False, search="exhaustive")
    ra = plan(g, small, x, y, configs=cs, workers=1, sensitivity=False, measure=False, search="race")
    assert isinstance(ex, Infeasible) and isinstance(ra, Infeasible)
    assert ra.reason == ex.reason and ra.bound == ex.bound and ra.gap == ex.gap
    assert {k: v for k, v in ra.demand.items() if k != "search"} == ex.demand
    assert ra.demand["search"].startswith(f"{len(cs)} of {len(cs)} candidates ruled out")
    assert "0 candidate x input runs" in ra.demand["search"]


@pytest.mark.needs_c_ext
def test_weight_floor_is_a_lower_bound_of_every_blob():
    g = Graph.load(MODELS / "digits_mlp.json")
    x, _ = load_dataset(DATA / "digits_val.npz")
    blobs = {w: len(to_blob(quantize(g, QuantConfig(weight_bits=w), x[:16]))) for w in (1, 2, 3, 4, 5, 8, 12, 16)}
    for w, blob in blobs.items():
        assert weight_floor(g, w) <= blob
    # the weights' packed bytes: 64 x 128 + 128 x 10 weights at 16 bits are 18,944 B; the rest of the blob (headers,
    # biases, neuron parameters, whose storage depends on their values) is what the floor leaves out
    assert weight_floor(g, 16) == 2 * (64 * 128 + 128 * 10)
    assert weight_floor(g, 2) == 64 * (128 * 2 // 8) + 128 * 3  # rows of 10 two-bit weights take 3 bytes each
    assert weight_floor(g, 3) == weight_floor(g, 4) and weight_floor(g, 5) == weight_floor(g, 8)
    assert weight_floor(g, 1) == 64 * (128 // 8) + 128 * 2  # binary: 8 a byte, rows of 10 take 2 bytes each
    assert weight_floor(g, 1) < weight_floor(g, 2) < weight_floor(g, 4) < weight_floor(g, 8) < weight_floor(g, 16)


def test_bounds_of_the_full_set_accuracy():
    lo, hi = _bounds(50, 64, 1000, 0.999)
    assert lo < 50 / 64 < hi
    assert _bounds(700, 1000, 1000, 0.999) == (0.7, 0.7)       # all inputs run: exact
    a, b = _bounds(500, 900, 1000, 0.999)
    assert 0.5 <= a < b <= 0.6                               # 100 left: at most 0.1 either way
    assert _bounds(0, 64, 1000, 0.999)[0] == 0.0


@pytest.mark.needs_c_ext
def test_unknown_search_is_refused():
    from edgesnn.plan.search import PlanInputError
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    with pytest.raises(PlanInputError, match="search"):
        plan(g, get_board(), x, y, search="greedy")
