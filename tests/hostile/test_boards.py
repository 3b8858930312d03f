"""Hostile and careless board files (issue #16): each generated from a shipped board file by one mutation,
given by path to `edgesnn boards FILE` and to `edgesnn run ... --board FILE`. Each must fail with exit 1,
one error naming the file and the key at fault (BoardError lists every problem of the file, one per line),
no traceback and no output file; the shipped file it came from stays valid."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgesnn.board import BOARDS_DIR
from edgesnn.cli import main
from tests.helpers.paths import MODELS

# (case id, shipped board, [(old text, new text)], expected problem: a regex over the error message)
CASES: list[tuple[str, str, list[tuple[str, str]], str]] = [
    ("stack-as-string", "qemu-mps2-an386", [("stack_bytes = 4_096", 'stack_bytes = "big"')],
     r"firmware\.stack_bytes: must be an integer, got str 'big'"),
    ("stack-as-bool", "qemu-mps2-an386", [("stack_bytes = 4_096", "stack_bytes = true")],
     r"firmware\.stack_bytes: must be an integer, got bool True"),
    ("stack-as-float", "qemu-mps2-an386", [("stack_bytes = 4_096", "stack_bytes = 4096.5")],
     r"firmware\.stack_bytes: must be an integer, got float 4096\.5"),
    ("stack-unaligned", "qemu-mps2-an386", [("stack_bytes = 4_096", "stack_bytes = 4_100")],
     r"firmware\.stack_bytes: must be a multiple of 8, got 4,100"),
    ("arena-negative", "qemu-mps2-an386", [("arena_bytes = 65_536", "arena_bytes = -8")],
     r"firmware\.arena_bytes: must be >= 0, got -8"),
    ("arena-too-big", "qemu-mps2-an386", [("arena_bytes = 65_536", "arena_bytes = 200_000")],
     r"firmware\.arena_bytes: stack 4,096 B \+ arena 200,000 B = 204,096 B exceeds data region 'sram'"),
    ("payload-huge", "qemu-mps2-an386", [("max_payload_bytes = 1_024", "max_payload_bytes = 1_000_000")],
     r"firmware\.max_payload_bytes: must be <= 4,096, got 1,000,000"),
    ("tick-zero", "qemu-mps2-an386", [("tick_hz = 25_000_000", "tick_hz = 0")],
     r"firmware\.tick_hz: must be >= 1, got 0"),
    ("port-unknown", "qemu-mps2-an386", [('port = "mps2"', 'port = "mps9"')],
     r"firmware\.port: must be one of .*got 'mps9' \(did you mean 'mps2'\?\)"),
    ("tick-source-unknown", "qemu-mps2-an386", [('tick_source = "systick"', 'tick_source = "rtc"')],
     r"firmware\.tick_source: must be one of systick \(the tick sources port mps2 offers\); got 'rtc'"),
    ("uart-not-qemus", "qemu-mps2-an386", [("uart_base = 0x4000_4000", "uart_base = 0x4000_5000")],
     r"firmware\.uart_base: 0x40005000 is not the UART QEMU's -serial drives on mps2-an386"),
    ("uart-huge", "qemu-mps2-an386", [("uart_base = 0x4000_4000", "uart_base = 0x1_0000_0000")],
     r"firmware\.uart_base: must be <= 4,294,967,295"),
    ("firmware-unknown-key", "qemu-mps2-an386", [("tick_hz = 25_000_000", "tick_hz = 25_000_000\ntick_hertz = 1")],
     r"firmware\.tick_hertz: unknown key \(did you mean 'tick_hz'\?\)"),
    ("machine-unknown", "qemu-mps2-an386", [('machine = "mps2-an386"', 'machine = "mps2-an999"')],
     r"qemu\.machine: must be one of .*got 'mps2-an999'"),
    ("machine-other-core", "qemu-mps2-an386", [('machine = "mps2-an386"', 'machine = "mps2-an500"')],
     r"qemu\.machine: mps2-an500 emulates a cortex-m7, but core = 'cortex-m4'"),
    ("limits-of-unknown", "qemu-mps2-an386", [('limits_of = "nucleo-f446re"', 'limits_of = "nucleo-f999"')],
     r"qemu\.limits_of: no board 'nucleo-f999' in the catalogue \(did you mean 'nucleo-f446re'\?\)"),
    ("limits-of-emulated", "qemu-mps2-an386", [('limits_of = "nucleo-f446re"', 'limits_of = "qemu-mps2-an500"')],
     r"qemu\.limits_of: 'qemu-mps2-an500' is itself emulated; name a real board"),
    ("limits-disagree", "qemu-mps2-an386", [("flash_bytes = 524_288", "flash_bytes = 1_048_576"),
                                           ("size_bytes = 524_288", "size_bytes = 1_048_576")],
     r"flash_bytes = 1048576 but nucleo-f446re\.toml \(qemu\.limits_of\) has 524288"),
    ("clock-not-machines", "qemu-mps2-an386", [("clock_hz = 25_000_000", "clock_hz = 50_000_000")],
     r"clock_hz: mps2-an386 clocks its CPU timers at 25,000,000 Hz, got 50,000,000"),
    ("core-unknown", "qemu-mps2-an386", [('core = "cortex-m4"', 'core = "cortex-m44"')],
     r"core: must be one of .*got 'cortex-m44' \(did you mean 'cortex-m4'\?\)"),
    ("cflags-contradict-core", "qemu-mps2-an386", [("-mcpu=cortex-m4", "-mcpu=cortex-m7")],
     r"toolchain\.cflags: -mcpu=cortex-m7 contradicts core = 'cortex-m4'"),
    ("cflags-no-thumb", "qemu-mps2-an386", [('"-mthumb", ', "")],
     r"toolchain\.cflags: must contain -mthumb"),
    ("fpu-wrong-for-core", "qemu-mps2-an386", [('fpu = "fpv4-sp-d16"', 'fpu = "fpv5-d16"')],
     r"features\.fpu: 'fpv5-d16' is not an FPU a cortex-m4 can have"),
    ("dsp-as-string", "qemu-mps2-an386", [("dsp = true", 'dsp = "yes"')],
     r"features\.dsp: must be true or false, got 'yes'"),
    ("region-origin-string", "qemu-mps2-an386", [("origin = 0x2000_0000", 'origin = "0x20000000"')],
     r"memory\.regions\.sram\.origin: must be an integer"),
    ("region-outside-qemu", "qemu-mps2-an386", [("origin = 0x2000_0000", "origin = 0x3000_0000")],
     r"memory\.regions\.sram: \[0x30000000, 0x30020000\) is not inside the RAM mps2-an386 emulates"),
    ("region-kind-unknown", "qemu-mps2-an386", [('kind = "sram"                 # ZBT SSRAM2/3', 'kind = "dram"')],
     r"memory\.regions\.sram\.kind: must be one of flash, sram, sdram; got 'dram'"),
    ("sram-total-disagrees", "qemu-mps2-an386", [("sram_bytes = 131_072", "sram_bytes = 65_536")],
     r"memory\.sram_bytes: = 65,536 B but the sram regions \(sram\) add up to 131,072 B"),
    ("code-region-missing", "qemu-mps2-an386", [('code_region = "flash"', 'code_region = "rom"')],
     r"memory\.code_region: names region 'rom', which is not among memory\.regions"),
    ("id-not-file-name", "qemu-mps2-an386", [('id = "qemu-mps2-an386"', 'id = "other"')],
     r"id: 'other' must equal the file name stem"),
    ("schema-future", "qemu-mps2-an386", [("schema = 1", "schema = 2")],
     r"schema: must be <= 1, got 2"),
    ("kind-unknown", "qemu-mps2-an386", [('kind = "qemu"', 'kind = "fpga"')],
     r"kind: must be one of hardware, qemu; got 'fpga'"),
    ("unknown-table", "qemu-mps2-an386", [("[serial]", "[radio]\npower = 1\n\n[serial]")],
     r"radio: unknown key"),
    ("baud-too-low", "qemu-mps2-an386", [("baud = 115_200", "baud = 10")],
     r"serial\.baud: must be >= 300, got 10"),
    ("not-toml", "qemu-mps2-an386", [("[features]", "[features")], r"not valid TOML"),
    ("qemu-board-with-flash", "qemu-mps2-an386", [("[serial]", '[flash]\nrunner = "pyocd"\n\n[serial]')],
     r"\[flash\]: not allowed on an emulated board"),
    # real boards: flashing and the STM32 port's chip settings
    ("runner-unknown", "nucleo-f446re", [('runner = "openocd"', 'runner = "jlink"')],
     r"flash\.runner: must be one of pyocd, openocd, drive; got 'jlink'"),
    ("chip-out-of-range", "nucleo-f446re", [("pll_n = ", "pll_n = 100_000 #")],
     r"firmware\.chip\.pll_n: must be an integer in \["),
    ("chip-unknown-setting", "nucleo-f446re", [("[firmware.chip]", "[firmware.chip]\npll_x = 3")],
     r"firmware\.chip\.pll_x: port stm32 reads no such setting"),
    ("chip-as-string", "nucleo-f446re", [("pll_n = ", 'pll_n = "336" #')],
     r"firmware\.chip\.pll_n: must be an integer in \[.*got '336'"),
    ("chip-missing-required", "nucleo-f446re", [("\nrcc_base = ", "\n# rcc_base = ")],
     r"firmware\.chip\.rcc_base: missing \(port stm32 needs it"),
    ("hardware-without-cost", "nucleo-f446re", [("[cost]", "[costs]")],
     r"\[cost\]: table missing \(required for a hardware board\)"),
    ("drive-without-label", "rpi-pico", [('runner = "openocd"', 'runner = "drive"'), ('drive_label = "RPI-RP2"', "")],
     r'flash\.drive_label: missing \(required when flash\.runner = "drive"\)'),
    ("drive-image-unknown", "rpi-pico", [('drive_image = "uf2"', 'drive_image = "elf"')],
     r"flash\.drive_image: must be one of hex, uf2, bin; got 'elf'"),
    ("pico-port-on-wrong-core", "rpi-pico", [('core = "cortex-m0plus"', 'core = "cortex-m4"'),
                                            ("-mcpu=cortex-m0plus", "-mcpu=cortex-m4")],
     r"firmware\.port: the rp2040 port runs on cortex-m0plus, not a cortex-m4"),
    ("microbit-pin-out-of-range", "qemu-microbit", [("uart_tx_pin = 24", "uart_tx_pin = 40")],
     r"firmware\.chip\.uart_tx_pin: must be an integer in \[0, 31\]"),
]


def _mutated(tmp_path, base: str, edits) -> tuple:
    text = (BOARDS_DIR / f"{base}.toml").read_text()
    for old, new in edits:
        assert old in text, f"{old!r} is not in boards/{base}.toml: the case no longer mutates anything"
        text = text.replace(old, new, 1)
    path = tmp_path / f"{base}.toml"   # the file name stem is the id a board file must carry
    path.write_text(text)
    return path


@pytest.mark.parametrize("case, base, edits, expected", CASES, ids=[c[0] for c in CASES])
def test_a_bad_board_file_is_one_error_naming_file_and_key(case, base, edits, expected, tmp_path, capsys):
    path = _mutated(tmp_path, base, edits)
    assert main(["boards", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"edgesnn boards: error: {path}"), err
    assert re.search(expected, err), (expected, err)
    assert "Traceback" not in err
    assert main(["boards", str(BOARDS_DIR / f"{base}.toml")]) == 0   # the shipped file is fine
    capsys.readouterr()


@pytest.mark.parametrize("case, base, edits, expected", CASES[:12], ids=[c[0] for c in CASES[:12]])
def test_a_run_on_a_bad_board_file_fails_before_anything_is_built_or_written(case, base, edits, expected,
                                                                             tmp_path, capsys):
    path = _mutated(tmp_path, base, edits)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 2, 64), np.uint8))
    out = tmp_path / "out.npz"
    assert main(["run", str(MODELS / "digits_mlp.json"), "--board", str(path), "--inputs", str(x), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert re.search(expected, err) and "Traceback" not in err, err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "x.npy"])
