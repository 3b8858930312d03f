"""A QGraph lowered to what the C runtime executes: nodes in schedule order, edges grouped by
destination, parameter arrays in device layout, and the exact arena size.

Both writers (the blob in `edgesnn.emit.blob` and the C sources in `edgesnn.emit.csource`) start
from `lower(qgraph)`, so they cannot disagree. The C declarations are in
`runtime_c/include/esn/esn_types.h`; the codes below are theirs.

Device layouts of the weights (chosen so that the weights one input event reads are contiguous):

    Linear / Affine   [in][out]                        the transpose of the float [out, in]
    Conv2d            [C_in][KH][KW][C_out / groups]   (Conv1d: KH = 1)
    Scale             [n]

Every other parameter is an int32 array, per output channel for the bias of a weighted layer and
per neuron otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import EmitError
from ..graph import ir
from ..quantize.fixedpoint import ROUNDING_CODES
from ..quantize.qgraph import QGraph, storage_dtype

KIND_CODES = {"Input": 0, "Output": 1, "Linear": 2, "Affine": 3, "Conv1d": 4, "Conv2d": 5, "SumPool2d": 6,
              "AvgPool2d": 7, "Flatten": 8, "Scale": 9, "IF": 10, "LIF": 11, "LI": 12, "CubaLIF": 13,
              "CubaLI": 14, "ALIF": 15}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}
RESET_CODES = {"zero": 0, "value": 1, "subtract": 2, "subtract_late": 3}
PARAM_SLOTS = ("weight", "bias", "threshold", "v_reset", "alpha", "alpha_syn", "cur_mult", "rho", "b0", "beta",
               "eta_inc")
MAX_RANK = 4

_SPIKE = {"bias", "threshold", "v_reset"}
_CUBA = {"alpha", "alpha_syn", "cur_mult"}
REQUIRED = {"Input": set(), "Output": set(), "Linear": {"weight"}, "Affine": {"weight"}, "Conv1d": {"weight"},
            "Conv2d": {"weight"}, "SumPool2d": set(), "AvgPool2d": set(), "Flatten": set(), "Scale": {"weight"},
            "IF": _SPIKE, "LIF": _SPIKE | {"alpha"}, "LI": {"bias", "alpha"}, "CubaLIF": _SPIKE | _CUBA,
            "CubaLI": {"bias"} | _CUBA, "ALIF": {"bias", "alpha", "rho", "b0", "beta", "eta_inc"}}
OPTIONAL = {"Affine": {"bias"}, "Conv1d": {"bias"}, "Conv2d": {"bias"}}
SYNAPTIC = ("Linear", "Affine", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Scale")
NEURONS = ("IF", "LIF", "LI", "CubaLIF", "CubaLI", "ALIF")
WEIGHTED = ("Linear", "Affine", "Conv1d", "Conv2d", "Scale")

RT_BYTES, COUNTERS_BYTES = 16, 64


@dataclass
class LNode:
    """One node as the runtime's esn_node holds it (fields a kind does not use stay 0)."""
    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    reset: int = 0
    spike_rule: int = 0
    syn_delay: int = 0
    max_spikes: int = 1
    first_edge: int = 0
    n_edges: int = 0
    flat_start: int = 0
    flat_end: int = 0
    weight_bytes: int = 0
    kernel: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (0, 0)
    pad: tuple[int, int] = (0, 0)
    dil: tuple[int, int] = (0, 0)
    groups: int = 0
    params: dict[str, np.ndarray] = field(default_factory=dict)  # slot -> device-layout array

    @property
    def code(self) -> int:
        return KIND_CODES[self.kind]

    @property
    def in_size(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def out_size(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def n_state(self) -> int:
        """State variables S: v, then i (CubaLIF/CubaLI), eta (ALIF), pending (subtract-late reset)."""
        if self.kind not in NEURONS:
            return 0
        return 1 + (self.kind in ("CubaLIF", "CubaLI")) + (self.kind == "ALIF") + (self.reset == 3)


@dataclass
class LEdge:
    src: int
    dst: int
    back: int
    orig: int  # index in the graph's edge list


@dataclass
class Lowered:
    qgraph: QGraph
    nodes: list[LNode]
    edges: list[LEdge]   # grouped by destination, in node order, then graph order
    output_node: int

    @property
    def input_size(self) -> int:
        return self.nodes[0].out_size

    @property
    def output_size(self) -> int:
        return self.nodes[self.output_node].out_size

    def owner(self, k: int) -> int:
        """The node whose buffer holds k's output: k, or for a Flatten its input's owner."""
        while self.nodes[k].kind == "Flatten":
            k = self.edges[self.nodes[k].first_edge].src
        return k

    def arena_size(self) -> int:
        """Exact arena bytes the runtime needs: esn_arena_size() (layout in esn_runtime.h)."""
        n = len(self.nodes)
        off = align8(n * RT_BYTES) + 2 * n * COUNTERS_BYTES + 2 * align8(8 * self.output_size)
        doubled = {self.owner(e.src) for e in self.edges if e.back}
        for k, nd in enumerate(self.nodes):
            if nd.kind not in ("Output", "Flatten"):
                off += align8(4 * nd.out_size) * (2 if k in doubled else 1)
        for nd in self.nodes:
            off += align8(4 * nd.out_size * nd.n_state)
        return off

    def layer_major_refusal(self) -> str | None:
        """Why the layer-major schedule cannot run this model (None when it can)."""
        back = [e for e in self.edges if e.back]
        if back:
            e = back[0]
            return (f"recurrent edge {self.nodes[e.src].name!r} -> {self.nodes[e.dst].name!r}: a layer-major "
                    f"schedule needs every input of a layer's step t before the layer runs, and this edge reads "
                    f"step t - 1 of a later layer; run it time-step-major")
        if self.qgraph.exit is not None:
            return ("early exit is on: it needs every layer's step t before any layer's step t + 1, which a "
                    "layer-major schedule gives up; run it time-step-major or without the exit policy")
        return None

    def arena_size_layer_major(self, steps: int) -> int:
        """Exact arena bytes of esn_run_layer_major() over `steps` steps (layout in esn_schedule.c):
        scratch counters, the largest neuron layer's state, then T-step buffers placed first fit."""
        why = self.layer_major_refusal()
        if why:
            raise EmitError(why)
        if steps < 1:
            raise EmitError(f"steps = {steps}: the layer-major schedule needs T >= 1")
        n = len(self.nodes)
        owns = [nd.kind not in ("Output", "Flatten") for nd in self.nodes]
        last = list(range(n))
        for e in self.edges:
            o = self.owner(e.src)
            last[o] = max(last[o], e.dst)
        size = [align8(4 * steps * nd.out_size) for nd in self.nodes]
        off = [0] * n
        end = 0
        for k in range(n):
            if not owns[k]:
                continue
            live = [j for j in range(k) if owns[j] and last[j] >= k]
            best = None
            for cand in [off[j] + size[j] for j in live] + [0]:
                if best is not None and cand >= best:
                    continue
                if all(cand + size[k] <= off[j] or cand >= off[j] + size[j] for j in live):
                    best = cand
            off[k] = best
            end = max(end, best + size[k])
        state = max((align8(4 * nd.out_size * nd.n_state) for nd in self.nodes), default=0)
        return COUNTERS_BYTES + state + end


def align8(x: int) -> int:
    return (x + 7) & ~7


def _err(name: str, kind: str, msg: str) -> EmitError:
    return EmitError(f"node {name!r} ({kind}): {msg}")


def _weights(node: ir.Node, w: np.ndarray, groups: int) -> np.ndarray:
    """Float-layout integer weights -> device layout."""
    if isinstance(node, ir.Scale):
        return w.reshape(-1)
    if isinstance(node, ir.Conv2d):
        if w.ndim == 3:  # Conv1d [C_out, C_in/g, K] -> KH = 1
            w = w[:, :, None, :]
        c_out, cin_g, kh, kw = w.shape
        return w.reshape(groups, c_out // groups, cin_g, kh, kw).transpose(0, 2, 3, 4, 1).reshape(-1)
    return w.T.reshape(-1)


def _check_int(a: np.ndarray, lo: int, hi: int, name: str, kind: str, what: str) -> None:
    if a.size and (int(a.min()) < lo or int(a.max()) > hi):
        bad = int(a.min()) if int(a.min()) < lo else int(a.max())
        raise _err(name, kind, f"{what} holds {bad}, outside [{lo}, {hi}]")


def lower(qgraph: QGraph) -> Lowered:
    """Lowers a QGraph; raises EmitError naming the node and field for anything the runtime cannot hold."""
    if not isinstance(qgraph, QGraph):
        raise EmitError(f"expected a QGraph, got {type(qgraph).__name__}")
    g, cfg = qgraph.graph, qgraph.config
    sched = g.schedule()
    order = list(sched.order)
    if len(order) > 65535 or len(g.edges) > 65535:
        raise EmitError(f"{len(order)} nodes and {len(g.edges)} edges: the blob holds at most 65535 of each")
    index = {k: i for i, k in enumerate(order)}
    edges = sorted((LEdge(index[a], index[b], int((a, b) in sched.back_edges), i) for i, (a, b) in enumerate(g.edges)),
                   key=lambda e: (e.dst, e.orig))
    wdtype = storage_dtype(cfg.weight_bits)
    wmax = (1 << (cfg.weight_bits - 1)) - 1
    smax = (1 << (cfg.state_bits - 1)) - 1
    one = 1 << cfg.decay_bits
    nodes: list[LNode] = []
    pos = 0
    for k, name in enumerate(order):
        node = g.nodes[name]
        kind = node.kind
        n_in = sum(1 for e in edges if e.dst == k)
        fwd = [a for a in g.predecessors(name) if (a, name) not in sched.back_edges]
        in_shape = sched.shapes[fwd[0]] if fwd else sched.shapes[name]
        out_shape = sched.shapes[name]
        for s in (in_shape, out_shape):
            if not 1 <= len(s) <= MAX_RANK or any(d >= 2 ** 32 for d in s):
                raise _err(name, kind, f"shape {s}: the runtime holds 1 to {MAX_RANK} axes of < 2^32 entries")
        ln = LNode(name, kind, tuple(in_shape), tuple(out_shape), first_edge=pos, n_edges=n_in)
        pos += n_in
        if isinstance(node, ir.Conv2d):
            if isinstance(node, ir.Conv1d):
                geo = ((1, node.weight.shape[2]), (1, node.stride[0]), (0, node.padding[0]), (1, node.dilation[0]))
            else:
                geo = (tuple(node.weight.shape[2:]), node.stride, node.padding, node.dilation)
            ln.groups = node.groups
        elif isinstance(node, ir.SumPool2d):
            geo = (node.kernel_size, node.stride, node.padding, (1, 1))
        else:
            geo = None
        if geo is not None:
            if any(not 0 <= int(v) < 2 ** 16 for pair in geo for v in pair):
                raise _err(name, kind, f"kernel/stride/padding/dilation {geo} do not fit 16 bits")
            ln.kernel, ln.stride, ln.pad, ln.dil = (tuple(int(v) for v in pair) for pair in geo)
        if isinstance(node, ir.Flatten):
            r = len(in_shape)
            ln.flat_start = node.start_dim + r if node.start_dim < 0 else node.start_dim
            ln.flat_end = node.end_dim + r if node.end_dim < 0 else node.end_dim
        if isinstance(node, ir._Spiking):
            ln.reset = RESET_CODES["subtract_late" if node.reset_late else node.reset]
            ln.max_spikes = int(node.max_spikes)
        if node.spiking:
            ln.spike_rule = int(node.spike_rule == ">=")
        if isinstance(node, (ir.CubaLIF, ir.CubaLI)):
            ln.syn_delay = int(bool(node.syn_delay))
        if kind in REQUIRED and (REQUIRED[kind] or OPTIONAL.get(kind)):
            if name not in qgraph.layers:
                raise _err(name, kind, "has no quantized parameters in the QGraph")
            params = qgraph.layers[name].params
            allowed = REQUIRED[kind] | OPTIONAL.get(kind, set())
            missing, extra = REQUIRED[kind] - set(params), set(params) - allowed
            if missing or extra:
                raise _err(name, kind, f"parameters {sorted(params)}; the runtime needs {sorted(REQUIRED[kind])}"
                           + (f" and allows {sorted(OPTIONAL[kind])}" if kind in OPTIONAL else ""))
            for slot, a in params.items():
                a = np.asarray(a)
                if a.dtype.kind not in "iu":
                    raise _err(name, kind, f"parameter {slot!r} has dtype {a.dtype}; integers expected")
                a = a.astype(np.int64)
                if slot == "weight":
                    _check_int(a, -wmax - 1, wmax, name, kind, f"weight (weight_bits = {cfg.weight_bits})")
                    ln.weight_bytes = wdtype.itemsize
                    ln.params[slot] = _weights(node, a, ln.groups).astype(wdtype)
                    continue
                _check_int(a, -2 ** 31, 2 ** 31 - 1, name, kind, f"parameter {slot!r}")
                lim = {"threshold": (1, smax), "b0": (1, smax), "v_reset": (-smax - 1, smax), "alpha": (0, one),
                       "alpha_syn": (0, one), "rho": (0, one), "beta": (0, 2 ** 31 - 1),
                       "eta_inc": (0, 1 << cfg.adapt_bits)}.get(slot)
                if lim:
                    _check_int(a, *lim, name, kind, f"parameter {slot!r}")
                ln.params[slot] = np.ascontiguousarray(a.reshape(-1).astype(np.int32))
        nodes.append(ln)
    outs = [i for i, nd in enumerate(nodes) if nd.kind == "Output"]
    return Lowered(qgraph, nodes, edges, outs[0])


def config_record(qgraph: QGraph) -> dict:
    """The model-wide settings as the runtime's esn_model holds them."""
    cfg, ex = qgraph.config, qgraph.exit
    return {"weight_bits": cfg.weight_bits, "state_bits": cfg.state_bits, "current_bits": cfg.current_bits,
            "adapt_bits": cfg.adapt_bits, "threshold_bits": cfg.threshold_bits, "decay_bits": cfg.decay_bits,
            "rounding": ROUNDING_CODES[cfg.rounding], "exit_enabled": int(ex is not None), "seed": cfg.seed,
            "exit_threshold_q8": int(ex["threshold_q8"]) if ex else 0, "exit_beta_q16": int(ex["beta_q16"]) if ex else 0}


def arena_size(qgraph: QGraph) -> int:
    """Exact arena bytes the C runtime needs for `qgraph` (equals esn_arena_size())."""
    return lower(qgraph).arena_size()


def arena_size_layer_major(qgraph: QGraph, steps: int) -> int:
    """Exact arena bytes of the layer-major schedule over `steps` steps (equals esn_arena_size_layer_major());
    raises EmitError for a model it cannot run (a recurrent edge, early exit)."""
    return lower(qgraph).arena_size_layer_major(steps)
