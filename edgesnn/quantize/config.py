"""Per-parameter-kind precision (Q-SpiNN): every kind of number gets its own bit width.

    weight_bits     synaptic weights (and the recurrent ones)          1..16, signed; 1: binary weights
                    +-m (BNN style): m is one integer magnitude per weighted layer, in its target's
                    units (about the layer's mean |w|); stored bit 0 is +m, bit 1 is -m, so no weight
                    can be zero (a zero float weight becomes +m)
    state_bits      membrane potential v                               8..32, signed
    current_bits    synaptic current i of CubaLIF / CubaLI             8..32, signed
    adapt_bits      adaptation variable eta of ALIF (fraction bits)    4..16
    threshold_bits  thresholds, stored with this many significant bits 2..32 (<= state_bits;
                    default: state_bits)
    decay_bits      decay factors alpha, alpha_syn, rho (fraction bits) 2..16
    rounding        'truncate' | 'nearest' | 'stochastic': used when parameters are quantized
                    and when a decay or gain product is shifted back on the device
    seed            seeds stochastic rounding (reproducible, on the host and on the device)
    input_bits      0: the input is spike counts (uint8, 0..255); 8 or 16: analog values (direct
                    encoding, sensor readings), quantized to int8 / int16 with a scale chosen from the
                    calibration data; the first layers multiply them into their weights
    input_scale     'tensor': one scale for the whole input; 'channel': one per input channel (axis 0
                    of one step's input, a feature of a flat input), folded into the weights
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import QuantizeError

ROUNDINGS = ("truncate", "nearest", "stochastic")
INPUT_BITS = (0, 8, 16)  # 0: spike counts (uint8); 8, 16: analog int8 / int16 (esn_model.input_bits)
INPUT_SCALES = ("tensor", "channel")
RANGES = {"weight_bits": (1, 16), "state_bits": (8, 32), "current_bits": (8, 32), "adapt_bits": (4, 16),
          "threshold_bits": (2, 32), "decay_bits": (2, 16)}


@dataclass(frozen=True)
class QuantConfig:
    weight_bits: int = 8
    state_bits: int = 16
    current_bits: int = 16
    adapt_bits: int = 12
    threshold_bits: int | None = None
    decay_bits: int = 12
    rounding: str = "nearest"
    seed: int = 0
    input_bits: int = 0
    input_scale: str = "tensor"

    def __post_init__(self):
        if self.threshold_bits is None:
            object.__setattr__(self, "threshold_bits", self.state_bits)
        problems = []
        for key, (lo, hi) in RANGES.items():
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                problems.append(f"{key} = {v!r} is outside [{lo}, {hi}]")
        if isinstance(self.threshold_bits, int) and isinstance(self.state_bits, int) \
                and self.threshold_bits > self.state_bits:
            problems.append(f"threshold_bits = {self.threshold_bits} exceeds state_bits = {self.state_bits}")
        if self.rounding not in ROUNDINGS:
            problems.append(f"rounding {self.rounding!r} is not one of {', '.join(ROUNDINGS)}")
        if self.input_bits not in INPUT_BITS or isinstance(self.input_bits, bool):
            problems.append(f"input_bits = {self.input_bits!r} is not one of 0 (spike counts), 8 or 16 (analog)")
        if self.input_scale not in INPUT_SCALES:
            problems.append(f"input_scale {self.input_scale!r} is not one of {', '.join(INPUT_SCALES)}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 32:
            problems.append(f"seed {self.seed!r} must be an integer in [0, 2^32)")
        if problems:
            raise QuantizeError("invalid quantization setting: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "QuantConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise QuantizeError(f"unknown quantization fields {sorted(unknown)}")
        return cls(**d)
