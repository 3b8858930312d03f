"""Fit a board's cost coefficients from measurements: robust non-negative least squares, k-fold CV.

Rows: each layer of each benchmark run (target: its measured cycles; features: edgesnn.cost.layer_terms
of its counts) and each run's overhead (target: the whole run minus its layers; features:
edgesnn.cost.runtime_terms). Every row is divided by its target, so the fit minimises relative
errors (a 500-instruction readout counts as much as a 500 000-instruction layer).

Robustness: iteratively reweighted NNLS with Huber weights on the relative residuals (scale from the
median absolute deviation); a row off by more than max(8 scales, 10 %) after a few Huber passes is
trimmed and reported as an outlier, never fitted silently. A coefficient exercised by fewer than
MIN_SUPPORT benchmarks is not fitted (it keeps its fallback) and the rows that need it are left out,
both reported; fewer than MIN_BENCHMARKS usable benchmarks, or fewer rows than coefficients, is an error.

Cross-validation: k folds over benchmarks (all rows of a benchmark in one fold); each fold is fitted
without it and predicts its layers and its whole-run total.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..cost.model import layer_terms, runtime_terms
from .measure import CalibrationError, Measurements

MIN_SUPPORT = 3
MIN_BENCHMARKS = 6
HUBER_K = 2.0
TRIM = (8.0, 0.10)  # a row is an outlier beyond max(8 robust scales, 10 %)
TRIM_AFTER = 3      # Huber iterations before the trim


@dataclass
class Rows:
    """The design: one row per layer or run overhead, its benchmark, label, target and terms."""
    bench: list[str] = field(default_factory=list)
    label: list[str] = field(default_factory=list)   # "bench/layer" or "bench/(runtime)"
    where: list[str] = field(default_factory=list)   # file:line
    y: list[float] = field(default_factory=list)
    terms: list[dict] = field(default_factory=list)


def design(meas: Measurements) -> Rows:
    rows = Rows()
    for b, run in meas.runs.items():
        for r in run["layers"] + [run["run"]]:
            line = r["_line"]
            if r is run["run"]:
                y = r["measured"] - r["layers_measured"]
                t = runtime_terms(r["info"], r["counts"]["steps"])
                lab = f"{b}/(runtime)"
            else:
                y, t, lab = r["measured"], layer_terms(r["info"], r["counts"]), f"{b}/{r['layer']}"
            rows.bench.append(b)
            rows.label.append(lab)
            rows.where.append(f"{meas.path}:{line}")
            rows.y.append(float(y))
            rows.terms.append({k: float(v) for k, v in t.items() if v})
    return rows


def _matrix(rows: Rows, names: list[str], idx) -> np.ndarray:
    col = {n: j for j, n in enumerate(names)}
    A = np.zeros((len(idx), len(names)))
    for i, r in enumerate(idx):
        for k, v in rows.terms[r].items():
            A[i, col[k]] = v
    return A


def _robust_nnls(A: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients, keep mask) minimising Huber-weighted relative residuals, outliers trimmed."""
    from scipy.optimize import nnls  # scipy takes 0.4 s to import: only when a fit runs
    w = 1.0 / np.maximum(np.abs(y), 1.0)
    norm = np.linalg.norm(A * w[:, None], axis=0)
    norm[norm == 0] = 1.0
    h = np.ones(len(y))
    keep = np.ones(len(y), bool)
    c = np.zeros(A.shape[1])
    for it in range(16):
        sw = np.sqrt(h) * w * keep
        c_n, _ = nnls(A * sw[:, None] / norm, y * sw, maxiter=50 * A.shape[1])
        c = c_n / norm
        r = (A @ c - y) * w
        s = max(1.4826 * float(np.median(np.abs(r[keep]))), 2e-3)
        h_new = np.minimum(1.0, HUBER_K * s / np.maximum(np.abs(r), 1e-12))
        if it == TRIM_AFTER:  # Huber has damped the gross errors by now: judge each row against the rest
            keep = np.abs(r) <= max(TRIM[0] * s, TRIM[1])
        elif it > TRIM_AFTER and np.allclose(h_new, h, atol=1e-4):
            break
        h = h_new
    return c, keep


@dataclass
class Fit:
    coefficients: dict[str, float]
    not_fitted: list[str]
    left_out: list[str]
    outliers: list[str]
    train: dict
    cv: dict
    benchmarks: int
    rows: int


