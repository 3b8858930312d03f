"""Run a quantized model on a device (QEMU or a real board over serial) and bring back what it measured.

    fw = build_runtime_firmware(board, qgraph)           # sized for this model; FirmwareTooLarge if it does not fit
    with QemuTarget(board, fw.elf) as q:
        res = DeviceModel(q.link, qgraph, board).run(x)   # DeviceResult: outputs, steps, per-layer counters

The firmware (edgesnn.firmware.runtime) carries the C runtime; the model travels either as a blob
over the link (LOAD_MODEL chunks into the firmware's arena) or compiled into the image
(`builtin=True`, weights in flash).

A model may carry a grouped schedule (layer-major, fused layers: edgesnn.lower; `schedule=` and
`steps=` here): the firmware then stages the input's T steps in its arena and runs every group once
they are all there, and its arena is exactly esn_arena_size_sched(), so the ELF's SRAM is the
schedule's. Its outputs are read back per step (READ_COUNTERS 3), its counters as totals.

Inputs are streamed step by step in chunks that fit the device's max payload (HELLO's, or the
smaller `frame_payload`) both ways (inputs of the chunk in, their int64 outputs back). A step whose
input is larger than a payload (an N-MNIST frame is 2 x 34 x 34 = 2,312 B) is staged first: RUN_INPUT
chunks write it into the device's input staging area (the firmware arena after the model, or a
grouped schedule's own input buffer; LOAD_MODEL reports its size) and a RUN flagged "staged" runs it.
Outputs larger than a payload are paged (READ_COUNTERS 2), and so are counters (READ_COUNTERS 0/1,
as many nodes per answer as fit). Counters are read per input (totals since the input's reset). Cycles: the DWT cycle counter where it counts (real ARMv7-M/ARMv8-M boards);
under QEMU the DWT is not modelled, so the runtime times each layer with the board's tick
counter, and with `-icount shift=0` (1 ns per executed instruction) one tick is exactly
1e9 / tick_hz instructions (40 on MPS2 AN386/AN500, 50 on AN505, 62.5 on the micro:bit; measured by
tests/device/test_qemu.py with SPIN). Those are reported as `instructions`, with a resolution of one
tick per layer and step.
"""

from __future__ import annotations

import struct
import time
import warnings
from pathlib import Path

import numpy as np
from tabulate import tabulate

from ..board import Board
from ..emit.blob import to_blob
from ..errors import DeviceError, DeviceWarning
from ..firmware import build as F
from ..firmware.runtime import RUN_REQ_HEADER, build_runtime_firmware
from ..graph import ir
from ..measurement import Measurement
from ..quantize.qgraph import input_dtype
from ..quantize.reference import check_spike_inputs
from . import protocol as P
from .qemu import QemuTarget
from .serial_link import SerialLink

COUNTER_NAMES = ("spikes_in", "synops", "neuron_updates", "spikes_out", "param_bytes_read", "arena_bytes_read",
                 "arena_bytes_written", "cycles")
CYCLE_SOURCES = {0: "none", 1: "dwt", 2: "ticks"}
RUN_HEADER = 12  # RUN answer: u8 exited, u8 pad, u16 steps run, u32 steps since reset, u32 cycles
RUN_INPUT_HEADER = 4  # RUN_INPUT request: u32 offset into the staging area, then bytes
LOAD_ANSWER = 32  # LOAD_MODEL answer bytes (protocol version 2)
RUN_RESET, RUN_NO_OUTPUTS, RUN_STAGED = 1, 2, 4  # RUN flags


DeviceResult = Measurement  # a board's run: the one result type of every engine (edgesnn.measurement)


