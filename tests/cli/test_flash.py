"""`edgesnn flash` end to end without hardware, and a real board's serial port (`run --port`) against a
pseudo-terminal peer.

The flashed board is a board file written here: a real (kind = "hardware") board built with the mps2
port, so that its firmware builds on any machine with arm-none-eabi-gcc whatever real ports exist,
flashed by a fake `openocd`/`pyocd` on PATH or by copying its UF2 to a folder standing for its USB
drive. Every failure must be one `edgesnn flash: error:` line, exit status 1, no traceback and no file
left in -o DIR.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from edgesnn import api
from edgesnn.board import load_board_file
from edgesnn.device import flash as FL
from edgesnn.device import protocol as P
from edgesnn.device.runner import open_board
from edgesnn.errors import DeviceError
from edgesnn.firmware import image as I
from tests.device.test_protocol import peer  # noqa: F401  (the pty peer fixture)
from tests.helpers.cli import fails, run
from tests.helpers.paths import DATA, MODELS

BOARD = """\
schema = 1
id = "{id}"
name = "A test board: an MPS2 AN386 image flashed as if it were real"
kind = "hardware"
mcu = "RP2040"
core = "cortex-m4"
clock_hz = 25_000_000

[features]
fpu = "fpv4-sp-d16"
dsp = true

[memory]
flash_bytes = {flash}
sram_bytes = 131_072
code_region = "flash"
data_region = "sram"

[memory.regions.flash]
kind = "flash"
origin = 0x0000_0000
size_bytes = {flash}
read_cycles = 1
read_energy_pj = 1.0
source = "test"

[memory.regions.sram]
kind = "sram"
origin = 0x2000_0000
size_bytes = 131_072
read_cycles = 1
write_cycles = 1
read_energy_pj = 1.0
write_energy_pj = 1.0
source = "test"

[toolchain]
cflags = ["-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]

[cost]
energy_per_cycle_pj = 100.0
energy_per_cycle_source = "test"

[flash]
runner = "{runner}"
pyocd_target = "testchip"
openocd_config = ["interface/cmsis-dap.cfg", "target/testchip.cfg"]
drive_label = "TESTDRIVE"
drive_image = "uf2"

[serial]
baud = 115_200
"""

FIRMWARE = """
[firmware]
port = "mps2"
uart_base = 0x4000_4000
stack_bytes = 4_096
arena_bytes = 65_536
max_payload_bytes = 1_024
tick_hz = 25_000_000
tick_source = "systick"
"""


def board_file(tmp_path: Path, board_id: str = "test-pico", *, runner: str = "drive", flash: int = 524_288,
               port: bool = True) -> Path:
    d = tmp_path / "boards"
    d.mkdir(exist_ok=True)
    p = d / f"{board_id}.toml"
    p.write_text(BOARD.format(id=board_id, runner=runner, flash=f"{flash:_}") + (FIRMWARE if port else ""))
    load_board_file(p)   # valid
    return p


def fake_tool(tmp_path: Path, name: str, script: str) -> Path:
    """An executable `name` on a PATH of its own; it records its arguments in tmp_path/NAME.args."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / name
    exe.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / (name + '.args')}\n{script}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def on_path(monkeypatch, bin_dir: Path) -> None:
    """bin_dir first on PATH (the cross compiler stays reachable for the build)."""
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


# ---------------------------------------------------------------------------------------------
# Images to a folder

@pytest.mark.needs_arm_gcc
def test_dry_run_writes_checked_images_and_prints_them(tmp_path, capsys):
    b = board_file(tmp_path)
    out = tmp_path / "images"
    assert run("flash", "--board", b, "--dry-run", "-o", out) == 0
    text = capsys.readouterr().out
    assert files_in(out) == ["test-pico.bin", "test-pico.elf", "test-pico.hex", "test-pico.uf2"]
    assert text.startswith("firmware ") and ("(built;" in text or "(cached;" in text)
    assert "would copy test-pico.uf2" in text and "the drive labelled TESTDRIVE (not mounted now)" in text
    assert "wrote 4 files to" in text
    for name in ("test-pico.elf", "test-pico.bin", "test-pico.hex", "test-pico.uf2"):
        size = (out / name).stat().st_size
        assert name in text and f"{size:,}" in text
    img = I.from_elf(out / "test-pico.elf")
    I.check_against(I.read_bin((out / "test-pico.bin").read_bytes(), img.start), img)
    I.check_against(I.read_hex((out / "test-pico.hex").read_text()), img)
    back, fam = I.read_uf2((out / "test-pico.uf2").read_bytes(), I.family_id("RP2040"))
    I.check_against(back, img)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no temporary files left


