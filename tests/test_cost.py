"""Cost model: additive per layer, names its coefficients, calibration overrides priors."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.cost import CostReport, coefficients, estimate
from edgesnn.data import load_dataset
from edgesnn.emit import arena_size, to_blob
from edgesnn.errors import EdgesnnError
from edgesnn.graph import Graph
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.sim.fixed_sim import simulate_fixed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report():
    g = Graph.load(ROOT / "examples" / "models" / "digits_mlp.json")
    x, _ = load_dataset(ROOT / "examples" / "data" / "digits_val.npz")
    q = quantize(g, QuantConfig(), x[:32])
    return q, simulate_fixed(q, x[:32]), estimate(q, simulate_fixed(q, x[:32]), get_board())


def test_additive_and_round_trip(report):
    q, r, rep = report
    assert sum(l.cycles for l in rep.layers) == pytest.approx(rep.cycles)
    assert sum(l.energy_pj for l in rep.layers) * 1e-12 == pytest.approx(rep.energy_j)
    assert rep.latency_s == pytest.approx(rep.cycles / get_board().clock_hz)
    assert rep.edp_js == pytest.approx(rep.energy_j * rep.latency_s)
    d = json.loads(json.dumps(rep.to_dict()))
    assert CostReport.from_dict(d).to_dict() == d and d["edgesnn_version"]


def test_memory_terms(report):
    q, _, rep = report
    assert rep.sram["arena"] == arena_size(q) and rep.flash["blob"] == len(to_blob(q))
    assert rep.flash["runtime_code"] > 10_000


def test_counts_come_from_activity(report):
    q, r, rep = report
    fc1 = next(l for l in rep.layers if l.name == "fc1")
    assert fc1.counts["synops"] == pytest.approx(r.counts["fc1"]["synops"].sum() / 32)


def test_every_coefficient_has_a_source_and_calibration_overrides(tmp_path):
    b = get_board()
    c = coefficients(b)
    assert c.calibration == "priors" and set(c.values) == set(c.sources)
    assert "nucleo-f446re" in c.sources["flash.read_cycles"]  # the emulated board mirrors its real board
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"artifact": "calibration", "id": "test/1", "board": b.id,
                             "coefficients": {"cycles_per_synop": {"value": 7.5, "source": "fit"}}}))
    c2 = coefficients(b, f)
    assert c2.values["cycles_per_synop"] == 7.5 and c2.calibration == "test/1"
    f.write_text(json.dumps({"artifact": "calibration", "coefficients": {"cycles_per_synop": {"value": -1}}}))
    with pytest.raises(EdgesnnError, match="cycles_per_synop"):
        coefficients(b, f)
