"""The firmware that carries the C runtime, built for one board and one model.

    fw = build_runtime_firmware(board, qgraph)     # sized for this model; FirmwareTooLarge if it does not fit
    blob, arena = model_ram_bytes(qgraph)          # what the model takes in the device's RAM

The C runtime (runtime_c/src) sits behind the firmware's extension point
(runtime_c/ports/firmware/esn_fw_ext_runtime.c). The model travels either as a blob over the link
(LOAD_MODEL chunks into the firmware's arena, which is sized exactly blob + the runtime's arena) or
compiled into the image (`builtin=True`: edgesnn.emit.csource, weights in flash, the arena only the
runtime's). Either way the ELF's measured sizes are checked against the board's limits before
anything runs, and a model that does not fit is refused with the numbers (FirmwareTooLarge).

Input staging (protocol v2): a step's input larger than a RUN frame's payload (RUN_REQ_HEADER + input
bytes > the board's max_payload_bytes, which the build passes as ESN_FW_MAX_PAYLOAD) is staged by
RUN_INPUT into the firmware arena left after the blob and the runtime's arena (esn_fw_ext_runtime.c).
Such a model's firmware arena holds one step's input more (`input_staging_bytes`), counted in the fit
check; a grouped schedule stages into its own input buffer, inside the runtime's arena.
"""

from __future__ import annotations

from pathlib import Path

from ..board import Board
from ..emit.blob import blob_from_lowered
from ..emit.csource import c_sources
from ..errors import DeviceError
from ..lower import align8, lower
from ..quantize.qgraph import input_dtype
from ..resources import RUNTIME_C
from . import build as F

RUNTIME_SRC = RUNTIME_C / "src"
RUNTIME_INC = RUNTIME_C / "include"
EXT_SOURCE = F.FW_DIR / "esn_fw_ext_runtime.c"
SMALL_SRAM_BYTES = 64 * 1024  # below this the blob loader's tables shrink (ESN_MAX_NODES/EDGES)
# RUN request: u8 flags, u16 steps, then the steps' inputs (esn_fw_ext_runtime.c reads them at r->in + 3;
# tests/device/test_device_large_input.py checks the two agree). edgesnn.device.runner uses this one.
RUN_REQ_HEADER = 3


def runtime_sources() -> list[Path]:
    return sorted(RUNTIME_SRC.glob("*.c")) + sorted((RUNTIME_SRC / "kernels").glob("*.c")) + [
        F.CORTEX_M_DIR / "esn_port.c", EXT_SOURCE]


def runtime_cflags(board: Board, *, dsp: bool = True) -> list[str]:
    flags = []
    sram = sum(r.size_bytes for r in board.regions.values() if r.kind == "sram")
    if sram < SMALL_SRAM_BYTES:
        flags += ["-DESN_MAX_NODES=16", "-DESN_MAX_EDGES=24"]
    if not dsp:
        flags.append("-DESN_NO_DSP_KERNELS=1")
    return flags


def model_ram_bytes(qgraph, builtin: bool = False, schedule="time", steps: int | None = None,
                    stage=None) -> tuple[int, int]:
    """(blob bytes kept in RAM, 0 when compiled in; runtime arena bytes) a model needs on the device, in
    `schedule` over `steps` steps (edgesnn.lower; "time": esn_step's)."""
    low = lower(qgraph, schedule, steps, stage)
    return (0 if builtin else align8(len(blob_from_lowered(low)))), low.arena_bytes


def input_staging_bytes(board: Board, low) -> int:
    """Firmware arena bytes a lowered model needs for RUN_INPUT's staging area beyond its blob and runtime
    arena: one step's input (8-byte aligned) where a step's input does not fit a RUN frame on `board`
    (RUN_REQ_HEADER + input bytes > its max_payload_bytes), else 0; 0 for a grouped schedule (its own
    [T][input] buffer, inside the runtime's arena, is the staging area). int16 analog input is always staged (RUN's
    payload would leave it unaligned)."""
    value_bytes = input_dtype(low.qgraph.config.input_bits).itemsize
    size = low.input_size * value_bytes   # bytes of one step's input
    if low.steps or (RUN_REQ_HEADER + size <= board.firmware["max_payload_bytes"] and value_bytes == 1):
        return 0
    return align8(size)


