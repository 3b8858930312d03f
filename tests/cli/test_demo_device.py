"""The demo's device stage: a plan run under QEMU, measured figures beside the estimated ones."""


import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.data import load_dataset
from edgesnn.demo import device_stage
from edgesnn.graph import Graph
from edgesnn.plan import plan
from edgesnn.quantize import QuantConfig
from tests.helpers.paths import DATA, MODELS


@pytest.mark.needs_qemu
@pytest.mark.needs_c_ext
def test_device_stage_prints_estimated_beside_measured(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGESNN_CACHE", str(tmp_path))
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    xt, yt = load_dataset(DATA / "digits_test.npz")
    b = get_board("qemu-mps2-an386")
    p = plan(g, b, x[:40], y[:40], max_drop=0.02, configs=[QuantConfig()], workers=1, sensitivity=False)
    m = device_stage(p, b, xt[:12], yt[:12])
    out = capsys.readouterr().out
    assert "measured on qemu-mps2-an386" in out and "fc1 (Affine)" in out
    assert m["accuracy"] == m["estimated_accuracy"] and m["mean_steps"] == m["estimated_mean_steps"]
    assert (m["flash_bytes"], m["sram_bytes"]) == (p.cost["totals"]["flash_bytes"], p.cost["totals"]["sram_bytes"])
    assert m["instructions_per_input"] > 0 and np.isfinite(m["estimated_cycles_per_input"])
    if p.qgraph.exit is not None:  # the exit measured against the same model run without it
        g = m["exit_gain"]
        assert g["cycles_exit"] < g["cycles_no_exit"] and g["edp_ratio"] == (g["cycles_exit"] / g["cycles_no_exit"]) ** 2
        assert "energy-delay product" in out
