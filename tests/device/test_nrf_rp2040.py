"""The Nordic and Raspberry Pi ports on real boards: micro:bit v1 (runtime_c/ports/microbit, the port
qemu-microbit runs), micro:bit v2 and Arduino Nano 33 BLE (runtime_c/ports/nrf52), Raspberry Pi Pico
(runtime_c/ports/rp2040).

QEMU 7.2 has no nRF52 or RP2040 machine (checked below), so for these boards nothing runs here; what
is checked is what the images are made of:
- the firmware, bare and with the C runtime, builds and fits (sizes read from the ELF);
- its vector table sits where the chip looks for it (the flash origin; the Pico: 0x10000100, after
  boot2), with an initial SP inside SRAM and an odd (Thumb) reset vector inside flash that is the
  ELF's entry point;
- the Pico's boot2 block is at 0x10000000, 256 bytes whose last 4 are the CRC-32 the boot ROM checks,
  recomputed here independently of edgesnn/firmware/build.py, and it sets up the SSI for 03h reads;
- the peripheral base addresses each board uses (board file, chip settings, the port's #defines and
  the literals in the linked code) against a table taken from the datasheets.
The micro:bit v1 is the exception: QEMU's microbit machine is its nRF51822, so the real board's image
itself (no semihosting) boots and answers there; and qemu-microbit, built from the same port, still
boots (its ESN-CLOCK line says which clock runs) and runs every example model bit-identically
(tests/device/test_device_runtime.py).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tomllib
from pathlib import Path

import pytest

from edgesnn.board import PORTS_DIR, chip_settings, load_ports, qemu_machines, validate
from edgesnn.device.qemu import QemuTarget
from edgesnn.errors import DeviceError
from edgesnn.firmware import build as F
from edgesnn.firmware.elf import Elf
from edgesnn.firmware.runtime import build_runtime_firmware

REAL = ["microbit-v1", "microbit-v2", "arduino-nano-33-ble", "rpi-pico"]
PORT = {"microbit-v1": "microbit", "microbit-v2": "nrf52", "arduino-nano-33-ble": "nrf52", "rpi-pico": "rp2040"}

# Peripheral base addresses from the datasheets' memory maps:
#   nRF51822 PS v3.4, memory chapter, "Instantiation" table (IDs and base addresses), as the nRF51 RM v3.0
#     register chapters repeat them: CLOCK 0x40000000 (sec. 13), UART0 0x40002000 (sec. 29), TIMER0
#     0x40008000 (sec. 18), GPIO 0x50000000 (sec. 14).
#   nRF52833 PS v1.6 and nRF52840 PS v1.7, memory chapter, "Instantiation" table: CLOCK 0x40000000,
#     UART0 0x40002000, TIMER0 0x40008000, GPIO P0 0x50000000 (P1 0x50000300).
#   RP2040 datasheet sec. 2.2 (address map): XIP_SSI 0x18000000, CLOCKS 0x40008000, RESETS 0x4000C000,
#     IO_BANK0 0x40014000, XOSC 0x40024000, PLL_SYS 0x40028000, UART0 0x40034000, TIMER 0x40054000,
#     WATCHDOG 0x40058000.
NRF51 = {"CLOCK": 0x4000_0000, "UART0": 0x4000_2000, "TIMER0": 0x4000_8000, "GPIO": 0x5000_0000}
NRF52 = {"CLOCK": 0x4000_0000, "UART0": 0x4000_2000, "TIMER0": 0x4000_8000, "P0": 0x5000_0000}
RP2040 = {"XIP_SSI": 0x1800_0000, "CLOCKS": 0x4000_8000, "RESETS": 0x4000_C000, "IO_BANK0": 0x4001_4000,
          "XOSC": 0x4002_4000, "PLL_SYS": 0x4002_8000, "UART0": 0x4003_4000, "TIMER": 0x4005_4000,
          "WATCHDOG": 0x4005_8000}
DATASHEET = {"microbit-v1": NRF51, "microbit-v2": NRF52, "arduino-nano-33-ble": NRF52, "rpi-pico": RP2040}
# the host-link pins, from each board's schematic / pin map (nRF52: port * 32 + pin, as PSEL encodes them)
PINS = {"microbit-v1": dict(uart_tx_pin=24, uart_rx_pin=25),                  # P0.24 / P0.25
        "microbit-v2": dict(uart_tx_pin=6, uart_rx_pin=32 + 8),               # P0.06 / P1.08
        "arduino-nano-33-ble": dict(uart_tx_pin=32 + 3, uart_rx_pin=32 + 10),  # P1.03 (D1) / P1.10 (D0)
        "rpi-pico": dict(uart_tx_gpio=0, uart_rx_gpio=1)}                      # GP0 / GP1
# the port source's #define NAME_BASE and the datasheet block it must equal
SOURCE_BASES = {
    # the nordic layer's registers, which the nRF51 (microbit) and nRF52 ports share: both datasheets
    "microbit": ("nordic/esn_nordic.h", {"ESN_NORDIC_CLOCK_BASE": "CLOCK", "ESN_CHIP_TIMER_BASE": "TIMER0",
                                         "ESN_NORDIC_GPIO_BASE": "GPIO"}, NRF51),
    "nrf52": ("nordic/esn_nordic.h", {"ESN_NORDIC_CLOCK_BASE": "CLOCK", "ESN_CHIP_TIMER_BASE": "TIMER0",
                                      "ESN_NORDIC_GPIO_BASE": "P0"}, NRF52),
    "rp2040": ("rp2040/esn_fw_port_rp2040.c", {"RESETS_BASE": "RESETS", "CLOCKS_BASE": "CLOCKS", "XOSC_BASE": "XOSC",
                                               "PLL_SYS_BASE": "PLL_SYS", "IO_BANK0_BASE": "IO_BANK0",
                                               "TIMER_BASE": "TIMER", "WATCHDOG_BASE": "WATCHDOG"}, RP2040),
}

needs_arm_gcc = pytest.mark.needs_arm_gcc


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32 as the RP2040 boot ROM checks boot2 (datasheet sec. 2.8.1.3.1): polynomial 0x04C11DB7,
    initial value 0xFFFFFFFF, input and output not reflected, no final xor. Table-driven, written apart
    from build.py's bitwise one so that the two check each other."""
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = (c << 1) ^ 0x04C1_1DB7 if c & 0x8000_0000 else c << 1
        table.append(c & 0xFFFF_FFFF)
    crc = 0xFFFF_FFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFF_FFFF) ^ table[((crc >> 24) ^ b) & 0xFF]
    return crc


