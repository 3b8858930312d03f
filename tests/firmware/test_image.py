"""The images a user flashes (edgesnn/firmware/image.py): BIN, Intel HEX and UF2 made from real firmware
ELFs, compared with arm-none-eabi-objcopy's and read back; HEX checksums and UF2 block fields checked
here, field by field, without the module's readers; corrupt and hostile files refused with the line or
block at fault."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from edgesnn.board import get_board, load_catalogue
from edgesnn.errors import DeviceError
from edgesnn.firmware import image as I
from edgesnn.firmware.elf import Elf
from edgesnn.firmware.runtime import build_runtime_firmware

OBJCOPY = shutil.which("arm-none-eabi-objcopy")
# every real board with a firmware port, as the catalogue has them (the ports are being written)
REAL_WITH_PORT = sorted(b.id for b in load_catalogue().values() if not b.is_emulated and b.port is not None)


def objcopy(elf: Path, fmt: str, out: Path, *extra: str) -> bytes:
    subprocess.run([OBJCOPY, "-O", fmt, *extra, str(elf), str(out)], check=True, capture_output=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def mps2_elf():
    return build_runtime_firmware(get_board("qemu-mps2-an386")).elf


@pytest.fixture(scope="module")
def data_elf(tmp_path_factory):
    """A small ELF with a .data section: run address in RAM, load address in flash after the code."""
    d = tmp_path_factory.mktemp("data_elf")
    (d / "x.c").write_text("int table[70] = {1, 2, 3, 0x55aa55aa};\nconst char msg[] = \"edgesnn\";\n"
                           "int f(int i) { return table[i] + msg[i & 7]; }\n"
                           "__attribute__((section(\".vectors\"), used)) const unsigned vectors[2] = "
                           "{0x20004000u, 0x08000101u};\n")
    (d / "link.ld").write_text(
        "MEMORY { FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 256K\n RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 16K }\n"
        "ENTRY(f)\nSECTIONS {\n .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH\n"
        " .data : { *(.data*) } > RAM AT> FLASH\n .bss : { *(.bss*) } > RAM\n}\n")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", "-nostdlib", "-T", str(d / "link.ld"),
                    str(d / "x.c"), "-o", str(d / "x.elf")], check=True, capture_output=True)
    return d / "x.elf"


def same_as_objcopy_bin(ours: bytes, img: I.Image, ref: bytes) -> None:
    """objcopy -O binary fills gaps with 0x00 (and --gap-fill also fills up to empty RAM sections); ours with
    0xFF: equal wherever the image has bytes, filler elsewhere."""
    assert len(ours) == len(ref) == img.end - img.start
    for a, d in img.chunks:
        assert ours[a - img.start: a - img.start + len(d)] == ref[a - img.start: a - img.start + len(d)] == d
    assert sum(len(d) for _, d in img.chunks) + ours.count(b"\xff") - sum(d.count(b"\xff") for _, d in img.chunks) \
        == len(ours)


def hex_records(text: str) -> list[tuple[int, int, int, bytes]]:
    """(type, address field, length, data) of each record, every checksum checked here."""
    out = []
    for line in text.splitlines():
        assert line.startswith(":"), line
        rec = bytes.fromhex(line[1:])
        assert rec[0] == len(rec) - 5, line
        assert (sum(rec[:-1]) + rec[-1]) % 256 == 0, f"checksum of {line}"
        assert rec[-1] == (0x100 - sum(rec[:-1]) % 256) % 256
        out.append((rec[3], rec[1] << 8 | rec[2], rec[0], rec[4:-1]))
    return out


def check_hex_layout(text: str, img: I.Image) -> None:
    """Records as the format says: 04 before each 64 KiB page, data of at most 16 bytes within a page, 05
    with the entry, 01 last; the data at 04-base + address equals the image's."""
    assert text.endswith("\r\n")
    recs = hex_records(text)
    assert recs[-1] == (0x01, 0, 0, b"")
    assert [r[0] for r in recs].count(0x01) == 1
    upper, seen = None, {}
    for typ, addr, n, data in recs[:-1]:
        if typ == 0x04:
            assert n == 2
            upper = int.from_bytes(data, "big")
        elif typ == 0x00:
            assert upper is not None and 1 <= n <= 16 and addr + n <= 0x10000
            for i, b in enumerate(data):
                seen[(upper << 16) + addr + i] = b
        else:
            assert typ == 0x05 and int.from_bytes(data, "big") == img.entry
    assert len(seen) == img.size
    for a, d in img.chunks:
        assert bytes(seen[a + i] for i in range(len(d))) == d


