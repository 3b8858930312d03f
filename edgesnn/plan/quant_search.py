"""Quantization search (Q-SpiNN): per parameter kind, bit widths x rounding, post-training.

Each candidate is a QuantConfig. It is quantized (the float simulation that sets the state ranges
runs once per search, not once per candidate), emitted as a blob, and run in the bit-exact C
runtime (`CModel`, identical to `simulate_fixed`) on the validation inputs, at full length (no
early exit; the exit policy is calibrated afterwards on the chosen candidates). Candidates whose
blobs are byte-identical (a setting that does not reach the integers, e.g. a threshold precision
above what the thresholds need) share one evaluation (within a process). The candidates run on an
executor (edgesnn/executor.py): here, in `workers` forked processes, or on Ray.

Only the kinds the graph has are searched: current_bits for CubaLIF/CubaLI, adapt_bits for ALIF; input_bits (8 or 16,
with per-channel scales) when the data are analog (real values, not spike counts), each candidate then running on the
inputs quantized at its own input precision.
Where this is not optimal: the grid is exhaustive over a fixed menu, not adaptive.
"""

from __future__ import annotations

import hashlib
import itertools
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..emit.blob import from_blob, to_blob
from ..executor import LocalExecutor, default_workers, get_executor  # noqa: F401 (default_workers: the planner's)
from ..graph import ir
from ..graph.kinds import KINDS
from ..quantize import QGraph, QuantConfig, ptq, quantize
from ..runtime.binding import CModel

# weight_bits 1 (binary weights, +-m per layer) is left out of the default grid: post-training it loses most of a
# model's accuracy (the digits MLP: 97 % at 8 bits, 64 % at 1 bit) and would grow the grid by a ninth; name it in
# an explicit grid (candidates(graph, {"weight_bits": (1, 2, 4, 8)}) or plan(..., configs=...)) to weigh it.
MENU = {
    "weight_bits": (2, 3, 4, 5, 6, 8, 10, 12, 16),
    "state_bits": (8, 10, 12, 16, 24),
    "threshold_bits": (None, 6),
    "decay_bits": (4, 6, 8, 12),
    "current_bits": (8, 12, 16, 24),
    "adapt_bits": (6, 8, 12),
    "rounding": ("nearest", "truncate", "stochastic"),
    "input_bits": (8, 16),   # analog data only (kinds_of)
}
BASELINE = {"weight_bits": 16, "state_bits": 32, "current_bits": 32, "adapt_bits": 16, "decay_bits": 16,
            "threshold_bits": None, "rounding": "nearest", "input_bits": 16}
ANALOG_SCALE = "channel"  # the planner's analog input scales: one per input channel (sensors differ in range)


def analog_data(x: np.ndarray) -> bool:
    """Whether inputs are analog values (plan.search.check_data keeps them as floats) rather than spike counts."""
    return np.asarray(x).dtype.kind == "f"


def kinds_of(graph: ir.Graph, analog: bool = False) -> list[str]:
    """Parameter kinds present in `graph` (and the input's precision for analog data), in MENU order."""
    present = {"weight_bits", "state_bits", "threshold_bits", "rounding"} | ({"input_bits"} if analog else set())
    present.update(knob for n in graph.nodes.values() for knob in KINDS[n.kind].knobs)
    return [k for k in MENU if k in present]


def _config(d: dict) -> QuantConfig:
    return QuantConfig(**d, **({"input_scale": ANALOG_SCALE} if d.get("input_bits") else {}))


def candidates(graph: ir.Graph, menu: dict | None = None, analog: bool = False) -> list[QuantConfig]:
    """The grid over the kinds the graph has; invalid combinations (threshold above state) left out."""
    menu = {**MENU, **(menu or {})}
    kinds = kinds_of(graph, analog)
    out = []
    for combo in itertools.product(*(menu[k] for k in kinds)):
        d = dict(zip(kinds, combo))
        if d.get("threshold_bits") is not None and d["threshold_bits"] > d["state_bits"]:
            continue
        out.append(_config(d))
    return out


