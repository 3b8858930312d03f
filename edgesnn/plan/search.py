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
   (which miss the firmware's server, start-up code and buffers: about 12 % of flash, 28 % of SRAM
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
import math
import textwrap
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..artifact import save_json
from ..board import load_catalogue
from ..cost import CostReport, coefficients, estimate, memory_terms, schedule_arenas
from ..emit import to_blob
from ..emit.blob import check_qgraph
from ..errors import EdgesnnError, EmitError
from ..executor import get_executor
from ..firmware.build import FirmwareTooLarge
from ..graph import Graph
from ..graph.simulate import simulate
from ..lower import SCHEDULE_LABELS, SCHEDULES, arena_size, arena_size_schedule
from ..progress import Progress
from ..quantize import QGraph, QuantConfig, make_stateless, quantize, stateless_candidates
from ..quantize.fixedpoint import beta_q16_to_temperature, q8_to_confidence
from ..runtime.binding import run_c
from ..schema import check
from .exit import ExitPolicy, calibrate
from .firmware import build_for_plan, firmware_base
from .quant_search import (Evaluated, analog_data, candidates, default_workers, evaluate, kinds_of, observed_once,
                           sensitivity_configs)
from .race import race, weight_floor
from .schema import PLAN, PlanSchemaError
from .stats import paired_drop, wilson

OBJECTIVES = ("energy", "latency", "flash", "sram", "edp")
SCHEDULE = SCHEDULE_LABELS["time"]  # the schedule the early exit needs


class PlanInputError(EdgesnnError):
    """Validation data or a setting the planner cannot use."""


class PlanFileError(EdgesnnError):
    """A plan file that cannot be used as it is: edited, inconsistent with its quantized model, or placing
    something where the board cannot hold it."""


class PlanBoardMismatch(PlanFileError):
    """A plan deployed on another board than the one it was planned for."""


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
        """Several lines: the reason, then demand, bound and gap in words and units, then the levers."""
        lines = [f"infeasible on {self.board}: {self.reason}"]
        gap = {k: v for k, v in self.gap.items() if v}  # what does not close
        for label, d in (("demand", self.demand), ("bound", self.bound), ("gap", gap)):
            if d:
                lines += textwrap.wrap(_fields(d), 110, initial_indent=f"  {label + ':':8s}",
                                       subsequent_indent=" " * 10)
        if self.levers:
            lines.append("  levers:")
            for lever in self.levers:
                lines += textwrap.wrap(lever, 110, initial_indent="    - ", subsequent_indent=" " * 6)
        return "\n".join(lines)


_NAMES = {"flash_bytes": "flash", "sram_bytes": "SRAM", "best_config": "best candidate",
          "smallest_candidate": "smallest candidate", "accuracy_pts": "accuracy", "drop_pts": "drop",
          "best_drop_upper": "its upper bound", "best_accuracy_lower": "its lower bound", "inputs": "validation inputs"}


def _fields(d: dict) -> str:
    """A demand / bound / gap dict in words: bytes with separators, accuracies in %, configs as bit widths."""
    parts = []
    for k, v in d.items():
        if k.endswith("_terms"):
            continue
        name = _NAMES.get(k, k.replace("_", " "))
        if isinstance(v, dict) and "weight_bits" in v:
            parts.append(f"{name} {bits_label(v)}")
        elif k.endswith("_bytes") and isinstance(v, (int, float)):
            terms = d.get(k[:-len("_bytes")] + "_terms")
            spelled = (" (" + " + ".join(f"{t.replace('_', ' ')} {n:,}" for t, n in terms.items()) + ")"
                       if isinstance(terms, dict) else "")
            parts.append(f"{name} {v:,} B{spelled}")
        elif k.endswith("_pts") and isinstance(v, (int, float)):
            parts.append(f"{name} {v:.2f} pt")
        elif isinstance(v, float) and "drop" in k:
            parts.append(f"{name} {100 * v:.2f} pt")
        elif isinstance(v, float) and ("accuracy" in k or k in ("target_acc", "confidence")):
            parts.append(f"{name} {100 * v:.2f} %")
        else:
            parts.append(f"{name} {v}")
    return ", ".join(parts)


ROUNDING_ABBR = {"nearest": "near", "truncate": "trunc", "stochastic": "stoch"}


def bits_label(c: dict, kinds=None) -> str:
    """A config dict in short: "w5 s10 d6 t10 trunc" (w weights, s state, d decays, t thresholds, c currents,
    a adaptation; currents and adaptation only where `kinds` holds them)."""
    out = [f"w{c['weight_bits']}", f"s{c['state_bits']}", f"d{c['decay_bits']}"]
    if c.get("threshold_bits") is not None:
        out.append(f"t{c['threshold_bits']}")
    for k, tag in (("current_bits", "c"), ("adapt_bits", "a")):
        if kinds is not None and k in kinds and c.get(k) is not None:
            out.append(f"{tag}{c[k]}")
    return " ".join(out + [ROUNDING_ABBR.get(c.get("rounding"), str(c.get("rounding")))])


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
    stats: dict = field(default_factory=dict)         # confidence intervals of accuracy and drop (plan/stats.py)
    notes: list[str] = field(default_factory=list)    # warnings: e.g. too few validation inputs for the target
    search_space: dict = field(default_factory=dict)  # what was searched: bit widths, roundings, schedules
    plot: dict = field(default_factory=dict, repr=False, compare=False)  # every candidate and mapping (not saved)

    @property
    def exit_terms(self) -> dict | None:
        """The exit as a user gives it to `edgesnn simulate|compile|run` (--exit-confidence P --exit-temperature T):
        confidence P (floored to 4 decimals, which maps back to the same threshold), temperature T in output units
        per step, and the entropy threshold in nats; None for a plan without early exit."""
        e = self.qgraph.exit
        if not e:
            return None
        k = int(np.prod(self.qgraph.graph.output.shape))
        p = math.floor(q8_to_confidence(e["threshold_q8"], k) * 1e4 + 1e-9) / 1e4
        t = beta_q16_to_temperature(e["beta_q16"], self.qgraph.output_scale)
        return {"confidence": p, "temperature": float(f"{t:.6g}"), "entropy_nats": e["threshold_q8"] / 256}

    def to_dict(self) -> dict:
        d = self._fields()
        return d | {"record": {"sha256": field_digests(d)}}

    def _fields(self) -> dict:
        return {"artifact": "plan", "edgesnn_version": __version__, "board": self.board,
                "calibration": self.cost["calibration"], "schedule": self.schedule, "placement": self.placement,
                "quant_config": self.qgraph.config.to_dict(), "exit": self.exit.to_dict(), "accuracy": self.accuracy,
                "float_accuracy": self.float_accuracy, "objective": self.objective, "target": self.target,
                "cost": self.cost, "front": self.front, "sensitivity": self.sensitivity, "searched": self.searched,
                "data": self.data, "confidence": self.stats, "notes": self.notes, "search_space": self.search_space,
                "exit_confidence": self.exit_terms, "qgraph": self.qgraph.to_dict()}

    @classmethod
    def from_dict(cls, d: dict, where: str = "plan") -> "Plan":
        """A plan from its file form: the declared schema (edgesnn/plan/schema.py), the embedded quantized graph
        (checked as the runtime checks it), its visible fields against that graph (quant_config, exit,
        exit_confidence), then every field against the plan's record of it (record.sha256: a digest of each
        top-level field made when the plan was written). A plan is a result, not a settings file: an edit is
        refused naming the field. (The record catches careless edits; it is no signature against a forger.)"""
        if not isinstance(d, dict) or d.get("artifact") != "plan":
            raise PlanFileError(f"{where}: not an edgesnn plan")
        if "record" not in d:
            raise PlanFileError(f"{where}: no record of its fields (written before plans were checked, or the record "
                                "was removed): plan again")
        check(d, PLAN, where, error=PlanSchemaError)
        try:
            q = QGraph.from_dict(d["qgraph"], f"{where}: qgraph")
        except EdgesnnError as e:
            raise PlanFileError(str(e)) from None
        try:
            check_qgraph(q)   # as the runtime checks it
        except EdgesnnError as e:
            raise PlanFileError(f"{where}: qgraph: {e}") from None
        p = cls(d["board"], q, ExitPolicy.from_dict(d["exit"]), d["schedule"], d["placement"], d["cost"],
                float(d["accuracy"]), float(d["float_accuracy"]), d["objective"], d["target"], d.get("front", []),
                d.get("sensitivity", []), int(d.get("searched", 0)), d["data"], d.get("confidence", {}),
                list(d.get("notes", [])), d.get("search_space", {}))
        p._cross_check(d, where)
        return p

    def _cross_check(self, d: dict, where: str) -> None:
        """Visible fields against the quantized graph they describe, then against the plan's record."""
        q = self.qgraph
        for k, v in q.config.to_dict().items():
            if d["quant_config"].get(k) != v:
                raise PlanFileError(f"{where}: quant_config.{k} is {d['quant_config'].get(k)!r} but the plan's "
                                    f"quantized model has {v!r}; a plan is not edited: plan again")
        for k in ("threshold_q8", "beta_q16"):
            have = None if q.exit is None else q.exit[k]
            if d["exit"][k] != have:
                raise PlanFileError(f"{where}: exit.{k} is {d['exit'][k]!r} but the plan's quantized model exits "
                                    f"with {have!r}; a plan is not edited: plan again (or give the exit to "
                                    "`edgesnn simulate|compile|run` as --exit-confidence on the model)")
        if d.get("exit_confidence") != self.exit_terms:
            raise PlanFileError(f"{where}: exit_confidence {d.get('exit_confidence')!r} is not the plan's exit "
                                f"({self.exit_terms!r}); a plan is not edited: plan again")
        if self.schedule != "time-step-major" and q.exit is not None:
            raise PlanFileError(f"{where}: schedule {self.schedule!r} with an early exit: only time-step-major "
                                "runs the exit")
        fields = {k: v for k, v in d.items() if k != "record"}
        recorded = d["record"]["sha256"]
        digests = field_digests(fields)
        for k in sorted(set(recorded) | set(digests)):
            if recorded.get(k) != digests.get(k):
                what = ("is not in the plan's record" if k not in recorded else
                        "is missing" if k not in digests else "differs from the plan's record of it")
                raise PlanFileError(f"{where}: field {k!r} {what}: edited after planning; a plan is a result, "
                                    "not a settings file: plan again")

    def save(self, path) -> None:
        save_json(path, self.to_dict())

    @property
    def runtime_schedule(self):
        """The schedule as the runtime and emitters take it (edgesnn.lower): "time", "fused", "layer"."""
        return SCHEDULES.get(self.schedule, "time")

    @property
    def runtime_steps(self) -> int | None:
        """The steps T a grouped schedule is laid out for (None for time-step-major, which takes any T)."""
        return None if self.runtime_schedule == "time" else int(self.data["steps"])

    def check_board(self, board) -> None:
        """The rule: a plan runs on the board it was planned for (its memory, costs and placement are that
        board's). `edgesnn run|profile|flash PLAN.json` take the plan's board when --board is not given; another
        board is refused here, in one line."""
        if board.id != self.board:
            raise PlanBoardMismatch(f"the plan was made for board {self.board!r}, not {board.id!r} (--board): its "
                                    f"fit, costs and placement are {self.board}'s; leave --board out, or plan again "
                                    f"with --board {board.id}")

    def deploy_on(self, board) -> dict:
        """What deploying this plan on `board` takes: the board with the arena placed as planned, and the
        keyword arguments of run_on_board / build_runtime_firmware (schedule, and its steps). Refused for
        another board than the plan's, and for a placement the board cannot hold."""
        self.check_board(board)
        return {"board": placed(board, self.placement), "schedule": self.runtime_schedule,
                "steps": self.runtime_steps}


def check_data(graph: Graph, x, labels, where: str = "validation data") -> tuple[np.ndarray, np.ndarray]:
    """Inputs [N, T, *input_shape], labels [N]; errors name the field. Spike counts (integers 0..255) come back
    as uint8; anything else is analog (real values: sensor readings, direct encoding) and comes back as float64, for
    which the planner searches the input's precision (quant_search.analog_data)."""
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
    if x.dtype.kind not in "biuf":
        raise PlanInputError(f"{where}: field 'inputs' has dtype {x.dtype}; need spike counts or real values")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise PlanInputError(f"{where}: field 'inputs' holds a value that is not a finite number")
    if x.size and (x.min() < 0 or x.max() > 255 or np.any(x != np.round(x))):  # analog values
        return x.reshape(*x.shape[:2], *shape).astype(np.float64), labels.astype(np.int64)
    return x.reshape(*x.shape[:2], *shape).astype(np.uint8), labels.astype(np.int64)


def _fits(flash: int, sram: int, board) -> bool:
    return flash <= board.flash_bytes and sram <= board.sram_bytes


def _terms(ev: Evaluated, board, graph) -> tuple[dict, dict]:
    """A candidate's flash and SRAM terms (cost.memory_terms) from its measured blob and arena."""
    return memory_terms(graph, board, ev.blob_bytes, ev.arena_bytes)[:2]


def _schedule_lever(qgraph, steps: int, sram: dict, board) -> str:
    """What the grouped schedules would do for an SRAM gap, with their exact arenas."""
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


def ram_regions(board) -> list[str]:
    """The regions an arena may be linked into: data regions (SRAM, data TCM, SDRAM), not the instruction TCM
    nor flash (the arena is written every step; in flash it would work under QEMU only)."""
    return [name for name, r in board.regions.items() if r.kind in ("sram", "sdram") and not name.startswith("itcm")]


def placed(board, placement: dict):
    """`board` with its arena in placement["arena"]: the firmware's linker script puts it there. Refused
    (PlanFileError naming the field) for an arena outside the board's RAM regions and for weights anywhere
    but its code region."""
    arena, weights = placement.get("arena"), placement.get("weights")
    if arena not in ram_regions(board):
        raise PlanFileError(f"placement.arena {arena!r}: not a RAM region of {board.id} (the arena is written every "
                            f"step; its RAM regions: {', '.join(ram_regions(board))})")
    if weights != board.code_region:
        raise PlanFileError(f"placement.weights {weights!r}: the weights are the firmware's const tables, in "
                            f"{board.id}'s code region {board.code_region!r}")
    return board if arena == board.arena_region else dataclasses.replace(board, arena_region=arena)


def field_digests(d: dict) -> dict:
    """SHA-256 of each top-level field's canonical JSON (a plan's record of itself)."""
    import hashlib
    import json
    canon = json.loads(json.dumps(d))
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
            for k, v in canon.items()}


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
    float_correct: np.ndarray | None = None     # bool [N]: the inputs the float model gets right (paired drops)


