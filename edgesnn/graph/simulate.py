"""Float reference simulator: numpy, batched over inputs, one time step at a time.

It runs exactly the equations in the node docstrings of `edgesnn.graph.ir` and counts, per node,
per input and per step, the activity the cost model is written in:

    spikes_in       nonzero input entries of a synaptic layer (events; a real-valued input counts too)
    synops          synaptic operations done event-driven: sum over input events of their fan-out
    neuron_updates  neurons updated (every neuron, every step)
    spikes_out      spikes emitted (a multi-spike step counts each spike)

Computation is in float32 by default, as the training frameworks run, so that thresholds are
crossed at the same step they are there; pass dtype=np.float64 for a tighter reference.
"""

from __future__ import annotations

import numpy as np

from ..errors import SimulationError
from ..measurement import Measurement
from ..progress import Progress
from . import ir
from .kinds import KINDS

COUNTERS = ("spikes_in", "synops", "neuron_updates", "spikes_out")


SimResult = Measurement  # the one result type of every engine (edgesnn.measurement)


# ----------------------------------------------------------------------------------------------
# Synaptic layers: forward maps and the fan-out of every input entry
# ----------------------------------------------------------------------------------------------

def _cover(n_in: int, n_out: int, k: int, stride: int, pad: int, dil: int) -> np.ndarray:
    """How many (output position, kernel tap) pairs read each input position along one axis."""
    cover = np.zeros(n_in, dtype=np.int64)
    for o in range(n_out):
        for j in range(k):
            i = o * stride - pad + j * dil
            if 0 <= i < n_in:
                cover[i] += 1
    return cover


def fanout(node: ir.Node, in_shape: tuple, out_shape: tuple) -> np.ndarray | None:
    """Synaptic operations one unit input event at each position causes (shape = in_shape)."""
    if isinstance(node, ir.Linear):
        return np.full(in_shape, node.weight.shape[0], dtype=np.int64)
    if isinstance(node, ir.Scale):
        return np.ones(in_shape, dtype=np.int64)
    if isinstance(node, (ir.Conv2d, ir.SumPool2d)):
        if isinstance(node, ir.Conv2d):
            ks, per_channel = node.weight.shape[2:], node.weight.shape[0] // node.groups
            dil = node.dilation
        else:
            ks, per_channel, dil = node.kernel_size, 1, (1, 1)
        f = np.full(in_shape[0], per_channel, dtype=np.int64)
        for ax in range(len(in_shape) - 1):
            c = _cover(in_shape[1 + ax], out_shape[1 + ax], ks[ax], node.stride[ax], node.padding[ax], dil[ax])
            f = np.multiply.outer(f, c)
        return f
    return None


def _windows(x: np.ndarray, ks, stride, pad, dil) -> np.ndarray:
    """[N, C, *S] -> [N, C, *O, *K] views of every kernel window (zero padding)."""
    nsp = len(ks)
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    span = [d * (k - 1) + 1 for k, d in zip(ks, dil)]
    w = np.lib.stride_tricks.sliding_window_view(x, span, axis=tuple(range(2, 2 + nsp)))
    sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) + tuple(
        slice(None, None, d) for d in dil)
    return w[sl]


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Batched convolution [N, C, *S] -> [N, C_out, *O] in x's dtype (exact for integer dtypes)."""
    nsp = w.ndim - 2
    win = _windows(x, w.shape[2:], stride, padding, dilation)  # [N, C, *O, *K]
    n, out_sp = x.shape[0], win.shape[2:2 + nsp]
    cin_g, cout_g = w.shape[1], w.shape[0] // groups
    perm = (0, *range(2, 2 + nsp), 1, *range(2 + nsp, 2 + 2 * nsp))  # -> [N, *O, C, *K]
    outs = []
    for gi in range(groups):
        cols = np.ascontiguousarray(win[:, gi * cin_g:(gi + 1) * cin_g].transpose(perm))
        cols = cols.reshape(n * int(np.prod(out_sp)), -1)
        wmat = w[gi * cout_g:(gi + 1) * cout_g].reshape(cout_g, -1)
        outs.append((cols @ wmat.T).reshape(n, *out_sp, cout_g))
    y = np.moveaxis(np.concatenate(outs, axis=-1), -1, 1)
    return y + b.reshape(-1, *([1] * nsp))


def pool_sum(x: np.ndarray, kernel_size, stride, padding) -> np.ndarray:
    return _windows(x, kernel_size, stride, padding, (1, 1)).sum(axis=(-2, -1))


