"""Quantization: per-kind precision, post-training quantization, and the fixed-point arithmetic."""

from .config import ROUNDINGS, QuantConfig
from .ptq import quantize
from .qgraph import QGraph, QLayer

__all__ = ["ROUNDINGS", "QGraph", "QLayer", "QuantConfig", "quantize"]