def check_uf2_layout(data: bytes, img: I.Image, family: int) -> None:
    """Every block's fields, read here with struct: magics, flags 0x2000, family, 256-byte aligned pages,
    numbering; the payloads put together equal the BIN's bytes (0xFF where the image has none)."""
    assert len(data) % 512 == 0
    n = len(data) // 512
    flat = I.to_bin(img)
    for k in range(n):
        b = data[512 * k: 512 * (k + 1)]
        m0, m1, flags, addr, size, no, total, fam = struct.unpack_from("<8I", b)
        assert (m0, m1, struct.unpack_from("<I", b, 508)[0]) == (0x0A324655, 0x9E5D5157, 0x0AB16F30)
        assert flags == 0x2000 and fam == family and size == 256 and addr % 256 == 0
        assert no == k and total == n
        assert b[288:508] == bytes(220)     # the unused part of the 476-byte data field
        for i in range(256):
            a = addr + i
            want = flat[a - img.start] if img.start <= a < img.end else 0xFF
            assert b[32 + i] == want, hex(a)


# ---------------------------------------------------------------------------------------------
# Real firmware

@pytest.mark.needs_arm_gcc
def test_mps2_firmware_images_equal_objcopys_and_read_back(mps2_elf, tmp_path):
    img = I.from_elf(mps2_elf)
    assert img.entry == Elf(mps2_elf).entry and img.start == 0
    b = I.to_bin(img)
    same_as_objcopy_bin(b, img, objcopy(mps2_elf, "binary", tmp_path / "ref.bin"))
    ref_hex = objcopy(mps2_elf, "ihex", tmp_path / "ref.hex").decode()
    assert I.read_hex(ref_hex).chunks == img.chunks
    h = I.to_hex(img)
    check_hex_layout(h, img)
    I.check_against(I.read_hex(h), img)
    I.check_against(I.read_bin(b, img.start), img)
    fam = I.family_id("RP2040")
    u = I.to_uf2(img, fam)
    check_uf2_layout(u, img, fam)
    back, f = I.read_uf2(u, fam)
    assert f == fam
    I.check_against(back, img)
    # objcopy reads our HEX to the same bytes
    (tmp_path / "ours.hex").write_text(h)
    subprocess.run([OBJCOPY, "-I", "ihex", "-O", "binary", "--gap-fill", "0xff", str(tmp_path / "ours.hex"),
                    str(tmp_path / "ours.bin")], check=True)
    assert (tmp_path / "ours.bin").read_bytes() == b


@pytest.mark.needs_arm_gcc
def test_data_is_placed_at_its_load_address(data_elf, tmp_path):
    e = Elf(data_elf)
    data = e.section(".data")
    assert data.addr == 0x2000_0000 and 0x0800_0000 < data.lma < 0x0804_0000
    img = I.from_elf(data_elf)
    assert img.start == 0x0800_0000 and img.end == data.lma + data.size
    assert img.read(data.lma, 16) == struct.pack("<4I", 1, 2, 3, 0x55AA55AA)
    same_as_objcopy_bin(I.to_bin(img), img, objcopy(data_elf, "binary", tmp_path / "ref.bin"))
    assert I.read_hex(objcopy(data_elf, "ihex", tmp_path / "ref.hex")).chunks == img.chunks
    h = I.to_hex(img)
    check_hex_layout(h, img)
    assert [r for r in hex_records(h) if r[0] == 4][0][3] == b"\x08\x00"
    fam = I.family_id("STM32F446RE")
    check_uf2_layout(I.to_uf2(img, fam), img, fam)


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("board_id", REAL_WITH_PORT or [pytest.param("none", marks=pytest.mark.skip(
    reason="no real board has a firmware port yet"))])
