"""Analytical cost model: counts from simulated activity x per-board coefficients.

Counts per layer (mean per input over the user's data, from the fixed-point counters of
`simulate_fixed` / `run_c`, which are bit-identical): synaptic operations, neuron updates,
spikes in and out, parameter bytes read, arena bytes read and written, time steps run (early exit
included) and layer invocations. The model, per layer L:

    instr_cycles(L) = cycles_per_synop * synops + cycles_per_neuron_update * neuron_updates
                    + cycles_per_spike_in * spikes_in + cycles_per_spike_out * spikes_out
                    + cycles_per_invocation * invocations
    mem_cycles(L)   = param_bytes_read / 4 * read_cycles[weights region]
                    + arena_bytes_read / 4 * read_cycles[arena region]
                    + arena_bytes_written / 4 * write_cycles[arena region]
    energy(L)       = cycles(L) * energy_per_cycle_pj + word accesses x (read|write)_energy_pj[region]

plus one row "(runtime)" for the per-step overhead of the time loop and the exit test
(cycles_per_step * steps), so the rows add up to the model's total: a CostReport is additive.
Latency = cycles / clock_hz; EDP = energy x latency.

Memory accesses count as 32-bit words (bytes / 4). Where a region names no access cost (an
emulated board), the region of the same kind on the real board it mirrors (`[qemu] limits_of`) is
used; failing that, 1 cycle and a generic energy. Instruction coefficients start as priors (see
PRIORS: estimates for the reference kernels on a Cortex-M4, not measured); a calibration file
`calibration/<board>.json` overrides any coefficient:

    {"artifact": "calibration", "edgesnn_version": "0.1.0", "board": "qemu-mps2-an386",
     "id": "qemu-mps2-an386/2026-11-22",
     "coefficients": {"cycles_per_synop": {"value": 5.2, "source": "fit on 12 microbenchmarks, ..."}}}

Every report names each coefficient's value and source and the calibration used (or "priors").

Memory: flash = runtime code (measured per core, edgesnn.cost.runtime_size) + model blob (weights,
parameters and descriptor); SRAM = arena (exact, edgesnn.emit.arena_size) + stack (the board's
firmware stack, else 4 KiB) + I/O buffers (one step's uint8 input + int64 output accumulator).
A plan's chosen candidate replaces these with the sizes measured from its built firmware ELF
(CostReport.with_firmware; `memory_source` says which one a report carries).
Where the model is weak: it is linear in counts (no pipeline or cache effects), and the emulated
board's cycles are instruction counts QEMU does not time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import EdgesnnError
from .runtime_size import runtime_code_bytes

CALIBRATION_DIR = Path(__file__).resolve().parents[2] / "calibration"
PRIOR_SRC = "prior: edgesnn estimate for the reference C kernels on a Cortex-M4 (not measured)"
PRIORS: dict[str, tuple[float, str]] = {
    "cycles_per_synop": (4.0, PRIOR_SRC + "; load weight, add, store accumulator, loop"),
    "cycles_per_neuron_update": (18.0, PRIOR_SRC + "; decay multiply-shift, add, saturate, compare, reset"),
    "cycles_per_spike_in": (10.0, PRIOR_SRC + "; scan of the input buffer, row address per spike"),
    "cycles_per_spike_out": (2.0, PRIOR_SRC + "; spike write"),
    "cycles_per_invocation": (60.0, PRIOR_SRC + "; kernel call, bias copy, dispatch per layer and step"),
    "cycles_per_step": (120.0, PRIOR_SRC + "; time loop, input copy, counters, entropy exit test"),
}
DEFAULT_REGION = {"read_cycles": 1.0, "write_cycles": 1.0, "read_energy_pj": 10.0, "write_energy_pj": 10.0}
DEFAULT_ENERGY_PER_CYCLE = (500.0, "prior: generic Cortex-M run-mode energy per cycle (no board figure)")
DEFAULT_STACK_BYTES = 4096
COUNT_FIELDS = ("synops", "neuron_updates", "spikes_in", "spikes_out", "param_bytes_read",
                "arena_bytes_read", "arena_bytes_written", "steps", "invocations")


@dataclass
class Coefficients:
    """Named coefficients of one board, each with where it came from."""
    board: str
    values: dict[str, float]
    sources: dict[str, str]
    calibration: str  # "priors" or the calibration file's id

    def to_dict(self) -> dict:
        return {"board": self.board, "calibration": self.calibration,
                "coefficients": {k: {"value": v, "source": self.sources[k]} for k, v in sorted(self.values.items())}}

    @classmethod
    def from_dict(cls, d: dict) -> "Coefficients":
        c = d["coefficients"]
        return cls(d["board"], {k: float(v["value"]) for k, v in c.items()}, {k: v["source"] for k, v in c.items()},
                   d["calibration"])


def _mirror(board):
    """The real board an emulated one mirrors, for priors the emulated one lacks."""
    if board.limits_of:
        from ..board import get_board
        try:
            return get_board(board.limits_of)
        except EdgesnnError:
            return None
    return None


def load_calibration(path: str | Path) -> dict:
    """A calibration file, checked: {coefficient name: (value, source)} and its id."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EdgesnnError(f"{path}: cannot read the calibration file ({e})") from None
    if not isinstance(d, dict) or d.get("artifact") != "calibration" or not isinstance(d.get("coefficients"), dict):
        raise EdgesnnError(f"{path}: not an edgesnn calibration file (need 'artifact': 'calibration' and "
                           "'coefficients': {name: {value, source}})")
    out = {}
    for k, v in d["coefficients"].items():
        if not isinstance(v, dict) or not isinstance(v.get("value"), (int, float)) or not v["value"] >= 0:
            raise EdgesnnError(f"{path}: coefficient {k!r} needs a non-negative 'value' and a 'source'")
        out[k] = (float(v["value"]), str(v.get("source", "calibration")))
    return {"id": str(d.get("id", Path(path).name)), "coefficients": out}


