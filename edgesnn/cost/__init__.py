"""Cost model: counts from simulated activity x per-board coefficients (see cost/model.py)."""

from .model import (Coefficients, CostReport, LayerCost, coefficients, estimate, load_calibration, memory,
                    memory_terms, schedule_arenas)
from .runtime_size import runtime_code_bytes

__all__ = ["Coefficients", "CostReport", "LayerCost", "coefficients", "estimate", "load_calibration", "memory",
           "memory_terms", "runtime_code_bytes", "schedule_arenas"]
