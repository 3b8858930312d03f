"""How each exporter's NIR parameters become edgesnn's discrete-time neurons.

NIR stores continuous-time ODEs and no dt; every framework maps its own discrete update onto
those parameters in its own way. A dialect names one such convention, so that importing a file
reproduces what the framework that wrote it computes, not what the ODE would. The equations the
resulting nodes run are in `edgesnn.graph.ir`. docs/dialects.md derives each dialect from the
framework's source, and tests/test_frameworks.py checks every one against outputs the framework
itself produced (tests/fixtures/).

A dialect is a small class: the literal forward-Euler reading of NIR (`nir`) is the base, and each
framework overrides the formulas it does differently. Versions: snnTorch 1.0, Norse 1.1, Sinabs 3.1,
SpikingJelly 2.0, Rockpool 3.1.
"""

from __future__ import annotations

import numpy as np

from ..errors import NirError

Arr = np.ndarray


class Dialect:
    """The literal forward-Euler reading of the NIR equations.

        LIF/LI    alpha = 1 - dt/tau   gain = dt*r/tau   bias = dt*v_leak/tau
        IF        gain = dt*r
        CubaLIF   alpha_syn = 1 - dt/tau_syn, gain_syn = dt*w_in/tau_syn; the membrane as LIF with
                  tau_mem, driven by last step's current (syn_delay, as a simultaneous Euler step)
        spike on v > v_threshold, reset to v_reset, one spike per step, membrane starts at 0
    """

    name = "nir"
    summary = "literal forward-Euler reading of the NIR equations; spike on v > threshold, reset to v_reset"
    spike_rule = ">"
    reset = "value"           # 'value' reads v_reset ('zero' when all are 0); or 'subtract'
    reset_late = False        # the subtraction lands inside the next step's update (snnTorch)
    max_spikes = 1            # > 1: several spikes per step, floor(v / threshold), capped here
    syn_delay = True
    flatten_counts_batch = False  # Flatten start_dim/end_dim count a leading batch axis
    v_init = None             # NIR field the framework starts the membrane at (edgesnn starts at 0)

    # -- formulas, each from NIR arrays (already broadcast to the neuron shape) and dt ---------------
    def euler_decay(self, tau: Arr, dt: float, where: str) -> Arr:
        self._positive(tau, where)
        alpha = 1.0 - dt / tau
        if np.any(alpha < 0):
            raise NirError(f"{where}: dt = {dt:g} s exceeds the time constant {tau.min():.4g} s, so the "
                           f"forward-Euler update of dialect {self.name!r} is unstable; import with a smaller --dt")
        return alpha

    @staticmethod
    def _positive(tau: Arr, where: str) -> None:
        if np.any(tau <= 0):
            raise NirError(f"{where}: time constant must be positive, got {tau.min():.4g}")

    def leaky(self, tau: Arr, r: Arr, v_leak: Arr, dt: float, where: str, readout: bool) -> tuple[Arr, Arr, Arr]:
        """LIF (readout=False) or LI: (alpha, gain, bias)."""
        alpha = self.euler_decay(tau, dt, where)
        return alpha, dt * r / tau, dt * v_leak / tau

    def integrator_gain(self, r: Arr, dt: float) -> Arr:
        return dt * r

    def synapse(self, tau_syn: Arr, w_in: Arr, dt: float, where: str) -> tuple[Arr, Arr]:
        """CubaLIF/CubaLI current: (alpha_syn, gain_syn)."""
        return self.euler_decay(tau_syn, dt, where + " tau_syn"), dt * w_in / tau_syn

    def cuba_membrane(self, tau_mem: Arr, r: Arr, v_leak: Arr, dt: float, where: str) -> tuple[Arr, Arr, Arr]:
        return self.leaky(tau_mem, r, v_leak, dt, where + " tau_mem", readout=False)

    # -- export (the 'nir' dialect only): discrete -> NIR ------------------------------------------
    @staticmethod
    def tau_of(alpha: Arr, dt: float) -> Arr:
        return dt / (1.0 - alpha)


class SnnTorch(Dialect):
    """snnTorch export_to_nir: tau = dt/(1-beta), r = tau/dt, so the Euler formulas give beta and a
    gain of exactly 1; Leaky/Synaptic reset by subtraction one step late, spike on v > threshold,
    Synaptic's membrane driven by this step's current. The exporter hard-codes dt = 1e-4."""

    name = "snntorch"
    summary = ("snnTorch Leaky/Synaptic/RLeaky: v = beta*v + x, spike on v > threshold, reset by subtraction "
               "one step late (--reset zero for reset_mechanism='zero'); exported with dt = 1e-4")
    reset, reset_late, syn_delay = "subtract", True, False


