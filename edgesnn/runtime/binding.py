"""The C runtime on the host, through the cffi extension edgesnn.runtime._esn (built by _build.py).

`CModel(blob)` loads and checks a blob in the C loader and lays out an arena of exactly the size
the runtime asks for (or of `arena_bytes`, to test refusals): esn_arena_size() for esn_step, or
esn_arena_size_sched() when the blob carries a grouped schedule; `CModel.run(inputs)` runs a batch
input by input, shared out over one thread per core (each with its own context and arena; the same
results on any number), and returns a SimResult with the same fields the simulators fill, plus per-node
`cycles` in its counts. Status codes of the C side become EdgesnnError subclasses whose messages
name the node (by its name, from the blob's metadata) and the offending value.

Where the extension comes from: it is not a cache. `pip install` (setup.py's cffi_modules, a private
temporary build folder) compiles it into the package, next to this file: site-packages for an install,
edgesnn/runtime/ for a checkout (`python edgesnn/runtime/_build.py` compiles in build/cffi, where cffi
rewrites a C file that differs and recompiles everything, so nothing left there is reused). It is loaded
by import from the package and only from there, and checked once before first use (_check_loaded): the
file and its folder must belong to the user or to root and not be writable by others (else
UntrustedExtension, naming the file and what to do), and in a checkout the digest of the C sources it
embeds must equal that of runtime_c/ on disk (else "stale": rebuild).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..emit.blob import SEC_META, BlobError, blob_from_lowered, read_header
from ..errors import ArenaTooSmall, CRuntimeError, ExtensionMissing, ScheduleRefused, SimulationError
from ..graph import ir
from ..graph.kinds import STATE_VARS
from ..graph.simulate import SimResult
from ..lower import ScheduleError, ScheduleSpecError, cl_perm, lower
from ..quantize.qgraph import input_dtype
from ..quantize.reference import FIXED_COUNTERS, check_spike_inputs
from ..resources import CHECKOUT, untrusted

C_COUNTERS = FIXED_COUNTERS + ("cycles",)  # the order of esn_counters' fields

# A batch runs over threads, input by input on each (CModel.run). Interleaving inputs instead (each node
# run for 8, 16 or 64 inputs in their own contexts before the next node, so that a layer's weights are
# read once per step for them all) gained nothing on the host, within the 10 % noise, on one thread and
# 64 inputs: digits MLP 20,100 inputs/s input by input vs 19,600 interleaved by 8; MNIST-sized MLP 5,470
# vs 5,290; N-MNIST-sized CNN 137 vs 143; SHD-sized RNN 8,660 vs 9,190: the largest layer's weights (784 x
# 512 bytes) stay in the L2 cache either way. Threads scale with the cores.
MIN_PER_THREAD = 4  # inputs each thread gets at least: below that, starting it costs more than it gains
CORES = os.cpu_count() or 1  # read once: os.cpu_count() takes ~20 us, a fifth of a small model's input


def default_threads(n: int) -> int:
    """Threads for a batch of n inputs: one per core, each with at least MIN_PER_THREAD inputs."""
    return max(1, min(CORES, n // MIN_PER_THREAD))


_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool)


def _pool() -> ThreadPoolExecutor:
    """The threads shared by every CModel of this process (started on first use). A forked child (the
    planner's worker processes) inherits the pool object but not its threads, so it starts its own."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=max(2, CORES), thread_name_prefix="esn-host"))
    return _POOL[1]


def _lib():
    try:
        from . import _esn
    except ImportError as e:
        raise ExtensionMissing("the C runtime extension edgesnn.runtime._esn is not built; install the package "
                            f"(`pip install -e .`, or `make setup`) to compile it ({e})") from None
    if not _fresh_checked:
        check_extension_file(Path(_esn.__file__))
    _check_fresh(_esn.ffi, _esn.lib)
    return _esn.ffi, _esn.lib


_fresh_checked = False


class UntrustedExtension(CRuntimeError):
    """The host extension's file could have been written by someone else (another owner, or world-writable)."""


def check_extension_file(path: Path) -> None:
    """UntrustedExtension unless the extension `path` and its folder belong to the user or root and others
    cannot write them (group-writable is allowed: a user-private group, umask 002, makes that usual)."""
    bad = untrusted(path, root_ok=True, group_ok=True)
    if bad:
        p, why = bad
        raise UntrustedExtension(f"the C runtime extension {path} is not loaded: {p} {why}, so someone else may "
                                 f"have replaced it; reinstall edgesnn into a folder only you (or root) can write "
                                 f"(`pip install` in a virtual environment of your own)")


def extension_available() -> bool:
    """Whether the host extension is built (a stale one still raises, to be rebuilt)."""
    try:
        _lib()
    except ExtensionMissing:
        return False
    return True


def _check_fresh(ffi, lib) -> None:
    """In a source checkout, refuse an extension built from other C sources than those on disk."""
    global _fresh_checked
    if _fresh_checked:
        return
    if CHECKOUT is not None:
        from ._build import source_digest  # the build script: imported only to check a checkout's extension
        root = CHECKOUT / "runtime_c"
        if ffi.string(lib.esn_host_digest()).decode() != source_digest(root):
            raise CRuntimeError("the C runtime extension is stale: runtime_c/ changed since it was built; rebuild "
                                "it with `.venv/bin/pip install -e .` (or `make setup`)")
    _fresh_checked = True


def status_name(code: int) -> str:
    ffi, lib = _lib()
    return ffi.string(lib.esn_status_str(code)).decode()


def _blob_names(blob: bytes) -> list[str] | None:
    """Node names from the META section, when the blob is readable enough to have them."""
    try:
        h = read_header(blob)
        o, size, _ = h["sections"][SEC_META]
        return json.loads(h["data"][o:o + size].decode())["names"]
    except Exception:
        return None


class CModel:
    """A blob loaded into the C runtime, with its arena and context."""

    def __init__(self, blob: bytes, arena_bytes: int | None = None):
        ffi, lib = _lib()
        self.ffi, self.lib = ffi, lib
        blob = bytes(blob)
        # 8-byte aligned copy: the runtime uses the parameter arrays in place
        self._blob = ffi.new("uint64_t[]", max(1, (len(blob) + 7) // 8))
        ffi.memmove(self._blob, blob, len(blob))
        self._bm = ffi.new("esn_blob_model *")
        self.names = _blob_names(blob)
        st = lib.esn_blob_load(self._bm, self._blob, len(blob))
        if st != lib.ESN_OK:
            raise BlobError(self._describe(st))
        self.model = ffi.addressof(self._bm, "model")
        self.sched_steps = int(self.model.sched_steps)
        need = ffi.new("uint32_t *")
        st = (lib.esn_arena_size_sched if self.sched_steps else lib.esn_arena_size)(self.model, need)
        if st == lib.ESN_ERR_SCHEDULE:
            raise ScheduleRefused(f"the C runtime refused the model's schedule: {status_name(st)}")
        if st != lib.ESN_OK:
            raise CRuntimeError(f"esn_arena_size: {status_name(st)}")
        self.arena_size = int(need[0])
        size = self.arena_size if arena_bytes is None else int(arena_bytes)
        self._arena = ffi.new("uint64_t[]", max(1, (size + 7) // 8))
        if self.sched_steps:
            self.ctx = ffi.new("esn_sched_ctx *")
            st = lib.esn_sched_init(self.ctx, self.model, self._arena, size)
            what = "esn_arena_size_sched"
        else:
            self.ctx = ffi.new("esn_ctx *")
            st = lib.esn_init(self.ctx, self.model, self._arena, size)
            what = "esn_arena_size"
        self._workers: list = []  # (context, arena) of the threads but the first (_contexts)
        if st == lib.ESN_ERR_ARENA_SMALL:
            raise ArenaTooSmall(f"arena of {size} bytes is too small: this model needs {self.arena_size} ({what})")
        if st != lib.ESN_OK:
            raise CRuntimeError(f"esn_init: {status_name(st)}")

    def _describe(self, st: int) -> str:
        lib, d = self.lib, self._bm.diag
        what = status_name(st)
        if st == lib.ESN_ERR_VERSION:
            return (f"blob format version {self._bm.version} is not supported: this runtime reads version "
                    f"{lib.ESN_BLOB_VERSION}; re-run `edgesnn compile` with this edgesnn")
        where = ""
        if d.node >= 0:
            names = self.names
            label = repr(names[d.node]) if names and d.node < len(names) else f"#{d.node}"
            where = f" at node {label}"
        if d.edge >= 0:
            where += f", edge {d.edge}"
        return f"the C runtime refused the blob: {what}{where} (value {d.value})"

    # -- running ---------------------------------------------------------------------------------
    def run(self, inputs: np.ndarray, *, record_states: bool = False, names: list[str] | None = None,
            out_shape: tuple[int, ...] | None = None, output_spiking: bool = True,
            counted: set[str] | None = None, state_shapes: dict[str, tuple] | None = None,
            exit_on: bool | None = None, threads: int | None = None) -> SimResult:
        """Runs x [N, T, input_size...] (the model's input values: uint8 spike counts, or int8 / int16 analog
        values, esn_model.input_bits) input by input; see run_c for the fields.

        threads: how many threads share the batch out, each running consecutive inputs on its own
        context and arena (default_threads: one per core, at least MIN_PER_THREAD inputs each). The
        speed only changes: every input's outputs, counters (but cycles), states and steps are those of
        threads=1."""
        ffi, lib, m = self.ffi, self.lib, self.model
        x = np.ascontiguousarray(inputs, dtype=input_dtype(m.input_bits))
        if x is not inputs and not np.array_equal(x, inputs):   # a cast must not change a value
            what = f"int{m.input_bits} values" if m.input_bits else "spike counts (integers 0..255)"
            raise SimulationError(f"inputs must be the model's {what}; these do not fit (real values need an analog "
                                  "input: --input-bits 8 or 16)")
        n, steps = x.shape[:2]
        if math.prod(x.shape[2:]) != m.input_size:
            raise SimulationError(f"inputs of shape {x.shape} do not match the model's input size {m.input_size}")
        names = names or self.names or [f"n{i}" for i in range(m.n_nodes)]
        if self.sched_steps:
            if record_states:
                raise SimulationError("record_states needs the time-step-major schedule: a grouped schedule keeps "
                                      "one group's state at a time")
            if steps != self.sched_steps:
                raise SimulationError(f"inputs of {steps} steps; this model's schedule runs {self.sched_steps}")
            return self._run_sched(x, names, out_shape, output_spiking, counted)
        k_out, nn = m.output_size, m.n_nodes
        out = np.zeros((n, steps, k_out), np.int64)
        counters = np.zeros((n, steps, nn, len(C_COUNTERS)), np.uint64)
        ran = np.zeros(n, np.uint32)
        blocks = []
        if record_states:
            for k in range(nn):
                size = int(lib.esn_host_out_size(m, k))
                probe = ffi.new("int32_t[]", size)
                for var, vname in enumerate(STATE_VARS):  # esn_var order
                    if lib.esn_state_read(self.ctx, k, var, probe) == lib.ESN_OK:
                        blocks.append((k, vname, size))
        words = sum(b[2] for b in blocks)
        states = np.zeros((n, steps, max(words, 1)), np.int32) if record_states else None
        self._run_batch(x, out, counters, ran, states, words, threads)
        per = counters.view(np.int64).transpose(2, 3, 0, 1)  # [node][counter][N][T]; counts fit int64
        counts = {names[k]: dict(zip(C_COUNTERS, per[k])) for k in range(nn) if counted is None or names[k] in counted}
        recorded = {}
        pos = 0
        for k, vname, size in blocks:
            a = states[:, :, pos:pos + size].astype(np.int64)
            ch = int(lib.esn_host_cl_channels(m, k))
            if ch:  # a channel-last layer's state, back in row-major order
                logical = np.empty_like(a)
                logical[:, :, cl_perm(size, ch)] = a
                a = logical
            shape = (state_shapes or {}).get(names[k], (size,))
            recorded.setdefault(names[k], {})[vname] = a.reshape(n, steps, *shape)
            pos += size
        outputs = out.reshape(n, steps, *(out_shape or (k_out,)))
        return SimResult(outputs, output_spiking, counts, recorded,
                         ran.astype(np.int64) if exit_on else None, engine="fixed-c")

    def _contexts(self, count: int) -> list:
        """This model's context and count - 1 more, each with its own arena (kept for later runs)."""
        ffi, lib = self.ffi, self.lib
        while len(self._workers) < count - 1:
            arena = ffi.new("uint64_t[]", max(1, (self.arena_size + 7) // 8))
            ctx = ffi.new("esn_ctx *")
            st = lib.esn_init(ctx, self.model, arena, self.arena_size)
            if st != lib.ESN_OK:
                raise CRuntimeError(f"esn_init: {status_name(st)}")
            self._workers.append((ctx, arena))
        return [self.ctx] + [c for c, _ in self._workers[:count - 1]]

    def _run_batch(self, x, out, counters, ran, states, words, threads) -> None:
        """Fills out, counters, ran (and states) for x, input by input (esn_host_run_batch), the batch cut
        into `threads` runs of consecutive inputs, each on its own context and thread."""
        ffi, lib = self.ffi, self.lib
        n, steps = x.shape[:2]
        threads = default_threads(n) if threads is None else max(1, min(int(threads), n))
        cut = [n * w // threads for w in range(threads + 1)]  # worker w runs inputs cut[w]:cut[w + 1]
        ctxs = self._contexts(threads)
        arrays = (x, out, counters, ran) + ((states,) if states is not None else ())
        types = ("uint8_t[]", "int64_t[]", "uint64_t[]", "uint32_t[]", "int32_t[]")

        def work(w: int) -> int:
            a, b = cut[w], cut[w + 1]
            xa, oa, ca, ra, *sa = (ffi.from_buffer(c, v[a:b]) for c, v in zip(types, arrays))
            return lib.esn_host_run_batch(ctxs[w], xa, b - a, steps, oa, ca, ra, sa[0] if sa else ffi.NULL, words)

        if threads == 1:
            codes = [work(0)]
        else:  # cffi releases the GIL in the C calls; the workers write disjoint rows of the arrays
            codes = list(_pool().map(work, range(threads)))
        for st in codes:
            if st != lib.ESN_OK:
                raise CRuntimeError(f"esn_step: {status_name(st)}")

    # -- grouped schedule ------------------------------------------------------------------------
    def _run_sched(self, x, names, out_shape, output_spiking, counted) -> SimResult:
        """Runs x [N, T, ...] in the blob's grouped schedule (esn_sched_run), input by input; no states."""
        ffi, lib, m = self.ffi, self.lib, self.model
        n, steps = x.shape[:2]
        k_out, nn = m.output_size, m.n_nodes
        out = np.zeros((n, steps, k_out), np.int64)
        counters = np.zeros((n, steps, nn, len(C_COUNTERS)), np.uint64)
        st = lib.esn_host_run_batch_sched(self.ctx, ffi.from_buffer("uint8_t[]", x), n,
                                          ffi.from_buffer("int64_t[]", out), ffi.from_buffer("uint64_t[]", counters))
        if st != lib.ESN_OK:
            raise CRuntimeError(f"esn_sched_run: {status_name(st)}")
        self.staged_bytes = int(self.ctx.staged_bytes)  # weight bytes the last input copied into the arena
        counters = counters.astype(np.int64)
        counts = {names[k]: {c: counters[:, :, k, i] for i, c in enumerate(C_COUNTERS)}
                  for k in range(nn) if counted is None or names[k] in counted}
        return SimResult(out.reshape(n, steps, *(out_shape or (k_out,))), output_spiking, counts, {}, None,
                         engine="fixed-c")


def run_c(qgraph, inputs: np.ndarray, *, record_states: bool = False, arena_bytes: int | None = None,
          schedule="time", stage=None, threads: int | None = None) -> SimResult:
    """Runs a QGraph in the C runtime on inputs [N, T, *input_shape] (spike counts, or an analog model's values in
    real units, quantized as the reference does: check_spike_inputs), input by input.

    Returns the SimResult `simulate_fixed` returns for the same arguments: outputs [N, T, *out]
    (int64), counts per synaptic and neuron node (the fixed-point counters, plus `cycles` from the
    port's clock), states when recorded (after an input exits early its remaining steps read 0,
    since the runtime stops; a stateless layer keeps none, so it has none), and `steps` [N] when
    early exit is on.

    schedule: "time" (esn_step, time-step-major), "layer" (layer-major), "fused" (a group starts at
    each weighted layer), a list of group sizes, or the names of the nodes that end each group
    (edgesnn.lower). Any schedule but one group runs esn_sched_run over the T = inputs' steps:
    same outputs and counters, the arena of edgesnn.lower.arena_size_schedule; refused
    (ScheduleRefused) for early exit or a recurrent edge across groups, and without recorded states.
    stage: weighted nodes (names, or "all") whose weights a grouped schedule copies into the arena once
    per input (ESN_NODE_STAGE_WEIGHTS); same results, the arena grows by the largest group's copy.
    threads: how many threads share a time-step-major batch out (CModel.run; default one per core, at
    least MIN_PER_THREAD inputs each); the results are the same for any number.
    """
    x = check_spike_inputs(qgraph, inputs)
    try:
        low = lower(qgraph, schedule, int(x.shape[1]), stage)
    except ScheduleError as e:
        raise ScheduleRefused(f"schedule {schedule!r} refused: {e}") from None
    except ScheduleSpecError as e:
        raise SimulationError(str(e)) from None
    if low.steps and record_states:
        raise SimulationError("record_states needs schedule='time': a grouped schedule keeps one group's state "
                              "at a time")
    graph = qgraph.graph
    sched = graph.schedule()
    model = CModel(blob_from_lowered(low), arena_bytes)
    counted = {k for k in sched.order if isinstance(graph.nodes[k], ir.SYNAPTIC_TYPES) or graph.nodes[k].stateful}
    shapes = {k: sched.shapes[k] for k in sched.order}
    return model.run(x.astype(input_dtype(qgraph.config.input_bits)), record_states=record_states,
                     names=list(sched.order),
                     out_shape=graph.output.shape, output_spiking=graph.output_spiking, counted=counted,
                     state_shapes=shapes, exit_on=qgraph.exit is not None, threads=threads)