def test_real_board_firmware_builds_fits_and_its_images_check(board_id):
    """What `edgesnn boards` claims of a real board with a port: its runtime firmware builds and fits
    (build_runtime_firmware refuses it otherwise), and its images read back equal to the ELF."""
    board = get_board(board_id)
    fw = build_runtime_firmware(board)
    files = I.board_images(board, fw.elf)
    assert [f.format for f in files] == I.formats_of(board)
    flash = [r for r in board.regions.values() if r.kind == "flash"]
    for f in files[1:]:
        assert any(r.origin <= f.start and f.end <= r.end + 255 for r in flash), (f.name, hex(f.start))
    if board.flash.get("drive_image") == "uf2":
        assert I.family_id(board.mcu) is not None


def test_family_ids_by_mcu():
    assert I.family_id("RP2040") == 0xE48BFF56
    assert I.family_id("nRF52833") == 0x621E937A and I.family_id("nRF52840") == 0xADA52840
    assert I.family_id("STM32F446RE") == 0x57755A57 and I.family_id("STM32F405RG") == 0x57755A57
    assert I.family_id("STM32H743ZI") == 0x6DB66082 and I.family_id("STM32L552ZE") == 0x04240BDF
    assert I.family_id("nRF51822-QFAA") is None
    for b in load_catalogue().values():   # a board whose boot loader takes UF2 has its family
        if b.flash.get("drive_image") == "uf2":
            assert I.family_id(b.mcu) is not None, b.id


# ---------------------------------------------------------------------------------------------
# Synthetic images: 64 KiB boundaries, gaps, overlaps

def test_hex_splits_records_at_64k_pages_and_keeps_gaps():
    a = bytes(range(256)) * 2
    img = I.Image(((0x0800_FFF8, a[:40]), (0x0801_0100, a[:3]), (0x1000_0000, b"\x01")), entry=0x0800_0101)
    h = I.to_hex(img)
    check_hex_layout(h, img)
    uppers = [int.from_bytes(d, "big") for t, _, _, d in hex_records(h) if t == 4]
    assert uppers == [0x0800, 0x0801, 0x1000]
    back = I.read_hex(h)
    assert back == img
    b = I.to_bin(I.Image(img.chunks[:2]))
    assert len(b) == 0x0801_0103 - 0x0800_FFF8 and b[40:0x108] == b"\xff" * (0x108 - 40)
    with pytest.raises(DeviceError, match="spans 0x0800fff8..0x10000001"):
        I.to_bin(img)


def test_uf2_pads_pages_with_ff_and_reads_back():
    img = I.Image(((0x1000_0010, b"\x11" * 20), (0x1000_0200, b"\x22" * 300)))
    u = I.to_uf2(img, 0xE48BFF56)
    assert len(u) == 3 * 512
    check_uf2_layout(u, img, 0xE48BFF56)
    back, _ = I.read_uf2(u)
    assert back.start == 0x1000_0000 and back.read(0x1000_0010, 20) == b"\x11" * 20
    I.check_against(back, img)


def test_merge_refuses_conflicting_bytes_and_joins_equal_overlaps():
    assert I.merge([(0x10, b"abc"), (0x12, b"cd"), (0x15, b"x")], "t").chunks == ((0x10, b"abcd"), (0x15, b"x"))
    with pytest.raises(DeviceError, match=r"t: address 0x00000012 is written twice with different bytes"):
        I.merge([(0x10, b"abc"), (0x12, b"zd")], "t")


def test_check_against_names_the_first_difference():
    elf = I.Image(((0x100, b"\x01\x02\x03"), (0x200, b"\x04")))
    I.check_against(I.read_bin(I.to_bin(elf), 0x100), elf)
    with pytest.raises(DeviceError, match=r"img: byte at 0x00000101 is 0x09, the ELF's is 0x02"):
        I.check_against(I.Image(((0x100, b"\x01\x09\x03"), (0x200, b"\x04"))), elf, "img")
    with pytest.raises(DeviceError, match=r"img: the ELF's byte at 0x00000200 is missing"):
        I.check_against(I.Image(((0x100, b"\x01\x02\x03"),)), elf, "img")
    with pytest.raises(DeviceError, match=r"img: byte 0x00 at 0x00000150, where the ELF loads nothing"):
        blob = bytearray(I.to_bin(elf))
        blob[0x50] = 0
        I.check_against(I.read_bin(bytes(blob), 0x100), elf, "img")


