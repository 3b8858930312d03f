"""A model with Threshold layers in the firmware under QEMU (qemu-mps2-an386): `edgesnn run` gives the outputs
and the per-layer counters of the host's C runtime (fixed-c), and the device run matches it layer by layer."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.cli import main
from edgesnn.device.runner import run_on_board
from edgesnn.runtime.binding import run_c
from edgesnn.runtime.engines import load_model, to_qgraph
from tests.helpers.device import FIXED, same_as_host
from tests.helpers.models import spikes, threshold_graph, threshold_mixed_graph

BOARD = "qemu-mps2-an386"


@pytest.mark.needs_qemu
def test_edgesnn_run_on_qemu_equals_fixed_c(fw_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGESNN_CACHE", str(fw_cache.parent))
    threshold_mixed_graph().save(tmp_path / "m.json")
    x = spikes((3, 16, 10), 0.3, 4)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(tmp_path / "m.json"), "--board", BOARD, "--inputs", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "o.npz")]) == 0
    assert "th" in capsys.readouterr().out
    z = np.load(tmp_path / "o.npz")
    ref = run_c(to_qgraph(load_model(str(tmp_path / "m.json"))), x)
    assert np.array_equal(z["out_mem"], ref.outputs.reshape(3, 16, -1))   # the LI readout's membrane
    assert np.array_equal(z["pred"], ref.pred)
    for layer in ("fc1", "th", "fc2", "lif", "fc3", "ro"):
        for c in FIXED:
            assert np.array_equal(z[f"{layer}.{c}"], ref.counts[layer][c].sum(axis=1)), (layer, c)
        assert (z[f"{layer}.instructions"] > 0).all(), layer
    assert ref.counts["th"]["spikes_out"].sum() > 0


@pytest.mark.needs_qemu
def test_threshold_output_model_on_qemu(boards, fw_cache):
    q = to_qgraph(threshold_graph(">="))
    x = spikes((3, 12, 6), 0.4, 1, max_count=3)
    res, fw = run_on_board(boards[BOARD], q, x, cache_dir=fw_cache)
    same_as_host(res, q, x)
    assert res.outputs.sum() > 0 and set(res.counts) >= {"th1", "th2"}