def test_crc_matches_known_values():
    # CRC-32/MPEG-2 check value (the CRC catalogue's "123456789") and the empty input
    assert crc32_mpeg2(b"123456789") == 0x0376_E6E7 == F.boot2_crc32(b"123456789")
    assert crc32_mpeg2(b"") == 0xFFFF_FFFF


def _read(elf: Elf, addr: int, n: int) -> bytes:
    for start, data in elf.load_segments():
        if start <= addr and addr + n <= start + len(data):
            return data[addr - start: addr - start + n]
    raise AssertionError(f"{elf.path}: nothing loaded at {addr:#010x}..{addr + n:#010x}")


def _addresses(elf: Elf) -> set[int]:
    """Every 32-bit value the code can use as an address: the aligned words of the loaded image (literal
    pools) and the immediates of its instructions (Thumb-2 builds 0x40000000 with one MOV.W)."""
    words = set()
    for _, data in elf.load_segments():
        words.update(struct.unpack_from(f"<{len(data) // 4}I", data, 0))
    objdump = shutil.which("arm-none-eabi-objdump")
    if objdump:
        text = subprocess.run([objdump, "-d", str(elf.path)], capture_output=True, text=True, check=True).stdout
        words.update(int(m, 0) for m in re.findall(r"#(-?(?:0x[0-9a-f]+|\d+))\b", text) if int(m, 0) >= 0)
    return words


@pytest.fixture(scope="module")
def images(boards, fw_cache):
    return {b: F.build(boards[b], cache_dir=fw_cache) for b in REAL}


def test_qemu_has_no_nrf52_or_rp2040_machine():
    """Why these boards are checked by build and ELF only: no port lists a QEMU machine for them, and
    the QEMU installed here (7.2) has none."""
    assert not any(m.port in ("nrf52", "rp2040") for m in qemu_machines().values())
    assert not load_ports()["nrf52"].machines and not load_ports()["rp2040"].machines
    qemu = shutil.which("qemu-system-arm")
    if qemu:
        listing = subprocess.run([qemu, "-M", "help"], capture_output=True, text=True, check=False).stdout
        names = {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}
        assert "microbit" in names
        assert not {n for n in names if "nrf52" in n or "rp2040" in n or "pico" in n}, names


