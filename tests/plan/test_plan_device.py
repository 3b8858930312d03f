"""The planner's figures against the emulated board: planned flash and SRAM are the built firmware's
measured sizes, and `edgesnn run PLAN.json` reproduces the planned accuracy and early-exit steps exactly."""


import numpy as np
import pytest

from edgesnn.api import deployable
from edgesnn.board import DEFAULT_BOARD, get_board
from edgesnn.cli import main
from edgesnn.data import load_dataset
from edgesnn.firmware.runtime import build_runtime_firmware
from edgesnn.graph import Graph
from edgesnn.plan import Plan, plan
from edgesnn.quantize import QuantConfig
from edgesnn.runtime.binding import run_c
from tests.helpers.boards import board_variant
from tests.helpers.paths import DATA, MODELS

BOARD = DEFAULT_BOARD
N = 40
pytestmark = pytest.mark.needs_c_ext


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """The example MLP planned for the default emulated board on N validation inputs (a small grid)."""
    tmp = tmp_path_factory.mktemp("plan")
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    x, y = x[:N], y[:N]
    configs = [QuantConfig(weight_bits=w, state_bits=s) for w in (4, 8) for s in (12, 16)]
    p = plan(g, get_board(BOARD), x, y, max_drop=0.02, configs=configs, workers=1, sensitivity=False,
             firmware_cache=tmp / "firmware")
    assert isinstance(p, Plan)
    p.save(tmp / "plan.json")
    return p, tmp, x, y


@pytest.mark.needs_arm_gcc
def test_planned_memory_is_the_measured_firmware(planned, tmp_path):
    p, tmp, _, _ = planned
    assert p.cost["memory_source"].startswith("measured: firmware")
    # built again from the saved plan, in another cache: the image `edgesnn run PLAN.json` deploys
    fw = build_runtime_firmware(get_board(BOARD), deployable(tmp / "plan.json"), builtin=True,
                                cache_dir=tmp_path)
    assert not fw.cached
    s = fw.sizes
    assert p.cost["totals"]["flash_bytes"] == s.text + s.data == s.flash
    assert p.cost["totals"]["sram_bytes"] == s.data + s.bss + s.stack + s.arena == s.ram
    assert p.cost["flash"] == {"text": s.text, "data": s.data}
    assert p.cost["sram"] == {"data": s.data, "bss": s.bss, "stack": s.stack, "arena": s.arena}
    chosen = [r for r in p.front if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["memory"] == "measured"
    assert (chosen[0]["flash_bytes"], chosen[0]["sram_bytes"]) == (s.flash, s.ram)
    assert all(r["memory"] == "estimate" for r in p.front if not r["chosen"])


@pytest.mark.needs_qemu
def test_run_plan_on_qemu_gives_the_planned_accuracy_and_steps(planned, monkeypatch, capsys):
    p, tmp, x, y = planned
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp))  # the planner's firmware cache: the same image, reused
    np.save(tmp / "x.npy", x)
    assert main(["run", str(tmp / "plan.json"), "--board", BOARD, "--inputs", str(tmp / "x.npy"),
                 "-o", str(tmp / "out.npz")]) == 0
    assert "compiled-in model" in capsys.readouterr().out
    out = np.load(tmp / "out.npz")
    assert float(np.mean(out["pred"] == y)) == p.accuracy
    assert float(np.mean(out["steps"])) == p.cost["mean_steps"] < x.shape[1]  # early exit took effect
    assert np.array_equal(out["steps"], run_c(p.qgraph, x).steps)


@pytest.mark.needs_arm_gcc
def test_infeasible_when_the_estimate_fits_but_the_built_firmware_does_not(tmp_path):
    from edgesnn.plan import Infeasible
    small = board_variant(tmp_path, "flash-44k-test", flash_bytes=44_000)
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    r = plan(g, small, x[:N], y[:N], max_drop=0.05, configs=[QuantConfig()], workers=1,
             sensitivity=False, firmware_cache=tmp_path / "fw")
    assert isinstance(r, Infeasible) and "built and measured" in r.reason   # the analytical 40.6 KB fit 44,000 B
    assert "44,000" in r.demand["firmware"]                                  # the built image is 46.4 KB