def search_quantization(graph: Graph, x_val, y_val, *, configs: list[QuantConfig] | None = None,
                        workers: int | None = None, sensitivity: bool = True, progress: bool = False,
                        executor=None) -> Searched:
    """Quantization search on (x_val, y_val): each candidate run in the C runtime, plus the sensitivity table.
    executor: where the candidates run: "local" (default: `workers` processes), "ray", "ray:HOST:PORT" or an
    executor (edgesnn/executor.py); the results are the same."""
    x, y = check_data(graph, x_val, y_val)
    float_correct = np.asarray(simulate(graph, x).pred == y)
    float_acc = float(np.mean(float_correct))
    configs = configs or candidates(graph, analog=analog_data(x))
    sens = sensitivity_configs(graph, analog_data(x)) if sensitivity else []
    bar = Progress(len(configs) + len(sens), "plan: quantization candidates") if progress else None
    ex = get_executor(executor, workers or None)
    try:
        evs = evaluate(graph, configs + [c for _, _, c in sens], x, y, calib=x, workers=workers or default_workers(),
                       progress=bar, executor=ex)
    finally:
        if bar:
            bar.close()
        if ex is not executor:
            ex.close()
    evs, sens_evs = evs[:len(configs)], evs[len(configs):]
    sens_rows = [{"kind": k, "value": v, "accuracy": e.accuracy, "drop_pts": 100 * (sens_evs[0].accuracy - e.accuracy)}
                 for (k, v, _), e in zip(sens, sens_evs)]
    return Searched(float_acc, evs, sens_rows, float_correct=float_correct)


