"""The planner: QGraph settings, exit policy, schedule and placement for one board -> Plan | Infeasible.

    plan(graph, board, x_val, y_val, target_acc=None | max_drop=None, objective="energy")

1. float accuracy on the validation data (the reference for max_drop);
2. quantization search (quant_search.py) over bit widths x rounding, run in the C runtime;
   a sensitivity table varies one parameter kind at a time from a high-precision baseline;
3. a candidate fits when flash (runtime code + blob) and SRAM (arena + stack + I/O) fit the board;
   it qualifies when it also meets the accuracy target. None fits: Infeasible (demand, bound,
   gap, levers). None meets the target: Infeasible naming the target;
4. a shortlist - the smallest-memory qualifying candidates (Q-SpiNN's choice) and the most accurate
   ones (whose headroom lets the exit stop sooner) - gets an early-exit policy calibrated on the same
   data (exit.py, within exit_max_drop of the candidate's full-length accuracy and at or above the
   target) and a CostReport (edgesnn.cost) with exit on, and its mappings (below);
5. flash and SRAM: the board's firmware is built once around the first shortlisted model and measured
   (plan/firmware.py firmware_base); every row is that base plus its own blob and arena (RAM exact,
   flash within a few bytes), so fit and front rest on the real image, not on the analytical terms
   (which miss the firmware's server, start-up code and buffers: about 26 % of flash, 28 % of SRAM
   on the example MLP), used only where no image can be built;
6. the plan is the qualifying mapping best on `objective`, ties to less memory; its firmware is
   built for the board (the model compiled in, as `edgesnn run PLAN.json` builds it) and its flash
   and SRAM are the ELF's measured sizes (plan/firmware.py), so planned == measured; a candidate
   whose real image does not fit gives way to the next best. The other front rows keep the
   estimate of step 5, labelled "memory": "estimate".

Mapping (STEMS): every shortlisted candidate is also tried with state reduction - its neuron layers
made stateless (decays zero: no state kept) one by one while the full-length accuracy stays at or
above the target (reduce_state) - and each of those models in three schedules the runtime and the
firmware execute (SCHEDULES): time-step-major with the early exit, fused layer groups and layer-major
(each group all T steps before the next: one group's state resident, uint8 spike buffers between
groups; no early exit). Each is one front row with its exact arena; the objective picks among them,
so "sram" tends to a grouped schedule and "energy" to the exit. The cost model counts the same
arithmetic under every schedule (the runtime's counters are schedule-independent); what a schedule
changes here is the arena and whether the exit runs. Neuron state is stored at its precision (int16
up to 16 bits), so state_bits moves SRAM too.

Placement: weights in the board's code region (flash, as model.c's const tables); the arena in the
RAM region (SRAM, data TCM or SDRAM, arena_regions) best on the objective by the region's access
costs, the board's arena region on a tie; the firmware is linked with the arena there (placed()).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..errors import EdgesnnError
from ..graph import Graph
from ..cost.model import SCHEDULES
from ..quantize import QGraph, QuantConfig, quantize
from .exit import ExitPolicy, calibrate
from .quant_search import Evaluated, candidates, default_workers, evaluate, sensitivity_configs

OBJECTIVES = ("energy", "latency", "flash", "sram", "edp")
SCHEDULE = "time-step-major"


class PlanInputError(EdgesnnError):
    """Validation data or a setting the planner cannot use."""


@dataclass
class Infeasible:
    """No candidate fits: what is asked, what the board has, by how much it misses, what would close it."""
    board: str
    reason: str
    demand: dict        # e.g. {"sram_bytes": 210000, "terms": {...}}
    bound: dict
    gap: dict
    levers: list[str]

    def to_dict(self) -> dict:
        return {"artifact": "infeasible", "edgesnn_version": __version__, "board": self.board, "reason": self.reason,
                "demand": self.demand, "bound": self.bound, "gap": self.gap, "levers": self.levers}

    @classmethod
    def from_dict(cls, d: dict) -> "Infeasible":
        return cls(d["board"], d["reason"], d["demand"], d["bound"], d["gap"], list(d["levers"]))

    def message(self) -> str:
        return (f"infeasible on {self.board}: {self.reason}; demand {self.demand}, bound {self.bound}, "
                f"gap {self.gap}; levers: " + "; ".join(self.levers))


@dataclass
class Plan:
    board: str
    qgraph: QGraph            # quantized, with the exit policy applied
    exit: ExitPolicy
    schedule: str
    placement: dict
    cost: dict                # CostReport.to_dict() of the chosen candidate
    accuracy: float           # validation accuracy with exit on
    float_accuracy: float
    objective: str
    target: dict
    front: list[dict] = field(default_factory=list)
    sensitivity: list[dict] = field(default_factory=list)
    searched: int = 0
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"artifact": "plan", "edgesnn_version": __version__, "board": self.board,
                "calibration": self.cost["calibration"], "schedule": self.schedule, "placement": self.placement,
                "quant_config": self.qgraph.config.to_dict(), "exit": self.exit.to_dict(), "accuracy": self.accuracy,
                "float_accuracy": self.float_accuracy, "objective": self.objective, "target": self.target,
                "cost": self.cost, "front": self.front, "sensitivity": self.sensitivity, "searched": self.searched,
                "data": self.data, "qgraph": self.qgraph.to_dict()}

    @classmethod
    def from_dict(cls, d: dict, where: str = "plan") -> "Plan":
        if not isinstance(d, dict) or d.get("artifact") != "plan":
            raise EdgesnnError(f"{where}: not an edgesnn plan")
        try:
            return cls(d["board"], QGraph.from_dict(d["qgraph"], f"{where}: qgraph"), ExitPolicy.from_dict(d["exit"]),
                       d["schedule"], d["placement"], d["cost"], float(d["accuracy"]), float(d["float_accuracy"]),
                       d["objective"], d["target"], d.get("front", []), d.get("sensitivity", []),
                       int(d.get("searched", 0)), d.get("data", {}))
        except (KeyError, TypeError) as e:
            raise EdgesnnError(f"{where}: malformed plan ({e})") from None

    def save(self, path) -> None:
        from ..artifact import save_json
        save_json(path, self.to_dict())

    @property
    def runtime_schedule(self):
        """The schedule as the runtime and emitters take it (edgesnn.emit.layout): "time", "fused", "layer"."""
        return SCHEDULES.get(self.schedule, "time")

    @property
    def runtime_steps(self) -> int | None:
        """The steps T a grouped schedule is laid out for (None for time-step-major, which takes any T)."""
        return None if self.runtime_schedule == "time" else int(self.data["steps"])

    def deploy_on(self, board) -> dict:
        """What deploying this plan on `board` takes: the board with the arena placed as planned, and the
        keyword arguments of run_on_board / build_runtime_firmware (schedule, and its steps)."""
        return {"board": placed(board, self.placement), "schedule": self.runtime_schedule,
                "steps": self.runtime_steps}


def check_data(graph: Graph, x, labels, where: str = "validation data") -> tuple[np.ndarray, np.ndarray]:
    """Inputs [N, T, *input_shape] as spike counts, labels [N]; errors name the field."""
    if labels is None:
        raise PlanInputError(f"{where}: field 'labels' is missing; the planner measures accuracy against it")
    x, labels = np.asarray(x), np.asarray(labels)
    shape = tuple(graph.input.shape)
    size = int(np.prod(shape))
    if x.ndim < 3 or int(np.prod(x.shape[2:])) != size:
        raise PlanInputError(f"{where}: field 'inputs' has shape {x.shape}; the model needs [N, T, "
                             f"{', '.join(map(str, shape))}]")
    if labels.shape != (x.shape[0],) or labels.dtype.kind not in "iu":
        raise PlanInputError(f"{where}: field 'labels' has shape {labels.shape} and dtype {labels.dtype}; need "
                             f"({x.shape[0]},) integers, one per input")
    k = int(np.prod(graph.output.shape))
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise PlanInputError(f"{where}: field 'labels' holds class {labels.max()}; the model has {k} outputs")
    if x.size and (x.min() < 0 or x.max() > 255 or np.any(x != np.round(x))):
        raise PlanInputError(f"{where}: field 'inputs' must hold spike counts (integers 0..255)")
    return x.reshape(*x.shape[:2], *shape).astype(np.uint8), labels.astype(np.int64)


def _fits(flash: int, sram: int, board) -> bool:
    return flash <= board.flash_bytes and sram <= board.sram_bytes


def _terms(ev: Evaluated, board, graph) -> tuple[dict, dict]:
    from ..cost.model import DEFAULT_STACK_BYTES
    from ..cost.runtime_size import runtime_code_bytes
    code, _ = runtime_code_bytes(board.core)
    stack = int(board.firmware.get("stack_bytes", DEFAULT_STACK_BYTES))
    io = int(np.prod(graph.input.shape)) + 8 * int(np.prod(graph.output.shape))
    return {"runtime_code": code, "blob": ev.blob_bytes}, {"arena": ev.arena_bytes, "stack": stack, "io": io}


def _schedule_lever(qgraph, steps: int, sram: dict, board) -> str:
    """What the grouped schedules would do for an SRAM gap, with their exact arenas."""
    from ..cost import schedule_arenas
    parts = []
    for label, arena in schedule_arenas(qgraph.with_exit(None), steps).items():
        if label == SCHEDULE:
            continue
        if isinstance(arena, dict):
            parts.append(f"{label}: cannot run this model ({arena['refused']})")
            continue
        total = sum(sram.values()) - sram["arena"] + arena
        verdict = "fits" if total <= board.sram_bytes else "does not fit"
        parts.append(f"{label}: arena {arena:,} B, SRAM {total:,} B, which {verdict} the board's "
                     f"{board.sram_bytes:,} B")
    return (f"a grouped schedule (one group's neuron state resident, uint8 spike buffers for the T = {steps} steps; "
            f"no early exit) instead of the time-step-major arena of {sram['arena']:,} B: " + "; ".join(parts))


def infeasible_memory(smallest: Evaluated, board, graph, qgraph=None, steps: int | None = None,
                      base=None) -> Infeasible:
    """Infeasible for memory: the smallest candidate's demand (on the measured firmware `base` when there is one,
    else the analytical terms), the board's bound, the gap and the levers."""
    from ..board import load_catalogue
    flash, sram = _terms(smallest, board, graph)
    if base is not None:
        flash, sram = {"firmware": base.flash, "blob": smallest.blob_bytes}, {"firmware": base.ram,
                                                                              "arena": smallest.arena_bytes}
    f, s = sum(flash.values()), sum(sram.values())
    demand = {"flash_bytes": f, "sram_bytes": s, "flash_terms": flash, "sram_terms": sram,
              "smallest_candidate": smallest.config.to_dict()}
    bound = {"flash_bytes": board.flash_bytes, "sram_bytes": board.sram_bytes}
    gap = {"flash_bytes": max(0, f - board.flash_bytes), "sram_bytes": max(0, s - board.sram_bytes)}
    levers = []
    if smallest.config.weight_bits > 8:
        levers.append("weights at 8 bits or fewer (1 byte each instead of 2)")
    else:
        levers.append("fewer bits do not help further: weights are already stored 1 byte each (the blob does not "
                      "pack sub-byte weights)")
    if gap["sram_bytes"]:
        if qgraph is not None and steps:
            levers.append(_schedule_lever(qgraph, steps, sram, board))
        else:
            levers.append("a fused or layer-major schedule (one group's state resident at a time), for models "
                          "without early exit")
        if qgraph is not None:
            from ..emit import arena_size
            from ..quantize import make_stateless, stateless_candidates
            names = stateless_candidates(qgraph)
            if names:
                saved = sram["arena"] - arena_size(make_stateless(qgraph, names))
                levers.append(f"stateless neuron layers (decays zero, no state kept; accuracy to be measured): "
                              f"{', '.join(names)} would save {saved:,} B of arena")
        stack = int(board.firmware.get("stack_bytes", sram.get("stack", 0)))
        levers.append(f"a smaller stack than the {stack} B the board file reserves")
    bigger = sorted((b for b in load_catalogue().values() if b.id != board.id and _fits(f, s, b)),
                    key=lambda b: (b.sram_bytes + b.flash_bytes, b.id))
    if bigger:
        levers.append(f"a larger board: {bigger[0].id} ({bigger[0].flash_bytes // 1024} KiB flash, "
                      f"{bigger[0].sram_bytes // 1024} KiB SRAM)")
    return Infeasible(board.id, "no candidate fits the board's memory", demand, bound, gap, levers)


