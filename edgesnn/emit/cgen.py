"""Small helpers that write C literals; emit/csource.py builds model.c/model.h from them.

>>> c_int(-2147483648)
'(-2147483647 - 1)'
>>> c_ident("lif1.w_rec")
'lif1_w_rec'
>>> c_ident("0")
'n_0'
>>> c_comment("a */ b")
'/* a * / b */'
>>> print(c_array("int8_t", "w", np.array([1, -2, 3]), per_line=2))
static const int8_t w[3] = {
    1, -2,
    3,
};
"""

from __future__ import annotations

import re

import numpy as np


def c_int(v: int) -> str:
    """An integer literal of any value in int64 range (INT_MIN cannot be written as one token)."""
    v = int(v)
    if v == -2 ** 31:
        return "(-2147483647 - 1)"
    if v == -2 ** 63:
        return "(-9223372036854775807LL - 1)"
    return str(v)


def c_ident(name: str) -> str:
    """A C identifier made from a node name (not unique by itself: callers add an index)."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return s if s and not s[0].isdigit() else f"n_{s}"


def c_comment(text: str) -> str:
    return "/* " + str(text).replace("*/", "* /") + " */"


def c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 16, align: str = "") -> str:
    """A `static const` array definition, `per_line` values a line; `align` a specifier put before the type
    (e.g. "ESN_ALIGN(4)", esn_config.h)."""
    vals = [c_int(v) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line)]
    spec = f"{align} " if align else ""
    return (f"static {spec}const {ctype} {name}[{len(vals)}] = {{\n" + "".join(f"    {ln}\n" for ln in lines)
            + "};")


def c_list(values) -> str:
    """A brace list of integers: {1, 2, 3}."""
    return "{" + ", ".join(c_int(v) for v in values) + "}"
