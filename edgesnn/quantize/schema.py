"""The quantized graph's file form (QGraph.to_dict): declared here, checked by QGraph.from_dict at every load.

The float graph inside is the model artifact's (edgesnn/graph/schema.py, checked by Graph.from_dict); what
this schema adds is the integer side: the settings (exact integers in their ranges, a known rounding), the
exit policy, and per layer its stored integer arrays (dtype, shape bounded before anything is decoded),
scales and target. What a schema cannot say - the values the runtime accepts, the accumulator bound, the
sizes the graph implies - is checked after it by edgesnn.emit.blob.check_qgraph, the C loader's checks in
Python, so a quantized graph loads exactly when the runtime would run it.
"""

from __future__ import annotations

from ..schema import STR, SchemaError, array, int_range, num_range, obj
from .config import INPUT_BITS, INPUT_SCALES, RANGES, ROUNDINGS

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")
MAX_DIM = 1 << 26  # the runtime's ESN_MAX_ELEMS: no parameter array holds more


class QGraphSchemaError(SchemaError):
    """A quantized graph's file does not have the declared shape."""


INT_ARRAY = obj({"dtype": {"enum": list(INT_DTYPES)}, "shape": array(int_range(0, MAX_DIM), 0, 4),
                 "b64": STR}, ["dtype", "shape", "b64"])

CONFIG = obj({**{k: int_range(lo, hi) for k, (lo, hi) in RANGES.items()},
              "threshold_bits": {"anyOf": [int_range(*RANGES["threshold_bits"]), {"type": "null"}]},
              "rounding": {"enum": list(ROUNDINGS)}, "seed": int_range(0, 2 ** 32 - 1),
              "input_bits": {"enum": list(INPUT_BITS)}, "input_scale": {"enum": list(INPUT_SCALES)}},
             ["weight_bits", "state_bits", "decay_bits", "rounding"])

EXIT = {"anyOf": [{"type": "null"},
                  obj({"threshold_q8": int_range(0, 2 ** 31 - 1), "beta_q16": int_range(1, 2 ** 31 - 1)},
                      ["threshold_q8", "beta_q16"])]}

LAYER = obj({"params": {"type": "object", "additionalProperties": INT_ARRAY,
                        "propertyNames": {"enum": ["weight", "bias", "threshold", "v_reset", "alpha", "alpha_syn",
                                                   "cur_mult", "rho", "b0", "beta", "eta_inc"]}},
             "scales": {"type": "object", "additionalProperties": num_range(0, exclusive_lo=True)},
             "target": {"anyOf": [STR, {"type": "null"}]}, "into": {"enum": ["v", "i"]},
             "max_in": int_range(1, 2 ** 16), "acc_shift": int_range(0, 30)}, ["params", "scales"])

QGRAPH = obj({"artifact": {"const": "qgraph"}, "edgesnn_version": STR, "config": CONFIG,
              "meta": {"type": "object"}, "exit": EXIT, "graph": {"type": "object"},
              "layers": {"type": "object", "additionalProperties": LAYER},
              # analog input: the real value of one input unit, one per tensor or per input channel
              "input_scale": {"anyOf": [{"type": "null"}, array(num_range(0, exclusive_lo=True), 1, MAX_DIM)]}},
             ["artifact", "config", "graph", "layers"])

__all__ = ["CONFIG", "EXIT", "INT_ARRAY", "QGRAPH", "QGraphSchemaError"]
