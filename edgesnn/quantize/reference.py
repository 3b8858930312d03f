"""Fixed-point reference simulator: the integer semantics the C runtime reproduces bit for bit.

The time loop, node order and counters are those of the float simulator; the numbers are the
QGraph's integers (see `edgesnn.quantize.qgraph` for their units) and every update follows
`edgesnn.quantize.fixedpoint`. One neuron update, with all sums in int64 and `sat` to the state's
bit width (`rshift` rounds by the configured rule; `acc` is this step's weighted input):

    i   = sat_i(rshift(alpha_syn * i, db) + acc)                      CubaLIF / CubaLI
    in  = rshift(j * cur_mult, 16), j = i (or last step's i with syn_delay); else in = acc
    v   = sat_v(rshift(alpha * v, db) + in + bias - pending * threshold)   (IF: no decay)
    spikes and resets as in the float IR, with integer thresholds; ALIF:
    theta = b0 + rshift(beta * eta, adapt_bits);  eta = rshift(rho * eta, db) + s * eta_inc
    Threshold: s = acc > threshold (or >=); no v, no state (acc itself is compared: saturating it to
    state_bits first would not change the result, the threshold lying in [1, 2^(state_bits-1) - 1])

The stochastic rounding's noise is keyed by a layer index that counts the neuron layers keeping state, in
schedule order (a Threshold layer keeps none and takes no index), as the C runtime numbers them.

Counters: those of the float simulator (spikes_in, synops, neuron_updates, spikes_out) and the
memory traffic of the C runtime's reference kernels (runtime_c/include/esn/esn_runtime.h), per
node, input and step. With Wb the stored bits of one weight (qgraph.weight_storage_bits: 1, 2, 4, 8 or 16;
0 for pools; binary weights: 1, their magnitude lives in the node, not in the rows), B the bytes the bias is stored in and P those of all the parameter arrays of a neuron layer
(qgraph.param_storage: per element, channel or layer, at 8, 16 or 32 bits), E the node's incoming edges,
n_in/n_out its input and output sizes and S its state variables (v; i for CubaLIF/CubaLI; eta for ALIF;
pending for a subtract-late reset; none for Threshold):

    param_bytes_read     synaptic: ceil(synops * Wb / 8) + B              neurons: P
    arena_bytes_read     synaptic: E * n_in * 4 + synops * 4             neurons: n_out * 4 * (E + S)
    arena_bytes_written  synaptic: n_out * 4 + synops * 4                neurons: n_out * 4 * (S + 1)

that is, every synop reads one weight and read-modify-writes one int32 accumulator, the output is
first set from the bias or zero, every incoming buffer is scanned once, a neuron layer reads its parameter
arrays once a step, and every neuron update reads its inputs and state and writes its state and output
(4 bytes an element).
Parameters are constant (flash on a device); the arena holds buffers and state. The counters describe
the arithmetic and are the same under every schedule and storage of the C runtime: where it keeps a
spike buffer as uint8 (grouped schedules), v or i as int16 (up to 16 bits), or no state at all (a
stateless layer), an element still counts 4 bytes, and copies between a schedule's buffers count nothing.
"""

from __future__ import annotations

import numpy as np

from ..errors import SimulationError
from ..graph import ir
from ..graph.kinds import KINDS
from ..graph.simulate import COUNTERS, SimResult, check_inputs, conv, fanout, pool_sum, rest_values
from ..progress import Progress
from .fixedpoint import (GAIN_SHIFT, STREAM_ADAPT, STREAM_ETA, STREAM_I, STREAM_MULT, STREAM_V, entropy_q8, noise,
                         rshift, sat)
from .qgraph import QGraph, param_stored_bytes, weight_storage_bits

INPUT_MAX = 255
BYTE_COUNTERS = ("param_bytes_read", "arena_bytes_read", "arena_bytes_written")
FIXED_COUNTERS = COUNTERS + BYTE_COUNTERS


def check_spike_inputs(qgraph: QGraph, inputs) -> np.ndarray:
    """Fixed point runs on spike counts: integers in [0, 255]; an analog model (input_bits 8 or 16) on its inputs
    in real units, quantized with its input scale (QGraph.quantize_inputs)."""
    inputs = check_inputs(qgraph.graph, inputs)
    if qgraph.analog:
        return qgraph.quantize_inputs(inputs).astype(np.int64)
    if inputs.dtype.kind == "f":
        frac = inputs != np.round(inputs)
        if np.any(frac):
            idx = tuple(int(i) for i in np.argwhere(frac)[0])
            raise SimulationError(f"inputs must be spike counts (integers 0..{INPUT_MAX}); found {inputs[idx]} at "
                                  f"index {idx}; real values need an analog input (--input-bits 8 or 16)")
    if inputs.size and (inputs.min() < 0 or inputs.max() > INPUT_MAX):
        bad = inputs.min() if inputs.min() < 0 else inputs.max()
        raise SimulationError(f"inputs must be spike counts (integers 0..{INPUT_MAX}); found {bad}")
    return inputs.astype(np.int64)


