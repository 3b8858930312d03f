"""Flashing real boards, without hardware: command lines built from the board files, images checked
against the board's flash, a missing tool named with how to install it, the CLI front end."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from edgesnn import cli
from edgesnn.device import flash as FL
from edgesnn.firmware.build import ToolchainMissing
from edgesnn.errors import DeviceError


def make_elf(path: Path, addr: int, size: int = 256) -> Path:
    """A minimal Arm ELF32 with one loadable .text section of `size` bytes at `addr`."""
    shstr = b"\0.text\0.shstrtab\0"
    text = bytes(range(256)) * (size // 256) + bytes(size % 256)
    ehsize, phsize, shsize = 52, 32, 40
    off_text = ehsize + phsize
    off_shstr = off_text + len(text)
    off_sh = (off_shstr + len(shstr) + 3) & ~3
    eh = (b"\x7fELF\x01\x01\x01" + bytes(9)
          + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, addr | 1, ehsize, off_sh, 0x05000400,
                        ehsize, phsize, 1, shsize, 3, 2))
    ph = struct.pack("<IIIIIIII", 1, off_text, addr, addr, len(text), len(text), 5, 4)
    sh = (bytes(shsize)
          + struct.pack("<IIIIIIIIII", 1, 1, 0x6, addr, off_text, len(text), 0, 0, 4, 0)
          + struct.pack("<IIIIIIIIII", 7, 3, 0, 0, off_shstr, len(shstr), 0, 0, 1, 0))
    data = eh + ph + text + shstr
    path.write_bytes(data + bytes(off_sh - len(data)) + sh)
    return path


def test_openocd_command_from_board_file(boards, tmp_path):
    cmd = FL.flash_command(boards["nucleo-f446re"], tmp_path / "fw.elf")
    assert cmd == ["openocd", "-f", "board/st_nucleo_f4.cfg", "-c", f"program {{{tmp_path / 'fw.elf'}}} verify reset exit"]
    cmd = FL.flash_command(boards["rpi-pico"], "fw.elf", probe="E6614C311B")
    assert cmd == ["openocd", "-f", "interface/cmsis-dap.cfg", "-f", "target/rp2040.cfg",
                   "-c", "adapter serial E6614C311B", "-c", "adapter speed 5000", "-c", "program {fw.elf} verify reset exit"]


def test_pyocd_command_from_board_file(boards):
    assert FL.flash_command(boards["microbit-v2"], "fw.elf") == ["pyocd", "load", "--target", "nrf52833", "fw.elf"]
    assert FL.flash_command(boards["nucleo-l552ze-q"], "fw.elf", runner="pyocd", probe="0669FF") == [
        "pyocd", "load", "--target", "stm32l552zetxq", "--uid", "0669FF", "fw.elf"]


@pytest.mark.parametrize("board_id", ["nucleo-f446re", "nucleo-l476rg", "nucleo-h743zi", "stm32f746g-disco",
                                      "arduino-nano-33-ble", "rpi-pico", "microbit-v2", "microbit-v1",
                                      "nucleo-l552ze-q"])
def test_every_real_board_has_both_command_lines(boards, board_id):
    for runner in ("pyocd", "openocd"):
        cmd = FL.flash_command(boards[board_id], "fw.elf", runner=runner)
        assert cmd[0] == runner and "fw.elf" in cmd[-1]


def test_emulated_board_is_not_flashed(boards):
    with pytest.raises(DeviceError, match="is emulated .* nothing to flash"):
        FL.flash_command(boards["qemu-mps2-an386"], "fw.elf")


def test_image_must_lie_in_the_boards_flash(boards, tmp_path):
    good = make_elf(tmp_path / "good.elf", 0x0800_0000)
    assert FL.flash(boards["nucleo-f446re"], good, dry_run=True)[0] == "openocd"
    qemu_image = make_elf(tmp_path / "qemu.elf", 0x0)
    with pytest.raises(DeviceError, match=r"not linked for nucleo-f446re: \.text at 0x00000000 \(256 B\) outside its "
                                          r"flash \(flash \[0x08000000, 0x08080000\)\)"):
        FL.flash(boards["nucleo-f446re"], qemu_image, dry_run=True)
    # the Nano 33 BLE keeps its bootloader: an image at 0x0 would overwrite it
    with pytest.raises(DeviceError, match="outside its flash"):
        FL.flash(boards["arduino-nano-33-ble"], qemu_image, dry_run=True)
    with pytest.raises(DeviceError, match="no such firmware file"):
        FL.flash(boards["nucleo-f446re"], tmp_path / "missing.elf")


def test_missing_tool_is_named_with_its_install_hint(boards, tmp_path, monkeypatch):
    elf = make_elf(tmp_path / "fw.elf", 0x0)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainMissing, match=r"pyocd not found on PATH, needed to flash microbit-v2; install it "
                                               r"with `pip install pyocd`"):
        FL.flash(boards["microbit-v2"], elf)
    with pytest.raises(ToolchainMissing, match=r"openocd not found .* `apt-get install openocd`"):
        FL.flash(boards["microbit-v2"], elf, runner="openocd")


def test_tool_failure_is_reported_with_its_output(boards, tmp_path, monkeypatch):
    elf = make_elf(tmp_path / "fw.elf", 0x0)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pyocd").write_text("#!/bin/sh\necho 'No connected debug probes' >&2\nexit 1\n")
    (fake / "pyocd").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(DeviceError, match=r"(?s)pyocd failed to flash microbit-v2 \(exit 1\):.*No connected debug probes"):
        FL.flash(boards["microbit-v2"], elf)
    (fake / "pyocd").write_text("#!/bin/sh\necho \"$@\" > " + str(tmp_path / "args") + "\n")
    assert FL.flash(boards["microbit-v2"], elf)[:3] == ["pyocd", "load", "--target"]
    assert (tmp_path / "args").read_text().split() == ["load", "--target", "nrf52833", str(elf)]


def test_cli_flash(boards, tmp_path, capsys):
    elf = make_elf(tmp_path / "fw.elf", 0x0800_0000)
    assert cli.main(["flash", "--board", "nucleo-f446re", str(elf), "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == f"would run: openocd -f board/st_nucleo_f4.cfg -c 'program {{{elf}}} verify reset exit'"
    assert cli.main(["flash", "--board", "netduino-plus-2", "--dry-run"]) == 1   # a real board with no port yet
    assert "has no firmware port yet" in capsys.readouterr().err
    assert cli.main(["flash", "--board", "nucleo-f446", str(elf)]) == 1
    assert "did you mean nucleo-f446re" in capsys.readouterr().err
