"""Flash a firmware onto a real board: with pyOCD or OpenOCD through a debug probe, or by copying its
image to the USB drive the board's boot loader or interface chip mounts, as its board file says.

    flash_command(get_board("nucleo-f446re"), "firmware.elf")
    -> ['openocd', '-f', 'board/st_nucleo_f4.cfg', '-c', 'program {firmware.elf} verify reset exit']

    r = route(board, runner="drive")            # the runner resolved, its tool or drive found, before any build
    flashed = flash_board(r, "firmware.elf", out_dir="images/")

The board file's [flash] table names the default runner and each runner's settings
(pyocd_target, pyocd_args, openocd_config, openocd_args; drive_label, drive_image). Which probe and
serial port a desk has is not the board's business: pass `probe` (a probe serial number / UID), as
Zephyr's twister keeps it in an uncommitted hardware map.

Runner "drive": the image (flash.drive_image: hex for DAPLink's MICROBIT drive, uf2 for the RP2040
boot ROM's RPI-RP2) is written in one go to the drive with the volume label flash.drive_label,
looked for under /media/$USER, /run/media/$USER and /Volumes (or the folder given), then synced.
Such a drive takes the file as it arrives (no temporary name and rename: the boot loader would see
two files); the board then reboots into the new firmware and the drive goes away.

Before anything runs, the ELF is checked: it must be an Arm ELF whose loadable bytes all fall
inside the board's flash regions (so a QEMU image linked at 0x0 is not written to an STM32 whose
flash starts at 0x0800_0000), and each image made from it is read back and compared with it
(edgesnn/firmware/image.py). Nothing is reported as flashed unless the runner exited 0 or the
whole image reached the drive.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..board import Board
from ..errors import DeviceError
from ..firmware.build import ToolchainMissing
from ..firmware.elf import Elf
from ..firmware.image import ImageFile, board_images, formats_of, write_images

RUNNERS = ("pyocd", "openocd", "drive")
INSTALL_HINTS = {
    "pyocd": "install it with `pip install pyocd` (or `pip install 'edgesnn[flash]'`); STM32 targets also need "
             "`pyocd pack install <target>`",
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
    if runner == "drive":
        raise DeviceError(f"runner 'drive' copies an image to {board.id}'s USB drive; it has no command line")
    raise DeviceError(f"unknown flash runner {runner!r} for {board.id}; known: {', '.join(RUNNERS)}")


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
    _run_tool(board, exe, cmd, timeout)
    return cmd


def _run_tool(board: Board, exe: str, cmd: list[str], timeout: float) -> None:
    """Run a flash tool; a DeviceError of one line (the tool's last words) unless it exits 0."""
    try:
        proc = subprocess.run([exe] + cmd[1:], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{cmd[0]} did not finish flashing {board.id} within {timeout:g} s; the board may hold "
                          "a partial image: flash it again") from None
    except OSError as e:
        raise DeviceError(f"{cmd[0]} could not be started to flash {board.id}: {e.strerror or e}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "no output")
        raise DeviceError(f"{cmd[0]} failed to flash {board.id} (exit {proc.returncode}): {last[-300:]}")


# ---------------------------------------------------------------------------------------------
# A flash from start to end: the route (runner, tool or drive) first, then the images, then the flash

def drive_roots() -> list[Path]:
    """Where USB drives are mounted: /media/$USER, /run/media/$USER (Linux desktops), /Volumes (macOS)."""
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = ""
    roots = [Path("/media") / user, Path("/run/media") / user] if user else []
    return roots + [Path("/Volumes")]


def _drive_hint(label: str) -> str:
    if label == "RPI-RP2":
        return "hold BOOTSEL while plugging the board in by USB, and it mounts as RPI-RP2"
    return f"plug the board in by USB and wait for its drive {label} to mount"


def find_drive(board: Board, drive: str | Path | None = None) -> Path:
    """The mounted folder of the board's USB drive: `drive` (checked to be a folder), else the folder named
    flash.drive_label under drive_roots(); a DeviceError naming the label and the places looked in."""
    label = board.flash.get("drive_label")
    if drive is not None:
        d = Path(drive)
        if not d.is_dir():
            raise DeviceError(f"--drive {d}: no such folder; {board.id}'s drive ({label or 'no label'}) is a "
                              "mounted folder, e.g. /media/$USER/" + (label or "LABEL"))
        return d
    if not label:
        raise DeviceError(f"board {board.id} has no USB drive to copy to ({board.path} sets no flash.drive_label); "
                          "flash it with --runner pyocd or --runner openocd")
    roots = drive_roots()
    for root in roots:
        if (root / label).is_dir():
            return root / label
    raise DeviceError(f"no drive labelled {label} is mounted for {board.id} (looked in "
                      f"{', '.join(str(r) for r in roots)}): {_drive_hint(label)}, or give its folder with --drive")


@dataclass(frozen=True)
class Route:
    """How a board is flashed, resolved and checked before anything is built."""
    board: Board
    runner: str
    probe: str | None = None
    exe: str | None = None        # pyocd / openocd on PATH (None on a dry run that did not find it)
    drive: Path | None = None     # runner "drive": the mounted drive (None on a dry run that did not find it)
    image_format: str | None = None  # runner "drive": the format it takes
    dry_run: bool = False


def route(board: Board, *, runner: str | None = None, probe: str | None = None, drive: str | Path | None = None,
          dry_run: bool = False) -> Route:
    """The runner for `board` with its tool found on PATH or its drive found mounted (a dry run only looks),
    so that a flash that cannot happen fails before a firmware is built."""
    if board.is_emulated:
        raise DeviceError(f"board {board.id!r} is emulated (QEMU {board.qemu_machine}); there is nothing to flash")
    runner = runner or board.flash.get("runner")
    if runner not in RUNNERS:
        raise DeviceError(f"unknown flash runner {runner!r} for {board.id}; known: {', '.join(RUNNERS)}")
    if runner != "drive":
        if drive is not None:
            raise DeviceError(f"--drive is for runner 'drive' (a USB drive); {board.id} is flashed with {runner} here")
        cmd = flash_command(board, "firmware.elf", runner=runner, probe=probe)   # raises for a missing setting
        exe = shutil.which(cmd[0])
        if exe is None and not dry_run:
            raise ToolchainMissing(f"{cmd[0]} not found on PATH, needed to flash {board.id}; {INSTALL_HINTS[cmd[0]]}")
        return Route(board, runner, probe, exe, dry_run=dry_run)
    if probe is not None:
        raise DeviceError(f"--probe names a debug probe for pyocd or openocd; runner 'drive' copies to {board.id}'s "
                          "USB drive")
    fmt = board.flash.get("drive_image", "hex")
    if fmt not in formats_of(board):
        raise DeviceError(f"board {board.id}: flash.drive_image {fmt!r} is not a format edgesnn writes for it "
                          f"({', '.join(formats_of(board)[1:])})")
    try:
        found = find_drive(board, drive)
    except DeviceError:
        if not dry_run or drive is not None or not board.flash.get("drive_label"):
            raise
        found = None   # a dry run flashes nothing: a drive not mounted now is no error
    return Route(board, runner, None, None, found, fmt, dry_run)


@dataclass
class Flashed:
    board: str
    elf: Path
    runner: str
    dry_run: bool
    command: list[str] | None = None       # pyocd / openocd: the command line (run, or that would run)
    drive: Path | None = None              # runner "drive": the drive's folder
    drive_file: ImageFile | None = None    # the image copied (or that would be) to the drive
    images: list[ImageFile] = field(default_factory=list)   # every format, read back and checked against the ELF
    written: list[Path] = field(default_factory=list)       # the files written to out_dir
    note: str = ""


def copy_to_drive(board: Board, image: ImageFile, drive: Path) -> tuple[Path, str]:
    """Write `image` onto the drive in one go and sync it; (its path, a note). A DeviceError, naming how far it
    got, unless every byte was written (a drive that goes away only after taking them all is the boot
    loader rebooting into the new firmware)."""
    dest = drive / f"edgesnn-{image.name}"
    label = board.flash.get("drive_label") or drive.name
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise DeviceError(f"cannot write {dest} on {board.id}'s drive {label}: {e.strerror or e}") from None
    done = 0
    try:
        view = memoryview(image.data)
        while done < len(view):
            done += os.write(fd, view[done:])
        os.fsync(fd)
    except OSError as e:
        if done == len(image.data) and not drive.is_dir():
            return dest, "the drive went away as the boot loader took the image"
        raise DeviceError(f"copying {image.name} to {board.id}'s drive {label} ({drive}) failed after {done:,} of "
                          f"{len(image.data):,} B ({e.strerror or e}); the board may hold a partial image: copy it "
                          "again") from None
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    return dest, ""


def flash_board(r: Route, elf: str | Path, *, out_dir: str | Path | None = None, stem: str | None = None,
                timeout: float = 300.0) -> Flashed:
    """Check `elf` against the board's flash, make and check its images, flash it along route `r` (unless a dry
    run), then write the images to out_dir (all or none). A failure raises before out_dir is touched."""
    board = r.board
    elf = Path(elf)
    if not elf.is_file():
        raise DeviceError(f"{elf}: no such firmware file")
    check_image(board, elf)
    files = board_images(board, elf, stem)
    res = Flashed(board.id, elf, r.runner, r.dry_run, images=files)
    if r.runner == "drive":
        res.drive = r.drive
        res.drive_file = next(f for f in files if f.format == r.image_format)
        if not r.dry_run:
            _, res.note = copy_to_drive(board, res.drive_file, r.drive)
    else:
        res.command = flash_command(board, elf, runner=r.runner, probe=r.probe)
        if not r.dry_run:
            _run_tool(board, r.exe, res.command, timeout)
    if out_dir is not None:
        res.written = write_images(files, out_dir)
    return res
