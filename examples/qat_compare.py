"""Post-training vs in-training quantization (QAT) of the example digits MLP and CNN.

    python examples/qat_compare.py                    # MLP, CNN at 2..8 bits; recurrent ALIF at 4, 6, 8
    python examples/qat_compare.py --only mlp --bits 4

For each model and weight width (state 16 bits, nearest rounding, validation spikes as calibration):

    float   `simulate` of the example model (models/digits_*.json) on the test spikes
    PTQ     simulate_fixed(quantize(model, cfg, calib), test)
    QAT     `qat_finetune` from the example model: every epoch starts by calling quantize() on the
            current float graph for its scales; training runs the integer semantics with
            straight-through gradients; the epoch with the best fixed-point validation accuracy is
            kept (the starting point, i.e. PTQ, included); then simulate_fixed(its QGraph, test).
            Run twice, without and with weight clipping at 2 x RMS (`QATModel.project_`), and the
            run with the better validation accuracy is the one reported (ties: no clipping)

The recurrent ALIF network on permuted sequential digits (models/psdigits_alif.json, from
train_recurrent.py) is compared the same way at 4, 6 and 8 bits. Test accuracy is given on the
official test file (data/*_test*.npz, 360 digits) and, for the rate-coded models, to average out the
spike-coding noise (not the image sampling), over 5 more rate codings of the same test images.
The script also checks that the QAT model's own evaluation forward pass predicts
exactly what simulate_fixed does (`bit_exact`). Writes results/qat_compare.json (entries of other
models already there are kept).

--executor local|ray[:ADDRESS] (edgesnn/executor.py): local runs the QAT runs one after another here; ray makes
each run (model x bits x clip) a Ray task, the model's data shipped once, each printed as it finishes (the same
results: each run trains on one thread, deterministically).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from edgesnn.artifact import save_json  # noqa: E402
from edgesnn.data import load_dataset, rate_code, sequential_pixels  # noqa: E402
from edgesnn.errors import EdgesnnError  # noqa: E402
from edgesnn.executor import LocalExecutor, get_executor  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402
from edgesnn.graph.simulate import simulate  # noqa: E402
from edgesnn.quantize.reference import simulate_fixed  # noqa: E402

# key: (model, input shape, test file, val file, weight widths, input coding, training logit scale)
MODELS = {
    "mlp": ("digits_mlp", (64,), "digits_test.npz", "digits_val.npz", (2, 3, 4, 6, 8), "rate", 0.5),
    "cnn": ("digits_cnn", (1, 8, 8), "digits_test_cnn.npz", "digits_val_cnn.npz", (2, 3, 4, 6, 8), "rate", 0.5),
    "psdigits_alif": ("psdigits_alif", (4,), "psdigits_test.npz", "psdigits_val.npz", (4, 6, 8), "sequential", 0.1),
}
EXTRA_TEST_SEEDS = (1235, 1236, 1237, 1238, 1239)
QAT_SEED_SPIKES = 20_000  # training spikes: fresh per epoch, not those the float model saw


WEIGHT_CLIPS = (None, 2.0)


def qat_settings(bits: int, epochs: int | None, key: str) -> dict:
    """Fewer bits need more fine-tuning (picked on the validation split, never on the test split)."""
    if key == "psdigits_alif":
        return dict(epochs=epochs or 15, lr=2e-3)
    if bits <= 3:
        return dict(epochs=epochs or 30, lr=3e-3)
    return dict(epochs=epochs or 15, lr=1e-3)


def _rate_spikes(x_tr, steps, shape, epoch: int) -> np.ndarray:
    return rate_code(x_tr, steps, QAT_SEED_SPIKES + epoch).reshape(len(x_tr), steps, *shape)


def _accs(S, run) -> tuple[float, float | None]:
    official = float(np.mean(run(S["test"]).pred == S["labels"]))
    return official, (float(np.mean([np.mean(run(e).pred == S["y_te"]) for e in S["extra"]])) if S["extra"] else None)


def _setup(shared):
    return shared


def _qat_run(S, job) -> dict:
    """One QAT run (weight bits, clip) of the model in S; where it runs (here or a Ray worker) changes nothing."""
    from edgesnn.train import TrainConfig, from_graph, predict, qat_finetune
    bits, clip = job
    cfg = QuantConfig(weight_bits=bits, state_bits=16, rounding="nearest")
    t1 = time.perf_counter()
    res = qat_finetune(from_graph(S["graph"]), cfg, S["train_spikes"], S["y_tr"], calib=S["val"],
                       val=(S["val"], S["y_va"]), weight_clip=clip,
                       train=TrainConfig(seed=0, threads=1, keep_best=True, progress=S["progress"],
                                         logit_scale=S["logit_scale"], **S["settings"][bits]))
    seconds = time.perf_counter() - t1
    val_acc = float(np.mean(simulate_fixed(res.qgraph, S["val"]).pred == S["y_va"]))
    q_acc, q_avg = _accs(S, lambda x: simulate_fixed(res.qgraph, x))
    own_pred, _ = predict(res.model, S["test"])
    exact = bool(np.array_equal(own_pred, simulate_fixed(res.qgraph, S["test"]).pred))
    return {"weight_clip": clip, "val_acc": val_acc, "test_acc": q_acc, "test_acc_5_codings": q_avg,
            "best_epoch": res.train.best_epoch, "train_seconds": round(seconds, 1),
            "bit_exact_with_simulate_fixed": exact}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=list(MODELS), action="append")
    ap.add_argument("--bits", help="weight widths, comma-separated (default: 2,3,4,6,8; ALIF 4,6,8)")
    ap.add_argument("--epochs", type=int, help="override the QAT epochs (a quick try)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "qat_compare.json")
    ap.add_argument("--progress", action="store_true", help="tqdm bars per epoch")
    ap.add_argument("--executor", default="local", metavar="local|ray[:ADDRESS]",
                    help="where the QAT runs run (default local: one after another here)")
    args = ap.parse_args(argv)
    try:
        executor = get_executor(args.executor)
    except EdgesnnError as e:
        ap.error(str(e))
    if isinstance(executor, LocalExecutor):
        executor = LocalExecutor(1)   # torch in forked processes can hang: locally, one run after another
    with executor:
        return _compare(args, executor)


def _compare(args, executor) -> int:
    import torch
    from tabulate import tabulate
    from train_examples import STEPS, splits

    _, _, _, _, x_te, y_te = splits()
    x_tr, y_tr = splits()[:2]
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows = []
    for key in args.only or list(MODELS):
        name, shape, test_file, val_file, bits_list, coding, logit_scale = MODELS[key]
        if args.bits:
            bits_list = [int(b) for b in args.bits.split(",")]
        graph = Graph.load(HERE / "models" / f"{name}.json")
        test, labels = load_dataset(HERE / "data" / test_file)
        val, y_va = load_dataset(HERE / "data" / val_file)
        if coding == "rate":
            extra = [rate_code(x_te, STEPS, s).reshape(len(x_te), STEPS, *shape) for s in EXTRA_TEST_SEEDS]
            train_spikes = partial(_rate_spikes, x_tr, STEPS, shape)
        else:  # level-coded sequential digits: deterministic, one coding
            from train_recurrent import LEVELS, permutation
            extra = []
            train_spikes = sequential_pixels(x_tr, LEVELS, permutation(name.split("_")[0]))
        S = {"graph": graph, "test": test, "labels": labels, "extra": extra, "y_te": y_te, "val": val, "y_va": y_va,
             "train_spikes": train_spikes, "y_tr": y_tr, "progress": args.progress, "logit_scale": logit_scale,
             "settings": {bits: qat_settings(bits, args.epochs, key) for bits in bits_list}}

        f_acc, f_avg = _accs(S, lambda x: simulate(graph, x))
        entry = {"float": {"test_acc": f_acc, "test_acc_5_codings": f_avg}, "bits": {}}
        jobs = [(bits, clip) for bits in bits_list for clip in WEIGHT_CLIPS]
        done = {}
        t0 = time.perf_counter()
        with executor.session(_setup, S) as run:
            for j, r in run(_qat_run, jobs, ordered=False, most=1):  # each run as it finishes
                done[jobs[j]] = r
                print(f"  {name} {jobs[j][0]}-bit clip {jobs[j][1] or '-'}: QAT val {100 * r['val_acc']:.2f} % "
                      f"({r['train_seconds']:.0f} s)", flush=True)

        for bits in bits_list:
            cfg = QuantConfig(weight_bits=bits, state_bits=16, rounding="nearest")
            q_ptq = quantize(graph, cfg, val)
            p_acc, p_avg = _accs(S, lambda x: simulate_fixed(q_ptq, x))
            settings = S["settings"][bits]
            runs = [done[(bits, clip)] for clip in WEIGHT_CLIPS]
            chosen = max(runs, key=lambda r: (r["val_acc"], r["weight_clip"] is None))
            q_acc, q_avg = chosen["test_acc"], chosen["test_acc_5_codings"]
            exact = chosen["bit_exact_with_simulate_fixed"]
            qat_seconds = sum(r["train_seconds"] for r in runs)
            entry["bits"][str(bits)] = {
                "ptq": {"test_acc": p_acc, "test_acc_5_codings": p_avg,
                        "val_acc": float(np.mean(simulate_fixed(q_ptq, val).pred == y_va))},
                "qat": dict(chosen, epochs=settings["epochs"], lr=settings["lr"]),
                "qat_runs": runs,
                "config": cfg.to_dict(),
            }
            pct = lambda a: "-" if a is None else f"{100 * a:.2f}"  # noqa: E731
            rows.append([name, bits, pct(f_acc), pct(p_acc), pct(q_acc), pct(f_avg), pct(p_avg), pct(q_avg),
                         chosen["weight_clip"] or "-", all(r["bit_exact_with_simulate_fixed"] for r in runs),
                         f"{qat_seconds:.0f}"])
            print(f"{name} {bits}-bit: float {pct(f_acc)}  PTQ {pct(p_acc)}  QAT {pct(q_acc)}  "
                  f"(5 codings: {pct(f_avg)} / {pct(p_avg)} / {pct(q_avg)})  bit-exact {exact}", flush=True)
        print(f"{name}: {len(jobs)} QAT runs in {time.perf_counter() - t0:.0f} s on {executor.spec}", flush=True)
        entry.update({"test_samples": int(len(labels)), "state_bits": 16, "rounding": "nearest",
                      "calibration": f"data/{val_file}", "torch": torch.__version__,
                      "python": platform.python_version(),
                      "command": "python examples/qat_compare.py" + (f" --only {key}" if args.only else "")})
        results[name] = entry
        save_json(args.out, results)
    print(tabulate(rows, ["model", "weight bits", "float %", "PTQ %", "QAT %", "float % (5 codings)",
                          "PTQ % (5)", "QAT % (5)", "clip", "bit-exact", "QAT s"], tablefmt="simple_outline"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
