"""A trained `SNN` -> an edgesnn graph whose nodes compute what the torch layers computed."""

from __future__ import annotations

import numpy as np
from torch import nn

from ..errors import EdgesnnError
from ..graph import ir
from . import layers as L


def _np(t) -> np.ndarray:
    return t.detach().cpu().to(dtype=t.dtype).numpy().astype(np.float32)


def _per_neuron(p, shape, what: str) -> np.ndarray:
    a = _np(p)
    try:
        return np.ascontiguousarray(np.broadcast_to(a, shape), dtype=np.float32)
    except ValueError:
        raise EdgesnnError(f"{what}: parameter of shape {a.shape} does not broadcast to the neurons {shape}") \
            from None


def to_graph(model: L.SNN, input_shape, dt: float = 1e-3, meta: dict | None = None) -> ir.Graph:
    """Export `model` (run on inputs [N, T, *input_shape]) as a chain Input -> layers -> Output.

    Arrays are float32, the values the forward pass used. Neuron parameters become per-neuron
    arrays (a per-channel alpha or threshold is broadcast over the spatial axes); gain is 1 and
    bias 0 (biases live in the preceding Affine/Conv2d), v_reset 0 (unused: reset='subtract').
    `dt` (seconds) only labels the time step, for NIR's continuous-time parameters.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if tuple(model.input_shape) != input_shape:
        raise EdgesnnError(f"the model was built for input shape {model.input_shape}, not {input_shape}")
    nodes: list[ir.Node] = [ir.Input(name="input", shape=input_shape)]
    counters: dict[str, int] = {}
    shape = input_shape

    def name(kind: str) -> str:
        counters[kind] = counters.get(kind, 0) + 1
        return f"{kind}{counters[kind]}"

    for layer in model.layers:
        out = tuple(layer.out_shape(shape))
        if isinstance(layer, L.Affine):
            w = _np(layer.weight)
            if layer.bias is None:
                nodes.append(ir.Linear(name=name("fc"), weight=w))
            else:
                nodes.append(ir.Affine(name=name("fc"), weight=w, bias=_np(layer.bias)))
        elif isinstance(layer, L.Conv2d):
            c: nn.Conv2d = layer.conv
            if isinstance(c.padding, str) or c.padding_mode != "zeros":
                raise EdgesnnError(f"Conv2d padding {c.padding!r} / mode {c.padding_mode!r}: only explicit "
                                   "zero padding exports")
            bias = _np(c.bias) if c.bias is not None else np.zeros(c.out_channels, np.float32)
            nodes.append(ir.Conv2d(name=name("conv"), weight=_np(c.weight), bias=bias, stride=c.stride,
                                   padding=c.padding, dilation=c.dilation, groups=c.groups))
        elif isinstance(layer, L.SumPool2d):
            cls = ir.AvgPool2d if layer.average else ir.SumPool2d
            nodes.append(cls(name=name("pool"), kernel_size=layer.kernel_size, stride=layer.stride,
                             padding=layer.padding))
        elif isinstance(layer, L.Flatten):
            nodes.append(ir.Flatten(name=name("flatten"), start_dim=layer.start_dim, end_dim=layer.end_dim))
        elif isinstance(layer, (L.LIF, L.LI)):
            nm = name("lif" if isinstance(layer, L.LIF) else "li")
            alpha = _per_neuron(layer.alpha, out, nm)
            if np.any(alpha < 0) or np.any(alpha > 1):
                raise EdgesnnError(f"{nm}: alpha outside [0, 1]; call model.project_() after each step")
            common = dict(name=nm, alpha=alpha, gain=np.ones(out, np.float32), bias=np.zeros(out, np.float32))
            if isinstance(layer, L.LIF):
                nodes.append(ir.LIF(**common, threshold=_per_neuron(layer.threshold, out, nm),
                                    v_reset=np.zeros(out, np.float32), reset="subtract", spike_rule=">",
                                    reset_late=False, max_spikes=1))
            else:
                nodes.append(ir.LI(**common))
        else:
            raise EdgesnnError(f"layer {type(layer).__name__} has no IR equivalent")
        shape = out
    nodes.append(ir.Output(name="output", shape=shape))
    edges = [(a.name, b.name) for a, b in zip(nodes, nodes[1:])]
    info = {"source": "edgesnn.train"}
    info.update(meta or {})
    return ir.Graph({n.name: n for n in nodes}, edges, float(dt), info)
