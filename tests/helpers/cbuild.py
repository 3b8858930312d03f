"""Building runtime_c with gcc/clang for the tests, and the file formats of tools/esn_run.c."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

from edgesnn.quantize.reference import FIXED_COUNTERS, simulate_fixed

from tests.helpers.paths import ROOT

RUNTIME = ROOT / "runtime_c"
SOURCES = sorted([*(RUNTIME / "src").glob("*.c"), *(RUNTIME / "src" / "kernels").glob("*.c")]) + \
    [RUNTIME / "ports" / "host" / "esn_port.c"]
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wdouble-promotion", "-Wconversion", "-Wsign-conversion",
          "-Wshadow", "-Wstrict-prototypes", "-pedantic", "-Werror"]
SANITIZE = ["-std=c99", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
SAN_ENV = {"ASAN_OPTIONS": "abort_on_error=0:detect_leaks=1:exitcode=86",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87"}


def gcc() -> str:
    return shutil.which("gcc") or shutil.which("cc") or "cc"


def build(out: Path, extra: list[Path], flags: list[str], includes: list[Path] = (), compiler: str | None = None,
          sources: list[Path] | None = None) -> Path:
    """Compiles the runtime plus `extra` into the executable `out`; raises with the compiler's output."""
    cmd = [compiler or gcc(), *flags, f"-I{RUNTIME / 'include'}", *(f"-I{i}" for i in includes),
           *map(str, SOURCES if sources is None else sources), *map(str, extra), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"build failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return out


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, **SAN_ENV}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, **kw)


def write_inputs(path: Path, x: np.ndarray) -> Path:
    x = np.ascontiguousarray(x, dtype=np.uint8)
    n, t = x.shape[:2]
    path.write_bytes(b"ESNI" + struct.pack("<III", n, t, int(np.prod(x.shape[2:]))) + x.tobytes())
    return path


def read_outputs(path: Path):
    """(outputs [N, T, K] int64, counters [N, T, nodes, 8] int64, steps [N])."""
    data = path.read_bytes()
    assert data[:4] == b"ESNO"
    n, t, k, nodes = struct.unpack_from("<IIII", data, 4)
    pos, outs, cnts, steps = 20, [], [], []
    for _ in range(n):
        steps.append(struct.unpack_from("<I", data, pos)[0])
        pos += 8
        rows = np.frombuffer(data, "<u8", t * (k + nodes * 8), pos).reshape(t, k + nodes * 8)
        outs.append(rows[:, :k].view("<i8"))
        cnts.append(rows[:, k:].reshape(t, nodes, 8))
        pos += 8 * t * (k + nodes * 8)
    assert pos == len(data)
    return np.stack(outs), np.stack(cnts).astype(np.int64), np.array(steps)


def assert_driver_matches(qgraph, x: np.ndarray, out_file: Path, label: str) -> None:
    """The driver's outputs, counters and steps equal simulate_fixed's."""
    ref = simulate_fixed(qgraph, x)
    outs, cnts, steps = read_outputs(out_file)
    n, t = x.shape[:2]
    np.testing.assert_array_equal(outs, ref.outputs.reshape(n, t, -1), err_msg=f"{label}: outputs")
    np.testing.assert_array_equal(steps, t if ref.steps is None else ref.steps, err_msg=f"{label}: steps")
    order = list(qgraph.graph.schedule().order)
    for name, cs in ref.counts.items():
        for i, c in enumerate(FIXED_COUNTERS):  # esn_counters' first seven fields, in this order
            np.testing.assert_array_equal(cnts[:, :, order.index(name), i], cs[c], err_msg=f"{label}: {name} {c}")
