"""The one table of node kinds: edgesnn/graph/kinds.py and the C rows of runtime_c/include/esn/esn_kinds.h
agree (codes, parameter masks, flags, state variables), the IR registries come from the table, and every
kind round-trips through to_dict / from_dict."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from edgesnn.graph import ir
from edgesnn.graph.kinds import BY_CODE, KINDS, KNOBS, PARAM_SLOTS, ROLES, STATE_VARS, kind_of, names
from edgesnn.lower import LNode
from tests.helpers.paths import ROOT

INCLUDE = ROOT / "runtime_c" / "include" / "esn"
FLAGS = {"NEURON": "neuron", "SPIKING": "spiking", "WEIGHTED": "weighted", "SYNAPTIC": "synaptic",
         "CONV_LIKE": "conv_like", "STATELESS": "statelessable"}


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def _c_rows() -> list[dict]:
    """The rows of ESN_KINDS(X), parsed: name, code, required, optional, flags, state."""
    text = _strip_comments((INCLUDE / "esn_kinds.h").read_text()).replace("\\\n", " ")
    body = re.search(r"#define ESN_KINDS\(X\)(.*)", text).group(1)
    rows = []
    for args in re.findall(r"X\(((?:[^()]|\([^()]*\))*)\)", body):
        name, code, req, opt, flags, state = (a.strip() for a in args.split(","))
        rows.append({"name": name, "code": int(code),
                     "required": set(re.findall(r"ESN_PB\((\w+)\)", req)),
                     "optional": set(re.findall(r"ESN_PB\((\w+)\)", opt)),
                     "flags": set(re.findall(r"ESN_KF_(\w+)", flags)),
                     "state": set(re.findall(r"ESN_SV\((\w+)\)", state))})
    return rows


def _c_enum(name: str, prefix: str) -> list[str]:
    text = _strip_comments((INCLUDE / "esn_types.h").read_text())
    body = re.search(r"typedef enum %s \{(.*?)\}" % name, text, re.S).group(1)
    return [m.lower() for m in re.findall(prefix + r"(\w+)", body) if not m.endswith("COUNT")]


C_ROWS = _c_rows()


def test_c_rows_are_the_table_in_code_order():
    assert [r["name"] for r in C_ROWS] == [k.name.upper() for k in KINDS.values()]
    assert [r["code"] for r in C_ROWS] == [k.code for k in KINDS.values()] == list(range(len(KINDS)))
    assert set(BY_CODE) == {k.code for k in KINDS.values()}


def test_c_enums_match_the_slot_and_state_orders():
    assert _c_enum("esn_param", "ESN_P_") == list(PARAM_SLOTS)
    assert _c_enum("esn_var", "ESN_VAR_")[:len(STATE_VARS)] == list(STATE_VARS)
    assert set(re.findall(r"#define ESN_KF_(\w+)", (INCLUDE / "esn_kinds.h").read_text())) == set(FLAGS)


@pytest.mark.parametrize("row", C_ROWS, ids=[r["name"] for r in C_ROWS])
def test_c_row_agrees_with_the_table(row):
    k = BY_CODE[row["code"]]
    assert k.c_name == "ESN_KIND_" + row["name"]
    assert {s.lower() for s in row["required"]} == set(k.required)
    assert {s.lower() for s in row["optional"]} == set(k.optional)
    assert row["flags"] == {flag for flag, attr in FLAGS.items() if getattr(k, attr)}
    assert [v for v in STATE_VARS if v.upper() in row["state"]] == list(k.state)


@pytest.mark.skipif(not shutil.which("cc"), reason="no host C compiler")
def test_c_kind_sets_and_tables(tmp_path):
    """What the C side builds from the rows: the enum, the kind sets behind esn__is_* and esn__n_state."""
    sets = ("NEURON", "SPIKING", "WEIGHTED", "SYNAPTIC", "CONV_LIKE", "STATELESS", "STATE_V", "STATE_I",
            "STATE_ETA")
    src = tmp_path / "kinds.c"
    src.write_text('#include <stdio.h>\n#include "esn/esn_types.h"\nint main(void) {\n'
                   + "".join(f'    printf("%lu\\n", (unsigned long)ESN_KINDS_{s});\n' for s in sets)
                   + "".join(f'    printf("%d\\n", (int){k.c_name});\n' for k in KINDS.values())
                   + '    printf("%d\\n", (int)ESN_KIND_COUNT);\n    return 0;\n}\n')
    exe = tmp_path / "kinds"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'runtime_c' / 'include'}",
                    str(src), "-o", str(exe)], check=True)
    out = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()]
    got = dict(zip(sets, out))

    def kset(pred):
        return sum(1 << k.code for k in KINDS.values() if pred(k))

    for flag, attr in FLAGS.items():
        assert got[flag] == kset(lambda k: getattr(k, attr)), flag
    for var in STATE_VARS:
        assert got["STATE_" + var.upper()] == kset(lambda k: var in k.state), var
    assert out[len(sets):] == [k.code for k in KINDS.values()] + [len(KINDS)]


def test_table_is_consistent():
    for k in KINDS.values():
        assert k.role in ROLES and set(k.knobs) <= set(KNOBS)
        assert k.synaptic == (k.weighted or k.role == "pool")
        assert k.neuron == (k.family in ("if", "lif", "li", "cubalif", "cubali", "alif", "threshold"))
        assert bool(k.state) == (k.neuron and k.name != "Threshold")  # Threshold: a neuron layer without state
        assert not k.weighted or "weight" in k.required
        assert kind_of(k.name) is k
    assert names(lambda k: k.statelessable) == ("LIF", "LI", "CubaLIF", "CubaLI")


def test_ir_registries_come_from_the_table():
    assert list(ir.NODE_TYPES) == list(KINDS)
    for name, cls in ir.NODE_TYPES.items():
        k = KINDS[name]
        assert cls.kind == name and cls.__name__ == k.ir_class
        assert cls.spiking == k.spiking and cls.stateful == k.neuron
    assert ir.NEURON_TYPES == tuple(ir.NODE_TYPES[n] for n in names(lambda k: k.neuron))
    assert ir.SYNAPTIC_TYPES == tuple(ir.NODE_TYPES[n] for n in names(lambda k: k.synaptic))


@pytest.mark.parametrize("kind", list(KINDS))
def test_lowered_state_count(kind):
    k = KINDS[kind]
    for reset in (0, 3):
        nd = LNode("n", kind, (2,), (2,), reset=reset)
        assert nd.code == k.code
        assert nd.n_state == (len(k.state) + (reset == 3) if k.neuron else 0)


def _node(kind: str) -> ir.Node:
    """A node of `kind` built from its IR class's fields: arrays of random values, tuples (2, 2), the
    defaults elsewhere (to_dict / from_dict do not validate shapes)."""
    rng = np.random.default_rng(KINDS[kind].code)
    cls = ir.NODE_TYPES[kind]
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name == "name":
            kw["name"] = f"a_{kind.lower()}"
        elif f.type == "np.ndarray":
            kw[f.name] = rng.uniform(0.1, 0.9, (2, 3))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kw[f.name] = (2, 2)
    return cls(**kw)


@pytest.mark.parametrize("kind", list(KINDS))
def test_round_trip(kind):
    node = _node(kind)
    d = json.loads(json.dumps(node.to_dict()))
    assert d["kind"] == kind
    back = ir.Node.from_dict(d)
    assert type(back) is ir.NODE_TYPES[kind] and kind_of(back) is KINDS[kind]
    assert back.to_dict() == node.to_dict()
    for key, a in node.arrays().items():
        np.testing.assert_array_equal(getattr(back, key), a)
