"""A loss that rewards confident early outputs, measured with the runtime's integer early exit.

    python examples/early_exit_loss.py        # about two minutes

Starting from the example MLP (models/digits_mlp.json), two fine-tunings with the same data, epochs
and learning rate: a control with the plain loss (early_exit_weight 0) and one with the every-prefix
loss (`TrainConfig.early_exit_weight`, see edgesnn/train/trainer.py). Each model (and the example
itself) is quantized (8-bit weights, 16-bit state, validation spikes as calibration); its exit
policy is calibrated on the validation split with `edgesnn.plan.exit.calibrate` (at most 1 point
below its own full-length accuracy) and run on the test split with `QGraph.with_exit` in
`simulate_fixed`, which reports the mean number of steps. "Steps at equal accuracy" reads the
test curve of every (logit scale, threshold) pair: the fewest mean steps at which each model
reaches the example model's full-length test accuracy minus 1 point. "Fixed steps" is the other
way to stop early: run every input for the fewest steps T whose validation accuracy is within 1
point of the model's own full-length one (chosen on validation, reported on test).

Writes results/early_exit.json.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from edgesnn.artifact import save_json  # noqa: E402
from edgesnn.data import load_dataset, rate_code  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.plan.exit import BETAS_Q16, calibrate, curve_for  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402
from edgesnn.quantize.reference import simulate_fixed  # noqa: E402

EPOCHS, LR, WEIGHT = 30, 3e-3, 0.9
SPIKE_SEED = 30_000


def main() -> int:
    import torch
    from tabulate import tabulate
    from train_examples import STEPS, splits
    from edgesnn.train import TrainConfig, fit, from_graph, to_graph

    base = Graph.load(HERE / "models" / "digits_mlp.json")
    val, y_va = load_dataset(HERE / "data" / "digits_val.npz")
    test, y_te = load_dataset(HERE / "data" / "digits_test.npz")
    x_tr, y_tr = splits()[:2]
    qcfg = QuantConfig(weight_bits=8, state_bits=16)

    graphs, seconds = {"example (no fine-tuning)": base}, {}
    for label, w in (("fine-tuned, plain loss", 0.0), (f"fine-tuned, early-exit loss (w = {WEIGHT})", WEIGHT)):
        model = from_graph(base)
        t0 = time.perf_counter()
        fit(model, lambda e: rate_code(x_tr, STEPS, SPIKE_SEED + e).reshape(len(x_tr), STEPS, 64), y_tr,
            TrainConfig(epochs=EPOCHS, lr=LR, seed=0, threads=1, progress=False, early_exit_weight=w))
        seconds[label] = round(time.perf_counter() - t0, 1)
        graphs[label] = to_graph(model, (64,))

    rows, entries, target = [], {}, None
    for label, g in graphs.items():
        q = quantize(g, qcfg, val)
        full_test = simulate_fixed(q, test)
        full_acc = float(np.mean(full_test.pred == y_te))
        target = full_acc - 0.01 if target is None else target  # the example's accuracy minus 1 point
        policy = calibrate(simulate_fixed(q, val).outputs, y_va, max_drop=0.01)
        if policy.threshold_q8 is None:
            ex_acc, ex_steps = full_acc, float(STEPS)
        else:
            ex = simulate_fixed(q.with_exit(policy.threshold_q8, policy.beta_q16), test)
            ex_acc, ex_steps = float(np.mean(ex.pred == y_te)), ex.mean_steps
        curve = [r for b in BETAS_Q16 for r in curve_for(full_test.outputs, y_te, b, np.arange(0, 600, 4))]
        at_target = min((r["mean_steps"] for r in curve if r["accuracy"] >= target - 1e-12), default=None)
        # fixed steps: the prefix of a full run is what a T-step run computes (no state carries over)
        val_cum = np.cumsum(simulate_fixed(q, val).outputs, axis=1)
        val_full = float(np.mean(val_cum[:, -1].argmax(1) == y_va))
        t_fix = next(t + 1 for t in range(STEPS) if np.mean(val_cum[:, t].argmax(1) == y_va) >= val_full - 0.01)
        fix_acc = float(np.mean(simulate_fixed(q, test[:, :t_fix]).pred == y_te))
        entries[label] = {"full_test_acc": full_acc, "exit_test_acc": ex_acc, "exit_mean_steps": ex_steps,
                          "policy": {"threshold_q8": policy.threshold_q8, "beta_q16": policy.beta_q16,
                                     "val_acc": policy.accuracy, "val_mean_steps": policy.mean_steps},
                          "mean_steps_at_target": at_target, "fixed_steps": t_fix, "fixed_steps_test_acc": fix_acc,
                          "test_acc_per_prefix": [float(np.mean(c.argmax(1) == y_te))
                                                  for c in np.moveaxis(np.cumsum(full_test.outputs, 1), 1, 0)],
                          "train_seconds": seconds.get(label)}
        rows.append([label, f"{100 * full_acc:.2f}", f"{100 * ex_acc:.2f}", f"{ex_steps:.2f}",
                     "-" if at_target is None else f"{at_target:.2f}", t_fix, f"{100 * fix_acc:.2f}"])
    print(tabulate(rows, ["model (8-bit weights, 16-bit state)", "test % (16 steps)", "test % (early exit)",
                          "mean steps (early exit)", f"mean steps at {100 * target:.2f} % (test curve)",
                          "fixed steps (val)", "test % (fixed steps)"], tablefmt="simple_outline"))
    save_json(HERE / "results" / "early_exit.json", {
        "models": entries, "target_accuracy": target, "epochs": EPOCHS, "lr": LR, "early_exit_weight": WEIGHT,
        "quantization": qcfg.to_dict(), "steps": STEPS, "torch": torch.__version__,
        "python": platform.python_version(), "command": "python examples/early_exit_loss.py"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
