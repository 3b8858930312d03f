"""torch layers that compute the graph IR's equations, and the `SNN` container.

Data layout: a batch of spike trains is [N, T, *shape]. Stateless layers (Affine, Conv2d, pools,
Flatten) act on every step at once, reshaped to [N*T, *shape]; neuron layers step through T.
That is the IR's one-step-at-a-time execution for a feed-forward chain, since a stateless layer's
output at step t depends only on its input at step t.

Neuron equations (float32, same operation order as `edgesnn.graph.simulate.NeuronState.step`):

    LIF   v[t] = alpha*v[t-1] + gain*x[t] + bias      (gain = 1, bias = 0 here: biases live in
          s[t] = v[t] > threshold                       the Affine/Conv2d before the neuron)
          v[t] = v[t] - s[t]*threshold                  reset by subtraction, immediate
    LI    v[t] = alpha*v[t-1] + gain*x[t] + bias;  output v[t]
    CubaLIF  i[t] = alpha_syn*i[t-1] + x[t];  v[t] = alpha*v[t-1] + i[t];  spike and reset as LIF
    ALIF  v[t] = alpha*v[t-1] + x[t];  theta[t] = b0 + beta*eta[t-1];  s[t] = v[t] > theta[t]
          v[t] -= s[t]*theta[t];  eta[t] = rho*eta[t-1] + (1 - rho)*s[t]
          alpha = exp(-1/tau_m), rho = exp(-1/tau_adp), time constants in steps, learnt as log tau
          (so both decays stay in (0, 1) whatever the optimiser does)

`Recurrent(neuron)` adds a recurrent Linear weight: the neuron's input at step t is the feed-forward
input plus W_rec times its own spikes of step t-1 (zero at t = 0: a Linear at rest outputs zero),
which is the IR's back edge neuron -> Linear -> neuron.

alpha (the per-step decay) and the threshold are learnable, per neuron or per channel; after each
optimiser step `SNN.project_()` clamps alpha to [0, alpha_max] and the threshold to
[threshold_min, inf), so the values used in the forward pass are the values exported.
alpha_max defaults to 0.99 rather than 1: a decay of 1 (no leak) has no finite NIR time constant.

The spike's gradient is a fast-sigmoid surrogate: d s / d v = 1 / (1 + slope*|v - threshold|)^2.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, slope):  # u = v - threshold
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * u.abs()) ** 2, None


def spike_fn(u: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    """Heaviside(u > 0) forward, fast-sigmoid surrogate gradient backward."""
    return _Spike.apply(u, slope)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


# ----------------------------------------------------------------------------------------------
# Stateless layers (act on [N*T, *shape])
# ----------------------------------------------------------------------------------------------

class Affine(nn.Module):
    """y = x W^T + b (IR Affine). Computed as a product then a sum, as the simulator does."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        y = x @ self.weight.t()
        return y + self.bias if self.bias is not None else y

    def out_shape(self, in_shape):
        return (self.out_features,)