def _pts(v: float) -> str:
    return f"{100 * v:.1f}"


def _confidence(ref, correct, target: dict, confidence: float | None) -> tuple[dict, list[str]]:
    """The chosen mapping's accuracy and drop intervals (at `confidence`, else 95 %) and the warning when the
    validation data is too small for the target: the drop's half-width wider than max_drop, or the accuracy's
    lower bound below target_acc. No warning when the target was already judged on the bound."""
    level = confidence or 0.95
    n = int(len(correct))
    lo, hi = wilson(int(np.sum(correct)), n, level)
    drop, dlo, dhi = paired_drop(ref, correct, level)
    stats = {"level": level, "inputs": n, "accuracy_ci": [lo, hi], "drop": drop, "drop_ci": [dlo, dhi],
             "target_on_bound": confidence is not None}
    notes = []
    if confidence is None and "max_drop" in target:
        half = (dhi - dlo) / 2
        if half > target["max_drop"]:
            notes.append(f"{n} validation inputs: \u00b1{_pts(half)} pt at {level:.0%} on the drop against float "
                         f"({_pts(dlo)} to {_pts(dhi)} pt), wider than the {100 * target['max_drop']:g} pt target; "
                         "use more data")
    elif confidence is None and lo < target["accuracy"]:
        notes.append(f"{n} validation inputs: \u00b1{_pts((hi - lo) / 2)} pt at {level:.0%} on the accuracy "
                     f"({_pts(lo)} to {_pts(hi)} %), reaching below the {_pts(target['accuracy'])} % target; use "
                     "more data")
    return stats, notes


