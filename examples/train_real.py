"""Train the real-sized example models (the architectures of bench/real_models.py) and save them small.

    python examples/train_real.py                        # all four, one after another (~40 min on one core)
    python examples/train_real.py --only mnist_mlp --epochs 2
    python examples/train_real.py --only shd_lif --seed 1 --out examples/data/real/seeds/seed1   # another seed

    nmnist_cnn   2x34x34 -> Conv 12@5x5 -> LIF -> SumPool 2 -> Conv 32@5x5 -> LIF -> SumPool 2 -> Flatten
                 -> Affine(800, 10) -> LIF(10), on event-camera digits (examples/make_event_digits.py: the
                 N-MNIST recording recipe imitated on scikit-learn's 8x8 digits; NOT N-MNIST), binned at
                 that script's default, 20 ms x 15 steps, 2 polarities: [N, 15, 2, 34, 34]
    mnist_mlp    784 -> Affine -> LIF(512) -> Affine -> LIF(256) -> Affine -> LIF(10), on the 8x8 digits
                 upsampled bilinearly to 28x28 (as make_event_digits does), rate-coded over 16 steps; NOT MNIST
    shd_alif     700 -> Affine -> Recurrent ALIF(256) -> Affine -> LI(10), on 700-channel spike sequences
    shd_lif      the same with LIF neurons, on the same sequences (examples/make_sequence_digits.py: an
                 SHD-shaped task made from the 8x8 digits, 20 ms x 50 steps: [N, 50, 700]; NOT SHD). The
                 readout has 10 classes (digits), not SHD's 20.

Each model is trained in float (surrogate gradients, Adam, cosine schedule, the best validation epoch kept),
then fine-tuned with quantization in the loop at 4-bit weights (edgesnn.train.qat_finetune, 16-bit state,
nearest rounding, calibrated on the first CALIB validation inputs). Its weights are then set to the
deployed grid (integer times the layer's scale), so the saved float graph is the 4-bit model, stored 4-bit
packed (Graph.save(compact=True): exact, an eighth of float32's bytes; per-channel neuron parameters as palettes).

Data: the split of examples/train_examples.py (1222 train / 215 val / 360 test digits). Event and sequence
recordings and rate codes are made in chunks of CHUNK digits, chunk k of a split with seed base + k, so the
first CHUNK test digits can be regenerated alone (the tests do). Nothing generated is committed: the
validation and test sets go to examples/data/real/ (git-ignored), rewritten by every run.

The models and their results.json go to examples/models/real/, not examples/models/: what enumerates the
small examples there (the runtime's bit-exactness and sanitizer tests, the loader fuzzer, calibration's
held-out models, the demo, bench_memory) stays as fast as it was.

Everything is seeded; training runs on CPU, one torch thread, deterministic algorithms. --seed N (default 0, the
committed models: retrained, shd_lif.json comes back byte for byte) changes the initialisation and the shuffling,
not the data; examples/seeds_real.py trains and caches seeds 1.. this way for its ALIF-vs-LIF study.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from edgesnn.artifact import save_json  # noqa: E402
from edgesnn.data import rate_code, save_dataset  # noqa: E402

MODELS_DIR = Path("models") / "real"   # beside, not among, the small examples that tests and calibration sweep
CHUNK = 64
CALIB = 64
SEEDS = {"train": 100, "val": 200, "test": 300}   # + chunk index
EVENT_DT_US, EVENT_STEPS = 20_000, 15           # make_event_digits' defaults
SEQ_DT_US, SEQ_STEPS, SEQ_CHANNELS = 20_000, 50, 700
MLP_STEPS, MLP_SIZE = 16, 28
HIDDEN_RNN = 256
WEIGHT_BITS, STATE_BITS = 4, 16

TASKS = {"nmnist_cnn": "events", "mnist_mlp": "upsampled", "shd_alif": "sequence", "shd_lif": "sequence"}
SHAPES = {"events": (2, 34, 34), "upsampled": (MLP_SIZE * MLP_SIZE,), "sequence": (SEQ_CHANNELS,)}
DATASETS = {
    "events": "event-camera digits: sklearn 8x8 digits through the N-MNIST recipe (make_event_digits.py), "
              f"{EVENT_STEPS} x {EVENT_DT_US // 1000} ms bins, 2 polarities; not N-MNIST",
    "upsampled": f"sklearn 8x8 digits upsampled bilinearly to {MLP_SIZE}x{MLP_SIZE}, rate-coded over "
                 f"{MLP_STEPS} steps; not MNIST",
    "sequence": f"sklearn 8x8 digits read as {SEQ_CHANNELS}-channel spike sequences (make_sequence_digits.py), "
                f"{SEQ_STEPS} x {SEQ_DT_US // 1000} ms bins; not SHD",
}
# float epochs + QAT epochs, chosen so that each model trains in about 10 min or less on one core
SETTINGS = {
    "nmnist_cnn": dict(epochs=6, batch_size=32, lr=3e-3, logit_scale=0.5, qat_epochs=1, qat_lr=5e-4),
    "mnist_mlp": dict(epochs=30, batch_size=64, lr=1e-3, logit_scale=0.5, qat_epochs=4, qat_lr=2e-4),
    "shd_alif": dict(epochs=20, batch_size=64, lr=5e-3, logit_scale=0.1, qat_epochs=3, qat_lr=5e-4),
    "shd_lif": dict(epochs=20, batch_size=64, lr=3e-3, logit_scale=0.1, qat_epochs=3, qat_lr=5e-4),
}


def _chunked(fn, images: np.ndarray, seed: int) -> np.ndarray:
    """fn(images[k*CHUNK:(k+1)*CHUNK], seed + k) for every chunk, concatenated."""
    return np.concatenate([fn(images[i:i + CHUNK], seed + i // CHUNK) for i in range(0, len(images), CHUNK)])


def encode(task: str, images: np.ndarray, seed: int) -> np.ndarray:
    """uint8 inputs [N, T, *SHAPES[task]] of 8x8 images in [0, 1]."""
    from edgesnn.events import bin_events
    if task == "events":
        from make_event_digits import SENSOR, make_event_digits

        def fn(x, s):
            return bin_events(make_event_digits(x, s), (SENSOR, SENSOR, 2), EVENT_DT_US, EVENT_STEPS,
                              use_tonic=False)[0]
    elif task == "sequence":
        from make_sequence_digits import make_sequence_digits

        def fn(x, s):
            counts = bin_events(make_sequence_digits(x, s, SEQ_CHANNELS), (SEQ_CHANNELS, 1, 1), SEQ_DT_US,
                                SEQ_STEPS, use_tonic=False)[0]
            return counts.reshape(len(x), SEQ_STEPS, SEQ_CHANNELS)
    else:
        from make_event_digits import upsample

        def fn(x, s):
            up = np.clip(upsample(x.astype(np.float64), MLP_SIZE), 0, 1)
            return rate_code(up, MLP_STEPS, s).reshape(len(x), MLP_STEPS, MLP_SIZE * MLP_SIZE)
    return _chunked(fn, images, seed)


def task_data(task: str, parts=("train", "val", "test")) -> dict:
    from train_examples import splits
    x_tr, y_tr, x_va, y_va, x_te, y_te = splits()
    xs = {"train": (x_tr, y_tr), "val": (x_va, y_va), "test": (x_te, y_te)}
    return {p: (encode(task, xs[p][0], SEEDS[p] * 1000), xs[p][1]) for p in parts}


def build(name: str, seed: int = 0):
    import torch
    from edgesnn.train import ALIF, LI, LIF, SNN, Affine, Conv2d, Flatten, Recurrent, SumPool2d
    torch.manual_seed(seed)
    if name == "mnist_mlp":
        return SNN((784,), Affine(784, 512), LIF((512,)), Affine(512, 256), LIF((256,)), Affine(256, 10), LIF((10,)))
    if name == "nmnist_cnn":
        return SNN((2, 34, 34),
                   Conv2d(2, 12, 5), LIF((12, 30, 30), param_shape=(12, 1, 1)), SumPool2d(2),
                   Conv2d(12, 32, 5), LIF((32, 11, 11), param_shape=(32, 1, 1)), SumPool2d(2),
                   Flatten(), Affine(800, 10), LIF((10,)))
    n = HIDDEN_RNN
    if name == "shd_alif":
        neuron = ALIF((n,), tau_m=(3, 30), tau_adp=(20, 300), b0=0.3, beta=1.8)
    else:
        neuron = LIF((n,), threshold=1.0, alpha_max=0.999)
        with torch.no_grad():
            neuron.alpha.copy_(torch.exp(-1 / torch.exp(torch.empty(n).uniform_(math.log(3), math.log(30)))))
    return SNN((SEQ_CHANNELS,), Affine(SEQ_CHANNELS, n), Recurrent(neuron), Affine(n, 10), LI((10,)))


def snap_to_grid(model, qgraph) -> None:
    """Set every weight matrix to its deployed values, integer x scale (float32), as QATModel trains them."""
    import torch
    from edgesnn.train import Affine, Conv2d, Recurrent
    from edgesnn.train.export import layer_names
    wmax = (1 << (qgraph.config.weight_bits - 1)) - 1
    with torch.no_grad():
        for layer, names in zip(model.layers, layer_names(model)):
            if isinstance(layer, (Affine, Conv2d, Recurrent)):
                node = names["rec"] if isinstance(layer, Recurrent) else names["node"]
                w = layer.conv.weight if isinstance(layer, Conv2d) else layer.weight
                k = qgraph.layers[node].params["weight"].astype(np.float32)
                if np.abs(k).max() > wmax:
                    raise RuntimeError(f"{node}: weights beyond {wmax}")
                w.copy_(torch.from_numpy(k * np.float32(qgraph.layers[node].scales["out"])))


def train_one(name: str, epochs: int | None, progress: bool, out: Path, seed: int = 0) -> dict:
    """Train `name`; `seed` sets the initialisation (torch.manual_seed), the float training's shuffling
    (2 seed) and QAT's (2 seed + 1). Seed 0 is the committed models'; the data are the same for every seed."""
    import torch
    from edgesnn.graph import Graph
    from edgesnn.graph.simulate import simulate
    from edgesnn.quantize import QuantConfig, quantize
    from edgesnn.quantize.reference import simulate_fixed
    from edgesnn.train import TrainConfig, fit, predict, qat_finetune, to_graph

    task = TASKS[name]
    t_data = time.perf_counter()
    data = task_data(task)
    data_seconds = time.perf_counter() - t_data
    (tr, y_tr), (va, y_va), (te, y_te) = data["train"], data["val"], data["test"]
    save_dataset(out / "data" / f"real/{task}_val.npz", va, y_va)
    save_dataset(out / "data" / f"real/{task}_test.npz", te, y_te)
    s = dict(SETTINGS[name])
    if epochs:
        s["epochs"], s["qat_epochs"] = epochs, max(1, epochs // 4)
    model = build(name, seed)
    cfg = TrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], logit_scale=s["logit_scale"],
                      seed=2 * seed, threads=1, progress=progress, keep_best=True)
    print(f"== {name}: {sum(p.numel() for p in model.parameters())} torch parameters, data {data_seconds:.0f} s",
          flush=True)
    t0 = time.perf_counter()
    res = fit(model, tr, y_tr, cfg, val=(va, y_va))
    float_seconds = time.perf_counter() - t0
    float_graph = to_graph(model, model.input_shape, dt=1e-3)
    float_acc = float(np.mean(simulate(float_graph, te).pred == y_te))  # before QAT, for the record
    print(f"{name}: float {float_acc:.4f} ({float_seconds:.0f} s)", flush=True)

    qcfg = QuantConfig(weight_bits=WEIGHT_BITS, state_bits=STATE_BITS)
    calib = va[:CALIB]
    qcfg_train = TrainConfig(epochs=s["qat_epochs"], batch_size=s["batch_size"], lr=s["qat_lr"],
                             logit_scale=s["logit_scale"], seed=2 * seed + 1, threads=1, progress=progress,
                             keep_best=True)
    t1 = time.perf_counter()
    qres = qat_finetune(model, qcfg, tr, y_tr, calib=calib, train=qcfg_train, val=(va, y_va))
    qat_seconds = time.perf_counter() - t1
    snap_to_grid(model, qres.qgraph)
    torch_pred, _ = predict(model, te)

    graph = to_graph(model, model.input_shape, dt=1e-3, meta={
        "name": name, "steps": int(te.shape[1]), "dataset": DATASETS[task],
        "weights": f"{WEIGHT_BITS}-bit grid (QAT, {qcfg.rounding} rounding): integer x per-layer scale"})
    path = out / MODELS_DIR / f"{name}.json"
    graph.save(path, compact=True)
    graph = Graph.load(path)  # every figure below is of the saved file
    qg = quantize(graph, qcfg, calib)
    same_ints = all(np.array_equal(qg.layers[k].params["weight"], q.params["weight"])
                    for k, q in qres.qgraph.layers.items() if "weight" in q.params)
    sim = simulate(graph, te)
    fx = simulate_fixed(qg, te)
    sim_acc = float(np.mean(sim.pred == y_te))
    totals, n = sim.totals(), len(y_te)
    entry = {
        "model": f"{name}.json",
        "test_data": f"real/{task}_test.npz",
        "val_data": f"real/{task}_val.npz",
        "data_command": f"python examples/train_real.py --data-only {task}",
        "dataset": DATASETS[task],
        "test_samples": int(n),
        "steps": int(te.shape[1]),
        "input_shape": list(SHAPES[task]),
        "accuracy": sim_acc,  # the official figure: edgesnn.graph.simulate of the saved model on test_data
        "accuracy_simulate": sim_acc,
        "accuracy_torch": float(np.mean(torch_pred == y_te)),
        "prediction_agreement_simulate_torch": float(np.mean(torch_pred == sim.pred)),
        "accuracy_fixed": float(np.mean(fx.pred == y_te)),
        "fixed_config": {**qcfg.to_dict(), "calibration": f"first {CALIB} of val_data"},
        "accuracy_float_before_qat": float_acc,
        "qat_integers_reproduced_by_quantize": bool(same_ints),
        f"accuracy_simulate_first{CHUNK}": float(np.mean(sim.pred[:CHUNK] == y_te[:CHUNK])),
        "val_accuracy_simulate": float(np.mean(simulate(graph, va).pred == y_va)),
        "parameters": graph.parameter_count(),
        "file_bytes": path.stat().st_size,
        "train_seconds": round(float_seconds + qat_seconds, 1),
        "train_seconds_float": round(float_seconds, 1),
        "train_seconds_qat": round(qat_seconds, 1),
        "data_seconds": round(data_seconds, 1),
        "epochs": s["epochs"],
        "best_epoch": res.best_epoch,
        "qat_epochs": s["qat_epochs"],
        "qat_best_epoch": qres.train.best_epoch,
        "train_config": {k: v for k, v in vars(cfg).items() if k != "progress"},
        "qat_train_config": {k: v for k, v in vars(qcfg_train).items() if k != "progress"},
        "spikes_out_per_sample": {k: round(v["spikes_out"] / n, 2) for k, v in totals.items() if v["spikes_out"]},
        "synops_per_sample": round(sum(v["synops"] for v in totals.values()) / n, 1),
        "command": f"python examples/train_real.py --only {name}" + (f" --epochs {epochs}" if epochs else "")
                   + (f" --seed {seed}" if seed else ""),
        "seed": seed,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    print(f"{name}: simulate {sim_acc:.4f} torch {entry['accuracy_torch']:.4f} fixed {entry['accuracy_fixed']:.4f} "
          f"float-before-QAT {float_acc:.4f} ints-reproduced {same_ints} file {entry['file_bytes']} B "
          f"train {entry['train_seconds']} s", flush=True)
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(SETTINGS), action="append", help="train only this model (repeatable)")
    ap.add_argument("--epochs", type=int, help="override the float epochs (QAT: a quarter), for a quick try")
    ap.add_argument("--data-only", choices=sorted(set(TASKS.values())), action="append",
                    help="only write this task's validation and test sets (repeatable)")
    ap.add_argument("--with-train", action="store_true",
                    help="with --data-only: the training set too (for `edgesnn search-kernels --train`)")
    ap.add_argument("--out", type=Path, default=HERE, help="folder to write models/ and data/ under")
    ap.add_argument("--seed", type=int, default=0,
                    help="initialisation and shuffling seed (0: the committed models'); use with --out elsewhere")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    if args.data_only:
        for task in args.data_only:
            d = task_data(task, ("train", "val", "test") if args.with_train else ("val", "test"))
            for part, (x, y) in d.items():
                save_dataset(args.out / "data" / f"real/{task}_{part}.npz", x, y)
                print(f"data/real/{task}_{part}.npz: {x.shape}")
        return 0
    results_path = args.out / MODELS_DIR / "results.json"
    for name in args.only or list(SETTINGS):
        entry = train_one(name, args.epochs, args.progress, args.out, args.seed)
        results = json.loads(results_path.read_text()) if results_path.exists() else {}
        results[name] = {**results.get(name, {}), **entry}
        save_json(results_path, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
