"""Post-training quantization: Graph (+ calibration inputs) -> QGraph.

Scale of a neuron layer's state: the finest unit that both
  - fits every weight feeding it into weight_bits  (max |gain * w| / (2^(wb-1) - 1)), and
  - fits the state's range into state_bits         (range / (2^(sb-1) - 1)),
(binary weights, weight_bits 1: each feeder's mean |gain * w| / BINARY_MAX, its one magnitude m; see below),
where the range is the 99.9th percentile of the positive v seen on the calibration inputs (float
simulation; the largest |v| for a readout), never less than 1.25 x the largest threshold, or without calibration
data twice the largest threshold (a leaky readout: its steady-state bound). A Threshold layer keeps no v: its
unit is that of its input and only has to fit 1.25 x its largest threshold. Finer units cost nothing on the device, since weights
and state share them, so the only loss is the rounding of each number to its bit width.

Binary weights (weight_bits 1, BNN style, without retraining): a weighted layer's weights become sign(w) * m, with
m = its mean |w| in the target's units (the scale that minimises the squared error of sign(w) * m, as in
XNOR-Net), rounded, in [1, BINARY_MAX]; a zero weight becomes +m (1 bit holds no zero).

The accumulator of one step is proven not to overflow int32 from the weights and the largest
input count, so the device can accumulate without saturation checks and in any order.

Analog input (config.input_bits 8 or 16: direct encoding, sensor readings): the input is quantized to signed integers
x_q = round(x / s), s = max |x| / (2^(bits-1) - 1) over the calibration inputs, per tensor or per input channel
(config.input_scale); s is folded into the weights of the layers that read it, so a value adds x_q times its weight
row (a multiply-accumulate, where a spike adds the row once). Only Linear, Affine and Conv layers may read it.
"""

from __future__ import annotations

import numpy as np

from ..errors import QuantizeError
from ..graph import ir
from ..graph.kinds import ANALOG_READER_KINDS, KINDS, names
from ..graph.simulate import simulate
from .config import QuantConfig
from .fixedpoint import GAIN_SHIFT, quantize_values, sat
from .qgraph import BINARY_MAX, QGraph, QLayer, analog_limit, storage_dtype

WEIGHTED = tuple(ir.NODE_TYPES[k] for k in names(lambda k: k.weighted))  # Linear, Affine, Conv1d, Conv2d, Scale
INPUT_MAX = 255  # inputs are spike counts 0..255 (uint8)


ANALOG_READERS = tuple(ir.NODE_TYPES[k] for k in ANALOG_READER_KINDS)


def _flow(graph: ir.Graph, input_max: int = INPUT_MAX) -> tuple[dict[str, float], dict[str, int]]:
    """Per node: the real factor its integer output carries (1/k^2 after an AvgPool) and the largest
    count one output entry can hold (input_max for the Input: 255 spikes, or an analog value's magnitude)."""
    sched = graph.schedule()
    factor, count = {}, {}
    for name in sched.order:
        node = graph.nodes[name]
        preds = [a for a in graph.predecessors(name) if (a, name) not in sched.back_edges]
        if isinstance(node, ir.Input):
            factor[name], count[name] = 1.0, input_max
        elif node.spiking:
            factor[name], count[name] = 1.0, int(getattr(node, "max_spikes", 1))
        elif isinstance(node, (ir.SumPool2d, ir.Flatten)):
            src = preds[0]
            if len(preds) > 1:
                raise QuantizeError(f"node {name!r} ({node.kind}): fixed point needs a single input here")
            k = node.kernel_size[0] * node.kernel_size[1] if isinstance(node, ir.SumPool2d) else 1
            div = k if isinstance(node, ir.AvgPool2d) else 1
            factor[name], count[name] = factor[src] / div, count[src] * k
        else:
            factor[name], count[name] = 1.0, 0  # weighted layers and readouts: no integer count flows on
    return factor, count


