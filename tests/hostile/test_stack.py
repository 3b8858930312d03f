"""Stack overflow (issue #16, item 5): a board file with a stack below the measured minimum is refused by
validation with one line saying why; a firmware whose stack is too small anyway (built past validation, as a
hand-made image would be) faults and is reported by the firmware's fault reporter on every emulated board,
never answering with a wrong output.

How each core catches it (runtime_c/ports/cortex_m/esn_startup.c): MSPLIM on the M33 (UsageFault STKOF), an
MPU guard region below the stack on the M4/M7 (MemManage: MPS2's QEMU machines read zeros and ignore writes
below their SRAM, which used to give wrong answers), unmapped memory below the micro:bit's SRAM on the M0
(HardFault). The minimum (edgesnn/board.py STACK_MIN_BYTES) comes from the high-water mark the firmware
prints at exit (`ESN-STACK stack_used=...`), measured here too.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess

import pytest

from edgesnn.board import STACK_MIN_BYTES, STACK_MIN_SMALL_BYTES, Board
from edgesnn.device import protocol as P
from edgesnn.device.qemu import QemuTarget
from edgesnn.device.runner import DeviceModel
from edgesnn.errors import BoardError
from edgesnn.firmware import build as F
from edgesnn.firmware.runtime import RUNTIME_INC, RUNTIME_SRC, build_runtime_firmware, runtime_cflags, runtime_sources
from tests.helpers.boards import EMULATED, board_variant
from tests.helpers.device import example_qgraph, same_as_host, spike_inputs

GUARD_BYTES = 4096  # ESN_STACK_GUARD_BYTES (runtime_c/ports/cortex_m/esn_cortex_m.h)


def _small(b: Board) -> bool:
    return sum(r.size_bytes for r in b.regions.values() if r.kind == "sram") < 64 * 1024


def _least(b: Board) -> int:
    return STACK_MIN_SMALL_BYTES if _small(b) else STACK_MIN_BYTES


def _with_stack(b: Board, stack_bytes: int) -> Board:
    """The board with another stack, past validation (what a hand-written linker script would give)."""
    return dataclasses.replace(b, raw={**b.raw, "firmware": {**b.firmware, "stack_bytes": stack_bytes}})


def _expect_overflow(b: Board, fault: P.FirmwareFault) -> None:
    """The fault a stack overflow raises on b's core, reported by the firmware (not a lockup)."""
    assert type(fault) is P.FirmwareFault, f"{fault!r}: the fault reporter must run, not the core lock up"
    bottom = b.regions[b.data_region].origin
    if b.core == "cortex-m33":
        # MSPLIM refuses the push or SP update that would cross it: SP stays at or above the stack's bottom
        assert fault.exception == "UsageFault" and "STKOF" in fault.cause
        assert bottom <= fault.sp < bottom + b.firmware["stack_bytes"]
    elif b.core in ("cortex-m4", "cortex-m7"):
        assert fault.exception == "MemManage" and {"DACCVIOL", "MSTKERR"} & set(fault.cause), fault
        assert bottom - GUARD_BYTES <= fault.mmfar < bottom, f"{fault.mmfar:#x} is not in the guard below {bottom:#x}"
    else:  # ARMv6-M: every fault is a HardFault; the stacked frame is below the SRAM, so not read
        assert fault.exception == "HardFault" and fault.sp < bottom
    assert fault.exit_code == 64 + fault.exc


def test_every_boards_stack_sits_where_an_overflow_faults(boards):
    """The stack starts its data region; below it, the MPU guard (ARMv7-M, ARMv6-M with an MPU) must cover
    ESN_STACK_GUARD_BYTES, which needs that alignment, and must not cover a region the firmware uses."""
    for b in boards.values():
        if not b.firmware:
            continue
        bottom = b.regions[b.data_region].origin
        assert bottom % GUARD_BYTES == 0 and bottom >= GUARD_BYTES, b.id
        assert not [r.name for r in b.regions.values() if r.origin < bottom and r.end > bottom - GUARD_BYTES], b.id


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("board_id", ["qemu-mps2-an386", "rpi-pico"])
def test_no_frame_of_the_firmware_can_jump_over_the_guard(boards, tmp_path, board_id):
    """Every stack frame of the runtime firmware (ESN_MAX_NODES 64; M4 and M0+ code) is smaller than the
    guard, so an overflow's first write below the stack lands in it (gcc -fstack-usage, per function)."""
    b = boards[board_id]
    srcs, includes = F.port_sources(b, runtime_sources())
    cmd = ([F.find_tool("arm-none-eabi-gcc")] + list(b.cflags) + F.COMMON_CFLAGS + runtime_cflags(b)
           + [f"-D{k}={v}" for k, v in F.firmware_defines(b).items()]
           + [f"-I{d}" for d in list(includes) + [RUNTIME_INC, RUNTIME_SRC]] + ["-fstack-usage"])
    assert len(srcs) > 10
    frames = {}
    for i, src in enumerate(srcs):
        out = tmp_path / f"{i}.o"
        subprocess.run(cmd + ["-c", str(src), "-o", str(out)], check=True, capture_output=True)
        for line in out.with_suffix(".su").read_text().splitlines():
            where, size, _ = line.rsplit("\t", 2)
            frames[where.rsplit(":", 1)[-1]] = int(size)
    worst = max(frames, key=frames.get)
    assert frames[worst] + 64 < GUARD_BYTES, f"{worst}: {frames[worst]} B frame; raise ESN_STACK_GUARD_BYTES"


