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
    return summary
