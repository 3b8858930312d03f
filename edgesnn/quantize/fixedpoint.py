"""Integer arithmetic of the fixed-point runtime: the specification `runtime_c/` is bit-exact with.

Every product of a state with a fraction is shifted back with one rounding rule:

    rshift(p, s)  truncate:   floor(p / 2^s)
                  nearest:    floor((p + 2^(s-1)) / 2^s)          (halves round up)
                  stochastic: floor((p + (r mod 2^s)) / 2^s)       r = noise(...) below

`noise` is a counter-based hash of (seed, layer, step, neuron, stream), so the device and numpy
draw the same numbers in any order, and every input starts from the same stream. Sums saturate
to the destination's bit width; they never wrap.
"""

from __future__ import annotations

import numpy as np

ROUNDING_CODES = {"truncate": 0, "nearest": 1, "stochastic": 2}

# Streams of the stochastic-rounding noise, one per rounded product in a neuron update.
STREAM_V, STREAM_I, STREAM_MULT, STREAM_ETA, STREAM_ADAPT = range(5)
GAIN_SHIFT = 16  # the synaptic-current-to-membrane multiplier is Q16


def sat(x: np.ndarray, bits: int) -> np.ndarray:
    """Clip to the signed range of `bits` bits."""
    hi = (1 << (bits - 1)) - 1
    return np.clip(x, -hi - 1, hi)


def _u32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.uint64) & np.uint64(0xFFFFFFFF)


def hash32(x: np.ndarray) -> np.ndarray:
    """lowbias32 (Chris Wellons): a fast 32-bit integer mixer. Arrays of uint64 holding uint32 values."""
    x = _u32(x)
    x ^= x >> np.uint64(16)
    x = _u32(x * np.uint64(0x7FEB352D))
    x ^= x >> np.uint64(15)
    x = _u32(x * np.uint64(0x846CA68B))
    x ^= x >> np.uint64(16)
    return x


def noise(seed: int, layer: int, step: int, count: int, stream: int) -> np.ndarray:
    """uint32 noise for neurons 0..count-1 of one layer at one step, as int64."""
    idx = np.arange(count, dtype=np.uint64)
    key = _u32(np.uint64(seed) ^ _u32(np.uint64(layer) * np.uint64(0x9E3779B1))
               ^ _u32(np.uint64(step) * np.uint64(0x85EBCA77)) ^ _u32(np.uint64(stream) * np.uint64(0x27D4EB2F)))
    return hash32(key ^ _u32(idx * np.uint64(0xC2B2AE3D))).astype(np.int64)


def rshift(p: np.ndarray, s: int, rounding: str, rand: np.ndarray | None = None) -> np.ndarray:
    if s == 0:
        return p
    if rounding == "nearest":
        p = p + (1 << (s - 1))
    elif rounding == "stochastic":
        p = p + (rand & ((1 << s) - 1))
    return p >> s


