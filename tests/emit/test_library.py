"""The C library of a model (edgesnn export-c, edgesnn.emit.library), tested for real: the CMake library
builds on the host and its example prints `--engine fixed-c`'s predictions (the early exit applied, a plan's
grouped schedule too); it cross-compiles for Cortex-M4, M0+ and M33 through its toolchain file; the Arduino,
Zephyr and PlatformIO layouts hold what their specifications require and their sources compile as plain C
with arm-none-eabi-gcc; the runtime files it leaves out are called by nothing it keeps."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn import api
from edgesnn.board import get_board
from edgesnn.data import load_dataset
from edgesnn.emit import library as L
from edgesnn.graph import Graph
from edgesnn.lower import lower
from edgesnn.plan import Plan, plan
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime.binding import run_c
from tests.helpers.cbuild import RUNTIME, STRICT, gcc
from tests.helpers.paths import DATA, MODELS

HAVE_CMAKE = shutil.which("cmake") is not None
needs_cmake = pytest.mark.skipif(not HAVE_CMAKE, reason="cmake not installed (make setup installs it)")
WARN = "-Wall -Wextra -Wdouble-promotion -Wconversion -Wsign-conversion -Wshadow -Wstrict-prototypes -pedantic -Werror"
# what each core's objects must say they are (arm-none-eabi-readelf -A: Tag_CPU_arch)
CORES = {"cortex-m4": "v7E-M", "cortex-m0plus": "v6S-M", "cortex-m33": "v8-M.mainline"}


def _sh(cmd, cwd=None, env=None) -> str:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, \
        f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    return r.stdout


def _cmake_build(src: Path, build: Path, *args, cflags: str = WARN) -> None:
    env = {**os.environ, "CFLAGS": cflags}   # CFLAGS adds to the toolchain file's flags (CMAKE_C_FLAGS would replace)
    _sh(["cmake", "-S", src, "-B", build, *args], env=env)
    _sh(["cmake", "--build", build, "-j", "2"], env=env)


def _host_predictions(lib: Path, name: str, x: np.ndarray, tmp: Path, dtype=np.uint8) -> np.ndarray:
    _cmake_build(lib, tmp / f"build-{name}")
    np.save(tmp / "x.npy", np.ascontiguousarray(x, dtype))
    out = _sh([tmp / f"build-{name}" / f"{name}_example", tmp / "x.npy"])
    return np.array([int(v) for v in out.split()])


# ---------------------------------------------------------------------------------------------
# The CMake library on the host: predictions equal fixed-c's

@needs_cmake
@pytest.mark.needs_c_ext
@pytest.mark.parametrize("bits", [8, 16])
def test_analog_library_predicts_as_fixed_c_and_quantizes_as_edgesnn(tmp_path, bits):
    """An analog model's library takes int8 / int16 readings (NAME_input_t); its example predicts as fixed-c on the
    same readings, and NAME_quantize_input turns real values into exactly QGraph.quantize_inputs' integers."""
    from tests.quantize.test_analog_input import sensor_graph, sensor_series
    g, x = sensor_graph(), sensor_series(24, 8)
    q = quantize(g, QuantConfig(input_bits=bits, input_scale="channel"), x)
    q.save(tmp_path / "sensor.json")
    api.export_c(tmp_path / "sensor.json", tmp_path / "lib", target="cmake", name="sensor")
    header = (tmp_path / "lib" / "include" / "sensor.h").read_text()
    assert f"typedef int{bits}_t sensor_input_t;" in header and "sensor_quantize_input" in header
    xq = q.quantize_inputs(x)
    got = _host_predictions(tmp_path / "lib", "sensor", xq, tmp_path, xq.dtype)
    want = run_c(q, x)
    assert len(set(want.pred.tolist())) > 1, "one class for every input: the test would see little"
    np.testing.assert_array_equal(got, want.pred)
    # the header's helper, compiled on the host, against the Python quantization (ties, saturation, channels)
    s = q.input_scale
    probe = np.array([[0.0, 2.5 * s[0], -2.5 * s[1], 1e12, -1e12, 0.49 * s[2], 3.2, -7.7]])
    cols = np.array([0, 1, 16, 17, 40, 33, 5, 47])
    full = np.zeros((len(probe[0]), 1, 3, 16))
    for i, (v, j) in enumerate(zip(probe[0], cols)):
        full[i, 0].reshape(-1)[j] = v
    want_q = [int(q.quantize_inputs(full[i:i + 1]).reshape(-1)[j]) for i, j in enumerate(cols)]
    main = tmp_path / "probe.c"
    calls = "".join(f'    printf("%d\\n", (int)sensor_quantize_input({float(v)!r}, {j}u));\n' for v, j in zip(probe[0], cols))
    main.write_text(f'#include <stdio.h>\n#include "sensor.h"\nconst double sensor_input_scales[3] = '
                    f'{{{", ".join(repr(float(v)) for v in s)}}};\nint main(void)\n{{\n{calls}    return 0;\n}}\n')
    exe = tmp_path / "probe"
    _sh(["cc", "-std=c99", *WARN.split(), "-I", tmp_path / "lib" / "include", "-I",
         tmp_path / "lib" / "runtime" / "include", main, "-o", exe])
    assert [int(v) for v in _sh([exe]).split()] == want_q

