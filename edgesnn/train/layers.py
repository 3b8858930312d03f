"""torch layers that compute the graph IR's equations, and the `SNN` container.

Data layout: a batch of spike trains is [N, T, *shape]. Stateless layers (Affine, Conv2d, pools,
Flatten) act on every step at once, reshaped to [N*T, *shape]; neuron layers step through T.
That is the IR's one-step-at-a-time execution for a feed-forward chain, since a stateless layer's
output at step t depends only on its input at step t.

Neuron equations (float32, same operation order as `edgesnn.sim.float_sim.NeuronState.step`):

    LIF   v[t] = alpha*v[t-1] + gain*x[t] + bias      (gain = 1, bias = 0 here: biases live in
          s[t] = v[t] > threshold                       the Affine/Conv2d before the neuron)
          v[t] = v[t] - s[t]*threshold                  reset by subtraction, immediate
    LI    v[t] = alpha*v[t-1] + gain*x[t] + bias;  output v[t]

alpha (the per-step decay) and the threshold are learnable, per neuron or per channel; after each
optimiser step `SNN.project_()` clamps alpha to [0, alpha_max] and the threshold to
[threshold_min, inf), so the values used in the forward pass are the values exported.
alpha_max defaults to 0.99 rather than 1: a decay of 1 (no leak) has no finite NIR time constant.

The spike's gradient is a fast-sigmoid surrogate: d s / d v = 1 / (1 + slope*|v - threshold|)^2.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


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
        alpha, thr = self.alpha, self.threshold
        v = torch.zeros_like(x[:, 0])
        out = []
        for t in range(x.shape[1]):
            v = alpha * v + x[:, t]  # gain*x + bias with gain 1, bias 0 are exact no-ops
            s = spike_fn(v - thr, self.slope)
            v = v - (s.detach() if self.detach_reset else s) * thr
            out.append(s)
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

    def forward(self, x):
        v = torch.zeros_like(x[:, 0])
        out = []
        for t in range(x.shape[1]):
            v = self.alpha * v + x[:, t]
            out.append(v)
        return torch.stack(out, 1)


NEURONS = (LIF, LI)


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
            raise ValueError("the last layer must be a neuron layer (LIF or LI)")

    @property
    def output_spiking(self) -> bool:
        return isinstance(self.layers[-1], LIF)

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
        return [layer for layer in self.layers if isinstance(layer, LIF)]
