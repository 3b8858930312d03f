"""The CLI's commands agree with each other (issue #12, point 8): `simulate` takes a plan and reports accuracy
when labels are given; every inputs option takes .npy or a data set .npz; `info` and `boards` answer --json;
QEMU's boot timeout comes from the caller (--boot-timeout) and passing it is one named error; the firmware
cache is bounded, and `edgesnn cache` shows and clears it."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgesnn.board import catalogue_table, get_board, load_catalogue
from edgesnn.data import load_dataset
from edgesnn.firmware import cache as C
from edgesnn.errors import DeviceError, EdgesnnError
from edgesnn.graph import Graph
from tests.helpers.cli import fails, run
from tests.helpers.paths import DATA, MODELS


@pytest.fixture(scope="module")
def val():
    x, y = load_dataset(DATA / "digits_val.npz")
    return x[:60], y[:60]


@pytest.fixture
def data(tmp_path, val):
    x, y = val
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "val.npz", inputs=x, labels=y)
    np.savez(tmp_path / "only_x.npz", inputs=x)
    return tmp_path


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory, val):
    from edgesnn.plan import plan
    from edgesnn.quantize import QuantConfig
    x, y = val
    p = plan(Graph.load(MODELS / "digits_mlp.json"), get_board(), x, y, max_drop=0.05, configs=[QuantConfig()],
             workers=1, sensitivity=False, measure=False)
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    p.save(path)
    return path, p


# -- simulate: plans, labels, accuracy ----------------------------------------------------------------------

@pytest.mark.needs_c_ext
def test_simulate_runs_a_plan_as_planned_and_prints_its_accuracy(plan_file, data, capsys):
    path, p = plan_file
    assert p.qgraph.exit is not None  # the plan exits early: the simulation must too
    assert run("simulate", path, "--inputs", data / "val.npz", "-o", data / "o.npz") == 0
    out = capsys.readouterr().out
    n_right = round(p.accuracy * 60)
    assert f"accuracy {100 * p.accuracy:.2f}% ({n_right} of n = 60 correct)" in out
    assert "(fixed-c, " in out and "steps on average (early exit)" in out
    with np.load(data / "o.npz") as z:
        assert set(z.files) == {"out_spikes", "pred", "steps", "labels", "accuracy"}
        assert float(z["accuracy"]) == p.accuracy  # bit-exact: the planner measured the same runtime
        np.testing.assert_array_equal(z["labels"], np.load(data / "y.npy"))
        assert z["steps"].mean() < 16
    # the Python specification agrees; --engine float runs the float model the plan holds, all steps
    assert run("simulate", path, "--inputs", data / "x.npy", "--labels", data / "y.npy", "--engine", "fixed-python",
               "-o", data / "py.npz") == 0
    assert run("simulate", path, "--inputs", data / "val.npz", "--engine", "float", "-o", data / "f.npz") == 0
    out = capsys.readouterr().out
    assert "(float)" in out.splitlines()[-1]
    with np.load(data / "o.npz") as a, np.load(data / "py.npz") as b, np.load(data / "f.npz") as f:
        np.testing.assert_array_equal(a["pred"], b["pred"])
        assert float(f["accuracy"]) == p.float_accuracy and "steps" not in f.files


@pytest.mark.needs_c_ext
def test_simulate_a_plan_refuses_quantization_settings(plan_file, data, capsys):
    path, _ = plan_file
    err = fails(capsys, "simulate", path, "--inputs", data / "x.npy", "-o", data / "o.npz", "--weight-bits", "4")
    assert "already quantized; weight_bits cannot change it" in err
    err = fails(capsys, "simulate", path, "--inputs", data / "x.npy", "-o", data / "o.npz", "--engine", "float",
                "--weight-bits", "4")
    assert "quantization settings apply to the fixed-point engines only" in err
    assert not (data / "o.npz").exists()


@pytest.mark.needs_c_ext
def test_simulate_a_quantized_model_defaults_to_the_c_runtime(data, capsys):
    assert run("compile", MODELS / "digits_mlp.json", "-o", data / "fw") == 0
    assert run("simulate", data / "fw" / "model.blob", "--inputs", data / "val.npz", "-o", data / "a.npz") == 0
    assert "(fixed-c)" in capsys.readouterr().out.splitlines()[-1]
    assert run("simulate", data / "fw" / "model.blob", "--inputs", data / "val.npz", "-o", data / "b.npz",
               "--engine", "fixed-c") == 0
    with np.load(data / "a.npz") as a, np.load(data / "b.npz") as b:
        np.testing.assert_array_equal(a["out_spikes"], b["out_spikes"])
        assert float(a["accuracy"]) == float(b["accuracy"]) > 0.8
    err = fails(capsys, "simulate", data / "fw" / "model.blob", "--inputs", data / "x.npy", "-o", data / "c.npz",
                "--engine", "float")
    assert "already quantized; run it with --engine fixed-python or fixed-c" in err


def test_simulate_float_model_with_labels(data, capsys):
    assert run("simulate", MODELS / "digits_mlp.json", "--inputs", data / "x.npy", "--labels", data / "y.npy",
               "-o", data / "o.npz") == 0
    out = capsys.readouterr().out
    m = re.search(r"accuracy (\d+\.\d\d)% \((\d+) of n = 60 correct\)", out)
    assert m, out
    with np.load(data / "o.npz") as z:
        acc = float(np.mean(z["pred"] == np.load(data / "y.npy")))
        assert float(z["accuracy"]) == acc and int(m[2]) == round(acc * 60)
    # no labels: no accuracy, the output as before
    assert run("simulate", MODELS / "digits_mlp.json", "--inputs", data / "only_x.npz", "-o", data / "p.npz") == 0
    assert "accuracy" not in capsys.readouterr().out
    with np.load(data / "p.npz") as z:
        assert set(z.files) == {"out_spikes", "pred"}


@pytest.mark.parametrize("inputs,extra,msg", [
    ("val.npz", ["--labels", "y.npy"], r"--labels .*y.npy: .*val.npz holds labels already; give one of them"),
    ("x.npy", ["--labels", "x.npy"], r"x.npy: labels has shape \(60, 16, 64\); need \(60,\), one label per input"),
    ("x.npy", ["--labels", "short.npy"], r"short.npy: labels has shape \(3,\); need \(60,\)"),
    ("x.npy", ["--labels", "big.npy"], r"big.npy: labels hold class 10, but the model has 10 outputs"),
    ("x.npy", ["--labels", "float.npy"], r"float.npy: labels has dtype float64; need an integer dtype"),
    ("bad_labels.npz", [], r"bad_labels.npz: field 'labels' has shape \(2,\); need \(60,\)"),
    ("only_y.npz", [], r"only_y.npz: missing field 'inputs'"),
    ("text.txt", [], r"text.txt: inputs must be a .npy array file \(np.save\) or a data set .npz holding 'inputs'"),
    ("absent.npy", [], r"absent.npy: no such file"),
])
def test_simulate_bad_inputs_or_labels_are_named_and_write_nothing(data, capsys, inputs, extra, msg):
    x = np.load(data / "x.npy")
    np.save(data / "short.npy", np.arange(3))
    np.save(data / "big.npy", np.full(60, 10))
    np.save(data / "float.npy", np.zeros(60))
    np.savez(data / "bad_labels.npz", inputs=x, labels=np.arange(2))
    np.savez(data / "only_y.npz", labels=np.arange(60))
    (data / "text.txt").write_text("1 2 3\n")
    argv = [a if not a.endswith((".npy", ".npz", ".txt")) else data / a for a in extra]
    err = fails(capsys, "simulate", MODELS / "digits_mlp.json", "--inputs", data / inputs, *argv, "-o", data / "o.npz")
    assert re.search(msg, err), err
    assert not (data / "o.npz").exists() and not list(data.glob(".o.*"))


# -- one loader for every inputs option -----------------------------------------------------------------------

@pytest.mark.needs_c_ext
def test_calib_takes_npy_or_npz_alike(data, capsys):
    for name in ("x.npy", "val.npz"):
        assert run("compile", MODELS / "digits_mlp.json", "-o", data / name.replace(".", "_"), "--calib",
                   data / name, "--weight-bits", "6") == 0
    assert (data / "x_npy" / "model.blob").read_bytes() == (data / "val_npz" / "model.blob").read_bytes()
    err = fails(capsys, "compile", MODELS / "digits_mlp.json", "-o", data / "c", "--calib", MODELS / "digits_mlp.json")
    assert "digits_mlp.json: calibration inputs must be a .npy array file (np.save) or a data set .npz" in err
    assert not (data / "c").exists()


def test_the_cli_has_one_inputs_loader():
    import inspect
    import edgesnn.cli as cli
    src = inspect.getsource(cli)
    assert "np.load(" not in src, "inputs are read by edgesnn.data.load_inputs only"


# -- info --json, boards --json -------------------------------------------------------------------------------

def test_info_json_has_the_tables_facts(capsys):
    model = MODELS / "digits_cnn.json"
    assert run("info", model) == 0
    table = capsys.readouterr().out
    assert run("info", model, "--json") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model"] == str(model) and d["dt"] == Graph.load(model).dt
    names = [r["name"] for r in d["layers"]]
    assert names[0] == "input" and names[-1] == "output" and "conv1" in names
    conv1 = next(r for r in d["layers"] if r["name"] == "conv1")
    assert conv1 == {"name": "conv1", "kind": "Conv2d", "recurrent_from": [], "input": [1, 8, 8],
                     "output": [8, 8, 8], "parameters": 80, "neurons": 0, "param_bytes_f32": 320,
                     "state_bytes_f32": 0}
    assert d["total"]["parameters"] == sum(r["parameters"] for r in d["layers"])
    total_row = next(line for line in table.splitlines() if "total" in line)
    assert f"{d['total']['parameters']:,}" in total_row and f"{d['total']['state_bytes_f32']:,}" in total_row


def test_info_json_names_recurrent_inputs(nir_paper, tmp_path, capsys):
    pytest.importorskip("nir")
    assert run("import", nir_paper / "03_rnn" / "braille_noDelay_bias_zero.nir", "--dt", "1e-4", "--dialect",
               "snntorch", "-o", tmp_path / "b.json") == 0
    capsys.readouterr()
    assert run("info", tmp_path / "b.json", "--json") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["dialect"] == "snntorch"
    assert next(r for r in d["layers"] if r["name"] == "lif1.lif")["recurrent_from"] == ["lif1.w_rec"]


def test_boards_json_has_the_tables_facts(capsys):
    assert run("boards", "--json") == 0
    d = json.loads(capsys.readouterr().out)
    cat = load_catalogue()
    assert sorted(b["id"] for b in d["boards"]) == sorted(cat) and d["default"] == "qemu-mps2-an386"
    table = catalogue_table(cat)
    for b in d["boards"]:
        assert b["default"] == (b["id"] == "qemu-mps2-an386")
        assert b["sram_bytes"] == cat[b["id"]].sram_bytes and b["clock_hz"] == cat[b["id"]].clock_hz
        line = next(ln for ln in table.splitlines() if ln.split()[0] == b["id"])
        assert f"{b['clock_hz'] / 1e6:g}" in line.split() and b["mcu"].split()[0] in line
        assert ("qemu_machine" in b["runs_on"]) == (cat[b["id"]].kind == "qemu")
    assert run("boards", "qemu-mps2-an505", "--json") == 0
    b = json.loads(capsys.readouterr().out)
    assert b["id"] == "qemu-mps2-an505" and b["qemu_machine"] == "mps2-an505" and b["firmware"]["port"] == "mps2"
    assert all(isinstance(r["origin"], int) and isinstance(r["size_bytes"], int) for r in b["regions"])
    assert sum("arena" in r["holds"] for r in b["regions"]) == 1
    assert run("boards", "nucleo-h743zi", "--json") == 0
    h = json.loads(capsys.readouterr().out)
    assert h["flash"]["runner"] in ("pyocd", "openocd") and h["energy_per_cycle_pj"] > 0
    assert [r["name"] for r in h["regions"]] == [r.name for r in sorted(get_board("nucleo-h743zi").regions.values(),
                                                                        key=lambda r: r.origin)]
    err = fails(capsys, "boards", "no-such-board", "--json")
    assert "no-such-board" in err


# -- QEMU's boot timeout --------------------------------------------------------------------------------------

def test_boot_timeout_reaches_qemu_from_run_profile_and_calibrate(data, tmp_path, monkeypatch, capsys):
    """The plumbing, without QEMU: each command hands --boot-timeout to QemuTarget, and a boot that does not
    finish in time is one error line naming the board and the timeout."""
    from edgesnn.device import qemu, runner
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    seen = []

    class FakeFw:
        def __init__(self):
            self.elf = elf

    def start(self):
        seen.append(self.boot_timeout)
        raise self._boot_timeout("qemu-system-arm had not opened its serial port yet")

    monkeypatch.setattr(runner, "build_runtime_firmware", lambda *a, **k: FakeFw())
    monkeypatch.setattr(qemu.QemuTarget, "start", start)
    for cmd in (["run", MODELS / "digits_mlp.json", "--inputs", data / "x.npy", "-o", tmp_path / "o.npz"],
                ["profile", MODELS / "digits_mlp.json", "--inputs", data / "val.npz", "-n", "2"],
                ["calibrate", "--board", "qemu-mps2-an386", "-o", tmp_path / "cal.json", "--benchmarks", "2"]):
        err = fails(capsys, *cmd, "--boot-timeout", "2.5")
        assert ("board qemu-mps2-an386: the firmware did not boot under QEMU (mps2-an386) within the boot timeout "
                "of 2.5 s: qemu-system-arm had not opened its serial port yet; give it longer with --boot-timeout S "
                "(default 20 s)") in err, err
    assert seen == [2.5, 2.5, 2.5]
    assert not (tmp_path / "o.npz").exists() and not (tmp_path / "cal.json").exists()
    assert fails(capsys, "run", MODELS / "digits_mlp.json", "--inputs", data / "x.npy", "-o", tmp_path / "o.npz")
    assert seen[-1] == qemu.DEFAULT_BOOT_TIMEOUT == 20.0


def test_boot_timeout_must_be_positive(data, capsys):
    from edgesnn.device.qemu import QemuTarget, check_boot_timeout
    with pytest.raises(SystemExit):
        run("run", MODELS / "digits_mlp.json", "--inputs", data / "x.npy", "-o", data / "o.npz", "--boot-timeout", "0")
    assert "argument --boot-timeout: '0': need a positive number of seconds" in capsys.readouterr().err
    for bad in (0, -1, float("nan"), float("inf"), "soon"):
        with pytest.raises(DeviceError, match="must be a positive number of seconds"):
            check_boot_timeout(bad)
        with pytest.raises(DeviceError, match="must be a positive number of seconds"):
            QemuTarget(get_board(), "fw.elf", boot_timeout=bad)
    assert check_boot_timeout(None) == 20.0 and check_boot_timeout("0.5") == 0.5


@pytest.mark.needs_qemu
def test_tiny_boot_timeout_under_qemu_is_one_named_error(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path / "cache"))
    t0 = time.monotonic()
    err = fails(capsys, "run", MODELS / "digits_mlp.json", "--inputs", data / "x.npy", "-o", tmp_path / "o.npz",
                "--boot-timeout", "0.001")
    assert re.search(r"board qemu-mps2-an386: the firmware did not boot under QEMU \(mps2-an386\) within the boot "
                     r"timeout of 0.001 s: .*; give it longer with --boot-timeout S", err), err
    assert time.monotonic() - t0 < 60 and not (tmp_path / "o.npz").exists()


@pytest.mark.needs_qemu
def test_silent_serial_port_is_a_boot_timeout(tmp_path):
    """QEMU up and listening, but no ready line arrives (here: a listener that says nothing stands in for the
    firmware's port): a BootTimeout after the boot timeout, with what the link saw, and QEMU is stopped."""
    from edgesnn.firmware import build as F
    from edgesnn.device.qemu import BootTimeout, QemuTarget
    b = get_board("qemu-mps2-an386")
    fw = F.build(b, cache_dir=tmp_path / "cache")
    silent = socket.create_server(("127.0.0.1", 0))
    conns = []
    threading.Thread(target=lambda: conns.append(silent.accept()), daemon=True).start()
    q = QemuTarget(b, fw.elf, boot_timeout=1.0, via=lambda port: f"socket://127.0.0.1:{silent.getsockname()[1]}")
    t0 = time.monotonic()
    with pytest.raises(BootTimeout, match=r"board qemu-mps2-an386: .* within the boot timeout of 1 s: no ready line "
                                          r"on its serial port yet \(saw: nothing\)"):
        q.start()
    assert time.monotonic() - t0 < 5 and q.proc.poll() is not None
    silent.close()


# -- the firmware cache ---------------------------------------------------------------------------------------

def _entry(cache: Path, name: str, size: int, age: float) -> Path:
    d = cache / name
    d.mkdir(parents=True)
    (d / "firmware.elf").write_bytes(b"\0" * size)
    (d / "build.json").write_text("{}")
    t = time.time() - age
    os.utime(d, (t, t))
    return d


def test_prune_drops_least_recently_used_first(tmp_path):
    cache = tmp_path / "firmware"
    old = _entry(cache, "qemu-microbit-00000000000000aa", 4000, 300)
    mid = _entry(cache, "qemu-microbit-00000000000000bb", 4000, 200)
    new = _entry(cache, "qemu-mps2-an386-00000000000000cc", 4000, 100)
    C.touch(old)  # used just now: it becomes the most recent
    assert [e.path for e in C.entries(cache)] == [old, new, mid]
    removed = C.prune(cache, limit=9000)
    assert [e.path for e in removed] == [mid] and sorted(p.name for p in cache.iterdir()) == [old.name, new.name]
    # the entry being used stays even when it alone is over the cap
    assert [e.path for e in C.prune(cache, limit=0, keep=[new])] == [old]
    assert [p.name for p in cache.iterdir()] == [new.name]
    # an abandoned build (a '.' folder over an hour old) goes; one in progress stays
    (cache / ".qemu-x-1.abc").mkdir()
    stale = cache / ".qemu-x-2.abc"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200,) * 2)
    C.prune(cache, limit=10 ** 9)
    assert sorted(p.name for p in cache.iterdir()) == [".qemu-x-1.abc", new.name]


