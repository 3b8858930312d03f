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

Private and verified (a cache holds what runs on the board, so whoever can write it decides that):
- One cache root per user, root(): $EDGESNN_CACHE, else $XDG_CACHE_HOME/edgesnn, else ~/.cache/edgesnn;
  the firmware entries live in its `firmware/` folder. private() creates each folder mode 0700 (mkdir
  with that mode, so it is never more open, even for an instant) and refuses one that is not owned by
  the user or that group or others can access (CachePermissionError: one error naming the folder and
  what to do). Such a folder is never used, fixed or emptied silently: whatever it holds may have been
  written by someone else, so the user removes it (edgesnn recreates it private) or points
  EDGESNN_CACHE elsewhere.
- Every entry carries MANIFEST (its key and the SHA-256 of each of its files), written last, before the
  entry is renamed into place. verify() re-hashes the files at every reuse; an entry that fails (a file
  edited, missing or half-written, no manifest, another key) is logged as a warning, removed and
  rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgesnnError

log = logging.getLogger("edgesnn.cache")

ENV_CACHE = "EDGESNN_CACHE"
ENV_MAX_BYTES = "EDGESNN_CACHE_MAX_BYTES"
MANIFEST = "manifest.json"
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


class CachePermissionError(EdgesnnError):
    """A cache folder is not private to its user (another owner, or open to group or others)."""


def root() -> Path:
    """The user's cache root: $EDGESNN_CACHE, else $XDG_CACHE_HOME/edgesnn, else ~/.cache/edgesnn."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgesnn"


def private(folder: str | Path) -> Path:
    """Create `folder` (and each missing parent) mode 0700, then check that it is a folder owned by the
    user with no access for group or others; CachePermissionError naming it and what to do otherwise."""
    folder = Path(folder)
    missing = [d for d in [folder, *folder.parents] if not os.path.lexists(d)]
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)   # the mode is set as it is made: never more open than 0700
        except FileExistsError:
            continue             # made meanwhile by another process: checked below like any other
        except OSError as e:
            raise CachePermissionError(f"cache folder {folder}: cannot create {d}: {e.strerror}; set {ENV_CACHE} to "
                                       f"a folder of your own") from None
        if os.stat(d).st_mode & 0o700 != 0o700:
            os.chmod(d, 0o700)   # a umask took the owner's bits: ours, just made, never more open
    try:
        st = os.stat(folder)
    except OSError as e:
        raise CachePermissionError(f"cache folder {folder}: {e.strerror}; set {ENV_CACHE} to a folder of your "
                                   f"own") from None
    why = _not_private(st)
    if why:
        raise CachePermissionError(
            f"cache folder {folder} {why}: a cache that others can write could change what runs on the board, "
            f"so edgesnn does not use it; remove it (edgesnn recreates it private, mode 0700) or set "
            f"{ENV_CACHE} to a folder of your own")
    return folder


def _not_private(st: os.stat_result) -> str | None:
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if st.st_uid != os.getuid():
        return f"is owned by uid {st.st_uid}, not by you (uid {os.getuid()})"
    if st.st_mode & 0o077:
        return f"has mode {stat.S_IMODE(st.st_mode):04o}: group or others can access it (it must be 0700)"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(entry_dir: Path) -> list[str]:
    """The entry's regular files (relative, '/'-separated), the manifest aside."""
    out = []
    for dirpath, _, names in os.walk(entry_dir):
        for n in names:
            rel = Path(dirpath, n).relative_to(entry_dir).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def write_manifest(entry_dir: Path, key: str) -> None:
    """Record the key and every file's SHA-256 in entry_dir/MANIFEST; written last (temporary name, then
    renamed), once every other file of the entry is complete."""
    files = {rel: _sha256(entry_dir / rel) for rel in _files(entry_dir)}
    tmp = entry_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"key": key, "files": files}, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, entry_dir / MANIFEST)


def verify(entry_dir: Path, key: str, required=()) -> str | None:
    """None when the entry is what its manifest says (same key, the `required` files and every file listed
    there, each with its recorded SHA-256), else what is wrong, in a few words."""
    try:
        man = json.loads((entry_dir / MANIFEST).read_text())
        files = man["files"]
        if not isinstance(files, dict):
            raise TypeError
    except FileNotFoundError:
        return f"no {MANIFEST} (half-written, or made by an older edgesnn)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{MANIFEST} unreadable"
    if man.get("key") != key:
        return f"{MANIFEST} is for key {man.get('key')!r}, not {key}"
    for rel in required:
        if rel not in files:
            return f"{rel} is not in {MANIFEST}"
    for rel, digest in sorted(files.items()):
        p = entry_dir / rel
        try:
            if p.is_symlink() or not p.is_file():
                return f"{rel} is missing"
            if _sha256(p) != digest:
                return f"{rel} changed since it was built (SHA-256 differs from {MANIFEST})"
        except OSError:
            return f"{rel} unreadable"
    return None


def discard(entry_dir: Path, why: str) -> None:
    """Log why an entry is not used, and remove it (it is rebuilt)."""
    log.warning("note: cache entry %s failed verification: %s; rebuilding it", entry_dir, why)
    _remove(entry_dir)


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
    if trash.is_symlink() or not trash.is_dir():
        trash.unlink(missing_ok=True)   # not an entry of ours: a link or a file in its place
    else:
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
