"""Build the device firmware for a board with arm-none-eabi-gcc, measure it, refuse it if it does not fit.

    fw = build(get_board("qemu-mps2-an386"))
    fw.elf, fw.sizes.text, fw.sizes.regions["sram"]

Sources: what the port descriptions name (runtime_c/ports/<id>/port.toml, read by edgesnn/board.py):
the board's port (firmware.port: UART and tick counter) after its layers, in order (firmware: the
portable protocol server; cortex_m: startup, vector table, fault reporter, semihosting, the linker
script template), each folder's `sources` then the sources of the board's tick source
([tick.NAME]). The extension sources (the runtime integration, see esn_fw_ext.h) replace the
layers' default extension (esn_fw_ext_none.c).

Every build lands in a cache folder named by a hash of everything that can change the image: the
sources and headers, the generated sources (a compiled-in model's model.c/.h, passed as bytes), the
compiler flags and defines, the generated linker script and the compiler's version. It is built in a
temporary folder and renamed into place only when it compiled, linked and fits, with a manifest of
its files' SHA-256 written last, so the cache never holds a half-written or oversized firmware, and
two processes building the same firmware at once do not collide. The cache folder is private to the
user (0700, owner checked) and every reuse re-hashes the entry against its manifest: a tampered or
incomplete entry is rebuilt, never used (edgesnn/firmware/cache.py). The generated sources are written
into the build folder and kept in the entry (model/): nothing is read from a shared temporary folder.
The object files are not kept. The cache is bounded: after each build the least recently used
entries beyond EDGESNN_CACHE_MAX_BYTES (default 500 MB) are removed (`edgesnn cache` shows it,
`edgesnn cache --clear` empties it).

The compiler is arm-none-eabi-gcc from the PATH, or the program EDGESNN_ARM_GCC names: board files are
data and do not name programs (edgesnn/board.py refuses toolchain.cc).

Sizes come from the ELF's section headers (edgesnn/firmware/elf.py): text (code, read-only data and
the vector table), data (initialised RAM, whose image also takes flash), bss, stack (reserved by
the linker script) and arena. Each is charged to the board region the linker script puts it in,
and every region is checked against the board's size for it: for an emulated board those are the
limits of the real board it stands for (qemu.limits_of), not QEMU's 4 MiB.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template

from tabulate import tabulate

from .. import __version__
from ..board import PORTS_DIR, Board, chip_settings, load_ports, port_chain
from ..errors import DeviceError
from ..resources import RUNTIME_C
from . import cache as C
from .elf import SHF_EXECINSTR, Elf

SHT_RELA, SHT_REL = 4, 9

FW_DIR = PORTS_DIR / "firmware"
CORTEX_M_DIR = PORTS_DIR / "cortex_m"
LINKER_TEMPLATE = CORTEX_M_DIR / "esn_fw.ld.in"   # the Cortex-M ports' (cortex_m/port.toml linker_script)

COMMON_CFLAGS = ["-std=c99", "-Os", "-g3", "-ffunction-sections", "-fdata-sections", "-fno-common",
                 "-Wall", "-Wextra", "-Wdouble-promotion", "-Werror"]
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--no-check-sections"]
LDLIBS = ["-Wl,--start-group", "-lc", "-lgcc", "-Wl,--end-group"]
_RELAXED_LENGTH = 0x1000_0000  # linker-script region length: placement never depends on it


class FirmwareTooLarge(DeviceError):
    """The firmware does not fit the board's memory; the message gives every overflowing region's numbers.
    `regions` is that part alone, without what a caller added about the model."""

    def __init__(self, message: str, regions: str | None = None):
        super().__init__(message)
        self.regions = regions or message


class NoFirmwarePort(DeviceError):
    """The board has no firmware port to build (real boards whose port is not written yet)."""


class ToolchainMissing(DeviceError):
    """arm-none-eabi-gcc (or another tool) is not installed."""


@dataclass(frozen=True)
class FirmwareSizes:
    """Bytes of each part of the image, and bytes used in each board region."""
    text: int      # code + rodata + vectors + exception tables (flash)
    data: int      # initialised RAM (its image also takes flash)
    bss: int       # zeroed RAM
    stack: int     # reserved main stack
    arena: int     # the runtime's arena
    regions: dict[str, int] = field(default_factory=dict)

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss + self.stack + self.arena


@dataclass(frozen=True)
class Firmware:
    board: str
    elf: Path
    key: str
    sizes: FirmwareSizes
    defines: dict[str, str]
    cflags: list[str]
    sources: list[str]
    selftest_fault: int = 0
    cached: bool = False

    @property
    def map_file(self) -> Path:
        return self.elf.with_suffix(".map")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(elf=str(self.elf), edgesnn_version=__version__, artifact="firmware")
        d["sizes"]["flash"], d["sizes"]["ram"] = self.sizes.flash, self.sizes.ram
        return d


ENV_CC = "EDGESNN_ARM_GCC"
DEFAULT_CC = "arm-none-eabi-gcc"
ENTRY_REQUIRED = ("firmware.elf", "build.json")   # what a cache entry must hold, verified at every reuse
GENERATED_DIR = "model"                            # the generated sources' folder in a build and its entry


def default_cache_dir() -> Path:
    """The firmware cache: the user's cache root (cache.root(): $EDGESNN_CACHE, else
    $XDG_CACHE_HOME/edgesnn, else ~/.cache/edgesnn) / firmware."""
    return C.root() / "firmware"


def compiler() -> str:
    """The C compiler of the firmware: $EDGESNN_ARM_GCC when set (a name on the PATH or a path), else
    arm-none-eabi-gcc from the PATH."""
    env = os.environ.get(ENV_CC, "").strip()
    if env:
        if os.sep in env:
            if not (os.path.isfile(env) and os.access(env, os.X_OK)):
                raise ToolchainMissing(f"{ENV_CC}={env!r}: no such executable file")
            return env
        return find_tool(env, f"{ENV_CC} names it; set it to an installed compiler, or unset it to use "
                              f"{DEFAULT_CC}")
    return find_tool(DEFAULT_CC)


def find_tool(name: str, hint: str = "run `make setup` (as root it installs gcc-arm-none-eabi, "
                                     "libnewlib-arm-none-eabi and qemu-system-arm)") -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainMissing(f"{name} not found on PATH; {hint}")
    return path


_CC_VERSIONS: dict[str, str] = {}


def _cc_version(cc: str) -> str:
    if cc not in _CC_VERSIONS:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
        _CC_VERSIONS[cc] = out.stdout.splitlines()[0] if out.stdout else "unknown"
    return _CC_VERSIONS[cc]


def port_sources(board: Board, ext_sources: list[Path] | None = None) -> tuple[list[Path], list[Path]]:
    """(C sources, include folders) of the firmware for a board."""
    chain = _chain(board)
    tick = board.firmware["tick_source"]
    srcs = [q.dir / n for q in chain for n in (*q.sources, *q.ticks.get(tick, ()))]
    default_ext = next(q.dir / q.extension for q in reversed(chain) if q.extension)
    srcs += [Path(s).resolve() for s in ext_sources] if ext_sources else [default_ext]
    for s in srcs:
        if not s.is_file():
            raise DeviceError(f"firmware source {s} is missing")
    return srcs, [q.dir for q in chain]


def _chain(board: Board):
    """The port descriptions a board's firmware is built from: its port's layers, then the port."""
    port = board.port
    if port is None:
        firmware_ports = [p.id for p in load_ports().values() if p.kind == "firmware"]
        raise NoFirmwarePort(f"board {board.id!r} has no firmware port yet ({board.path} has no [firmware] table); "
                          f"firmware ports so far: {', '.join(firmware_ports)} (runtime_c/ports/*/port.toml)")
    return port_chain(port)


def _c_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def firmware_defines(board: Board, *, arena_bytes: int | None = None, selftest_fault: int = 0) -> dict[str, str]:
    fw = board.firmware
    d = {
        "ESN_FW_VERSION": _c_str(__version__),
        "ESN_FW_BOARD": _c_str(board.id),
        "ESN_FW_UART_BASE": f"{fw['uart_base']:#x}u",
        "ESN_FW_UART_CLOCK_HZ": f"{board.clock_hz}u",
        "ESN_FW_BAUD": f"{board.baud}u",
        "ESN_FW_MAX_PAYLOAD": str(fw["max_payload_bytes"]),
        "ESN_FW_ARENA_BYTES": str(fw["arena_bytes"] if arena_bytes is None else arena_bytes),
        "ESN_FW_TICK_HZ": f"{fw['tick_hz']}u",
        "ESN_FW_TICK_SOURCE": _c_str(fw["tick_source"]),
        "ESN_FW_SEMIHOSTING": "1" if board.is_emulated else "0",
    }
    if board.port is not None:
        d.update(board.port.defines)   # the port's own settings (port.toml [defines])
        d.update({f"ESN_CHIP_{n.upper()}": f"{v:#x}u" for n, v in chip_settings(board).items()})
    if selftest_fault:
        d["ESN_FW_SELFTEST_FAULT"] = str(int(selftest_fault))
    return d


def linker_script(board: Board) -> str:
    """The linker script for a board, from its port's template (runtime_c/ports/cortex_m/esn_fw.ld.in for the
    Cortex-M ports: the linker_script of the port or its nearest layer that names one)."""
    fw = board.firmware
    template = next(q.dir / q.linker_script for q in reversed(_chain(board)) if q.linker_script)
    lines = []
    for r in sorted(board.regions.values(), key=lambda r: r.origin):
        attrs = "rx" if r.kind == "flash" else "rwx"
        length = min(_RELAXED_LENGTH, (1 << 32) - r.origin)
        lines.append(f"    {r.name.upper():12s} ({attrs}) : ORIGIN = {r.origin:#010x}, LENGTH = {length:#010x}"
                     f"  /* board limit {r.size_bytes:,} B */")
    return Template(template.read_text()).substitute(
        generated_by=f"Generated by edgesnn {__version__} (edgesnn/firmware/build.py) for board {board.id}",
        memory="\n".join(lines), code_region=board.code_region.upper(), data_region=board.data_region.upper(),
        arena_region=board.arena_region.upper(), stack_bytes=f"{fw['stack_bytes']:#x}")


def measure(elf_path: Path, board: Board) -> FirmwareSizes:
    """Sizes of the image read from the ELF, charged to the regions the linker script places them in.
    A second-stage boot loader block (.boot2, RP2040) counts as text: it sits in flash."""
    elf = Elf(elf_path)
    size = {s.name: s.size for s in elf.sections if s.alloc}
    known = {".boot2", ".text", ".ARM.extab", ".ARM.exidx", ".data", ".bss", ".stack", ".arena"}
    unknown = sorted(n for n, sz in size.items() if n not in known and sz)
    if unknown:
        raise DeviceError(f"{elf_path}: unexpected allocated sections {unknown}: the linker script "
                          f"({LINKER_TEMPLATE}) does not place them")
    text = size.get(".boot2", 0) + size.get(".text", 0) + size.get(".ARM.extab", 0) + size.get(".ARM.exidx", 0)
    data, bss, stack, arena = (size.get(n, 0) for n in (".data", ".bss", ".stack", ".arena"))
    regions = {name: 0 for name in board.regions}
    regions[board.code_region] += text + data
    regions[board.data_region] += stack + data + bss
    regions[board.arena_region] += arena
    return FirmwareSizes(text=text, data=data, bss=bss, stack=stack, arena=arena,
                         regions={k: v for k, v in regions.items() if v})


# A port's second-stage boot loader (port.toml `boot2`; the RP2040's, RP2040 datasheet sec. 2.8.1.3):
# the boot ROM copies the first 256 bytes of flash to SRAM and runs them only when their last 4 bytes
# are the CRC-32 of the first 252 (polynomial 0x04C11DB7, initial value 0xFFFFFFFF, not reflected, no
# final xor). So the source is compiled alone first, its code checksummed, and the block linked into
# the image as section .boot2, which the port's linker script puts at the start of flash.
BOOT2_BYTES = 256


def boot2_crc32(data: bytes) -> int:
    """CRC-32 as the RP2040 boot ROM checks boot2: poly 0x04C11DB7, init 0xFFFFFFFF, MSB first, no final xor."""
    crc = 0xFFFF_FFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C1_1DB7) if crc & 0x8000_0000 else (crc << 1)
            crc &= 0xFFFF_FFFF
    return crc


def _boot2_source(chain) -> Path | None:
    return next((q.dir / q.boot2 for q in reversed(chain) if q.boot2), None)


def _boot2_block(obj: Path, source: Path) -> bytes:
    """The 256-byte block from a compiled boot2 object: its one code section (position-independent, no
    relocations: it runs from wherever the boot ROM copied it), zero-padded to 252 bytes, then its CRC."""
    elf = Elf(obj)
    code = [(i, s) for i, s in enumerate(elf.sections) if s.alloc and s.size and not s.nobits]
    other = [s.name for s in elf.sections if s.alloc and s.size and (s.nobits or not s.flags & SHF_EXECINSTR)]
    rel = [s.name for s in elf.sections if s.type in (SHT_REL, SHT_RELA)
           and s.name in {f"{p}{c.name}" for _, c in code for p in (".rel", ".rela")}]
    if len(code) != 1 or other or rel:
        raise DeviceError(f"boot2 {source} must compile to one code section with no data and no relocations "
                          f"(got code {[s.name for _, s in code]}, data {other}, relocations {rel})")
    body = elf.section_data(code[0][0])
    if len(body) > BOOT2_BYTES - 4:
        raise DeviceError(f"boot2 {source} is {len(body)} B of code; the boot ROM copies {BOOT2_BYTES} B, "
                          f"the last 4 its CRC: at most {BOOT2_BYTES - 4} B")
    body = body.ljust(BOOT2_BYTES - 4, b"\0")
    return body + boot2_crc32(body).to_bytes(4, "little")


def _boot2_c(block: bytes, source: Path) -> str:
    rows = ",\n".join("    " + ", ".join(f"0x{b:02x}" for b in block[i: i + 16]) for i in range(0, len(block), 16))
    return (f"/* Generated by edgesnn/firmware/build.py from {source.name}: its code, padded, then its CRC-32. */\n"
            f"#include <stdint.h>\n"
            f"__attribute__((section(\".boot2\"), used))\n"
            f"const uint8_t esn_boot2_block[{len(block)}] = {{\n{rows}\n}};\n")


def check_fits(board: Board, sizes: FirmwareSizes) -> None:
    """Raise FirmwareTooLarge naming every region that overflows, with the parts that fill it."""
    parts = {board.code_region: [("text", sizes.text), ("data image", sizes.data)]}
    parts.setdefault(board.data_region, []).extend([("stack", sizes.stack), ("data", sizes.data),
                                                    ("bss", sizes.bss)])
    parts.setdefault(board.arena_region, []).append(("arena", sizes.arena))
    over = []
    for name, used in sizes.regions.items():
        limit = board.regions[name].size_bytes
        if used > limit:
            terms = " + ".join(f"{what} {n:,}" for what, n in parts.get(name, []) if n)
            over.append(f"{name} needs {used:,} B ({terms}) but holds {limit:,} B: {used - limit:,} B over")
    if over:
        whose = f" (the limits of {board.limits_of})" if board.is_emulated else ""
        raise FirmwareTooLarge(f"firmware does not fit board {board.id}{whose}: " + "; ".join(over)
                               + ". Nothing was written; shrink the arena (firmware.arena_bytes) or the stack, "
                                 "or pick a board with more memory")


def build(board: Board, *, cache_dir: str | Path | None = None, arena_bytes: int | None = None,
          selftest_fault: int = 0, ext_sources: list[str | Path] | None = None,
          extra_cflags: list[str] | None = None, extra_includes: list[str | Path] | None = None,
          generated: dict[str, bytes] | None = None) -> Firmware:
    """Build (or fetch from the cache) the firmware for `board`; raise FirmwareTooLarge when it does not fit.

    arena_bytes overrides the board's firmware.arena_bytes (the planner will pass the exact size);
    selftest_fault (1 undefined instruction, 2 bus error, 3 divide by zero) makes a test build that
    faults on its second ECHO; ext_sources replace the extension stub (esn_fw_ext_none.c) with the
    runtime integration, built with extra_includes on the include path. generated: sources made for this
    build (name -> bytes, e.g. a compiled-in model's model.c and model.h), part of the key, written into
    the build folder's model/ (on the include path; its .c files compiled) and kept in the entry.
    """
    if board.kind == "hardware" and not board.firmware:
        port_sources(board)  # raises: no port yet
    cc = compiler()
    generated = dict(generated or {})
    for name in generated:
        if "/" in name or "\\" in name or name.startswith(".") or not name.endswith((".c", ".h")):
            raise DeviceError(f"generated source {name!r}: a plain .c or .h file name")
    srcs, includes = port_sources(board, [Path(s) for s in ext_sources] if ext_sources else None)
    includes = includes + [Path(p).resolve() for p in (extra_includes or [])]
    defines = firmware_defines(board, arena_bytes=arena_bytes, selftest_fault=selftest_fault)
    cflags = list(board.cflags) + COMMON_CFLAGS + list(extra_cflags or [])
    script = linker_script(board)

    boot2 = _boot2_source(_chain(board))

    h = hashlib.sha256()
    for part in (_cc_version(cc), json.dumps([cflags, LDFLAGS, LDLIBS, sorted(defines.items())]), script):
        h.update(part.encode() + b"\0")
    headers = sorted({p for d in includes for p in Path(d).glob("*.h")})
    for f in sorted(set(srcs) | ({boot2} if boot2 else set())) + headers:
        h.update(str(f.relative_to(RUNTIME_C) if f.is_relative_to(RUNTIME_C) else f).encode() + b"\0" + f.read_bytes())
    for name, data in sorted(generated.items()):
        h.update(f"{GENERATED_DIR}/{name}".encode() + b"\0" + data)
    key = h.hexdigest()[:16]

    if cache_dir:
        cache = C.private(cache_dir)
    else:
        C.private(C.root())   # the user's cache root first: the error names the folder they set
        cache = C.private(default_cache_dir())
    final = cache / f"{board.id}-{key}"
    elf_path = final / "firmware.elf"
    gen_names = sorted(generated)
    used_srcs = [str(s) for s in srcs] + [str(final / GENERATED_DIR / n) for n in gen_names if n.endswith(".c")]
    if final.is_dir() and not final.is_symlink():
        why = C.verify(final, key, ENTRY_REQUIRED + tuple(f"{GENERATED_DIR}/{n}" for n in gen_names))
        if why is None:
            sizes = measure(elf_path, board)
            check_fits(board, sizes)
            C.touch(final)  # last use, for the cache's LRU
            return Firmware(board.id, elf_path, key, sizes, defines, cflags, used_srcs, selftest_fault, cached=True)
        C.discard(final, why)
    elif os.path.lexists(final):
        C.discard(final, "not a folder")

    limit = C.max_bytes()  # a bad EDGESNN_CACHE_MAX_BYTES is refused before building
    tmp = Path(tempfile.mkdtemp(prefix=f".{board.id}-{key}.", dir=cache))
    try:
        (tmp / "link.ld").write_text(script)
        out = tmp / "firmware.elf"
        gen_srcs = []
        if generated:
            gen_dir = tmp / GENERATED_DIR
            gen_dir.mkdir(mode=0o700)
            for name in gen_names:
                (gen_dir / name).write_bytes(generated[name])
            includes = includes + [gen_dir]
            gen_srcs = [gen_dir / n for n in gen_names if n.endswith(".c")]
        compile_cmd = ([cc] + cflags + [f"-D{k}={v}" for k, v in defines.items()] + [f"-I{d}" for d in includes])
        compiled = srcs + gen_srcs + ([_build_boot2(compile_cmd, boot2, tmp, board)] if boot2 is not None else [])
        objs = [tmp / f"{i:02d}-{s.stem}.o" for i, s in enumerate(compiled)]
        cmds = [compile_cmd + ["-c", str(s), "-o", str(o)] for s, o in zip(compiled, objs)]
        cmds.append([cc] + cflags + [str(o) for o in objs] + LDFLAGS
                    + [f"-Wl,-T,{tmp / 'link.ld'}", f"-Wl,-Map,{tmp / 'firmware.map'}", "-o", str(out)] + LDLIBS)
        (tmp / "build.cmd").write_text("".join(" ".join(c) + "\n" for c in cmds))
        # the sources compile in parallel (the runtime has a dozen), then one link
        run = lambda c: subprocess.run(c, capture_output=True, text=True, check=False)  # noqa: E731
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            procs = list(pool.map(run, cmds[:-1]))
        procs.append(run(cmds[-1]) if all(p.returncode == 0 for p in procs) else procs[0])
        for proc in procs:
            if proc.returncode != 0:
                raise DeviceError(f"firmware build for {board.id} failed ({cc}, exit {proc.returncode}):\n"
                                  + (proc.stderr or proc.stdout).strip()[-4000:])
        sizes = measure(out, board)
        check_fits(board, sizes)  # raises before anything lands in the cache
        fw = Firmware(board.id, elf_path, key, sizes, defines, cflags, used_srcs, selftest_fault)
        (tmp / "build.json").write_text(json.dumps(fw.to_dict(), indent=1) + "\n")
        for o in objs:  # most of an entry's bytes; build.cmd says how they were made
            o.unlink(missing_ok=True)
        C.write_manifest(tmp, key)   # last: an entry without it is incomplete
        try:
            os.rename(tmp, final)
            C.touch(final)
        except OSError:
            # lost a race to another build of the same key: use it once it checks out
            if C.verify(final, key, ENTRY_REQUIRED) is not None:
                raise
        C.prune(cache, limit, keep=[final])
        return fw
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _build_boot2(compile_cmd: list[str], source: Path, tmp: Path, board: Board) -> Path:
    """Compile a port's boot2 alone and write the checksummed block as a C file to link (see BOOT2_BYTES)."""
    obj = tmp / "boot2-code.o"
    proc = subprocess.run(compile_cmd + ["-c", str(source), "-o", str(obj)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise DeviceError(f"boot2 build for {board.id} failed (exit {proc.returncode}):\n"
                          + (proc.stderr or proc.stdout).strip()[-4000:])
    out = tmp / "boot2_block.c"   # kept beside build.cmd: the block that was linked
    out.write_text(_boot2_c(_boot2_block(obj, source), source))
    obj.unlink()
    return out


def size_table(firmwares: list[Firmware], boards: dict[str, Board]) -> str:
    """Sizes per firmware, with each region's use against its limit."""
    rows = []
    for fw in firmwares:
        b = boards[fw.board]
        use = ", ".join(f"{r} {n / 1024:.1f}/{b.regions[r].size_bytes / 1024:.0f} KiB" for r, n in fw.sizes.regions.items())
        rows.append([fw.board, fw.sizes.text, fw.sizes.data, fw.sizes.bss, fw.sizes.stack, fw.sizes.arena, use])
    return tabulate(rows, headers=["board", "text", "data", "bss", "stack", "arena", "regions used/limit"],
                    tablefmt="simple")
