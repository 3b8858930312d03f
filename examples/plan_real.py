"""Plan the real-sized trained models (examples/train_real.py) for every board of the catalogue.

    python examples/plan_real.py                                   # 4 models x every board
    python examples/plan_real.py --models mnist_mlp --boards qemu-mps2-an386 --val 64

One quantization search per model on the first --val validation inputs (a small grid: the models were trained
at 4-bit weights, 16-bit state; MENU below), then edgesnn.plan.plan for each board with it (memory fit, early
exit, schedule, cost; firmware measured where the board has a port). The chosen plan's accuracy is then taken
on the whole test set in the bit-exact C runtime (edgesnn.runtime.binding.run_c), with and without its exit.

Writes examples/results/plans_real.json (every figure per model and board) and, per model in
examples/models/real/results.json, "plans": the boards that fit, and for the first of PREFERRED that fits, its
config and test accuracy ("accuracy_fixed_plan"). The runtime planned against is the one in this checkout.
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
sys.path.insert(0, str(HERE))

from edgesnn.artifact import save_json  # noqa: E402
from edgesnn.board import load_catalogue  # noqa: E402
from edgesnn.data import load_dataset  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.plan import Infeasible, plan, search_quantization  # noqa: E402
from edgesnn.plan.quant_search import candidates  # noqa: E402

MODELS = ("mnist_mlp", "nmnist_cnn", "shd_alif", "shd_lif")
MENU = {"weight_bits": (4, 8), "state_bits": (8, 16), "threshold_bits": (None,), "decay_bits": (12,),
        "current_bits": (16,), "adapt_bits": (12,), "rounding": ("nearest",)}
RECURRENT_MENU = {**MENU, "state_bits": (16,)}   # 50 steps of recurrence: 8-bit state is not tried
PREFERRED = ("qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505", "nucleo-h743zi")
MAX_DROP = 0.02


def qemu_check(p, board, x: np.ndarray, y: np.ndarray) -> dict:
    """The plan run on the emulated board as planned (compiled in, its schedule and arena region), set against
    the bit-exact C runtime on the host: outputs, steps and every counter both count must be identical."""
    from edgesnn.api import run
    from edgesnn.lower.program import SCHEDULES
    from edgesnn.runtime.binding import run_c
    ran = run(p, x, board=board, boot_timeout=120)
    res = ran.measurement
    spec = SCHEDULES.get(p.schedule, p.schedule)
    host = run_c(p.qgraph, x, schedule=spec)
    counters, differ = 0, []
    for node, cs in res.counts.items():
        for c, v in cs.items():
            if node in host.counts and c in host.counts[node]:
                counters += 1
                if not np.array_equal(np.asarray(v), np.asarray(host.counts[node][c]).reshape(len(x), -1).sum(1)):
                    differ.append(f"{node}.{c}")
    same_out = np.array_equal(res.outputs, host.outputs)
    host_steps = host.steps if host.steps is not None else np.full(len(x), x.shape[1])
    same_steps = np.array_equal(res.steps, host_steps)
    return {"board": board.id, "inputs": int(len(x)), "schedule": p.schedule, "builtin": ran.builtin,
            "outputs_identical": bool(same_out), "steps_identical": bool(same_steps),
            "counters_compared": counters, "counters_differing": differ,
            "bit_identical_with_fixed_c": bool(same_out and same_steps and not differ and counters > 0),
            "accuracy": float(np.mean(res.pred == y)), "mean_steps": float(np.mean(res.steps)),
            "instructions_per_input": None if res.run_cycles is None else float(np.mean(res.run_cycles)),
            "unit": res.unit, "firmware_flash_bytes": ran.firmware.sizes.flash,
            "firmware_ram_bytes": ran.firmware.sizes.ram, "arena_bytes": ran.arena_bytes,
            "wall_seconds": round(ran.wall_seconds, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--boards", nargs="+", default=None, help="board ids (default: every board in boards/)")
    ap.add_argument("--val", type=int, default=128, help="validation inputs to plan on (default 128)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-measure", action="store_true", help="keep the analytical memory estimate (no builds)")
    ap.add_argument("--qemu", type=int, default=0, metavar="N",
                    help="run each model's chosen plan on its emulated board with the first N test inputs and "
                         "compare with the C runtime on the host (recorded as results.json's 'qemu')")
    ap.add_argument("--root", type=Path, default=HERE, help="the folder holding models/ and data/ (default examples/)")
    ap.add_argument("--out", type=Path, default=None, help="default: ROOT/results/plans_real.json")
    args = ap.parse_args(argv)
    root = args.root
    args.out = args.out or root / "results" / "plans_real.json"
    from tabulate import tabulate
    from edgesnn.runtime.binding import run_c
    boards = load_catalogue()
    ids = args.boards or sorted(boards)
    unknown = sorted(set(ids) - set(boards))
    if unknown:
        ap.error(f"unknown board(s) {', '.join(unknown)}; known: {', '.join(sorted(boards))}")
    res_path = root / "models" / "real" / "results.json"
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.models:
        entry = json.loads(res_path.read_text())[name]
        graph = Graph.load(root / "models" / "real" / entry["model"])
        val_path, test_path = root / "data" / entry["val_data"], root / "data" / entry["test_data"]
        if not val_path.exists() or not test_path.exists():
            ap.error(f"{val_path.name} missing: run {entry['data_command']}")
        x, y = load_dataset(val_path)
        x, y = x[:args.val], y[:args.val]
        xt, yt = load_dataset(test_path)
        menu = RECURRENT_MENU if name.startswith("shd_") else MENU
        t0 = time.perf_counter()
        searched = search_quantization(graph, x, y, configs=candidates(graph, menu), workers=args.workers,
                                       sensitivity=False)  # its w16/s32 baseline overflows int32 at 784 inputs and raises
        search_s = time.perf_counter() - t0
        print(f"== {name}: {len(searched.evaluated)} candidates on {len(y)} validation inputs in {search_s:.0f} s; "
              f"float {100 * searched.float_accuracy:.2f}%", flush=True)
        rows, per_board, chosen = [], {}, {}
        for bid in ids:
            t1 = time.perf_counter()
            p = plan(graph, boards[bid], x, y, max_drop=MAX_DROP, searched=searched, workers=args.workers,
                     measure=not args.no_measure)
            if isinstance(p, Infeasible):
                per_board[bid] = {"fits": False, **p.to_dict()}
                rows.append([bid, "infeasible: " + p.reason, "", "", "", ""])
                continue
            chosen[bid] = p
            full = run_c(p.qgraph.with_exit(None), xt)
            run = run_c(p.qgraph, xt) if p.qgraph.exit is not None else full
            c, tot = p.qgraph.config, p.cost["totals"]
            per_board[bid] = {
                "fits": True, "config": c.to_dict(), "schedule": p.schedule, "val_accuracy": p.accuracy,
                "float_val_accuracy": p.float_accuracy, "exit": p.exit.to_dict() | {"curve": []},
                "test_accuracy_full": float(np.mean(full.pred == yt)), "test_accuracy": float(np.mean(run.pred == yt)),
                "test_mean_steps": float(run.mean_steps), "totals": tot,
                "memory": p.cost.get("memory_source", "estimate"), "calibration": p.cost["calibration"],
                "stateless": p.qgraph.meta.get("stateless", []), "placement": p.placement,
                "plan_seconds": round(time.perf_counter() - t1, 1)}
            rows.append([bid, f"w{c.weight_bits} s{c.state_bits}", p.schedule,
                         f"{100 * per_board[bid]['test_accuracy_full']:.2f} -> {100 * per_board[bid]['test_accuracy']:.2f}%",
                         f"{tot['flash_bytes']:,}", f"{tot['sram_bytes']:,}"])
        print(tabulate(rows, ["board", "bits", "schedule", "test acc (no exit -> exit)", "flash B", "SRAM B"],
                      tablefmt="simple_outline", disable_numparse=True), flush=True)
        out[name] = {"validation": f"first {len(y)} of {entry['val_data']}", "test": entry["test_data"],
                     "candidates": len(searched.evaluated), "float_val_accuracy": searched.float_accuracy,
                     "search_seconds": round(search_s, 1), "max_drop": MAX_DROP, "menu": menu, "boards": per_board,
                     "command": "python examples/plan_real.py --models " + name
                                + (f" --boards {' '.join(args.boards)}" if args.boards else "")
                                + (f" --val {args.val}" if args.val != 128 else "")
                                + (" --no-measure" if args.no_measure else "")}
        save_json(args.out, out)
        fits = sorted(b for b, r in per_board.items() if r["fits"])
        pick = next((b for b in PREFERRED if b in fits), fits[0] if fits else None)
        results = json.loads(res_path.read_text())
        results[name]["plans"] = {"file": "examples/results/plans_real.json", "boards_fit": fits,
                                  "boards_infeasible": sorted(set(per_board) - set(fits)), "board": pick}
        if pick:
            r = per_board[pick]
            results[name]["plans"].update(config=r["config"], schedule=r["schedule"])
            results[name]["accuracy_fixed_plan"] = r["test_accuracy_full"]
            results[name]["accuracy_fixed_plan_exit"] = r["test_accuracy"]
            if args.qemu and boards[pick].is_emulated:
                q = qemu_check(chosen[pick], boards[pick], xt[:args.qemu], yt[:args.qemu])
                q["command"] = out[name]["command"] + f" --qemu {args.qemu}"
                results[name]["qemu"] = q
                print(f"{name} on {pick} under QEMU: bit-identical with fixed-c: {q['bit_identical_with_fixed_c']} "
                      f"({q['counters_compared']} counters), {q['instructions_per_input']:,.0f} instructions/input",
                      flush=True)
        save_json(res_path, results)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
