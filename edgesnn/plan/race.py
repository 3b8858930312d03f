"""A quantization search that does not evaluate what it can rule out (search="race", the default of `plan`).

    race(graph, configs, x, y, fits=..., mem=..., floor=..., ...) -> Raced

1. memory first: a candidate's weights alone take weight_floor(graph, weight_bits) bytes of flash (the packed
   storage of lower/program.py, exact and cheap: no quantization); one whose flash floor exceeds the board's
   flash is dropped before it is quantized (`flash_floor`). When that rules out everything, only the candidates
   with the smallest floor are quantized (no simulation) so that the Infeasible names the smallest demand.
2. racing (successive halving on the validation set): every remaining candidate runs on the first n0 inputs of
   a fixed (seeded) permutation of the validation set, and the survivors on growing prefixes of it (doubling,
   up to all N). The first round also gives every candidate's exact blob and arena: those that do not fit the
   board (`fits`, as the exhaustive search judges them) stop there. Candidates with byte-identical blobs run once.
   After each round a candidate is dropped only when the interval of its accuracy on all N inputs says so:
   with k right of the n inputs run, that accuracy is (k + K') / N where K' counts the N - n not yet run; K' /
   (N - n) is bounded by the Wilson interval of k / n (plan/stats.py) at the level 1 - alpha / R (Bonferroni
   over the R looks), so the bound is exact once n = N. Dropped:
     - `target`: its upper bound is below the accuracy target (`floor`): it cannot qualify;
     - `front`: it cannot be shortlisted: at least `shortlist` distinct candidates certainly qualify (lower
       bound at or above the floor) and need less memory, and at least `shortlist` distinct qualifying ones
       have a lower bound above its upper bound (neither the smallest-memory nor the most accurate
       shortlist can take it; plan() shortlists those two, nothing else reaches the front).
       Not used when the target is judged on a confidence bound (plan(confidence=...)): there the qualified
       set also depends on each candidate's paired drop.
   The survivors run on all N inputs: their accuracy, correct vector and activity are the exhaustive search's.
   Memory is bounded: per candidate its counts, a correct vector only for those still racing, and the blobs of
   racing candidates up to `blob_budget` bytes (later rounds run those without quantizing again; the others
   are quantized again, which is deterministic).

Where this is not optimal: the first round quantizes every candidate that the flash floor leaves (the fixed
cost per candidate); per-kind sensitivity is reported but not used to order the grid (every survivor of a round
runs the same inputs, so order changes nothing within a round).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..graph import ir
from ..lower.program import weight_bytes, weight_row_len
from ..quantize import QuantConfig
from ..quantize.qgraph import weight_storage_bits
from .quant_search import Evaluated, part_runner
from .stats import wilson


@dataclass
class Raced:
    evaluated: list[Evaluated]          # one per config, in order; dropped ones carry `inputs` (partial) and no
    info: dict = field(default_factory=dict)  # correct vector; those pruned before quantization are left out
    configs: list[QuantConfig] = field(default_factory=list)  # every config searched, pruned or not


def weight_floor(graph: ir.Graph, weight_bits: int) -> int:
    """Bytes the blob holds for `graph`'s weights at `weight_bits` (packed 1 / 2 / 4, else 8 / 16 bits; each row on a
    byte), without quantizing: a lower bound of the blob (which adds headers and the other parameters)."""
    bits = weight_storage_bits(weight_bits)
    sched = graph.schedule()
    total = 0
    for name in sched.order:
        nd = graph.nodes[name]
        w = getattr(nd, "weight", None)
        if w is None or not isinstance(nd, ir.SYNAPTIC_TYPES):
            continue
        w = np.asarray(w)
        kind = type(nd).__name__
        c_out = int(w.shape[0])
        groups = int(getattr(nd, "groups", 1) or 1)
        in_size = int(np.prod(w.shape[1:])) if kind in ("Linear", "Affine") else 0
        out_size = c_out
        row = weight_row_len(kind, in_size, out_size, c_out, groups)
        total += weight_bytes(int(w.size), row, bits) if row else (int(w.size) * bits + 7) // 8
    return total


def _bounds(k: int, n: int, total: int, level: float) -> tuple[float, float]:
    """Interval of the accuracy on all `total` inputs given k right of the first n (exact when n == total)."""
    if n >= total:
        return k / total, k / total
    lo, hi = wilson(k, n, level)
    rest = total - n
    return (k + rest * lo) / total, (k + rest * hi) / total


def _ticking(results, progress):
    for r in results:
        progress.update()
        yield r


def race(graph: ir.Graph, configs: list[QuantConfig], x: np.ndarray, y: np.ndarray, *, fits, mem, floor: float,
         flash_floor=None, shortlist: int = 6, front_rule: bool = True, alpha: float = 1e-3, n0: int = 64,
         workers: int = 1, calib: np.ndarray | None = None, seed: int = 0,
         blob_budget: int = 256 << 20, executor=None, progress=None) -> Raced:
    """The racing search (module docstring). fits(e) and mem(e) judge an Evaluated on its blob and arena bytes as
    plan() does; flash_floor(weight_bits) -> False drops a config before quantizing it (memory alone rules it out).
    executor: where the candidates run (edgesnn/executor.py; default local with `workers` processes).
    progress: a Progress advanced per candidate run as it comes back; its total grows by each round's runs."""
    n_total = int(len(y))
    order = np.random.default_rng(seed).permutation(n_total)
    xp, yp = np.asarray(x)[order], np.asarray(y)[order]
    sizes = []
    n = min(n0, n_total)
    while True:
        sizes.append(n)
        if n >= n_total:
            break
        n = min(2 * n, n_total)
    level = 1 - alpha / len(sizes)
    info = {"inputs": n_total, "rounds": sizes, "level_per_look": level, "candidates": len(configs),
            "pruned_flash_floor": 0, "unfit": 0, "dropped_target": 0, "dropped_front": 0, "pairs": 0,
            "pairs_exhaustive": len(configs) * n_total}
    keep = list(range(len(configs)))
    if flash_floor is not None:
        keep = [i for i in keep if flash_floor(configs[i].weight_bits)]
        info["pruned_flash_floor"] = len(configs) - len(keep)
    evs: list[Evaluated | None] = [None] * len(configs)
    with part_runner(graph, xp, yp, calib=calib, workers=workers, executor=executor) as run_all:
        rounds = []

        def run(tasks):
            if progress is None:
                return run_all(tasks)
            progress.total = (progress.total if rounds else 0) + len(tasks)
            rounds.append(len(tasks))
            return _ticking(run_all(tasks), progress)

        if not keep:  # memory alone rules out every candidate: size the smallest ones exactly, simulate nothing
            floors = {wb: weight_floor(graph, wb) for wb in {c.weight_bits for c in configs}}
            least = min(floors.values())
            smallest = [i for i, c in enumerate(configs) if floors[c.weight_bits] == least]
            for i, digest, blob, arena, _, _, _ in run([(i, configs[i], 0, 0) for i in smallest]):
                evs[i] = Evaluated(configs[i], float("nan"), blob, arena, digest, {}, None, 0)
            info["quantized"] = len(smallest)
            return Raced([e for e in evs if e is not None], info, list(configs))
        # round 1 on every remaining candidate: exact sizes, fit, first counts
        state = {}   # digest -> [k, n, correct chunks, activity sums, member indices]
        blobs, held = {}, 0   # digest -> blob of a racing candidate, so later rounds need not quantize it again
        for i, digest, blob, arena, correct, act, data in run([(i, configs[i], 0, sizes[0], True) for i in keep]):
            evs[i] = Evaluated(configs[i], 0.0, blob, arena, digest, {}, None, sizes[0])
            info["pairs"] += sizes[0]
            if not fits(evs[i]):
                info["unfit"] += 1
                evs[i].accuracy = float(np.mean(correct)) if correct.size else 0.0
                continue
            if digest not in state:
                if len(sizes) > 1 and held + blob <= blob_budget:
                    blobs[digest] = data
                    held += blob
                state[digest] = {"k": int(correct.sum()), "n": sizes[0], "chunks": [correct], "act": act,
                                 "members": [i], "mem": mem(evs[i])}
            else:
                state[digest]["members"].append(i)
        info["quantized"] = len(keep)
        alive = list(state)
        for r, size in enumerate(sizes):
            if r:  # the survivors on the next inputs
                tasks = [(state[d]["members"][0], blobs.get(d) or configs[state[d]["members"][0]], sizes[r - 1], size)
                         for d in alive]
                for i, digest, _, _, correct, act, _ in run(tasks):
                    s = state[digest]
                    s["k"] += int(correct.sum())
                    s["n"] = size
                    s["chunks"].append(correct)
                    for node, cs in act.items():
                        for c, v in cs.items():
                            s["act"][node][c] += v
                    info["pairs"] += size - sizes[r - 1]
            for d in alive:
                s = state[d]
                s["lo"], s["hi"] = _bounds(s["k"], s["n"], n_total, level)
            if size >= n_total:
                break
            dropped = {d for d in alive if state[d]["hi"] < floor - 1e-12}
            if alive and len(dropped) == len(alive):  # keep the most promising one: the Infeasible names the best
                dropped.discard(max(alive, key=lambda d: (state[d]["hi"], state[d]["k"])))
            info["dropped_target"] += sum(len(state[d]["members"]) for d in dropped)
            if front_rule:
                sure = [d for d in alive if d not in dropped and state[d]["lo"] >= floor - 1e-12]
                for d in alive:
                    if d in dropped:
                        continue
                    smaller = sum(state[e]["mem"] < state[d]["mem"] for e in sure)
                    above = sum(state[e]["lo"] > state[d]["hi"] for e in sure)
                    if smaller >= shortlist and above >= shortlist:
                        dropped.add(d)
                        info["dropped_front"] += len(state[d]["members"])
            alive = [d for d in alive if d not in dropped]
            for d in dropped:
                held -= len(blobs.pop(d, b""))
        for d, s in state.items():
            complete = s["n"] >= n_total
            correct_p = np.concatenate(s["chunks"])
            acc = float(np.mean(correct_p)) if correct_p.size else 0.0
            correct = None
            if complete:
                correct = np.empty(n_total, bool)
                correct[order] = correct_p
            act = {node: {c: v / s["n"] for c, v in cs.items()} for node, cs in s["act"].items()}
            for i in s["members"]:
                evs[i] = dataclasses.replace(evs[i], accuracy=acc, activity=act, correct=correct,
                                             inputs=None if complete else s["n"])
    info["fraction"] = info["pairs"] / info["pairs_exhaustive"] if info["pairs_exhaustive"] else 0.0
    return Raced([e for e in evs if e is not None], info, list(configs))