def reduce_state(qgraph: QGraph, x, y, floor: float) -> tuple[QGraph, list[str]]:
    """STEMS state reduction: each neuron layer that can be (quantize.stateless_candidates), in schedule
    order, made stateless while the full-length validation accuracy stays at or above `floor`; the reduced
    QGraph and the layers it made stateless (none: the QGraph itself)."""
    from ..quantize import make_stateless, stateless_candidates
    from ..runtime.binding import run_c
    kept: list[str] = []
    best = qgraph
    for name in stateless_candidates(qgraph):
        trial = make_stateless(qgraph, kept + [name])
        if float(np.mean(run_c(trial, x).pred == y)) >= floor - 1e-12:
            kept.append(name)
            best = trial
    return best, kept


def _models_of(graph: Graph, e: Evaluated, x, y, target_acc: float, exit_max_drop: float) -> list[dict]:
    """One shortlisted candidate's models: as quantized, and with its state reduced (when a layer could be);
    each run full length and with its calibrated exit policy on the validation data."""
    from ..runtime.binding import run_c
    q = quantize(graph, e.config, x)
    variants = [(q, [])]
    reduced, names = reduce_state(q, x, y, target_acc)
    if names:
        variants.append((reduced, names))
    out = []
    for qv, stateless in variants:
        full = run_c(qv, x)
        pol = calibrate(full.outputs, y, max_drop=exit_max_drop, min_accuracy=target_acc)
        qe = qv.with_exit(pol.threshold_q8, pol.beta_q16)
        r = run_c(qe, x) if pol.threshold_q8 is not None else full
        out.append({"model": qv, "stateless": stateless, "full_run": full,
                    "full_accuracy": float(np.mean(full.pred == y)), "policy": pol, "exit_model": qe,
                    "exit_run": r, "exit_accuracy": float(np.mean(r.pred == y))})
    return out


