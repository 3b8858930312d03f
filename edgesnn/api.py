"""What the `edgesnn` command does, as Python calls. Each takes artifacts (or their paths) and returns one;
the command line (cli.py) only parses arguments and prints what these return.

    load(path) -> Graph | QGraph | Plan       any edgesnn artifact, by what the file is
    import_nir(path, ...) -> Imported         a NIR file as a Graph, with the notes and warnings of its reading
    simulate(model, inputs, ...) -> Simulated  a float, fixed-python or fixed-c run (Measurement), accuracy with labels
    compile(model, out_dir, ...) -> Compiled  model.blob + model.c/.h, checked by the C loader first
    export_c(model, out_dir, target=...) -> Exported   a C library of the model for the user's firmware
    plan(model, board, data, ...) -> Plan | Infeasible
    run(model, inputs, board=...) -> Ran      on an emulated or real board: a Measurement and the firmware
    profile(model, inputs, board=...) -> Profiled   estimated beside measured, per layer
    calibrate(board, ...) -> dict             fitted cost coefficients (calibration/BOARD.json)
    cache(clear=False) -> CacheState          the firmware cache
    flash(board, elf=None, model=None, ...) -> FlashResult   a firmware built (or given), checked, flashed

A model argument may be a path or a loaded artifact: a float Graph (quantized first where a fixed-point
engine or a device needs it, with the `quant` settings: weight_bits, state_bits, rounding, calib,
exit_confidence, exit_temperature), a QGraph or compiled blob (runs as it is), or a Plan (its quantized
model with its exit, deployed as planned).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artifact import load_json
from .board import Board, get_board
from .calibrate.profile import Profile, compare, stale_calibration
from .calibrate.profile import profile as _profile
from .calibrate.run import run_calibration
from .cost import coefficients
from .data import load_dataset, load_inputs, load_labels
from .device import flash as _FL
from .device.runner import run_on_board
from .device.qemu import BlockTrace
from .emit.blob import blob_from_lowered
from .emit.csource import c_sources
from .emit.files import write_files
from .emit.library import TARGETS, check_name, default_name, library_files, write_tree
from .errors import ArenaTooSmall, EdgesnnError, EmitError
from .firmware import cache as _cache
from .firmware.build import Firmware, default_cache_dir, find_tool
from .firmware.cycles import RunEstimate, estimate_run, timing
from .firmware.runtime import build_runtime_firmware, model_ram_bytes
from .graph import Graph
from .graph.nir_io import NirWarning, read_nir
from .lower import lower
from .measurement import Measurement
from .plan import Infeasible, Plan
from .plan import plan as _plan
from .quantize import QGraph
from .quantize.fixedpoint import q8_to_confidence
from .quantize.reference import checked_inputs
from .runtime.binding import CModel, extension_available, run_c
from .runtime.engines import load_model, refuse_settings, run_engine, to_qgraph

Model = Graph | QGraph | Plan


# ---------------------------------------------------------------------------------------------
# Artifacts

def load(path: str | os.PathLike) -> Model:
    """The artifact in `path`: a Plan (PLAN.json), a QGraph (a quantized model's JSON, or a compiled
    .blob) or a float Graph (MODEL.json). A NIR file is refused with the command that converts it."""
    path = Path(path)
    if path.suffix == ".nir":
        raise EdgesnnError(f"{path}: a NIR file; convert it first with `edgesnn import {path} -o MODEL.json`")
    if path.suffix == ".json":
        d = load_json(path)
        if isinstance(d, dict) and d.get("artifact") == "plan":
            return Plan.from_dict(d, str(path))
    return load_model(str(path))


def load_graph(path: str | os.PathLike) -> Graph:
    """A float model; a quantized model or a plan is refused."""
    m = load(path)
    if not isinstance(m, Graph):
        what = "a plan" if isinstance(m, Plan) else "a quantized model"
        raise EdgesnnError(f"{path}: {what}; this command takes a float model (MODEL.json from `edgesnn import`)")
    return m


def _model(model: Model | str | os.PathLike) -> Model:
    return model if isinstance(model, (Graph, QGraph, Plan)) else load(model)


def deployable(model: Model | str | os.PathLike, **quant) -> QGraph:
    """The quantized model a device runs: a plan's (settings refused), a QGraph as it is, or a float
    Graph quantized with `quant`."""
    m = _model(model)
    if isinstance(m, Plan):
        refuse_settings(sorted(k for k, v in quant.items() if v is not None), quantized=True)
        return m.qgraph
    return to_qgraph(m, **quant)


@dataclass
class Imported:
    graph: Graph
    notes: list[str]      # each decision the reading took (dt, reading of the taus, clamps)
    warnings: list[str]   # what may make the model compute something else than its framework did


def import_nir(path: str | os.PathLike, *, dt: float | None = None, dialect: str = "nir", reset: str | None = None,
               norse_tau: str = "auto", force: bool = False) -> Imported:
    """A NIR file read with an exporter's conventions (edgesnn.graph.nir_io.read_nir). Warnings are
    collected even when the reading then fails: they are raised along with the error, in its notes."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NirWarning)
        try:
            graph = read_nir(path, dt=dt, dialect=dialect, reset=reset, norse_tau=norse_tau, force=force,
                             notes=notes)
        except EdgesnnError as e:
            for w in caught:
                if issubclass(w.category, NirWarning):
                    e.add_note(f"warning: {w.message}")
            raise
    for w in caught:
        if not issubclass(w.category, NirWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return Imported(graph, notes, [str(w.message) for w in caught if issubclass(w.category, NirWarning)])


# ---------------------------------------------------------------------------------------------
# Stages

@dataclass
class Simulated:
    graph: Graph               # the float graph, for reports
    measurement: Measurement   # with the labels when they were given


def simulate(model: Model | str | os.PathLike, inputs, *, engine: str | None = None, labels=None,
             progress: bool = False, **quant) -> Simulated:
    """Runs `inputs` [N, T, ...] (an array, or a path to X.npy or a data set .npz) on `model`.

    engine: "float", "fixed-python" or "fixed-c"; default float for a float model, fixed-c for a quantized
    model or a plan. With a plan, "float" runs the float model the plan holds (every step, no exit).
    labels: an array, or a path (.npy, or an .npz's 'labels'); a data set .npz's own labels are used when
    none are given. The measurement then carries them and its accuracy."""
    m = _model(model)
    if isinstance(m, Plan):
        m = m.qgraph.graph if engine == "float" else m.qgraph
    engine = engine or ("float" if isinstance(m, Graph) else "fixed-c")
    where = "labels"
    if isinstance(inputs, (str, os.PathLike)):
        path, (inputs, in_file) = inputs, load_inputs(inputs)
        if in_file is not None:
            if labels is not None:
                raise EdgesnnError(f"--labels {labels}: {path} holds labels already; give one of them")
            labels, where = in_file, str(path)
    if isinstance(labels, (str, os.PathLike)):
        labels, where = load_labels(labels, inputs.shape[0] if inputs.ndim else 0), str(labels)
    graph = m if isinstance(m, Graph) else m.graph
    classes = int(np.prod(graph.output.shape))
    if labels is not None and labels.size and labels.max() >= classes:
        raise EdgesnnError(f"{where}: labels hold class {labels.max()}, but the model has {classes} outputs "
                           f"(classes 0..{classes - 1})")
    graph, result = run_engine(engine, m, inputs, progress=progress, **quant)
    if labels is not None:
        result.labels = np.asarray(labels)
    return Simulated(graph, result)


@dataclass
class Compiled:
    out_dir: Path
    blob_bytes: int
    arena_bytes: int
    weight_bytes: int
    checked_by_c: bool
    qgraph: QGraph
    schedule: str = "time"


def compile(model: Model | str | os.PathLike, out_dir: str | os.PathLike, *,  # noqa: A001 (the stage's name)
            name: str = "snn", arena_bytes: int | None = None, schedule=None, steps: int | None = None,
            **quant) -> Compiled:
    """The `edgesnn compile` stage: writes model.blob (for loading at run time) and model.c / model.h (the
    same model as const C tables, for compiling in) into out_dir, all or nothing.

    A plan is compiled as planned (its schedule and steps). The blob is checked by the C loader first when
    the host extension is built, so a model the runtime would refuse never reaches a board. arena_bytes:
    the arena the target firmware provides; a model that needs more is refused (ArenaTooSmall) and nothing
    is written."""
    m = _model(model)
    if isinstance(m, Plan) and schedule is None:
        schedule, steps = m.runtime_schedule, m.runtime_steps
    schedule = schedule or "time"
    qgraph = deployable(m, **quant)
    low = lower(qgraph, schedule, steps)
    blob = blob_from_lowered(low)
    need = low.arena_bytes
    checked = extension_available()
    if checked:
        CModel(blob, arena_bytes)
    elif arena_bytes is not None and arena_bytes < need:
        raise ArenaTooSmall(f"arena of {arena_bytes} bytes is too small: this model needs {need} (esn_arena_size)")
    files = {"model.blob": blob, **c_sources(qgraph, name, schedule, steps)}
    try:
        out = write_files(out_dir, files)
    except OSError as e:
        raise EmitError(f"{out_dir}: cannot write the compiled model ({e})") from None
    weights = sum(nd.param_nbytes("weight") for nd in low.nodes if "weight" in nd.params)
    return Compiled(out, len(blob), need, weights, checked, qgraph, schedule if isinstance(schedule, str) else "groups")


@dataclass
class Exported:
    out_dir: Path
    target: str
    name: str
    files: list[str]             # relative paths written
    arena_bytes: int
    weight_bytes: int
    runtime_kept: list[str]      # runtime_c/src files copied
    runtime_left_out: dict       # runtime_c/src file -> what it is (not needed by this model)
    qgraph: QGraph
    schedule: str                # "time-step-major" or the plan's grouped schedule


def export_c(model: Model | str | os.PathLike, out_dir: str | os.PathLike, *, target: str = "cmake",
             name: str | None = None, force: bool = False, counters: bool = False, **quant) -> Exported:
    """The `edgesnn export-c` stage: a self-contained C library of the model for the user's own firmware
    (edgesnn.emit.library), written into out_dir all or nothing: the runtime's sources, the model as const
    tables, NAME.h/NAME.c (init, reset, step, infer with the early exit, counters) over a static arena, an
    example main, a README and the target's build files (cmake, arduino, zephyr, platformio).

    A plan is exported as planned: its quantized model, exit and schedule (over its steps). A float model is
    quantized with `quant` first. name: the C prefix (default: from the file name). counters: build the runtime
    with its activity counters (ESN_ENABLE_COUNTERS 1); the default is a release build without them (no arena
    bytes, no step time spent on them; NAME_counters returns NULL): the library ships in the product, while
    `run`/`profile` measure the counters on the runtime firmware, and a plan's SRAM (made for that counting
    firmware) stays an upper bound of the library's. An existing non-empty out_dir is refused unless force."""
    if target not in TARGETS:
        raise EmitError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
    if name is not None:
        check_name(name)
    m = _model(model)
    stem = Path(model).name.split(".")[0] if isinstance(model, (str, os.PathLike)) else "model"
    source = Path(model).name if isinstance(model, (str, os.PathLike)) else f"a {type(m).__name__}"
    name = name or default_name(stem)
    qgraph = deployable(m, **quant)
    schedule, steps, sched_name, plan_lines, example_steps = "time", None, "time-step-major", [], None
    if isinstance(m, Plan):
        schedule, steps = m.runtime_schedule, m.runtime_steps
        sched_name = m.schedule if schedule != "time" else "time-step-major"
        example_steps = m.data["steps"] if isinstance(m.data.get("steps"), int) else None
        plan_lines = [f"planned for board {m.board}: accuracy {100 * m.accuracy:.1f}% on its validation data "
                      f"(float {100 * m.float_accuracy:.1f}%)",
                      f"placement: weights in {m.placement.get('weights')}, arena in {m.placement.get('arena')} "
                      f"(put the context there, e.g. with a section attribute)"]
    cfg = qgraph.config
    if qgraph.exit is not None:
        k = int(np.prod(qgraph.graph.output.shape))
        conf = q8_to_confidence(qgraph.exit["threshold_q8"], k)
        exit_text = (f"early exit: an input stops after the step at which its output's confidence reaches "
                     f"{conf:.4f} (entropy below {qgraph.exit['threshold_q8'] / 256:.3f} nats, computed in Q8 on "
                     "the device)")
    else:
        exit_text = "no early exit: every input runs all its steps"
    facts = {"quant": f"{cfg.weight_bits}-bit weights, {cfg.state_bits}-bit state, {cfg.rounding} rounding",
             "exit": qgraph.exit is not None, "exit_text": exit_text,
             "schedule_text": sched_name + (f" over T = {steps} steps" if steps else " (any number of steps)"),
             "plan": plan_lines}
    lib = library_files(qgraph, target, name, schedule=schedule, steps=steps, source=source, facts=facts,
                        example_steps=example_steps, counters=counters)
    out = write_tree(out_dir, lib.files, force=force)
    return Exported(out, target, name, list(lib.files), lib.arena_bytes, lib.weight_bytes, lib.runtime_kept,
                    lib.runtime_left_out, qgraph, sched_name)


def plan(model: Graph | str | os.PathLike, board: Board | str | None, data, **options) -> Plan | Infeasible:
    """edgesnn.plan.plan on a float model and a validation data set (VAL.npz or (inputs, labels))."""
    graph = model if isinstance(model, Graph) else load_graph(model)
    board = board if isinstance(board, Board) else get_board(board)
    x, y = load_dataset(data) if isinstance(data, (str, os.PathLike)) else data
    return _plan(graph, board, x, y, **options)


@dataclass
class Ran:
    measurement: Measurement
    firmware: Firmware | None   # None on a real board (--port): flashed beforehand
    board: Board                # as the model was placed (a plan's arena region)
    qgraph: QGraph
    builtin: bool               # compiled into the firmware (weights in flash), or its blob sent to RAM
    schedule: object            # what the firmware ran: "time" or a plan's grouped schedule
    blob_ram_bytes: int         # the blob's bytes in RAM (0 compiled in)
    arena_bytes: int            # the runtime's arena for the model
    wall_seconds: float


def run(model: Model | str | os.PathLike, inputs, *, board: Board | str | None = None, port: str | None = None,
        builtin: bool = False, dsp: bool = True, timeout: float = 5.0, boot_timeout: float | None = None,
        **quant) -> Ran:
    """Runs `inputs` on a board: emulated under QEMU, or a real one on `port` flashed with the runtime
    firmware. A plan runs as planned: compiled in (its weights in flash) unless on a port, its arena in the
    planned region, its schedule."""
    m = _model(model)
    board = board if isinstance(board, Board) else get_board(board)
    schedule = "time"
    if isinstance(m, Plan):
        deploy = m.deploy_on(board)
        board, schedule = deploy["board"], deploy["schedule"]
        builtin = builtin or port is None
    qgraph = deployable(m, **quant)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = load_inputs(inputs)[0]
    x = checked_inputs(qgraph, inputs)   # analog values stay real: each engine quantizes them once
    t0 = time.perf_counter()
    res, fw = run_on_board(board, qgraph, x, port=port, builtin=builtin, dsp=dsp, timeout=timeout,
                           schedule=schedule, boot_timeout=boot_timeout)
    wall = time.perf_counter() - t0
    blob, arena = model_ram_bytes(qgraph, builtin, schedule, None if schedule == "time" else x.shape[1])
    return Ran(res, fw, board, qgraph, builtin, schedule, blob, arena, wall)


@dataclass
class Profiled:
    profile: Profile
    how: str                           # which model was profiled, and how it was quantized
    notes: list[str] = field(default_factory=list)
    cycles: RunEstimate | None = None  # cycles=True: the traced run's estimated cycles (edgesnn.firmware.cycles)
    trace_seconds: float = 0.0         # cycles=True: the traced run's wall time (run, trace, reading, pricing)

    def estimated_cycles(self) -> dict[str, float] | None:
        """Estimated cycles, means per input, by the profile's rows (layers; "(runtime)": the whole run minus
        the layers, as in the measured column) and "total" (the whole run: every esn_step call)."""
        if self.cycles is None:
            return None
        c = self.cycles
        out = {name: float(c.node(name)[1].mean()) for name, _, _, _ in self.profile.rows if name in c.nodes}
        layers = sum(out.values())
        for name, _, _, _ in self.profile.rows:
            if name not in c.nodes:
                out[name] = float(c.run_cycles.mean()) - layers
        out["total"] = float(c.run_cycles.mean())
        return out

    def to_dict(self) -> dict:
        """The profile's JSON; with cycles=True each row's and the total's "estimated_cycles" (means per input)
        and what they are ("cycles_estimate": the core, its timings' source, zero-wait memory)."""
        d = self.profile.to_dict()
        est = self.estimated_cycles()
        if est is not None:
            for row in d["rows"]:
                row["estimated_cycles"] = est[row["layer"]]
            d["total"]["estimated_cycles"] = est["total"]
            d["total"]["traced_instructions"] = float(self.cycles.run_instructions.mean())
            d["cycles_estimate"] = {"core": self.cycles.core, "timings": self.cycles.source, "memory": "zero-wait",
                                    "note": CYCLES_NOTE}
        return d


CYCLES_NOTE = ("est. cycles: cycle-approximate estimates, each instruction QEMU executed priced with the core's "
               "published timings (edgesnn/firmware/cycles.py), zero-wait memory; instructions: QEMU's counts")


def _check_cycles(board: Board, port: str | None) -> None:
    """Estimated cycles need QEMU's instruction trace of the run and objdump's disassembly of the firmware:
    one EdgesnnError naming what is missing, before anything runs."""
    if port is not None or not board.is_emulated:
        where = f" (over {port})" if port is not None else ""
        raise EdgesnnError(f"estimated cycles (--cycles) need an emulated board: they price QEMU's trace of every "
                           f"executed instruction, and {board.id}{where} is real hardware; profile it without "
                           "--cycles")
    try:
        timing(board.core)
        for tool in ("qemu-system-arm", "arm-none-eabi-objdump"):
            find_tool(tool)
    except EdgesnnError as e:
        raise EdgesnnError(f"estimated cycles (--cycles) on {board.id}: {e}") from None


def _profile_traced(qgraph, x, board: Board, coeffs, model: str, boot_timeout) -> tuple[Profile, RunEstimate, float]:
    """calibrate.profile.profile's run (compiled in, under QEMU) with QEMU tracing every executed instruction
    into a private temporary directory (mode 0700, removed afterwards), and the trace's estimated cycles."""
    tmp = Path(tempfile.mkdtemp(prefix="edgesnn-trace-"))
    try:
        os.chmod(tmp, 0o700)
        trace = BlockTrace(tmp / "trace.log")    # QEMU's block log: edgesnn.firmware.cycles.read_blocks
        t0 = time.perf_counter()
        res, fw = run_on_board(board, qgraph, x, builtin=True, boot_timeout=boot_timeout, trace=trace)
        if res.run_cycles is None:
            raise EdgesnnError(f"{board.id}: the device reports no cycle counter; nothing to compare with")
        mib = trace.stat().st_size / 2**20
        est = estimate_run(fw.elf, trace.path, board.core, list(qgraph.graph.schedule().order), inputs=len(x),
                           label=f"estimated cycles: reading the instruction trace ({mib:,.0f} MiB)")
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return compare(qgraph, res, run_c(qgraph, x), board, coeffs, model), est, seconds


def profile(model: Model | str | os.PathLike, inputs, *, board: Board | str | None = None,
            calibration: str | None = None, port: str | None = None, limit: int | None = None,
            boot_timeout: float | None = None, name: str | None = None, cycles: bool = False, **quant) -> Profiled:
    """The cost model's estimate beside what the board measured, per layer, on the same inputs. cycles: also
    estimated cycles per layer and per run (emulated boards only: QEMU traces every executed instruction and
    edgesnn.firmware.cycles prices it with the core's published timings; a few times slower). A float model is
    quantized with `quant` (quantize_with's settings; the defaults without them)."""
    m = _model(model)
    board = board if isinstance(board, Board) else get_board(board)
    if cycles:
        _check_cycles(board, port)
    if isinstance(m, Plan):
        refuse_settings(sorted(k for k, v in quant.items() if v is not None), quantized=True)
        qgraph, how = m.qgraph, "the plan's quantized model"
        if m.schedule != "time-step-major":
            how += f" (planned {m.schedule}; profiled time-step-major, the schedule the cost terms model)"
    else:
        qgraph = to_qgraph(m, **quant)
        given = any(v is not None for v in quant.values())
        how = "quantized model" if isinstance(m, QGraph) else (
            f"float model quantized with {'the given' if given else 'the default'} settings "
            f"({qgraph.config.weight_bits}-bit weights, {qgraph.config.state_bits}-bit state, "
            f"{qgraph.config.rounding} rounding"
            f"{f', {qgraph.config.input_bits}-bit analog input' if qgraph.config.input_bits else ''})")
    if name is None and isinstance(model, (str, os.PathLike)):
        name = Path(model).stem
    if isinstance(inputs, (str, os.PathLike)):
        inputs = load_inputs(inputs)[0]
    x = checked_inputs(qgraph, inputs)   # analog values stay real: each engine quantizes them once
    if limit is not None:
        x = x[:limit]
    coeffs = coefficients(board, calibration)
    est, seconds = None, 0.0
    if cycles:
        p, est, seconds = _profile_traced(qgraph, x, board, coeffs, name or "model", boot_timeout)
    else:
        p = _profile(qgraph, x, board, coeffs=coeffs, port=port, model=name or "model", boot_timeout=boot_timeout)
    how += "; " + ("compiled in, QEMU " + str(board.qemu_machine) if port is None else f"blob over {port}")
    stale = stale_calibration(board, calibration)
    return Profiled(p, how, p.notes + ([stale] if stale else []), est, seconds)


def calibrate(board: Board | str, **options) -> dict:
    """edgesnn.calibrate.run.run_calibration: microbenchmarks on the board, the fit, the held-out check."""
    return run_calibration(board if isinstance(board, Board) else get_board(board), **options)


# ---------------------------------------------------------------------------------------------
# Firmware on the desk

@dataclass
class CacheState:
    path: Path
    entries: list          # firmware.cache.Entry, most recently used first
    max_bytes: int
    removed: list = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(e.bytes for e in self.entries)


def cache(clear: bool = False) -> CacheState:
    """The firmware cache: where it is, its entries and cap; `clear` empties it first."""
    where = default_cache_dir()
    removed = _cache.clear(where) if clear else []
    return CacheState(where, _cache.entries(where), _cache.max_bytes(), removed)


@dataclass
class FlashResult:
    board: Board
    flashed: "_FL.Flashed"       # runner, command or drive, the images checked against the ELF, files written
    firmware: Firmware | None    # built here (None: the ELF was given)
    what: str                    # what the firmware carries


def flash(board: Board | str, elf: str | os.PathLike | None = None, *, model: Model | str | os.PathLike | None = None,
          runner: str | None = None, probe: str | None = None, drive: str | os.PathLike | None = None,
          out_dir: str | os.PathLike | None = None, dry_run: bool = False, dsp: bool = True,
          **quant) -> FlashResult:
    """Writes a firmware to a real board: `elf` as it is, or the board's runtime firmware built here, with
    `model` compiled in (a plan as planned: its schedule and arena placement) or, without one, the firmware
    that takes models as blobs over serial (`run`/`profile`/`calibrate --port`). runner: pyocd, openocd or
    drive (the board file's by default); the tool or drive is checked before anything is built. dry_run:
    build and check, flash nothing. out_dir: the ELF, BIN, HEX (and UF2) written there, all or none, once
    the flash succeeded (or on a dry run)."""
    board = board if isinstance(board, Board) else get_board(board)
    r = _FL.route(board, runner=runner, probe=probe, drive=drive, dry_run=dry_run)
    fw, what = None, "the given ELF"
    given = [f"--{k.replace('_', '-')}" for k, v in quant.items() if v is not None]
    if elf is not None and model is not None:
        raise EdgesnnError("give a firmware ELF or a model to build one, not both")
    if given and model is None:
        raise EdgesnnError(f"{', '.join(given)}: quantization settings apply to a model compiled into the firmware "
                           "(--model or PLAN.json); " + ("an ELF is flashed as it is" if elf is not None else
                                                         "without one the firmware takes models over serial"))
    if elf is not None:
        pass
    elif model is None:
        fw = build_runtime_firmware(board, dsp=dsp)
        what = "the runtime, models sent as blobs over serial"
    else:
        m = _model(model)
        name = Path(model).stem if isinstance(model, (str, os.PathLike)) else "model"
        if isinstance(m, Plan):
            deploy = m.deploy_on(board)
            extra = {} if deploy["schedule"] == "time" else {"schedule": deploy["schedule"], "steps": deploy["steps"]}
            fw = build_runtime_firmware(deploy["board"], deployable(m, **quant), builtin=True, dsp=dsp, **extra)
            what = f"the runtime with the plan {name} compiled in"
        else:
            fw = build_runtime_firmware(board, deployable(m, **quant), builtin=True, dsp=dsp)
            what = f"the runtime with the model {name} compiled in"
    res = _FL.flash_board(r, elf if elf is not None else fw.elf, out_dir=out_dir)
    return FlashResult(board, res, fw, what)