# ---------------------------------------------------------------------------------------------
# Corrupt and hostile files

GOOD_HEX = I.to_hex(I.Image(((0x0800_0000, bytes(range(40))),), entry=0x0800_0009))


def _lines():
    return GOOD_HEX.splitlines()


def _fix(line: str) -> str:
    """`line` with its checksum made right again (to reach the checks behind the checksum)."""
    rec = bytes.fromhex(line[1:-2])
    return ":" + (rec + bytes([(-sum(rec)) & 0xFF])).hex().upper()


@pytest.mark.parametrize("mutate, message", [
    (lambda ls: ls[:1] + [ls[1][:-2] + ("00" if ls[1][-2:] != "00" else "01")] + ls[2:],
     r"HEX line 2: checksum 0x.. is wrong \(expected 0x..\)"),
    (lambda ls: ls[:-1], r"HEX: no end-of-file record \(type 01\): the file is truncated"),
    (lambda ls: ls + [ls[1]], "HEX line 7: a record after the end-of-file record"),
    (lambda ls: [ls[0], "1000000000"] + ls[2:], r"HEX line 2: not an Intel HEX record"),
    (lambda ls: [ls[0], ":10000000ZZ"] + ls[2:], "HEX line 2: not hexadecimal"),
    (lambda ls: [ls[0], _fix(":1000000000010203FF")] + ls[2:], "HEX line 2: the record announces 16 data bytes "
                                                               "and holds 4"),
    (lambda ls: [ls[0], _fix(":00000006FF")] + ls[2:], r"HEX line 2: unknown record type 0x06"),
    (lambda ls: [ls[0], _fix(":10FFF800" + "00" * 16 + "FF")] + ls[2:], "HEX line 2: a data record crosses a 64 KiB"),
    (lambda ls: [_fix(":0300000408000000")] + ls[1:], r"HEX line 1: an extended address record of 3 bytes"),
    (lambda ls: ls[:1] + [_fix(":02001000FFFF00")] + ls[1:],
     r"HEX: address 0x08000010 is written twice with different bytes"),
])
def test_corrupt_hex_is_refused_naming_the_line(mutate, message):
    text = "\n".join(mutate(_lines())) + "\n"
    with pytest.raises(DeviceError, match=message):
        I.read_hex(text)


def test_hex_of_non_ascii_bytes_is_refused():
    with pytest.raises(DeviceError, match="not an Intel HEX file"):
        I.read_hex(b"\xff\xfe:00000001FF")


GOOD_UF2 = I.to_uf2(I.Image(((0x1000_0000, random.Random(1).randbytes(768)),)), 0xE48BFF56)


def _block(k: int, **fields) -> bytes:
    """GOOD_UF2 with block k's header fields changed."""
    names = ["m0", "m1", "flags", "addr", "size", "no", "total", "family"]
    data = bytearray(GOOD_UF2)
    vals = list(struct.unpack_from("<8I", data, 512 * k))
    for name, v in fields.items():
        vals[names.index(name)] = v
    struct.pack_into("<8I", data, 512 * k, *vals)
    return bytes(data)


@pytest.mark.parametrize("data, message", [
    (GOOD_UF2[:-1], r"UF2: 1,535 B is not a whole number of 512-byte UF2 blocks"),
    (b"", "UF2: 0 B is not a whole number"),
    (GOOD_UF2[:1024], r"UF2: 2 blocks where the blocks announce 3: the file is truncated"),
    (_block(1, m0=0x12345678), r"UF2 block 1: bad magic numbers"),
    (GOOD_UF2[:1023] + b"\0" + GOOD_UF2[1024:], r"UF2 block 1: bad magic numbers"),
    (_block(2, family=0xADA52840), r"UF2 block 2: family ID 0xada52840 where earlier blocks carry 0xe48bff56"),
    (_block(0, family=0xADA52840), r"UF2 block 0: family ID 0xada52840, not this chip's 0xe48bff56"),
    (_block(0, flags=0), r"UF2 block 0: no family ID \(flag 0x2000\)"),
    (_block(1, size=477), r"UF2 block 1: payload of 477 B \(1..476 allowed\)"),
    (_block(1, size=0), r"UF2 block 1: payload of 0 B"),
    (_block(1, no=2), r"UF2 block 1: numbered 2 of 3; blocks must be numbered 0..n-1 in order"),
    (_block(1, total=9), r"UF2 block 1: numbered 1 of 9"),
    (_block(0, flags=0x3000), r"UF2 block 0: a file-container block"),
    (_block(1, addr=0x1000_0000), r"UF2: address 0x10000000 is written twice with different bytes"),
    (_block(2, addr=0xFFFF_FF80), r"UF2: 256 B at 0xffffff80 run past the 32-bit address space"),
])
def test_corrupt_uf2_is_refused_naming_the_block(data, message):
    with pytest.raises(DeviceError, match=message):
        I.read_uf2(data, 0xE48BFF56)


