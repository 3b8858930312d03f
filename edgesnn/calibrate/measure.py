"""Run microbenchmarks (and whole models) on a device; read and check `measurements.jsonl`.

One JSON object per line. For each benchmark run there is one row per counted layer and one row
for the whole run ("layer": "(run)"), all sharing the run's provenance:

    {"v": 1, "board": "qemu-mps2-an386", "runtime": "edgesnn-runtime/0.1.0+dsp", "unit": "instructions",
     "schedule": "time-step-major", "bench": "b007-dense-lif-w8", "inputs": 3, "steps": 48,
     "layer": "syn", "info": {layer_info entry}, "counts": {synops, spikes_in, ...: totals over the run},
     "measured": 123456}
    {..., "layer": "(run)", "info": {model info}, "counts": {"steps": 48}, "measured": <every esn_step call>,
     "layers_measured": <sum of the layer rows>, "firmware": "0.1.0", "compiler": "arm-none-eabi-gcc ...",
     "cflags": [...], "runtime_sources": "<digest>", "tick_hz": 25000000, "date": "2026-11-22T21:00:00Z",
     "edgesnn_version": "0.1.0", "spec": {the benchmark's BenchSpec}}

Counts and measurements are totals over the run's inputs and steps (sums beat the tick resolution of
one tick per layer and step). The cost terms (edgesnn.cost.layer_terms / runtime_terms) are computed
from `info` and `counts` when fitting, so the feature design can change without measuring again.

Reading checks every line and rejects, naming file and line: text that is not JSON (a truncated last
line included), missing or mistyped fields, negative counts, a board, runtime version or unit other
than the file's (or the one asked for), and a run whose rows are incomplete (its "(run)" row or a
layer missing, or the layers not adding up to layers_measured).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..artifact import atomic_write_bytes
from ..board import port_chain
from ..cost.model import layer_info
from ..cost.schema import ROW, non_finite
from ..device.qemu import BlockTrace, QemuTarget
from ..device.runner import DeviceModel, open_board
from ..errors import EdgesnnError
from ..firmware import build as F
from ..firmware import cycles as C
from ..firmware.runtime import build_runtime_firmware, input_staging_bytes, model_ram_bytes
from ..lower import lower
from ..progress import Progress
from ..resources import RUNTIME_C as root
from ..schema import SchemaError, check
from . import bench as B

ROW_VERSION = 1
RUN_ROW = "(run)"
LAYER_COUNTS = ("synops", "spikes_in", "neuron_updates", "spikes_out", "invocations")
REQUIRED = {"v": int, "board": str, "runtime": str, "unit": str, "bench": str, "layer": str, "info": dict,
            "counts": dict, "measured": (int, float)}


class CalibrationError(EdgesnnError):
    pass


@dataclass
class Measurements:
    """Rows that passed the checks, grouped by benchmark run, and the rows rejected with why."""
    path: str
    runs: dict[str, dict] = field(default_factory=dict)   # bench -> {"layers": [rows], "run": row, "lines": [..]}
    rejected: list[str] = field(default_factory=list)     # "file:line: reason"
    board: str | None = None
    runtime: str | None = None
    unit: str | None = None
    provenance: dict = field(default_factory=dict)


def runtime_sources(board) -> str:
    """Digest of the C sources a board's firmware compiles from: the runtime and the folders of its port
    chain. A calibration holds for those only (the runtime version string stays the same while the
    sources change); another board's port changing leaves it valid."""
    folders = [q.dir for q in port_chain(board.port)] if board.port is not None else []
    files = sorted([*(root / "src").rglob("*.[ch]"), *(root / "include").rglob("*.h"),
                    *(f for d in folders for f in d.glob("*.[chS]"))])
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def provenance(board, hello, fw) -> dict:
    """Who measured: board, the firmware's runtime version (HELLO), compiler and flags, date."""
    try:
        compiler = F._cc_version(F.compiler())
    except EdgesnnError:
        compiler = "unknown"
    return {"v": ROW_VERSION, "board": board.id, "runtime": hello.runtime_version, "firmware": hello.fw_version,
            "compiler": compiler if fw is not None else f"unknown (firmware not built here; host has {compiler})",
            "cflags": list(fw.cflags) if fw is not None else [], "tick_hz": hello.tick_hz,
            "runtime_sources": runtime_sources(board) if fw is not None else "unknown (firmware not built here)",
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "edgesnn_version": __version__}


