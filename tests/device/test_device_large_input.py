"""Inputs larger than a frame (protocol version 2): a step's input staged by RUN_INPUT chunks into the
device's staging area and run by a RUN flagged "staged", under QEMU and bit-identical to the host's C
runtime; the chunking's edge cases (one step exactly a frame, one byte over, chunks an exact multiple
of the payload); and hostile offsets, lengths and step counts, each answered by ERROR, never a fault.

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both).
"""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from edgesnn.device import protocol as P
from edgesnn.device.qemu import QemuTarget
from edgesnn.device.runner import RUN_REQ_HEADER, DeviceModel
from edgesnn.firmware.build import FirmwareTooLarge
from edgesnn.firmware.runtime import build_runtime_firmware, input_staging_bytes, model_ram_bytes
from edgesnn.lower import align8, lower
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime.binding import run_c
from edgesnn.board import load_board_file
from tests.helpers.boards import board_variant
from tests.helpers.device import example_qgraph, same_as_host, spike_inputs
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.needs_qemu

STAGE_STEPS = 4  # the small model's firmware stages up to this many steps


def test_nmnist_sized_cnn_runs_on_the_device_bit_identical_to_the_host(boards, fw_cache):
    """bench/real_models.py's N-MNIST-sized CNN on qemu-mps2-an386 as it is (128 KiB of SRAM, the
    NUCLEO-F446RE's): a step's input is 2 x 34 x 34 = 2,312 B, over twice the board's 1,024 B payload; at 4-bit
    weights / 8-bit state its weights and parameters take 12.6 KB of flash and its planned arena 103 KB."""
    sys.path.insert(0, str(ROOT / "bench"))
    from real_models import nmnist_cnn
    from real_models import spike_inputs as bench_inputs

    q = quantize(nmnist_cnn(), QuantConfig(weight_bits=4, state_bits=8))
    b = boards["qemu-mps2-an386"]
    step_bytes = int(np.prod(q.graph.input.shape))
    assert step_bytes == 2_312 and step_bytes + RUN_REQ_HEADER > b.firmware["max_payload_bytes"]
    x = bench_inputs(q.graph.input.shape, n=2, steps=4, seed=1)
    # weights compiled into flash (the blob would take seconds over QEMU's UART); the firmware's arena is
    # the runtime's plus one step's input to stage (build_runtime_firmware sizes it: no explicit arena)
    _, arena = model_ram_bytes(q, builtin=True)
    assert input_staging_bytes(b, lower(q)) == step_bytes
    fw = build_runtime_firmware(b, q, builtin=True, cache_dir=fw_cache)
    assert fw.sizes.arena == arena + step_bytes and fw.sizes.ram <= b.sram_bytes
    with QemuTarget(b, fw.elf, timeout=10.0) as t:
        dm = DeviceModel(t.link, q, b, builtin=True)
        assert dm._chunking()[2] and dm.stage_bytes == step_bytes
        res = dm.run(x)
        assert t.close() == 0
    same_as_host(res, q, x)
    assert res.link["retries"] == 0
    spikes = {k: int(v["spikes_out"].sum()) for k, v in res.counts.items() if k.startswith("lif")}
    assert spikes["lif1"] > 0 and spikes["lif2"] > 0, spikes   # a comparison of real activity


@pytest.fixture(scope="module")
def small(boards, fw_cache):
    """digits_mlp (64 B a step) compiled in, with an arena that stages STAGE_STEPS steps after the runtime's;
    one QEMU for the module."""
    b, q = boards["qemu-mps2-an386"], example_qgraph("digits_mlp")
    _, arena = model_ram_bytes(q, builtin=True)
    size = int(np.prod(q.graph.input.shape))
    fw = build_runtime_firmware(b, q, builtin=True, arena_bytes=arena + STAGE_STEPS * size + 8, cache_dir=fw_cache)
    t = QemuTarget(b, fw.elf, timeout=5.0)
    t.start()
    yield b, q, t, size
    t.kill()


CASES = {"exact fit": RUN_REQ_HEADER + 64,         # one step fills a RUN frame: sent inline, as before
         "one byte over": RUN_REQ_HEADER + 64 - 1,   # staged, in RUN_INPUT chunks of 62 B: 4 steps = 5 x 62 + 6
         "exact multiple": 4 + 64 // 2,              # staged, each step two full chunks (outputs then paged)
         "tiny frames": 4 + 7}                       # staged, chunks of 7 B, a 1-byte tail per step