def test_cache_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(C.ENV_MAX_BYTES, raising=False)
    assert C.max_bytes() == 500_000_000
    for text, n in (("1234", 1234), ("500M", 500_000_000), ("2GiB", 2 * 1024 ** 3), ("1.5 kB", 1500)):
        monkeypatch.setenv(C.ENV_MAX_BYTES, text)
        assert C.max_bytes() == n
    monkeypatch.setenv(C.ENV_MAX_BYTES, "lots")
    with pytest.raises(EdgesnnError, match=r"EDGESNN_CACHE_MAX_BYTES='lots': need a size in bytes, e.g. 500000000"):
        C.max_bytes()


def test_cache_command_shows_and_clears(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path))
    monkeypatch.setenv(C.ENV_MAX_BYTES, "300M")
    cache = tmp_path / "firmware"
    assert run("cache") == 0
    assert capsys.readouterr().out.startswith(f"firmware cache {cache}: 0 entries, 0.0 kB of at most 300.0 MB")
    _entry(cache, "qemu-microbit-00000000000000aa", 150_000, 100)
    _entry(cache, "qemu-mps2-an386-00000000000000bb", 50_000, 10)
    assert run("cache") == 0
    out = capsys.readouterr().out
    assert f"firmware cache {cache}: 2 entries, 200.0 kB of at most 300.0 MB (EDGESNN_CACHE_MAX_BYTES" in out
    lines = out.splitlines()
    assert lines[3].split()[:2] == ["qemu-mps2-an386", "00000000000000bb"]  # most recently used first
    assert lines[4].split()[:3] == ["qemu-microbit", "00000000000000aa", "150.0"]
    assert run("cache", "--json") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["path"] == str(cache) and d["bytes"] == 200_000 + 4 and d["max_bytes"] == 300_000_000
    assert [(e["board"], e["key"]) for e in d["entries"]] == [("qemu-mps2-an386", "00000000000000bb"),
                                                              ("qemu-microbit", "00000000000000aa")]
    assert run("cache", "--clear") == 0
    assert capsys.readouterr().out.strip() == f"firmware cache {cache}: removed 2 entries (200.0 kB)"
    assert list(cache.iterdir()) == []


