"""`edgesnn profile --cycles`: estimated cycles (QEMU's instruction trace priced with the core's published
timings, edgesnn/firmware/cycles.py) beside the measured instructions, per layer and for the whole run, in
the table and the JSON; the trace kept in a private temporary directory and removed; on a board QEMU does
not emulate (or without the tools) one error line, exit 1, nothing written."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest

from edgesnn import api
from edgesnn.firmware.cycles import estimate_run
from tests.helpers.cli import fails, run
from tests.helpers.paths import MODELS

MLP = MODELS / "digits_mlp.json"


@pytest.fixture
def x_small(tmp_path):
    """Two inputs of 4 steps: ~200 k instructions each, a ~15 MB trace."""
    x = (np.random.default_rng(3).random((2, 4, 64)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


@pytest.mark.needs_qemu
def test_cycles_column_beside_instructions_adds_up_and_exceeds_them_on_cortex_m4(x_small, tmp_path, capsys,
                                                                              monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    seen = []

    def spy(elf, trace, *a, **k):
        seen.append((trace, trace.parent.stat().st_mode & 0o777, trace.stat().st_size))
        return estimate_run(elf, trace, *a, **k)

    monkeypatch.setattr(api, "estimate_run", spy)
    out = tmp_path / "profile.json"
    assert run("profile", MLP, "--board", "qemu-mps2-an386", "--inputs", x_small, "--cycles", "-o", out) == 0
    text = capsys.readouterr().out
    head = next(line for line in text.splitlines() if "layer" in line and "kind" in line)
    assert "measured instructions" in head and "est. cycles" in head, head
    assert "cycle-approximate estimates" in text and "zero-wait memory" in text and "cortex-m4" in text
    (trace, mode, size), = seen
    assert trace.parent.parent == temp and mode == 0o700 and size > 1e6
    assert not trace.parent.exists(), "the trace's directory is removed"

    d = json.loads(out.read_text())
    assert d["cycles_estimate"]["core"] == "cortex-m4" and d["cycles_estimate"]["memory"] == "zero-wait"
    layers = {r["layer"]: r for r in d["rows"] if r["layer"] != "(runtime)"}
    assert set(layers) == {"fc1", "lif1", "fc2", "lif2"}
    total = d["total"]
    rows_sum = sum(r["estimated_cycles"] for r in d["rows"])
    assert rows_sum == pytest.approx(total["estimated_cycles"], rel=1e-9)     # the (runtime) row closes the sum
    layer_sum = sum(r["estimated_cycles"] for r in layers.values())
    # the layers are most of the run (86 % of the digits MLP's estimated cycles, its LIF layers on the fast path)
    assert 0.8 * total["estimated_cycles"] <= layer_sum <= total["estimated_cycles"], (layer_sum, total)
    # the trace counts what QEMU's ticks count (one tick = 40 instructions per layer and step)
    assert total["traced_instructions"] == pytest.approx(total["measured"], abs=2 * 4 * 5 * 40)
    for name, r in layers.items():       # every Cortex-M4 instruction takes at least a cycle
        assert r["estimated_cycles"] >= r["measured"] - 2 * 4 * 40, name
    assert total["estimated_cycles"] >= total["traced_instructions"] and total["estimated_cycles"] >= total["measured"]


@pytest.mark.needs_qemu
def test_estimate_per_layer_sums_to_the_whole_run_per_input(x_small):
    pr = api.profile(MLP, x_small, board="qemu-mps2-an386", cycles=True)
    c = pr.cycles
    assert c.cycles.shape == (2, len(c.nodes)) and (c.cycles >= c.instructions).all()
    nodes = c.cycles.sum(axis=1)
    assert ((nodes <= c.run_cycles) & (nodes >= 0.8 * c.run_cycles)).all(), (nodes, c.run_cycles)
    assert (c.run_cycles > c.run_instructions).all()


def test_cycles_on_a_real_board_is_one_error_line_and_writes_nothing(x_small, tmp_path, capsys):
    out = tmp_path / "profile.json"
    err = fails(capsys, "profile", MLP, "--board", "nucleo-f446re", "--inputs", x_small, "--cycles", "-o", out)
    assert "emulated board" in err and "nucleo-f446re" in err and "real hardware" in err
    err = fails(capsys, "profile", MLP, "--board", "qemu-mps2-an386", "--port", "/dev/null", "--inputs", x_small,
                "--cycles", "-o", out)
    assert "emulated board" in err and "/dev/null" in err
    assert not out.exists()


def test_cycles_without_objdump_names_it(x_small, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))   # no qemu-system-arm, no arm-none-eabi-objdump
    out = tmp_path / "profile.json"
    err = fails(capsys, "profile", MLP, "--inputs", x_small, "--cycles", "-o", out)
    assert "--cycles" in err and "not found on PATH" in err
    assert not out.exists()
