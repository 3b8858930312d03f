"""QGraph: a Graph with integer parameters and one fixed-point format per tensor.

Units. Each neuron layer keeps its membrane v as an integer in units of `scales['v']` (the real
value of one step of v), and a CubaLIF its current i in units of `scales['i']`. A weighted layer
(Linear, Affine, Conv, Scale) stores its weights in the units of the state it adds into (its
`target`'s v, or i for a current-based neuron), with the target's input gain folded in, so one
input spike adds one weight row: no multiply. Pools and Flatten move integer spike counts.

A weighted layer that reads an analog input (config.input_bits) stores its weights 2^acc_shift times finer and shifts
its accumulator back (rounding to nearest) before its target adds it.

Integer parameters per kind (all arrays, shapes as in the float node):
    weighted  weight (int8/int16; weight_bits 1: +-m, one m in [1, BINARY_MAX] per layer), bias (int32, added
              every step, absent when zero)
    neurons   threshold (int32, >= 1), v_reset (int32), bias (int32), alpha (Q decay_bits, IF: none)
    CubaLIF   + alpha_syn (Q decay_bits), cur_mult (Q16: i -> v units, times gain)
    ALIF      + rho (Q decay_bits), b0 (int32), beta (v units per unit eta), eta_inc ((1 - rho) in Q adapt_bits)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..artifact import decode_array, encode_array, load_json, save_json, stamp
from ..errors import QuantizeError
from ..graph import Graph
from ..schema import check
from .config import QuantConfig
from .schema import QGRAPH, QGraphSchemaError


@dataclass
class QLayer:
    params: dict[str, np.ndarray]
    scales: dict[str, float] = field(default_factory=dict)
    target: str | None = None     # weighted layers: the neuron layer they add into
    into: str = "v"               # ... its membrane 'v' or its synaptic current 'i'
    max_in: int = 1               # largest input count one entry can carry (bounds the accumulator)
    acc_shift: int = 0            # readers of an analog input: the accumulator's right shift into target units

    def to_dict(self) -> dict:
        return {"params": {k: encode_array(v) for k, v in self.params.items()}, "scales": self.scales,
                "target": self.target, "into": self.into, "max_in": self.max_in, "acc_shift": self.acc_shift}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "QLayer":
        return cls({k: decode_array(v, f"{where} {k}") for k, v in d["params"].items()},
                   {k: float(v) for k, v in d["scales"].items()}, d.get("target"), d.get("into", "v"),
                   int(d.get("max_in", 1)), int(d.get("acc_shift", 0)))


@dataclass
class QGraph:
    graph: Graph
    config: QuantConfig
    layers: dict[str, QLayer]
    meta: dict = field(default_factory=dict)
    # Early exit (DT-SNN): {"threshold_q8": int, "beta_q16": int}, see fixedpoint.entropy_q8; None = off
    exit: dict | None = None
    # Analog input (config.input_bits 8 or 16): the real value of one input unit, [1] (per tensor) or one per input
    # channel (axis 0 of a step's input); None for spike counts
    input_scale: np.ndarray | None = None

    @property
    def analog(self) -> bool:
        return self.config.input_bits != 0

    def quantize_inputs(self, inputs) -> np.ndarray:
        """Analog inputs [N, T, *input_shape] in the model's units (physical, as calibrated) as the device's integers:
        x / scale rounded to nearest (ties away from zero, as the exported C helper), saturated to
        +-(2^(input_bits-1) - 1), in input_dtype."""
        x = np.asarray(inputs, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise QuantizeError(f"analog inputs must be finite numbers; found {x[idx]} at index {idx}")
        scale = self.input_scale.reshape(-1, *([1] * (x.ndim - 3))) if self.input_scale.size > 1 else self.input_scale
        top = analog_limit(self.config.input_bits)
        q = x / scale
        return np.clip(np.sign(q) * np.floor(np.abs(q) + 0.5), -top, top).astype(input_dtype(self.config.input_bits))

    def with_exit(self, threshold_q8: int | None, beta_q16: int | None = None) -> "QGraph":
        """A copy that exits an input once the output entropy drops below threshold_q8 (1/256 nat)."""
        if threshold_q8 is None:
            return QGraph(self.graph, self.config, self.layers, self.meta, None, self.input_scale)
        if beta_q16 is None:
            beta_q16 = max(1, int(round(self.output_scale * 65536)))
        if not (0 <= int(threshold_q8) < 2 ** 31 and 0 < int(beta_q16) < 2 ** 31):
            raise QuantizeError(f"early-exit threshold {threshold_q8} or beta {beta_q16} out of range")
        return QGraph(self.graph, self.config, self.layers, self.meta,
                      {"threshold_q8": int(threshold_q8), "beta_q16": int(beta_q16)}, self.input_scale)

    @property
    def output_scale(self) -> float:
        """Real value of one unit of the output (1 for spike counts)."""
        feeder = self.graph.predecessors(self.graph.output.name)[0]
        return 1.0 if self.graph.output_spiking else self.layers[feeder].scales["v"]

    def weight_count(self) -> int:
        return sum(int(q.params["weight"].size) for q in self.layers.values() if "weight" in q.params)

    def to_dict(self) -> dict:
        return stamp("qgraph", {"config": self.config.to_dict(), "meta": self.meta, "exit": self.exit,
                                "graph": self.graph.to_dict(),
                                "layers": {k: v.to_dict() for k, v in self.layers.items()},
                                "input_scale": None if self.input_scale is None else
                                [float(v) for v in self.input_scale]})

    @classmethod
    def from_dict(cls, d: dict, where: str = "qgraph") -> "QGraph":
        """A quantized graph from its file form: the declared schema (edgesnn/quantize/schema.py) and the float
        graph's own checks. Every check the C runtime makes of the model (emit.blob.check_qgraph, a stage above)
        follows at each load of a quantized model for running: runtime.engines.load_model, Plan.from_dict."""
        if not isinstance(d, dict) or d.get("artifact") != "qgraph":
            raise QuantizeError(f"{where}: not an edgesnn quantized graph")
        check(d, QGRAPH, where, error=QGraphSchemaError)
        try:
            q = cls(Graph.from_dict(d["graph"], where), QuantConfig.from_dict(d["config"]),
                    {k: QLayer.from_dict(v, f"{where}: layer {k!r}") for k, v in d["layers"].items()},
                    d.get("meta", {}), d.get("exit"),
                    None if d.get("input_scale") is None else np.asarray(d["input_scale"], np.float64))
        except (KeyError, TypeError) as e:
            raise QuantizeError(f"{where}: malformed quantized graph ({e})") from None
        problem = input_scale_problem(q)
        if problem:
            raise QuantizeError(f"{where}: {problem}")
        return q

    def save(self, path) -> None:
        save_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "QGraph":
        return cls.from_dict(load_json(path), str(path))


def analog_limit(input_bits: int) -> int:
    """The largest magnitude of a quantized analog value (2^(input_bits-1) - 1: symmetric, no -2^(b-1))."""
    return (1 << (input_bits - 1)) - 1


def input_dtype(input_bits: int) -> np.dtype:
    """The element type of one input value (esn_model.input_bits): uint8 spike counts, int8 or int16 analog."""
    return np.dtype({0: np.uint8, 8: np.int8, 16: np.int16}[input_bits])


def input_scale_problem(q: "QGraph") -> str | None:
    """Why q's input scale does not fit its settings and input shape (None when it does)."""
    shape = q.graph.input.shape
    if not q.analog:
        return None if q.input_scale is None else "an input scale is given for spike-count input (input_bits 0)"
    want = {"tensor": 1, "channel": int(shape[0]) if shape else 1}[q.config.input_scale]
    if q.input_scale is None or q.input_scale.shape != (want,):
        got = "none" if q.input_scale is None else f"{q.input_scale.size}"
        return (f"analog input (input_bits {q.config.input_bits}, input_scale {q.config.input_scale!r}) needs "
                f"{want} input scale value(s); found {got}")
    return None


