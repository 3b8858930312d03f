"""How each exporter's NIR parameters become edgesnn's discrete-time neurons.

NIR stores continuous-time ODEs and no dt; every framework maps its own discrete update onto
those parameters in its own way. A dialect names one such convention, so that importing a file
reproduces what the framework that wrote it computes, not what the ODE would. The equations the
resulting nodes run are in `edgesnn.graph.ir`. docs/dialects.md derives each dialect from the
framework's source, and tests/graph/test_frameworks.py checks every one against outputs the framework
itself produced (tests/fixtures/).

A dialect is a small class: the literal forward-Euler reading of NIR (`nir`) is the base, and each
framework overrides the formulas it does differently. Versions: snnTorch 1.0, Norse 1.1, Sinabs 3.1,
SpikingJelly 2.0, Rockpool 3.1.
"""

from __future__ import annotations

import copy

import numpy as np

from ..errors import NirError

Arr = np.ndarray

# The neuron parameters a dialect may look at before it converts anything, one entry per neuron node:
# (node name, NIR type, {field: array}) for the fields tau, tau_mem, tau_syn and r that the node has.
Neurons = list[tuple[str, str, dict[str, Arr]]]
TAU_FIELDS = ("tau", "tau_mem", "tau_syn")


def same_dt(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


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
    framework = "NIR"         # who wrote the files this dialect reads, for messages
    dt_hint = "the step the model was trained and exported with"  # for the error that asks for dt
    dt_matters = True         # False: the formulas do not use dt (time constants in steps)
    infinite_ok: tuple[str, ...] = ()  # fields that may hold +-inf (snnTorch's tau for beta = 1)

    def __init__(self) -> None:
        self.notes: list[str] = []  # what this import decided, one line each (see for_file)

    # -- per file: the exporter's dt, and any reading the file itself decides -----------------------
    def export_dt(self, neurons: Neurons) -> tuple[float | None, str]:
        """The dt the exporter wrote the file with, if the dialect fixes it or the file encodes it:
        (dt, where it comes from, as a phrase), or (None, why not, or "")."""
        return None, ""

    def for_file(self, neurons: Neurons, dt: float, source: str, **options) -> "Dialect":
        """A copy of this dialect set up for one file, collecting notes in `.notes`."""
        d = copy.copy(self)
        d.notes = []
        return d

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
               "one step late (--reset zero for reset_mechanism='zero'); beta and alpha clamped to [0, 1] as "
               "snnTorch runs them; exported with dt = 1e-4 (the default --dt)")
    reset, reset_late, syn_delay = "subtract", True, False
    framework = "snnTorch"
    DT = 1e-4  # export_to_nir hard-codes it
    infinite_ok = ("tau", "tau_mem", "tau_syn", "r", "w_in")  # beta = 1 is written as tau = r = inf

    def export_dt(self, neurons):
        return self.DT, "fixed by snnTorch's export_to_nir"

    def euler_decay(self, tau: Arr, dt: float, where: str) -> Arr:
        """beta = 1 - dt/tau, clamped to [0, 1] as snnTorch's forward does (beta.clamp(0, 1)): the file
        holds the raw, possibly learned, beta, as tau = dt/(1-beta), which is negative for beta > 1 and
        infinite for beta = 1. Below 0 it is clamped only at the exporter's dt; at another --dt a
        negative decay means that dt is too large, and is refused as in the nir dialect."""
        if np.any(tau == 0):
            raise NirError(f"{where}: time constant must be nonzero, got 0")
        raw = 1.0 - dt / tau
        param = "alpha" if where.endswith("tau_syn") else "beta"
        n, node = raw.size, where.removesuffix(" tau_syn").removesuffix(" tau_mem")
        if np.any(raw < 0) and not same_dt(dt, self.DT):
            raise NirError(f"{where}: dt = {dt:g} s exceeds the time constant {tau[raw < 0].min():.4g} s, so the "
                           f"forward-Euler update is unstable; import with a smaller --dt (snnTorch exported "
                           f"at {self.DT:g} s)")
        if np.any(np.isinf(tau)):
            self.notes.append(f"{node}: {param} = 1 (tau = inf in the file) at {int(np.isinf(tau).sum())} of {n} "
                              "neurons: no leak")
        for bad, to, worst in ((raw > 1, 1.0, raw.max()), (raw < 0, 0.0, raw.min())):
            if np.any(bad):
                self.notes.append(f"{node}: {param} clamped to {to:.1f} at {int(bad.sum())} of {n} neurons (file "
                                  f"{param} {'up to' if to else 'down to'} {worst:.4g}), as snnTorch clamps it "
                                  "when it runs")
        return np.clip(raw, 0.0, 1.0)

    @staticmethod
    def _unit_ratio(num: Arr, tau: Arr, dt: float) -> Arr:
        """dt*num/tau, where num = tau/dt = inf for a decay of 1 gives the limit 1 (snnTorch adds x unscaled)."""
        both = np.isinf(num) & np.isinf(tau)
        with np.errstate(invalid="ignore"):
            return np.where(both, 1.0, dt * np.where(both, 1.0, num) / tau)

    def leaky(self, tau, r, v_leak, dt, where, readout):
        alpha = self.euler_decay(tau, dt, where)
        return alpha, self._unit_ratio(r, tau, dt), dt * v_leak / tau

    def synapse(self, tau_syn, w_in, dt, where):
        return self.euler_decay(tau_syn, dt, where + " tau_syn"), self._unit_ratio(w_in, tau_syn, dt)