def with_arena(board: Board, sizes: F.FirmwareSizes, arena: int) -> F.FirmwareSizes:
    """`sizes` with another arena, charged to the board's regions as firmware.measure charges them."""
    regions = {name: 0 for name in board.regions}
    regions[board.code_region] += sizes.text + sizes.data
    regions[board.data_region] += sizes.stack + sizes.data + sizes.bss
    regions[board.arena_region] += arena
    return F.FirmwareSizes(sizes.text, sizes.data, sizes.bss, sizes.stack, arena,
                           {k: v for k, v in regions.items() if v})


def build_runtime_firmware(board: Board, qgraph=None, *, builtin: bool = False, arena_bytes: int | None = None,
                           dsp: bool = True, cache_dir: str | Path | None = None, schedule="time",
                           steps: int | None = None, stage=None) -> F.Firmware:
    """The firmware with the runtime for `board`, checked against the board's limits with `qgraph`'s needs.

    A blob sent over serial needs blob + runtime arena bytes of RAM: the firmware's text, data, bss and
    stack are measured from a build with an empty arena, the model's need is added, and the sum is
    checked against the board (FirmwareTooLarge with the numbers); the firmware that runs gets every
    byte its arena region has left, so one build per board serves every model that fits. A model
    compiled in (builtin) is built into its firmware with an arena of exactly esn_arena_size(), or with
    a grouped `schedule` over `steps` steps esn_arena_size_sched() (the model carries the schedule).
    Either way a model whose step input is larger than a RUN frame needs input_staging_bytes() more, in
    the check and (builtin) in the arena. An explicit arena_bytes builds exactly that arena, unchecked.
    """
    low = lower(qgraph, schedule, steps, stage) if qgraph is not None else None
    generated: dict[str, bytes] = {}
    includes = [RUNTIME_INC, RUNTIME_SRC]
    cflags = runtime_cflags(board, dsp=dsp)

    def _build(arena: int) -> F.Firmware:
        return F.build(board, cache_dir=cache_dir, arena_bytes=max(8, align8(arena)),
                       ext_sources=runtime_sources(), extra_includes=includes, extra_cflags=cflags,
                       generated=generated)

    staging = input_staging_bytes(board, low) if low is not None else 0

    def _refuse(e: F.FirmwareTooLarge, what: str) -> F.FirmwareTooLarge:
        lever = "" if builtin else "; --builtin compiles it into flash and leaves only the runtime arena in RAM"
        stage = (f" + input staging {staging:,} B (one step's input, {low.input_size:,} values, is larger than a "
                 f"{board.firmware['max_payload_bytes']:,} B frame or int16: RUN_INPUT stages it in the arena)"
                 if staging else "")
        return F.FirmwareTooLarge(f"{e}. The model: {what}, runtime arena {low.arena_bytes:,} B{stage}{lever}",
                                  regions=e.regions)

    if builtin:
        if qgraph is None:
            raise DeviceError("a compiled-in model needs the model")
        # model.c/.h go to the build as bytes: part of the firmware's key, written into its private build
        # folder and kept, verified, in the cache entry (firmware.build); nothing is read back from a shared
        # temporary folder
        generated.update(c_sources(qgraph, "snn", schedule, steps, stage))
        cflags.append("-DESN_FW_BUILTIN_MODEL=1")
        try:
            return _build(arena_bytes if arena_bytes is not None else low.arena_bytes + staging)
        except F.FirmwareTooLarge as e:
            raise _refuse(e, "compiled-in model (weights in flash)") from None
    if arena_bytes is not None:
        return _build(arena_bytes)
    probe = _build(8)
    if qgraph is not None:
        blob = len(blob_from_lowered(low))
        need = align8(blob) + low.arena_bytes + staging
        try:
            F.check_fits(board, with_arena(board, probe.sizes, need))
        except F.FirmwareTooLarge as e:
            raise _refuse(e, f"model blob {blob:,} B sent to RAM") from None
    region = board.regions[board.arena_region].size_bytes
    used = probe.sizes.regions.get(board.arena_region, 0) - probe.sizes.arena
    return _build((region - used) & ~7)