def _mapping_row(m: dict, label: str, qgraph: QGraph, result, accuracy: float, policy: ExitPolicy,
                 steps: int) -> list[dict]:
    """The front row of one mapping (quantization, state reduction, schedule) with its arena in the best RAM
    region for the objective; [] when the schedule cannot run the model or it does not fit the board."""
    from ..cost import estimate
    from ..emit import arena_size_schedule, to_blob
    from ..errors import EmitError
    board, graph = m["board"], m["graph"]
    spec = SCHEDULES[label]
    try:
        arena = arena_size_schedule(qgraph, spec, steps)
    except EmitError:  # early exit, or a recurrent edge across groups
        return []
    blob = len(to_blob(qgraph, spec, steps if spec != "time" else None))
    base = m.get("base")
    if base is not None:  # the board's measured firmware around this model
        flash, sram = {"firmware": base.flash, "blob": blob}, {"firmware": base.ram, "arena": arena}
        other = base.ram
    else:
        flash, sram = _terms(dataclasses.replace(m["config"], blob_bytes=blob, arena_bytes=arena), board, graph)
        other = sram["stack"] + sram["io"]
    if not _fits(sum(flash.values()), sum(sram.values()), board):
        return []
    reps = {region: estimate(qgraph, result, board, coeffs=m["coeffs"], schedule=label, blob_bytes=blob,
                             arena_bytes=arena, placement={"weights": board.code_region, "arena": region})
            for region in arena_regions(board, arena, other)}
    if not reps:
        return []
    region = min(reps, key=lambda k: _objective_key(m["objective"], {"cost": {"totals": reps[k].summary()}}))
    rep = reps[region]
    if base is not None:
        rep = dataclasses.replace(rep, flash=flash, sram=sram, memory_source=f"estimate: {base.source} + this model's",
                                  notes=rep.notes + [f"memory: {base.source}, plus this model's blob and arena "
                                                     f"(analytical terms: flash {rep.flash}, SRAM {rep.sram})"])
    t = rep.summary()
    return [{"config": m["config"].config.to_dict(), "schedule": label, "stateless": list(m["stateless"]),
             "accuracy": accuracy, "mean_steps": float(result.mean_steps), "flash_bytes": t["flash_bytes"],
             "sram_bytes": t["sram_bytes"], "arena_bytes": arena, "cycles": t["cycles"], "energy_j": t["energy_j"],
             "edp_js": t["edp_js"], "latency_s": t["latency_s"], "exit": policy, "qgraph": qgraph,
             "cost": rep.to_dict(), "placement": dict(rep.placement),
             "placements": {k: {n: v.summary()[n] for n in ("cycles", "energy_j", "edp_js")} for k, v in reps.items()}}]


