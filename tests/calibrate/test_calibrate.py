"""Calibration: the fit recovers known coefficients, bad measurements are rejected with their line,
too few points is an error, the calibration file names its sources and fallbacks, and the CLI writes
it whole or not at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.calibrate import calibration
from edgesnn.calibrate import bench as B
from edgesnn.calibrate import fit as FT
from edgesnn.calibrate import measure as M
from edgesnn.cost.model import coefficients, estimate, layer_terms, runtime_terms
from edgesnn.runtime.binding import run_c
from edgesnn.runtime.engines import load_model, to_qgraph
from tests.helpers.paths import MODELS

PROV = {"v": 1, "board": "qemu-mps2-an386", "runtime": "edgesnn-runtime/0.1.0+dsp", "unit": "instructions",
        "compiler": "gcc", "cflags": [], "date": "2026-11-22T00:00:00Z", "schedule": "time-step-major"}
TRUE = {"affine.cycles_per_invocation": 220.0, "affine.cycles_per_input_scanned": 22.0,
        "affine.cycles_per_output": 13.0, "affine.int8.cycles_per_spike_in": 45.0,
        "affine.int8.cycles_per_synop": 2.0, "affine.int8.cycles_per_tail_quad": 9.0,
        "affine.int8.cycles_per_tail_single": 5.0,
        "lif.cycles_per_invocation": 410.0, "lif.subtract.cycles_per_neuron_update": 120.0,
        "lif.cycles_per_spike_out": 13.0, "cycles_per_step": 50.0, "cycles_per_node_step": 160.0,
        "cycles_per_input_byte": 8.0, "cycles_per_output_value": 21.0}


def synthetic_rows(n_bench: int = 24, seed: int = 0, noise: float = 0.0005) -> list[dict]:
    """Benchmark runs (dense int8 layer + LIF) whose measurements follow TRUE exactly, plus noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_bench):
        fi, fo, steps = int(rng.integers(4, 256)), int(rng.integers(4, 256)), int(rng.integers(16, 64))
        sp = int(rng.integers(1, fi * steps // 2 + 2))
        layers = {"syn": ({"kind": "Affine", "family": "affine", "edges": 1, "in_size": fi, "out_size": fo,
                           "weight_bits": 8, "bias": True},
                          {"synops": sp * fo, "spikes_in": sp, "neuron_updates": 0, "spikes_out": 0}),
                  "neuron": ({"kind": "LIF", "family": "lif", "edges": 1, "in_size": fo, "out_size": fo,
                              "reset": "subtract"},
                             {"synops": 0, "spikes_in": 0, "neuron_updates": fo * steps,
                              "spikes_out": int(rng.integers(0, fo * steps // 3 + 1))})}
        base = {**PROV, "bench": f"s{b:03d}", "inputs": 1, "steps": steps}
        total = 0
        for name, (info, counts) in layers.items():
            counts = {**counts, "invocations": steps}
            y = sum(TRUE[k] * v for k, v in layer_terms(info, counts).items())
            m = int(round(y * (1 + noise * rng.standard_normal())))
            total += m
            rows.append({**base, "layer": name, "info": info, "counts": counts, "measured": m})
        model = {"nodes": int(rng.integers(4, 9)), "input_size": fi, "output_size": fo, "output_edges": 1,
                 "exit": False}
        over = sum(TRUE[k] * v for k, v in runtime_terms(model, steps).items())
        rows.append({**base, "layer": M.RUN_ROW, "info": model, "counts": {"steps": steps},
                     "measured": int(total + over * (1 + noise * rng.standard_normal())), "layers_measured": total})
    return rows


def test_fit_recovers_known_coefficients_and_trims_an_outlier(tmp_path):
    rows = synthetic_rows()
    rows[3 * 5]["measured"] *= 3  # bench s005's first layer: a glitch three times too large
    rows[3 * 5 + 2]["layers_measured"] = rows[3 * 5]["measured"] + rows[3 * 5 + 1]["measured"]
    rows[3 * 5 + 2]["measured"] += rows[3 * 5]["measured"] * 2 // 3
    path = tmp_path / "m.jsonl"
    M.write_rows(rows, path)
    meas = M.load(path)
    assert not meas.rejected and len(meas.runs) == 24
    f = FT.fit(meas)
    for k, v in TRUE.items():
        assert f.coefficients[k] == pytest.approx(v, rel=0.03), k
    assert any(o.startswith(f"{path}:16: s005/syn") for o in f.outliers), f.outliers
    assert f.cv["total_error_median"] < 0.01 and f.train["layer_error_median"] < 0.01


def test_bad_rows_are_rejected_with_file_and_line(tmp_path):
    rows = synthetic_rows(10)
    lines = [json.dumps(r) for r in rows]
    lines[1] = lines[1][:40]                                        # line 2: corrupted JSON
    lines[4] = json.dumps({**rows[4], "runtime": "edgesnn-runtime/0.0.9+dsp"})   # line 5: another runtime
    lines[7] = json.dumps({**rows[7], "counts": {**rows[7]["counts"], "synops": -3}})  # line 8: negative count
    r10 = dict(rows[9])
    del r10["measured"]
    lines[9] = json.dumps(r10)                                      # line 10: a field missing
    lines[12] = json.dumps({**rows[12], "board": "qemu-microbit"})  # line 13: another board
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n" + json.dumps(rows[0])[:30])  # and a truncated last line
    meas = M.load(path)
    text = "\n".join(meas.rejected)
    for line, why in ((2, "not JSON"), (5, "runtime 'edgesnn-runtime/0.0.9+dsp' differs"),
                      (8, "counts['synops'] = -3"), (10, "missing field 'measured'"),
                      (13, "board 'qemu-microbit' differs"), (len(rows) + 1, "the last line has no newline")):
        assert f"{path}:{line}: {why}" in text, (line, text)
    # every run with a rejected row is dropped whole, the others kept
    assert set(meas.runs) == {f"s{b:03d}" for b in (5, 6, 7, 8, 9)}
    assert "run 's000': its layer rows add up to" in text  # its line 2 was unreadable
    # a layer row silently removed: the run's rows no longer add up
    lines = [json.dumps(r) for r in rows]
    del lines[1]
    path.write_text("\n".join(lines) + "\n")
    meas = M.load(path)
    assert any("'s000': its layer rows add up to" in r for r in meas.rejected)


def test_too_few_points_and_wrong_board_are_errors(tmp_path):
    path = tmp_path / "few.jsonl"
    M.write_rows(synthetic_rows(4), path)
    with pytest.raises(M.CalibrationError, match="too few points to fit: 4 usable benchmark runs"):
        FT.fit(M.load(path))
    M.write_rows(synthetic_rows(12), path)
    meas = M.load(path, board="qemu-mps2-an505")
    assert len(meas.rejected) > 12 and not meas.runs
    with pytest.raises(M.CalibrationError, match="too few points.*rows rejected"):
        FT.fit(meas)


def test_calibration_file_names_sources_fallbacks_and_zero_wait_states(tmp_path):
    path = tmp_path / "m.jsonl"
    M.write_rows(synthetic_rows(), path)
    meas = M.load(path)
    b = get_board("qemu-mps2-an386")
    cal = calibration(b, meas, FT.fit(meas))
    c = cal["coefficients"]
    assert c["lif.cycles_per_neuron_update"]["source"].startswith("fallback: mean of the fitted")
    assert c["sram.read_cycles"]["value"] == 0 and "QEMU" in c["sram.read_cycles"]["source"]
    f = tmp_path / "cal.json"
    f.write_text(json.dumps(cal))
    co = coefficients(b, f)
    assert co.calibration == cal["id"] and co.values["affine.int8.cycles_per_synop"] == pytest.approx(2.0, rel=0.03)


def test_benchmark_design_varies_its_dimensions_independently():
    specs = B.design(96)
    dense = [s for s in specs if s.template == "dense"]
    fi, fo, rate = (np.array([getattr(s, k) for s in dense], float) for k in ("fan_in", "fan_out", "rate"))
    c = np.corrcoef(np.vstack([np.log(fi), np.log(fo), rate]))
    assert np.abs(c[np.triu_indices(3, 1)]).max() < 0.3
    assert {s.template for s in specs} == {"dense", "conv", "scale"}
    assert {s.weight_bits for s in specs} == {1, 2, 4, 8, 16} and len({s.kind for s in specs}) == 4
    assert {s.weight_bits for s in specs if s.template == "conv"} == {1, 2, 4, 8, 16}   # conv + the graded readout
    # every state storage and rounding meets every neuron kind (plans pick int8 state and truncate rounding)
    assert {(s.kind, s.state_bits) for s in specs} == {(k, b) for k in B.NEURON_KINDS for b in (8, 12, 16, 24)}
    assert {s.rounding for s in specs} == {"nearest", "truncate", "stochastic"}
    assert len({s.kind for s in specs if s.weight_bits == 1}) >= 3   # binary rows not tied to one neuron kind
    with pytest.raises(Exception, match="schedule 'layer-major' is not one the device firmware runs"):
        B.build(B.BenchSpec(**{**specs[0].to_dict(), "conv": (), "schedule": "layer-major"}))


def test_cli_refit_writes_the_calibration_or_nothing(tmp_path, capsys):
    from edgesnn.cli import main
    path, out = tmp_path / "m.jsonl", tmp_path / "cal.json"
    M.write_rows(synthetic_rows(), path)
    assert main(["calibrate", "--board", "qemu-mps2-an386", "--refit", str(path), "--no-held-out", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "5-fold CV over benchmarks" in text and f"-> {out}" in text
    assert json.loads(out.read_text())["provenance"]["measurements"] == "m.jsonl"
    M.write_rows(synthetic_rows(3), path)
    out2 = tmp_path / "cal2.json"
    args = ["calibrate", "--board", "qemu-mps2-an386", "--refit", str(path), "--no-held-out", "-o", str(out2)]
    assert main(args) == 1
    assert "too few points to fit" in capsys.readouterr().err and not out2.exists()


def _cycle_rows(seed: int = 1) -> list[dict]:
    """synthetic_rows in estimated cycles: every coefficient of TRUE x 1.7 (a core slower than one a cycle)."""
    global TRUE
    saved = TRUE
    TRUE = {k: v * 1.7 for k, v in saved.items()}
    try:
        rows = synthetic_rows(seed=seed)
    finally:
        TRUE = saved
    return [{**r, "unit": M.CYCLE_UNIT} for r in rows]


def test_cycle_fit_beside_the_instruction_fit_prices_latency_in_estimated_cycles(tmp_path):
    """An emulated board's calibration fits the same terms twice: to QEMU's instructions ("coefficients") and
    to estimated cycles ("cycle_coefficients"); the cost model's cycles and latency use the second, its
    instructions the first, and a profile against QEMU's instruction counts compares instructions."""
    b = get_board("qemu-mps2-an386")
    ipath, cpath = tmp_path / "m.jsonl", tmp_path / "m.cycles.jsonl"
    M.write_rows(synthetic_rows(), ipath)
    M.write_rows(_cycle_rows(), cpath)
    meas, cmeas = M.load(ipath), M.load(cpath)
    assert cmeas.unit == M.CYCLE_UNIT and not cmeas.rejected
    f, cf = FT.fit(meas), FT.fit(cmeas)
    for k, v in TRUE.items():
        assert cf.coefficients[k] == pytest.approx(1.7 * v, rel=0.03), k
    cal = calibration(b, meas, f, cycles=(cmeas, cf, {"inputs": 1, "steps": 4}))
    assert cal["cycle_coefficients"]["affine.int8.cycles_per_synop"]["value"] == pytest.approx(3.4, rel=0.03)
    assert "estimated cycles" in cal["cycle_coefficients"]["affine.int8.cycles_per_synop"]["source"]
    assert cal["fit_cycles"]["traced"] == {"inputs": 1, "steps": 4}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(cal))
    co = coefficients(b, path)
    assert co.unit == "estimated cycles" and not co.note
    assert co.values["affine.int8.cycles_per_synop"] == pytest.approx(3.4, rel=0.03)
    assert co.instruction_values["affine.int8.cycles_per_synop"] == pytest.approx(2.0, rel=0.03)
    assert co.values["sram.read_cycles"] == 0     # what the cycle set does not name stays the instruction file's
    q = to_qgraph(load_model(str(MODELS / "digits_mlp.json")))
    x = (np.random.default_rng(0).random((2, 4, 64)) < 0.3).astype(np.uint8)
    rep = estimate(q, run_c(q, x), b, coeffs=co)
    assert rep.instructions is not None and rep.cycles == pytest.approx(1.7 * rep.instructions, rel=0.05)
    assert rep.latency_s == pytest.approx(rep.cycles / b.clock_hz)
    assert any("estimated cycles" in n for n in rep.notes)


def test_an_older_calibration_without_cycles_loads_with_a_note(tmp_path):
    b = get_board("qemu-mps2-an386")
    path = tmp_path / "m.jsonl"
    M.write_rows(synthetic_rows(), path)
    meas = M.load(path)
    cal = calibration(b, meas, FT.fit(meas))
    assert "cycle_coefficients" not in cal
    f = tmp_path / "cal.json"
    f.write_text(json.dumps(cal))
    co = coefficients(b, f)
    assert co.unit == "instructions" and co.instruction_values is None
    assert "no estimated-cycle coefficients" in co.note and "recalibrate" in co.note
    assert co.values["affine.int8.cycles_per_synop"] == pytest.approx(2.0, rel=0.03)