@pytest.mark.needs_arm_gcc
def test_builds_are_pruned_to_the_cap_and_kept_private(tmp_path, monkeypatch):
    from edgesnn.firmware import build as F
    b = get_board("qemu-microbit")
    cache = tmp_path / "edgesnn" / "firmware"
    monkeypatch.setenv(C.ENV_MAX_BYTES, "1")  # room for the entry just built only
    a = F.build(b, cache_dir=cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700 and stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert not list(a.elf.parent.glob("*.o")) and a.map_file.is_file()  # the object files are not kept
    other = F.build(b, cache_dir=cache, arena_bytes=2048)
    assert [p.name for p in cache.iterdir()] == [other.elf.parent.name]  # the older one went
    monkeypatch.delenv(C.ENV_MAX_BYTES)
    again = F.build(b, cache_dir=cache)  # rebuilt, and now both fit
    assert not again.cached and len(list(cache.iterdir())) == 2
    assert F.build(b, cache_dir=cache).cached
    monkeypatch.setenv(C.ENV_MAX_BYTES, "much")
    with pytest.raises(EdgesnnError, match="EDGESNN_CACHE_MAX_BYTES='much'"):
        F.build(b, cache_dir=cache, arena_bytes=4000)
    assert len(list(cache.iterdir())) == 2
