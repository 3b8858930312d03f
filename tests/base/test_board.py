"""Board catalogue: every shipped file validates, and a bad file gets ONE error listing every problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgesnn import cli
from edgesnn.board import (BOARDS_DIR, DEFAULT_BOARD, QEMU_MACHINES, get_board, load_board_file,
                           load_catalogue)
from edgesnn.errors import BoardError, DeviceError

GOOD = (BOARDS_DIR / "nucleo-f446re.toml").read_text()
GOOD_QEMU = (BOARDS_DIR / "qemu-mps2-an386.toml").read_text()


def write(tmp_path: Path, text: str, name: str = "nucleo-f446re") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(BoardError) as ei:
        load_board_file(path)
    msg = str(ei.value)
    assert msg.startswith(str(path)), msg
    return [line[4:] for line in msg.splitlines()[1:] if line.startswith("  - ")]


def test_catalogue_has_the_boards_the_project_promises():
    boards = load_catalogue()
    real = {b for b, x in boards.items() if x.kind == "hardware"}
    emulated = {b for b, x in boards.items() if x.kind == "qemu"}
    assert {"nucleo-f446re", "nucleo-l476rg", "nucleo-h743zi", "stm32f746g-disco", "arduino-nano-33-ble",
            "rpi-pico", "microbit-v2", "nucleo-l552ze-q"} <= real
    assert emulated == {"qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505", "qemu-microbit", "qemu-netduinoplus2"}
    assert boards[DEFAULT_BOARD].qemu_machine == "mps2-an386"
    cores = {b.core for b in boards.values()}
    assert {"cortex-m0", "cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33"} <= cores
    # the M7 boards carry their tightly coupled / external regions
    assert {"dtcm", "axi_sram"} <= set(boards["nucleo-h743zi"].regions)
    assert boards["stm32f746g-disco"].regions["sdram"].size_bytes == 8 << 20
    for b in boards.values():
        if b.kind == "hardware":
            assert b.raw["cost"]["energy_per_cycle_source"]
            assert all(r.source and r.read_energy_pj is not None for r in b.regions.values())


def test_emulated_boards_enforce_a_real_boards_limits_not_qemus():
    boards = load_catalogue()
    for b in boards.values():
        if not b.is_emulated:
            continue
        ref = boards[b.limits_of]
        assert (b.flash_bytes, b.sram_bytes, b.core) == (ref.flash_bytes, ref.sram_bytes, ref.core)
        assert b.sram_bytes < 4 << 20 and b.firmware["port"]
        assert QEMU_MACHINES[b.qemu_machine].core == b.core


def test_every_kind_of_problem_is_listed_at_once(tmp_path):
    text = (GOOD
            .replace('clock_hz = 180_000_000', 'clock_hz = -5')                         # out of range
            .replace('core = "cortex-m4"', 'core = "cortex-m4"\ncolor = "blue"')        # unknown key
            .replace('dsp = true', 'dsp = "yes"')                                       # wrong type
            .replace('mcu = "STM32F446RE"\n', '')                                       # missing key
            .replace('sram_bytes = 131_072 ', 'sram_bytes = 262_144 ')                   # totals disagree
            .replace('origin = 0x2000_0000', 'origin = 0x0807_0000')                    # overlaps flash
            .replace('"-mfpu=fpv4-sp-d16", ', '')                                       # flags vs fpu
            .replace('energy_per_cycle_source = ', 'energy_source = ')                  # typo'd key
            .replace('runner = "openocd"', 'runner = "jlink"'))                         # bad choice
    found = problems(write(tmp_path, text))
    joined = "\n".join(found)
    expected = [
        "clock_hz: must be >= 1, got -5",
        "color: unknown key",
        "features.dsp: must be true or false",
        "mcu: missing (required)",
        "memory.sram_bytes: = 262,144 B but the sram regions (sram) add up to 131,072 B",
        "memory.regions.sram.origin: sram [0x08070000, 0x08090000) overlaps flash",
        "toolchain.cflags: must contain -mfpu=fpv4-sp-d16",
        "cost.energy_per_cycle_source: missing (required)",
        "cost.energy_source: unknown key (did you mean 'energy_per_cycle_source'?)",
        "flash.runner: must be one of pyocd, openocd, drive; got 'jlink'",
    ]
    for e in expected:
        assert any(e in f for f in found), f"{e!r} not in\n{joined}"
    assert len(found) == len(expected), joined


def test_syntax_and_duplicate_keys_are_reported_with_the_file(tmp_path):
    dup = write(tmp_path, GOOD.replace('clock_hz = 180_000_000', 'clock_hz = 180_000_000\nclock_hz = 1'))
    (msg,) = problems(dup)
    assert "not valid TOML" in msg and "line" in msg
    broken = write(tmp_path, GOOD + "\n[oops\n", name="x")
    assert "not valid TOML" in problems(broken)[0]


def test_id_must_match_file_name_and_cores_must_agree_with_features(tmp_path):
    text = (GOOD.replace('id = "nucleo-f446re"', 'id = "nucleo-f401re"')
                .replace('core = "cortex-m4"', 'core = "cortex-m0"'))
    found = "\n".join(problems(write(tmp_path, text)))
    assert "id: 'nucleo-f401re' must equal the file name stem 'nucleo-f446re'" in found
    assert "features.fpu: 'fpv4-sp-d16' is not an FPU a cortex-m0 can have" in found
    assert "features.dsp: a cortex-m0 has no DSP extension" in found
    assert "-mcpu=cortex-m4 contradicts core = 'cortex-m0'" in found


def test_missing_tables_and_region_roles(tmp_path):
    text = GOOD.split("[cost]")[0].replace('data_region = "sram"', 'data_region = "ram"')
    found = "\n".join(problems(write(tmp_path, text)))
    for table in ("[cost]", "[flash]", "[serial]"):
        assert f"{table}: table missing (required for a hardware board)" in found
    assert "memory.data_region: names region 'ram', which is not among memory.regions (flash, sram)" in found
    text2 = GOOD.replace('read_energy_pj = 60.0\n', '').replace('kind = "sram"', 'kind = "dram"')
    found2 = "\n".join(problems(write(tmp_path, text2)))
    assert "memory.regions.flash.read_energy_pj: missing (required for a hardware board" in found2
    assert "memory.regions.sram.kind: must be one of flash, sram, sdram; got 'dram'" in found2


def test_emulated_board_problems(tmp_path):
    text = (GOOD_QEMU.replace('origin = 0x2000_0000', 'origin = 0x3000_0000')     # outside QEMU's RAM
                     .replace('machine = "mps2-an386"', 'machine = "mps2-an500"')  # wrong core
                     .replace('arena_bytes = 65_536', 'arena_bytes = 131_072')     # stack + arena > sram
                     + '\n[flash]\nrunner = "pyocd"\npyocd_target = "x"\n')
    found = "\n".join(problems(write(tmp_path, text, name="qemu-mps2-an386")))
    assert "memory.regions.sram: [0x30000000, 0x30020000) is not inside the RAM mps2-an500 emulates" in found
    assert "qemu.machine: mps2-an500 emulates a cortex-m7, but core = 'cortex-m4'" in found
    assert "firmware.arena_bytes: stack 4,096 B + arena 131,072 B = 135,168 B exceeds data region 'sram'" in found
    assert "[flash]: not allowed on an emulated board" in found


def test_catalogue_checks_emulated_limits_against_the_real_board(tmp_path):
    for f in BOARDS_DIR.glob("*.toml"):
        shutil.copy(f, tmp_path)
    p = tmp_path / "qemu-mps2-an386.toml"
    p.write_text(GOOD_QEMU.replace("flash_bytes = 524_288", "flash_bytes = 4_194_304")
                          .replace("size_bytes = 524_288", "size_bytes = 4_194_304"))
    q = tmp_path / "qemu-microbit.toml"
    q.write_text(q.read_text().replace('limits_of = "microbit-v1"', 'limits_of = "microbit-v3"'))
    with pytest.raises(BoardError) as ei:
        load_catalogue(tmp_path)
    msg = str(ei.value)
    assert "flash_bytes = 4194304 but nucleo-f446re.toml (qemu.limits_of) has 524288" in msg
    assert "memory.regions.flash is flash 4,194,304 B, nucleo-f446re.toml has flash 524,288 B" in msg
    assert "no board 'microbit-v3' in the catalogue (did you mean 'microbit-v" in msg
    # problems in several files come back together
    (tmp_path / "rpi-pico.toml").write_text(GOOD.replace('clock_hz = 180_000_000', ''))
    with pytest.raises(BoardError) as ei:
        load_catalogue(tmp_path)
    assert "rpi-pico.toml" in str(ei.value) and "id: 'nucleo-f446re' must equal" in str(ei.value)


def test_board_error_is_a_device_error_and_lookup_suggests():
    assert issubclass(BoardError, DeviceError)
    with pytest.raises(BoardError, match="did you mean nucleo-f446re"):
        get_board("nucleo-f446")
    assert get_board(None).id == DEFAULT_BOARD
    assert get_board(str(BOARDS_DIR / "rpi-pico.toml")).core == "cortex-m0plus"


def test_cli_boards(capsys):
    assert cli.main(["boards"]) == 0
    out = capsys.readouterr().out
    assert "qemu-mps2-an386 *" in out and "nucleo-h743zi" in out and "limits of nucleo-f446re" in out
    assert cli.main(["boards", "stm32f746g-disco"]) == 0
    out = capsys.readouterr().out
    assert "sdram" in out and "0xc0000000" in out and "Horowitz" in out
    assert cli.main(["boards", "nope"]) == 1
    assert "no board 'nope'" in capsys.readouterr().err


def test_the_smallest_payload_carries_a_counter_page_and_a_fault_report():
    """board.MIN_PAYLOAD_BYTES is worked out in board.py from the counter page's layout (board files are checked
    below the device layer); it must hold one node's counter page as the runner reads it, and FAULT's payload."""
    from edgesnn.board import MIN_PAYLOAD_BYTES
    from edgesnn.device import protocol
    from edgesnn.device.runner import COUNTER_NAMES
    assert MIN_PAYLOAD_BYTES == 8 + 8 * len(COUNTER_NAMES) == 72
    assert MIN_PAYLOAD_BYTES >= protocol.FAULT_PAYLOAD_BYTES
