"""The declared schema of a float model (MODEL.json, as `Graph.save` writes it), checked at every load.

    from edgesnn.graph.schema import MODEL_SCHEMA, check_model
    check_model(doc, "model.json")   # ModelSchemaError("model.json: node 'lif1' (LIF): reset_late: ...")

MODEL_SCHEMA declares the whole document: the top-level fields, and one node schema per kind, built from the
IR's own dataclass fields (edgesnn/graph/ir.py) and the field schemas below, so the file format and the IR
cannot drift apart. Types are exact (true is not a number, 2.5 is not an integer, a string is not a list),
every integer and every size is bounded, every number is finite (Python's JSON parser accepts the tokens NaN
and Infinity, and 1e400 becomes inf: refused here, as JSON itself has no such numbers).

`check_model` checks the same schema in three passes only so that a message names the node rather than its
index: the numbers (finite, bounded), the top level with each node as an object, then each node on its own.
What a schema cannot say is checked by the loader after it (graph/ir.py): edges naming nodes that exist,
shapes agreeing along the edges, stored arrays holding as many values as their shape, and sizes against
the user-settable element limit (EDGESNN_MAX_ELEMENTS, see artifact.py `max_elements`).

Ranges and why:
  dt            [1e-9, 10] s. A step below a nanosecond is not a time step any SNN is trained with, and
                below ~1e-300 dt/tau underflows to 0 (every decay becomes exactly 1, every gain 0: a
                silently dead model); above 10 s no exporter's convention is stable (Sinabs, which counts
                time in steps, uses 1).
  dims          [1, 2^31 - 1] (the C runtime's int32 sizes), at most 8 axes.
  max_spikes    [1, 255] (spike counts are bytes).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..errors import GraphError
from ..schema import BOOL, SchemaError, array, check, field_path, int_range, num_range, obj
from . import ir

MAX_DIM = 2**31 - 1          # int32 sizes, as the C runtime's
MAX_RANK = 8                 # axes of any tensor
MAX_NODES = 4096             # far above any model a microcontroller runs
MAX_EDGES = 16384
MAX_NAME = 200               # characters of a node name
MAX_INT = 2**63 - 1          # no integer anywhere in the file beyond int64 (meta included)
DT_RANGE = (1e-9, 10.0)      # seconds; see the module docstring
FLOAT_DTYPES = ("float32", "float64")  # a float model's parameters


class ModelSchemaError(SchemaError, GraphError):
    """A model file does not have the declared shape. Both a SchemaError (the failure class every artifact
    shares) and a GraphError (what a bad model has always raised)."""


NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
SHAPE = array(int_range(1, MAX_DIM), 1, MAX_RANK)
STORED_ARRAY = obj({"dtype": {"enum": list(FLOAT_DTYPES)},
                    "shape": array(int_range(0, MAX_DIM), 0, MAX_RANK),
                    "b64": {"type": "string"},       # its length is bounded by the element limit before decoding
                    # float32 values k * scale stored as packed k (edgesnn/artifact.py: exact, for QAT weights)
                    "grid": obj({"bits": {"enum": [4, 8]}, "scale": num_range(0, exclusive_lo=True)},
                                ("bits", "scale")),
                    # a float32 array of few distinct values: the values, and packed indices into them
                    "palette": obj({"bits": {"enum": [4, 8]}, "b64": {"type": "string"}}, ("bits", "b64"))},
                   ("dtype", "shape", "b64"))


def _window(lo: int, spatial: int) -> dict:
    return array(int_range(lo, MAX_DIM), 1, spatial)


def _field_schemas(cls) -> dict[str, dict]:
    """Schemas of the fields of one IR node class that are not stored arrays."""
    spatial = getattr(cls, "spatial", 2)
    return {
        "shape": SHAPE,
        "stride": _window(1, spatial), "dilation": _window(1, spatial), "kernel_size": _window(1, spatial),
        "padding": _window(0, spatial),
        "groups": int_range(1, MAX_DIM),
        "start_dim": int_range(-MAX_RANK - 1, MAX_RANK), "end_dim": int_range(-MAX_RANK - 1, MAX_RANK),
        "reset": {"enum": list(ir.RESETS)}, "spike_rule": {"enum": list(ir.SPIKE_RULES)},
        "reset_late": BOOL, "syn_delay": BOOL,
        "max_spikes": int_range(1, 255),
    }


def node_schema(kind: str) -> dict:
    """The schema of one node of `kind`: its IR class's fields, those without a default required."""
    cls = ir.NODE_TYPES[kind]
    scalars = _field_schemas(cls)
    props: dict[str, dict] = {"kind": {"const": kind}, "name": NAME}
    required = ["kind", "name"]
    for f in dataclasses.fields(cls):
        if f.name == "name":
            continue
        props[f.name] = STORED_ARRAY if f.type == "np.ndarray" else scalars[f.name]
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return obj(props, required)


