"""`edgesnn calibrate`: microbenchmarks -> measurements -> fit -> held-out check -> calibration file."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from ..artifact import atomic_write_bytes
from ..cost.model import coefficients
from ..resources import user_calibration_dir
from . import bench as B
from . import calibration
from . import fit as FT
from . import measure as M
from .measure import CalibrationError
from .profile import held_out as run_held_out

SMALL_ARENA_BYTES = 32 * 1024  # below this the benchmark layers stay small (the micro:bit's 16 KiB)


def _pct(x: float) -> str:
    return f"{x:.1%}"


def report(cal: dict, skipped: list[str]) -> str:
    """What the calibration did, in lines a person reads."""
    f, cv, tr = cal["fit"], cal["fit"]["cv"], cal["fit"]["train"]
    lines = [f"calibration {cal['id']}: {len(cal['coefficients'])} coefficients from {f['benchmarks']} benchmarks "
             f"({f['rows']} rows) measured with {cal['provenance']['runtime']} ({cal['provenance']['unit']})",
             f"  fit:  layer error median {_pct(tr['layer_error_median'])}, worst {_pct(tr['layer_error_worst'])}; "
             f"benchmark totals median {_pct(tr['total_error_median'])}, worst {_pct(tr['total_error_worst'])}",
             f"  {cv['folds']}-fold CV over benchmarks: layer error median {_pct(cv['layer_error_median'])}, 90th "
             f"percentile {_pct(cv['layer_error_p90'])}; benchmark totals median {_pct(cv['total_error_median'])}, "
             f"worst {_pct(cv['total_error_worst'])}"]
    fc = cal.get("fit_cycles")
    if fc:
        lines.append(f"  estimated cycles ({len(cal['cycle_coefficients'])} coefficients, the latency the planner uses): "
                     f"fit layer error median {_pct(fc['train']['layer_error_median'])}, {fc['cv']['folds']}-fold CV "
                     f"layer median {_pct(fc['cv']['layer_error_median'])}, benchmark totals median "
                     f"{_pct(fc['cv']['total_error_median'])}, worst {_pct(fc['cv']['total_error_worst'])}")
    elif cal["provenance"].get("unit") == "instructions":
        lines.append("  no estimated-cycle fit: the coefficients are instructions (latency = instructions / clock)")
    for title, items in (("skipped", skipped), ("rejected", f["rejected"]), ("outliers", f["outliers"]),
                         ("not fitted", f["not_fitted"]), ("left out", f["left_out"])):
        if items:
            lines.append(f"  {title} ({len(items)}):")
            lines += [f"    {i}" for i in items[:20]] + ([f"    ... {len(items) - 20} more"] if len(items) > 20 else [])
    ho = cal.get("held_out")
    if ho:
        rows = []
        for r in ho["models"]:
            if "skipped" in r:
                rows.append([r["model"], "-", "-", "-", f"skipped: {r['skipped']}"])
            else:
                rows.append([r["model"], f"{r['measured']:,.0f}", _pct(r["before"]["error"]), _pct(r["after"]["error"]),
                             f"worst row {_pct(r['after']['layer_error_worst'])}"])
        b, a = ho["before"], ho["after"]
        if a.get("models"):
            rows.append(["median | worst", "", f"{_pct(b['median_error'])} | {_pct(b['worst_error'])}",
                         f"{_pct(a['median_error'])} | {_pct(a['worst_error'])}", ""])
        lines.append("held-out example models (never fitted on), total per input:")
        lines.append(tabulate(rows, ["model", f"measured {cal['provenance']['unit']}", "error before (priors)",
                                     "error after", "after, per layer"], tablefmt="simple", disable_numparse=True))
        if ho.get("cycles"):
            crow = []
            for r in ho["models"]:
                c = r.get("cycles")
                if c:
                    crow.append([r["model"], f"{c['traced']:,.0f}", _pct(c["before"]["error"]),
                                 _pct(c["after"]["error"])])
            cb, ca = ho["cycles"]["before"], ho["cycles"]["after"]
            if ca.get("models"):
                crow.append(["median | worst", "", f"{_pct(cb['median_error'])} | {_pct(cb['worst_error'])}",
                             f"{_pct(ca['median_error'])} | {_pct(ca['worst_error'])}"])
            lines.append("held-out, estimated cycles of a traced input (QEMU's block log priced with the core's "
                         "published timings) against the cost model's cycles:")
            lines.append(tabulate(crow, ["model", "traced est. cycles", "error before (priors)", "error after"],
                                  tablefmt="simple", disable_numparse=True))
    return "\n".join(lines)


def run_calibration(board, *, output=None, port=None, benchmarks: int = B.DEFAULT_COUNT, measurements=None, refit=None,
                    held_out: bool = True, inputs: int = 10, seed: int = 0, out=None,
                    boot_timeout: float | None = None, cycles: bool | None = None) -> dict:
    """Measure (unless refit), fit, check on the held-out models, write the calibration; returns its dict.
    cycles (default: on for an emulated board): also the traced pass (measure.measure_cycles) whose rows,
    in estimated cycles, go to BOARD.cycles.jsonl beside the measurements and are fitted to the
    calibration's "cycle_coefficients"; a refit refits that file too where it lies beside them."""
    out = out or sys.stdout
    output = Path(output) if output else user_calibration_dir() / f"{board.id}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    if refit:
        mpath = Path(refit)
    else:
        if not board.is_emulated and port is None:
            raise CalibrationError(f"{board.id} is real hardware: flash the runtime firmware (docs/calibration.md) "
                                   "and pass --port")
        mpath = Path(measurements) if measurements else output.with_name(f"{board.id}.measurements.jsonl")
        arena = board.regions[board.arena_region].size_bytes
        specs = B.design(benchmarks, seed, max_size=256 if arena >= SMALL_ARENA_BYTES else 40)
    cpath = None
    if cycles is None:
        cycles = board.is_emulated and port is None
    if not refit:
        if cycles:
            rows, crows, skipped, info = M.measure_with_cycles(board, specs, boot_timeout=boot_timeout)
        else:
            rows, skipped = M.measure(board, specs, port=port, boot_timeout=boot_timeout)
        M.write_rows(rows, mpath)
        print(f"{len(specs) - len(skipped)} microbenchmarks measured on {board.id} -> {mpath}", file=out)
    cpath = mpath.with_name(mpath.name.replace(".measurements.jsonl", "") + ".cycles.jsonl") \
        if mpath.name.endswith(".measurements.jsonl") else mpath.with_suffix(".cycles.jsonl")
    cyc = None
    if cycles and not refit:
        M.write_rows(crows, cpath)
        print(f"estimated cycles of the microbenchmarks ({info['inputs']} input x {info['steps']} steps each, "
              f"{info['instructions']:,} instructions traced, {info['log_bytes'] / 2**20:,.0f} MiB of block log, "
              f"{info['seconds']:g} s) -> {cpath}", file=out)
        cyc = info
    elif cycles and cpath.exists():
        cyc = {}
    meas = M.load(mpath, board=board.id)
    f = FT.fit(meas, seed=seed)
    cfit = None
    if cyc is not None:
        cmeas = M.load(cpath, board=board.id)
        cfit = (cmeas, FT.fit(cmeas, seed=seed), {**cyc, "measurements": os.path.relpath(cpath, output.parent)})
    cmd = "edgesnn calibrate --board " + board.id + (f" --port {port}" if port else "") + (
        f" --refit {refit}" if refit else f" --benchmarks {benchmarks}") + f" -o {output}"
    ref = os.path.relpath(mpath, output.parent)  # the file beside it, wherever the pair is moved
    cal = calibration(board, meas, f, command=cmd, measurements_ref=ref, cycles=cfit)
    if held_out:
        fd, tmp = tempfile.mkstemp(suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(cal, fh)
            sets = {"before": coefficients(board, priors_only=True), "after": coefficients(board, tmp)}
        finally:
            os.unlink(tmp)
        cal = calibration(board, meas, f, held_out=run_held_out(board, sets, port=port, inputs=inputs,
                                                                        boot_timeout=boot_timeout,
                                                                        cycles=cfit is not None), command=cmd,
                          measurements_ref=ref, cycles=cfit)
    atomic_write_bytes(output, (json.dumps(cal, indent=1) + "\n").encode())
    print(report(cal, skipped), file=out)
    print(f"-> {output}", file=out)
    return cal
