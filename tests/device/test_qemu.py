"""End to end under QEMU: boot each emulated board's firmware, handshake, echo, counters, reset,
clean exit; faulting builds reported with their exception; a fault-injecting TCP proxy between
client and QEMU that damages 1% of bytes without ever producing a wrong answer.

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both).
"""

from __future__ import annotations

import os
import random
import time

import pytest

from edgesnn.firmware import build as F
from edgesnn.device import protocol as P
from edgesnn.device.qemu import QemuTarget, qemu_command
from edgesnn.errors import DeviceError
from tests.helpers.boards import EMULATED
from tests.helpers.device import FaultProxy


def test_command_line_is_the_documented_one(boards):
    cmd = qemu_command(boards["qemu-mps2-an505"], "fw.elf")
    assert cmd[:3] == ["qemu-system-arm", "-M", "mps2-an505"]
    joined = " ".join(cmd)
    for part in ("-nographic", "-semihosting-config enable=on,target=native", "-icount shift=0,align=off,sleep=off",
                 "-serial tcp:127.0.0.1:0,server=on,wait=on,nodelay=on", "-kernel fw.elf"):
        assert part in joined
    with pytest.raises(DeviceError, match="is real hardware"):
        qemu_command(boards["nucleo-f446re"], "fw.elf")


def test_missing_qemu_is_a_clear_error(boards, tmp_path, monkeypatch):
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(F.ToolchainMissing, match=r"qemu-system-arm not found on PATH; run `make setup`"):
        QemuTarget(boards["qemu-mps2-an386"], elf).start()


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id", EMULATED)
def test_boot_handshake_echo_counter_reset_exit(boards, fw_cache, board_id):
    b = boards[board_id]
    fw = F.build(b, cache_dir=fw_cache)
    with QemuTarget(b, fw.elf) as q:
        link = q.link
        assert q.ready_line.startswith(f"ESN-READY edgesnn-fw/") and f"board={board_id}" in q.ready_line
        h = q.hello
        assert (h.board, h.proto_version, h.arena_bytes, h.max_payload) == (
            board_id, P.VERSION, b.firmware["arena_bytes"], b.firmware["max_payload_bytes"])
        assert h.runtime_version == "none" and h.tick_hz == b.firmware["tick_hz"]
        assert {"echo", "counter", "reset", "exit", "spin"} <= set(h.capabilities)
        assert "run" not in h.capabilities  # extension point: no runtime linked yet
        rng = random.Random(board_id)
        for data in (b"", b"\0", b"\0" * 300, bytes(range(256)), bytes(rng.randrange(256) for _ in range(h.max_payload))):
            assert link.echo(data[:h.max_payload]) == data[:h.max_payload]
        c1, c2 = link.counter(), link.counter()
        assert 0 < c1.ticks < c2.ticks and c1.tick_hz == h.tick_hz
        assert c1.dwt_cycles == 0  # QEMU does not model the DWT cycle counter
        # deterministic time: ticks = 2 instructions per iteration / instructions per tick, where with
        # -icount shift=0 (1 ns per instruction) instructions per tick = 1e9 / the board's timer clock
        n = 100_000
        s1, s2 = link.spin(n), link.spin(n)
        assert s1.ticks == pytest.approx(2 * n * b.firmware["tick_hz"] / 1e9, abs=max(1.5, 30 * b.firmware["tick_hz"] / 1e9))  # + the call
        assert abs(s1.ticks - s2.ticks) <= 1
        with pytest.raises(P.RemoteError, match="UNSUPPORTED.*no runtime linked"):
            link.request(P.T_RUN)
        link.reset(system=False)
        line = link.reset(system=True)   # SYSRESETREQ: QEMU resets the machine, the firmware boots again
        assert line.startswith("ESN-READY")
        assert link.handshake().board == board_id
        assert link.counter().ticks < c2.ticks  # the counter restarted with the machine
    assert q.exit_code == 0


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id, kind, exception, cause, code", [
    ("qemu-mps2-an386", 1, "UsageFault", "UNDEFINSTR", 70),
    ("qemu-mps2-an386", 2, "BusFault", "PRECISERR", 69),
    ("qemu-mps2-an500", 3, "UsageFault", "DIVBYZERO", 70),
    ("qemu-mps2-an505", 1, "UsageFault", "UNDEFINSTR", 70),
    ("qemu-microbit", 1, "HardFault", None, 67),   # ARMv6-M: every fault is a HardFault
    ("qemu-mps2-an505", 4, "UsageFault", "STKOF", 70),  # stack overflow, caught by MSPLIM (ARMv8-M)
])
def test_faulting_firmware_is_reported_with_its_exception(boards, fw_cache, board_id, kind, exception, cause, code):
    b = boards[board_id]
    fw = F.build(b, cache_dir=fw_cache, selftest_fault=kind)
    q = QemuTarget(b, fw.elf, timeout=10.0)
    q.start()
    try:
        assert q.link.echo(b"first") == b"first"       # the self-test faults on the second ECHO
        t = time.monotonic()
        with pytest.raises(P.FirmwareFault) as ei:
            q.link.echo(b"second")
        assert time.monotonic() - t < 5.0, "a fault must be reported at once, not after a timeout"
        f = ei.value
        assert f.exception == exception and f.exit_code == code
        if cause == "STKOF":
            assert f.pc == 0 and "stack overflow caught by the stack limit" in str(f)
            assert f.sp == b.regions[b.data_region].origin  # MSPLIM: the bottom of the stack
        else:
            assert f.where.startswith("esn_fw_selftest_fault+")
        if cause:
            assert cause in f.cause
        if kind == 2:
            assert f.bfar == 0xF000_0000
        assert q.wait_exit(10) == code
        assert any(t.startswith(f"ESN-FAULT {exception} exc={code - 64}") for t in q.link.texts)
    finally:
        q.kill()


