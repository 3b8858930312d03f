"""Memory of the real-sized benchmark models (bench/real_models.py) as the runtime stores them today,
beside their float32 size and the real-size targets, and which boards they fit.

    .venv/bin/python bench/bench_memory.py [--bits 4,8 8,16]

For each model and each WEIGHT_BITS,STATE_BITS setting: the blob (what flash holds: weights, parameters,
descriptors), its weights and other parameters as lowered, the runtime's arena (SRAM, exact), and the
boards of the catalogue whose flash (runtime code + blob) and SRAM (arena + stack + I/O) hold it
(edgesnn.cost.memory_terms). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_models import MODELS, spike_inputs  # noqa: E402

from edgesnn.board import load_catalogue  # noqa: E402
from edgesnn.cost import memory_terms  # noqa: E402
from edgesnn.emit import to_blob  # noqa: E402
from edgesnn.lower import lower  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402

# the real-size targets (blob bytes at 4-bit weights, and the CNN's arena), for the table's last column
TARGETS = {"mnist_mlp": "blob <= 300,000 B", "nmnist_cnn": "blob <= 40,000 B, arena <= 65,536 B",
           "shd_rnn": "blob <= 200,000 B"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", nargs="+", default=["4,8", "8,16"], metavar="W,S",
                    help="weight bits,state bits settings (default 4,8 8,16)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = ap.parse_args()
    settings = [tuple(int(v) for v in b.split(",")) for b in args.bits]
    boards = [b for b in load_catalogue().values() if not b.is_emulated]
    rows, fit_lists = [], {}
    for name in args.models:
        t0 = time.perf_counter()
        g = MODELS[name]()
        calib = spike_inputs(g.input.shape, n=4, seed=1)
        float_bytes = 4 * g.parameter_count()
        for w, s in settings:
            q = quantize(g, QuantConfig(weight_bits=w, state_bits=s), calib)
            blob = len(to_blob(q))
            low = lower(q)
            weights = sum(nd.param_nbytes(slot) for nd in low.nodes for slot in nd.params if slot == "weight")
            params = sum(nd.param_nbytes(slot) for nd in low.nodes for slot in nd.params if slot != "weight")
            fits = []
            for b in boards:
                flash, sram, _ = memory_terms(g, b, blob, low.arena_bytes)
                if sum(flash.values()) <= b.flash_bytes and sum(sram.values()) <= b.sram_bytes:
                    fits.append(b.id)
            rows.append([name, f"w{w} s{s}", f"{float_bytes:,}", f"{blob:,}", f"{weights:,}", f"{params:,}",
                         f"{low.arena_bytes:,}", f"{float_bytes / (blob + low.arena_bytes):.1f}x",
                         f"{len(fits)} of {len(boards)}", TARGETS[name] if w == 4 else ""])
            fit_lists[(name, w, s)] = fits
        print(f"{name}: built and quantized in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(tabulate(rows, ["model", "bits", "float32 B", "blob B", "weights B", "params B", "arena B",
                          "float32 / model", "fits", "target (#14)"],
                   tablefmt="simple_outline", disable_numparse=True))
    print("float32 / model: float32 parameters over blob + arena. Fits: real boards of the catalogue whose flash "
          "holds runtime code + blob and whose SRAM holds arena + stack + I/O:")
    for (name, w, s), fits in fit_lists.items():
        print(f"  {name} w{w} s{s}: {', '.join(fits) or 'none'}")


if __name__ == "__main__":
    main()
