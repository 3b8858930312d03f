"""Estimated cycles (edgesnn/firmware/cycles.py): the timing table covers what the compiler emits for the
runtime on every emulated core, the DSP inner loop's estimate equals its hand count from the Cortex-M4
TRM, and a traced QEMU run agrees with QEMU's own instruction count and yields cycles beside it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgesnn.errors import EdgesnnError
from edgesnn.firmware import cycles as C
from edgesnn.firmware.runtime import build_runtime_firmware
from tests.helpers.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_mcu  # noqa: E402

EMULATED = ("qemu-microbit", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505")


def test_mnemonics_classify_through_their_suffixes():
    assert C.classify("ldr.w") == "load" and C.classify("ldrsb.w") == "load"
    assert C.classify("bls.n") == "b" and C.classify("bne") == "b"     # not BL: the condition comes off first
    assert C.classify("movs") == "alu" and C.classify("muls") == "mul" and C.classify("mls") == "mla"
    assert C.classify("ldrbne") == "load" and C.classify("vmov.f32") == "fp" and C.classify("stmdb") == "stm"
    with pytest.raises(EdgesnnError, match="'frobnicate'"):
        C.classify("frobnicate")
    with pytest.raises(EdgesnnError, match="sdiv|div"):
        C.timing("cortex-m0").cost("div")          # the M0 has no divide: an error, never a silent 1
    for core, t in C.TIMINGS.items():
        assert t.source and t.P >= 0, core


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("board_id", EMULATED)
def test_the_table_prices_every_runtime_instruction(boards, fw_cache, board_id):
    board = boards[board_id]
    fw = build_runtime_firmware(board, bench_mcu.dense_qgraph(16, fan_in=8), builtin=True, dsp=board.dsp,
                                cache_dir=fw_cache)
    code = C.disassemble(fw.elf)
    t = C.timing(board.core)
    seen = set()
    for ins in code.insns.values():
        if ins.function.startswith("esn_"):
            t.cost(ins.cls)      # raises, naming the mnemonic, where the table has no entry
            seen.add(ins.cls)
    assert {"alu", "load", "store", "b", "bl", "push", "pop"} <= seen


def _dsp_loop(code: C.Code) -> list[C.Insn]:
    """The 8-synapse loop of esn_add_words_s8_dsp: the backward branch whose body holds one LDM and two LDRs."""
    body = sorted((i for i in code.insns.values() if i.function == "esn_add_words_s8_dsp"), key=lambda i: i.addr)
    for j, ins in enumerate(body):
        if ins.cls == "b" and ins.mnemonic.startswith("bne"):
            target = int(ins.operands.split()[0], 16)
            loop = [i for i in body[:j + 1] if i.addr >= target]
            if sum(i.cls == "ldm" for i in loop) == 1 and sum(i.cls == "load" for i in loop) == 2:
                return loop
    raise AssertionError("no 8-synapse loop in esn_add_words_s8_dsp")


@pytest.mark.needs_arm_gcc
def test_dsp_inner_loop_matches_its_hand_count_on_cortex_m4(boards, fw_cache):
    # Hand count from the Cortex-M4 TRM (DDI 0439B) Table 3-1, one iteration = 8 synapses, 14 instructions:
    #   ldmia r0,{r4-r11}         9   (1 + N, N = 8)
    #   2 x [ ldr r3,[r1],#4      2   (after LDM or SXTAB: nothing to pipeline with)
    #         sxtab x 4           4 ]                      = 12
    #   stmia r0!,{r4-r11}        9   (1 + N)
    #   cmp r0, r2                1
    #   bne (taken)               3   (1 + P, P = 2)
    #   = 34 cycles per 8 synapses: 4.25 cycles and 1.75 instructions per synapse (the aligned-word figure: an LDR
    #   of a row word that straddles a word boundary costs a bus access more, TRM 3.3.2, not modelled here).
    board = boards["qemu-mps2-an386"]
    fw = build_runtime_firmware(board, bench_mcu.dense_qgraph(64), dsp=True, cache_dir=fw_cache)
    code = C.disassemble(fw.elf)
    loop = _dsp_loop(code)
    assert len(loop) == 14
    pcs = np.array([i.addr for i in loop] * 3 + [loop[0].addr], np.int64)   # three taken iterations
    est = C.estimate(code, pcs, "cortex-m4")
    per_iter = [est.span(k * 14, (k + 1) * 14)[1] for k in range(3)]
    assert per_iter == [34, 34, 34]
    # the last iteration falls through: its BNE is not taken, 2 cycles fewer
    pcs2 = np.array([i.addr for i in loop] + [loop[-1].addr + loop[-1].size], np.int64)
    assert C.estimate(code, pcs2, "cortex-m4").span(0, 14)[1] == 32


@pytest.mark.needs_qemu
def test_traced_run_agrees_with_qemus_instruction_count(boards, fw_cache):
    board = boards["qemu-mps2-an386"]
    rows = bench_mcu.measure(board, 64, (0.05, 0.5), dsp=True, steps=4, cache_dir=fw_cache, cycles=True)
    tick = 1e9 / board.firmware["tick_hz"]     # the firmware's per-layer instructions: a tick per layer and step
    for r in rows:
        assert abs(r["traced_instructions"] - r["instructions"]) <= 2 * 4 * tick, r
        assert r["instructions"] < r["cycles"] < 4 * r["instructions"], r
    slope = (rows[1]["cycles"] - rows[0]["cycles"]) / (rows[1]["synops"] - rows[0]["synops"])
    print(f"estimated cycles per synop, dense 64 -> 64 on cortex-m4, marginal: {slope:.2f}")
    assert 35 / 16 <= slope < 8   # no lower than the 4-row kernel's loop (test below), plus per-event costs


@pytest.mark.needs_arm_gcc
def test_multi_row_loop_matches_its_hand_count_on_cortex_m4(boards, fw_cache):
    # esn_rows_words_s8's loop for 4 rows, one iteration = 16 synapses, 24 instructions (Cortex-M4 TRM DDI 0439B
    # Table 3-1, sec. 3.3.2): LDM of 4 accumulators 5 (1 + N), 4 LDR 5 (2, then 1 each: neighbouring single
    # loads pipeline), 16 SXTAB 16, STMIA 5, CMP 1, BNE taken 3 (1 + P) = 35 cycles: 2.19 per synapse.
    board = boards["qemu-mps2-an386"]
    fw = build_runtime_firmware(board, bench_mcu.dense_qgraph(64), dsp=True, cache_dir=fw_cache)
    code = C.disassemble(fw.elf)
    body = sorted((i for i in code.insns.values() if i.function == "esn_rows_words_s8"), key=lambda i: i.addr)
    loops = []
    for j, ins in enumerate(body):
        if ins.cls == "b" and ins.mnemonic.startswith("bne"):
            target = int(ins.operands.split()[0], 16)
            loops.append([i for i in body[:j + 1] if i.addr >= target])
    loop = max(loops, key=len)
    assert len(loop) == 24 and sum(i.cls == "ext_add" for i in loop) == 16
    pcs = np.array([i.addr for i in loop] * 3 + [loop[0].addr], np.int64)
    est = C.estimate(code, pcs, "cortex-m4")
    assert [est.span(k * 24, (k + 1) * 24)[1] for k in range(3)] == [35, 35, 35]


def test_read_trace_in_chunks_reads_what_one_read_does(tmp_path):
    """The log is read in chunks of whole lines (a large trace is hundreds of MB): any chunk size gives the
    same pcs, a rewound or stopped entry taken back across a chunk's edge included."""
    rng = np.random.default_rng(0)
    lines, want = [], []
    for k in range(3000):
        pc = int(rng.integers(0x100, 0x8000)) & ~1
        lines.append(f"Trace 0: 0x7f00{k:08x} [00000000/{pc:08x}/00000000/ff200000] esn_f\n")
        want.append(pc)
        r = rng.random()
        if r < 0.05:
            lines.append(f"cpu_io_recompile: rewound execution of TB to {pc:08x}\n")
            want.pop()
        elif r < 0.1:
            lines.append(f"Stopped execution of TB chain before 0x7f00{k:08x} [{pc:08x}] esn_f\n")
            want.pop()
        elif r < 0.15:
            lines.append("IN: some other log line\n")
    path = tmp_path / "trace.log"
    path.write_text("".join(lines))
    for chunk in (1, 7, 61, 4096, 1 << 20):
        assert C.read_trace(path, chunk_bytes=chunk).tolist() == want, chunk
