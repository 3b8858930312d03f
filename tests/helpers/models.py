"""Models and inputs for the C runtime tests: the NIR paper's graphs, the example models, and
hypothesis strategies for random graphs over every node kind, shape, bit width and rounding mode.

Shared by the runtime, blob, schedule and C-source tests (tests/runtime/, tests/emit/, tests/lower/);
imported as `tests.helpers.models`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from edgesnn.graph import ir
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.quantize.reference import FIXED_COUNTERS, simulate_fixed

from tests.helpers.paths import EXAMPLES, NIR_PAPER

# (file, dialect, dt, reset override)
PAPER_GRAPHS = {
    "cnn_sinabs": ("02_cnn/cnn_sinabs.nir", "sinabs", 1e-3, None),
    "braille_zero": ("03_rnn/braille_noDelay_bias_zero.nir", "snntorch", 1e-4, "zero"),
    "braille_subtract": ("03_rnn/braille_noDelay_noBias_subtract.nir", "snntorch", 1e-4, "subtract"),
}

# (threshold_q8, beta_q16) at which each graph's inputs (paper_case, 16 steps) exit at mixed steps
PAPER_EXIT = {"cnn_sinabs": (20, 1 << 14), "braille_zero": (490, 4 << 16), "braille_subtract": (490, 4 << 16)}


def paper_graph(key: str) -> ir.Graph:
    from edgesnn.graph.nir_io import read_nir
    rel, dialect, dt, reset = PAPER_GRAPHS[key]
    return read_nir(NIR_PAPER / rel, dt=dt, dialect=dialect, reset=reset)


def spikes(shape, p: float, seed: int, max_count: int = 1) -> np.ndarray:
    """Random spike counts: nonzero with probability p, then uniform in 1..max_count."""
    rng = np.random.default_rng(seed)
    on = rng.random(shape) < p
    return (on * rng.integers(1, max_count + 1, shape)).astype(np.uint8)


def paper_case(key: str, config: QuantConfig, n: int = 3, steps: int = 12, seed: int = 0):
    """(qgraph, inputs) for a NIR paper graph, calibrated on its own inputs and made busy enough to
    spike in every layer (the CNN needs several spikes per pixel and step)."""
    g = paper_graph(key)
    if key == "cnn_sinabs":
        x = spikes((n, steps, *g.input.shape), 0.5, seed, max_count=6)
    else:
        x = spikes((n, steps, *g.input.shape), 0.4, seed)
    return quantize(g, config, x), x


def example_models() -> list[Path]:
    """The example models (examples/models/*.json holding an edgesnn graph, not results.json)."""
    import json
    found = sorted((EXAMPLES / "models").glob("*.json")) if (EXAMPLES / "models").is_dir() else []
    return [p for p in found if json.loads(p.read_text()).get("artifact") == "graph"]


def example_case(path: Path, config: QuantConfig, n: int = 8):
    from edgesnn.data import load_dataset
    from edgesnn.graph import Graph
    import json
    g = Graph.load(path)
    results = EXAMPLES / "models" / "results.json"
    recorded = json.loads(results.read_text()) if results.exists() else {}
    rec = next((r for r in recorded.values() if r.get("model") == path.name), None)  # its own test data
    data = EXAMPLES / "data" / (rec["test_data"] if rec else
                                "digits_test_cnn.npz" if "cnn" in path.stem else "digits_test.npz")
    if not data.exists():
        data = EXAMPLES / "data" / "digits_test.npz"
    x, _ = load_dataset(data)
    x = x.reshape(*x.shape[:2], *g.input.shape)
    return quantize(g, config, x[-32:]), x[:n]


# ----------------------------------------------------------------------------------------------
# Comparison
# ----------------------------------------------------------------------------------------------

def assert_same(ref, got, label: str = "", qgraph=None) -> None:
    """Outputs, steps, every fixed-point counter and (up to each input's exit) every recorded state; with
    `qgraph`, the runtime keeps no state for its stateless layers (esn_runtime.h), so they have none."""
    np.testing.assert_array_equal(got.outputs, ref.outputs, err_msg=f"{label}: outputs")
    assert (ref.steps is None) == (got.steps is None), label
    if ref.steps is not None:
        np.testing.assert_array_equal(got.steps, ref.steps, err_msg=f"{label}: steps")
    assert set(got.counts) == set(ref.counts), label
    for k, cs in ref.counts.items():
        for c in FIXED_COUNTERS:
            np.testing.assert_array_equal(got.counts[k][c], cs[c], err_msg=f"{label}: {k} {c}")
    stateless = set()
    if qgraph is not None:
        from edgesnn.lower import lower
        low = lower(qgraph)
        stateless = {nd.name for k, nd in enumerate(low.nodes) if nd.n_state and low.stateless(k)}
    assert set(got.states) == set(ref.states) - stateless, label
    n, t = ref.outputs.shape[:2]
    run = np.full(n, t) if ref.steps is None else ref.steps
    for k, vs in ref.states.items():
        if k in stateless:
            continue
        assert set(got.states[k]) == set(vs), (label, k)
        for var, a in vs.items():
            for i in range(n):
                np.testing.assert_array_equal(got.states[k][var][i, :run[i]], a[i, :run[i]],
                                              err_msg=f"{label}: state {k}.{var} of input {i}")


# ----------------------------------------------------------------------------------------------
# Random graphs
# ----------------------------------------------------------------------------------------------

NEURON_KINDS = ("IF", "LIF", "LI", "CubaLIF", "CubaLI", "ALIF", "Threshold")


@st.composite
def neuron(draw, name: str, shape: tuple, spiking: bool, rng: np.random.Generator) -> ir.Node:
    kind = draw(st.sampled_from(NEURON_KINDS if not spiking else ("IF", "LIF", "CubaLIF", "ALIF", "Threshold")))
    f = lambda lo, hi: rng.uniform(lo, hi, shape)  # noqa: E731
    if kind == "Threshold":  # stateless: a threshold and a spike rule, nothing else
        return ir.Threshold(name=name, threshold=f(0.2, 2.0), spike_rule=draw(st.sampled_from([">", ">="])))
    decay = lambda: np.clip(f(-0.2, 1.2), 0.0, 1.0)  # noqa: E731  (exact 0 and 1 included)
    kw = dict(name=name, gain=f(0.5, 2.0), bias=f(-0.1, 0.2) * draw(st.sampled_from([0.0, 1.0])))
    if kind in ("LIF", "LI", "CubaLIF", "CubaLI", "ALIF"):
        kw["alpha"] = decay()
    if kind in ("CubaLIF", "CubaLI"):
        kw.update(alpha_syn=decay(), gain_syn=f(0.5, 2.0), syn_delay=draw(st.booleans()))
    if kind in ("IF", "LIF", "CubaLIF"):
        reset = draw(st.sampled_from(["zero", "value", "subtract", "subtract_late"]))
        thr = f(0.5, 2.0)
        kw.update(threshold=thr, v_reset=thr * rng.uniform(-0.5, 0.5, shape),
                  spike_rule=draw(st.sampled_from([">", ">="])),
                  reset="subtract" if reset == "subtract_late" else reset, reset_late=reset == "subtract_late",
                  max_spikes=draw(st.sampled_from([1, 1, 3, 255])) if reset.startswith("subtract") else 1)
    if kind == "ALIF":
        kw.update(rho=decay(), b0=f(0.5, 1.5), beta=f(0.0, 1.0), spike_rule=draw(st.sampled_from([">", ">="])))
    return ir.NODE_TYPES[kind](**kw)


@st.composite
def random_graph(draw) -> ir.Graph:
    """A chain of blocks from an Input to an Output, with optional recurrent and skip edges."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    nodes: dict[str, ir.Node] = {}
    edges: list[tuple[str, str]] = []
    counter = iter(range(1000))

    def add(node, *srcs):
        nodes[node.name] = node
        edges.extend((s, node.name) for s in srcs)
        return node.name

    def w(*shape, gain=1.0):
        return rng.normal(0.0, gain / np.sqrt(max(1, np.prod(shape[1:]))), shape) * 1.5

    rank = draw(st.sampled_from([1, 2, 3]))
    shape = {1: (draw(st.integers(1, 12)),), 2: (draw(st.integers(1, 3)), draw(st.integers(3, 10))),
             3: (draw(st.integers(1, 3)), draw(st.integers(3, 8)), draw(st.integers(3, 8)))}[rank]
    cur = add(ir.Input(name="x", shape=shape))
    last_neuron = None  # the latest spiking layer, for a skip connection to the readout
    for _ in range(draw(st.integers(1, 3))):
        i = next(counter)
        op = draw(st.sampled_from({1: ["dense", "dense", "scale"], 2: ["conv1d", "flatten"],
                                   3: ["conv2d", "conv2d", "pool", "flatten"]}[len(shape)]))
        if op == "flatten":
            start = draw(st.integers(0, len(shape) - 1))
            node = ir.Flatten(name=f"flat{i}", start_dim=start, end_dim=draw(st.sampled_from([-1, len(shape) - 1])))
            cur = add(node, cur)
            shape = node.out_shape(shape)
            if len(shape) > 1:  # flatten the rest too, to reach a dense layer
                node = ir.Flatten(name=f"flat{i}b")
                cur = add(node, cur)
                shape = node.out_shape(shape)
            continue
        if op == "pool":
            k = draw(st.integers(1, 3))
            if min(shape[1:]) < k:
                continue
            cls = draw(st.sampled_from([ir.SumPool2d, ir.AvgPool2d]))
            node = cls(name=f"pool{i}", kernel_size=(k, draw(st.integers(1, min(3, shape[2])))),
                       stride=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), padding=(draw(st.integers(0, 1)), 0))
            try:
                shape = node.out_shape(shape)
            except Exception:
                continue
            cur = add(node, cur)
            continue
        if op in ("conv1d", "conv2d"):
            groups = draw(st.sampled_from([1, shape[0]]))
            c_out = groups * draw(st.integers(1, 3))
            nsp = 1 if op == "conv1d" else 2
            ks = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
            kw = dict(weight=w(c_out, shape[0] // groups, *ks, gain=2.0), bias=rng.normal(0, 0.2, c_out)
                      * draw(st.sampled_from([0.0, 1.0])), groups=groups,
                      stride=tuple(draw(st.integers(1, 2)) for _ in range(nsp)),
                      padding=tuple(draw(st.integers(0, 1)) for _ in range(nsp)),
                      dilation=tuple(draw(st.integers(1, 2)) for _ in range(nsp)))
            node = (ir.Conv1d if nsp == 1 else ir.Conv2d)(name=f"conv{i}", **kw)
            try:
                out = node.out_shape(shape)
            except Exception:
                continue
            syn = add(node, cur)
            neu = draw(neuron(f"n{i}", out, True, rng))
            # conv targets need one gain per channel
            for key in ("gain", "gain_syn"):
                if hasattr(neu, key):
                    a = getattr(neu, key)
                    setattr(neu, key, np.broadcast_to(a.reshape(a.shape[0], -1)[:, :1].reshape(
                        a.shape[0], *[1] * (a.ndim - 1)), a.shape).copy())
            cur = add(neu, syn)
            shape = out
            last_neuron = cur
            continue
        # dense or scale on a 1-D shape
        n_out = shape[0] if op == "scale" else draw(st.integers(1, 16))
        if op == "scale":
            syn = add(ir.Scale(name=f"scale{i}", scale=rng.uniform(-1.5, 2.0, shape)), cur)
        elif draw(st.booleans()):
            syn = add(ir.Affine(name=f"fc{i}", weight=w(n_out, shape[0], gain=3.0),
                                bias=rng.normal(0, 0.2, n_out)), cur)
        else:
            syn = add(ir.Linear(name=f"fc{i}", weight=w(n_out, shape[0], gain=3.0)), cur)
        neu_name = f"n{i}"
        extra = []
        if draw(st.booleans()):  # recurrent weights from the layer's own spikes (a back edge into it)
            extra.append(add(ir.Linear(name=f"rec{i}", weight=w(n_out, n_out)), neu_name))
        nodes[neu_name] = draw(neuron(neu_name, (n_out,), True, rng))
        edges.append((syn, neu_name))
        edges.extend((e, neu_name) for e in extra)
        cur = neu_name
        shape = (n_out,)
        last_neuron = cur
    if len(shape) > 1:
        cur = add(ir.Flatten(name="flat_out"), cur)
        shape = (int(np.prod(shape)),)
    k = draw(st.integers(1, 6))
    srcs = [cur]
    if shape == nodes["x"].shape and cur != "x" and draw(st.booleans()):
        srcs.append("x")  # a weighted layer summing two spike sources
    ro = add(ir.Affine(name="fc_out", weight=w(k, shape[0], gain=3.0), bias=rng.normal(0, 0.1, k)), *srcs)
    feeders = [ro]
    if last_neuron is not None and len(nodes[last_neuron].neuron_shape) == 1 and draw(st.booleans()):
        feeders.append(add(ir.Linear(name="skip", weight=w(k, nodes[last_neuron].size)), last_neuron))
    out_neuron = draw(neuron("readout", (k,), False, rng))
    nodes["readout"] = out_neuron
    edges.extend((f, "readout") for f in feeders)
    add(ir.Output(name="y", shape=(k,)), "readout")
    return ir.Graph(nodes, edges, 1e-3)


@st.composite
def quant_config(draw) -> QuantConfig:
    state = draw(st.integers(8, 32))
    return QuantConfig(weight_bits=draw(st.integers(1, 16)), state_bits=state, current_bits=draw(st.integers(8, 32)),
                       adapt_bits=draw(st.integers(4, 16)), threshold_bits=draw(st.integers(2, state)),
                       decay_bits=draw(st.integers(2, 16)),
                       rounding=draw(st.sampled_from(["truncate", "nearest", "stochastic"])),
                       seed=draw(st.integers(0, 2 ** 32 - 1)))


def reference(qgraph, x, record_states=True):
    return simulate_fixed(qgraph, x, record_states=record_states)


# ----------------------------------------------------------------------------------------------
# Threshold (NIR's stateless spike generator)
# ----------------------------------------------------------------------------------------------

def threshold_graph(rule: str = ">=") -> ir.Graph:
    """Input(6) -> fc1 (Affine) -> th1 (Threshold '>', with a recurrent Linear from itself) -> fc2 (Linear)
    -> th2 (Threshold, `rule`) -> Output, every number a multiple of 1/64 with the largest weight 127/64: at
    8-bit weights the unit is 1/64, so float32 and fixed point compute the same integers and ties hit the
    thresholds exactly."""
    rng = np.random.default_rng(13)
    u = 1 / 64
    w1 = rng.integers(-40, 90, (4, 6)) * u
    w1[0, 0] = 127 * u                                    # sets the unit: 127/64 / 127
    rec = rng.integers(-30, 30, (4, 4)) * u
    w2 = rng.integers(-20, 70, (3, 4)) * u
    w2[1, 2] = 127 * u
    nodes = {"x": ir.Input(name="x", shape=(6,)),
             "fc1": ir.Affine(name="fc1", weight=w1, bias=rng.integers(-8, 8, 4) * u),
             "rec": ir.Linear(name="rec", weight=rec),
             "th1": ir.Threshold(name="th1", threshold=np.array([64, 96, 128, 80]) * u),
             "fc2": ir.Linear(name="fc2", weight=w2),
             "th2": ir.Threshold(name="th2", threshold=np.array([40, 64, 100]) * u, spike_rule=rule),
             "y": ir.Output(name="y", shape=(3,))}
    edges = [("x", "fc1"), ("fc1", "th1"), ("th1", "rec"), ("rec", "th1"), ("th1", "fc2"), ("fc2", "th2"),
             ("th2", "y")]
    return ir.Graph(nodes, edges, 1e-3)


def threshold_mixed_graph(seed: int = 0) -> ir.Graph:
    """Input(10) -> fc1 -> th (Threshold) -> fc2 -> lif (LIF, subtract) -> fc3 -> ro (LI) -> Output: a Threshold
    between stateful layers, whose noise streams (stochastic rounding) are numbered past it."""
    rng = np.random.default_rng(seed)
    nodes = {"x": ir.Input(name="x", shape=(10,)),
             "fc1": ir.Affine(name="fc1", weight=rng.normal(0, 0.6, (12, 10)), bias=rng.normal(0, 0.1, 12)),
             "th": ir.Threshold(name="th", threshold=rng.uniform(0.2, 0.8, 12)),
             "fc2": ir.Linear(name="fc2", weight=rng.normal(0.1, 0.5, (8, 12))),
             "lif": ir.LIF(name="lif", gain=np.ones(8), bias=np.zeros(8), alpha=rng.uniform(0.6, 0.95, 8),
                           threshold=np.ones(8), v_reset=np.zeros(8), reset="subtract"),
             "fc3": ir.Affine(name="fc3", weight=rng.normal(0, 0.5, (4, 8)), bias=np.zeros(4)),
             "ro": ir.LI(name="ro", gain=np.ones(4), bias=np.zeros(4), alpha=np.full(4, 0.9)),
             "y": ir.Output(name="y", shape=(4,))}
    edges = [("x", "fc1"), ("fc1", "th"), ("th", "fc2"), ("fc2", "lif"), ("lif", "fc3"), ("fc3", "ro"), ("ro", "y")]
    return ir.Graph(nodes, edges, 1e-3)