@pytest.mark.needs_arm_gcc
def test_dry_run_without_output_writes_nothing(tmp_path, capsys, monkeypatch):
    b = board_file(tmp_path, runner="openocd")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run("flash", "--board", b, "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("would run: openocd -f interface/cmsis-dap.cfg -f target/testchip.cfg -c 'program {")
    assert files_in(work) == []


@pytest.mark.needs_arm_gcc
def test_a_model_is_compiled_in(tmp_path, capsys):
    b = board_file(tmp_path)
    out = tmp_path / "images"
    assert run("flash", "--board", b, "--model", MODELS / "digits_mlp.json", "--weight-bits", 6, "--dry-run",
               "-o", out) == 0
    text = capsys.readouterr().out
    assert "the runtime with the model digits_mlp compiled in" in text
    from edgesnn.firmware.elf import Elf
    assert "snn_model" in Elf(out / "test-pico.elf").symbols()


# ---------------------------------------------------------------------------------------------
# Runners

@pytest.mark.needs_arm_gcc
def test_openocd_runner_runs_and_then_writes_images(tmp_path, capsys, monkeypatch):
    b = board_file(tmp_path, runner="openocd")
    on_path(monkeypatch, fake_tool(tmp_path, "openocd", "exit 0"))
    out = tmp_path / "images"
    assert run("flash", "--board", b, "--probe", "E6614C", "-o", out) == 0
    text = capsys.readouterr().out
    args = (tmp_path / "openocd.args").read_text().split()
    assert args[:6] == ["-f", "interface/cmsis-dap.cfg", "-f", "target/testchip.cfg", "-c", "adapter"]
    assert args[-3:] == ["verify", "reset", "exit"] and args[-4].startswith("{") and args[-4].endswith(".elf}")
    assert args[6:8] == ["serial", "E6614C"]
    assert "flashed test-pico with: openocd" in text
    assert len(files_in(out)) == 4


@pytest.mark.needs_arm_gcc
def test_pyocd_runner_is_chosen_with_runner(tmp_path, capsys, monkeypatch):
    b = board_file(tmp_path)
    on_path(monkeypatch, fake_tool(tmp_path, "pyocd", "exit 0"))
    assert run("flash", "--board", b, "--runner", "pyocd") == 0
    args = (tmp_path / "pyocd.args").read_text().split()
    assert args[:3] == ["load", "--target", "testchip"] and args[-1].endswith("firmware.elf")


@pytest.mark.needs_arm_gcc
def test_failing_runner_is_one_line_and_leaves_no_files(tmp_path, capsys, monkeypatch):
    b = board_file(tmp_path, runner="openocd")
    on_path(monkeypatch, fake_tool(tmp_path, "openocd", "echo 'Info : some progress'\necho 'Error: unable to find "
                                                        "a matching CMSIS-DAP device' >&2\nexit 1"))
    out = tmp_path / "images"
    err = fails(capsys, "flash", "--board", b, "-o", out)
    assert "openocd failed to flash test-pico (exit 1): Error: unable to find a matching CMSIS-DAP device" in err
    assert not out.exists()


def test_dry_run_needs_no_tool(tmp_path, monkeypatch):
    board = load_board_file(board_file(tmp_path, runner="openocd"))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    r = FL.route(board, dry_run=True)
    assert r.runner == "openocd" and r.exe is None
    with pytest.raises(DeviceError, match="openocd not found on PATH"):
        FL.route(board)


def test_missing_tool_fails_before_anything_is_built(tmp_path, capsys, monkeypatch):
    b = board_file(tmp_path, runner="openocd")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setattr(api, "build_runtime_firmware", lambda *a, **k: pytest.fail("built before the check"))
    err = fails(capsys, "flash", "--board", b, "-o", tmp_path / "images")
    assert "openocd not found on PATH, needed to flash test-pico; install it with `apt-get install openocd`" in err
    err = fails(capsys, "flash", "--board", b, "--runner", "pyocd")
    assert "pyocd not found on PATH" in err and "pip install pyocd" in err
    assert not (tmp_path / "images").exists()


# ---------------------------------------------------------------------------------------------
# The USB drive

@pytest.mark.needs_arm_gcc
def test_drive_copy_with_drive_option(tmp_path, capsys):
    b = board_file(tmp_path)
    drive = tmp_path / "mnt" / "TESTDRIVE"
    drive.mkdir(parents=True)
    assert run("flash", "--board", b, "--drive", drive) == 0
    text = capsys.readouterr().out
    assert files_in(drive) == ["edgesnn-test-pico.uf2"]
    uf2 = (drive / "edgesnn-test-pico.uf2").read_bytes()
    assert f"copied test-pico.uf2 ({len(uf2):,} B, UF2) to {drive} (TESTDRIVE, the drive of test-pico), synced" in text
    img, fam = I.read_uf2(uf2, I.family_id("RP2040"))
    assert fam == 0xE48BFF56 and img.start == 0


@pytest.mark.needs_arm_gcc
def test_drive_found_by_its_label(tmp_path, capsys, monkeypatch):
    b = board_file(tmp_path)
    roots = [tmp_path / "media" / "me", tmp_path / "run-media" / "me"]
    (roots[1] / "TESTDRIVE").mkdir(parents=True)
    (roots[0] / "OTHER").mkdir(parents=True)
    monkeypatch.setattr(FL, "drive_roots", lambda: roots)
    assert run("flash", "--board", b) == 0
    assert files_in(roots[1] / "TESTDRIVE") == ["edgesnn-test-pico.uf2"]
    assert files_in(roots[0] / "OTHER") == []


def test_drive_not_found_names_label_and_places(tmp_path, capsys, monkeypatch):
    b = board_file(tmp_path)
    roots = [tmp_path / "media" / "me", tmp_path / "Volumes"]
    monkeypatch.setattr(FL, "drive_roots", lambda: roots)
    monkeypatch.setattr(api, "build_runtime_firmware", lambda *a, **k: pytest.fail("built before the check"))
    err = fails(capsys, "flash", "--board", b, "-o", tmp_path / "images")
    assert f"no drive labelled TESTDRIVE is mounted for test-pico (looked in {roots[0]}, {roots[1]})" in err
    assert "--drive" in err and not (tmp_path / "images").exists()
    err = fails(capsys, "flash", "--board", b, "--drive", tmp_path / "nowhere")
    assert f"--drive {tmp_path / 'nowhere'}: no such folder" in err


def test_default_drive_roots_follow_the_user(monkeypatch):
    monkeypatch.setenv("USER", "ada")
    assert FL.drive_roots() == [Path("/media/ada"), Path("/run/media/ada"), Path("/Volumes")]


@pytest.mark.needs_arm_gcc
def test_drive_write_failure_is_reported(tmp_path, capsys):
    b = board_file(tmp_path)
    drive = tmp_path / "TESTDRIVE"
    (drive / "edgesnn-test-pico.uf2").mkdir(parents=True)   # cannot be opened for writing
    err = fails(capsys, "flash", "--board", b, "--drive", drive, "-o", tmp_path / "images")
    assert f"cannot write {drive / 'edgesnn-test-pico.uf2'} on test-pico's drive TESTDRIVE" in err
    assert not (tmp_path / "images").exists()


def test_drive_options_belong_to_their_runners(tmp_path, capsys):
    b = board_file(tmp_path)
    assert "--probe names a debug probe for pyocd or openocd" in fails(capsys, "flash", "--board", b, "--probe", "X",
                                                                        "--dry-run")
    assert "--drive is for runner 'drive'" in fails(capsys, "flash", "--board", b, "--runner", "openocd", "--drive",
                                                    tmp_path, "--dry-run")


# ---------------------------------------------------------------------------------------------
# What cannot be flashed

@pytest.mark.needs_arm_gcc
def test_firmware_that_does_not_fit_is_refused(tmp_path, capsys):
    b = board_file(tmp_path, flash=16_384)
    err = fails(capsys, "flash", "--board", b, "--dry-run", "-o", tmp_path / "images")
    assert "firmware does not fit board test-pico: flash needs" in err and "holds 16,384 B" in err
    assert not (tmp_path / "images").exists()


def test_board_without_port_is_refused(tmp_path, capsys):
    b = board_file(tmp_path, "portless", port=False)
    err = fails(capsys, "flash", "--board", b, "--dry-run", "-o", tmp_path / "images")
    assert "board 'portless' has no firmware port yet" in err
    assert not (tmp_path / "images").exists()


def test_emulated_board_and_argument_mixups_are_refused(tmp_path, capsys):
    assert "is emulated (QEMU mps2-an386); there is nothing to flash" in fails(
        capsys, "flash", "--board", "qemu-mps2-an386", "--dry-run")
    b = board_file(tmp_path)
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    assert "give one firmware ELF, model or plan" in fails(capsys, "flash", "--board", b, elf, "--model",
                                                           MODELS / "digits_mlp.json", "--dry-run")
    assert "--weight-bits: quantization settings apply to a model compiled into the firmware" in fails(
        capsys, "flash", "--board", b, elf, "--weight-bits", 4, "--dry-run")


@pytest.mark.needs_arm_gcc
def test_elf_linked_elsewhere_is_refused(tmp_path, capsys):
    """The qemu-mps2-an505 firmware (code at 0x1000_0000) is not an image for a board whose flash is at 0."""
    from edgesnn.board import get_board
    from edgesnn.firmware.runtime import build_runtime_firmware
    elf = build_runtime_firmware(get_board("qemu-mps2-an505")).elf
    b = board_file(tmp_path)
    err = fails(capsys, "flash", "--board", b, elf, "--dry-run", "-o", tmp_path / "images")
    assert "was not linked for test-pico" in err and "outside its flash" in err
    assert not (tmp_path / "images").exists()


# ---------------------------------------------------------------------------------------------
# A real board's serial port: the same client, HELLO checked

def test_open_board_checks_hello(tmp_path, peer):
    board = load_board_file(board_file(tmp_path, "pty-board", port=False))
    p = peer(server=P.DeviceServer(board="pty-board"))
    link = open_board(board, p.path, timeout=0.5)
    try:
        assert link.hello.board == "pty-board" and link.echo(b"ok") == b"ok"
    finally:
        link.close()


def test_a_board_on_its_fallback_clock_is_a_warning_and_hello_says_which_clock(tmp_path, peer, recwarn):
    """HELLO carries the port's clock line (rated or fallback); firmware from before it ends after the tick source."""
    from edgesnn.errors import DeviceWarning
    line = "fallback sysclk_hz=16000000 source=hsi uart_clk_hz=16000000 rated_hz=180000000 error=hse-not-ready"
    h = P.Hello(1, 1, 256, 0, 4096, 180_000_000, "fw", "rt", "b", "systick", line)
    assert P.Hello.decode(h.encode()) == h
    older = h.encode()[:-(len(line) + 1)]
    assert P.Hello.decode(older).clock == "" and P.Hello.decode(older).board == "b"
    board = load_board_file(board_file(tmp_path, "pty-board", port=False))
    p = peer(server=P.DeviceServer(board="pty-board", clock_line=line))
    link = open_board(board, p.path, timeout=0.5)
    link.close()
    w = [x for x in recwarn if issubclass(x.category, DeviceWarning)]
    assert len(w) == 1 and str(w[0].message) == (
        f"board pty-board on {p.path} runs on its fallback clock (sysclk_hz=16000000 source=hsi uart_clk_hz=16000000 "
        "rated_hz=180000000 error=hse-not-ready): times from its python ticks assume 1,000,000 Hz and are off by the "
        "clocks' ratio; check its crystal and power")
    p2 = peer(server=P.DeviceServer(board="pty-board", clock_line="rated sysclk_hz=180000000"))
    open_board(board, p2.path, timeout=0.5).close()
    assert len([x for x in recwarn if issubclass(x.category, DeviceWarning)]) == 1


def test_open_board_refuses_another_boards_firmware(tmp_path, peer):
    board = load_board_file(board_file(tmp_path, "pty-board", port=False))
    p = peer(server=P.DeviceServer(board="nucleo-f446re"))
    with pytest.raises(DeviceError, match=rf"board pty-board on {p.path}: the firmware there was built for board "
                                          r"'nucleo-f446re', not pty-board: flash this board's firmware \(`edgesnn "
                                          r"flash --board pty-board`\), or pass --board nucleo-f446re"):
        open_board(board, p.path, timeout=0.5)


def test_open_board_refuses_another_protocol_version(tmp_path, peer):
    board = load_board_file(board_file(tmp_path, "pty-board", port=False))
    p = peer(server=P.DeviceServer(board="pty-board", version=P.VERSION + 1, min_version=P.VERSION + 1))
    with pytest.raises(DeviceError, match=rf"board pty-board on {p.path}: the device speaks protocol version "
                                          rf"{P.VERSION + 1}\.\.{P.VERSION + 1}, this host"):
        open_board(board, p.path, timeout=0.5)


def test_open_board_silent_port_and_missing_port(tmp_path, peer):
    board = load_board_file(board_file(tmp_path, "pty-board", port=False))
    p = peer(silent=True)
    t = time.monotonic()
    with pytest.raises(DeviceError, match=rf"board pty-board on {p.path}: no answer to HELLO at 115200 baud; flash "
                                          r"it with the edgesnn firmware"):
        open_board(board, p.path, timeout=0.05)
    assert time.monotonic() - t < 5
    missing = str(tmp_path / "ttyACM9")
    with pytest.raises(DeviceError, match=rf"board pty-board on {missing}: cannot open the serial port \(.*\); is "
                                          r"the board plugged in and is this its port"):
        open_board(board, missing)


def test_run_and_profile_on_a_port_answering_as_another_board(tmp_path, peer, capsys):
    """`edgesnn run|profile ... --board B --port DEV`: the firmware on DEV says it is another board: one
    error line naming board and port, nothing written."""
    b = board_file(tmp_path, "pty-board", port=False)
    p = peer(server=P.DeviceServer(board="microbit-v2"))
    x = tmp_path / "x.npy"
    np.save(x, np.load(DATA / "digits_test.npz")["inputs"][:2])
    out = tmp_path / "out.npz"
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--board", b, "--inputs", x, "--port", p.path,
                "-o", out)
    assert f"board pty-board on {p.path}: the firmware there was built for board 'microbit-v2'" in err
    assert not out.exists()
    err = fails(capsys, "profile", MODELS / "digits_mlp.json", "--board", b, "--inputs", x, "--port", p.path)
    assert f"board pty-board on {p.path}: the firmware there was built for board 'microbit-v2'" in err
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--board", b, "--inputs", x, "--port",
                tmp_path / "ttyUSB7", "-o", out)
    assert f"board pty-board on {tmp_path / 'ttyUSB7'}: cannot open the serial port" in err


