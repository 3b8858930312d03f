"""Planner: quantization search, early-exit calibration, cost and memory fit -> Plan | Infeasible.

    plan(graph, board, x_val, y_val, target_acc=..., max_drop=..., objective=...)   (search.py)
    plan_summary(plan), front_table(plan)  the chosen plan in a few lines, the Pareto front as a table
    search_quantization(graph, x_val, y_val) -> Searched   the board-independent part, to plan many boards
    Plan.from_dict / save                  PLAN.json (edgesnn.api.load reads it, api.deployable gives its QGraph)
"""

from .exit import ExitPolicy, calibrate
from .search import (
    OBJECTIVES,
    Infeasible,
    Plan,
    PlanBoardMismatch,
    PlanFileError,
    PlanInputError,
    Searched,
    front_table,
    plan,
    plan_summary,
    search_quantization,
)

__all__ = ["OBJECTIVES", "ExitPolicy", "Infeasible", "Plan", "PlanBoardMismatch", "PlanFileError", "PlanInputError",
           "calibrate", "front_table", "plan", "plan_summary", "search_quantization", "Searched"]