class Norse(Dialect):
    """Norse 1.1 to_nir writes tau = dt/tau_inv = dt*tau_true (norse/norse#411), so the Euler step
    dt*tau_inv is k = dt^2/tau; the current jumps by w_in per input; IF adds r*x."""

    name = "norse"
    summary = ("Norse 1.1 LIF/LIFBox/IAF (its exporter writes tau as dt*tau): Euler with tau_mem_inv, spike on "
               "v > threshold, reset to v_reset; files from older Norse read with --dialect nir")
    syn_delay = False
    v_init = "v_leak"

    def _k(self, tau: Arr, dt: float, where: str) -> Arr:
        self._positive(tau, where)
        k = dt * dt / tau
        if np.any(k > 1):
            raise NirError(f"{where}: dt = {dt:g} s makes Norse's Euler step dt*tau_mem_inv = {k.max():.3g} > 1, "
                           "which is unstable; import with the dt the model was exported with")
        return k

    def leaky(self, tau, r, v_leak, dt, where, readout):
        k = self._k(tau, dt, where)
        return 1.0 - k, k * r, k * v_leak

    def integrator_gain(self, r, dt):
        return r

    def synapse(self, tau_syn, w_in, dt, where):
        return 1.0 - self._k(tau_syn, dt, where + " tau_syn"), w_in


class Sinabs(Dialect):
    """Sinabs to_nir: time constants in steps (dt = 1 whatever --dt says); IAF adds r*x, LIF
    normalises its input by (1 - alpha); MultiSpike: floor(v/threshold) spikes on v >= threshold
    (unbounded in Sinabs, capped at 255 here), reset by subtraction."""

    name = "sinabs"
    summary = ("Sinabs IAF/LIF: time constants in steps, input added unscaled (LIF: times 1-alpha), spike on "
               "v >= threshold, several spikes per step (MultiSpike), reset by subtraction")
    spike_rule, reset, max_spikes, syn_delay = ">=", "subtract", 255, False

    def leaky(self, tau, r, v_leak, dt, where, readout):
        self._positive(tau, where)
        alpha = np.exp(-1.0 / tau)
        return alpha, (r if readout else (1.0 - alpha) * r), (1.0 - alpha) * v_leak

    def integrator_gain(self, r, dt):
        return r

    def synapse(self, tau_syn, w_in, dt, where):
        self._positive(tau_syn, where)
        return np.exp(-1.0 / tau_syn), w_in


class SpikingJelly(Dialect):
    """SpikingJelly export_to_nir: the Euler formulas hold exactly; spike on v >= threshold, hard reset
    to v_reset, membrane starting at v_reset, CUBALIF driven by this step's current."""

    name = "spikingjelly"
    summary = "SpikingJelly LIFNode/IFNode/CUBALIFNode: Euler, spike on v >= threshold, hard reset to v_reset"
    spike_rule, syn_delay = ">=", False
    v_init = "v_reset"


class Rockpool(Dialect):
    """Rockpool to_nir: exact exponential decays; a spiking neuron adds its input unscaled, its r only
    encodes dt (r = tau*alpha/dt, so dt*r/(tau*alpha) is 1 up to float32 rounding, which would break
    exact threshold ties: the gain is set to 1); a leaky readout has gain dt*r/tau; the synaptic
    current takes w_in*alpha_syn; spike on v >= threshold, several per step (65536 in Rockpool,
    capped at 255 here), reset by subtraction."""

    name = "rockpool"
    summary = ("Rockpool LIF/LIFNeuron/ExpSyn: exact exponential decay, spike on v >= threshold, reset by "
               "subtraction, several spikes per step")
    spike_rule, reset, max_spikes, syn_delay = ">=", "subtract", 255, False

    def _exact(self, tau, dt, where):
        self._positive(tau, where)
        return np.exp(-dt / tau)

    def leaky(self, tau, r, v_leak, dt, where, readout):
        alpha = self._exact(tau, dt, where)
        gain = dt * r / tau if readout else np.ones_like(r)
        return alpha, gain, (1.0 - alpha) * v_leak

    def synapse(self, tau_syn, w_in, dt, where):
        a = self._exact(tau_syn, dt, where + " tau_syn")
        return a, w_in * a

    def cuba_membrane(self, tau_mem, r, v_leak, dt, where):
        return self.leaky(tau_mem, r, v_leak, dt, where + " tau_mem", readout=False)


DIALECTS: dict[str, Dialect] = {d.name: d for d in (Dialect(), SnnTorch(), Norse(), Sinabs(), SpikingJelly(),
                                                    Rockpool())}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise NirError(f"unknown dialect {name!r}; choose one of {', '.join(DIALECTS)}") from None
