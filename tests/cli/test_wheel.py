"""The package as a user gets it: the sdist and the wheel built from it (`python -m build`), the wheel
installed into a fresh virtual environment outside the checkout, and there the whole job: the board
catalogue, the demo on the default emulated board, and plan -> compile -> run -> profile on QEMU.

Slow (a build, an install from the package index, the demo): one test, so one worker builds once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.paths import ROOT
from tests.helpers.tools import HAVE_QEMU


def _run(cmd, cwd, env=None, timeout=900) -> str:
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{out[-4000:]}"
    return out


def _build(tmp: Path) -> Path:
    """sdist and wheel, the wheel built from the unpacked sdist (so the sdist must be complete), from a
    copy of the checkout's files (git's view: tracked and untracked, not ignored), so that the build
    writes nothing into the checkout."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    src = tmp / "src"
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    out = tmp / "dist"
    log = _run([sys.executable, "-m", "build", "--outdir", out, src], cwd=tmp)
    assert "deprecated" not in log.lower(), log[-3000:]
    return out


def test_built_and_installed_as_a_user_gets_it(tmp_path):
    pytest.importorskip("build")
    dist = _build(tmp_path)
    _check_sdist(dist)
    _check_wheel(dist)
    if HAVE_QEMU:
        _check_installed(dist, tmp_path)
    else:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed (make setup): the installed wheel's job "
                    "was not run")


def _check_sdist(dist):
    sdist = next(dist.glob("edgesnn-*.tar.gz"))
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for path in ("runtime_c/src/esn_runtime.c", "boards/qemu-mps2-an386.toml", "calibration/qemu-mps2-an386.json",
                 "examples/models/digits_mlp.nir", "tests/fixtures/nir_paper/LICENSE", "setup.py", "Makefile"):
        assert path in names, f"{path} missing from {sdist.name}"


def _check_wheel(dist):
    wheel = next(dist.glob("edgesnn-*.whl"))
    assert "-cp311-abi3-" in wheel.name, wheel.name  # the extension uses the limited API only
    names = set(zipfile.ZipFile(wheel).namelist())
    share = "edgesnn/_share/"
    for path in ("boards/qemu-mps2-an386.toml", "calibration/qemu-mps2-an386.json", "runtime_c/src/esn_runtime.c",
                 "runtime_c/ports/cortex_m/esn_fw.ld.in", "examples/models/results.json",
                 "examples/data/digits_test.npz"):
        assert share + path in names, f"{path} missing from {wheel.name}"
    # every file the firmware build and the calibration digest read from the checkout's runtime_c
    shipped = {n[len(share):] for n in names if n.startswith(share + "runtime_c/")}
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "runtime_c").rglob("*")
               if p.is_file() and "build" not in p.parts and p.suffix not in (".o", ".so")}
    assert on_disk <= shipped, sorted(on_disk - shipped)


def _check_installed(dist, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    wheel = next(dist.glob("edgesnn-*.whl"))
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=tmp_path)
    work = tmp_path / "work"  # nothing of the checkout here or on the path
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def edgesnn(*args) -> str:
        return _run(["edgesnn", *args], cwd=work, env=env)

    assert "qemu-mps2-an386 *" in edgesnn("boards")
    share = Path(_run([venv / "bin" / "python", "-c", "import edgesnn.resources as r; print(r.SHARE)"],
                      cwd=work, env=env).strip())
    assert share.is_relative_to(venv) and not share.is_relative_to(ROOT)

    demo = edgesnn("demo", "--out", "out")
    assert "measured on qemu-mps2-an386" in demo and "EDP" in demo

    ex = share / "examples"
    test = np.load(ex / "data" / "digits_test.npz")
    np.save(work / "x.npy", test["inputs"][:4])
    edgesnn("plan", ex / "models" / "digits_mlp.json", "--data", ex / "data" / "digits_val.npz", "-o", "plan.json")
    edgesnn("compile", "plan.json", "-o", "build")
    assert (work / "build" / "model.blob").stat().st_size > 0
    edgesnn("run", "plan.json", "--inputs", "x.npy", "-o", "out.npz")
    with np.load(work / "out.npz") as z:
        pred = z["pred"]
    assert pred.shape == (4,)
    # the drop-in C library from the installed package's runtime sources, built as a user's CMake project
    edgesnn("export-c", "plan.json", "-o", "lib", "--name", "digits")
    _run(["cmake", "-S", work / "lib", "-B", work / "lib-build"], cwd=work)
    _run(["cmake", "--build", work / "lib-build"], cwd=work)
    assert _run([work / "lib-build" / "digits_example", "x.npy"], cwd=work).split() == [str(int(p)) for p in pred]
    assert "total" in edgesnn("profile", "plan.json", "--inputs", "x.npy")
    # a board given as a file of the user's: its firmware port comes from the installed package
    shutil.copy(share / "boards" / "qemu-microbit.toml", work / "qemu-microbit.toml")
    edgesnn("run", ex / "models" / "digits_mlp.json", "--board", "./qemu-microbit.toml", "--builtin",
            "--inputs", "x.npy", "-o", "microbit.npz")
