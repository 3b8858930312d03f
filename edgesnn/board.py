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
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import BoardError
from .resources import BOARDS_DIR, board_dirs
from tabulate import tabulate

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
RUNNERS = ("pyocd", "openocd")
PORTS = ("mps2", "microbit")
TICK_SOURCES = ("systick", "nrf-timer")


@dataclass(frozen=True)
class QemuMachine:
    """What the validator and the QEMU target need to know about one emulated machine."""
    name: str
    core: str
    ram_windows: tuple[tuple[int, int], ...]   # (origin, size_bytes) of the RAM QEMU backs
    sysclk_hz: int                              # the clock QEMU drives SysTick/timers with


# Measured with `info mtree -f` on QEMU 7.2 (Debian 12); see runtime_c/ports/README.md.
QEMU_MACHINES: dict[str, QemuMachine] = {m.name: m for m in (
    QemuMachine("mps2-an386", "cortex-m4", ((0x0000_0000, 0x40_0000), (0x2000_0000, 0x40_0000),
                                            (0x2100_0000, 0x100_0000)), 25_000_000),
    QemuMachine("mps2-an500", "cortex-m7", ((0x0000_0000, 0x40_0000), (0x2000_0000, 0x40_0000),
                                            (0x6000_0000, 0x100_0000)), 25_000_000),
    QemuMachine("mps2-an505", "cortex-m33", ((0x0000_0000, 0x40_0000), (0x1000_0000, 0x40_0000),
                                             (0x2800_0000, 0x40_0000), (0x3800_0000, 0x40_0000)), 20_000_000),
    QemuMachine("microbit", "cortex-m0", ((0x0000_0000, 0x4_0000), (0x2000_0000, 0x4000)), 16_000_000),
)}


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
    cc: str
    cflags: tuple[str, ...]
    baud: int
    path: Path
    raw: dict = field(repr=False, default_factory=dict)

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
TOOLCHAIN = {"cc": (_str(), False), "cflags": (_strlist, True)}
COST = {"energy_per_cycle_pj": (_num(1e-3), True), "energy_per_cycle_source": (_str(), True)}
FLASH = {
    "runner": (_str(RUNNERS), True),
    "pyocd_target": (_str(), False), "pyocd_args": (_strlist, False),
    "openocd_config": (_strlist, False), "openocd_args": (_strlist, False),
}
SERIAL = {"baud": (_int(300, 20_000_000), True)}
FIRMWARE = {
    "port": (_str(PORTS), True), "uart_base": (_int(0, 0xFFFF_FFFF), True),
    "stack_bytes": (_int(512, multiple=8), True), "arena_bytes": (_int(0, multiple=8), True),
    "max_payload_bytes": (_int(64, 4096), True), "tick_hz": (_int(1), True),
    "tick_source": (_str(TICK_SOURCES), True),
}
QEMU = {"machine": (_str(tuple(QEMU_MACHINES)), True), "limits_of": (_str(), True)}


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


def validate(raw: dict, path: Path) -> Board:
    """Check one parsed board file; raise one BoardError listing every problem."""
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
    if fl.get("runner") == "openocd" and "openocd_config" not in fl:
        p.add("flash.openocd_config", "missing (required when flash.runner = \"openocd\")")

    fw = tables.get("firmware", {})
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
    if fw.get("port") == "microbit" and core and core != "cortex-m0":
        p.add("firmware.port", f"the microbit port drives an nRF51 (cortex-m0), not a {core}")
    if fw.get("tick_source") == "systick" and core in ("cortex-m0",) and fw.get("port") == "microbit":
        p.add("firmware.tick_source", "the nRF51 has no SysTick; use \"nrf-timer\"")

    q = tables.get("qemu", {})
    machine = QEMU_MACHINES.get(q.get("machine", ""))
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
        cc=tables["toolchain"].get("cc", "arm-none-eabi-gcc"), cflags=tuple(tables["toolchain"]["cflags"]),
        baud=tables["serial"]["baud"], path=path, raw=raw)


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


