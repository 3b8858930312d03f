"""Quantization-aware training (in-training quantization, as in Q-SpiNN) against the fixed-point spec.

`QATModel(model, config, calib)` wraps a trained `SNN`. It takes its scales from the same call the
deployment makes, `edgesnn.quantize.quantize(to_graph(model), config, calib)`, repeated at the start
of every epoch (`refresh`), and runs the integer semantics of `edgesnn.quantize.reference` (the
specification the C runtime is bit-exact with):

- in evaluation (`model.eval()`), exactly: the integer parameters of that QGraph, integer state in
  int64 tensors, products with a decay shifted back with the configured rounding (truncate, nearest,
  or stochastic with the spec's counter-based noise), sums saturated to their bit widths. Weighted
  layers multiply in float64, which is exact here (spike counts times integer weights, the sum
  proven below 2^31 by `quantize`). So `predict(qat_model, x)` gives the outputs of
  `simulate_fixed(quantize(to_graph(model), config, calib), x)` bit for bit; the test suite checks it.
  When the float parameters changed since the last refresh, evaluation refreshes first.
- in training, the same equations on integer-valued float64 tensors (weighted layers in float32,
  exact while a sum stays below 2^24), fake-quantizing the float parameters with the scales of the
  last refresh: w_int = sat(round(w / scale)), decays round(alpha * 2^decay_bits), thresholds
  round(threshold / scale) with quantize's rules, computed as quantize computes them. So with
  truncate or nearest rounding the training forward pass gives the numbers evaluation gives (the
  tests check it); only the backward pass differs. Every rounding, shift and saturation passes its
  gradient straight through (STE; saturation's gradient is zero outside its range), and spikes use
  the layer's fast-sigmoid surrogate on the difference to the threshold in real units (integer
  difference times the state's scale), so the gradients have the float trainer's magnitudes.
  Parameter rounding 'stochastic' is trained as 'nearest' (the deployed integers always come from
  `quantize`; the state updates use the spec's stochastic noise in both passes).

The model you deploy is the QGraph of the final refresh (`QATModel.qgraph`, also returned by
`qat_finetune`).

Supported layers: Affine, Conv2d, SumPool2d, Flatten, LIF, CubaLIF, ALIF, LI and Recurrent (the
kinds `quantize` accepts; AvgPool2d is refused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EdgesnnError
from ..quantize import QGraph, QuantConfig, quantize
from ..quantize.fixedpoint import GAIN_SHIFT, STREAM_ADAPT, STREAM_ETA, STREAM_I, STREAM_MULT, STREAM_V, noise
from . import layers as L
from .export import layer_names, to_graph
from .layers import spike_fn
from .trainer import TrainConfig, TrainResult, evaluate, fit

INPUT_MAX = 255


def _ste(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """y in the forward pass, the gradient of x in the backward pass."""
    return x + (y - x).detach()


def _round_param(x: torch.Tensor, mode: str) -> torch.Tensor:
    """`quantize_values` with a straight-through gradient (stochastic trains as nearest): x is
    computed in float32 as `quantize` computes it from the float32 graph, then rounded in float64."""
    x = x.to(torch.float64)
    return _ste(x, torch.trunc(x) if mode == "truncate" else torch.floor(x + 0.5))


class _Arith:
    """The integer operations of one forward pass, exact (int64) or fake (float64 with STE)."""

    def __init__(self, cfg: QuantConfig, exact: bool, layer_ids: dict[str, int]):
        self.cfg, self.exact, self.ids = cfg, exact, layer_ids
        self.dtype = torch.int64 if exact else torch.float64

    def noise(self, name: str, t: int, shape, stream: int) -> torch.Tensor | None:
        if self.cfg.rounding != "stochastic":
            return None
        size = int(np.prod(shape))
        r = noise(self.cfg.seed, self.ids[name], t, size, stream).reshape(shape)
        return torch.from_numpy(r)

    def rshift(self, p: torch.Tensor, s: int, rnd: torch.Tensor | None) -> torch.Tensor:
        if s == 0:
            return p
        mode = self.cfg.rounding
        if mode == "nearest":
            p = p + (1 << (s - 1))
        elif mode == "stochastic":
            r = rnd & ((1 << s) - 1)
            p = p + (r if self.exact else r.to(p.dtype))
        if self.exact:
            return p >> s
        return _ste(p / (1 << s), torch.floor(p / (1 << s)))

    @staticmethod
    def sat(x: torch.Tensor, bits: int) -> torch.Tensor:
        hi = (1 << (bits - 1)) - 1
        return torch.clamp(x, -hi - 1, hi)


@dataclass
class _NeuronParams:
    """Integer parameters of one neuron layer (tensors broadcastable to the neuron shape)."""
    p: dict[str, torch.Tensor]
    scale_v: float


class QATModel(nn.Module):
    """`model` trained and evaluated in the fixed-point semantics of `config` (see the module docstring)."""

    def __init__(self, model: L.SNN, config: QuantConfig, calib: np.ndarray | None = None, dt: float = 1e-3,
                 weight_clip: float | None = None):
        super().__init__()
        if not isinstance(config, QuantConfig):
            raise EdgesnnError(f"config must be a QuantConfig, got {type(config).__name__}")
        if weight_clip is not None and not weight_clip > 0:
            raise EdgesnnError(f"weight_clip must be positive, got {weight_clip}")
        self.model, self.config, self.dt = model, config, float(dt)
        self.weight_clip = weight_clip
        self.calib = None if calib is None else np.asarray(calib)
        self.input_shape = model.input_shape
        self.names = layer_names(model)
        for i, layer in enumerate(model.layers):
            if isinstance(layer, L.SumPool2d) and layer.average:
                raise EdgesnnError("QAT supports SumPool2d, not AvgPool2d (its 1/k^2 is no integer operation)")
            if isinstance(layer, (L.Affine, L.Conv2d)):
                nxt = model.layers[i + 1] if i + 1 < len(model.layers) else None
                if not isinstance(nxt, L.NEURONS):
                    raise EdgesnnError(f"layer {i} ({type(layer).__name__}): fixed point needs a weighted layer "
                                       "to feed a neuron layer directly")
        self.qgraph: QGraph | None = None
        self._stamp = None
        self.refreshes = 0

    # -- scales -----------------------------------------------------------------------------
    def _param_stamp(self):
        return tuple(p._version for p in self.model.parameters())

    def refresh(self) -> QGraph:
        """Quantize the current float model (as deployment will) and take its scales and integers."""
        graph = to_graph(self.model, self.model.input_shape, dt=self.dt)
        self.qgraph = quantize(graph, self.config, self.calib)
        order = graph.schedule().order
        self._ids = {k: i for i, k in enumerate(k for k in order if graph.nodes[k].stateful)}
        self._stamp = self._param_stamp()
        self.refreshes += 1
        return self.qgraph

    def on_epoch_start(self, epoch: int) -> None:  # called by `fit`
        self.refresh()

    def project_(self):
        """The model's own projection, then (with `weight_clip` = c) every weight matrix clipped to
        +-c times its RMS: `quantize` takes a layer's scale from its largest weight, so clipping the
        rare large weights gives the many small ones more of the few levels (matters at 2-3 bits)."""
        self.model.project_()
        if self.weight_clip is not None:
            with torch.no_grad():
                for layer in self.model.layers:
                    w = layer.conv.weight if isinstance(layer, L.Conv2d) else getattr(layer, "weight", None)
                    if w is not None:
                        c = float(self.weight_clip * w.pow(2).mean().sqrt())
                        w.clamp_(-c, c)

    @property
    def output_spiking(self) -> bool:
        return self.model.output_spiking

    # -- forward ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, T, *input_shape] -> outputs [N, T, *output_shape]: integers (eval; spikes, or an LI
        readout's membrane in its integer units, as `simulate_fixed`), or float64 in real units (train)."""
        exact = not self.training
        if self.qgraph is None or (exact and self._stamp != self._param_stamp()):
            self.refresh()
        if exact:
            xf = x.detach()
            if torch.any(xf != torch.round(xf)) or torch.any(xf < 0) or torch.any(xf > INPUT_MAX):
                raise EdgesnnError(f"fixed point runs on spike counts: integers 0..{INPUT_MAX}")
            h = xf.to(torch.int64)
        else:
            h = x.to(torch.float64)
        ar = _Arith(self.config, exact, self._ids)
        n, steps = h.shape[:2]
        layers = list(self.model.layers)
        for i, (layer, names) in enumerate(zip(layers, self.names)):
            if isinstance(layer, L.NEURONS):
                h = self._neuron_seq(layer, names, h, ar)
                continue
            flat = h.reshape(n * steps, *h.shape[2:])
            if isinstance(layer, (L.Affine, L.Conv2d)):
                y = self._weighted(layer, names["node"], flat, ar)
            elif isinstance(layer, L.SumPool2d):
                y = layer(flat.to(torch.float64)).to(torch.int64) if exact else layer(flat.float()).double()
            else:  # Flatten
                y = layer(flat)
            h = y.reshape(n, steps, *y.shape[1:])
        return h

    def _weights(self, layer, name: str, exact: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        ql = self.qgraph.layers[name]
        if exact:
            w = torch.from_numpy(ql.params["weight"].astype(np.float64))
            b = ql.params.get("bias")
            return w, (None if b is None else torch.from_numpy(b.astype(np.float64)))
        scale = ql.scales["out"]
        wmax = (1 << (self.config.weight_bits - 1)) - 1
        if isinstance(layer, L.Conv2d):
            w, b = layer.conv.weight, layer.conv.bias
        else:  # Affine, or a Recurrent layer's weights (no bias)
            w, b = layer.weight, getattr(layer, "bias", None)
        wq = torch.clamp(_round_param(w / scale, self.config.rounding), -wmax, wmax)
        return wq, (None if b is None else _round_param(b / scale, self.config.rounding))

    def _weighted(self, layer, name: str, x: torch.Tensor, ar: _Arith) -> torch.Tensor:
        w, b = self._weights(layer, name, ar.exact)
        # exact: float64 (sums of integers below 2^31: exact). Training: float32, 10x faster for
        # convolutions and still exact while a sum stays below 2^24 (it does for small layers)
        dt = torch.float64 if ar.exact else torch.float32
        xin, w, b = x.to(dt), w.to(dt), (None if b is None else b.to(dt))
        if isinstance(layer, L.Affine):
            y = xin @ w.t()
            y = y if b is None else y + b
        else:
            c = layer.conv
            y = F.conv2d(xin, w, b, stride=c.stride, padding=c.padding, dilation=c.dilation, groups=c.groups)
        return y.to(torch.int64) if ar.exact else y.to(torch.float64)

    def _threshold(self, t: torch.Tensor) -> torch.Tensor:
        """`quantize`'s thresholds: >= 1, with threshold_bits significant bits."""
        mode = self.config.rounding
        ti = torch.clamp(_round_param(t, mode), min=1)
        top = int(ti.detach().max())
        k = max(0, top.bit_length() - self.config.threshold_bits)
        if k:
            ti = torch.clamp(_round_param(t / (1 << k), mode), min=1) * (1 << k)
        return ti

    def _neuron_params(self, nrn, name: str, exact: bool) -> _NeuronParams:
        ql = self.qgraph.layers[name]
        s_v = ql.scales["v"]
        if exact:
            return _NeuronParams({k: torch.from_numpy(a.astype(np.int64)) for k, a in ql.params.items()}, s_v)
        cfg, mode = self.config, self.config.rounding
        one = 1 << cfg.decay_bits
        decay = lambda a: torch.clamp(_round_param(a * one, mode), 0, one)  # noqa: E731
        fixed = {k: torch.from_numpy(ql.params[k].astype(np.float64)) for k in ("bias", "cur_mult")
                 if k in ql.params}  # not learnt here: the neuron bias (0) and the current gain
        p = dict(fixed)
        p["alpha"] = decay(nrn.alpha)
        if isinstance(nrn, L.ALIF):
            rho = nrn.rho
            p["rho"] = decay(rho)
            p["b0"] = self._threshold(nrn.b0 / s_v)
            p["beta"] = _round_param(nrn.beta / s_v, mode)
            p["eta_inc"] = _round_param((1.0 - rho) * (1 << cfg.adapt_bits), mode)
        elif isinstance(nrn, L.LIF):
            p["threshold"] = self._threshold(nrn.threshold / s_v)
            if isinstance(nrn, L.CubaLIF):
                p["alpha_syn"] = decay(nrn.alpha_syn)
        return _NeuronParams(p, s_v)

    def _neuron_seq(self, layer, names: dict, acc: torch.Tensor, ar: _Arith) -> torch.Tensor:
        """Run one neuron layer (and its recurrent weights) over the steps of its input acc [N, T, ...]."""
        name = names["node"]
        nrn = layer.neuron if isinstance(layer, L.Recurrent) else layer
        prm = self._neuron_params(nrn, name, ar.exact)
        p, cfg = prm.p, self.config
        w_rec = None
        if isinstance(layer, L.Recurrent):
            w_rec, _ = self._weights(layer, names["rec"], ar.exact)
        shape = acc.shape[2:]
        zeros = torch.zeros_like(acc[:, 0])
        v, i_syn, eta, rec = zeros, zeros, zeros, zeros
        slope = getattr(nrn, "slope", 5.0)
        detach = getattr(nrn, "detach_reset", True)
        db, sb = cfg.decay_bits, cfg.state_bits
        out = []
        for t in range(acc.shape[1]):
            drive = acc[:, t] + rec if w_rec is not None else acc[:, t]
            if isinstance(nrn, L.CubaLIF):
                i_syn = ar.sat(ar.rshift(p["alpha_syn"] * i_syn, db, ar.noise(name, t, shape, STREAM_I)) + drive,
                               cfg.current_bits)
                drive = ar.rshift(i_syn * p["cur_mult"], GAIN_SHIFT, ar.noise(name, t, shape, STREAM_MULT))
            leak = ar.rshift(p["alpha"] * v, db, ar.noise(name, t, shape, STREAM_V))
            v = ar.sat(leak + drive + p["bias"], sb)
            if isinstance(nrn, L.LI):
                out.append(v if ar.exact else v * prm.scale_v)
                continue
            if isinstance(nrn, L.ALIF):
                thr = p["b0"] + ar.rshift(p["beta"] * eta, cfg.adapt_bits, ar.noise(name, t, shape, STREAM_ADAPT))
            else:
                thr = p["threshold"]
            if ar.exact:
                s = (v > thr).to(torch.int64)
                s_reset = s
            else:
                s = spike_fn((v - thr) * prm.scale_v, slope)
                s_reset = s.detach() if detach else s
            v = ar.sat(v - s_reset * thr, sb)
            if isinstance(nrn, L.ALIF):
                eta = ar.sat(ar.rshift(p["rho"] * eta, db, ar.noise(name, t, shape, STREAM_ETA)) + s * p["eta_inc"],
                             32)
            if w_rec is not None:
                rec = (s.to(torch.float64) @ w_rec.t()).to(torch.int64) if ar.exact else s @ w_rec.t()
            out.append(s)
        return torch.stack(out, 1)


@dataclass
class QATResult:
    model: QATModel        # the wrapper; its `.model` is the fine-tuned float model
    qgraph: QGraph         # the deployable quantized graph (scales and integers of the final refresh)
    train: TrainResult


def qat_finetune(model: L.SNN, config: QuantConfig, inputs, labels, *, calib: np.ndarray | None = None,
                 train: TrainConfig | None = None, val=None, dt: float = 1e-3,
                 weight_clip: float | None = None) -> QATResult:
    """Fine-tune `model` in place with quantization in the loop; return the deployable QGraph.

    `inputs`/`labels`/`val` as `fit`; `calib` are the calibration inputs `quantize` sets state ranges
    from (the same you would deploy with). The scales are refreshed at every epoch's start and once
    at the end; evaluation (`val`, `predict`) runs the exact integer semantics. With `val` and
    `train.keep_best`, the starting point (post-training quantization of `model`) competes too:
    when no epoch beats it on validation, the model is left as it came (`train.best_epoch` 0).
    `weight_clip`: see `QATModel.project_`.
    """
    qm = QATModel(model, config, calib, dt=dt, weight_clip=weight_clip)
    cfg = train or TrainConfig(epochs=10, lr=1e-3)
    start = None
    if val is not None and cfg.keep_best:
        start = ({k: v.detach().clone() for k, v in model.state_dict().items()}, evaluate(qm, *val))
    res = fit(qm, inputs, labels, cfg, val=val)
    if start is not None and start[1] >= max(h["val_acc"] for h in res.history):
        model.load_state_dict(start[0])
        res.best_epoch = 0
    qm.refresh()
    qm.eval()
    return QATResult(qm, qm.qgraph, res)
