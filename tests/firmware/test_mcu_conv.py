"""The conv scatter of the Cortex-M4 DSP build (esn_conv's runs through runtime_c/src/kernels/esn_synaptic_dsp.c)
against the host's C runtime on QEMU: events of value x > 1 (the SXTB16 + SMLABB/SMLATB kernel), runs whose length
is not a whole number of weight words (C_out 5, 7: the row kernel's scalar tail), rows at every byte alignment
(weights compiled into flash as byte arrays, or in the 8-byte aligned RAM blob), and the instruction target of the
N-MNIST-sized CNN's conv layers.

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
import real_models  # noqa: E402


def _cnn(c1: int, c2: int, seed: int, weight_bits: int = 8, state_bits: int = 8):
    """Input(2x12x12 counts) -> conv(2 -> c1, 5x5) -> LIF -> SumPool 2 -> conv(c1 -> c2, 3x3) -> LIF -> Output:
    conv1 reads counts 1..255, conv2 pool sums 1..4, both with channel-last outputs."""
    from edgesnn.graph import ir
    from edgesnn.quantize import QuantConfig, quantize
    rng = np.random.default_rng(seed)
    g = real_models._chain([ir.Input(name="input", shape=(2, 12, 12)), real_models._conv("conv1", 2, c1, 5, rng),
                            real_models._lif("lif1", (c1, 8, 8)),
                            ir.SumPool2d(name="pool1", kernel_size=(2, 2), stride=(2, 2)),
                            real_models._conv("conv2", c1, c2, 3, rng), real_models._lif("lif2", (c2, 2, 2)),
                            ir.Output(name="output", shape=(c2, 2, 2))])
    return quantize(g, QuantConfig(weight_bits=weight_bits, state_bits=state_bits))


def _counts(steps: int, seed: int) -> np.ndarray:
    """Inputs at 30 %: two in three a spike, the rest counts 2..255 (x > 1 on conv1's runs)."""
    rng = np.random.default_rng(seed)
    on = rng.random((1, steps, 2, 12, 12)) < 0.3
    big = rng.random(on.shape) < 0.33
    return (on * np.where(big, rng.integers(2, 256, on.shape), 1)).astype(np.uint8)


@pytest.mark.needs_qemu
@pytest.mark.parametrize("c1, c2, builtin", [(5, 7, True), (12, 8, False), (7, 12, True), (12, 32, True)])
def test_conv_runs_are_bit_exact(boards, fw_cache, tmp_path, c1, c2, builtin):
    """Outputs and counters equal the host's C runtime (itself bit-exact with the reference), and the traced run
    took the x > 1 kernel and the whole-word spike kernel (plus the row kernel's tail where C_out is odd)."""
    from edgesnn.firmware import cycles as C
    board = boards["qemu-mps2-an386"]
    q = _cnn(c1, c2, seed=c1 + c2)
    x = _counts(6, seed=c1)
    res, fw = run_on_board(board, q, x, builtin=builtin, cache_dir=fw_cache, trace=tmp_path / "trace.log")
    ref = run_c(q, x)
    assert np.array_equal(res.outputs, ref.outputs)
    for name in ("conv1", "conv2"):
        for counter in ("synops", "spikes_in"):
            assert np.array_equal(res.counts[name][counter], ref.counts[name][counter].sum(1)), (name, counter)
    ran = C.estimate(C.disassemble(fw.elf), C.read_trace(tmp_path / "trace.log"), board.core).by_function()
    wanted = ["esn_mac_words_s8", "esn_add_words_s8_dsp"] + (["esn_add_row_s8_dsp"] if c1 % 4 or c2 % 4 else [])
    for fn in wanted:
        assert ran.get(fn, (0, 0))[0] > 0, fn


@pytest.mark.needs_qemu
@pytest.mark.parametrize("c1, c2, builtin", [(8, 16, True), (5, 7, False), (16, 8, False)])
def test_binary_conv_is_bit_exact(boards, fw_cache, tmp_path, c1, c2, builtin):
    """1-bit weights (+-m) through the conv scatter of the DSP build: runs of whole bytes (C_out a multiple of 8)
    take the binary row kernel for spikes (x * m <= 127) and the C loop for counts and pool sums; C_out 5, 7 go tap
    by tap through the C loop. Outputs and counters (param bytes included) equal the host's C runtime."""
    from edgesnn.firmware import cycles as C
    board = boards["qemu-mps2-an386"]
    q = _cnn(c1, c2, seed=c1 + c2, weight_bits=1, state_bits=16)
    x = _counts(6, seed=c1)
    res, fw = run_on_board(board, q, x, builtin=builtin, cache_dir=fw_cache, trace=tmp_path / "trace.log")
    ref = run_c(q, x)
    assert np.array_equal(res.outputs, ref.outputs)
    for name in ("conv1", "conv2"):
        for counter in ("synops", "spikes_in", "param_bytes_read"):
            assert np.array_equal(res.counts[name][counter], ref.counts[name][counter].sum(1)), (name, counter)
    ran = C.estimate(C.disassemble(fw.elf), C.read_trace(tmp_path / "trace.log"), board.core).by_function()
    assert (ran.get("esn_add_row_b1_dsp", (0, 0))[0] > 0) == (c1 % 8 == 0), ran.get("esn_add_row_b1_dsp")


@pytest.mark.needs_qemu
def test_conv_layers_meet_their_instruction_target(boards, fw_cache):
    """The N-MNIST-sized CNN's conv layers (bench_mcu.conv_layers: the layer's whole step, fill and scan included)
    at <= 3 instructions per synop on Cortex-M4: conv1 2.94, conv2 2.53 measured (were 4.37 and 3.74)."""
    rows = bench_mcu.conv_layers(boards["qemu-mps2-an386"], dsp=True, cache_dir=fw_cache)
    per = {r["layer"]: r["instructions"] / r["synops"] for r in rows}
    print("instructions per synop:", {k: round(v, 2) for k, v in per.items()})
    assert per["conv1"] <= 3.0 and per["conv2"] <= 3.0, per