def check_catalogue(boards: dict[str, Board]) -> None:
    """Checks across files: an emulated board enforces exactly the limits of the real board it names."""
    problems: list[str] = []
    for b in boards.values():
        if not b.is_emulated:
            continue
        ref = boards.get(b.limits_of)
        where = f"{b.path}: qemu.limits_of"
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
                problems.append(f"{b.path}: {attr} = {getattr(b, attr)!r} but {ref.path.name} (qemu.limits_of) "
                                f"has {getattr(ref, attr)!r}")
        for name, r in b.regions.items():
            rr = ref.regions.get(name)
            if rr is None:
                problems.append(f"{b.path}: memory.regions.{name} has no counterpart in {ref.path.name}")
            elif rr.size_bytes != r.size_bytes or rr.kind != r.kind:
                problems.append(f"{b.path}: memory.regions.{name} is {r.kind} {_fmt(r.size_bytes)}, "
                                f"{ref.path.name} has {rr.kind} {_fmt(rr.size_bytes)}")
    if problems:
        n = len(problems)
        raise BoardError(f"board catalogue: {n} problem{'s' * (n != 1)}:\n" + "\n".join(f"  - {x}" for x in problems))


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
    if board_id.endswith(".toml"):
        return load_board_file(board_id)
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
                     "runs_on": runs})
    return {"boards": rows, "default": DEFAULT_BOARD, "dirs": [str(d) for d in board_dirs()]}


def catalogue_table(boards: dict[str, Board]) -> str:
    """One row per board: what it is, its limits, and how it runs (QEMU machine or flash runner)."""
    info = catalogue_info(boards)
    rows = []
    for b in info["boards"]:
        r = b["runs_on"]
        runs = (f"qemu {r['qemu_machine']}, limits of {r['limits_of']}" if "qemu_machine" in r
                else f"{r['runner'] or '-'}")
        rows.append([b["id"] + (" *" if b["default"] else ""), b["mcu"], b["core"],
                     b["fpu"] if b["fpu"] != "none" else "-",
                     f"{b['clock_hz'] / 1e6:g}", _kib(b["flash_bytes"]), _kib(b["sram_bytes"]),
                     _kib(b["sdram_bytes"]) if b["sdram_bytes"] else "-", b["port"] or "-", runs])
    table = tabulate(rows, headers=["board", "mcu", "core", "fpu", "MHz", "flash KiB", "SRAM KiB", "SDRAM KiB",
                                    "port", "runs on"], tablefmt="simple", disable_numparse=True)
    return table + f"\n* default board ({len(boards)} boards in {', '.join(info['dirs'])})"


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
                      "openocd_config": list(fl.get("openocd_config", []))}
        d.update(energy_per_cycle_pj=cost.get("energy_per_cycle_pj"),
                 energy_per_cycle_source=cost.get("energy_per_cycle_source"))
    d["firmware"] = b.firmware or None
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
        lines.append(f"  flash with {fl['runner']} (pyocd target {fl['pyocd_target'] or '-'}, "
                     f"openocd {' '.join(fl['openocd_config']) or '-'})")
        lines.append(f"  energy per cycle {d['energy_per_cycle_pj']:g} pJ: {d['energy_per_cycle_source']}")
    if d["firmware"]:
        fw = d["firmware"]
        lines.append(f"  firmware: port {fw['port']}, stack {fw['stack_bytes']:,} B, arena {fw['arena_bytes']:,} B, "
                     f"max payload {fw['max_payload_bytes']} B, ticks {fw['tick_source']} at {fw['tick_hz']:,} Hz")
    lines.append(tabulate(rows, headers=["region", "kind", "origin", "KiB", "read cycles", "read pJ", "holds"],
                          tablefmt="simple", disable_numparse=True))
    sources = [f"  {r['name']}: {r['source']}" for r in d["regions"] if r["source"]]
    if sources:
        lines += ["region cost sources:"] + sources
    return "\n".join(lines)
