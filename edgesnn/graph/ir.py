"""The float graph IR: typed nodes, edges that may close cycles, shapes, and one time step `dt`.

Shapes exclude the batch and time axes. Parameters are stored in *discrete time*: the importer
turns each exporter's continuous-time convention into per-step decays and gains once
(see `edgesnn/graph/dialects.py`), so every later stage (simulators, quantizer, C runtime)
implements one set of equations, the ones in each node's docstring.

Execution of one time step: nodes run in topological order of the graph without its back
edges; a node's input is the sum of the values on its incoming edges; an edge that closes a
cycle (a back edge, found by depth-first search from the Input in edge order) carries its
source's value from the previous step. At t = 0 it carries the source's value at rest (zero input,
zero spikes): an Affine's or Conv's bias, zero for everything else. So a recurrent Affine adds its
bias from the first step on, as snnTorch's RLeaky does, wherever the search happens to close the cycle.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..artifact import (ENV_MAX_ELEMENTS, check_elements, decode_array, encode_array, load_json, max_elements,
                        save_json, stamp)
from ..errors import EdgesnnError, GraphError
from ..schema import check
from . import schema as model_schema   # the file format's declared schema; it reads this module's node classes
from .kinds import KINDS, names

Shape = tuple[int, ...]

DT_RANGE = (1e-9, 10.0)
"""Accepted time steps, in seconds: below a nanosecond no SNN is trained, and far below it dt/tau underflows
(every decay exactly 1, every gain 0: a silently dead model); above 10 s no exporter's update is stable."""

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Every parameter of a graph must be finite in float32, the precision the float simulation runs in (as the
frameworks do): a larger one would become inf there. The NIR importer bounds what it derives more tightly
(nir_io.PARAM_MAX)."""

def check_dt(dt: float, what: str = "dt") -> float:
    """dt within DT_RANGE, or a GraphError that says the range and why."""
    lo, hi = DT_RANGE
    if not lo <= dt <= hi:
        raise GraphError(f"{what} = {dt!r} s lies outside [{lo:g}, {hi:g}] s, the time steps edgesnn accepts (below "
                         "a nanosecond dt/tau underflows and the model silently stops decaying and integrating; "
                         "above 10 s no exporter's update is stable)")
    return float(dt)


def _pair(v, name: str, node: str) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    if a.size not in (1, 2):
        raise GraphError(f"node {node!r}: {name} must have 1 or 2 entries, got {a.size}")
    return tuple(int(x) for x in np.broadcast_to(a, (2,)))


@dataclass(eq=False, kw_only=True)
class Node:
    """Base of every node. `kind` is the registry key used in files; `spiking` and `stateful` come from the
    kind's row in graph/kinds.py."""

    kind: ClassVar[str] = ""
    spiking: ClassVar[bool] = False  # emits spike counts (integers) rather than real values
    stateful: ClassVar[bool] = False  # a neuron layer, keeping state between steps
    name: str

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        row = KINDS.get(cls.__dict__.get("kind", ""))
        if row is not None:
            cls.spiking, cls.stateful = row.spiking, row.neuron

    def out_shape(self, in_shape: Shape) -> Shape:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    # -- parameters -------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}

    def validate(self) -> None:
        """Check finiteness of every array; subclasses add their own rules."""
        for key, a in self.arrays().items():
            check_elements(a.shape, f"node {self.name!r} field {key!r}", error=GraphError)
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                bad = np.argwhere(~np.isfinite(a))[0]
                raise GraphError(f"node {self.name!r}: field {key!r} has a non-finite value "
                                 f"({a[tuple(bad)]}) at index {tuple(int(i) for i in bad)}")
            if a.size and a.dtype.kind in "fiu" and float(np.max(np.abs(a))) > FLOAT32_MAX:
                bad = np.unravel_index(int(np.argmax(np.abs(a))), a.shape)
                raise GraphError(f"node {self.name!r}: field {key!r} holds {float(a[bad]):.4g} at index "
                                 f"{tuple(int(i) for i in bad)}, beyond float32's range (+-3.4e38), the precision "
                                 "the float simulation runs in")

    def _err(self, msg: str) -> GraphError:
        return GraphError(f"node {self.name!r} ({self.kind}): {msg}")

    # -- plain data -------------------------------------------------------------------------
    def to_dict(self, compact: bool = False) -> dict:
        """Plain data; `compact` stores float32 arrays that lie on a grid packed, exactly (artifact.encode_array)."""
        d: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = encode_array(v, compact=compact)
            elif isinstance(v, tuple):
                v = list(v)
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Node":
        """A node from its file form. Structure first (kind, missing and unknown fields), then the kind's declared
        schema (edgesnn/graph/schema.py: exact types and ranges), then each stored array, its size bounded
        before it is decoded."""
        if not isinstance(d, dict):
            raise GraphError(f"a node entry must be an object, got {type(d).__name__}")
        kind = d.get("kind")
        if not isinstance(kind, str) or kind not in NODE_TYPES:
            raise GraphError(f"node {_label(d.get('name'))}: unknown node kind {_label(kind)}; "
                             f"known: {', '.join(sorted(NODE_TYPES))}")
        sub = NODE_TYPES[kind]
        for f in dataclasses.fields(sub):
            if f.name not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise GraphError(f"node {_label(d.get('name'))} ({kind}): missing field {f.name!r}")
        unknown = set(d) - {f.name for f in dataclasses.fields(sub)} - {"kind"}
        if unknown:
            raise GraphError(f"node {_label(d.get('name'))} ({kind}): unknown fields {sorted(unknown)[:10]}")
        arrays = {f.name for f in dataclasses.fields(sub) if f.type == "np.ndarray"}
        for key in sorted(arrays & set(d)):  # an array given as plain JSON: the message the format always gave
            if not (isinstance(d[key], dict) and "b64" in d[key]):
                raise GraphError(f"node {_label(d.get('name'))} field {key!r}: expected a stored array, "
                                 f"got {type(d[key]).__name__}")
        for key in sorted(arrays & set(d)):
            check(d[key], model_schema.schemas()[2][kind]["properties"][key],
                  f"node {_label(d.get('name'))} field {key!r}: malformed stored array",
                  error=model_schema.ModelSchemaError)
        check(d, model_schema.schemas()[2][kind], f"node {_label(d.get('name'))} ({kind})",
              error=model_schema.ModelSchemaError)
        kwargs = {}
        for f in dataclasses.fields(sub):
            if f.name not in d:
                continue
            v = d[f.name]
            where = f"node {d['name']!r} field {f.name!r}"
            if f.name in arrays:
                check_elements(v["shape"], where, error=GraphError)  # before decoding: a short file may claim a huge shape
                try:
                    v = decode_array(v, where)
                except EdgesnnError as e:
                    raise GraphError(str(e)) from None
            else:
                v = _exact_ints(v)
            kwargs[f.name] = v
        return sub(**kwargs)


