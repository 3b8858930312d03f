"""Plan every example model for every board: the chosen plan where one fits, Infeasible with its levers where not.

    python examples/plan_all.py                       # all models x all boards -> examples/results/plans.json
    python examples/plan_all.py --models digits_mlp --boards qemu-mps2-an386 qemu-microbit
    python examples/plan_all.py --executor ray:HEAD:6379    # the candidates on a Ray cluster (docs/cluster.md)

One quantization search per model on its validation data (board-independent, edgesnn.plan.search_quantization),
then edgesnn.plan.plan for each board with it: memory fit, early exit, schedule, cost on that board's
coefficients, and for boards with a firmware port the chosen candidate's firmware built and measured. On
emulated boards the chosen plan then runs CHECK_INPUTS test inputs under QEMU and its estimated instructions
are set against the measured ones (edgesnn.calibrate.profile.estimate_check: issue #18's target is median
<= 2 %, worst <= 5 % per board), summed up in a last table.
The digits models plan on the 5-coding validation set (examples/make_eval_sets.py) and are checked on the
5-coding test set; the sequence models have one deterministic coding. The recurrent models search a smaller
grid (their runs are 64 steps long; RECURRENT_MENU).

--executor local|ray[:ADDRESS]: where each model's candidates run (edgesnn/executor.py; one Ray connection for the
whole sweep, each model's graph and validation data shipped once). The per-board part (memory fit, exit, schedules,
firmware builds) runs here: it needs this machine's toolchain and is cheap beside the search.

Prints one table per model and writes examples/results/plans.json (every figure, per model and board).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgesnn.artifact import save_json  # noqa: E402
from edgesnn.calibrate.profile import check_summary, estimate_check  # noqa: E402
from edgesnn.board import load_catalogue  # noqa: E402
from edgesnn.data import load_dataset  # noqa: E402
from edgesnn.errors import EdgesnnError  # noqa: E402
from edgesnn.executor import get_executor  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.plan import Infeasible, plan, search_quantization  # noqa: E402
from edgesnn.plan.quant_search import candidates  # noqa: E402

MODELS = {  # model -> (validation set, test set)
    "digits_mlp": ("digits_val_x5.npz", "digits_test_x5.npz"),
    "digits_cnn": ("digits_val_x5_cnn.npz", "digits_test_x5_cnn.npz"),
    "seqdigits_alif": ("seqdigits_val.npz", "seqdigits_test.npz"),
    "seqdigits_lif": ("seqdigits_val.npz", "seqdigits_test.npz"),
    "psdigits_alif": ("psdigits_val.npz", "psdigits_test.npz"),
    "psdigits_lif": ("psdigits_val.npz", "psdigits_test.npz"),
}
# recurrent weights compound rounding over 64 steps: post-training, 8 bits lose 2-4 pt on these models, 12-16 bits
# are within a point of float (measured on their validation sets), so their grid starts at 8 bits
CHECK_INPUTS = 5   # test inputs each chosen plan runs on an emulated board (the estimate check)
RECURRENT_MENU = {"weight_bits": (8, 12, 16), "state_bits": (16, 24), "threshold_bits": (None,), "decay_bits": (12, 16),
                  "current_bits": (16,), "adapt_bits": (12, 16), "rounding": ("nearest",)}


def test_figures(p, x, y) -> dict:
    """The plan's model on the test set: accuracy with and without its exit policy, mean steps."""
    from edgesnn.runtime.binding import run_c
    full = run_c(p.qgraph.with_exit(None), x)
    run = run_c(p.qgraph, x) if p.qgraph.exit is not None else full
    return {"test_accuracy_full": float(np.mean(full.pred == y)), "test_accuracy": float(np.mean(run.pred == y)),
            "test_mean_steps": float(run.mean_steps), "steps": int(x.shape[1])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    ap.add_argument("--boards", nargs="+", default=None, help="board ids (default: every board in boards/)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "plans.json")
    ap.add_argument("--executor", default="local", metavar="local|ray[:ADDRESS]",
                    help="where the candidates run (default local; ray: a Ray instance here; ray:HOST:PORT: a cluster)")
    args = ap.parse_args(argv)
    boards = load_catalogue()
    ids = args.boards or sorted(boards)
    unknown = sorted(set(ids) - set(boards))
    if unknown:
        ap.error(f"unknown board(s) {', '.join(unknown)}; known: {', '.join(sorted(boards))}")
    try:
        executor = get_executor(args.executor)
    except EdgesnnError as e:
        ap.error(str(e))
    with executor:
        return _sweep(args, boards, ids, executor)


def _sweep(args, boards, ids, executor) -> int:
    from tabulate import tabulate
    results = json.loads(args.out.read_text()) if args.out.exists() else {}  # other models' rows are kept
    checks: dict[str, list[float]] = {}
    for name in args.models:
        val, test = MODELS[name]
        graph = Graph.load(HERE / "models" / f"{name}.json")
        x, y = load_dataset(HERE / "data" / val)
        xt, yt = load_dataset(HERE / "data" / test)
        recurrent = x.shape[1] > 16
        configs = candidates(graph, RECURRENT_MENU) if recurrent else None
        t0 = time.perf_counter()
        searched = search_quantization(graph, x, y, configs=configs, progress=True, executor=executor)
        print(f"== {name}: {len(searched.evaluated)} candidates on {len(y)} validation inputs in "
              f"{time.perf_counter() - t0:.0f} s; float {100 * searched.float_accuracy:.2f}%")
        rows, per_board = [], {}
        for bid in ids:
            p = plan(graph, boards[bid], x, y, max_drop=0.01, searched=searched)
            if isinstance(p, Infeasible):
                per_board[bid] = p.to_dict()
                rows.append([bid, "infeasible: " + p.reason, "", "", "", "", "", ""])
                continue
            t = test_figures(p, xt, yt)
            c, tot = p.qgraph.config, p.cost["totals"]
            per_board[bid] = {"config": c.to_dict(), "schedule": p.schedule, "exit": p.exit.to_dict() | {"curve": []},
                              "val_accuracy": p.accuracy, "float_val_accuracy": p.float_accuracy,
                              "totals": tot, "memory": p.cost.get("memory_source", "estimate"),
                              "calibration": p.cost["calibration"]} | t
            sl = p.qgraph.meta.get("stateless", [])
            per_board[bid]["stateless"] = sl
            per_board[bid]["placement"] = p.placement
            if boards[bid].is_emulated:
                chk = estimate_check(p.qgraph, xt[:CHECK_INPUTS], boards[bid], model=name)
                per_board[bid]["estimate_check"] = chk
                checks.setdefault(bid, []).append(chk["error"])
            rows.append([bid, f"w{c.weight_bits} s{c.state_bits} {c.rounding}",
                         p.schedule + (f", stateless {'+'.join(sl)}" if sl else ""),
                         f"{100 * t['test_accuracy_full']:.2f} -> {100 * t['test_accuracy']:.2f}%",
                         f"{t['test_mean_steps']:.2f}/{t['steps']}", f"{tot['flash_bytes']:,}",
                         f"{tot['sram_bytes']:,}", f"{tot['energy_j'] * 1e6:.1f}"])
        print(tabulate(rows, ["board", "bits", "schedule", "test acc (no exit -> exit)", "mean steps", "flash B",
                              "SRAM B", "energy uJ"], tablefmt="simple_outline", disable_numparse=True))
        results[name] = {"validation": val, "test": test, "candidates": len(searched.evaluated),
                         "float_val_accuracy": searched.float_accuracy, "boards": per_board}
        save_json(args.out, results)
    if checks:
        print("estimated vs measured instructions of the chosen plans on the emulated boards "
              f"({CHECK_INPUTS} test inputs each; target median <= 2 %, worst <= 5 %):")
        print(tabulate(check_summary(checks), ["board", "plans", "median |error|", "worst"],
                       tablefmt="simple_outline", disable_numparse=True))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
