"""Board catalogue: load and validate `boards/*.toml`.

A board file is data: core, clock, memory regions with their access costs, compiler flags,
energy priors with their sources, how to flash it, its serial baud and, for an emulated board,
the QEMU machine and the real board whose memory limits it enforces. `boards/README.md` documents
every key.

Validation collects every problem in a file (missing keys, wrong types, values out of range,
unknown keys, flags that contradict the core, regions that overlap or do not add up, a QEMU board
whose regions fall outside the emulated memory) and raises one `BoardError` that lists them all,
each with the file and the dotted key. The catalogue then checks what spans files: an emulated
board's limits must equal those of the real board it names.

Ports and QEMU machines are data too: each folder of runtime_c/ports has a `port.toml` (its sources,
layers, cores, hooks, tick sources and the QEMU machines it runs on; runtime_c/ports/README.md
documents every key), checked the same way by `load_ports`. A board's firmware port, tick source,
serial UART and QEMU machine are checked against those descriptions, so a new emulated board is one
board file and a new port a folder of files, with no edit here.
"""

from __future__ import annotations

import difflib
import re
import struct
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tabulate import tabulate

from .errors import BoardError
from .resources import BOARDS_DIR, RUNTIME_C, board_dirs

SCHEMA = 1
DEFAULT_BOARD = "qemu-mps2-an386"

# core -> (architecture, FPUs it may carry, whether it has the DSP extension)
CORES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "cortex-m0": ("armv6-m", ("none",), False),
    "cortex-m0plus": ("armv6-m", ("none",), False),
    "cortex-m3": ("armv7-m", ("none",), False),
    "cortex-m4": ("armv7e-m", ("none", "fpv4-sp-d16"), True),
    "cortex-m7": ("armv7e-m", ("none", "fpv5-sp-d16", "fpv5-d16"), True),
    "cortex-m33": ("armv8-m.main", ("none", "fpv5-sp-d16"), True),
    "cortex-m55": ("armv8.1-m.main", ("none", "fpv5-d16"), True),
}
REGION_KINDS = ("flash", "sram", "sdram")
RUNNERS = ("pyocd", "openocd", "drive")   # drive: copy the image to the board's USB mass-storage drive
PORTS_DIR = RUNTIME_C / "ports"   # one folder per port, each described by its PORT_FILE
PORT_FILE = "port.toml"
PORT_KINDS = ("firmware", "layer", "host")


@dataclass(frozen=True)
class QemuMachine:
    """One QEMU machine a firmware port runs on: a [machines.NAME] table of its port.toml."""
    name: str                                   # QEMU's -M name
    core: str
    ram_windows: tuple[tuple[int, int], ...]   # (origin, size_bytes) of the RAM QEMU backs
    sysclk_hz: int                              # the clock QEMU drives SysTick/timers with
    serial_uart_bases: tuple[int, ...]          # where the UART behind QEMU's -serial answers (aliases included)
    args: tuple[str, ...]                       # more QEMU arguments this machine needs
    port: str                                   # the port whose port.toml lists it
    path: Path


@dataclass(frozen=True)
class ChipSetting:
    """One per-chip fact a port reads from its boards' [firmware.chip] table (a [chip.NAME] of its
    port.toml): an integer in [min, max], compiled in as ESN_CHIP_<NAME> (clocks, PLL factors, pins)."""
    name: str
    summary: str
    min: int
    max: int
    required: bool
    default: int | None


@dataclass(frozen=True)
class Port:
    """A validated runtime_c/ports/<id>/port.toml: a firmware port (boards name it in firmware.port), a
    layer firmware ports build on (firmware, cortex_m), or the runtime's host port. File names are
    relative to the port's folder."""
    id: str
    kind: str
    summary: str
    path: Path
    layers: tuple[str, ...] = ()                  # layers whose sources and headers come first, in order
    sources: tuple[str, ...] = ()                 # always compiled
    cores: tuple[str, ...] = ()                   # the cores a firmware port runs on
    hooks: tuple[str, ...] = ()                   # the esn_fw_port_NAME hooks its sources define
    hooks_required: tuple[str, ...] = ()          # the hooks a firmware port and its layers must define
    tick_sources: tuple[str, ...] = ()            # what a board's firmware.tick_source may be
    ticks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # tick source -> the sources this folder adds
    linker_script: str | None = None
    extension: str | None = None                  # linked when a build names no extension sources
    extensions: tuple[str, ...] = ()              # other extensions, linked on request
    with_runtime: tuple[str, ...] = ()            # linked together with the C runtime only
    defines: dict[str, str] = field(default_factory=dict)  # more -D NAME=VALUE for every firmware of the port
    machines: dict[str, QemuMachine] = field(default_factory=dict)
    chip: dict[str, ChipSetting] = field(default_factory=dict)  # what boards give in [firmware.chip]
    boot2: str | None = None                      # second-stage boot loader source (RP2040), see build.py

    @property
    def dir(self) -> Path:
        return self.path.parent

    def named_files(self) -> list[str]:
        """Every file the description names."""
        out = [*self.sources, *(f for fs in self.ticks.values() for f in fs), *self.extensions, *self.with_runtime]
        out += [f for f in (self.linker_script, self.extension, self.boot2) if f]
        return out


@dataclass(frozen=True)
class Region:
    """One memory region: where it is, how big, and what an access costs (priors)."""
    name: str
    kind: str
    origin: int
    size_bytes: int
    read_cycles: float | None = None
    write_cycles: float | None = None
    read_energy_pj: float | None = None
    write_energy_pj: float | None = None
    source: str = ""

    @property
    def end(self) -> int:
        return self.origin + self.size_bytes


@dataclass(frozen=True)
class Board:
    """A validated board file. `raw` keeps the file's tables for keys not lifted into fields."""
    id: str
    name: str
    kind: str                  # "hardware" | "qemu"
    mcu: str
    core: str
    clock_hz: int
    fpu: str
    dsp: bool
    flash_bytes: int
    sram_bytes: int
    sdram_bytes: int
    regions: dict[str, Region]
    code_region: str
    data_region: str
    arena_region: str
    cflags: tuple[str, ...]
    baud: int
    path: Path
    raw: dict = field(repr=False, default_factory=dict)
    port: Port | None = field(repr=False, default=None)             # firmware.port's description
    machine: QemuMachine | None = field(repr=False, default=None)   # qemu.machine's facts (emulated boards)

    @property
    def arch(self) -> str:
        return CORES[self.core][0]

    @property
    def is_emulated(self) -> bool:
        return self.kind == "qemu"

    @property
    def qemu_machine(self) -> str | None:
        return self.raw.get("qemu", {}).get("machine")

    @property
    def limits_of(self) -> str | None:
        return self.raw.get("qemu", {}).get("limits_of")

    @property
    def firmware(self) -> dict:
        """The [firmware] table (port, uart_base, stack_bytes, arena_bytes, ...); {} when no port exists yet."""
        return dict(self.raw.get("firmware", {}))

    @property
    def flash(self) -> dict:
        return dict(self.raw.get("flash", {}))

    @property
    def energy_per_cycle_pj(self) -> float | None:
        return self.raw.get("cost", {}).get("energy_per_cycle_pj")

    def to_dict(self) -> dict:
        return {"edgesnn_board_schema": SCHEMA, "path": str(self.path), **self.raw}


