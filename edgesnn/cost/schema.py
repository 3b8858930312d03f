"""The calibration file (calibration/BOARD.json) and the measurement rows (BOARD.measurements.jsonl): declared
here, checked where they are read (edgesnn.cost.model.load_calibration, edgesnn.calibrate.measure.load).

A calibration's coefficients are finite non-negative numbers with a source; its board, when it names one, must
be the board it is used for (checked by cost.model.coefficients). A measurement row's fields have the types the
fit reads: counts and measurements finite and non-negative, the layer facts (`info`) the cost terms use typed,
so that a hand-edited row is rejected with its file and line instead of failing inside the fit. JSON's NaN
and Infinity are refused (Python's json module parses them; jsonschema's ranges do not exclude them).
"""

from __future__ import annotations

import math

from ..graph.kinds import KINDS
from ..quantize.qgraph import WEIGHT_STORAGE_BITS  # a weight's stored bits: info.weight_bits
from ..schema import BOOL, STR, SchemaError, array, int_range, num_range, obj


class CalibrationSchemaError(SchemaError):
    """A calibration or measurements file does not have the declared shape."""


NONNEG = num_range(0)
COEFFICIENT = obj({"value": NONNEG, "source": STR}, ["value"])

CALIBRATION = obj({
    "artifact": {"const": "calibration"}, "edgesnn_version": STR, "board": STR, "id": STR, "created": STR,
    "provenance": {"type": "object"}, "coefficients": {"type": "object", "additionalProperties": COEFFICIENT},
    "fit": {"type": "object"}, "held_out": {"type": "object"},
    # emulated boards: the same terms fitted to estimated cycles (edgesnn.firmware.cycles), beside the
    # instruction fit in "coefficients"; files made before edgesnn recorded them have neither
    "cycle_coefficients": {"type": "object", "additionalProperties": COEFFICIENT}, "fit_cycles": {"type": "object"},
}, ["artifact", "coefficients"])

_COUNT = int_range(0)
# the facts cost.layer_info records and cost.layer_terms reads: a family, kind or reset it does not know would
# silently price the row as something else
INFO = {"type": "object", "properties": {
    **{k: _COUNT for k in ("channels", "nodes", "input_size", "output_size", "output_edges", "per_neuron_params",
                           "noise_draws")},
    **{k: int_range(1) for k in ("in_size", "out_size", "edges")},
    "weight_bits": {"enum": list(WEIGHT_STORAGE_BITS)},
    "family": {"enum": sorted({k.family for k in KINDS.values() if k.family})},
    "kind": {"enum": list(KINDS)},
    "reset": {"enum": ["zero", "value", "subtract", "subtract_late"]},
    **{k: BOOL for k in ("bias", "graded", "fast", "wide_state", "strided", "width_select", "clamped", "shifted",
                         "analog", "exit", "analog_input")}}}

ROW = obj({
    "v": int_range(1), "board": STR, "runtime": STR, "unit": STR, "schedule": STR, "bench": STR,
    "inputs": _COUNT, "steps": _COUNT, "layer": STR, "info": INFO,
    "counts": {"type": "object", "additionalProperties": NONNEG}, "measured": NONNEG, "layers_measured": NONNEG,
    "firmware": STR, "compiler": STR, "cflags": array(STR), "runtime_sources": STR,
    "tick_hz": {"anyOf": [int_range(1), {"type": "null"}]}, "date": STR, "edgesnn_version": STR,
    "spec": {"type": "object"},
}, ["v", "board", "runtime", "unit", "bench", "layer", "info", "counts", "measured"], extra=True)


def non_finite(doc, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in a parsed JSON document, else None (iterative)."""
    todo = [(doc, path)]
    while todo:
        x, p = todo.pop()
        if isinstance(x, float) and not math.isfinite(x):
            return p or "(top level)"
        if isinstance(x, dict):
            todo += [(v, f"{p}.{k}" if p else str(k)) for k, v in x.items()]
        elif isinstance(x, list):
            todo += [(v, f"{p}[{i}]") for i, v in enumerate(x)]
    return None