@needs_cmake
@pytest.mark.needs_c_ext
@pytest.mark.parametrize("model,data,quant", [
    ("digits_mlp", "digits_test.npz", {"exit_confidence": 0.9}),
    ("digits_cnn", "digits_test_cnn.npz", {}),
    ("seqdigits_alif", "seqdigits_test.npz", {"weight_bits": 4, "state_bits": 12, "exit_confidence": 0.8}),
])
def test_cmake_host_example_predicts_as_fixed_c(tmp_path, model, data, quant):
    x, _ = load_dataset(DATA / data)
    x = x[:60]
    e = api.export_c(MODELS / f"{model}.json", tmp_path / "lib", target="cmake", **quant)
    assert e.name == model and (tmp_path / "lib" / "CMakeLists.txt").is_file()
    got = _host_predictions(tmp_path / "lib", model, x, tmp_path)
    want = api.simulate(MODELS / f"{model}.json", x, engine="fixed-c", **quant).measurement
    np.testing.assert_array_equal(got, want.pred)
    if quant.get("exit_confidence"):
        assert want.steps.min() < x.shape[1], "the exit never fired: the test would not see it"
        assert "EARLY_EXIT 1" in (tmp_path / "lib" / "include" / f"{model}.h").read_text()


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """Two plans: the MLP time-step-major with its calibrated early exit, and the recurrent LIF net at T = 4,
    for which the SRAM objective picks the fused (grouped) schedule."""
    d = tmp_path_factory.mktemp("plans")
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    p = plan(g, get_board(), x[:120], y[:120], max_drop=0.05, configs=[QuantConfig()], workers=1,
             sensitivity=False, measure=False)
    assert isinstance(p, Plan) and p.schedule == "time-step-major"
    p.save(d / "mlp.plan.json")
    g = Graph.load(MODELS / "psdigits_lif.json")
    x, y = load_dataset(DATA / "psdigits_val.npz")
    f = plan(g, get_board(), x[:60, :4], y[:60], max_drop=0.5, configs=[QuantConfig()], workers=1,
             sensitivity=False, objective="sram", measure=False)
    assert isinstance(f, Plan) and f.schedule == "fused"
    f.save(d / "lif.plan.json")
    return d / "mlp.plan.json", d / "lif.plan.json"