def arena_regions(board, arena: int, other: int) -> list[str]:
    """The RAM regions an arena of `arena` bytes may go to, the board's default first: data regions (SRAM,
    data TCM, SDRAM; not the instruction TCM) that hold it beside the `other` bytes the firmware puts in
    the data region (data, bss, stack). Weights stay in the code region: the model's tables are const."""
    out = []
    for name in [board.arena_region] + sorted(set(board.regions) - {board.arena_region}):
        r = board.regions[name]
        if r.kind not in ("sram", "sdram") or name.startswith("itcm"):
            continue
        need = arena + (other if name == board.data_region else 0)
        if need <= r.size_bytes:
            out.append(name)
    return out


def placed(board, placement: dict):
    """`board` with its arena in placement["arena"]: the firmware's linker script puts it there."""
    return board if placement["arena"] == board.arena_region else dataclasses.replace(board,
                                                                                     arena_region=placement["arena"])


def _objective_key(objective: str, c: dict):
    s = c["cost"]["totals"]
    mem = s["flash_bytes"] + s["sram_bytes"]
    return {"energy": (s["energy_j"], mem), "latency": (s["latency_s"], mem), "edp": (s["edp_js"], mem),
            "flash": (s["flash_bytes"], s["energy_j"]), "sram": (s["sram_bytes"], s["energy_j"])}[objective]


