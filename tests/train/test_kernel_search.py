"""`edgesnn search-kernels`: tiny searches end to end (1 epoch) in the digits space and on a template model with
its data files, and the refusals."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from edgesnn.cli import main  # noqa: E402
from edgesnn.emit.blob import SEC_META, read_header, to_blob  # noqa: E402
from edgesnn.lower import arena_size  # noqa: E402
from edgesnn.data import save_dataset  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402
from tests.helpers.paths import MODELS  # noqa: E402

TINY = ["--epochs", "1", "--proxy-epochs", "1", "--quiet"]
W8S16 = QuantConfig(weight_bits=8, state_bits=16)


def _runtime_bytes(graph) -> int:
    """The model's blob up to its metadata + the arena the runtime allocates."""
    q = quantize(graph, W8S16)
    return read_header(to_blob(q))["sections"][SEC_META][0] + arena_size(q)


def _check_full(res, tmp_path):
    full = [c for c in res["candidates"] if c["full"]]
    assert {c["name"] for c in full} >= set(res["front"]) | {res["best_baseline"]}
    for c in full:
        assert c["fits"] and c["total_bytes"] <= res["budget_bytes"] and 0 <= c["test_acc_fixed"] <= 1
        assert c["test_acc_fixed_seeds"] == [c["test_acc_fixed"]] and len(c["val_acc_fixed_seeds"]) == 1
        assert c["synops_per_sample"] > 0
        if c["model_file"]:
            g = Graph.load(tmp_path / c["model_file"])
            assert _runtime_bytes(g) == c["total_bytes"] == c["model_bytes"] + c["arena_bytes"]
            convs = [n for n in g.nodes.values() if n.kind == "Conv2d"]
            assert [n.weight.shape[2] for n in convs] == c["kernels"]
    front = [next(c for c in full if c["name"] == n) for n in res["front"]]
    assert np.all(np.diff([c["total_bytes"] for c in front]) > 0)
    assert np.all(np.diff([c["val_acc_fixed"] for c in front]) > 0)
    return full


