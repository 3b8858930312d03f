"""The files a user flashes, made from a firmware ELF: raw BIN, Intel HEX and UF2, and their readers.

    img = from_elf("firmware.elf")            # the ELF's loadable bytes, by load address
    to_bin(img), to_hex(img), to_uf2(img, family_id("RP2040"))
    check_against(read_hex(text), img)        # every loadable byte of the ELF, equal in the file

An Image is the ELF's PT_LOAD segments with file bytes, at their load (physical) addresses, so the
initial values of .data sit in flash where the start-up code copies them from: what pyOCD and
OpenOCD write from the ELF itself (tests compare with `arm-none-eabi-objcopy`).

- BIN: the bytes from the lowest load address to the highest, gaps filled with 0xFF (erased flash).
  It carries no address: it is flashed at `img.start`.
- Intel HEX: data records (type 00) of 16 bytes, never crossing a 64 KiB boundary, each 64 KiB page
  opened by an extended linear address record (04); the start linear address (05, the ELF's entry
  point); the end of file record (01); lines end in CR LF, as objcopy's. Each record ends with its
  checksum (two's complement of the sum of its bytes). DAPLink's drive (micro:bit) takes it.
- UF2 (https://github.com/microsoft/uf2): 512-byte blocks, each 256 bytes of payload for one
  256-byte-aligned flash page (gaps in a page filled with 0xFF), magic numbers at both ends, flags
  0x2000 (family ID present) and the chip's family ID, so a boot loader refuses a file made for
  another chip. The RP2040 boot ROM's drive (RPI-RP2) takes it.

The readers refuse anything malformed (bad checksum, magic, record type or length, a record or
block out of order, two writes of different bytes to one address) with a DeviceError naming the
line or block, so an image is checked before it reaches a board.
"""

from __future__ import annotations

import bisect
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError
from .elf import Elf

FILL = 0xFF                 # erased flash
HEX_RECORD_BYTES = 16
MAX_SPAN_BYTES = 64 << 20   # a BIN spanning more is a mistake (e.g. RAM and flash in one image)

UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_MAGIC_END = 0x0A324655, 0x9E5D5157, 0x0AB16F30
UF2_BLOCK_BYTES, UF2_PAYLOAD_BYTES, UF2_DATA_BYTES = 512, 256, 476
UF2_FLAG_NOT_MAIN_FLASH, UF2_FLAG_FILE_CONTAINER, UF2_FLAG_FAMILY_ID = 0x0000_0001, 0x0000_1000, 0x0000_2000
UF2_FLAG_MD5, UF2_FLAG_EXTENSION_TAGS = 0x0000_4000, 0x0000_8000

# UF2 family IDs by board mcu (the longest matching prefix of a board file's `mcu`), from Microsoft's
# uf2 repository, utils/uf2families.json. Only a board whose boot loader takes UF2 (flash.drive_image
# = "uf2") needs one; the others are here so a UF2 boot loader added to such a board needs no edit.
UF2_FAMILIES = {
    "RP2040": ("RP2040", 0xE48BFF56),
    "nRF52833": ("NRF52833", 0x621E937A),
    "nRF52840": ("NRF52840", 0xADA52840),
    "STM32F4": ("STM32F4", 0x57755A57),
    "STM32F7": ("STM32F7", 0x53B80F00),
    "STM32H7": ("STM32H7", 0x6DB66082),
    "STM32L4": ("STM32L4", 0x00FF6919),
    "STM32L5": ("STM32L5", 0x04240BDF),
}


def family_id(mcu: str) -> int | None:
    """The UF2 family ID of a board's mcu, or None where no UF2 family is known for it."""
    keys = sorted((k for k in UF2_FAMILIES if mcu.upper().startswith(k.upper())), key=len, reverse=True)
    return UF2_FAMILIES[keys[0]][1] if keys else None


@dataclass(frozen=True)
class Image:
    """Bytes by address: sorted, non-overlapping, non-adjacent chunks (address, bytes)."""
    chunks: tuple[tuple[int, bytes], ...]
    entry: int | None = None     # the start address (ELF entry point, HEX type 05)

    @property
    def start(self) -> int:
        return self.chunks[0][0] if self.chunks else 0

    @property
    def end(self) -> int:
        return self.chunks[-1][0] + len(self.chunks[-1][1]) if self.chunks else 0

    @property
    def size(self) -> int:
        """Bytes with a value (gaps not counted)."""
        return sum(len(d) for _, d in self.chunks)

    def read(self, addr: int, n: int) -> bytes | None:
        """The n bytes at addr, or None when any of them has no value in the image."""
        i = bisect.bisect_right([a for a, _ in self.chunks], addr) - 1
        if i < 0:
            return None
        a, d = self.chunks[i]
        if addr + n > a + len(d):
            return None
        return d[addr - a: addr - a + n]