def _bound_infeasible(board_id: str, cands: list[tuple], target: dict, confidence: float, ref) -> Infeasible:
    """No candidate meets the target on the bound of its interval: the best bound, the gap, the levers.
    cands: (accuracy, correct [N], config dict) of the candidates that fit."""
    n = len(ref)
    if "max_drop" in target:
        field_name, allowed = "max_drop", target["max_drop"]
        bounds = [paired_drop(ref, c, confidence) for _, c, _ in cands]
        i = min(range(len(cands)), key=lambda j: (bounds[j][2], -cands[j][0]))
        drop, _, up = bounds[i]
        best = {"best_drop": drop, "best_drop_upper": up, "best_config": cands[i][2]}
        gap = {"drop_pts": 100 * (up - allowed)}
        what = (f"the best candidate drops {_pts(drop)} pt, at most {_pts(up)} pt at {confidence:.0%} on {n} "
                "inputs")
        relax = f"relax max_drop to {math.ceil(up * 1000) / 1000:g} ({_pts(up)} pt)"
    else:
        field_name, allowed = "target_acc", target["accuracy"]
        bounds = [wilson(int(np.sum(c)), n, confidence) for _, c, _ in cands]
        i = max(range(len(cands)), key=lambda j: (bounds[j][0], cands[j][0]))
        best = {"best_accuracy": cands[i][0], "best_accuracy_lower": bounds[i][0], "best_config": cands[i][2]}
        gap = {"accuracy_pts": 100 * (allowed - bounds[i][0])}
        what = (f"the best candidate reaches {_pts(cands[i][0])} %, at least {_pts(bounds[i][0])} % at "
                f"{confidence:.0%} on {n} inputs")
        relax = f"relax target_acc to {math.floor(bounds[i][0] * 1000) / 1000:g} ({_pts(bounds[i][0])} %)"
    return Infeasible(board_id, f"no candidate meets the accuracy target ({field_name}) on the bound of its "
                      f"{confidence:.0%} interval", {field_name: allowed, "confidence": confidence, "inputs": n},
                      best, gap, [f"more validation data: {what}", relax,
                                  "judge the target on the point estimate (no confidence level)",
                                  "retrain with quantization-aware training (edgesnn.train.qat)"])


SEARCHES = ("race", "exhaustive")
SENSITIVITY_INPUTS = 256  # a racing search's sensitivity table runs on this many inputs (its rows say so)


def _memory_judges(graph: Graph, board, x):
    """mem(e) -> (flash, SRAM) bytes of an Evaluated from its blob and arena (the analytical terms), and
    fits(e): it fits the board time-step-major or under the smallest grouped-schedule arena."""
    def mem(e):
        f, s = _terms(e, board, graph)
        return sum(f.values()), sum(s.values())

    grouped = {}  # the smallest grouped-schedule arena per state storage (the arena holds no weights)

    def fits_grouped(e) -> bool:
        k = (e.config.state_bits <= 16, e.config.current_bits <= 16)
        if k not in grouped:
            arenas = schedule_arenas(quantize(graph, e.config, x), int(x.shape[1]))
            grouped[k] = min((a for label, a in arenas.items() if label != SCHEDULE and isinstance(a, int)),
                             default=None)
        if grouped[k] is None:
            return False
        f, s = mem(dataclasses.replace(e, arena_bytes=grouped[k]))
        return _fits(f, s, board)
    return mem, lambda e: _fits(*mem(e), board) or fits_grouped(e)


def _race_summary(info: dict) -> dict:
    keys = ("candidates", "inputs", "rounds", "pruned_flash_floor", "quantized", "unfit", "dropped_target",
            "dropped_front", "pairs", "pairs_exhaustive", "fraction")
    return {"method": "race"} | {k: info[k] for k in keys if k in info}


