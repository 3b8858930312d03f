"""A sequence task at SHD-like scale: scikit-learn's 8x8 digits read out as 700-channel spike sequences.

    python examples/make_sequence_digits.py -o seq_digits.npz             # all 1797 digits: [N, 50, 700]
    python examples/make_sequence_digits.py -o s.npz --n 40 --channels 64 --dt 20000 --steps 50

Not the Spiking Heidelberg Digits (SHD: spoken digits through a cochlea model, 700 channels, ~1 s, 20
classes); a task of the same shape for the recurrent LIF/ALIF models, made from the bundled digits with no
download. Each digit is read like a spectrogram: time runs along the image's columns, the channels along
its rows. The 8x8 image (scaled to [0, 1]) is resized bilinearly to `channels` rows x 50 columns; column k
covers 20 ms of the 1 s recording, and channel c fires Poisson spikes (seeded) at MAX_RATE_HZ times the
intensity of row c in that column, at a uniformly drawn microsecond. Events are audio-style structured
arrays (x = channel, t in microseconds, p = 0), as tonic gives SHD, saved as an edgesnn event data set
(docs/data.md) with sensor_size (channels, 1, 1) and the binning loading applies (default dt 20 ms x 50
steps: [N, 50, 700] uint8 counts; all 1797 digits so binned hold 63 million counts, under the default
element limit). With 700 channels and MAX_RATE_HZ = 20, a digit has about 4,300 events (SHD's recordings
hold a few thousand); all 1797 digits (seed 0): 7,674,421 events, a 28.4 MB file (not committed: generated
on demand, 12 s of CPU). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from edgesnn.data import save_events  # noqa: E402
from make_event_digits import digits  # noqa: E402

COLUMNS = 50             # time slices
SLICE_US = 20_000        # 50 x 20 ms = 1 s, as SHD's recordings
MAX_RATE_HZ = 20.0
DTYPE = np.dtype([("x", "<i2"), ("t", "<i8"), ("p", "<i1")])


def resize(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Bilinear resize [N, h, w] -> [N, rows, cols], pixel centres aligned."""
    n, h, w = images.shape
    def axis(src, dst):
        c = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
        i0 = np.floor(c).astype(int)
        return i0, np.minimum(i0 + 1, src - 1), c - i0
    y0, y1, fy = axis(h, rows)
    x0, x1, fx = axis(w, cols)
    r = images[:, y0, :] * (1 - fy)[None, :, None] + images[:, y1, :] * fy[None, :, None]
    return r[:, :, x0] * (1 - fx) + r[:, :, x1] * fx


def make_sequence_digits(images: np.ndarray, seed: int, channels: int = 700) -> list[np.ndarray]:
    """One audio-style event array (x, t, p) per 8x8 image in [0, 1]."""
    rng = np.random.default_rng(seed)
    rate = resize(images.astype(np.float64), channels, COLUMNS) * MAX_RATE_HZ     # [N, C, K] Hz
    counts = rng.poisson(rate * SLICE_US * 1e-6)                                 # events per channel and slice
    recs = []
    for i in range(images.shape[0]):
        c, k = np.nonzero(counts[i])
        reps = counts[i][c, k]
        ch = np.repeat(c, reps)
        t = np.repeat(k, reps) * SLICE_US + rng.integers(0, SLICE_US, size=reps.sum())
        order = np.lexsort((ch, t))
        ev = np.zeros(ch.size, dtype=DTYPE)
        ev["x"], ev["t"] = ch[order], t[order]
        recs.append(ev)
    return recs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=None, help="the first N digits (default all 1797)")
    ap.add_argument("--channels", type=int, default=700, help="channels (default 700, as SHD)")
    ap.add_argument("--dt", type=int, default=20_000, help="binning step in microseconds (default 20 ms)")
    ap.add_argument("--steps", type=int, default=50, help="binning steps (default 50: the 1 s recording)")
    a = ap.parse_args(argv)
    x, y = digits(a.n)
    recs = make_sequence_digits(x, a.seed, a.channels)
    save_events(a.output, recs, y, (a.channels, 1, 1), dt=a.dt, steps=a.steps)
    ne = sum(len(r) for r in recs)
    print(f"{a.output}: {len(recs)} recordings, {ne:,} events ({ne / len(recs):.0f} per digit), "
          f"{Path(a.output).stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