def pareto(rows: list[dict], keys=("accuracy", "-mean_steps", "-flash_bytes", "-sram_bytes", "-cycles")) -> list[dict]:
    """Rows not dominated on keys ('-' = smaller is better)."""
    def vec(r):
        return [(-r[k[1:]] if k.startswith("-") else r[k]) for k in keys]
    vs = [vec(r) for r in rows]
    out, kept = [], []
    for i, v in enumerate(vs):
        if v in kept:  # the same figures as one already on the front
            continue
        dominated = any(all(a >= b for a, b in zip(w, v)) and any(a > b for a, b in zip(w, v))
                        for j, w in enumerate(vs) if j != i)
        if not dominated:
            out.append(rows[i])
            kept.append(v)
    return out


@dataclass
class Searched:
    """The board-independent part of a plan: float accuracy and every candidate's bit-exact evaluation on the
    validation data. One search serves every board (plan(..., searched=...))."""
    float_accuracy: float
    evaluated: list[Evaluated]
    sensitivity: list[dict]
    models: dict = field(default_factory=dict)  # the shortlisted models' runs, kept for the next board


def search_quantization(graph: Graph, x_val, y_val, *, configs: list[QuantConfig] | None = None,
                        workers: int | None = None, sensitivity: bool = True, progress: bool = False) -> Searched:
    """Quantization search on (x_val, y_val): each candidate run in the C runtime, plus the sensitivity table."""
    from ..progress import Progress
    from ..sim import simulate
    x, y = check_data(graph, x_val, y_val)
    float_acc = float(np.mean(simulate(graph, x).pred == y))
    configs = configs or candidates(graph)
    sens = sensitivity_configs(graph) if sensitivity else []
    bar = Progress(len(configs) + len(sens), "plan: quantization candidates") if progress else None
    evs = evaluate(graph, configs + [c for _, _, c in sens], x, y, calib=x, workers=workers or default_workers(),
                   progress=bar)
    if bar:
        bar.close()
    evs, sens_evs = evs[:len(configs)], evs[len(configs):]
    sens_rows = [{"kind": k, "value": v, "accuracy": e.accuracy, "drop_pts": 100 * (sens_evs[0].accuracy - e.accuracy)}
                 for (k, v, _), e in zip(sens, sens_evs)]
    return Searched(float_acc, evs, sens_rows)