def _schemas() -> tuple[dict, dict, dict[str, dict]]:
    nodes = {k: node_schema(k) for k in ir.NODE_TYPES}
    any_node = {"type": "object", "required": ["kind", "name"],
                "properties": {"kind": {"enum": sorted(nodes)}},
                "allOf": [{"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]}, "then": s}
                          for k, s in nodes.items()]}

    def top(node: dict) -> dict:
        return obj({"artifact": {"const": "graph"},
                    "edgesnn_version": {"type": "string", "maxLength": 64},
                    "dt": num_range(*DT_RANGE),
                    "meta": {"type": "object"},
                    "nodes": array(node, 2, MAX_NODES),
                    "edges": array(array(NAME, 2, 2), 1, MAX_EDGES)},
                   ("artifact", "dt", "nodes", "edges"))
    return top(any_node), top({"type": "object"}), nodes


_CACHE: dict[str, Any] = {}


def schemas() -> tuple[dict, dict, dict[str, dict]]:
    """(MODEL_SCHEMA, the top level with nodes as plain objects, {kind: node schema}), built once."""
    if "s" not in _CACHE:
        _CACHE["s"] = _schemas()
    return _CACHE["s"]


def __getattr__(name: str):  # MODEL_SCHEMA is built on first use: graph/ir.py imports this module first
    if name == "MODEL_SCHEMA":
        return schemas()[0]
    raise AttributeError(name)


def check_numbers(doc: Any, where: str, *, error: type[SchemaError] = ModelSchemaError) -> None:
    """Refuse a non-finite float (NaN, Infinity, 1e400) or an integer beyond int64 anywhere in `doc`,
    naming its path; iterative, so any depth is safe (check() bounds the depth afterwards)."""
    todo: list[tuple[Any, tuple]] = [(doc, ())]
    while todo:
        x, path = todo.pop()
        if isinstance(x, dict):
            todo += [(v, (*path, k)) for k, v in reversed(list(x.items()))]
        elif isinstance(x, list):
            todo += [(v, (*path, i)) for i, v in reversed(list(enumerate(x)))]
        elif isinstance(x, float) and not math.isfinite(x):
            raise error(f"{where}: {_named(doc, path)}: {x!r} is not a finite number (JSON has no NaN or "
                        "Infinity, and a number beyond 1.8e308 overflows)")
        elif isinstance(x, int) and not isinstance(x, bool) and abs(x) > MAX_INT:
            raise error(f"{where}: {_named(doc, path)}: an integer of {len(str(abs(x)))} digits, beyond the "
                        f"int64 range every edgesnn integer lies in")


def _named(doc: Any, path: tuple) -> str:
    """'node 'lif1' field max_spikes' for a path into nodes[i] whose name is a string, else the dotted path."""
    if len(path) >= 2 and path[0] == "nodes" and isinstance(doc, dict):
        node = doc["nodes"][path[1]]
        if isinstance(node, dict) and isinstance(node.get("name"), str) and len(node["name"]) <= MAX_NAME:
            return f"node {node['name']!r} field {field_path(path[2:])}"
    return field_path(path)


def check_model(doc: Any, where: str) -> None:
    """Check a parsed model file against MODEL_SCHEMA; ModelSchemaError naming `where`, the node and the field."""
    check_numbers(doc, where)
    _, top, nodes = schemas()
    check(doc, top, where, error=ModelSchemaError)
    for i, n in enumerate(doc["nodes"]):
        name = n.get("name")
        label = f"node {name!r}" if isinstance(name, str) and len(name) <= MAX_NAME else f"nodes[{i}]"
        kind = n.get("kind")
        if kind not in nodes:
            check(kind, {"enum": sorted(nodes)}, f"{where}: {label}: kind", error=ModelSchemaError)
        check(n, nodes[kind], f"{where}: {label} ({kind})", error=ModelSchemaError)