def run_rows(qgraph, res, prov: dict, bench: str, extra: dict | None = None) -> list[dict]:
    """The rows of one run (DeviceResult of `qgraph`): one per counted layer and the whole run."""
    if res.run_cycles is None:
        raise CalibrationError("the device reports no cycle counter (cycle source 'none'): nothing to calibrate on")
    info = layer_info(qgraph)
    n = len(res.steps)
    steps = int(res.steps.sum())
    # layer rows carry what the checks need; the run's row the rest of the provenance and the spec
    base = {k: prov[k] for k in ("v", "board", "runtime")}
    base.update(unit=res.unit, schedule="time-step-major", bench=bench, inputs=n, steps=steps)
    rows, total = [], 0
    for name, cs in res.counts.items():
        counts = {c: int(cs[c].sum()) for c in ("synops", "spikes_in", "neuron_updates", "spikes_out",
                                                "param_bytes_read", "arena_bytes_read", "arena_bytes_written")}
        counts["invocations"] = steps  # time-step-major: each layer runs once per step
        m = int(cs[res.unit].sum())
        total += m
        rows.append({**base, "layer": name, "info": info["layers"][name], "counts": counts, "measured": m})
    rows.append({**base, **prov, **(extra or {}), "layer": RUN_ROW, "info": info["model"],
                 "counts": {"steps": steps}, "measured": int(res.run_cycles.sum()), "layers_measured": total})
    return rows


class Session:
    """One device session: QEMU booted once with the blob-loading runtime firmware, or a real board on
    `port` already flashed with it; models are sent as blobs one after another."""

    def __init__(self, board, port: str | None = None, timeout: float = 5.0, boot_timeout: float | None = None,
                 trace=None):
        self.board, self.q = board, None
        self.fw = build_runtime_firmware(board) if board.firmware.get("port") else None
        if port is not None:   # the real board's HELLO checked: protocol version, board id
            self.link = open_board(board, port, timeout=timeout)
        else:
            self.q = QemuTarget(board, self.fw.elf, timeout=timeout, boot_timeout=boot_timeout, trace=trace)
            self.link = self.q.start()
        self.hello = self.link.hello or self.link.handshake()
        self.prov = provenance(board, self.hello, self.fw)

    def fits(self, qgraph) -> bool:
        """Whether the firmware arena holds the model's blob, its runtime arena and, where a step's input is
        larger than a frame, the staging area RUN_INPUT fills."""
        blob, arena = model_ram_bytes(qgraph)
        return blob + arena + input_staging_bytes(self.board, lower(qgraph)) <= self.hello.arena_bytes

    def run(self, qgraph, x):
        return DeviceModel(self.link, qgraph, self.board).run(x)

    def close(self) -> None:
        if self.q is not None:
            code = self.q.close()
            if code != 0:
                raise CalibrationError(f"firmware exited with code {code}, expected 0")
        else:
            self.link.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is not None and self.q is not None:
            self.q.kill()
        else:
            self.close()


def measure(board, specs: list[B.BenchSpec], *, port: str | None = None, inputs: int = 3, steps: int = 16,
            label: str = "microbenchmarks", boot_timeout: float | None = None) -> tuple[list[dict], list[str]]:
    """Run `specs` on the board: (rows, notes on the benchmarks skipped because they do not fit)."""
    rows, skipped = [], []
    with Session(board, port, boot_timeout=boot_timeout) as s:
        for spec, x, q in _fitting(s, specs, inputs, steps, skipped, label):
            rows += run_rows(q, s.run(q, x), s.prov, spec.id, {"spec": spec.to_dict()})
    return rows, skipped


def _fitting(s, specs: list[B.BenchSpec], inputs: int, steps: int, skipped: list[str], label: str):
    """(spec, inputs, QGraph) of each benchmark that fits the session's firmware, under a progress bar; a note
    in `skipped` for each that does not."""
    with Progress(len(specs), label) as bar:
        for spec in specs:
            x = B.inputs(spec, inputs, steps)
            q = B.quantized(spec, x)
            if s.fits(q):
                yield spec, x, q
            else:
                skipped.append(f"{spec.id}: does not fit the firmware arena of {s.hello.arena_bytes:,} B")
            bar.update()


CYCLE_UNIT = "estimated cycles"
CYCLE_INPUTS, CYCLE_STEPS = 1, 3   # the traced run of each benchmark: its first input's first steps (4: +39 % on make calibrate)