def coefficients(board, calibration: str | Path | None = None) -> Coefficients:
    """Priors from the board file (its mirror for an emulated board), overridden by a calibration file:
    `calibration` if given, else calibration/<board id>.json when it exists."""
    vals, srcs = {}, {}
    for k, (v, s) in PRIORS.items():
        vals[k], srcs[k] = v, s
    mirror = _mirror(board)
    epc = board.energy_per_cycle_pj
    if epc is not None:
        vals["energy_per_cycle_pj"], srcs["energy_per_cycle_pj"] = epc, board.raw["cost"]["energy_per_cycle_source"]
    elif mirror is not None and mirror.energy_per_cycle_pj is not None:
        vals["energy_per_cycle_pj"] = mirror.energy_per_cycle_pj
        srcs["energy_per_cycle_pj"] = f"{mirror.id} (mirrored board): " + mirror.raw["cost"]["energy_per_cycle_source"]
    else:
        vals["energy_per_cycle_pj"], srcs["energy_per_cycle_pj"] = DEFAULT_ENERGY_PER_CYCLE
    for name, r in board.regions.items():
        twin = None
        if mirror is not None:
            twin = next((m for m in mirror.regions.values() if m.kind == r.kind), None)
        for attr, default in DEFAULT_REGION.items():
            key = f"{name}.{attr}"
            if getattr(r, attr) is not None:
                vals[key], srcs[key] = float(getattr(r, attr)), f"{board.id} board file: {r.source or 'no source'}"
            elif twin is not None and getattr(twin, attr) is not None:
                vals[key] = float(getattr(twin, attr))
                srcs[key] = f"{mirror.id} (mirrored board) region {twin.name!r}: {twin.source or 'no source'}"
            elif attr == "write_cycles" and r.kind == "flash":
                vals[key], srcs[key] = 0.0, "flash is not written at run time"
            else:
                vals[key], srcs[key] = default, "prior: generic default (board file names no access cost)"
    cal_id = "priors"
    path = Path(calibration) if calibration else CALIBRATION_DIR / f"{board.id}.json"
    if calibration or path.exists():
        cal = load_calibration(path)
        for k, (v, s) in cal["coefficients"].items():
            vals[k], srcs[k] = v, f"calibration {cal['id']}: {s}"
        cal_id = cal["id"]
    return Coefficients(board.id, vals, srcs, cal_id)


@dataclass
class LayerCost:
    name: str
    kind: str
    counts: dict[str, float]   # mean per input
    cycles: float
    energy_pj: float

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "counts": self.counts, "cycles": self.cycles,
                "energy_pj": self.energy_pj}

    @classmethod
    def from_dict(cls, d: dict) -> "LayerCost":
        return cls(d["name"], d["kind"], {k: float(v) for k, v in d["counts"].items()}, float(d["cycles"]),
                   float(d["energy_pj"]))


