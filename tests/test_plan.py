"""Planner: quantization search, early exit, Infeasible, bad inputs, the plan CLI, golden figures."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgesnn.board import get_board, load_board_file
from edgesnn.cli import main
from edgesnn.cost import coefficients
from edgesnn.data import load_dataset
from edgesnn.emit import arena_size
from edgesnn.graph import Graph
from edgesnn.plan import Infeasible, Plan, PlanInputError, load_plan_or_model, plan
from edgesnn.plan.exit import calibrate
from edgesnn.plan.quant_search import candidates, evaluate
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime.binding import extension_available, run_c
from edgesnn.sim.fixed_sim import simulate_fixed

ROOT = Path(__file__).resolve().parents[1]
MODELS, DATA = ROOT / "examples" / "models", ROOT / "examples" / "data"
GOLDEN = json.loads((Path(__file__).parent / "golden_metrics.json").read_text())
needs_c = pytest.mark.skipif(not extension_available(), reason="C runtime extension not built")
SMALL = [QuantConfig(weight_bits=w, state_bits=s) for w in (4, 8) for s in (12, 16)]


@pytest.fixture(scope="module")
def mlp():
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    return g, x, y


def test_candidates_cover_the_kinds_present(mlp):
    g = mlp[0]
    cs = candidates(g)
    assert len(cs) >= 1000 and len(set(cs)) == len(cs)
    assert {c.current_bits for c in cs} == {16}  # no CubaLIF: current bits not searched


@needs_c
def test_search_accuracy_is_the_bit_exact_one(mlp):
    g, x, y = mlp
    ev = evaluate(g, SMALL[:2], x[:40], y[:40], calib=x)
    for e in ev:
        q = quantize(g, e.config, x)
        assert e.accuracy == float(np.mean(simulate_fixed(q, x[:40]).pred == y[:40]))
        assert e.arena_bytes == arena_size(q)


@needs_c
def test_plan_chooses_a_fitting_candidate_and_round_trips(mlp, tmp_path):
    g, x, y = mlp
    p = plan(g, get_board(), x, y, max_drop=0.02, configs=SMALL, workers=1, sensitivity=False)
    assert isinstance(p, Plan)
    assert p.accuracy >= p.float_accuracy - 0.02 - 1e-9
    # the board's calibration when calibration/<board>.json exists, else the priors
    assert p.cost["calibration"] == coefficients(get_board()).calibration and p.schedule == "time-step-major"
    tot = p.cost["totals"]
    assert tot["flash_bytes"] <= get_board().flash_bytes and tot["sram_bytes"] <= get_board().sram_bytes
    assert abs(sum(l["cycles"] for l in p.cost["layers"]) - tot["cycles"]) < 1e-6 * tot["cycles"]
    path = tmp_path / "plan.json"
    p.save(path)
    q = load_plan_or_model(path)
    assert q.exit == p.qgraph.exit and q.config == p.qgraph.config
    assert Plan.from_dict(json.loads(path.read_text())).to_dict() == json.loads(path.read_text())


# the planner's choices for the default board (examples/plan_all.py -> examples/results/plans.json)
PLANNED = {"digits_mlp": QuantConfig(weight_bits=5, state_bits=10, decay_bits=6, threshold_bits=10,
                                     rounding="truncate"),
           "digits_cnn": QuantConfig(weight_bits=5, state_bits=10, decay_bits=6, threshold_bits=10)}


@needs_c
@pytest.mark.parametrize("model,suffix", [("digits_mlp", ""), ("digits_cnn", "_cnn")])
def test_early_exit_meets_the_target_on_test(model, suffix):
    """DT-SNN target: calibrated on the 5-coding validation set, on the 5-coding test set (1800 inputs) the exit
    runs >= 2.5x fewer mean steps and loses <= 0.5 pt against the same model run all 16 steps; the quantized
    model itself loses <= 1 pt against float."""
    from edgesnn.sim import simulate
    g = Graph.load(MODELS / f"{model}.json")
    x, y = load_dataset(DATA / f"digits_val_x5{suffix}.npz")
    xt, yt = load_dataset(DATA / f"digits_test_x5{suffix}.npz")
    q = quantize(g, PLANNED[model], x)
    weights = sum(int(l.params["weight"].nbytes) for l in q.layers.values() if "weight" in l.params)
    assert 4 * q.weight_count() >= 4 * weights  # Q-SpiNN target: weights 4x smaller than float32
    pol = calibrate(run_c(q, x).outputs, y, max_drop=0.005)
    full, r = run_c(q, xt), run_c(q.with_exit(pol.threshold_q8, pol.beta_q16), xt)
    assert 16 / r.mean_steps >= 2.5
    assert np.mean(r.pred == yt) >= np.mean(full.pred == yt) - 0.005
    assert np.mean(full.pred == yt) >= np.mean(simulate(g, xt).pred == yt) - 0.01


@needs_c
def test_infeasible_on_a_board_too_small(mlp, tmp_path):
    g, x, y = mlp
    text = (ROOT / "boards" / "qemu-mps2-an386.toml").read_text()
    text = text.replace('id = "qemu-mps2-an386"', 'id = "tiny-test"').replace("131_072", "3_072")
    text = text.replace("stack_bytes = 4_096", "stack_bytes = 1_024").replace("arena_bytes = 65_536", "arena_bytes = 2_048")
    path = tmp_path / "tiny-test.toml"
    path.write_text(text)
    r = plan(g, load_board_file(path), x, y, configs=SMALL, workers=1, sensitivity=False)
    assert isinstance(r, Infeasible)
    assert r.gap["sram_bytes"] > 0 and r.bound["sram_bytes"] == 3072
    assert r.demand["sram_bytes"] == r.bound["sram_bytes"] + r.gap["sram_bytes"]
    assert any("larger board" in lever for lever in r.levers)
    assert Infeasible.from_dict(r.to_dict()) == r


@needs_c
def test_unreachable_target_names_the_field(mlp):
    g, x, y = mlp
    r = plan(g, get_board(), x, y, target_acc=1.0, configs=SMALL[:1], workers=1, sensitivity=False)
    assert isinstance(r, Infeasible) and "target_acc" in r.reason


def test_bad_data_names_the_field(mlp):
    g, x, y = mlp
    with pytest.raises(PlanInputError, match="'inputs'"):
        plan(g, get_board(), x[:, :, :10], y)
    with pytest.raises(PlanInputError, match="'labels'"):
        plan(g, get_board(), x, None)
    with pytest.raises(PlanInputError, match="'labels'"):
        plan(g, get_board(), x, y[:5])
    with pytest.raises(PlanInputError, match="objective"):
        plan(g, get_board(), x, y, objective="speed")
    with pytest.raises(PlanInputError, match="exit_max_drop 2 must be a fraction"):
        plan(g, get_board(), x, y, exit_max_drop=2)


def test_cli_plan_refuses_an_exit_drop_out_of_range_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["plan", str(MODELS / "digits_mlp.json"), "--data", str(DATA / "digits_val.npz"),
                 "--exit-max-drop", "1.5", "-o", str(out)]) == 1
    assert "exit_max_drop 1.5 must be a fraction in [0, 1]" in capsys.readouterr().err
    assert not out.exists()


def test_cli_plan_reports_a_missing_labels_field(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, inputs=np.zeros((2, 4, 64), np.uint8))
    assert main(["plan", str(MODELS / "digits_mlp.json"), "--data", str(bad), "-o", str(tmp_path / "p.json")]) == 1
    assert "labels" in capsys.readouterr().err


@needs_c
@pytest.mark.parametrize("model,data", [("digits_mlp", "digits_val.npz"), ("digits_cnn", "digits_val_cnn.npz")])
def test_golden_metrics(model, data):
    from edgesnn.cost import estimate
    gold = GOLDEN[model]
    g = Graph.load(MODELS / f"{model}.json")
    x, _ = load_dataset(DATA / data)
    q = quantize(g, QuantConfig(), x[:64])
    rep = estimate(q, run_c(q, x[:64]), get_board(), coeffs=coefficients(get_board(), priors_only=True))  # as noted
    assert rep.sram["arena"] == gold["arena_bytes"]
    assert rep.flash_bytes == gold["flash_bytes"]
    assert rep.cycles == pytest.approx(gold["cycles"], rel=GOLDEN["tolerance"]["cycles_rel"])


@needs_c
def test_reduce_state_keeps_only_layers_the_target_allows(mlp):
    from edgesnn.plan.search import reduce_state
    g, x, y = mlp
    q = quantize(g, QuantConfig(), x)
    assert reduce_state(q, x[:60], y[:60], 1.01) == (q, [])  # no accuracy reaches 101 %
    r, names = reduce_state(q, x[:60], y[:60], 0.0)           # any accuracy will do: every layer that can
    assert names == ["lif1", "lif2"] and arena_size(r) < arena_size(q)
    assert r.meta["stateless"] == names


@needs_c
def test_short_inputs_plan_a_grouped_schedule_for_sram(tmp_path):
    """At T = 4 the CNN's fused groups (one group's state resident, uint8 spike buffers) need less SRAM than
    time-step-major; the sram objective picks them, and the runtime runs that schedule to the planned accuracy."""
    from edgesnn.emit import arena_size_schedule
    from edgesnn.plan.search import SCHEDULES
    g = Graph.load(MODELS / "digits_cnn.json")
    x, y = load_dataset(DATA / "digits_val_cnn.npz")
    x, y = x[:60, :4], y[:60]
    p = plan(g, get_board(), x, y, max_drop=0.1, configs=[QuantConfig()], workers=1, sensitivity=False,
             objective="sram", measure=False)
    assert isinstance(p, Plan) and p.schedule in ("fused", "layer-major") and p.qgraph.exit is None
    spec = SCHEDULES[p.schedule]
    assert p.cost["sram"]["arena"] == arena_size_schedule(p.qgraph, spec, 4) < arena_size(p.qgraph)
    assert float(np.mean(run_c(p.qgraph, x, schedule=spec).pred == y)) == p.accuracy
    rows = {r["schedule"] for r in p.front}
    assert "time-step-major" in rows  # the exit's row stays on the front: fewer steps
    e = plan(g, get_board(), x, y, max_drop=0.1, configs=[QuantConfig()], workers=1, sensitivity=False,
             objective="energy", measure=False)
    assert e.schedule == "time-step-major"
    # `edgesnn compile PLAN.json` writes the model with the plan's schedule in it
    from edgesnn.emit import schedule_of
    p.save(tmp_path / "plan.json")
    assert main(["compile", str(tmp_path / "plan.json"), "-o", str(tmp_path / "out")]) == 0
    flags, steps = schedule_of((tmp_path / "out" / "model.blob").read_bytes())
    assert steps == 4 and sum(flags) > 1


@needs_c
def test_a_board_too_small_for_time_step_major_gets_a_grouped_schedule(tmp_path):
    """The energy objective prefers the exit, but where only a grouped schedule's arena fits, that is the plan."""
    from edgesnn.emit import arena_size_schedule
    g = Graph.load(MODELS / "digits_cnn.json")
    x, y = load_dataset(DATA / "digits_val_cnn.npz")
    x, y = x[:60, :4], y[:60]
    q = quantize(g, QuantConfig(), x)
    time_arena, fused = arena_size(q), arena_size_schedule(q, "fused", 4)
    assert fused < time_arena
    io = 64 + 8 * 10
    sram = 1024 + io + (fused + time_arena) // 2  # between the two
    text = (ROOT / "boards" / "qemu-mps2-an386.toml").read_text()
    text = text.replace('id = "qemu-mps2-an386"', 'id = "small-test"').replace("131_072", f"{sram:_}")
    text = text.replace("stack_bytes = 4_096", "stack_bytes = 1_024").replace("arena_bytes = 65_536", "arena_bytes = 2_048")
    (tmp_path / "small-test.toml").write_text(text)
    p = plan(g, load_board_file(tmp_path / "small-test.toml"), x, y, max_drop=0.1, configs=[QuantConfig()],
             workers=1, sensitivity=False, measure=False)
    assert isinstance(p, Plan) and p.schedule in ("fused", "layer-major")
    assert p.cost["totals"]["sram_bytes"] <= sram
    assert all(r["schedule"] != "time-step-major" for r in p.front)