def checked_inputs(qgraph: QGraph, inputs) -> np.ndarray:
    """Inputs checked as the engines check them, in the form every engine takes: spike counts (int64), or an
    analog model's values still in real units (float64), since each engine quantizes them itself (once)."""
    if qgraph.analog:   # shape and finiteness: what quantize_inputs needs of them
        return check_inputs(qgraph.graph, inputs).astype(np.float64)
    return check_spike_inputs(qgraph, inputs)


class FixedNeuron:
    """Integer state of one neuron layer for a batch, and its one-step update."""

    def __init__(self, node: ir.Node, params: dict[str, np.ndarray], qgraph: QGraph, n: int, layer_id: int):
        cfg = qgraph.config
        self.node, self.cfg, self.layer_id = node, cfg, layer_id
        self.p = {k: a.astype(np.int64) for k, a in params.items()}
        self.shape = node.neuron_shape
        self.param_bytes = sum(param_stored_bytes(a.reshape(self.shape), len(self.shape) >= 2) for a in self.p.values())
        self.size = node.size
        self.kind = KINDS[node.kind]
        for var in self.kind.state:  # v, then i (current-based) or eta (adaptive)
            setattr(self, var, np.zeros((n, *self.shape), np.int64))
        self.cuba = self.kind.current
        if getattr(node, "reset_late", False):
            self.pending = np.zeros_like(self.v)

    def variables(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.kind.state}

    def traffic(self, n_edges: int) -> tuple[int, int, int]:
        """(param, arena read, arena written) bytes of one step's update of the layer."""
        s = len(self.variables()) + hasattr(self, "pending")
        return self.param_bytes, 4 * self.size * (n_edges + s), 4 * self.size * (s + 1)

    def _rnd(self, t: int, stream: int):
        if self.cfg.rounding != "stochastic":
            return None
        return noise(self.cfg.seed, self.layer_id, t, self.size, stream).reshape(self.shape)

    def step(self, acc: np.ndarray, t: int) -> np.ndarray:
        node, p, cfg = self.node, self.p, self.cfg
        if isinstance(node, ir.Threshold):
            return (acc > p["threshold"] if node.spike_rule == ">" else acc >= p["threshold"]).astype(np.int64)
        mode, db = cfg.rounding, cfg.decay_bits
        drive = acc
        if self.cuba:
            i_prev = self.i
            self.i = sat(rshift(p["alpha_syn"] * self.i, db, mode, self._rnd(t, STREAM_I)) + acc, cfg.current_bits)
            j = i_prev if node.syn_delay else self.i
            drive = rshift(j * p["cur_mult"], GAIN_SHIFT, mode, self._rnd(t, STREAM_MULT))
        leak = self.v if isinstance(node, ir.IF) else rshift(p["alpha"] * self.v, db, mode, self._rnd(t, STREAM_V))
        v = leak + drive + p["bias"]
        if hasattr(self, "pending"):
            v = v - self.pending * p["threshold"]
        v = sat(v, cfg.state_bits)
        if not node.spiking:
            self.v = v
            return v
        if isinstance(node, ir.ALIF):
            theta = p["b0"] + rshift(p["beta"] * self.eta, cfg.adapt_bits, mode, self._rnd(t, STREAM_ADAPT))
            s = (v > theta if node.spike_rule == ">" else v >= theta).astype(np.int64)
            self.v = sat(v - s * theta, cfg.state_bits)
            self.eta = sat(rshift(p["rho"] * self.eta, db, mode, self._rnd(t, STREAM_ETA)) + s * p["eta_inc"], 32)
            return s
        thr = p["threshold"]
        cross = v > thr if node.spike_rule == ">" else v >= thr
        if node.max_spikes > 1:
            s = np.where(cross, np.clip(v // thr, 1, node.max_spikes), 0)
        else:
            s = cross.astype(np.int64)
        if node.reset == "zero":
            v = np.where(cross, 0, v)
        elif node.reset == "value":
            v = np.where(cross, p["v_reset"], v)
        elif node.reset_late:
            self.pending = s
        else:
            v = sat(v - s * thr, cfg.state_bits)
        self.v = v
        return s


def weighted_forward(node: ir.Node, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    w = params["weight"].astype(np.int64)
    b = params.get("bias")
    if isinstance(node, ir.Scale):
        return x * w
    if isinstance(node, ir.Conv2d):
        bias = np.zeros(w.shape[0], np.int64) if b is None else b.astype(np.int64)
        return conv(x, w, bias, node.stride, node.padding, node.dilation, node.groups)
    y = x @ w.T
    return y if b is None else y + b.astype(np.int64)


def _synaptic(qgraph: QGraph, node: ir.Node, x: np.ndarray) -> np.ndarray:
    if isinstance(node, ir.SumPool2d):  # AvgPool too: its 1/k^2 is folded into the next weights
        return pool_sum(x, node.kernel_size, node.stride, node.padding)
    layer = qgraph.layers[node.name]
    return rshift(weighted_forward(node, layer.params, x), layer.acc_shift, "nearest")  # analog readers' shift


def simulate_fixed(qgraph: QGraph, inputs: np.ndarray, *, record_states: bool = False,
                   progress: bool = False) -> SimResult:
    """Run the quantized graph on spike-count inputs [N, T, *input_shape]; outputs are integers. The model is one
    the C runtime accepts: runtime.engines checks it as the runtime does (emit.blob.check_qgraph) before either
    engine runs it, and quantize() and the planner build only such models."""
    graph = qgraph.graph
    x_all = check_spike_inputs(qgraph, inputs)
    sched = graph.schedule()
    n, steps = x_all.shape[:2]
    nodes = graph.nodes
    preds = {k: graph.predecessors(k) for k in sched.order}
    stateful = [k for k in sched.order if nodes[k].stateful]
    keeps = [KINDS[nodes[k].kind].n_state(getattr(nodes[k], "reset_late", False)) > 0 for k in stateful]
    neurons = {k: FixedNeuron(nodes[k], qgraph.layers[k].params, qgraph, n, sum(keeps[:i]))  # noise layer index
               for i, k in enumerate(stateful)}
    fans = {k: fanout(nodes[k], sched.shapes[preds[k][0]], sched.shapes[k]).reshape(-1).astype(np.int64)
            for k in sched.order if isinstance(nodes[k], ir.SYNAPTIC_TYPES)}
    counts = {k: {c: np.zeros((n, steps), np.int64) for c in FIXED_COUNTERS} for k in sched.order
              if k in fans or k in neurons}
    wbits = weight_storage_bits(qgraph.config.weight_bits)
    bias_bytes = {k: param_stored_bytes(qgraph.layers[k].params["bias"], False) for k in fans
                  if k in qgraph.layers and "bias" in qgraph.layers[k].params}
    recorded = {k: {v: np.zeros((n, steps, *a.shape[1:]), np.int64) for v, a in s.variables().items()}
                for k, s in neurons.items() if s.variables()} if record_states else {}  # Threshold: none
    outputs = np.zeros((n, steps, *graph.output.shape), np.int64)
    exit_cfg = qgraph.exit
    acc_out = np.zeros((n, int(np.prod(graph.output.shape))), np.int64)
    active = np.ones(n, bool)
    steps_run = np.full(n, steps, np.int64)
    prev = rest_values(graph, n, np.int64, forward=lambda node, x: _synaptic(qgraph, node, x))
    bar = Progress(steps, "simulate (fixed point)") if progress else None
    for t in range(steps):
        cur: dict[str, np.ndarray] = {}
        for k in sched.order:
            node = nodes[k]
            if isinstance(node, ir.Input):
                cur[k] = x_all[:, t]
                continue
            terms = [prev[a] if (a, k) in sched.back_edges else cur[a] for a in preds[k]]
            x = terms[0] if len(terms) == 1 else np.sum(terms, axis=0)
            if k in fans:
                nz = (x != 0).reshape(n, -1)
                counts[k]["spikes_in"][:, t] = nz.sum(axis=1)
                counts[k]["synops"][:, t] = nz.astype(np.int64) @ fans[k]
                y = _synaptic(qgraph, node, x)
                w_bits = 0 if isinstance(node, ir.SumPool2d) else wbits
                syn = counts[k]["synops"][:, t]
                counts[k]["param_bytes_read"][:, t] = (syn * w_bits + 7) // 8 + bias_bytes.get(k, 0)
                counts[k]["arena_bytes_read"][:, t] = 4 * (len(terms) * x[0].size + syn)
                counts[k]["arena_bytes_written"][:, t] = 4 * (y[0].size + syn)
            elif k in neurons:
                y = neurons[k].step(x, t)
                counts[k]["neuron_updates"][:, t] = neurons[k].size
                for c, b in zip(BYTE_COUNTERS, neurons[k].traffic(len(terms))):
                    counts[k][c][:, t] = b
                if node.spiking:
                    counts[k]["spikes_out"][:, t] = y.reshape(n, -1).sum(axis=1)
                if record_states:
                    for var, a in neurons[k].variables().items():
                        recorded[k][var][:, t] = a
            elif isinstance(node, ir.Flatten):
                y = x.reshape(n, *sched.shapes[k])
            else:
                y = x
            cur[k] = y
        if exit_cfg is not None:  # inputs that already exited count nothing and output nothing
            for cs in counts.values():
                for c in cs.values():
                    c[~active, t] = 0
            cur[graph.output.name] = cur[graph.output.name] * active.reshape(-1, *[1] * len(graph.output.shape))
        outputs[:, t] = cur[graph.output.name]
        if exit_cfg is not None:
            acc_out += outputs[:, t].reshape(n, -1)
            done = active & (entropy_q8(acc_out, t + 1, exit_cfg["beta_q16"]) < exit_cfg["threshold_q8"])
            steps_run[done] = t + 1
            active &= ~done
        prev = cur
        if bar:
            bar.update()
    if bar:
        bar.close()
    return SimResult(outputs, graph.output_spiking, counts, recorded, steps_run if exit_cfg is not None else None,
                     engine="fixed-python")
