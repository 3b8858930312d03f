"""Estimate vs measurement, layer by layer: the cost model beside what the device counted.

    p = profile(qgraph, x, board)          # runs x on the board (QEMU, or `port`), estimates on the host
    print(p.table())                       # per layer, (runtime), total: estimated, measured, error

Estimated: edgesnn.cost.estimate on the activity of the same inputs in the bit-exact host runtime
(run_c), so the counts are the device's and only the coefficients are on trial. Measured: per layer
the device's cycle counter (instructions under QEMU), the "(runtime)" row the whole run of every
esn_step call minus its layers, the total the whole run. All figures are means per input; the
estimated rows add up to the estimated total and the measured rows to the measured one.

held_out() runs the example models, which no calibration is fitted on, and reports the error of their
totals under two sets of coefficients (before and after calibration): each at the default precision and
at the packed one plans pick (PACKED: 4-bit weights, 8-bit state), whose kernels unpack two weights a byte.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tabulate import tabulate

from ..cost.model import RUNTIME_ROW, coefficients, estimate
from ..data import load_dataset
from ..device.qemu import BlockTrace, QemuTarget
from ..device.runner import DeviceModel, run_on_board
from ..errors import EdgesnnError
from ..firmware import cycles as C
from ..firmware.build import FirmwareTooLarge
from ..firmware.runtime import build_runtime_firmware
from ..progress import Progress
from ..resources import EXAMPLES, calibration_file
from ..runtime.binding import run_c
from ..runtime.engines import load_model, to_qgraph
from .measure import CYCLE_INPUTS, runtime_sources


@dataclass
class Profile:
    board: str
    model: str
    unit: str
    calibration: str
    inputs: int
    mean_steps: float
    rows: list[tuple[str, str, float, float]]   # (layer, kind, estimated, measured), (runtime) last
    total_estimated: float
    total_measured: float
    notes: list[str] = field(default_factory=list)
    # where the estimated column is instructions (an emulated board calibrated with estimated cycles): the
    # cost model's estimated cycles of each row (rows' order, (runtime) last) and in total
    model_cycles: list[float] | None = None

    @staticmethod
    def error(est: float, meas: float) -> float:
        return (est - meas) / meas if meas else float("nan")

    @property
    def total_error(self) -> float:
        return self.error(self.total_estimated, self.total_measured)

    def to_dict(self) -> dict:
        d = {"artifact": "profile", "board": self.board, "model": self.model, "unit": self.unit,
             "calibration": self.calibration, "inputs": self.inputs, "mean_steps": self.mean_steps,
             "rows": [{"layer": n, "kind": k, "estimated": e, "measured": m, "error": self.error(e, m)}
                      for n, k, e, m in self.rows],
             "total": {"estimated": self.total_estimated, "measured": self.total_measured,
                       "error": self.total_error}, "notes": self.notes}
        if self.model_cycles is not None:
            for row, c in zip(d["rows"], self.model_cycles):
                row["model_cycles"] = c
            d["total"]["model_cycles"] = float(sum(self.model_cycles))
        return d

    def table(self) -> str:
        u = self.unit
        body = [[n, k, f"{e:,.0f}", f"{m:,.0f}", f"{self.error(e, m):+.1%}"] for n, k, e, m in self.rows]
        body.append(["total", "", f"{self.total_estimated:,.0f}", f"{self.total_measured:,.0f}",
                     f"{self.total_error:+.1%}"])
        head = ["layer", "kind", f"estimated {u}", f"measured {u}", "error"]
        return (tabulate(body, head, tablefmt="simple_outline", disable_numparse=True)
                + f"\n{self.model} on {self.board}: means per input over {self.inputs} inputs "
                  f"({self.mean_steps:.1f} steps); calibration: {self.calibration}; measured (runtime) = whole run "
                  f"- layers, total = whole run (every esn_step call)")


def run_device(qgraph, x, board, *, port: str | None = None, boot_timeout: float | None = None):
    """(DeviceResult, host SimResult) of x: compiled in under QEMU (as deployed), the blob over `port`."""
    res, _ = run_on_board(board, qgraph, x, port=port, builtin=port is None, boot_timeout=boot_timeout)
    if res.run_cycles is None:
        raise EdgesnnError(f"{board.id}: the device reports no cycle counter; nothing to compare with")
    return res, run_c(qgraph, x)


HELD_OUT_CYCLE_STEPS = 8   # the held-out models' traced run: the first 8 steps of the first input


def run_device_cycles(qgraph, x, board, *, boot_timeout: float | None = None):
    """run_device under QEMU (compiled in), and in the same QEMU session one more run of x's first
    CYCLE_INPUTS input(s), first HELD_OUT_CYCLE_STEPS steps, with the block log on (runtime_ranges, QemuTarget.log): (DeviceResult of x, host
    SimResult of x, the traced inputs, their estimated cycles per input [edgesnn.firmware.cycles])."""
    fw = build_runtime_firmware(board, qgraph, builtin=True)
    code = C.disassemble(fw.elf)
    tmp = Path(tempfile.mkdtemp(prefix="edgesnn-cycles-"))
    try:
        os.chmod(tmp, 0o700)
        trace = BlockTrace(tmp / "blocks.log", C.runtime_ranges(code), paused=True)
        q = QemuTarget(board, fw.elf, boot_timeout=boot_timeout, trace=trace)
        q.start()
        try:
            dm = DeviceModel(q.link, qgraph, board, builtin=True)
            res = dm.run(x)
            xt = x[:CYCLE_INPUTS, :HELD_OUT_CYCLE_STEPS]
            q.log(True)
            dm.run(xt)
            q.log(False)
        except BaseException:
            q.kill()
            raise
        code_ = q.close()
        if code_ != 0:
            raise EdgesnnError(f"firmware exited with code {code_}, expected 0")
        est = C.estimate_blocks(code, C.read_blocks(trace.path), board.core, filtered=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    spans = C.input_spans(est)
    if len(spans) != len(xt):
        raise EdgesnnError(f"the block log holds {len(spans)} inputs (esn_reset calls {len(est.calls('esn_reset'))}, "
                           f"esn_step calls {len(est.calls('esn_step'))}, {len(est.pcs)} blocks), {len(xt)} were traced")
    per_input = np.asarray([sum(est.span(a, b)[1] for a, b in est.calls("esn_step", sp)) for sp in spans], float)
    return res, run_c(qgraph, x), xt, per_input


def compare(qgraph, res, host, board, coeffs, model: str = "model") -> Profile:
    """The Profile of one device run against the estimate under `coeffs`."""
    rep = estimate(qgraph, host, board, coeffs=coeffs)
    n = len(res.steps)
    # the device counted instructions (QEMU): set them beside the instruction fit's estimate where the
    # calibration has one (its `cycles` are then estimated cycles, compared with a traced run's: held_out)
    by_instr = res.unit == "instructions" and rep.instructions is not None

    def est(lc):
        return lc.instructions if by_instr else lc.cycles

    meas = {name: float(cs[res.unit].sum()) / n for name, cs in res.counts.items()}
    whole = float(res.run_cycles.sum()) / n
    rows = []
    for lc in rep.layers:
        if lc.name == RUNTIME_ROW:
            rows.append((lc.name, "time loop", est(lc), whole - sum(meas.values())))
        else:
            rows.append((lc.name, lc.kind, est(lc), meas[lc.name]))
    notes = []
    if not np.array_equal(res.steps, host.steps if host.steps is not None else res.steps):
        notes.append("the device ran other step counts than the host runtime: the runtimes differ")
    if coeffs.note:
        notes.append(coeffs.note)
    return Profile(board.id, model, res.unit, coeffs.calibration, n, float(res.steps.mean()), rows,
                   rep.instructions if by_instr else rep.cycles, whole, notes,
                   [lc.cycles for lc in rep.layers] if by_instr else None)


def profile(qgraph, x, board, *, coeffs=None, port: str | None = None, model: str = "model",
            boot_timeout: float | None = None) -> Profile:
    res, host = run_device(qgraph, x, board, port=port, boot_timeout=boot_timeout)
    return compare(qgraph, res, host, board, coeffs or coefficients(board), model)


def estimate_check(qgraph, x, board, *, model: str = "model", boot_timeout: float | None = None) -> dict:
    """A chosen plan's estimate checked on the device: `x` run on the board (QEMU: instructions), its
    total and worst layer against the cost model under the board's committed calibration (a plain dict for
    result files; issue #18's target is on these totals)."""
    p = profile(qgraph, x, board, model=model, boot_timeout=boot_timeout)
    return {"inputs": p.inputs, "unit": p.unit, "calibration": p.calibration, "estimated": p.total_estimated,
            "measured": p.total_measured, "error": p.total_error,
            "layer_error_worst": max((p.error(e, m) for _, _, e, m in p.rows), key=abs)}


