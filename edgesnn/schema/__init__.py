"""One declared schema per artifact, checked at every load: JSON Schema (draft 2020-12) with `jsonschema`.

    from edgesnn.schema import check
    check(doc, PLAN_SCHEMA, "plan.json")     # raises SchemaError("plan.json: exit.beta_q16: ...")

Why jsonschema: the schemas stay declarative data (one dict per artifact, next to the code that reads it,
readable by other tools), the library is the reference implementation of the standard and well kept, and
its type checker is exact where hand-written checks slip: true is not a number, 2.5 is not an integer,
a string is not a list. What a schema cannot say (cross references, sizes that depend on other fields)
is checked after it by the artifact's own loader, with the same kind of message.

Every failure is ONE line naming the file and the dotted path of the field at fault; the error type
(SchemaError, an EdgesnnError) is what the CLI prints without a traceback. Only the first problem in
document order is reported, so the message does not depend on the library's iteration order.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ..errors import EdgesnnError

MAX_DEPTH = 64   # deeper nesting than any artifact has: refused before anything recurses into it


class SchemaError(EdgesnnError):
    """An artifact does not have the declared shape: wrong type, out of range, missing or unknown field."""


def field_path(path) -> str:
    """'layers[2].weight' from a jsonschema path deque / list of keys and indices."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _depth(doc: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON document, iteratively (a deep document must not blow the stack)."""
    deepest, todo = 0, [(doc, 1)]
    while todo:
        x, d = todo.pop()
        deepest = max(deepest, d)
        if d > limit:
            return d
        if isinstance(x, dict):
            todo += [(v, d + 1) for v in x.values()]
        elif isinstance(x, list):
            todo += [(v, d + 1) for v in x]
    return deepest


def check(doc: Any, schema: dict, where: str, *, error: type[EdgesnnError] = SchemaError) -> None:
    """Raise `error` naming `where` and the field when `doc` does not match `schema`."""
    if _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        raise error(f"{where}: nested deeper than {MAX_DEPTH} levels; not an edgesnn artifact")
    errors = list(Draft202012Validator(schema).iter_errors(doc))
    if not errors:
        return
    first = min(errors, key=lambda e: [str(p) for p in e.absolute_path])
    e = best_match([x for x in errors if list(x.absolute_path) == list(first.absolute_path)]) or first
    raise error(f"{where}: {field_path(e.absolute_path)}: {_message(e)}")


def _message(e) -> str:
    """jsonschema's message, shortened where it would print a whole sub-document."""
    msg = e.message
    return msg if len(msg) <= 200 else msg[:197] + "..."


# Building blocks the artifacts' schemas share.
INT = {"type": "integer"}
NUM = {"type": "number"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}


def int_range(lo: int | None = None, hi: int | None = None) -> dict:
    s: dict = {"type": "integer"}
    if lo is not None:
        s["minimum"] = lo
    if hi is not None:
        s["maximum"] = hi
    return s


def num_range(lo: float | None = None, hi: float | None = None, *, exclusive_lo: bool = False) -> dict:
    s: dict = {"type": "number"}
    if lo is not None:
        s["exclusiveMinimum" if exclusive_lo else "minimum"] = lo
    if hi is not None:
        s["maximum"] = hi
    return s


def obj(props: dict, required: list[str] | tuple[str, ...] = (), *, extra: bool = False) -> dict:
    """An object with these properties (and no others unless extra)."""
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": extra}


def array(items: dict, lo: int = 0, hi: int | None = None) -> dict:
    s: dict = {"type": "array", "items": items, "minItems": lo}
    if hi is not None:
        s["maxItems"] = hi
    return s