@pytest.mark.parametrize("board_id", REAL)
def test_board_settings_are_the_datasheets(boards, board_id):
    b = boards[board_id]
    assert b.kind == "hardware" and b.port is not None and b.port.id == PORT[board_id]
    sheet = DATASHEET[board_id]
    assert b.firmware["uart_base"] == sheet["UART0"]
    chip = chip_settings(b)
    for name, value in PINS[board_id].items():
        assert chip[name] == value, name
    if b.port.id == "nrf52":
        assert chip["timer_base"] == sheet["TIMER0"] and b.firmware["tick_hz"] == 16_000_000
    if board_id == "rpi-pico":   # 12 MHz x 125 / 6 / 2 = the rated 125 MHz (datasheet sec. 2.18.2)
        assert chip["xosc_hz"] * chip["pll_fbdiv"] // chip["pll_postdiv1"] // chip["pll_postdiv2"] == b.clock_hz
        assert 750_000_000 <= chip["xosc_hz"] * chip["pll_fbdiv"] <= 1_600_000_000
        assert b.firmware["tick_hz"] == 1_000_000
        assert 125_000_000 // chip["xip_clkdiv"] <= 50_000_000   # 03h reads: the W25Q16JV's limit


@pytest.mark.parametrize("port", sorted(SOURCE_BASES))
def test_port_sources_use_the_datasheet_bases(port):
    path, names, sheet = SOURCE_BASES[port]
    text = (PORTS_DIR / path).read_text()
    defined = {m[1]: int(m[2], 16) for m in re.finditer(r"#define (\w+_BASE) (0x[0-9A-Fa-f]+)u", text)}
    for name, block in names.items():
        assert defined.get(name) == sheet[block], (path, name)


@needs_arm_gcc
@pytest.mark.parametrize("board_id", REAL)
def test_image_builds_fits_and_starts_where_the_chip_looks(boards, images, board_id):
    b = boards[board_id]
    fw = images[board_id]
    elf = Elf(fw.elf)
    flash, sram = b.regions[b.code_region], b.regions[b.data_region]
    # fits: every region's use, read from the ELF, within the board's size for it
    for name, used in fw.sizes.regions.items():
        assert 0 < used <= b.regions[name].size_bytes, (name, used)
    alloc = {s.name: s.size for s in elf.sections if s.alloc}
    assert fw.sizes.text == sum(alloc.get(n, 0) for n in (".boot2", ".text", ".ARM.exidx", ".ARM.extab"))
    assert (".boot2" in alloc) == (board_id == "rpi-pico")
    # every loaded byte lies in flash
    for addr, data in elf.load_segments():
        assert flash.origin <= addr and addr + len(data) <= flash.end, hex(addr)
    vectors = flash.origin + (0x100 if board_id == "rpi-pico" else 0)
    assert elf.section(".text").addr == vectors
    sp, reset = struct.unpack("<II", _read(elf, vectors, 8))
    assert sram.origin < sp <= sram.end and sp % 8 == 0
    assert reset & 1 and flash.origin <= reset & ~1 < flash.end
    assert elf.entry & ~1 == reset & ~1
    # the addresses the code uses: each datasheet block is addressed by some literal in the image
    words = _addresses(elf)
    span = 0x4000 if board_id == "rpi-pico" else 0x1000   # RP2040: the atomic set/clear aliases follow
    for block, base in DATASHEET[board_id].items():   # (P1 at 0x50000300 lies in P0's span)
        assert any(base <= w < base + span for w in words), (block, hex(base))


@needs_arm_gcc
def test_pico_boot2_block_checksum_and_xip_setup(images, boards):
    """RP2040 datasheet sec. 2.8.1.3: the boot ROM runs the first 256 bytes of flash only when their last
    4 bytes are the CRC-32 of the first 252."""
    elf = Elf(images["rpi-pico"].elf)
    assert elf.section(".boot2").addr == 0x1000_0000 and elf.section(".boot2").size == 256
    block = _read(elf, 0x1000_0000, 256)
    assert int.from_bytes(block[252:], "little") == crc32_mpeg2(block[:252])
    # its literals: the SSI, CTRLR0 (32-bit frames, EEPROM read), SPI_CTRLR0 (03h, 8-bit instruction,
    # 24-bit address), the image's vector table and VTOR
    words = set(struct.unpack("<63I", block[:252]))
    assert {0x001F_0300, 0x0300_0218, 0x1000_0100, 0xE000_ED08} <= words
    assert any(0x1800_0000 <= w < 0x1800_0100 for w in words)
    # starts with Thumb code, not padding: its first halfword is not zero
    assert block[:2] != b"\0\0"