def _label(v) -> str:
    """A node name (or kind) as messages quote it, shortened when a hostile file makes it long or odd."""
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _exact_ints(v):
    """Integral floats (the schema's integers include 2.0) as ints; lists as tuples."""
    if isinstance(v, list):
        return tuple(_exact_ints(x) for x in v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


# ----------------------------------------------------------------------------------------------
# Graph boundary
# ----------------------------------------------------------------------------------------------

@dataclass(eq=False, kw_only=True)
class Input(Node):
    """The graph's input: a tensor of `shape` per time step, fed unscaled to its successors."""

    kind: ClassVar[str] = "Input"
    shape: Shape

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.shape)

    def out_shape(self, in_shape: Shape) -> Shape:
        return self.shape

    def validate(self) -> None:
        if not self.shape or any(s <= 0 for s in self.shape):
            raise self._err(f"shape {self.shape} must be non-empty and positive")
        check_elements(self.shape, f"node {self.name!r} (Input) field 'shape'", error=GraphError)


@dataclass(eq=False, kw_only=True)
class Output(Node):
    """The graph's output: the value arriving on its incoming edges, each step."""

    kind: ClassVar[str] = "Output"
    shape: Shape

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.shape)

    def out_shape(self, in_shape: Shape) -> Shape:
        if in_shape != self.shape:
            raise self._err(f"receives shape {in_shape} but declares {self.shape}")
        return self.shape


# ----------------------------------------------------------------------------------------------
# Synaptic layers
# ----------------------------------------------------------------------------------------------

