"""The README's command examples, run as written, so they cannot drift from what the CLI does.

Each `edgesnn ...` line of the README's "Using it" block runs in a folder that holds the files the lines
name: model.nir (an snnTorch export, tests/fixtures/snntorch_mlp.nir), val.npz (the example digits'
validation split) and x.npy (a few test digits). One line is made quicker than written: `calibrate`
refits the committed measurements instead of running ~100 microbenchmarks under QEMU, and writes
into the test's own calibration folder."""

from __future__ import annotations

import re
import shlex
import shutil

import numpy as np
import pytest

from edgesnn.cli import main
from tests.helpers.paths import DATA, FIXTURES, ROOT

README = ROOT / "README.md"


def readme_commands() -> list[list[str]]:
    """The `edgesnn` lines of the README's "Using it" block, comments dropped, as argv lists."""
    text = README.read_text()
    section = text[text.index("## Using it"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("edgesnn ")]


def test_readme_block_covers_every_command():
    from edgesnn.cli import build_parser
    shown = {argv[0] for argv in readme_commands()}
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    missing = set(sub.choices) - shown - {"demo", "search-kernels", "flash"}  # shown elsewhere in the README
    assert not missing, f"README's 'Using it' block shows no example of: {sorted(missing)}"


@pytest.mark.needs_qemu
def test_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    shutil.copy(FIXTURES / "snntorch_mlp.nir", tmp_path / "model.nir")
    shutil.copy(DATA / "digits_val.npz", tmp_path / "val.npz")
    with np.load(DATA / "digits_test.npz") as z:
        np.save(tmp_path / "x.npy", z["inputs"][:6])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGESNN_CALIBRATION_DIR", str(tmp_path / "calibration"))
    for argv in readme_commands():
        if argv[0] == "calibrate":
            board = argv[argv.index("--board") + 1]
            argv = argv + ["--refit", str(ROOT / "calibration" / f"{board}.measurements.jsonl"), "--no-held-out"]
        rc = main(argv)
        out = capsys.readouterr()
        assert rc == 0, f"`edgesnn {shlex.join(argv)}` failed:\n{out.err}"
    for made in ("model.json", "out.npz", "plan.json", "build/model.blob", "model.nir",
                 "calibration/qemu-mps2-an386.json"):
        assert (tmp_path / made).is_file(), f"{made} not written"