@needs_arm_gcc
def test_a_broken_boot2_is_refused(tmp_path, boards):
    """build.py refuses a boot2 that does not fit 252 bytes or is not one relocation-free code section."""
    ports = tmp_path / "ports"
    shutil.copytree(PORTS_DIR, ports, ignore=shutil.ignore_patterns("__pycache__", "*.o"))
    src = ports / "rp2040" / "esn_boot2_rp2040.c"
    good = src.read_text()
    path = boards["rpi-pico"].path
    board = lambda: validate(tomllib.loads(path.read_text()), path, ports=load_ports(ports))  # noqa: E731
    entry = '__asm volatile("mov %0, lr"'
    src.write_text(good.replace(entry, '__asm volatile(".space 300");\n    ' + entry))
    with pytest.raises(DeviceError, match=r"boot2 .* is \d+ B of code; .* at most 252 B"):
        F.build(board(), cache_dir=tmp_path / "c1")
    src.write_text(good + "\nint esn_boot2_state;\nvoid esn_boot2_mark(void);\n"
                          "void esn_boot2_mark(void) { esn_boot2_state = 1; }\n")
    with pytest.raises(DeviceError, match=r"must compile to one code section with no data and no relocations"):
        F.build(board(), cache_dir=tmp_path / "c2")


@needs_arm_gcc
@pytest.mark.parametrize("board_id", REAL)
def test_runtime_firmware_builds_and_fits(boards, fw_cache, board_id):
    """The firmware `edgesnn run --board B --port DEV` flashes: the C runtime linked in, the arena every
    byte its region has left."""
    b = boards[board_id]
    fw = build_runtime_firmware(b, cache_dir=fw_cache)
    for name, used in fw.sizes.regions.items():
        assert used <= b.regions[name].size_bytes
    assert fw.sizes.arena > 0
    elf = Elf(fw.elf)
    assert elf.entry & 1


@pytest.mark.needs_qemu
def test_qemu_microbit_boots_and_says_which_clock_runs(boards, fw_cache):
    """The microbit port's crystal start and pin settings change nothing QEMU can see except the ESN-CLOCK
    line; QEMU 7.2's nRF51 CLOCK stub answers that the crystal runs."""
    b = boards["qemu-microbit"]
    fw = F.build(b, cache_dir=fw_cache)
    assert fw.defines["ESN_CHIP_UART_TX_PIN"] == "0x18u" and fw.defines["ESN_CHIP_UART_RX_PIN"] == "0x19u"
    with QemuTarget(b, fw.elf) as q:
        assert q.link.texts[0] == "ESN-CLOCK rated hfclk=xtal 16000000"
        assert q.link.echo(b"micro:bit") == b"micro:bit"
        line = q.link.reset(system=True)
        assert line.startswith("ESN-READY") and q.link.texts.count("ESN-CLOCK rated hfclk=xtal 16000000") == 2
        q.link.handshake()
        assert q.link.counter().ticks < 100_000   # restarted with the machine (~1e4), not run ahead (~5e5)
    assert q.exit_code == 0


@pytest.mark.needs_qemu
def test_real_microbit_v1_image_runs_on_the_emulated_nrf51(boards, fw_cache):
    """The image flashed to a real micro:bit v1 (no semihosting, its own board id) boots on QEMU's microbit
    machine, the same nRF51822: it announces its clock, answers, and its ticks keep the emulated rate
    (2 instructions per SPIN iteration, 62.5 instructions per 16 MHz tick). It has no EXIT (a real board
    parks instead), so the emulator is killed."""
    fw = F.build(boards["microbit-v1"], cache_dir=fw_cache)
    assert fw.defines["ESN_FW_SEMIHOSTING"] == "0"
    q = QemuTarget(boards["qemu-microbit"], fw.elf, handshake=False)
    q.start()
    try:
        assert q.link.texts == ["ESN-CLOCK rated hfclk=xtal 16000000",
                                "ESN-READY edgesnn-fw/" + q.ready_line.split("edgesnn-fw/")[1]]
        assert q.ready_line.endswith("board=microbit-v1")
        h = q.link.handshake()
        assert h.board == "microbit-v1" and "exit" not in h.capabilities and h.tick_hz == 16_000_000
        assert h.clock == "rated hfclk=xtal 16000000"
        assert q.link.echo(b"real board image") == b"real board image"
        assert q.link.spin(100_000).ticks == pytest.approx(2 * 100_000 / 62.5, abs=1.5)
    finally:
        q.kill()


def test_board_files_document_the_link(boards):
    """The Nano 33 BLE's USB is the nRF52840's own USB device (it would need a USB stack): its board file
    says the link is D0/D1 through a 3.3 V adapter."""
    text = Path(boards["arduino-nano-33-ble"].path).read_text()
    assert "3.3 V" in text and "P1.03" in text and "P1.10" in text and "USB stack" in text
