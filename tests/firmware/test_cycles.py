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


def _m0_s8_loop(code: C.Code) -> list[C.Insn]:
    """The int8 row accumulate of esn_row_mac on the Cortex-M0 (the reference path: one synapse per pass):
    a 9-instruction loop from a CMP to an unconditional B back to it, with one LDRSB, one LDR and one STMIA."""
    body = sorted((i for i in code.insns.values() if i.function == "esn_row_mac"), key=lambda i: i.addr)
    for j, ins in enumerate(body):
        if ins.mnemonic.split(".")[0] == "b":
            target = int(ins.operands.split()[0], 16)
            loop = [i for i in body[:j + 1] if i.addr >= target]
            names = [i.mnemonic.split(".")[0] for i in loop]
            if len(loop) == 9 and names[0] == "cmp" and names.count("ldrsb") == 1 and "stmia" in names:
                return loop
    raise AssertionError("no int8 row loop in esn_row_mac (the compiled code changed: recount it by hand)")


@pytest.mark.needs_arm_gcc
def test_reference_row_loop_matches_its_hand_count_on_cortex_m0(boards, fw_cache):
    # Hand count from the Cortex-M0 TRM (DDI 0432C) Table 3-1, one pass = 1 synapse, 9 instructions:
    #   cmp r3, r7              1
    #   beq.n (not taken)       1
    #   movs r0, #0             1
    #   ldr r2, [r4, #0]        2   (no load pipelining on the M0)
    #   ldrsb r0, [r3, r0]      2
    #   adds r3, #1             1
    #   adds r2, r2, r0         1
    #   stmia r4!, {r2}         2   (1 + N, N = 1)
    #   b.n (back to cmp)       3   (B: 1 + P, P = 2)
    #   = 14 cycles per synapse (9 instructions); the last pass leaves at the BEQ (taken: 3): cmp + beq = 4.
    board = boards["qemu-microbit"]
    fw = build_runtime_firmware(board, bench_mcu.dense_qgraph(16, fan_in=8), builtin=True, dsp=board.dsp,
                                cache_dir=fw_cache)
    code = C.disassemble(fw.elf)
    loop = _m0_s8_loop(code)
    assert C.timing(board.core).core == "cortex-m0"
    beq = loop[1]
    exit_to = int(beq.operands.split()[0], 16)
    pcs = np.array([i.addr for i in loop] * 3 + [loop[0].addr, beq.addr, exit_to], np.int64)
    est = C.estimate(code, pcs, board.core)
    assert [est.span(k * 9, (k + 1) * 9)[1] for k in range(3)] == [14, 14, 14]
    assert est.span(27, 29)[1] == 4


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


def test_read_blocks_takes_back_stopped_blocks_and_cuts_rewound_ones(tmp_path):
    """A block left before its first instruction is taken back; one an I/O access rewound ran up to the
    rewound pc (which re-runs as the next, one-instruction block); any chunk size reads the same."""
    lines = ["Trace 0: 0x7f0000000100 [00800408/000007d8/00000110/ff020200] f\n",
             "cpu_io_recompile: rewound execution of TB to 000007de\n",
             "Trace 0: 0x7f0000000480 [00800408/000007de/00000110/ff038201] f\n",
             "Trace 0: 0x7f0000000600 [00800408/000007e2/00000110/ff020200] f\n",
             "Stopped execution of TB chain before 0x7f0000000600 [000007e2] f\n",
             "Trace 0: 0x7f0000000600 [00800408/000007e2/00000110/ff020202] f\n",
             "Trace 0: 0x7f0000000700 [00800408/00000800/00000110/ff020200] f\n",
             "cpu_io_recompile: rewound execution of TB to 00000800\n"]
    path = tmp_path / "blocks.log"
    path.write_text("".join(lines))
    for chunk in (1, 13, 1 << 20):
        b = C.read_blocks(path, chunk_bytes=chunk)
        assert b.start.tolist() == [0x7d8, 0x7de, 0x7e2], chunk
        assert b.limit.tolist() == [0, 1, 2] and b.cut.tolist() == [0x7de, -1, -1]


def _traced(board, q, x, trace):
    from edgesnn.device.runner import run_on_board   # noqa: PLC0415 (tests only)
    res, fw = run_on_board(board, q, x, builtin=True, trace=trace)
    return res, fw


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id,model", [("qemu-mps2-an386", "digits_mlp"), ("qemu-mps2-an386", "digits_cnn"),
                                            ("qemu-microbit", None)])
def test_block_log_gives_the_per_instruction_traces_estimate(boards, tmp_path, board_id, model):
    """The same firmware and inputs run three times under QEMU: per-instruction trace (-singlestep), block log,
    block log filtered to the runtime's code. Every node's instructions and estimated cycles, and every
    input's whole run, are the same in all three, and the block log is a fraction of the trace's size; the
    block estimate also equals the per-instruction estimate of the stream it expands to."""
    from edgesnn.device.qemu import BlockTrace            # noqa: PLC0415
    from edgesnn.runtime.engines import load_model, to_qgraph  # noqa: PLC0415
    from tests.helpers.paths import MODELS                # noqa: PLC0415
    board = boards[board_id]
    if model is None:
        q = bench_mcu.dense_qgraph(24, fan_in=16)
        x = (np.random.default_rng(5).random((2, 3, 16)) < 0.4).astype(np.uint8)
    else:
        q = to_qgraph(load_model(str(MODELS / f"{model}.json")))
        shape = tuple(q.graph.input.shape)
        x = (np.random.default_rng(5).random((2, 3, *shape)) < 0.3).astype(np.uint8)
    nodes = list(q.graph.schedule().order)
    single = tmp_path / "single.log"
    res, fw = _traced(board, q, x, single)
    a = C.estimate_run(fw.elf, single, board.core, nodes, inputs=2)
    code = C.disassemble(fw.elf)
    sizes = {"single": single.stat().st_size}
    for name, trace in (("blocks", BlockTrace(tmp_path / "blocks.log")),
                        ("filtered", BlockTrace(tmp_path / "filtered.log", C.runtime_ranges(code)))):
        _traced(board, q, x, trace)
        sizes[name] = trace.stat().st_size
        b = C.estimate_run(fw.elf, trace.path, board.core, nodes, inputs=2, filtered=name == "filtered")
        assert np.array_equal(a.cycles, b.cycles) and np.array_equal(a.instructions, b.instructions), name
        assert np.array_equal(a.run_cycles, b.run_cycles), name
        assert np.array_equal(a.run_instructions, b.run_instructions), name
        if name == "blocks":
            blocks = C.read_blocks(trace.path)
            assert C.estimate(code, C.expand(code, blocks), board.core).total_cycles == \
                C.estimate_blocks(code, blocks, board.core).total_cycles
    assert (a.run_cycles > a.run_instructions).all()
    print(f"{board_id} {model}: log bytes {sizes}")
    # the serial spin between requests varies with host timing: the filtered log is not always the smaller
    assert sizes["blocks"] < sizes["single"] / 2 and sizes["filtered"] < sizes["single"] / 2
