"""Generates the hostile model files of the corpus (issue #16): bad model JSON, NIR files and input arrays,
each a mutation of a real example file, with the one error line each must give.

    python tests/hostile/gen_models.py OUT_DIR     # writes the files and OUT_DIR/cases.json, prints the count

Seeded (SEED): the same cases, files and expectations on every run. Each Case names its file, the commands
that read it (tests/hostile/test_models.py builds their command lines: a bad model goes where the model goes, a
bad array where the inputs go), and `expect`, a regular expression the message after "edgesnn CMD: error: "
must match in full. The mutations: type swaps of every scalar field of every node of the example models
(strings, floats, bools, lists, null where another type belongs), out-of-range numbers, huge sizes (shapes,
stored arrays, conv padding, a model's total), missing and unknown fields, cross references (edges to no node,
shapes that disagree), deep nesting, NaN/Infinity tokens, huge integers, truncated and non-JSON files; NIR
metadata, shapes, groups and parameters of the wrong type or beyond range, HDF5 datasets that claim more
than they hold; .npy/.npz headers that claim 36 TiB, object and structured dtypes, truncated data.

`needs` marks a case that a file this corpus does not own must fix first (the test xfails it, naming that file).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SEED = 16
MODELS = ("digits_mlp", "digits_cnn", "psdigits_alif", "seqdigits_lif")
LIMIT = "67,108,864"      # the default EDGESNN_MAX_ELEMENTS, as messages print it


@dataclass(frozen=True)
class Case:
    id: str
    file: str                      # the bad file, relative to the corpus folder
    commands: tuple[str, ...]      # info, simulate, compile, export, plan, run, import; inputs, labels, calib, data
    expect: str                    # regex (full match) of the message after "edgesnn CMD: error: "
    args: tuple[str, ...] = ()     # extra arguments (import: --dt, --dialect)
    needs: str = ""                # a fix outside the files this corpus covers, else ""


def _q(s: str) -> str:
    return re.escape(s)


class Gen:
    def __init__(self, out: Path):
        self.out = out
        self.cases: list[Case] = []
        self.rng = np.random.default_rng(SEED)

    def add(self, cid: str, name: str, data: bytes | str, commands, expect: str, *, args=(), needs=""):
        path = self.out / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        assert cid not in {c.id for c in self.cases}, cid
        self.cases.append(Case(cid, name, tuple(commands), expect.replace("{P}", _q(str(path))), tuple(args), needs))

    # -- model JSON ------------------------------------------------------------------------------
    def model(self, cid: str, base: str, mutate, expect: str, commands=("info",), *, raw=None, needs=""):
        d = json.loads((ROOT / "examples" / "models" / f"{base}.json").read_text())
        if mutate is not None:
            mutate(d)
        text = json.dumps(d, allow_nan=True) if raw is None else raw(json.dumps(d))
        self.add(cid, f"{cid}.json", text, commands, expect, needs=needs)


def _node(d: dict, name: str) -> dict:
    return next(n for n in d["nodes"] if n["name"] == name)


def _setter(name: str, key: str, value):
    return lambda d: _node(d, name).__setitem__(key, copy.deepcopy(value))


# Wrong values per field category, with the tail of the message each gives (jsonschema's wording).
BOOL_BAD = [("no", "'no' is not of type 'boolean'"), (1, "1 is not of type 'boolean'"),
            (None, "None is not of type 'boolean'"), ([True], r"\[True\] is not of type 'boolean'")]
ENUM_BAD = [(5, r"5 is not one of \[.*\]"), ("bogus", r"'bogus' is not one of \[.*\]"),
            (None, r"None is not one of \[.*\]"), (["subtract"], r"\['subtract'\] is not one of \[.*\]")]


def _int_bad(lo: int, hi: int):
    return [(2.5, "2.5 is not of type 'integer'"), ("3", "'3' is not of type 'integer'"),
            (True, "True is not of type 'integer'"), ([1], r"\[1\] is not of type 'integer'"),
            (None, "None is not of type 'integer'"), (10**6 + hi, f"{10**6 + hi} is greater than the maximum of {hi}"),
            (lo - 10**6, f"{lo - 10**6} is less than the minimum of {lo}")]


def _list_bad(key: str, lo: int):
    return [(None, "None is not of type 'array'"), (4, "4 is not of type 'array'"),
            ("x", "'x' is not of type 'array'"), ({"a": 1}, r"\{'a': 1\} is not of type 'array'"),
            ([4.9], rf"{key}\[0\]: 4.9 is not of type 'integer'"),
            ([[1]], rf"{key}\[0\]: \[1\] is not of type 'integer'"),
            ([], r"\[\] should be non-empty"), ([lo - 1], rf"{key}\[0\]: {lo - 1} is less than the minimum of {lo}")]


SCALARS = {"reset_late": BOOL_BAD, "syn_delay": BOOL_BAD, "reset": ENUM_BAD, "spike_rule": ENUM_BAD,
           "max_spikes": _int_bad(1, 255), "groups": _int_bad(1, 2**31 - 1), "start_dim": _int_bad(-9, 8),
           "end_dim": _int_bad(-9, 8), "shape": _list_bad("shape", 1), "stride": _list_bad("stride", 1),
           "padding": _list_bad("padding", 0), "dilation": _list_bad("dilation", 1),
           "kernel_size": _list_bad("kernel_size", 1)}


def gen_type_swaps(g: Gen) -> None:
    """Every scalar field of every node of the example models, given two wrong values drawn (seeded)."""
    for base in MODELS:
        d = json.loads((ROOT / "examples" / "models" / f"{base}.json").read_text())
        for n in d["nodes"]:
            for key in sorted(k for k in n if k in SCALARS):
                bad = SCALARS[key]
                for i in sorted(g.rng.choice(len(bad), size=2, replace=False)):
                    value, tail = bad[int(i)]
                    where = rf"{{P}}: node '{n['name']}' \({n['kind']}\): "
                    tail = tail if re.match(rf"{key}\\\[", tail) else f"{key}: {tail}"
                    if key in ("max_spikes", "start_dim", "end_dim", "groups") and value is True:
                        tail = f"{key}: True is not of type 'integer'"
                    cmds = ("info", "simulate") if i % 3 == 0 else ("info", "compile") if i % 3 == 1 else ("info",)
                    g.model(f"swap-{base}-{n['name']}-{key}-{i}", base, _setter(n["name"], key, value),
                            where + tail, cmds)


def gen_model_cases(g: Gen) -> None:
    M = "digits_mlp"
    top = [
        ("dt-true", lambda d: d.update(dt=True), "{P}: dt: True is not of type 'number'"),
        ("dt-string", lambda d: d.update(dt="0.001"), "{P}: dt: '0.001' is not of type 'number'"),
        ("dt-null", lambda d: d.update(dt=None), "{P}: dt: None is not of type 'number'"),
        ("dt-list", lambda d: d.update(dt=[1e-3]), r"{P}: dt: \[0.001\] is not of type 'number'"),
        ("dt-denormal", lambda d: d.update(dt=1e-320), "{P}: dt: 1e-320 is less than the minimum of 1e-09"),
        ("dt-zero", lambda d: d.update(dt=0), "{P}: dt: 0 is less than the minimum of 1e-09"),
        ("dt-negative", lambda d: d.update(dt=-1e-3), "{P}: dt: -0.001 is less than the minimum of 1e-09"),
        ("dt-hour", lambda d: d.update(dt=3600), "{P}: dt: 3600 is greater than the maximum of 10.0"),
        ("nodes-null", lambda d: d.update(nodes=None), "{P}: nodes: None is not of type 'array'"),
        ("nodes-int", lambda d: d.update(nodes=3), "{P}: nodes: 3 is not of type 'array'"),
        ("nodes-str", lambda d: d.update(nodes="input"), "{P}: nodes: 'input' is not of type 'array'"),
        ("nodes-dict", lambda d: d.update(nodes={}), r"{P}: nodes: \{\} is not of type 'array'"),
        ("nodes-one", lambda d: d.update(nodes=d["nodes"][:1]), r"{P}: nodes: \[.*\] is too short"),
        ("node-int", lambda d: d["nodes"].__setitem__(2, 5), r"{P}: nodes\[2\]: 5 is not of type 'object'"),
        ("node-null", lambda d: d["nodes"].__setitem__(1, None), r"{P}: nodes\[1\]: None is not of type 'object'"),
        ("edges-null", lambda d: d.update(edges=None), "{P}: edges: None is not of type 'array'"),
        ("edges-str", lambda d: d.update(edges="input->fc1"), "{P}: edges: 'input->fc1' is not of type 'array'"),
        ("edge-three", lambda d: d["edges"].__setitem__(0, ["input", "fc1", "lif1"]),
         r"{P}: edges\[0\]: \['input', 'fc1', 'lif1'\] is too long"),
        ("edge-one", lambda d: d["edges"].__setitem__(0, ["input"]), r"{P}: edges\[0\]: \['input'\] is too short"),
        ("edge-ints", lambda d: d["edges"].__setitem__(0, [0, 1]), r"{P}: edges\[0\]\[0\]: 0 is not of type 'string'"),
        ("edge-dict", lambda d: d["edges"].__setitem__(0, {"a": "b"}),
         r"{P}: edges\[0\]: \{'a': 'b'\} is not of type 'array'"),
        ("edge-ghost", lambda d: d["edges"].append(["lif2", "ghost"]),
         "{P}: edge \\('lif2' -> 'ghost'\\) names node 'ghost', which does not exist"),
        ("edge-duplicate", lambda d: d["edges"].append(["input", "fc1"]), "{P}: duplicate edges"),
        ("meta-list", lambda d: d.update(meta=[1]), r"{P}: meta: \[1\] is not of type 'object'"),
        ("meta-str", lambda d: d.update(meta="x"), "{P}: meta: 'x' is not of type 'object'"),
        ("meta-null", lambda d: d.update(meta=None), "{P}: meta: None is not of type 'object'"),
        ("version-int", lambda d: d.update(edgesnn_version=3), "{P}: edgesnn_version: 3 is not of type 'string'"),
        ("unknown-top", lambda d: d.update(weights=[1]),
         r"{P}: \(top level\): Additional properties are not allowed \('weights' was unexpected\)"),
        ("artifact-other", lambda d: d.update(artifact="calibration"),
         "{P}: not an edgesnn graph \\(artifact field is 'calibration'\\)"),
        ("artifact-missing", lambda d: d.pop("artifact"), "{P}: not an edgesnn graph \\(artifact field is None\\)"),
        ("missing-dt", lambda d: d.pop("dt"), "{P}: missing field 'dt'"),
        ("missing-nodes", lambda d: d.pop("nodes"), "{P}: missing field 'nodes'"),
        ("missing-edges", lambda d: d.pop("edges"), "{P}: missing field 'edges'"),
        ("kind-unknown", _setter("lif1", "kind", "LIFF"), "{P}: node 'lif1': unknown node kind 'LIFF'; known: .*"),
        ("kind-int", _setter("lif1", "kind", 7), "{P}: node 'lif1': unknown node kind 7; known: .*"),
        ("kind-missing", lambda d: _node(d, "fc1").pop("kind"), "{P}: node 'fc1': unknown node kind None; known: .*"),
        ("name-int", _setter("lif1", "name", 5), r"{P}: node 5 \(LIF\): name: 5 is not of type 'string'"),
        ("name-empty", _setter("lif1", "name", ""), r"{P}: node '' \(LIF\): name: '' should be non-empty"),
        ("name-duplicate", _setter("lif2", "name", "lif1"), "{P}: duplicate node names"),
        ("field-missing", lambda d: _node(d, "lif1").pop("threshold"),
         r"{P}: node 'lif1' \(LIF\): missing field 'threshold'"),
        ("field-missing-weight", lambda d: _node(d, "fc1").pop("weight"),
         r"{P}: node 'fc1' \(Affine\): missing field 'weight'"),
        ("field-unknown", _setter("lif1", "tau", 0.5), r"{P}: node 'lif1' \(LIF\): unknown fields \['tau'\]"),
        ("array-null", _setter("fc1", "weight", None),
         "{P}: node 'fc1' field 'weight': expected a stored array, got NoneType"),
        ("array-float", _setter("fc1", "weight", 1.5),
         "{P}: node 'fc1' field 'weight': expected a stored array, got float"),
        ("array-list", _setter("fc1", "weight", [[1.0, 2.0]]),
         "{P}: node 'fc1' field 'weight': expected a stored array, got list"),
        ("array-dtype-int", lambda d: _node(d, "fc1")["weight"].update(dtype="int8"),
         r"{P}: node 'fc1' field 'weight': malformed stored array: dtype: 'int8' is not one of \['float32', "
          r"'float64'\]"),
        ("array-dtype-object", lambda d: _node(d, "fc1")["weight"].update(dtype="object"),
         r"{P}: node 'fc1' field 'weight': malformed stored array: dtype: 'object' is not one of \['float32', "
          r"'float64'\]"),
        ("array-shape-str", lambda d: _node(d, "fc1")["weight"].update(shape="128x64"),
         "{P}: node 'fc1' field 'weight': malformed stored array: shape: '128x64' is not of type 'array'"),
        ("array-shape-float", lambda d: _node(d, "fc1")["weight"].update(shape=[128, 64.5]),
         r"{P}: node 'fc1' field 'weight': malformed stored array: shape\[1\]: 64.5 is not of type 'integer'"),
        ("array-b64-int", lambda d: _node(d, "fc1")["weight"].update(b64=12),
         "{P}: node 'fc1' field 'weight': malformed stored array: b64: 12 is not of type 'string'"),
        ("array-extra", lambda d: _node(d, "fc1")["weight"].update(order="F"),
         r"{P}: node 'fc1' field 'weight': malformed stored array: \(top level\): Additional properties are not "
         r"allowed \('order' was unexpected\)"),
        ("array-b64-short", lambda d: _node(d, "fc1")["weight"].update(b64=_node(d, "fc1")["weight"]["b64"][:400]),
         r"{P}: node 'fc1' field 'weight': malformed stored array \(75 values stored for shape \(128, 64\)\)"),
        ("array-b64-garbage", lambda d: _node(d, "fc1")["weight"].update(b64="!!not base64!!"),
         r"{P}: node 'fc1' field 'weight': malformed stored array \(.*\)"),
        ("array-shape-lies", lambda d: _node(d, "fc1")["weight"].update(shape=[64, 128]),
         r"{P}: node 'fc1' \(Affine\): expects input shape \(128,\), got \(64,\)"),
        ("array-nan", lambda d: _node(d, "fc1")["bias"].update(_f32_b64([np.nan] + [0.0] * 127)),
         r"{P}: node 'fc1': field 'bias' has a non-finite value \(nan\) at index \(0,\)"),
        ("array-inf", lambda d: _node(d, "lif1")["threshold"].update(_f32_b64([1.0] * 5 + [np.inf] + [1.0] * 122)),
         r"{P}: node 'lif1': field 'threshold' has a non-finite value \(inf\) at index \(5,\)"),
        ("array-1e300", lambda d: _node(d, "fc1")["bias"].update(_f64_b64([0.0, 1e300] + [0.0] * 126)),
         r"{P}: node 'fc1': field 'bias' holds 1e\+300 at index \(1,\), beyond float32's range \(\+-3.4e38\), the "
         "precision the float simulation runs in"),
        # 4-bit / 8-bit grid arrays (Graph.save(compact=True), the QAT-trained real-sized examples)
        ("grid-bits", lambda d: _node(d, "fc1").update(weight=_grid_b64(bits=3)),
         r"{P}: node 'fc1' field 'weight': malformed stored array: grid.bits: 3 is not one of \[4, 8\]"),
        ("grid-scale-zero", lambda d: _node(d, "fc1").update(weight=_grid_b64(scale=0)),
         r"{P}: node 'fc1' field 'weight': malformed stored array: grid.scale: 0 is less than or equal to the "
         r"minimum of 0"),
        ("grid-scale-str", lambda d: _node(d, "fc1").update(weight=_grid_b64(scale="0.5")),
         r"{P}: node 'fc1' field 'weight': malformed stored array: grid.scale: '0.5' is not of type 'number'"),
        ("grid-scale-not-f32", lambda d: _node(d, "fc1").update(weight=_grid_b64(scale=0.1)),
         r"{P}: node 'fc1' field 'weight': malformed stored array \(grid scale 0.1 is not a positive finite "
         r"float32 value\)"),
        ("grid-scale-huge", lambda d: _node(d, "fc1").update(weight=_grid_b64(scale=1e300)),
         r"{P}: node 'fc1' field 'weight': malformed stored array \(grid scale 1e\+300 is not a positive finite "
         r"float32 value\)"),
        ("grid-missing-scale", lambda d: _node(d, "fc1").update(weight=_grid_b64(drop="scale")),
         r"{P}: node 'fc1' field 'weight': malformed stored array: grid: 'scale' is a required property"),
        ("grid-extra", lambda d: _node(d, "fc1").update(weight=_grid_b64(extra={"zero_point": 0})),
         r"{P}: node 'fc1' field 'weight': malformed stored array: grid: Additional properties are not allowed "
         r"\('zero_point' was unexpected\)"),
        ("grid-float64", lambda d: _node(d, "fc1").update(weight=_grid_b64(dtype="float64")),
         r"{P}: node 'fc1' field 'weight': malformed stored array \(a grid array must be float32, not "
         r"'float64'\)"),
        ("grid-short", lambda d: _node(d, "fc1").update(weight=_grid_b64(nbytes=100)),
         r"{P}: node 'fc1' field 'weight': malformed stored array \(100 bytes stored for 8192 4-bit values "
         r"\(need 4096\)\)"),
        ("grid-8bit-long", lambda d: _node(d, "fc1").update(weight=_grid_b64(bits=8, nbytes=8193)),
         r"{P}: node 'fc1' field 'weight': malformed stored array \(8193 bytes stored for 8192 8-bit values "
         r"\(need 8192\)\)"),
        ("grid-overflow", lambda d: _node(d, "fc1").update(weight=_grid_b64(scale=float(np.float32(3e38)), fill=0x77)),
         r"{P}: node 'fc1': field 'weight' has a non-finite value \(inf\) at index \(0, 0\)"),
        ("palette-index-beyond", lambda d: _node(d, "lif1").update(alpha=_palette_b64(fill=0xA9)),
         r"{P}: node 'lif1' field 'alpha': malformed stored array \(palette index 2 beyond its 2 values\)"),
        ("palette-bits", lambda d: _node(d, "lif1").update(alpha=_palette_b64(bits=2)),
         r"{P}: node 'lif1' field 'alpha': malformed stored array: palette.bits: 2 is not one of \[4, 8\]"),
        ("palette-and-grid", lambda d: _node(d, "lif1").update(alpha={**_palette_b64(), "grid": {"bits": 4,
                                                                                                "scale": 1.0}}),
         r"{P}: node 'lif1' field 'alpha': malformed stored array \(an array has a grid or a palette, not both\)"),
        ("threshold-zero", lambda d: _node(d, "lif1")["threshold"].update(_f32_b64([0.0] * 128)),
         r"{P}: node 'lif1' \(LIF\): field 'threshold' must be positive"),
        ("alpha-above-one", lambda d: _node(d, "lif1")["alpha"].update(_f32_b64([1.5] * 128)),
         r"{P}: node 'lif1' \(LIF\): field 'alpha' must lie in \[0, 1\] .*"),
        ("max-spikes-zero-reset", lambda d: (_node(d, "lif1").update(reset="zero", max_spikes=3)),
         r"{P}: node 'lif1' \(LIF\): several spikes per step need reset='subtract'"),
        ("output-shape", _setter("output", "shape", [11]),
         r"{P}: node 'output' \(Output\): receives shape \(10,\) but declares \(11,\)"),
        ("input-shape-wrong", _setter("input", "shape", [65]),
         r"{P}: node 'fc1' \(Affine\): expects input shape \(64,\), got \(65,\)"),
        ("input-shape-9d", _setter("input", "shape", [1] * 9),
         r"{P}: node 'input' \(Input\): shape: \[1, 1, 1, 1, 1, 1, 1, 1, 1\] is too long"),
        ("input-huge", _setter("input", "shape", [2**31 - 1]),
         rf"{{P}}: node 'input' \(Input\) field 'shape': shape \(2147483647,\) holds 2,147,483,647 elements, "
          rf"more than the "
         rf"limit of {LIMIT} \(EDGESNN_MAX_ELEMENTS raises it\)"),
        ("input-dim-beyond-int32", _setter("input", "shape", [2**31]),
         r"{P}: node 'input' \(Input\): shape\[0\]: 2147483648 is greater than the maximum of 2147483647"),
        ("weight-shape-huge", lambda d: _node(d, "fc1")["weight"].update(shape=[2**31 - 1, 2**31 - 1]),
         rf"{{P}}: node 'fc1' field 'weight': shape \(2147483647, 2147483647\) holds 4,611,686,014,132,420,609 "
         rf"elements, more than the limit of {LIMIT} \(EDGESNN_MAX_ELEMENTS raises it\)"),
        ("unreachable", lambda d: (d["nodes"].insert(1, {**copy.deepcopy(_node(d, "lif1")), "name": "island"})),
         r"{P}: nodes not reachable from the input 'input': \['island'\]"),
        ("two-inputs", lambda d: d["nodes"].append({"kind": "Input", "name": "in2", "shape": [64]}),
         r"{P}: graph must have exactly one Input node, found 2: \['input', 'in2'\]"),
        ("deep-meta", lambda d: d["meta"].update(deep=_nest(100)),
         "{P}: nested deeper than 64 levels; not an edgesnn artifact"),
        ("deep-node", _setter("lif1", "reset", _nest(80)),
         "{P}: nested deeper than 64 levels; not an edgesnn artifact"),
        ("bigint-meta", lambda d: d["meta"].update(steps=int("9" * 4000)),
         "{P}: meta.steps: an integer of 4000 digits, beyond the int64 range every edgesnn integer lies in"),
        ("bigint-max-spikes", _setter("lif1", "max_spikes", 10**30),
         "{P}: node 'lif1' field max_spikes: an integer of 31 digits, beyond the int64 range every edgesnn "
          "integer lies in"),
        ("bigint-shape", _setter("input", "shape", [10**25]),
         r"{P}: node 'input' field shape\[0\]: an integer of 26 digits, beyond the int64 range every edgesnn "
          r"integer lies in"),
        ("int64-shape", _setter("input", "shape", [2**62]),
         r"{P}: node 'input' \(Input\): shape\[0\]: 4611686018427387904 is greater than the maximum of 2147483647"),
    ]
    for cid, mutate, expect in top:
        cmds = ("info", "simulate", "compile") if cid in ("dt-true", "dt-denormal", "input-huge", "edge-ghost",
                                                          "array-nan", "max-spikes-zero-reset") else ("info",)
        if cid in ("dt-string", "nodes-null", "array-1e300", "weight-shape-huge"):
            cmds = ("info", "export", "plan")
        if cid in ("kind-unknown", "bigint-meta"):
            cmds = ("info", "run")
        g.model(f"model-{cid}", M, mutate, expect, cmds)

    # The bad values of the issue, on the other example models.
    g.model("cnn-groups-float", "digits_cnn", _setter("conv1", "groups", 1.7),
            r"{P}: node 'conv1' \(Conv2d\): groups: 1.7 is not of type 'integer'", ("info", "simulate"))
    g.model("cnn-padding-50000", "digits_cnn", _setter("conv1", "padding", [50000, 50000]),
            rf"{{P}}: node 'conv1' \(Conv2d\) output: shape \(8, 100006, 100006\) holds 80,009,600,288 elements, more "
            rf"than the limit of {LIMIT} \(EDGESNN_MAX_ELEMENTS raises it\)", ("info", "simulate", "compile"))
    g.model("cnn-stride-huge", "digits_cnn", _setter("conv1", "stride", [2**31, 1]),
            r"{P}: node 'conv1' \(Conv2d\): stride\[0\]: 2147483648 is greater than the maximum of 2147483647")
    g.model("cnn-kernel-3d", "digits_cnn", _setter("pool1", "kernel_size", [2, 2, 2]),
            r"{P}: node 'pool1' \(SumPool2d\): kernel_size: \[2, 2, 2\] is too long")
    g.model("cnn-total-over", "digits_cnn", _total_over,
            rf"{{P}}: the model's tensors hold 108,000,000 elements in all \(parameters and every layer's "
             rf"output\), more "
            rf"than the limit of {LIMIT} \(EDGESNN_MAX_ELEMENTS raises it\)", ("info", "simulate"))

    # Tokens and text that are not JSON, or not the JSON the parser gives back as it was written.
    src = (ROOT / "examples" / "models" / "digits_mlp.json").read_text()
    dt_line = re.search(r'"dt": [0-9.e-]+', src).group(0)
    for cid, token, expect in [
        ("nan-dt", "NaN",
         "{P}: dt: nan is not a finite number (JSON has no NaN or Infinity, and a number beyond 1.8e308 overflows)"),
        ("inf-dt", "Infinity",
         "{P}: dt: inf is not a finite number (JSON has no NaN or Infinity, and a number beyond 1.8e308 overflows)"),
        ("neginf-dt", "-Infinity",
         "{P}: dt: -inf is not a finite number (JSON has no NaN or Infinity, and a number beyond 1.8e308 overflows)"),
        ("overflow-dt", "1e400",
         "{P}: dt: inf is not a finite number (JSON has no NaN or Infinity, and a number beyond 1.8e308 overflows)"),
    ]:
        g.add(f"text-{cid}", f"text-{cid}.json", src.replace(dt_line, f'"dt": {token}'), ("info", "simulate"),
              _q(expect).replace(_q("{P}"), "{P}"))
    g.add("text-nan-max-spikes", "text-nan-max-spikes.json", src.replace('"max_spikes": 1', '"max_spikes": NaN', 1),
          ("info",), _q("{P}: node 'lif1' field max_spikes: nan is not a finite number (JSON has no NaN or "
           "Infinity, and "
                        "a number beyond 1.8e308 overflows)").replace(_q("{P}"), "{P}"))
    for n in (1, 10, 100, len(src) // 3, len(src) // 2, len(src) - 2):
        g.add(f"text-truncated-{n}", f"text-truncated-{n}.json", src[:n], ("info", "simulate"),
              r"{P}: not valid JSON \(.*\)")
    g.add("text-empty", "text-empty.json", "", ("info", "compile"), r"{P}: not valid JSON \(.*\)")
    g.add("text-binary", "text-binary.json", bytes(g.rng.integers(0, 256, 512, dtype=np.uint8)), ("info",),
          r"{P}: not valid JSON \(.*\)")
    g.add("text-latin1", "text-latin1.json", src.replace('"digits_mlp"', '"digits_\xe9"').encode("latin-1"), ("info",),
          r"{P}: not valid JSON \(.*\)")
    g.add("text-top-list", "text-top-list.json", "[1, 2, 3]", ("info",),
     r"{P}: not an edgesnn graph \(artifact field is 'list'\)")
    g.add("text-top-null", "text-top-null.json", "null", ("info",),
     r"{P}: not an edgesnn graph \(artifact field is 'NoneType'\)")
    g.add("text-top-string", "text-top-string.json", '"graph"', ("info",),
     r"{P}: not an edgesnn graph \(artifact field is 'str'\)")
    folder = g.out / "text-folder.json"
    folder.mkdir()
    g.cases.append(Case("text-folder", folder.name, ("info",), _q(str(folder)) + r": .*"))
    # The parser itself fails on these before any schema sees them (edgesnn/artifact.py load_json): an integer
    # of more than 4300 digits (Python's limit) and nesting past the parser's recursion limit.
    g.add("text-bigint-5000", "text-bigint-5000.json", src.replace(dt_line, '"dt": ' + "9" * 5000), ("info",),
          r"{P}: not valid JSON \(.*\)")
    g.add("text-deep-100000", "text-deep-100000.json", src[:-2] + ', "x": ' + "[" * 100000 + "]" * 100000 + "}\n",
          ("info",), r"{P}: not valid JSON \(nested too deeply to parse\)")


def _nest(n: int):
    x: object = 1
    for _ in range(n):
        x = [x]
    return x


def _f32_b64(values) -> dict:
    import base64
    a = np.asarray(values, dtype="<f4")
    return {"dtype": "float32", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def _grid_b64(bits=4, scale=0.015625, dtype="float32", nbytes=None, fill=0x21, drop=None, extra=None) -> dict:
    """fc1's weight of digits_mlp ([128, 64]) in the grid form, with one thing wrong."""
    import base64
    n = 128 * 64 * (bits if bits in (4, 8) else 4) // 8 if nbytes is None else nbytes
    grid = {"bits": bits, "scale": scale, **(extra or {})}
    if drop:
        grid.pop(drop)
    return {"dtype": dtype, "shape": [128, 64], "grid": grid, "b64": base64.b64encode(bytes([fill]) * n).decode()}


