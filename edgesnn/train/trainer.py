"""Seeded, deterministic BPTT training on CPU, and evaluation that mirrors `SimResult.pred`.

The loss is cross-entropy on the model's output summed over time, times `logit_scale`: output
spike counts for a spiking readout, the summed membrane for an LI readout. The prediction is the
argmax of that same sum, ties to the lowest index, as `edgesnn.measurement.Measurement.pred`.

With `early_exit_weight` w > 0 the loss also rewards outputs that are right and confident early,
which is what the runtime's early exit (entropy of the output accumulated so far) acts on:

    loss = (1 - w) * CE(s * A_T) + w * mean_t CE(s * A_t * T / t)

where A_t is the output accumulated over steps 1..t and s the logit scale: the per-step term is
the final loss applied to every prefix, rescaled to the full length (as in dynamic-timestep SNNs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EdgesnnError
from .layers import SNN


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 0.0
    logit_scale: float = 0.5      # cross-entropy logits = logit_scale * output summed over time
    seed: int = 0
    threads: int | None = 1       # torch CPU threads (results are reproducible for a fixed count)
    progress: bool = True         # a tqdm bar per epoch
    keep_best: bool = False       # restore the epoch with the best validation accuracy (if validating)
    early_exit_weight: float = 0.0  # weight of the every-prefix loss that rewards early confidence


def sequence_loss(out: torch.Tensor, y: torch.Tensor, logit_scale: float, early_exit_weight: float = 0.0):
    """The training loss of outputs [N, T, ...] (see the module docstring)."""
    steps = out.shape[1]
    per_step = out.reshape(*out.shape[:2], -1)
    loss = F.cross_entropy(logit_scale * per_step.sum(1), y)
    if early_exit_weight:
        cum = per_step.cumsum(1) * (steps / torch.arange(1, steps + 1, dtype=out.dtype)).reshape(1, -1, 1)
        early = F.cross_entropy((logit_scale * cum).reshape(-1, cum.shape[-1]), y.repeat_interleave(steps))
        loss = (1 - early_exit_weight) * loss + early_exit_weight * early
    return loss


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # per epoch: loss, train_acc, val_acc, seconds
    best_epoch: int | None = None
    seconds: float = 0.0


def _batch_inputs(model: SNN, x: np.ndarray) -> torch.Tensor:
    x = np.asarray(x)
    want = model.input_shape
    if x.ndim < 2 or int(np.prod(x.shape[2:], dtype=np.int64)) != int(np.prod(want)):
        raise EdgesnnError(f"inputs of shape {x.shape} do not fit the model's input [N, T, "
                           f"{', '.join(map(str, want))}]")
    return torch.from_numpy(np.ascontiguousarray(x.reshape(*x.shape[:2], *want), dtype=np.float32))


@torch.no_grad()
def predict(model: SNN, inputs: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(pred [N], output summed over time [N, classes]) in eval mode, float32."""
    was = model.training
    model.eval()
    totals = []
    try:
        for i in range(0, len(inputs), batch_size):
            out = model(_batch_inputs(model, inputs[i:i + batch_size]))
            totals.append(out.reshape(*out.shape[:2], -1).sum(1).numpy())
    finally:
        model.train(was)
    total = np.concatenate(totals)
    return np.argmax(total, axis=1), total  # numpy argmax: ties to the lowest index


def evaluate(model: SNN, inputs: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> float:
    pred, _ = predict(model, inputs, batch_size)
    return float(np.mean(pred == np.asarray(labels)))


def fit(model: SNN, inputs: np.ndarray | Callable[[int], np.ndarray], labels: np.ndarray,
        config: TrainConfig | None = None, val: tuple[np.ndarray, np.ndarray] | None = None) -> TrainResult:
    """Train `model` in place with Adam and a cosine learning-rate schedule.

    `inputs` is [N, T, ...] or a function epoch -> [N, T, ...] (fresh rate-coded spikes each epoch,
    say); `labels` [N]. `val` = (inputs, labels) is evaluated after every epoch.
    """
    from tqdm import tqdm

    cfg = config or TrainConfig()
    if not 0 <= cfg.early_exit_weight <= 1:
        raise EdgesnnError(f"early_exit_weight must lie in [0, 1], got {cfg.early_exit_weight}")
    labels = np.asarray(labels, dtype=np.int64)
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    old_fill = torch.utils.deterministic.fill_uninitialized_memory
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False  # NaN-filling costs 2x, buys nothing here
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    result = TrainResult()
    try:
        model.project_()
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                               weight_decay=cfg.weight_decay)
        n = len(labels)
        per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * per_epoch)
        best_acc, best_state = -1.0, None
        y_all = torch.from_numpy(labels)
        t_start = time.perf_counter()
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            if hasattr(model, "on_epoch_start"):  # e.g. QATModel refreshes its quantization scales
                model.on_epoch_start(epoch)
            x_epoch = inputs(epoch) if callable(inputs) else inputs
            if len(x_epoch) != n:
                raise EdgesnnError(f"epoch {epoch}: {len(x_epoch)} inputs for {n} labels")
            order = rng.permutation(n)
            model.train()
            loss_sum, correct = 0.0, 0
            bar = tqdm(range(per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=None if cfg.progress else True, unit="batch")  # None: off when not a terminal
            for b in bar:
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                x = _batch_inputs(model, x_epoch[idx])
                y = y_all[idx]
                out = model(x)
                total = out.reshape(*out.shape[:2], -1).sum(1)
                loss = sequence_loss(out, y, cfg.logit_scale, cfg.early_exit_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                model.project_()
                loss_sum += float(loss.detach()) * len(idx)
                correct += int((np.argmax(total.detach().numpy(), 1) == labels[idx]).sum())
                bar.set_postfix(loss=f"{loss_sum / ((b * cfg.batch_size) + len(idx)):.3f}")
            bar.close()
            rec = {"epoch": epoch + 1, "loss": loss_sum / n, "train_acc": correct / n}
            if val is not None:
                rec["val_acc"] = evaluate(model, *val)
                if cfg.keep_best and rec["val_acc"] > best_acc:
                    best_acc, result.best_epoch = rec["val_acc"], epoch + 1
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            rec["seconds"] = time.perf_counter() - t0
            result.history.append(rec)
            if cfg.progress:
                tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}: loss {rec['loss']:.4f} train {rec['train_acc']:.4f}"
                           + (f" val {rec['val_acc']:.4f}" if "val_acc" in rec else "")
                           + f" ({rec['seconds']:.1f} s)")
        if best_state is not None:
            model.load_state_dict(best_state)
        result.seconds = time.perf_counter() - t_start
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)
        torch.utils.deterministic.fill_uninitialized_memory = old_fill
    model.eval()
    return result