def _race_search(graph: Graph, board, x, y, *, configs, workers, sensitivity: bool, target_acc, max_drop,
                 shortlist: int, front_rule: bool, executor, progress: bool):
    """The racing search (plan/race.py) for one board and target: Searched (every quantized candidate; those
    dropped early carry `inputs` and no correct vector) and the race."""
    float_correct = np.asarray(simulate(graph, x).pred == y)
    float_acc = float(np.mean(float_correct))
    floor = target_acc if target_acc is not None else float_acc - (0.01 if max_drop is None else max_drop)
    configs = configs or candidates(graph, analog=analog_data(x))
    workers = workers or default_workers()
    mem, fits = _memory_judges(graph, board, x)
    code = memory_terms(graph, board, 0, 0)[0]["runtime_code"]
    floors = {}

    def flash_floor(wb: int) -> bool:  # the weights alone within the board's flash
        if wb not in floors:
            floors[wb] = code + weight_floor(graph, wb) <= board.flash_bytes
        return floors[wb]
    bar = Progress(1, "plan: race (candidate runs)") if progress else None
    try:
        raced = race(graph, configs, x, y, fits=fits, mem=lambda e: sum(mem(e)), floor=floor,
                     flash_floor=flash_floor, shortlist=shortlist, front_rule=front_rule, workers=workers, calib=x,
                     executor=executor, progress=bar)
    finally:
        if bar:
            bar.close()
    sens_rows = []
    if sensitivity and raced.info.get("quantized", 0) and any(e.correct is not None for e in raced.evaluated):
        sens = sensitivity_configs(graph, analog_data(x))
        n = min(len(y), SENSITIVITY_INPUTS)
        pick = np.random.default_rng(1).permutation(len(y))[:n]
        sens_evs = evaluate(graph, [c for _, _, c in sens], x[pick], y[pick], calib=x, workers=workers,
                            executor=executor)
        sens_rows = [{"kind": k, "value": v, "accuracy": e.accuracy, "inputs": n,
                      "drop_pts": 100 * (sens_evs[0].accuracy - e.accuracy)} for (k, v, _), e in zip(sens, sens_evs)]
    return Searched(float_acc, raced.evaluated, sens_rows, float_correct=float_correct), raced


