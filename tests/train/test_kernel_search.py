"""`edgesnn search-kernels`: a tiny search end to end (1 epoch), and its refusals."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from edgesnn.cli import main  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402
from edgesnn.train.kernel_search import estimate_memory  # noqa: E402

TINY = ["--kernels", "1,3", "--channels", "2x4", "--epochs", "1", "--proxy-epochs", "1", "--val-codings", "2", "--quiet"]


def test_tiny_search_writes_the_front_and_fits_the_board(tmp_path, capsys):
    assert main(["search-kernels", "--board", "qemu-microbit", *TINY, "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "best that fits" in out
    res = json.loads((tmp_path / "search.json").read_text())
    assert res["artifact"] == "kernel_search" and res["budget_bytes"] == 16_384 and res["board"] == "qemu-microbit"
    assert len(res["candidates"]) == 4 and res["front"] and res["best_3x3"] == "k3x3_c2x4"
    full = [c for c in res["candidates"] if c["full"]]
    assert {c["name"] for c in full} >= set(res["front"]) | {"k3x3_c2x4"}
    for c in full:
        assert c["fits"] and 0 <= c["test_acc_fixed"] <= 1 and c["synops_per_sample"] > 0
        assert c["test_acc_fixed_seeds"] == [c["test_acc_fixed"]] and len(c["val_acc_fixed_seeds"]) == 1
        if c["model_file"]:
            g = Graph.load(tmp_path / c["model_file"])
            m = estimate_memory(quantize(g, QuantConfig(weight_bits=8, state_bits=16)))
            assert (m.weight_bytes, m.arena_bytes) == (c["weight_bytes"], c["arena_bytes"])
            assert g.nodes["conv1"].weight.shape[2:] == tuple(c["kernels"][:1] * 2)
    front = [next(c for c in full if c["name"] == n) for n in res["front"]]
    assert np.all(np.diff([c["total_bytes"] for c in front]) > 0)
    assert np.all(np.diff([c["val_acc_fixed"] for c in front]) > 0)


def test_budget_too_small_is_a_named_error(tmp_path, capsys):
    assert main(["search-kernels", "--board", "qemu-microbit", "--budget-bytes", "1000", *TINY,
                 "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no candidate fits 1,000 bytes" in err and "smallest needs" in err
    assert not (tmp_path / "search.json").exists()


def test_bad_channel_list_is_refused(tmp_path, capsys):
    assert main(["search-kernels", "--board", "qemu-microbit", "--channels", "8", "-o", str(tmp_path)]) == 1
    assert "C1xC2" in capsys.readouterr().err
