"""The hostile-model corpus (issue #16, items 2, 6, 7): every bad model JSON, NIR file and input array that
tests/hostile/gen_models.py generates, through each command that reads it, must give exit status 1 and
exactly one line, "edgesnn CMD: error: MESSAGE" with MESSAGE matching the case's expectation in full, no
traceback, nothing on stdout and no output file.

The commands run in-process (edgesnn.cli.main, as the console script calls it), so the corpus costs a
second or two rather than a Python start per case; a traceback there is an exception escaping main, which
fails the case. A few cases also run through the installed `edgesnn` script as a check that nothing differs.
No case reaches a board: a bad model or array is refused while it is read, before any build or QEMU boot.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesnn.cli import main
from edgesnn.data import save_dataset

from tests.hostile.gen_models import ROOT, Case, _npy, generate

GOOD_MODEL = str(ROOT / "examples" / "models" / "digits_mlp.json")
CORPUS: dict[str, object] = {}


def _corpus(tmp_factory) -> tuple[Path, list[Case]]:
    if "cases" not in CORPUS:
        d = tmp_factory.mktemp("hostile-models")
        CORPUS["dir"], CORPUS["cases"] = d, generate(d)
        x = (np.random.default_rng(0).random((4, 4, 64)) < 0.2).astype(np.uint8)
        np.save(d / "good-x.npy", x[:2])
        save_dataset(d / "good-val.npz", x, np.arange(4) % 10)
    return CORPUS["dir"], CORPUS["cases"]


def _argv(command: str, case: Case, d: Path, out: Path) -> tuple[str, list[str], Path]:
    """(CLI command, its argument list, the output path that must not appear) for one way of reading the file."""
    f, x, val = str(d / case.file), str(d / "good-x.npy"), str(d / "good-val.npz")
    o = out / "result"
    table = {
        "info": ("info", [f]),
        "simulate": ("simulate", [f, "--inputs", x, "-o", f"{o}.npz"]),
        "compile": ("compile", [f, "-o", str(o)]),
        "export": ("export", [f, "-o", f"{o}.nir"]),
        "plan": ("plan", [f, "--data", val, "-o", f"{o}.json"]),
        "run": ("run", [f, "--inputs", x, "-o", f"{o}.npz"]),
        "import": ("import", [f, *case.args, "-o", f"{o}.json"]),
        "inputs": ("simulate", [GOOD_MODEL, "--inputs", f, "-o", f"{o}.npz"]),
        "labels": ("simulate", [GOOD_MODEL, "--inputs", x, "--labels", f, "-o", f"{o}.npz"]),
        "calib": ("compile", [GOOD_MODEL, "--calib", f, "-o", str(o)]),
        "data": ("plan", [GOOD_MODEL, "--data", f, "-o", f"{o}.json"]),
    }
    cmd, args = table[command]
    return cmd, [cmd, *args], out


def _ids() -> list[tuple[str, str]]:
    """(case id, command) pairs, from a generation into a scratch folder at collection time."""
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        return [(c.id, cmd) for c in generate(Path(t)) for cmd in c.commands]


PAIRS = _ids()


def test_corpus_size():
    cases = {c for c, _ in PAIRS}
    assert len(cases) >= 120, len(cases)
    commands = {cmd for _, cmd in PAIRS}
    assert {"info", "simulate", "compile", "import", "plan", "run", "export"} <= commands


@pytest.mark.parametrize("cid,command", PAIRS, ids=[f"{c}:{m}" for c, m in PAIRS])
def test_hostile_model(cid, command, tmp_path_factory, tmp_path, capsys):
    d, cases = _corpus(tmp_path_factory)
    case = next(c for c in cases if c.id == cid)
    if case.needs:
        pytest.xfail(f"needs a change outside this corpus's files: {case.needs}")
    cmd, argv, out = _argv(command, case, d, tmp_path)
    rc = main(argv)
    got = capsys.readouterr()
    assert rc == 1, f"exit {rc}; stdout {got.out[-300:]!r}"
    assert "Traceback" not in got.err
    assert got.out == "", got.out[-300:]
    prefix = f"edgesnn {cmd}: error: "
    lines = got.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), got.err[-600:]
    msg = lines[0][len(prefix):]
    assert re.fullmatch(case.expect, msg), f"\n  got:    {msg}\n  expect: {case.expect}"
    assert list(out.iterdir()) == [], sorted(p.name for p in out.iterdir())


SUBPROCESS = ["model-dt-true:info", "model-input-huge:simulate", "nir-meta-max-spikes-lots:import",
              "in-npy-36tib:inputs"]


@pytest.mark.parametrize("pair", SUBPROCESS)
def test_hostile_model_through_the_script(pair, tmp_path_factory, tmp_path):
    exe = shutil.which("edgesnn") or str(Path(sys.executable).parent / "edgesnn")
    d, cases = _corpus(tmp_path_factory)
    cid, command = pair.split(":")
    case = next(c for c in cases if c.id == cid)
    cmd, argv, out = _argv(command, case, d, tmp_path)
    r = subprocess.run([exe, *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(case.expect, lines[0].removeprefix(f"edgesnn {cmd}: error: ")), r.stderr
    assert list(out.iterdir()) == []


def test_real_sizes_pass_the_bounds(tmp_path):
    """The bounds refuse nothing real: the example models (the trained real-sized ones too), the NIR fixtures, and the MNIST-, N-MNIST- and
    SHD-sized benchmark models (bench/real_models.py) load, import, save and load back."""
    from edgesnn.graph import Graph
    from edgesnn.graph.nir_io import read_nir
    for p in sorted((ROOT / "examples" / "models").glob("*.json")) + sorted((ROOT / "examples" / "models" /
                                                                               "real").glob("*.json")):
        if p.name != "results.json":  # real/: the trained real-sized examples, weights 4-bit packed
            Graph.load(p)
    for p in sorted((ROOT / "examples" / "models").glob("*.nir")):
        read_nir(p)
    sys.path.insert(0, str(ROOT))
    from bench import real_models
    for make in (real_models.mnist_mlp, real_models.nmnist_cnn, real_models.shd_rnn):
        g = _untuned(make)
        g.save(tmp_path / "m.json")
        Graph.load(tmp_path / "m.json")


def _untuned(make):
    """A benchmark model without its rate tuning (which simulates for seconds): the sizes are the same."""
    import bench.real_models as rm
    saved = rm.tune_rates
    rm.tune_rates = lambda graph, *a, **k: graph
    try:
        return make()
    finally:
        rm.tune_rates = saved


def test_element_limit_is_user_settable(monkeypatch, tmp_path):
    """EDGESNN_MAX_ELEMENTS moves the bound both ways, and a bad value is one line naming the variable."""
    from edgesnn.data import load_inputs
    from edgesnn.errors import EdgesnnError
    from edgesnn.graph import Graph
    np.save(tmp_path / "x.npy", np.zeros((4, 4, 64), np.uint8))
    monkeypatch.setenv("EDGESNN_MAX_ELEMENTS", "1000")
    with pytest.raises(EdgesnnError, match=r"digits_mlp.json: node 'fc1' field 'weight': shape \(128, 64\) holds "
                                           r"8,192 elements, more than the limit of 1,000 \(EDGESNN_MAX_ELEMENTS"):
        Graph.load(GOOD_MODEL)
    with pytest.raises(EdgesnnError, match=r"x.npy: inputs: shape \(4, 4, 64\) holds 1,024 elements, more than the "
                                           r"limit of 1,000"):
        load_inputs(tmp_path / "x.npy")
    monkeypatch.setenv("EDGESNN_MAX_ELEMENTS", "lots")
    with pytest.raises(EdgesnnError, match=r"^EDGESNN_MAX_ELEMENTS='lots': need a positive integer"):
        Graph.load(GOOD_MODEL)
    monkeypatch.setenv("EDGESNN_MAX_ELEMENTS", str(2**40))  # raised: a 10^8-element header passes the bound
    (tmp_path / "big.npy").write_bytes(_npy((10**8, 1, 1)))
    with pytest.raises(EdgesnnError, match=r"big.npy: inputs: truncated: the header promises \(100000000, 1, 1\)"):
        load_inputs(tmp_path / "big.npy")
    Graph.load(GOOD_MODEL)


def test_declared_schema_holds_every_real_model():
    """MODEL_SCHEMA, the whole declaration in one document, accepts every example model and refuses the issue's
    bad values with the same field named as the loader's node-by-node check (check_model)."""
    import json

    from edgesnn.errors import GraphError
    from edgesnn.schema import SchemaError, check
    from edgesnn.graph.schema import MODEL_SCHEMA, check_model
    for p in sorted((ROOT / "examples" / "models").glob("*.json")) + sorted((ROOT / "examples" / "models" /
                                                                               "real").glob("*.json")):
        if p.name != "results.json":
            doc = json.loads(p.read_text())
            check(doc, MODEL_SCHEMA, p.name)
            check_model(doc, p.name)
    doc = json.loads(Path(GOOD_MODEL).read_text())
    doc["nodes"][2]["reset_late"] = "no"
    with pytest.raises(SchemaError, match=r"^m.json: nodes\[2\].reset_late: 'no' is not of type 'boolean'$"):
        check(doc, MODEL_SCHEMA, "m.json")
    with pytest.raises(GraphError, match=r"^m.json: node 'lif1' \(LIF\): reset_late: 'no' is not of type 'boolean'$"):
        check_model(doc, "m.json")
