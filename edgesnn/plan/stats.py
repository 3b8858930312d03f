"""How far a validation accuracy can be trusted: confidence intervals on accuracies and on paired drops.

    wilson(k, n, level)                 interval of an accuracy k / n (Wilson score interval)
    paired_drop(ref, new, level)        interval of the drop mean(ref) - mean(new) measured on the same inputs
                                        (Newcombe 1998, method 10: Wilson intervals of both accuracies combined
                                        with the correlation of the paired outcomes)

A drop between two models run on the same inputs is decided by the inputs on which exactly one of the two is
right: two models that agree everywhere have a narrower interval than two independent samples would give,
and 38 inputs on which both are right still leave several points either way.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def z_of(level: float) -> float:
    """The two-sided normal quantile of a confidence level (0.95 -> 1.96)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion k / n at `level` ((0, 1) when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    z = z_of(level)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def paired_drop(ref_correct, new_correct, level: float = 0.95) -> tuple[float, float, float]:
    """(drop, lower, upper): the drop mean(ref_correct) - mean(new_correct) of two models on the same inputs and
    its interval at `level` (Newcombe's method 10 for paired proportions)."""
    r, c = np.asarray(ref_correct, bool), np.asarray(new_correct, bool)
    if r.shape != c.shape:
        raise ValueError(f"paired outcomes of different lengths: {r.shape} and {c.shape}")
    n = int(r.size)
    if n == 0:
        return 0.0, -1.0, 1.0
    a = int(np.sum(r & c))    # both right
    b = int(np.sum(r & ~c))   # only the reference right
    cc = int(np.sum(~r & c))  # only the new model right
    d = n - a - b - cc        # both wrong
    p1, p2 = (a + b) / n, (a + cc) / n
    l1, u1 = wilson(a + b, n, level)
    l2, u2 = wilson(a + cc, n, level)
    den = (a + b) * (cc + d) * (a + cc) * (b + d)
    phi = (a * d - b * cc) / math.sqrt(den) if den else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    drop = p1 - p2
    return drop, max(-1.0, drop - delta), min(1.0, drop + eps)