@pytest.mark.parametrize("board_id", EMULATED)
def test_a_board_file_with_a_stack_below_the_minimum_is_refused(tmp_path, boards, board_id):
    b = boards[board_id]
    least = _least(b)
    assert b.firmware["stack_bytes"] >= least
    tiny = least - 8
    with pytest.raises(BoardError) as ei:
        board_variant(tmp_path, f"{board_id}-tiny-stack", board_id, stack_bytes=tiny)
    used, where = (("1,132 B", " on a board under 64 KiB of SRAM (ESN_MAX_NODES 16)") if _small(b) else
                   ("2,388 B", ""))
    assert str(ei.value).endswith(
        f"{board_id}-tiny-stack.toml: 1 problem:\n  - firmware.stack_bytes: {tiny:,} B is below the minimum "
        f"{least:,} B: the firmware was measured to use up to {used} of stack{where} (a grouped schedule's "
        f"set-up), and a smaller stack overflows")
    ok = board_variant(tmp_path, f"{board_id}-least-stack", board_id, stack_bytes=least)
    assert ok.firmware["stack_bytes"] == least


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id", EMULATED)
def test_selftest_stack_overflow_is_reported_by_the_firmware(boards, fw_cache, board_id):
    """ESN_FW_SELFTEST_FAULT 4: pushes until the stack runs out, on the second ECHO."""
    b = boards[board_id]
    fw = F.build(b, cache_dir=fw_cache, selftest_fault=4)
    q = QemuTarget(b, fw.elf, timeout=10.0)
    q.start()
    try:
        assert q.link.echo(b"first") == b"first"
        with pytest.raises(P.FirmwareFault) as ei:
            q.link.echo(b"second")
        _expect_overflow(b, ei.value)
        assert q.wait_exit(10) == ei.value.exit_code
        line = next(t for t in q.link.texts if t.startswith("ESN-FAULT"))
        assert re.search(rf" stack_used=\d+ stack_bytes={b.firmware['stack_bytes']}$", line), line
    finally:
        q.kill()


def _run(b: Board, q, x, fw_cache, schedule: str) -> tuple:
    """Runs x on b's runtime firmware (compiled in: fits every board); returns the result and the
    firmware's stack high-water mark from its ESN-STACK line at exit."""
    fw = build_runtime_firmware(b, q, builtin=True, cache_dir=fw_cache, schedule=schedule, steps=x.shape[1])
    t = QemuTarget(b, fw.elf, timeout=20.0)
    t.start()
    try:
        res = DeviceModel(t.link, q, b, builtin=True, schedule=schedule, steps=x.shape[1]).run(x)
        t.link.request(P.T_EXIT, (0).to_bytes(4, "little"))
        line = t.link.wait_text("ESN-STACK", 5.0)
        assert t.wait_exit(10) == 0
    finally:
        t.kill()
    return res, int(re.search(r"stack_used=(\d+)", line).group(1))


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id", EMULATED)
def test_a_model_on_a_stack_too_small_faults_never_answers_wrong(boards, fw_cache, board_id):
    """digits_mlp with a grouped schedule (the runtime's deepest path): on the board's own stack it runs
    bit-exact and its measured stack use is within the validated minimum; on a stack of half that use
    (a firmware built past validation) the run ends in a fault report, with no output."""
    b = boards[board_id]
    q = example_qgraph("digits_mlp")
    x = spike_inputs(q, n=2, t=4, seed=1, rate=0.3)
    res, used = _run(b, q, x, fw_cache, "fused")
    same_as_host(res, q, x, schedule="fused")
    assert 0 < used <= _least(b) - 256, f"{used} B of stack used: the minimum in edgesnn/board.py needs raising"

    small = _with_stack(b, (used // 2) & ~7)
    with pytest.raises(P.FirmwareFault) as ei:
        _run(small, q, x, fw_cache, "fused")
    _expect_overflow(small, ei.value)