def check_summary(checks: dict[str, list[float]]) -> list[list[str]]:
    """Table rows (board, plans, median |error|, worst error) of {board: [total errors of its plans]}."""
    rows = []
    for bid, errs in sorted(checks.items()):
        worst = max(errs, key=abs)
        rows.append([bid, str(len(errs)), f"{float(np.median(np.abs(errs))):.1%}", f"{worst:+.1%}"])
    return rows


def example_models() -> list[tuple[str, Path, Path]]:
    """(name, model file, its test data) of each example model (examples/models/results.json names the data)."""
    models = EXAMPLES / "models"
    recorded = {}
    if (models / "results.json").exists():
        recorded = json.loads((models / "results.json").read_text())
    out = []
    for p in sorted(models.glob("*.json")):
        if p.name == "results.json":
            continue
        rec = next((r for r in recorded.values() if isinstance(r, dict) and r.get("model") == p.name), None)
        data = EXAMPLES / "data" / (rec["test_data"] if rec and rec.get("test_data") else
                                    "digits_test_cnn.npz" if "cnn" in p.stem else "digits_test.npz")
        out.append((p.stem, p, data))
    return out


PACKED = {"weight_bits": 4, "state_bits": 8}   # the held-out models' second precision: what plans pick
# held out a third time with analog input (MODEL@a8): the pixel intensities direct-encoded (each input's spike rate
# over its steps, every step), int8, so that the multiply-accumulate terms are checked on models no fit saw
ANALOG_HELD_OUT = ("digits_mlp", "digits_cnn")
ANALOG = {"input_bits": 8}