def conv_forward(node: ir.Conv2d, x: np.ndarray) -> np.ndarray:
    return conv(x, node.weight.astype(x.dtype, copy=False), node.bias.astype(x.dtype, copy=False),
                node.stride, node.padding, node.dilation, node.groups)


def pool_forward(node: ir.SumPool2d, x: np.ndarray) -> np.ndarray:
    y = pool_sum(x, node.kernel_size, node.stride, node.padding)
    if isinstance(node, ir.AvgPool2d):
        y = y / x.dtype.type(node.kernel_size[0] * node.kernel_size[1])
    return y


def synaptic_forward(node: ir.Node, x: np.ndarray) -> np.ndarray:
    if isinstance(node, ir.Linear):
        y = x @ node.weight.astype(x.dtype, copy=False).T
        if isinstance(node, ir.Affine):
            y = y + node.bias.astype(x.dtype, copy=False)
        return y
    if isinstance(node, ir.Conv2d):
        return conv_forward(node, x)
    if isinstance(node, ir.SumPool2d):
        return pool_forward(node, x)
    if isinstance(node, ir.Scale):
        return x * node.scale.astype(x.dtype, copy=False)
    raise SimulationError(f"node {node.name!r}: no forward for kind {node.kind}")  # pragma: no cover


# ----------------------------------------------------------------------------------------------
# Neurons
# ----------------------------------------------------------------------------------------------

def _crosses(v, thr, rule):
    return v > thr if rule == ">" else v >= thr


class NeuronState:
    """Per-neuron state of one layer for a batch, and its one-step update."""

    def __init__(self, node: ir.Node, n: int, dtype):
        self.node, self.dtype = node, dtype
        self.kind = KINDS[node.kind]
        shape = (n, *node.neuron_shape)
        p = {k: a.astype(dtype) for k, a in node.arrays().items()}
        self.p = p
        for var in self.kind.state:  # v, then i (current-based) or eta (adaptive)
            setattr(self, var, np.zeros(shape, dtype))
        if getattr(node, "reset_late", False):
            self.pending = np.zeros(shape, dtype)

    def variables(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.kind.state}

    def step(self, x: np.ndarray) -> np.ndarray:
        node, p = self.node, self.p
        if isinstance(node, ir.Threshold):  # no state: this step's input against the threshold
            return _crosses(x, p["threshold"], node.spike_rule).astype(self.dtype)
        drive = x
        if self.kind.current:
            i_prev = self.i
            self.i = p["alpha_syn"] * self.i + p["gain_syn"] * x
            drive = i_prev if node.syn_delay else self.i
        leak = p["alpha"] * self.v if "alpha" in p else self.v
        v = leak + p["gain"] * drive + p["bias"]
        if hasattr(self, "pending"):
            v = v - self.pending * p["threshold"]
        if not node.spiking:
            self.v = v
            return v
        if isinstance(node, ir.ALIF):
            theta = p["b0"] + p["beta"] * self.eta
            s = _crosses(v, theta, node.spike_rule).astype(self.dtype)
            self.v = v - s * theta
            self.eta = p["rho"] * self.eta + (1 - p["rho"]) * s
            return s
        thr = p["threshold"]
        cross = _crosses(v, thr, node.spike_rule)
        if node.max_spikes > 1:
            s = np.where(cross, np.clip(np.floor(v / thr), 1, node.max_spikes), 0).astype(self.dtype)
        else:
            s = cross.astype(self.dtype)
        if node.reset == "zero":
            v = np.where(cross, 0, v).astype(self.dtype)
        elif node.reset == "value":
            v = np.where(cross, p["v_reset"], v)
        elif node.reset_late:
            self.pending = s
        else:
            v = v - s * thr
        self.v = v
        return s


# ----------------------------------------------------------------------------------------------
# The time loop
# ----------------------------------------------------------------------------------------------

def check_inputs(graph: ir.Graph, inputs) -> np.ndarray:
    if not isinstance(inputs, np.ndarray):
        raise SimulationError(f"inputs must be a numpy array, got {type(inputs).__name__}")
    want = graph.input.shape
    if inputs.ndim != 2 + len(want) or tuple(inputs.shape[2:]) != want:
        raise SimulationError(f"inputs have shape {inputs.shape}; the model's input "
                              f"{graph.input.name!r} needs [N, T, {', '.join(map(str, want))}]")
    if inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise SimulationError(f"inputs have shape {inputs.shape}: need at least one sample and one step")
    if inputs.dtype.kind not in "biuf":
        raise SimulationError(f"inputs have dtype {inputs.dtype}; need bool, integer or float")
    if inputs.dtype.kind == "f" and not np.all(np.isfinite(inputs)):
        raise SimulationError("inputs contain NaN or infinite values")
    return inputs


