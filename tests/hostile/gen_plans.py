"""Seeded generator of hostile and careless quantized models, blobs, plans, calibrations and measurements
(issue #16), for tests/hostile/test_plans.py.

    cases = generate(out_dir, seed=0)     # writes the bad files into out_dir; returns the cases

Every case is one command line that must fail: exit status 1, one line "edgesnn CMD: error: MESSAGE", no
traceback, no output file. Its expectation is the exact MESSAGE (`message`), or where a seeded random mutation
makes the text depend on the mutation, the parity rule (`engines`: fixed-python and fixed-c give the same
message; `blob`: and the C loader itself refuses that blob too). The base artifacts are made here, from the
example digits MLP: its quantized graph (QGraph JSON), its blob, a plan for the default board (planned with
one candidate and no firmware build, about a second), the committed calibration of that board and its
measurements.

Blobs are mutated with the CRC fixed afterwards, so that the blob reaches the checks behind the CRC: every
parameter array of every node pushed out of its range (one value), the accumulator driven past int32 by a
bias, and seeded random byte, bit and field mutations of the model, node and edge records that the runtime
refuses.

Run as a script it writes the corpus and lists it:  python -m tests.hostile.gen_plans OUT_DIR
"""

from __future__ import annotations

import copy
import json
import re
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesnn.board import get_board
from edgesnn.calibrate.fit import MIN_BENCHMARKS
from edgesnn.data import load_dataset
from edgesnn.emit.blob import (_NODE, _MODEL, BlobError, NODE_BYTES, SEC_EDGES, SEC_MODEL, SEC_NODES, SEC_PARAMS,
                               from_blob, read_header, to_blob)
from edgesnn.graph import Graph
from edgesnn.graph.kinds import BY_CODE, PARAM_SLOTS
from edgesnn.plan import plan
from edgesnn.plan.search import field_digests
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.resources import CHECKOUT

ROOT = CHECKOUT if CHECKOUT is not None else Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits_mlp.json"
DATA = ROOT / "examples" / "data" / "digits_val.npz"
BOARD = "qemu-mps2-an386"
OTHER_BOARD = "qemu-mps2-an500"
CAL = ROOT / "calibration" / f"{BOARD}.json"
MEAS = ROOT / "calibration" / f"{BOARD}.measurements.jsonl"


@dataclass
class Case:
    id: str
    args: list[str]                   # the command line after `edgesnn`
    message: str | None = None        # the exact text after "edgesnn CMD: error: "
    pattern: str | None = None        # else a regular expression it matches in full
    engines: bool = False             # run with --engine fixed-python and fixed-c: the same message
    blob: str | None = None           # the blob the C loader must refuse too
    outputs: list[str] = field(default_factory=list)   # must not exist afterwards

    @property
    def command(self) -> str:
        return self.args[0]


def _crc(b: bytearray) -> bytes:
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[16:])))
    return bytes(b)


def _records(blob: bytes):
    """(node name, kind, [(slot, offset, count, bits, mode)]) per node, and the section table."""
    h = read_header(blob)
    sec = h["sections"]
    n = _MODEL.unpack_from(blob, sec[SEC_MODEL][0])[0]
    names = json.loads(blob[sec[5][0]:sec[5][0] + sec[5][1]])["names"]
    out = []
    for k in range(n):
        f = _NODE.unpack_from(blob, sec[SEC_NODES][0] + k * NODE_BYTES)
        refs = [(slot, *f[33 + 5 * i:37 + 5 * i]) for i, slot in enumerate(PARAM_SLOTS) if f[34 + 5 * i]]
        out.append((names[k], BY_CODE[f[0]].name, refs))
    return out, sec


