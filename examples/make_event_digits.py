"""Event-camera digits made by the N-MNIST recipe: scikit-learn's 8x8 digits seen by a simulated DVS.

    python examples/make_event_digits.py -o event_digits.npz                # all 1797 digits, 34x34, 2 polarities
    python examples/make_event_digits.py -o ev8.npz --n 40 --size 8 --merge-polarity --dt 18750 --steps 16

THIS IS NOT N-MNIST. It imitates N-MNIST's recording procedure (Orchard et al. 2015: an ATIS camera on a
pan-tilt unit in front of a screen showing each 28x28 MNIST digit, moved in three ~100 ms saccades that
trace a triangle, so the digit's events fall on a 34x34 sensor patch) on scikit-learn's bundled 8x8
digits, which need no download. Per digit:

1. the 8x8 image (0..16, scaled to [0, 1]) is upsampled bilinearly to 28x28;
2. it moves over a 34x34 sensor along three straight saccades of 100 ms each, offsets (x, y) in pixels
   (0, 0) -> (3, 6) -> (6, 0) -> (0, 0) (a triangle, as N-MNIST's three saccades), rendered every 0.5 ms
   with bilinear sub-pixel shifts;
3. each pixel keeps a reference log intensity, log(I + 0.1); when the current log intensity has moved
   by at least the pixel's contrast threshold (0.5 times 1 + 0.05 N(0, 1), a seeded per-pixel mismatch)
   and the pixel is out of its 1 ms refractory period, it emits one event, ON (p = 1) up or OFF (p = 0)
   down, and moves its reference one threshold that way; the event's time is the frame time plus a
   seeded jitter within the 0.5 ms frame (microseconds, sorted per recording).

Deterministic for a seed (the mismatch and jitter come from numpy.random.default_rng(seed)). Saved as an
edgesnn event data set (docs/data.md): x, y, t, p concatenated with offsets, labels, sensor_size
(34, 34, 2) and the binning that loading applies (default dt 20 ms x 15 steps: [N, 15, 2, 34, 34]; all 1797
digits binned so hold 62 million counts, under the default element limit).
--size 8 --merge-polarity bins them to [N, T, 1, 8, 8], the input of examples/models/digits_cnn.json,
which was trained on rate-coded digits, not on these events: its accuracy on them says nothing about
the model. All 1797 digits (seed 0): 6,745,207 events (3,754 per digit; N-MNIST's digits hold a few
thousand), a 24.9 MB file (not committed: generated on demand, 32 s of CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from edgesnn.data import save_events  # noqa: E402

SENSOR = 34          # pixels, as N-MNIST
DIGIT = 28           # the digit's displayed size, as MNIST
SACCADES = ((0.0, 0.0), (3.0, 6.0), (6.0, 0.0), (0.0, 0.0))   # (x, y) offsets in pixels
SACCADE_US = 100_000
FRAME_US = 500
THRESHOLD = 0.5
MISMATCH = 0.05
REFRACTORY_US = 1_000
EPS = 0.1
DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])


def upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize [N, h, w] -> [N, size, size], pixel centres aligned (align_corners=False)."""
    n, h, w = images.shape
    def axis(src, dst):
        c = (np.arange(dst) + 0.5) * src / dst - 0.5
        c = np.clip(c, 0, src - 1)
        i0 = np.floor(c).astype(int)
        i1 = np.minimum(i0 + 1, src - 1)
        return i0, i1, c - i0
    y0, y1, fy = axis(h, size)
    x0, x1, fx = axis(w, size)
    rows = images[:, y0, :] * (1 - fy)[None, :, None] + images[:, y1, :] * fy[None, :, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


def render(digits: np.ndarray, ox: float, oy: float) -> np.ndarray:
    """[N, 34, 34]: the 28x28 digits placed at offset (ox, oy) on the sensor, bilinear sub-pixel shift."""
    canvas = np.zeros((digits.shape[0], SENSOR + 1, SENSOR + 1))
    ix, iy = int(np.floor(ox)), int(np.floor(oy))
    fx, fy = ox - ix, oy - iy
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            if wx * wy:
                canvas[:, iy + dy:iy + dy + DIGIT, ix + dx:ix + dx + DIGIT] += wx * wy * digits
    return canvas[:, :SENSOR, :SENSOR]


def offsets_at(t_us: int) -> tuple[float, float]:
    k = min(t_us // SACCADE_US, len(SACCADES) - 2)
    a = (t_us - k * SACCADE_US) / SACCADE_US
    (x0, y0), (x1, y1) = SACCADES[k], SACCADES[k + 1]
    return x0 + a * (x1 - x0), y0 + a * (y1 - y0)


def make_event_digits(images: np.ndarray, seed: int) -> list[np.ndarray]:
    """One structured event array (x, y, t, p; t in microseconds) per 8x8 image in [0, 1]."""
    rng = np.random.default_rng(seed)
    n = images.shape[0]
    digits = upsample(images.astype(np.float64), DIGIT)
    thr = THRESHOLD * np.clip(1 + MISMATCH * rng.standard_normal((n, SENSOR, SENSOR)), 0.5, None)
    ref = np.log(render(digits, *offsets_at(0)) + EPS)
    last = np.full((n, SENSOR, SENSOR), -REFRACTORY_US, dtype=np.int64)
    parts = []
    for t in range(FRAME_US, 3 * SACCADE_US + 1, FRAME_US):
        log_i = np.log(render(digits, *offsets_at(t)) + EPS)
        d = log_i - ref
        fire = (np.abs(d) >= thr) & (t - last >= REFRACTORY_US)
        s, yy, xx = np.nonzero(fire)
        up = d[s, yy, xx] > 0
        ref[s, yy, xx] += np.where(up, thr[s, yy, xx], -thr[s, yy, xx])
        last[s, yy, xx] = t
        jitter = rng.integers(0, FRAME_US, size=s.size)
        parts.append((s, xx, yy, t - FRAME_US + jitter, up))
    s, x, y, t, p = (np.concatenate([q[i] for q in parts]) for i in range(5))
    order = np.lexsort((t, s))
    s, x, y, t, p = s[order], x[order], y[order], t[order], p[order]
    bounds = np.searchsorted(s, np.arange(n + 1))
    recs = []
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        ev = np.zeros(b - a, dtype=DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = x[a:b], y[a:b], t[a:b], p[a:b]
        recs.append(ev)
    return recs


def digits(n: int | None):
    from sklearn.datasets import load_digits
    d = load_digits()
    x, y = d.images / 16.0, d.target.astype(np.int64)
    return (x, y) if n is None else (x[:n], y[:n])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True, metavar="OUT.npz")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=None, help="the first N digits (default all 1797)")
    ap.add_argument("--dt", type=int, default=20_000, help="binning step in microseconds (default 20 ms)")
    ap.add_argument("--steps", type=int, default=15, help="binning steps (default 15: the 300 ms recording)")
    ap.add_argument("--size", type=int, default=None, help="bin onto SIZExSIZE pixels (x * SIZE // 34)")
    ap.add_argument("--merge-polarity", action="store_true", help="bin ON and OFF into one channel")
    a = ap.parse_args(argv)
    x, y = digits(a.n)
    recs = make_event_digits(x, a.seed)
    save_events(a.output, recs, y, (SENSOR, SENSOR, 2), dt=a.dt, steps=a.steps,
                size=None if a.size is None else (a.size, a.size), merge_polarity=a.merge_polarity)
    ne = sum(len(r) for r in recs)
    print(f"{a.output}: {len(recs)} recordings, {ne:,} events ({ne / len(recs):.0f} per digit), "
          f"{Path(a.output).stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