@needs_cmake
@pytest.mark.needs_c_ext
def test_a_plan_is_exported_as_planned(plans, tmp_path):
    mlp, lif = plans
    x, _ = load_dataset(DATA / "digits_test.npz")
    x = x[:60]
    e = api.export_c(mlp, tmp_path / "mlp", name="mlp")
    p = api.load(mlp)
    assert e.qgraph.to_dict() == p.qgraph.to_dict() and e.runtime_left_out.keys() == {"esn_blob.c", "esn_schedule.c"}
    want = api.simulate(mlp, x).measurement     # a plan runs fixed-c with its exit
    np.testing.assert_array_equal(_host_predictions(tmp_path / "mlp", "mlp", x, tmp_path), want.pred)
    readme = (tmp_path / "mlp" / "README.md").read_text()
    assert f"planned for board {p.board}" in readme and "early exit" in readme
    # the grouped schedule: its runner is kept, inputs of T = 4 steps, arena esn_arena_size_sched()
    xs, _ = load_dataset(DATA / "psdigits_test.npz")
    xs = xs[:60, :4]
    e = api.export_c(lif, tmp_path / "lif", name="lif")
    q = api.load(lif)
    assert "esn_schedule.c" in e.runtime_kept and e.schedule == "fused"
    assert e.arena_bytes == lower(q.qgraph, q.runtime_schedule, 4, counters=False).arena_bytes  # the default
    h = (tmp_path / "lif" / "include" / "lif.h").read_text()
    assert "#define LIF_SCHED_STEPS 4u" in h and "esn_sched_ctx rt;" in h
    want = run_c(q.qgraph, xs, schedule=q.runtime_schedule)
    np.testing.assert_array_equal(_host_predictions(tmp_path / "lif", "lif", xs, tmp_path), want.pred)


@needs_cmake
@pytest.mark.needs_c_ext
def test_host_example_refuses_bad_inputs_in_one_line(tmp_path):
    api.export_c(MODELS / "digits_mlp.json", tmp_path / "lib", name="m")
    _cmake_build(tmp_path / "lib", tmp_path / "b")
    exe = tmp_path / "b" / "m_example"
    np.save(tmp_path / "f.npy", np.zeros((2, 3, 64), np.float32))
    np.save(tmp_path / "w.npy", np.zeros((2, 3, 65), np.uint8))
    (tmp_path / "t.npy").write_bytes(b"not numpy")
    for f, why in (("f.npy", "dtype must be |u1"), ("w.npy", "each step must hold"), ("t.npy", "not a .npy file")):
        r = subprocess.run([exe, tmp_path / f], capture_output=True, text=True)
        assert r.returncode == 1 and why in r.stderr and r.stderr.count("\n") == 1 and not r.stdout, (f, r.stderr)


# ---------------------------------------------------------------------------------------------
# Counters: --no-counters (the default, a release build) and --counters