@dataclass(eq=False, kw_only=True)
class Linear(Node):
    """y = W x.  weight: [out, in].  Event-driven: each nonzero input x_j adds x_j * W[:, j]."""

    kind: ClassVar[str] = "Linear"
    weight: np.ndarray

    def out_shape(self, in_shape: Shape) -> Shape:
        if self.weight.ndim != 2:
            raise self._err(f"weight must be 2-D [out, in], got shape {self.weight.shape}")
        if in_shape != (self.weight.shape[1],):
            raise self._err(f"expects input shape ({self.weight.shape[1]},), got {in_shape}")
        return (self.weight.shape[0],)


@dataclass(eq=False, kw_only=True)
class Affine(Linear):
    """y = W x + b.  weight: [out, in], bias: [out] (added every time step)."""

    kind: ClassVar[str] = "Affine"
    bias: np.ndarray

    def out_shape(self, in_shape: Shape) -> Shape:
        out = super().out_shape(in_shape)
        if self.bias.shape != out:
            raise self._err(f"bias shape {self.bias.shape} does not match output {out}")
        return out


def conv_out_len(n: int, k: int, stride: int, pad: int, dil: int) -> int:
    """Output length along one axis; 0 where the dilated kernel does not fit the padded input
    (esn_conv_out_len)."""
    span = n + 2 * pad - dil * (k - 1) - 1
    return 0 if span < 0 else span // stride + 1


@dataclass(eq=False, kw_only=True)
class Conv2d(Node):
    """y[o] = b[o] + sum_{c,ky,kx} W[o,c,ky,kx] x[c, s*oy - p + d*ky, s*ox - p + d*kx] (zero padding).

    weight: [C_out, C_in/groups, KH, KW]; bias: [C_out] (added every step); input [C_in, H, W].
    """

    kind: ClassVar[str] = "Conv2d"
    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self):
        self.stride = _pair(self.stride, "stride", self.name)
        self.padding = _pair(self.padding, "padding", self.name)
        self.dilation = _pair(self.dilation, "dilation", self.name)
        self.groups = int(self.groups)

    spatial: ClassVar[int] = 2

    def out_shape(self, in_shape: Shape) -> Shape:
        w = self.weight
        nsp = self.spatial
        if w.ndim != 2 + nsp:
            raise self._err(f"weight must be {2 + nsp}-D, got shape {w.shape}")
        if len(in_shape) != 1 + nsp:
            raise self._err(f"expects a {1 + nsp}-D input [C, ...], got {in_shape}")
        if self.groups < 1 or w.shape[0] % self.groups or in_shape[0] != w.shape[1] * self.groups:
            raise self._err(f"input has {in_shape[0]} channels but weight {w.shape} "
                            f"with groups={self.groups} expects {w.shape[1] * self.groups}")
        if self.bias.shape != (w.shape[0],):
            raise self._err(f"bias shape {self.bias.shape} should be ({w.shape[0]},)")
        geo = (self.stride, self.padding, self.dilation)
        if any(s < 1 for s in self.stride) or any(p < 0 for p in self.padding) or any(d < 1 for d in self.dilation):
            raise self._err(f"stride/padding/dilation out of range: {geo}")
        out = tuple(conv_out_len(in_shape[1 + i], w.shape[2 + i], self.stride[i], self.padding[i],
                                 self.dilation[i]) for i in range(nsp))
        if any(o < 1 for o in out):
            raise self._err(f"input {in_shape} is smaller than the kernel {w.shape[2:]}")
        return (w.shape[0], *out)


@dataclass(eq=False, kw_only=True)
class Conv1d(Conv2d):
    """Conv2d along one axis: weight [C_out, C_in/groups, K], input [C_in, L]."""

    kind: ClassVar[str] = "Conv1d"
    stride: tuple[int] = (1,)
    padding: tuple[int] = (0,)
    dilation: tuple[int] = (1,)
    spatial: ClassVar[int] = 1

    def __post_init__(self):
        def one(v, n):
            a = np.asarray(v).reshape(-1)
            if a.size != 1:
                raise GraphError(f"node {self.name!r}: {n} must be a single integer")
            return (int(a[0]),)
        self.stride, self.padding, self.dilation = (one(self.stride, "stride"), one(self.padding, "padding"),
                                                    one(self.dilation, "dilation"))
        self.groups = int(self.groups)