def estimated_cycle_rows(rows: list[dict], est, runs: list[tuple[str, object, object]]) -> list[dict]:
    """Rows in CYCLE_UNIT of traced runs: each run's (bench, qgraph, DeviceResult) in the order they ran, `est`
    the edgesnn.firmware.cycles.Estimate of the session's block log (one esn_reset ... esn_step span per
    input). Each layer's "measured" is its estimated cycles between the two esn_port_cycles calls that time
    it, the (run) row's every esn_step call; `rows` the runs' rows as run_rows made them (instructions)."""
    spans = C.input_spans(est)
    want = sum(len(res.steps) for _, _, res in runs)
    if len(spans) != want:
        raise CalibrationError(f"the block log holds {len(spans)} inputs (esn_reset ... esn_step), {want} were run")
    out, k, i = [], 0, 0
    for bench, q, res in runs:
        order = list(q.graph.schedule().order)
        per_node = {n: 0 for n in order}
        whole = 0
        traced = 0
        for span in spans[k:k + len(res.steps)]:
            for name, w in zip(order, C.per_node(est, len(order), span)):
                per_node[name] += w.cycles
            calls = est.calls("esn_step", span)
            whole += sum(est.span(a, b)[1] for a, b in calls)
            traced += sum(est.span(a, b)[0] for a, b in calls)
        # the log must hold every instruction QEMU counted (its count is read a tick apart at each end of a
        # layer's window and of each RUN): a block missing from it would show here
        slack = 0.01 * float(res.run_cycles.sum()) + 500
        if abs(traced - float(res.run_cycles.sum())) > slack:
            raise CalibrationError(f"benchmark {bench}: the block log holds {traced:,} instructions of esn_step, "
                                   f"QEMU counted {int(res.run_cycles.sum()):,}: the log misses code")
        k += len(res.steps)
        mine = [r for r in rows[i:] if r["bench"] == bench]
        i += len(mine)
        total = 0
        for r in mine:
            r = {**r, "unit": CYCLE_UNIT}
            if r["layer"] == RUN_ROW:
                r["measured"], r["layers_measured"] = int(whole), int(total)
            else:
                r["measured"] = int(per_node[r["layer"]])
                total += r["measured"]
            out.append(r)
    return out


def measure_with_cycles(board, specs: list[B.BenchSpec], *, inputs: int = 3, steps: int = 16,
                        label: str = "microbenchmarks", boot_timeout: float | None = None,
                        trace_dir: str | Path | None = None) -> tuple[list[dict], list[dict], list[str], dict]:
    """measure() on an emulated board, and estimated cycles of the same benchmarks in the same session: after
    each benchmark's measured run, QEMU's block log is turned on (QemuTarget.log) for one more run of its
    first CYCLE_INPUTS input(s)' first CYCLE_STEPS steps, and off again; the log covers the runtime's code
    only (runtime_ranges). Every estimated figure is exact (no tick resolution), so a short run serves, and
    the pass adds only those runs and their log to the calibration (the blob is loaded once for both).
    (rows in instructions, rows in CYCLE_UNIT, skipped notes, {"log_bytes", "instructions", "seconds", ...})."""
    tmp = tempfile.mkdtemp(prefix="edgesnn-cycles-", dir=trace_dir)
    try:
        os.chmod(tmp, 0o700)
        code = C.disassemble(build_runtime_firmware(board).elf)   # cached: the session's firmware
        trace = BlockTrace(Path(tmp) / "blocks.log", C.runtime_ranges(code), paused=True)
        rows, crows_raw, runs, skipped = [], [], [], []
        traced_s = 0.0
        with Session(board, boot_timeout=boot_timeout, trace=trace) as s:
            for spec, x, q in _fitting(s, specs, inputs, steps, skipped, label):
                dm = DeviceModel(s.link, q, board)
                rows += run_rows(q, dm.run(x), s.prov, spec.id, {"spec": spec.to_dict()})
                t0 = time.perf_counter()
                s.q.log(True)
                res = dm.run(x[:CYCLE_INPUTS, :CYCLE_STEPS])
                s.q.log(False)
                traced_s += time.perf_counter() - t0
                crows_raw += run_rows(q, res, s.prov, spec.id, {"spec": spec.to_dict()})
                runs.append((spec.id, q, res))
        t0 = time.perf_counter()
        size = trace.stat().st_size if trace.path.exists() else 0
        est = C.estimate_blocks(code, C.read_blocks(trace.path), board.core, filtered=True)
        crows = estimated_cycle_rows(crows_raw, est, runs)
        return rows, crows, skipped, {"log_bytes": size, "instructions": est.instructions,
                                      "seconds": round(traced_s + time.perf_counter() - t0, 1),
                                      "inputs": CYCLE_INPUTS, "steps": CYCLE_STEPS,
                                      "timings": C.timing(board.core).source}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_rows(rows: list[dict], path: str | Path) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode())