@pytest.mark.needs_qemu
def test_firmware_answers_a_retransmission_from_its_cache_and_naks_damage(boards, fw_cache):
    b = boards["qemu-mps2-an505"]
    fw = F.build(b, cache_dir=fw_cache)
    with QemuTarget(b, fw.elf) as q:
        link = q.link

        def frames(wire: bytes, n: int):
            link._write(wire)
            got = []
            while len(got) < n:
                ev = link.next_event(time.monotonic() + 5)
                assert ev is not None, got
                got.append(ev)
            return got

        req = P.encode(P.T_COUNTER, 4242)
        (a,) = frames(req, 1)
        (again,) = frames(req, 1)                     # same seq and CRC: the cached answer, not a new count
        assert a == again and a.seq == 4242 and a.type == P.T_COUNTER | P.RESPONSE_BIT
        (fresh,) = frames(P.encode(P.T_COUNTER, 4243), 1)
        assert P.Counter.decode(fresh.payload).ticks > P.Counter.decode(a.payload).ticks
        bad = bytearray(P.encode(P.T_ECHO, 4244, b"abc"))
        bad[4] ^= 0x20
        (nak,) = frames(bytes(bad), 1)
        assert nak.type == P.T_NAK and nak.seq == P.SEQ_NONE
        (err,) = frames(P.encode(P.T_HELLO, 4245, b"\1", version=7), 1)
        assert err.type == P.T_ERROR and err.payload[:4] == bytes([P.T_HELLO, P.ST_VERSION, P.VERSION, P.MIN_VERSION])
        (unk,) = frames(P.encode(0x42, 4246), 1)
        assert P.decode_error(unk.payload).status == P.ST_UNSUPPORTED


@pytest.mark.needs_qemu
def test_armv6m_stack_overflow_is_reported_not_locked_up(boards, fw_cache):
    """ARMv6-M has no stack limit: an overflow runs off the SRAM's bottom into unmapped memory, a HardFault
    whose frame could not be stacked; the reporter does not read that frame (it would fault again and lock
    the core up) and reports from its own stack (tests/hostile/test_stack.py: every emulated board)."""
    b = boards["qemu-microbit"]
    fw = F.build(b, cache_dir=fw_cache, selftest_fault=4)
    q = QemuTarget(b, fw.elf, timeout=10.0)
    q.start()
    try:
        q.link.echo(b"first")
        with pytest.raises(P.FirmwareFault) as ei:
            q.link.echo(b"second")
        assert type(ei.value) is P.FirmwareFault and ei.value.exception == "HardFault"
        assert ei.value.pc == 0 and ei.value.sp < b.regions[b.data_region].origin
        assert q.wait_exit(10) == 67
    finally:
        q.kill()


@pytest.mark.needs_qemu
def test_hang_is_killed_and_reported_not_waited_for(boards, fw_cache):
    b = boards["qemu-mps2-an386"]
    fw = F.build(b, cache_dir=fw_cache)
    q = QemuTarget(b, fw.elf)
    q.start()
    try:
        t = time.monotonic()
        with pytest.raises(P.LinkTimeout, match="QEMU .* is still running: the firmware hangs"):
            q.link.request(P.T_SPIN, (0xFFFF_FFFF).to_bytes(4, "little"), timeout=0.3, retries=1)
        assert time.monotonic() - t < 5
    finally:
        q.kill()
    assert q.proc.poll() is not None


@pytest.mark.needs_qemu
def test_firmware_for_another_board_is_refused(boards, fw_cache):
    fw = F.build(boards["qemu-mps2-an500"], cache_dir=fw_cache)
    # the AN386 machine can boot an AN500 image (same memory map) but the handshake names the board
    with pytest.raises(DeviceError, match="built for 'qemu-mps2-an500', running on 'qemu-mps2-an386'"):
        QemuTarget(boards["qemu-mps2-an386"], fw.elf).start()


@pytest.mark.needs_qemu
def test_fault_injection_proxy_never_gives_a_wrong_answer(boards, fw_cache):
    b = boards["qemu-mps2-an386"]
    fw = F.build(b, cache_dir=fw_cache)
    proxy = FaultProxy(p=0.01, seed=int(os.environ.get("EDGESNN_FAULT_SEED", "7")))
    q = QemuTarget(b, fw.elf, timeout=0.15, retries=25, via=proxy.url)
    q.start()                                  # the ready line and handshake go through undamaged
    ok = loud = 0
    rng = random.Random(11)
    try:
        proxy.enabled = True
        last_ticks = 0
        for i in range(200):
            try:
                if i % 4 == 3:
                    c = q.link.counter()
                    assert c.ticks > last_ticks and c.tick_hz == b.firmware["tick_hz"]  # never stale or mangled
                    last_ticks = c.ticks
                else:
                    data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 32)))
                    assert q.link.request(P.T_ECHO, data) == data
                ok += 1
            except P.LinkTimeout:
                loud += 1
        stats = q.link.stats
        proxy.enabled = False
        assert q.close() == 0
    finally:
        q.kill()
        proxy.close()
    damaged = proxy.counts["drop"] + proxy.counts["dup"] + proxy.counts["flip"]
    print("fault proxy:", proxy.counts, "ok", ok, "loud", loud, stats)
    assert damaged >= 50, proxy.counts
    assert ok >= 190, (ok, loud, stats, proxy.counts)
    assert stats.retries > 0 and (stats.damaged + stats.naks + stats.timeouts) > 0
