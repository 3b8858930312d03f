"""Analytical cost model: counts from simulated activity x per-board coefficients.

Counts per layer (mean per input over the user's data, from the fixed-point counters of
`simulate_fixed` / `run_c`, which are bit-identical): synaptic operations, neuron updates,
spikes in and out, parameter bytes read, arena bytes read and written, time steps run (early exit
included) and layer invocations. The model, per layer L, is a sum of terms (coefficient x count),
each coefficient named for the layer's family (affine: Linear/Affine, conv: Conv1d/Conv2d, pool:
Sum/AvgPool, scale; if, lif, li, cubalif, cubali, alif, threshold) and, where the kernel differs, its weight width
as stored (int1 (binary, +-m), int2 and int4 rows unpack eight, four or two weights a byte, int8 takes the DSP accumulate on cores
with it, int16 the reference loop):

    synaptic  <f>.cycles_per_invocation * invocations           call, dispatch, counters, timing
              <f>.cycles_per_output * out_size * invocations     bias copy (conv: + cycles_per_channel)
              <f>.cycles_per_output_cleared * out_size * invocations   the clear of a layer without bias
              <f>.cycles_per_input_scanned * in_size * edges * invocations   the scan for nonzero inputs
              <f>.<w>.cycles_per_spike_in * spikes_in            per event: row address, kernel call
              <f>.<w>.cycles_per_synop * synops                  the accumulate
              (affine.int{2,4,8}.graded.*: a layer fed by a pool or multi-spike neurons: counts of 1 take
              the add-a-row kernel, others the multiply-accumulate, SMLABB/SMLATB for int8 on the DSP cores)
              (<f>.int{1..16}.mac.*, <f>.mac.cycles_per_input_scanned: a reader of an analog input, every event a
              multiply-accumulate, its int32 input scanned a word an entry)
              cycles_per_shifted_output * out_size * invocations   a reader of an analog input shifts its
                        accumulators back into its target's units (esn_node.acc_shift)
              affine.int8.cycles_per_tail_quad * spikes_in * (fan_out % 16 // 4)   past the DSP's 16-wide
              affine.int8.cycles_per_tail_single * spikes_in * (fan_out % 4)        loop, 4 or 1 at a time
              (affine.int8.mac: past its 8-wide loop, fan_out % 8 // 4 and fan_out % 4)
              conv, pool: <f>.cycles_per_window_tap * spikes_in * kh * kw   window bounds checks
              conv: conv.cycles_per_tap * synops / (C_out / groups)         one output position
    neuron    <k>.cycles_per_invocation, <k>.<reset>.cycles_per_neuron_update (IF, LIF, CubaLIF: reset zero,
              value, subtract or subtract_late; IF, LIF, LI and ALIF that the runtime runs on its fast path
              (_fast_neuron): <k>.fast.cycles_per_neuron_update; the others <k>.cycles_per_neuron_update),
              <k>.cycles_per_spike_out
              neuron.cycles_per_extra_input * out_size * (edges - 1) * invocations   summing inputs
              neuron.cycles_per_wide_state_update * neuron_updates   state over 16 bits (int32, not int16)
              neuron.cycles_per_noise_key * invocations, neuron.cycles_per_noise_draw * neuron_updates * draws
                        stochastic rounding (noise_draws: draws per update of the kind)
              neuron[.fast].cycles_per_channel * (channels - 1) * invocations   per-channel parameter fetches
              neuron.fast.cycles_per_width_select_update * neuron_updates   LIF's per-neuron loop with 8-bit loads
              neuron.fast.cycles_per_clamped_update * neuron_updates   IF/LIF/LI's fast loop at 8 < state_bits < 16
                        (v saturated by two compares, not one SSAT: +8 instructions a LIF update on Cortex-M4)
              neuron.cycles_per_neuron_param * neuron_updates * arrays stored per neuron   their loads

A name that the coefficients lack falls back to the next more generic one (affine.int8.cycles_per_synop
-> affine.cycles_per_synop -> cycles_per_synop), so an uncalibrated board runs on the generic PRIORS;
terms with no generic prior (scan, output, taps) start at 0 until a calibration fits them. Each layer
also pays for its memory traffic where a region has wait states:

    mem_cycles(L)   = param_bytes_read / 4 * read_cycles[weights region]
                    + arena_bytes_read / 4 * read_cycles[arena region]
                    + arena_bytes_written / 4 * write_cycles[arena region]
    energy(L)       = cycles(L) * energy_per_cycle_pj + word accesses x (read|write)_energy_pj[region]

plus one row "(runtime)" for what esn_step spends outside the layers: cycles_per_step * steps +
cycles_per_node_step * nodes * steps (every node, Input/Output/Flatten included) + cycles_per_input_byte
* input_size * steps (the input copy; an analog input, widened to int32 value by value:
cycles_per_analog_input_value) + cycles_per_output_value * output_size * steps (the output sum) +
cycles_per_exit_value * output_size * steps (the entropy exit test, when on), so the rows add up to the
model's total: a CostReport is additive.
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
parameters and descriptor); SRAM = arena (exact, edgesnn.lower.arena_size) + stack (the board's
firmware stack, else 4 KiB) + I/O buffers (one step's uint8 input + int64 output accumulator).
A plan's chosen candidate replaces these with the sizes measured from its built firmware ELF
(CostReport.with_firmware; `memory_source` says which one a report carries).
Where the model is weak: it is linear in counts (no pipeline or cache effects). On an emulated board QEMU
counts instructions; a calibration made with estimated cycles (edgesnn.firmware.cycles: QEMU's executed
blocks priced with the core's published timings, zero-wait memory) carries a second coefficient set: its
`cycle_coefficients` price `cycles` and the latency, its instruction fit stays as `instruction_values`
(LayerCost.instructions, CostReport.instructions). An older calibration of an emulated board (no
`cycle_coefficients`) prices instructions as cycles, and says so (Coefficients.note).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tabulate import tabulate

from .. import __version__
from ..board import get_board
from ..emit import to_blob
from ..errors import EdgesnnError, EmitError
from ..graph import ir
from ..graph.kinds import KINDS, NEURON_FAMILIES
from ..lower import OUT_CL, SCHEDULES, arena_size_schedule, lower
from ..quantize.ptq import input_readers
from ..quantize.qgraph import PM_ELEM, param_storage, weight_storage_bits
from ..resources import calibration_file
from ..schema import check
from .schema import CALIBRATION, CalibrationSchemaError, non_finite
from .runtime_size import runtime_code_bytes

PRIOR_SRC = "prior: edgesnn estimate for the reference C kernels on a Cortex-M4 (not measured)"
PRIORS: dict[str, tuple[float, str]] = {
    "cycles_per_synop": (4.0, PRIOR_SRC + "; load weight, add, store accumulator, loop"),
    "cycles_per_neuron_update": (18.0, PRIOR_SRC + "; decay multiply-shift, add, saturate, compare, reset"),
    "cycles_per_spike_in": (10.0, PRIOR_SRC + "; scan of the input buffer, row address per spike"),
    "cycles_per_spike_out": (2.0, PRIOR_SRC + "; spike write"),
    "cycles_per_invocation": (60.0, PRIOR_SRC + "; kernel call, bias copy, dispatch per layer and step"),
    "threshold.cycles_per_neuron_update": (8.0, PRIOR_SRC + "; sum the inputs, compare, write (no state, no decay)"),
    "cycles_per_step": (120.0, PRIOR_SRC + "; time loop, input copy, counters, entropy exit test"),
}
ZERO_SRC = "prior: not modelled before calibration (0)"
for _k in ("cycles_per_output", "cycles_per_output_cleared", "cycles_per_channel", "cycles_per_tail_quad",
           "cycles_per_tail_single", "cycles_per_wide_state_update", "cycles_per_input_scanned", "cycles_per_tap",
           "cycles_per_window_tap", "cycles_per_extra_input", "cycles_per_node_step", "cycles_per_input_byte",
           "cycles_per_output_value", "cycles_per_exit_value", "cycles_per_neuron_param", "cycles_per_noise_key",
           "cycles_per_noise_draw", "cycles_per_width_select_update", "cycles_per_clamped_update",
           "cycles_per_shifted_output", "cycles_per_analog_input_value"):
    PRIORS[_k] = (0.0, ZERO_SRC)
RUNTIME_ROW = "(runtime)"
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
    # an emulated board calibrated with estimated cycles: `values` are those (latency), and these the same
    # terms fitted to QEMU's instruction counts (what its counters measure); None otherwise
    instruction_values: dict[str, float] | None = None
    unit: str = "cycles"   # what `values` price: "cycles" (priors, a real board), "estimated cycles", "instructions"
    note: str = ""         # why the unit is what it is (an older calibration file)

    def to_dict(self) -> dict:
        d = {"board": self.board, "calibration": self.calibration, "unit": self.unit,
             "coefficients": {k: {"value": v, "source": self.sources[k]} for k, v in sorted(self.values.items())}}
        if self.instruction_values is not None:
            d["instruction_coefficients"] = dict(sorted(self.instruction_values.items()))
        if self.note:
            d["note"] = self.note
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Coefficients":
        c = d["coefficients"]
        iv = d.get("instruction_coefficients")
        return cls(d["board"], {k: float(v["value"]) for k, v in c.items()}, {k: v["source"] for k, v in c.items()},
                   d["calibration"], {k: float(v) for k, v in iv.items()} if iv is not None else None,
                   d.get("unit", "cycles"), d.get("note", ""))


def _mirror(board):
    """The real board an emulated one mirrors, for priors the emulated one lacks."""
    if board.limits_of:
        try:
            return get_board(board.limits_of)
        except EdgesnnError:
            return None
    return None


def load_calibration(path: str | Path) -> dict:
    """A calibration file, checked: {coefficient name: (value, source)} and its id."""
    try:
        d = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError) as e:  # ValueError: not JSON, not UTF-8, a 5000-digit number
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise EdgesnnError(f"{path}: cannot read the calibration file ({why})") from None
    if not isinstance(d, dict) or d.get("artifact") != "calibration" or not isinstance(d.get("coefficients"), dict):
        raise EdgesnnError(f"{path}: not an edgesnn calibration file (need 'artifact': 'calibration' and "
                           "'coefficients': {name: {value, source}})")
    for k, v in d["coefficients"].items():  # the message the loader always gave for a bad coefficient
        if not isinstance(v, dict) or not isinstance(v.get("value"), (int, float)) or isinstance(v["value"], bool) \
                or not 0 <= v["value"] < float("inf"):
            raise EdgesnnError(f"{path}: coefficient {k!r} needs a non-negative 'value' and a 'source'")
    bad = non_finite(d)
    if bad:
        raise CalibrationSchemaError(f"{path}: {bad}: not a finite number")
    check(d, CALIBRATION, str(path), error=CalibrationSchemaError)
    out = {k: (float(v["value"]), str(v.get("source", "calibration"))) for k, v in d["coefficients"].items()}
    cyc = {k: (float(v["value"]), str(v.get("source", "calibration"))) for k, v in d.get("cycle_coefficients",
                                                                                           {}).items()}
    unit = (d.get("provenance") or {}).get("unit", "cycles")
    return {"id": str(d.get("id", Path(path).name)), "board": d.get("board"), "coefficients": out,
            "cycle_coefficients": cyc or None, "unit": unit}


OLD_CALIBRATION_NOTE = ("{id} has no estimated-cycle coefficients (made before edgesnn recorded them): its "
                        "coefficients are QEMU instructions, so latency here is instructions / clock; recalibrate "
                        "(`edgesnn calibrate --board {board}`) for estimated cycles")


def coefficients(board, calibration: str | Path | None = None, *, priors_only: bool = False) -> Coefficients:
    """Priors from the board file (its mirror for an emulated board), overridden by a calibration file:
    `calibration` if given, else calibration/<board id>.json when it exists (neither with priors_only)."""
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
    path = Path(calibration) if calibration else calibration_file(board.id)
    if not priors_only and (calibration or path.exists()):
        cal = load_calibration(path)
        if cal["board"] is not None and cal["board"] != board.id:
            raise EdgesnnError(f"{path}: a calibration of board {cal['board']!r}, not {board.id!r}: its coefficients "
                               f"were fitted on that board's measurements")
        for k, (v, s) in cal["coefficients"].items():
            vals[k], srcs[k] = v, f"calibration {cal['id']}: {s}"
        cal_id = cal["id"]
        if cal["cycle_coefficients"]:   # latency from estimated cycles; the instruction fit kept beside
            instr = dict(vals)
            for k, (v, s) in cal["cycle_coefficients"].items():
                vals[k], srcs[k] = v, f"calibration {cal['id']} (estimated cycles): {s}"
            return Coefficients(board.id, vals, srcs, cal_id, instr, "estimated cycles")
        if cal["unit"] == "instructions":
            return Coefficients(board.id, vals, srcs, cal_id, None, "instructions",
                                OLD_CALIBRATION_NOTE.format(id=cal_id, board=board.id))
    return Coefficients(board.id, vals, srcs, cal_id)


@dataclass
class LayerCost:
    name: str
    kind: str
    counts: dict[str, float]   # mean per input
    cycles: float
    energy_pj: float
    terms: dict[str, float] = field(default_factory=dict)  # coefficient name used -> its count
    instructions: float | None = None  # the instruction fit's figure (Coefficients.instruction_values), if any

    def to_dict(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "counts": self.counts, "cycles": self.cycles,
             "energy_pj": self.energy_pj, "terms": self.terms}
        if self.instructions is not None:
            d["instructions"] = self.instructions
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LayerCost":
        return cls(d["name"], d["kind"], {k: float(v) for k, v in d["counts"].items()}, float(d["cycles"]),
                   float(d["energy_pj"]), {k: float(v) for k, v in d.get("terms", {}).items()},
                   float(d["instructions"]) if d.get("instructions") is not None else None)


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
    def instructions(self) -> float | None:
        """Estimated instructions (the instruction fit of an emulated board calibrated with estimated cycles)."""
        if any(l.instructions is None for l in self.layers):
            return None
        return float(sum(l.instructions for l in self.layers))

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
        d = {"cycles": self.cycles, "latency_s": self.latency_s, "energy_j": self.energy_j, "edp_js": self.edp_js,
             "flash_bytes": self.flash_bytes, "sram_bytes": self.sram_bytes, "mean_steps": self.mean_steps}
        if self.instructions is not None:   # an emulated board calibrated with estimated cycles: both
            d["instructions"] = self.instructions
        return d

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
        (edgesnn.firmware.Firmware): flash = text + data, SRAM = data + bss + stack + arena.
        The analytical terms it replaces are kept in the notes."""
        s = fw.sizes
        notes = self.notes + [f"analytical memory estimate replaced by the firmware's measured sizes: flash "
                              f"{self.flash_bytes:,} B {self.flash}, SRAM {self.sram_bytes:,} B {self.sram}"]
        return dataclasses.replace(self, flash={"text": s.text, "data": s.data},
                                   sram={"data": s.data, "bss": s.bss, "stack": s.stack, "arena": s.arena},
                                   notes=notes, memory_source=f"measured: firmware {fw.elf} (build {fw.key})")

    def table(self) -> str:
        rows = [[l.name, l.kind, f"{l.counts.get('synops', 0):,.0f}", f"{l.counts.get('neuron_updates', 0):,.0f}",
                 f"{l.cycles:,.0f}", f"{l.energy_pj / 1e6:,.3f}"] for l in self.layers]
        rows.append(["total", "", "", "", f"{self.cycles:,.0f}", f"{self.energy_j * 1e6:,.3f}"])
        return tabulate(rows, ["layer", "kind", "synops", "neuron updates", "cycles", "energy uJ"],
                        tablefmt="simple_outline") + f"\ncalibration: {self.coefficients.calibration} ({self.board})"


