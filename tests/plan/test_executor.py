"""Where a search's candidates run (edgesnn/executor.py): the plan made on a local Ray instance is the plan made
locally, results stream back as they finish, and a bad --executor, a missing Ray or an unreachable cluster is one
line. The Ray tests skip only when Ray (the extra `cluster`) is absent; `make setup` installs it."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest

from edgesnn import executor as E
from edgesnn.board import get_board
from edgesnn.cli import main
from edgesnn.data import load_dataset
from edgesnn.errors import EdgesnnError
from edgesnn.graph import Graph
from edgesnn.plan.quant_search import candidates, evaluate
from edgesnn.plan.search import plan
from edgesnn.progress import Progress
from tests.helpers.paths import DATA, MODELS, ROOT

GRID = {"weight_bits": (4, 6, 8), "state_bits": (12, 16), "decay_bits": (8,), "threshold_bits": (None,),
        "rounding": ("nearest", "truncate")}


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs, no dashboard) for this module's tests, shut down after them."""
    pytest.importorskip("ray")
    ex = E.RayExecutor(None, workers=2)
    ex._connect()
    assert ex._owned, "a Ray instance was already running in this test process"
    yield ex
    ex.close()


def _digits(n: int):
    g = Graph.load(MODELS / "digits_mlp.json")
    x, y = load_dataset(DATA / "digits_val.npz")
    return g, x[:n], y[:n]


def _double(state, t):
    return state["k"] * t


def _refuse(state, t):
    if t == 3:
        raise EdgesnnError(f"task {t} refused")
    return t


def _setup(shared):
    return dict(shared)


@pytest.mark.needs_c_ext
def test_ray_plans_as_local(ray_instance):
    """digits MLP, 12 candidates x 120 inputs: the racing and the exhaustive plan (chosen config, schedule, front,
    figures, sensitivity: the whole PLAN.json) from a local Ray instance equal those made locally."""
    g, x, y = _digits(120)
    cs = candidates(g, GRID)
    assert len(cs) == 12
    for search, sens in (("race", False), ("exhaustive", True)):
        kw = dict(max_drop=0.02, configs=cs, sensitivity=sens, measure=False, search=search)
        local = plan(g, get_board(), x, y, workers=1, **kw)
        on_ray = plan(g, get_board(), x, y, executor=ray_instance, **kw)
        assert local.qgraph.config == on_ray.qgraph.config and local.schedule == on_ray.schedule
        assert local.front == on_ray.front and len(local.front) > 0
        assert local.to_dict() == on_ray.to_dict()


@pytest.mark.needs_c_ext
def test_evaluate_on_ray_streams_each_result_and_matches_local(ray_instance):
    g, x, y = _digits(40)
    cs = candidates(g, GRID)
    bar = Progress(len(cs), "test")
    on_ray = evaluate(g, cs, x, y, calib=x, executor=ray_instance, progress=bar)
    local = evaluate(g, cs, x, y, calib=x, workers=1)
    assert bar.done == len(cs)   # advanced once per result
    for a, b in zip(local, on_ray):
        assert (a.config, a.accuracy, a.blob_bytes, a.arena_bytes, a.digest) == \
               (b.config, b.accuracy, b.blob_bytes, b.arena_bytes, b.digest)
        assert a.activity == b.activity and np.array_equal(a.correct, b.correct)


def test_ray_map_order_and_errors(ray_instance):
    tasks = list(range(40))
    with ray_instance.session(_setup, {"k": 3}) as run:
        assert list(run(_double, tasks)) == [3 * t for t in tasks]            # ordered: in task order
        pairs = list(run(_double, tasks, ordered=False, most=1))            # as they finish, with their index
        assert sorted(pairs) == [(t, 3 * t) for t in tasks]
        with pytest.raises(EdgesnnError, match="task 3 refused"):  # a task's EdgesnnError arrives as itself
            list(run(_refuse, tasks, most=1))


def test_local_executor_forks_with_the_state_in_place():
    with E.LocalExecutor(2).session(_setup, {"k": 5}) as run:
        assert list(run(_double, range(50))) == [5 * t for t in range(50)]
        assert sorted(run(_double, range(9), ordered=False)) == [(t, 5 * t) for t in range(9)]
    with E.LocalExecutor(1).session(_setup, {"k": 2}) as run:
        assert list(run(_double, [1, 2])) == [2, 4]


def test_a_worker_at_another_version_is_refused():
    with pytest.raises(E.ExecutorError, match="install edgesnn 0.0.0 on every node"):
        E._ray_chunk(_double, _setup, [None], "0.0.0", [1])


@pytest.mark.parametrize("spec,message", [
    ("bogus", "expected local, ray or ray:HOST:PORT"),
    ("ray:", "expected local, ray or ray:HOST:PORT"),
    ("ray:nohost", "expected ray:HOST:PORT"),
])
def test_a_bad_executor_is_one_line(spec, message, tmp_path, capsys):
    assert main(["plan", str(MODELS / "digits_mlp.json"), "--data", str(DATA / "digits_val.npz"),
                 "--executor", spec, "-o", str(tmp_path / "p.json")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_ray_missing_says_which_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)   # `import ray` fails as when it is not installed
    assert main(["plan", str(MODELS / "digits_mlp.json"), "--data", str(DATA / "digits_val.npz"),
                 "--executor", "ray", "-o", str(tmp_path / "p.json")]) == 1
    err = capsys.readouterr().err
    assert "pip install 'edgesnn[cluster]'" in err and err.count("\n") == 1


def test_an_unreachable_cluster_is_one_line(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run([sys.executable, "-m", "edgesnn.cli", "plan", str(MODELS / "digits_mlp.json"), "--data",
                        str(DATA / "digits_val.npz"), "--executor", f"ray:127.0.0.1:{port}", "-o",
                        str(tmp_path / "p.json")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 1
    assert f"cannot reach a Ray cluster at 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "p.json").exists()


def test_a_worker_missing_a_module_is_one_line(ray_instance, tmp_path, monkeypatch):
    """A task whose code a worker cannot import (here a module only on this process's path; on a cluster, a node
    without edgesnn or its extras): an ExecutorError that says what to install, not a remote traceback."""
    (tmp_path / "only_on_the_driver.py").write_text("def task(state, t):\n    return t\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_on_the_driver
    with pytest.raises(E.ExecutorError, match="a Ray worker cannot import what the task needs"):
        with ray_instance.session(_setup, {}) as run:
            list(run(only_on_the_driver.task, [1]))
