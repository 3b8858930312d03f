"""Measurement: what one run of a model on a batch of inputs brought back, whatever ran it.

Every engine returns this one type: the float simulator (edgesnn.graph.simulate), the fixed-point
reference (edgesnn.quantize.reference), the C runtime on the host (edgesnn.runtime) and a board, emulated
or real (edgesnn.device.runner). So outputs, predictions and counters are read, compared and saved the
same way everywhere (`save_npz`: the OUT.npz of `edgesnn simulate` and `edgesnn run`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import numpy as np

from .artifact import atomic_write_bytes

HOST_ENGINES = ("float", "fixed-python", "fixed-c")


@dataclass
class Measurement:
    outputs: np.ndarray                       # [N, T, *out_shape]: spike counts, or a readout's membrane
    output_spiking: bool
    counts: dict[str, dict[str, np.ndarray]]  # node -> counter -> [N, T] (simulators) or [N] (a board's totals)
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # node -> var -> [N, T, ...]
    steps: np.ndarray | None = None           # [N] steps run per input, when early exit is on (a board: always)
    engine: str = ""                          # "float", "fixed-python", "fixed-c", or the board's id
    # a board's extras: its cycle counter and what it counts, each input's whole run, the link's statistics
    cycle_source: str = "none"                # "none", "dwt" or "ticks"
    unit: str = ""                            # "instructions" (QEMU), "cycles" (DWT) or "ticks"
    run_cycles: np.ndarray | None = None      # [N], every esn_step call of the input, in `unit`
    link: dict = field(default_factory=dict)
    seconds: float = 0.0                      # time spent on the link
    labels: np.ndarray | None = None          # [N], when the caller knows them

    @property
    def on_board(self) -> bool:
        return bool(self.engine) and self.engine not in HOST_ENGINES

    @property
    def mean_steps(self) -> float:
        return float(self.outputs.shape[1] if self.steps is None else self.steps.mean())

    @property
    def pred(self) -> np.ndarray:
        """argmax over classes of the output summed over time; ties go to the lowest index."""
        total = self.outputs.reshape(*self.outputs.shape[:2], -1).sum(axis=1)
        return np.argmax(total, axis=1)

    @property
    def accuracy(self) -> float | None:
        return None if self.labels is None else float(np.mean(self.pred == self.labels))

    @property
    def output_key(self) -> str:
        return "out_spikes" if self.output_spiking else "out_mem"

    def totals(self) -> dict[str, dict[str, int]]:
        return {k: {c: int(v.sum()) for c, v in cs.items()} for k, cs in self.counts.items()}

    def arrays(self) -> dict[str, np.ndarray]:
        """What OUT.npz holds: out_spikes (or out_mem) [N, T, K], pred [N], steps [N] with early exit, labels
        and accuracy when labels are known, and a board's per-layer counters as LAYER.COUNTER [N]."""
        n, t = self.outputs.shape[:2]
        out = {self.output_key: self.outputs.reshape(n, t, -1), "pred": self.pred}
        if self.steps is not None:
            out["steps"] = self.steps
        if self.labels is not None:
            out.update(labels=self.labels, accuracy=np.float64(self.accuracy))
        if self.on_board:
            for layer, cs in self.counts.items():
                for c, v in cs.items():
                    out[f"{layer}.{c}"] = v
        return out

    def save_npz(self, path: str | os.PathLike) -> None:
        """Writes arrays() to path, whole or not at all."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.arrays())
        atomic_write_bytes(path, buf.getvalue())