def _check(row, where: str) -> str | None:
    if not isinstance(row, dict):
        return f"{where}: a row must be a JSON object, got {type(row).__name__}"
    for k, t in REQUIRED.items():
        if k not in row:
            return f"{where}: missing field {k!r}"
        if not isinstance(row[k], t) or isinstance(row[k], bool):
            return f"{where}: field {k!r} has type {type(row[k]).__name__}"
    if row["v"] != ROW_VERSION:
        return f"{where}: row format v{row['v']}, this edgesnn reads v{ROW_VERSION}"
    m = row["measured"]
    if not np.isfinite(m) or m < 0:
        return f"{where}: 'measured' = {m!r} must be finite and non-negative"
    need = ("steps",) if row["layer"] == RUN_ROW else LAYER_COUNTS
    for c in need:
        v = row["counts"].get(c)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v < 0:
            return f"{where}: counts[{c!r}] = {v!r} must be a non-negative number"
    if row["layer"] == RUN_ROW:
        for k in ("nodes", "input_size", "output_size", "output_edges"):
            if not isinstance(row["info"].get(k), int):
                return f"{where}: info[{k!r}] missing or not an integer"
        if not isinstance(row.get("layers_measured"), (int, float)):
            return f"{where}: a (run) row needs 'layers_measured'"
    else:
        for k in ("family", "in_size", "out_size", "edges"):
            if k not in row["info"]:
                return f"{where}: info[{k!r}] missing"
    return None


def _schema(row: dict, where: str) -> str | None:
    """The declared row schema (edgesnn/cost/schema.py), after _check's own messages: every field the fit
    reads typed, every number finite."""
    bad = non_finite(row)
    if bad:
        return f"{where}: {bad}: not a finite number"
    try:
        check(row, ROW, where)
    except SchemaError as e:
        return str(e)
    return None


def load(path: str | Path, *, board: str | None = None, runtime: str | None = None) -> Measurements:
    """Read and check a measurements file; rows that fail are rejected with file:line and why (see the
    module docstring). The first good row sets the board, runtime and unit unless given."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise CalibrationError(f"{path}: cannot read the measurements ({why})") from None
    out = Measurements(str(path), board=board, runtime=runtime)
    lines_of: dict[str, list[int]] = {}
    bad_bench: dict[str, str] = {}
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    elif raw:
        out.rejected.append(f"{path}:{len(raw)}: the last line has no newline (a truncated file?)")
        raw.pop()
    for i, line in enumerate(raw, 1):
        where = f"{path}:{i}"
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            out.rejected.append(f"{where}: not JSON ({e.msg} at column {e.colno})")
            continue
        except (ValueError, RecursionError) as e:  # a 5000-digit number, nesting deeper than the parser goes
            out.rejected.append(f"{where}: not readable JSON ({str(e) or type(e).__name__})")
            continue
        why = _check(row, where) or _schema(row, where)
        if why is None:
            for key in ("board", "runtime", "unit"):
                want = getattr(out, key)
                if want is None:
                    setattr(out, key, row[key])
                    out.provenance.setdefault(f"{key}_from", where)
                elif row[key] != want:
                    why = f"{where}: {key} {row[key]!r} differs from {want!r}" + (
                        f" ({out.provenance[key + '_from']})" if key + "_from" in out.provenance else " (asked for)")
                    break
        if why is not None:
            out.rejected.append(why)
            if isinstance(row, dict) and isinstance(row.get("bench"), str):
                bad_bench.setdefault(row["bench"], f"line {i}")
            continue
        if row["layer"] == RUN_ROW and not out.provenance.get("compiler"):
            out.provenance.update({k: row.get(k) for k in ("compiler", "cflags", "firmware", "date", "edgesnn_version",
                                                           "tick_hz", "runtime_sources")})
        row["_line"] = i
        run = out.runs.setdefault(row["bench"], {"layers": [], "run": None})
        lines_of.setdefault(row["bench"], []).append(i)
        if row["layer"] == RUN_ROW:
            if run["run"] is not None:
                out.rejected.append(f"{where}: a second (run) row for {row['bench']!r}")
                bad_bench.setdefault(row["bench"], f"line {i}")
            run["run"] = row
        else:
            run["layers"].append(row)
    for b in list(out.runs):
        run = out.runs[b]
        lines = lines_of[b]
        span = f"{path}:{lines[0]}-{lines[-1]}"
        if b in bad_bench:
            out.rejected.append(f"{span}: run {b!r} dropped: {bad_bench[b]} of it was rejected")
        elif run["run"] is None:
            out.rejected.append(f"{span}: run {b!r} has no (run) row (truncated?): dropped")
        elif abs(sum(r["measured"] for r in run["layers"]) - run["run"]["layers_measured"]) > 0.5:
            out.rejected.append(f"{span}: run {b!r}: its layer rows add up to "
                                f"{sum(r['measured'] for r in run['layers']):,.0f}, its (run) row says "
                                f"{run['run']['layers_measured']:,.0f} (a layer row missing or altered): dropped")
        else:
            run["lines"] = lines
            continue
        del out.runs[b]
    return out
