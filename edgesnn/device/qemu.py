"""Run a firmware ELF under QEMU and talk to it over the serial protocol.

    with QemuTarget(board, firmware.elf) as q:   # boots, waits for the ready line, handshakes
        q.link.echo(b"hi"); q.link.counter()
    q.exit_code                                  # 0: the firmware exited cleanly (semihosting)

The emulator runs as

    qemu-system-arm -M <machine> <machine args> -nographic -monitor none -kernel firmware.elf
        -semihosting-config enable=on,target=native
        -icount shift=0,align=off,sleep=off
        -serial tcp:127.0.0.1:0,server=on,wait=on,nodelay=on

The machine and its arguments are data: the board file's qemu.machine names a [machines.NAME] table of
its firmware port's description (runtime_c/ports/<port>/port.toml), which also holds the machine's core,
RAM windows, timer clock and the UART wired to -serial (edgesnn/board.py checks the board against them).

Port 0 lets the kernel pick a free loopback port while QEMU binds it; QEMU prints the port it got
on stderr ("waiting for connection on: disconnected:tcp:127.0.0.1:PORT"), so there is no window
in which another process could take it. wait=on holds the guest until we connect, so nothing the
firmware prints at boot is lost. nodelay=on (and TCP_NODELAY on our side) matters: without it a
request/response round trip costs tens of milliseconds of Nagle and delayed-ACK waiting instead
of a fraction of one (ports/README.md has the figures).

-icount shift=0 makes virtual time advance exactly 1 ns per executed instruction, independent of
the host, so every timer the guest reads is deterministic. The DWT cycle counter is not modelled
(reads 0); SysTick and the CMSDK/nRF timers run from the machine's modelled clock, so one tick is
1e9 / tick_hz instructions (40 on the MPS2 boards at 25 MHz, 50 on AN505 at 20 MHz, 62.5 on the
micro:bit at 16 MHz); the tests measure this with the SPIN command.

Boot: from starting QEMU to the firmware's ready line takes well under a second on an idle machine;
`boot_timeout` (20 s by default) bounds it. On a loaded machine QEMU can wait for a CPU most of that
time, so the timeout is charged only with the time QEMU had to run: the deadline moves out by the time
its threads spent runnable but waiting for a CPU (Linux /proc/PID/task/*/schedstat), by at most
BOOT_STARVED_MAX_FACTOR x the timeout. A QEMU that is idle (waiting for a connection, a firmware that
sleeps) or that runs and prints nothing still times out on time. A boot that times out is retried
once with a fresh QEMU (a first boot that stalls for a host reason, e.g. the binary paged in from a
busy disk, rarely stalls twice); only when the second fails too is it a BootTimeout, which says so. A
boot that succeeds costs exactly what it did.

Shutdown: `close()` asks the firmware to EXIT (semihosting SYS_EXIT_EXTENDED carries the exit code
to QEMU's process status), waits, and kills the emulator if it does not stop in time. A firmware
fault ends the emulator with exit code 64 + exception number after the fault report; it surfaces
as FirmwareFault with the exception, the faulting pc and the symbol it lies in, never as a hang.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

from ..board import Board
from ..errors import DeviceError
from ..firmware.build import find_tool
from ..firmware.elf import Elf
from . import protocol as P
from .serial_link import SerialLink

_PORT_RE = re.compile(rb"waiting for connection on: \S*?tcp:127\.0\.0\.1:(\d+)")
DEFAULT_BOOT_TIMEOUT = 20.0  # s from starting QEMU to the firmware's ready line (`--boot-timeout` on the CLI)
BOOT_TRIES = 2               # a boot that times out is retried once with a fresh QEMU
BOOT_STARVED_MAX_FACTOR = 3  # time waiting for a CPU extends a boot by at most this x the boot timeout


def runqueue_wait_s(pid: int) -> float:
    """Seconds the most delayed thread of process `pid` spent runnable but waiting for a CPU (Linux
    schedstat's second field); 0.0 where the kernel does not say."""
    worst = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    worst = max(worst, int(f.read().split()[1]))
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        pass
    return worst / 1e9


class BootTimeout(DeviceError):
    """The emulated board did not boot (serial port open, ready line sent) within the boot timeout."""


def check_boot_timeout(boot_timeout) -> float:
    """The boot timeout in seconds (DEFAULT_BOOT_TIMEOUT for None); DeviceError unless positive and finite."""
    if boot_timeout is None:
        return DEFAULT_BOOT_TIMEOUT
    try:
        t = float(boot_timeout)
    except (TypeError, ValueError):
        t = math.nan
    if not (t > 0 and math.isfinite(t)):
        raise DeviceError(f"boot timeout {boot_timeout!r} s (--boot-timeout): must be a positive number of seconds")
    return t


class Symbolizer:
    """pc -> "function+0xoff" from the ELF's symbol table."""

    def __init__(self, elf_path: str | Path):
        syms = [s for s in Elf(elf_path).symbols().values() if s.size and not s.name.startswith("$")]
        self._funcs = sorted(((s.value & ~1, s.size, s.name) for s in syms), key=lambda t: t[0])

    def __call__(self, pc: int) -> str:
        pc &= ~1
        for start, size, name in self._funcs:
            if start <= pc < start + size:
                return f"{name}+{pc - start:#x}"
        return "?"


class BlockTrace(os.PathLike):
    """A trace file path that asks for QEMU's block log (trace_args(blocks=True)) instead of the per-instruction
    one: QemuTarget(trace=BlockTrace(path)); it passes through anything that takes a trace path."""

    def __init__(self, path: str | Path, dfilter: str | None = None, paused: bool = False):
        self.path = Path(path)
        self.dfilter = dfilter   # QEMU -dfilter ranges: only blocks starting there are logged
        # paused: QEMU starts logging nothing (-d nochain: blocks still never chain, so that none goes unlogged
        # once logging is on) until QemuTarget.log(True) turns it on through the monitor, and off again
        self.paused = paused

    def __fspath__(self) -> str:
        return str(self.path)

    def stat(self):
        return self.path.stat()

    def __repr__(self) -> str:
        return f"BlockTrace({str(self.path)!r})"


def trace_args(path: str | Path, blocks: bool | None = None) -> list[str]:
    """QEMU options that log the executed code to `path` (edgesnn.firmware.cycles reads it).

    blocks=False (the per-instruction trace, read_trace): one translation block per instruction (-singlestep),
    each logged as it is entered (-d exec), none chained to the next unlogged (nochain). About 3x the wall
    time of a plain run and ~80 bytes of log per executed instruction.
    blocks=True (the block log, read_blocks): QEMU's own translation blocks (a straight line of code ending at
    a branch), each logged as it is entered; every executed instruction follows from the block's first pc, its
    cflags and the disassembly. Measured on digits_mlp, 2 inputs on qemu-mps2-an386 (2.37 M instructions with
    the serial I/O): 50 MB of log and 1.25 s wall against 186 MB and 3.8 s (a plain run: 0.7 s).
    blocks=None: blocks when `path` is a BlockTrace."""
    if blocks is None:
        blocks = isinstance(path, BlockTrace)
    filt = ["-dfilter", path.dfilter] if isinstance(path, BlockTrace) and path.dfilter else []
    what = "nochain" if isinstance(path, BlockTrace) and path.paused else "exec,nochain"
    return (["-d", what] if blocks else ["-singlestep", "-d", what]) + filt + ["-D", os.fspath(path)]


def qemu_command(board: Board, elf: str | Path, qemu: str = "qemu-system-arm", *, icount: bool = True,
                 nodelay: bool = True, extra: list[str] | None = None) -> list[str]:
    if not board.is_emulated:
        raise DeviceError(f"board {board.id!r} is real hardware: flash it (edgesnn flash) instead of running QEMU")
    machine = board.machine   # the machine's facts: its port's port.toml, [machines.NAME]
    if machine is None:
        raise DeviceError(f"{board.path}: unknown QEMU machine {board.qemu_machine!r}")
    serial_opt = "tcp:127.0.0.1:0,server=on,wait=on" + (",nodelay=on" if nodelay else "")
    cmd = [qemu, "-M", machine.name, *machine.args, "-nographic", "-monitor", "none",
           "-semihosting-config", "enable=on,target=native"]
    if icount:
        cmd += ["-icount", "shift=0,align=off,sleep=off"]
    cmd += ["-serial", serial_opt, "-kernel", str(elf)] + list(extra or [])
    return cmd


class QemuTarget:
    """One emulator process running one firmware, with its serial link."""

    def __init__(self, board: Board, elf: str | Path, *, timeout: float = 2.0, retries: int = 5,
                 boot_timeout: float | None = None, handshake: bool = True, icount: bool = True, nodelay: bool = True,
                 extra_args: list[str] | None = None, via: Callable[[int], str] | None = None,
                 trace: str | Path | None = None):
        """trace: a file to log every executed instruction's pc to (trace_args; estimated cycles read it); a
        BlockTrace logs QEMU's translation blocks instead (a quarter of the size, a third of the time).
        timeout: per request once booted; boot_timeout: from starting QEMU to the firmware's ready line
        (DEFAULT_BOOT_TIMEOUT for None; BootTimeout names the board and the timeout when it passes).
        via: maps QEMU's loopback port to the URL to connect to instead (e.g. a test proxy)."""
        self.board, self.elf = board, Path(elf)
        self.timeout, self.retries, self.boot_timeout = timeout, retries, check_boot_timeout(boot_timeout)
        self.do_handshake, self.icount, self.nodelay, self.extra_args = handshake, icount, nodelay, extra_args
        self.via = via
        if trace is not None:
            self.extra_args = list(extra_args or []) + trace_args(trace)
        self._monitor_path: Path | None = None
        self._monitor = None
        if isinstance(trace, BlockTrace) and trace.paused:   # the human monitor on a private socket: log()
            self._monitor_path = trace.path.with_name(trace.path.name + ".monitor")
            self.extra_args += ["-monitor", f"unix:{self._monitor_path},server=on,wait=off"]
        self.proc: subprocess.Popen | None = None
        self.link: SerialLink | None = None
        self.port: int | None = None
        self.ready_line: str | None = None
        self.hello: P.Hello | None = None
        self.exit_code: int | None = None
        self._stderr = bytearray()
        self._stderr_thread: threading.Thread | None = None
        self.where: Symbolizer | None = None
        self._t0 = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SerialLink:
        """Boot QEMU and wait for the ready line (and the handshake); a boot that times out is retried once
        with a fresh QEMU (see the module docstring), any other failure is raised at once."""
        for attempt in range(1, BOOT_TRIES + 1):
            try:
                return self._start_once()
            except BootTimeout as e:
                if attempt == BOOT_TRIES:
                    raise BootTimeout(f"{e}; tried {BOOT_TRIES} times, each with a fresh QEMU") from None
                self._reset_for_retry()
        raise AssertionError("unreachable")

    def _reset_for_retry(self) -> None:
        self.proc, self.link, self.port, self.ready_line, self.hello, self.exit_code = (None,) * 6
        self._stderr = bytearray()
        self._stderr_thread = None

    def _start_once(self) -> SerialLink:
        if not self.elf.is_file():
            raise DeviceError(f"{self.elf}: no such firmware file")
        exe = find_tool("qemu-system-arm", "run `make setup` (as root it installs qemu-system-arm) "
                                           "or `apt-get install qemu-system-arm`")
        self.where = Symbolizer(self.elf)
        kernel = self.elf
        if self._monitor_path is not None:   # a paused BlockTrace: QEMU boots a copy without symbols, so that
            # its log lines carry no function name (a fifth of their bytes) and it looks none up per block
            kernel = self._monitor_path.with_name(self.elf.stem + ".stripped.elf")
            subprocess.run([find_tool("arm-none-eabi-strip"), "-o", str(kernel), str(self.elf)], check=True,
                           capture_output=True)
        cmd = qemu_command(self.board, kernel, exe, icount=self.icount, nodelay=self.nodelay, extra=self.extra_args)
        self._t0 = time.monotonic()  # one budget for the whole boot (_boot_left)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._stderr_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_thread.start()
        try:
            self.port = self._wait_port()
            url = self.via(self.port) if self.via else f"socket://127.0.0.1:{self.port}"
            self.link = SerialLink.open(url, timeout=self.timeout,
                                        retries=self.retries, nodelay=self.nodelay, where=self.where,
                                        diagnose=self._diagnose)
            while True:
                try:
                    self.ready_line = self.link.wait_text(P.READY_PREFIX, max(0.0, self._boot_left()))
                    break
                except P.LinkTimeout:  # QEMU still runs (a crash or a fault raises its own error)
                    if self._boot_left() > 0.05:
                        continue       # QEMU waited for a CPU meanwhile: the deadline moved out
                    seen = "; ".join(self.link.texts[-3:]) or "nothing"
                    raise self._boot_timeout(f"no ready line on its serial port yet (saw: {seen})") from None
            if self.do_handshake:
                self.hello = self.link.handshake()
                if self.hello.board != self.board.id:
                    raise DeviceError(f"firmware says it was built for {self.hello.board!r}, "
                                      f"running on {self.board.id!r}")
        except BaseException:
            self.kill()
            raise
        return self.link

    def _boot_left(self) -> float:
        """Seconds left of the boot: boot_timeout from QEMU's start, plus the time QEMU was runnable but
        waited for a CPU (a loaded machine), that extension at most BOOT_STARVED_MAX_FACTOR x boot_timeout."""
        left = self._t0 + self.boot_timeout - time.monotonic()
        if left > 0 or self.proc is None:
            return left        # within the plain timeout: no need to ask the kernel
        starved = runqueue_wait_s(self.proc.pid)
        extra = min(starved, BOOT_STARVED_MAX_FACTOR * self.boot_timeout)
        return left + extra

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self._stderr += chunk

    @property
    def stderr(self) -> str:
        return self._stderr.decode(errors="replace")

    def _boot_timeout(self, what: str) -> BootTimeout:
        return BootTimeout(f"board {self.board.id}: the firmware did not boot under QEMU ({self.board.qemu_machine}) "
                           f"within the boot timeout of {self.boot_timeout:g} s: {what}; give it longer with "
                           f"--boot-timeout S (default {DEFAULT_BOOT_TIMEOUT:g} s)")

    def _wait_port(self) -> int:
        while self._boot_left() > 0:
            m = _PORT_RE.search(bytes(self._stderr))
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                self._stderr_thread.join(1.0)
                raise DeviceError(f"qemu-system-arm exited ({self.proc.returncode}) before listening: "
                                  f"{self.stderr.strip()[-2000:]}")
            time.sleep(0.005)
        err = self.stderr.strip()[-2000:]
        raise self._boot_timeout("qemu-system-arm had not opened its serial port yet"
                                 + (f" (stderr: {err})" if err else ""))

    def _diagnose(self, msg: str) -> None:
        """Called by the link when it times out or dies: explain it with the emulator's state."""
        if self.proc is None:
            return
        try:
            code = self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            raise P.LinkTimeout(f"{msg}; QEMU ({self.board.qemu_machine}) is still running: the firmware hangs, "
                                f"is locked up, or the link is broken. stderr: {self.stderr.strip()[-500:] or '-'}") \
                from None
        self.exit_code = code
        err = self.stderr
        if "Lockup" in err:
            regs = {k: int(v, 16) for k, v in re.findall(r"\b(R1[35])=([0-9a-fA-F]{8})", err)}
            pc = regs.get("R15")
            raise P.FirmwareLockup(pc, regs.get("R13"), where=self.where(pc) if (self.where and pc is not None) else "",
                                   exit_code=code)
        if code >= P.EXIT_FAULT_BASE:
            fault = None
            for t in self.link.texts if self.link else []:
                fault = P.parse_fault_line(t, self.where) or fault
            if fault is None:
                fault = P.FirmwareFault(code - P.EXIT_FAULT_BASE, exit_code=code)
            raise fault
        raise DeviceError(f"{msg}; QEMU exited with code {code}: {self.stderr.strip()[-500:] or '-'}")

    def close(self, code: int = 0, timeout: float = 10.0) -> int:
        """Ask the firmware to exit with `code`; wait for QEMU; kill it if it does not stop. Returns the exit code."""
        if self.proc is None:
            return self.exit_code if self.exit_code is not None else -1
        try:
            if self.proc.poll() is None and self.link is not None:
                try:
                    self.link.exit(code)
                except DeviceError:
                    pass  # the answer can be lost as the emulator stops: its exit status decides
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DeviceError(f"QEMU did not exit within {timeout:g} s of EXIT; killed") from None
        finally:
            if self.link is not None:
                self.link.close()
        return self.exit_code

    def log(self, on: bool, timeout: float = 10.0) -> None:
        """A paused BlockTrace: turn QEMU's block log on or off (HMP `log`), returning once QEMU has done it."""
        import socket
        if self._monitor_path is None:
            raise DeviceError("log(): this QEMU was started without a paused BlockTrace")
        if self._monitor is None:
            self._monitor = socket.socket(socket.AF_UNIX)
            self._monitor.settimeout(timeout)
            self._monitor.connect(str(self._monitor_path))
            self._hmp(None)    # the banner and its prompt
        self._hmp("log exec,nochain" if on else "log nochain")

    def _hmp(self, cmd: str | None) -> str:
        """Send an HMP command and wait for the prompt that follows its echo (the command has then run)."""
        if cmd is not None:
            self._monitor.sendall(cmd.encode() + b"\n")
        want = cmd.encode() if cmd else b""
        buf = b""
        while not (buf.endswith(b"(qemu) ") and want in buf):
            got = self._monitor.recv(4096)
            if not got:
                raise DeviceError(f"QEMU's monitor closed during {cmd!r}")
            buf += got
        return buf.decode(errors="replace")

    def kill(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None
        if self.link is not None:
            self.link.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.exit_code = self.proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait for the emulator to stop by itself (e.g. after a fault); kill it after `timeout`."""
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DeviceError(f"QEMU still running {timeout:g} s later; killed") from None
        return self.exit_code

    def __enter__(self) -> "QemuTarget":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            code = self.close()
            if code != 0:
                raise DeviceError(f"firmware exited with code {code}, expected 0")
        else:
            self.kill()