@dataclass
class CostReport:
    """Estimated cost of one input (mean over the data), additive over `layers`."""
    board: str
    clock_hz: int
    schedule: str
    placement: dict[str, str]          # "weights" / "arena" -> region name
    layers: list[LayerCost]
    flash: dict[str, int]              # runtime_code, blob -> bytes
    sram: dict[str, int]               # arena, stack, io -> bytes
    coefficients: Coefficients
    mean_steps: float
    inputs: int
    notes: list[str] = field(default_factory=list)
    memory_source: str = "estimate"    # "estimate" (memory()) or "measured: <firmware ELF>" (with_firmware)

    @property
    def cycles(self) -> float:
        return float(sum(l.cycles for l in self.layers))

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def energy_j(self) -> float:
        return float(sum(l.energy_pj for l in self.layers)) * 1e-12

    @property
    def edp_js(self) -> float:
        return self.energy_j * self.latency_s

    @property
    def flash_bytes(self) -> int:
        return int(sum(self.flash.values()))

    @property
    def sram_bytes(self) -> int:
        return int(sum(self.sram.values()))

    def summary(self) -> dict:
        return {"cycles": self.cycles, "latency_s": self.latency_s, "energy_j": self.energy_j, "edp_js": self.edp_js,
                "flash_bytes": self.flash_bytes, "sram_bytes": self.sram_bytes, "mean_steps": self.mean_steps}

    def to_dict(self) -> dict:
        return {"artifact": "cost_report", "edgesnn_version": __version__, "board": self.board,
                "clock_hz": self.clock_hz, "schedule": self.schedule, "placement": self.placement,
                "calibration": self.coefficients.calibration, "coefficients": self.coefficients.to_dict(),
                "layers": [l.to_dict() for l in self.layers], "flash": self.flash, "sram": self.sram,
                "mean_steps": self.mean_steps, "inputs": self.inputs, "notes": self.notes,
                "memory_source": self.memory_source, "totals": self.summary()}

    @classmethod
    def from_dict(cls, d: dict) -> "CostReport":
        if not isinstance(d, dict) or d.get("artifact") != "cost_report":
            raise EdgesnnError("not an edgesnn cost report")
        return cls(d["board"], int(d["clock_hz"]), d["schedule"], dict(d["placement"]),
                   [LayerCost.from_dict(l) for l in d["layers"]], {k: int(v) for k, v in d["flash"].items()},
                   {k: int(v) for k, v in d["sram"].items()}, Coefficients.from_dict(d["coefficients"]),
                   float(d["mean_steps"]), int(d["inputs"]), list(d.get("notes", [])),
                   d.get("memory_source", "estimate"))

    def with_firmware(self, fw) -> "CostReport":
        """This report with flash and SRAM replaced by the sizes measured from a built firmware ELF
        (edgesnn.device.firmware.Firmware): flash = text + data, SRAM = data + bss + stack + arena.
        The analytical terms it replaces are kept in the notes."""
        import dataclasses
        s = fw.sizes
        notes = self.notes + [f"analytical memory estimate replaced by the firmware's measured sizes: flash "
                              f"{self.flash_bytes:,} B {self.flash}, SRAM {self.sram_bytes:,} B {self.sram}"]
        return dataclasses.replace(self, flash={"text": s.text, "data": s.data},
                                   sram={"data": s.data, "bss": s.bss, "stack": s.stack, "arena": s.arena},
                                   notes=notes, memory_source=f"measured: firmware {fw.elf} (build {fw.key})")

    def table(self) -> str:
        from tabulate import tabulate
        rows = [[l.name, l.kind, f"{l.counts.get('synops', 0):,.0f}", f"{l.counts.get('neuron_updates', 0):,.0f}",
                 f"{l.cycles:,.0f}", f"{l.energy_pj / 1e6:,.3f}"] for l in self.layers]
        rows.append(["total", "", "", "", f"{self.cycles:,.0f}", f"{self.energy_j * 1e6:,.3f}"])
        return tabulate(rows, ["layer", "kind", "synops", "neuron updates", "cycles", "energy uJ"],
                        tablefmt="simple_outline") + f"\ncoefficients: {self.coefficients.calibration} ({self.board})"


def activity(qgraph, result) -> dict[str, dict[str, float]]:
    """Mean counts per input per counted layer from a SimResult (simulate_fixed or run_c)."""
    n, steps = result.outputs.shape[:2]
    ran = np.full(n, steps) if result.steps is None else result.steps
    out = {}
    for k, cs in result.counts.items():
        c = {f: float(cs[f].sum()) / n for f in COUNT_FIELDS[:7] if f in cs}
        c["steps"] = float(ran.mean())
        c["invocations"] = float(ran.mean())  # time-step-major: each layer runs once per step
        out[k] = c
    return out


