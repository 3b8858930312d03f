"""Instructions per synaptic operation of the event-driven dense layer on an emulated Cortex-M4,
reference kernel against the DSP-extension kernel, and the runtime's code size per core.

    .venv/bin/python bench/bench_mcu.py [--board qemu-mps2-an386] [--steps 20] [--cycles | --neurons]
                                        [--weight-bits B] [--input-bits 8|16]

--input-bits 8 or 16: the dense table with analog inputs (int8 / int16 readings, a fraction `rate` of them
nonzero): each event multiplies its weight row (SMLABB/SMLATB on the DSP kernel, the reference loop's multiply)
and the layer shifts its accumulators back (esn_node.acc_shift).

--neurons: instructions and estimated cycles per neuron update of each kind (LI, IF, LIF, LIF-pn, CubaLIF, ALIF with
per-neuron time constants) at 8-, 12- and 16-bit state (12: the fast loops' saturation to a width between their
storage's, esn_sat_sb; ALIF's fast path is at 8 and 16 only), against the targets LIF16 <= 30 and ALIF <= 50.

A dense layer Input(64) -> Linear(64 -> F) -> LI -> Output runs on QEMU (`-icount shift=0`: 1 ns per
executed instruction) for fan-outs F in 16, 64, 256 and input spike rates 5%, 20%, 50%. The
firmware times the layer with the board's tick counter; one tick is 1e9 / tick_hz instructions
(40 on mps2-an386), so every figure is an instruction count with a resolution of one tick per
layer and step. Reported per configuration: instructions / synop for the whole layer (which
includes setting the output to zero and scanning the 64 inputs: these dominate at low rates and
small fan-outs) and the marginal cost of one more synop (the slope between the lowest and highest
rate), for both kernels, with the ratio reference / DSP. The outputs of both are checked equal to
the host's C runtime.

Conv: the N-MNIST-sized CNN's conv layers on QEMU (conv_layers): instructions per synop of each, reference and
DSP kernels, its whole step included (output fill, input scan, scatter).

Code size: every runtime_c/src file compiled alone with arm-none-eabi-gcc -Os for each core (all
kernels, DSP paths where the core has them, ESN_STRIP_LOG), measured with arm-none-eabi-size and
grouped as the execution path (runtime + kernels + fixed point), the model validator and the blob
loader (the last is not needed for a compiled-in model).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAN_OUTS = (16, 64, 256)
RATES = (0.05, 0.2, 0.5)
FAN_IN = 64
CORES = {"cortex-m0": ["-mcpu=cortex-m0", "-mfloat-abi=soft"],
         "cortex-m4": ["-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
         "cortex-m7": ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"],
         "cortex-m33": ["-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]}
GROUPS = {"execution (runtime, kernels, fixed point)": ("esn_runtime", "esn_synaptic", "esn_synaptic_dsp",
                                                        "esn_neuron", "esn_fixedpoint"),
          "model validator": ("esn_model",), "blob loader": ("esn_blob",)}


NEURON_KINDS = ("LI", "IF", "LIF", "LIF-pn", "CubaLIF", "ALIF")  # LIF-pn: LIF, alpha and threshold per neuron


def _neuron(kind: str, n: int):
    from edgesnn.graph import ir
    ones = np.ones(n)
    common = dict(name="li", gain=ones, bias=0 * ones)
    spiking = dict(threshold=ones, v_reset=0 * ones)
    if kind == "LI":
        return ir.LI(alpha=0.9 * ones, **common)
    if kind == "IF":
        return ir.IF(**common, **spiking)
    if kind == "LIF":
        return ir.LIF(alpha=0.9 * ones, **common, **spiking)
    if kind == "LIF-pn":  # a trained model's multiple timescales: alpha and threshold per neuron (16-bit storage
        spread = np.linspace(0.0, 1.0, n)  # at 16-bit state; at 8-bit state the thresholds take 8 bits)
        return ir.LIF(alpha=0.85 + 0.1 * spread, **common, threshold=8 + 4 * spread, v_reset=0 * ones)
    if kind == "CubaLIF":
        return ir.CubaLIF(alpha=0.9 * ones, alpha_syn=0.8 * ones, gain_syn=ones, **common, **spiking)
    if kind == "ALIF":  # each neuron its own membrane and adaptation time constants
        spread = np.linspace(0.0, 1.0, n)
        return ir.ALIF(alpha=0.85 + 0.1 * spread, rho=0.95 + 0.04 * spread, b0=ones, beta=0.5 * ones, **common)
    raise ValueError(f"neuron kind {kind!r}: one of {NEURON_KINDS}")


def dense_qgraph(fan_out: int, fan_in: int = FAN_IN, seed: int = 0, kind: str = "LI", state_bits: int = 16,
                 weight_bits: int = 8, input_bits: int = 0):
    """Input(fan_in) -> Linear(fan_in -> fan_out) -> neuron `kind` (the node is named "li" whatever its
    kind; an LI readout by default) -> Output, quantized to `weight_bits` weights (int8 by default) and v at
    `state_bits`; input_bits 8 / 16: an analog input."""
    from edgesnn.graph import Graph, ir
    from edgesnn.quantize import QuantConfig, quantize
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(fan_out, fan_in))
    nodes = {"in": ir.Input(name="in", shape=(fan_in,)), "fc": ir.Linear(name="fc", weight=w),
             "li": _neuron(kind, fan_out), "out": ir.Output(name="out", shape=(fan_out,))}
    edges = [("in", "fc"), ("fc", "li"), ("li", "out")]
    return quantize(Graph(nodes, edges, 1e-3), QuantConfig(weight_bits, state_bits, input_bits=input_bits),
                    spikes(8, 10, 0.5, fan_in, input_bits=input_bits))


def spikes(n: int, steps: int, rate: float, fan_in: int = FAN_IN, seed: int = 1, input_bits: int = 0) -> np.ndarray:
    """Spike inputs at `rate`; input_bits > 0: standard normal readings where the draw is under the rate, else 0."""
    rng = np.random.default_rng(seed)
    on = rng.random((n, steps, fan_in)) < rate
    return np.where(on, rng.standard_normal(on.shape), 0.0) if input_bits else on.astype(np.uint8)


def measure(board, fan_out: int, rates=RATES, *, dsp: bool, steps: int = 20, cache_dir=None, cycles: bool = False,
            kind: str = "LI", builtin: bool = False, state_bits: int = 16, weight_bits: int = 8,
            input_bits: int = 0) -> list[dict]:
    """One QEMU session per (fan-out, kernel): instructions and synops of the layer at each rate. cycles:
    also trace the executed instructions (QemuTarget(trace=...)) and add the estimated cycles
    (edgesnn.firmware.cycles, the board's core) of the dense layer ("cycles") and of the neuron layer
    ("neuron_cycles", "neuron_instructions", "neuron_updates") at each rate."""
    from edgesnn.device.qemu import QemuTarget
    from edgesnn.device.runner import DeviceModel
    from edgesnn.firmware import cycles as C
    from edgesnn.firmware.runtime import build_runtime_firmware
    from edgesnn.runtime.binding import run_c
    q = dense_qgraph(fan_out, kind=kind, state_bits=state_bits, weight_bits=weight_bits, input_bits=input_bits)
    fw = build_runtime_firmware(board, q, dsp=dsp, cache_dir=cache_dir, builtin=builtin)
    rows = []
    tmp = tempfile.TemporaryDirectory() if cycles else None
    trace = Path(tmp.name) / "trace.log" if tmp else None
    with QemuTarget(board, fw.elf, trace=trace) as t:
        assert t.hello.runtime_version.endswith("+dsp" if dsp else "+ref"), t.hello.runtime_version
        dm = DeviceModel(t.link, q, board, builtin=builtin)
        for rate in rates:
            x = spikes(1, steps, rate, input_bits=input_bits)
            res = dm.run(x)
            if not np.array_equal(res.outputs, run_c(q, x).outputs):
                raise AssertionError(f"fan-out {fan_out}, rate {rate}: device outputs differ from the host's")
            c = res.counts["fc"]
            rows.append({"fan_out": fan_out, "rate": rate, "synops": int(c["synops"].sum()),
                         "instructions": int(c[res.unit].sum()), "unit": res.unit,
                         "neuron_updates": int(res.counts["li"]["neuron_updates"].sum())})
    if trace is not None:
        est = C.estimate(C.disassemble(fw.elf), C.read_trace(trace), board.core)
        tmp.cleanup()
        names = list(q.graph.schedule().order)
        spans = C.input_spans(est)
        assert len(spans) == len(rows), (len(spans), len(rows))
        k = names.index("fc")
        for row, span in zip(rows, spans):
            nodes = dict(zip(names, C.per_node(est, len(names), span)))
            row["cycles"], row["traced_instructions"] = nodes["fc"].cycles, nodes["fc"].instructions
            row["neuron_cycles"], row["neuron_instructions"] = nodes["li"].cycles, nodes["li"].instructions
            row["kernel_instructions"] = row["kernel_cycles"] = 0
            for s, e in est.calls("esn_step", span):   # the dense layer's window of each step, by function
                ticks = est.calls("esn_port_cycles", (s, e))
                for fn, (n, cyc) in est.by_function(ticks[2 * k][1], ticks[2 * k + 1][0]).items():
                    if fn in DENSE_KERNELS:
                        row["kernel_instructions"] += n
                        row["kernel_cycles"] += cyc
    return rows


# -- conv layers -----------------------------------------------------------------------------------

def conv_layers(board, *, dsp: bool, steps: int = 4, weight_bits: int = 8, state_bits: int = 8, seed: int = 1,
                cache_dir=None) -> list[dict]:
    """Instructions per synop of each conv layer of bench/real_models.py's N-MNIST-sized CNN (2x34x34, 12c5 -
    pool2 - 32c5 - pool2 - fc10), compiled into the firmware, over `steps` steps of one Bernoulli input at 10 %
    on `board` (one QEMU session), the outputs checked bit-identical with the host's C runtime. Per layer:
    events (nonzero input entries), synops and instructions (the layer's whole step: output fill, input scan and
    scatter). conv2 reads pool1's window sums: on the DSP cores x != 1 takes the multiply-accumulate run kernel
    (esn_synaptic_dsp.c esn_mac_row_s8_dsp), elsewhere x of 2 or 3 add a run 2 or 3 times (esn_conv_run)."""
    from edgesnn.device.qemu import QemuTarget
    from edgesnn.device.runner import DeviceModel
    from edgesnn.firmware.runtime import build_runtime_firmware
    from edgesnn.quantize import QuantConfig, quantize
    from edgesnn.runtime.binding import run_c
    sys.path.insert(0, str(ROOT / "bench"))
    import real_models
    q = quantize(real_models.nmnist_cnn(), QuantConfig(weight_bits=weight_bits, state_bits=state_bits))
    x = real_models.spike_inputs(q.graph.input.shape, n=1, steps=steps, seed=seed)
    fw = build_runtime_firmware(board, q, dsp=dsp, builtin=True, cache_dir=cache_dir)
    with QemuTarget(board, fw.elf, timeout=60.0) as t:
        assert t.hello.runtime_version.endswith("+dsp" if dsp else "+ref"), t.hello.runtime_version
        res = DeviceModel(t.link, q, board, builtin=True).run(x)
    if not np.array_equal(res.outputs, run_c(q, x).outputs):
        raise AssertionError("N-MNIST CNN: device outputs differ from the host's")
    rows = []
    for name in ("conv1", "conv2"):
        node, c = q.graph.nodes[name], res.counts[name]
        rows.append({"layer": name, "c_in": int(node.weight.shape[1]), "c_out": int(node.weight.shape[0]),
                     "events": int(c["spikes_in"].sum()), "synops": int(c["synops"].sum()),
                     "instructions": int(c[res.unit].sum())})
    return rows


def conv_table(board, steps: int = 4) -> str:
    from tabulate import tabulate
    ref, dsp = conv_layers(board, dsp=False, steps=steps), conv_layers(board, dsp=True, steps=steps)
    body = [[r["layer"], f"{r['c_in']} -> {r['c_out']}", r["events"], r["synops"],
             f"{r['instructions'] / r['synops']:.2f}", f"{o['instructions'] / o['synops']:.2f}"]
            for r, o in zip(ref, dsp)]
    return (f"instructions per synaptic operation of the N-MNIST-sized CNN's conv layers (5x5 kernels, channel-last "
            f"outputs), {board.id}, 8-bit weights, one input at 10 %, {steps} steps\n"
            + tabulate(body, headers=["layer", "channels", "events", "synops", "ref /synop", "dsp /synop"],
                       tablefmt="simple", disable_numparse=True))


# The functions that add weight rows into the accumulators (esn_synaptic.c, esn_synaptic_dsp.c; the rest of the
# layer's window is the output fill, the input scan, the event loop and the runtime's bookkeeping).
DENSE_KERNELS = ("esn_rows_words_s8", "esn_rows_edge_s8", "esn_add_rows_s8_dsp", "esn_add_row_s8_dsp",
                 "esn_add_words_s8_dsp", "esn_add_row_p4_dsp", "esn_row_mac", "esn_p4_pairs",
                 "esn_add_row_b1_dsp")


def dense_cycles_table(board, fan_outs=(64, 256), rates=(0.05, 0.5), steps: int = 20, builtin: bool = False) -> str:
    """Instructions and estimated cycles per synop of the dense layer (DSP kernel) on `board`: the whole layer at
    each rate, and the marginal cost between the rates of the whole layer and of its row kernels alone
    (DENSE_KERNELS: the inner loops with their per-row calls)."""
    from tabulate import tabulate
    body = []
    for f in fan_outs:
        rows = measure(board, f, rates, dsp=board.dsp, steps=steps, cycles=True, builtin=builtin)
        lo, hi = rows[0], rows[-1]
        d = max(1, hi["synops"] - lo["synops"])
        whole = [f"{r['traced_instructions'] / r['synops']:.2f} / {r['cycles'] / r['synops']:.2f}" for r in rows]
        body.append([f, *whole, f"{(hi['traced_instructions'] - lo['traced_instructions']) / d:.2f}",
                     f"{(hi['cycles'] - lo['cycles']) / d:.2f}", f"{(hi['kernel_instructions'] - lo['kernel_instructions']) / d:.2f}",
                     f"{(hi['kernel_cycles'] - lo['kernel_cycles']) / d:.2f}"])
    return (f"dense {FAN_IN} -> F on {board.id} ({board.core}), DSP kernel, {steps} steps, weights "
            f"{'in flash (built in)' if builtin else 'in the RAM blob'}: instructions / estimated cycles per synop\n"
            + tabulate(body, headers=["fan-out", *[f"layer at {r:.0%}" for r in rates], "marginal instr",
                                      "marginal cycles", "kernel instr", "kernel cycles"],
                       tablefmt="simple", disable_numparse=True))


CYCLE_BOARDS = ("qemu-microbit", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505")


def per_core(board, kind: str, fan_out: int = 64, rates=(0.05, 0.5), steps: int = 10, cache_dir=None,
             state_bits: int = 16) -> dict:
    """Marginal instructions and estimated cycles per synop of the dense layer (slope between the rates: the
    inner loop, without the layer's fixed cost), per neuron update of `kind`, on `board` (DSP kernel where
    its core has one)."""
    rows = measure(board, fan_out, rates, dsp=board.dsp, steps=steps, cache_dir=cache_dir,
                   cycles=True, kind=kind, builtin=True, state_bits=state_bits)
    lo, hi = rows[0], rows[-1]
    dsyn = max(1, hi["synops"] - lo["synops"])
    upd = sum(r["neuron_updates"] for r in rows)
    return {"board": board.id, "core": board.core, "kind": kind,
            "synop_instructions": (hi["traced_instructions"] - lo["traced_instructions"]) / dsyn,
            "synop_cycles": (hi["cycles"] - lo["cycles"]) / dsyn,
            "update_instructions": sum(r["neuron_instructions"] for r in rows) / upd,
            "update_cycles": sum(r["neuron_cycles"] for r in rows) / upd}


def cycles_table(steps: int = 10, boards=CYCLE_BOARDS, kinds=NEURON_KINDS) -> str:
    from tabulate import tabulate
    from edgesnn.board import get_board
    from edgesnn.firmware.cycles import timing
    body = []
    for bid in boards:
        b = get_board(bid)
        for kind in kinds:
            r = per_core(b, kind, steps=steps)
            syn = [f"{r['synop_instructions']:.2f}", f"{r['synop_cycles']:.2f}"] if kind == kinds[0] else ["", ""]
            body.append([bid if kind == kinds[0] else "", r["core"] if kind == kinds[0] else "", *syn, kind,
                         f"{r['update_instructions']:.1f}", f"{r['update_cycles']:.1f}"])
    notes = "; ".join(f"{c}: {timing(c).source}" for c in sorted({get_board(b).core for b in boards}))
    return ("instructions (QEMU, traced) and estimated cycles (edgesnn.firmware.cycles: the core's published "
            f"timings, zero-wait memory), dense 64 -> 64, {steps} steps, marginal per synop between 5% and 50% "
            "input rates; per neuron update of each kind\n"
            + tabulate(body, headers=["board", "core", "instr/synop", "est. cycles/synop", "neuron", "instr/update",
                                      "est. cycles/update"], tablefmt="simple", disable_numparse=True)
            + f"\ntimings: {notes}")


NEURON_TARGETS = {("LIF", 16): 30, ("LIF-pn", 16): 40, ("ALIF", 16): 50}  # instructions per update (docs: "kernels near the limit")


def neuron_rows(board, kinds=NEURON_KINDS, state_bits=(8, 16), steps: int = 10, cache_dir=None) -> list[dict]:
    """Instructions (QEMU, traced) and estimated cycles per neuron update of each kind at each state width, on
    `board` (per_core's dense 64 -> 64 layer: the neuron layer's whole time between its two port timestamps,
    including the runtime's per-layer dispatch and traffic counters, over 64 neurons)."""
    rows = []
    for sb in state_bits:
        for kind in kinds:
            r = per_core(board, kind, steps=steps, cache_dir=cache_dir, state_bits=sb)
            rows.append({"kind": kind, "state_bits": sb, "instructions": r["update_instructions"],
                         "cycles": r["update_cycles"], "target": NEURON_TARGETS.get((kind, sb))})
    return rows


def neuron_table(board, steps: int = 10) -> str:
    from tabulate import tabulate
    body = [[r["kind"], r["state_bits"], f"{r['instructions']:.1f}", f"{r['cycles']:.1f}",
             "" if r["target"] is None else f"<= {r['target']}",
             "" if r["target"] is None else ("met" if r["instructions"] <= r["target"] else "missed")]
            for r in neuron_rows(board, state_bits=(8, 12, 16), steps=steps)]
    return (f"per neuron update, {board.id} ({board.core}), dense 64 -> 64, {steps} steps at 5% and 50% input rates: "
            "instructions (QEMU, traced) and estimated cycles (edgesnn.firmware.cycles), the neuron layer's whole "
            "time (dispatch and counters included)\n"
            + tabulate(body, headers=["neuron", "state bits", "instr/update", "est. cycles/update", "target", ""],
                       tablefmt="simple", disable_numparse=True))


def have_arm_gcc() -> bool:
    import shutil
    return bool(shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"))


def code_sizes(cores=CORES, cc: str = "arm-none-eabi-gcc") -> dict[str, dict[str, int]]:
    """Bytes of flash (text + data) per group of runtime files, per core, at -Os."""
    src = sorted((ROOT / "runtime_c" / "src").glob("*.c")) + sorted((ROOT / "runtime_c" / "src" / "kernels").glob("*.c"))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for core, flags in cores.items():
            objs = []
            for f in src:
                o = Path(tmp) / f"{core}-{f.stem}.o"
                subprocess.run([cc, "-mthumb", *flags, "-std=c99", "-Os", "-ffunction-sections", "-fdata-sections",
                                "-DESN_STRIP_LOG", f"-I{ROOT / 'runtime_c' / 'include'}", f"-I{ROOT / 'runtime_c' / 'src'}",
                                "-c", str(f), "-o", str(o)], check=True)
                objs.append(o)
            size = subprocess.run(["arm-none-eabi-size", *map(str, objs)], check=True, capture_output=True, text=True)
            per = {}
            for line in size.stdout.splitlines()[1:]:
                text, data, _bss, *_rest, name = line.split()
                per[Path(name).stem.split("-", 2)[-1]] = int(text) + int(data)
            out[core] = {g: sum(per.get(s, 0) for s in stems) for g, stems in GROUPS.items()}
    return out


def main(argv=None) -> int:
    from tabulate import tabulate
    from edgesnn.board import get_board
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="qemu-mps2-an386")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cycles", action="store_true", help="also estimated cycles per synop and per neuron update, "
                                                          "per core (QEMU instruction traces; slower)")
    ap.add_argument("--weight-bits", type=int, default=8, metavar="B",
                    help="the dense table's weights (default 8; 1: binary, 4: packed nibbles)")
    ap.add_argument("--input-bits", type=int, default=0, choices=(0, 8, 16), metavar="B",
                    help="the dense table's input: 0 spikes (default), 8 or 16 analog readings (multiply-accumulate)")
    ap.add_argument("--neurons", action="store_true", help="only the neuron table: instructions and estimated "
                                                           "cycles per update of each kind at 8- and 16-bit state")
    args = ap.parse_args(argv)
    board = get_board(args.board)
    if args.neurons:
        print(neuron_table(board, steps=min(args.steps, 10)))
        return 0
    table = []
    for f in FAN_OUTS:
        ref = measure(board, f, dsp=False, steps=args.steps, weight_bits=args.weight_bits, input_bits=args.input_bits)
        opt = measure(board, f, dsp=True, steps=args.steps, weight_bits=args.weight_bits, input_bits=args.input_bits)
        slope = {}
        for name, rows in (("ref", ref), ("dsp", opt)):
            lo, hi = rows[0], rows[-1]
            slope[name] = (hi["instructions"] - lo["instructions"]) / max(1, hi["synops"] - lo["synops"])
        for r, o in zip(ref, opt):
            ipr, ipo = r["instructions"] / r["synops"], o["instructions"] / o["synops"]
            table.append([f, f"{r['rate']:.0%}", r["synops"], f"{ipr:.2f}", f"{ipo:.2f}", f"{ipr / ipo:.2f}x",
                          f"{slope['ref']:.2f}", f"{slope['dsp']:.2f}", f"{slope['ref'] / slope['dsp']:.2f}x"])
    what = f"{args.input_bits}-bit analog input" if args.input_bits else "spike input"
    print(f"instructions per synaptic operation, dense {FAN_IN} -> F, {args.weight_bits}-bit weights, {what}, "
          f"{board.id} "
          f"(QEMU -icount shift=0, "
          f"1 tick = {1e9 / board.firmware['tick_hz']:g} instructions), {args.steps} steps")
    print(tabulate(table, headers=["fan-out", "rate", "synops", "ref /synop", "dsp /synop", "ratio",
                                   "ref marginal", "dsp marginal", "ratio"], tablefmt="simple",
                   disable_numparse=True))
    if args.input_bits:   # the analog dense table alone
        return 0
    print()
    print(conv_table(board))
    if args.cycles:
        print()
        print(dense_cycles_table(board, steps=args.steps))
        print()
        print(cycles_table(args.steps))
    sizes = code_sizes()
    print("\nruntime code size at -Os, bytes of flash (arm-none-eabi-size text + data, ESN_STRIP_LOG)")
    rows = [[core] + [f"{v:,}" for v in g.values()] + [f"{sum(g.values()):,}"] for core, g in sizes.items()]
    print(tabulate(rows, headers=["core", *GROUPS, "all"], tablefmt="simple", disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