def test_tiny_digits_search_writes_the_front_and_fits_the_board(tmp_path, capsys):
    assert main(["search-kernels", "--board", "qemu-microbit", "--kernels", "1,3", "--channels", "2x4",
                 "--val-codings", "2", *TINY, "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "best that fits" in out
    res = json.loads((tmp_path / "search.json").read_text())
    assert res["artifact"] == "kernel_search" and res["budget_bytes"] == 16_384 and res["board"] == "qemu-microbit"
    assert len(res["candidates"]) == 4 and res["front"] and res["best_baseline"] == "k3x3_c2x4"
    assert res["settings"]["space"] == "digits_cnn" and res["settings"]["baseline"] == [3, 3]
    _check_full(res, tmp_path)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A 'valid'-padding CNN (1x10x10 -> Conv 3@3x3 -> LIF -> SumPool 2 -> Conv 4@3x3 -> LIF -> Flatten ->
    Affine 10 -> LIF) saved as a model, and random spike data files for it."""
    from edgesnn.train import LIF, SNN, Affine, Conv2d, Flatten, SumPool2d, to_graph
    tmp = tmp_path_factory.mktemp("template")
    model = SNN((1, 10, 10), Conv2d(1, 3, 3), LIF((3, 8, 8), param_shape=(3, 1, 1)), SumPool2d(2),
                Conv2d(3, 4, 3), LIF((4, 2, 2), param_shape=(4, 1, 1)), Flatten(), Affine(16, 10), LIF((10,)))
    to_graph(model, (1, 10, 10), meta={"name": "valid_cnn"}).save(tmp / "cnn.json")
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("val", 30), ("test", 20)):
        y = np.arange(n) % 10
        x = (rng.random((n, 6, 1, 10, 10)) < 0.1 + 0.05 * y[:, None, None, None, None]).astype(np.uint8)
        save_dataset(tmp / f"{part}.npz", x, y)
    return tmp


def _template_args(t, *more):
    return ["search-kernels", "--board", "qemu-microbit", "--model", str(t / "cnn.json"), "--train",
            str(t / "train.npz"), "--val", str(t / "val.npz"), *more]


def test_template_search_varies_every_convolution_and_resizes_what_follows(template, tmp_path, capsys):
    """Each conv of the template at kernels 1, 3, 5: 'valid' padding kept, so 1 grows the maps (its Affine is
    resized) and 5 after 5 leaves no room (10 -> 6 -> 3 -> -1): that candidate is refused by name, not run."""
    assert main(_template_args(template, "--test", str(template / "test.npz"), "--kernels", "1,3,5", *TINY,
                               "-o", str(tmp_path))) == 0
    res = json.loads((tmp_path / "search.json").read_text())
    assert res["settings"]["space"] == "valid_cnn" and res["settings"]["baseline"] == [3, 3]
    assert res["best_baseline"] == "k3x3_c3x4" and res["settings"]["channels"] is None
    by = {c["name"]: c for c in res["candidates"]}
    assert len(by) == 9 and "too large" in by["k5x5_c3x4"]["note"] and not by["k5x5_c3x4"]["fits"]
    assert by["k1x1_c3x4"]["total_bytes"] > by["k3x3_c3x4"]["total_bytes"]   # larger maps, larger arena
    full = _check_full(res, tmp_path)
    for c in full:
        if c["model_file"]:
            g = Graph.load(tmp_path / c["model_file"])
            (k1, k2), fc = c["kernels"], next(n for n in g.nodes.values() if n.kind == "Affine")
            side = ((10 - k1 + 1) // 2 - k2 + 1)
            assert fc.weight.shape == (10, 4 * side * side)
    assert "k3x3_c3x4 (baseline)" in capsys.readouterr().out


def test_template_search_refusals_name_what_is_wrong(template, tmp_path, capsys):
    cases = [
        (_template_args(template)[:5], "--model needs its data sets"),
        (_template_args(template, "--channels", "2x4"), "--channels applies to the built-in digits space"),
        (_template_args(template, "--val-codings", "2"), "val_codings applies to the digits space"),
        (["search-kernels", "--board", "qemu-microbit", "--train", str(template / "train.npz")],
         "--train/--val/--test go with --model"),
        (_template_args(template, "--budget-bytes", "1000"), "no candidate fits 1,000 bytes"),
    ]
    for args, msg in cases:
        assert main([*args, *TINY, "-o", str(tmp_path / "out")]) == 1, args
        assert msg in capsys.readouterr().err, msg
    assert not (tmp_path / "out" / "search.json").exists()
    from edgesnn.data import save_dataset as save
    save(tmp_path / "wrong.npz", np.zeros((4, 6, 1, 8, 8), np.uint8), np.arange(4))
    assert main([*_template_args(template)[:6], str(tmp_path / "wrong.npz"), "--val", str(template / "val.npz"),
                 *TINY, "-o", str(tmp_path / "out")]) == 1
    assert "wrong.npz: inputs of shape (1, 8, 8) per step; the model takes (1, 10, 10)" in capsys.readouterr().err
    mlp = str(MODELS / "digits_mlp.json")
    assert main(["search-kernels", "--board", "qemu-microbit", "--model", mlp, "--train", str(template / "train.npz"),
                 "--val", str(template / "val.npz"), *TINY, "-o", str(tmp_path / "out")]) == 1
    assert "has no Conv2d" in capsys.readouterr().err


def test_budget_too_small_is_a_named_error(tmp_path, capsys):
    assert main(["search-kernels", "--board", "qemu-microbit", "--budget-bytes", "1000", "--kernels", "1,3",
                 "--channels", "2x4", *TINY, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no candidate fits 1,000 bytes" in err and "smallest needs" in err
    assert not (tmp_path / "search.json").exists()


def test_bad_channel_list_is_refused(tmp_path, capsys):
    assert main(["search-kernels", "--board", "qemu-microbit", "--channels", "8", "-o", str(tmp_path)]) == 1
    assert "C1xC2" in capsys.readouterr().err