def _per_output(gain: np.ndarray, node: ir.Node, where: str) -> np.ndarray:
    """Target gain as a factor per output row of a weighted layer: [out] or the full shape for Scale."""
    if isinstance(node, ir.Conv2d):
        g = gain.reshape(gain.shape[0], -1)
        if np.any(g != g[:, :1]):
            raise QuantizeError(f"{where}: the gain of the neurons fed by conv {node.name!r} varies within a "
                                "channel, so it cannot be folded into the kernel")
        return g[:, 0]
    return gain


def _effective(node: ir.Node, gain: np.ndarray, in_factor: float, where: str):
    """Real weights and bias in the target's input units (before dividing by its scale)."""
    if isinstance(node, ir.Scale):
        return gain * node.scale * in_factor, None
    g = _per_output(gain, node, where)
    w = node.weight * in_factor * g.reshape(-1, *([1] * (node.weight.ndim - 1)))
    bias = getattr(node, "bias", None)
    return w, (None if bias is None else bias * g)


def input_readers(graph: ir.Graph) -> list[str]:
    """The nodes that read the Input, directly or through Flatten nodes."""
    seen, todo, readers = set(), [graph.input.name], []
    while todo:
        for s in graph.successors(todo.pop()):
            if s in seen:
                continue
            seen.add(s)
            (todo if isinstance(graph.nodes[s], ir.Flatten) else readers).append(s)
    return readers


def _check_analog_readers(graph: ir.Graph) -> None:
    for r in input_readers(graph):
        node = graph.nodes[r]
        if not isinstance(node, ANALOG_READERS):
            raise QuantizeError(f"node {r!r} ({node.kind}) reads the analog input; only a Linear, Affine, Conv1d or "
                                "Conv2d layer may (it multiplies the input values into its weights)")
        if len(graph.predecessors(r)) != 1:
            raise QuantizeError(f"node {r!r} ({node.kind}) reads the analog input together with "
                                f"{[p for p in graph.predecessors(r)]}; an analog input must be its only input")


def choose_input_scale(graph: ir.Graph, config: QuantConfig, calib) -> np.ndarray:
    """The real value of one analog input unit: max |x| over the calibration inputs / (2^(bits-1) - 1), one for
    the tensor or one per input channel (axis 0 of one step's input); a channel that is always zero takes the
    tensor's, and 1 where every input is zero."""
    if calib is None:
        raise QuantizeError(f"analog input (input_bits {config.input_bits}) needs calibration inputs in the same units "
                            "to choose its scale (--calib on the command line, calib= in Python)")
    x = np.abs(np.asarray(calib, dtype=np.float64))
    if x.ndim < 3 or tuple(x.shape[2:]) != tuple(graph.input.shape):
        raise QuantizeError(f"calibration inputs of shape {tuple(x.shape)}; the model takes [N, T, "
                            f"{', '.join(map(str, graph.input.shape))}]")
    if not np.all(np.isfinite(x)):
        raise QuantizeError("calibration inputs hold a value that is not a finite number")
    top = analog_limit(config.input_bits)
    whole = x.max(initial=0.0)
    peak = np.array([whole]) if config.input_scale == "tensor" else \
        np.moveaxis(x, 2, 0).reshape(x.shape[2], -1).max(axis=1, initial=0.0)
    # a channel the data never drive takes the tensor's scale (a coarse one of its own would set the weights' range)
    return np.where(peak > 0, peak, whole if whole > 0 else top) / top


