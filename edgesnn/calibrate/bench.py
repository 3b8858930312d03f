"""Microbenchmarks: small generated models whose layers sweep what the cost terms depend on.

Each benchmark is a short chain, seeded and reproducible from its spec alone:

    dense  Input(fan_in) -> Affine(fan_in -> fan_out, w bits) -> <kind>(fan_out) [+ recurrent Linear]
           -> Affine(fan_out -> k) -> <readout kind>(k) -> Output(k)
    conv   Input(C, H, W) -> Conv2d(C_out, kernel, stride, padding) -> <kind> -> SumPool2d(pool)
           -> Flatten -> Affine(-> k) -> <readout kind> -> Output(k)
    scale  Input(n) -> Scale(n) -> <kind>(n) -> Affine(n -> k) -> <readout kind> -> Output(k)

The last quarter of a suite reads an analog input (input_bits 8 or 16: real values quantized to int8 / int16, the
dense or conv layer multiplying them into its weights, then shifting its accumulators back), so that the
multiply-accumulate terms (the .graded kernels, the shift, the input's widening) are fitted as the rest are.

Every dimension is drawn on its own (log-uniform sizes, uniform spike rate and threshold, weight width
and neuron kind cycled), so fan-in, fan-out, spike rate and neuron count are not collinear across
the suite, and every coefficient of edgesnn.cost (per family, weight width and neuron kind) is
exercised by several benchmarks. Benchmarks that do not fit the device's arena are skipped (the
design draws again), so a small board gets a suite of small layers.

Schedule: every spec says "time-step-major", the schedule the cost terms are written for (one
invocation per layer and step). The firmware also runs grouped schedules (layer-major, fused groups:
edgesnn.lower); their terms (a layer's T steps per call, T-step buffers) are not modelled yet, so
build() refuses any other schedule: the hook for them is SCHEDULES, the spec's `schedule` and the row's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import EdgesnnError
from ..graph import ir
from ..graph.kinds import KINDS
from ..quantize import QuantConfig, quantize

# a suite's size: every term of edgesnn.cost met by >= 3 benchmarks (fit.MIN_SUPPORT) across the swept widths,
# kinds, state storages and roundings (96 left the fast extra-input and 4/16-bit strided conv terms short); the
# analog quarter (52) meets each weight width's multiply-accumulate in dense and in conv layers 6-7 times, and the
# spiking 156 keep the neuron terms as well covered as the 160 before them (144 left LIF's per-neuron loop -24 %)
DEFAULT_COUNT = 208
SCHEDULES = ("time-step-major",)  # what the firmware executes; layer-major runs on the host only
NEURON_KINDS = ("LIF", "IF", "ALIF", "CubaLIF")  # spiking: they feed a weighted layer
# the readout cycles through every kind: LI and CubaLI (real-valued) can only end the chain
READOUT_KINDS = ("LI", "LIF", "IF", "CubaLI", "ALIF", "CubaLIF")


@dataclass(frozen=True)
class BenchSpec:
    """One microbenchmark: enough to rebuild its graph and inputs exactly."""
    id: str
    template: str          # dense | conv | scale
    seed: int
    fan_in: int            # dense: inputs; conv: C_in * H * W; scale: n
    fan_out: int           # dense: neurons; conv: C_out; scale: n
    rate: float            # input spike probability per element and step
    weight_bits: int
    kind: str              # the neuron layer under test
    readout: str           # the readout neuron kind
    k: int                 # readout size
    threshold: float       # neuron threshold in units of the mean drive (sets the output spike rate)
    recurrent: bool = False
    exit: bool = False     # the entropy exit test on (never firing: threshold 0)
    state_bits: int = 16   # stored as int8 up to 8 bits, int16 up to 16, else int32
    rounding: str = "nearest"  # stochastic takes the generic neuron loop, a noise draw per shifted product
    decay_bits: int = 12   # at 6 (as plans pick) per-neuron decays are stored at 8 bits: their own loops
    conv: tuple = ()       # (C_in, H, W, kernel, stride, padding, pool)
    schedule: str = "time-step-major"
    input_bits: int = 0    # 0: spike inputs; 8 / 16: analog values (a fraction `rate` of them nonzero)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["conv"] = list(self.conv)
        return d


def _neuron(kind: str, name: str, n: int, thr: float, rng) -> ir.Node:
    ones = np.ones(n)
    # per neuron (multiple timescales) or one for the layer: the runtime runs layer-wide IF/LIF in a faster loop
    alpha = rng.uniform(0.7, 0.98, n) if rng.random() < 0.5 else np.full(n, rng.uniform(0.7, 0.98))
    # thresholds and biases per neuron or one for the layer too: the runtime loads per-neuron ones at every update
    spread = rng.uniform(0.8, 1.2, n) if rng.random() < 0.5 else ones
    # per-neuron biases (a quarter: the fast paths take biases once per layer, as the example models have them)
    base = {"name": name, "gain": ones.copy(), "bias": np.zeros(n) if rng.random() < 0.75 else rng.normal(0, 0.05, n)}
    row = KINDS[kind]
    if not row.spiking:
        extra = {"alpha": alpha}
        if row.current:
            extra.update(alpha_syn=rng.uniform(0.5, 0.9, n), gain_syn=ones.copy())
        return ir.NODE_TYPES[kind](**base, **extra)
    if row.adaptive:
        return ir.ALIF(**base, alpha=alpha, rho=rng.uniform(0.8, 0.99, n), b0=ones * thr, beta=ones * 0.5)
    reset = ("zero", "subtract", "value", "subtract", "late")[int(rng.integers(5))]
    spk = {"threshold": spread * thr, "v_reset": np.zeros(n), "reset": "subtract" if reset == "late" else reset,
           "reset_late": reset == "late"}
    if kind == "IF":
        return ir.IF(**base, **spk)
    if kind == "LIF":
        return ir.LIF(**base, **spk, alpha=alpha)
    return ir.CubaLIF(**base, **spk, alpha=alpha, alpha_syn=rng.uniform(0.5, 0.9, n), gain_syn=ones.copy())


def build(spec: BenchSpec) -> ir.Graph:
    """The float graph of a benchmark (quantized by `quantized`)."""
    if spec.schedule not in SCHEDULES:
        raise EdgesnnError(f"benchmark {spec.id}: schedule {spec.schedule!r} is not one the device firmware runs "
                           f"(it runs {', '.join(SCHEDULES)})")
    rng = np.random.default_rng(spec.seed)
    nodes: list[ir.Node] = []
    edges: list[tuple[str, str]] = []

    def chain(*ns):
        for a, b in zip(ns, ns[1:]):
            edges.append((a.name, b.name))

    drive = max(1.0, spec.rate * spec.fan_in) ** 0.5  # std of the summed weights, roughly
    if spec.template == "dense":
        inp = ir.Input(name="input", shape=(spec.fan_in,))
        syn = ir.Affine(name="syn", weight=rng.normal(0, 1, (spec.fan_out, spec.fan_in)),
                        bias=rng.normal(0, 0.1, spec.fan_out))
        n = spec.fan_out
        neu = _neuron(spec.kind, "neuron", n, spec.threshold * drive, rng)
        nodes += [inp, syn, neu]
        chain(inp, syn, neu)
        last = neu
        if spec.recurrent:
            rec = ir.Linear(name="rec", weight=rng.normal(0, 0.5, (n, n)))
            nodes.append(rec)
            edges += [(neu.name, rec.name), (rec.name, neu.name)]
    elif spec.template == "conv":
        c, h, w, ks, st, pad, pool = spec.conv
        inp = ir.Input(name="input", shape=(c, h, w))
        syn = ir.Conv2d(name="syn", weight=rng.normal(0, 1, (spec.fan_out, c, ks, ks)),
                        bias=rng.normal(0, 0.1, spec.fan_out), stride=(st, st), padding=(pad, pad))
        shape = syn.out_shape((c, h, w))
        n = int(np.prod(shape))
        neu = _neuron(spec.kind, "neuron", n, spec.threshold * max(1.0, spec.rate * c * ks * ks) ** 0.5, rng)
        neu = _reshape_neuron(neu, shape)
        if rng.random() < 0.5:  # per-channel time constants and thresholds, as a trained conv net has: the
            _per_channel(neu, rng)   # conv output then stays row-major (esn_conv's strided path)
        pl = ir.SumPool2d(name="pool", kernel_size=(pool, pool), stride=(pool, pool))
        fl = ir.Flatten(name="flatten")
        nodes += [inp, syn, neu, pl, fl]
        chain(inp, syn, neu, pl, fl)
        last = fl
        n = int(np.prod(pl.out_shape(shape)))
    elif spec.template == "scale":
        inp = ir.Input(name="input", shape=(spec.fan_in,))
        syn = ir.Scale(name="syn", scale=rng.uniform(0.5, 2.0, spec.fan_in))
        n = spec.fan_in
        neu = _neuron(spec.kind, "neuron", n, spec.threshold, rng)
        nodes += [inp, syn, neu]
        chain(inp, syn, neu)
        last = neu
    else:
        raise EdgesnnError(f"benchmark {spec.id}: unknown template {spec.template!r}")
    ro = ir.Affine(name="readout", weight=rng.normal(0, 1, (spec.k, n)), bias=np.zeros(spec.k))
    ron = _neuron(spec.readout, "readout_neuron", spec.k, max(1.0, 0.3 * n) ** 0.5, rng)
    out = ir.Output(name="output", shape=(spec.k,))
    nodes += [ro, ron, out]
    chain(last, ro, ron, out)
    return ir.Graph({nd.name: nd for nd in nodes}, edges, 1e-3, {"benchmark": spec.id})


def _reshape_neuron(neu: ir.Node, shape) -> ir.Node:
    """A neuron node with every per-neuron array in `shape` (a conv's [C, H, W])."""
    for key, a in neu.arrays().items():
        setattr(neu, key, a.reshape(shape))
    return neu


def _per_channel(neu: ir.Node, rng) -> None:
    """Makes `neu`'s alpha and threshold (those it has; arrays [C, H, W]) one value per channel, in place."""
    for key in ("alpha", "threshold"):
        a = getattr(neu, key, None)
        if isinstance(a, np.ndarray) and a.ndim == 3:
            per = rng.uniform(0.7, 0.98, a.shape[0]) if key == "alpha" else a.mean(axis=(1, 2))
            setattr(neu, key, np.broadcast_to(per[:, None, None], a.shape).copy())


def inputs(spec: BenchSpec, n: int, steps: int) -> np.ndarray:
    """Bernoulli spike inputs [n, steps, *input shape] at the benchmark's rate (seeded by its spec); for an analog
    benchmark, standard normal values where the draw is under the rate, else 0."""
    shape = (spec.fan_in,) if spec.template != "conv" else spec.conv[:3]
    rng = np.random.default_rng(spec.seed + 7919)
    on = rng.random((n, steps, *shape)) < spec.rate
    if spec.input_bits:
        return np.where(on, rng.standard_normal((n, steps, *shape)), 0.0)
    return on.astype(np.uint8)


def quantized(spec: BenchSpec, x: np.ndarray):
    """The benchmark's QGraph: its weight, state and decay widths and rounding; the exit test on when the spec says."""
    q = quantize(build(spec), QuantConfig(weight_bits=spec.weight_bits, state_bits=spec.state_bits,
                                          current_bits=spec.state_bits, rounding=spec.rounding,
                                          decay_bits=spec.decay_bits, input_bits=spec.input_bits), x)
    return q.with_exit(0) if spec.exit else q


def _logu(rng, lo: int, hi: int) -> int:
    return int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def design(count: int, seed: int = 0, *, max_size: int = 256) -> list[BenchSpec]:
    """`count` benchmark specs: a quarter (count // 4) with analog input, the rest spiking, about 55 % dense, 25 %
    conv, 10 % scale (at least one of each when count >= 8); weight width, neuron kind, readout kind, state width
    and rounding cycle so each appears evenly and every neuron kind meets every state width. max_size caps the
    layer sizes (small boards)."""
    analog = count // 4
    return _design_spiking(count - analog, seed, max_size) + _design_analog(analog, seed, max_size)


def _draw_conv(rng) -> tuple[tuple, int]:
    """A conv benchmark's (C_in, H, W, kernel, stride, padding, pool) and C_out: kernel 1/3/5, 1-3 channels of 4-10
    pixels, stride 1 or 2, padding up to half the kernel, a 2x2 pool where the output allows."""
    ks = int(rng.choice([1, 3, 5]))
    c = int(rng.integers(1, 4))
    hw = int(rng.integers(max(ks, 4), 11))
    st = int(rng.choice([1, 1, 2]))
    pad = int(rng.integers(0, ks // 2 + 1))
    oh = (hw + 2 * pad - ks) // st + 1
    return (c, hw, hw, ks, st, pad, 2 if oh >= 2 else 1), int(rng.integers(2, 9))


def _design_analog(count: int, seed: int, max_size: int) -> list[BenchSpec]:
    """Analog-input benchmarks, dense and conv in turn; weight width (8, 4, 16, 2) and input bits (8, 16) cycle so
    that every width meets both templates; neuron kinds, state widths and rates as the spiking suite draws."""
    rng = np.random.default_rng(seed + 31337)
    specs = []
    for i in range(count):
        t = ("dense", "conv")[i % 2]
        wb = (8, 4, 16, 2)[(i // 2) % 4]
        ib = (8, 16)[(i // 8) % 2]
        kind = NEURON_KINDS[(i // 3) % len(NEURON_KINDS)]
        readout = READOUT_KINDS[(i * 5 + 1) % len(READOUT_KINDS)]
        rate = float(rng.uniform(0.3, 1.0))  # sensor values: mostly nonzero
        conv: tuple = ()
        if t == "dense":
            fi, fo = _logu(rng, 4, min(max_size, 128)), _logu(rng, 4, max_size)
        else:
            conv, fo = _draw_conv(rng)
            fi = conv[0] * conv[1] * conv[2]
        specs.append(BenchSpec(f"a{i:03d}-{t}-{kind.lower()}-w{wb}-i{ib}", t, seed * 100_003 + 50_000 + i, fi, fo,
                               round(rate, 4), wb, kind, readout, _logu(rng, 2, 24),
                               round(float(rng.uniform(0.3, 3.0)), 3), conv=conv, state_bits=(16, 8, 12, 24)[i % 4],
                               input_bits=ib))
    return specs


def _design_spiking(count: int, seed: int, max_size: int) -> list[BenchSpec]:
    rng = np.random.default_rng(seed)
    specs = []
    templates = ["dense", "conv", "dense", "scale", "dense", "conv", "dense", "dense", "conv", "dense"]
    for i in range(count):
        t = templates[i % len(templates)]
        kind = NEURON_KINDS[(i // 3) % len(NEURON_KINDS)]
        readout = READOUT_KINDS[(i * 5 + 1) % len(READOUT_KINDS)]
        # every stored weight width: 4, 2 and 1 bits unpack in their own loops (scale layers: 8 and 16 only)
        wb = (8, 4, 16, 2)[(i // 2) % 4] if t != "scale" else (8, 16)[(i // 10) % 2]
        if i % 11 == 6 and t != "scale":   # binary rows (their own kernels; off the planner's default grid: rarer)
            wb = 1
        k = _logu(rng, 2, 24)
        thr = float(rng.uniform(0.3, 3.0))
        rate = float(rng.uniform(0.03, 0.6))
        conv: tuple = ()
        if t == "dense":
            fi, fo = _logu(rng, 4, max_size), _logu(rng, 4, max_size)
            if i % 4 == 2:  # recurrent: fan_out^2 weights more
                fo = min(fo, max_size // 2)
        elif t == "scale":
            fi = fo = _logu(rng, 8, max_size)
        else:
            conv, fo = _draw_conv(rng)
            fi = conv[0] * conv[1] * conv[2]
        specs.append(BenchSpec(f"b{i:03d}-{t}-{kind.lower()}-w{wb}", t, seed * 100_003 + i, fi, fo, round(rate, 4), wb,
                               kind, readout, k, round(thr, 3), recurrent=(t == "dense" and i % 4 == 2),
                               exit=(i % 5 == 4), conv=conv,
                               # every state storage (int8, int16 at 12 and 16 bits, int32) for every kind and
                               # weight width; plans pick narrow state, and truncate or stochastic rounding; half the
                               # recurrent ones at 16 bits, nearest: in reach of the fast paths (two inputs summed)
                               state_bits=16 if i % 8 == 2 else (16, 8, 12, 24)[(i + i // 8) % 4],
                               decay_bits=6 if i % 5 in (1, 3) else 12,
                               rounding="nearest" if i % 8 == 2 else
                               "stochastic" if i % 9 == 5 else ("truncate" if (i // 4) % 2 else "nearest")))
    return specs