def quantize_values(x: np.ndarray, rounding: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Real values (already divided by their scale) -> integers, by the rounding rule."""
    x = np.asarray(x, dtype=np.float64)
    if rounding == "truncate":
        q = np.trunc(x)
    elif rounding == "nearest":
        q = np.floor(x + 0.5)
    else:
        q = np.floor(x + (rng or np.random.default_rng(0)).random(x.shape))
    return q.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Early exit (DT-SNN): entropy of softmax(beta * A / t) in integer arithmetic, A the output
# accumulated over the t steps run so far. No floats and no division by a variable except two
# integer divisions per check; two small tables, identical on the device.
#
#   d_k   = max(A) - A_k                                   (>= 0)
#   x_k   = min(floor(d_k * beta_q16 / (t * 2^12)), 255)   logit gap in 1/16 nat
#   e_k   = EXP_LUT[x_k] = round(2^15 * exp(-x_k / 16))    the largest class has e = 2^15
#   S     = sum e_k                                        in [2^15, K * 2^15]
#   H_q8  = ln_q8(S) + floor(16 * sum(e_k * x_k) / S)      entropy in 1/256 nat
#   ln_q8(S) = (b - 15) * 177 + LN_LUT[(S >> (b - 6)) & 63],  b = bit length of S minus 1
# The input exits after step t when H_q8 < threshold_q8.
# ----------------------------------------------------------------------------------------------

EXP_LUT = np.round(32768 * np.exp(-np.arange(256) / 16.0)).astype(np.int64)
LN_LUT = np.round(256 * np.log1p(np.arange(64) / 64.0)).astype(np.int64)
LN2_Q8 = 177
X_MAX = 255


def entropy_q8(acc: np.ndarray, t: int, beta_q16: int) -> np.ndarray:
    """Integer entropy (1/256 nat) of softmax(beta * acc / t) per row of acc [N, K] (int64)."""
    d = np.minimum(acc.max(axis=1, keepdims=True) - acc, 2 ** 31 - 1)
    x = np.minimum((d * beta_q16) // (t << 12), X_MAX)
    e = EXP_LUT[x]
    s = e.sum(axis=1)
    b = np.floor(np.log2(s)).astype(np.int64)  # exact for integers below 2^53
    b = b - (np.left_shift(1, b) > s) + (np.left_shift(1, b + 1) <= s)
    ln_s = (b - 15) * LN2_Q8 + LN_LUT[(s >> (b - 6)) & 63]
    return ln_s + (16 * (e * x).sum(axis=1)) // s


def nats_to_q8(h_nats: float) -> int:
    """An entropy threshold in nats as the integer the device compares against."""
    return int(np.floor(h_nats * 256 + 0.5))


# ----------------------------------------------------------------------------------------------
# The exit in user terms. The runtime stops an input after step t when H_q8 < threshold_q8, H the
# entropy above of softmax(A / (t * temperature)), A / t the mean output per step in the model's
# output units (spikes per step for a spiking readout) and beta_q16 = 2^16 * output_scale / temperature.
# Confidence is 1 - H / ln K in [0, 1], with ln K the device's own entropy of a uniform output
# (max_entropy_q8: 588 for K = 10): 1 on a certain output, 0 on a uniform one. "Stop once the
# confidence reaches p" is H_q8 <= (1 - p) * max_entropy_q8, i.e. threshold_q8 = floor((1 - p) *
# max_entropy_q8) + 1: non-increasing in p, p = 1 stops only on an entropy of 0, p = 0 after step 1.
# ----------------------------------------------------------------------------------------------

EXIT_TEMPERATURE = 0.125  # softmax(8 x mean output per step): spread over [0, 1] on the example models


def max_entropy_q8(k: int) -> int:
    """The device's entropy (1/256 nat) of a uniform output over k classes: its ln k."""
    return int(entropy_q8(np.zeros((1, int(k)), np.int64), 1, 1 << 16)[0])


def confidence_to_q8(p: float, k: int) -> int:
    """The threshold_q8 that stops an input once its confidence 1 - H / ln k reaches p (0 <= p <= 1)."""
    return int(np.floor((1.0 - p) * max_entropy_q8(k) + 1e-9)) + 1


def q8_to_confidence(threshold_q8: int, k: int) -> float:
    """The least confidence 1 - H / ln k that stops an input under threshold_q8 (confidence_to_q8's inverse)."""
    return float(min(1.0, max(0.0, 1.0 - (int(threshold_q8) - 1) / max_entropy_q8(k))))


def temperature_to_beta_q16(temperature: float, output_scale: float) -> int:
    """beta_q16 for softmax(mean output per step / temperature), the output in its real units."""
    return max(1, int(round(65536 * output_scale / temperature)))


def beta_q16_to_temperature(beta_q16: int, output_scale: float) -> float:
    """The softmax temperature, in the output's real units, of an exit's beta_q16."""
    return 65536 * output_scale / int(beta_q16)