def _errors(rows: Rows, names, c, idx) -> tuple[np.ndarray, dict[str, float]]:
    """Relative error of each row in idx, and of each benchmark's whole run (layers + overhead)."""
    A = _matrix(rows, names, idx)
    y = np.array([rows.y[i] for i in idx])
    pred = A @ c
    per_row = (pred - y) / np.maximum(np.abs(y), 1.0)
    tot_p: dict[str, float] = {}
    tot_y: dict[str, float] = {}
    for i, r in enumerate(idx):
        b = rows.bench[r]
        tot_p[b] = tot_p.get(b, 0.0) + pred[i]
        tot_y[b] = tot_y.get(b, 0.0) + y[i]
    return per_row, {b: (tot_p[b] - tot_y[b]) / max(tot_y[b], 1.0) for b in tot_y}


def _summary(per_row, per_bench) -> dict:
    a, t = np.abs(per_row), np.abs(np.array(list(per_bench.values())))
    return {"layer_error_median": float(np.median(a)), "layer_error_p90": float(np.percentile(a, 90)),
            "layer_error_worst": float(a.max()), "total_error_median": float(np.median(t)),
            "total_error_worst": float(t.max())}


def fit(meas: Measurements, *, folds: int = 5, seed: int = 0) -> Fit:
    rows = design(meas)
    benches = sorted(set(rows.bench))
    if len(benches) < MIN_BENCHMARKS:
        raise CalibrationError(f"{meas.path}: too few points to fit: {len(benches)} usable benchmark runs, at least "
                               f"{MIN_BENCHMARKS} needed" + (f" ({len(meas.rejected)} rows rejected)" if meas.rejected
                                                             else ""))
    support: dict[str, set] = {}
    for b, t in zip(rows.bench, rows.terms):
        for k in t:
            support.setdefault(k, set()).add(b)
    thin = sorted(k for k, s in support.items() if len(s) < MIN_SUPPORT)
    names = sorted(k for k in support if k not in thin)
    idx = [i for i, t in enumerate(rows.terms) if not any(k in thin for k in t)]
    used = set(idx)
    left_out = [f"{rows.where[i]}: {rows.label[i]} needs " + ", ".join(k for k in rows.terms[i] if k in thin)
                for i in range(len(rows.y)) if i not in used]
    not_fitted = [f"{k}: exercised by {len(support[k])} benchmark(s), {MIN_SUPPORT} needed; keeps its fallback"
                  for k in thin]
    if len(idx) < len(names) + 2:
        raise CalibrationError(f"{meas.path}: too few points to fit: {len(idx)} usable rows for {len(names)} "
                               "coefficients")
    A = _matrix(rows, names, idx)
    y = np.array([rows.y[i] for i in idx])
    c, keep = _robust_nnls(A, y)
    outliers = []
    per_row, per_bench = _errors(rows, names, c, idx)
    for j, i in enumerate(idx):
        if not keep[j]:
            outliers.append(f"{rows.where[i]}: {rows.label[i]} measured {rows.y[i]:,.0f}, the fit "
                            f"predicts {rows.y[i] * (1 + per_row[j]):,.0f} ({per_row[j]:+.1%}): trimmed as an outlier")
    inl = [i for j, i in enumerate(idx) if keep[j]]
    train = _summary(*_errors(rows, names, c, inl))
    # k-fold over benchmarks
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(benches))
    k = max(2, min(folds, len(benches)))
    cv_rows, cv_bench = [], {}
    for f in range(k):
        test = set(order[f::k])
        tr = [i for i in inl if rows.bench[i] not in test]
        te = [i for i in inl if rows.bench[i] in test]
        if not te:
            continue
        cf, _ = _robust_nnls(_matrix(rows, names, tr), np.array([rows.y[i] for i in tr]))
        pr, pb = _errors(rows, names, cf, te)
        cv_rows += list(pr)
        cv_bench.update(pb)
    worst = sorted(cv_bench.items(), key=lambda kv: -abs(kv[1]))[:3]
    cv = {"folds": k, **_summary(np.array(cv_rows), cv_bench),
          "worst_benchmarks": {b: round(float(e), 4) for b, e in worst}}
    coeffs = {n: float(v) for n, v in zip(names, c)}
    return Fit(coeffs, not_fitted, left_out, outliers, train, cv, len(benches), len(inl))