class Conv2d(nn.Module):
    """IR Conv2d: zero padding, stride, dilation, groups, bias added every step."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=bias)

    def forward(self, x):
        return self.conv(x)

    def out_shape(self, in_shape):
        c = self.conv
        hw = [(in_shape[1 + i] + 2 * c.padding[i] - c.dilation[i] * (c.kernel_size[i] - 1) - 1)
              // c.stride[i] + 1 for i in range(2)]
        return (c.out_channels, *hw)


class SumPool2d(nn.Module):
    """IR SumPool2d: the sum over each window (zero padding)."""

    average = False

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride if stride is not None else kernel_size)
        self.padding = _pair(padding)

    def forward(self, x):
        # a depthwise convolution with a kernel of ones: exact window sums of spike counts
        ones = torch.ones(x.shape[1], 1, *self.kernel_size, dtype=x.dtype, device=x.device)
        y = F.conv2d(x, ones, stride=self.stride, padding=self.padding, groups=x.shape[1])
        return y / float(self.kernel_size[0] * self.kernel_size[1]) if self.average else y

    def out_shape(self, in_shape):
        hw = [(in_shape[1 + i] + 2 * self.padding[i] - self.kernel_size[i]) // self.stride[i] + 1
              for i in range(2)]
        return (in_shape[0], *hw)


class AvgPool2d(SumPool2d):
    """IR AvgPool2d: SumPool2d / (KH*KW), padding counted as zeros."""

    average = True


class Flatten(nn.Module):
    """IR Flatten over the per-sample axes start_dim..end_dim."""

    def __init__(self, start_dim: int = 0, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def _dims(self, n):
        s = self.start_dim + n if self.start_dim < 0 else self.start_dim
        e = self.end_dim + n if self.end_dim < 0 else self.end_dim
        return s, e

    def forward(self, x):
        s, e = self._dims(x.dim() - 1)
        return x.flatten(1 + s, 1 + e)

    def out_shape(self, in_shape):
        s, e = self._dims(len(in_shape))
        return (*in_shape[:s], math.prod(in_shape[s:e + 1]), *in_shape[e + 1:])


# ----------------------------------------------------------------------------------------------
# Neurons (act on [N, T, *shape])
# ----------------------------------------------------------------------------------------------

class _Leaky(nn.Module):
    """Shared parameters: alpha (per-step decay) of `param_shape`, broadcast to the neuron shape."""

    def __init__(self, shape, alpha: float = 0.9, param_shape=None, learn_alpha: bool = True,
                 alpha_max: float = 0.99):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.param_shape = tuple(param_shape) if param_shape is not None else self.shape
        self.alpha_max = float(alpha_max)
        if not 0 <= alpha <= alpha_max <= 1:
            raise ValueError(f"need 0 <= alpha ({alpha}) <= alpha_max ({alpha_max}) <= 1")
        a = torch.full(self.param_shape, float(alpha))
        self.alpha = nn.Parameter(a) if learn_alpha else nn.Parameter(a, requires_grad=False)

    def out_shape(self, in_shape):
        if tuple(in_shape) != self.shape:
            raise ValueError(f"{type(self).__name__} built for shape {self.shape} receives {tuple(in_shape)}")
        return self.shape

    @torch.no_grad()
    def project_(self):
        self.alpha.clamp_(0.0, self.alpha_max)


class LIF(_Leaky):
    """IR LIF with gain 1, bias 0, reset='subtract' (immediate), spike_rule '>'."""

    spiking = True

    def __init__(self, shape, alpha: float = 0.9, threshold: float = 1.0, param_shape=None,
                 learn_alpha: bool = True, learn_threshold: bool = True, alpha_max: float = 0.99,
                 threshold_min: float = 0.05, slope: float = 5.0, detach_reset: bool = True):
        super().__init__(shape, alpha, param_shape, learn_alpha, alpha_max)
        th = torch.full(self.param_shape, float(threshold))
        self.threshold = nn.Parameter(th) if learn_threshold else nn.Parameter(th, requires_grad=False)
        self.threshold_min = float(threshold_min)
        self.slope, self.detach_reset = float(slope), bool(detach_reset)

    @torch.no_grad()
    def project_(self):
        super().project_()
        self.threshold.clamp_(min=self.threshold_min)

    def forward(self, x):  # x [N, T, *shape] -> spikes [N, T, *shape]
        if self.detach_reset and torch.is_grad_enabled():
            return _LIFSeq.apply(x, self.alpha, self.threshold, self.slope)
        return self.forward_reference(x)

    def forward_reference(self, x):
        """The step loop through autograd (the fused `_LIFSeq` computes the same, faster)."""
        return _run_steps(self, x)

    def init_state(self, x0):
        return (torch.zeros_like(x0),)

    def step(self, state, x):
        """One step: (spikes, new state) from the state and this step's input x."""
        (v,) = state
        v = self.alpha * v + x  # gain*x + bias with gain 1, bias 0 are exact no-ops
        s = spike_fn(v - self.threshold, self.slope)
        v = v - (s.detach() if self.detach_reset else s) * self.threshold
        return s, (v,)