@dataclass(eq=False, kw_only=True)
class SumPool2d(Node):
    """y[c, oy, ox] = sum of x[c] over the kernel window at (s*oy - p, s*ox - p), zero padding."""

    kind: ClassVar[str] = "SumPool2d"
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self):
        self.kernel_size = _pair(self.kernel_size, "kernel_size", self.name)
        self.stride = _pair(self.stride, "stride", self.name)
        self.padding = _pair(self.padding, "padding", self.name)

    def out_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise self._err(f"expects input [C, H, W], got {in_shape}")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise self._err("kernel_size and stride must be >= 1, padding >= 0")
        out = tuple(conv_out_len(in_shape[1 + i], self.kernel_size[i], self.stride[i], self.padding[i], 1)
                    for i in range(2))
        if min(out) < 1:
            raise self._err(f"input {in_shape} is smaller than the kernel {self.kernel_size}")
        return (in_shape[0], *out)


@dataclass(eq=False, kw_only=True)
class AvgPool2d(SumPool2d):
    """SumPool2d divided by KH*KW (padding counts as zeros, as torch's default)."""

    kind: ClassVar[str] = "AvgPool2d"


@dataclass(eq=False, kw_only=True)
class Flatten(Node):
    """Merge axes start_dim..end_dim (inclusive, of the per-sample shape; negative counts from the end)."""

    kind: ClassVar[str] = "Flatten"
    start_dim: int = 0
    end_dim: int = -1

    def out_shape(self, in_shape: Shape) -> Shape:
        n = len(in_shape)
        s = self.start_dim + n if self.start_dim < 0 else self.start_dim
        e = self.end_dim + n if self.end_dim < 0 else self.end_dim
        if not (0 <= s <= e < n):
            raise self._err(f"dims {self.start_dim}..{self.end_dim} out of range for input {in_shape}")
        return (*in_shape[:s], math.prod(in_shape[s:e + 1]), *in_shape[e + 1:])


@dataclass(eq=False, kw_only=True)
class Scale(Node):
    """y = scale * x, elementwise; scale has the input's shape."""

    kind: ClassVar[str] = "Scale"
    scale: np.ndarray

    def out_shape(self, in_shape: Shape) -> Shape:
        if self.scale.shape != in_shape:
            raise self._err(f"scale shape {self.scale.shape} does not match input {in_shape}")
        return in_shape


# ----------------------------------------------------------------------------------------------
# Neurons. Every parameter is a per-neuron array of the neuron shape (the importer broadcasts).
# ----------------------------------------------------------------------------------------------

RESETS = ("zero", "value", "subtract")
SPIKE_RULES = (">", ">=")


@dataclass(eq=False, kw_only=True)
class _Neuron(Node):
    gain: np.ndarray
    bias: np.ndarray

    def _decays(self) -> tuple[str, ...]:
        return ()

    def out_shape(self, in_shape: Shape) -> Shape:
        for key, a in self.arrays().items():
            if a.shape != in_shape:
                raise self._err(f"field {key!r} has shape {a.shape} but the layer receives {in_shape}")
        return in_shape

    def validate(self) -> None:
        super().validate()
        for key in self._decays():
            a = getattr(self, key)
            if np.any((a < 0) | (a > 1)):
                raise self._err(f"field {key!r} must lie in [0, 1] (a stable per-step decay); "
                                f"got values in [{a.min():.4g}, {a.max():.4g}]")

    @property
    def neuron_shape(self) -> Shape:
        return self.gain.shape

    @property
    def size(self) -> int:
        return int(self.gain.size)


@dataclass(eq=False, kw_only=True)
class _Spiking(_Neuron):
    threshold: np.ndarray
    v_reset: np.ndarray
    reset: str = "zero"
    spike_rule: str = ">"
    reset_late: bool = False
    max_spikes: int = 1

    def validate(self) -> None:
        super().validate()
        if self.reset not in RESETS:
            raise self._err(f"reset {self.reset!r} is not one of {RESETS}")
        if self.spike_rule not in SPIKE_RULES:
            raise self._err(f"spike_rule {self.spike_rule!r} is not one of {SPIKE_RULES}")
        if self.reset_late and self.reset != "subtract":
            raise self._err("reset_late applies only to reset='subtract'")
        if not 1 <= int(self.max_spikes) <= 255:
            raise self._err(f"max_spikes {self.max_spikes} must lie in [1, 255]")
        if self.max_spikes > 1 and self.reset != "subtract":
            raise self._err("several spikes per step need reset='subtract'")
        if np.any(self.threshold <= 0):
            raise self._err("field 'threshold' must be positive")


