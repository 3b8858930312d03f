"""Serial protocol: framing vectors, resynchronisation, and the client against a Python peer on a pty.

The peer (protocol.DeviceServer) answers as the firmware does; a fault-injecting pty peer drops,
duplicates and corrupts bytes in both directions, and every exchange must come back right or
raise, never return a wrong answer.
"""

from __future__ import annotations

import os
import random
import re
import select
import struct
import threading
import time
import tty

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesnn.device import protocol as P
from edgesnn.device.serial_link import SerialLink
from edgesnn.errors import DeviceError
from tests.helpers.paths import ROOT

PROTO_H = ROOT / "runtime_c" / "ports" / "firmware" / "esn_fw_proto.h"


def test_python_constants_match_the_c_header():
    defs = dict(re.findall(r"#define (ESN_FW_\w+) (\(?[0-9xA-Fa-u <()]+\)?|\"[^\"]*\")", PROTO_H.read_text()))

    def val(name):
        v = defs[name].strip()
        return v.strip('"') if v.startswith('"') else eval(v.replace("u", ""))  # noqa: S307 - our own header

    pairs = {"PROTO_VERSION": P.VERSION, "PROTO_MIN_VERSION": P.MIN_VERSION, "HDR_BYTES": P.HDR_BYTES,
             "CRC_BYTES": P.CRC_BYTES, "SEQ_NONE": P.SEQ_NONE, "RESPONSE_BIT": P.RESPONSE_BIT,
             "EXIT_OK": P.EXIT_OK, "EXIT_ERROR": P.EXIT_ERROR, "EXIT_FAULT_BASE": P.EXIT_FAULT_BASE,
             "FAULT_PAYLOAD_BYTES": P.FAULT_PAYLOAD_BYTES, "READY_PREFIX": P.READY_PREFIX,
             "FAULT_PREFIX": P.FAULT_PREFIX}
    for name in defs:
        short = name[len("ESN_FW_"):]
        for prefix, table in (("T_", P.TYPE_NAMES), ("ST_", P.STATUS_NAMES), ("CAP_", P.CAP_NAMES)):
            if short.startswith(prefix):
                code = val(name)
                key = short[len(prefix):]
                assert code in table, f"{name} = {code:#x} has no Python counterpart"
                assert table[code].upper() == key, f"{name}: Python calls {code:#x} {table[code]!r}"
                pairs[short] = getattr(P, short)
    for short, py in pairs.items():
        assert val("ESN_FW_" + short) == py, f"ESN_FW_{short} differs from protocol.py"