def _run_steps(neuron, x, *extra):
    """Run a neuron's `step` over x [N, T, *shape] through autograd; returns its outputs [N, T, *shape]."""
    state = neuron.init_state(x[:, 0])
    out = []
    for t in range(x.shape[1]):
        y, state = neuron.step(state, x[:, t], *extra)
        out.append(y)
    return torch.stack(out, 1)


def _reduce_to(g: torch.Tensor, shape) -> torch.Tensor:
    """Sum a gradient [N, *neuron_shape] down to a broadcast parameter's shape."""
    g = g.sum(0)
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(dims, keepdim=True) if dims else g


class _LIFSeq(torch.autograd.Function):
    """A whole LIF layer over T steps as one autograd node, with a hand-written BPTT backward.

    Forward (float32, as the simulator): v = alpha*v + x; s = v > threshold; v = v - s*threshold.
    Backward treats the reset's spike as a constant (detach_reset) and uses the fast-sigmoid
    surrogate for ds/dv; the parameter gradients are reduced over batch (and broadcast axes) once.
    """

    @staticmethod
    def forward(ctx, x, alpha, thr, slope):
        steps = x.shape[1]
        v = torch.zeros_like(x[:, 0])
        spikes = torch.empty_like(x)
        pre = torch.empty_like(x)    # v[t] before the reset
        post = torch.empty_like(x)   # v[t-1] after the reset (what alpha multiplied)
        for t in range(steps):
            post[:, t] = v
            v = alpha * v + x[:, t]
            pre[:, t] = v
            s = (v > thr).to(x.dtype)
            spikes[:, t] = s
            v = v - s * thr
        ctx.save_for_backward(alpha, thr, spikes, pre, post)
        ctx.slope = slope
        return spikes

    @staticmethod
    def backward(ctx, grad_s):
        alpha, thr, spikes, pre, post = ctx.saved_tensors
        slope = ctx.slope
        gx = torch.empty_like(grad_s)
        g_alpha = torch.zeros_like(pre[:, 0])
        g_thr = torch.zeros_like(pre[:, 0])
        g_post = torch.zeros_like(pre[:, 0])  # dL/d v[t] after the reset
        for t in reversed(range(grad_s.shape[1])):
            sg = grad_s[:, t] / (1.0 + slope * (pre[:, t] - thr).abs()) ** 2  # dL/ds * ds/du
            g_v = g_post + sg                                       # v_post = v_pre - sg(s)*thr
            g_thr -= sg + g_post * spikes[:, t]
            g_alpha += g_v * post[:, t]
            gx[:, t] = g_v
            g_post = g_v * alpha
        return (gx, _reduce_to(g_alpha, alpha.shape) if ctx.needs_input_grad[1] else None,
                _reduce_to(g_thr, thr.shape) if ctx.needs_input_grad[2] else None, None)


class LI(_Leaky):
    """IR LI readout (gain 1, bias 0): outputs the membrane v[t] each step."""

    spiking = False

    def forward(self, x):
        return _run_steps(self, x)

    def init_state(self, x0):
        return (torch.zeros_like(x0),)

    def step(self, state, x):
        v = self.alpha * state[0] + x
        return v, (v,)


