#!/usr/bin/env python3
"""Host throughput of the fixed-point C runtime against its peers, measured in one run.

For each example model (digits MLP and CNN, 16 time steps) and batch sizes 1 and 256, it times:

    fixed-c        the C runtime through cffi (8-bit weights, 16-bit state), batch loop in C
    fixed-python   the numpy fixed-point reference (the specification)
    float-numpy    the numpy float reference simulator
    snntorch       the same network in snnTorch 1.0 on the CPU (Leaky neurons with the model's
                   per-neuron beta and threshold; torch's default thread count)

and prints inputs per second, synaptic operations per second (from the runtime's own counters)
and the ratios of fixed-c to each peer. Target (issue "fixed-point core"): fixed-c at least 20x
faster than snnTorch at batch 1 on the example MLP.

Needs torch and snntorch for the last column (`pip install torch==2.13.0 snntorch`); without them
that column reads "n/a". Run: `.venv/bin/python bench/bench_host.py [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgesnn.data import load_dataset  # noqa: E402
from edgesnn.emit.blob import to_blob  # noqa: E402
from edgesnn.graph import Graph, ir  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402
from edgesnn.runtime import CModel  # noqa: E402
from edgesnn.graph.simulate import simulate  # noqa: E402
from edgesnn.quantize.reference import simulate_fixed  # noqa: E402


def best_time(fn, repeat: int, budget_s: float = 20.0) -> float:
    """Fastest of `repeat` runs (after one warm-up), stopping early past the time budget."""
    fn()
    best, spent = float("inf"), 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
        if spent > budget_s:
            break
    return best


def snntorch_model(graph: Graph):
    """The graph as a torch.nn.Module of snnTorch Leaky layers, for timing (not bit-exactness:
    snnTorch subtracts its reset one step late)."""
    import snntorch as snn
    import torch
    from torch import nn

    sched = graph.schedule()
    layers = []
    for name in sched.order:
        n = graph.nodes[name]
        if isinstance(n, ir.Affine) or isinstance(n, ir.Linear):
            lin = nn.Linear(n.weight.shape[1], n.weight.shape[0], bias=isinstance(n, ir.Affine))
            lin.weight.data = torch.tensor(n.weight, dtype=torch.float32)
            if isinstance(n, ir.Affine):
                lin.bias.data = torch.tensor(n.bias, dtype=torch.float32)
            layers.append(lin)
        elif isinstance(n, ir.Conv2d):
            conv = nn.Conv2d(n.weight.shape[1] * n.groups, n.weight.shape[0], n.weight.shape[2:], stride=n.stride,
                             padding=n.padding, dilation=n.dilation, groups=n.groups)
            conv.weight.data = torch.tensor(n.weight, dtype=torch.float32)
            conv.bias.data = torch.tensor(n.bias, dtype=torch.float32)
            layers.append(conv)
        elif isinstance(n, ir.SumPool2d):
            k = n.kernel_size[0] * n.kernel_size[1]
            pool = nn.AvgPool2d(n.kernel_size, n.stride, n.padding)
            layers.append(nn.Sequential(pool, _Mul(float(k))))
        elif isinstance(n, ir.Flatten):
            layers.append(nn.Flatten(start_dim=1 + n.start_dim))
        elif isinstance(n, ir.LIF):
            layers.append(snn.Leaky(beta=torch.tensor(n.alpha, dtype=torch.float32),
                                    threshold=torch.tensor(n.threshold, dtype=torch.float32),
                                    reset_mechanism="subtract", init_hidden=True))
    net = nn.Sequential(*layers)

    def run(x: np.ndarray) -> np.ndarray:
        xt = torch.tensor(x, dtype=torch.float32)
        outs = []
        with torch.no_grad():
            for m in net:
                if isinstance(m, snn.Leaky):
                    m.reset_hidden()
            for t in range(xt.shape[1]):
                outs.append(net(xt[:, t]))
        return torch.stack(outs, 1).numpy()
    return run


class _Mul:  # a tiny module: SumPool = AvgPool x k
    def __new__(cls, k):
        from torch import nn

        class Mul(nn.Module):
            def forward(self, x):
                return x * k
        return Mul()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    try:
        import snntorch  # noqa: F401
        import torch
        torch_note = f"snnTorch {snntorch.__version__}, torch {torch.__version__} with {torch.get_num_threads()} threads"
    except ImportError:
        torch = None
        torch_note = "snnTorch not installed: `pip install torch==2.13.0 snntorch`"

    rows, ratios = [], []
    for name, data in (("digits_mlp", "digits_test.npz"), ("digits_cnn", "digits_test.npz")):
        graph = Graph.load(ROOT / "examples" / "models" / f"{name}.json")
        x_all, _ = load_dataset(ROOT / "examples" / "data" / data)
        x_all = x_all.reshape(*x_all.shape[:2], *graph.input.shape)
        q = quantize(graph, QuantConfig(weight_bits=8, state_bits=16))
        cmodel = CModel(to_blob(q))
        run_torch = snntorch_model(graph) if torch is not None else None
        for batch in (1, 256):
            x = np.resize(x_all, (batch, *x_all.shape[1:]))
            synops = int(sum(c["synops"].sum() for c in cmodel.run(x).counts.values()))
            t = {"fixed-c": best_time(lambda: cmodel.run(x), args.repeat),
                 "fixed-python": best_time(lambda: simulate_fixed(q, x), args.repeat),
                 "float-numpy": best_time(lambda: simulate(graph, x), args.repeat),
                 "snntorch": best_time(lambda: run_torch(x), args.repeat) if run_torch else None}
            rows.append([name, batch] + [f"{batch / v:,.0f}" if v else "n/a" for v in t.values()]
                        + [f"{synops / t['fixed-c'] / 1e6:,.1f}"])
            ratios.append([name, batch] + [f"{v / t['fixed-c']:.1f}x" if v else "n/a"
                                           for k, v in t.items() if k != "fixed-c"])
    print(f"host throughput, {x_all.shape[1]} time steps per input; {torch_note}\n")
    print(tabulate(rows, ["model", "batch", "fixed-c inputs/s", "fixed-python inputs/s", "float-numpy inputs/s",
                          "snntorch inputs/s", "fixed-c Msynops/s"], tablefmt="simple_outline"))
    print("\nfixed-c speed-up over each peer (same inputs, same run):")
    print(tabulate(ratios, ["model", "batch", "vs fixed-python", "vs float-numpy", "vs snntorch"],
                   tablefmt="simple_outline"))
    mlp1 = next(r for r in ratios if r[0] == "digits_mlp" and r[1] == 1)[-1]
    verdict = "n/a" if mlp1 == "n/a" else ("met" if float(mlp1[:-1]) >= 20 else "NOT met")
    print(f"\ntarget: fixed-c >= 20x snnTorch at batch 1 on digits_mlp: {mlp1} -> {verdict}")


if __name__ == "__main__":
    main()