@pytest.mark.parametrize("raw, enc", [
    (b"\x00", b"\x01\x01"), (b"\x00\x00", b"\x01\x01\x01"), (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"), (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
])
def test_cobs_vectors(raw, enc):
    assert P.cobs_encode(raw) == enc
    assert P.cobs_decode(enc) == raw


def test_crc_and_frame_layout():
    assert P.crc32(b"123456789") == 0xCBF43926
    f = P.build_frame(P.T_ECHO, 0x1234, b"ab")
    assert f[:6] == bytes([P.VERSION, 2, 0x34, 0x12, 2, 0]) and f[6:8] == b"ab"
    assert struct.unpack("<I", f[8:])[0] == P.crc32(f[:8])
    wire = P.encode(P.T_ECHO, 0x1234, b"ab")
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert P.parse_frame(P.cobs_decode(wire[1:-1])) == P.Frame(P.VERSION, P.T_ECHO, 0x1234, b"ab")


@given(st.binary(max_size=600))
def test_cobs_round_trip(data):
    enc = P.cobs_encode(data)
    assert 0 not in enc and len(enc) <= len(data) + 1 + len(data) // 254 + 1
    assert P.cobs_decode(enc) == data


@settings(max_examples=300)
@given(st.binary(max_size=80), st.integers(0, 0xFFFF), st.integers(1, 0x7F),
       st.lists(st.tuples(st.sampled_from(["drop", "dup", "flip"]), st.integers(0, 10_000), st.integers(1, 255)),
                min_size=1, max_size=3))
def test_damage_never_yields_a_different_frame(payload, seq, type_, damage):
    """Drops, duplicates and bit flips anywhere, surrounded by good frames: the reader yields the
    good frames, the damaged one or nothing, never a frame that was not sent."""
    sent = P.Frame(P.VERSION, type_, seq, payload)
    wire = bytearray(P.encode(type_, seq, payload))
    for kind, pos, mask in damage:
        i = pos % len(wire)
        if kind == "drop":
            del wire[i]
        elif kind == "dup":
            wire.insert(i, wire[i])
        else:
            wire[i] ^= mask
    before, after = P.encode(P.T_COUNTER, 1), P.encode(P.T_COUNTER, 2)
    events = list(P.FrameReader().feed(b"junk" + before + bytes(wire) + after))
    frames = [e for e in events if isinstance(e, P.Frame)]
    assert frames[0] == P.Frame(P.VERSION, P.T_COUNTER, 1, b"") and frames[-1] == P.Frame(P.VERSION, P.T_COUNTER, 2, b"")
    assert all(f == sent for f in frames[1:-1])


def test_reader_reports_text_lines_and_overlong_chunks():
    r = P.FrameReader(max_frame=32)
    evs = list(r.feed(b"\r\nESN-READY edgesnn-fw/0.1.0 proto=1 board=x\r\n\0" + b"\x05" * 200 + b"\0"
                      + P.encode(P.T_ECHO, 7, b"z")))
    assert evs[0] == P.Text("ESN-READY edgesnn-fw/0.1.0 proto=1 board=x")
    assert isinstance(evs[1], P.Damaged) and "without a delimiter" in evs[1].reason
    assert evs[2] == P.Frame(P.VERSION, P.T_ECHO, 7, b"z")


def test_fault_decoding_names_exception_and_cause():
    payload = bytes([6, 0, 0, 0]) + struct.pack("<8I", 0x1F2, 0x58B, 0x81000000, 1 << 16, 0, 0, 0, 0x20000F68)
    f = P.decode_fault(payload, lambda pc: "esn_fw_selftest_fault+0xc")
    assert f.exception == "UsageFault" and f.pc == 0x1F2 and f.cause == ["UNDEFINSTR"] and f.exit_code == 70
    assert "UsageFault (exception 6) at pc=0x000001f2 (esn_fw_selftest_fault+0xc)" in str(f)
    line = ("ESN-FAULT BusFault exc=5 pc=0x00000a8e lr=0x0000058b xpsr=0x61000000 cfsr=0x00008200 "
            "hfsr=0x00000000 mmfar=0x00000000 bfar=0xf0000000 sp=0x20000f68")
    g = P.parse_fault_line(line)
    assert g.exception == "BusFault" and g.bfar == 0xF0000000 and "bus address 0xf0000000" in str(g)
    assert P.exception_name(16 + 3) == "IRQ3"


# ---------------------------------------------------------------------------------------------
# Over a pseudo-terminal, with a Python peer

class PtyPeer:
    """Runs a DeviceServer on the master side of a pty; optionally damages bytes both ways."""

    def __init__(self, server: P.DeviceServer | None = None, *, p_drop=0.0, p_dup=0.0, p_flip=0.0, seed=0,
                 silent=False, prelude: bytes = b""):
        self.server = server or P.DeviceServer()
        self.p = (p_drop, p_dup, p_flip)
        self.rng = random.Random(seed)
        self.silent = silent
        self.damage = 0
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self._stop = threading.Event()
        self._queue = bytearray()
        self._prelude = prelude   # sent before the first reply (pyserial flushes input when it opens)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _mangle(self, data: bytes) -> bytes:
        p_drop, p_dup, p_flip = self.p
        out = bytearray()
        for b in data:
            r = self.rng.random()
            if r < p_drop:
                self.damage += 1
                continue
            if r < p_drop + p_dup:
                self.damage += 1
                out += bytes([b, b])
            elif r < p_drop + p_dup + p_flip:
                self.damage += 1
                out.append(b ^ self.rng.randrange(1, 256))
            else:
                out.append(b)
        return bytes(out)

    def _run(self):
        while not self._stop.is_set():
            if self._queue:
                n = os.write(self.master, bytes(self._queue))
                del self._queue[:n]
            r, _, _ = select.select([self.master], [], [], 0.01)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if self.silent:
                continue
            reply = self.server.receive(self._mangle(data))
            self._queue += self._prelude + self._mangle(reply)
            self._prelude = b""

    def close(self):
        self._stop.set()
        self.thread.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def peer():
    made = []

    def make(**kw):
        p = PtyPeer(**kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def test_pty_handshake_echo_counter_errors(peer):
    ticks = iter(range(100, 10_000, 7))
    p = peer(server=P.DeviceServer(board="pty-board", clock=lambda: next(ticks)))
    with SerialLink.open(p.path, timeout=0.5) as link:
        hello = link.handshake()
        assert hello.board == "pty-board" and hello.proto_version == P.VERSION and "echo" in hello.capabilities
        for data in (b"", b"\0", b"\0\0\0", bytes(range(256))[:200], b"x" * 256):
            assert link.echo(data) == data
        a, b = link.counter(), link.counter()
        assert b.ticks > a.ticks and a.tick_hz == 1_000_000
        with pytest.raises(P.RemoteError, match="UNSUPPORTED") as ei:
            link.request(P.T_RUN, b"")
        assert ei.value.status == P.ST_UNSUPPORTED
        with pytest.raises(P.RemoteError, match="BAD_REQUEST"):
            link.request(P.T_RESET, b"\7")
        with pytest.raises(DeviceError, match="exceeds the device's max payload 256"):
            link.echo(b"x" * 257)
        assert link.stats.retries == 0


def test_pty_version_mismatch_is_named(peer):
    p = peer()
    with SerialLink.open(p.path, timeout=0.5) as link:
        link._write(P.encode(P.T_HELLO, 5, b"\x09\0\0\0", version=9))
        ev = link.next_event(time.monotonic() + 2)
        assert isinstance(ev, P.Frame) and ev.type == P.T_ERROR and ev.payload[1] == P.ST_VERSION
        assert ev.payload[2:4] == bytes([P.VERSION, P.MIN_VERSION])


@pytest.mark.parametrize("old, new", [(1, 1), (P.VERSION + 1, P.VERSION + 1)])
def test_pty_peer_of_another_version_is_refused_naming_both(peer, old, new):
    """A firmware of protocol 1 (one step's input had to fit one frame) or of a later version: the
    handshake raises, naming the device's versions and the host's, and how to close the gap."""
    p = peer(server=P.DeviceServer(version=new, min_version=old))
    with SerialLink.open(p.path, timeout=0.5) as link:
        with pytest.raises(P.ProtocolError, match=rf"device speaks protocol version {old}\.\.{new}, this host "
                                                  rf"{P.MIN_VERSION}\.\.{P.VERSION}: flash a firmware built by"):
            link.handshake()
        assert link.hello is None


def test_pty_silent_peer_times_out_loudly(peer):
    p = peer(silent=True)
    with SerialLink.open(p.path, timeout=0.1, retries=3) as link:
        t = time.monotonic()
        with pytest.raises(P.LinkTimeout, match=r"HELLO \(seq \d+\) got no valid answer after 4 tries"):
            link.handshake()
        assert 0.35 < time.monotonic() - t < 5.0
        assert link.stats.retries == 3 and link.stats.timeouts == 4


def test_pty_ignores_stale_and_foreign_answers(peer):
    """Answers with another seq or type, and text lines, are skipped; the right answer is taken."""
    junk = (P.encode(P.T_ECHO | P.RESPONSE_BIT, 1, b"stale") + P.encode(P.T_COUNTER | P.RESPONSE_BIT, 2, b"?")
            + b"ESN-READY something\r\n\0" + P.encode(P.T_LOG, P.SEQ_NONE, b"hello log"))
    p = peer(prelude=junk)
    with SerialLink.open(p.path, timeout=0.5) as link:
        link._seq = 1000
        link.handshake()
        assert link.echo(b"fresh") == b"fresh"
        assert link.logs == ["hello log"] and "ESN-READY something" in link.texts


def test_pty_fault_frame_raises_firmware_fault(peer):
    payload = bytes([3, 0, 0, 0]) + struct.pack("<8I", 0x100, 0x200, 0x01000000, 0, 1 << 30, 0, 0, 0x20000100)
    p = peer(prelude=b"\r\nESN-FAULT HardFault exc=3 pc=0x00000100\r\n\0" + P.encode(P.T_FAULT, P.SEQ_NONE, payload))
    with SerialLink.open(p.path, timeout=0.5) as link:
        with pytest.raises(P.FirmwareFault, match=r"HardFault \(exception 3\) at pc=0x00000100.*FORCED"):
            link.handshake()


def test_pty_fault_injection_never_gives_a_wrong_answer(peer):
    """1% of bytes dropped, duplicated or corrupted each way: every exchange is right or raises."""
    server = P.DeviceServer()
    p = peer(server=server, p_drop=0.01 / 3, p_dup=0.01 / 3, p_flip=0.01 / 3, seed=1234)
    rng = random.Random(99)
    ok = loud = 0
    with SerialLink.open(p.path, timeout=0.1, retries=20) as link:
        while True:
            try:
                link.handshake()
                break
            except P.LinkTimeout:
                pass
        for i in range(150):
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
            try:
                assert link.request(P.T_ECHO, data) == data   # raw request: no client-side check
                ok += 1
            except P.LinkTimeout:
                loud += 1
        stats = link.stats
    assert p.damage > 20, "the injection did not inject"
    assert ok >= 140, (ok, loud, stats)
    # retransmissions were answered from the device's cache, not executed again
    assert server.executed.count(P.T_ECHO) <= ok + loud
    assert stats.retries > 0
