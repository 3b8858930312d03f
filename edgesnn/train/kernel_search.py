"""Kernel-size exploration for convolutional SNNs under a board's memory budget (SpiKernel-style).

The search space is a two-convolution digits network,

    1x8x8 -> Conv c1@k1xk1 (same padding) -> LIF -> SumPool 2x2 -> Conv c2@k2xk2 -> LIF
          -> Flatten -> Affine(c2*4*4, 10) -> LIF(10)

with every kernel size in `kernel_sizes` per layer and the channel pairs in `channels`. A
candidate's memory is estimated from its QGraph (`estimate_memory`); those over the budget are
dropped before any training. The rest are ranked by a cheap proxy (a few epochs on a subset of the
training set, float validation accuracy); the proxy's accuracy-memory Pareto front, plus every 3x3
candidate that fits (the baseline), are then trained in full, quantized with `quantize` (validation
spikes as calibration) and evaluated in `simulate_fixed`. The final front is taken on the
fixed-point validation accuracy; test accuracies are reported, never used to choose.

The memory estimate (`estimate_memory`) is a stand-in: it will be replaced by the planner's exact
memory model (edgesnn/plan) when that exists. It counts

    weights  every weighted layer's weights at `weight_bits` bits each, packed (ceil(count*bits/8));
             the runtime today stores up to 8-bit weights in one byte each, so below 8 bits this
             is what a packed format would need), plus 4 bytes per bias entry
    arena    per neuron layer: its state (v at state_bits, i at current_bits, eta at 32 bits, each
             rounded up to 8/16/32 bits per neuron) + its output buffer (1 byte per neuron for
             spikes, 4 for a non-spiking readout's membrane);
             per weighted layer: an int32 accumulator per output;
             the input and every pool output: 1 byte per entry (spike counts)

Neuron parameters (thresholds, decays: per neuron in the QGraph today) and code are not counted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tabulate import tabulate

from ..artifact import save_json, stamp
from ..data import load_digits_split, rate_code
from ..errors import EdgesnnError
from ..executor import LocalExecutor, get_executor
from ..graph import ir
from ..graph.simulate import simulate
from ..quantize import QuantConfig, quantize
from ..quantize.reference import simulate_fixed
from . import require_torch

# ----------------------------------------------------------------------------------------------
# Memory estimate (no torch needed)
# ----------------------------------------------------------------------------------------------

def _bytes_for_bits(bits: int) -> int:
    return 1 if bits <= 8 else 2 if bits <= 16 else 4


@dataclass
class MemoryEstimate:
    weight_bytes: int
    arena_bytes: int
    per_node: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> {weights, state, buffers, acc}

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.arena_bytes

    def to_dict(self) -> dict:
        return {"weight_bytes": self.weight_bytes, "arena_bytes": self.arena_bytes,
                "total_bytes": self.total_bytes, "per_node": self.per_node}


def estimate_memory(qgraph) -> MemoryEstimate:
    """Weights + arena bytes of a QGraph, as described in the module docstring (a stand-in for the
    planner's exact memory model)."""
    graph, cfg = qgraph.graph, qgraph.config
    sched = graph.schedule()
    per: dict[str, dict[str, int]] = {}
    for name in sched.order:
        node = graph.nodes[name]
        size = int(np.prod(sched.shapes[name]))
        row = {"weights": 0, "state": 0, "buffers": 0, "acc": 0}
        if isinstance(node, ir.Input) or isinstance(node, ir.SumPool2d):
            row["buffers"] = size
        elif isinstance(node, (ir.Linear, ir.Conv2d, ir.Scale)):
            params = qgraph.layers[name].params
            n_w = int(params["weight"].size)
            row["weights"] = -(-n_w * cfg.weight_bits // 8) + 4 * int(params["bias"].size if "bias" in params else 0)
            row["acc"] = 4 * size
        elif node.stateful:
            state = _bytes_for_bits(cfg.state_bits)
            if isinstance(node, (ir.CubaLIF, ir.CubaLI)):
                state += _bytes_for_bits(cfg.current_bits)
            if isinstance(node, ir.ALIF):
                state += 4
            if getattr(node, "reset_late", False):
                state += 1
            row["state"] = state * size
            row["buffers"] = size if node.spiking else 4 * size
        else:  # Flatten, Output: views of their input
            continue
        per[name] = row
    weights = sum(r["weights"] for r in per.values())
    arena = sum(r["state"] + r["buffers"] + r["acc"] for r in per.values())
    return MemoryEstimate(weights, arena, per)


# ----------------------------------------------------------------------------------------------
# Candidates
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    kernels: tuple[int, int]
    channels: tuple[int, int]

    @property
    def name(self) -> str:
        return f"k{self.kernels[0]}x{self.kernels[1]}_c{self.channels[0]}x{self.channels[1]}"

    @property
    def is_baseline(self) -> bool:
        return self.kernels == (3, 3)

    def build(self, seed: int = 0):
        """The torch model (initial weights drawn from torch's RNG seeded with `seed`)."""
        import torch

        from .layers import LIF, SNN, Affine, Conv2d, Flatten, SumPool2d  # torch: the extra `train`
        (k1, k2), (c1, c2) = self.kernels, self.channels
        torch.manual_seed(seed)
        return SNN((1, 8, 8),
                   Conv2d(1, c1, k1, padding=k1 // 2), LIF((c1, 8, 8), param_shape=(c1, 1, 1)),
                   SumPool2d(2),
                   Conv2d(c1, c2, k2, padding=k2 // 2), LIF((c2, 4, 4), param_shape=(c2, 1, 1)),
                   Flatten(),
                   Affine(c2 * 16, 10), LIF((10,)))


def candidate_memory(cand: Candidate, config) -> MemoryEstimate:
    """Memory of a candidate's QGraph (quantized without calibration: the sizes do not depend on it)."""
    from .export import to_graph  # torch: the extra `train`
    return estimate_memory(quantize(to_graph(cand.build(), (1, 8, 8)), config))


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (memory, accuracy) no other point beats: less or equal memory and
    higher accuracy, or less memory and equal accuracy. Sorted by memory."""
    idx = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in idx:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


# ----------------------------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------------------------

STEPS = 16


def digits_data(seed: int = 0, val_fraction: float = 0.15):
    """The example models' split of the sklearn digits (examples/train_examples.py): train images and labels,
    (val spikes, labels), (test spikes, labels) rate-coded with the examples' seeds as [N, 16, 1, 8, 8], and
    the val images."""
    from sklearn.model_selection import train_test_split
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=seed, test_fraction=0.2)
    x_tr, x_va, y_tr, y_va = train_test_split(x_tr, y_tr, test_size=val_fraction, random_state=seed, stratify=y_tr)
    val = rate_code(x_va[:, None], STEPS, 4321)
    test = rate_code(x_te[:, None], STEPS, 1234)
    return x_tr, y_tr, (val, y_va), (test, y_te), x_va


@dataclass
class CandidateResult:
    name: str
    kernels: tuple[int, int]
    channels: tuple[int, int]
    weight_bytes: int
    arena_bytes: int
    total_bytes: int
    fits: bool
    proxy_val_acc: float | None = None
    proxy_seconds: float | None = None
    full: bool = False
    val_acc_fixed: float | None = None     # mean over training seeds (and validation codings)
    test_acc_float: float | None = None    # mean over training seeds
    test_acc_fixed: float | None = None    # mean over training seeds
    val_acc_fixed_seeds: list[float] = field(default_factory=list)
    test_acc_fixed_seeds: list[float] = field(default_factory=list)
    train_seconds: float | None = None
    synops_per_sample: float | None = None
    on_front: bool = False
    model_file: str | None = None


@dataclass
class SearchResult:
    budget_bytes: int
    board: str | None
    weight_bits: int
    state_bits: int
    candidates: list[CandidateResult]
    settings: dict
    seconds: float = 0.0

    @property
    def front(self) -> list[CandidateResult]:
        return sorted((c for c in self.candidates if c.on_front), key=lambda c: c.total_bytes)

    def best(self, baseline: bool | None = None) -> CandidateResult | None:
        """The fully trained candidate that fits with the best fixed-point validation accuracy (ties: less
        memory); baseline=True only 3x3, False only the others, None all."""
        pool = [c for c in self.candidates if c.full and c.fits
                and (baseline is None or (c.kernels == (3, 3)) == baseline)]
        return max(pool, key=lambda c: (c.val_acc_fixed, -c.total_bytes), default=None)

    def table(self, which: str = "front") -> str:
        rows = self.front if which == "front" else [c for c in self.candidates if which == "all" or c.full]
        pct = lambda a: "-" if a is None else f"{100 * a:.2f}"  # noqa: E731
        return tabulate([[c.name, f"{c.kernels[0]},{c.kernels[1]}", f"{c.channels[0]},{c.channels[1]}",
                          c.weight_bytes, c.arena_bytes, c.total_bytes, "yes" if c.fits else "no",
                          pct(c.proxy_val_acc), pct(c.val_acc_fixed), pct(c.test_acc_float), pct(c.test_acc_fixed),
                          "-" if c.synops_per_sample is None else f"{c.synops_per_sample:,.0f}"] for c in rows],
                        ["model", "kernels", "channels", "weights B", "arena B", "total B", "fits", "proxy val %",
                         "val % (fixed)", "test % (float)", "test % (fixed)", "synops/sample"],
                        tablefmt="simple_outline", intfmt=",")

    def report(self) -> str:
        """What `edgesnn search-kernels` prints: every fully trained model, the front, the verdict."""
        lines = [f"fully trained (budget {self.budget_bytes:,} B" + (f", board {self.board}" if self.board else "")
                 + f"; weights at {self.weight_bits} bits, state at {self.state_bits} bits):", self.table("full"),
                 "accuracy-memory Pareto front (fixed-point validation accuracy):", self.table("front")]
        best, base = self.best(), self.best(True)
        if best is not None and base is not None:
            if best.name == base.name:
                verdict = "a 3x3 model is the best that fits"
            else:
                how = ("beats" if best.val_acc_fixed > base.val_acc_fixed else
                       f"ties (with {base.total_bytes - best.total_bytes:,} B less)")
                verdict = (f"{best.name} {how} the best 3x3 that fits, {base.name} ({base.total_bytes:,} B): "
                           f"validation {100 * best.val_acc_fixed:.2f} % vs {100 * base.val_acc_fixed:.2f} %, "
                           f"test {100 * best.test_acc_fixed:.2f} % vs {100 * base.test_acc_fixed:.2f} %")
            lines.append(f"best that fits: {best.name} ({best.total_bytes:,} B); {verdict}")
        n_val, seeds = self.settings.get("val_samples"), self.settings.get("seeds", 1)
        if n_val:
            lines.append(f"(one validation input is {100 / n_val:.2f} pt of one run; accuracies are means over "
                         f"{seeds} training seed(s) x {self.settings.get('val_codings', 1)} validation coding(s))")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return stamp("kernel_search", {
            "budget_bytes": self.budget_bytes, "board": self.board, "weight_bits": self.weight_bits,
            "state_bits": self.state_bits, "settings": self.settings, "seconds": round(self.seconds, 1),
            "candidates": [asdict(c) for c in self.candidates],
            "front": [c.name for c in self.front],
            "best": getattr(self.best(), "name", None), "best_3x3": getattr(self.best(True), "name", None)})


def _spikes(images, epoch):
    return rate_code(images[:, None], STEPS, 10_000 + epoch)


def _setup(shared: dict) -> dict:
    return shared


def _proxy_task(S: dict, i: int) -> tuple[float, float]:
    """Candidate i trained a few epochs on the subset: (float validation accuracy, seconds)."""
    from .trainer import TrainConfig, evaluate, fit  # torch: the extra `train`, present in a search
    t0 = time.perf_counter()
    model = S["cands"][i].build(S["seed"])
    fit(model, partial(_spikes, S["x_tr"][S["sub"]]), S["y_tr"][S["sub"]],
        TrainConfig(epochs=S["proxy_epochs"], lr=S["lr"], seed=S["seed"], progress=False))
    return evaluate(model, S["val"], S["y_va"]), round(time.perf_counter() - t0, 2)


def _full_task(S: dict, job: tuple[int, int]) -> dict:
    """Candidate i trained in full with seed s, quantized and evaluated in fixed point."""
    from .export import to_graph
    from .trainer import TrainConfig, fit
    i, s = job
    c = S["cands"][i]
    weight_bytes, arena_bytes = S["memory"][i]
    t0 = time.perf_counter()
    model = c.build(s)
    fit(model, partial(_spikes, S["x_tr"]), S["y_tr"], TrainConfig(epochs=S["epochs"], lr=S["lr"], seed=s,
                                                                   progress=False))
    graph = to_graph(model, (1, 8, 8), meta={"name": f"digits_cnn_{c.name}", "steps": STEPS, "seed": s,
                                             "dataset": "sklearn digits 8x8, rate-coded",
                                             "memory_estimate": {"weight_bytes": weight_bytes,
                                                                 "arena_bytes": arena_bytes,
                                                                 "weight_bits": S["weight_bits"]}})
    q = quantize(graph, S["qcfg"], S["val"])
    y_va, y_te = S["y_va"], S["y_te"]
    fx = simulate_fixed(q, S["test"])
    return {"val_fixed": float(np.mean([np.mean(simulate_fixed(q, v).pred == y_va) for v in S["vals"]])),
            "test_fixed": float(np.mean(fx.pred == y_te)),
            "synops": float(sum(cs["synops"].sum() for cs in fx.counts.values()) / len(y_te)),
            "test_float": float(np.mean(simulate(graph, S["test"]).pred == y_te)),
            "graph": graph if s == S["seed"] else None, "seconds": time.perf_counter() - t0}


def search_kernels(budget_bytes: int, *, board: str | None = None, kernel_sizes=(1, 3, 5),
                   channels=((4, 8), (6, 12), (8, 16), (10, 20), (12, 24)), weight_bits: int = 8, state_bits: int = 16,
                   epochs: int = 30, proxy_epochs: int = 4, proxy_fraction: float = 0.5, lr: float = 5e-3,
                   seed: int = 0, seeds: int = 1, val_codings: int = 1, out_dir=None, progress: bool = True,
                   log=print, executor=None) -> SearchResult:
    """Search kernel sizes (and the given channel pairs) under `budget_bytes` of weights + arena.

    Full training is repeated with `seeds` initialisations (seed, seed+1, ...) and the validation
    accuracy averaged over them and over `val_codings` rate codings of the validation images (the
    first is the examples' validation file, also the calibration data): the 216 validation digits
    alone cannot tell most of these models apart. Writes, when `out_dir` is given, the front models
    and the best 3x3 (first seed) as `<name>.json` (edgesnn graph) and the whole result as `search.json`.
    executor: where the trainings run (edgesnn/executor.py): None/"local" one after another in this process (torch
    trains on one thread per run, deterministically), "ray" / "ray:HOST:PORT" each proxy and each full training
    (per seed) a Ray task, the data shipped once; the results are the same, logged as the runs finish.
    """
    require_torch()
    if budget_bytes <= 0:
        raise EdgesnnError(f"the memory budget must be positive, got {budget_bytes} bytes")
    if seeds < 1 or val_codings < 1:
        raise EdgesnnError(f"seeds ({seeds}) and val_codings ({val_codings}) must be at least 1")
    if not 0 < proxy_fraction <= 1:
        raise EdgesnnError(f"proxy_fraction must lie in (0, 1], got {proxy_fraction}")
    bad = [k for k in kernel_sizes if k < 1 or k % 2 == 0]
    if bad:
        raise EdgesnnError(f"kernel sizes must be odd and positive (same padding), got {bad}")
    qcfg = QuantConfig(weight_bits=weight_bits, state_bits=state_bits)
    t_start = time.perf_counter()
    x_tr, y_tr, (val, y_va), (test, y_te), x_va = digits_data(seed=0)
    vals = [val] + [rate_code(x_va[:, None], STEPS, 4321 + i) for i in range(1, val_codings)]

    cands = [Candidate((k1, k2), tuple(c)) for c in channels for k1 in kernel_sizes for k2 in kernel_sizes]
    results: list[CandidateResult] = []
    for c in cands:
        m = candidate_memory(c, qcfg)
        results.append(CandidateResult(c.name, c.kernels, tuple(c.channels), m.weight_bytes, m.arena_bytes,
                                       m.total_bytes, m.total_bytes <= budget_bytes))
    fit_idx = [i for i, r in enumerate(results) if r.fits]
    log(f"{len(cands)} candidates, {len(fit_idx)} fit {budget_bytes:,} bytes (weights at {weight_bits} bits "
        f"+ arena at {state_bits}-bit state)")
    if not fit_idx:
        raise EdgesnnError(f"no candidate fits {budget_bytes:,} bytes; the smallest needs "
                           f"{min(r.total_bytes for r in results):,} (fewer channels, or a larger budget)")

    # 1. proxy: a few epochs on a stratified subset, float validation accuracy
    rng = np.random.default_rng(seed)
    sub = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y_tr == k))[:max(1, int(proxy_fraction *
                                  np.sum(y_tr == k)))] for k in np.unique(y_tr)]))
    shared = {"cands": cands, "x_tr": x_tr, "y_tr": y_tr, "sub": sub, "val": val, "y_va": y_va, "vals": vals,
              "test": test, "y_te": y_te, "qcfg": qcfg, "epochs": epochs, "proxy_epochs": proxy_epochs, "lr": lr,
              "seed": seed, "weight_bits": weight_bits,
              "memory": {i: (results[i].weight_bytes, results[i].arena_bytes) for i in fit_idx}}
    ex = get_executor(executor, 1)
    if isinstance(ex, LocalExecutor):   # locally one run after another (forking a process that runs torch can hang)
        ex = LocalExecutor(1)
    graphs = {}
    try:
        with ex.session(_setup, shared) as run:
            for j, (acc, secs) in run(_proxy_task, fit_idx, ordered=False, most=1):  # logged as they finish
                r = results[fit_idx[j]]
                r.proxy_val_acc, r.proxy_seconds = acc, secs
                if progress:
                    log(f"  proxy {r.name:14s} {r.total_bytes:7,} B  val {100 * r.proxy_val_acc:6.2f} %  "
                        f"({r.proxy_seconds:.1f} s)")

            # 2. full training: the proxy's front, plus every 3x3 candidate that fits (the baseline)
            front = [fit_idx[j] for j in pareto_front([(results[i].total_bytes, results[i].proxy_val_acc)
                                                        for i in fit_idx])]
            chosen = sorted(set(front) | {i for i in fit_idx if cands[i].is_baseline})
            log(f"full training of {len(chosen)}: proxy front {[results[i].name for i in front]} + the 3x3 baseline")
            jobs = [(i, s) for i in chosen for s in range(seed, seed + seeds)]
            runs: dict = {}
            for j, one in run(_full_task, jobs, ordered=False, most=1):
                i = jobs[j][0]
                runs.setdefault(i, {})[jobs[j][1]] = one
                if len(runs[i]) < seeds:
                    continue
                r = results[i]
                per_seed = [runs[i][s] for s in range(seed, seed + seeds)]   # in seed order, as they ran before
                r.val_acc_fixed_seeds = [o["val_fixed"] for o in per_seed]
                r.test_acc_fixed_seeds = [o["test_fixed"] for o in per_seed]
                graphs[r.name] = per_seed[0]["graph"]
                r.train_seconds = round(sum(o["seconds"] for o in per_seed) / seeds, 1)
                r.full = True
                r.val_acc_fixed = float(np.mean(r.val_acc_fixed_seeds))
                r.test_acc_fixed = float(np.mean(r.test_acc_fixed_seeds))
                r.test_acc_float = float(np.mean([o["test_float"] for o in per_seed]))
                r.synops_per_sample = float(np.mean([o["synops"] for o in per_seed]))
                log(f"  full  {r.name:14s} {r.total_bytes:7,} B  val(fixed) {100 * r.val_acc_fixed:6.2f} %  "
                    f"test(fixed) {100 * r.test_acc_fixed:6.2f} %  ({r.train_seconds:.1f} s per seed)")
    finally:
        if ex is not executor:
            ex.close()

    # 3. the final front on fixed-point validation accuracy
    for j in pareto_front([(results[i].total_bytes, results[i].val_acc_fixed) for i in chosen]):
        results[chosen[j]].on_front = True
    res = SearchResult(budget_bytes, board, weight_bits, state_bits, results,
                       {"kernel_sizes": list(kernel_sizes), "channels": [list(c) for c in channels],
                        "epochs": epochs, "proxy_epochs": proxy_epochs, "proxy_fraction": proxy_fraction,
                        "lr": lr, "seed": seed, "seeds": seeds, "val_codings": val_codings,
                        "val_samples": int(len(y_va)), "steps": STEPS},
                       time.perf_counter() - t_start)
    if out_dir is not None:
        out = Path(out_dir)
        keep = {c.name for c in res.front} | {getattr(res.best(True), "name", None)}
        for r in results:
            if r.name in keep and r.name in graphs:
                graphs[r.name].save(out / f"{r.name}.json")
                r.model_file = f"{r.name}.json"
        save_json(out / "search.json", res.to_dict())
    return res
