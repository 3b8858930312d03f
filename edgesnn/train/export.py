"""A trained `SNN` <-> an edgesnn graph whose nodes compute what the torch layers computed.

`to_graph` writes the model as IR nodes; `from_graph` builds the torch model back from a graph that
`to_graph` could have written (a chain of the kinds below, neurons with gain 1 and bias 0), so a
saved model can be fine-tuned, for instance with quantization-aware training.

    torch layer                 IR nodes (names numbered per kind in layer order)
    Affine                      fcN (Affine, or Linear without a bias)
    Conv2d                      convN
    SumPool2d / AvgPool2d       poolN
    Flatten                     flattenN
    LIF / CubaLIF / ALIF / LI   lifN / cubalifN / alifN / liN
    Recurrent(neuron)           the neuron's node, and recN (Linear [n, n]) with the edges
                                neuron -> recN -> neuron (a back edge: last step's spikes)
"""

from __future__ import annotations

import numpy as np
import torch
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


def _neuron_prefix(layer) -> str:
    if isinstance(layer, L.Recurrent):
        layer = layer.neuron
    if isinstance(layer, L.CubaLIF):
        return "cubalif"
    if isinstance(layer, L.ALIF):
        return "alif"
    return "lif" if isinstance(layer, L.LIF) else "li"


def layer_names(model: L.SNN) -> list[dict[str, str]]:
    """For each layer of `model`, the IR node names `to_graph` gives it: {'node': name}, plus
    {'rec': name} for a Recurrent layer's recurrent Linear."""
    counters: dict[str, int] = {}

    def name(kind: str) -> str:
        counters[kind] = counters.get(kind, 0) + 1
        return f"{kind}{counters[kind]}"

    out = []
    for layer in model.layers:
        if isinstance(layer, L.Affine):
            out.append({"node": name("fc")})
        elif isinstance(layer, L.Conv2d):
            out.append({"node": name("conv")})
        elif isinstance(layer, L.SumPool2d):
            out.append({"node": name("pool")})
        elif isinstance(layer, L.Flatten):
            out.append({"node": name("flatten")})
        elif isinstance(layer, L.NEURONS):
            d = {"node": name(_neuron_prefix(layer))}
            if isinstance(layer, L.Recurrent):
                d["rec"] = name("rec")
            out.append(d)
        else:
            raise EdgesnnError(f"layer {type(layer).__name__} has no IR equivalent")
    return out


def _neuron_node(layer, nm: str, out) -> ir.Node:
    common = dict(name=nm, gain=np.ones(out, np.float32), bias=np.zeros(out, np.float32))
    if isinstance(layer, L.ALIF):
        with torch.no_grad():
            alpha, rho = layer.alpha, layer.rho  # the float32 values the forward pass uses
        return ir.ALIF(**common, alpha=_per_neuron(alpha, out, nm), rho=_per_neuron(rho, out, nm),
                       b0=_per_neuron(layer.b0, out, nm), beta=_per_neuron(layer.beta, out, nm), spike_rule=">")
    alpha = _per_neuron(layer.alpha, out, nm)
    if np.any(alpha < 0) or np.any(alpha > 1):
        raise EdgesnnError(f"{nm}: alpha outside [0, 1]; call model.project_() after each step")
    if isinstance(layer, L.LI):
        return ir.LI(**common, alpha=alpha)
    spiking = dict(threshold=_per_neuron(layer.threshold, out, nm), v_reset=np.zeros(out, np.float32),
                   reset="subtract", spike_rule=">", reset_late=False, max_spikes=1)
    if isinstance(layer, L.CubaLIF):
        return ir.CubaLIF(**common, **spiking, alpha=alpha, alpha_syn=_per_neuron(layer.alpha_syn, out, nm),
                          gain_syn=np.ones(out, np.float32), syn_delay=False)
    return ir.LIF(**common, **spiking, alpha=alpha)


