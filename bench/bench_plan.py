"""Planner throughput: the racing search (plan/race.py) against the exhaustive grid, wall time and candidates per
second, on the example digits MLP and the MNIST-sized MLP (bench/real_models.py), with the fronts compared.

    .venv/bin/python bench/bench_plan.py [--workers 2] [--cases digits:500,mnist:500,mnist:2000]
                                         [--exhaustive digits:500,mnist:500] [--board qemu-mps2-an500]
                                         [--executors local,ray]

digits:N   examples/models/digits_mlp.json on the first N inputs of the 5-coding validation set
           (examples/data/digits_val_x5.npz: 1,080 spike trains of the 216 validation images), max_drop 0.01;
mnist:N    the 784-512-256-10 LIF MLP on N Bernoulli inputs (16 steps, 10 % rate) labelled by its own float
           predictions (its weights are random: accuracy means nothing, only the work counts), max_drop 0.2.
Each case is planned with search="race" and, when listed in --exhaustive, with search="exhaustive"; both over the
full grid (quant_search.candidates), without firmware builds (measure=False: the planner's own work). The fronts
and chosen plans are compared; the race reports the fraction of candidate x input runs it made.
--executors: each search is timed on every executor listed (edgesnn/executor.py): local (`workers` forked
processes) and ray (a Ray instance started here with `workers` CPUs, once for the whole run: its start-up is
reported apart, `ray_start_s`; or ray:HOST:PORT, a cluster); the plans are compared with the local one
(`same_as_local`: the whole PLAN.json).
Targets (issue 18): mnist:500 on qemu-mps2-an500 a plan in <= 60 s wall on 2 cores, mnist:2000 in <= 120 s.
Timings are printed, never asserted; the machine's load is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

TARGET_S = {("mnist", 500): 60, ("mnist", 2000): 120}


def _case(name: str, n: int):
    import numpy as np

    from edgesnn.data import load_dataset
    from edgesnn.graph import Graph
    from edgesnn.graph.simulate import simulate
    if name == "digits":
        g = Graph.load(ROOT / "examples" / "models" / "digits_mlp.json")
        x, y = load_dataset(ROOT / "examples" / "data" / "digits_val_x5.npz")
        if not 1 <= n <= len(y):
            raise SystemExit(f"digits:{n}: 1..{len(y)} inputs")
        return g, x[:n], y[:n], 0.01
    if name == "mnist":
        from real_models import mnist_mlp, spike_inputs
        g = mnist_mlp()
        x = spike_inputs((784,), n=n, seed=1)
        y = np.asarray(simulate(g, x).pred, np.int64)
        return g, x, y, 0.2
    raise SystemExit(f"unknown case {name!r} (digits, mnist)")


def _front(p):
    return [{k: v for k, v in r.items() if k != "memory"} for r in p.front]


def main() -> None:
    from edgesnn.board import get_board
    from edgesnn.executor import get_executor
    from edgesnn.plan import Infeasible
    from edgesnn.plan.quant_search import candidates
    from edgesnn.plan import search as search_module
    from edgesnn.plan.search import plan
    spent = {"race_s": 0.0}
    race = search_module.race

    def timed_race(*a, **kw):  # the racing search's own share of a plan's wall time
        t = time.perf_counter()
        try:
            return race(*a, **kw)
        finally:
            spent["race_s"] += time.perf_counter() - t
    search_module.race = timed_race
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cases", default="digits:500,mnist:500,mnist:2000")
    ap.add_argument("--exhaustive", default="digits:500,mnist:500",
                    help="cases also planned exhaustively (the reference front); '' for none")
    ap.add_argument("--board", default="qemu-mps2-an500")
    ap.add_argument("--executors", default="local", help="comma-separated: local, ray, ray:HOST:PORT")
    args = ap.parse_args()
    board = get_board(args.board)
    specs = sorted(set(args.executors.split(",")), key=lambda e: e != "local")   # local first: the reference
    executors, ray_start = {}, None
    for spec in specs:
        t = time.perf_counter()
        executors[spec] = get_executor(spec, args.workers).start()  # Ray started (or joined) now, not in a search
        if spec != "local":
            ray_start = round(time.perf_counter() - t, 1)
    exhaustive = {c for c in args.exhaustive.split(",") if c}
    out = []
    for case in args.cases.split(","):
        name, n = case.split(":")
        g, x, y, max_drop = _case(name, int(n))
        n_cand = len(candidates(g))
        row = {"case": case, "board": board.id, "candidates": n_cand, "inputs": len(y), "workers": args.workers,
               "cpus": len(os.sched_getaffinity(0)), "load_1min": round(os.getloadavg()[0], 2)}
        if ray_start is not None:
            row["ray_start_s"] = ray_start
        plans = {}
        for search, spec in [(s, e) for s in ["race"] + (["exhaustive"] if case in exhaustive else [])
                             for e in executors]:
            spent["race_s"] = 0.0
            t = time.perf_counter()
            p = plan(g, board, x, y, max_drop=max_drop, workers=args.workers, measure=False, search=search,
                     executor=executors[spec])
            dt = time.perf_counter() - t
            r = {"seconds": round(dt, 1), "candidates_per_s": round(n_cand / dt, 1)}
            if spec != "local":
                if search in plans:
                    r["same_as_local"] = p.to_dict() == plans[search].to_dict()
                row[f"{search}@{spec}"] = r
                print(f"{case} {search} on {spec}: {dt:.1f} s", file=sys.stderr)
                continue
            plans[search] = p
            if search == "race":
                r["race_search_s"] = round(spent["race_s"], 1)  # the rest: float run, sensitivity, mapping stage
            if isinstance(p, Infeasible):
                r["infeasible"] = p.reason
            else:
                r["chosen"] = p.qgraph.config.to_dict() | {"schedule": p.schedule, "accuracy": p.accuracy}
                if search == "race":
                    r["search"] = p.search_space.get("search")
            target = TARGET_S.get((name, int(n)))
            if target:
                r["target_s"], r["met"] = target, dt <= target
            row[search] = r
            print(f"{case} {search}: {dt:.1f} s", file=sys.stderr)
        if len(plans) == 2:
            a, b = plans["race"], plans["exhaustive"]
            if isinstance(a, Infeasible) or isinstance(b, Infeasible):
                row["same_front"] = row["same_choice"] = (isinstance(a, Infeasible) and isinstance(b, Infeasible)
                                                          and a.reason == b.reason)
            else:
                row["same_front"] = _front(a) == _front(b)
                row["same_choice"] = (a.qgraph.config == b.qgraph.config and a.schedule == b.schedule
                                      and a.accuracy == b.accuracy)
            row["speedup"] = round(row["exhaustive"]["seconds"] / row["race"]["seconds"], 2)
        out.append(row)
        print(json.dumps(row), flush=True)
    for ex in executors.values():
        ex.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
