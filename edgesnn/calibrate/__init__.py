"""Calibration: microbenchmarks on a device -> measurements.jsonl -> fitted coefficients -> calibration/<board>.json.

    specs = bench.design(64)                                  # generated layers (bench.py)
    rows, skipped = measure.measure(board, specs)             # on QEMU, or a real board on `port`
    meas = measure.load("measurements.jsonl", board=board.id) # checked; bad rows rejected with file:line
    f = fit.fit(meas)                                         # robust NNLS + k-fold CV (fit.py)
    cal = calibration(board, meas, f)                         # the calibration file's content

`edgesnn calibrate --board B` does all of it, then runs the example models (never part of a fit) and
reports their total error before (priors) and after. `edgesnn profile` puts the estimate and the
measurement of any model side by side (profile.py).
"""

from __future__ import annotations

import datetime as _dt

from .. import __version__
from ..cost.model import coefficients, fallbacks
from .measure import CalibrationError
from .profile import summary

__all__ = ["CalibrationError", "calibration"]

def _region_coefficients(board) -> dict:
    """Access-cycle coefficients that the fit subsumes. Measured cycles already include every load and
    store the benchmarks made, whose weights and state lie in the arena's region: that region costs no
    extra. Under QEMU nothing has wait states, so every region is 0. On a real board another region
    (compiled-in weights in flash) keeps its prior minus the arena's, the extra it costs per word."""
    pri = coefficients(board, priors_only=True).values
    arena = board.arena_region
    out = {}
    for name in board.regions:
        for attr in ("read_cycles", "write_cycles"):
            key = f"{name}.{attr}"
            if board.is_emulated:
                out[key] = (0.0, "QEMU models no wait states: the fitted instruction counts include every access")
            elif name == arena:
                out[key] = (0.0, "the microbenchmarks' measured cycles include this region's accesses")
            else:
                extra = max(0.0, pri.get(key, 0.0) - pri.get(f"{arena}.{attr}", 0.0))
                out[key] = (extra, f"prior {pri.get(key, 0.0):g} minus the fitted region {arena!r}'s "
                                   f"{pri.get(f'{arena}.{attr}', 0.0):g} (extra cycles per word over it)")
    return out


def _fit_report(f, meas) -> dict:
    return {"method": "non-negative least squares on relative errors, Huber-reweighted (k = 2 MAD), rows "
                      "beyond max(8 MAD, 10 %) trimmed", "benchmarks": f.benchmarks, "rows": f.rows,
            "train": f.train, "cv": f.cv, "outliers": f.outliers, "not_fitted": f.not_fitted,
            "left_out": f.left_out, "rejected": meas.rejected}


def _fitted(f, source: str, unit_note: str = "") -> dict:
    """A fit's coefficients with their source, and the names they fall back from (a reset mode, weight width or
    kind no benchmark ran) with the mean of the fitted names under them rather than the generic prior."""
    out = {k: {"value": round(v, 4), "source": source} for k, v in sorted(f.coefficients.items())}
    kids: dict[str, list[str]] = {}
    for k in f.coefficients:
        for parent in fallbacks(k)[1:]:
            if parent not in f.coefficients:
                kids.setdefault(parent, []).append(k)
    for parent, ks in sorted(kids.items()):
        out[parent] = {"value": round(sum(f.coefficients[k] for k in ks) / len(ks), 4),
                       "source": f"fallback: mean of the fitted {', '.join(sorted(ks))}{unit_note}"}
    return out


def cycle_coefficients(meas, f, info: dict | None = None) -> dict:
    """The estimated-cycles fit's coefficients, each with its source (and the fallbacks' means)."""
    cv = f.cv
    src = (f"robust NNLS on {f.benchmarks} microbenchmarks ({f.rows} rows, {meas.unit}: QEMU's block log priced "
           f"with the core's published timings, edgesnn/firmware/cycles.py); {cv['folds']}-fold CV: layer error "
           f"median {cv['layer_error_median']:.1%}, total median {cv['total_error_median']:.1%}")
    return _fitted(f, src, " (estimated cycles)")


def calibration(board, meas, f, *, held_out: list | None = None, command: str = "",
                measurements_ref: str | None = None, cycles: tuple | None = None) -> dict:
    """The calibration file (calibration/README.md): coefficients with sources, provenance, fit report.
    cycles: (Measurements in estimated cycles, their Fit, the traced pass's figures) on emulated boards: the
    file then carries "cycle_coefficients" (what the planner's latency uses) and "fit_cycles" beside the
    instruction fit's "coefficients" and "fit"."""
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    cv = f.cv
    src = (f"robust NNLS on {f.benchmarks} microbenchmarks ({f.rows} rows, {meas.unit}, {meas.runtime}); "
           f"{cv['folds']}-fold CV: layer error median {cv['layer_error_median']:.1%}, total median "
           f"{cv['total_error_median']:.1%}")
    coeffs = _fitted(f, src)
    for k, (v, s) in _region_coefficients(board).items():
        coeffs[k] = {"value": v, "source": s}
    d = {"artifact": "calibration", "edgesnn_version": __version__, "board": board.id, "id": f"{board.id}/{date}",
         "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "provenance": {"measurements": measurements_ref or meas.path, "runtime": meas.runtime, "unit": meas.unit,
                        "runtime_sources": meas.provenance.get("runtime_sources"), **{
                            k: meas.provenance.get(k) for k in ("compiler", "cflags", "firmware", "date",
                                                                "edgesnn_version", "tick_hz")},
                        "command": command},
         "coefficients": coeffs,
         "fit": _fit_report(f, meas)}
    if cycles is not None:
        cmeas, cf, info = cycles
        d["cycle_coefficients"] = cycle_coefficients(cmeas, cf)
        d["fit_cycles"] = {**_fit_report(cf, cmeas), "measurements": info.get("measurements", cmeas.path),
                           "traced": {k: v for k, v in info.items() if k != "measurements"}}
    if held_out is not None:
        d["held_out"] = {"models": held_out, "before": summary(held_out, "before"),
                         "after": summary(held_out, "after")}
        if any("cycles" in r for r in held_out):   # estimated cycles of a traced input against the model's
            d["held_out"]["cycles"] = {"before": summary(held_out, "before", True),
                                       "after": summary(held_out, "after", True)}
    return d