def to_graph(model: L.SNN, input_shape, dt: float = 1e-3, meta: dict | None = None) -> ir.Graph:
    """Export `model` (run on inputs [N, T, *input_shape]) as Input -> layers -> Output.

    Arrays are float32, the values the forward pass used. Neuron parameters become per-neuron
    arrays (a per-channel alpha or threshold is broadcast over the spatial axes); gain is 1 and
    bias 0 (biases live in the preceding Affine/Conv2d), v_reset 0 (unused: reset='subtract').
    A Recurrent layer adds a Linear node and a back edge (see the module docstring).
    `dt` (seconds) only labels the time step, for NIR's continuous-time parameters.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if tuple(model.input_shape) != input_shape:
        raise EdgesnnError(f"the model was built for input shape {model.input_shape}, not {input_shape}")
    nodes: list[ir.Node] = [ir.Input(name="input", shape=input_shape)]
    edges: list[tuple[str, str]] = []
    shape, prev = input_shape, "input"

    for layer, names in zip(model.layers, layer_names(model)):
        nm = names["node"]
        out = tuple(layer.out_shape(shape))
        if isinstance(layer, L.Affine):
            w = _np(layer.weight)
            node = ir.Linear(name=nm, weight=w) if layer.bias is None else ir.Affine(name=nm, weight=w,
                                                                                      bias=_np(layer.bias))
        elif isinstance(layer, L.Conv2d):
            c: nn.Conv2d = layer.conv
            if isinstance(c.padding, str) or c.padding_mode != "zeros":
                raise EdgesnnError(f"Conv2d padding {c.padding!r} / mode {c.padding_mode!r}: only explicit "
                                   "zero padding exports")
            bias = _np(c.bias) if c.bias is not None else np.zeros(c.out_channels, np.float32)
            node = ir.Conv2d(name=nm, weight=_np(c.weight), bias=bias, stride=c.stride, padding=c.padding,
                             dilation=c.dilation, groups=c.groups)
        elif isinstance(layer, L.SumPool2d):
            cls = ir.AvgPool2d if layer.average else ir.SumPool2d
            node = cls(name=nm, kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding)
        elif isinstance(layer, L.Flatten):
            node = ir.Flatten(name=nm, start_dim=layer.start_dim, end_dim=layer.end_dim)
        else:
            neuron = layer.neuron if isinstance(layer, L.Recurrent) else layer
            node = _neuron_node(neuron, nm, out)
        nodes.append(node)
        edges.append((prev, nm))
        if isinstance(layer, L.Recurrent):
            nodes.append(ir.Linear(name=names["rec"], weight=_np(layer.weight)))
            edges += [(nm, names["rec"]), (names["rec"], nm)]
        shape, prev = out, nm
    nodes.append(ir.Output(name="output", shape=shape))
    edges.append((prev, "output"))
    info = {"source": "edgesnn.train"}
    info.update(meta or {})
    return ir.Graph({n.name: n for n in nodes}, edges, float(dt), info)


# ----------------------------------------------------------------------------------------------
# Graph -> torch
# ----------------------------------------------------------------------------------------------

def _param_shape(arrays: list[np.ndarray]) -> tuple:
    """Per channel ([C, 1, 1]) when every array is constant over the spatial axes, else per neuron."""
    a0 = arrays[0]
    if a0.ndim == 3 and all(np.array_equal(a, np.broadcast_to(a[:, :1, :1], a.shape)) for a in arrays):
        return (a0.shape[0], 1, 1)
    return a0.shape


def _set(param: torch.Tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.array(value, dtype=np.float32).reshape(param.shape)))


def _torch_neuron(node: ir.Node) -> nn.Module:
    where = f"node {node.name!r} ({node.kind})"
    if np.any(node.gain != 1) or np.any(node.bias != 0):
        raise EdgesnnError(f"{where}: from_graph needs gain 1 and bias 0 (fold them into the layer before)")
    shape = node.gain.shape
    if isinstance(node, ir.ALIF):
        keys = ["alpha", "rho", "b0", "beta"]
    elif isinstance(node, ir.LI):
        keys = ["alpha"]
    elif isinstance(node, (ir.LIF, ir.CubaLIF)):
        if node.reset != "subtract" or node.reset_late or node.spike_rule != ">" or node.max_spikes != 1:
            raise EdgesnnError(f"{where}: from_graph needs reset='subtract' (immediate), spike_rule '>', "
                               "one spike per step")
        keys = ["alpha", "threshold"] + (["alpha_syn"] if isinstance(node, ir.CubaLIF) else [])
        if isinstance(node, ir.CubaLIF) and (node.syn_delay or np.any(node.gain_syn != 1)):
            raise EdgesnnError(f"{where}: from_graph needs gain_syn 1 and no synaptic delay")
    else:
        raise EdgesnnError(f"{where}: no torch layer for this kind")
    arrays = {k: getattr(node, k) for k in keys}
    ps = _param_shape(list(arrays.values()))
    red = {k: (a[:, :1, :1] if len(ps) == 3 and ps[1:] == (1, 1) and a.ndim == 3 else a) for k, a in arrays.items()}
    if isinstance(node, ir.ALIF):
        layer = L.ALIF(shape, param_shape=ps)
        with np.errstate(divide="ignore"):
            # alpha = exp(-exp(-log_tau))  <=>  log_tau = -log(-log(alpha)); the float32 round trip
            # may move alpha by one ulp, which the caller sees in to_graph's output, not silently
            for k, pname in (("alpha", "log_tau_m"), ("rho", "log_tau_adp")):
                a = np.clip(red[k].astype(np.float64), 1e-30, 1 - 1e-12)
                _set(getattr(layer, pname), -np.log(-np.log(a)))
        _set(layer.b0, red["b0"])
        _set(layer.beta, red["beta"])
        layer.b0_min = min(layer.b0_min, float(red["b0"].min()))
        layer.log_tau_max = max(layer.log_tau_max, float(layer.log_tau_m.detach().max()),
                                float(layer.log_tau_adp.detach().max()))
        return layer
    amax = max(0.99, float(max(red[k].max() for k in red if k.startswith("alpha"))))
    if isinstance(node, ir.LI):
        layer = L.LI(shape, param_shape=ps, alpha_max=amax)
    else:
        cls = L.CubaLIF if isinstance(node, ir.CubaLIF) else L.LIF
        layer = cls(shape, param_shape=ps, alpha_max=amax,
                    threshold_min=min(0.05, float(red["threshold"].min())))
        _set(layer.threshold, red["threshold"])
        if isinstance(node, ir.CubaLIF):
            _set(layer.alpha_syn, red["alpha_syn"])
    _set(layer.alpha, red["alpha"])
    return layer


def from_graph(graph: ir.Graph) -> L.SNN:
    """The torch model of a graph `to_graph` could have written (see the module docstring).

    Per-neuron parameters that are constant over a convolution's spatial axes become per-channel
    parameters again. LIF, LI, CubaLIF parameters are copied exactly; ALIF's decays go through the
    log-time-constant parameterisation, which may move them by a float32 ulp.
    """
    sched = graph.schedule()
    back = sched.back_edges
    layers: list[nn.Module] = []
    order = [k for k in sched.order if not isinstance(graph.nodes[k], (ir.Input, ir.Output))]
    rec_of = {b: a for a, b in back}  # neuron -> its recurrent Linear
    for k in order:
        node = graph.nodes[k]
        preds = [a for a in graph.predecessors(k) if (a, k) not in back]
        if len(preds) != 1:
            raise EdgesnnError(f"node {k!r}: from_graph reads chains (one forward input per node)")
        if k in rec_of.values():
            continue  # a recurrent Linear, taken with its neuron
        if type(node) is ir.Linear:
            out_f, in_f = node.weight.shape
            layer = L.Affine(in_f, out_f, bias=False)
            _set(layer.weight, node.weight)
        elif isinstance(node, ir.Affine):
            out_f, in_f = node.weight.shape
            layer = L.Affine(in_f, out_f)
            _set(layer.weight, node.weight)
            _set(layer.bias, node.bias)
        elif isinstance(node, ir.Conv2d) and not isinstance(node, ir.Conv1d):
            w = node.weight
            layer = L.Conv2d(w.shape[1] * node.groups, w.shape[0], tuple(w.shape[2:]), stride=node.stride,
                             padding=node.padding, dilation=node.dilation, groups=node.groups)
            _set(layer.conv.weight, w)
            _set(layer.conv.bias, node.bias)
        elif isinstance(node, ir.SumPool2d):
            cls = L.AvgPool2d if isinstance(node, ir.AvgPool2d) else L.SumPool2d
            layer = cls(node.kernel_size, node.stride, node.padding)
        elif isinstance(node, ir.Flatten):
            layer = L.Flatten(node.start_dim, node.end_dim)
        elif isinstance(node, ir.NEURON_TYPES):
            layer = _torch_neuron(node)
            if k in rec_of:
                rec = graph.nodes[rec_of[k]]
                if type(rec) is not ir.Linear or graph.predecessors(rec.name) != [k]:
                    raise EdgesnnError(f"node {k!r}: its recurrent input must be a Linear fed by it alone")
                layer = L.Recurrent(layer)
                _set(layer.weight, rec.weight)
        else:
            raise EdgesnnError(f"node {k!r} ({node.kind}): no torch layer for this kind")
        layers.append(layer)
    return L.SNN(graph.input.shape, *layers)
