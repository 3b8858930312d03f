"""Ports and emulated machines are data: every runtime_c/ports/*/port.toml loads and names files that exist,
every board's port and QEMU machine resolve, a bad description gets ONE error naming the file and key,
and a new emulated board (one board file) or a new port (its folder of files) builds and boots with no
Python change."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest

from edgesnn.board import (BOARDS_DIR, PORT_FILE, PORTS_DIR, get_board, load_board_file, load_catalogue,
                           load_ports, port_chain, qemu_machines, validate)
from edgesnn.device.qemu import QemuTarget, qemu_command
from edgesnn.errors import BoardError
from edgesnn.firmware import build as F

HAVE_QEMU = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason="qemu-system-arm and arm-none-eabi-gcc (`make setup`)")
needs_arm_gcc = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc (`make setup`)")


def copy_ports(tmp_path: Path) -> Path:
    dst = tmp_path / "ports"
    shutil.copytree(PORTS_DIR, dst, ignore=shutil.ignore_patterns("build", "__pycache__", "*.o"))
    return dst


def port_problems(ports_dir: Path, port: str) -> list[str]:
    """The problems load_ports reports for one port file: asserts they come in one error led by that file."""
    with pytest.raises(BoardError) as ei:
        load_ports(ports_dir)
    msg = str(ei.value)
    path = ports_dir / port / PORT_FILE
    assert msg.startswith(f"{path}: "), msg
    block = msg.split(f"{path}: ", 1)[1].split("\n/", 1)[0]
    return [line[4:] for line in block.splitlines()[1:] if line.startswith("  - ")]


# ---------------------------------------------------------------------------------------------
# The shipped descriptions

def test_every_port_folder_is_described_and_names_existing_files():
    ports = load_ports()
    folders = {d.name for d in PORTS_DIR.iterdir() if d.is_dir() and list(d.glob("*.c"))}
    assert set(ports) == folders and {"firmware", "cortex_m", "mps2", "microbit", "host"} <= folders
    for port in ports.values():
        assert port.path == PORTS_DIR / port.id / PORT_FILE and port.summary
        for name in port.named_files():
            assert (port.dir / name).is_file(), (port.id, name)
        # every C file of the folder is compiled by someone: the description names it
        assert {c.name for c in port.dir.glob("*.c")} <= set(port.named_files())
    assert {"mps2", "microbit"} <= {p.id for p in ports.values() if p.kind == "firmware"}
    hooks_required = set(ports["firmware"].hooks_required)
    header = (PORTS_DIR / "firmware" / "esn_fw_port.h").read_text()
    assert hooks_required == set(re.findall(r"\besn_fw_port_(\w+)\s*\(", header))   # the header's hooks, all
    for port in (p for p in ports.values() if p.kind == "firmware"):
        chain = port_chain(port)
        assert [q.id for q in chain][:2] == ["firmware", "cortex_m"] and chain[-1] is port
        hooks = [h for q in chain for h in q.hooks]
        assert sorted(hooks) == sorted(hooks_required)       # each hook defined exactly once
        for t in port.tick_sources:
            assert any(t in q.ticks for q in chain)
        for m in port.machines.values():
            assert m.core in port.cores and m.port == port.id and m.serial_uart_bases


def test_every_board_port_and_machine_resolve():
    boards = load_catalogue()
    machines = qemu_machines()
    assert {"mps2-an386", "mps2-an500", "mps2-an505", "microbit"} <= set(machines)
    for b in boards.values():
        if not b.firmware:
            assert b.port is None and b.kind == "hardware"
            continue
        assert b.port is not None and b.port.id == b.firmware["port"] and b.port.kind == "firmware"
        assert b.core in b.port.cores and b.firmware["tick_source"] in b.port.tick_sources
        if b.is_emulated:
            m = b.machine
            assert m is machines[b.qemu_machine] and m.port == b.port.id and m.core == b.core
            assert b.clock_hz == m.sysclk_hz and b.firmware["uart_base"] in m.serial_uart_bases
            for r in b.regions.values():
                assert any(o <= r.origin and r.end <= o + s for o, s in m.ram_windows)
            assert qemu_command(b, "fw.elf")[1:3] == ["-M", m.name]
    # the sources a firmware is built from are the descriptions' (the cache key stays what it was)
    srcs, includes = F.port_sources(boards["qemu-mps2-an386"])
    assert [s.relative_to(PORTS_DIR).as_posix() for s in srcs] == [
        "firmware/esn_fw_frame.c", "firmware/esn_fw_server.c", "firmware/esn_fw_main.c", "cortex_m/esn_startup.c",
        "cortex_m/esn_fault.c", "cortex_m/esn_cortex_m.c", "cortex_m/esn_systick.c", "mps2/esn_fw_port_mps2.c",
        "firmware/esn_fw_ext_none.c"]
    assert includes == [PORTS_DIR / "firmware", PORTS_DIR / "cortex_m", PORTS_DIR / "mps2"]
    srcs, _ = F.port_sources(boards["qemu-microbit"])
    assert "cortex_m/esn_systick.c" not in [s.relative_to(PORTS_DIR).as_posix() for s in srcs]


# ---------------------------------------------------------------------------------------------
# Bad descriptions, bad references

def test_a_bad_port_file_gets_one_error_naming_file_and_key(tmp_path):
    ports = copy_ports(tmp_path)
    f = ports / "mps2" / PORT_FILE
    f.write_text(f.read_text().replace('cores = ["cortex-m4", "cortex-m7", "cortex-m33"]', 'cores = ["cortex-m44"]'))
    found = port_problems(ports, "mps2")
    assert found and found[0].startswith("cores: 'cortex-m44' is not a core"), found
    assert "did you mean 'cortex-m4'?" in found[0]


def test_every_problem_of_a_port_file_is_listed_at_once(tmp_path):
    ports = copy_ports(tmp_path)
    f = ports / "mps2" / PORT_FILE
    text = (f.read_text()
            .replace('id = "mps2"', 'id = "mps3"')                                   # not the folder name
            .replace('"flush", "ticks"]', '"ticks"]')                                  # a hook left undefined
            .replace('tick_sources = ["systick"]', 'tick_sources = ["systick", "rtc"]')  # not implemented
            .replace('layers = ["firmware", "cortex_m"]', 'layers = ["firmware", "cortex_m"]\ncolour = "red"')
            .replace("timer_hz = 20_000_000", "timer_hz = -1"))
    f.write_text(text)
    (ports / "mps2" / "esn_fw_extra.c").write_text("int x;\n")                       # a C file nobody names
    (ports / "microbit" / PORT_FILE).write_text(
        (PORTS_DIR / "microbit" / PORT_FILE).read_text().replace('hooks = ["init"]', 'hooks = ["start", "init"]'))
    with pytest.raises(BoardError) as ei:
        load_ports(ports)
    msg = str(ei.value)
    for want in ["id: 'mps3' must equal the folder name 'mps2'", "colour: unknown key",
                 "machines.mps2-an505.timer_hz: must be >= 1", "sources: esn_fw_extra.c is in mps2/",
                 "hooks: esn_fw_port_flush defined by neither", "tick_sources: 'rtc' is implemented by neither",
                 "hooks: 'start': none of its sources (esn_fw_port_microbit.c) defines esn_fw_port_start()"]:
        assert want in msg, (want, msg)
    # each problem sits under the file it is in
    assert msg.index(str(ports / "microbit" / PORT_FILE)) < msg.index("'start'") < msg.index(str(f))


def test_boards_are_checked_against_the_port_descriptions(tmp_path):
    good = (BOARDS_DIR / "qemu-mps2-an386.toml").read_text()
    path = tmp_path / "qemu-mps2-an386.toml"
    firmware_ports = ", ".join(sorted(i for i, p in load_ports().items() if p.kind == "firmware"))
    path.write_text(good.replace('port = "mps2"', 'port = "mps3"'))
    with pytest.raises(BoardError, match=rf"firmware.port: must be one of {firmware_ports} \(the firmware ports in .*\); "
                                         r"got 'mps3' \(did you mean 'mps2'\?\)"):
        load_board_file(path)
    path.write_text(good.replace('port = "mps2"', 'port = "cortex_m"'))
    with pytest.raises(BoardError, match=f"firmware.port: must be one of {firmware_ports}"):
        load_board_file(path)
    path.write_text(good.replace('tick_source = "systick"', 'tick_source = "nrf-timer"')
                        .replace("uart_base = 0x4000_4000", "uart_base = 0x4000_5000")
                        .replace('machine = "mps2-an386"', 'machine = "microbit"'))
    with pytest.raises(BoardError) as ei:
        load_board_file(path)
    msg = str(ei.value)
    assert "firmware.tick_source: must be one of systick (the tick sources port mps2 offers); got 'nrf-timer'" in msg
    assert "qemu.machine: microbit is a machine of port microbit" in msg and "but firmware.port = 'mps2'" in msg
    assert "firmware.uart_base: 0x40005000 is not the UART QEMU's -serial drives on microbit (0x40002000)" in msg
    micro = (BOARDS_DIR / "qemu-microbit.toml").read_text()
    path.write_text(micro.replace('core = "cortex-m0"', 'core = "cortex-m3"')
                         .replace("-mcpu=cortex-m0", "-mcpu=cortex-m3").replace('id = "qemu-microbit"', 'id = "qemu-mps2-an386"'))
    with pytest.raises(BoardError, match="firmware.port: the microbit port runs on cortex-m0, not a cortex-m3"):
        load_board_file(path)


# ---------------------------------------------------------------------------------------------
# New boards and ports are files

@needs_qemu
def test_a_new_emulated_board_is_one_file(tmp_path, monkeypatch):
    src = (BOARDS_DIR / "qemu-mps2-an505.toml").read_text()
    mine = tmp_path / "boards" / "qemu-my-an505.toml"
    mine.parent.mkdir()
    mine.write_text(src.replace('id = "qemu-mps2-an505"', 'id = "qemu-my-an505"')
                       .replace("arena_bytes = 131_072", "arena_bytes = 65_536"))
    monkeypatch.setenv("EDGESNN_BOARDS", str(mine.parent))
    b = load_catalogue()["qemu-my-an505"]          # beside the shipped ones, checked against them
    assert b.machine.name == "mps2-an505" and b.port.id == "mps2" and b.limits_of == "nucleo-l552ze-q"
    assert get_board(str(mine)).id == "qemu-my-an505"
    fw = F.build(b, cache_dir=tmp_path / "cache")
    assert fw.defines["ESN_FW_BOARD"] == '"qemu-my-an505"' and fw.defines["ESN_FW_ARENA_BYTES"] == "65536"
    with QemuTarget(b, fw.elf, timeout=10.0) as q:
        assert q.hello.board == "qemu-my-an505"
        assert q.link.echo(b"new board") == b"new board"
    assert q.exit_code == 0


@needs_qemu
def test_a_new_port_is_a_folder_of_files(tmp_path):
    """A port of our own (a copy of mps2 under another id, running the mps2-an386 machine): its port.toml, its
    C source and a board file naming it; built from its folder and booted, with no Python change."""
    ports = copy_ports(tmp_path)
    mps2 = (ports / "mps2" / PORT_FILE).read_text()
    head, machines = mps2.split("# The QEMU machines", 1)
    (ports / "mps2" / PORT_FILE).write_text(head)          # the machine moves to the new port
    new = ports / "cmsdk_uart"
    new.mkdir()
    (new / "esn_fw_port_cmsdk.c").write_text((ports / "mps2" / "esn_fw_port_mps2.c").read_text())
    an386 = machines.split("[machines.mps2-an500]")[0]
    (new / PORT_FILE).write_text(head.replace('id = "mps2"', 'id = "cmsdk_uart"')
                                     .replace("esn_fw_port_mps2.c", "esn_fw_port_cmsdk.c")
                                 + "# The QEMU machines" + an386)
    loaded = load_ports(ports)
    assert set(loaded["cmsdk_uart"].machines) == {"mps2-an386"} and loaded["mps2"].machines == {}
    text = (BOARDS_DIR / "qemu-mps2-an386.toml").read_text()
    path = tmp_path / "qemu-cmsdk.toml"
    path.write_text(text.replace('id = "qemu-mps2-an386"', 'id = "qemu-cmsdk"').replace('port = "mps2"', 'port = "cmsdk_uart"'))
    b = validate(tomllib.loads(path.read_text()), path, ports=loaded)
    assert b.port.dir == new and b.machine.port == "cmsdk_uart"
    srcs, includes = F.port_sources(b)
    assert new / "esn_fw_port_cmsdk.c" in srcs and includes[-1] == new
    assert all(s.is_relative_to(ports) for s in srcs)
    fw = F.build(b, cache_dir=tmp_path / "cache")
    with QemuTarget(b, fw.elf, timeout=10.0) as q:
        assert q.hello.board == "qemu-cmsdk" and q.link.echo(b"new port") == b"new port"
    assert q.exit_code == 0


@needs_arm_gcc
def test_hardware_board_without_port_lists_the_ports(tmp_path):
    text = (BOARDS_DIR / "nucleo-f446re.toml").read_text()
    path = tmp_path / "nucleo-f446re.toml"
    path.write_text(text.split("[firmware]")[0])    # a real board whose port is not written yet
    firmware_ports = ", ".join(sorted(i for i, p in load_ports().items() if p.kind == "firmware"))
    with pytest.raises(F.NoFirmwarePort, match=rf"has no firmware port yet .*firmware ports so far: {firmware_ports}"):
        F.build(load_board_file(path), cache_dir=tmp_path)


CHIP_PORT = """
[chip.hse_hz]
summary = "crystal frequency"
min = 4_000_000
max = 26_000_000
required = true