@dataclass(eq=False, kw_only=True)
class IF(_Spiking):
    """Integrate-and-fire.

        v[t] = v[t-1] + gain*x[t] + bias
        s[t] = n if v[t] crosses threshold (spike_rule '>' or '>='), else 0;
               n = 1, or min(floor(v/threshold), max_spikes) when max_spikes > 1
        reset: 'zero' v = 0 | 'value' v = v_reset | 'subtract' v -= s*threshold
               (reset_late: the subtraction s[t]*threshold is applied inside step t+1's update)
    """

    kind: ClassVar[str] = "IF"


@dataclass(eq=False, kw_only=True)
class LIF(_Spiking):
    """Leaky integrate-and-fire.

        v[t] = alpha*v[t-1] + gain*x[t] + bias
        spike and reset as IF.
    """

    kind: ClassVar[str] = "LIF"
    alpha: np.ndarray

    def _decays(self):
        return ("alpha",)


@dataclass(eq=False, kw_only=True)
class LI(_Neuron):
    """Leaky integrator (readout): v[t] = alpha*v[t-1] + gain*x[t] + bias; output v[t]."""

    kind: ClassVar[str] = "LI"
    alpha: np.ndarray

    def _decays(self):
        return ("alpha",)


@dataclass(eq=False, kw_only=True)
class CubaLIF(_Spiking):
    """Current-based LIF.

        i[t] = alpha_syn*i[t-1] + gain_syn*x[t]
        v[t] = alpha*v[t-1] + gain*j + bias,  j = i[t-1] if syn_delay else i[t]
        spike and reset as IF.
    """

    kind: ClassVar[str] = "CubaLIF"
    alpha: np.ndarray
    alpha_syn: np.ndarray
    gain_syn: np.ndarray
    syn_delay: bool = False

    def _decays(self):
        return ("alpha", "alpha_syn")


@dataclass(eq=False, kw_only=True)
class CubaLI(_Neuron):
    """Current-based leaky integrator: CubaLIF's i and v without spikes; output v[t]."""

    kind: ClassVar[str] = "CubaLI"
    alpha: np.ndarray
    alpha_syn: np.ndarray
    gain_syn: np.ndarray
    syn_delay: bool = False

    def _decays(self):
        return ("alpha", "alpha_syn")


@dataclass(eq=False, kw_only=True)
class ALIF(_Neuron):
    """Adaptive LIF with per-neuron membrane and adaptation time scales (multiple timescales).

        v[t]     = alpha*v[t-1] + gain*x[t] + bias          alpha = exp(-dt/tau_m)
        theta[t] = b0 + beta*eta[t-1]                         adaptive threshold
        s[t]     = v[t] crosses theta[t] (spike_rule)
        v[t]    -= s[t]*theta[t]                              reset by subtracting the threshold
        eta[t]   = rho*eta[t-1] + (1 - rho)*s[t]              rho = exp(-dt/tau_adp)
    """

    kind: ClassVar[str] = "ALIF"
    alpha: np.ndarray
    rho: np.ndarray
    b0: np.ndarray
    beta: np.ndarray
    spike_rule: str = ">"

    def _decays(self):
        return ("alpha", "rho")

    def validate(self) -> None:
        super().validate()
        if self.spike_rule not in SPIKE_RULES:
            raise self._err(f"spike_rule {self.spike_rule!r} is not one of {SPIKE_RULES}")
        if np.any(self.b0 <= 0):
            raise self._err("field 'b0' (base threshold) must be positive")
        if np.any(self.beta < 0):
            raise self._err("field 'beta' (adaptation strength) must be non-negative")