def base_artifacts(out: Path) -> dict:
    """The digits MLP quantized (5-bit weights: stored at 8 bits, so a stored weight can leave the range),
    its blob, inputs, a plan for BOARD; paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    g = Graph.load(MODEL)
    x, y = load_dataset(DATA)
    q = quantize(g, QuantConfig(weight_bits=5, state_bits=16), x[:32])
    paths = {"qgraph": out / "mlp.q.json", "blob": out / "mlp.blob", "inputs": out / "x.npy",
             "plan": out / "plan.json"}
    q.save(paths["qgraph"])
    paths["blob"].write_bytes(to_blob(q))
    np.save(paths["inputs"], x[:2])
    p = plan(g, get_board(BOARD), x[:40], y[:40], max_drop=0.05, configs=[QuantConfig(weight_bits=8)], workers=1,
             sensitivity=False, measure=False)
    p.save(paths["plan"])
    return paths


# ----------------------------------------------------------------------------------------------
# blobs

def _range_of(slot: str, cfg: QuantConfig) -> tuple[int, int] | None:
    smax = (1 << (cfg.state_bits - 1)) - 1
    one = 1 << cfg.decay_bits
    return {"threshold": (1, smax), "v_reset": (-smax - 1, smax), "alpha": (0, one), "alpha_syn": (0, one),
            "rho": (0, one), "b0": (1, smax), "eta_inc": (0, 1 << cfg.adapt_bits)}.get(slot)


def blob_cases(paths: dict, out: Path, rng: np.random.Generator) -> list[Case]:
    base = paths["blob"].read_bytes()
    cfg = from_blob(base).config
    recs, sec = _records(base)
    cases: list[Case] = []

    def add(cid: str, data: bytes, message: str | None):
        f = out / f"{cid}.blob"
        f.write_bytes(data)
        o = out / f"{cid}.npz"
        full = None if message is None else f"{f}: {message}"
        cases.append(Case(cid, ["simulate", str(f), "--inputs", str(paths["inputs"]), "-o", str(o)], full,
                          engines=True, blob=str(f), outputs=[str(o)]))

    wmax = (1 << (cfg.weight_bits - 1)) - 1
    for name, kind, refs in recs:
        for slot, off, cnt, bits, mode in refs:
            fmt = {8: "<b", 16: "<h", 32: "<i"}[bits]
            if slot == "weight":
                for v in (wmax + 1, -wmax - 2):
                    b = bytearray(base)
                    struct.pack_into(fmt, b, off + int(rng.integers(0, cnt)) * bits // 8, v)
                    add(f"blob-{name}-weight-{v}", _crc(b),
                        f"node {name!r} ({kind}): weight (weight_bits = {cfg.weight_bits}) holds {v}, "
                        f"outside [{-wmax - 1}, {wmax}]")
                continue
            lim = _range_of(slot, cfg)
            if lim is None:  # bias: bounded only through the accumulator, which int32 can take past int32
                if bits == 32:
                    b = bytearray(base)
                    struct.pack_into(fmt, b, off, 2 ** 31 - 1)
                    add(f"blob-{name}-{slot}-max", _crc(b), None)
                continue
            lo, hi = lim
            for v in (hi + 1, lo - 1):
                if not -(1 << (bits - 1)) <= v < 1 << (bits - 1):
                    continue  # the stored width cannot hold it
                b = bytearray(base)
                struct.pack_into(fmt, b, off + int(rng.integers(0, cnt)) * bits // 8, v)
                add(f"blob-{name}-{slot}-{v}", _crc(b),
                    f"node {name!r} ({kind}): parameter {slot!r} holds {v}, outside [{lo}, {hi}]")
    # seeded random mutations of the records behind the CRC, kept where the Python reader refuses them
    lo, hi = sec[SEC_MODEL][0], sec[SEC_PARAMS][0]
    values32 = [0, 1, 2, 3, 8, 255, 256, 65535, 65837, 1 << 26, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
    kept, tries = 0, 0
    while kept < 80 and tries < 2000:
        tries += 1
        b = bytearray(base)
        pos = int(rng.integers(lo, hi))
        how = int(rng.integers(0, 3))
        if how == 0:
            b[pos] ^= 1 << int(rng.integers(0, 8))
        elif how == 1:
            b[pos] = int(rng.integers(0, 256))
        else:
            pos -= pos % 4
            struct.pack_into("<I", b, pos, int(rng.choice(values32)))
        data = _crc(b)
        try:
            from_blob(data)
        except BlobError:
            where = "model" if pos < sec[SEC_NODES][0] else "node" if pos < sec[SEC_EDGES][0] else "edge"
            add(f"blob-random-{kept:02d}-{where}-{pos}", data, None)
            kept += 1
    return cases


# ----------------------------------------------------------------------------------------------
# quantized graphs

def qgraph_cases(paths: dict, out: Path) -> list[Case]:
    base = json.loads(paths["qgraph"].read_text())
    cases = []

    def add(cid: str, mutate, message: str, engines: bool = True):
        d = copy.deepcopy(base)
        mutate(d)
        f = out / f"{cid}.json"
        f.write_text(json.dumps(d))
        o = out / f"{cid}.npz"
        cases.append(Case(cid, ["simulate", str(f), "--inputs", str(paths["inputs"]), "-o", str(o)],
                          f"{f}: {message}".replace("{f}", str(f)), engines=engines, outputs=[str(o)]))
        c = out / f"{cid}-compiled"
        cases.append(Case(cid + "-compile", ["compile", str(f), "-o", str(c)], f"{f}: {message}".replace("{f}", str(f)),
                          outputs=[str(c)]))

    def set_param(layer: str, slot: str, value: int, index: int = 0):
        return lambda d: _set_b64(d["layers"][layer]["params"][slot], index, value)

    if base["layers"]["lif1"]["params"]["threshold"]["dtype"] == "int32":  # the flipped bit 16
        add("qgraph-threshold-65837", set_param("lif1", "threshold", 65837),
            "node 'lif1' (LIF): parameter 'threshold' holds 65837, outside [1, 32767]")
    add("qgraph-threshold-zero", set_param("lif1", "threshold", 0),
        "node 'lif1' (LIF): parameter 'threshold' holds 0, outside [1, 32767]")
    add("qgraph-threshold-negative", set_param("lif1", "threshold", -5),
        "node 'lif1' (LIF): parameter 'threshold' holds -5, outside [1, 32767]")
    add("qgraph-alpha-above-one", set_param("lif2", "alpha", 5000),
        "node 'lif2' (LIF): parameter 'alpha' holds 5000, outside [0, 4096]")
    add("qgraph-weight-out-of-range", set_param("fc1", "weight", 100),
        "node 'fc1' (Affine): weight (weight_bits = 5) holds 100, outside [-16, 15]")
    add("qgraph-weight-bits-string", lambda d: d["config"].update(weight_bits="8"),
        "config.weight_bits: '8' is not of type 'integer'")
    add("qgraph-weight-bits-bool", lambda d: d["config"].update(weight_bits=True),
        "config.weight_bits: True is not of type 'integer'")
    add("qgraph-weight-bits-float", lambda d: d["config"].update(weight_bits=5.5),
        "config.weight_bits: 5.5 is not of type 'integer'")
    add("qgraph-rounding-unknown", lambda d: d["config"].update(rounding="fastest"),
        "config.rounding: 'fastest' is not one of ['truncate', 'nearest', 'stochastic']")
    add("qgraph-config-unknown-field", lambda d: d["config"].update(turbo=1),
        "config: Additional properties are not allowed ('turbo' was unexpected)")
    add("qgraph-exit-huge", lambda d: d.update(exit={"threshold_q8": 2 ** 40, "beta_q16": 65536}),
        "exit.threshold_q8: 1099511627776 is greater than the maximum of 2147483647")
    add("qgraph-exit-no-beta", lambda d: d.update(exit={"threshold_q8": 100}),
        "exit: 'beta_q16' is a required property")
    add("qgraph-param-float", lambda d: d["layers"]["fc1"]["params"]["weight"].update(dtype="float32"),
        "layers.fc1.params.weight.dtype: 'float32' is not one of ['int8', 'int16', 'int32', 'int64', 'uint8', "
        "'uint16', 'uint32']")
    add("qgraph-param-unknown-slot", lambda d: d["layers"]["fc1"]["params"].update(
        gain=d["layers"]["fc1"]["params"]["weight"]), "layers.fc1.params: 'gain' is not one of ['weight', 'bias', "
        "'threshold', 'v_reset', 'alpha', 'alpha_syn', 'cur_mult', 'rho', 'b0', 'beta', 'eta_inc']")
    add("qgraph-max-in-bool", lambda d: d["layers"]["fc1"].update(max_in=True),
        "layers.fc1.max_in: True is not of type 'integer'")
    add("qgraph-layers-list", lambda d: d.update(layers=[]), "layers: [] is not of type 'object'")
    add("qgraph-into-unknown", lambda d: d["layers"]["fc1"].update(into="w"),
        "layers.fc1.into: 'w' is not one of ['v', 'i']")
    add("qgraph-scale-string", lambda d: d["layers"]["fc1"]["scales"].update(out="1"),
        "layers.fc1.scales.out: '1' is not of type 'number'")
    add("qgraph-shape-huge", lambda d: d["layers"]["fc1"]["params"]["weight"].update(shape=[2 ** 31, 2 ** 31]),
        "layers.fc1.params.weight.shape[0]: 2147483648 is greater than the maximum of 67108864")
    # the accumulator: inputs reach 255 per step, so one step's input to fc1 can reach 255 x the largest sum of
    # |w| an output reads, plus the bias; a bias of 2^31 - 1 takes it past int32
    w = _array(base["layers"]["fc1"]["params"]["weight"]).astype(np.int64)
    reach = 255 * int(np.abs(w).sum(axis=1).max()) + 2 ** 31 - 1
    nb = _array(base["layers"]["fc1"]["params"]["bias"]).size
    add("qgraph-bias-overflow", lambda d: d["layers"]["fc1"]["params"].update(bias=_encoded(np.full(nb, 2 ** 31 - 1))),
        f"node 'fc1' (Affine): one step's input could reach {reach}, beyond int32 (use fewer weight bits or a "
        "coarser state)")
    return cases


# ----------------------------------------------------------------------------------------------
# plans

def plan_cases(paths: dict, out: Path) -> list[Case]:
    base = json.loads(paths["plan"].read_text())
    x = str(paths["inputs"])
    cases = []

    def write(cid: str, mutate, refresh: bool) -> Path:
        d = copy.deepcopy(base)
        mutate(d)
        if refresh:  # a deliberate edit that also rewrites the plan's record of itself
            d["record"] = {"sha256": field_digests({k: v for k, v in d.items() if k != "record"})}
        f = out / f"{cid}.json"
        f.write_text(json.dumps(d))
        return f

    def add(cid: str, mutate, message: str, *, refresh: bool = False, commands=("simulate", "compile", "info")):
        f = write(cid, mutate, refresh)
        msg = message.replace("{f}", str(f))
        for cmd in commands:
            o = out / f"{cid}-{cmd}.out"
            if cmd == "simulate":
                cases.append(Case(f"{cid}-simulate", ["simulate", str(f), "--inputs", x, "-o", str(o)], msg,
                                  engines=True, outputs=[str(o)]))
            elif cmd == "compile":
                cases.append(Case(f"{cid}-compile", ["compile", str(f), "-o", str(o)], msg, outputs=[str(o)]))
            elif cmd == "info":
                cases.append(Case(f"{cid}-info", ["info", str(f)], msg))
            elif cmd == "run":
                cases.append(Case(f"{cid}-run", ["run", str(f), "--inputs", x, "-o", str(o)], msg, outputs=[str(o)]))
            elif cmd == "run-other":
                cases.append(Case(f"{cid}-run-other", ["run", str(f), "--board", OTHER_BOARD, "--inputs", x, "-o",
                                                       str(o)], msg, outputs=[str(o)]))
            elif cmd == "profile-other":
                cases.append(Case(f"{cid}-profile-other", ["profile", str(f), "--board", OTHER_BOARD, "--inputs", x,
                                                           "-o", str(o)], msg, outputs=[str(o)]))

    schema = ("simulate", "compile", "info", "run")
    add("plan-schedule-warp", lambda d: d.update(schedule="warp-speed"),
        "{f}: schedule: 'warp-speed' is not one of ['time-step-major', 'fused', 'layer-major']", commands=schema)
    add("plan-schedule-number", lambda d: d.update(schedule=5),
        "{f}: schedule: 5 is not one of ['time-step-major', 'fused', 'layer-major']", commands=schema)
    add("plan-schedule-null", lambda d: d.update(schedule=None),
        "{f}: schedule: None is not one of ['time-step-major', 'fused', 'layer-major']")
    add("plan-accuracy-string", lambda d: d.update(accuracy="high"), "{f}: accuracy: 'high' is not of type 'number'")
    add("plan-accuracy-list", lambda d: d.update(accuracy=[0.9]), "{f}: accuracy: [0.9] is not of type 'number'")
    add("plan-accuracy-above-one", lambda d: d.update(accuracy=1.5),
        "{f}: accuracy: 1.5 is greater than the maximum of 1")
    add("plan-board-list", lambda d: d.update(board=["x"]), "{f}: board: ['x'] is not of type 'string'")
    add("plan-board-empty", lambda d: d.update(board=""), "{f}: board: '' should be non-empty")
    add("plan-searched-float", lambda d: d.update(searched=1.5), "{f}: searched: 1.5 is not of type 'integer'")
    add("plan-exit-no-beta", lambda d: d["exit"].pop("beta_q16"), "{f}: exit: 'beta_q16' is a required property",
        commands=schema)
    add("plan-exit-huge-threshold", lambda d: d["exit"].update(threshold_q8=2 ** 40),
        "{f}: exit.threshold_q8: 1099511627776 is greater than the maximum of 2147483647", commands=schema)
    add("plan-exit-threshold-string", lambda d: d["exit"].update(threshold_q8="164"),
        "{f}: exit.threshold_q8: '164' is not valid under any of the given schemas")
    add("plan-exit-beta-zero", lambda d: d["exit"].update(beta_q16=0),
        "{f}: exit.beta_q16: 0 is less than the minimum of 1")
    add("plan-layer-major-no-steps", lambda d: (d.update(schedule="layer-major"), d["data"].pop("steps")),
        "{f}: data: 'steps' is a required property", commands=schema)
    add("plan-steps-zero", lambda d: d["data"].update(steps=0), "{f}: data.steps: 0 is less than the minimum of 1")
    add("plan-steps-string", lambda d: d["data"].update(steps="16"),
        "{f}: data.steps: '16' is not of type 'integer'")
    add("plan-placement-missing-arena", lambda d: d["placement"].pop("arena"),
        "{f}: placement: 'arena' is a required property")
    add("plan-placement-arena-number", lambda d: d["placement"].update(arena=1),
        "{f}: placement.arena: 1 is not of type 'string'")
    add("plan-objective-unknown", lambda d: d.update(objective="beauty"),
        "{f}: objective: 'beauty' is not one of ['energy', 'latency', 'flash', 'sram', 'edp']")
    add("plan-quant-config-string", lambda d: d["quant_config"].update(weight_bits="8"),
        "{f}: quant_config.weight_bits: '8' is not of type 'integer'")
    add("plan-qgraph-list", lambda d: d.update(qgraph=[]), "{f}: qgraph: [] is not of type 'object'")
    add("plan-no-record", lambda d: d.pop("record"), "{f}: no record of its fields (written before plans were "
        "checked, or the record was removed): plan again")
    add("plan-record-string", lambda d: d.update(record="trust me"), "{f}: record: 'trust me' is not of type 'object'")
    add("plan-unknown-field", lambda d: d.update(turbo=True),
        "{f}: (top level): Additional properties are not allowed ('turbo' was unexpected)")
    add("plan-notes-string", lambda d: d.update(notes="fine"), "{f}: notes: 'fine' is not of type 'array'")
    # visible fields against the embedded quantized graph
    thr = base["exit"]["threshold_q8"]
    add("plan-exit-threshold-edited", lambda d: d["exit"].update(threshold_q8=thr + 1),
        f"{{f}}: exit.threshold_q8 is {thr + 1} but the plan's quantized model exits with {thr}; a plan is not "
        "edited: plan again (or give the exit to `edgesnn simulate|compile|run` as --exit-confidence on the model)",
        commands=schema)
    beta = base["exit"]["beta_q16"]
    add("plan-exit-beta-edited", lambda d: d["exit"].update(beta_q16=beta * 2),
        f"{{f}}: exit.beta_q16 is {beta * 2} but the plan's quantized model exits with {beta}; a plan is not "
        "edited: plan again (or give the exit to `edgesnn simulate|compile|run` as --exit-confidence on the model)")
    wb = base["quant_config"]["weight_bits"]
    add("plan-weight-bits-edited", lambda d: d["quant_config"].update(weight_bits=4),
        f"{{f}}: quant_config.weight_bits is 4 but the plan's quantized model has {wb}; a plan is not edited: plan "
        "again", commands=schema)
    add("plan-rounding-edited", lambda d: d["quant_config"].update(rounding="truncate"),
        f"{{f}}: quant_config.rounding is 'truncate' but the plan's quantized model has "
        f"{base['quant_config']['rounding']!r}; a plan is not edited: plan again")
    add("plan-exit-confidence-edited", lambda d: d["exit_confidence"].update(confidence=0.5),
        "{f}: exit_confidence " + repr({**base["exit_confidence"], "confidence": 0.5}) + " is not the plan's exit ("
        + repr(base["exit_confidence"]) + "); a plan is not edited: plan again")
    # every other field against the plan's record of it
    for fld, mutate in (("accuracy", lambda d: d.update(accuracy=0.99)),
                        ("float_accuracy", lambda d: d.update(float_accuracy=0.5)),
                        ("cost", lambda d: d["cost"]["totals"].update(energy_j=0.0)),
                        ("front", lambda d: d.update(front=[])),
                        ("target", lambda d: d["target"].update(accuracy=0.5)),
                        ("notes", lambda d: d.update(notes=[])),
                        ("board", lambda d: d.update(board=OTHER_BOARD)),
                        ("placement", lambda d: d["placement"].update(arena="flash")),
                        ("search_space", lambda d: d.update(search_space={}))):
        add(f"plan-edited-{fld}", mutate, f"{{f}}: field {fld!r} differs from the plan's record of it: edited after "
            "planning; a plan is a result, not a settings file: plan again",
            commands=("simulate", "compile", "run") if fld in ("accuracy", "placement", "board") else ("compile",))
    add("plan-grouped-schedule-with-exit", lambda d: d.update(schedule="fused"),
        "{f}: schedule 'fused' with an early exit: only time-step-major runs the exit", commands=schema)
    # the embedded quantized graph, checked as the runtime checks it
    add("plan-qgraph-threshold", lambda d: _set_b64(d["qgraph"]["layers"]["lif1"]["params"]["threshold"], 0, -3),
        "{f}: qgraph: node 'lif1' (LIF): parameter 'threshold' holds -3, outside [1, " +
        str((1 << (base["quant_config"]["state_bits"] - 1)) - 1) + "]", commands=schema)
    # deployment: the board and the placement (the record rewritten: a deliberate edit)
    add("plan-arena-in-flash", lambda d: d["placement"].update(arena="flash"),
        f"placement.arena 'flash': not a RAM region of {BOARD} (the arena is written every step; its RAM regions: "
        "sram)", refresh=True, commands=("run",))
    add("plan-arena-unknown-region", lambda d: d["placement"].update(arena="dtcm"),
        f"placement.arena 'dtcm': not a RAM region of {BOARD} (the arena is written every step; its RAM regions: "
        "sram)", refresh=True, commands=("run",))
    add("plan-weights-in-sram", lambda d: d["placement"].update(weights="sram"),
        f"placement.weights 'sram': the weights are the firmware's const tables, in {BOARD}'s code region 'flash'",
        refresh=True, commands=("run",))
    mismatch = (f"the plan was made for board {BOARD!r}, not {OTHER_BOARD!r} (--board): its fit, costs and "
                f"placement are {BOARD}'s; leave --board out, or plan again with --board {OTHER_BOARD}")
    add("plan-other-board", lambda d: None, mismatch, commands=("run-other", "profile-other"))
    f = write("plan-for-unknown-board", lambda d: d.update(board="qemu-nonesuch"), refresh=True)
    o = out / "plan-for-unknown-board.npz"
    cases.append(Case("plan-for-unknown-board-run", ["run", str(f), "--inputs", x, "-o", str(o)],
                      pattern=r"no board 'qemu-nonesuch' in .*", outputs=[str(o)]))
    return cases


def _array(arr: dict) -> np.ndarray:
    import base64
    a = np.frombuffer(base64.b64decode(arr["b64"]), dtype=np.dtype(arr["dtype"]).newbyteorder("<"))
    return a.reshape(arr["shape"])


def _encoded(a: np.ndarray) -> dict:
    import base64
    a = np.asarray(a, "<i4")
    return {"dtype": "int32", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def _set_b64(arr: dict, index: int, value: int) -> None:
    import base64
    a = np.frombuffer(base64.b64decode(arr["b64"]), dtype=np.dtype(arr["dtype"])).copy()
    a.reshape(-1)[index] = value
    arr["b64"] = base64.b64encode(a.astype(np.dtype(arr["dtype"]).newbyteorder("<")).tobytes()).decode()


# ----------------------------------------------------------------------------------------------
# calibrations and measurements

def calibration_cases(paths: dict, out: Path) -> list[Case]:
    base = json.loads(CAL.read_text())
    key = sorted(base["coefficients"])[0]
    x = str(paths["inputs"])
    cases = []

    def add(cid: str, text: str | bytes, message: str, pattern: str | None = None):
        f = out / f"{cid}.json"
        f.write_bytes(text if isinstance(text, bytes) else text.encode())
        o = out / f"{cid}.profile.json"
        cases.append(Case(cid, ["profile", str(paths["qgraph"]), "--board", BOARD, "--inputs", x, "--calibration",
                                str(f), "-o", str(o)], None if pattern else message.replace("{f}", str(f)),
                          pattern=pattern and re.escape(str(f)) + pattern, outputs=[str(o)]))

    def mutated(mutate) -> str:
        d = copy.deepcopy(base)
        mutate(d)
        return json.dumps(d)

    bad = "{f}: coefficient " + repr(key) + " needs a non-negative 'value' and a 'source'"
    add("cal-value-string", mutated(lambda d: d["coefficients"][key].update(value="fast")), bad)
    add("cal-value-negative", mutated(lambda d: d["coefficients"][key].update(value=-1)), bad)
    add("cal-value-bool", mutated(lambda d: d["coefficients"][key].update(value=True)), bad)
    add("cal-value-nan", mutated(lambda d: d["coefficients"][key].update(value=float("nan"))), bad)
    add("cal-value-infinite", mutated(lambda d: d["coefficients"][key].update(value=float("inf"))), bad)
    add("cal-value-missing", mutated(lambda d: d["coefficients"][key].pop("value")), bad)
    add("cal-source-number", mutated(lambda d: d["coefficients"][key].update(source=5)),
        f"{{f}}: coefficients.{key}.source: 5 is not of type 'string'")
    add("cal-other-board", mutated(lambda d: d.update(board=OTHER_BOARD)),
        f"{{f}}: a calibration of board {OTHER_BOARD!r}, not {BOARD!r}: its coefficients were fitted on that "
        "board's measurements")
    add("cal-board-number", mutated(lambda d: d.update(board=7)), "{f}: board: 7 is not of type 'string'")
    add("cal-id-list", mutated(lambda d: d.update(id=["x"])), "{f}: id: ['x'] is not of type 'string'")
    add("cal-nan-in-fit", mutated(lambda d: d.update(fit={"error": float("nan")})), "{f}: fit.error: not a finite "
        "number")
    add("cal-coefficients-list", mutated(lambda d: d.update(coefficients=[])),
        "{f}: not an edgesnn calibration file (need 'artifact': 'calibration' and 'coefficients': {name: {value, "
        "source}})")
    add("cal-not-json", "{\"artifact\": ", "{f}: cannot read the calibration file (Expecting value: line 1 column 14 "
        "(char 13))")
    add("cal-not-utf8", b"\xff\xfe\xfd{}", "", r": cannot read the calibration file \(.+\)")
    add("cal-deep", "[" * 100000 + "]" * 100000, "", r": cannot read the calibration file \(.*\)")
    add("cal-huge-int", "{\"artifact\": \"calibration\", \"coefficients\": {\"a\": {\"value\": " + "9" * 5000 + "}}}",
        "", r": cannot read the calibration file \(.*(digits|integer).*\)")
    return cases


def measurement_rows() -> list[dict]:
    """The committed measurements of BOARD, first benchmark runs only (whole runs: layers then the (run) row)."""
    rows = [json.loads(line) for line in MEAS.read_text().splitlines()[:60]]
    last_run = max(i for i, r in enumerate(rows) if r["layer"] == "(run)")
    return rows[:last_run + 1]


MEASUREMENT_MUTATIONS = {
    # id: (row index or None for every row, mutation of a row, expected rejection after "FILE:LINE: ")
    "meas-measured-string": (0, lambda r: r.update(measured="lots"), "field 'measured' has type str"),
    "meas-measured-nan": (0, lambda r: r.update(measured=float("nan")), "'measured' = nan must be finite and "
                                                                         "non-negative"),
    "meas-count-negative": (0, lambda r: r["counts"].update(synops=-1), "counts['synops'] = -1 must be a "
                                                                         "non-negative number"),
    "meas-other-count-string": (0, lambda r: r["counts"].update(param_bytes_read="x"),
                                "counts.param_bytes_read: 'x' is not of type 'number'"),
    "meas-other-count-infinite": (0, lambda r: r["counts"].update(param_bytes_read=float("inf")),
                                  "counts.param_bytes_read: not a finite number"),
    "meas-info-in-size-string": (0, lambda r: r["info"].update(in_size="4"), "info.in_size: '4' is not of type "
                                                                              "'integer'"),
    "meas-info-bias-number": (0, lambda r: r["info"].update(bias=1), "info.bias: 1 is not of type 'boolean'"),
    "meas-version": (0, lambda r: r.update(v=2), "row format v2, this edgesnn reads v1"),
    "meas-board-list": (0, lambda r: r.update(board=["x"]), "field 'board' has type list"),
    "meas-steps-float": (0, lambda r: r.update(steps=4.5), "steps: 4.5 is not of type 'integer'"),
    "meas-family-unknown": (0, lambda r: r["info"].update(family="xyz"),
                            "info.family: 'xyz' is not one of ['affine', 'alif', 'conv', 'cubali', 'cubalif', 'if', "
                            "'li', 'lif', 'pool', 'scale', 'threshold']"),
    "meas-reset-unknown": (1, lambda r: r["info"].update(reset="sideways"),
                           "info.reset: 'sideways' is not one of ['zero', 'value', 'subtract', 'subtract_late']"),
    "meas-weight-bits-3": (0, lambda r: r["info"].update(weight_bits=3), "info.weight_bits: 3 is not one of "
                                                                          "[1, 2, 4, 8, 16]"),
    "meas-edges-zero": (0, lambda r: r["info"].update(edges=0), "info.edges: 0 is less than the minimum of 1"),
}


def measurement_cases(out: Path) -> list[Case]:
    """Files whose every benchmark run has a rejected row: `calibrate --refit` has nothing to fit, and says so
    in one line; the rejections themselves are checked by test_plans.py through measure.load."""
    rows = measurement_rows()
    cases = []
    for cid, (_, mutate, _why) in MEASUREMENT_MUTATIONS.items():
        bad = copy.deepcopy(rows)
        for r in bad:
            if r["layer"] != "(run)":
                mutate(r)
        f = out / f"{cid}.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in bad))
        o = out / f"{cid}.cal.json"
        n = len(bad) - sum(r["layer"] == "(run)" for r in bad)
        runs = len({r["bench"] for r in bad})
        cases.append(Case(cid, ["calibrate", "--board", BOARD, "--refit", str(f), "--no-held-out", "-o", str(o)],
                          f"{f}: too few points to fit: 0 usable benchmark runs, at least {MIN_BENCHMARKS} needed "
                          f"({n + runs} rows rejected)", outputs=[str(o)]))
    return cases


# ----------------------------------------------------------------------------------------------
# output paths and board files

def output_cases(paths: dict, out: Path) -> list[Case]:
    folder = out / "existing-folder"
    folder.mkdir(exist_ok=True)
    afile = out / "a-file.txt"
    afile.write_text("x")
    x, q, p = str(paths["inputs"]), str(paths["qgraph"]), str(paths["plan"])
    under = afile / "out.npz"
    return [
        Case("out-simulate-folder", ["simulate", q, "--engine", "fixed-python", "--inputs", x, "-o", str(folder)],
             f"-o {folder}: is a folder; give a file name"),
        Case("out-simulate-under-file", ["simulate", q, "--engine", "fixed-c", "--inputs", x, "-o", str(under)],
             f"-o {under}: {afile} is a file, not a folder"),
        Case("out-run-folder", ["run", p, "--inputs", x, "-o", str(folder)],
             f"-o {folder}: is a folder; give a file name"),
        Case("out-profile-folder", ["profile", q, "--inputs", x, "-o", str(folder)],
             f"-o {folder}: is a folder; give a file name"),
        Case("out-plan-folder", ["plan", str(MODEL), "--data", str(DATA), "-o", str(folder)],
             f"-o {folder}: is a folder; give a file name"),
        Case("out-import-under-file", ["import", str(ROOT / "examples" / "models" / "digits_mlp.nir"), "-o",
                                       str(afile / "m.json")],
             f"-o {afile / 'm.json'}: {afile} is a file, not a folder"),
        Case("out-compile-file", ["compile", q, "-o", str(afile)], f"{afile}: exists and is not a folder"),
        Case("out-calibrate-folder", ["calibrate", "--board", BOARD, "--refit", str(MEAS), "-o", str(folder)],
             f"-o {folder}: is a folder; give a file name"),
    ]


def board_cases(out: Path) -> list[Case]:
    src = get_board(BOARD).path.read_text()
    cases = []
    for v in (64, 71):
        f = out / "boards" / f"payload-{v}" / f"{BOARD}.toml"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(src.replace("max_payload_bytes = 1_024", f"max_payload_bytes = {v}"))
        cases.append(Case(f"board-payload-{v}", ["boards", str(f)],
                          f"{f}: 1 problem:\n  - firmware.max_payload_bytes: must be >= 72, got {v}: a READ_COUNTERS "
                          "answer pages whole nodes, and one node's page takes 72 B (8 B header + 64 B of counters)"))
    return cases


def generate(out: str | Path, seed: int = 0) -> list[Case]:
    out = Path(out)
    rng = np.random.default_rng(seed)
    paths = base_artifacts(out)
    cases = (blob_cases(paths, out, rng) + qgraph_cases(paths, out) + plan_cases(paths, out)
             + calibration_cases(paths, out) + measurement_cases(out) + output_cases(paths, out) + board_cases(out))
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


if __name__ == "__main__":  # pragma: no cover
    for c in generate(sys.argv[1] if len(sys.argv) > 1 else "hostile-plans"):
        print(c.id, " ".join(c.args))
