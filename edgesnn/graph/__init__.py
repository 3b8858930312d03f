"""Graph IR and its import from / export to NIR."""

from .ir import (ALIF, IF, LI, LIF, NODE_TYPES, Affine, AvgPool2d, Conv1d, Conv2d, CubaLI, CubaLIF,
                 Flatten, Graph, Input, Linear, Node, Output, Scale, Schedule, SumPool2d, Threshold)

__all__ = ["ALIF", "IF", "LI", "LIF", "NODE_TYPES", "Affine", "AvgPool2d", "Conv1d", "Conv2d", "CubaLI",
           "CubaLIF", "Flatten", "Graph", "Input", "Linear", "Node", "Output", "Scale", "Schedule",
           "SumPool2d", "Threshold"]