@dataclass(eq=False, kw_only=True)
class Threshold(Node):
    """Stateless spike generator (NIR's Threshold): no membrane, nothing carried across steps.

        s[t] = 1 if x[t] crosses threshold (spike_rule '>' or '>='), else 0

    x[t] is the sum of its incoming edges, unscaled (a weighted layer before it carries any gain)."""

    kind: ClassVar[str] = "Threshold"
    threshold: np.ndarray
    spike_rule: str = ">"

    def out_shape(self, in_shape: Shape) -> Shape:
        if self.threshold.shape != in_shape:
            raise self._err(f"field 'threshold' has shape {self.threshold.shape} but the layer receives {in_shape}")
        return in_shape

    def validate(self) -> None:
        super().validate()
        if self.spike_rule not in SPIKE_RULES:
            raise self._err(f"spike_rule {self.spike_rule!r} is not one of {SPIKE_RULES}")
        if np.any(self.threshold <= 0):  # at rest (zero input) it must not spike, as every spiking kind
            raise self._err("field 'threshold' must be positive")

    @property
    def neuron_shape(self) -> Shape:
        return self.threshold.shape

    @property
    def size(self) -> int:
        return int(self.threshold.size)


NODE_TYPES: dict[str, type[Node]] = {k.name: globals()[k.ir_class] for k in KINDS.values()}
"""kind name -> IR class, one per row of graph/kinds.py (the file format's registry)."""
assert all(c.kind == k for k, c in NODE_TYPES.items())
NEURON_TYPES = tuple(NODE_TYPES[k] for k in names(lambda k: k.neuron))
SYNAPTIC_TYPES = tuple(NODE_TYPES[k] for k in names(lambda k: k.synaptic))


# ----------------------------------------------------------------------------------------------
# Graph
# ----------------------------------------------------------------------------------------------

def dfs_order(start: str, succ: dict[str, list[str]]) -> tuple[tuple[str, ...], frozenset]:
    """Depth-first search from `start` in edge order: returns the nodes it reaches in topological
    order of the graph without its back edges, and the back edges (those that close a cycle)."""
    state: dict[str, int] = {start: 1}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    post: list[str] = []
    stack = [(start, iter(succ[start]))]
    while stack:
        name, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            stack.pop()
            state[name] = 2
            post.append(name)
        elif state.get(nxt) == 1:
            back.add((name, nxt))
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter(succ[nxt])))
    return tuple(reversed(post)), frozenset(back)


@dataclass(frozen=True)
class Schedule:
    """How one time step runs: node order, and the edges that carry last step's value."""

    order: tuple[str, ...]
    back_edges: frozenset[tuple[str, str]]
    shapes: dict[str, Shape]  # output shape of every node


