"""One pyserial client for every device: QEMU (`socket://127.0.0.1:PORT`) and real boards (`/dev/ttyACM0`).

    with SerialLink.open("socket://127.0.0.1:4321") as link:
        hello = link.handshake()
        link.echo(b"hi"); link.counter()

Reliability (protocol in edgesnn/device/protocol.py): each request gets a fresh sequence number
(the first one random, so a device still holding a previous session's last answer cannot answer
this session's first request with it) and is retransmitted unchanged, up to `retries` times,
when no valid answer arrives within `timeout` seconds, when a damaged frame arrives, or when the
device NAKs. The device executes a request once and answers retransmissions from its cache. An
answer counts only if it passes its CRC, echoes the seq and matches the request type, so a dropped,
duplicated or corrupted byte costs a retry; when retries run out the call raises LinkTimeout,
never returns a wrong result.

A FAULT frame (or the fault text line, if the frame was damaged) raises FirmwareFault. When the
link dies or times out, an optional `diagnose` callback (set by the QEMU target) may raise a more
precise error, e.g. the fault behind the emulator's exit code.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import serial

from ..errors import DeviceError
from . import protocol as P

# what closes a version gap: host and firmware come from the same edgesnn
_VERSION_LEVER = "flash a firmware built by this edgesnn (`edgesnn flash`) or use the edgesnn that built it"

_POLL_S = 0.01  # longest a single read blocks; deadlines are kept to this granularity


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    timeouts: int = 0
    damaged: int = 0
    naks: int = 0
    stale: int = 0
    bytes_out: int = 0
    bytes_in: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SerialLink:
    port: serial.SerialBase
    url: str = ""
    timeout: float = 1.0
    retries: int = 5
    where: Callable[[int], str] | None = None      # pc -> "symbol+off", for fault messages
    diagnose: Callable[[str], None] | None = None  # may raise a more precise error when the link fails
    stats: LinkStats = field(default_factory=LinkStats)
    texts: list[str] = field(default_factory=list)  # text lines seen (ready, fault, ...)
    logs: list[str] = field(default_factory=list)   # LOG frames
    hello: P.Hello | None = None

    def __post_init__(self):
        self._reader = P.FrameReader()
        self._events: deque = deque()
        self._seq = int.from_bytes(os.urandom(2), "little") & 0x7FFF

    # -- opening and closing ---------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, baud: int = 115_200, timeout: float = 1.0, retries: int = 5,
             nodelay: bool = True, **kw) -> "SerialLink":
        """Open `url` (a device path or any pyserial URL, e.g. socket://127.0.0.1:PORT)."""
        try:
            port = serial.serial_for_url(url, baudrate=baud, timeout=_POLL_S, write_timeout=max(timeout, 1.0))
        except (serial.SerialException, ValueError, OSError) as e:
            raise DeviceError(f"cannot open serial link {url}: {e}") from None
        sock = getattr(port, "_socket", None)
        if nodelay and isinstance(sock, socket.socket):
            # pyserial's socket:// leaves Nagle on; without this a small request can wait for
            # the peer's delayed ACK (tens of ms) before it leaves.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(port=port, url=url, timeout=timeout, retries=retries, **kw)

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:  # noqa: BLE001 - closing a dead link must not raise
            pass

    def __enter__(self) -> "SerialLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- bytes and events ----------------------------------------------------------------------

    def _fail(self, msg: str, exc_type: type[DeviceError] = DeviceError) -> None:
        if self.diagnose is not None:
            self.diagnose(msg)  # may raise a better error
        raise exc_type(msg)

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as e:
            self._fail(f"serial link {self.url} failed while writing: {e}")
        self.stats.bytes_out += len(data)

    def _pump(self, deadline: float) -> None:
        """Read what arrives before `deadline` (at least one read) into the event queue."""
        while not self._events:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:  # the port's own timeout is a short fixed poll (setting it per read would reconfigure a tty)
                data = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError) as e:
                self._fail(f"serial link {self.url} closed by the device: {e}")
            if data:
                self.stats.bytes_in += len(data)
                self._events.extend(self._reader.feed(data))

    def next_event(self, deadline: float):
        """The next Frame, Text or Damaged event, or None at the deadline."""
        self._pump(deadline)
        return self._events.popleft() if self._events else None

    def _check_unsolicited(self, ev) -> bool:
        """Handle device-initiated events; True when consumed."""
        if isinstance(ev, P.Text):
            self.texts.append(ev.text)
            fault = P.parse_fault_line(ev.text, self.where)
            if fault is not None:
                self._drain_for_fault_frame(fault)
            return True
        if isinstance(ev, P.Frame) and ev.seq == P.SEQ_NONE:
            if ev.type == P.T_FAULT:
                raise P.decode_fault(ev.payload, self.where)
            if ev.type == P.T_LOG:
                self.logs.append(ev.payload.decode("utf-8", errors="replace"))
                return True
        return False

    def _drain_for_fault_frame(self, fallback: P.FirmwareFault) -> None:
        """After the fault line, the FAULT frame follows at once; prefer it (it is CRC-checked)."""
        deadline = time.monotonic() + 0.5
        while True:
            try:
                ev = self.next_event(deadline)
            except DeviceError:
                raise fallback from None
            if ev is None:
                raise fallback
            if isinstance(ev, P.Frame) and ev.type == P.T_FAULT:
                raise P.decode_fault(ev.payload, self.where)

    # -- requests ------------------------------------------------------------------------------

    def request(self, type_: int, payload: bytes = b"", *, timeout: float | None = None,
                retries: int | None = None) -> bytes:
        """Send one request and return the payload of its response; raise RemoteError on ERROR."""
        if self.hello is not None and len(payload) > self.hello.max_payload:
            raise DeviceError(f"{P.TYPE_NAMES.get(type_, type_)} payload of {len(payload)} bytes exceeds the "
                              f"device's max payload {self.hello.max_payload}")
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        self._seq = (self._seq + 1) & 0xFFFF
        if self._seq == P.SEQ_NONE:
            self._seq = 0
        seq = self._seq
        wire = P.encode(type_, seq, payload)
        self.stats.requests += 1
        tries = 1
        self._write(wire)
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next_event(deadline)
            resend = None
            if ev is None:
                self.stats.timeouts += 1
                resend = f"no answer within {timeout:g} s"
            elif isinstance(ev, P.Damaged):
                self.stats.damaged += 1
                resend = f"damaged frame ({ev.reason})"
            elif self._check_unsolicited(ev):
                continue
            elif ev.type == P.T_NAK:
                self.stats.naks += 1
                resend = "device NAKed a damaged frame"
            elif ev.seq != seq:
                self.stats.stale += 1
                continue
            elif ev.type == P.T_ERROR:
                err = P.decode_error(ev.payload)
                if err.request != type_:
                    self.stats.stale += 1
                    continue
                if err.status == P.ST_VERSION:
                    dev = "..".join(str(v) for v in reversed(ev.payload[2:4])) or "?"
                    raise P.ProtocolError(f"the device speaks protocol version {dev}, this host "
                                          f"{P.MIN_VERSION}..{P.VERSION}: {_VERSION_LEVER}")
                raise err
            elif ev.type == type_ | P.RESPONSE_BIT:
                if ev.version != P.VERSION:
                    raise P.ProtocolError(f"response in protocol version {ev.version}, this host speaks "
                                          f"{P.MIN_VERSION}..{P.VERSION}: {_VERSION_LEVER}")
                return ev.payload
            else:
                self.stats.stale += 1
                continue
            if tries > retries:
                self._fail(f"{P.TYPE_NAMES.get(type_, hex(type_))} (seq {seq}) got no valid answer after "
                           f"{tries} tries over {self.url}: last {resend}", P.LinkTimeout)
            tries += 1
            self.stats.retries += 1
            self._write(wire)
            deadline = time.monotonic() + timeout

    def wait_text(self, prefix: str, timeout: float) -> str:
        """Wait for a text line starting with `prefix` (e.g. the ready line); frames seen meanwhile are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next_event(deadline)
            if ev is None:
                seen = "; ".join(self.texts[-3:]) or "nothing"
                self._fail(f"no '{prefix}' line from {self.url} within {timeout:g} s (saw: {seen})", P.LinkTimeout)
            if isinstance(ev, P.Text) and ev.text.startswith(prefix):
                self.texts.append(ev.text)
                return ev.text
            if isinstance(ev, (P.Text, P.Frame)):
                self._check_unsolicited(ev)

    # -- the commands --------------------------------------------------------------------------

    def handshake(self) -> P.Hello:
        """Versioned handshake; must come first in a session (see the module docstring)."""
        body = self.request(P.T_HELLO, struct.pack("<BBH", P.VERSION, 0, 0xFFFF))
        hello = P.Hello.decode(body)
        if not (hello.proto_min_version <= P.VERSION and P.MIN_VERSION <= hello.proto_version):
            raise P.ProtocolError(f"the device speaks protocol version {hello.proto_min_version}.."
                                  f"{hello.proto_version}, this host {P.MIN_VERSION}..{P.VERSION}: {_VERSION_LEVER}")
        self.hello = hello
        return hello

    def echo(self, data: bytes) -> bytes:
        out = self.request(P.T_ECHO, data)
        if out != data:  # cannot happen with a correct device: the CRC held
            raise P.ProtocolError(f"ECHO returned {len(out)} bytes different from the {len(data)} sent")
        return out

    def counter(self) -> P.Counter:
        return P.Counter.decode(self.request(P.T_COUNTER))

    def spin(self, iterations: int) -> P.Spin:
        if not 1 <= iterations <= 0xFFFF_FFFF:
            raise ValueError("iterations must lie in [1, 2^32)")
        return P.Spin.decode(self.request(P.T_SPIN, struct.pack("<I", iterations), timeout=max(self.timeout, 10.0)))

    def reset(self, system: bool = False, *, ready_timeout: float = 10.0) -> str | None:
        """RESET: mode 0 drops session state; system=True resets the chip and waits for its ready line."""
        if not system:
            self.request(P.T_RESET, b"\0")
            return None
        self.request(P.T_RESET, b"\1")
        line = self.wait_text(P.READY_PREFIX, ready_timeout)
        self.hello = None
        return line

    def exit(self, code: int = 0) -> None:
        """EXIT (emulated boards): the firmware answers, then ends the emulator with `code`."""
        self.request(P.T_EXIT, struct.pack("<i", code))