def storage_dtype(bits: int) -> np.dtype:
    return np.dtype(np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32)


# How the runtime stores parameter arrays (esn_node.pbits / pmode in runtime_c/include/esn/esn_types.h): the
# one place these choices are made; lowering writes them and the fixed-point reference counts their bytes.
# 1, 2 and 4 packed (rows start on a byte), 3 in 4, 5-8 in 8, 9-16 in 16. 1 bit holds binary weights: +-m with one
# magnitude m per layer (esn_node.wmag), bit 0 -> +m, bit 1 -> -m.
WEIGHT_STORAGE_BITS = (1, 2, 4, 8, 16)
BINARY_MAX = 127  # the largest magnitude m of binary weights: a spike then adds a signed byte (esn_add_row_b1_dsp)
PM_ELEM, PM_CHANNEL, PM_LAYER = 0, 1, 2  # one value per element, per channel (out_shape[0]), for the layer


def weight_storage_bits(weight_bits: int) -> int:
    """Bits one weight is stored in: the smallest of 1 (binary, packed), 2 (packed), 4 (packed), 8 and 16 that holds
    weight_bits."""
    return next(b for b in WEIGHT_STORAGE_BITS if weight_bits <= b)


def param_storage(a: np.ndarray, per_channel: bool) -> tuple[np.ndarray, int, int]:
    """How a non-weight parameter array `a` (in its layer's shape, channel first) is stored: (values, mode,
    bits): once for the layer when all values agree, once per channel when they agree within every channel
    and `per_channel` (neuron layers of rank >= 2), else per element; at 8, 16 or 32 bits, the fewest that
    hold the values."""
    a = np.asarray(a).astype(np.int64)
    flat = a.reshape(-1)
    rows = a.reshape(a.shape[0], -1) if a.ndim >= 2 else None
    if flat.size and np.all(flat == flat[0]):
        values, mode = flat[:1], PM_LAYER
    elif per_channel and rows is not None and np.all(rows == rows[:, :1]):
        values, mode = rows[:, 0], PM_CHANNEL
    else:
        values, mode = flat, PM_ELEM
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    bits = next(b for b in (8, 16, 32) if -(1 << (b - 1)) <= lo and hi < 1 << (b - 1))
    return np.ascontiguousarray(values), mode, bits


def param_stored_bytes(a: np.ndarray, per_channel: bool) -> int:
    """Bytes param_storage() keeps of `a`."""
    values, _, bits = param_storage(a, per_channel)
    return int(values.size) * bits // 8
