"""The `edgesnn` command: argparse over edgesnn.api, and printing. Each command parses its arguments, calls
the api function of the same name and prints what it returns; no stage logic lives here."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from tabulate import tabulate

from . import __version__, api
from .artifact import check_writable, load_json, save_json
from .board import board_detail, board_info, catalogue_info, catalogue_table, get_board, load_catalogue
from .calibrate.bench import DEFAULT_COUNT
from .data import load_inputs
from .demo import run_demo
from .device.qemu import DEFAULT_BOOT_TIMEOUT, check_boot_timeout
from .device.runner import counters_table
from .errors import DeviceWarning, EdgesnnError
from .executor import get_executor
from .firmware import cache as C
from .graph.dialects import DIALECTS
from .graph.nir_io import write_nir
from .graph.simulate import COUNTERS
from .measurement import Measurement
from .plan import Infeasible, Plan, front_table, plan_summary
from .plan.search import save_front_png
from .quantize import ROUNDINGS
from .quantize.config import INPUT_BITS, INPUT_SCALES, RANGES
from .quantize.reference import BYTE_COUNTERS
from .report import activity_table, graph_info, graph_table, profile_table
from .train.kernel_search import DIGITS_CHANNELS


def _json(data) -> str:
    return json.dumps(data, indent=1)


def _quant_options(args) -> dict:
    """The quantization settings given on the command line (fixed-point engines, compile and run)."""
    return {"weight_bits": args.weight_bits, "state_bits": args.state_bits, "rounding": args.rounding,
            "input_bits": args.input_bits, "input_scale": args.input_scale,
            "exit_confidence": args.exit_confidence, "exit_temperature": args.exit_temperature,
            "exit_nats": args.exit_nats,
            "calib": load_inputs(args.calib, "calibration inputs")[0] if args.calib else None}


def _plan_board(model: str, board: str | None) -> str | None:
    """--board as given; without it, a plan's own board (a plan runs on the board it was planned for:
    Plan.check_board refuses another), else None: the default board."""
    if board is not None or not str(model).endswith(".json"):
        return board
    try:
        d = load_json(model)
    except EdgesnnError:
        return None  # the model's own load reports it
    if isinstance(d, dict) and d.get("artifact") == "plan" and isinstance(d.get("board"), str):
        return d["board"]
    return None


def cmd_import(args) -> None:
    check_writable(args.output)
    imp = api.import_nir(args.model, dt=args.dt, dialect=args.dialect, reset=args.reset, norse_tau=args.norse_tau,
                         force=args.force)
    for w in imp.warnings:
        print(f"edgesnn import: warning: {w}", file=sys.stderr)
    imp.graph.save(args.output)
    for note in imp.notes:
        print(f"note: {note}")
    print(f"imported {args.model} ({args.dialect} dialect, dt = {imp.graph.dt:g} s): "
          f"{len(imp.graph.nodes)} nodes, {imp.graph.parameter_count()} parameters -> {args.output}")


def cmd_export(args) -> None:
    check_writable(args.output)
    graph = api.load_graph(args.model)
    write_nir(graph, args.output)
    print(f"exported {args.model} -> {args.output} (NIR, literal Euler reading with dt = {graph.dt:g} s in its "
          "metadata; read it back with `edgesnn import` and the default dialect)")


def cmd_info(args) -> None:
    graph = api.load_graph(args.model)
    print(_json({"model": args.model, **graph_info(graph)}) if args.json else graph_table(graph))


def cmd_simulate(args) -> None:
    check_writable(args.output)
    sim = api.simulate(args.model, args.inputs, engine=args.engine, labels=args.labels, progress=True,
                       **_quant_options(args))
    m = sim.measurement
    m.save_npz(args.output)
    n, t = m.outputs.shape[:2]
    shown = Measurement(m.outputs, m.output_spiking, {k: {c: cs[c] for c in COUNTERS} for k, cs in m.counts.items()})
    print(activity_table(sim.graph, shown))
    if all(c in cs for cs in m.counts.values() for c in BYTE_COUNTERS):
        traffic = {c: sum(int(cs[c].sum()) for cs in m.counts.values()) / n for c in BYTE_COUNTERS}
        print("memory traffic per input: " + ", ".join(f"{c.replace('_', ' ')} {v:,.0f} B"
                                                       for c, v in traffic.items()))
    if m.labels is not None:
        print(f"accuracy {100 * m.accuracy:.2f}% ({int(np.sum(m.pred == m.labels))} of n = {n} correct)")
    steps = f", {m.mean_steps:.2f} steps on average (early exit)" if m.steps is not None else ""
    print(f"{n} inputs x {t} steps ({m.engine}{steps}) -> {args.output} ({m.output_key} [{n}, {t}, "
          f"{m.outputs[0, 0].size}], pred [{n}]" + (f", steps [{n}]" if m.steps is not None else "")
          + (f", labels [{n}], accuracy" if m.labels is not None else "") + ")")


def cmd_plan(args) -> None:
    check_writable(args.output)
    check_writable(Path(args.output).with_suffix(".png"), "-o (its plot)")
    with get_executor(args.executor, args.workers) as ex:   # a bad spec or a missing Ray: refused before any work
        result = api.plan(args.model, args.board, args.data, target_acc=args.target_acc, max_drop=args.max_drop,
                          objective=args.objective, exit_max_drop=args.exit_max_drop, workers=args.workers,
                          progress=True, confidence=args.confidence, search=args.search, executor=ex)
    if isinstance(result, Infeasible):  # nothing written: no plan to deploy
        raise EdgesnnError(result.message() + f"\n  no plan written ({args.output})")
    for note in result.notes:
        print(f"edgesnn plan: warning: {note}", file=sys.stderr)
    print(front_table(result))
    race = result.search_space.get("search")
    if race:
        print(f"search: race over {race['candidates']} candidates, {race['pairs']:,} of {race['pairs_exhaustive']:,} "
              f"candidate x input runs ({100 * race['fraction']:.1f} %);\n        ruled out: "
              f"{race['pruned_flash_floor']} by flash alone, {race['unfit']} by memory, {race['dropped_target']} "
              f"below the target, {race['dropped_front']} off the shortlist (--search exhaustive: all)")
    print(plan_summary(result, args.output))
    result.save(args.output)
    png = str(Path(args.output).with_suffix(".png"))
    save_front_png(result, png)
    print(f"  -> {png} (every candidate and mapping, the front, the chosen one, the target)")


def _analog_words(cfg) -> str:
    return f", {cfg.input_bits}-bit analog input ({cfg.input_scale} scale)" if cfg.input_bits else ""


def cmd_compile(args) -> None:
    c = api.compile(args.model, args.output, name=args.name, arena_bytes=args.arena_bytes, **_quant_options(args))
    cfg = c.qgraph.config
    print(f"compiled {args.model} ({cfg.weight_bits}-bit weights, {cfg.state_bits}-bit state, {cfg.rounding} "
          f"rounding{_analog_words(cfg)}{', early exit' if c.qgraph.exit else ''}"
          f"{', schedule ' + c.schedule if c.schedule != 'time' else ''}) -> "
          f"{c.out_dir}/: model.blob ({c.blob_bytes:,} B), "
          f"model.c, model.h; weights {c.weight_bytes:,} B, arena {c.arena_bytes:,} B"
          + ("" if c.checked_by_c else " (not checked by the C loader: host extension not built)"))


def cmd_export_c(args) -> None:
    e = api.export_c(args.model, args.output, target=args.target, name=args.name, force=args.force,
                     counters=args.counters, **_quant_options(args))
    cfg = e.qgraph.config
    left = ", ".join(e.runtime_left_out) or "nothing"
    print(f"exported {args.model} ({cfg.weight_bits}-bit weights, {cfg.state_bits}-bit state{_analog_words(cfg)}"
          f"{', early exit' if e.qgraph.exit else ''}, {e.schedule}) -> {e.out_dir}/: a {e.target} library "
          f"'{e.name}' of {len(e.files)} files; weights {e.weight_bytes:,} B const, arena {e.arena_bytes:,} B in "
          f"{e.name}_ctx; counters {'on' if args.counters else 'off (a release build)'}; runtime sources "
          f"{len(e.runtime_kept)} (left out: {left}); see {e.out_dir}/README.md")


def cmd_demo(args) -> None:
    run_demo(args.out)


def cmd_search_kernels(args) -> None:
    from .train import require_torch  # the optional extra `train` (torch): imported only when asked for
    require_torch()
    from .train.kernel_search import check_template, file_data, search_kernels
    board = get_board(args.board)
    try:
        kernels = tuple(int(k) for k in args.kernels.split(","))
        channels = tuple(tuple(int(c) for c in pair.split("x")) for pair in args.channels.split(",")) \
            if args.channels else DIGITS_CHANNELS
    except ValueError:
        raise EdgesnnError(f"--kernels {args.kernels!r} / --channels {args.channels!r}: expected e.g. "
                           "'1,3,5' and '4x8,8x16'") from None
    if any(len(c) != 2 for c in channels):
        raise EdgesnnError(f"--channels {args.channels!r}: each entry is C1xC2, e.g. 8x16")
    template = data = None
    if args.model is not None:
        if args.channels is not None:
            raise EdgesnnError("--channels applies to the built-in digits space; a --model keeps its own channels")
        if args.train is None or args.val is None:
            raise EdgesnnError("--model needs its data sets: --train DATA and --val DATA (--test DATA optional)")
        template = api.load_graph(args.model)
        check_template(template)
        data = file_data(template.input.shape, args.train, args.val, args.test)
    elif args.train or args.val or args.test:
        raise EdgesnnError("--train/--val/--test go with --model (the digits space brings its own data)")
    budget = args.budget_bytes if args.budget_bytes is not None else board.sram_bytes
    with get_executor(args.executor) as ex:
        res = search_kernels(budget, board=board.id, kernel_sizes=kernels, channels=channels, template=template,
                             data=data, weight_bits=args.weight_bits, state_bits=args.state_bits, epochs=args.epochs,
                             proxy_epochs=args.proxy_epochs, proxy_fraction=args.proxy_fraction, lr=args.lr,
                             batch_size=args.batch_size, seed=args.seed, seeds=args.seeds,
                             val_codings=args.val_codings, out_dir=args.output, progress=not args.quiet, executor=ex)
    print(res.report())
    print(f"models on the front and the best baseline -> {args.output}/*.json; everything -> {args.output}/search.json")


def cmd_boards(args) -> None:
    if args.board:
        b = get_board(args.board)
        print(_json(board_info(b)) if args.json else board_detail(b))
    else:
        cat = load_catalogue()
        print(_json(catalogue_info(cat)) if args.json else catalogue_table(cat))


def cmd_cache(args) -> None:
    st = api.cache(clear=args.clear)
    if args.clear:
        freed = sum(e.bytes for e in st.removed)
        if args.json:
            print(_json({"path": str(st.path), "removed": [e.to_dict() for e in st.removed], "bytes_freed": freed}))
        else:
            print(f"firmware cache {st.path}: removed {len(st.removed)} entries ({C.human(freed)})")
        return
    if args.json:
        print(_json({"path": str(st.path), "bytes": st.bytes, "max_bytes": st.max_bytes,
                     "entries": [e.to_dict() for e in st.entries]}))
        return
    print(f"firmware cache {st.path}: {len(st.entries)} entries, {C.human(st.bytes)} of at most "
          f"{C.human(st.max_bytes)} ({C.ENV_MAX_BYTES}; least recently used entries go first)")
    if st.entries:
        rows = [[e.board, e.key, C.human(e.bytes), time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))]
                for e in st.entries]
        print(tabulate(rows, headers=["board", "key", "size", "last used"], tablefmt="simple", disable_numparse=True))


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return Path(path).suffix.lower() in (".elf", ".axf")


def _firmware_line(fw, board, what: str) -> str:
    s = fw.sizes
    return (f"firmware {fw.elf} ({'cached' if fw.cached else 'built'}; {what}): text {s.text:,} B, data {s.data:,} B, "
            f"bss {s.bss:,} B, stack {s.stack:,} B, arena {s.arena:,} B; "
            + ", ".join(f"{reg} {u:,}/{board.regions[reg].size_bytes:,} B" for reg, u in s.regions.items()))


def cmd_flash(args) -> None:
    target, model = args.target, args.model
    elf = None
    if target is not None:
        if model is not None:
            raise EdgesnnError(f"{target} and --model {model}: give one firmware ELF, model or plan")
        if _is_elf(target):
            elf = target
        else:
            model = target
    quant = _quant_options(args)
    r = api.flash(args.board, elf, model=model, runner=args.runner, probe=args.probe, drive=args.drive,
                  out_dir=args.output, dry_run=args.dry_run, **quant)
    f = r.flashed
    if r.firmware is not None:
        print(_firmware_line(r.firmware, r.board, r.what))
    if f.command is not None:
        print(("would run: " if f.dry_run else f"flashed {f.board} with: ") + shlex.join(f.command))
    else:
        img, label = f.drive_file, r.board.flash.get("drive_label") or "?"
        if f.dry_run:
            where = str(f.drive) if f.drive else f"the drive labelled {label} (not mounted now)"
            print(f"would copy {img.name} ({len(img.data):,} B, {img.format.upper()}) to {where}")
        else:
            print(f"copied {img.name} ({len(img.data):,} B, {img.format.upper()}) to {f.drive} ({label}, the drive "
                  f"of {f.board}), synced; " + (f.note or "the board takes it and restarts into the new firmware"))
    if f.written:
        rows = [[p.name, i.format.upper(), f"{len(i.data):,}", f"{i.start:#010x}..{i.end:#010x}"]
                for p, i in zip(f.written, f.images)]
        print(f"wrote {len(f.written)} files to {Path(args.output)}/ (each read back and checked against the ELF):")
        print(tabulate(rows, headers=["file", "format", "bytes", "addresses"], tablefmt="simple",
                       disable_numparse=True))


def cmd_run(args) -> None:
    check_writable(args.output)
    r = api.run(args.model, args.inputs, board=_plan_board(args.model, args.board), port=args.port,
                builtin=args.builtin, dsp=not args.reference_kernels, timeout=args.timeout,
                boot_timeout=args.boot_timeout, **_quant_options(args))
    m, board = r.measurement, r.board
    m.save_npz(args.output)
    n, t = m.outputs.shape[:2]
    if r.firmware is not None:
        s = r.firmware.sizes
        print(f"firmware {r.firmware.elf} ({'cached' if r.firmware.cached else 'built'}): text {s.text:,} B, "
              f"data {s.data:,} B, bss {s.bss:,} B, stack {s.stack:,} B, arena {s.arena:,} B; "
              + ", ".join(f"{reg} {u:,}/{board.regions[reg].size_bytes:,} B" for reg, u in s.regions.items()))
        print("model in RAM: " + (f"blob {r.blob_ram_bytes:,} B + " if r.blob_ram_bytes else "")
              + f"runtime arena {r.arena_bytes:,} B of the firmware arena's {s.arena:,} B"
              + (" (weights in flash)" if r.builtin else ""))
    print(counters_table(m))
    where = args.port or f"QEMU {board.qemu_machine}"
    print(f"{n} inputs x {t} steps on {board.id} ({where}, {'compiled-in model' if r.builtin else 'blob over serial'}"
          f"; {m.cycle_source} counter, reported as {m.unit}): {m.steps.mean():.2f} steps on average, "
          f"{m.seconds:.2f} s on the link, {r.wall_seconds:.2f} s in all -> {args.output} ({m.output_key} "
          f"[{n}, {t}, {m.outputs[0, 0].size}], pred [{n}], steps [{n}], per-layer counters)")


def cmd_profile(args) -> None:
    if args.output:
        check_writable(args.output)
    model, board = args.model, _plan_board(args.model, args.board)
    m = api.load(model)
    if isinstance(m, Plan):  # the plan's board, or refused: as `run` deploys it (Plan.deploy_on)
        m.check_board(get_board(board))
    pr = api.profile(m, args.inputs, name=Path(model).stem, board=board, calibration=args.calibration,
                     port=args.port, limit=args.limit, boot_timeout=args.boot_timeout, cycles=args.cycles,
                     **_quant_options(args))
    c = pr.cycles
    print(profile_table(pr.profile, pr.estimated_cycles(), c and c.core, c and c.source))
    print(f"model: {pr.how}")
    if c is not None:
        print(f"traced run: {c.run_instructions.mean():,.0f} instructions per input in the trace, "
              f"{pr.trace_seconds:.1f} s to run, trace and price")
    for note in pr.notes:
        print(f"note: {note}")
    if args.output:
        save_json(args.output, pr.to_dict())
        print(f"-> {args.output}")


def cmd_calibrate(args) -> None:
    for path in (args.output, args.measurements):
        if path:
            check_writable(path, "-o" if path == args.output else "--measurements")
    api.calibrate(args.board, output=args.output, port=args.port, benchmarks=args.benchmarks,
                  measurements=args.measurements, refit=args.refit, held_out=not args.no_held_out,
                  inputs=args.inputs, seed=args.seed, boot_timeout=args.boot_timeout,
                  cycles=False if args.no_cycles else None)


def _add_quant_options(s) -> None:
    q = s.add_argument_group("quantization (fixed-point engines and compile)")
    lo, hi = RANGES["weight_bits"]
    q.add_argument("--weight-bits", type=int, metavar="B", help=f"weight bits, {lo}..{hi} (default 8)")
    lo, hi = RANGES["state_bits"]
    q.add_argument("--state-bits", type=int, metavar="B", help=f"membrane bits, {lo}..{hi} (default 16)")
    q.add_argument("--rounding", choices=ROUNDINGS, help="rounding of parameters and of shifted products "
                                                          "(default nearest)")
    q.add_argument("--input-bits", type=int, choices=INPUT_BITS, metavar="B",
                   help="0 (default): the inputs are spike counts 0..255; 8 or 16: they are analog values (sensor "
                        "readings, direct encoding) in their own units, quantized to int8 / int16 with a scale "
                        "chosen from --calib, which the first layer multiplies into its weights")
    q.add_argument("--input-scale", choices=INPUT_SCALES,
                   help="analog input: one scale for the whole input (tensor, default) or one per input channel")
    q.add_argument("--calib", metavar="X.npy|DATA.npz", help="calibration inputs [N, T, ...] that set the state "
                                                             "ranges (and an analog input's scale): a .npy array or "
                                                             "a data set .npz holding 'inputs'")
    q.add_argument("--exit-confidence", type=float, metavar="P",
                   help="early exit: stop an input once its output confidence reaches P, a fraction in [0, 1] "
                        "(0.9: most inputs stop early; 0.99: few do). After each step the runtime computes H, the "
                        "entropy of softmax(mean output per step / temperature) in Q8 (1/256 nat), and stops when "
                        "1 - H / ln K >= P (K classes), i.e. H_q8 < floor((1 - P) x ln_q8 K) + 1; higher P, "
                        "later exit")
    q.add_argument("--exit-temperature", type=float, metavar="T",
                   help="softmax temperature of --exit-confidence, in output units per step (spikes per step for "
                        "a spiking readout; default 0.125)")
    q.add_argument("--exit-nats", type=float, metavar="H", help=argparse.SUPPRESS)  # deprecated: temperature 1


def _add_executor(s, what: str) -> None:
    s.add_argument("--executor", default="local", metavar="local|ray[:ADDRESS]",
                   help=f"where {what} run: local (default: this machine's processes), ray (a Ray instance started "
                        "here), ray:HOST:PORT (a running Ray cluster: `ray start --head` on its head node; every node "
                        "with edgesnn at this version; docs/cluster.md). Needs edgesnn[cluster]; the results are "
                        "the same")


def _add_boot_timeout(s) -> None:

    def seconds(text: str) -> float:
        try:
            return check_boot_timeout(text)
        except EdgesnnError:
            raise argparse.ArgumentTypeError(f"{text!r}: need a positive number of seconds") from None
    s.add_argument("--boot-timeout", type=seconds, metavar="S",
                   help=f"seconds QEMU may take from starting to the firmware's ready line (default "
                        f"{DEFAULT_BOOT_TIMEOUT:g}); raise it on a slow or loaded machine. Not the per-request "
                        f"timeout, and not used with --port")

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgesnn", description="Plan, quantize, run and measure spiking neural networks on microcontrollers.",
        epilog="Run `edgesnn COMMAND --help` for a command's options.")
    p.add_argument("--version", action="version", version=f"edgesnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("import", help="convert a NIR file into an edgesnn model (JSON)",
                       description="Read a NIR graph written by snnTorch, Norse, Sinabs, SpikingJelly, Rockpool "
                                   "or edgesnn, discretise it with dt and the exporter's conventions, and save "
                                   "it as an edgesnn model.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="dialects:\n" + "\n".join(f"  {d.name:13s} {d.summary}" for d in DIALECTS.values()))
    s.add_argument("model", metavar="MODEL.nir")
    s.add_argument("--dt", type=float, metavar="SECONDS",
                   help="simulation time step. NIR files do not store it; default: the dt a file from edgesnn "
                        "records, else the exporter's own (snntorch 1e-4; sinabs 1, time in steps; rockpool: "
                        "recovered from r). Other dialects need it (norse: the cells' dt; spikingjelly: the "
                        "export_to_nir dt). A dt that differs from the exporter's warns; from a recorded one, "
                        "needs --force")
    s.add_argument("--force", action="store_true",
                   help="import at --dt although the file records another dt (re-discretises the model)")
    s.add_argument("--dialect", default="nir", choices=list(DIALECTS),
                   help="the exporter's conventions (default: nir, the literal Euler reading)")
    s.add_argument("--norse-tau", choices=["auto", "literal", "scaled"], default="auto",
                   help="norse dialect: whether the file's taus are true taus (literal: to_nir(..., dt=1.0), older "
                        "Norse) or dt*tau (scaled: Norse 1.1's to_nir, norse#411); default auto, decided per file "
                        "from dt/tau, refused when the file is ambiguous")
    s.add_argument("--reset", choices=["zero", "value", "subtract"],
                   help="override the reset mode of every spiking neuron (NIR does not record it)")
    s.add_argument("-o", "--output", required=True, metavar="MODEL.json")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("export", help="write an edgesnn model as a NIR file",
                       description="Write MODEL.json as NIR (HDF5). Semantics NIR cannot express (reset by "
                                   "subtraction, '>=' spikes, several spikes per step) go into node metadata, so "
                                   "`edgesnn import` gives the same model back. ALIF has no NIR equivalent.")
    s.add_argument("model", metavar="MODEL.json")
    s.add_argument("-o", "--output", required=True, metavar="MODEL.nir")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("info", help="table of a model's layers, shapes, parameters and memory",
                       description="Print each layer's kind, shapes, parameters, neurons and bytes at float32.")
    s.add_argument("model", metavar="MODEL.json")
    s.add_argument("--json", action="store_true", help="print the same facts as JSON: dt, source, dialect, "
                                                       "layers [{name, kind, input, output, parameters, ...}], total")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("simulate", help="run a model on inputs and save outputs and predictions (and accuracy)",
                       description="Simulate MODEL on INPUTS [N, T, ...] (fed unscaled to the first layer). "
                                   "OUT.npz holds out_spikes [N, T, K] (or out_mem for a non-spiking readout), "
                                   "pred [N], the argmax of the summed output (ties to the lowest index), steps [N] "
                                   "when the model exits early, and, when labels are given (in INPUTS.npz or "
                                   "--labels), labels [N] and accuracy, which is also printed with n. MODEL may be a "
                                   "float model, a quantized one (.json or a compiled .blob) or a PLAN.json "
                                   "(`edgesnn plan`): its quantized model with its early exit.")
    s.add_argument("model", metavar="MODEL.json|MODEL.blob|PLAN.json")
    s.add_argument("--inputs", required=True, metavar="X.npy|DATA.npz",
                   help="inputs [N, T, ...]: a .npy array or a data set .npz holding 'inputs' (and 'labels' [N], "
                        "which make the accuracy), or an event data set .npz, binned as it says (docs/data.md)")
    s.add_argument("--labels", metavar="Y.npy", help="labels [N] of the inputs (integers), for the accuracy: a .npy "
                                                     "array or an .npz holding 'labels'")
    s.add_argument("--engine", default=None, choices=["float", "fixed-python", "fixed-c"],
                   help="float simulator, the fixed-point specification in Python, or the C runtime through "
                        "cffi. Default: float for a float MODEL, fixed-c for a quantized model, a blob or a plan. "
                        "The fixed engines quantize a float MODEL first (the settings below); a quantized model, "
                        "blob or plan runs as it is. With a plan, --engine float runs the float model the plan "
                        "holds (the source model as planned: stateless layers' decays zeroed; every step, no "
                        "exit); a quantized model or blob runs on the fixed engines only")
    s.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    _add_quant_options(s)
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("compile", help="quantize a model and write its blob and C sources",
                       description="Quantize MODEL (or take a quantized one) and write DIR/model.blob, the "
                                   "versioned blob the C runtime loads, and DIR/model.c + model.h, the same model "
                                   "as const C tables to compile into firmware. The blob is checked by the C "
                                   "loader first; nothing is written when anything fails.")
    s.add_argument("model", metavar="MODEL.json|PLAN.json")
    s.add_argument("-o", "--output", required=True, metavar="DIR")
    s.add_argument("--name", default="snn", help="C name prefix: NAME_model, NAME_ARENA_BYTES (default: snn)")
    s.add_argument("--arena-bytes", type=int, metavar="BYTES",
                   help="the arena the firmware provides; refuse a model that needs more")
    _add_quant_options(s)
    s.set_defaults(func=cmd_compile)

    s = sub.add_parser("export-c", help="write a C library of a model for your own firmware (CMake, Arduino, "
                                        "Zephyr, PlatformIO)",
                       description="Write DIR, a self-contained C library of MODEL: the runtime's sources it needs, "
                                   "the model as const tables, NAME.h with a small API (NAME_init, NAME_reset, "
                                   "NAME_step, NAME_infer with the early exit, NAME_predict, counters) over a static "
                                   "arena sized by the model's memory plan, an example main, a README and the "
                                   "target's build files. A PLAN.json is exported as planned (quantization, exit, "
                                   "schedule). Nothing is written when anything fails. See docs/c-api.md.")
    s.add_argument("model", metavar="MODEL.json|PLAN.json")
    s.add_argument("-o", "--output", required=True, metavar="DIR")
    s.add_argument("--target", default="cmake", metavar="TARGET",
                   help="cmake (CMakeLists.txt + arm-none-eabi toolchain file, host example reading INPUTS.npy), "
                        "arduino (library.properties, src/), zephyr (zephyr/module.yml, CMake, Kconfig) or "
                        "platformio (library.json); default cmake")
    s.add_argument("--name", metavar="NAME", help="C prefix of the API and the library's name (default: from the "
                                                  "model's file name)")
    s.add_argument("--force", action="store_true", help="replace DIR when it exists and is not empty")
    s.add_argument("--counters", action=argparse.BooleanOptionalAction, default=False,
                   help="build the runtime with its per-layer activity counters (ESN_ENABLE_COUNTERS 1: 128 B of "
                        "arena a layer, and counting work every step; NAME_counters reads them). Default "
                        "--no-counters: a release build whose arena holds none and whose NAME_counters returns NULL "
                        "(edgesnn run/profile measure the counters on the runtime firmware)")
    _add_quant_options(s)
    s.set_defaults(func=cmd_export_c)

    s = sub.add_parser("plan", help="search quantization, early exit and cost for a board; write PLAN.json",
                       description="Quantize MODEL over bit widths x rounding per parameter kind, measure each "
                                   "candidate's accuracy in the bit-exact C runtime on VAL.npz (inputs + labels; "
                                   "inputs that are real values, not spike counts, make the input an analog one "
                                   "and its 8 or 16 bits a searched kind), calibrate early exit, try layers made "
                                   "stateless, the schedules the runtime runs "
                                   "(time-step-major with the exit, fused layer groups, layer-major) and the RAM "
                                   "region of the arena, estimate cost on BOARD (its calibration when present), and "
                                   "keep what meets the target and fits its flash and SRAM. Prints the Pareto front; "
                                   "PLAN.json carries the quantized model, exit policy, schedule, placement and cost "
                                   "(`edgesnn compile PLAN.json -o DIR`, `edgesnn run PLAN.json --board BOARD`).")
    s.add_argument("model", metavar="MODEL.json")
    s.add_argument("--board", default=None, metavar="BOARD", help="a board id (default: qemu-mps2-an386)")
    s.add_argument("--data", required=True, metavar="VAL.npz", help="validation data: inputs [N, T, ...] + labels [N], or an event data set .npz with labels "
                                                         "(docs/data.md)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--target-acc", type=float, metavar="A", help="least validation accuracy, a fraction (0.96)")
    g.add_argument("--max-drop", type=float, metavar="D", help="largest drop from the float accuracy, a fraction "
                                                                 "(default 0.01)")
    s.add_argument("--objective", default="energy", choices=["energy", "latency", "flash", "sram", "edp"],
                   help="what the chosen mapping minimises among those that meet the target and fit (default energy; "
                        "sram favours grouped schedules and stateless layers, energy the early exit)")
    s.add_argument("--exit-max-drop", type=float, default=0.005, metavar="D",
                   help="largest accuracy the early exit may cost against the same model run all steps, a fraction "
                        "(default 0.005; 0 keeps every step)")
    s.add_argument("--confidence", type=float, default=None, metavar="LEVEL",
                   help="judge the target on the bound of an interval at this level (0.95): a candidate qualifies "
                        "when the upper bound of its drop against float on the same inputs (--max-drop) or the "
                        "lower bound of its accuracy (--target-acc) meets it. Default: the point estimate decides; "
                        "the 95 %% interval is reported either way, with a warning when it is wider than the target")
    s.add_argument("--search", default="race", choices=["race", "exhaustive"],
                   help="race (default): candidates that memory alone rules out are not simulated, the rest run on "
                        "growing subsets of VAL and are dropped only when the interval of their accuracy says they "
                        "cannot meet the target nor be shortlisted (the same plan and front, a fraction of the "
                        "runs); exhaustive: every candidate on every input")
    s.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes (default: the CPUs available; with --executor ray the local Ray instance's CPUs)")
    _add_executor(s, "the candidates")
    s.add_argument("-o", "--output", required=True, metavar="PLAN.json")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("demo", help="run the example models through the pipeline and print what it measures",
                       description="Import the example NIR models, show their layers, simulate them on the "
                                   "held-out digits and compare the accuracy with the one recorded at training.")
    s.add_argument("--out", default="out", metavar="DIR", help="where intermediate artifacts go (default: out)")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("search-kernels", help="search conv kernel sizes under a board's memory (digits CNN or --model)",
                       description="Train convolutional SNNs at every combination of kernel sizes whose model + arena "
                                   "(the planner's memory at the given bits: the tables the runtime reads and the arena "
                                   "it allocates) fit the budget: a short proxy training "
                                   "ranks them, the proxy's accuracy-memory front and the baseline kernels train in "
                                   "full and are evaluated in fixed point. Without --model: the built-in two-conv "
                                   "digits CNN, channel pairs searched too, 3x3 the baseline. With --model: every "
                                   "Conv2d of that model at every kernel size (its channels kept; its own kernels "
                                   "the baseline) on --train/--val[/--test] data files (spike arrays or event "
                                   "files). Needs PyTorch (and scikit-learn for the digits): edgesnn[train].")
    s.add_argument("--board", required=True, metavar="BOARD", help="its sram_bytes is the default budget")
    s.add_argument("--budget-bytes", type=int, metavar="N", help="model + arena budget in bytes (default: the board's SRAM)")
    s.add_argument("--model", metavar="MODEL", help="a convolutional model to vary (edgesnn JSON or NIR)")
    s.add_argument("--train", metavar="DATA", help="with --model: training data (.npz spikes or events)")
    s.add_argument("--val", metavar="DATA", help="with --model: validation data (ranks and calibrates)")
    s.add_argument("--test", metavar="DATA", help="with --model: test data (reported, never used to choose)")
    s.add_argument("--epochs", type=int, default=30, metavar="E", help="full training epochs (default 30)")
    s.add_argument("--proxy-epochs", type=int, default=4, metavar="E", help="proxy epochs (default 4)")
    s.add_argument("--proxy-fraction", type=float, default=0.5, metavar="F",
                   help="fraction of the training set the proxy trains on, per class (default 0.5)")
    s.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (default 5e-3)")
    s.add_argument("--batch-size", type=int, default=64, metavar="N", help="training batch size (default 64)")
    s.add_argument("--kernels", default="1,3,5", metavar="K,K", help="kernel sizes per layer (default 1,3,5)")
    s.add_argument("--channels", metavar="C1xC2,...",
                   help="digits space only: channel pairs (default "
                   + ",".join(f"{a}x{b}" for a, b in DIGITS_CHANNELS) + ")")
    s.add_argument("--weight-bits", type=int, default=8, metavar="B", help="weight bits (default 8)")
    s.add_argument("--state-bits", type=int, default=16, metavar="B", help="membrane state bits (default 16)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="train each finalist N times (seeds seed..seed+N-1) and average (default 1)")
    s.add_argument("--val-codings", type=int, default=1, metavar="N",
                   help="digits space: average validation accuracy over N rate codings of the validation digits")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_executor(s, "the trainings (each proxy and each full training a task)")
    s.add_argument("-o", "--output", required=True, metavar="DIR")
    s.set_defaults(func=cmd_search_kernels)

    s = sub.add_parser("boards", help="table of the boards edgesnn knows (boards/*.toml)",
                       description="List every board file, validated: core, clock, memory limits, firmware port "
                                   "and how it runs (QEMU machine or flash tool). With BOARD, show its memory "
                                   "regions, flags and cost priors with their sources.")
    s.add_argument("board", nargs="?", metavar="BOARD", help="a board id or a path to a board .toml file")
    s.add_argument("--json", action="store_true", help="print the same facts as JSON (sizes in bytes, clock in Hz)")
    s.set_defaults(func=cmd_boards)

    s = sub.add_parser("cache", help="where the firmware cache is, its entries and size; --clear empties it",
                       description="Show the firmware cache (builds of the device firmware, one folder per board "
                                   "and build key): where it is ($EDGESNN_CACHE/firmware, else "
                                   "$XDG_CACHE_HOME/edgesnn/firmware, else ~/.cache/edgesnn/firmware), its entries "
                                   "with size and last use, and its cap: EDGESNN_CACHE_MAX_BYTES (default 500 MB; "
                                   "500M, 2GiB, ...), to which the least recently used entries are pruned after "
                                   "each build. A build that is needed again is rebuilt. The cache is private: its "
                                   "folders are made mode 0700 and refused (one error naming the folder) when another "
                                   "user owns them or group or others can access them; every entry is re-hashed "
                                   "against its manifest before reuse, and one that changed is rebuilt.")
    s.add_argument("--clear", action="store_true", help="remove every entry")
    s.add_argument("--json", action="store_true", help="print the same facts as JSON")
    s.set_defaults(func=cmd_cache)

    s = sub.add_parser("flash", help="build a board's firmware (a model compiled in, or not) and flash it",
                       description="Flash BOARD (a real one, see `edgesnn boards`): with a firmware ELF, that ELF; "
                                   "with a model or PLAN.json, the runtime firmware built here with the model "
                                   "compiled in (a plan as planned; run it with `edgesnn run ... --port DEV "
                                   "--builtin`); with neither, the runtime firmware that takes models as blobs over "
                                   "serial (`edgesnn run|profile|calibrate ... --port DEV`). The runner is the board "
                                   "file's ([flash] runner) unless --runner: pyocd or openocd through a debug probe, "
                                   "or drive: the image copied to the board's USB drive (micro:bit: HEX to "
                                   "MICROBIT; Pico: UF2 to RPI-RP2 in BOOTSEL mode). The ELF must be linked for the "
                                   "board's flash addresses, and every image is read back and checked against it. "
                                   "-o DIR also writes the ELF, BIN, HEX (and UF2 where the board takes it), all or "
                                   "none, once the flash succeeded. See docs/boards.md.")
    s.add_argument("--board", required=True, metavar="BOARD", help="a board id (see `edgesnn boards`)")
    s.add_argument("target", nargs="?", metavar="ELF|PLAN.json",
                   help="a firmware ELF, or a plan (or model) to compile in (default: the runtime firmware)")
    s.add_argument("--model", metavar="MODEL.json", help="a model to compile into the firmware (weights in flash)")
    s.add_argument("--runner", choices=["pyocd", "openocd", "drive"], help="override the board file's runner")
    s.add_argument("--probe", metavar="SERIAL", help="debug probe serial number / UID, when several are plugged in")
    s.add_argument("--drive", metavar="PATH", help="runner drive: the board's mounted drive (default: the folder "
                                                   "named by its label under /media/$USER, /run/media/$USER, "
                                                   "/Volumes)")
    s.add_argument("-o", "--output", metavar="DIR", help="also write the ELF, BIN, HEX (and UF2) here")
    s.add_argument("--dry-run", action="store_true",
                   help="build and check the firmware and its images, print the command line, flash nothing")
    _add_quant_options(s)
    s.set_defaults(func=cmd_flash)

    s = sub.add_parser("run", help="run a model on an emulated or real board and bring back outputs and counters",
                       description="Build the firmware with the C runtime for BOARD (cached), check its measured "
                                   "sizes with the model's arena (and, compiled in, its weights) against the "
                                   "board's limits, boot it under QEMU (or talk to --port), stream INPUTS "
                                   "[N, T, ...] step by step, and save outputs, predictions, steps and per-layer "
                                   "counters (synops, spikes, neuron updates, bytes, and instructions under QEMU "
                                   "or cycles on a board) in OUT.npz as LAYER.COUNTER [N] arrays.")
    s.add_argument("model", metavar="MODEL.json|PLAN.json",
                   help="a model, or a plan (`edgesnn plan`): its chosen candidate runs compiled in, as planned")
    s.add_argument("--board", default=None, metavar="BOARD",
                   help="board id (default: a plan's own board, else qemu-mps2-an386; a plan runs only on its board)")
    s.add_argument("--inputs", required=True, metavar="X.npy|DATA.npz",
                   help="inputs [N, T, ...]: a .npy array, a data set .npz holding 'inputs', or an event data set "
                        ".npz (docs/data.md)")
    s.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    s.add_argument("--port", metavar="DEV", help="a real board's serial port (e.g. /dev/ttyACM0), already flashed "
                                                 "with the runtime firmware (edgesnn flash)")
    s.add_argument("--builtin", action="store_true",
                   help="compile the model into the firmware (weights in flash) instead of sending its blob to RAM")
    s.add_argument("--reference-kernels", action="store_true",
                   help="use the portable reference kernels even where the core has the DSP extension")
    s.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="per-request timeout once the board is up (default 5 s); QEMU's boot has --boot-timeout")
    _add_boot_timeout(s)
    _add_quant_options(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("profile", help="a model's estimated cost beside the cost measured on a board, per layer",
                       description="Run INPUTS on BOARD (compiled in under QEMU, or the blob over --port) and, on "
                                   "the host, estimate the same inputs with the cost model (the board's calibration "
                                   "when calibration/BOARD.json exists, else the priors). Prints per layer the "
                                   "estimated and measured cycles (instructions under QEMU) and their error, the "
                                   "runtime overhead row (measured: the whole run minus its layers) and the total "
                                   "(measured: the whole run). Figures are means per input. A float MODEL is "
                                   "quantized with the quantization options (default settings without them).")
    s.add_argument("model", metavar="MODEL.json|PLAN.json")
    s.add_argument("--board", default=None, metavar="BOARD",
                   help="board id (default: a plan's own board, else qemu-mps2-an386; a plan runs only on its board)")
    s.add_argument("--inputs", required=True, metavar="X.npy|X.npz",
                   help="inputs [N, T, ...]: a .npy array or an .npz holding 'inputs' (a dataset file)")
    s.add_argument("-n", "--limit", type=int, metavar="N", help="only the first N inputs")
    s.add_argument("--calibration", metavar="CAL.json", help="coefficients file (default calibration/BOARD.json "
                                                             "when present)")
    s.add_argument("--port", metavar="DEV", help="a real board's serial port, flashed with the runtime firmware")
    s.add_argument("--cycles", action="store_true",
                   help="also estimated cycles per layer and per run (emulated boards only): QEMU logs every executed "
                        "instruction and each is priced with the core's published timings, zero-wait memory; "
                        "cycle-approximate, a few times slower, the log ~80 B per instruction in a private temp dir")
    _add_boot_timeout(s)
    s.add_argument("-o", "--output", metavar="PROFILE.json", help="also write the table as JSON")
    _add_quant_options(s)
    s.set_defaults(func=cmd_profile)

    s = sub.add_parser("calibrate", help="fit a board's cost coefficients from microbenchmarks run on it",
                       description="Generate microbenchmark layers (fan-in, fan-out, spike rate, neuron count and "
                                   "kind, kernel size, weight width), run them on BOARD (QEMU, or a real board on "
                                   "--port flashed with the runtime firmware), record MEASUREMENTS.jsonl, fit the "
                                   "cost coefficients (robust non-negative least squares, k-fold cross-validation) "
                                   "and write CAL.json. Then run the example models, which the fit never sees, and "
                                   "report their total error before (priors) and after calibration. Rows from "
                                   "another board or runtime, corrupted or truncated, are rejected and listed with "
                                   "file and line; outliers are trimmed and listed. See docs/calibration.md.")
    s.add_argument("--board", required=True, metavar="BOARD", help="a board id (see `edgesnn boards`)")
    s.add_argument("-o", "--output", metavar="CAL.json", help="default calibration/BOARD.json")
    s.add_argument("--measurements", metavar="FILE.jsonl",
                   help="where the measurements go (default: next to CAL.json, BOARD.measurements.jsonl)")
    s.add_argument("--refit", metavar="FILE.jsonl", help="fit these measurements; run no microbenchmarks")
    s.add_argument("--port", metavar="DEV", help="a real board's serial port (e.g. /dev/ttyACM0)")
    s.add_argument("--benchmarks", type=int, default=DEFAULT_COUNT, metavar="N",
                   help=f"microbenchmarks to run (default {DEFAULT_COUNT})")
    s.add_argument("--inputs", type=int, default=10, metavar="N", help="test inputs per held-out model (default 10)")
    s.add_argument("--no-held-out", action="store_true", help="skip the held-out example models")
    s.add_argument("--no-cycles", action="store_true",
                   help="emulated boards: skip the traced pass that fits estimated cycles (QEMU's block log priced "
                        "with the core's published timings); the coefficients are then instructions")
    s.add_argument("--seed", type=int, default=0, help="seed of the benchmark design and the CV folds")
    _add_boot_timeout(s)
    s.set_defaults(func=cmd_calibrate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def show(message, category, *_):   # edgesnn's own warnings as one line, like its errors
        if issubclass(category, DeviceWarning):
            print(f"edgesnn {args.command}: warning: {message}", file=sys.stderr)
        else:
            default_show(message, category, *_)

    default_show, warnings.showwarning = warnings.showwarning, show
    try:
        args.func(args)
        sys.stdout.flush()   # a closed pipe shows here, not as a traceback at interpreter exit
    except BrokenPipeError:   # `edgesnn boards | head`: the reader is gone; say nothing more, at exit too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except EdgesnnError as e:
        for note in getattr(e, "__notes__", ()):  # e.g. a warning that explains the error
            print(f"edgesnn {args.command}: {note}", file=sys.stderr)
        print(f"edgesnn {args.command}: error: {e}", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = default_show
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