@pytest.mark.parametrize("case", list(CASES))
def test_chunking_edge_cases_match_the_host(small, case):
    b, q, t, size = small
    payload = CASES[case]
    assert size == 64
    dm = DeviceModel(t.link, q, b, builtin=True, frame_payload=payload)
    k, answered, staged = dm._chunking()
    assert staged == (case != "exact fit") and dm.stage_bytes >= STAGE_STEPS * size
    before = t.link.stats.requests
    x = spike_inputs(q, n=2, t=6, seed=list(CASES).index(case))
    res = dm.run(x)
    same_as_host(res, q, x)
    # every staged byte went in a chunk of at most payload - 4 bytes, plus one RUN per k steps
    least = -(-12 // k) + (-(-12 * size // (payload - 4)) if staged else 0)
    assert t.link.stats.requests - before >= least


def _refused(link, type_, payload, status, text):
    with pytest.raises(P.RemoteError, match=text) as ei:
        link.request(type_, payload)
    assert ei.value.status == status and ei.value.request == type_


def test_hostile_offsets_lengths_and_steps_answer_error_never_a_fault(small):
    b, q, t, size = small
    link = t.link
    link.request(P.T_RESET, b"\0")
    _refused(link, P.T_RUN_INPUT, struct.pack("<I", 0) + b"x", P.ST_BAD_REQUEST, "RUN_INPUT before a model")
    dm = DeviceModel(link, q, b, builtin=True, frame_payload=RUN_REQ_HEADER + size - 1)
    cap = dm.stage_bytes
    stage = lambda off, data: struct.unpack("<II", link.request(P.T_RUN_INPUT, struct.pack("<I", off) + data))  # noqa: E731
    run = lambda flags, n, data=b"": link.request(P.T_RUN, struct.pack("<BH", flags, n) + data)  # noqa: E731

    _refused(link, P.T_RUN_INPUT, b"\0\0\0", P.ST_BAD_REQUEST, "needs u32 offset")
    for off, n in ((cap + 1, 0), (cap, 1), (cap - 1, 2), (0xFFFF_FFFF, 1), (0xFFFF_FFFF - 3, 8), (0, cap + 1)):
        n = min(n, link.hello.max_payload - 4)
        _refused(link, P.T_RUN_INPUT, struct.pack("<I", off) + bytes(n), P.ST_TOO_LARGE,
                 rf"chunk ends at \d+ B, past the input staging area of {cap} B")
    assert stage(0, bytes(10)) == (10, cap)
    _refused(link, P.T_RUN_INPUT, struct.pack("<I", 11) + b"x", P.ST_BAD_REQUEST,
             "out of order: offset 11 B, staged so far .* 10 B")
    assert stage(10, bytes(5)) == (15, cap) and stage(3, bytes(2)) == (15, cap)   # a repeat inside: kept
    _refused(link, P.T_RUN, struct.pack("<BH", 5, 1), P.ST_BAD_REQUEST,
             f"staged RUN needs inputs up to {size} B, RUN_INPUT staged 15 B")
    for flags, n, extra, text in ((5, 0xFFFF, b"", "staged RUN needs inputs up to"),
                                  (5, 0, b"x", "carries no inputs"),
                                  (1, 0xFFFF, b"", "not 3 \\+ steps x input size"),
                                  (1, 2, bytes(size), "not 3 \\+ steps x input size"),
                                  (9, 1, bytes(size), "only bits 0")):
        _refused(link, P.T_RUN, struct.pack("<BH", flags, n) + extra, P.ST_BAD_REQUEST, text)
    # the whole area, to its last byte, in chunks that end exactly at its end
    chunk = link.hello.max_payload - 4
    for off in range(0, cap, chunk):
        assert stage(off, bytes(min(chunk, cap - off))) == (min(off + chunk, cap), cap)
    body = run(5, cap // size)
    assert struct.unpack_from("<BBHI", body)[2:] == (cap // size, cap // size)
    _refused(link, P.T_RUN, struct.pack("<BH", 4, 1), P.ST_BAD_REQUEST, "RUN_INPUT staged 0 B")  # consumed
    assert link.echo(b"still alive") == b"still alive"
    x = spike_inputs(q, n=1, t=5, seed=7)
    assert np.array_equal(dm.run(x).outputs, run_c(q, x).outputs)


def test_a_grouped_schedule_stages_into_its_own_input_buffer(boards, fw_cache):
    """Layer-major fused groups: RUN_INPUT writes the schedule's [T][input_size] buffer in place (offset =
    step x input_size + byte), and one staged RUN of T steps runs every group."""
    b, q = boards["qemu-mps2-an386"], example_qgraph("digits_mlp")
    x = spike_inputs(q, n=2, t=6, rate=0.3)
    fw = build_runtime_firmware(b, q, cache_dir=fw_cache)
    with QemuTarget(b, fw.elf) as t:
        dm = DeviceModel(t.link, q, b, schedule="fused", steps=6)   # the blob loads in full frames
        assert dm.sched_steps == 6 and dm.stage_bytes == 6 * 64
        dm.max_payload = RUN_REQ_HEADER + 64 - 1                     # then frames a byte short of a step
        assert dm._chunking() == (6, False, True)
        same_as_host(dm.run(x), q, x, "fused")


def _with_payload(board, tmp_path, max_payload: int):
    """`board` (a variant already) with another max_payload_bytes (the firmware's ESN_FW_MAX_PAYLOAD)."""
    old = f"max_payload_bytes = {board.firmware['max_payload_bytes']:_}"
    text = board.path.read_text()
    assert old in text and f'id = "{board.id}"' in text
    new_id = f"{board.id}-p{max_payload}"
    path = tmp_path / f"{new_id}.toml"
    path.write_text(text.replace(old, f"max_payload_bytes = {max_payload:_}").replace(f'id = "{board.id}"',
                                                                                    f'id = "{new_id}"'))
    return load_board_file(path)


def _wide_input_net(n_in: int = 100):
    """Input(n_in) -> fc (Linear, 16) -> lif (LIF) -> Output: a step of n_in bytes, more than the smallest frame
    a board may have (72 B, one counter page) carries with RUN's header."""
    from edgesnn.graph import ir
    rng = np.random.default_rng(5)
    nodes = {"x": ir.Input(name="x", shape=(n_in,)),
             "fc": ir.Linear(name="fc", weight=rng.normal(0, 0.3, (16, n_in))),
             "lif": ir.LIF(name="lif", alpha=np.full(16, 0.9), gain=np.ones(16), bias=np.zeros(16),
                           threshold=np.ones(16), v_reset=np.zeros(16)),
             "y": ir.Output(name="y", shape=(16,))}
    g = ir.Graph(nodes, [("x", "fc"), ("fc", "lif"), ("lif", "y")], 1e-3)
    return quantize(g, QuantConfig())


@pytest.mark.needs_arm_gcc
def test_the_fit_check_counts_input_staging(tmp_path, fw_cache):
    """A 100 B step on a board whose frames carry 72 B: RUN (3 B header) cannot carry it, so the firmware needs
    104 B of staging (100, 8-aligned). On a board whose SRAM holds the model but not its staging, compiled in and as a blob,
    the build is refused before anything boots, naming the staging; with 1,024 B frames the same SRAM holds
    it."""
    q = _wide_input_net()
    low = lower(q)
    stage = align8(100)   # the staging area, 8-aligned in the arena
    big = board_variant(tmp_path, "qemu-mps2-an386-p", sram_bytes=1 << 20)
    small_frames = _with_payload(big, tmp_path, 72)
    assert input_staging_bytes(big, low) == 0 and input_staging_bytes(small_frames, low) == stage
    assert input_staging_bytes(small_frames, lower(q, "fused", 6)) == 0   # a grouped schedule's own buffer

    region = small_frames.arena_region

    def board(name: str, sram: int):   # under 64 KiB all (SMALL_SRAM_BYTES: the loader's tables shrink below)
        return _with_payload(board_variant(tmp_path, name, sram_bytes=sram, arena_bytes=1024), tmp_path, 72)

    ref = board("qemu-mps2-an386-ref", 60_000)
    fw = build_runtime_firmware(ref, q, builtin=True, cache_dir=fw_cache)
    assert fw.sizes.arena == low.arena_bytes + stage

    # compiled in: SRAM for the firmware, the runtime arena and the staging fits; 32 B less is refused
    used = fw.sizes.regions[region]
    assert build_runtime_firmware(board("qemu-mps2-an386-s0", used), q, builtin=True, cache_dir=fw_cache).sizes.arena \
        == low.arena_bytes + stage
    with pytest.raises(FirmwareTooLarge, match=rf"runtime arena [\d,]+ B \+ input staging {stage} B \(one step's input"):
        build_runtime_firmware(board("qemu-mps2-an386-s1", used - 32), q, builtin=True, cache_dir=fw_cache)

    # as a blob, checked before anything boots: the probe's RAM + blob + runtime arena + staging
    blob, arena = model_ram_bytes(q)
    probe = build_runtime_firmware(ref, arena_bytes=8, cache_dir=fw_cache)
    used = probe.sizes.regions[region] - 8 + blob + arena + stage
    assert build_runtime_firmware(board("qemu-mps2-an386-b0", used), q, cache_dir=fw_cache).sizes.arena \
        >= blob + arena + stage
    with pytest.raises(FirmwareTooLarge, match=r"model blob [\d,]+ B sent to RAM, runtime arena [\d,]+ B "
                                               rf"\+ input staging {stage} B"):
        build_runtime_firmware(board("qemu-mps2-an386-b1", used - 32), q, cache_dir=fw_cache)


def test_run_req_header_is_the_firmwares():
    """RUN_REQ_HEADER (edgesnn.firmware.runtime, used by the runner and the fit check) mirrors the RUN request's
    layout in the firmware: u8 flags, u16 steps, then the inputs at r->in + 3."""
    src = (ROOT / "runtime_c/ports/firmware/esn_fw_ext_runtime.c").read_text()
    assert f"x = r->in + {RUN_REQ_HEADER};" in src
    assert f"r->in_len != {RUN_REQ_HEADER}u + (uint64_t)n * in_size" in src
    assert RUN_REQ_HEADER == struct.calcsize("<BH")
    # the frame's payload limit is the board's max_payload_bytes, passed to the build as ESN_FW_MAX_PAYLOAD
    header = (ROOT / "runtime_c/ports/firmware/esn_fw_config.h").read_text()
    assert "#ifndef ESN_FW_MAX_PAYLOAD" in header
    build = (ROOT / "edgesnn/firmware/build.py").read_text()
    assert '"ESN_FW_MAX_PAYLOAD": str(fw["max_payload_bytes"])' in build