def sensitivity_configs(graph: ir.Graph, analog: bool = False) -> list[tuple[str, object, QuantConfig]]:
    """(kind, value, config): one kind varied at a time from the high-precision BASELINE."""
    kinds = kinds_of(graph, analog)
    base = {k: v for k, v in BASELINE.items() if k in kinds}
    out = [("baseline", None, _config(base))]
    for k in kinds:
        for v in MENU[k]:
            if v == base.get(k):
                continue
            d = {**base, k: v}
            if k == "threshold_bits" and v is None:
                continue
            out.append((k, v, _config(d)))
    return out


@dataclass
class Evaluated:
    config: QuantConfig
    accuracy: float
    blob_bytes: int
    arena_bytes: int
    digest: str
    activity: dict   # node -> counter -> mean per input (full length, no exit)
    correct: np.ndarray | None = None  # bool [N]: which validation inputs it gets right (confidence intervals)
    inputs: int | None = None  # inputs it ran on when a racing search dropped it early (None: all of them)

    def row(self) -> dict:
        return {"config": self.config.to_dict(), "accuracy": self.accuracy, "blob_bytes": self.blob_bytes,
                "arena_bytes": self.arena_bytes}


# ---- one search's shared state: shipped once to where its candidates run (edgesnn/executor.py) ------------------
def _shared(graph: ir.Graph, calib, x, labels, *, threads) -> dict:
    """What every candidate of a search reads. The state ranges (the float simulation of the calibration inputs,
    independent of the candidate's bit widths) are observed once, here, so every worker quantizes with the same
    ranges without simulating again."""
    sched = graph.schedule()
    x = np.ascontiguousarray(x, dtype=np.float64 if analog_data(x) else np.uint8)
    return dict(graph=graph, calib=calib, x=x, labels=np.asarray(labels), quantized_inputs={},
                names=list(sched.order), threads=threads,
                observed=ptq._observed(graph, calib) if calib is not None else None,
                counted={k for k in sched.order if isinstance(graph.nodes[k], ir.SYNAPTIC_TYPES)
                         or graph.nodes[k].stateful})


def _setup(shared: dict) -> dict:
    """A process's state for one search: the shared data and the blobs it has evaluated (by digest)."""
    return {**shared, "seen": {}}


@contextmanager
def _cached_ranges(S: dict):
    """quantize() with the search's observed state ranges in place of a float simulation per candidate."""
    graph, calib, cache = S["graph"], S["calib"], S["observed"]
    if cache is None:
        yield
        return
    orig = ptq._observed
    ptq._observed = lambda g, c: cache if (g is graph and c is calib) else orig(g, c)
    try:
        yield
    finally:
        ptq._observed = orig


@contextmanager
def observed_once(graph: ir.Graph, calib):
    """quantize(graph, ..., calib) inside the block simulates the float graph on `calib` once, not per call (the
    planner's mapping stage quantizes each shortlisted candidate again; a search nested in it reuses the ranges)."""
    with _cached_ranges({"graph": graph, "calib": calib,
                         "observed": ptq._observed(graph, calib) if calib is not None else None}):
        yield


def _quantized(S: dict, config: QuantConfig) -> tuple[bytes, QGraph]:
    with _cached_ranges(S):
        q = quantize(S["graph"], config, S["calib"])
    return to_blob(q), q


def _inputs_for(S: dict, q: QGraph | None) -> np.ndarray:
    """The search's inputs as candidate q runs them: spike counts as they are (q None: spike counts), analog values
    quantized at q's input precision (one copy per precision and scale, kept for the search)."""
    if q is None or not q.analog:
        return S["x"]
    key = (q.config.input_bits, tuple(q.input_scale))
    if key not in S["quantized_inputs"]:
        S["quantized_inputs"][key] = q.quantize_inputs(S["x"])
    return S["quantized_inputs"][key]


