"""The demo pipeline behind `make demo`: the example models through every stage built so far."""

from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from .data import load_dataset
from .graph.nir_io import read_nir
from .report import accuracy, activity_table, graph_table
from .sim import simulate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_demo(out_dir: str | Path = "out", examples: Path = EXAMPLES) -> list[dict]:
    out_dir = Path(out_dir)
    recorded = json.loads((examples / "models" / "results.json").read_text())
    summary = []
    for name, info in recorded.items():
        nir_path = examples / "models" / f"{name}.nir"
        print(f"\n== {name}: import {nir_path.relative_to(examples.parent)} (dt from the file)")
        graph = read_nir(nir_path, dt=None)
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
    print("\n== summary (float simulation of the imported NIR files on the held-out digits)")
    print(tabulate([[s["model"], s["inputs"], s["steps"], f"{100 * s['accuracy']:.2f}%", f"{100 * s['recorded']:.2f}%",
                     f"{s['synops/input']:,.0f}"] for s in summary],
                   ["model", "inputs", "steps", "accuracy", "recorded at training", "synops / input"],
                   tablefmt="simple_outline"))
    plan_stage(out_dir, examples)
    return summary


def plan_stage(out_dir: str | Path = "out", examples: Path = EXAMPLES, board_id: str | None = None) -> dict:
    """Stage 2: plan the example MLP for the default emulated board; estimated figures, test-split check,
    and (stage 3, when edgesnn.device can run it) measured figures beside the estimate."""
    import numpy as np

    from .board import get_board
    from .graph import Graph
    from .plan import Infeasible, front_table, plan
    from .runtime.binding import run_c
    out_dir = Path(out_dir)
    board = get_board(board_id)
    graph = Graph.load(examples / "models" / "digits_mlp.json")
    x, y = load_dataset(examples / "data" / "digits_val.npz")
    xt, yt = load_dataset(examples / "data" / "digits_test.npz")
    print(f"\n== plan digits_mlp for {board.id} (validation data, max drop 1 pt from float)")
    p = plan(graph, board, x, y, max_drop=0.01, progress=True)
    if isinstance(p, Infeasible):
        print(p.message())
        return {"infeasible": p.to_dict()}
    p.save(out_dir / "digits_mlp.plan.json")
    print(front_table(p))
    full = run_c(p.qgraph.with_exit(None), xt)
    ex = run_c(p.qgraph, xt)
    c, tot = p.qgraph.config, p.cost["totals"]
    float32 = 4 * p.qgraph.weight_count()
    weights = sum(int(q.params["weight"].nbytes) for q in p.qgraph.layers.values() if "weight" in q.params)
    rows = [["weights", f"{c.weight_bits} bit ({weights:,} B; float32 {float32:,} B, {float32 / weights:.1f}x less)"],
            ["state / decay / rounding", f"{c.state_bits} / {c.decay_bits} bit, {c.rounding}"],
            ["exit", f"threshold_q8 {p.exit.threshold_q8}, beta_q16 {p.exit.beta_q16}"],
            ["test accuracy (no exit -> exit)", f"{100 * np.mean(full.pred == yt):.2f}% -> {100 * np.mean(ex.pred == yt):.2f}%"],
            ["test mean steps", f"{ex.mean_steps:.2f} of {full.outputs.shape[1]} ({full.outputs.shape[1] / ex.mean_steps:.2f}x fewer)"],
            ["flash (estimated)", f"{tot['flash_bytes']:,} B of {board.flash_bytes:,}"],
            ["SRAM (estimated)", f"{tot['sram_bytes']:,} B of {board.sram_bytes:,}"],
            ["cycles / latency per input (estimated)", f"{tot['cycles']:,.0f} / {1e3 * tot['latency_s']:.2f} ms"],
            ["energy / EDP per input (estimated)", f"{1e6 * tot['energy_j']:.2f} uJ / {1e9 * tot['edp_js']:.3f} nJ s"],
            ["coefficients", p.cost["calibration"]]]
    print(tabulate(rows, ["chosen plan", ""], tablefmt="simple_outline"))
    print("measured on the device: not run here (edgesnn.device's `edgesnn run` on QEMU is the next stage; "
          f"compile the plan with `edgesnn compile {out_dir / 'digits_mlp.plan.json'} -o DIR`)")
    return {"plan": p, "test_accuracy": float(np.mean(ex.pred == yt)), "test_mean_steps": ex.mean_steps}
