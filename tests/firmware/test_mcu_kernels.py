"""The Cortex-M DSP kernel (runtime_c/src/kernels/esn_synaptic_dsp.c) against the host's C runtime, on
QEMU: odd fan-outs (rows that start at every byte alignment), spike counts above 1 (the scalar
path beside it), and the cores with the DSP extension (M4, M7, M33) as well as the M0's reference.
Also: the DSP kernel costs fewer instructions per synop than the reference at fan-out >= 64, within
the 3-instruction target, and the runtime's execution path fits 12 KiB of flash on Cortex-M4 (all kinds'
kernels with their specialised fast loops: a TFLM interpreter with its reference kernels is larger).

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgesnn.device.runner import run_on_board
from edgesnn.runtime.binding import run_c
from tests.helpers.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_mcu  # noqa: E402


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id, builtin", [("qemu-mps2-an386", False), ("qemu-mps2-an500", False),
                                               ("qemu-mps2-an505", False), ("qemu-microbit", True)])
def test_dsp_kernel_is_bit_exact_with_the_reference(boards, fw_cache, board_id, builtin):
    board = boards[board_id]
    q = bench_mcu.dense_qgraph(67, fan_in=24, seed=5)
    rng = np.random.default_rng(2)
    x = (rng.random((2, 6, 24)) < 0.4).astype(np.uint8) * rng.integers(1, 4, (2, 6, 24)).astype(np.uint8)
    res, fw = run_on_board(board, q, x, builtin=builtin, cache_dir=fw_cache)
    ref = run_c(q, x)
    assert np.array_equal(res.outputs, ref.outputs)
    assert np.array_equal(res.counts["fc"]["synops"], ref.counts["fc"]["synops"].sum(1))


@pytest.mark.needs_qemu
def test_dsp_kernel_meets_its_instruction_target(boards, fw_cache):
    board = boards["qemu-mps2-an386"]
    rates = (0.05, 0.5)
    ref = bench_mcu.measure(board, 256, rates, dsp=False, steps=4, cache_dir=fw_cache)
    dsp = bench_mcu.measure(board, 256, rates, dsp=True, steps=4, cache_dir=fw_cache)
    slope = [(r[1]["instructions"] - r[0]["instructions"]) / (r[1]["synops"] - r[0]["synops"]) for r in (ref, dsp)]
    print("marginal instructions per synop, fan-out 256: ref %.2f, dsp %.2f" % tuple(slope))
    assert slope[1] <= 3.0 and slope[1] < slope[0] / 2
    assert dsp[1]["instructions"] / dsp[1]["synops"] <= 3.0   # the whole layer too, at a 50% rate


@pytest.mark.needs_arm_gcc
def test_runtime_execution_path_fits_12_kib_on_cortex_m4():
    sizes = bench_mcu.code_sizes({"cortex-m4": bench_mcu.CORES["cortex-m4"]})["cortex-m4"]
    assert sizes["execution (runtime, kernels, fixed point)"] <= 12 * 1024, sizes
