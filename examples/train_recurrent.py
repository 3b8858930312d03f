"""Recurrent spiking networks on sequential digits: adaptive (ALIF) vs plain LIF neurons of the same size.

    python examples/train_recurrent.py                 # 4 models, 2 at a time (a few minutes on 2 cores)
    python examples/train_recurrent.py --only psdigits_alif --epochs 5

Each 8x8 digit is fed one pixel per time step (64 steps), its level coded as spikes on 4 input
channels (`edgesnn.data.sequential_pixels`: channel k spikes when the intensity exceeds k/4), in
row-major order (seqdigits) or in one fixed random order (psdigits, permutation seed 2024, the
same for every digit). The network, the same for both neuron kinds:

    4 -> Affine -> Recurrent(64 neurons, W_rec 64x64) -> Affine -> LI(10)

    ALIF  per-neuron learnable tau_m in [3, 30] steps and tau_adp in [20, 300] steps at the start
          (log-uniform), alpha = exp(-1/tau_m), rho = exp(-1/tau_adp), base threshold b0 = 0.3
          (learnt), adaptation beta = 1.8
    LIF   per-neuron learnable alpha, its tau_m drawn the same way, threshold 1 (learnt)

The prediction is the class whose readout membrane summed over the 64 steps is largest
(`SimResult.pred`). Training: cross-entropy on that sum (x 0.1), Adam + cosine schedule, the
epoch with the best validation accuracy kept. The settings per kind are the best of a small
exploration on the permuted validation split (examples/README.md lists it).

Writes, under examples/:
    models/{seqdigits,psdigits}_{alif,lif}.json   the models (LIF ones also as .nir; ALIF has no NIR form)
    data/{seqdigits,psdigits}_{test,val}.npz      the coded test and validation splits, uint8 [N, 64, 4]
    models/results.json                           one entry per model (float and fixed-point accuracy,
                                                  synaptic operations per digit, settings, time)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from edgesnn.artifact import save_json  # noqa: E402
from edgesnn.data import save_dataset, sequential_pixels  # noqa: E402

STEPS = 64
LEVELS = 4
HIDDEN = 64
PERM_SEED = 2024
TASKS = {"seqdigits": "row-major pixel order", "psdigits": f"fixed permuted pixel order (seed {PERM_SEED})"}
SETTINGS = {  # chosen on the permuted validation split (see examples/README.md)
    "alif": dict(epochs=100, lr=1e-2, batch_size=64, logit_scale=0.1),
    "lif": dict(epochs=100, lr=3e-3, batch_size=64, logit_scale=0.1),
}
NEURON = {
    "alif": {"tau_m": (3, 30), "tau_adp": (20, 300), "b0": 0.3, "beta": 1.8},
    "lif": {"tau_m": (3, 30), "threshold": 1.0, "alpha_max": 0.999},
}


def permutation(task: str) -> np.ndarray | None:
    return np.random.default_rng(PERM_SEED).permutation(STEPS) if task == "psdigits" else None


def coded_splits(task: str):
    from train_examples import splits
    x_tr, y_tr, x_va, y_va, x_te, y_te = splits()
    p = permutation(task)
    return [(sequential_pixels(x, LEVELS, p), y) for x, y in ((x_tr, y_tr), (x_va, y_va), (x_te, y_te))]


def build(kind: str, seed: int = 0):
    import torch
    from edgesnn.train import ALIF, LI, LIF, SNN, Affine, Recurrent
    torch.manual_seed(seed)
    nc = NEURON[kind]
    if kind == "alif":
        neuron = ALIF((HIDDEN,), tau_m=nc["tau_m"], tau_adp=nc["tau_adp"], b0=nc["b0"], beta=nc["beta"])
    else:
        neuron = LIF((HIDDEN,), threshold=nc["threshold"], alpha_max=nc["alpha_max"])
        lo, hi = (math.log(t) for t in nc["tau_m"])
        with torch.no_grad():
            neuron.alpha.copy_(torch.exp(-1 / torch.exp(torch.empty(HIDDEN).uniform_(lo, hi))))
    return SNN((LEVELS,), Affine(LEVELS, HIDDEN), Recurrent(neuron), Affine(HIDDEN, 10), LI((10,)))


def train_one(task: str, kind: str, epochs: int | None, progress: bool, out: Path) -> dict:
    """Train one model, write its files, return its results entry (runs in a worker process)."""
    import torch
    from edgesnn.graph.nir_io import write_nir
    from edgesnn.quantize import QuantConfig, quantize
    from edgesnn.graph.simulate import simulate
    from edgesnn.quantize.reference import simulate_fixed
    from edgesnn.train import TrainConfig, fit, predict, to_graph

    (tr, y_tr), (va, y_va), (te, y_te) = coded_splits(task)
    settings = dict(SETTINGS[kind], **({"epochs": epochs} if epochs else {}))
    model = build(kind)
    cfg = TrainConfig(seed=0, threads=1, progress=progress, keep_best=True, **settings)
    t0 = time.perf_counter()
    res = fit(model, tr, y_tr, cfg, val=(va, y_va))
    seconds = time.perf_counter() - t0
    name = f"{task}_{kind}"
    graph = to_graph(model, (LEVELS,), dt=1e-3, meta={
        "name": name, "steps": STEPS,
        "dataset": f"sklearn digits 8x8, one pixel per step, {TASKS[task]}, {LEVELS}-level coded",
        "permutation_seed": PERM_SEED if task == "psdigits" else None})
    sim = simulate(graph, te)
    torch_pred, _ = predict(model, te)
    val_acc = float(np.mean(simulate(graph, va).pred == y_va))
    qcfg = QuantConfig(weight_bits=8, state_bits=16)
    fx = simulate_fixed(quantize(graph, qcfg, va), te)
    graph.save(out / "models" / f"{name}.json")
    if kind == "lif":
        write_nir(graph, out / "models" / f"{name}.nir")
    totals, fxt = sim.totals(), fx.totals()
    n = len(y_te)
    entry = {
        "model": f"{name}.json",
        **({"nir": f"{name}.nir"} if kind == "lif" else {}),
        "test_data": f"{task}_test.npz",
        "val_data": f"{task}_val.npz",
        "test_samples": int(n),
        "steps": STEPS,
        "accuracy": float(np.mean(sim.pred == y_te)),  # the official figure: simulate on test_data
        "accuracy_simulate": float(np.mean(sim.pred == y_te)),
        "accuracy_torch": float(np.mean(torch_pred == y_te)),
        "prediction_agreement_simulate_torch": float(np.mean(torch_pred == sim.pred)),
        "val_accuracy_simulate": val_acc,
        "accuracy_fixed": float(np.mean(fx.pred == y_te)),
        "fixed_config": {"weight_bits": 8, "state_bits": 16, "rounding": "nearest", "calibration": "val_data"},
        "neuron": kind.upper(),
        "hidden": HIDDEN,
        "neuron_init": {k: list(v) if isinstance(v, tuple) else v for k, v in NEURON[kind].items()},
        "input_coding": f"one pixel per step, {LEVELS}-level thermometer code ({TASKS[task]})",
        "parameters": graph.parameter_count(),
        "trainable_parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "train_seconds": round(seconds, 1),
        "epochs": settings["epochs"],
        "best_epoch": res.best_epoch,
        "train_config": {k: v for k, v in vars(cfg).items() if k != "progress"},
        "spikes_out_per_sample": {k: round(v["spikes_out"] / n, 2) for k, v in totals.items() if v["spikes_out"]},
        "synops_per_sample": round(sum(v["synops"] for v in totals.values()) / n, 1),
        "synops_per_sample_fixed": round(sum(v["synops"] for v in fxt.values()) / n, 1),
        "command": f"python examples/train_recurrent.py --only {name}",
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if kind == "alif":
        node = graph.nodes["alif1"]
        entry["learnt_time_constants_steps"] = {
            "tau_m_median": round(float(np.median(-1 / np.log(node.alpha))), 2),
            "tau_adp_median": round(float(np.median(-1 / np.log(node.rho))), 2),
            "tau_adp_max": round(float(np.max(-1 / np.log(node.rho))), 2)}
    return entry


def main(argv=None) -> int:
    names = [f"{t}_{k}" for t in TASKS for k in SETTINGS]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=names, action="append", help="train only this model (repeatable)")
    ap.add_argument("--epochs", type=int, help="override the number of epochs (for a quick try)")
    ap.add_argument("--jobs", type=int, default=2, help="models trained at once, one CPU thread each (default 2)")
    ap.add_argument("--out", type=Path, default=HERE, help="folder to write models/ and data/ under")
    ap.add_argument("--progress", action="store_true", help="tqdm bars (one job at a time reads best)")
    args = ap.parse_args(argv)
    from tabulate import tabulate

    for task in TASKS:
        _, (va, y_va), (te, y_te) = coded_splits(task)
        save_dataset(args.out / "data" / f"{task}_test.npz", te, y_te)
        save_dataset(args.out / "data" / f"{task}_val.npz", va, y_va)
    todo = args.only or names
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {n: pool.submit(train_one, *n.split("_"), args.epochs, args.progress, args.out) for n in todo}
        entries = {n: f.result() for n, f in futures.items()}
    results_path = args.out / "models" / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.update(entries)
    save_json(results_path, results)
    rows = [[n, e["neuron"], e["hidden"], f"{100 * e['accuracy']:.2f}", f"{100 * e['accuracy_fixed']:.2f}",
             f"{100 * e['val_accuracy_simulate']:.2f}", f"{e['synops_per_sample']:,.0f}",
             f"{sum(e['spikes_out_per_sample'].values()):,.0f}", e["best_epoch"], e["train_seconds"]]
            for n, e in entries.items()]
    print(tabulate(rows, ["model", "neuron", "size", "test % (float)", "test % (fixed w8/s16)", "val %",
                          "synops / digit", "spikes / digit", "best epoch", "train s"], tablefmt="simple_outline"))
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