def merge(parts: list[tuple[int, bytes]], what: str, entry: int | None = None) -> Image:
    """An Image of (address, bytes) parts in any order; two parts that give one address different bytes
    are refused (naming the address), equal overlaps and adjacent parts are joined."""
    out: list[tuple[int, bytearray]] = []
    for addr, data in sorted((a, bytes(d)) for a, d in parts if d):
        if addr < 0 or addr + len(data) > 1 << 32:
            raise DeviceError(f"{what}: {len(data):,} B at {addr:#x} run past the 32-bit address space")
        if out and addr <= out[-1][0] + len(out[-1][1]):
            a0, buf = out[-1]
            overlap = min(len(data), a0 + len(buf) - addr)
            old = bytes(buf[addr - a0: addr - a0 + overlap])
            if old != data[:overlap]:
                k = next(i for i in range(overlap) if old[i] != data[i])
                raise DeviceError(f"{what}: address {addr + k:#010x} is written twice with different bytes "
                                  f"({old[k]:#04x}, then {data[k]:#04x})")
            buf += data[overlap:]
        else:
            out.append((addr, bytearray(data)))
    return Image(tuple((a, bytes(b)) for a, b in out), entry)


def from_elf(elf: str | Path | Elf) -> Image:
    """The loadable bytes of a firmware ELF at their load addresses (PT_LOAD segments with file bytes)."""
    e = elf if isinstance(elf, Elf) else Elf(elf)
    img = merge(e.load_segments(), str(e.path), e.entry)
    if not img.chunks:
        raise DeviceError(f"{e.path}: the ELF has no loadable bytes")
    return img


# ---------------------------------------------------------------------------------------------
# BIN

def to_bin(img: Image, max_span: int = MAX_SPAN_BYTES) -> bytes:
    """The bytes from img.start to img.end, gaps filled with 0xFF; flashed at img.start."""
    span = img.end - img.start
    if span > max_span:
        raise DeviceError(f"the image spans {img.start:#010x}..{img.end:#010x} ({span:,} B): a BIN of it would "
                          f"be more than {max_span:,} B of mostly filler; is RAM content among its load segments?")
    out = bytearray([FILL]) * span
    for a, d in img.chunks:
        out[a - img.start: a - img.start + len(d)] = d
    return bytes(out)


def read_bin(data: bytes, base: int) -> Image:
    """A BIN flashed at `base` (every byte has a value, filler included)."""
    return merge([(base, data)], "BIN")


# ---------------------------------------------------------------------------------------------
# Intel HEX

def _record(rtype: int, addr: int, data: bytes = b"") -> str:
    body = bytes([len(data), (addr >> 8) & 0xFF, addr & 0xFF, rtype]) + data
    return ":" + (body + bytes([(-sum(body)) & 0xFF])).hex().upper()


def to_hex(img: Image) -> str:
    """Intel HEX: 04 (upper 16 address bits) before each 64 KiB page, 00 data of 16 bytes, 05, 01."""
    lines, upper = [], None
    for a, d in img.chunks:
        i = 0
        while i < len(d):
            addr = a + i
            n = min(HEX_RECORD_BYTES, len(d) - i, 0x10000 - (addr & 0xFFFF))
            if addr >> 16 != upper:
                upper = addr >> 16
                lines.append(_record(0x04, 0, struct.pack(">H", upper)))
            lines.append(_record(0x00, addr & 0xFFFF, d[i: i + n]))
            i += n
    if img.entry is not None:
        lines.append(_record(0x05, 0, struct.pack(">I", img.entry)))
    lines.append(_record(0x01, 0))
    return "\r\n".join(lines) + "\r\n"