# ---------------------------------------------------------------------------------------------
# The schema: key -> (check, required). A check returns None when fine, else what is wrong.

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def _int(lo: int | None = None, hi: int | None = None, multiple: int | None = None) -> Callable:
    def check(v):
        if not _is_int(v):
            return f"must be an integer, got {type(v).__name__} {v!r}"
        if lo is not None and v < lo:
            return f"must be >= {lo:,}, got {v:,}"
        if hi is not None and v > hi:
            return f"must be <= {hi:,}, got {v:,}"
        if multiple and v % multiple:
            return f"must be a multiple of {multiple}, got {v:,}"
        return None
    return check


def _num(lo: float = 0.0) -> Callable:
    def check(v):
        if not _is_num(v):
            return f"must be a number, got {type(v).__name__} {v!r}"
        if v < lo:
            return f"must be >= {lo:g}, got {v!r}"
        return None
    return check


def _str(choices: tuple[str, ...] | None = None, pattern: str | None = None) -> Callable:
    def check(v):
        if not isinstance(v, str) or not v.strip():
            return f"must be a non-empty string, got {v!r}"
        if choices is not None and v not in choices:
            near = difflib.get_close_matches(v, choices, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            return f"must be one of {', '.join(choices)}; got {v!r}{hint}"
        if pattern is not None and not re.fullmatch(pattern, v):
            return f"must match {pattern}, got {v!r}"
        return None
    return check


def _bool(v):
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _strlist(v):
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        return f"must be a list of non-empty strings, got {v!r}"
    return None


TOP = {
    "schema": (_int(SCHEMA, SCHEMA), True),
    "id": (_str(pattern=r"[a-z0-9][a-z0-9-]*"), True),
    "name": (_str(), True),
    "kind": (_str(("hardware", "qemu")), True),
    "mcu": (_str(), True),
    "core": (_str(tuple(CORES)), True),
    "clock_hz": (_int(1, 2_000_000_000), True),
    "url": (_str(), False),
    "notes": (_str(), False),
}
TABLES = {"features", "memory", "toolchain", "cost", "flash", "serial", "firmware", "qemu"}
FEATURES = {"fpu": (_str(("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")), True), "dsp": (_bool, True)}
MEMORY = {
    "flash_bytes": (_int(1), True), "sram_bytes": (_int(1), True), "sdram_bytes": (_int(0), False),
    "code_region": (_str(), True), "data_region": (_str(), True), "arena_region": (_str(), False),
}
REGION = {
    "kind": (_str(REGION_KINDS), True), "origin": (_int(0, 0xFFFF_FFFF), True),
    "size_bytes": (_int(1, 1 << 32), True),
    "read_cycles": (_num(), False), "write_cycles": (_num(), False),
    "read_energy_pj": (_num(), False), "write_energy_pj": (_num(), False), "source": (_str(), False),
}
# No `cc`: board files are data and name no program to run (a board file given by path could run anything);
# the compiler is arm-none-eabi-gcc from the PATH or $EDGESNN_ARM_GCC (edgesnn/firmware/build.compiler).
TOOLCHAIN = {"cflags": (_strlist, True)}
TOOLCHAIN_CC_REFUSED = "not allowed: board files are data; set EDGESNN_ARM_GCC to use another compiler"
COST = {"energy_per_cycle_pj": (_num(1e-3), True), "energy_per_cycle_source": (_str(), True)}
FLASH = {
    "runner": (_str(RUNNERS), True),
    "pyocd_target": (_str(), False), "pyocd_args": (_strlist, False),
    "openocd_config": (_strlist, False), "openocd_args": (_strlist, False),
    "drive_label": (_str(pattern=r"[A-Za-z0-9_-]{1,11}"), False),   # the volume label of the board's drive
    "drive_image": (_str(("hex", "uf2", "bin")), False),              # the format its boot loader takes
}
SERIAL = {"baud": (_int(300, 20_000_000), True)}
# The smallest firmware.max_payload_bytes the protocol works with (edgesnn/device/protocol.py): the firmware pages
# READ_COUNTERS by whole nodes, and one node's page is the page header (u16 nodes, u16 first, u16 count, u8 cycle
# source, u8 pad) and its esn_counters, one u64 per counter (edgesnn/device/runner.py read_counters; the payloads:
# runtime_c/ports/firmware/esn_fw_ext_runtime.c); FAULT's fixed payload is smaller (tests/base/test_board.py checks
# both against the protocol's definitions). 4096: ESN_FW_MAX_PAYLOAD's.
_COUNTER_PAGE_HEADER_BYTES = struct.calcsize("<HHHBx")
_NODE_COUNTERS_BYTES = struct.calcsize("<8Q")   # spikes_in .. arena_bytes_written, cycles (runner.COUNTER_NAMES)
MIN_PAYLOAD_BYTES = _COUNTER_PAGE_HEADER_BYTES + _NODE_COUNTERS_BYTES
MAX_PAYLOAD_BYTES = 4096


def _payload(v):
    if not _is_int(v) or v > MAX_PAYLOAD_BYTES:
        return _int(MIN_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES)(v)
    if v < MIN_PAYLOAD_BYTES:
        return (f"must be >= {MIN_PAYLOAD_BYTES}, got {v:,}: a READ_COUNTERS answer pages whole nodes, and one "
                f"node's page takes {MIN_PAYLOAD_BYTES} B ({_COUNTER_PAGE_HEADER_BYTES} B header + "
                f"{_NODE_COUNTERS_BYTES} B of counters)")
    return None


FIRMWARE = {   # port, tick_source: checked against the port descriptions on disk (load_ports)
    "port": (_str(), True), "uart_base": (_int(0, 0xFFFF_FFFF), True),
    "stack_bytes": (_int(8, multiple=8), True), "arena_bytes": (_int(0, multiple=8), True),
    "max_payload_bytes": (_payload, True), "tick_hz": (_int(1), True),
    "tick_source": (_str(), True),
    "chip": (lambda v: None if isinstance(v, dict) else f"must be a table, got {v!r}", False),
}
QEMU = {"machine": (_str(), True), "limits_of": (_str(), True)}   # machine: one a port description lists

# The smallest firmware.stack_bytes (validate): the stack the firmware was measured to use, plus a margin for an
# interrupt's frame at the deepest point (104 B with FP state) and code changes. Measured on every emulated board
# with the stack painted at reset and its high-water mark read back (the ESN-STACK line at exit,
# runtime_c/ports/cortex_m), running the example models (both schedules, blob and compiled in) and
# bench/real_models.py's: the deepest path is a grouped schedule's set-up (esn_sched_init), whose tables scale
# with ESN_MAX_NODES, which is 16 on boards under 64 KiB of SRAM (edgesnn/firmware/runtime.py). Below it the
# stack overflows: a fault (MSPLIM, the MPU guard, or unmapped memory below the stack), never a wrong answer.
STACK_MIN_BYTES = 3_072          # measured 2,388 B (Cortex-M4, M7, M33, ESN_MAX_NODES 64)
STACK_MIN_SMALL_BYTES = 1_536    # measured 1,132 B (Cortex-M0, ESN_MAX_NODES 16)
STACK_SMALL_SRAM_BYTES = 64 * 1024   # as edgesnn.firmware.runtime.SMALL_SRAM_BYTES


class _Problems:
    def __init__(self, path: Path):
        self.path = path
        self.items: list[str] = []

    def add(self, key: str, msg: str) -> None:
        self.items.append(f"{key}: {msg}" if key else msg)

    def check_table(self, table: Any, spec: dict, prefix: str, *, extra: set[str] = frozenset(),
                    require: bool = True) -> dict:
        """Check one table against its spec; return the keys that passed."""
        if not isinstance(table, dict):
            self.add(prefix.rstrip("."), f"must be a table, got {type(table).__name__}")
            return {}
        ok = {}
        for key, (check, required) in spec.items():
            if key not in table:
                if required and require:
                    self.add(prefix + key, "missing (required)")
                continue
            err = check(table[key])
            if err:
                self.add(prefix + key, err)
            else:
                ok[key] = table[key]
        known = set(spec) | set(extra)
        for key in table:
            if key not in known:
                near = difflib.get_close_matches(key, sorted(known), n=1)
                self.add(prefix + key, "unknown key" + (f" (did you mean {near[0]!r}?)" if near else ""))
        return ok

    def named_tables(self, raw: dict, key: str) -> dict:
        """raw[key]'s [key.NAME] tables ({} when absent); a non-table is a problem and counts as none."""
        tables = raw.get(key, {})
        if not isinstance(tables, dict):
            self.add(f"[{key}]", f"must hold [{key}.NAME] tables")
            return {}
        return tables

    def raise_if_any(self) -> None:
        if self.items:
            n = len(self.items)
            lines = "\n".join(f"  - {p}" for p in self.items)
            raise BoardError(f"{self.path}: {n} problem{'s' * (n != 1)}:\n{lines}")


def _fmt(n: int) -> str:
    return f"{n:,} B"


def _check_cflags(p: _Problems, cflags: list[str], core: str, fpu: str) -> None:
    flags = {f.split("=", 1)[0]: (f.split("=", 1)[1] if "=" in f else None) for f in cflags}
    if "-mthumb" not in flags:
        p.add("toolchain.cflags", "must contain -mthumb (Cortex-M cores run Thumb only)")
    mcpu = flags.get("-mcpu")
    if mcpu is None:
        p.add("toolchain.cflags", f"must contain -mcpu={core}")
    elif mcpu.split("+")[0] != core:
        p.add("toolchain.cflags", f"-mcpu={mcpu} contradicts core = {core!r}")
    abi = flags.get("-mfloat-abi")
    mfpu = flags.get("-mfpu")
    if fpu == "none":
        if abi not in (None, "soft"):
            p.add("toolchain.cflags", f"-mfloat-abi={abi} needs an FPU, but features.fpu = \"none\"")
        if mfpu not in (None, "none", "auto"):
            p.add("toolchain.cflags", f"-mfpu={mfpu} contradicts features.fpu = \"none\"")
    else:
        if mfpu != fpu:
            p.add("toolchain.cflags", f"must contain -mfpu={fpu} (features.fpu), got "
                                      f"{'-mfpu=' + mfpu if mfpu else 'none'}")
        if abi not in ("hard", "softfp"):
            p.add("toolchain.cflags", "must contain -mfloat-abi=hard (or softfp) to use the FPU")


def _check_regions(p: _Problems, raw: dict, mem: dict, kind: str) -> dict[str, Region]:
    regions_raw = raw.get("memory", {}).get("regions") if isinstance(raw.get("memory"), dict) else None
    if regions_raw is None:
        p.add("memory.regions", "missing (required): one [memory.regions.NAME] table per region")
        return {}
    if not isinstance(regions_raw, dict) or not regions_raw:
        p.add("memory.regions", "must hold at least one [memory.regions.NAME] table")
        return {}
    regions: dict[str, Region] = {}
    for name, table in regions_raw.items():
        pre = f"memory.regions.{name}."
        ok = p.check_table(table, REGION, pre)
        if not isinstance(table, dict):
            continue
        if kind == "hardware":
            for k in ("read_cycles", "read_energy_pj", "source"):
                if k not in table:
                    p.add(pre + k, "missing (required for a hardware board: the cost prior and where it comes from)")
        if {"kind", "origin", "size_bytes"} <= set(ok):
            if ok["origin"] + ok["size_bytes"] > 1 << 32:
                p.add(pre + "size_bytes", f"region ends at {ok['origin'] + ok['size_bytes']:#x}, past the 4 GiB address space")
            regions[name] = Region(name=name, kind=ok["kind"], origin=ok["origin"], size_bytes=ok["size_bytes"],
                                   read_cycles=ok.get("read_cycles"), write_cycles=ok.get("write_cycles"),
                                   read_energy_pj=ok.get("read_energy_pj"), write_energy_pj=ok.get("write_energy_pj"),
                                   source=ok.get("source", ""))
    by_origin = sorted(regions.values(), key=lambda r: r.origin)
    for a, b in zip(by_origin, by_origin[1:]):
        if b.origin < a.end:
            p.add(f"memory.regions.{b.name}.origin",
                  f"{b.name} [{b.origin:#010x}, {b.end:#010x}) overlaps {a.name} [{a.origin:#010x}, {a.end:#010x})")
    if len(regions) == len(regions_raw):   # totals are only meaningful when every region parsed
        for total_key, rkind in (("flash_bytes", "flash"), ("sram_bytes", "sram"), ("sdram_bytes", "sdram")):
            have = sum(r.size_bytes for r in regions.values() if r.kind == rkind)
            if total_key in mem:
                if have != mem[total_key]:
                    names = ", ".join(r.name for r in regions.values() if r.kind == rkind) or "none"
                    p.add(f"memory.{total_key}", f"= {_fmt(mem[total_key])} but the {rkind} regions ({names}) "
                                                 f"add up to {_fmt(have)}")
            elif have and total_key == "sdram_bytes":
                p.add("memory.sdram_bytes", f"missing: the sdram regions add up to {_fmt(have)}")
    for role, want in (("code_region", ("flash",)), ("data_region", ("sram",)), ("arena_region", ("sram", "sdram"))):
        name = mem.get(role)
        if name is None:
            continue
        if name not in regions_raw:
            p.add(f"memory.{role}", f"names region {name!r}, which is not among memory.regions "
                                    f"({', '.join(regions_raw) or 'none'})")
        elif name in regions and regions[name].kind not in want:
            p.add(f"memory.{role}", f"region {name!r} is {regions[name].kind}; it must be {' or '.join(want)}")
    return regions


# ---------------------------------------------------------------------------------------------
# Port descriptions: runtime_c/ports/<id>/port.toml (runtime_c/ports/README.md documents every key)

PORT_TOP = {
    "schema": (_int(SCHEMA, SCHEMA), True),
    "id": (_str(pattern=r"[a-z0-9][a-z0-9_-]*"), True),
    "kind": (_str(PORT_KINDS), True),
    "summary": (_str(), True),
    "layers": (_strlist, False),
    "sources": (_strlist, True),
    "cores": (_strlist, False),
    "hooks": (_strlist, False),
    "hooks_required": (_strlist, False),
    "tick_sources": (_strlist, False),
    "linker_script": (_str(), False),
    "extension": (_str(), False),
    "extensions": (_strlist, False),
    "with_runtime": (_strlist, False),
    "boot2": (_str(), False),   # a C file compiled alone into the .boot2 block (edgesnn/firmware/build.py)
}
PORT_TABLES = {"tick", "defines", "machines", "chip"}
PORT_TICK = {"sources": (lambda v: None if v == [] else _strlist(v), True)}


def _ram_windows(v):
    ok = isinstance(v, list) and v and all(
        isinstance(w, dict) and set(w) == {"origin", "size_bytes"} and _is_int(w["origin"]) and _is_int(w["size_bytes"])
        and 0 <= w["origin"] and 0 < w["size_bytes"] and w["origin"] + w["size_bytes"] <= 1 << 32 for w in v)
    return None if ok else f"must be a list of {{ origin = ADDRESS, size_bytes = N }} inside 4 GiB, got {v!r}"


def _int_list(v):
    ok = isinstance(v, list) and v and all(_is_int(x) and 0 <= x <= 0xFFFF_FFFF for x in v)
    return None if ok else f"must be a non-empty list of 32-bit addresses, got {v!r}"


CHIP = {"summary": (_str(), True), "min": (_int(0, 0xFFFF_FFFF), True), "max": (_int(0, 0xFFFF_FFFF), True),
        "required": (_bool, True), "default": (_int(0, 0xFFFF_FFFF), False)}
MACHINE = {
    "core": (_str(tuple(CORES)), True),
    "timer_hz": (_int(1, 2_000_000_000), True),
    "ram": (_ram_windows, True),
    "serial_uart_bases": (_int_list, True),
    "args": (lambda v: None if v == [] else _strlist(v), False),
}
_HOOK_DEF = r"\besn_fw_port_{}\s*\([^;{{)]*\)\s*\{{"


def _port_file(path: Path) -> tuple[Port | None, _Problems]:
    """Parse and check one port.toml on its own; (the port or None, its problems)."""
    p = _Problems(path)
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        p.add("", f"cannot read ({e.strerror or e})")
        return None, p
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        p.add("", f"not valid TOML: {e}")
        return None, p
    top = p.check_table(raw, PORT_TOP, "", extra=PORT_TABLES)
    folder = path.parent
    if "id" in top and top["id"] != folder.name:
        p.add("id", f"{top['id']!r} must equal the folder name {folder.name!r}")
    kind = top.get("kind")
    if kind == "firmware":
        for k in ("layers", "cores", "hooks", "tick_sources"):
            if k not in raw:
                p.add(k, "missing (required for a firmware port)")
    else:
        for k in ("cores", "tick_sources", "layers"):
            if k in raw:
                p.add(k, f"only a firmware port has {k} (kind = {kind!r})")
        if "machines" in raw:
            p.add("[machines]", "only a firmware port runs on QEMU machines")
    for core in top.get("cores", []):
        if core not in CORES:
            near = difflib.get_close_matches(core, list(CORES), n=1)
            p.add("cores", f"{core!r} is not a core ({', '.join(CORES)})" + (f"; did you mean {near[0]!r}?" if near else ""))
    for k in ("hooks", "hooks_required"):
        for h in top.get(k, []):
            if not re.fullmatch(r"[a-z][a-z0-9_]*", h):
                p.add(k, f"{h!r} is not a hook name (the NAME of esn_fw_port_NAME)")
        if len(set(top.get(k, []))) != len(top.get(k, [])):
            p.add(k, "names a hook twice")

    ticks: dict[str, tuple[str, ...]] = {}
    for name, t in p.named_tables(raw, "tick").items():
        ok = p.check_table(t, PORT_TICK, f"tick.{name}.")
        if "sources" in ok:
            ticks[name] = tuple(ok["sources"])
    defines = raw.get("defines", {})
    if not isinstance(defines, dict) or not all(
            re.fullmatch(r"[A-Z_][A-Z0-9_]*", k) and isinstance(v, str) for k, v in defines.items()):
        p.add("defines", f"must map C macro names to strings, got {defines!r}")
        defines = {}

    port_id = top.get("id", folder.name)
    machines: dict[str, QemuMachine] = {}
    for name, m in p.named_tables(raw, "machines").items():
        pre = f"machines.{name}."
        ok = p.check_table(m, MACHINE, pre)
        if "core" in ok and "cores" in top and ok["core"] not in top["cores"]:
            p.add(pre + "core", f"{ok['core']!r} is not among this port's cores ({', '.join(top['cores'])})")
        if {"core", "timer_hz", "ram", "serial_uart_bases"} <= set(ok):
            machines[name] = QemuMachine(
                name=name, core=ok["core"], sysclk_hz=ok["timer_hz"],
                ram_windows=tuple((w["origin"], w["size_bytes"]) for w in ok["ram"]),
                serial_uart_bases=tuple(ok["serial_uart_bases"]), args=tuple(ok.get("args", [])),
                port=port_id, path=path)

    chip: dict[str, ChipSetting] = {}
    for name, c in p.named_tables(raw, "chip").items():
        pre = f"chip.{name}."
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            p.add(f"chip.{name}", "a setting's name is lower_snake_case (it becomes ESN_CHIP_<NAME>)")
            continue
        ok = p.check_table(c, CHIP, pre)
        if {"summary", "min", "max", "required"} <= set(ok):
            if ok["min"] > ok["max"]:
                p.add(pre + "max", f"{ok['max']:,} is below min {ok['min']:,}")
            d = ok.get("default")
            if ok["required"] and d is not None:
                p.add(pre + "default", "a required setting has no default")
            elif not ok["required"] and d is None:
                p.add(pre + "default", "missing (an optional setting needs one)")
            elif d is not None and not ok["min"] <= d <= ok["max"]:
                p.add(pre + "default", f"{d:,} is outside [{ok['min']:,}, {ok['max']:,}]")
            chip[name] = ChipSetting(name, ok["summary"], ok["min"], ok["max"], ok["required"], d)
    if chip and kind != "firmware":
        p.add("[chip]", "only a firmware port reads chip settings from its boards")

    port = None
    if {"id", "kind", "summary", "sources"} <= set(top):
        port = Port(id=top["id"], kind=kind, summary=top["summary"], path=path,
                    layers=tuple(top.get("layers", [])), sources=tuple(top["sources"]),
                    cores=tuple(top.get("cores", [])), hooks=tuple(top.get("hooks", [])),
                    hooks_required=tuple(top.get("hooks_required", [])),
                    tick_sources=tuple(top.get("tick_sources", [])), ticks=ticks,
                    linker_script=top.get("linker_script"), extension=top.get("extension"),
                    extensions=tuple(top.get("extensions", [])), with_runtime=tuple(top.get("with_runtime", [])),
                    defines=dict(defines), machines=machines, chip=chip, boot2=top.get("boot2"))
        # the files it names exist, and every C file of the folder is named (a new source is not left out)
        keys = {"sources": port.sources, "extensions": port.extensions, "with_runtime": port.with_runtime,
                "linker_script": [port.linker_script] if port.linker_script else [],
                "extension": [port.extension] if port.extension else [],
                "boot2": [port.boot2] if port.boot2 else [],
                **{f"tick.{n}.sources": fs for n, fs in ticks.items()}}
        for key, names in keys.items():
            for n in names:
                f = folder / n
                if f.parent != folder:
                    p.add(key, f"{n!r} must be a file name in {folder} (no folders)")
                elif not f.is_file():
                    p.add(key, f"{n!r}: no such file in {folder}")
        named = set(port.named_files())
        for c in sorted(folder.glob("*.c")):
            if c.name not in named:
                p.add("sources", f"{c.name} is in {folder.name}/ but the description does not name it "
                                 "(sources, tick.NAME.sources, extension(s) or with_runtime)")
        # each hook it claims is defined in its own always-compiled sources
        text = "\n".join((folder / n).read_text(errors="replace") for n in port.sources if (folder / n).is_file())
        for h in port.hooks:
            if not re.search(_HOOK_DEF.format(re.escape(h)), text):
                p.add("hooks", f"{h!r}: none of its sources ({', '.join(port.sources)}) defines esn_fw_port_{h}()")
    return port, p


def _check_port_set(ports: dict[str, Port], problems: dict[str, _Problems]) -> None:
    """Checks across port files: layers exist, a firmware port and its layers define every hook once, offer
    the tick sources they promise, a linker script and a default extension; machine names are unique."""
    owners: dict[str, str] = {}
    for port in ports.values():
        p = problems[port.id]
        for m in port.machines:
            if m in owners:
                p.add(f"machines.{m}", f"also described by port {owners[m]!r} ({ports[owners[m]].path})")
            owners.setdefault(m, port.id)
        chain = []
        for name in port.layers:
            layer = ports.get(name)
            if layer is None:
                near = difflib.get_close_matches(name, list(ports), n=1)
                p.add("layers", f"no port {name!r} in {port.dir.parent}" + (f" (did you mean {near[0]!r}?)" if near else ""))
            elif layer.kind != "layer":
                p.add("layers", f"{name!r} is a {layer.kind} port, not a layer")
            else:
                chain.append(layer)
        if port.kind != "firmware" or len(chain) != len(port.layers):
            continue
        chain.append(port)
        where = {}
        for q in chain:
            for h in q.hooks:
                if h in where:
                    p.add("hooks", f"{h!r} is defined by both {where[h]} and {q.id}")
                where.setdefault(h, q.id)
        required = [h for q in chain for h in q.hooks_required]
        missing = [h for h in required if h not in where]
        if missing:
            p.add("hooks", f"esn_fw_port_{', esn_fw_port_'.join(missing)} defined by neither {port.id} nor its layers "
                           f"({', '.join(port.layers) or 'none'}); every firmware port needs {', '.join(required)}")
        unknown = [h for h in where if required and h not in required]
        if unknown:
            p.add("hooks", f"{', '.join(map(repr, unknown))}: not a hook of esn_fw_port.h ({', '.join(required)})")
        for t in port.tick_sources:
            if not any(t in q.ticks for q in chain):
                p.add("tick_sources", f"{t!r} is implemented by neither {port.id} nor its layers: add a [tick.{t}] table "
                                      "(its sources; [] when they are among sources)")
        for key in ("linker_script", "extension"):
            if not any(getattr(q, key) for q in chain):
                p.add(key, f"neither {port.id} nor its layers ({', '.join(port.layers) or 'none'}) name one")


_PORTS_CACHE: dict[Path, tuple[tuple, dict[str, Port]]] = {}


def load_ports(directory: str | Path | None = None) -> dict[str, Port]:
    """Every port described in `directory` (default: the shipped runtime_c/ports), one per folder with a
    port.toml, validated one by one and then across files. Problems from all files come back together
    in one BoardError, each with its file and key. Cached until a description changes."""
    root = Path(directory) if directory is not None else PORTS_DIR
    files = sorted(root.glob(f"*/{PORT_FILE}"))
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    hit = _PORTS_CACHE.get(root)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    if not files:
        raise BoardError(f"{root}: no port descriptions (*/{PORT_FILE})")
    ports: dict[str, Port] = {}
    problems: dict[str, _Problems] = {}
    for f in files:
        port, p = _port_file(f)
        problems[port.id if port else f.parent.name] = p
        if port is not None:
            ports[port.id] = port
    _check_port_set(ports, problems)
    errors = []
    for p in problems.values():
        try:
            p.raise_if_any()
        except BoardError as e:
            errors.append(str(e))
    if errors:
        raise BoardError("\n".join(errors))
    _PORTS_CACHE[root] = (stamp, ports)
    return ports


def port_chain(port: Port) -> list[Port]:
    """The layers of a port (from the port descriptions beside it), then the port itself."""
    ports = load_ports(port.dir.parent)
    return [ports[name] for name in port.layers] + [port]


def qemu_machines(directory: str | Path | None = None) -> dict[str, QemuMachine]:
    """Every QEMU machine the ports in `directory` run on, by QEMU machine name."""
    return {name: m for port in load_ports(directory).values() for name, m in port.machines.items()}


def _choose(p: _Problems, key: str, value: str, choices: list[str], what: str) -> bool:
    if value in choices:
        return True
    near = difflib.get_close_matches(value, choices, n=1)
    p.add(key, f"must be one of {', '.join(choices) or 'none'} ({what}); got {value!r}"
               + (f" (did you mean {near[0]!r}?)" if near else ""))
    return False


def _check_chip(p: _Problems, given: Any, port: Port) -> None:
    """A board's [firmware.chip] against what its port declares: every required setting, each in range."""
    if not isinstance(given, dict):
        return  # reported by the table check
    for name, v in given.items():
        key = f"firmware.chip.{name}"
        s = port.chip.get(name)
        if s is None:
            near = difflib.get_close_matches(name, list(port.chip), n=1)
            p.add(key, f"port {port.id} reads no such setting ({', '.join(port.chip) or 'none'}; {port.path})"
                       + (f"; did you mean {near[0]!r}?" if near else ""))
        elif not _is_int(v) or not s.min <= v <= s.max:
            p.add(key, f"must be an integer in [{s.min:,}, {s.max:,}] ({s.summary}), got {v!r}")
    for name, s in port.chip.items():
        if s.required and name not in given:
            p.add(f"firmware.chip.{name}", f"missing (port {port.id} needs it: {s.summary})")


def chip_settings(board: Board) -> dict[str, int]:
    """The board's chip settings for its port, defaults filled in: what the build compiles in as ESN_CHIP_<NAME>."""
    if board.port is None:
        return {}
    given = board.firmware.get("chip", {})
    return {n: given.get(n, s.default) for n, s in board.port.chip.items()}


def validate(raw: dict, path: Path, ports: dict[str, Port] | None = None) -> Board:
    """Check one parsed board file; raise one BoardError listing every problem. Its firmware port and QEMU
    machine are checked against `ports` (default: the descriptions in runtime_c/ports, load_ports)."""
    p = _Problems(path)
    top = p.check_table(raw, TOP, "", extra=TABLES)
    kind = top.get("kind", raw.get("kind"))
    if "id" in top and top["id"] != path.stem:
        p.add("id", f"{top['id']!r} must equal the file name stem {path.stem!r}")

    tables: dict[str, dict] = {}
    required = {"features": True, "memory": True, "toolchain": True, "serial": True,
                "cost": kind == "hardware", "flash": kind == "hardware",
                "firmware": kind == "qemu", "qemu": kind == "qemu"}
    specs = {"features": FEATURES, "memory": MEMORY, "toolchain": TOOLCHAIN, "cost": COST, "flash": FLASH,
             "serial": SERIAL, "firmware": FIRMWARE, "qemu": QEMU}
    for name, spec in specs.items():
        if name not in raw:
            if required[name]:
                p.add(f"[{name}]", "table missing (required" + (f" for a {kind} board)" if kind else ")"))
            continue
        if kind == "qemu" and name in ("flash", "cost"):
            p.add(f"[{name}]", "not allowed on an emulated board (it runs under QEMU; costs are those of "
                               "qemu.limits_of)")
            continue
        if kind == "hardware" and name == "qemu":
            p.add("[qemu]", "only an emulated board (kind = \"qemu\") has a QEMU machine")
            continue
        if name == "toolchain" and isinstance(raw[name], dict) and "cc" in raw[name]:
            p.add("toolchain.cc", TOOLCHAIN_CC_REFUSED)
            tables[name] = p.check_table({k: v for k, v in raw[name].items() if k != "cc"}, spec, f"{name}.")
            continue
        tables[name] = p.check_table(raw[name], spec, f"{name}.", extra={"regions"} if name == "memory" else set())

    core, feats = top.get("core"), tables.get("features", {})
    if core and "fpu" in feats and feats["fpu"] not in CORES[core][1]:
        p.add("features.fpu", f"{feats['fpu']!r} is not an FPU a {core} can have ({', '.join(CORES[core][1])})")
    if core and feats.get("dsp") is True and not CORES[core][2]:
        p.add("features.dsp", f"a {core} has no DSP extension")
    if core and "cflags" in tables.get("toolchain", {}) and "fpu" in feats:
        _check_cflags(p, tables["toolchain"]["cflags"], core, feats["fpu"])

    mem = tables.get("memory", {})
    regions = _check_regions(p, raw, mem, kind) if "memory" in raw and isinstance(raw["memory"], dict) else {}

    fl = tables.get("flash", {})
    if fl.get("runner") == "pyocd" and "pyocd_target" not in fl:
        p.add("flash.pyocd_target", "missing (required when flash.runner = \"pyocd\")")
    if fl.get("runner") == "drive":
        for k in ("drive_label", "drive_image"):
            if k not in fl:
                p.add(f"flash.{k}", "missing (required when flash.runner = \"drive\")")
    if fl.get("runner") == "openocd" and "openocd_config" not in fl:
        p.add("flash.openocd_config", "missing (required when flash.runner = \"openocd\")")

    fw = tables.get("firmware", {})
    if "stack_bytes" in fw and regions:
        small = sum(r.size_bytes for r in regions.values() if r.kind == "sram") < STACK_SMALL_SRAM_BYTES
        least, used, where = ((STACK_MIN_SMALL_BYTES, 1_132, " on a board under 64 KiB of SRAM (ESN_MAX_NODES 16)")
                              if small else (STACK_MIN_BYTES, 2_388, ""))
        if fw["stack_bytes"] < least:
            p.add("firmware.stack_bytes", f"{_fmt(fw['stack_bytes'])} is below the minimum {_fmt(least)}: the "
                  f"firmware was measured to use up to {_fmt(used)} of stack{where} (a grouped schedule's set-up), "
                  f"and a smaller stack overflows")
    data = regions.get(mem.get("data_region", ""))
    arena_name = mem.get("arena_region", mem.get("data_region"))
    if data and "stack_bytes" in fw and "arena_bytes" in fw:
        need = fw["stack_bytes"] + (fw["arena_bytes"] if arena_name == data.name else 0)
        if need > data.size_bytes:
            p.add("firmware.arena_bytes", f"stack {_fmt(fw['stack_bytes'])}"
                  + (f" + arena {_fmt(fw['arena_bytes'])}" if arena_name == data.name else "")
                  + f" = {_fmt(need)} exceeds data region {data.name!r} ({_fmt(data.size_bytes)})")
    arena = regions.get(arena_name or "")
    if arena and arena_name != mem.get("data_region") and "arena_bytes" in fw and fw["arena_bytes"] > arena.size_bytes:
        p.add("firmware.arena_bytes", f"{_fmt(fw['arena_bytes'])} exceeds arena region {arena.name!r} "
                                      f"({_fmt(arena.size_bytes)})")
    q = tables.get("qemu", {})
    port = machine = None
    if "port" in fw or "machine" in q:
        if ports is None:
            ports = load_ports()
        firmware_ports = [i for i, x in ports.items() if x.kind == "firmware"]
        where = next(iter(ports.values())).dir.parent if ports else PORTS_DIR
        if "port" in fw and _choose(p, "firmware.port", fw["port"], firmware_ports, f"the firmware ports in {where}"):
            port = ports[fw["port"]]
            if core and core not in port.cores:
                p.add("firmware.port", f"the {port.id} port runs on {', '.join(port.cores)}, not a {core} ({port.path})")
            if "tick_source" in fw:
                _choose(p, "firmware.tick_source", fw["tick_source"], list(port.tick_sources),
                        f"the tick sources port {port.id} offers")
            _check_chip(p, raw["firmware"].get("chip", {}), port)
        machines = {n: m for x in ports.values() for n, m in x.machines.items()}
        if "machine" in q and _choose(p, "qemu.machine", q["machine"], sorted(machines),
                                      "the QEMU machines the ports describe"):
            machine = machines[q["machine"]]
            if port is not None and machine.port != port.id:
                p.add("qemu.machine", f"{machine.name} is a machine of port {machine.port} ({machine.path}), "
                                      f"but firmware.port = {port.id!r}")
            if "uart_base" in fw and fw["uart_base"] not in machine.serial_uart_bases:
                p.add("firmware.uart_base", f"{fw['uart_base']:#010x} is not the UART QEMU's -serial drives on "
                                            f"{machine.name} ({', '.join(f'{a:#010x}' for a in machine.serial_uart_bases)})")
    if machine is not None:
        if core and machine.core != core:
            p.add("qemu.machine", f"{machine.name} emulates a {machine.core}, but core = {core!r}")
        for r in regions.values():
            if not any(o <= r.origin and r.end <= o + s for o, s in machine.ram_windows):
                wins = ", ".join(f"[{o:#010x}, {o + s:#010x})" for o, s in machine.ram_windows)
                p.add(f"memory.regions.{r.name}", f"[{r.origin:#010x}, {r.end:#010x}) is not inside the RAM "
                                                  f"{machine.name} emulates ({wins})")
        if "clock_hz" in top and top["clock_hz"] != machine.sysclk_hz:
            p.add("clock_hz", f"{machine.name} clocks its CPU timers at {machine.sysclk_hz:,} Hz, got {top['clock_hz']:,}")
    p.raise_if_any()

    sdram = mem.get("sdram_bytes", 0)
    return Board(
        id=top["id"], name=top["name"], kind=kind, mcu=top["mcu"], core=core, clock_hz=top["clock_hz"],
        fpu=feats["fpu"], dsp=feats["dsp"], flash_bytes=mem["flash_bytes"], sram_bytes=mem["sram_bytes"],
        sdram_bytes=sdram, regions=regions, code_region=mem["code_region"], data_region=mem["data_region"],
        arena_region=mem.get("arena_region", mem["data_region"]),
        cflags=tuple(tables["toolchain"]["cflags"]),
        baud=tables["serial"]["baud"], path=path, raw=raw, port=port, machine=machine)


def load_board_file(path: str | Path) -> Board:
    """Parse and validate one board file."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise BoardError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BoardError(f"{path}: 1 problem:\n  - not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path}: 1 problem:\n  - not valid TOML: {e}") from None
    return validate(raw, path)


def check_catalogue(boards: dict[str, Board], only: Board | None = None) -> None:
    """Checks across files: an emulated board enforces exactly the limits of the real board it names (every
    board of `boards`, or `only`, a board file given by path, against the catalogue `boards`)."""
    problems: list[str] = []
    for b in ([only] if only is not None else boards.values()):
        if not b.is_emulated:
            continue
        pre = f"{b.path}: " if only is None else ""
        ref = boards.get(b.limits_of)
        where = f"{b.path}: qemu.limits_of" if only is None else "qemu.limits_of"
        if ref is None:
            near = difflib.get_close_matches(b.limits_of, list(boards), n=1)
            problems.append(f"{where}: no board {b.limits_of!r} in the catalogue"
                            + (f" (did you mean {near[0]!r}?)" if near else ""))
            continue
        if ref.is_emulated:
            problems.append(f"{where}: {ref.id!r} is itself emulated; name a real board")
            continue
        for attr in ("core", "fpu", "flash_bytes", "sram_bytes", "sdram_bytes"):
            if getattr(b, attr) != getattr(ref, attr):
                problems.append(f"{pre}{attr} = {getattr(b, attr)!r} but {ref.path.name} (qemu.limits_of) "
                                f"has {getattr(ref, attr)!r}")
        for name, r in b.regions.items():
            rr = ref.regions.get(name)
            if rr is None:
                problems.append(f"{pre}memory.regions.{name} has no counterpart in {ref.path.name}")
            elif rr.size_bytes != r.size_bytes or rr.kind != r.kind:
                problems.append(f"{pre}memory.regions.{name} is {r.kind} {_fmt(r.size_bytes)}, "
                                f"{ref.path.name} has {rr.kind} {_fmt(rr.size_bytes)}")
    if problems:
        n = len(problems)
        head = "board catalogue" if only is None else f"{only.path}"
        raise BoardError(f"{head}: {n} problem{'s' * (n != 1)}:\n" + "\n".join(f"  - {x}" for x in problems))


def load_catalogue(directory: str | Path | None = None) -> dict[str, Board]:
    """Every board in `directory` (default: the folders in EDGESNN_BOARDS, then the shipped catalogue;
    a board id found twice is taken from the first folder), validated one by one and then across
    files. Errors from all files are gathered into one BoardError."""
    directories = [Path(directory)] if directory is not None else board_dirs()
    files: dict[str, Path] = {}
    for d in directories:
        if directory is None and d != BOARDS_DIR and not d.is_dir():
            raise BoardError(f"EDGESNN_BOARDS names {d}, which is not a folder")
        for f in sorted(d.glob("*.toml")):
            files.setdefault(f.stem, f)
    if not files:
        raise BoardError(f"{', '.join(map(str, directories))}: no board files (*.toml)")
    boards, errors = {}, []
    for f in files.values():
        try:
            b = load_board_file(f)
        except BoardError as e:
            errors.append(str(e))
            continue
        boards[b.id] = b
    if errors:
        raise BoardError("\n".join(errors))
    check_catalogue(boards)
    return boards


def get_board(board_id: str | None = None, directory: str | Path | None = None) -> Board:
    """One board by id (the default emulated board when None), or a path to a board file."""
    if board_id is None:
        board_id = DEFAULT_BOARD
    if board_id.endswith(".toml"):   # a board file of the user's: its limits_of resolved in the catalogue
        b = load_board_file(board_id)
        if b.is_emulated:
            check_catalogue(load_catalogue(directory), only=b)
        return b
    boards = load_catalogue(directory)
    if board_id not in boards:
        near = difflib.get_close_matches(board_id, list(boards), n=3)
        where = directory or ", ".join(map(str, board_dirs()))
        raise BoardError(f"no board {board_id!r} in {where}"
                         + (f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(boards)}"))
    return boards[board_id]


# ---------------------------------------------------------------------------------------------
# Tables people read (the `edgesnn boards` command)

def _kib(n: int) -> str:
    return f"{n / 1024:,.0f}" if n % 1024 == 0 else f"{n / 1024:,.1f}"


def verified(b: Board, short: bool = False) -> str:
    """What has been checked of a board, from what the test suite does with it: an emulated board with a port
    runs there under QEMU; a real board's firmware is built and checked against its limits there (and its
    images read back), but nothing in the repository runs on silicon. short: the table's wording."""
    if b.port is None:
        return "no firmware port"
    if b.is_emulated:
        return "runs under QEMU in tests" if short else f"runs in the test suite under QEMU {b.qemu_machine}"
    return ("builds, fits; not run on silicon" if short
            else "image builds and fits in the test suite; not yet run on silicon")


