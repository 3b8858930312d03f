"""Planner throughput: quantization candidates evaluated per second on the example MLP.

    .venv/bin/python bench/bench_plan.py [--workers 2] [--samples 500]

Every candidate of the MLP's search grid (quant_search.candidates, >= 1000) is quantized, emitted as
a blob and run in the C runtime on the first --samples inputs of the 5-coding validation set
(examples/data/digits_val_x5.npz: 1,080 distinct spike trains of the 216 validation images).
Target: >= 1000 candidates within 60 s on 2 cores. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

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
    x, y = load_dataset(ROOT / "examples" / "data" / "digits_val_x5.npz")
    if not 1 <= args.samples <= len(y):
        raise SystemExit(f"--samples must lie in 1..{len(y)}")
    xs, ys = x[:args.samples], y[:args.samples]
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