def _palette_b64(bits=4, fill=0x98) -> dict:
    """lif1's alpha of digits_mlp ([128]) as a palette of two values, with one thing wrong."""
    import base64
    vals = base64.b64encode(np.float32([0.9, 0.8]).astype("<f4").tobytes()).decode()
    return {"dtype": "float32", "shape": [128], "palette": {"bits": bits, "b64": vals},
            "b64": base64.b64encode(bytes([fill]) * 64).decode()}


def _f64_b64(values) -> dict:
    import base64
    a = np.asarray(values, dtype="<f8")
    return {"dtype": "float64", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def _total_over(d: dict) -> None:
    """Every tensor under the limit, the model over it in all: an input of 1 x 3000 x 3000 through a chain of
    Flattens, 12 tensors of 9 M elements (a 1 KB file asking gigabytes of activations)."""
    _node(d, "input")["shape"] = [1, 3000, 3000]
    d["nodes"] = [n for n in d["nodes"] if n["name"] in ("input",)] + [
        {"kind": "Flatten", "name": "flat", "start_dim": 0, "end_dim": -1},
        {"kind": "Flatten", "name": "flat2", "start_dim": 0, "end_dim": -1},
        {"kind": "Output", "name": "output", "shape": [9_000_000]}] + \
        [{"kind": "Flatten", "name": f"f{i}", "start_dim": 0, "end_dim": -1} for i in range(8)]
    chain = ["input", "flat", "flat2", *[f"f{i}" for i in range(8)], "output"]
    d["edges"] = [[a, b] for a, b in zip(chain, chain[1:])]


# -- NIR -----------------------------------------------------------------------------------------------

def _write_h5(group, d: dict) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            _write_h5(group.create_group(k), v)
        elif isinstance(v, np.ndarray) and v.dtype.kind == "O":
            text = np.vectorize(lambda x: x.decode() if isinstance(x, bytes) else str(x), otypes=[object])(v)
            group.create_dataset(k, data=text.astype("S"))
        else:
            group.create_dataset(k, data=v)


def write_raw(path: Path, raw: dict) -> None:
    import h5py
    with h5py.File(path, "w") as f:
        _write_h5(f.create_group("node"), raw)


def gen_nir_cases(g: Gen) -> None:
    from edgesnn.graph.nir_io import read_raw
    mlp = read_raw(ROOT / "examples" / "models" / "digits_mlp.nir")
    cnn = read_raw(ROOT / "examples" / "models" / "digits_cnn.nir")
    cuba = read_raw(ROOT / "tests" / "fixtures" / "spikingjelly_cuba.nir")
    bases = {"mlp": (mlp, ()), "cnn": (cnn, ()), "cuba": (cuba, ("--dialect", "spikingjelly", "--dt", "1e-4"))}
    ms = "node 'lif1': metadata edgesnn."

    def nodes(raw, name):
        return raw["nodes"][name]

    def meta(name, key, value):
        return lambda r: nodes(r, name)["metadata"].__setitem__(key, value)

    def field(name, key, value):
        return lambda r: nodes(r, name).__setitem__(key, value)

    def scale(name, key, factor):
        return lambda r: nodes(r, name).__setitem__(key, np.asarray(nodes(r, name)[key], np.float64) * factor)

    cases = [
        ("meta-max-spikes-lots", "mlp", meta("lif1", "edgesnn.max_spikes", "lots"),
         f"{ms}max_spikes = 'lots' must be an integer in \\[1, 255\\]"),
        ("meta-max-spikes-float", "mlp", meta("lif1", "edgesnn.max_spikes", 2.5),
         f"{ms}max_spikes = 2.5 must be an integer in \\[1, 255\\]"),
        ("meta-max-spikes-zero", "mlp", meta("lif1", "edgesnn.max_spikes", 0),
         f"{ms}max_spikes = 0 must be an integer in \\[1, 255\\]"),
        ("meta-max-spikes-300", "mlp", meta("lif1", "edgesnn.max_spikes", 300),
         f"{ms}max_spikes = 300 must be an integer in \\[1, 255\\]"),
        ("meta-max-spikes-array", "mlp", meta("lif1", "edgesnn.max_spikes", np.array([1, 2])),
         f"{ms}max_spikes = \\[1, 2\\] must be an integer in \\[1, 255\\]"),
        ("meta-reset-late-yes", "mlp", meta("lif1", "edgesnn.reset_late", "yes"),
         f"{ms}reset_late = 'yes' must be a boolean \\(0 or 1\\)"),
        ("meta-reset-late-two", "mlp", meta("lif1", "edgesnn.reset_late", 2),
         f"{ms}reset_late = 2 must be a boolean \\(0 or 1\\)"),
        ("meta-reset-late-half", "mlp", meta("lif1", "edgesnn.reset_late", 0.5),
         f"{ms}reset_late = 0.5 must be a boolean \\(0 or 1\\)"),
        ("meta-reset-bogus", "mlp", meta("lif1", "edgesnn.reset", "bogus"),
         f"{ms}reset = 'bogus' is not one of zero, value, subtract"),
        ("meta-reset-int", "mlp", meta("lif1", "edgesnn.reset", 5),
         f"{ms}reset = 5 is not one of zero, value, subtract"),
        ("meta-spike-rule", "mlp", meta("lif1", "edgesnn.spike_rule", "~"),
         f"{ms}spike_rule = '~' is not one of >, >="),
        ("meta-syn-delay", "cuba", lambda r: nodes(r, "_1").__setitem__("metadata", {"edgesnn.syn_delay": "lots"}),
         "node '_1': metadata edgesnn.syn_delay = 'lots' must be a boolean \\(0 or 1\\)"),
        ("input-shape-str", "mlp", field("input", "shape", "abc"),
         "{P}: node 'input' \\(Input\\): shape 'abc' must be 1 to 8 integers in \\[1, 2147483647\\]"),
        ("input-shape-strs", "mlp", field("input", "shape", np.array([b"64"])),
         "{P}: node 'input' \\(Input\\): shape \\[b'64'\\] must be 1 to 8 integers in \\[1, 2147483647\\]"),
        ("input-shape-float", "mlp", field("input", "shape", np.array([4.9])),
         "{P}: node 'input' \\(Input\\): shape \\[4.9\\] must be 1 to 8 integers in \\[1, 2147483647\\]"),
        ("input-shape-zero", "mlp", field("input", "shape", np.array([0])),
         "{P}: node 'input' \\(Input\\): shape \\[0\\] must be 1 to 8 integers in \\[1, 2147483647\\]"),
        ("input-shape-2d", "mlp", field("input", "shape", np.array([[64, 1]])),
         "{P}: node 'input' \\(Input\\): shape \\[\\[64, 1\\]\\] must be 1 to 8 integers in \\[1, 2147483647\\]"),
        ("input-shape-2-31", "mlp", field("input", "shape", np.array([2**31])),
         "{P}: node 'input' \\(Input\\): shape \\[2147483648\\] must be 1 to 8 integers in \\[1, 2147483647\\]"),
        ("input-shape-2-30", "mlp", field("input", "shape", np.array([2**30])),
         rf"{{P}}: node 'input' \(Input\) field 'shape': shape \(1073741824,\) holds 1,073,741,824 elements, more than "
         rf"the limit of {LIMIT} \(EDGESNN_MAX_ELEMENTS raises it\)"),
        ("output-shape-str", "mlp", field("output", "shape", "ten"),
         "{P}: node 'output' \\(Output\\): shape 'ten' must be 1 to 8 integers in \\[1, 2147483647\\]"),
        ("groups-array", "cnn", field("conv1", "groups", np.array([1, 2])),
         "node 'conv1': groups \\[1, 2\\] must be one integer"),
        ("groups-float", "cnn", field("conv1", "groups", 1.7), "node 'conv1': groups 1.7 must be one integer"),
        ("groups-str", "cnn", field("conv1", "groups", "2"), "node 'conv1': groups '2' must be one integer"),
        ("groups-zero", "cnn", field("conv1", "groups", 0), "node 'conv1': groups 0 must lie in \\[1, 2147483647\\]"),
        ("stride-str", "cnn", field("conv1", "stride", "x"), "node 'conv1': stride 'x' is not a number"),
        ("stride-float", "cnn", field("conv1", "stride", np.array([1.5, 1])),
         "node 'conv1': stride \\[1.5, 1.0\\] must be 2 integer\\(s\\)"),
        ("padding-50000", "cnn", field("conv1", "padding", np.array([50000, 50000])),
         rf"{{P}}: node 'conv1' \(Conv2d\) output: shape \(8, 100006, 100006\) holds 80,009,600,288 elements, more "
         rf"than the limit of {LIMIT} \(EDGESNN_MAX_ELEMENTS raises it\)"),
        ("padding-huge", "cnn", field("conv1", "padding", np.array([2**40, 1])),
         "node 'conv1': padding \\[1099511627776, 1\\] lies beyond \\+-2147483647 \\(sizes are int32\\)"),
        ("input-shape-decl-str", "cnn", field("conv1", "input_shape", np.array([b"8", b"8"])),
         "node 'conv1' \\(Conv2d\\) field 'input_shape': shape \\[b'8', b'8'\\] must be 1 to 8 integers in "
          "\\[1, 2147483647\\]"),
        ("flatten-start-str", "cnn", field("flatten1", "start_dim", "zero"),
         "node 'flatten1': start_dim 'zero' must be one integer"),
        ("flatten-end-big", "cnn", field("flatten1", "end_dim", 99),
         "node 'flatten1': end_dim 99 must lie in \\[-9, 9\\]"),
        ("affine-no-weight", "mlp", lambda r: nodes(r, "fc1").pop("weight"),
         "node 'fc1' \\(Affine\\): missing field 'weight'"),
        ("affine-weight-str", "mlp", field("fc1", "weight", "heavy"),
         "node 'fc1': field 'weight' is not numeric \\(<U5\\)"),
        ("affine-weight-nan", "mlp", lambda r: nodes(r, "fc1")["weight"].__setitem__((0, 0), np.nan),
         "node 'fc1': field 'weight' contains NaN or infinite values"),
        ("affine-weight-1e30", "mlp", scale("fc1", "weight", 1e30),
         r"{P}: node 'fc1' \(Affine\): field 'weight' is -?[0-9.]+e\+[0-9]+ at index \(\d+, \d+\) after "
          r"discretisation at "
         r"dt = 0.001 s; every parameter must be finite and within \+-1e\+18 \(so that products of two parameters "
         r"and an input stay finite in float32, the precision the simulation runs in\)"),
        ("affine-bias-shape", "mlp", field("fc1", "bias", np.zeros(7)),
         r"{P}: node 'fc1' \(Affine\): bias shape \(7,\) does not match output \(128,\)"),
        ("lif-r-1e300", "mlp", field("lif1", "r", np.full(128, 1e300)),
         r"{P}: node 'lif1' \(LIF\): field 'gain' is [0-9.]+e\+[0-9]+ at index \(0,\) after discretisation at "
          r"dt = 0.001 s; "
         r"every parameter must be finite and within \+-1e\+18 .*"),
        ("lif-threshold-1e300", "mlp", field("lif1", "v_threshold", np.full(128, 1e300)),
         r"{P}: node 'lif1' \(LIF\): field 'threshold' is 1e\+300 at index \(0,\) after discretisation .*"),
        ("lif-tau-tiny-r-huge", "mlp", lambda r: (nodes(r, "lif1").__setitem__("tau", np.full(128, 1e-300)),
                                                  nodes(r, "lif1").__setitem__("r", np.full(128, 1e300))),
         r"node 'lif1' \(LIF\): dt = 0.001 s exceeds the time constant 1e-300 s, so the forward-Euler update of "
          r"dialect "
         r"'nir' is unstable; import with a smaller --dt"),
        ("lif-tau-str", "mlp", field("lif1", "tau", "slow"), "node 'lif1': field 'tau' is not numeric \\(<U4\\)"),
        ("lif-vleak-inf", "mlp", field("lif1", "v_leak", np.full(128, np.inf)),
         "node 'lif1': field 'v_leak' contains NaN or infinite values"),
        ("cuba-w-in-1e300", "cuba", field("_1", "w_in", np.full(1, 1e300)),
         r"{P}: node '_1' \(CubaLIF\): field 'gain_syn' is [0-9.]+e\+[0-9]+ at index \(\d+,\) after discretisation at "
         r"dt = 0.0001 s; every parameter must be finite and within \+-1e\+18 .*"),
        ("dt-meta-str", "mlp", lambda r: r["metadata"].__setitem__("dt", "fast"),
         "{P}: metadata dt = 'fast' is not a number of seconds"),
        ("dt-meta-tiny", "mlp", lambda r: r["metadata"].__setitem__("dt", 1e-320),
         r"{P}: the dt the file records = 1e-320 s lies outside \[1e-09, 10\] s, the time steps edgesnn accepts .*"),
        ("dt-meta-array", "mlp", lambda r: r["metadata"].__setitem__("dt", np.array([1e-3, 1e-3])),
         r"{P}: metadata dt = \[0.001, 0.001\] is not a number of seconds"),
        ("type-unknown", "mlp", field("lif1", "type", "Izhikevich"),
         "node 'lif1': NIR node type 'Izhikevich' is not supported by edgesnn \\(supported: .*\\)"),
        ("type-missing", "mlp", lambda r: nodes(r, "lif1").pop("type"), "node 'lif1': malformed \\(no 'type' field\\)"),
        ("edges-scalar", "mlp", lambda r: r.__setitem__("edges", 5),
         "the top graph: 'edges' must be a list of \\[source, target\\] pairs"),
        ("edges-ghost", "mlp", lambda r: r.__setitem__("edges", np.array([[b"input", b"fc1"], [b"fc1", b"ghost"]])),
         "edge 'fc1' -> 'ghost' names a node 'ghost' that the file does not define"),
        ("edges-three", "mlp", lambda r: r.__setitem__("edges", np.array([[b"input", b"fc1", b"lif1"]])),
         "malformed edge .*"),
        ("nodes-dataset", "mlp", lambda r: r.__setitem__("nodes", np.arange(3)),
         "the top graph: 'nodes' must be a group of nodes"),
        ("top-type", "mlp", lambda r: r.__setitem__("type", "LIF"), "the file's top node is not a NIRGraph"),
    ]
    for cid, base, mutate, expect in cases:
        raw, args = bases[base]
        r = copy.deepcopy(raw)
        mutate(r)
        path = g.out / f"nir-{cid}.nir"
        write_raw(path, r)
        if not expect.startswith("{P}"):
            expect = "{P}: " + expect
        g.cases.append(Case(f"nir-{cid}", path.name, ("import",), expect.replace("{P}", _q(str(path))), args))

    # Arguments and files that are not what they claim.
    path = g.out / "nir-good-mlp.nir"
    write_raw(path, copy.deepcopy(mlp))
    del_dt = copy.deepcopy(mlp)
    del_dt["metadata"].pop("dt")
    nodt = g.out / "nir-no-dt.nir"
    write_raw(nodt, del_dt)
    for cid, p, args, expect in [
        ("arg-dt-denormal", nodt, ("--dt", "1e-320"), r"--dt = 1e-320 s lies outside \[1e-09, 10\] s, .*"),
        ("arg-dt-huge", nodt, ("--dt", "1e6"), r"--dt = 1000000.0 s lies outside \[1e-09, 10\] s, .*"),
        ("arg-dt-nan", nodt, ("--dt", "nan"), "dt must be a positive number of seconds, got nan"),
        ("arg-dt-inf", nodt, ("--dt", "inf"), "dt must be a positive number of seconds, got inf"),
        ("arg-dt-negative", nodt, ("--dt", "-1"), "dt must be a positive number of seconds, got -1.0"),
    ]:
        g.cases.append(Case(f"nir-{cid}", p.name, ("import",), _q(f"{p}: ") + expect, args))
    good = path.read_bytes()
    for n in (8, 512, len(good) // 2, len(good) - 100):
        g.add(f"nir-truncated-{n}", f"nir-truncated-{n}.nir", good[:n], ("import",),
              r"{P}: cannot read as a NIR \(HDF5\) file: .*")
    g.add("nir-not-hdf5", "nir-not-hdf5.nir", b"NIR?" * 100, ("import",),
     r"{P}: cannot read as a NIR \(HDF5\) file: .*")
    g.add("nir-json",
     "nir-json.nir", (ROOT / "examples" / "models" / "digits_mlp.json").read_bytes()[:3000], ("import",),
          r"{P}: cannot read as a NIR \(HDF5\) file: .*")
    import h5py
    p = g.out / "nir-no-node.nir"
    with h5py.File(p, "w") as f:
        f.create_dataset("weights", data=np.zeros(3))
    g.cases.append(Case("nir-no-node", p.name, ("import",), _q(f"{p}: an HDF5 file but not a NIR graph (no "
     f"'node' group)")))
    p = g.out / "nir-dataset-bomb.nir"   # 16 GiB declared, a few KB on disk: chunks never written hold the fill value
    write_raw(p, copy.deepcopy(mlp))
    with h5py.File(p, "a") as f:
        del f["node/nodes/fc1/weight"]
        f["node/nodes/fc1"].create_dataset("weight", shape=(2**31,), dtype="f8", chunks=(4096,))
    g.cases.append(Case("nir-dataset-bomb", p.name, ("import",),
                        _q(f"{p}: node/nodes/fc1/weight: shape (2147483648,) holds 2,147,483,648 elements, more than "
                           f"the limit of {LIMIT} (EDGESNN_MAX_ELEMENTS raises it)")))
    p = g.out / "nir-external-link.nir"
    write_raw(p, copy.deepcopy(mlp))
    with h5py.File(p, "a") as f:
        del f["node/nodes/fc1/weight"]
        f["node/nodes/fc1/weight"] = h5py.ExternalLink("/etc/hostname", "/data")
    g.cases.append(Case("nir-external-link", p.name, ("import",),
                        _q(f"{p}: node/nodes/fc1/weight: a link to elsewhere (soft or external), which NIR files do "
                           "not use")))
    p = g.out / "nir-deep.nir"
    write_raw(p, copy.deepcopy(mlp))
    with h5py.File(p, "a") as f:
        f.create_group("node/x/" + "/".join(["g"] * 40))
    g.cases.append(Case("nir-deep", p.name, ("import",),
                        _q(f"{p}: node/x/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g/g: groups nested "
                           "deeper than 32 levels; not a NIR graph")))
    p = g.out / "nir-compound.nir"
    write_raw(p, copy.deepcopy(mlp))
    with h5py.File(p, "a") as f:
        del f["node/nodes/fc1/bias"]
        f["node/nodes/fc1"].create_dataset("bias", data=np.zeros(3, dtype=[("a", "i4"), ("b", "f4")]))
    g.cases.append(Case("nir-compound", p.name, ("import",),
                        _q(f"{p}: node/nodes/fc1/bias: a dataset of dtype [('a', '<i4'), ('b', '<f4')], which NIR "
                           "files do not hold")))
    folder = g.out / "nir-folder.nir"
    folder.mkdir()
    g.cases.append(Case("nir-folder", folder.name, ("import",), _q(f"{folder}: not a file")))
    # A NIR file where a model JSON belongs.
    g.cases.append(Case("nir-as-model", path.name, ("info", "simulate"),
                        _q(f"{path}: a NIR file; convert it first with `edgesnn import {path} -o MODEL.json`")))


# -- input arrays ------------------------------------------------------------------------------------

def _npy(shape, descr: str = "|u1", fortran: bool = False, version=(1, 0), data: bytes = b"") -> bytes:
    """An .npy file written by hand: a header claiming `shape` and `descr`, then `data`."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode("latin1")
    pre = 10 if version == (1, 0) else 12
    pad = (-(pre + len(header) + 1)) % 64
    header += b" " * pad + b"\n"
    size = len(header).to_bytes(2 if version == (1, 0) else 4, "little")
    return b"\x93NUMPY" + bytes(version) + size + header + data


def _saved(a: np.ndarray) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _npz(suffix: str = ".npy", **members: bytes) -> bytes:
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k + suffix, v)
    return buf.getvalue()


def gen_input_cases(g: Gen) -> None:
    import io
    good = (g.rng.random((2, 4, 64)) < 0.2).astype(np.uint8)
    b = io.BytesIO()
    np.save(b, good)
    good_npy = b.getvalue()
    tib = (2**20, 2**20, 36)  # 36 TiB of uint8
    el = f"more than the limit of {LIMIT} \\(EDGESNN_MAX_ELEMENTS raises it\\)"
    cases = [
        ("npy-36tib", _npy(tib), ("inputs", "calib"),
         rf"{{P}}: inputs: shape \(1048576, 1048576, 36\) holds 39,582,418,599,936 elements, {el}"),
        ("npy-36tib-v2", _npy(tib, version=(2, 0)), ("inputs",),
         rf"{{P}}: inputs: shape \(1048576, 1048576, 36\) holds 39,582,418,599,936 elements, {el}"),
        ("npy-object", _npy((2, 4, 64), "|O"), ("inputs",),
         r"{P}: inputs: dtype object is not allowed; need bool, integer or float values \(object arrays would need "
         r"pickle, which edgesnn never uses\)"),
        ("npy-structured", _saved(np.zeros((2, 4, 64), dtype=[("a", "<i4")])), ("inputs",),
         r"{P}: inputs: dtype \[\('a', '<i4'\)\] is not allowed; .*"),
        ("npy-complex", _npy((2, 4, 64), "<c16"), ("inputs",), r"{P}: inputs: dtype complex128 is not allowed; .*"),
        ("npy-string", _npy((2, 4, 64), "<U3"), ("inputs",), r"{P}: inputs: dtype <U3 is not allowed; .*"),
        ("npy-truncated", good_npy[: len(good_npy) - 100], ("inputs",),
         r"{P}: inputs: truncated: the header promises \(2, 4, 64\) uint8 \(512 bytes of data\), the file holds 412"),
        ("npy-header-only", _npy((2, 4, 64)), ("inputs", "calib"),
         r"{P}: inputs: truncated: the header promises \(2, 4, 64\) uint8 \(512 bytes of data\), the file holds 0"),
        ("npy-bad-header", b"\x93NUMPY\x01\x00\x10\x00{'descr': <|>}\n", ("inputs",),
         r"{P}: cannot read inputs \(.*\)"),
        ("npy-negative-shape", _npy((-1, 4)), ("inputs",), r"{P}: cannot read inputs \(.*\)"),
        ("npy-bad-version", b"\x93NUMPY\x09\x00" + good_npy[8:], ("inputs",), r"{P}: cannot read inputs \(.*\)"),
        ("npy-magic-only", b"\x93NUMPY", ("inputs",), r"{P}: cannot read inputs \(.*\)"),
        ("npy-empty", b"", ("inputs",),
         r"{P}: inputs must be a \.npy array file \(np\.save\) or a data set \.npz holding 'inputs' \(np\.savez\), and "
         r"this is neither"),
        ("npy-not-numpy", b"hello world", ("inputs",),
         r"{P}: inputs must be a \.npy array file \(np\.save\) or a data set \.npz holding 'inputs' \(np\.savez\), and "
         r"this is neither"),
        ("npz-36tib", _npz(inputs=_npy(tib), labels=_npy((2,), "<i8", data=bytes(16))), ("inputs", "data"),
         rf"{{P}}: field 'inputs': shape \(1048576, 1048576, 36\) holds 39,582,418,599,936 elements, {el}"),
        ("npz-object", _npz(inputs=_npy((2, 4, 64), "|O")), ("inputs",),
         r"{P}: field 'inputs': dtype object is not allowed; .*"),
        ("npz-truncated-member", _npz(inputs=good_npy[:200]), ("inputs",),
         r"{P}: field 'inputs': truncated: the header promises \(2, 4, 64\) uint8 \(512 bytes of data\), the "
          r"file holds 72"),
        ("npz-no-inputs", _npz(x=good_npy), ("inputs", "data"),
         r"{P}: missing field 'inputs' \(a data set \.npz holds 'inputs' \[N, T, \.\.\.\] and 'labels' \[N\]; "
          r"found \['x'\]\)"),
        ("npz-labels-huge", _npz(inputs=good_npy, labels=_npy((2**40,), "<i8")), ("inputs", "data"),
         rf"{{P}}: field 'labels': shape \(1099511627776,\) holds 1,099,511,627,776 elements, {el}"),
        ("npz-labels-float", _npz(inputs=good_npy, labels=_npy((2,), "<f8", data=bytes(16))), ("inputs",),
         r"{P}: field 'labels' has dtype float64; need an integer dtype"),
        ("npz-member-not-npy", _npz(**{"inputs": b"garbage" * 10}, suffix=""), ("inputs",),
         r"{P}: field 'inputs' is damaged \(.*\)"),
        ("npz-truncated-zip", _npz(inputs=good_npy)[:300], ("inputs",), r"{P}: not a readable \.npz archive \(.*\)"),
        ("labels-36tib", _npy(tib, "<i8"), ("labels",),
         rf"{{P}}: labels: shape \(1048576, 1048576, 36\) holds 39,582,418,599,936 elements, {el}"),
        ("labels-object", _npy((2,), "|O"), ("labels",), r"{P}: labels: dtype object is not allowed; .*"),
    ]
    for cid, data, commands, expect in cases:
        expect = expect.replace("{P}: inputs: ", "{P}: (?:calibration )?inputs: ")
        ext = ".npz" if cid.startswith("npz") else ".npy"
        g.add(f"in-{cid}", f"in-{cid}{ext}", data, commands, expect)


def generate(out: Path) -> list[Case]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    g = Gen(out)
    gen_type_swaps(g)
    gen_model_cases(g)
    gen_nir_cases(g)
    gen_input_cases(g)
    (out / "cases.json").write_text(json.dumps([asdict(c) for c in g.cases], indent=1))
    return g.cases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_models.py OUT_DIR")
    print(f"{len(generate(Path(sys.argv[1])))} cases -> {sys.argv[1]}")
