"""Write the digits validation and test splits rate-coded five times over, for figures finer than one sample.

    python examples/make_eval_sets.py

The official splits (digits_val.npz: 216 inputs, digits_test.npz: 360) hold one Bernoulli coding of
each image, so one input is 0.46 / 0.28 points of accuracy: a 0.5-point target (early exit) sits on
one or two inputs, and a threshold calibrated on 216 inputs lands before a cliff as often as not.
These sets code the same images with five spike seeds each (the first seed is the official one, so
the first N inputs are the official split); they add no new images, only the coding noise the
deployed model meets, and they never mix splits: the planner calibrates on *_val_x5, reports on
*_test_x5. Deterministic: the split and seeds are train_examples.py's.

Writes, under examples/data/: digits_val_x5.npz [1080, 16, 64], digits_test_x5.npz [1800, 16, 64]
and the same spikes as [N, 16, 1, 8, 8] in digits_val_x5_cnn.npz / digits_test_x5_cnn.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from edgesnn.data import rate_code, save_dataset  # noqa: E402
from train_examples import STEPS, TEST_SPIKE_SEED, VAL_SPIKE_SEED, splits  # noqa: E402

CODINGS = 5


def codings(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[CODINGS x N, STEPS, 64] spikes, coding k with seed + k (k = 0: the official split's spikes)."""
    x = np.concatenate([rate_code(images, STEPS, seed + k).reshape(len(images), STEPS, 64) for k in range(CODINGS)])
    return x, np.tile(labels, CODINGS)


def main() -> int:
    _, _, x_va, y_va, x_te, y_te = splits()
    for split, images, labels, seed in (("val", x_va, y_va, VAL_SPIKE_SEED), ("test", x_te, y_te, TEST_SPIKE_SEED)):
        x, y = codings(images, labels, seed)
        save_dataset(HERE / "data" / f"digits_{split}_x5.npz", x, y)
        save_dataset(HERE / "data" / f"digits_{split}_x5_cnn.npz", x.reshape(-1, STEPS, 1, 8, 8), y)
        print(f"digits_{split}_x5: {x.shape[0]} inputs ({CODINGS} codings of {len(labels)} images)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