def read_hex(text: str | bytes, what: str = "HEX") -> Image:
    """An Intel HEX file's bytes; any malformed record is refused naming its line."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise DeviceError(f"{what}: not an Intel HEX file (bytes that are not ASCII)") from None
    parts, base, entry, ended = [], 0, None, False
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        where = f"{what} line {no}"
        if ended:
            raise DeviceError(f"{where}: a record after the end-of-file record")
        if not line.startswith(":") or len(line) < 11 or len(line) % 2 == 0:
            raise DeviceError(f"{where}: not an Intel HEX record ({line[:20]!r})")
        try:
            rec = bytes.fromhex(line[1:])
        except ValueError:
            raise DeviceError(f"{where}: not hexadecimal ({line[:20]!r})") from None
        n, addr, rtype, data = rec[0], (rec[1] << 8) | rec[2], rec[3], rec[4:-1]
        if len(data) != n:
            raise DeviceError(f"{where}: the record announces {n} data bytes and holds {len(data)}")
        if sum(rec) & 0xFF:
            raise DeviceError(f"{where}: checksum {rec[-1]:#04x} is wrong (expected {(-sum(rec[:-1])) & 0xFF:#04x})")
        if rtype == 0x00:
            if addr + n > 0x10000:
                raise DeviceError(f"{where}: a data record crosses a 64 KiB boundary")
            parts.append((base + addr, data))
        elif rtype == 0x01:
            if n:
                raise DeviceError(f"{where}: an end-of-file record with data")
            ended = True
        elif rtype in (0x02, 0x04):
            if n != 2:
                raise DeviceError(f"{where}: an extended address record of {n} bytes (2 expected)")
            base = ((data[0] << 8) | data[1]) << (4 if rtype == 0x02 else 16)
        elif rtype in (0x03, 0x05):
            if n != 4:
                raise DeviceError(f"{where}: a start address record of {n} bytes (4 expected)")
            hi, lo = struct.unpack(">HH", data)
            entry = (hi << 16 | lo) if rtype == 0x05 else (hi << 4) + lo   # 03: CS:IP
        else:
            raise DeviceError(f"{where}: unknown record type {rtype:#04x}")
    if not ended:
        raise DeviceError(f"{what}: no end-of-file record (type 01): the file is truncated")
    return merge(parts, what, entry)


# ---------------------------------------------------------------------------------------------
# UF2

def to_uf2(img: Image, family: int) -> bytes:
    """UF2 blocks, one per 256-byte page the image touches, flags 0x2000 with `family`."""
    pages: dict[int, bytearray] = {}
    for a, d in img.chunks:
        i = 0
        while i < len(d):
            addr = a + i
            page = addr & ~(UF2_PAYLOAD_BYTES - 1)
            n = min(len(d) - i, page + UF2_PAYLOAD_BYTES - addr)
            buf = pages.setdefault(page, bytearray([FILL]) * UF2_PAYLOAD_BYTES)
            buf[addr - page: addr - page + n] = d[i: i + n]
            i += n
    total = len(pages)
    out = bytearray()
    for k, page in enumerate(sorted(pages)):
        out += struct.pack("<8I", UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_FLAG_FAMILY_ID, page, UF2_PAYLOAD_BYTES,
                           k, total, family)
        out += pages[page] + bytes(UF2_DATA_BYTES - UF2_PAYLOAD_BYTES)
        out += struct.pack("<I", UF2_MAGIC_END)
    return bytes(out)


def read_uf2(data: bytes, family: int | None = None, what: str = "UF2") -> tuple[Image, int | None]:
    """(the main-flash bytes of a UF2 file, its family ID). Blocks must be numbered 0..n-1 in order with
    one block count; with `family`, every block must carry that family ID."""
    if not data or len(data) % UF2_BLOCK_BYTES:
        raise DeviceError(f"{what}: {len(data):,} B is not a whole number of {UF2_BLOCK_BYTES}-byte UF2 blocks")
    parts, fam, total = [], None, None
    for k in range(len(data) // UF2_BLOCK_BYTES):
        b = data[k * UF2_BLOCK_BYTES: (k + 1) * UF2_BLOCK_BYTES]
        m0, m1, flags, addr, size, no, count, extra = struct.unpack_from("<8I", b)
        (m_end,) = struct.unpack_from("<I", b, UF2_BLOCK_BYTES - 4)
        where = f"{what} block {k}"
        if (m0, m1, m_end) != (UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_MAGIC_END):
            raise DeviceError(f"{where}: bad magic numbers (not a UF2 block)")
        if flags & UF2_FLAG_FILE_CONTAINER:
            raise DeviceError(f"{where}: a file-container block (flag 0x1000), not a flash image")
        if not 0 < size <= UF2_DATA_BYTES:
            raise DeviceError(f"{where}: payload of {size} B (1..{UF2_DATA_BYTES} allowed)")
        if no != k or (total is not None and count != total) or count <= no:
            raise DeviceError(f"{where}: numbered {no} of {count}; blocks must be numbered 0..n-1 in order")
        total = count
        if flags & UF2_FLAG_FAMILY_ID:
            if fam is not None and extra != fam:
                raise DeviceError(f"{where}: family ID {extra:#010x} where earlier blocks carry {fam:#010x}")
            fam = extra
            if family is not None and extra != family:
                raise DeviceError(f"{where}: family ID {extra:#010x}, not this chip's {family:#010x}")
        elif family is not None:
            raise DeviceError(f"{where}: no family ID (flag 0x2000), so a boot loader cannot tell it is for "
                              f"this chip ({family:#010x})")
        if flags & UF2_FLAG_NOT_MAIN_FLASH:
            continue
        parts.append((addr, b[32: 32 + size]))
    if total != len(data) // UF2_BLOCK_BYTES:
        raise DeviceError(f"{what}: {len(data) // UF2_BLOCK_BYTES} blocks where the blocks announce {total}: "
                          "the file is truncated")
    return merge(parts, what), fam


# ---------------------------------------------------------------------------------------------
# Checking a file against its ELF

def check_against(img: Image, elf: Image, what: str = "image") -> None:
    """Every loadable byte of the ELF is in `img` with its value, and `img` holds nothing else but 0xFF
    filler; else a DeviceError naming the first address that differs."""
    for a, d in elf.chunks:
        got = img.read(a, len(d))
        if got is None:
            missing = next(a + i for i in range(len(d)) if img.read(a + i, 1) is None)
            raise DeviceError(f"{what}: the ELF's byte at {missing:#010x} is missing")
        if got != d:
            i = next(i for i in range(len(d)) if got[i] != d[i])
            raise DeviceError(f"{what}: byte at {a + i:#010x} is {got[i]:#04x}, the ELF's is {d[i]:#04x}")
    for a, d in img.chunks:   # what the ELF does not load, between and around its chunks: filler only
        pos = a
        for ea, ed in elf.chunks + ((a + len(d), b""),):
            lo, hi = pos, min(ea, a + len(d))
            if hi > lo and d[lo - a: hi - a].count(FILL) != hi - lo:
                i = next(i for i in range(lo - a, hi - a) if d[i] != FILL)
                raise DeviceError(f"{what}: byte {d[i]:#04x} at {a + i:#010x}, where the ELF loads nothing")
            pos = max(pos, ea + len(ed))
            if pos >= a + len(d):
                break


# ---------------------------------------------------------------------------------------------
# The files of one board's firmware

@dataclass(frozen=True)
class ImageFile:
    name: str        # file name: BOARD.elf, BOARD.bin, BOARD.hex, BOARD.uf2
    format: str      # "elf", "bin", "hex", "uf2"
    data: bytes
    start: int       # the first and one past the last address it writes
    end: int


def formats_of(board) -> list[str]:
    """The image formats written for a board: ELF, BIN and HEX, and UF2 where its boot loader takes it."""
    return ["elf", "bin", "hex"] + (["uf2"] if board.flash.get("drive_image") == "uf2" else [])


def board_images(board, elf: str | Path, stem: str | None = None) -> list[ImageFile]:
    """The files of `elf` for `board` (formats_of), each read back by its reader and checked against the
    ELF before it is returned."""
    elf = Path(elf)
    img = from_elf(elf)
    stem = stem or board.id
    fam = family_id(board.mcu)
    out = [ImageFile(f"{stem}.elf", "elf", elf.read_bytes(), img.start, img.end)]
    for fmt in formats_of(board)[1:]:
        if fmt == "bin":
            data = to_bin(img)
            back = read_bin(data, img.start)
        elif fmt == "hex":
            data = to_hex(img).encode("ascii")
            back = read_hex(data, f"{stem}.hex")
        else:
            if fam is None:
                raise DeviceError(f"board {board.id} takes UF2 (flash.drive_image), but no UF2 family ID is known "
                                  f"for its mcu {board.mcu!r} (edgesnn/firmware/image.py, UF2_FAMILIES)")
            data = to_uf2(img, fam)
            back = read_uf2(data, fam, f"{stem}.uf2")[0]
        check_against(back, img, f"{stem}.{fmt}")
        out.append(ImageFile(f"{stem}.{fmt}", fmt, data, back.start, back.end))
    return out


def write_images(files: list[ImageFile], out_dir: str | Path) -> list[Path]:
    """Write `files` into out_dir, all or none: each goes to a hidden temporary name first, and only when
    every one is written and synced are they renamed into place; on any failure none is left behind."""
    out = Path(out_dir)
    made = not out.exists()
    tmps: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            tmp = out / f".{f.name}.{os.getpid()}.tmp"
            tmps.append(tmp)
            with open(tmp, "wb") as fh:
                fh.write(f.data)
                fh.flush()
                os.fsync(fh.fileno())
        finals = [out / f.name for f in files]
        for tmp, final in zip(tmps, finals):
            os.replace(tmp, final)
        return finals
    except OSError as e:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise DeviceError(f"{out}: cannot write the firmware images ({e.strerror or e}); nothing was written") \
            from None
