"""Planner throughput: quantization candidates evaluated per second on the example MLP.

    .venv/bin/python bench/bench_plan.py [--workers 2] [--samples 500]

Every candidate of the MLP's search grid (quant_search.candidates, >= 1000) is quantized, emitted as
a blob and run in the C runtime on the validation inputs tiled to --samples (the split has 216).
Target: >= 1000 candidates within 60 s on 2 cores. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from edgesnn.data import load_dataset
    from edgesnn.graph import Graph
    from edgesnn.plan.quant_search import candidates, evaluate
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=500)
    args = ap.parse_args()
    g = Graph.load(ROOT / "examples" / "models" / "digits_mlp.json")
    x, y = load_dataset(ROOT / "examples" / "data" / "digits_val.npz")
    idx = np.arange(args.samples) % len(y)
    xs, ys = x[idx], y[idx]
    cs = candidates(g)
    t = time.perf_counter()
    ev = evaluate(g, cs, xs, ys, calib=x, workers=args.workers)
    dt = time.perf_counter() - t
    best = max(ev, key=lambda e: e.accuracy)
    print(json.dumps({"candidates": len(cs), "distinct_models": len({e.digest for e in ev}), "samples": args.samples,
                      "workers": args.workers, "cpus": len(os.sched_getaffinity(0)), "seconds": round(dt, 2),
                      "candidates_per_s": round(len(cs) / dt, 1), "target": ">= 1000 candidates in 60 s",
                      "met": len(cs) >= 1000 and dt <= 60, "best_accuracy": best.accuracy}, indent=1))


if __name__ == "__main__":
    main()
