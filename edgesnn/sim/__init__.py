"""Simulators: the float reference (and, later, the fixed-point reference)."""

from .float_sim import COUNTERS, SimResult, simulate

__all__ = ["COUNTERS", "SimResult", "simulate"]