def _evaluate(S: dict, config: QuantConfig) -> Evaluated:
    g, labels = S["graph"], S["labels"]
    blob, q = _quantized(S, config)
    digest = hashlib.sha1(blob).hexdigest()
    seen = S["seen"].get(digest)
    if seen is not None:
        return Evaluated(config, seen.accuracy, seen.blob_bytes, seen.arena_bytes, digest, seen.activity,
                         seen.correct)
    x = _inputs_for(S, q)
    m = CModel(blob)
    r = m.run(x, names=S["names"], out_shape=g.output.shape, output_spiking=g.output_spiking,
              counted=S["counted"], threads=S["threads"])
    correct = np.asarray(r.pred == labels)
    acc = float(np.mean(correct))
    n = x.shape[0]
    act = {k: {c: float(v.sum()) / n for c, v in cs.items() if c != "cycles"} for k, cs in r.counts.items()}
    ev = Evaluated(config, acc, len(blob), m.arena_size, digest, act, correct)
    S["seen"][digest] = ev
    return ev


def _evaluate_part(S: dict, task: tuple) -> tuple:
    """One candidate on inputs [lo, hi) of the search's inputs (a racing round, plan/race.py): (index, digest,
    blob bytes, arena bytes, correct bool [hi - lo], activity sums node -> counter -> total). The quantization
    is redone (it is deterministic), so nothing per candidate is kept between rounds but its counts."""
    i, config, lo, hi = task[:4]
    g = S["graph"]
    # a blob the search kept from an earlier round (read back for an analog input's scale), or the config quantized
    # again (deterministic)
    if isinstance(config, bytes):
        blob, q = config, (from_blob(config) if analog_data(S["x"]) else None)
    else:
        blob, q = _quantized(S, config)
    m = CModel(blob)
    kept = blob if len(task) > 4 and task[4] else None  # the blob back to the search (its first round)
    if hi <= lo:
        return i, hashlib.sha1(blob).hexdigest(), len(blob), m.arena_size, np.zeros(0, bool), {}, kept
    r = m.run(_inputs_for(S, q)[lo:hi], names=S["names"], out_shape=g.output.shape, output_spiking=g.output_spiking,
              counted=S["counted"], threads=S["threads"])
    act = {k: {c: float(v.sum()) for c, v in cs.items() if c != "cycles"} for k, cs in r.counts.items()}
    return (i, hashlib.sha1(blob).hexdigest(), len(blob), m.arena_size, np.asarray(r.pred == S["labels"][lo:hi]),
            act, kept)


@contextmanager
def part_runner(graph: ir.Graph, x: np.ndarray, labels: np.ndarray, *, calib: np.ndarray | None, workers: int,
                executor=None):
    """A function mapping tasks (index, config or blob, lo, hi[, return the blob]) to an iterator over
    _evaluate_part's results, in order (streamed: a result's blob can be let go before the next arrives): on
    `executor` (edgesnn/executor.py; default local: in this process or in `workers` forked ones, forked once for
    the whole search with the inputs in place; Ray: the inputs shipped once through its object store)."""
    ex = get_executor(executor, workers)
    shared = _shared(graph, calib, x, labels, threads=1 if ex.parallel else None)
    with ex.session(_setup, shared) as run:
        yield lambda tasks: run(_evaluate_part, tasks)


def evaluate(graph: ir.Graph, configs: list[QuantConfig], x: np.ndarray, labels: np.ndarray, *,
             calib: np.ndarray | None = None, workers: int = 1, progress=None, executor=None) -> list[Evaluated]:
    """Accuracy, blob and arena bytes, and mean activity of every config on (x, labels), in order; on `executor`
    (part_runner), with fewer than 8 configs locally in this process. `progress` advances as each one finishes."""
    ex = get_executor(executor, workers)
    if isinstance(ex, LocalExecutor) and len(configs) < 8:
        ex = LocalExecutor(1)
    # worker processes already take the cores: one thread each
    shared = _shared(graph, calib, x, labels, threads=1 if ex.parallel else None)
    out: list = [None] * len(configs)
    with ex.session(_setup, shared) as run:
        for i, ev in run(_evaluate, configs, ordered=False, most=16):
            out[i] = ev
            if progress:
                progress.update()
    return out