def fallbacks(name: str) -> list[str]:
    """The names a coefficient falls back to, most specific first:
    affine.int8.cycles_per_synop -> affine.cycles_per_synop -> cycles_per_synop. Binary rows (int1), which the
    calibration suite does not measure yet, first take their closest kernel's, int4's (both unpack a byte of weights
    into signed bytes for SXTAB on the DSP cores: 3.25 and 3.07 instructions per synop, dense 24 -> 256, QEMU an386)."""
    parts = name.split(".")
    out = [".".join(parts[:i] + parts[-1:]) for i in range(len(parts) - 1, -1, -1)]
    if "int1" not in parts:   # (a part equal to int1: int16 is not binary)
        return out
    return out[:1] + [".".join("int4" if p == "int1" else p for p in parts)] + out[1:]


def resolve(name: str, values: dict[str, float]) -> str:
    """The most specific name in `values` that `name` falls back to."""
    for n in fallbacks(name):
        if n in values:
            return n
    raise EdgesnnError(f"no coefficient {name!r} nor any of its fallbacks {fallbacks(name)[1:]}")


def layer_info(qgraph) -> dict:
    """What the cost terms need to know of each counted layer (family, weight width, sizes, fan-in edges,
    kernel window) and of the model (nodes, input and output sizes, exit test): plain data, so that
    measurements can carry it (edgesnn.calibrate)."""
    g = qgraph.graph
    sched = g.schedule()
    layers = {}
    analog_readers = set(input_readers(g)) if qgraph.analog else set()
    layouts = {nd.name: nd.layout for nd in lower(qgraph).nodes} if any(
        isinstance(n, ir.Conv2d) for n in g.nodes.values()) else {}
    for name in sched.order:
        node = g.nodes[name]
        if not (isinstance(node, ir.SYNAPTIC_TYPES) or node.stateful):
            continue
        preds = g.predecessors(name)
        d = {"kind": node.kind, "family": KINDS[node.kind].family, "edges": len(preds),
             "in_size": int(np.prod(sched.shapes[preds[0]])) if preds else 0,
             "out_size": int(np.prod(sched.shapes[name]))}
        ql = qgraph.layers.get(name)
        if ql is not None and "weight" in ql.params:
            d["weight_bits"] = weight_storage_bits(qgraph.config.weight_bits)   # as stored: 1, 2, 4, 8 or 16
        if isinstance(node, ir.SYNAPTIC_TYPES):
            d["bias"] = ql is not None and "bias" in ql.params
            d["graded"] = _graded_input(g, name)
            if name in analog_readers:
                d["analog"] = True
            if ql is not None and ql.acc_shift:
                d["shifted"] = True
        if KINDS[node.kind].state:  # state up to 16 bits is stored as int16, wider as int32 (Threshold: none)
            cfg = qgraph.config
            d["wide_state"] = bool(cfg.state_bits > 16
                                   or (KINDS[node.kind].current and cfg.current_bits > 16))
        if node.stateful and qgraph.config.rounding == "stochastic":   # noise drawn per shifted product
            d["noise_draws"] = noise_draws(node.kind)
        if isinstance(node, ir._Spiking):  # the reset's arithmetic runs for every neuron, spiking or not
            d["reset"] = "subtract_late" if node.reset_late else node.reset
        if node.kind in FAST_NEURON_KINDS and ql is not None:
            d["fast"] = _fast_neuron(qgraph, node, ql)
            if d["fast"] and node.kind == "LIF" and _pern_width_select(node, ql):
                d["width_select"] = True
            elif d["fast"] and node.kind != "ALIF" and 8 < qgraph.config.state_bits < 16:
                d["clamped"] = True   # v at 16 bits saturated to state_bits by two compares, not one SSAT
        if node.stateful and ql is not None:  # per-channel parameters are fetched once per channel, per-neuron
            shape = sched.shapes[name]        # ones at every update
            d["channels"] = int(shape[0]) if len(shape) >= 2 else 1
            d["per_neuron_params"] = sum(param_storage(np.asarray(a).reshape(shape), len(shape) >= 2)[1] == PM_ELEM
                                         for a in ql.params.values())
        if isinstance(node, (ir.Conv2d, ir.SumPool2d)):
            k = node.weight.shape[2:] if isinstance(node, ir.Conv2d) else node.kernel_size
            d["window"] = int(np.prod(k))
            if isinstance(node, ir.Conv2d):
                d["cout_per_group"] = int(node.weight.shape[0] // node.groups)
                d["plane"] = int(np.prod(sched.shapes[name][1:]))
                # row-major output (lowering keeps it where a per-channel neuron layer reads it): each tap's
                # C_out weights go to a strided column, not one contiguous run (esn_conv)
                d["strided"] = not layouts.get(name, 0) & OUT_CL
        layers[name] = d
    out_name = g.output.name
    model = {"nodes": len(sched.order), "input_size": int(np.prod(g.input.shape)),
             "output_size": int(np.prod(g.output.shape)), "output_edges": len(g.predecessors(out_name)),
             "exit": qgraph.exit is not None, "analog_input": qgraph.analog}
    return {"layers": layers, "model": model}


FAST_NEURON_KINDS = ("IF", "LIF", "LI", "ALIF")


def noise_draws(kind: str) -> int:
    """Stochastic rounding's noise draws per neuron update (esn_neuron.c's generic loop, one per shifted
    product): the membrane decay (all but IF), the current's decay and gain (Cuba*), the threshold's
    adaptation and its decay (ALIF)."""
    row = KINDS[kind]
    return int(row.family != "if") + 2 * int(bool(row.current)) + 2 * int(bool(row.adaptive))


def _bias_max(decay_bits: int) -> int:
    """The largest |bias| the fast loop folds into its rounding term (esn_bias_max in esn_neuron.c)."""
    return min((0x7FFFFFFF >> decay_bits) - 32767, 1 << 28)


def _fast_neuron(qgraph, node, ql) -> bool:
    """Whether the runtime runs this layer on its int32 fast path (runtime_c/src/kernels/esn_neuron.c,
    esn_neuron_fast; checked there once per call, mirrored here): deterministic rounding, v kept (not stateless)
    in at most 16 bits, bias and v_reset stored per layer or channel with |bias| <= esn_bias_max; IF/LIF/LI:
    alpha and threshold per layer or channel, or per neuron (LI: alpha at 16 bits; LIF: both per neuron, each at
    8 or 16 bits, or both not); IF/LIF: one spike a step, no late reset; LI: decay_bits <= 15;
    ALIF: state at 8 or 16 bits, decay_bits <= 15, b0 and beta per layer or channel with beta in [0, 2^16),
    and alpha, rho, eta_inc all per layer or channel or all per neuron at 16 bits."""
    cfg, shape = qgraph.config, node.neuron_shape
    store = {k: param_storage(np.asarray(a).reshape(shape), len(shape) >= 2) for k, a in ql.params.items()}

    def once(k: str) -> bool:
        return k not in store or store[k][1] != PM_ELEM

    def per_neuron16(k: str) -> bool:
        return k in store and store[k][1] == PM_ELEM and store[k][2] == 16

    def per_neuron(k: str) -> bool:   # at 8 or 16 bits
        return k in store and store[k][1] == PM_ELEM and store[k][2] in (8, 16)

    bias = np.asarray(ql.params.get("bias", 0))
    if (cfg.rounding == "stochastic" or cfg.state_bits > 16 or not all(map(once, ("bias", "v_reset")))
            or not (once("threshold") or per_neuron("threshold"))
            or (bias.size and int(np.abs(bias).max()) > _bias_max(cfg.decay_bits))):
        return False
    if node.kind != "IF" and not np.any(ql.params["alpha"]) and node.kind != "ALIF":
        return False   # all decays 0: a stateless layer, which the generic loop runs in its output buffer
    if node.kind == "ALIF":
        beta = np.asarray(ql.params["beta"])
        consts = ("alpha", "rho", "eta_inc")
        return bool(cfg.state_bits in (8, 16) and cfg.decay_bits <= 15 and once("b0") and once("beta")
                    and int(beta.min()) >= 0 and int(beta.max()) <= 0xFFFF
                    and (all(map(per_neuron16, consts)) if per_neuron16("alpha") else all(map(once, consts))))
    if not (once("threshold") if once("alpha") else
            per_neuron16("alpha") if node.kind == "LI" else
            node.kind == "LIF" and per_neuron("alpha") and not once("threshold")):
        return False
    if node.kind == "LI":
        return cfg.decay_bits <= 15
    return bool(node.max_spikes == 1 and not node.reset_late)


def _pern_width_select(node, ql) -> bool:
    """Whether a fast LIF layer with per-neuron alpha and threshold runs the loop that selects each load's width
    (esn_lif_run's pern 2: either stored at 8 bits), not the one with constant 16-bit steps."""
    shape = node.neuron_shape
    store = {k: param_storage(np.asarray(ql.params[k]).reshape(shape), len(shape) >= 2)
             for k in ("alpha", "threshold") if k in ql.params}
    return all(mode == PM_ELEM for _, mode, _ in store.values()) and any(b != 16 for _, _, b in store.values())


def _graded_input(g, name: str) -> bool:
    """Whether a layer's events can carry counts above 1 (a pool's window sums, several spikes per step):
    those take the multiply loop instead of the add-a-row kernel. The graph's input counts as spikes."""
    todo, seen = list(g.predecessors(name)), set()
    while todo:
        src = todo.pop()
        if src in seen:
            continue
        seen.add(src)
        node = g.nodes[src]
        if isinstance(node, ir.Flatten):
            todo += g.predecessors(src)
        elif isinstance(node, ir.SumPool2d) or getattr(node, "max_spikes", 1) > 1:
            return True
    return False


def layer_terms(info: dict, c: dict[str, float]) -> dict[str, float]:
    """{coefficient name (most specific): count} of one layer, from its layer_info entry and its counts
    (synops, spikes_in, neuron_updates, spikes_out, invocations; totals or means alike)."""
    f, inv = info["family"], float(c.get("invocations", 0.0))
    if f in NEURON_FAMILIES:
        u = f"{f}.fast" if info.get("fast") else f"{f}.{info['reset']}" if info.get("reset") else f
        t = {f"{f}.cycles_per_invocation": inv, f"{u}.cycles_per_neuron_update": c.get("neuron_updates", 0.0),
             f"{f}.cycles_per_spike_out": c.get("spikes_out", 0.0)}
        if info.get("wide_state"):
            t["neuron.cycles_per_wide_state_update"] = c.get("neuron_updates", 0.0)
        if info.get("width_select"):   # per-neuron alpha/threshold at 8 bits: a compare-and-select a load
            t["neuron.fast.cycles_per_width_select_update"] = c.get("neuron_updates", 0.0)
        if info.get("clamped"):
            t["neuron.fast.cycles_per_clamped_update"] = c.get("neuron_updates", 0.0)
        if info.get("noise_draws") is not None:   # stochastic rounding: the streams keyed per call, a draw each
            t["neuron.cycles_per_noise_key"] = inv
            t["neuron.cycles_per_noise_draw"] = c.get("neuron_updates", 0.0) * info["noise_draws"]
        if info.get("per_neuron_params"):  # the fast path reads them through pointers, the generic loop by width
            t["neuron.fast.cycles_per_neuron_param" if info.get("fast") else "neuron.cycles_per_neuron_param"] = c.get("neuron_updates", 0.0) * info["per_neuron_params"]
        if info.get("channels", 1) > 1:
            t["neuron.fast.cycles_per_channel" if info.get("fast") else "neuron.cycles_per_channel"] = \
                (info["channels"] - 1) * inv
        if info["edges"] > 1:  # the fast path sums its inputs once (esn_acc_sum), the generic loop per neuron
            t["neuron.fast.cycles_per_extra_input" if info.get("fast") else "neuron.cycles_per_extra_input"] = info["out_size"] * (info["edges"] - 1) * inv
        return t
    w = f"{f}.int{info['weight_bits']}" if "weight_bits" in info else f
    # a row-major conv output: each tap adds a strided column, not one contiguous run (esn_conv): its synops and
    # taps have their own coefficients (conv.strided.int8.cycles_per_synop, falling back to conv.strided.*)
    lay = ".strided" if info.get("strided") else ""
    mac = info.get("analog", False)
    if mac:
        w += ".mac"     # analog readings: every event multiplies its row (DSP for int8), none is a plain add
    elif f == "affine" and info.get("graded") and info.get("weight_bits", 16) < 16:
        w += ".graded"  # the multiply loop, not the add-a-row kernel (DSP for int8, unpacking for int2/int4)
    syn, sp = c.get("synops", 0.0), c.get("spikes_in", 0.0)
    scan = f"{f}.mac.cycles_per_input_scanned" if mac else f"{f}.cycles_per_input_scanned"   # int32, not bytes
    t = {f"{f}.cycles_per_invocation": inv, scan: info["in_size"] * info["edges"] * inv,
         f"{f}{lay}{w[len(f):]}.cycles_per_synop": syn}
    if info.get("bias"):  # copied per output (a conv per channel, then per position); else one memset
        t[f"{f}.cycles_per_output"] = info["out_size"] * inv
        if f == "conv":
            t["conv.cycles_per_channel"] = info["out_size"] / max(1, info.get("plane", 1)) * inv
    else:
        t[f"{f}.cycles_per_output_cleared"] = info["out_size"] * inv
    if w == "affine.int8":  # the DSP accumulate does 16 synapses per loop; the rest go 4 or 1 at a time
        t["affine.int8.cycles_per_tail_quad"] = sp * (info["out_size"] % 16 // 4)
        t["affine.int8.cycles_per_tail_single"] = sp * (info["out_size"] % 4)
    elif w == "affine.int8.mac":  # the DSP multiply-accumulate: 8 synapses per loop, an odd word, then 1 at a time
        t["affine.int8.mac.cycles_per_tail_quad"] = sp * (info["out_size"] % 8 // 4)
        t["affine.int8.mac.cycles_per_tail_single"] = sp * (info["out_size"] % 4)
    if f != "scale" and f != "pool":  # scale: one synop per event; pool: one synop per tap
        t[f"{w}.cycles_per_spike_in"] = sp
    if f == "pool":
        t["pool.cycles_per_spike_in"] = sp
    if "window" in info:
        t[f"{f}.cycles_per_window_tap"] = sp * info["window"]
    if f == "conv":
        t[f"conv{lay}.cycles_per_tap"] = syn / max(1, info["cout_per_group"])
    if info.get("shifted"):
        t["cycles_per_shifted_output"] = info["out_size"] * inv
    return t


def runtime_terms(model: dict, steps: float) -> dict[str, float]:
    """{coefficient name: count} of what esn_step spends outside the layers over `steps` steps."""
    t = {"cycles_per_step": steps, "cycles_per_node_step": model["nodes"] * steps,
         "cycles_per_analog_input_value" if model.get("analog_input") else "cycles_per_input_byte":
             model["input_size"] * steps,
         "cycles_per_output_value": model["output_size"] * model["output_edges"] * steps}
    if model.get("exit"):
        t["cycles_per_exit_value"] = model["output_size"] * steps
    return t


def priced(terms: dict[str, float], values: dict[str, float]) -> tuple[float, dict[str, float]]:
    """(cycles, {coefficient name used: count}) of terms under `values`, each name resolved to its fallback."""
    used: dict[str, float] = {}
    for k, n in terms.items():
        r = resolve(k, values)
        used[r] = used.get(r, 0.0) + float(n)
    return float(sum(values[k] * n for k, n in used.items())), used


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


def schedule_arenas(qgraph, steps: int) -> dict:
    """Exact arena bytes of `qgraph` over `steps` steps under each schedule the runtime (host and firmware)
    executes (edgesnn.lower.arena_size_schedule), or {"refused": why} where it cannot run the model (early
    exit or a recurrent edge across groups)."""
    out = {}
    for label, spec in SCHEDULES.items():
        try:
            out[label] = arena_size_schedule(qgraph, spec, steps)
        except EmitError as e:
            out[label] = {"refused": str(e)}
    return out


def memory_terms(graph, board, blob_bytes: int, arena_bytes: int) -> tuple[dict, dict, str]:
    """(flash terms, SRAM terms, provenance of the code size) of a model with `graph`'s input and output
    whose blob and arena take the given bytes on `board`: the one place these sums are made."""
    code, src = runtime_code_bytes(board.core)
    stack = int(board.firmware.get("stack_bytes", DEFAULT_STACK_BYTES))
    io = int(np.prod(graph.input.shape)) + 8 * int(np.prod(graph.output.shape))
    return ({"runtime_code": code, "blob": int(blob_bytes)}, {"arena": int(arena_bytes), "stack": stack, "io": io},
            src)


def memory(qgraph, board, blob_bytes: int | None = None, arena_bytes: int | None = None, *,
           schedule: str = "time-step-major", steps: int | None = None) -> tuple[dict, dict, str]:
    """(flash terms, SRAM terms, provenance of the code size) of `qgraph` on `board`; the arena is the
    schedule's (a grouped one needs `steps`, and raises EmitError for a model it cannot run)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r}: expected one of {tuple(SCHEDULES)}")
    spec = SCHEDULES[schedule]
    if spec != "time" and steps is None:
        raise ValueError(f"the {schedule} arena depends on the steps T: pass steps")
    blob = len(to_blob(qgraph, spec, steps if spec != "time" else None)) if blob_bytes is None else blob_bytes
    arena = arena_bytes if arena_bytes is not None else arena_size_schedule(qgraph, spec, steps or 1)
    return memory_terms(qgraph.graph, board, blob, arena)


def estimate(qgraph, result, board, *, coeffs: Coefficients | None = None, placement: dict | None = None,
             schedule: str = "time-step-major", blob_bytes: int | None = None,
             arena_bytes: int | None = None) -> CostReport:
    """CostReport of `qgraph` on `board` from the activity in `result` (a run on the user's data)."""
    coeffs = coeffs or coefficients(board)
    placement = placement or {"weights": board.code_region, "arena": board.arena_region}
    v, iv = coeffs.values, coeffs.instruction_values
    wr, ar = placement["weights"], placement["arena"]
    nodes = qgraph.graph.nodes
    info = layer_info(qgraph)
    layers = []
    for name, c in activity(qgraph, result).items():
        instr, used = priced(layer_terms(info["layers"][name], c), v)
        pr, rd, wt = c.get("param_bytes_read", 0) / 4, c.get("arena_bytes_read", 0) / 4, c.get("arena_bytes_written", 0) / 4
        mem = pr * v[f"{wr}.read_cycles"] + rd * v[f"{ar}.read_cycles"] + wt * v[f"{ar}.write_cycles"]
        cyc = instr + mem
        e = (cyc * v["energy_per_cycle_pj"] + pr * v[f"{wr}.read_energy_pj"] + rd * v[f"{ar}.read_energy_pj"]
             + wt * v[f"{ar}.write_energy_pj"])
        ins = priced(layer_terms(info["layers"][name], c), iv)[0] if iv is not None else None
        layers.append(LayerCost(name, nodes[name].kind, c, float(cyc), float(e), used, ins))
    steps = float(result.mean_steps)
    rt = runtime_terms(info["model"], steps)
    cyc, used = priced(rt, v)
    layers.append(LayerCost(RUNTIME_ROW, "time loop", {"steps": steps, **{k.removeprefix("cycles_per_"): n for k, n
                                                                          in rt.items() if k != "cycles_per_step"}},
                            cyc, cyc * v["energy_per_cycle_pj"], used, priced(rt, iv)[0] if iv is not None else None))
    flash, sram, code_src = memory(qgraph, board, blob_bytes, arena_bytes, schedule=schedule,
                                   steps=int(result.outputs.shape[1]))
    notes = [f"runtime code: {code_src}"] + ([coeffs.note] if coeffs.note else [])
    if iv is not None:
        notes.append("cycles: estimated cycles (the calibration's fit to QEMU runs priced with the core's published "
                     "timings); instructions: its fit to QEMU's instruction counts")
    if schedule != "time-step-major":
        notes.append(f"cycles: the instruction terms are those of time-step-major (one call per layer and step); "
                     f"{schedule} calls each layer once for all its steps, which they do not model")
    return CostReport(board.id, board.clock_hz, schedule, dict(placement), layers, flash, sram, coeffs, float(steps),
                      int(result.outputs.shape[0]), notes)
