"""PLAN.json's file form (Plan.to_dict): declared here, checked by Plan.from_dict at every load.

Types are exact (a string is not a number, 2.5 is not an integer, true is not 1), the schedule is one the
runtime runs, the exit policy's integers fit the runtime's int32 fields, a grouped schedule's steps are
there. What a schema cannot say is checked by Plan.from_dict after it: the visible fields against the
embedded quantized graph (quant_config, exit, exit_confidence), every field against the plan's own record
of it (edits are refused, naming the field), and at deployment the board and the placement
(Plan.deploy_on).
"""

from __future__ import annotations

from ..quantize.schema import CONFIG
from ..schema import NUM, STR, SchemaError, array, int_range, num_range, obj

SCHEDULE_LABELS = ("time-step-major", "fused", "layer-major")
OBJECTIVES = ("energy", "latency", "flash", "sram", "edp")
INT32 = 2 ** 31 - 1


class PlanSchemaError(SchemaError):
    """A plan file does not have the declared shape."""


def _nullable(s: dict) -> dict:
    return {"anyOf": [s, {"type": "null"}]}


FRACTION = num_range(0, 1)

EXIT = obj({"threshold_q8": _nullable(int_range(0, INT32)), "beta_q16": _nullable(int_range(1, INT32)),
            "accuracy": FRACTION, "mean_steps": num_range(0), "full_accuracy": FRACTION,
            "full_steps": int_range(1, INT32), "curve": array({"type": "object"})},
           ["threshold_q8", "beta_q16", "accuracy", "mean_steps", "full_accuracy", "full_steps"])

PLAN = obj({
    "artifact": {"const": "plan"}, "edgesnn_version": STR,
    "board": {"type": "string", "minLength": 1, "maxLength": 200},
    "calibration": _nullable(STR),
    "schedule": {"enum": list(SCHEDULE_LABELS)},
    "placement": obj({"weights": STR, "arena": STR}, ["weights", "arena"]),
    "quant_config": CONFIG, "exit": EXIT, "accuracy": FRACTION, "float_accuracy": FRACTION,
    "objective": {"enum": list(OBJECTIVES)},
    "target": obj({"max_drop": FRACTION, "target_acc": FRACTION, "accuracy": num_range(-1, 1),
                   "confidence": _nullable(FRACTION)}, ["accuracy"], extra=True),
    "cost": obj({"totals": {"type": "object"}, "calibration": _nullable(STR)}, ["totals"], extra=True),
    "front": array({"type": "object"}), "sensitivity": array({"type": "object"}),
    "searched": int_range(0), "data": obj({"inputs": int_range(0), "steps": int_range(1, 2 ** 32 - 1)},
                                          ["inputs", "steps"]),
    "confidence": {"type": "object"}, "notes": array(STR), "search_space": {"type": "object"},
    "exit_confidence": _nullable(obj({"confidence": NUM, "temperature": NUM, "entropy_nats": NUM},
                                     ["confidence", "temperature", "entropy_nats"])),
    "qgraph": {"type": "object"},
    "record": obj({"sha256": {"type": "object", "additionalProperties": {"type": "string"}}}, ["sha256"]),
}, ["artifact", "board", "schedule", "placement", "quant_config", "exit", "accuracy", "float_accuracy",
    "objective", "target", "cost", "data", "qgraph", "record"])