class CubaLIF(LIF):
    """IR CubaLIF with gain_syn = gain = 1, bias 0, no synaptic delay, reset by subtraction:
    i = alpha_syn*i + x;  v = alpha*v + i;  spike and reset as LIF. alpha_syn is learnable too."""

    def __init__(self, shape, alpha: float = 0.9, alpha_syn: float = 0.8, threshold: float = 1.0,
                 param_shape=None, learn_alpha_syn: bool = True, **kw):
        super().__init__(shape, alpha=alpha, threshold=threshold, param_shape=param_shape, **kw)
        if not 0 <= alpha_syn <= self.alpha_max:
            raise ValueError(f"need 0 <= alpha_syn ({alpha_syn}) <= alpha_max ({self.alpha_max})")
        a = torch.full(self.param_shape, float(alpha_syn))
        self.alpha_syn = nn.Parameter(a) if learn_alpha_syn else nn.Parameter(a, requires_grad=False)

    @torch.no_grad()
    def project_(self):
        super().project_()
        self.alpha_syn.clamp_(0.0, self.alpha_max)

    def forward(self, x):
        return _run_steps(self, x)

    forward_reference = forward

    def init_state(self, x0):
        return (torch.zeros_like(x0), torch.zeros_like(x0))

    def step(self, state, x):
        v, i = state
        i = self.alpha_syn * i + x
        v = self.alpha * v + i
        s = spike_fn(v - self.threshold, self.slope)
        v = v - (s.detach() if self.detach_reset else s) * self.threshold
        return s, (v, i)


def _log_tau(tau, shape) -> torch.Tensor:
    """log time constants of `shape`: one value, or (lo, hi) drawn log-uniformly (torch's seeded RNG)."""
    if isinstance(tau, (tuple, list)):
        lo, hi = (float(t) for t in tau)
        if not 0 < lo <= hi:
            raise ValueError(f"time constant range {tau} must satisfy 0 < lo <= hi")
        return torch.empty(shape).uniform_(math.log(lo), math.log(hi))
    if not float(tau) > 0:
        raise ValueError(f"time constant {tau} must be positive")
    return torch.full(shape, math.log(float(tau)))


class ALIF(nn.Module):
    """IR ALIF (gain 1, bias 0): LIF with an adaptive threshold and learnable per-neuron time constants.

        alpha = exp(-1/tau_m), rho = exp(-1/tau_adp)   tau in steps, learnt as log tau, so that
                                                       alpha and rho stay in (0, 1)
        v = alpha*v + x;  theta = b0 + beta*eta;  s = v > theta;  v -= s*theta
        eta = rho*eta + (1 - rho)*s

    tau_m / tau_adp: one value, or (lo, hi) to draw each neuron's log-uniformly (multiple timescales).
    b0 (base threshold) is learnable and kept >= b0_min; beta (adaptation strength) is kept >= 0.
    The surrogate gradient flows through the threshold into eta (as in Bellec et al.'s LSNN); the
    reset's spike is detached like LIF's.
    """

    spiking = True

    def __init__(self, shape, tau_m=20.0, tau_adp=200.0, b0: float = 1.0, beta: float = 1.8, param_shape=None,
                 learn_tau: bool = True, learn_b0: bool = True, learn_beta: bool = False, b0_min: float = 0.05,
                 tau_max: float = 1e4, slope: float = 5.0, detach_reset: bool = True):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.param_shape = tuple(param_shape) if param_shape is not None else self.shape
        self.log_tau_m = nn.Parameter(_log_tau(tau_m, self.param_shape), requires_grad=learn_tau)
        self.log_tau_adp = nn.Parameter(_log_tau(tau_adp, self.param_shape), requires_grad=learn_tau)
        self.b0 = nn.Parameter(torch.full(self.param_shape, float(b0)), requires_grad=learn_b0)
        self.beta = nn.Parameter(torch.full(self.param_shape, float(beta)), requires_grad=learn_beta)
        if b0 <= 0 or beta < 0:
            raise ValueError(f"need b0 > 0 ({b0}) and beta >= 0 ({beta})")
        self.b0_min, self.log_tau_max = float(b0_min), math.log(float(tau_max))
        self.slope, self.detach_reset = float(slope), bool(detach_reset)

    @property
    def alpha(self) -> torch.Tensor:
        return torch.exp(-torch.exp(-self.log_tau_m))

    @property
    def rho(self) -> torch.Tensor:
        return torch.exp(-torch.exp(-self.log_tau_adp))

    def out_shape(self, in_shape):
        if tuple(in_shape) != self.shape:
            raise ValueError(f"ALIF built for shape {self.shape} receives {tuple(in_shape)}")
        return self.shape

    @torch.no_grad()
    def project_(self):
        self.b0.clamp_(min=self.b0_min)
        self.beta.clamp_(min=0.0)
        self.log_tau_m.clamp_(max=self.log_tau_max)
        self.log_tau_adp.clamp_(max=self.log_tau_max)

    def forward(self, x):
        return _run_steps(self, x, self.alpha, self.rho)  # the decays computed once per sequence

    def init_state(self, x0):
        return (torch.zeros_like(x0), torch.zeros_like(x0))

    def step(self, state, x, alpha=None, rho=None):
        alpha = self.alpha if alpha is None else alpha
        rho = self.rho if rho is None else rho
        v, eta = state
        v = alpha * v + x
        theta = self.b0 + self.beta * eta
        s = spike_fn(v - theta, self.slope)
        v = v - (s.detach() if self.detach_reset else s) * theta
        eta = rho * eta + (1 - rho) * s
        return s, (v, eta)


