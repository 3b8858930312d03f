"""The demo pipeline behind `make demo`: the example models through every stage built so far."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tabulate import tabulate

from .board import get_board
from .cost import estimate, memory
from .data import load_dataset
from .device.runner import run_on_board
from .errors import DeviceError
from .graph import Graph
from .graph.nir_io import read_nir
from .graph.simulate import simulate
from .plan import Infeasible, front_table, plan
from .report import accuracy, activity_table, graph_table
from .resources import EXAMPLES
from .runtime.binding import run_c


def run_demo(out_dir: str | Path = "out", examples: Path = EXAMPLES) -> list[dict]:
    out_dir = Path(out_dir)
    recorded = json.loads((examples / "models" / "results.json").read_text())
    summary = []
    for name, info in recorded.items():
        if info.get("nir"):
            nir_path = examples / "models" / info["nir"]
            print(f"\n== {name}: import {nir_path.relative_to(examples.parent)} (dt from the file)")
            graph = read_nir(nir_path, dt=None)
        else:  # no NIR form (an ALIF model: NIR has no adaptive threshold)
            path = examples / "models" / info["model"]
            print(f"\n== {name}: load {path.relative_to(examples.parent)} (no NIR form)")
            graph = Graph.load(path)
        graph.save(out_dir / f"{name}.json")
        print(graph_table(graph))
        inputs, labels = load_dataset(examples / "data" / info["test_data"])
        inputs = inputs.reshape(*inputs.shape[:2], *graph.input.shape)
        result = simulate(graph, inputs, progress=True)
        print(activity_table(graph, result))
        acc = accuracy(result.pred, labels)
        summary.append({"model": name, "inputs": len(labels), "steps": inputs.shape[1],
                        "accuracy": acc, "recorded": info["accuracy"],
                        "synops/input": sum(c["synops"].sum() for c in result.counts.values()) / len(labels)})
    print("\n== summary (float simulation of the imported NIR files, or the edgesnn JSON where a model has no NIR "
          "form, on the held-out digits)")
    print(tabulate([[s["model"], s["inputs"], s["steps"], f"{100 * s['accuracy']:.2f}%", f"{100 * s['recorded']:.2f}%",
                     f"{s['synops/input']:,.0f}"] for s in summary],
                   ["model", "inputs", "steps", "accuracy", "recorded at training", "synops / input"],
                   tablefmt="simple_outline"))
    plan_stage(out_dir, examples)
    return summary


def plan_stage(out_dir: str | Path = "out", examples: Path = EXAMPLES, board_id: str | None = None) -> dict:
    """Stage 2: plan the example MLP for the default emulated board; estimated figures, test-split check,
    and stage 3 (device_stage): the plan run on the emulated board, measured figures beside the estimate."""
    out_dir = Path(out_dir)
    board = get_board(board_id)
    graph = Graph.load(examples / "models" / "digits_mlp.json")
    # five spike codings of each image (examples/make_eval_sets.py): one input of the 360-image test split is
    # 0.28 pt, too coarse for a 0.5 pt exit target; the first 360 test inputs are the official coding
    x, y = load_dataset(examples / "data" / "digits_val_x5.npz")
    xt, yt = load_dataset(examples / "data" / "digits_test_x5.npz")
    print(f"\n== plan digits_mlp for {board.id} (validation: {len(y)} inputs = 5 codings of the validation images; "
          f"max drop 1 pt from float, early exit within 0.5 pt of the full run)")
    p = plan(graph, board, x, y, max_drop=0.01, progress=True)
    if isinstance(p, Infeasible):
        print(p.message())
        return {"infeasible": p.to_dict()}
    p.save(out_dir / "digits_mlp.plan.json")
    print(front_table(p))
    full = run_c(p.qgraph.with_exit(None), xt)
    ex = run_c(p.qgraph, xt)
    c, tot = p.qgraph.config, p.cost["totals"]
    mem = "built firmware ELF" if p.cost.get("memory_source", "").startswith("measured") else "estimated"
    float32 = 4 * p.qgraph.weight_count()
    weights = sum(int(q.params["weight"].nbytes) for q in p.qgraph.layers.values() if "weight" in q.params)
    rows = [["weights", f"{c.weight_bits} bit ({weights:,} B; float32 {float32:,} B, {float32 / weights:.1f}x less)"],
            ["state / decay / rounding", f"{c.state_bits} / {c.decay_bits} bit, {c.rounding}"],
            ["exit", f"threshold_q8 {p.exit.threshold_q8}, beta_q16 {p.exit.beta_q16}"],
            [f"test accuracy, {len(yt)} inputs (float; no exit -> exit)",
             f"{100 * np.mean(simulate(graph, xt).pred == yt):.2f}%; {100 * np.mean(full.pred == yt):.2f}% -> "
             f"{100 * np.mean(ex.pred == yt):.2f}%"],
            ["test mean steps", f"{ex.mean_steps:.2f} of {full.outputs.shape[1]} ({full.outputs.shape[1] / ex.mean_steps:.2f}x fewer)"],
            [f"flash ({mem})", f"{tot['flash_bytes']:,} B of {board.flash_bytes:,}"],
            [f"SRAM ({mem})", f"{tot['sram_bytes']:,} B of {board.sram_bytes:,}"],
            ["cycles / latency per input (estimated)", f"{tot['cycles']:,.0f} / {1e3 * tot['latency_s']:.2f} ms"],
            ["energy / EDP per input (estimated)", f"{1e6 * tot['energy_j']:.2f} uJ / {1e9 * tot['edp_js']:.3f} nJ s"],
            ["coefficients", p.cost["calibration"]]]
    print(tabulate(rows, ["chosen plan", ""], tablefmt="simple_outline"))
    measured = device_stage(p, board, xt[:DEVICE_INPUTS], yt[:DEVICE_INPUTS])
    return {"plan": p, "test_accuracy": float(np.mean(ex.pred == yt)), "test_mean_steps": ex.mean_steps,
            "device": measured}


DEVICE_INPUTS = 60


def _err(est: float, meas: float, unit: str = "%") -> str:
    if unit == "pt":
        return f"{100 * (est - meas):+.2f} pt"
    if meas == 0:
        return "0" if est == 0 else "-"
    return f"{100 * (est - meas) / meas:+.1f}%"


def device_stage(p, board, x, y) -> dict | None:
    """Stage 3: compile the plan's model into the board's firmware, run it on the emulated board, and set
    the measured figures beside the estimated ones (the cost model on the same inputs, run in the
    bit-exact C runtime on the host, as the planner runs it)."""
    if not board.is_emulated:
        print(f"measured on the device: {board.id} is not emulated; run the plan with `edgesnn run PLAN.json "
              f"--board {board.id} --port DEV`")
        return None
    print(f"\n== run the plan on {board.id} under QEMU ({len(y)} test inputs, model compiled in) and compare")
    try:
        res, fw = run_on_board(board, p.qgraph, x, builtin=True)
    except DeviceError as e:
        print(f"measured on the device: not run ({e})")
        return None
    host = run_c(p.qgraph, x)
    rep = estimate(p.qgraph, host, board, arena_bytes=None)
    flash_a, sram_a, _ = memory(p.qgraph, board)
    n = len(y)
    tot = p.cost["totals"]
    acc_e, acc_m = float(np.mean(host.pred == y)), float(np.mean(res.pred == y))
    steps_e, steps_m = host.mean_steps, float(res.steps.mean())
    fl_a, sr_a = sum(flash_a.values()), sum(sram_a.values())
    u = res.unit
    layer_m = {k: float(d[u].sum()) / n for k, d in res.counts.items()}
    rows = [["accuracy", f"{100 * acc_e:.2f}%", f"{100 * acc_m:.2f}%", _err(acc_e, acc_m, "pt")],
            ["mean steps (early exit)", f"{steps_e:.3f}", f"{steps_m:.3f}", _err(steps_e, steps_m)],
            ["flash B, plan (its firmware ELF)", f"{tot['flash_bytes']:,}", f"{fw.sizes.flash:,}",
             _err(tot["flash_bytes"], fw.sizes.flash)],
            ["SRAM B, plan (its firmware ELF)", f"{tot['sram_bytes']:,}", f"{fw.sizes.ram:,}",
             _err(tot["sram_bytes"], fw.sizes.ram)],
            ["flash B, analytical model", f"{fl_a:,}", f"{fw.sizes.flash:,}", _err(fl_a, fw.sizes.flash)],
            ["SRAM B, analytical model", f"{sr_a:,}", f"{fw.sizes.ram:,}", _err(sr_a, fw.sizes.ram)]]
    syn_e = sum(l.counts.get("synops", 0) for l in rep.layers)
    syn_m = sum(float(d["synops"].sum()) for d in res.counts.values()) / n
    rows.append(["synops / input", f"{syn_e:,.1f}", f"{syn_m:,.1f}", _err(syn_e, syn_m)])
    cyc_m = sum(layer_m.values())
    run_m = float(res.run_cycles.mean()) if res.run_cycles is not None else None
    # like for like: QEMU counts instructions, so they meet the calibration's instruction fit where it has one
    # (its latency is in estimated cycles); a board measured in cycles meets the cycle estimate
    like = u == "instructions" and rep.instructions is not None
    what = "instructions" if like else "cycles"

    def est(l) -> float:
        return l.instructions if like else l.cycles

    total_e = sum(est(l) for l in rep.layers)
    for l in rep.layers:
        if l.name in layer_m:
            rows.append([f"  {l.name} ({l.kind}): {what} est. / {u} meas.", f"{est(l):,.0f}",
                         f"{layer_m[l.name]:,.0f}", _err(est(l), layer_m[l.name])])
        elif run_m is not None:  # the time loop, counters and exit test: the whole run less the layers
            rows.append([f"  {l.name}: {what} est. / {u} meas. (whole run - layers)", f"{est(l):,.0f}",
                         f"{run_m - cyc_m:,.0f}", _err(est(l), run_m - cyc_m)])
        else:
            rows.append([f"  {l.name}: {what} est. / not measured by this firmware", f"{est(l):,.0f}", "-", "-"])
    rows.append([f"{what} est. / {u} meas. per input (layers)", f"{total_e - est(rep.layers[-1]):,.0f}",
                 f"{cyc_m:,.0f}", _err(total_e - est(rep.layers[-1]), cyc_m)])
    if run_m is not None:  # the whole esn_step calls: layers, time loop, counters, exit test
        rows.append([f"{what} est. / {u} meas. per input (whole run)", f"{total_e:,.0f}", f"{run_m:,.0f}",
                     _err(total_e, run_m)])
    if like:
        rows.append(["estimated cycles per input (whole run)", f"{rep.cycles:,.0f}", "-", "-"])
    exit_gain = None
    if run_m is not None and p.qgraph.exit is not None:
        # DT-SNN's claim, measured: the same model without its exit policy, on the same inputs and board
        full, _ = run_on_board(board, p.qgraph.with_exit(None), x, builtin=True)
        run_full = float(full.run_cycles.mean())
        full_rep = estimate(p.qgraph.with_exit(None), run_c(p.qgraph.with_exit(None), x), board)
        full_e = sum(est(l) for l in full_rep.layers)
        exit_gain = {"cycles_no_exit": run_full, "cycles_exit": run_m, "edp_ratio": (run_m / run_full) ** 2}
        rows.append([f"{u} per input: no exit -> exit", f"{full_e:,.0f} -> {total_e:,.0f}",
                     f"{run_full:,.0f} -> {run_m:,.0f}", f"{run_full / run_m:.2f}x fewer (meas.)"])
        rows.append(["energy-delay product with exit / without", f"{rep.edp_js / full_rep.edp_js:.3f}",
                     f"{(run_m / run_full) ** 2:.3f}", f"EDP -{100 * (1 - (run_m / run_full) ** 2):.0f}% (meas.)"])
    print(tabulate(rows, ["figure", f"estimated ({n} inputs)", f"measured on {board.id}", "error"],
                   tablefmt="simple_outline", disable_numparse=True))
    print(f"estimated: cost model ({p.cost['calibration']}) on activity simulated on the host in the bit-exact C "
          f"runtime; measured: QEMU, per-layer {u} from the tick counter (-icount), firmware {fw.elf.name} "
          f"({'cached' if fw.cached else 'built'}). The plan's flash and SRAM are its built firmware's, so they "
          f"match by construction (the other front rows: this firmware's base plus their own blob and arena); "
          f"the analytical rows are the cost model's terms alone, what a plan gets where no firmware can be "
          f"built. Measured EDP scales "
          f"as {u} squared (energy at a fixed energy per {u[:-1]}, delay at a fixed clock). The planner's "
          f"validation figures: {100 * p.accuracy:.2f}% accuracy, {p.cost['mean_steps']:.2f} mean steps.")
    return {"accuracy": acc_m, "mean_steps": steps_m, "flash_bytes": fw.sizes.flash, "sram_bytes": fw.sizes.ram,
            f"{u}_per_input": cyc_m, "estimated_accuracy": acc_e, "estimated_mean_steps": steps_e,
            "estimated_cycles_per_input": rep.cycles, "exit_gain": exit_gain}
