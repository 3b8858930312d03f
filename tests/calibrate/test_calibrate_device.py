"""Calibration on QEMU, end to end but small: a short microbenchmark sweep, its fit predicting a model
it never saw (the example MLP) within tolerance, and `edgesnn profile` whose rows add up to its totals.

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.calibrate import calibration
from edgesnn.calibrate import bench as B
from edgesnn.calibrate import fit as FT
from edgesnn.calibrate import measure as M
from edgesnn.calibrate.profile import compare, run_device
from edgesnn.cli import main
from edgesnn.cost.model import RUNTIME_ROW, coefficients
from edgesnn.data import load_dataset
from edgesnn.runtime.engines import load_model, to_qgraph
from tests.helpers.paths import DATA, MODELS

MLP = MODELS / "digits_mlp.json"
TEST_DATA = DATA / "digits_test.npz"


@pytest.mark.needs_qemu
@pytest.mark.xfail(strict=True, reason="the runtime's new fast paths add terms a 24-benchmark sweep cannot fit (the "
                   "digits MLP is +124 % after it, +19 % after 40): more benchmarks or fewer terms, issue #18 item 3")
def test_small_sweep_fit_predicts_a_held_out_model(tmp_path):
    board = get_board("qemu-mps2-an386")
    specs = B.design(24, seed=3)
    rows, skipped = M.measure(board, specs, inputs=2, steps=12)
    run = [r for r in rows if r["layer"] == M.RUN_ROW]
    assert len(run) + len(skipped) == 24 and len(run) >= 20
    assert all(r["runtime"].startswith("edgesnn-runtime/") and r["compiler"] and r["spec"] for r in run)
    assert all(r["measured"] > r["layers_measured"] > 0 for r in run)
    path = tmp_path / "m.jsonl"
    M.write_rows(rows, path)
    meas = M.load(path, board=board.id)
    assert not meas.rejected
    f = FT.fit(meas)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps(calibration(board, meas, f)))
    q = to_qgraph(load_model(str(MLP)))
    x, _ = load_dataset(TEST_DATA)
    res, host = run_device(q, x[:4], board)
    before = compare(q, res, host, board, coefficients(board, priors_only=True))
    after = compare(q, res, host, board, coefficients(board, cal))
    assert abs(after.total_error) < 0.10 < abs(before.total_error), (before.total_error, after.total_error)


@pytest.mark.needs_qemu
def test_profile_rows_add_up_to_the_totals(tmp_path, capsys):
    x, _ = load_dataset(TEST_DATA)
    np.save(tmp_path / "x.npy", x[:3])
    out = tmp_path / "p.json"
    assert main(["profile", str(MLP), "--board", "qemu-mps2-an386", "--inputs", str(tmp_path / "x.npy"),
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "float model quantized with the default settings" in text and "calibration:" in text
    p = json.loads(out.read_text())
    names = [r["layer"] for r in p["rows"]]
    assert names == ["fc1", "lif1", "fc2", "lif2", RUNTIME_ROW]
    for key in ("estimated", "measured"):
        assert sum(r[key] for r in p["rows"]) == pytest.approx(p["total"][key], rel=1e-9)
    for r in p["rows"] + [p["total"]]:
        assert r["error"] == pytest.approx((r["estimated"] - r["measured"]) / r["measured"])
        assert f"{r['error']:+.1%}" in text
    # an .npz dataset works as inputs too; a wrong one is refused naming the file
    assert main(["profile", str(MLP), "--inputs", str(TEST_DATA), "-n", "2"]) == 0
    np.savez(tmp_path / "bad.npz", x=x[:2])
    assert main(["profile", str(MLP), "--inputs", str(tmp_path / "bad.npz")]) == 1
    assert "bad.npz: missing field 'inputs'" in capsys.readouterr().err


@pytest.mark.needs_qemu
def test_measure_with_cycles_records_estimated_cycles_beside_instructions(tmp_path):
    """The instruction rows are measure()'s; each benchmark also gets rows in estimated cycles from its traced
    1-input, 4-step run (QEMU's block log turned on and off through the monitor), which add up like the
    instruction rows, exceed the instructions that run executed (Cortex-M4: every instruction a cycle or
    more) and fit."""
    board = get_board("qemu-mps2-an386")
    specs = B.design(8, seed=5)
    rows, crows, skipped, info = M.measure_with_cycles(board, specs, inputs=2, steps=8)
    assert not skipped and info["instructions"] > 0 and info["log_bytes"] > 0
    assert [r["bench"] for r in rows] == [r["bench"] for r in crows]
    assert {r["unit"] for r in rows} == {"instructions"} and {r["unit"] for r in crows} == {M.CYCLE_UNIT}
    for r, c in zip(rows, crows):
        assert r["layer"] == c["layer"]
        if c["layer"] == M.RUN_ROW:
            assert c["counts"]["steps"] == M.CYCLE_STEPS and c["measured"] > c["layers_measured"] > 0
        else:
            assert c["counts"]["invocations"] == M.CYCLE_STEPS
    # a benchmark's traced run is its first input's first steps: about 1 / (2 inputs x 2) of the measured one
    # in instructions, and more than that in estimated cycles
    for r, c in zip(rows, crows):
        if r["layer"] == M.RUN_ROW:
            assert c["measured"] > r["measured"] / 4 * 0.8, (r["bench"], r["measured"], c["measured"])
    path = tmp_path / "c.jsonl"
    M.write_rows(crows, path)
    meas = M.load(path, board=board.id)
    assert not meas.rejected and meas.unit == M.CYCLE_UNIT and len(meas.runs) == 8
