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
    return "\n".join(lines)


def run_calibration(board, *, output=None, port=None, benchmarks: int = 96, measurements=None, refit=None,
                    held_out: bool = True, inputs: int = 10, seed: int = 0, out=None,
                    boot_timeout: float | None = None) -> dict:
    """Measure (unless refit), fit, check on the held-out models, write the calibration; returns its dict."""
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
        rows, skipped = M.measure(board, specs, port=port, boot_timeout=boot_timeout)
        M.write_rows(rows, mpath)
        print(f"{len(specs) - len(skipped)} microbenchmarks measured on {board.id} -> {mpath}", file=out)
    meas = M.load(mpath, board=board.id)
    f = FT.fit(meas, seed=seed)
    cmd = "edgesnn calibrate --board " + board.id + (f" --port {port}" if port else "") + (
        f" --refit {refit}" if refit else f" --benchmarks {benchmarks}") + f" -o {output}"
    ref = os.path.relpath(mpath, output.parent)  # the file beside it, wherever the pair is moved
    cal = calibration(board, meas, f, command=cmd, measurements_ref=ref)
    if held_out:
        fd, tmp = tempfile.mkstemp(suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(cal, fh)
            sets = {"before": coefficients(board, priors_only=True), "after": coefficients(board, tmp)}
        finally:
            os.unlink(tmp)
        cal = calibration(board, meas, f, held_out=run_held_out(board, sets, port=port, inputs=inputs,
                                                                        boot_timeout=boot_timeout), command=cmd,
                          measurements_ref=ref)
    atomic_write_bytes(output, (json.dumps(cal, indent=1) + "\n").encode())
    print(report(cal, skipped), file=out)
    print(f"-> {output}", file=out)
    return cal