def plan(graph: Graph, board, x_val, y_val, *, target_acc: float | None = None, max_drop: float | None = None,
         objective: str = "energy", configs: list[QuantConfig] | None = None, workers: int | None = None,
         exit_max_drop: float = 0.005, shortlist: int = 6, sensitivity: bool = True, calibration=None,
         progress: bool = False, measure: bool = True, firmware_cache=None,
         searched: Searched | None = None, confidence: float | None = None,
         search: str = "race", executor=None) -> Plan | Infeasible:
    """Search quantization, exit policy and cost for `graph` on `board` with validation data (x_val, y_val).

    measure: build the board's firmware, size every row on it and report the chosen candidate's measured flash
    and SRAM (plan/firmware.py); without it every row keeps the analytical estimate. The rows not chosen say
    "memory": "estimate".
    searched: a search_quantization(graph, x_val, y_val, ...) made before (on the same data), to plan many boards.
    confidence: a level (0.95) under which a candidate meets the target only when the bound of its interval does:
    the upper bound of its drop against float on the same inputs (max_drop; plan/stats.py paired_drop) or the
    lower bound of its accuracy (target_acc; Wilson). None (default): the point estimates decide. Either way
    Plan.stats carries the intervals (at 95 % without a level) and Plan.notes warns when the validation data
    is too small for the target.
    search: "race" (default; plan/race.py): candidates that memory alone rules out are not quantized, the rest
    race on growing subsets of the validation data and are dropped only when the interval of their accuracy
    says they can neither qualify nor be shortlisted; the chosen plan and front are the exhaustive search's
    (tests/plan/test_race.py). "exhaustive": every candidate on every input (the reference). With `searched`
    given, that search is used as it is.
    executor: where the candidates run: "local" (default: `workers` processes), "ray" (a Ray instance here),
    "ray:HOST:PORT" (a Ray cluster; docs/cluster.md) or an executor (edgesnn/executor.py); the plan is the same."""
    if search not in SEARCHES:
        raise PlanInputError(f"search {search!r} is not one of {', '.join(SEARCHES)}")
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
    if confidence is not None and not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise PlanInputError(f"confidence {confidence} must be a level in (0, 1), e.g. 0.95")
    x, y = check_data(graph, x_val, y_val)
    if analog_data(x) and configs and any(not c.input_bits for c in configs):
        raise PlanInputError("the validation inputs are real values, not spike counts: every candidate needs an analog "
                             "input (input_bits 8 or 16; the default grid searches both)")
    coeffs = coefficients(board, calibration)
    raced = None
    if searched is None:
        ex = get_executor(executor, workers or None)
        try:
            with observed_once(graph, x):  # one float simulation for the search, its sensitivity runs and the race
                if search == "race":
                    searched, raced = _race_search(graph, board, x, y, configs=configs, workers=workers,
                                                   sensitivity=sensitivity, target_acc=target_acc, max_drop=max_drop,
                                                   shortlist=shortlist, front_rule=confidence is None, executor=ex,
                                                   progress=progress)
                else:
                    searched = search_quantization(graph, x, y, configs=configs, workers=workers,
                                                   sensitivity=sensitivity, progress=progress, executor=ex)
        finally:
            if ex is not executor:
                ex.close()
    float_acc, evs, sens_rows = searched.float_accuracy, searched.evaluated, searched.sensitivity
    if target_acc is None:
        target_acc = float_acc - (0.01 if max_drop is None else max_drop)
        target = {"max_drop": 0.01 if max_drop is None else max_drop, "accuracy": target_acc}
    else:
        target = {"target_acc": target_acc, "accuracy": target_acc}
    if searched.float_correct is None:
        searched.float_correct = np.asarray(simulate(graph, x).pred == y)
    ref = searched.float_correct
    searched_count = len(evs) if raced is None else raced.info["candidates"]

    def meets(correct) -> bool:
        """The target met on the bound of the interval at `confidence` (always True without one)."""
        if confidence is None:
            return True
        if "max_drop" in target:
            return paired_drop(ref, correct, confidence)[2] <= target["max_drop"] + 1e-12
        return wilson(int(np.sum(correct)), len(correct), confidence)[0] >= target_acc - 1e-12

    mem, fits = _memory_judges(graph, board, x)
    fitting = [e for e in evs if fits(e)]
    if not fitting:
        smallest = min(evs, key=lambda e: sum(mem(e)))
        out = infeasible_memory(smallest, board, graph, quantize(graph, smallest.config, x), int(x.shape[1]))
        if raced is not None:
            i = raced.info
            out.demand["search"] = (f"{i['pruned_flash_floor']} of {i['candidates']} candidates ruled out by their "
                                    f"weights' flash alone, {i.get('quantized', 0)} quantized to size them, "
                                    f"{i['pairs']} candidate x input runs")
        return out
    complete = [e for e in fitting if e.correct is not None]  # a racing search's survivors (all, exhaustive)
    qualified = [e for e in complete if e.accuracy >= target_acc - 1e-12 and meets(e.correct)]
    if not qualified and confidence is not None:
        return _bound_infeasible(board.id, [(e.accuracy, e.correct, e.config.to_dict()) for e in complete], target,
                                 confidence, ref)
    if not qualified:
        best = max(complete, key=lambda e: e.accuracy)
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
    with observed_once(graph, x):  # quantize's float simulation of x, once for the whole shortlist (not per model)
        base = firmware_base(quantize(graph, short[0].config, x), board, firmware_cache) if measure else None
        for e in short:
            key = (e.digest, exit_max_drop, target_acc)
            if key not in searched.models:  # board-independent: the same on every board planned from `searched`
                searched.models[key] = _models_of(graph, e, x, y, target_acc, exit_max_drop)
    rows = []
    for e in short:
        for m in searched.models[(e.digest, exit_max_drop, target_acc)]:
            mapping = {"config": e, "stateless": m["stateless"], "board": board, "graph": graph, "coeffs": coeffs,
                       "objective": objective, "base": base}
            for r in _mapping_row(mapping, "time-step-major", m["exit_model"], m["exit_run"], m["exit_accuracy"],
                                  m["policy"], steps):
                rows.append(r | {"correct": np.asarray(m["exit_run"].pred == y)})
            no_exit = ExitPolicy(None, None, m["full_accuracy"], float(steps), m["full_accuracy"], steps)
            for label in ("fused", "layer-major"):
                for r in _mapping_row(mapping, label, m["model"], m["full_run"], m["full_accuracy"], no_exit, steps):
                    rows.append(r | {"correct": np.asarray(m["full_run"].pred == y)})
    if not rows:  # the shortlist's images, sized on the measured firmware, fit under no schedule
        return infeasible_memory(short[0], board, graph, quantize(graph, short[0].config, x), steps, base)
    front = pareto(rows)
    ok = [r for r in rows if r["accuracy"] >= target_acc - 1e-12 and meets(r["correct"])]
    if not ok and confidence is not None:
        return _bound_infeasible(board.id, [(r["accuracy"], r["correct"], r["config"]) for r in rows], target,
                                 confidence, ref)
    ok = ok or rows
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
    front_rows = [{k: (v if k != "exit" else v.to_dict()) for k, v in r.items()
                   if k not in ("qgraph", "cost", "correct")} | {"chosen": r is chosen} for r in front]
    for fr in front_rows:
        fr["exit"] = {k: fr["exit"][k] for k in ("threshold_q8", "beta_q16", "mean_steps", "accuracy")}
    stats, notes = _confidence(ref, chosen["correct"], target, confidence)
    searched_configs = [e.config for e in evs] if raced is None else raced.configs
    space = {k: list(dict.fromkeys(c.to_dict()[k] for c in searched_configs)) for k in kinds_of(graph, analog_data(x))}
    space |= {"schedules": list(SCHEDULES), "candidates": searched_count}
    if raced is not None:
        space["search"] = _race_summary(raced.info)
    on_front = {id(r) for r in front}
    def point(e):
        return e.accuracy, e.config.weight_bits, e.config.state_bits, e.config.rounding
    plot = {"candidates": [point(e) for e in evs if e.correct is not None], "shortlisted": [point(e) for e in short],
            "mappings": [{"accuracy": r["accuracy"], "energy_j": r["energy_j"], "schedule": r["schedule"],
                          "exit": r["exit"].threshold_q8 is not None, "front": id(r) in on_front,
                          "chosen": r is chosen} for r in rows],
            "target_acc": target_acc}
    return Plan(board.id, chosen["qgraph"], chosen["exit"], chosen["schedule"],
                chosen["placement"], chosen["cost"], chosen["accuracy"],
                float_acc, objective, target, front_rows, sens_rows, searched_count,
                {"inputs": int(x.shape[0]), "steps": int(x.shape[1])}, stats, notes, space, plot)


SCHEDULE_ABBR = {"time-step-major": "time", "fused": "fused", "layer-major": "layer"}


