"""Flash a firmware ELF onto a real board with pyOCD or OpenOCD, as its board file says.

    flash_command(get_board("nucleo-f446re"), "firmware.elf")
    -> ['openocd', '-f', 'board/st_nucleo_f4.cfg', '-c', 'program {firmware.elf} verify reset exit']

The board file's [flash] table names the default runner and each runner's settings
(pyocd_target, pyocd_args, openocd_config, openocd_args). Which probe and serial port a desk has
is not the board's business: pass `probe` (a probe serial number / UID), as Zephyr's twister
keeps it in an uncommitted hardware map.

Before anything runs, the ELF is checked: it must be an Arm ELF whose loadable bytes all fall
inside the board's flash regions (so a QEMU image linked at 0x0 is not written to an STM32 whose
flash starts at 0x0800_0000).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..board import Board
from ..errors import DeviceError
from ..firmware.build import ToolchainMissing
from ..firmware.elf import Elf

INSTALL_HINTS = {
    "pyocd": "install it with `pip install pyocd`; STM32 targets also need `pyocd pack install <target>`",
    "openocd": "install it with `apt-get install openocd`",
}


def flash_command(board: Board, elf: str | Path, *, runner: str | None = None, probe: str | None = None) -> list[str]:
    """The command line that writes `elf` to `board` (nothing is run)."""
    if board.is_emulated:
        raise DeviceError(f"board {board.id!r} is emulated (QEMU {board.qemu_machine}); there is nothing to flash")
    fl = board.flash
    runner = runner or fl.get("runner")
    elf = str(Path(elf))
    if runner == "pyocd":
        target = fl.get("pyocd_target")
        if not target:
            raise DeviceError(f"{board.path}: flash.pyocd_target is not set, so pyocd cannot flash {board.id}")
        cmd = ["pyocd", "load", "--target", target]
        if probe:
            cmd += ["--uid", probe]
        return cmd + list(fl.get("pyocd_args", [])) + [elf]
    if runner == "openocd":
        cfgs = fl.get("openocd_config")
        if not cfgs:
            raise DeviceError(f"{board.path}: flash.openocd_config is not set, so openocd cannot flash {board.id}")
        cmd = ["openocd"]
        for c in cfgs:
            cmd += ["-f", c]
        if probe:
            cmd += ["-c", f"adapter serial {probe}"]
        cmd += list(fl.get("openocd_args", []))
        return cmd + ["-c", "program {" + elf + "} verify reset exit"]
    raise DeviceError(f"unknown flash runner {runner!r} for {board.id}; known: {', '.join(INSTALL_HINTS)}")


def check_image(board: Board, elf: str | Path) -> None:
    """Refuse an ELF whose loadable bytes are not all inside the board's flash regions."""
    e = Elf(elf)
    flash = [r for r in board.regions.values() if r.kind == "flash"]
    bad = []
    for s in e.sections:
        if not s.alloc or s.nobits or s.size == 0:
            continue
        if not any(r.origin <= s.lma and s.lma + s.size <= r.end for r in flash):
            bad.append(f"{s.name} at {s.lma:#010x} ({s.size:,} B)")
    if bad:
        where = ", ".join(f"{r.name} [{r.origin:#010x}, {r.end:#010x})" for r in flash)
        raise DeviceError(f"{elf} was not linked for {board.id}: {'; '.join(bad)} outside its flash ({where})")


def flash(board: Board, elf: str | Path, *, runner: str | None = None, probe: str | None = None,
          dry_run: bool = False, timeout: float = 300.0) -> list[str]:
    """Write `elf` to `board`; return the command line used. dry_run: only build and check it."""
    if not Path(elf).is_file():
        raise DeviceError(f"{elf}: no such firmware file")
    check_image(board, elf)
    cmd = flash_command(board, elf, runner=runner, probe=probe)
    if dry_run:
        return cmd
    exe = shutil.which(cmd[0])
    if exe is None:
        raise ToolchainMissing(f"{cmd[0]} not found on PATH, needed to flash {board.id}; {INSTALL_HINTS[cmd[0]]}")
    try:
        proc = subprocess.run([exe] + cmd[1:], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{cmd[0]} did not finish flashing {board.id} within {timeout:g} s") from None
    if proc.returncode != 0:
        out = (proc.stderr + proc.stdout).strip()[-3000:]
        raise DeviceError(f"{cmd[0]} failed to flash {board.id} (exit {proc.returncode}):\n{out}")
    return cmd
