"""Analog input on the emulated boards (issue #17 item 1): int8 readings travel in RUN frames, int16 ones are always
staged by RUN_INPUT (RUN's payload would leave them unaligned), and the Cortex-M4 (SMLABB/SMLATB multiply-accumulate)
and Cortex-M0 (reference loop) runs are bit-identical to the host's C runtime: outputs and every counter.

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both).
"""

from __future__ import annotations

import struct

import pytest

from edgesnn.device import protocol as P
from edgesnn.device.qemu import QemuTarget
from edgesnn.device.runner import DeviceModel, run_on_board
from edgesnn.firmware.runtime import build_runtime_firmware, input_staging_bytes
from edgesnn.lower import lower
from edgesnn.quantize import QuantConfig, quantize
from tests.helpers.device import same_as_host
from tests.quantize.test_analog_input import digits_direct, example, sensor_graph, sensor_series

pytestmark = pytest.mark.needs_qemu


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-microbit"])
@pytest.mark.parametrize("bits", [8, 16])
def test_analog_models_run_bit_identical_to_the_host(boards, fw_cache, board, bits):
    b = boards[board]
    cases = [(sensor_graph(), sensor_series(3, 5)), (example("digits_cnn"), digits_direct("digits_cnn", 3))]
    for g, x in cases:
        q = quantize(g, QuantConfig(input_bits=bits, input_scale="channel", weight_bits=4 if bits == 8 else 8), x)
        assert input_staging_bytes(b, lower(q)) > 0 if bits == 16 else True
        # the micro:bit's 16 KiB hold the runtime arena, not the blob too: its model is compiled in
        res, _ = run_on_board(b, q, x, builtin=board == "qemu-microbit", cache_dir=fw_cache)
        same_as_host(res, q, x)
        spikes = sum(int(v["spikes_out"].sum()) for v in res.counts.values())
        assert spikes > 0, "a comparison of real activity"


def test_an_unstaged_int16_run_is_refused(boards, fw_cache):
    b = boards["qemu-mps2-an386"]
    g, x = sensor_graph(), sensor_series(1, 2)
    q = quantize(g, QuantConfig(input_bits=16), x)
    fw = build_runtime_firmware(b, q, builtin=True, cache_dir=fw_cache)
    with QemuTarget(b, fw.elf, timeout=5.0) as t:
        dm = DeviceModel(t.link, q, b, builtin=True)
        assert dm._chunking()[2], "int16 input is always staged"
        step = bytes(2 * dm.input_size)
        with pytest.raises(P.RemoteError, match="int16 input is sent by RUN_INPUT") as e:
            t.link.request(P.T_RUN, struct.pack("<BH", 1, 1) + step)
        assert e.value.status == P.ST_BAD_REQUEST
        same_as_host(dm.run(x), q, x)   # and the staged run goes on as usual
        assert t.close() == 0


def test_run_takes_readings_in_real_units_once(boards, fw_cache, monkeypatch):
    """`edgesnn run` (api.run) quantizes an analog model's readings once, on the way into the engine: the board's
    outputs are the host's on the same real values (a second quantization would saturate every one)."""
    from edgesnn import api
    from edgesnn.runtime import run_c
    monkeypatch.setenv("EDGESNN_CACHE", str(fw_cache.parent))
    g, x = sensor_graph(), sensor_series(3, 5)
    q = quantize(g, QuantConfig(input_bits=16, input_scale="channel"), x)
    r = api.run(q, x, board=boards["qemu-mps2-an386"])
    ref = run_c(q, x)
    assert r.measurement.outputs.any()
    assert (r.measurement.outputs == ref.outputs).all()
