"""Planner: quantization search, early-exit calibration, cost and memory fit -> Plan | Infeasible.

    plan(graph, board, x_val, y_val, target_acc=..., max_drop=..., objective=...)   (search.py)
    plan_summary(plan), front_table(plan)  the chosen plan in a few lines, the Pareto front as a table
    search_quantization(graph, x_val, y_val) -> Searched   the board-independent part, to plan many boards
    load_plan_or_model(path) -> QGraph   a PLAN.json's quantized graph (exit policy applied), a QGraph
                                         JSON, or a compiled blob; for `edgesnn run` and `compile`
    is_plan_file(path) -> bool           whether path is a PLAN.json (then `run` compiles the model in,
                                         as the plan places its weights in flash)
"""

from pathlib import Path

from ..artifact import load_json
from ..errors import EdgesnnError
from ..quantize import QGraph
from ..runtime.engines import load_model
from .exit import ExitPolicy, calibrate
from .search import (
    OBJECTIVES,
    Infeasible,
    Plan,
    PlanInputError,
    Searched,
    front_table,
    plan,
    plan_summary,
    search_quantization,
)

__all__ = ["OBJECTIVES", "ExitPolicy", "Infeasible", "Plan", "PlanInputError", "calibrate", "front_table",
           "is_plan_file", "load_plan_or_model", "plan", "plan_summary", "search_quantization", "Searched"]


def is_plan_file(path) -> bool:
    """True when `path` is a JSON file holding an edgesnn plan."""
    if Path(path).suffix != ".json" or not Path(path).is_file():
        return False
    d = load_json(path)
    return isinstance(d, dict) and d.get("artifact") == "plan"


def load_plan_or_model(path):
    """The QGraph to deploy from PLAN.json, a quantized model (.json) or a blob; a float model is refused."""
    if Path(path).suffix != ".blob":
        d = load_json(path)
        if isinstance(d, dict) and d.get("artifact") == "plan":
            return Plan.from_dict(d, str(path)).qgraph
    m = load_model(str(path))
    if not isinstance(m, QGraph):
        raise EdgesnnError(f"{path}: a float model; plan it first (`edgesnn plan`) or compile it with quantization "
                           "settings")
    return m