@dataclass(eq=False)
class Graph:
    nodes: dict[str, Node]
    edges: list[tuple[str, str]]
    dt: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.edges = [(str(a), str(b)) for a, b in self.edges]
        self._schedule: Schedule | None = None
        self.schedule()  # validate eagerly: a Graph that exists is a Graph that runs

    # -- structure ------------------------------------------------------------------------
    def _only(self, cls) -> Node:
        found = [n for n in self.nodes.values() if type(n) is cls]
        if len(found) != 1:
            raise GraphError(f"graph must have exactly one {cls.kind} node, found {len(found)}"
                             + (f": {[n.name for n in found]}" if found else ""))
        return found[0]

    @property
    def input(self) -> Input:
        return self._only(Input)

    @property
    def output(self) -> Output:
        return self._only(Output)

    def predecessors(self, name: str) -> list[str]:
        return [a for a, b in self.edges if b == name]

    def successors(self, name: str) -> list[str]:
        return [b for a, b in self.edges if a == name]

    def schedule(self) -> Schedule:
        if self._schedule is None:
            self._schedule = self._build_schedule()
        return self._schedule

    def _build_schedule(self) -> Schedule:
        if not (isinstance(self.dt, (int, float)) and not isinstance(self.dt, bool) and np.isfinite(self.dt)
                and self.dt > 0):
            raise GraphError(f"dt must be a positive number of seconds, got {self.dt!r}")
        check_dt(self.dt)
        for key, node in self.nodes.items():
            if not isinstance(node, Node):
                raise GraphError(f"node {key!r} is not an edgesnn node")
            if node.name != key:
                raise GraphError(f"node stored under {key!r} is named {node.name!r}")
        for a, b in self.edges:
            for end in (a, b):
                if end not in self.nodes:
                    raise GraphError(f"edge ({a!r} -> {b!r}) names node {end!r}, which does not exist")
        if len(set(self.edges)) != len(self.edges):
            raise GraphError("duplicate edges")
        inp, out = self.input, self.output
        if self.predecessors(inp.name):
            raise GraphError(f"Input node {inp.name!r} must have no incoming edges")
        if self.successors(out.name):
            raise GraphError(f"Output node {out.name!r} must have no outgoing edges")
        for node in self.nodes.values():
            node.validate()

        order, back = dfs_order(inp.name, {k: self.successors(k) for k in self.nodes})
        unreached = [k for k in self.nodes if k not in order]
        if unreached:
            raise GraphError(f"nodes not reachable from the input {inp.name!r}: {unreached}")

        shapes: dict[str, Shape] = {}
        for name in order:
            node = self.nodes[name]
            if name == inp.name:
                shapes[name] = node.out_shape(())
                continue
            # The search reached `name` along a forward edge, so it has at least one.
            fwd = [a for a in self.predecessors(name) if (a, name) not in back]
            in_shapes = {shapes[a] for a in fwd}
            if len(in_shapes) > 1:
                raise GraphError(f"node {name!r} sums inputs of different shapes: "
                                 + ", ".join(f"{a} {shapes[a]}" for a in fwd))
            shapes[name] = node.out_shape(in_shapes.pop())
            check_elements(shapes[name], f"node {name!r} ({node.kind}) output", error=GraphError)
        total = sum(math.prod(s) for s in shapes.values()) + self.parameter_count()
        if total > max_elements():
            raise GraphError(f"the model's tensors hold {total:,} elements in all (parameters and every layer's "
                             f"output), more than the limit of {max_elements():,} ({ENV_MAX_ELEMENTS} raises it)")
        for a, b in back:
            expect = shapes[self._forward_input(b, back)]
            if shapes[a] != expect:
                raise GraphError(f"recurrent edge {a!r} -> {b!r} carries shape {shapes[a]} "
                                 f"but {b!r} receives {expect}")
        return Schedule(order, frozenset(back), shapes)

    def _forward_input(self, name: str, back) -> str:
        return next(a for a in self.predecessors(name) if (a, name) not in back)

    # -- summaries --------------------------------------------------------------------------
    @property
    def output_spiking(self) -> bool:
        """Whether the Output receives spikes (else membrane values of a readout)."""
        feeders = [self.nodes[a] for a in self.predecessors(self.output.name)]
        return all(n.spiking for n in feeders)

    def parameter_count(self) -> int:
        return sum(int(a.size) for n in self.nodes.values() for a in n.arrays().values())

    # -- plain data -------------------------------------------------------------------------
    def to_dict(self, compact: bool = False) -> dict:
        return stamp("graph", {"dt": self.dt, "meta": self.meta,
                               "nodes": [n.to_dict(compact) for n in self.nodes.values()],
                               "edges": [list(e) for e in self.edges]})

    @classmethod
    def from_dict(cls, d: dict, where: str = "graph") -> "Graph":
        """A graph from its file form, checked against the declared schema (edgesnn/graph/schema.py) and then for
        what a schema cannot say: edges naming nodes, shapes agreeing, sizes within max_elements()."""
        if not isinstance(d, dict) or d.get("artifact") != "graph":
            what = d.get("artifact") if isinstance(d, dict) else type(d).__name__
            raise GraphError(f"{where}: not an edgesnn graph (artifact field is {_label(what)})")
        for key in ("nodes", "edges", "dt"):
            if key not in d:
                raise GraphError(f"{where}: missing field {key!r}")
        model_schema.check_numbers(d, where)
        check(d, model_schema.schemas()[1], where, error=model_schema.ModelSchemaError)
        try:
            nodes = [Node.from_dict(n) for n in d["nodes"]]
        except GraphError as e:
            raise GraphError(f"{where}: {e}") from None
        edges = [tuple(e) for e in d["edges"]]
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            raise GraphError(f"{where}: duplicate node names")
        try:
            return cls({n.name: n for n in nodes}, edges, d["dt"], d.get("meta", {}))
        except GraphError as e:
            raise GraphError(f"{where}: {e}") from None

    def save(self, path, compact: bool = False) -> None:
        """Write the graph as JSON; `compact`: weights on a quantization grid (QAT) stored packed, exactly."""
        save_json(path, self.to_dict(compact))

    @classmethod
    def load(cls, path) -> "Graph":
        return cls.from_dict(load_json(path), where=str(path))