class DeviceModel:
    """A model loaded into a device's runtime over a SerialLink."""

    def __init__(self, link, qgraph, board: Board, *, builtin: bool = False, load_timeout: float | None = None,
                 frame_payload: int | None = None, schedule="time", steps: int | None = None, stage=None):
        """frame_payload: the largest payload to send or ask for (default the device's max payload); smaller
        frames survive a noisy link more often (a frame is lost when any of its bytes is). schedule, steps:
        the blob sent carries that schedule (a compiled-in model carries its own; the device says which)."""
        self.link, self.qgraph, self.board = link, qgraph, board
        self.input_dtype = input_dtype(qgraph.config.input_bits)
        if link.hello is None:
            link.handshake()
        if not link.hello.caps & P.CAP_RUN:
            raise DeviceError("the firmware has no runtime linked in (HELLO lacks the run capability): flash the "
                              "runtime firmware (`edgesnn run` on the board builds it; `edgesnn flash --board B ELF`)")
        self.max_payload = min(link.hello.max_payload, frame_payload or link.hello.max_payload)
        graph = qgraph.graph
        sched = graph.schedule()
        self.names = list(sched.order)
        self.blob = b"" if builtin else to_blob(qgraph, schedule, steps, stage)
        info = self._load(load_timeout)
        self.sched_steps, self.stage_bytes = info[8], info[9]
        loaded, self.n_nodes, self.input_size, self.output_size = info[1], info[3], info[4], info[5]
        if not loaded:
            raise DeviceError("the device did not report the model as loaded")
        if self.n_nodes != len(self.names):
            raise DeviceError(f"the device's model has {self.n_nodes} nodes, this one {len(self.names)}: "
                              "the compiled-in model is another")
        self.arena_need = info[6]

    def _load(self, timeout):
        if not self.blob:
            body = self.link.request(P.T_LOAD_MODEL, struct.pack("<II", 0, 0), timeout=timeout)
            return self._load_answer(body)
        chunk = self.max_payload - 8
        if chunk < 8:
            raise DeviceError(f"payloads of {self.max_payload} B are too small to load a model")
        body = b""
        for off in range(0, len(self.blob), chunk):
            part = self.blob[off:off + chunk]
            body = self.link.request(P.T_LOAD_MODEL, struct.pack("<II", off, len(self.blob)) + part, timeout=timeout)
        return self._load_answer(body)

    @staticmethod
    def _load_answer(body: bytes) -> tuple:
        """LOAD_MODEL's answer (32 bytes): received, loaded, builtin, nodes, input size, output size, arena
        bytes needed, blob bytes, schedule steps T, input staging bytes."""
        if len(body) != LOAD_ANSWER:
            raise P.ProtocolError(f"LOAD_MODEL answered {len(body)} bytes; expected {LOAD_ANSWER}")
        return struct.unpack("<IBBHIIIIII", body)

    def _chunking(self) -> tuple[int, bool, bool]:
        """(steps per RUN request, their outputs come in RUN's answer, their inputs are staged by RUN_INPUT).

        Not answered: outputs larger than a payload, one step per RUN and its output paged (or a grouped
        schedule's, read per step after the run). Staged: one step's input does not fit a RUN frame."""
        step_bytes = self.input_size * self.input_dtype.itemsize
        size = max(1, step_bytes)
        # int16 analog input is always staged: RUN's payload would leave it unaligned (esn_fw_ext_run refuses it)
        staged = RUN_REQ_HEADER + step_bytes > self.max_payload or self.input_dtype.itemsize > 1
        if staged:
            need = size * (self.sched_steps or 1)
            if not self.link.hello.caps & P.CAP_RUN_INPUT or self.stage_bytes < need:
                raise DeviceError(
                    f"one step's input ({step_bytes:,} B) does not fit a payload of {self.max_payload:,} B, "
                    f"and the device's input staging area holds {self.stage_bytes:,} B where {need:,} B are needed "
                    "(staging uses the firmware arena left after the model: build the firmware with a larger "
                    "arena, or send the model as a blob rather than compiled in)")
            per = self.stage_bytes // size
        else:
            per = (self.max_payload - RUN_REQ_HEADER) // size
        n_out = (self.max_payload - RUN_HEADER) // (8 * max(1, self.output_size))
        answered = n_out >= 1 and not self.sched_steps
        if answered:
            per = min(per, n_out)
        elif not self.sched_steps:
            per = 1
        return min(per, 0xFFFF), answered, staged

    def _stage(self, data: bytes, base: int, timeout: float | None) -> None:
        """RUN_INPUT: `data` into the device's staging area from byte `base`, in payload-sized chunks."""
        chunk = self.max_payload - RUN_INPUT_HEADER
        for off in range(0, len(data), chunk):
            part = data[off:off + chunk]
            body = self.link.request(P.T_RUN_INPUT, struct.pack("<I", base + off) + part, timeout=timeout)
            if len(body) != 8:
                raise P.ProtocolError(f"RUN_INPUT answered {len(body)} bytes; expected 8")
            staged, cap = struct.unpack("<II", body)
            if staged != base + off + len(part) or cap != self.stage_bytes:
                raise P.ProtocolError(f"RUN_INPUT of bytes {base + off}+{len(part)} answered {staged} staged of "
                                      f"{cap}")

    def read_output(self, step: int | None = None) -> np.ndarray:
        """The last step's output, or step `step`'s of a grouped run, paged (outputs larger than a payload)."""
        parts, first = [], 0
        while first < self.output_size:
            req = struct.pack("<HB", first, 2) if step is None else struct.pack("<HBH", first, 3, step)
            body = self.link.request(P.T_READ_COUNTERS, req)
            n, f, count = struct.unpack_from("<HHH", body)
            if n != self.output_size or f != first or count < 1 or len(body) != 8 + 8 * count:
                raise P.ProtocolError(f"READ_COUNTERS answered outputs {f}+{count} of {n} for element {first}")
            parts.append(np.frombuffer(body, "<i8", offset=8))
            first += count
        return np.concatenate(parts)

    def read_counters(self, total: bool = True) -> tuple[np.ndarray, int]:
        rows, first, src = [], 0, 0
        while first < self.n_nodes:
            most = max(1, min(255, (self.max_payload - 8) // 64))
            body = self.link.request(P.T_READ_COUNTERS, struct.pack("<HBB", first, 1 if total else 0, most))
            n, f, count, src = struct.unpack_from("<HHHB", body)
            if n != self.n_nodes or f != first or count < 1 or len(body) != 8 + 64 * count:
                raise P.ProtocolError(f"READ_COUNTERS answered nodes {f}+{count} of {n} for node {first}")
            rows.append(np.frombuffer(body, "<u8", offset=8).reshape(count, 8))
            first += count
        return np.concatenate(rows).astype(np.int64), src

    def run(self, inputs: np.ndarray, *, run_timeout: float | None = None) -> DeviceResult:
        # spike counts as bytes; an analog model's inputs in real units, quantized as the reference does
        x = np.ascontiguousarray(check_spike_inputs(self.qgraph, inputs), dtype=self.input_dtype)
        n, T = x.shape[:2]
        x = x.reshape(n, T, -1)
        if x.shape[2] != self.input_size:
            raise DeviceError(f"inputs of {x.shape[2]} values per step; the model takes {self.input_size}")
        if self.sched_steps and T != self.sched_steps:
            raise DeviceError(f"inputs of {T} steps; the model's schedule runs {self.sched_steps}")
        # a grouped schedule stages the whole input, and answers no outputs until the last chunk ran every group
        k, answered, staged = self._chunking()
        base_flags = (0 if answered else RUN_NO_OUTPUTS) | (RUN_STAGED if staged else 0)
        out = np.zeros((n, T, self.output_size), np.int64)
        steps = np.zeros(n, np.int64)
        counters = np.zeros((n, self.n_nodes, 8), np.int64)
        run_cycles = np.zeros(n, np.int64)
        src = 0
        t0 = time.perf_counter()
        for i in range(n):
            t = 0
            while t < T:
                m = min(k, T - t)
                flags = base_flags | (RUN_RESET if t == 0 else 0)
                data = x[i, t:t + m].tobytes()
                if staged:   # a grouped schedule's buffer holds every step; esn_step's area the steps of one RUN
                    self._stage(data, t * self.input_size * x.itemsize if self.sched_steps else 0, run_timeout)
                    data = b""
                req = struct.pack("<BH", flags, m) + data
                body = self.link.request(P.T_RUN, req, timeout=run_timeout)
                if len(body) < RUN_HEADER:
                    raise P.ProtocolError(f"RUN answered {len(body)} bytes; at least {RUN_HEADER} expected")
                exited, _, done, since, cycles = struct.unpack_from("<BBHII", body)
                if len(body) != RUN_HEADER + (done * 8 * self.output_size if answered else 0) or done > m \
                        or since != t + done:
                    raise P.ProtocolError(f"RUN answered {done} steps (t={since}) for {m} sent at t={t}")
                run_cycles[i] += cycles
                if answered:
                    out[i, t:t + done] = np.frombuffer(body, "<i8", offset=RUN_HEADER).reshape(done, self.output_size)
                elif done and not self.sched_steps:
                    out[i, t] = self.read_output()
                t += done
                if exited:
                    break
            steps[i] = t
            if self.sched_steps:
                for step in range(T):
                    out[i, step] = self.read_output(step)
            counters[i], src = self.read_counters(total=True)
        seconds = time.perf_counter() - t0
        cyc = counters[:, :, 7].astype(np.float64)
        whole = run_cycles.astype(np.float64)
        source = CYCLE_SOURCES.get(src, "none")
        if source == "ticks" and self.board.is_emulated:
            unit = "instructions"
            cyc = np.rint(cyc * 1e9 / self.board.firmware["tick_hz"])
            whole = np.rint(whole * 1e9 / self.board.firmware["tick_hz"])
        else:
            unit = {"dwt": "cycles", "ticks": "ticks"}.get(source, "cycles")
        counts = {}
        graph = self.qgraph.graph
        for j, name in enumerate(self.names):
            node = graph.nodes[name]
            if not (isinstance(node, ir.SYNAPTIC_TYPES) or node.stateful):
                continue
            d = {c: counters[:, j, ci] for ci, c in enumerate(COUNTER_NAMES[:7])}
            d[unit] = cyc[:, j].astype(np.int64)
            counts[name] = d
        return Measurement(out.reshape(n, T, *graph.output.shape), graph.output_spiking, counts, steps=steps,
                           engine=self.board.id, cycle_source=source, unit=unit,
                           run_cycles=whole.astype(np.int64) if source != "none" else None,
                           link=self.link.stats.to_dict(), seconds=seconds)


def open_board(board: Board, port: str, *, timeout: float = 5.0) -> SerialLink:
    """The serial link to the real `board` on `port`, its HELLO checked: the port opens, the firmware answers
    in a protocol version this host speaks, and it was built for this board. Otherwise one DeviceError
    naming board and port and what to do; the port is closed again."""
    where = f"board {board.id} on {port}"
    try:
        link = SerialLink.open(port, baud=board.baud, timeout=timeout)
    except DeviceError as e:
        cause = str(e).removeprefix(f"cannot open serial link {port}: ")
        raise DeviceError(f"{where}: cannot open the serial port ({cause}); is the board plugged in and is this its "
                          "port (Linux /dev/ttyACM* or /dev/ttyUSB*, macOS /dev/cu.usbmodem*, Windows COM*)?") from None
    try:
        hello = link.handshake()
    except P.LinkTimeout:
        link.close()
        raise DeviceError(f"{where}: no answer to HELLO at {board.baud} baud; flash it with the edgesnn firmware "
                          f"(`edgesnn flash --board {board.id}`), reset it, and check that {port} is its serial "
                          "port") from None
    except DeviceError as e:   # another protocol version, a fault report, a refusal
        link.close()
        raise DeviceError(f"{where}: {e}") from None
    if hello.board != board.id:
        link.close()
        raise DeviceError(f"{where}: the firmware there was built for board {hello.board!r}, not {board.id}: "
                          f"flash this board's firmware (`edgesnn flash --board {board.id}`), or pass --board "
                          f"{hello.board} if that is the board on {port}")
    if hello.clock.startswith("fallback"):   # a clock did not come up: cycles (DWT) hold, times in ticks do not
        warnings.warn(DeviceWarning(f"{where} runs on its fallback clock ({hello.clock.removeprefix('fallback ')}): "
                                    f"times from its {hello.tick_source} ticks assume {hello.tick_hz:,} Hz and are "
                                    "off by the clocks' ratio; check its crystal and power"))
    return link


def _on_board(e: P.RemoteError, board: Board, port: str, builtin: bool) -> DeviceError:
    """A device's refusal on a real board, named with board and port; a firmware that holds another kind of
    model (compiled in, or none) than the run sends says how to match them."""
    where = f"board {board.id} on {port}"
    if e.request == P.T_LOAD_MODEL and e.status == P.ST_UNSUPPORTED:
        if builtin:
            return DeviceError(f"{where}: the firmware has no model compiled in ({e.text}); flash one with `edgesnn "
                               f"flash --board {board.id} MODEL` or run without --builtin to send the model")
        return DeviceError(f"{where}: the firmware runs the model compiled into it only ({e.text}); run it with "
                           f"--builtin, or flash the firmware that takes models over serial (`edgesnn flash --board "
                           f"{board.id}`)")
    return DeviceError(f"{where}: {e}")


def run_on_board(board: Board, qgraph, inputs: np.ndarray, *, port: str | None = None, builtin: bool = False,
                 dsp: bool = True, cache_dir: str | Path | None = None, timeout: float = 5.0,
                 via=None, schedule="time", stage=None, boot_timeout: float | None = None,
                 trace: str | Path | None = None) -> tuple[DeviceResult, F.Firmware | None]:
    """Build (cached) and check the firmware, boot QEMU (or open `port`), load, run, shut down. timeout: per
    request; boot_timeout: QEMU's boot, to the firmware's ready line (qemu.DEFAULT_BOOT_TIMEOUT for None).
    trace: a file QEMU logs every executed instruction's pc to (QemuTarget(trace=); estimated cycles,
    edgesnn.firmware.cycles, read it); emulated boards only, a DeviceError with `port`.
    `schedule`
    ("time", "layer", "fused", group sizes or group-ending node names; edgesnn.lower) runs over the
    inputs' T steps; the model carries it, compiled in or in its blob, and the weights of `stage` (weighted
    node names, or "all") are copied into the arena once per input."""
    steps = int(np.shape(inputs)[1])
    if trace is not None and (port is not None or not board.is_emulated):
        raise DeviceError(f"board {board.id}: an instruction trace needs QEMU; a real board "
                          f"({port or 'no port'}) executes what no one logs")
    if port is not None:
        # the board may run any edgesnn firmware with the runtime; where edgesnn can build it, build it
        # (cached) so that a model that cannot fit is refused with the numbers. Without the cross compiler
        # here the board's own checks stand (its LOAD_MODEL refuses a blob larger than its arena)
        fw = None
        if board.firmware.get("port"):
            try:
                fw = build_runtime_firmware(board, qgraph, builtin=builtin, dsp=dsp, cache_dir=cache_dir,
                                            schedule=schedule, steps=steps, stage=stage)
            except F.ToolchainMissing:
                fw = None
        with open_board(board, port, timeout=timeout) as link:
            try:
                res = DeviceModel(link, qgraph, board, builtin=builtin, schedule=schedule, steps=steps,
                                  stage=stage).run(inputs)
                link.request(P.T_RESET, b"\0")
            except P.RemoteError as e:
                raise _on_board(e, board, port, builtin) from None
            except DeviceError as e:
                raise DeviceError(f"board {board.id} on {port}: {e}") from None
        return res, fw
    fw = build_runtime_firmware(board, qgraph, builtin=builtin, dsp=dsp, cache_dir=cache_dir, schedule=schedule,
                                steps=steps, stage=stage)
    q = QemuTarget(board, fw.elf, timeout=timeout, via=via, boot_timeout=boot_timeout, trace=trace)
    q.start()
    try:
        res = DeviceModel(q.link, qgraph, board, builtin=builtin, schedule=schedule, steps=steps,
                          stage=stage).run(inputs)
    except BaseException:
        q.kill()
        raise
    code = q.close()
    if code != 0:
        raise DeviceError(f"firmware exited with code {code}, expected 0")
    return res, fw


def counters_table(res: DeviceResult, n_inputs: int | None = None) -> str:
    """Per-layer means per input: synops, spikes, neuron updates and instructions (or cycles)."""
    n = len(res.steps) if n_inputs is None else n_inputs
    rows = []
    for name, d in res.counts.items():
        syn = d["synops"].sum() / n
        c = d[res.unit].sum() / n
        rows.append([name, f"{d['spikes_in'].sum() / n:,.1f}", f"{syn:,.0f}", f"{d['neuron_updates'].sum() / n:,.0f}",
                     f"{d['spikes_out'].sum() / n:,.1f}", f"{c:,.0f}", f"{c / syn:.2f}" if syn else "-"])
    u = res.unit
    return tabulate(rows, headers=["layer", "spikes in", "synops", "neuron upd", "spikes out", u,
                                   f"{u[:5]}/synop"], tablefmt="simple", disable_numparse=True)