def front_table(p: Plan) -> str:
    """The Pareto front, one row per mapping, within about 110 columns."""
    kinds = p.search_space or None
    rows = []
    for r in p.front:
        sl = r.get("stateless") or []
        sched = SCHEDULE_ABBR.get(r.get("schedule", SCHEDULE), r.get("schedule", SCHEDULE))
        if (r.get("exit") or {}).get("threshold_q8") is not None:
            sched += "+exit"
        rows.append(["*" if r.get("chosen") else "", bits_label(r["config"], kinds), sched,
                     ",".join(sl) if sl else "-", r.get("placement", {}).get("arena", "-"),
                     f"{100 * r['accuracy']:.2f}", f"{r['mean_steps']:.2f}", f"{r['flash_bytes']:,}",
                     f"{r['sram_bytes']:,}", f"{r['energy_j'] * 1e6:.2f}", f"{r['latency_s'] * 1e3:.3f}"])
    head = ["", "bits", "schedule", "stateless", "arena", "acc %", "steps", "flash B", "SRAM B", "energy uJ",
            "latency ms"]
    width = [max(len(str(c)) for c in col) for col in zip(head, *rows)]

    def line(cells):  # text columns left, figures right
        return "  ".join(str(c).ljust(w) if i < 5 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, width))).rstrip()
    table = "\n".join([line(head), "  ".join("-" * w for w in width)] + [line(r) for r in rows])
    legend = ("bits: w weights, s state, d decays, t thresholds (c currents, a adaptation); rounding near / trunc "
              "/ stoch;\nschedule: time-step-major (+exit: with early exit), fused layer groups, layer-major")
    if any(r.get("memory") == "measured" for r in p.front):
        legend += ("\nflash / SRAM: the chosen row (*) measured from its firmware ELF; other rows: that firmware's "
                   "base + their blob and arena")
    return table + "\n" + legend


def exit_summary(p: Plan) -> str:
    """The plan's exit in the terms `--exit-confidence` / `--exit-temperature` take."""
    t = p.exit_terms
    if t is None:
        return f"no early exit: all {p.exit.full_steps} steps run"
    pad = "\n" + " " * 13
    return (f"stops an input at output confidence {t['confidence']:.4f}: {p.exit.mean_steps:.2f} of "
            f"{p.exit.full_steps} steps on average{pad}(confidence 1 - H / ln K, H the entropy of softmax(mean "
            f"output per step / {t['temperature']:g}),{pad}here H below {t['entropy_nats']:.2f} nats; the same exit: "
            f"--exit-confidence {t['confidence']:.4f} --exit-temperature {t['temperature']:g})")


def plan_summary(p: Plan, output=None) -> str:
    """The chosen plan in a few short lines."""
    c, s = p.qgraph.config, p.stats
    kinds = p.search_space or {}
    bits = [f"{c.weight_bits}-bit weights", f"{c.state_bits}-bit state", f"{c.decay_bits}-bit decays"]
    if c.threshold_bits is not None:
        bits.append(f"{c.threshold_bits}-bit thresholds")
    if "current_bits" in kinds:
        bits.append(f"{c.current_bits}-bit currents")
    if "adapt_bits" in kinds:
        bits.append(f"{c.adapt_bits}-bit adaptation")
    if c.input_bits:
        bits.append(f"{c.input_bits}-bit analog input ({c.input_scale} scales)")
    stateless = p.qgraph.meta.get("stateless") or []
    t = p.cost["totals"]
    memory = p.cost.get("memory_source", "estimate").split(":")[0]
    if "max_drop" in p.target:
        goal = f"drop at most {100 * p.target['max_drop']:g} pt against float"
    else:
        goal = f"accuracy at least {100 * p.target['target_acc']:.2f} %"
    lines = [f"chosen for {p.board} (objective {p.objective}; {goal}"
             + (f", judged on the {s['level']:.0%} bound" if s.get("target_on_bound") else "")
             + f"; {p.searched} candidates searched):",
             f"  bits       {', '.join(bits)}, {c.rounding} rounding",
             f"  exit       {exit_summary(p)}"]
    acc = f"  accuracy   {100 * p.accuracy:.2f} % on {p.data.get('inputs', '?')} validation inputs"
    if s:
        lo, hi = s["accuracy_ci"]
        dlo, dhi = s["drop_ci"]
        acc += (f" ({s['level']:.0%}: {100 * lo:.1f} to {100 * hi:.1f} %); float {100 * p.float_accuracy:.2f} %,"
                f"\n             drop {100 * s['drop']:+.2f} pt ({s['level']:.0%}: {100 * dlo:+.1f} to "
                f"{100 * dhi:+.1f} pt)")
    else:
        acc += f"; float {100 * p.float_accuracy:.2f} %"
    lines.append(acc)
    lines.append(f"  mapping    {p.schedule} schedule, arena in {p.placement['arena']}"
                 + (f", stateless {', '.join(stateless)}" if stateless else ""))
    lines.append(f"  cost       {t['energy_j'] * 1e6:.2f} uJ, {t['latency_s'] * 1e3:.3f} ms, {t['cycles']:,.0f} cycles "
                 f"per input; flash {t['flash_bytes']:,} B, SRAM {t['sram_bytes']:,} B ({memory});"
                 f"\n             coefficients {p.cost['calibration']}")
    if output is not None:
        lines.append(f"  -> {output}")
    return "\n".join(lines)


def _space_label(p: Plan) -> str:
    sp = p.search_space or {}
    names = {"weight_bits": "weights", "state_bits": "state", "decay_bits": "decays", "threshold_bits": "thresholds",
             "current_bits": "currents", "adapt_bits": "adaptation", "input_bits": "analog input"}
    parts = []
    for k, name in names.items():
        if k in sp:
            vals = [str(v) if v is not None else "=state" for v in sp[k]]
            parts.append(f"{name} {'/'.join(vals)}")
    line1 = f"{p.board}: {sp.get('candidates', p.searched)} candidates, bits " + ", ".join(parts)
    line2 = (f"rounding {'/'.join(sp.get('rounding', []))}; schedules {', '.join(sp.get('schedules', []))}; "
             f"objective {p.objective}")
    return line1 + "\n" + line2


