"""How each exporter's NIR parameters become edgesnn's discrete-time neurons.

NIR stores continuous-time ODEs and no dt; every framework maps its own discrete update onto
those parameters in its own way. A dialect names one such convention, so that importing a file
reproduces what the framework that wrote it computes, not what the ODE would. The equations the
resulting nodes run are in `edgesnn.graph.ir`; docs/dialects.md derives each dialect from the
framework's source and the fixtures in tests/fixtures/ check it against the framework's own output.

    decay   'euler'  alpha = 1 - dt/tau          (forward Euler; unstable when dt > tau)
            'exact'  alpha = exp(-dt/tau)
    gain    'euler'  gain = dt*r/tau              (so bias = dt*v_leak/tau = (1-alpha)*v_leak)
            'exact'  gain = (1 - alpha)*r         (zero-order hold of the input over one step)
            'r'      gain = r                     (input added unscaled, times r)
    if_gain 'euler'  gain = dt*r  |  'r'  gain = r
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NirError


@dataclass(frozen=True)
class Dialect:
    name: str
    summary: str
    decay: str = "euler"
    gain: str = "euler"
    if_gain: str = "euler"
    spike_rule: str = ">"
    reset: str = "value"          # 'value' reads NIR's v_reset ('zero' when all are 0); or 'subtract'
    reset_late: bool = False      # subtraction applied inside the next step's update (snnTorch)
    max_spikes: int = 1           # > 1: several spikes per step, floor(v / threshold)
    syn_delay: bool = False       # CubaLIF membrane driven by last step's synaptic current (Norse)
    flatten_counts_batch: bool = False  # Flatten start_dim/end_dim count a leading batch axis

    def alpha(self, tau: np.ndarray, dt: float, where: str) -> np.ndarray:
        tau = np.asarray(tau, dtype=np.float64)
        if np.any(tau <= 0):
            raise NirError(f"{where}: time constant must be positive, got {tau.min():.4g}")
        if self.decay == "exact":
            return np.exp(-dt / tau)
        alpha = 1.0 - dt / tau
        if np.any(alpha < 0):
            raise NirError(f"{where}: dt = {dt:g} s exceeds the time constant {tau.min():.4g} s, so the "
                           f"forward-Euler update of dialect {self.name!r} is unstable; "
                           "import with a smaller --dt")
        return alpha

    def gain_of(self, r: np.ndarray, tau: np.ndarray, alpha: np.ndarray, dt: float) -> np.ndarray:
        r = np.asarray(r, dtype=np.float64)
        if self.gain == "euler":
            return dt * r / np.asarray(tau, dtype=np.float64)
        if self.gain == "exact":
            return (1.0 - alpha) * r
        return r

    def if_gain_of(self, r: np.ndarray, dt: float) -> np.ndarray:
        r = np.asarray(r, dtype=np.float64)
        return dt * r if self.if_gain == "euler" else r

    # inverses, for export
    def tau_of(self, alpha: np.ndarray, dt: float) -> np.ndarray:
        alpha = np.asarray(alpha, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return -dt / np.log(alpha) if self.decay == "exact" else dt / (1.0 - alpha)

    def r_of(self, gain: np.ndarray, tau: np.ndarray, alpha: np.ndarray, dt: float) -> np.ndarray:
        if self.gain == "euler":
            return gain * tau / dt
        if self.gain == "exact":
            return gain / (1.0 - alpha)
        return np.asarray(gain, dtype=np.float64)


DIALECTS: dict[str, Dialect] = {d.name: d for d in (
    Dialect("nir", "literal forward-Euler reading of the NIR equations; spike on v > threshold, "
                   "reset to v_reset"),
    Dialect("snntorch", "snnTorch Leaky/Synaptic/RLeaky: v = beta*v + x, spike on v > threshold, "
                        "reset by subtraction applied one step late (pass --reset zero for reset_mechanism='zero')",
            reset="subtract", reset_late=True),
    Dialect("norse", "Norse LIF/LIFBox: forward Euler with tau_mem_inv, spike on v > threshold, reset to "
                     "v_reset, CubaLIF membrane driven by the previous step's current",
            syn_delay=True),
    Dialect("sinabs", "Sinabs IAF/LIF: input added unscaled, spike on v >= threshold, several spikes "
                      "per step (MultiSpike), reset by subtraction",
            decay="exact", gain="r", if_gain="r", spike_rule=">=", reset="subtract", max_spikes=255),
    Dialect("spikingjelly", "SpikingJelly LIFNode/IFNode: spike on v >= threshold, hard reset to v_reset",
            spike_rule=">="),
    Dialect("rockpool", "Rockpool LIF: exact exponential decay, spike on v >= threshold, reset by "
                        "subtraction, several spikes per step",
            decay="exact", gain="exact", spike_rule=">=", reset="subtract", max_spikes=255),
)}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise NirError(f"unknown dialect {name!r}; choose one of {', '.join(DIALECTS)}") from None