def test_uf2_blocks_not_for_main_flash_are_skipped():
    data = _block(2, flags=0x2001)
    img, fam = I.read_uf2(data)
    assert fam == 0xE48BFF56 and img.end == 0x1000_0200


@pytest.mark.needs_arm_gcc
def test_elf_with_a_segment_past_its_end_is_refused(tmp_path, mps2_elf):
    raw = bytearray(Path(mps2_elf).read_bytes())
    phoff, = struct.unpack_from("<I", raw, 0x1C)
    phentsize, phnum = struct.unpack_from("<HH", raw, 0x2A)
    for i in range(phnum):
        at = phoff + i * phentsize
        if struct.unpack_from("<I", raw, at)[0] == 1 and struct.unpack_from("<I", raw, at + 16)[0]:
            struct.pack_into("<I", raw, at + 16, len(raw))   # filesz past the end of the file
            break
    (tmp_path / "bad.elf").write_bytes(bytes(raw))
    with pytest.raises(DeviceError, match="a load segment at 0x00000000 .* runs past the end of the file"):
        I.from_elf(tmp_path / "bad.elf")


needs_objcopy = pytest.mark.skipif(OBJCOPY is None, reason="arm-none-eabi-objcopy not installed")
test_mps2_firmware_images_equal_objcopys_and_read_back = needs_objcopy(
    test_mps2_firmware_images_equal_objcopys_and_read_back)
test_data_is_placed_at_its_load_address = needs_objcopy(test_data_is_placed_at_its_load_address)


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, not reflected), the RP2040 boot ROM's check of boot2."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x8000_0000 else crc << 1) & 0xFFFFFFFF
    return crc


@pytest.mark.needs_arm_gcc
@pytest.mark.skipif("rpi-pico" not in REAL_WITH_PORT, reason="the rp2040 port is not there")
def test_pico_uf2_starts_with_a_boot2_the_boot_rom_takes():
    """What the RP2040 boot ROM reads from the UF2 the RPI-RP2 drive takes: blocks for family RP2040, the
    first at the start of flash (0x1000_0000) holding the ELF's .boot2, whose last word is the CRC-32/MPEG-2
    of its first 252 bytes; then the vector table at 0x1000_0100."""
    board = get_board("rpi-pico")
    fw = build_runtime_firmware(board)
    uf2 = next(f for f in I.board_images(board, fw.elf) if f.format == "uf2").data
    flags, addr, size = struct.unpack_from("<III", uf2, 8)
    assert (flags, addr, size) == (0x2000, 0x1000_0000, 256)
    assert struct.unpack_from("<I", uf2, 28)[0] == 0xE48BFF56
    boot2 = uf2[32:32 + 256]
    e = Elf(fw.elf)
    sec = e.section(".boot2")
    assert sec is not None and sec.lma == 0x1000_0000 and sec.size == 256
    assert boot2 == I.from_elf(fw.elf).read(0x1000_0000, 256)
    assert struct.unpack("<I", boot2[252:])[0] == crc32_mpeg2(boot2[:252])
    sp, reset = struct.unpack_from("<II", uf2, 512 + 32)   # block 1: the vector table
    assert struct.unpack_from("<I", uf2, 512 + 12)[0] == 0x1000_0100
    assert 0x2000_0000 < sp <= 0x2004_2000 and reset & 1 and 0x1000_0100 < reset < 0x1020_0000