@pytest.mark.needs_qemu
def test_a_grouped_schedule_plan_runs_on_qemu_as_planned(tmp_path):
    """A plan whose schedule is fused (the recurrent LIF net at T = 4, sram objective): its firmware's arena is
    the schedule's, planned SRAM = the ELF's, and the emulated board reproduces the planned accuracy."""
    from edgesnn.device.runner import run_on_board
    from edgesnn.lower import arena_size_schedule
    g = Graph.load(MODELS / "psdigits_lif.json")
    x, y = load_dataset(DATA / "psdigits_val.npz")
    x, y = x[:24, :4], y[:24]
    b = get_board(BOARD)
    p = plan(g, b, x, y, max_drop=0.5, configs=[QuantConfig()], workers=1, sensitivity=False, objective="sram",
             firmware_cache=tmp_path)
    assert isinstance(p, Plan) and p.schedule == "fused"
    d = p.deploy_on(b)
    assert p.cost["memory_source"].startswith("measured: firmware")
    assert p.cost["sram"]["arena"] == arena_size_schedule(p.qgraph, d["schedule"], 4)
    res, fw = run_on_board(d["board"], p.qgraph, x, builtin=True, schedule=d["schedule"], cache_dir=tmp_path)
    assert fw.sizes.ram == p.cost["totals"]["sram_bytes"] and fw.sizes.flash == p.cost["totals"]["flash_bytes"]
    assert float(np.mean(res.pred == y)) == p.accuracy
    assert np.array_equal(res.outputs, run_c(p.qgraph, x, schedule=d["schedule"]).outputs)


@pytest.mark.needs_arm_gcc
def test_front_rows_not_chosen_are_sized_on_the_measured_firmware(planned, tmp_path):
    """Every front row, built: RAM equals the planned figure exactly, flash within a few bytes (model tables
    vs blob header), where the analytical terms miss a quarter of both."""
    from edgesnn.plan.search import SCHEDULES
    from edgesnn.quantize import make_stateless, quantize
    p, tmp, x, _ = planned
    g = Graph.load(MODELS / "digits_mlp.json")
    board = get_board(BOARD)
    others = [r for r in p.front if not r["chosen"]]
    assert others and all(r["memory"] == "estimate" for r in others)
    for r in others:
        q = quantize(g, QuantConfig(**r["config"]), x)
        q = make_stateless(q, r["stateless"]) if r["stateless"] else q
        if r["exit"]["threshold_q8"] is not None:
            q = q.with_exit(r["exit"]["threshold_q8"], r["exit"]["beta_q16"])
        fw = build_runtime_firmware(board, q, builtin=True, schedule=SCHEDULES[r["schedule"]], steps=x.shape[1],
                                    cache_dir=tmp / "firmware")
        assert r["sram_bytes"] == fw.sizes.ram
        assert abs(r["flash_bytes"] - fw.sizes.flash) <= 64


@pytest.mark.needs_arm_gcc
def test_planned_memory_at_binary_weights_is_the_measured_firmware(tmp_path):
    """1-bit weights (weight_bits 1, chosen through the explicit grid): the planned flash and SRAM are the built
    firmware's, whose compiled-in model holds the packed sign rows and each layer's magnitude (esn_node.wmag)."""
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    p = plan(g, get_board(BOARD), x[:N], y[:N], max_drop=1.0, configs=[QuantConfig(weight_bits=1, state_bits=16)],
             workers=1, sensitivity=False, firmware_cache=tmp_path / "fw")
    assert isinstance(p, Plan) and p.qgraph.config.weight_bits == 1
    p.save(tmp_path / "plan.json")
    fw = build_runtime_firmware(get_board(BOARD), deployable(tmp_path / "plan.json"), builtin=True,
                                cache_dir=tmp_path / "fw2")
    s = fw.sizes
    assert p.cost["totals"]["flash_bytes"] == s.text + s.data == s.flash
    assert p.cost["totals"]["sram_bytes"] == s.data + s.bss + s.stack + s.arena == s.ram