def rest_values(graph: ir.Graph, n: int, dtype, forward=None) -> dict[str, np.ndarray]:
    """What every node outputs at rest, i.e. at 'step -1', which recurrent edges carry at t = 0: zero
    input and zero spikes, so an Affine or Conv gives its bias (snnTorch's recurrent Affine adds its
    bias from the first step on) and everything else zero."""
    sched = graph.schedule()
    forward = forward or (lambda node, x: synaptic_forward(node, x))
    rest: dict[str, np.ndarray] = {}
    for k in sched.order:
        node = graph.nodes[k]
        if isinstance(node, ir.SYNAPTIC_TYPES):
            preds = [a for a in graph.predecessors(k) if (a, k) not in sched.back_edges]
            rest[k] = forward(node, np.sum([rest[a] for a in preds], axis=0).astype(dtype)).astype(dtype)
        elif isinstance(node, (ir.Flatten, ir.Output)):
            rest[k] = rest[graph.predecessors(k)[0]].reshape(n, *sched.shapes[k])
        else:
            rest[k] = np.zeros((n, *sched.shapes[k]), dtype)
    return rest


def simulate(graph: ir.Graph, inputs: np.ndarray, *, dtype=np.float32,
             record_states: bool = False, progress: bool = False) -> SimResult:
    """Run `graph` on `inputs` [N, T, *input_shape]; see the module docstring for the counters."""
    inputs = check_inputs(graph, inputs)
    sched = graph.schedule()
    n, steps = inputs.shape[:2]
    nodes = graph.nodes
    preds = {k: graph.predecessors(k) for k in sched.order}
    fans = {}
    for k in sched.order:
        node = nodes[k]
        if isinstance(node, ir.SYNAPTIC_TYPES):
            in_shape = sched.shapes[preds[k][0]]
            fans[k] = fanout(node, in_shape, sched.shapes[k]).reshape(-1).astype(np.float64)
    states = {k: NeuronState(nodes[k], n, dtype) for k in sched.order if nodes[k].stateful}
    counts = {k: {c: np.zeros((n, steps), np.int64) for c in COUNTERS}
              for k in sched.order if k in fans or k in states}
    recorded = {k: {v: np.zeros((n, steps, *a.shape[1:]), dtype) for v, a in s.variables().items()}
                for k, s in states.items() if s.variables()} if record_states else {}  # Threshold: none
    out_name = graph.output.name
    outputs = np.zeros((n, steps, *graph.output.shape), dtype)
    prev = rest_values(graph, n, dtype)

    bar = Progress(steps, "simulate (float)") if progress else None
    for t in range(steps):
        cur: dict[str, np.ndarray] = {}
        for k in sched.order:
            node = nodes[k]
            if isinstance(node, ir.Input):
                cur[k] = inputs[:, t].astype(dtype)
                continue
            terms = [prev[a] if (a, k) in sched.back_edges else cur[a] for a in preds[k]]
            x = terms[0] if len(terms) == 1 else np.sum(terms, axis=0)
            if k in fans:
                nz = (x != 0).reshape(n, -1)
                counts[k]["spikes_in"][:, t] = nz.sum(axis=1)
                counts[k]["synops"][:, t] = (nz @ fans[k]).astype(np.int64)
                y = synaptic_forward(node, x)
            elif k in states:
                y = states[k].step(x)
                counts[k]["neuron_updates"][:, t] = node.size
                if node.spiking:
                    counts[k]["spikes_out"][:, t] = y.reshape(n, -1).sum(axis=1).astype(np.int64)
                for var, a in states[k].variables().items():
                    if record_states:
                        recorded[k][var][:, t] = a
            elif isinstance(node, ir.Flatten):
                y = x.reshape(n, *sched.shapes[k])
            else:  # Output
                y = x
            cur[k] = y.astype(dtype, copy=False)
        outputs[:, t] = cur[out_name]
        prev = cur
        if bar:
            bar.update()
    if bar:
        bar.close()
    return Measurement(outputs, graph.output_spiking, counts, recorded, engine="float")
