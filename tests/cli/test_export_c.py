"""`edgesnn export-c`: what it writes, and its refusals, each one line, with nothing left behind."""

from __future__ import annotations

import json
import os

import pytest

import edgesnn.emit.library as L
from tests.helpers.cli import fails, run
from tests.helpers.paths import MODELS

MLP = MODELS / "digits_mlp.json"


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("target,manifest", [("cmake", "CMakeLists.txt"), ("arduino", "library.properties"),
                                             ("zephyr", "zephyr/module.yml"), ("platformio", "library.json")])
def test_export_writes_the_targets_library(tmp_path, capsys, target, manifest):
    assert run("export-c", MLP, "-o", tmp_path / "lib", "--target", target, "--exit-confidence", "0.9") == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"a {target} library 'digits_mlp'" in out and "early exit" in out
    lib = tmp_path / "lib"
    assert (lib / manifest).is_file() and (lib / "README.md").is_file()
    headers = list(lib.rglob("digits_mlp.h"))
    assert len(headers) == 1
    h = headers[0].read_text()
    for fn in ("digits_mlp_init(", "digits_mlp_reset(", "digits_mlp_step(", "digits_mlp_infer(",
               "digits_mlp_counters("):
        assert fn in h
    assert "#define DIGITS_MLP_EARLY_EXIT 1" in h and "#define DIGITS_MLP_INPUT_SIZE 64u" in h
    assert not list(lib.rglob("esn_blob.c")) and list(lib.rglob("esn_runtime.c"))
    assert _leftovers(tmp_path) == []
    assert oct(lib.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_unknown_target_bad_model_and_bad_name_are_one_line_errors(tmp_path, capsys):
    err = fails(capsys, "export-c", MLP, "-o", tmp_path / "a", "--target", "keil")
    assert "unknown target 'keil': one of cmake, arduino, zephyr, platformio" in err
    err = fails(capsys, "export-c", tmp_path / "missing.json", "-o", tmp_path / "a")
    assert "missing.json" in err
    (tmp_path / "junk.json").write_text(json.dumps({"hello": 1}))
    fails(capsys, "export-c", tmp_path / "junk.json", "-o", tmp_path / "a")
    err = fails(capsys, "export-c", MLP, "-o", tmp_path / "a", "--name", "my model")
    assert "must be a C identifier" in err
    fails(capsys, "export-c", MLP, "-o", tmp_path / "a", "--name", "int")
    fails(capsys, "export-c", MLP, "-o", tmp_path / "a", "--weight-bits", "99")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.json"]


def test_existing_folder_needs_force_and_force_replaces_it_whole(tmp_path, capsys):
    out = tmp_path / "lib"
    out.mkdir()
    assert run("export-c", MLP, "-o", out) == 0     # an empty folder is fine
    (out / "mine.txt").write_text("keep?")
    err = fails(capsys, "export-c", MLP, "-o", out, "--target", "arduino")
    assert "exists and is not empty" in err and "--force" in err
    assert (out / "CMakeLists.txt").is_file() and (out / "mine.txt").is_file()   # untouched
    assert run("export-c", MLP, "-o", out, "--target", "arduino", "--force") == 0
    assert (out / "library.properties").is_file() and not (out / "CMakeLists.txt").exists()
    assert not (out / "mine.txt").exists() and _leftovers(tmp_path) == []
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in fails(capsys, "export-c", MLP, "-o", tmp_path / "file")


def test_a_failure_while_writing_leaves_no_partial_folder(tmp_path, capsys, monkeypatch):
    real = L.Path.write_bytes
    calls = []

    def flaky(self, data):
        calls.append(self)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(self, data)
    monkeypatch.setattr(L.Path, "write_bytes", flaky)
    err = fails(capsys, "export-c", MLP, "-o", tmp_path / "lib")
    assert "cannot write the library (No space left on device)" in err
    assert list(tmp_path.iterdir()) == []
    # and with --force over an existing library, the old one stays as it was
    monkeypatch.setattr(L.Path, "write_bytes", real)
    assert run("export-c", MLP, "-o", tmp_path / "lib") == 0
    before = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "lib").rglob("*"))
    calls.clear()
    monkeypatch.setattr(L.Path, "write_bytes", flaky)
    fails(capsys, "export-c", MLP, "-o", tmp_path / "lib", "--target", "zephyr", "--force")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "lib").rglob("*")) == before
    assert _leftovers(tmp_path) == []


def test_from_a_nir_file_with_analog_input_to_a_cmake_project_in_two_commands(tmp_path, capsys):
    """SpikingJelly's direct-encoded conv: import, then export-c with an 8-bit analog input calibrated on the
    readings; the header takes int8 readings and ships the scale; without calibration data it is one error."""
    import numpy as np
    from tests.helpers.paths import FIXTURES
    d = np.load(FIXTURES / "spikingjelly_dconv.npz")
    np.save(tmp_path / "x.npy", d["inputs"].astype(np.float64))
    assert run("import", FIXTURES / "spikingjelly_dconv.nir", "--dialect", "spikingjelly", "--dt", "1e-4",
               "-o", tmp_path / "dconv.json") == 0
    assert run("export-c", tmp_path / "dconv.json", "--input-bits", "8", "--calib", tmp_path / "x.npy",
               "-o", tmp_path / "lib") == 0
    out = capsys.readouterr().out
    assert "8-bit analog input (tensor scale)" in out and "a cmake library 'dconv'" in out
    h = (tmp_path / "lib" / "include" / "dconv.h").read_text()
    assert "typedef int8_t dconv_input_t;" in h and "dconv_quantize_input" in h
    msg = fails(capsys, "export-c", tmp_path / "dconv.json", "--input-bits", "8", "-o", tmp_path / "lib2")
    assert "needs calibration inputs" in msg and not (tmp_path / "lib2").exists()
    with pytest.raises(SystemExit) as e:   # an input precision the runtime does not have: argparse's usage error
        run("export-c", tmp_path / "dconv.json", "--input-bits", "7", "--calib", tmp_path / "x.npy",
            "-o", tmp_path / "lib3")
    assert e.value.code == 2 and "--input-bits: invalid choice: 7 (choose from 0, 8, 16)" in capsys.readouterr().err
    assert not (tmp_path / "lib3").exists()