[chip.flash_wait_states]
summary = "flash latency at the rated clock"
min = 0
max = 15
required = false
default = 5
"""


def test_chip_settings_are_declared_by_the_port_given_by_the_board_and_compiled_in(tmp_path):
    """A port declares the per-chip facts it reads ([chip.NAME]); a board gives them in [firmware.chip], each
    checked against the declaration; the build passes them as ESN_CHIP_<NAME> with defaults filled in."""
    ports = copy_ports(tmp_path)
    f = ports / "mps2" / PORT_FILE
    head, machines = f.read_text().split("# The QEMU machines", 1)
    f.write_text(head + CHIP_PORT + "# The QEMU machines" + machines)
    loaded = load_ports(ports)
    assert loaded["mps2"].chip["flash_wait_states"].default == 5
    good = (BOARDS_DIR / "qemu-mps2-an386.toml").read_text()
    path = tmp_path / "qemu-mps2-an386.toml"
    path.write_text(good.replace("[qemu]", "[firmware.chip]\nhse_hz = 8_000_000\n\n[qemu]"))
    b = validate(tomllib.loads(path.read_text()), path, ports=loaded)
    defines = F.firmware_defines(b)
    assert defines["ESN_CHIP_HSE_HZ"] == "0x7a1200u" and defines["ESN_CHIP_FLASH_WAIT_STATES"] == "0x5u"
    bad = good.replace("[qemu]", "[firmware.chip]\nhse_hz = 1\nflash_wait_state = 2\n\n[qemu]")
    with pytest.raises(BoardError) as ei:
        validate(tomllib.loads(bad), path, ports=loaded)
    msg = str(ei.value)
    assert "firmware.chip.hse_hz: must be an integer in [4,000,000, 26,000,000] (crystal frequency), got 1" in msg
    assert "firmware.chip.flash_wait_state: port mps2 reads no such setting" in msg
    assert "did you mean 'flash_wait_states'?" in msg
    with pytest.raises(BoardError, match=r"firmware.chip.hse_hz: missing \(port mps2 needs it: crystal frequency\)"):
        validate(tomllib.loads(good), path, ports=loaded)
    f.write_text(head + CHIP_PORT.replace("required = true", "required = true\ndefault = 8_000_000")
                 .replace("default = 5\n", "") + "# The QEMU machines" + machines)
    found = port_problems(ports, "mps2")
    assert "chip.hse_hz.default: a required setting has no default" in found
    assert "chip.flash_wait_states.default: missing (an optional setting needs one)" in found
