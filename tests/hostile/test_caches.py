"""Hostile input: the caches and the files edgesnn reuses (issue 16, items 1 and 5).

What runs on the board must be what the user asked for, whatever another local user (or a killed
process) left on disk:
- the firmware cache (edgesnn/firmware/cache.py) lives in one private folder per user: made mode 0700,
  and refused with one error naming it when it is another user's or open to group or others (decided:
  refused, never repaired or emptied silently, since what it holds may have been written by someone
  else; the message says to remove it, and edgesnn recreates it private);
- every entry is re-hashed against its manifest at each reuse: a tampered model.c (the compiled-in
  model's sources, kept in the entry, no longer in $TMPDIR/edgesnn-models), firmware.elf or build.json,
  or an entry without a manifest (half-written), is logged, removed and rebuilt, never used;
- the host extension is loaded only from the package, only when nobody else can have written it, and
  (in a checkout) only when built from the C sources on disk;
- a calibration of the user's own is used only when nobody else can have written it;
- board files are data: `toolchain.cc` is refused; the compiler comes from the PATH or EDGESNN_ARM_GCC.
Every CLI case: exit 1, one error line (a board file's problems: its list), no traceback, no output file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile

import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.errors import BoardError, CRuntimeError
from edgesnn.firmware import build as F
from edgesnn.firmware import cache as C
from edgesnn.runtime import binding
from edgesnn.runtime.binding import run_c
from tests.helpers.boards import board_variant
from tests.helpers.cli import fails, run
from tests.helpers.device import example_qgraph
from tests.helpers.paths import MODELS, ROOT

DIGITS = ROOT / "examples" / "data" / "digits_test.npz"
NOT_PRIVATE = ("a cache that others can write could change what runs on the board, so edgesnn does not use it; "
               "remove it (edgesnn recreates it private, mode 0700) or set EDGESNN_CACHE to a folder of your own")
CC_REFUSED = "toolchain.cc: not allowed: board files are data; set EDGESNN_ARM_GCC to use another compiler"


@pytest.fixture
def digits_x(tmp_path):
    """Three inputs of the digits test set, as X.npy."""
    x = np.load(DIGITS)["inputs"][:3]
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


def _rebuilt_note(entry, why: str) -> str:
    return f"note: cache entry {entry} failed verification: {why}; rebuilding it"


def _notes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edgesnn.cache"]


# -- the compiled-in model's sources ----------------------------------------------------------------------

@pytest.mark.needs_qemu
def test_tampered_model_c_in_the_cache_is_rebuilt_and_outputs_are_unchanged(tmp_path, digits_x, monkeypatch,
                                                                           capsys, caplog):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGESNN_CACHE", str(cache))
    shared_tmp = tmp_path / "tmp"   # the old home of generated sources: nothing may land there any more
    shared_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    args = ["run", MODELS / "digits_mlp.json", "--builtin", "--inputs", digits_x]
    assert run(*args, "-o", tmp_path / "o1.npz") == 0
    assert "(built)" in capsys.readouterr().out
    assert os.stat(cache).st_mode & 0o777 == os.stat(cache / "firmware").st_mode & 0o777 == 0o700
    assert not (shared_tmp / "edgesnn-models").exists()
    [model_c] = (cache / "firmware").glob("*/model/model.c")
    entry, original = model_c.parents[1], model_c.read_bytes()
    assert original.startswith(b"/*") and (entry / "model" / "model.h").is_file()

    # what the attacker did: edit the generated C (here, code appended) and run again
    model_c.write_bytes(original + b"\nint esn_injected(void) { return 1; }\n")
    caplog.set_level(logging.WARNING, logger="edgesnn.cache")
    assert run(*args, "-o", tmp_path / "o2.npz") == 0
    assert "(built)" in capsys.readouterr().out
    assert _notes(caplog) == [_rebuilt_note(entry, "model/model.c changed since it was built (SHA-256 differs "
                                                   "from manifest.json)")]
    assert model_c.read_bytes() == original
    o1, o2 = np.load(tmp_path / "o1.npz"), np.load(tmp_path / "o2.npz")
    assert sorted(o1.files) == sorted(o2.files)
    for k in o1.files:   # instruction counts move by a few tick interrupts from run to run; all else is exact
        if not k.endswith(".instructions"):
            assert np.array_equal(o1[k], o2[k]), k
    x = np.load(digits_x)
    ref = run_c(example_qgraph("digits_mlp"), x)   # and both are the host runtime's answer
    assert np.array_equal(o2["out_spikes"], ref.outputs.reshape(*x.shape[:2], -1))
    assert np.array_equal(o2["pred"], ref.pred)

    caplog.clear()  # the rebuilt entry is verified and reused
    assert run(*args, "-o", tmp_path / "o3.npz") == 0
    assert "(cached)" in capsys.readouterr().out and _notes(caplog) == []
    assert np.array_equal(np.load(tmp_path / "o3.npz")["out_spikes"], o1["out_spikes"])


# -- firmware entries -----------------------------------------------------------------------------------

@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("victim", ["firmware.elf", "build.json"])
def test_tampered_firmware_entry_is_rebuilt_not_used(tmp_path, caplog, victim):
    b = get_board("qemu-mps2-an386")
    fw = F.build(b, cache_dir=tmp_path / "fw")
    entry = fw.elf.parent
    good = (entry / victim).read_bytes()
    (entry / victim).write_bytes(good.replace(b"\x00", b"\x01", 1) if victim == "firmware.elf"
                                 else good.replace(b'"board"', b'"board" ', 1))
    caplog.set_level(logging.WARNING, logger="edgesnn.cache")
    again = F.build(b, cache_dir=tmp_path / "fw")
    assert not again.cached and again.elf == fw.elf and (entry / victim).read_bytes() == good
    assert _notes(caplog) == [_rebuilt_note(entry, f"{victim} changed since it was built (SHA-256 differs from "
                                                   f"manifest.json)")]
    assert F.build(b, cache_dir=tmp_path / "fw").cached


@pytest.mark.needs_arm_gcc
def test_half_written_or_unlisted_entries_are_rebuilt(tmp_path, caplog):
    b = get_board("qemu-mps2-an386")
    fw = F.build(b, cache_dir=tmp_path / "fw")
    entry = fw.elf.parent
    caplog.set_level(logging.WARNING, logger="edgesnn.cache")
    cases = {
        "no manifest.json (half-written, or made by an older edgesnn)": lambda: (entry / C.MANIFEST).unlink(),
        "manifest.json unreadable": lambda: (entry / C.MANIFEST).write_text("{"),
        "firmware.elf is missing": lambda: (entry / "firmware.elf").unlink(),
        f"manifest.json is for key 'other', not {fw.key}": lambda: (entry / C.MANIFEST).write_text(
            json.dumps({**json.loads((entry / C.MANIFEST).read_text()), "key": "other"})),
        "build.json is not in manifest.json": lambda: (entry / C.MANIFEST).write_text(json.dumps(
            {"key": fw.key, "files": {"firmware.elf": json.loads((entry / C.MANIFEST).read_text())["files"]
                                      ["firmware.elf"]}})),
    }
    for why, damage in cases.items():
        caplog.clear()
        damage()
        again = F.build(b, cache_dir=tmp_path / "fw")
        assert not again.cached and _notes(caplog) == [_rebuilt_note(entry, why)], why
    assert F.build(b, cache_dir=tmp_path / "fw").cached
    # cache listing, pruning and clearing work as before on verified entries
    assert [e.path for e in C.entries(tmp_path / "fw")] == [entry]
    assert [e.path for e in C.clear(tmp_path / "fw")] == [entry] and C.entries(tmp_path / "fw") == []


# -- the cache folder itself ------------------------------------------------------------------------------

def test_cache_folders_are_made_private_whatever_the_umask(tmp_path):
    for umask in (0o000, 0o022, 0o077, 0o777):
        old = os.umask(umask)
        try:
            d = C.private(tmp_path / f"u{umask:o}" / "edgesnn" / "firmware")
        finally:
            os.umask(old)
        for p in (d, d.parent, d.parent.parent):
            assert os.stat(p).st_mode & 0o777 == 0o700, (umask, p)


@pytest.mark.needs_arm_gcc
def test_cache_open_to_others_is_one_error_and_left_alone(tmp_path, digits_x, monkeypatch, capsys):
    cache = tmp_path / "cache"
    (cache / "firmware" / "planted").mkdir(parents=True)
    os.chmod(cache, 0o777)
    monkeypatch.setenv("EDGESNN_CACHE", str(cache))
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--inputs", digits_x, "-o", tmp_path / "o.npz")
    assert err == (f"edgesnn run: error: cache folder {cache} has mode 0777: group or others can access it (it "
                   f"must be 0700): {NOT_PRIVATE}\n")
    assert not (tmp_path / "o.npz").exists()
    assert os.stat(cache).st_mode & 0o777 == 0o777 and (cache / "firmware" / "planted").is_dir()

    os.chmod(cache, 0o700)       # the root is fine, the firmware folder inside it is open to the group
    os.chmod(cache / "firmware", 0o750)
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--inputs", digits_x, "-o", tmp_path / "o.npz")
    assert err == (f"edgesnn run: error: cache folder {cache / 'firmware'} has mode 0750: group or others can "
                   f"access it (it must be 0700): {NOT_PRIVATE}\n")
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.needs_arm_gcc
def test_cache_of_another_user_is_one_error(tmp_path, digits_x, monkeypatch, capsys):
    cache = tmp_path / "cache"
    C.private(cache)
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)   # as another user would see the folder
    monkeypatch.setenv("EDGESNN_CACHE", str(cache))
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--inputs", digits_x, "-o", tmp_path / "o.npz")
    assert err == (f"edgesnn run: error: cache folder {cache} is owned by uid {me}, not by you (uid {me + 1}): "
                   f"{NOT_PRIVATE}\n")
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.needs_arm_gcc
def test_cache_that_is_a_file_is_one_error(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(C.CachePermissionError) as e:
        F.build(get_board("qemu-mps2-an386"))
    assert str(e.value) == f"cache folder {tmp_path / 'cache'} is not a folder: {NOT_PRIVATE}"


def test_cache_command_still_shows_the_default_location(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EDGESNN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert F.default_cache_dir() == C.root() / "firmware" == tmp_path / "xdg" / "edgesnn" / "firmware"
    assert run("cache") == 0
    assert capsys.readouterr().out.startswith(f"firmware cache {tmp_path / 'xdg' / 'edgesnn' / 'firmware'}: 0 entries")


# -- the host extension ----------------------------------------------------------------------------------

def test_host_extension_is_loaded_only_when_nobody_else_can_have_written_it(tmp_path, monkeypatch):
    d = tmp_path / "pkg"
    d.mkdir(mode=0o755)
    so = d / "_esn.abi3.so"
    so.write_bytes(b"\x7fELF")
    os.chmod(so, 0o644)
    binding.check_extension_file(so)   # the user's own (or root's), writable by nobody else: loaded
    os.chmod(so, 0o664)
    binding.check_extension_file(so)   # group-writable (a user-private group, umask 002): loaded
    tail = ("so someone else may have replaced it; reinstall edgesnn into a folder only you (or root) can write "
            "(`pip install` in a virtual environment of your own)")
    os.chmod(so, 0o666)
    with pytest.raises(binding.UntrustedExtension) as e:
        binding.check_extension_file(so)
    assert str(e.value) == (f"the C runtime extension {so} is not loaded: {so} has mode 0666: anyone can write it, "
                            f"{tail}")
    os.chmod(so, 0o644)
    os.chmod(d, 0o777)
    with pytest.raises(binding.UntrustedExtension) as e:
        binding.check_extension_file(so)
    assert str(e.value) == f"the C runtime extension {so} is not loaded: {d} has mode 0777: anyone can write it, {tail}"
    os.chmod(d, 0o755)
    owner = os.stat(so).st_uid
    if owner != 0:   # root's files are trusted by everyone
        monkeypatch.setattr(os, "getuid", lambda: owner + 1)
        with pytest.raises(binding.UntrustedExtension, match=rf"is owned by uid {owner}, neither you "):
            binding.check_extension_file(so)


@pytest.mark.needs_c_ext
def test_host_extension_built_from_other_sources_is_refused(monkeypatch):
    """A tampered extension (here: one that embeds another digest of the C sources) is not used."""
    binding._lib()   # the real one passes
    assert binding._fresh_checked

    class Lib:
        @staticmethod
        def esn_host_digest():
            return b"0" * 64

    class Ffi:
        @staticmethod
        def string(b):
            return b

    monkeypatch.setattr(binding, "_fresh_checked", False)
    with pytest.raises(CRuntimeError) as e:
        binding._check_fresh(Ffi, Lib)
    assert str(e.value) == ("the C runtime extension is stale: runtime_c/ changed since it was built; rebuild it with "
                            "`.venv/bin/pip install -e .` (or `make setup`)")


# -- calibrations of the user's own -------------------------------------------------------------------------

def test_calibration_others_could_write_is_one_error(tmp_path, monkeypatch):
    from edgesnn import resources
    from edgesnn.cost.model import coefficients
    board = get_board("qemu-mps2-an386")
    mine = tmp_path / "cal" / f"{board.id}.json"
    mine.parent.mkdir(mode=0o755)
    cal = json.loads((resources.CALIBRATION_DIR / f"{board.id}.json").read_text())
    mine.write_text(json.dumps({**cal, "id": f"{board.id}/mine"}))
    os.chmod(mine, 0o644)
    monkeypatch.setenv("EDGESNN_CALIBRATION_DIR", str(mine.parent))
    assert coefficients(board).calibration == f"{board.id}/mine"
    os.chmod(mine, 0o666)
    with pytest.raises(resources.UntrustedFile) as e:
        coefficients(board)
    assert str(e.value) == (f"{mine}: not used as the calibration for its board: {mine} has mode 0666: group or "
                            f"others can write it, so someone else may have written it; if it is yours, "
                            f"`chmod go-w {mine}`, else remove it (or set EDGESNN_CALIBRATION_DIR to a folder of "
                            f"your own)")


# -- board files name no programs ----------------------------------------------------------------------------

def _board_with_cc(tmp_path, cc: str = "/bin/sh"):
    b = get_board("qemu-mps2-an386")
    text = b.path.read_text()
    assert "[toolchain]\n" in text
    path = tmp_path / "evil" / "qemu-evil.toml"
    path.parent.mkdir()
    path.write_text(text.replace(f'id = "{b.id}"', 'id = "qemu-evil"').replace("[toolchain]\n",
                                                                               f'[toolchain]\ncc = "{cc}"\n'))
    return path


def test_board_file_with_toolchain_cc_is_refused(tmp_path, digits_x, capsys):
    path = _board_with_cc(tmp_path)
    with pytest.raises(BoardError) as e:
        get_board(str(path))
    assert str(e.value) == f"{path}: 1 problem:\n  - {CC_REFUSED}"
    for cmd in (["boards", path], ["run", MODELS / "digits_mlp.json", "--board", path, "--inputs", digits_x,
                                   "-o", tmp_path / "o.npz"]):
        capsys.readouterr()
        assert run(*cmd) == 1
        err = capsys.readouterr().err
        assert err == f"edgesnn {cmd[0]}: error: {path}: 1 problem:\n  - {CC_REFUSED}\n", err
    assert not (tmp_path / "o.npz").exists()


def test_board_variants_without_cc_still_load(tmp_path):
    assert board_variant(tmp_path, "qemu-mine").cflags == get_board("qemu-mps2-an386").cflags


@pytest.mark.needs_arm_gcc
def test_compiler_comes_from_the_environment_not_the_board(tmp_path, monkeypatch):
    b = get_board("qemu-mps2-an386")
    monkeypatch.setenv("EDGESNN_ARM_GCC", "no-such-arm-gcc")
    with pytest.raises(F.ToolchainMissing) as e:
        F.build(b, cache_dir=tmp_path / "fw")
    assert str(e.value) == ("no-such-arm-gcc not found on PATH; EDGESNN_ARM_GCC names it; set it to an installed "
                            "compiler, or unset it to use arm-none-eabi-gcc")
    monkeypatch.setenv("EDGESNN_ARM_GCC", str(tmp_path / "nope" / "gcc"))
    with pytest.raises(F.ToolchainMissing) as e:
        F.build(b, cache_dir=tmp_path / "fw")
    assert str(e.value) == f"EDGESNN_ARM_GCC={str(tmp_path / 'nope' / 'gcc')!r}: no such executable file"
    assert not (tmp_path / "fw").exists()
    monkeypatch.setenv("EDGESNN_ARM_GCC", shutil.which("arm-none-eabi-gcc"))
    assert F.build(b, cache_dir=tmp_path / "fw").elf.is_file()