def test_firmware_without_the_runtime_is_named(tmp_path, peer, capsys):
    """The protocol's own test peer answers HELLO but has no runtime (no RUN capability)."""
    b = board_file(tmp_path, "pty-board", port=False)
    p = peer(server=P.DeviceServer(board="pty-board"))
    x = tmp_path / "x.npy"
    np.save(x, np.load(DATA / "digits_test.npz")["inputs"][:1])
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--board", b, "--inputs", x, "--port", p.path,
                "-o", tmp_path / "o.npz")
    assert f"board pty-board on {p.path}: the firmware has no runtime linked in" in err


# ---------------------------------------------------------------------------------------------
# The images written are the ones that boot: QEMU stands in for the board

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.needs_qemu
@pytest.mark.parametrize("fmt", ["bin", "hex"])
def test_written_image_boots_and_runs_the_demo_over_its_port(tmp_path, capsys, fmt):
    """`edgesnn flash -o DIR` for the test board (an MPS2 AN386 image), then QEMU loads DIR's BIN (as raw
    memory at 0) or HEX (its generic loader) as a board's flash would hold it, and `edgesnn run --port`
    talks to it over a socket as to a USB serial port: the outputs equal the host's fixed-point run."""
    b = board_file(tmp_path)
    out = tmp_path / "images"
    assert run("flash", "--board", b, "--dry-run", "-o", out) == 0
    image = out / f"test-pico.{fmt}"
    port = free_port()
    load = ["-kernel", str(image)] if fmt == "bin" else ["-device", f"loader,file={image}"]
    qemu = subprocess.Popen(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
                             "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on", *load],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        x = tmp_path / "x.npy"
        np.save(x, np.load(DATA / "digits_test.npz")["inputs"][:2])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:   # QEMU listens once it has started
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.2)   # the probe connection started the VM and closed; QEMU listens again for the next
        capsys.readouterr()
        assert run("run", MODELS / "digits_mlp.json", "--board", b, "--inputs", x, "--port",
                   f"socket://127.0.0.1:{port}", "-o", tmp_path / "out.npz") == 0
        assert "2 inputs x 16 steps on test-pico" in capsys.readouterr().out
    finally:
        qemu.kill()
        qemu.wait()
    with np.load(tmp_path / "out.npz") as got:
        host = api.simulate(MODELS / "digits_mlp.json", np.load(x), engine="fixed-python").measurement
        assert np.array_equal(got["out_spikes"], host.outputs)


