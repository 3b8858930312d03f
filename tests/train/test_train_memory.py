"""Torch-free parts of the training work: level coding of sequential digits, and the memory the kernel search
ranks candidates by (against the blob and the planner's arena on a small QGraph)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from edgesnn.data import level_code, sequential_pixels
from edgesnn.errors import EdgesnnError
from edgesnn.graph import Graph, ir
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.train.kernel_search import model_memory, pareto_front


def test_level_code_is_a_thermometer():
    x = np.array([[0.0, 0.1, 0.25, 0.26, 1.0]])
    got = level_code(x, 4)
    assert got.dtype == np.uint8 and got.shape == (1, 5, 4)
    assert got[0].tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    with pytest.raises(EdgesnnError, match=r"\[0, 1\]"):
        level_code(np.array([[1.5]]), 4)
    with pytest.raises(EdgesnnError, match="levels"):
        level_code(x, 0)


def test_sequential_pixels_one_pixel_per_step_in_permuted_order():
    img = np.arange(4, dtype=np.float64).reshape(1, 2, 2) / 3  # pixels 0, 1/3, 2/3, 1
    seq = sequential_pixels(img, levels=3)
    assert seq.shape == (1, 4, 3)
    assert seq[0].sum(axis=1).tolist() == [0, 1, 2, 3]
    perm = np.array([3, 0, 2, 1])
    assert sequential_pixels(img, 3, perm)[0].sum(axis=1).tolist() == [3, 0, 2, 1]
    with pytest.raises(EdgesnnError, match="permutation"):
        sequential_pixels(img, 3, np.array([0, 0, 1, 2]))


def _cnn_graph():
    rng = np.random.default_rng(0)
    f32 = np.float32

    def lif(name, shape):
        return ir.LIF(name=name, gain=np.ones(shape, f32), bias=np.zeros(shape, f32), alpha=np.full(shape, 0.9, f32),
                      threshold=np.ones(shape, f32), v_reset=np.zeros(shape, f32), reset="subtract")
    nodes = [ir.Input(name="input", shape=(1, 4, 4)),
             ir.Conv2d(name="conv1", weight=rng.normal(size=(2, 1, 3, 3)).astype(f32), bias=np.full(2, 0.1, f32),
                       padding=(1, 1)),
             lif("lif1", (2, 4, 4)),
             ir.SumPool2d(name="pool1", kernel_size=(2, 2), stride=(2, 2)),
             ir.Flatten(name="flat"),
             ir.Affine(name="fc1", weight=rng.normal(size=(3, 8)).astype(f32), bias=np.zeros(3, f32)),
             ir.LI(name="li1", gain=np.ones(3, f32), bias=np.zeros(3, f32), alpha=np.full(3, 0.9, f32)),
             ir.Output(name="output", shape=(3,))]
    names = [n.name for n in nodes]
    return Graph({n.name: n for n in nodes}, list(zip(names, names[1:])), 1e-3)


def test_model_memory_is_the_runtime_part_of_the_blob_and_the_planned_arena():
    """The search's memory: the blob up to its META section (what the runtime reads) and the arena the planner
    counts; 4-bit weights take half the bytes of 8-bit ones in the blob, and the metadata does not count."""
    from edgesnn.board import get_board
    from edgesnn.cost import memory
    from edgesnn.emit.blob import SEC_META, read_header, to_blob
    q4, q8 = (quantize(_cnn_graph(), QuantConfig(weight_bits=b, state_bits=16)) for b in (4, 8))
    model4, arena4 = model_memory(q4)
    model8, arena8 = model_memory(q8)
    blob4 = to_blob(q4)
    assert model4 == read_header(blob4)["sections"][SEC_META][0] < len(blob4)
    _, sram, _ = memory(q4, get_board("qemu-microbit"))
    assert arena4 == arena8 == sram["arena"]
    assert model8 - model4 == 16   # conv 18 + fc 24 weights, each array 8-aligned: 24 + 24 B at 8 bits, 16 + 16 at 4
    renamed = _cnn_graph()
    renamed.meta["name"] = "a much longer name than before, which only the metadata carries"
    assert model_memory(quantize(renamed, QuantConfig(weight_bits=4, state_bits=16)))[0] == model4


def test_pareto_front():
    pts = [(100, 0.9), (50, 0.8), (60, 0.8), (200, 0.95), (150, 0.85), (50, 0.7)]
    assert pareto_front(pts) == [1, 0, 3]


def test_kernel_search_and_cli_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import edgesnn.train.kernel_search, edgesnn.cli\n"
            "from edgesnn.cli import main\n"
            "rc = main(['search-kernels', '--board', 'qemu-microbit', '-o', '/nonexistent/never'])\n"
            "assert rc == 1, rc\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "search-kernels: error: training needs PyTorch" in r.stderr


def test_committed_searches_render_the_readme_tables():
    """examples/README.md carries each committed search's table as `markdown` renders its search.json (a rerun of
    the search must paste its table), and the search's own figures agree: the front is on it, the best fits."""
    from edgesnn.train.kernel_search import markdown
    from tests.helpers.paths import EXAMPLES
    readme = (EXAMPLES / "README.md").read_text()
    for folder in ("kernel_search", "kernel_search_real"):
        res = json.loads((EXAMPLES / "results" / folder / "search.json").read_text())
        assert markdown(res) in readme, folder
        by = {c["name"]: c for c in res["candidates"]}
        assert by[res["best"]]["fits"] and by[res["best"]]["full"] and by[res["best_baseline"]]["baseline"]
        assert set(res["front"]) == {c["name"] for c in res["candidates"] if c["on_front"]}
        for c in res["candidates"]:
            assert c["fits"] == (c["note"] is None and c["total_bytes"] <= res["budget_bytes"]), c["name"]