def save_front_png(p: Plan, path) -> bool:
    """Two panels: every quantization candidate (accuracy against model memory, the shortlisted ones marked)
    and every mapping tried (accuracy against energy: dominated faint, the Pareto front, the chosen one), with
    the accuracy target as a line and the search space in the title. Needs matplotlib (a dependency)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    target = 100 * p.target["accuracy"]
    cands = p.plot.get("candidates", [])
    maps = p.plot.get("mappings") or [{"accuracy": r["accuracy"], "energy_j": r["energy_j"],
                                        "schedule": r.get("schedule", SCHEDULE), "front": True,
                                        "exit": (r.get("exit") or {}).get("threshold_q8") is not None,
                                        "chosen": r.get("chosen", False)} for r in p.front]
    # the accuracy axis: from a little below the lowest of the target and the mappings, to the best + margin
    shown = [100 * m["accuracy"] for m in maps] + [target, 100 * p.float_accuracy]
    lo = max(0.0, min(shown) - max(2.0, 0.25 * (max(shown) - min(shown))))
    hi = min(100.0, max(shown + [100 * c[0] for c in cands]) + 1.0)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5.2))
    if cands:
        wbits = sorted({c[1] for c in cands})
        sbits = sorted({c[2] for c in cands})
        roundings = list(dict.fromkeys(c[3] for c in cands))

        def xpos(c):  # weight bits on the axis, state bits spread within
            return wbits.index(c[1]) + 0.6 * ((sbits.index(c[2]) + 0.5) / len(sbits) - 0.5)
        below = sum(100 * c[0] < lo for c in cands)
        for i, rnd in enumerate(roundings):
            pts = [c for c in cands if c[3] == rnd and 100 * c[0] >= lo]
            a1.scatter([xpos(c) + 0.05 * (i - 1) for c in pts], [100 * c[0] for c in pts], s=9, alpha=0.45,
                       color=f"C{i + 1}", label=f"{rnd} rounding")
        sh = p.plot.get("shortlisted", [])
        if sh:
            a1.scatter([xpos(c) for c in sh], [100 * c[0] for c in sh], s=60, facecolors="none", edgecolors="k",
                       label=f"shortlisted for mapping ({len(sh)})")
        a1.set_xticks(range(len(wbits)), [str(w) for w in wbits])
        a1.set_xlabel(f"weight bits (state bits {'/'.join(map(str, sbits))} left to right within each)")
        a1.set_title(f"{len(cands)} quantization candidates, bit-exact, all steps"
                     + (f" ({below} below {lo:.0f} %)" if below else ""), fontsize=10)
    else:
        a1.text(0.5, 0.5, "candidates not recorded in this plan", ha="center", va="center", transform=a1.transAxes)
        a1.set_title("quantization candidates", fontsize=10)
    a1.set_ylabel("validation accuracy (%)")
    markers = {"time-step-major": "o", "fused": "s", "layer-major": "^"}
    for sched, mk in markers.items():
        pts = [m for m in maps if m["schedule"] == sched]
        if not pts:
            continue
        dom = [m for m in pts if not m["front"]]
        if dom:
            a2.scatter([m["energy_j"] * 1e6 for m in dom], [100 * m["accuracy"] for m in dom], marker=mk, s=20,
                       color="0.6", alpha=0.4)
        fr = [m for m in pts if m["front"]]
        if fr:
            label = SCHEDULE_ABBR[sched] + ("+exit" if any(m["exit"] for m in fr) else "") + " (front)"
            a2.scatter([m["energy_j"] * 1e6 for m in fr], [100 * m["accuracy"] for m in fr], marker=mk, s=45,
                       label=label)
    a2.scatter([], [], color="0.6", alpha=0.4, s=20, label=f"dominated mapping ({sum(not m['front'] for m in maps)})")
    for m in maps:
        if m["chosen"]:
            a2.scatter([m["energy_j"] * 1e6], [100 * m["accuracy"]], marker="*", s=260, color="red", zorder=5,
                       label="chosen")
    # mappings with (nearly) the same figures are drawn on top of each other: say how many
    energies = [m["energy_j"] * 1e6 for m in maps]
    step = 0.03 * ((max(energies) - min(energies)) or max(energies) or 1.0)
    same: dict = {}
    for m, e in zip(maps, energies):
        k = (round(100 * m["accuracy"], 6), round(e / step))
        same.setdefault(k, []).append(e)
    for (acc, _), es in same.items():
        if len(es) > 1:
            a2.annotate(f"x{len(es)}", (max(es), acc), textcoords="offset points", xytext=(6, -12), fontsize=8,
                        color="0.3")
    for m in maps:
        if m["chosen"] and p.stats.get("accuracy_ci"):
            lo_ci, hi_ci = (100 * v for v in p.stats["accuracy_ci"])
            a2.errorbar([m["energy_j"] * 1e6], [100 * m["accuracy"]], yerr=[[100 * m["accuracy"] - lo_ci],
                                                                            [hi_ci - 100 * m["accuracy"]]],
                        color="red", capsize=4, linewidth=1,
                        label=f"chosen, {p.stats['level']:.0%} interval: {lo_ci:.1f} to {hi_ci:.1f} % "
                              f"({p.stats['inputs']} inputs)")
    a2.set_xlabel("energy per input (uJ, estimated)")
    a2.set_title(f"{len(maps)} mappings: shortlisted bits x stateless layers x schedule", fontsize=10)
    for ax in (a1, a2):
        ax.axhline(target, color="red", linestyle="--", linewidth=1, label=f"target {target:.2f} %")
        ax.axhline(100 * p.float_accuracy, color="0.3", linestyle=":", linewidth=1,
                   label=f"float {100 * p.float_accuracy:.2f} %")
        ax.set_ylim(lo, hi)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(_space_label(p), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