def catalogue_info(boards: dict[str, Board]) -> dict:
    """What `edgesnn boards` shows, as plain data: one dict per board (in the table's order), the default
    board and the folders the boards came from. catalogue_table prints the same facts."""
    rows = []
    for b in sorted(boards.values(), key=lambda b: (b.kind != "qemu", b.id)):
        runs = ({"qemu_machine": b.qemu_machine, "limits_of": b.limits_of} if b.is_emulated
                else {"runner": b.flash.get("runner")})
        rows.append({"id": b.id, "default": b.id == DEFAULT_BOARD, "name": b.name, "kind": b.kind, "mcu": b.mcu,
                     "core": b.core, "fpu": b.fpu, "clock_hz": b.clock_hz, "flash_bytes": b.flash_bytes,
                     "sram_bytes": b.sram_bytes, "sdram_bytes": b.sdram_bytes, "port": b.firmware.get("port"),
                     "runs_on": runs, "verified": verified(b)})
    return {"boards": rows, "default": DEFAULT_BOARD, "dirs": [str(d) for d in board_dirs()]}


def catalogue_table(boards: dict[str, Board]) -> str:
    """One row per board: what it is, its limits, how it runs (QEMU machine or flash runner), its firmware
    port and what has been verified of it."""
    info = catalogue_info(boards)
    rows = []
    for b in info["boards"]:
        r = b["runs_on"]
        runs = (f"qemu {r['qemu_machine']}, limits of {r['limits_of']}" if "qemu_machine" in r
                else f"{r['runner'] or '-'}")
        rows.append([b["id"] + (" *" if b["default"] else ""), b["mcu"], b["core"],
                     b["fpu"] if b["fpu"] != "none" else "-",
                     f"{b['clock_hz'] / 1e6:g}", _kib(b["flash_bytes"]), _kib(b["sram_bytes"]),
                     _kib(b["sdram_bytes"]) if b["sdram_bytes"] else "-", b["port"] or "none yet", runs,
                     verified(boards[b["id"]], short=True)])
    table = tabulate(rows, headers=["board", "mcu", "core", "fpu", "MHz", "flash KiB", "SRAM KiB", "SDRAM KiB",
                                    "firmware port", "runs on", "verified"], tablefmt="simple",
                     disable_numparse=True)
    return table + (f"\n* default board ({len(boards)} boards in {', '.join(info['dirs'])}); flashing, serial ports "
                    "and what runs where: docs/boards.md")


