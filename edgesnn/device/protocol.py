"""The serial protocol between the host and the device firmware: frames, messages, errors.

Wire format (the C side is runtime_c/ports/firmware/esn_fw_proto.h and esn_fw_frame.c; a test
parses that header and checks every constant here against it):

    frame   = version:u8 type:u8 seq:u16 len:u16 payload[len] crc:u32     (little-endian)
    crc     = CRC-32/IEEE (zlib.crc32) of version .. payload
    on wire = 0x00 COBS(frame) 0x00

COBS leaves no 0x00 inside an encoded frame, so a receiver resynchronises at the next 0x00 after
any damage. Requests carry a host-chosen seq; the response echoes it with type | 0x80, or comes
as ERROR (u8 request type, u8 status, text). The device also sends NAK (a damaged frame was
dropped), FAULT (it crashed) and LOG frames with seq 0xFFFF, and plain text lines outside frames
(the ready line at boot, the fault line) that the reader reports as Text.

No payload exceeds the device's max_payload, which HELLO reports and the host reads there (it is
the board file's max_payload_bytes; nothing assumes a figure). Larger data travels in pieces, each
a request of its own with its own seq, so every piece keeps the retransmit and cached-response
rules: a model blob as LOAD_MODEL chunks, RUN's inputs as RUN_INPUT chunks (u32 offset, bytes)
into the device's input staging area followed by a RUN flagged "staged", outputs and counters
paged by READ_COUNTERS (edgesnn/device/runner.py; the payloads are documented in
runtime_c/ports/firmware/esn_fw_ext_runtime.c). Peers of different protocol versions refuse each
other with both versions named (version 2 added RUN_INPUT).

`DeviceServer` is a Python reference of the firmware's server (esn_fw_server.c), used as the peer
in tests over a pseudo-terminal and wherever a device is not needed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..errors import DeviceError

VERSION = 2      # 2: RUN_INPUT (inputs larger than a frame), LOAD_MODEL answers the staging area's size
MIN_VERSION = 2
HDR_BYTES = 6
CRC_BYTES = 4
OVERHEAD_BYTES = HDR_BYTES + CRC_BYTES
SEQ_NONE = 0xFFFF
RESPONSE_BIT = 0x80

T_HELLO, T_ECHO, T_COUNTER, T_RESET, T_EXIT, T_SPIN = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
T_LOAD_MODEL, T_RUN, T_READ_COUNTERS, T_RUN_INPUT = 0x10, 0x11, 0x12, 0x13
T_LOG, T_NAK, T_FAULT, T_ERROR = 0xFC, 0xFD, 0xFE, 0xFF
TYPE_NAMES = {T_HELLO: "HELLO", T_ECHO: "ECHO", T_COUNTER: "COUNTER", T_RESET: "RESET", T_EXIT: "EXIT",
              T_SPIN: "SPIN", T_LOAD_MODEL: "LOAD_MODEL", T_RUN: "RUN", T_READ_COUNTERS: "READ_COUNTERS",
              T_RUN_INPUT: "RUN_INPUT",
              T_LOG: "LOG", T_NAK: "NAK", T_FAULT: "FAULT", T_ERROR: "ERROR"}

ST_OK, ST_BAD_REQUEST, ST_UNSUPPORTED, ST_VERSION, ST_TOO_LARGE, ST_RUNTIME = 0, 1, 2, 3, 4, 5
STATUS_NAMES = {ST_OK: "OK", ST_BAD_REQUEST: "BAD_REQUEST", ST_UNSUPPORTED: "UNSUPPORTED",
                ST_VERSION: "VERSION", ST_TOO_LARGE: "TOO_LARGE", ST_RUNTIME: "RUNTIME"}

CAP_ECHO, CAP_COUNTER, CAP_RESET, CAP_EXIT, CAP_SPIN, CAP_DWT = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5
CAP_LOAD_MODEL, CAP_RUN, CAP_READ_COUNTERS, CAP_RUN_INPUT = 1 << 8, 1 << 9, 1 << 10, 1 << 11
CAP_NAMES = {CAP_ECHO: "echo", CAP_COUNTER: "counter", CAP_RESET: "reset", CAP_EXIT: "exit", CAP_SPIN: "spin",
             CAP_DWT: "dwt", CAP_LOAD_MODEL: "load_model", CAP_RUN: "run", CAP_READ_COUNTERS: "read_counters",
             CAP_RUN_INPUT: "run_input"}

EXIT_OK, EXIT_ERROR, EXIT_FAULT_BASE = 0, 1, 64
FAULT_PAYLOAD_BYTES = 36
READY_PREFIX = "ESN-READY"
FAULT_PREFIX = "ESN-FAULT"

EXCEPTION_NAMES = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 7: "SecureFault",
                   11: "SVCall", 12: "DebugMonitor", 14: "PendSV", 15: "SysTick"}
CFSR_BITS = {0: "IACCVIOL", 1: "DACCVIOL", 3: "MUNSTKERR", 4: "MSTKERR", 5: "MLSPERR", 7: "MMARVALID",
             8: "IBUSERR", 9: "PRECISERR", 10: "IMPRECISERR", 11: "UNSTKERR", 12: "STKERR", 13: "LSPERR",
             15: "BFARVALID", 16: "UNDEFINSTR", 17: "INVSTATE", 18: "INVPC", 19: "NOCP", 20: "STKOF",
             24: "UNALIGNED", 25: "DIVBYZERO"}
HFSR_BITS = {1: "VECTTBL", 30: "FORCED", 31: "DEBUGEVT"}


class ProtocolError(DeviceError):
    """The peer answered something that is not the protocol (bad version, malformed payload)."""


class LinkTimeout(DeviceError):
    """No valid answer after every retry."""


class RemoteError(DeviceError):
    """The device answered a request with ERROR."""

    def __init__(self, request: int, status: int, text: str):
        self.request, self.status, self.text = request, status, text
        super().__init__(f"device refused {TYPE_NAMES.get(request, hex(request))}: "
                         f"{STATUS_NAMES.get(status, status)} ({text})" if text else
                         f"device refused {TYPE_NAMES.get(request, hex(request))}: {STATUS_NAMES.get(status, status)}")


class FirmwareFault(DeviceError):
    """The firmware took a fault (or an unexpected exception) and reported it before stopping."""

    def __init__(self, exc: int, pc: int | None = None, lr: int | None = None, xpsr: int | None = None,
                 cfsr: int = 0, hfsr: int = 0, mmfar: int = 0, bfar: int = 0, sp: int | None = None,
                 where: str = "", exit_code: int | None = None):
        self.exc, self.pc, self.lr, self.xpsr, self.sp = exc, pc, lr, xpsr, sp
        self.cfsr, self.hfsr, self.mmfar, self.bfar = cfsr, hfsr, mmfar, bfar
        self.where, self.exit_code = where, exit_code
        self.exception = exception_name(exc)
        bits = [n for b, n in CFSR_BITS.items() if cfsr >> b & 1] + [n for b, n in HFSR_BITS.items() if hfsr >> b & 1]
        msg = f"firmware fault: {self.exception} (exception {exc})"
        if cfsr >> 20 & 1:
            msg += f": stack overflow caught by the stack limit (MSPLIM), sp={sp or 0:#010x}; pc was not stacked"
        elif pc is not None:
            msg += f" at pc={pc:#010x}" + (f" ({where})" if where else "") + (f", lr={lr:#010x}" if lr is not None else "")
        if bits:
            msg += f", {' '.join(bits)}"
        if cfsr >> 15 & 1:
            msg += f", bus address {bfar:#010x}"
        if cfsr >> 7 & 1:
            msg += f", mem address {mmfar:#010x}"
        super().__init__(msg)

    @property
    def cause(self) -> list[str]:
        return ([n for b, n in CFSR_BITS.items() if self.cfsr >> b & 1]
                + [n for b, n in HFSR_BITS.items() if self.hfsr >> b & 1])


class FirmwareLockup(FirmwareFault):
    """The core locked up: a fault while taking an exception (typically a stack overflow past mapped
    memory on ARMv6-M/ARMv7-M), so no handler could run; QEMU reports it and stops."""

    def __init__(self, pc: int | None, sp: int | None, where: str = "", exit_code: int | None = None):
        super().__init__(3, pc=pc, sp=sp, where=where, exit_code=exit_code)
        self.exception = "Lockup"
        self.args = (f"firmware locked up: a fault while taking an exception, typically a stack overflow past "
                     f"mapped memory; the core stopped at pc={pc or 0:#010x}" + (f" ({where})" if where else "")
                     + f" with sp={sp or 0:#010x}",)

    def __str__(self) -> str:
        return self.args[0]


def exception_name(n: int) -> str:
    return EXCEPTION_NAMES.get(n, f"IRQ{n - 16}" if n >= 16 else f"exception {n}")


# ---------------------------------------------------------------------------------------------
# Framing

def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFF_FFFF


def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while True:
        start = i
        while i < n and data[i] != 0 and i - start < 254:
            i += 1
        out.append(i - start + 1)
        out += data[start:i]
        if i - start == 254:
            if i == n:
                break
            continue
        if i == n:
            break
        i += 1
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ValueError(f"zero byte inside a COBS block at {i}")
        end = i + code
        if end > n:
            raise ValueError(f"COBS block at {i} runs past the end ({code - 1} bytes announced, {n - i - 1} left)")
        out += data[i + 1: end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def build_frame(type_: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    if not 0 <= len(payload) <= 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes")
    head = struct.pack("<BBHH", version, type_, seq & 0xFFFF, len(payload)) + payload
    return head + struct.pack("<I", crc32(head))


def encode(type_: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    """One frame as sent on the wire: 0x00, COBS(frame), 0x00."""
    return b"\0" + cobs_encode(build_frame(type_, seq, payload, version)) + b"\0"


@dataclass(frozen=True)
class Frame:
    version: int
    type: int
    seq: int
    payload: bytes

    @property
    def name(self) -> str:
        base = self.type & ~RESPONSE_BIT if self.type < 0xF0 else self.type
        return TYPE_NAMES.get(base, hex(self.type)) + (" response" if RESPONSE_BIT & self.type and self.type < 0xF0 else "")


def parse_frame(raw: bytes) -> Frame:
    """A decoded (un-COBSed) frame, checked; ValueError says what is wrong."""
    if len(raw) < OVERHEAD_BYTES:
        raise ValueError(f"{len(raw)} bytes, shorter than a frame header and CRC")
    version, type_, seq, ln = struct.unpack_from("<BBHH", raw)
    if ln + OVERHEAD_BYTES != len(raw):
        raise ValueError(f"length field {ln} does not match {len(raw) - OVERHEAD_BYTES} payload bytes")
    (crc,) = struct.unpack_from("<I", raw, len(raw) - CRC_BYTES)
    if crc32(raw[:-CRC_BYTES]) != crc:
        raise ValueError("CRC mismatch")
    return Frame(version, type_, seq, bytes(raw[HDR_BYTES:-CRC_BYTES]))


@dataclass(frozen=True)
class Text:
    """Bytes between delimiters that are a printable line, not a frame (the ready or fault line)."""
    text: str


@dataclass(frozen=True)
class Damaged:
    """Bytes between delimiters that are neither a valid frame nor a text line."""
    raw: bytes
    reason: str


def _as_text(chunk: bytes) -> str | None:
    try:
        s = chunk.decode("ascii")
    except UnicodeDecodeError:
        return None
    s = s.strip("\r\n")
    if s.startswith(("ESN-", "esn:")) and all(c.isprintable() or c in "\r\n" for c in s):
        return s
    return None


class FrameReader:
    """Turns a byte stream into Frame, Text and Damaged events; resynchronises at every 0x00."""

    def __init__(self, max_frame: int = 8192):
        self.max_chunk = 2 * max_frame + 16
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> Iterator[Frame | Text | Damaged]:
        for b in data:
            if b != 0:
                if len(self._buf) < self.max_chunk:
                    self._buf.append(b)
                else:
                    self._overflow = True
                continue
            chunk, overflow = bytes(self._buf), self._overflow
            self._buf.clear()
            self._overflow = False
            if not chunk:
                continue
            if overflow:
                yield Damaged(chunk[:64], f"over {self.max_chunk} bytes without a delimiter")
                continue
            text = _as_text(chunk)
            if text is not None:
                yield Text(text)
                continue
            try:
                yield parse_frame(cobs_decode(chunk))
            except ValueError as e:
                yield Damaged(chunk[:64], str(e))

    def pending(self) -> bytes:
        """Bytes since the last delimiter (e.g. a text line the device is still printing)."""
        return bytes(self._buf)


# ---------------------------------------------------------------------------------------------
# Messages

def _take_str(p: bytes, at: int) -> tuple[str, int]:
    if at >= len(p):
        raise ProtocolError(f"HELLO response ends at byte {at}, a string was expected")
    n = p[at]
    if at + 1 + n > len(p):
        raise ProtocolError(f"HELLO response string at byte {at} announces {n} bytes, {len(p) - at - 1} left")
    return p[at + 1: at + 1 + n].decode("utf-8", errors="replace"), at + 1 + n


@dataclass(frozen=True)
class Hello:
    """What the device says about itself in the handshake."""
    proto_version: int
    proto_min_version: int
    max_payload: int
    caps: int
    arena_bytes: int
    tick_hz: int
    fw_version: str
    runtime_version: str
    board: str
    tick_source: str
    clock: str = ""   # the port's clock line ("sysclk_hz=... source=hsi error=hse-not-ready"); "" when it has none

    @property
    def capabilities(self) -> list[str]:
        return [name for bit, name in CAP_NAMES.items() if self.caps & bit]

    def to_dict(self) -> dict:
        return {**self.__dict__, "capabilities": self.capabilities}

    @classmethod
    def decode(cls, p: bytes) -> "Hello":
        if len(p) < 16:
            raise ProtocolError(f"HELLO response of {len(p)} bytes; at least 16 expected")
        ver, vmin, maxp, caps, arena, tick_hz = struct.unpack_from("<BBHIII", p)
        at, strs = 16, []
        for _ in range(4):
            s, at = _take_str(p, at)
            strs.append(s)
        if at < len(p):   # the clock line, added after the four strings: older firmware ends before it
            s, at = _take_str(p, at)
            strs.append(s)
        return cls(ver, vmin, maxp, caps, arena, tick_hz, *strs)

    def encode(self) -> bytes:
        out = struct.pack("<BBHIII", self.proto_version, self.proto_min_version, self.max_payload, self.caps,
                          self.arena_bytes, self.tick_hz)
        for s in (self.fw_version, self.runtime_version, self.board, self.tick_source, self.clock):
            b = s.encode()[:255]
            out += bytes([len(b)]) + b
        return out


@dataclass(frozen=True)
class Counter:
    ticks: int
    tick_hz: int
    dwt_cycles: int
    has_dwt: bool

    @classmethod
    def decode(cls, p: bytes) -> "Counter":
        if len(p) != 20:
            raise ProtocolError(f"COUNTER response of {len(p)} bytes; 20 expected")
        ticks, hz, cyc, flags = struct.unpack("<QIII", p)
        return cls(ticks, hz, cyc, bool(flags & 1))


@dataclass(frozen=True)
class Spin:
    ticks: int
    iterations: int
    dwt_cycles: int

    @classmethod
    def decode(cls, p: bytes) -> "Spin":
        if len(p) != 16:
            raise ProtocolError(f"SPIN response of {len(p)} bytes; 16 expected")
        return cls(*struct.unpack("<QII", p))


def decode_fault(p: bytes, where: Callable[[int], str] | None = None) -> FirmwareFault:
    if len(p) < FAULT_PAYLOAD_BYTES:
        return FirmwareFault(p[0] if p else 0)
    exc = p[0]
    pc, lr, xpsr, cfsr, hfsr, mmfar, bfar, sp = struct.unpack_from("<8I", p, 4)
    return FirmwareFault(exc, pc, lr, xpsr, cfsr, hfsr, mmfar, bfar, sp, where=where(pc) if where else "",
                         exit_code=EXIT_FAULT_BASE + exc)


def parse_fault_line(line: str, where: Callable[[int], str] | None = None) -> FirmwareFault | None:
    """The fault text line, for when the FAULT frame itself was damaged."""
    if not line.startswith(FAULT_PREFIX):
        return None
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    try:
        num = {k: int(v, 0) for k, v in fields.items()}
    except ValueError:
        return None
    if "exc" not in num:
        return None
    pc = num.get("pc")
    return FirmwareFault(num["exc"], pc, num.get("lr"), num.get("xpsr"), num.get("cfsr", 0), num.get("hfsr", 0),
                         num.get("mmfar", 0), num.get("bfar", 0), num.get("sp"),
                         where=where(pc) if (where and pc is not None) else "",
                         exit_code=EXIT_FAULT_BASE + num["exc"])


def decode_error(p: bytes) -> RemoteError:
    if len(p) < 2:
        raise ProtocolError(f"ERROR response of {len(p)} bytes; at least 2 expected")
    return RemoteError(p[0], p[1], p[2:].decode("utf-8", errors="replace"))


# ---------------------------------------------------------------------------------------------
# The Python reference of the firmware's server

@dataclass
class DeviceServer:
    """Answers requests as esn_fw_server.c does: dedup of retransmissions, NAK on damage, ERROR replies.

    Feed it received bytes with `receive`; it returns the bytes to send back. Used as the peer of
    the protocol tests (over a pty) and as a stand-in device.
    """
    board: str = "python-peer"
    max_payload: int = 256
    version: int = VERSION          # another pair stands in for an older or newer firmware
    min_version: int = MIN_VERSION
    arena_bytes: int = 4096
    tick_hz: int = 1_000_000
    clock: Callable[[], int] = field(default=lambda: 0)
    clock_line: str = ""            # what HELLO says of the clock set-up ("rated ...", "fallback ...")
    executed: list[int] = field(default_factory=list)   # request types actually executed (dedup leaves repeats out)

    def __post_init__(self):
        self._reader = FrameReader(self.max_payload + OVERHEAD_BYTES)
        self._last: tuple[int, int] | None = None
        self._last_wire = b""

    def ready_line(self) -> bytes:
        return f"\r\n{READY_PREFIX} python-peer proto={self.version} board={self.board}\r\n".encode() + b"\0"

    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        for ev in self._reader.feed(data):
            if isinstance(ev, Frame):
                out += self._handle(ev)
            elif isinstance(ev, Damaged):
                out += encode(T_NAK, SEQ_NONE)
        return bytes(out)

    def _handle(self, f: Frame) -> bytes:
        if f.type & RESPONSE_BIT:
            return b""
        crc = crc32(build_frame(f.type, f.seq, f.payload, f.version)[:-CRC_BYTES])
        if self._last == (f.seq, crc):
            return self._last_wire
        self.executed.append(f.type)
        if not self.min_version <= f.version <= self.version:
            st, body = ST_VERSION, bytes([self.version, self.min_version])
        elif f.type == T_HELLO:
            st, body = ST_OK, Hello(self.version, self.min_version, self.max_payload, CAP_ECHO | CAP_COUNTER | CAP_RESET,
                                    self.arena_bytes, self.tick_hz, "py", "none", self.board, "python",
                                    self.clock_line).encode()
        elif f.type == T_ECHO:
            st, body = ST_OK, f.payload
        elif f.type == T_COUNTER:
            st, body = ST_OK, struct.pack("<QIII", self.clock(), self.tick_hz, 0, 0)
        elif f.type == T_RESET:
            st, body = (ST_OK, b"") if f.payload in (b"\0",) else (ST_BAD_REQUEST, b"RESET needs mode 0 here")
        else:
            st, body = ST_UNSUPPORTED, b"unknown request type"
        if st == ST_OK:
            wire = encode(f.type | RESPONSE_BIT, f.seq, body, self.version)
        else:
            wire = encode(T_ERROR, f.seq, bytes([f.type, st]) + body, self.version)
        self._last, self._last_wire = (f.seq, crc), wire
        return wire