class Norse(Dialect):
    """Norse 1.1 to_nir writes tau = dt/tau_inv = dt*tau_true (norse/norse#411), so the Euler step
    dt*tau_inv is k = dt^2/tau; the current jumps by w_in per input; IF adds r*x.

    A file exported the safe way, to_nir(..., dt=1.0), or by an exporter without the bug, holds the
    true taus, and k = dt/tau. Which one a file holds is decided per file (`for_file`): literally
    read, dt/tau is at most 1 everywhere in a true-tau file (a stable Euler step) and far above 1
    in a bugged one (dt/tau = 1/tau_true, about 100 for 10 ms)."""

    name = "norse"
    summary = ("Norse 1.1 LIF/LIFBox/IAF: Euler with tau_mem_inv, spike on v > threshold, reset to v_reset; "
               "whether the file's taus are dt*tau (Norse 1.1's to_nir, norse#411) or true taus "
               "(to_nir(..., dt=1.0), older Norse) is decided per file (--norse-tau)")
    syn_delay = False
    v_init = "v_leak"
    framework = "Norse"
    dt_hint = "the dt of the Norse cells (Norse's default is 1e-3)"
    scaled = True  # the file's taus are dt*tau_true (norse#411)
    READINGS = ("auto", "literal", "scaled")

    def for_file(self, neurons, dt, source, *, norse_tau: str = "auto", **options):
        d = super().for_file(neurons, dt, source)
        if norse_tau not in self.READINGS:
            raise NirError(f"norse_tau {norse_tau!r} is not one of {', '.join(self.READINGS)}")
        with np.errstate(divide="ignore"):  # a tau of 0 is refused by the conversion, naming its node
            ratios = [(f"{name}.{key}" if key != "tau" else name, dt / f[key]) for name, _, f in neurons
                      for key in TAU_FIELDS if key in f]
        ratios = [(where, r) for where, r in ratios if r.size and np.all(np.isfinite(r)) and np.all(r > 0)]
        if norse_tau != "auto":
            d.scaled = norse_tau == "scaled"
            d.notes.append(f"norse: time constants read as {self._reading(d.scaled)} (--norse-tau {norse_tau})")
            return d
        if not ratios:  # IF only: no time constant, nothing to decide
            return d
        lo, hi = min(r.min() for _, r in ratios), max(r.max() for _, r in ratios)
        if hi <= 1:
            d.scaled = False
            d.notes.append(f"norse: time constants read as {self._reading(False)}: dt/tau = {lo:.3g} to {hi:.3g}, "
                           "at most 1 at every neuron (a stable literal reading)")
        elif lo > 1 and hi * dt <= 1:
            d.scaled = True
            d.notes.append(f"norse: time constants read as {self._reading(True)}: dt/tau = {lo:.3g} to {hi:.3g}, "
                           "above 1 at every neuron (unstable if read literally)")
        else:
            listed = "; ".join(f"{where} {r.min():.3g} to {r.max():.3g}" for where, r in ratios)
            raise NirError(f"{source}: cannot tell how Norse wrote the time constants: at dt = {dt:g} s, dt/tau is "
                           f"{listed} (true taus give at most 1 at every neuron; Norse 1.1's dt*tau gives above 1 "
                           f"at every neuron and at most 1/dt = {1 / dt:.3g}); choose a reading with --norse-tau "
                           "literal (true taus) or --norse-tau scaled (dt*tau, norse#411)")
        return d

    @staticmethod
    def _reading(scaled: bool) -> str:
        return ("dt*tau, as Norse 1.1's to_nir writes them (norse#411), so tau/dt is used" if scaled
                else "true taus (literal), as to_nir(..., dt=1.0) or an older Norse writes them")

    def _k(self, tau: Arr, dt: float, where: str) -> Arr:
        self._positive(tau, where)
        k = (dt * dt if self.scaled else dt) / tau
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
    framework = "Sinabs"
    dt_matters = False

    def export_dt(self, neurons):
        return 1.0, "one step: Sinabs's time constants are in steps"

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
    framework = "SpikingJelly"
    dt_hint = "the dt given to export_to_nir (SpikingJelly's default is 1e-4)"


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
    framework = "Rockpool"
    dt_hint = "the dt of the Rockpool modules"

    def export_dt(self, neurons):
        """Rockpool writes r = tau*exp(-dt/tau)/dt, so dt = tau*W(1/r), W the Lambert W function; every
        neuron must give the same dt (to 1e-4), which is then rounded to 6 significant digits (r is float32)."""
        from scipy.special import lambertw
        found = []
        for name, _, f in neurons:
            tau = f.get("tau", f.get("tau_mem"))
            if tau is None or "r" not in f:
                continue
            tau, r = np.broadcast_arrays(tau, f["r"])
            if np.any(r <= 0) or np.any(tau <= 0) or not np.all(np.isfinite(r * tau)):
                return None, f"Rockpool's dt cannot be recovered from node {name!r}: r and tau must be positive"
            found.append((name, tau * lambertw(1.0 / r).real))
        if not found:
            return None, "the file has no neuron with tau and r to recover Rockpool's dt from"
        lo, hi = min(v.min() for _, v in found), max(v.max() for _, v in found)
        if hi > lo * (1 + 1e-4):
            spread = ", ".join(f"{n} {v.min():.4g} to {v.max():.4g} s" for n, v in found)
            return None, f"the dt recovered from r = tau*exp(-dt/tau)/dt differs between neurons ({spread})"
        return float(f"{float(np.median(np.concatenate([v.ravel() for _, v in found]))):.6g}"), \
            "recovered from Rockpool's r = tau*exp(-dt/tau)/dt"

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
