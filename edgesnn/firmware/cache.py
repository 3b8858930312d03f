"""The firmware cache: its entries, its size cap, and what `edgesnn cache` shows and clears.

    entries(cache_dir)              complete builds, most recently used first
    prune(cache_dir, keep=[dir])    drop the least recently used entries until the cache fits its cap
    clear(cache_dir)                drop every entry

An entry is a folder `<board>-<key>` that firmware.build renamed into place once it compiled, linked
and fit (firmware.elf, firmware.map, build.json, build.cmd, link.ld; the object files are not kept).
Folders starting with '.' are builds in progress (or entries being removed) and are left alone
unless they are over an hour old, i.e. abandoned by a process that was killed.

Last use is the entry folder's modification time: build sets it when it renames the entry into
place and again on every cache hit (`touch`). After each build the cache is pruned to its cap,
EDGESNN_CACHE_MAX_BYTES (default 500 MB; plain bytes or with a k/M/G or KiB/MiB/GiB suffix), least
recently used first, never removing the entry just built or used. An entry is removed by renaming it
to a '.' name first, so no process ever sees a half-deleted entry as a complete one.

The cache folder is created private to its user (mode 0700).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgesnnError

ENV_MAX_BYTES = "EDGESNN_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 500 * 1000 ** 2
STALE_SECONDS = 3600.0
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000 ** 2, "mb": 1000 ** 2, "g": 1000 ** 3, "gb": 1000 ** 3,
          "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3}


@dataclass(frozen=True)
class Entry:
    path: Path
    board: str
    key: str
    bytes: int
    last_used: float   # seconds since the epoch

    def to_dict(self) -> dict:
        return {"board": self.board, "key": self.key, "bytes": self.bytes,
                "last_used": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.last_used)),
                "path": str(self.path)}


def max_bytes() -> int:
    """The cache's cap in bytes: EDGESNN_CACHE_MAX_BYTES, else DEFAULT_MAX_BYTES."""
    text = os.environ.get(ENV_MAX_BYTES, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text)
    if not m or m[2].lower() not in _UNITS:
        raise EdgesnnError(f"{ENV_MAX_BYTES}={text!r}: need a size in bytes, e.g. 500000000, 500M or 2GiB")
    return int(float(m[1]) * _UNITS[m[2].lower()])


def human(n: int) -> str:
    return f"{n / 1000 ** 2:,.1f} MB" if n >= 1000 ** 2 else f"{n / 1000:,.1f} kB"


def ensure_dir(cache_dir: Path) -> None:
    """Create the cache folder, and each missing parent, private to the user (0700); existing folders are
    left as they are."""
    missing = [d for d in [cache_dir, *cache_dir.parents] if not d.exists()]
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)


def _size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def entries(cache_dir: str | Path) -> list[Entry]:
    """The cache's entries, most recently used first ([] when the folder does not exist)."""
    cache_dir = Path(cache_dir)
    out = []
    try:
        children = list(cache_dir.iterdir())
    except FileNotFoundError:
        return []
    for p in children:
        if p.name.startswith(".") or not p.is_dir() or p.is_symlink():
            continue
        try:
            used = p.stat().st_mtime
        except OSError:
            continue  # removed meanwhile
        board, _, key = p.name.rpartition("-")
        out.append(Entry(p, board or p.name, key if board else "", _size(p), used))
    return sorted(out, key=lambda e: (-e.last_used, e.path.name))


def touch(entry_dir: Path) -> None:
    """Record a use of the entry (its folder's modification time)."""
    try:
        os.utime(entry_dir)
    except OSError:
        pass


def _remove(path: Path) -> bool:
    """Rename to a '.' name, then delete; False when another process removed it first."""
    trash = path.with_name(f".removing-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _stale_leftovers(cache_dir: Path, older_than: float) -> None:
    """Remove '.' folders (builds and removals) a killed process left more than `older_than` s ago."""
    now = time.time()
    try:
        children = list(cache_dir.iterdir())
    except FileNotFoundError:
        return
    for p in children:
        try:
            if p.name.startswith(".") and p.is_dir() and not p.is_symlink() and now - p.stat().st_mtime > older_than:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def prune(cache_dir: str | Path, limit: int | None = None, keep=()) -> list[Entry]:
    """Remove the least recently used entries until the cache holds at most `limit` bytes (max_bytes() when
    None); entries in `keep` stay whatever their size. Returns the entries removed."""
    cache_dir = Path(cache_dir)
    limit = max_bytes() if limit is None else limit
    keep = {Path(k).resolve() for k in keep}
    _stale_leftovers(cache_dir, STALE_SECONDS)
    es = entries(cache_dir)
    total = sum(e.bytes for e in es)
    removed = []
    for e in reversed(es):  # least recently used first
        if total <= limit:
            break
        if e.path.resolve() in keep:
            continue
        if _remove(e.path):
            removed.append(e)
        total -= e.bytes
    return removed


def clear(cache_dir: str | Path) -> list[Entry]:
    """Remove every entry (and abandoned leftovers); returns the entries removed."""
    cache_dir = Path(cache_dir)
    _stale_leftovers(cache_dir, STALE_SECONDS)
    return [e for e in entries(cache_dir) if _remove(e.path)]