# reads layer 1's counters after one inference: "null" where the library counts nothing, else its synops
COUNTERS_MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "NAME.h"
static NAME_ctx ctx;
static NAME_input_t x[STEPS * NAME_UP_INPUT_SIZE];
int main(void)
{
    const esn_counters *c;
    unsigned j;
    for (j = 0; j < sizeof x; ++j) {
        x[j] = (NAME_input_t)((j * 2654435761u >> 28) < 5u);
    }
    if (NAME_init(&ctx) < 0 || NAME_infer(&ctx, x, STEPS, NULL) < 0) {
        return 1;
    }
    c = NAME_counters(&ctx, 1u, 1);
    if (c == NULL) {
        printf("null %d\n", NAME_UP_COUNTERS);
    } else {
        printf("%llu %d\n", (unsigned long long)c->synops, NAME_UP_COUNTERS);
    }
    return 0;
}
"""


def _counters_read(lib: Path, name: str, steps: int, tmp: Path) -> str:
    build = tmp / f"build-{name}"
    src = tmp / f"{name}_counters.c"
    src.write_text(COUNTERS_MAIN.replace("NAME_UP", name.upper()).replace("NAME", name).replace("STEPS", str(steps)))
    exe = tmp / f"{name}_counters"
    _sh([gcc(), *STRICT, f"-I{lib / 'include'}", f"-I{lib / 'runtime' / 'include'}", src, build / f"lib{name}.a",
         "-o", exe])
    return _sh([exe]).strip()


@needs_cmake
@pytest.mark.needs_c_ext
def test_counters_on_and_off_predict_as_fixed_c(tmp_path):
    """Both libraries predict as fixed-c; the release one's arena is the lowering's without counters (128 B a
    layer fewer), its NAME_counters is NULL and says so, the other's counts; the runtime's config follows."""
    quant = {"exit_confidence": 0.9}
    x, _ = load_dataset(DATA / "digits_test.npz")
    x = x[:40]
    want = api.simulate(MODELS / "digits_mlp.json", x, engine="fixed-c", **quant).measurement
    lows = {}
    for name, counters in (("off", False), ("on", True)):
        e = api.export_c(MODELS / "digits_mlp.json", tmp_path / name, name=name, counters=counters, **quant)
        lows[name] = low = lower(e.qgraph, counters=counters)
        assert e.arena_bytes == low.arena_bytes
        h = (tmp_path / name / "include" / f"{name}.h").read_text()
        assert f"#define {name.upper()}_ARENA_BYTES {low.arena_bytes}u" in h
        assert f"#define {name.upper()}_COUNTERS {int(counters)}" in h
        assert ("ALWAYS NULL" in h) != counters and ("NULL here (--no-counters)" in (tmp_path / name / "README.md")
                                                   .read_text()) != counters
        assert f"#define ESN_ENABLE_COUNTERS {int(counters)}" in (tmp_path / name / "runtime" / "include" / "esn" /
                                                                   "esn_config.h").read_text()
        np.testing.assert_array_equal(_host_predictions(tmp_path / name, name, x, tmp_path), want.pred)
        read = _counters_read(tmp_path / name, name, x.shape[1], tmp_path).split()
        if counters:
            assert int(read[0]) > 0 and read[1] == "1", read
        else:
            assert read == ["null", "0"]
    assert lows["on"].arena_bytes - lows["off"].arena_bytes == 128 * len(lows["on"].nodes)


@needs_cmake
@pytest.mark.needs_c_ext
def test_release_library_runs_a_grouped_schedule(tmp_path):
    """esn_schedule.c without counters: the fused schedule at T = 4 predicts as the counting runtime runs it."""
    g = Graph.load(MODELS / "psdigits_lif.json")
    xs, _ = load_dataset(DATA / "psdigits_test.npz")
    xs = xs[:40, :4]
    q = quantize(g, QuantConfig(), xs)
    lib = L.library_files(q, "cmake", "lif", schedule="fused", steps=4)
    L.write_tree(tmp_path / "lif", lib.files)
    assert "esn_schedule.c" in lib.runtime_kept
    assert lib.arena_bytes == lower(q, "fused", 4, counters=False).arena_size_sched() \
        == lower(q, "fused", 4).arena_size_sched() - 64 * len(lower(q).nodes)
    want = run_c(q, xs, schedule="fused")
    np.testing.assert_array_equal(_host_predictions(tmp_path / "lif", "lif", xs, tmp_path), want.pred)
    assert _counters_read(tmp_path / "lif", "lif", 4, tmp_path).split() == ["null", "0"]


# ---------------------------------------------------------------------------------------------
# Cortex-M through the toolchain file

@needs_cmake
@pytest.mark.needs_arm_gcc
@pytest.mark.needs_c_ext
def test_cmake_library_cross_compiles_for_cortex_m(tmp_path):
    api.export_c(MODELS / "digits_cnn.json", tmp_path / "lib", name="cnn", exit_confidence=0.9)
    for cpu, arch in CORES.items():
        b = tmp_path / f"b-{cpu}"
        _cmake_build(tmp_path / "lib", b, "-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake", f"-DEDGESNN_CPU={cpu}",
                     "-DCMAKE_BUILD_TYPE=MinSizeRel", cflags="-Wall -Wextra -Werror")
        lib = b / "libcnn.a"
        attrs = _sh(["arm-none-eabi-readelf", "-A", lib])
        assert set(re.findall(r"Tag_CPU_arch: (\S+)", attrs)) == {arch}, (cpu, attrs[:400])
        members = _sh(["arm-none-eabi-ar", "t", lib]).split()
        assert "cnn.c.obj" in members and "cnn_model.c.obj" in members and "esn_blob.c.obj" not in members
        assert list(b.rglob("examples/mcu/main.c.obj")), f"{cpu}: the MCU example was not compiled"
        syms = _sh(["arm-none-eabi-nm", lib])
        assert re.search(r" T cnn_infer\b", syms) and re.search(r" R cnn_model\b", syms), cpu  # weights are const


# ---------------------------------------------------------------------------------------------
# Arduino, Zephyr, PlatformIO: their specifications, and their sources as plain C

ARDUINO_FIELDS = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                  "architectures")   # arduino.github.io/arduino-cli/latest/library-specification: required
ARDUINO_CATEGORIES = {"Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
                      "Data Storage", "Data Processing", "Other"}


def _properties(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def _compile_all(sources, includes, tmp: Path, flags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                                                      "-mfpu=fpv4-sp-d16")) -> None:
    """Each file compiled as plain C99 with the strict flags by arm-none-eabi-gcc (objects only)."""
    for i, src in enumerate(sorted(sources)):
        _sh(["arm-none-eabi-gcc", *flags, *STRICT, "-c", src, *(f"-I{d}" for d in includes), "-o", tmp / f"{i}.o"])


def _library(tmp: Path, target: str, **kw) -> Path:
    api.export_c(MODELS / "digits_mlp.json", tmp / target, target=target, name="digits", **kw)
    return tmp / target


@pytest.mark.needs_arm_gcc
def test_arduino_layout_follows_the_library_specification(tmp_path):
    d = _library(tmp_path, "arduino", exit_confidence=0.9)
    props = _properties(d / "library.properties")
    assert all(props.get(k) for k in ARDUINO_FIELDS), props
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]*", props["name"]) and props["category"] in ARDUINO_CATEGORIES
    assert re.fullmatch(r"\d+\.\d+\.\d+", props["version"]) and props["includes"] == "digits.h"
    assert (d / "src" / "digits.h").is_file() and not list(d.glob("*.c"))   # 1.5 format: code under src/ only
    sketches = list((d / "examples").glob("*/*.ino"))
    assert sketches and all(s.stem == s.parent.name for s in sketches)       # a sketch folder names its .ino
    # the Arduino builder compiles src/ recursively with src/ as the include root
    _compile_all(list((d / "src").rglob("*.c")), [d / "src"], tmp_path)
    # the sketch is C++: the header must be usable from it (a minimal Arduino.h stands in for the core)
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "Arduino.h").write_text("struct SerialT { void begin(long) {} void print(const char *) {} "
                                    "void print(int) {} void print(unsigned) {} void println(const char *) {} };\n"
                                    "static SerialT Serial;\nstatic inline void delay(unsigned long) {}\n")
    src = tmp_path / "sketch.cpp"
    src.write_text('#include "Arduino.h"\n' + sketches[0].read_text())
    _sh(["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-c",
         src, f"-I{stub}", f"-I{d / 'src'}", "-o", tmp_path / "sketch.o"])


@pytest.mark.needs_arm_gcc
def test_zephyr_module_follows_the_module_specification(tmp_path):
    d = _library(tmp_path, "zephyr")
    yml = (d / "zephyr" / "module.yml").read_text()
    # docs.zephyrproject.org develop/modules: build.cmake is the folder with the module's CMakeLists.txt,
    # build.kconfig its Kconfig file, both relative to the module's root
    cmake_dir = re.search(r"^\s+cmake:\s*(\S+)", yml, re.M).group(1)
    kconfig = re.search(r"^\s+kconfig:\s*(\S+)", yml, re.M).group(1)
    assert re.search(r"^build:", yml, re.M) and re.search(r"^name:\s*\S+", yml, re.M)
    lists = (d / cmake_dir / "CMakeLists.txt").read_text()
    kc = (d / kconfig).read_text()
    symbol = re.search(r"^config (\w+)", kc, re.M).group(1)
    assert f"if(CONFIG_{symbol})" in lists
    assert f"CONFIG_{symbol}=y" in (d / "samples" / "digits" / "prj.conf").read_text()
    # the sources and include folders the module's CMakeLists names exist, and compile as plain C
    mod = "${ZEPHYR_CURRENT_MODULE_DIR}/"
    named = re.findall(re.escape(mod) + r"(\S+)", lists)
    sources = [d / p for p in named if p.endswith(".c")]
    includes = [d / p for p in named if not p.endswith(".c")]
    assert sources and all(p.exists() for p in sources + includes)
    assert {p.relative_to(d).as_posix() for p in d.rglob("*.c")} - {p.relative_to(d).as_posix() for p in sources} \
        == {"samples/digits/src/main.c"}   # every library source is built
    _compile_all(sources, includes, tmp_path)
    stub = tmp_path / "stub" / "zephyr"
    (stub / "sys").mkdir(parents=True)
    (stub / "kernel.h").write_text("")
    (stub / "sys" / "printk.h").write_text("void printk(const char *fmt, ...);\n")
    _compile_all([d / "samples" / "digits" / "src" / "main.c"], [*includes, tmp_path / "stub"], tmp_path / "stub")


@pytest.mark.needs_arm_gcc
def test_platformio_library_follows_the_manifest_specification(tmp_path):
    d = _library(tmp_path, "platformio")
    man = json.loads((d / "library.json").read_text())
    # docs.platformio.org manifests/library-json: name and version required; build.srcDir / includeDir
    assert man["name"] == "digits" and re.fullmatch(r"\d+\.\d+\.\d+", man["version"])
    assert man["frameworks"] == "*" and man["platforms"] == "*" and man["headers"] == ["digits.h"]
    src, inc = d / man["build"]["srcDir"], d / man["build"]["includeDir"]
    assert (inc / "digits.h").is_file()
    for ex in man["examples"]:
        assert all((d / ex["base"] / f).is_file() for f in ex["files"])
    _compile_all(list(src.rglob("*.c")), [inc, src], tmp_path)
    _compile_all([d / "examples" / "stream" / "main.c"], [inc], tmp_path / "..")


# ---------------------------------------------------------------------------------------------
# What the library copies of the runtime

def _symbols(obj: Path) -> tuple[set[str], set[str]]:
    out = _sh(["nm", obj])
    defined = {ln.split()[-1] for ln in out.splitlines() if re.search(r" [TDRB] ", ln)}
    used = {ln.split()[-1] for ln in out.splitlines() if re.search(r"^\s+U ", ln)}
    return defined, used


@pytest.mark.needs_cc
@pytest.mark.parametrize("grouped", [False, True])
def test_left_out_runtime_files_are_called_by_nothing_kept(tmp_path, grouped):
    """OPTIONAL_SOURCES is the one table of what a model may leave out: checked from the objects' symbols."""
    low = type("Low", (), {"steps": 4 if grouped else 0})()
    defined, used = {}, set()
    for src in sorted((RUNTIME / "src").rglob("*.c")):
        rel = src.relative_to(RUNTIME / "src").as_posix()
        obj = tmp_path / (rel.replace("/", "_") + ".o")
        _sh([gcc(), "-std=c99", "-O2", "-c", src, f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}", "-o", obj])
        d, u = _symbols(obj)
        left = rel in L.OPTIONAL_SOURCES and not L.OPTIONAL_SOURCES[rel][1](low)
        defined[rel] = (d, left)
        if not left:
            used |= u
    gone = {s for d, left in defined.values() if left for s in d}
    assert gone, "nothing left out"
    assert not gone & used, f"kept files call into left-out ones: {sorted(gone & used)}"


def test_runtime_files_are_derived_from_the_shipped_tree(tmp_path, monkeypatch):
    """A new source under runtime_c/src (another helper's kernel file) is copied without a change here; the
    runtime is read from edgesnn.resources' RUNTIME_C, which an installed wheel points into edgesnn/_share."""
    rt = tmp_path / "runtime_c"
    shutil.copytree(RUNTIME / "include", rt / "include")
    shutil.copytree(RUNTIME / "src", rt / "src")
    (rt / "src" / "kernels" / "esn_new_kernel.c").write_text("int esn_new_kernel_x;\n")
    monkeypatch.setattr(L, "RUNTIME_C", rt)
    e = api.export_c(MODELS / "digits_mlp.json", tmp_path / "lib", target="arduino", name="m")
    assert "kernels/esn_new_kernel.c" in e.runtime_kept
    assert (tmp_path / "lib" / "src" / "runtime" / "kernels" / "esn_new_kernel.c").is_file()
    assert not (tmp_path / "lib" / "src" / "runtime" / "esn_blob.c").exists()
    shutil.rmtree(rt / "src")
    with pytest.raises(L.EmitError, match="runtime's sources are missing"):
        api.export_c(MODELS / "digits_mlp.json", tmp_path / "lib2", name="m")
    assert not (tmp_path / "lib2").exists()


@pytest.mark.needs_arm_gcc
def test_only_the_kernels_the_model_uses_are_called_and_linked(tmp_path):
    """The library's esn_config.h sets ESN_KINDS_BUILT to its model's kinds: the MLP's runtime calls no conv, pool or
    scale kernel (and its ALIF passes are never called), so its linked example is smaller than with every kind
    built; a conv model's library calls its conv and pool kernels."""
    def used_by_runtime(model: str) -> set[str]:
        lib = tmp_path / model
        api.export_c(MODELS / f"{model}.json", lib, target="cmake", name="m")
        cfg = (lib / "runtime" / "include" / "esn" / "esn_config.h").read_text()
        assert re.search(r"#define ESN_KINDS_BUILT 0x[0-9A-F]{8}u /\* Input, Output, ", cfg)
        used = set()
        for rel in ("runtime/src/esn_runtime.c", "runtime/src/kernels/esn_neuron.c"):
            obj = tmp_path / f"{model}-{Path(rel).stem}.o"
            _sh(["arm-none-eabi-gcc", "-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-c", lib / rel,
                 f"-I{lib / 'runtime' / 'include'}", f"-I{lib / 'runtime' / 'src'}", "-o", obj])
            used |= _symbols(obj)[1]
        return used
    mlp, cnn = used_by_runtime("digits_mlp"), used_by_runtime("digits_cnn")
    assert "esn_linear" in mlp and not {"esn_conv", "esn_pool", "esn_scale"} & mlp
    assert {"esn_linear", "esn_conv", "esn_pool"} <= cnn

    def linked_text(extra: list[str]) -> int:   # the API's entry points kept, everything they do not reach dropped
        lib = tmp_path / "digits_mlp"
        srcs = [p for p in [*lib.joinpath("src").glob("*.c"), *lib.joinpath("runtime", "src").rglob("*.c")]]
        elf = tmp_path / f"mlp{len(extra)}.elf"
        _sh(["arm-none-eabi-gcc", "-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-ffunction-sections",
             "-fdata-sections", "-Wl,--gc-sections", "--specs=nosys.specs", "-nostartfiles", "-Wl,-e,m_init",
             "-Wl,--undefined=m_infer", "-Wl,--undefined=m_step", *extra, f"-I{lib / 'include'}", f"-I{lib / 'src'}",
             f"-I{lib / 'runtime' / 'include'}", f"-I{lib / 'runtime' / 'src'}", *srcs, "-o", elf])
        return int(_sh(["arm-none-eabi-size", elf]).splitlines()[1].split()[0])
    only, every = linked_text([]), linked_text(["-DESN_KINDS_BUILT=0xFFFFFFFFu"])
    assert only < every - 2000, (only, every)


@pytest.mark.needs_cc
def test_a_model_with_a_kind_not_built_is_refused(tmp_path):
    """A build whose ESN_KINDS_BUILT lacks a kind refuses a model that has it (ESN_ERR_KIND at the node), before any
    kernel could be missing."""
    e = api.export_c(MODELS / "digits_cnn.json", tmp_path / "lib", target="cmake", name="m")
    lib = tmp_path / "lib"
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\n#include "m_model.h"\n#include "esn/esn_runtime.h"\n'
                    "int main(void) { esn_diag d; esn_status s = esn_model_validate(&m_model, &d);\n"
                    '  printf("%d %d\\n", (int)s, (int)d.node); return 0; }\n')
    srcs = [lib / "src" / "m_model.c", *sorted((lib / "runtime" / "src").rglob("*.c")), lib / "src" / "m_port.c"]
    exe = tmp_path / "v"
    no_conv = sum(1 << c for c in range(17)) & ~((1 << 4) | (1 << 5))   # every kind but Conv1d, Conv2d
    _sh([gcc(), "-std=c99", "-O1", f"-DESN_KINDS_BUILT={no_conv}u", f"-I{lib / 'src'}",
         f"-I{lib / 'runtime' / 'include'}", f"-I{lib / 'runtime' / 'src'}", *srcs, main, "-o", exe])
    status, node = map(int, _sh([exe]).split())
    from edgesnn.runtime.binding import _lib
    assert status == _lib()[1].ESN_ERR_KIND and node == 1   # conv1, right after the Input
    assert e.name == "m"