def board_info(b: Board) -> dict:
    """What `edgesnn boards BOARD` shows, as plain data: the board, how it runs, its firmware table and its
    regions (origin, size, access-cost priors, the roles it holds, the priors' source). board_detail prints
    the same facts."""
    cost = b.raw.get("cost", {})
    d = {"id": b.id, "name": b.name, "path": str(b.path), "kind": b.kind, "mcu": b.mcu, "core": b.core,
         "arch": b.arch, "clock_hz": b.clock_hz, "fpu": b.fpu, "dsp": b.dsp, "cflags": list(b.cflags), "baud": b.baud,
         "flash_bytes": b.flash_bytes, "sram_bytes": b.sram_bytes, "sdram_bytes": b.sdram_bytes}
    if b.is_emulated:
        d.update(qemu_machine=b.qemu_machine, limits_of=b.limits_of)
    else:
        fl = b.flash
        d["flash"] = {"runner": fl.get("runner"), "pyocd_target": fl.get("pyocd_target"),
                      "openocd_config": list(fl.get("openocd_config", [])), "drive_label": fl.get("drive_label"),
                      "drive_image": fl.get("drive_image")}
        d.update(energy_per_cycle_pj=cost.get("energy_per_cycle_pj"),
                 energy_per_cycle_source=cost.get("energy_per_cycle_source"))
    d["firmware"] = b.firmware or None
    d["verified"] = verified(b)
    d["regions"] = [{"name": r.name, "kind": r.kind, "origin": r.origin, "size_bytes": r.size_bytes,
                     "read_cycles": r.read_cycles, "read_energy_pj": r.read_energy_pj,
                     "holds": [role for role, n in (("code", b.code_region), ("data", b.data_region),
                                                    ("arena", b.arena_region)) if n == r.name],
                     "source": r.source or None}
                    for r in sorted(b.regions.values(), key=lambda r: r.origin)]
    return d