# ---------------------------------------------------------------------------------------------
# `edgesnn boards`: firmware port and what is verified, computed from the catalogue

def test_boards_show_port_and_what_is_verified(tmp_path, capsys, monkeypatch):
    board_file(tmp_path)
    board_file(tmp_path, "portless", port=False)
    monkeypatch.setenv("EDGESNN_BOARDS", str(tmp_path / "boards"))
    assert run("boards") == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "mps2" in rows["test-pico"] and "builds, fits; not run on silicon" in rows["test-pico"]
    assert "none yet" in rows["portless"] and "no firmware port" in rows["portless"]
    assert "runs under QEMU in tests" in rows["qemu-mps2-an386"]
    assert run("boards", "--json") == 0
    import json
    info = {b["id"]: b for b in json.loads(capsys.readouterr().out)["boards"]}
    for b in info.values():
        if b["port"] is None:
            assert b["verified"] == "no firmware port", b["id"]
        elif b["kind"] == "qemu":
            assert b["verified"] == f"runs in the test suite under QEMU {b['runs_on']['qemu_machine']}"
        else:
            assert b["verified"] == "image builds and fits in the test suite; not yet run on silicon", b["id"]
    assert run("boards", "portless") == 0
    text = capsys.readouterr().out
    assert "firmware: no port yet" in text and "verified: no firmware port" in text
    assert run("boards", "test-pico") == 0
    text = capsys.readouterr().out
    assert "drive: uf2 copied to TESTDRIVE" in text and "`edgesnn flash --board test-pico`" in text
    assert "verified: image builds and fits in the test suite; not yet run on silicon" in text