def direct_encoded(x: np.ndarray) -> np.ndarray:
    """Rate-coded spike inputs [N, T, ...] as the analog intensities they code: each input's mean over its steps,
    repeated at every step."""
    return np.broadcast_to(x.mean(axis=1, keepdims=True, dtype=np.float64), x.shape).copy()


def held_out(board, coeff_sets: dict, *, port: str | None = None, inputs: int = 10,
             boot_timeout: float | None = None, cycles: bool = False) -> list[dict]:
    """Each example model run once on the board at the default quantization (as `edgesnn run MODEL.json`)
    and once at PACKED (named MODEL@w4s8), its total estimated under each of `coeff_sets`
    ({label: Coefficients}); a model that cannot fit the board is listed with why. cycles (emulated boards):
    also the estimated cycles of its first input(s), traced in the same session (run_device_cycles), against
    each set's cycles for those inputs: row["cycles"] = {"inputs", "traced": per input, label: {"estimated",
    "error"}}."""
    out = []
    precisions = (("", {}), (f"@w{PACKED['weight_bits']}s{PACKED['state_bits']}", PACKED), ("@a8", ANALOG))
    models = example_models()
    runs = {base: [p for p in precisions if p[1] is not ANALOG or base in ANALOG_HELD_OUT] for base, _, _ in models}
    with Progress(sum(map(len, runs.values())), "held-out models") as bar:
        for base, path, data in models:
            model = load_model(str(path))
            spikes, _ = load_dataset(data)
            spikes = spikes[:inputs].reshape(min(inputs, len(spikes)), spikes.shape[1], *model.input.shape)
            for suffix, quant in runs[base]:
                x = direct_encoded(spikes) if quant is ANALOG else spikes
                name, q = base + suffix, to_qgraph(model, calib=x if quant is ANALOG else None, **quant)
                try:
                    if cycles:
                        res, host, xt, traced = run_device_cycles(q, x, board, boot_timeout=boot_timeout)
                    else:
                        res, host = run_device(q, x, board, port=port, boot_timeout=boot_timeout)
                except FirmwareTooLarge as e:
                    out.append({"model": name, "skipped": e.regions})
                    bar.update()
                    continue
                row = {"model": name, "inputs": len(x), "measured": float(res.run_cycles.sum()) / len(x)}
                for label, c in coeff_sets.items():
                    p = compare(q, res, host, board, c, name)
                    row[label] = {"estimated": p.total_estimated, "error": p.total_error,
                                  "layer_error_worst": max(abs(p.error(e, m)) for _, _, e, m in p.rows)}
                if cycles:
                    t = float(traced.mean())
                    hc = run_c(q, xt)
                    row["cycles"] = {"inputs": len(xt), "traced": t}
                    for label, c in coeff_sets.items():
                        e = estimate(q, hc, board, coeffs=c).cycles
                        row["cycles"][label] = {"estimated": e, "error": (e - t) / t if t else float("nan"),
                                                "unit": c.unit}
                out.append(row)
                bar.update()
    return out


def summary(rows: list[dict], label: str, cycles: bool = False) -> dict:
    """Median and worst |error| of the rows' totals under `label` (cycles: of their estimated cycles)."""
    errs = [abs((r["cycles"] if cycles else r)[label]["error"]) for r in rows
            if label in (r.get("cycles", {}) if cycles else r)]
    if not errs:
        return {"models": 0}
    return {"models": len(errs), "median_error": float(np.median(errs)), "worst_error": float(max(errs))}


def stale_calibration(board, path=None) -> str | None:
    """A warning when the board's calibration was measured on other runtime sources than these."""
    p = Path(path) if path else calibration_file(board.id)
    if not p.exists():
        return None
    try:
        was = json.loads(p.read_text()).get("provenance", {}).get("runtime_sources")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    now = runtime_sources(board)
    if was and was != now:
        return (f"{p} was measured on runtime sources {was}, these are {now}: the runtime changed since; "
                f"re-run `edgesnn calibrate --board {board.id}` (or `make calibrate`)")
    return None
