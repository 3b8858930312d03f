"""Grouped schedules in the firmware under QEMU: the example MLP layer-major and fused, compiled in and
sent as a blob, gives run_c's outputs and counters, and the ELF's arena is the Python layout's number.

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edgesnn.board import DEFAULT_BOARD, get_board
from edgesnn.device import protocol as P
from edgesnn.device.qemu import QemuTarget
from edgesnn.device.runner import DeviceModel, run_on_board
from edgesnn.firmware.runtime import build_runtime_firmware, model_ram_bytes
from edgesnn.lower import arena_size, arena_size_schedule
from tests.helpers.device import example_qgraph, same_as_host, spike_inputs

pytestmark = pytest.mark.needs_qemu


@pytest.mark.parametrize("schedule", ["layer", "fused", ["input", "lif1"]], ids=["layer", "fused", "two-groups"])
def test_mlp_schedule_compiled_in(fw_cache, schedule):
    b, q = get_board(DEFAULT_BOARD), example_qgraph("digits_mlp")
    x = spike_inputs(q, n=3, t=10, rate=0.3)
    res, fw = run_on_board(b, q, x, builtin=True, cache_dir=fw_cache, schedule=schedule)
    same_as_host(res, q, x, schedule)
    need = arena_size_schedule(q, schedule, 10)
    assert fw.sizes.arena == need == model_ram_bytes(q, True, schedule, 10)[1]
    assert need != arena_size(q)


def test_mlp_fused_blob_and_protocol(fw_cache):
    b, q = get_board(DEFAULT_BOARD), example_qgraph("digits_mlp")
    x = spike_inputs(q, n=2, t=6, rate=0.3)
    res, _ = run_on_board(b, q, x, cache_dir=fw_cache, schedule="fused")  # the blob carries the schedule
    same_as_host(res, q, x, "fused")
    fw = build_runtime_firmware(b, q, cache_dir=fw_cache)
    with QemuTarget(b, fw.elf) as t:
        dm = DeviceModel(t.link, q, b, schedule="fused", steps=6)
        assert dm.sched_steps == 6 and dm.arena_need == arena_size_schedule(q, "fused", 6)
        with pytest.raises(P.RemoteError, match="BAD_REQUEST.*no outputs in RUN"):
            t.link.request(P.T_RUN, struct.pack("<BH", 1, 1) + x[0, 0].tobytes())
        with pytest.raises(P.RemoteError, match="BAD_REQUEST.*more steps than the schedule"):
            t.link.request(P.T_RUN, struct.pack("<BH", 3, 7) + x[0, :6].tobytes() + x[0, :1].tobytes())
        with pytest.raises(P.RemoteError, match="BAD_REQUEST.*per-step counters"):
            t.link.request(P.T_READ_COUNTERS, struct.pack("<HB", 0, 0))
        with pytest.raises(P.RemoteError, match="BAD_REQUEST.*below its T"):
            t.link.request(P.T_READ_COUNTERS, struct.pack("<HBH", 0, 3, 6))
        again = dm.run(x)
        assert np.array_equal(again.outputs, res.outputs)


def test_mlp_staged_weights_compiled_in(fw_cache):
    """Layer-major with fc1's weights staged: the same results, and the ELF's arena holds the copy."""
    b, q = get_board(DEFAULT_BOARD), example_qgraph("digits_mlp")
    x = spike_inputs(q, n=2, t=8, rate=0.3)
    res, fw = run_on_board(b, q, x, builtin=True, cache_dir=fw_cache, schedule="layer", stage=["fc1"])
    same_as_host(res, q, x, "layer")
    assert fw.sizes.arena == arena_size_schedule(q, "layer", 8, stage=["fc1"]) > arena_size_schedule(q, "layer", 8)