def test_run_on_a_port_needs_no_cross_compiler(tmp_path, peer, capsys, monkeypatch):
    """A board flashed elsewhere: without arm-none-eabi-gcc here the run still talks to it (the fit check of
    the build is skipped; the board refuses what does not fit its arena)."""
    b = board_file(tmp_path)   # has a port: the run would build its firmware to check the fit
    p = peer(server=P.DeviceServer(board="another"))
    x = tmp_path / "x.npy"
    np.save(x, np.load(DATA / "digits_test.npz")["inputs"][:1])
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--board", b, "--inputs", x, "--port", p.path,
                "-o", tmp_path / "o.npz")
    assert f"board test-pico on {p.path}: the firmware there was built for board 'another'" in err


def test_drive_that_goes_away_after_taking_the_image(tmp_path, monkeypatch):
    """The RP2040 boot ROM restarts once it has every block, and the OS may fail the sync of a drive that
    is gone: that is success only when every byte was written; a failing sync on a drive still there is not."""
    board = load_board_file(board_file(tmp_path))
    img = I.ImageFile("test-pico.uf2", "uf2", b"\x00" * 1024, 0, 1024)
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    real_fsync = os.fsync

    def gone(fd):
        real_fsync(fd)
        (drive / "edgesnn-test-pico.uf2").unlink()
        drive.rmdir()
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fsync", gone)
    dest, note = FL.copy_to_drive(board, img, drive)
    assert dest == drive / "edgesnn-test-pico.uf2" and "went away as the boot loader took the image" in note

    drive.mkdir()

    def fails_here(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fsync", fails_here)
    with pytest.raises(DeviceError, match=r"copying test-pico.uf2 to test-pico's drive TESTDRIVE .* failed after "
                                          r"1,024 of 1,024 B \(Input/output error\); the board may hold a partial "
                                          r"image: copy it again"):
        FL.copy_to_drive(board, img, drive)
