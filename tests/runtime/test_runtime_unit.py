"""runtime_c on its own: the C unit tests, strict C99 builds, and what the runtime links against."""

import re
import subprocess

import pytest

from tests.helpers.cbuild import RUNTIME, SANITIZE, SOURCES, STRICT, build, gcc, run


def test_c_unit_tests_pass_with_strict_warnings(tmp_path):
    exe = build(tmp_path / "test_esn_runtime", [RUNTIME / "tests" / "test_esn_runtime.c"], STRICT)
    r = run([exe])
    assert r.returncode == 0 and "~~~ALL TESTS PASSED~~~" in r.stdout, r.stdout + r.stderr


def test_c_unit_tests_pass_under_sanitizers(tmp_path):
    exe = build(tmp_path / "test_esn_runtime_san", [RUNTIME / "tests" / "test_esn_runtime.c"], SANITIZE)
    r = run([exe])
    assert r.returncode == 0 and "~~~ALL TESTS PASSED~~~" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("defines", [[], ["-DESN_STRIP_LOG", "-DESN_ENABLE_CYCLES=0"],
                                     ["-DESN_MAX_NODES=8", "-DESN_MAX_EDGES=8", "-DESN_MAX_FANIN=2"]])
def test_runtime_uses_only_memcpy_memset_and_the_port(tmp_path, defines):
    """No heap, no stdio, nothing of libc beyond <string.h>: the undefined symbols of the objects."""
    objs = []
    for src in SOURCES[:-1]:  # without the host port
        obj = tmp_path / (src.stem + ".o")
        r = subprocess.run([gcc(), *STRICT, *defines, f"-I{RUNTIME / 'include'}", "-c", str(src), "-o", str(obj)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        objs.append(str(obj))
    nm = subprocess.run(["nm", "-u", *objs], capture_output=True, text=True).stdout
    undefined = {ln.split()[-1] for ln in nm.splitlines() if ln.strip() and not ln.endswith(":")}
    ours = {u for u in undefined if u.startswith("esn_")}
    assert undefined - ours - {"_GLOBAL_OFFSET_TABLE_"} <= {"memcpy", "memset", "memcmp"}, undefined
    assert ours - {"esn_port_cycles", "esn_port_log"} <= _defined(objs)
    if "-DESN_STRIP_LOG" in defines:
        assert "esn_port_log" not in undefined
    for src in SOURCES[:-1]:
        includes = re.findall(r"#include <([^>]+)>", src.read_text())
        assert set(includes) <= {"stdint.h", "string.h"}, (src.name, includes)
        assert "malloc" not in src.read_text()


def _defined(objs) -> set:
    nm = subprocess.run(["nm", "--defined-only", *objs], capture_output=True, text=True).stdout
    return {ln.split()[-1] for ln in nm.splitlines() if len(ln.split()) == 3}


@pytest.mark.needs_arm_gcc
def test_runtime_cross_compiles_for_cortex_m(tmp_path):
    for src in SOURCES[:-1]:
        r = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", *STRICT, f"-I{RUNTIME / 'include'}",
                            "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
