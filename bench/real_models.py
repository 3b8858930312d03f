"""The real-sized benchmark models: seeded, generated here rather than stored (their weights are megabytes).

    mnist_mlp()    784-512-256-10 LIF MLP                              (MNIST-sized)
    nmnist_cnn()   2x34x34, 12c5 - pool2 - 32c5 - pool2 - fc10 LIF    (N-MNIST-sized)
    shd_rnn()      700 - 256 recurrent LIF - 20 readout                (SHD-sized)

Weights are random (normal, fan-in scaled), then each layer's gain is set so that its neurons fire at
5-10 % of steps on Bernoulli inputs at a 10 % rate, layer by layer in the float simulator: the activity a
trained network of that size shows, which is what sizes, synaptic-op counts and neuron updates depend on.
Accuracy means nothing here: these models measure memory and speed, the example models accuracy.
"""

from __future__ import annotations

import numpy as np

from edgesnn.graph import Graph, ir
from edgesnn.graph.simulate import simulate

STEPS = 16
INPUT_RATE = 0.10
TARGET_RATE = (0.05, 0.10)


def spike_inputs(shape: tuple[int, ...], n: int = 4, steps: int = STEPS, rate: float = INPUT_RATE,
                 seed: int = 0) -> np.ndarray:
    """Bernoulli spike trains [n, steps, *shape] at `rate`."""
    return (np.random.default_rng(seed).random((n, steps, *shape)) < rate).astype(np.uint8)


def _lif(name: str, shape) -> ir.LIF:
    one = np.ones(shape, np.float32)
    return ir.LIF(name=name, gain=one, bias=np.zeros(shape, np.float32), threshold=one.copy(),
                  v_reset=np.zeros(shape, np.float32), alpha=np.full(shape, 0.9, np.float32), reset="subtract")


def _li(name: str, n: int) -> ir.LI:
    return ir.LI(name=name, gain=np.ones(n, np.float32), bias=np.zeros(n, np.float32),
                 alpha=np.full(n, 0.9, np.float32))


def _affine(name: str, n_in: int, n_out: int, rng) -> ir.Affine:
    w = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32)
    return ir.Affine(name=name, weight=w, bias=np.zeros(n_out, np.float32))


def _conv(name: str, c_in: int, c_out: int, k: int, rng) -> ir.Conv2d:
    w = rng.normal(0, 1 / np.sqrt(c_in * k * k), (c_out, c_in, k, k)).astype(np.float32)
    return ir.Conv2d(name=name, weight=w, bias=np.zeros(c_out, np.float32))


def _chain(names_nodes: list[ir.Node], extra_nodes=(), extra_edges=(), dt: float = 1e-3) -> Graph:
    """The nodes in a chain (each feeds the next), plus `extra_nodes` wired by `extra_edges`."""
    nodes = {nd.name: nd for nd in [*names_nodes, *extra_nodes]}
    edges = [(a.name, b.name) for a, b in zip(names_nodes, names_nodes[1:])] + list(extra_edges)
    return Graph(nodes, edges, dt)


def spike_rate(result, name: str, neurons: int) -> float:
    """Mean spikes per neuron and step of layer `name` in a simulation result."""
    spikes = result.counts[name]["spikes_out"]
    return float(spikes.sum()) / (spikes.shape[0] * spikes.shape[1] * neurons)


def tune_rates(graph: Graph, x: np.ndarray, neurons: list[str], target=TARGET_RATE) -> Graph:
    """Scales each listed spiking layer's gain, first to last, until its mean firing rate on `x` lies in
    `target` (a geometric bisection on the gain; later layers see the earlier ones' tuned activity)."""
    for name in neurons:
        node = graph.nodes[name]
        lo, hi = 1e-3, 1e3
        for _ in range(40):
            gain = float(np.sqrt(lo * hi))
            node.gain = np.full_like(node.gain, gain)
            res = simulate(graph, x)
            rate = spike_rate(res, name, node.gain.size)
            if rate < target[0]:
                lo = gain
            elif rate > target[1]:
                hi = gain
            else:
                break
    return graph


def mnist_mlp(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = _chain([ir.Input(name="input", shape=(784,)), _affine("fc1", 784, 512, rng), _lif("lif1", 512),
                _affine("fc2", 512, 256, rng), _lif("lif2", 256), _affine("fc3", 256, 10, rng), _lif("lif3", 10),
                ir.Output(name="output", shape=(10,))])
    return tune_rates(g, spike_inputs((784,), n=16, seed=seed), ["lif1", "lif2", "lif3"])


def nmnist_cnn(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = _chain([ir.Input(name="input", shape=(2, 34, 34)), _conv("conv1", 2, 12, 5, rng), _lif("lif1", (12, 30, 30)),
                ir.SumPool2d(name="pool1", kernel_size=(2, 2), stride=(2, 2)), _conv("conv2", 12, 32, 5, rng),
                _lif("lif2", (32, 11, 11)), ir.SumPool2d(name="pool2", kernel_size=(2, 2), stride=(2, 2)),
                ir.Flatten(name="flat"), _affine("fc", 32 * 5 * 5, 10, rng), _lif("lif3", 10),
                ir.Output(name="output", shape=(10,))])
    return tune_rates(g, spike_inputs((2, 34, 34), n=2, seed=seed), ["lif1", "lif2", "lif3"])


def shd_rnn(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    fc_in, lif, rec = _affine("fc_in", 700, 256, rng), _lif("lif1", 256), _affine("rec", 256, 256, rng)
    g = _chain([ir.Input(name="input", shape=(700,)), fc_in, lif, _affine("fc_out", 256, 20, rng), _li("li", 20),
                ir.Output(name="output", shape=(20,))], extra_nodes=[rec], extra_edges=[("lif1", "rec"), ("rec", "lif1")])
    return tune_rates(g, spike_inputs((700,), seed=seed), ["lif1"])


MODELS = {"mnist_mlp": mnist_mlp, "nmnist_cnn": nmnist_cnn, "shd_rnn": shd_rnn}
