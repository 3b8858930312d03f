"""The neuron layers' fast paths (runtime_c/src/kernels/esn_neuron.c) on an emulated Cortex-M4: they are taken
(instructions per update far below the generic loop's, which costs 128-318 a neuron for these kinds), LIF and
ALIF at 16-bit state meet their targets of 30 and 50 instructions per update (ALIF with a time constant per
neuron; 8-bit state: ALIF within 50 as well), and the device's outputs equal the host's
(bench_mcu.measure checks every run). bench/bench_mcu.py --neurons prints the whole table.

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both).
"""

from __future__ import annotations

import sys

import pytest

from tests.helpers.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_mcu  # noqa: E402

# Instructions per update on qemu-mps2-an386 over the whole neuron layer (the runtime's per-layer dispatch and
# counters, ~8-10 a neuron at 64 neurons, included). The generic loop: LI 129-135, IF/LIF 135, ALIF 312-318.
FAST_BELOW = {"LI": 40, "IF": 40, "LIF": 40, "ALIF": 75}


@pytest.mark.needs_qemu
@pytest.mark.parametrize("state_bits", [8, 16])
def test_neuron_fast_paths_are_taken_on_cortex_m4(boards, fw_cache, state_bits):
    board = boards["qemu-mps2-an386"]
    rows = bench_mcu.neuron_rows(board, kinds=tuple(FAST_BELOW), state_bits=(state_bits,), steps=4,
                                 cache_dir=fw_cache)
    got = {r["kind"]: r["instructions"] for r in rows}
    print(f"instructions per neuron update at {state_bits}-bit state:", {k: round(v, 1) for k, v in got.items()})
    assert all(got[k] < limit for k, limit in FAST_BELOW.items()), got
    if state_bits == 16:
        assert got["LIF"] <= bench_mcu.NEURON_TARGETS[("LIF", 16)], got
    assert got["ALIF"] <= bench_mcu.NEURON_TARGETS[("ALIF", 16)], got


@pytest.mark.needs_qemu
def test_per_neuron_lif_takes_the_fast_path_on_cortex_m4(boards, fw_cache):
    """LIF with alpha and threshold per neuron at 16 bits (a trained model's multiple timescales, bench_mcu's
    LIF-pn): the fast loop (the generic loop costs ~180 instructions per update here), within its target of 40."""
    board = boards["qemu-mps2-an386"]
    (row,) = bench_mcu.neuron_rows(board, kinds=("LIF-pn",), state_bits=(16,), steps=4, cache_dir=fw_cache)
    print("per-neuron LIF16 instructions per update:", round(row["instructions"], 1))
    assert row["instructions"] <= bench_mcu.NEURON_TARGETS[("LIF-pn", 16)], row
