"""Quantization: per-kind precision, post-training quantization, and the fixed-point arithmetic."""

from .config import ROUNDINGS, QuantConfig
from .ptq import quantize
from .qgraph import QGraph, QLayer
from .stateless import make_stateless, stateless_candidates

__all__ = ["ROUNDINGS", "QGraph", "QLayer", "QuantConfig", "make_stateless", "quantize", "stateless_candidates"]