def plan(graph: Graph, board, x_val, y_val, *, target_acc: float | None = None, max_drop: float | None = None,
         objective: str = "energy", configs: list[QuantConfig] | None = None, workers: int | None = None,
         exit_max_drop: float = 0.005, shortlist: int = 6, sensitivity: bool = True, calibration=None,
         progress: bool = False, measure: bool = True, firmware_cache=None,
         searched: Searched | None = None) -> Plan | Infeasible:
    """Search quantization, exit policy and cost for `graph` on `board` with validation data (x_val, y_val).

    measure: build the board's firmware, size every row on it and report the chosen candidate's measured flash
    and SRAM (plan/firmware.py); without it every row keeps the analytical estimate. The rows not chosen say
    "memory": "estimate".
    searched: a search_quantization(graph, x_val, y_val, ...) made before (on the same data), to plan many boards."""
    from ..cost import CostReport, coefficients
    from ..device.firmware import FirmwareTooLarge
    from .firmware import build_for_plan, firmware_base
    if objective not in OBJECTIVES:
        raise PlanInputError(f"objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    if target_acc is not None and max_drop is not None:
        raise PlanInputError("give either target_acc or max_drop, not both")
    if target_acc is not None and not 0 <= target_acc <= 1:
        raise PlanInputError(f"target_acc {target_acc} must be a fraction in [0, 1]")
    if max_drop is not None and not 0 <= max_drop <= 1:
        raise PlanInputError(f"max_drop {max_drop} must be a fraction in [0, 1]")
    if not 0 <= exit_max_drop <= 1:
        raise PlanInputError(f"exit_max_drop {exit_max_drop} must be a fraction in [0, 1]")
    x, y = check_data(graph, x_val, y_val)
    coeffs = coefficients(board, calibration)
    if searched is None:
        searched = search_quantization(graph, x, y, configs=configs, workers=workers, sensitivity=sensitivity,
                                       progress=progress)
    float_acc, evs, sens_rows = searched.float_accuracy, searched.evaluated, searched.sensitivity
    if target_acc is None:
        target_acc = float_acc - (0.01 if max_drop is None else max_drop)
        target = {"max_drop": 0.01 if max_drop is None else max_drop, "accuracy": target_acc}
    else:
        target = {"target_acc": target_acc, "accuracy": target_acc}

    def mem(e):
        f, s = _terms(e, board, graph)
        return sum(f.values()), sum(s.values())

    grouped = {}  # the smallest grouped-schedule arena per state storage (the arena holds no weights)

    def fits_grouped(e) -> bool:
        from ..cost import schedule_arenas
        k = (e.config.state_bits <= 16, e.config.current_bits <= 16)
        if k not in grouped:
            arenas = schedule_arenas(quantize(graph, e.config, x), int(x.shape[1]))
            grouped[k] = min((a for label, a in arenas.items() if label != SCHEDULE and isinstance(a, int)),
                             default=None)
        if grouped[k] is None:
            return False
        f, s = mem(dataclasses.replace(e, arena_bytes=grouped[k]))
        return _fits(f, s, board)
    fitting = [e for e in evs if _fits(*mem(e), board) or fits_grouped(e)]
    if not fitting:
        smallest = min(evs, key=lambda e: sum(mem(e)))
        return infeasible_memory(smallest, board, graph, quantize(graph, smallest.config, x), int(x.shape[1]))
    qualified = [e for e in fitting if e.accuracy >= target_acc - 1e-12]
    if not qualified:
        best = max(fitting, key=lambda e: e.accuracy)
        field_name = "max_drop" if "max_drop" in target else "target_acc"
        return Infeasible(board.id, f"no candidate meets the accuracy target ({field_name})",
                          {"accuracy": target_acc, "field": field_name}, {"best_accuracy": best.accuracy,
                                                                         "best_config": best.config.to_dict()},
                          {"accuracy_pts": 100 * (target_acc - best.accuracy)},
                          [f"relax {field_name} (best reachable: {100 * best.accuracy:.2f}% on the validation data)",
                           "retrain with quantization-aware training (edgesnn.train.qat)"])

    # distinct models only: the smallest-memory ones (Q-SpiNN's choice) and the most accurate ones, whose
    # accuracy headroom lets early exit stop sooner and may cost less energy
    uniq = {}
    for e in sorted(qualified, key=lambda e: (sum(mem(e)), -e.accuracy, e.config.weight_bits, e.config.state_bits)):
        uniq.setdefault(e.digest, e)
    distinct = list(uniq.values())
    short = distinct[:shortlist]
    for e in sorted(distinct, key=lambda e: (-e.accuracy, sum(mem(e))))[:shortlist]:
        if e not in short:
            short.append(e)
    steps = int(x.shape[1])
    # the firmware around the model, measured once from the first shortlisted model's image: every row's
    # flash and SRAM are then the image's to a few bytes, not the analytical model's (which misses the
    # firmware's server, start-up code and buffers)
    base = firmware_base(quantize(graph, short[0].config, x), board, firmware_cache) if measure else None
    rows = []
    for e in short:
        key = (e.digest, exit_max_drop, target_acc)
        if key not in searched.models:  # board-independent: the same on every board planned from `searched`
            searched.models[key] = _models_of(graph, e, x, y, target_acc, exit_max_drop)
        for m in searched.models[key]:
            mapping = {"config": e, "stateless": m["stateless"], "board": board, "graph": graph, "coeffs": coeffs,
                       "objective": objective, "base": base}
            rows += _mapping_row(mapping, "time-step-major", m["exit_model"], m["exit_run"], m["exit_accuracy"],
                                 m["policy"], steps)
            no_exit = ExitPolicy(None, None, m["full_accuracy"], float(steps), m["full_accuracy"], steps)
            for label in ("fused", "layer-major"):
                rows += _mapping_row(mapping, label, m["model"], m["full_run"], m["full_accuracy"], no_exit, steps)
    if not rows:  # the shortlist's images, sized on the measured firmware, fit under no schedule
        return infeasible_memory(short[0], board, graph, quantize(graph, short[0].config, x), steps, base)
    front = pareto(rows)
    ok = [r for r in rows if r["accuracy"] >= target_acc - 1e-12] or rows
    chosen, too_large = None, []
    for r in sorted(ok, key=lambda r: _objective_key(objective, r)):
        if not measure:
            chosen = r
            break
        try:
            fw, why = build_for_plan(r["qgraph"], placed(board, r["placement"]), firmware_cache,
                                     schedule=SCHEDULES[r["schedule"]], steps=steps)
        except FirmwareTooLarge as e:  # the estimate fit, the real image does not: the next best
            too_large.append((r, e))
            continue
        rep = CostReport.from_dict(r["cost"])
        rep = rep.with_firmware(fw) if fw is not None else dataclasses.replace(rep, notes=rep.notes + [why])
        r["cost"] = rep.to_dict()
        r["flash_bytes"], r["sram_bytes"] = rep.flash_bytes, rep.sram_bytes
        chosen = r
        break
    if chosen is None:
        r, e = too_large[0]
        return Infeasible(board.id, "the firmware of every qualifying candidate, built and measured, exceeds the "
                          "board's memory (the analytical estimate fit)", {"firmware": str(e)},
                          {"flash_bytes": board.flash_bytes, "sram_bytes": board.sram_bytes},
                          {"candidates_built": len(too_large)},
                          ["a smaller stack than the board file reserves", "weights at fewer bits",
                           "a board with more memory"])
    for r in rows:
        r["memory"] = r["cost"].get("memory_source", "estimate").split(":")[0]
    front = front if any(r is chosen for r in front) else front + [chosen]
    front_rows = [{k: (v if k != "exit" else v.to_dict()) for k, v in r.items() if k not in ("qgraph", "cost")}
                  | {"chosen": r is chosen} for r in front]
    for fr in front_rows:
        fr["exit"] = {k: fr["exit"][k] for k in ("threshold_q8", "beta_q16", "mean_steps", "accuracy")}
    return Plan(board.id, chosen["qgraph"], chosen["exit"], chosen["schedule"],
                chosen["placement"], chosen["cost"], chosen["accuracy"],
                float_acc, objective, target, front_rows, sens_rows, len(evs),
                {"inputs": int(x.shape[0]), "steps": int(x.shape[1])})


def front_table(p: Plan) -> str:
    from tabulate import tabulate
    rows = []
    for r in p.front:
        c = r["config"]
        sl = r.get("stateless") or []
        rows.append(["*" if r.get("chosen") else "", f"w{c['weight_bits']} s{c['state_bits']} d{c['decay_bits']} "
                     f"t{c['threshold_bits']} {c['rounding']}", r.get("schedule", SCHEDULE),
                     ", ".join(sl) if sl else "-", r.get("placement", {}).get("arena", "-"),
                     f"{100 * r['accuracy']:.2f}%", f"{r['mean_steps']:.2f}",
                     f"{r['flash_bytes']:,}", f"{r['sram_bytes']:,}", f"{r['cycles']:,.0f}",
                     f"{r['energy_j'] * 1e6:.2f}", f"{r['edp_js'] * 1e9:.3f}"])
    return tabulate(rows, ["", "bits", "schedule", "stateless", "arena in", "accuracy", "mean steps", "flash B",
                           "SRAM B", "cycles", "energy uJ", "EDP nJ s"], tablefmt="simple_outline") + (
        "\nflash / SRAM: the chosen row (*) measured from its built firmware ELF; the others that firmware's base "
        "plus their own blob and arena" if any(r.get("memory") == "measured" for r in p.front) else "")


def save_front_png(p: Plan, path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([r["energy_j"] * 1e6 for r in p.front], [100 * r["accuracy"] for r in p.front])
    for r in p.front:
        if r.get("chosen"):
            ax.scatter([r["energy_j"] * 1e6], [100 * r["accuracy"]], color="red", label="chosen")
    ax.set_xlabel("energy per input (uJ, estimated)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"Pareto front on {p.board}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
