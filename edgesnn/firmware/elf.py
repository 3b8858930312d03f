"""The little of ELF32 (little-endian, Arm) that firmware sizing needs: sections, load addresses, symbols.

Read with the standard library only, so measuring a firmware needs no binutils; tests compare the
figures with `arm-none-eabi-size -A`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHT_SYMTAB, SHT_NOBITS = 2, 8
PT_LOAD = 1
EM_ARM = 40


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int       # run (virtual) address
    lma: int        # load address: where the bytes sit in flash (differs from addr for .data)
    size: int

    @property
    def alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)

    @property
    def nobits(self) -> bool:
        return self.type == SHT_NOBITS


@dataclass(frozen=True)
class Symbol:
    name: str
    value: int
    size: int


class Elf:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.data = self.path.read_bytes()
        except OSError as e:
            raise DeviceError(f"{self.path}: cannot read ({e.strerror or e})") from None
        d = self.data
        if len(d) < 52 or d[:4] != b"\x7fELF":
            raise DeviceError(f"{self.path}: not an ELF file")
        if d[4] != 1 or d[5] != 1:
            raise DeviceError(f"{self.path}: not a 32-bit little-endian ELF (class {d[4]}, data {d[5]})")
        (self.machine,) = struct.unpack_from("<H", d, 0x12)
        if self.machine != EM_ARM:
            raise DeviceError(f"{self.path}: ELF machine {self.machine}, not Arm ({EM_ARM})")
        self.entry, phoff, shoff = struct.unpack_from("<III", d, 0x18)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", d, 0x2A)
        try:
            self._segments = [struct.unpack_from("<IIIIIIII", d, phoff + i * phentsize) for i in range(phnum)]
            raw = [struct.unpack_from("<IIIIIIIIII", d, shoff + i * shentsize) for i in range(shnum)]
            strtab = raw[shstrndx]
        except (struct.error, IndexError):
            raise DeviceError(f"{self.path}: truncated ELF headers") from None
        names = d[strtab[4]: strtab[4] + strtab[5]]
        self._raw_sections = raw
        self.sections: list[Section] = []
        for (name, typ, flags, addr, off, size, *_rest) in raw:
            nm = names[name: names.index(b"\0", name)].decode()
            self.sections.append(Section(nm, typ, flags, addr, self._lma(addr, flags, typ), size))

    def _lma(self, addr: int, flags: int, typ: int) -> int:
        if not flags & SHF_ALLOC or typ == SHT_NOBITS:
            return addr
        for (ptype, _off, vaddr, paddr, filesz, memsz, _fl, _al) in self._segments:
            if ptype == PT_LOAD and vaddr <= addr < vaddr + max(memsz, 1):
                return paddr + (addr - vaddr)
        return addr

    def load_segments(self) -> list[tuple[int, bytes]]:
        """(load address, bytes) of every PT_LOAD segment with bytes in the file, in file order: what a
        programmer writes to flash (the load address is the physical one, so .data's initial values sit
        in flash where the start-up code copies them from)."""
        out = []
        for (ptype, off, _vaddr, paddr, filesz, _memsz, _fl, _al) in self._segments:
            if ptype != PT_LOAD or filesz == 0:
                continue
            if off + filesz > len(self.data):
                raise DeviceError(f"{self.path}: a load segment at {paddr:#010x} ({filesz:,} B) runs past the "
                                  f"end of the file")
            out.append((paddr, self.data[off: off + filesz]))
        return out

    def section_data(self, index: int) -> bytes:
        """The file bytes of section `index` (of self.sections; nothing for a NOBITS section)."""
        _n, typ, _f, _a, off, size, *_r = self._raw_sections[index]
        return b"" if typ == SHT_NOBITS else self.data[off: off + size]

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def symbols(self) -> dict[str, Symbol]:
        out: dict[str, Symbol] = {}
        for i, (_n, typ, _f, _a, off, size, link, *_r) in enumerate(self._raw_sections):
            if typ != SHT_SYMTAB:
                continue
            stroff = self._raw_sections[link][4]
            for k in range(size // 16):
                name, value, sz, _info, _other, _shndx = struct.unpack_from("<IIIBBH", self.data, off + 16 * k)
                if name:
                    end = self.data.index(b"\0", stroff + name)
                    nm = self.data[stroff + name: end].decode(errors="replace")
                    out[nm] = Symbol(nm, value, sz)
        return out