class Recurrent(nn.Module):
    """A spiking neuron layer with recurrent weights: input(t) = x(t) + W_rec s(t-1), s(-1) = 0.

    Exports as neuron -> Linear (W_rec) -> neuron, a back edge in the IR. The neuron shape must be
    one-dimensional ([n]); W_rec is [n, n], initialised uniformly in +-init_gain/sqrt(n).
    """

    spiking = True

    def __init__(self, neuron: nn.Module, init_gain: float = 1.0):
        super().__init__()
        if not getattr(neuron, "spiking", False) or not hasattr(neuron, "step"):
            raise ValueError("Recurrent needs a spiking neuron layer (LIF, CubaLIF or ALIF)")
        if len(neuron.shape) != 1:
            raise ValueError(f"Recurrent needs a 1-D neuron layer, got shape {neuron.shape}")
        self.neuron = neuron
        n = neuron.shape[0]
        self.shape = neuron.shape
        self.weight = nn.Parameter(torch.empty(n, n).uniform_(-init_gain / math.sqrt(n), init_gain / math.sqrt(n)))

    def out_shape(self, in_shape):
        return self.neuron.out_shape(in_shape)

    def project_(self):
        self.neuron.project_()

    def forward(self, x):
        nrn = self.neuron
        extra = (nrn.alpha, nrn.rho) if isinstance(nrn, ALIF) else ()
        state = nrn.init_state(x[:, 0])
        rec = torch.zeros_like(x[:, 0])  # a Linear at rest outputs zero
        out = []
        for t in range(x.shape[1]):
            s, state = nrn.step(state, x[:, t] + rec, *extra)
            rec = s @ self.weight.t()
            out.append(s)
        return torch.stack(out, 1)


NEURONS = (LIF, LI, ALIF, Recurrent)  # layers that act on [N, T, *shape] (CubaLIF is a LIF)


class SNN(nn.Module):
    """A feed-forward chain of the layers above, run on [N, T, *input_shape]."""

    def __init__(self, input_shape, *layers: nn.Module):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.layers = nn.ModuleList(layers)
        shape = self.input_shape
        for layer in self.layers:  # shape check up front
            shape = layer.out_shape(shape)
        self.output_shape = shape
        if not isinstance(self.layers[-1], NEURONS):
            raise ValueError("the last layer must be a neuron layer (LIF, CubaLIF, ALIF, Recurrent or LI)")

    @property
    def output_spiking(self) -> bool:
        return bool(self.layers[-1].spiking)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, T, *input_shape] -> outputs [N, T, *output_shape] (spikes, or LI membrane)."""
        n, steps = x.shape[:2]
        x = x.to(torch.float32)
        for layer in self.layers:
            if isinstance(layer, NEURONS):
                x = layer(x)
            else:
                y = layer(x.reshape(n * steps, *x.shape[2:]))
                x = y.reshape(n, steps, *y.shape[1:])
        return x

    def project_(self):
        for layer in self.layers:
            if isinstance(layer, NEURONS):
                layer.project_()

    def spike_layers(self):
        return [layer for layer in self.layers if isinstance(layer, NEURONS) and layer.spiking]