SCHEDULES = ("time-step-major", "layer-major")


def schedule_arenas(qgraph, steps: int) -> dict:
    """Exact arena bytes of `qgraph` over `steps` steps per schedule the C runtime executes: time-step-major
    (esn_arena_size) and layer-major (esn_arena_size_layer_major), or for layer-major the reason it cannot
    run the model (a recurrent edge, early exit). Layer-major runs on the host runtime only
    (run_c(..., schedule="layer")); the emitted firmware executes time-step-major."""
    from ..emit.layout import lower
    low = lower(qgraph)
    why = low.layer_major_refusal()
    return {"time-step-major": low.arena_size(),
            "layer-major": {"refused": why} if why else low.arena_size_layer_major(steps)}


def memory(qgraph, board, blob_bytes: int | None = None, arena_bytes: int | None = None, *,
           schedule: str = "time-step-major", steps: int | None = None) -> tuple[dict, dict, str]:
    """(flash terms, SRAM terms, provenance of the code size) of `qgraph` on `board`; the arena is the
    schedule's (layer-major needs `steps`, and raises EmitError for a model it cannot run)."""
    from ..emit import arena_size, arena_size_layer_major, to_blob
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r}: expected one of {SCHEDULES}")
    code, src = runtime_code_bytes(board.core)
    blob = len(to_blob(qgraph)) if blob_bytes is None else int(blob_bytes)
    if arena_bytes is not None:
        arena = int(arena_bytes)
    elif schedule == "layer-major":
        if steps is None:
            raise ValueError("the layer-major arena depends on the steps T: pass steps")
        arena = arena_size_layer_major(qgraph, steps)
    else:
        arena = arena_size(qgraph)
    stack = int(board.firmware.get("stack_bytes", DEFAULT_STACK_BYTES))
    g = qgraph.graph
    io = int(np.prod(g.input.shape)) + 8 * int(np.prod(g.output.shape))
    return ({"runtime_code": code, "blob": blob}, {"arena": arena, "stack": stack, "io": io}, src)


def estimate(qgraph, result, board, *, coeffs: Coefficients | None = None, placement: dict | None = None,
             schedule: str = "time-step-major", blob_bytes: int | None = None,
             arena_bytes: int | None = None) -> CostReport:
    """CostReport of `qgraph` on `board` from the activity in `result` (a run on the user's data)."""
    coeffs = coeffs or coefficients(board)
    placement = placement or {"weights": board.code_region, "arena": board.arena_region}
    v = coeffs.values
    wr, ar = placement["weights"], placement["arena"]
    nodes = qgraph.graph.nodes
    layers = []
    for name, c in activity(qgraph, result).items():
        instr = (v["cycles_per_synop"] * c.get("synops", 0) + v["cycles_per_neuron_update"] * c.get("neuron_updates", 0)
                 + v["cycles_per_spike_in"] * c.get("spikes_in", 0) + v["cycles_per_spike_out"] * c.get("spikes_out", 0)
                 + v["cycles_per_invocation"] * c["invocations"])
        pr, rd, wt = c.get("param_bytes_read", 0) / 4, c.get("arena_bytes_read", 0) / 4, c.get("arena_bytes_written", 0) / 4
        mem = pr * v[f"{wr}.read_cycles"] + rd * v[f"{ar}.read_cycles"] + wt * v[f"{ar}.write_cycles"]
        cyc = instr + mem
        e = (cyc * v["energy_per_cycle_pj"] + pr * v[f"{wr}.read_energy_pj"] + rd * v[f"{ar}.read_energy_pj"]
             + wt * v[f"{ar}.write_energy_pj"])
        layers.append(LayerCost(name, nodes[name].kind, c, float(cyc), float(e)))
    steps = result.mean_steps
    cyc = v["cycles_per_step"] * steps
    layers.append(LayerCost("(runtime)", "time loop", {"steps": steps}, cyc, cyc * v["energy_per_cycle_pj"]))
    flash, sram, code_src = memory(qgraph, board, blob_bytes, arena_bytes, schedule=schedule,
                                   steps=int(result.outputs.shape[1]))
    notes = [f"runtime code: {code_src}"]
    return CostReport(board.id, board.clock_hz, schedule, dict(placement), layers, flash, sram, coeffs, float(steps),
                      int(result.outputs.shape[0]), notes)
