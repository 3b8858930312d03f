"""Where a search's independent tasks run: in this process and forks of it ("local"), or on Ray ("ray[:ADDRESS]").

    with get_executor("ray:10.0.0.5:6379") as ex:          # or "local", "ray" (a Ray instance on this machine)
        with ex.session(setup, shared) as run:             # `shared` is shipped once
            for i, result in run(fn, tasks, ordered=False):  # results as they finish, with their task's index
                ...

A session holds what every task of a search reads (the graph, the validation inputs and labels): `setup(shared)`
makes from it the state the tasks use, once per process. `fn(state, task)` runs one task. Both are module-level
functions (pickled by name). `run(fn, tasks)` yields the results in task order, each as soon as it and those
before it are done (streamed, so a caller can let a result go before the next one arrives), or with
`ordered=False` as (index, result) pairs in the order they finish (what a progress bar wants); `most`: the
largest chunk of tasks sent to a worker at once.

local  `workers` <= 1: every task in this process. Otherwise `setup` runs here once and `workers` processes are
       forked with its state in place (what the planner has always done; fork: Linux and macOS only).
ray    Ray (the extra `cluster`: pip install 'edgesnn[cluster]'). `shared` goes into Ray's object store once
       (ray.put); the tasks, grouped in chunks, carry only a reference to it, and each worker process runs
       `setup` once per session (the last sessions' states are kept per process). "ray" starts a Ray instance on
       this machine with `workers` CPUs (or joins the one this process has already started: ray.init before);
       "ray:HOST:PORT" joins a running cluster (`ray start --head` on its head node; docs/cluster.md), "ray:auto"
       the cluster started on this machine. Every worker must have edgesnn at this version installed: a task
       refuses a worker whose version differs. The C runtime is bit-exact on every platform, so the results are
       those of local execution (tests/plan/test_executor.py).

Where this is not optimal: tasks are chunked statically (about four chunks per CPU), so a slow chunk at the end of
a map leaves CPUs idle; the state is rebuilt in every Ray worker process that runs a task of the session.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
import socket
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import EdgesnnError

INSTALL = "pip install 'edgesnn[cluster]'"
CONNECT_TIMEOUT_S = 5.0   # a cluster address that does not answer within this is reported, not waited on


class ExecutorError(EdgesnnError):
    """A bad --executor, Ray missing, or a cluster that cannot be reached."""


def default_workers() -> int:
    """The CPUs this process may use, at most 8."""
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # pragma: no cover
        return max(1, min(os.cpu_count() or 1, 8))


def _chunks(n: int, cpus: int, most: int) -> list[tuple[int, int]]:
    size = max(1, min(most, n // (4 * max(cpus, 1))))
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


# ---- local: this process, or processes forked with the session's state in place ------------------------------
_LOCAL: dict = {}   # the state of the session whose workers are being forked


def _local_call(job):
    fn, task = job
    return fn(_LOCAL["state"], task)


class _Executor:
    """What every executor shares: a context manager that closes it (a Ray connection it opened, a pool)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalExecutor(_Executor):
    spec = "local"

    def __init__(self, workers: int | None = None):
        self.workers = default_workers() if workers is None else max(1, int(workers))

    @property
    def parallel(self) -> bool:
        return self.workers > 1

    def start(self):
        return self

    @contextmanager
    def session(self, setup, shared):
        state = setup(shared)

        def here(fn, tasks, ordered=True, most=8):
            for i, t in enumerate(tasks):
                r = fn(state, t)
                yield r if ordered else (i, r)
        if self.workers <= 1:
            yield here
            return
        _LOCAL["state"] = state
        pool = mp.get_context("fork").Pool(self.workers)

        def run(fn, tasks, ordered=True, most=8):
            tasks = list(tasks)
            size = max(1, min(most, len(tasks) // (4 * self.workers)))
            for i, r in enumerate(pool.imap(_local_call, [(fn, t) for t in tasks], chunksize=size)):
                yield r if ordered else (i, r)
        try:
            yield run
            pool.close()   # the workers end on their own (SIGTERM would wake the handlers Ray installs, if imported)
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
            _LOCAL.clear()


# ---- ray ------------------------------------------------------------------------------------------------------
_STATES: OrderedDict = OrderedDict()   # in a Ray worker process: session id -> state (the last few sessions)
_KEEP_STATES = 2


def _ray_chunk(fn, setup, box: list, version: str, tasks: list) -> list:
    """One chunk of tasks in a Ray worker. `box` holds the session's object reference (a reference inside a list
    is passed as it is, not resolved), so the shared data is fetched and set up once per process and session."""
    if version != __version__:
        raise ExecutorError(f"a Ray worker has edgesnn {__version__}, this process {version}: install edgesnn "
                            f"{version} on every node of the cluster")
    import ray   # the optional extra `cluster`, present in any Ray worker
    ref = box[0]
    key = ref.hex()
    state = _STATES.get(key)
    if state is None:
        state = setup(ray.get(ref))
        _STATES[key] = state
        while len(_STATES) > _KEEP_STATES:
            _STATES.popitem(last=False)
    else:
        _STATES.move_to_end(key)
    return [fn(state, t) for t in tasks]


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(f"--executor ray needs Ray: {INSTALL}") from None
    return ray


def _check_reachable(address: str) -> None:
    """A HOST:PORT that refuses or does not answer is reported at once (ray.init would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--executor ray:{address}: expected ray:HOST:PORT (the head node's GCS address, "
                            "port 6379 unless `ray start --head --port` says otherwise), or ray:auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        raise ExecutorError(f"cannot reach a Ray cluster at {address} ({e.strerror or e}): is `ray start --head` "
                            "running there, and the port open?") from None


class RayExecutor(_Executor):
    def __init__(self, address: str | None = None, workers: int | None = None):
        self.address = address
        self.spec = "ray" + (f":{address}" if address else "")
        self._workers = workers
        self._ray = None
        self._owned = False
        self._remote = None

    def _connect(self):
        if self._ray is not None:
            return self._ray
        ray = _import_ray()
        if not ray.is_initialized():
            if self.address and self.address != "auto":
                _check_reachable(self.address)
            # Ray's own notes (start-up, token) stay quiet: a command prints one line per problem
            kw = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            if self.address:
                kw["address"] = self.address
            else:
                kw["num_cpus"] = default_workers() if self._workers is None else max(1, int(self._workers))
                # the local instance's workers import this edgesnn (a checkout on sys.path included)
                root = str(Path(__file__).resolve().parents[1])
                path = os.environ.get("PYTHONPATH", "")
                if root not in path.split(os.pathsep):
                    os.environ["PYTHONPATH"] = root + (os.pathsep + path if path else "")
            try:
                ray.init(**kw)
            except ConnectionError as e:
                if self.address == "auto":
                    raise ExecutorError("--executor ray:auto: no Ray cluster runs on this machine (start one with "
                                        "`ray start --head`, or give ray:HOST:PORT)") from None
                raise ExecutorError(f"cannot join a Ray cluster at {self.address}: {e}") from None
            self._owned = True
        self._ray = ray
        self._remote = ray.remote(num_cpus=1)(_ray_chunk)
        return ray

    def start(self):
        """Start (or join) Ray now rather than at the first session."""
        self._connect()
        return self

    @property
    def workers(self) -> int:
        ray = self._connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    parallel = True

    def close(self) -> None:
        if self._owned and self._ray is not None:
            self._ray.shutdown()
        self._ray, self._owned = None, False

    @contextmanager
    def session(self, setup, shared):
        ray = self._connect()
        cpus = self.workers
        ref = ray.put(shared)
        try:
            def run(fn, tasks, ordered=True, most=8):
                tasks = list(tasks)
                spans = _chunks(len(tasks), cpus, most)
                pending = {self._remote.remote(fn, setup, [ref], __version__, tasks[lo:hi]): (lo, hi)
                           for lo, hi in spans}
                done_early, nxt = {}, 0   # ordered: chunks finished ahead of the next one in order
                try:
                    while pending:
                        ready, _ = ray.wait(list(pending), num_returns=1)
                        lo, _hi = pending.pop(ready[0])
                        part = _get(ray, ready[0])
                        if not ordered:
                            yield from ((lo + j, r) for j, r in enumerate(part))
                            continue
                        done_early[lo] = part
                        while nxt in done_early:
                            part = done_early.pop(nxt)
                            nxt += len(part)
                            yield from part
                finally:
                    for r in pending:   # the caller stopped early, or a task failed
                        ray.cancel(r)
            yield run
        finally:
            del ref   # the object store may free the shared data


def _get(ray, ref):
    """ray.get, with an EdgesnnError raised in a task re-raised as itself (one line at the command line)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, EdgesnnError):
            raise e.cause from None
        # a worker without edgesnn or a module a task needs: Ray cannot import the task's function there (its
        # RuntimeError says so) or unpickle its arguments (a RaySystemError naming the module), or the task's own
        # import fails (the C extension, torch)
        text = str(e.cause)
        named = re.search(r"No module named '[^']+'", text)
        if named or isinstance(e.cause, ImportError) or "failed to import on the worker" in text:
            what = named.group(0) if named else (text.strip().splitlines()[0] if isinstance(e.cause, ImportError)
                                                 else "edgesnn's task function could not be imported there")
            raise ExecutorError(f"a Ray worker cannot import what the task needs ({what}): install edgesnn "
                                f"{__version__} (and its extras) on every node of the cluster") from None
        raise


def get_executor(spec=None, workers: int | None = None):
    """An executor from a spec: None or "local", "ray", "ray:HOST:PORT", "ray:auto"; an executor is returned as
    it is. Ray is imported (and a Ray instance started or joined) only when the first session opens."""
    if spec is None or spec == "local":
        return LocalExecutor(workers)
    if isinstance(spec, (LocalExecutor, RayExecutor)):
        return spec
    if not isinstance(spec, str):
        raise ExecutorError(f"executor {spec!r}: expected local, ray or ray:HOST:PORT")
    if spec == "ray":
        _import_ray()
        return RayExecutor(None, workers)
    if spec.startswith("ray:") and spec[4:]:
        address = spec[4:]
        if address != "auto":
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ExecutorError(f"executor {spec!r}: expected ray:HOST:PORT (e.g. ray:10.0.0.5:6379) or "
                                    "ray:auto")
        _import_ray()
        return RayExecutor(address, workers)
    raise ExecutorError(f"executor {spec!r}: expected local, ray or ray:HOST:PORT")