def board_detail(b: Board) -> str:
    """A board's regions with their access-cost priors, its flags and priors with their sources."""
    d = board_info(b)
    rows = [[r["name"], r["kind"], f"{r['origin']:#010x}", _kib(r["size_bytes"]),
             "-" if r["read_cycles"] is None else f"{r['read_cycles']:g}",
             "-" if r["read_energy_pj"] is None else f"{r['read_energy_pj']:g}",
             ",".join(r["holds"]) or "-"] for r in d["regions"]]
    lines = [f"{d['id']}: {d['name']} ({d['path']})",
             f"  {d['mcu']}, {d['core']} ({d['arch']}), {d['clock_hz'] / 1e6:g} MHz, fpu {d['fpu']}, "
             f"dsp {'yes' if d['dsp'] else 'no'}",
             f"  cflags: {' '.join(d['cflags'])}", f"  serial: {d['baud']} baud"]
    if b.is_emulated:
        lines.append(f"  qemu machine {d['qemu_machine']}, enforcing the limits of {d['limits_of']}")
    else:
        fl = d["flash"]
        drive = (f", drive: {fl['drive_image'] or 'hex'} copied to {fl['drive_label']}" if fl["drive_label"] else "")
        lines.append(f"  flash with {fl['runner']} (pyocd target {fl['pyocd_target'] or '-'}, "
                     f"openocd {' '.join(fl['openocd_config']) or '-'}{drive}): `edgesnn flash --board {d['id']}`")
        lines.append(f"  energy per cycle {d['energy_per_cycle_pj']:g} pJ: {d['energy_per_cycle_source']}")
    if d["firmware"]:
        fw = d["firmware"]
        lines.append(f"  firmware: port {fw['port']}, stack {fw['stack_bytes']:,} B, arena {fw['arena_bytes']:,} B, "
                     f"max payload {fw['max_payload_bytes']} B, ticks {fw['tick_source']} at {fw['tick_hz']:,} Hz")
    else:
        lines.append("  firmware: no port yet (runtime_c/ports): plans use the analytical memory estimate, and nothing "
                     "can be built or flashed")
    lines.append(f"  verified: {d['verified']}")
    lines.append(tabulate(rows, headers=["region", "kind", "origin", "KiB", "read cycles", "read pJ", "holds"],
                          tablefmt="simple", disable_numparse=True))
    sources = [f"  {r['name']}: {r['source']}" for r in d["regions"] if r["source"]]
    if sources:
        lines += ["region cost sources:"] + sources
    return "\n".join(lines)


def __getattr__(name: str):
    """QEMU_MACHINES, the machines the shipped port descriptions list, read when asked for (it was a table here)."""
    if name == "QEMU_MACHINES":
        return qemu_machines()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