def _fold_input_scale(node: ir.Node, w: np.ndarray, scale: np.ndarray, in_shape: tuple) -> np.ndarray:
    """w (a reader of the analog input, in target units per real input) in target units per input unit."""
    if scale.size == 1:
        return w * float(scale[0])
    if isinstance(node, ir.Conv2d):  # per input channel; a group's kernels read its own channels
        g = node.groups
        cout, cin_g = w.shape[0], w.shape[1]
        f = scale.reshape(g, 1, cin_g, *([1] * (w.ndim - 2)))
        return (w.reshape(g, cout // g, cin_g, *w.shape[2:]) * f).reshape(w.shape)
    per_elem = np.broadcast_to(scale.reshape(-1, *([1] * (len(in_shape) - 1))), in_shape).reshape(-1)
    return w * per_elem[None, :]


def _observed(graph: ir.Graph, calib: np.ndarray | None) -> dict[str, dict[str, float]]:
    if calib is None:
        return {}
    r = simulate(graph, calib, dtype=np.float64, record_states=True)
    # A spiking membrane matters near its threshold: its range is the 99.9th percentile of its positive
    # side, and deep negative excursions saturate (they only delay the next spike). Currents and
    # readouts are values that count on both sides: their largest magnitude.
    def span(k, var, a):
        if graph.nodes[k].spiking and var == "v":
            return float(np.percentile(np.maximum(a, 0), 99.9))
        return float(np.abs(a).max())
    return {k: {var: span(k, var, a) for var, a in s.items()} for k, s in r.states.items()}


def quantize(graph: ir.Graph, config: QuantConfig = QuantConfig(), calib: np.ndarray | None = None) -> QGraph:
    """Post-training quantization of `graph` with `config`; `calib` [N, T, ...] sets state ranges."""
    sched = graph.schedule()
    analog = config.input_bits != 0
    factor, count = _flow(graph, (1 << (config.input_bits - 1)) if analog else INPUT_MAX)
    input_scale = None
    if analog:
        _check_analog_readers(graph)
        input_scale = choose_input_scale(graph, config, calib)
    reads_input = set(input_readers(graph)) if analog else set()
    observed = _observed(graph, calib)
    rng = np.random.default_rng(config.seed)
    binary = config.weight_bits == 1
    wmax = BINARY_MAX if binary else (1 << (config.weight_bits - 1)) - 1
    q = lambda x: quantize_values(x, config.rounding, rng)  # noqa: E731
    layers: dict[str, QLayer] = {}

    out_feeders = graph.predecessors(graph.output.name)
    for f in out_feeders:
        if not graph.nodes[f].stateful:
            raise QuantizeError(f"node {f!r} ({graph.nodes[f].kind}) feeds the output directly; fixed point "
                                "needs the output to come from a neuron layer")

    for name in sched.order:
        node = graph.nodes[name]
        where = f"node {name!r} ({node.kind})"
        if isinstance(node, WEIGHTED):
            succ = graph.successors(name)
            if len(succ) != 1 or not graph.nodes[succ[0]].stateful:
                raise QuantizeError(f"{where}: fixed point needs a weighted layer to feed exactly one neuron "
                                    f"layer; it feeds {succ}")
            src = graph.predecessors(name)
            for s in src:
                if not (graph.nodes[s].spiking or isinstance(graph.nodes[s], (ir.Input, ir.SumPool2d, ir.Flatten))):
                    raise QuantizeError(f"{where}: receives real values from {s!r} ({graph.nodes[s].kind}); "
                                        "fixed point needs spike counts at the input of every weighted layer")
            if len({factor[s] for s in src}) != 1:
                raise QuantizeError(f"{where}: its inputs carry different scales")
        elif node.stateful:
            for s in graph.predecessors(name):
                if not isinstance(graph.nodes[s], WEIGHTED):
                    raise QuantizeError(f"{where}: fed by {s!r} ({graph.nodes[s].kind}); fixed point needs a "
                                        "weighted layer (Linear, Affine, Conv, Scale) right before each neuron layer")

    for name in sched.order:
        node = graph.nodes[name]
        if not node.stateful:
            continue
        where = f"node {name!r} ({node.kind})"
        feeders = graph.predecessors(name)
        cuba = KINDS[node.kind].current
        in_gain = node.gain_syn if cuba else getattr(node, "gain", None)
        if in_gain is None:  # Threshold: its input unscaled
            in_gain = np.ones(node.neuron_shape)
        eff = {f: (*_effective(graph.nodes[f], in_gain, factor[graph.predecessors(f)[0]], where),
                   isinstance(graph.nodes[f], ir.Scale)) for f in feeders}
        for f in reads_input & set(feeders):  # analog input: weights per input unit
            w, b, is_scale = eff[f]
            eff[f] = (_fold_input_scale(graph.nodes[f], w, input_scale, graph.input.shape),
                      b, is_scale)
        w_abs = max((float(np.abs(w).mean()) if binary else float(np.abs(w).max())) if w.size else 0.0
                    for w, _, _ in eff.values())
        obs = observed.get(name, {})

        def unit(bits, rng_needed):
            smax = (1 << (bits - 1)) - 1
            u = max(w_abs / wmax, rng_needed / smax)
            return u if u > 0 else 1.0

        params: dict[str, np.ndarray] = {}
        scales: dict[str, float] = {}
        if isinstance(node, ir.Threshold):  # no state to hold: the unit only has to fit the threshold
            v_range = 1.25 * float(np.max(node.threshold))
        elif isinstance(node, ir.ALIF):
            theta_max = float(np.max(node.b0 + node.beta))
            v_range = max(obs.get("v", 0.0), 1.25 * theta_max) if obs else 2 * theta_max
        elif node.spiking:
            thr_max = float(np.max(node.threshold))
            v_range = max(obs.get("v", 0.0), 1.25 * thr_max, float(np.abs(node.v_reset).max())) if obs else 2 * thr_max
        else:  # leaky readout: observed range, or the steady-state bound of its input
            v_range = obs.get("v", 0.0) * 1.25 if obs else _steady_bound(eff, node.alpha, node.bias)
        if cuba:
            i_range = obs.get("i", 0.0) * 1.25 if obs else _steady_bound(eff, node.alpha_syn, np.zeros(1))
            s_i = unit(config.current_bits, i_range)
            # finer membrane units than the current's gain can reach buy nothing; cap the Q16 multiplier at 2^30
            s_v = max(v_range / ((1 << (config.state_bits - 1)) - 1), float(np.max(node.gain)) * s_i / 2 ** 14, 1e-300)
            scales["i"] = s_i
            mult = q(node.gain * s_i / s_v * (1 << GAIN_SHIFT))
            if np.any(mult >= 2 ** 31):
                raise QuantizeError(f"{where}: current-to-membrane gain too large for a Q16 multiplier")
            params["cur_mult"] = mult.astype(np.int32)
            params["alpha_syn"] = _decay(node.alpha_syn, config, q)
        else:
            s_v = unit(config.state_bits, v_range)
        scales["v"] = s_v
        if not isinstance(node, (ir.IF, ir.Threshold)):
            params["alpha"] = _decay(node.alpha, config, q)
        if not isinstance(node, ir.Threshold):
            params["bias"] = _i32(q(node.bias / s_v))
        if isinstance(node, ir.ALIF):
            params["rho"] = _decay(node.rho, config, q)
            params["b0"] = _threshold(node.b0 / s_v, config, q, where)
            params["beta"] = _i32(q(node.beta / s_v))
            params["eta_inc"] = _i32(q((1.0 - node.rho) * (1 << config.adapt_bits)))
        elif node.spiking:  # Threshold: in the units of its input, as a spiking neuron's in its state's
            params["threshold"] = _threshold(node.threshold / s_v, config, q, where)
            if not isinstance(node, ir.Threshold):
                params["v_reset"] = _i32(sat(q(node.v_reset / s_v), config.state_bits))
        layers[name] = QLayer(params, scales)

        target_scale = scales["i"] if cuba else s_v
        for f, (w, b, _) in eff.items():
            # its inputs are summed entry by entry, so one entry can carry the sum of their counts
            max_in = sum(count[s] for s in graph.predecessors(f))
            shift = _acc_shift(w, target_scale, wmax, binary, max_in) if f in reads_input else 0
            unit = target_scale / (1 << shift)  # an analog reader's weights and bias, 2^shift finer
            if binary:  # sign(w) * m, m the mean |w| in target units (the least-squares magnitude)
                m = float(np.abs(w).mean()) / unit if w.size else 1.0
                m = int(np.clip(q(np.array([m]))[0], 1, BINARY_MAX))
                wq = np.where(w < 0, -m, m).astype(storage_dtype(8))
            else:
                wq = sat(q(w / unit), config.weight_bits).astype(storage_dtype(config.weight_bits))
            fp = {"weight": wq}
            if b is not None and np.any(b != 0):
                fp["bias"] = _i32(q(b / unit))
            layers[f] = QLayer(fp, {"out": target_scale}, target=name, into="i" if cuba else "v", max_in=max_in,
                               acc_shift=shift)
        _check_accumulator(graph, name, layers, where)
    return QGraph(graph, config, layers, {"calibration_inputs": 0 if calib is None else int(calib.shape[0])},
                  input_scale=input_scale)


def _acc_shift(w: np.ndarray, target_scale: float, wmax: int, binary: bool, max_in: int) -> int:
    """The accumulator shift of a reader of the analog input: the largest (up to 30) at which its weights, 2^shift
    times finer than its target's unit, still fit their bits and one step's sum over every input at its largest
    magnitude still fits int32 (so the integer weights keep their precision however small one input unit is)."""
    if not w.size:
        return 0
    top = (float(np.abs(w).mean()) if binary else float(np.abs(w).max())) / target_scale
    row = float(_per_output_sum(w, False).max()) / target_scale
    shift = 0
    while shift < 30 and top * 2 ** (shift + 1) <= wmax and row * 2 ** (shift + 1) * max_in < 2 ** 30:
        shift += 1
    return shift


def _i32(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -2 ** 31, 2 ** 31 - 1).astype(np.int32)


def _decay(alpha: np.ndarray, config: QuantConfig, q) -> np.ndarray:
    one = 1 << config.decay_bits
    return np.clip(q(alpha * one), 0, one).astype(np.int32)


def _threshold(t: np.ndarray, config: QuantConfig, q, where: str) -> np.ndarray:
    """Thresholds with `threshold_bits` significant bits: rounded to a multiple of 2^k that fits."""
    t_int = np.maximum(q(t), 1)
    top = int(t_int.max())
    k = max(0, top.bit_length() - config.threshold_bits)
    if k:
        t_int = np.maximum(q(t / (1 << k)), 1) << k
    if int(t_int.max()) >= 2 ** (config.state_bits - 1):
        raise QuantizeError(f"{where}: threshold does not fit state_bits = {config.state_bits}")
    return t_int.astype(np.int32)


def _per_output_sum(w: np.ndarray, scale_like: bool) -> np.ndarray:
    """Sum of |w| over everything one output reads: a row, a kernel, or one element for Scale."""
    w = np.abs(w)
    return w.reshape(-1) if scale_like else w.reshape(w.shape[0], -1).sum(axis=1)


def _steady_bound(eff, alpha: np.ndarray, bias: np.ndarray) -> float:
    """Largest |state| a leaky integrator reaches when every input fires every step."""
    drive = sum(float(_per_output_sum(w, is_scale).max()) + (float(np.abs(b).max()) if b is not None else 0.0)
                for w, b, is_scale in eff.values())
    return (drive + float(np.abs(bias).max())) / max(float(np.min(1.0 - alpha)), 1e-3)


def _check_accumulator(graph: ir.Graph, name: str, layers: dict[str, QLayer], where: str) -> None:
    """One step's input to `name` must fit int32 whatever the spikes: sum |w| * max count + |bias|."""
    total = 0
    for f in graph.predecessors(name):
        ql = layers[f]
        per_out = _per_output_sum(ql.params["weight"].astype(np.int64), isinstance(graph.nodes[f], ir.Scale))
        total += int(per_out.max()) * ql.max_in + int(np.abs(ql.params.get("bias", np.zeros(1, np.int64))).max())
    if total >= 2 ** 31:
        raise QuantizeError(f"{where}: one step's input could reach {total}, beyond int32; use fewer weight bits "
                            "or a coarser state")
