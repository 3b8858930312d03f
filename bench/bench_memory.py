"""Memory of the real-sized benchmark models (bench/real_models.py) as the runtime stores them today,
beside their float32 size and the real-size targets, and which boards they fit.

    .venv/bin/python bench/bench_memory.py [--bits 4,8 8,16] [--real-only | --examples-only]

For each model and each WEIGHT_BITS,STATE_BITS setting: the blob (what flash holds: weights, parameters,
descriptors), its weights and other parameters as lowered, the runtime's arena (SRAM, exact), and the
boards of the catalogue whose flash (runtime code + blob) and SRAM (arena + stack + I/O) hold it
(edgesnn.cost.memory_terms). Figures are printed, never asserted.

A second table (issue #14: "memory vs float32 at <= 1 point lost on the example models, counted on the
built firmware's model bytes: >= 6x"), for each example model (examples/models/*.json, validated on its
own validation set, results.json's val_data):

  search    every QuantConfig(weight_bits=W, state_bits=S), W in 2..8, S in 8..16 (other knobs at their
            defaults), run in the bit-exact C runtime on the validation set (edgesnn.plan.quant_search.
            evaluate, calibrated on the same inputs, as the planner does); the float model's accuracy is
            the float simulator's (edgesnn.graph.simulate) on the same inputs.
  rule      among the settings whose validation accuracy is at most 1 point below the float model's
            (100 x (correct_float - correct_quant) <= N, N the validation inputs), the one with the fewest
            model bytes; ties go to the higher accuracy, then the fewer weight bits, then state bits.
  measured  the chosen setting as a release build: the library `edgesnn export-c --no-counters` writes
            (counters compiled out: ESN_ENABLE_COUNTERS 0), its sources and its example MCU main compiled
            for Cortex-M4 (arm-none-eabi-gcc -Os, -mfpu=fpv4-sp-d16, linked with --gc-sections, nano and
            nosys specs; builds under the temp dir): model bytes = the sizes of the ELF's parameter tables of
            the generated model.c (symbols snn_<node>_<slot>: weights and parameters, in flash) + the
            runtime's arena (the context's arena member, sizeof(snn_ctx.arena), read from the ELF; equal to
            Lowered.arena_bytes lowered with counters=False = esn_arena_size() of that runtime). The node,
            edge and model descriptors (snn_nodes, snn_edges, snn_model) are shown beside, not counted (a
            float32 runtime would carry the same). The arena with counters compiled in (edgesnn run/profile's
            firmware) is shown in the notes. Without the cross compiler the lowering's figures stand (the
            blob's parameter bytes + the release arena) and the table says so.
  float32   the same program at 32 bits: 4 B x every parameter element the runtime stores (weights, biases,
            neuron parameters, once per layer or channel where uniform, as lowered) + the runtime's arena
            for the same graph with every state variable at 32 bits (its spike and current buffers are
            int32 already; same fixed part, same memory plan, and the same release rule as the model's:
            counters compiled out, lowered with counters=False). A note also gives the ratio by the plainer
            rule 4 x (all float graph parameters, per neuron) + 4 x (every kept node output + state).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_models import MODELS, spike_inputs  # noqa: E402

from edgesnn.board import load_catalogue  # noqa: E402
from edgesnn.cost import memory_terms  # noqa: E402
from edgesnn.data import load_dataset  # noqa: E402
from edgesnn.emit import to_blob  # noqa: E402
from edgesnn.emit.library import library_files  # noqa: E402
from edgesnn.firmware import build as F  # noqa: E402
from edgesnn.firmware.elf import Elf  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.graph.simulate import simulate  # noqa: E402
from edgesnn.lower import align8, lower  # noqa: E402
from edgesnn.plan import quant_search  # noqa: E402
from edgesnn.plan.stats import paired_drop, wilson  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402
from edgesnn.resources import EXAMPLES  # noqa: E402

# the real-size targets (blob bytes at 4-bit weights, and the CNN's arena), for the table's last column
TARGETS = {"mnist_mlp": "blob <= 300,000 B", "nmnist_cnn": "blob <= 40,000 B, arena <= 65,536 B",
           "shd_rnn": "blob <= 200,000 B"}

# ---- the example models: memory vs float32 at <= 1 point lost (#14) -------------------------------------
EXAMPLE_BOARD = "qemu-mps2-an386"
WEIGHT_BITS = tuple(range(2, 9))
STATE_BITS = tuple(range(8, 17))
MAX_DROP_PTS = 1.0
TARGET_RATIO = 6.0
C_NAME = "snn"  # the exported library's prefix (its model.c's tables are snn_<node>_<slot>)
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99", "-Os",
            "-ffunction-sections", "-fdata-sections"]
# the release library's arena, as the compiler lays out its context (read from the ELF: symbol snn_probe_arena)
PROBE = f'#include "{C_NAME}.h"\nconst uint32_t {C_NAME}_probe_arena = (uint32_t)sizeof((({C_NAME}_ctx *)0)->arena);\n'
FLOAT32 = QuantConfig(weight_bits=16, state_bits=32, current_bits=32)  # every state variable at 32 bits


def example_models() -> dict[str, tuple[Path, Path, Path]]:
    """name -> (graph JSON, validation .npz, test .npz) of every example model results.json names."""
    models = EXAMPLES / "models"
    recorded = json.loads((models / "results.json").read_text())
    return {name: (models / r["model"], EXAMPLES / "data" / r["val_data"], EXAMPLES / "data" / r["test_data"])
            for name, r in sorted(recorded.items())}


def load_set(graph: Graph, path: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_dataset(path)
    return x.reshape(*x.shape[:2], *graph.input.shape), y


def within(float_correct: int, quant_correct: int, n: int, max_drop_pts: float = MAX_DROP_PTS) -> bool:
    """The rule: the quantized model gets at most `max_drop_pts` points fewer of the n inputs right (exact in
    counts: 100 x (float - quant) <= max_drop_pts x n)."""
    return 100 * (float_correct - quant_correct) <= max_drop_pts * n


def choose(float_correct: int, n: int, cands: list[tuple[QuantConfig, int, int]],
           max_drop_pts: float = MAX_DROP_PTS) -> int | None:
    """Index into cands [(config, correct, model bytes)] of the setting the rule picks: within max_drop_pts of
    the float model, fewest model bytes, then most inputs right, then fewest weight bits, then state bits;
    None when no setting is within."""
    ok = [i for i, (_, k, _) in enumerate(cands) if within(float_correct, k, n, max_drop_pts)]
    if not ok:
        return None
    return min(ok, key=lambda i: (cands[i][2], -cands[i][1], cands[i][0].weight_bits, cands[i][0].state_bits))


def lowered_bytes(qgraph, counters: bool = True) -> tuple[int, int, int]:
    """(weight bytes, other parameter bytes, arena bytes) of `qgraph` as lowered (what the blob and model.c
    hold, and esn_arena_size() of a runtime built with ESN_ENABLE_COUNTERS = counters)."""
    low = lower(qgraph, counters=counters)
    weights = sum(nd.param_nbytes(s) for nd in low.nodes for s in nd.params if s == "weight")
    params = sum(nd.param_nbytes(s) for nd in low.nodes for s in nd.params if s != "weight")
    return weights, params, low.arena_bytes


def float32_bytes(graph: Graph, calib: np.ndarray) -> dict:
    """The float32 counterpart (module docstring): 'params' + 'arena' = 'total' (same layout at 32 bits, counters
    compiled out as in the model's release build; 'counting_total' with them compiled in), and
    'plain' by the plainer rule 4 x (graph parameters) + 4 x (kept node outputs + state variables)."""
    q = quantize(graph, FLOAT32, calib)
    low = lower(q, counters=False)  # the release rule, as the model's
    params = 4 * sum(int(nd.params[s].size) for nd in low.nodes for s in nd.params)
    kept = sum(nd.out_size for nd in low.nodes if nd.kind not in ("Output", "Flatten"))
    state = sum(nd.n_state * nd.out_size for k, nd in enumerate(low.nodes) if low.state_bytes(k))
    return {"params": params, "arena": low.arena_bytes, "total": params + low.arena_bytes,
            "counting_total": params + lower(q).arena_bytes,   # counters compiled in, both sides
            "plain": 4 * graph.parameter_count() + 4 * (kept + state)}


@dataclass
class FirmwareBytes:
    """A release build's model bytes read from its ELF (or, where none could be built, the lowering's)."""
    params: int            # sum of the snn_<node>_<slot> tables (weights and parameters)
    descriptors: int       # snn_nodes + snn_edges + snn_model
    arena: int             # sizeof(snn_ctx.arena): the runtime's arena in the library's context
    source: str            # the ELF's path, or why the lowering's figures stand
    symbols: dict = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return self.source.endswith(".elf")


def _symbol_u32(elf: Elf, name: str) -> int:
    """The value of a const uint32_t symbol, from its section's bytes."""
    sym = elf.symbols()[name]
    for i, sec in enumerate(elf.sections):
        if sec.alloc and not sec.nobits and sec.addr <= sym.value < sec.addr + sec.size:
            return int.from_bytes(elf.section_data(i)[sym.value - sec.addr: sym.value - sec.addr + 4], "little")
    raise RuntimeError(f"{elf.path}: {name} lies in no section with bytes")


def release_bytes(qgraph, build_dir: Path) -> FirmwareBytes:
    """Exports `qgraph` as the release library (export-c --no-counters), builds it with its MCU example main
    for Cortex-M4 and reads its model tables and arena from the ELF (module docstring)."""
    try:
        cc = F.find_tool("arm-none-eabi-gcc")
    except F.ToolchainMissing as e:
        w, p, a = lowered_bytes(qgraph, counters=False)
        return FirmwareBytes(w + p, 0, a, f"not built ({e}): the lowering's parameter bytes + release arena")
    shutil.rmtree(build_dir, ignore_errors=True)
    lib = library_files(qgraph, "cmake", C_NAME, counters=False)
    for rel, data in lib.files.items():
        (build_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (build_dir / rel).write_bytes(data)
    (build_dir / "probe.c").write_text(PROBE)
    sources = [*sorted((build_dir / "src").glob("*.c")), *sorted((build_dir / "runtime" / "src").rglob("*.c")),
               build_dir / "examples" / "mcu" / "main.c", build_dir / "probe.c"]
    elf = build_dir / f"{C_NAME}_release.elf"
    cmd = [cc, *M4_FLAGS, f"-I{build_dir / 'include'}", f"-I{build_dir / 'runtime' / 'include'}",
           f"-I{build_dir / 'src'}", f"-I{build_dir / 'runtime' / 'src'}", *map(str, sources), "--specs=nano.specs",
           "--specs=nosys.specs", "-Wl,--gc-sections", f"-Wl,--undefined={C_NAME}_probe_arena", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"release build failed:\n{' '.join(cmd)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    e = Elf(elf)
    syms = e.symbols()
    tables = {n: s.size for n, s in syms.items() if re.fullmatch(rf"{C_NAME}_\d+_\w+", n)}
    desc = sum(syms[n].size for n in (f"{C_NAME}_nodes", f"{C_NAME}_edges", f"{C_NAME}_model") if n in syms)
    return FirmwareBytes(sum(tables.values()), desc, _symbol_u32(e, f"{C_NAME}_probe_arena"), str(elf), tables)


@dataclass
class ExampleResult:
    name: str
    n_val: int
    float_correct: int
    config: QuantConfig | None = None
    quant_correct: int = 0
    drop_ci: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acc_ci: tuple[float, float] = (0.0, 0.0)
    lowered: tuple[int, int, int] = (0, 0, 0)        # weights, params, arena as lowered (release: no counters)
    counting_arena: int = 0                           # the arena with counters compiled in (run/profile firmware)
    fw: FirmwareBytes | None = None
    float32: dict = field(default_factory=dict)
    test: tuple[float, float, int] | None = None      # (float, quantized accuracy, inputs) on the test set
    best: tuple[QuantConfig, int, int] | None = None  # none within: the most accurate setting (config, correct, B)
    candidates: list = field(default_factory=list)    # every setting searched: (config, correct, model B as lowered)
    searched: int = 0
    seconds: float = 0.0

    @property
    def model_bytes(self) -> int:
        return self.fw.params + self.fw.arena

    @property
    def ratio(self) -> float:
        return self.float32["total"] / self.model_bytes


def search_example(name: str, board, *, weight_bits=WEIGHT_BITS, state_bits=STATE_BITS,
                   max_drop_pts: float = MAX_DROP_PTS, cache_dir: Path | None = None, test: bool = True,
                   log=None, models: dict | None = None) -> ExampleResult:
    """The rule's setting for example model `name` and its model bytes measured on its release build (for `board`'s
    core, Cortex-M4; the board names the table). models: name -> (graph JSON, validation .npz, test .npz) to take
    `name` from (default example_models(); examples/seeds_real.py passes the real-sized trained models)."""
    t0 = time.perf_counter()
    gpath, vpath, tpath = (models or example_models())[name]
    g = Graph.load(gpath)
    x, y = load_set(g, vpath)
    fcorrect = np.asarray(simulate(g, x).pred == y)
    n = int(y.size)
    configs = [QuantConfig(weight_bits=w, state_bits=s) for w in weight_bits for s in state_bits]
    evs = quant_search.evaluate(g, configs, x, y, calib=x, workers=1)
    res = ExampleResult(name, n, int(fcorrect.sum()), float32=float32_bytes(g, x), searched=len(configs))
    # model bytes of every candidate as lowered (the ELF of the chosen one is checked against them below);
    # the float simulation behind quantize's ranges runs once, as in the search
    with quant_search.observed_once(g, x):
        sizes = [lowered_bytes(quantize(g, c, x), counters=False) for c in configs]
    cands = [(c, int(e.correct.sum()), w + p + a) for c, e, (w, p, a) in zip(configs, evs, sizes)]
    res.candidates = cands
    i = choose(res.float_correct, n, cands, max_drop_pts)
    if i is None:
        res.best = min(cands, key=lambda c: (-c[1], c[2]))
        res.seconds = time.perf_counter() - t0
        if log:
            log(f"{name}: {len(configs)} settings on {n} validation inputs, none within {max_drop_pts:g} point, "
                f"{res.seconds:.1f} s")
        return res
    res.config, res.quant_correct, res.lowered = configs[i], cands[i][1], sizes[i]
    res.drop_ci = paired_drop(fcorrect, evs[i].correct)
    res.acc_ci = wilson(res.quant_correct, n)
    q = quantize(g, res.config, x)
    res.counting_arena = lower(q).arena_bytes
    res.fw = release_bytes(q, Path(cache_dir or tempfile.gettempdir()) / f"release-{name}")
    if test:
        xt, yt = load_set(g, tpath)
        qt = quant_search.evaluate(g, [res.config], xt, yt, calib=x, workers=1)[0]
        res.test = (float(np.mean(simulate(g, xt).pred == yt)), qt.accuracy, int(yt.size))
    res.seconds = time.perf_counter() - t0
    if log:
        log(f"{name}: {len(configs)} settings on {n} validation inputs, chosen w{res.config.weight_bits} "
            f"s{res.config.state_bits}, release build {'built' if res.fw.measured else 'not built'}, "
            f"{res.seconds:.1f} s")
    return res


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}"


def example_table(results: list[ExampleResult], board_id: str) -> str:
    rows, notes = [], []
    for r in results:
        fl = r.float32
        f32 = f"{fl['params']:,} / {fl['arena']:,} / {fl['total']:,}"
        if r.config is None:
            c, k, b = r.best
            rows.append([r.name, r.n_val, "none within", _pct(r.float_correct, r.n_val),
                         f"best {_pct(k, r.n_val)} ({100 * (r.float_correct - k) / r.n_val:+.1f} pt)", "", "", f32,
                         "", f">= {TARGET_RATIO:g}x", "no"])
            notes.append(f"  {r.name}: {r.searched} settings, {r.seconds:.1f} s; no setting within {MAX_DROP_PTS:g} "
                         f"point of float ({r.float_correct} of {r.n_val} right); the most accurate, "
                         f"w{c.weight_bits} s{c.state_bits}, gets {k} right at {b:,} model B as lowered "
                         f"({fl['total'] / b:.2f}x)")
            continue
        drop, lo, hi = r.drop_ci
        w, p, a = r.lowered
        rows.append([r.name, r.n_val, f"w{r.config.weight_bits} s{r.config.state_bits}",
                     _pct(r.float_correct, r.n_val),
                     f"{_pct(r.quant_correct, r.n_val)} ({100 * drop:+.1f} pt, {100 * lo:+.1f}..{100 * hi:+.1f})",
                     f"{r.fw.params:,} / {r.fw.arena:,} / {r.model_bytes:,}", f"{r.fw.descriptors:,}", f32,
                     f"{r.ratio:.2f}x", f">= {TARGET_RATIO:g}x", "yes" if r.ratio >= TARGET_RATIO else "no"])
        checks = []
        if r.fw.measured:
            checks.append("ELF tables = lowered weights + params" if r.fw.params == w + p else
                          f"ELF tables {r.fw.params:,} B != lowered {w + p:,} B")
            checks.append("ELF arena = lowered release arena" if r.fw.arena == align8(a) else
                          f"ELF arena {r.fw.arena:,} B != lowered release arena {a:,} B")
        else:
            checks.append(r.fw.source)
        test = (f"test set ({r.test[2]} inputs): float {100 * r.test[0]:.1f} %, quantized {100 * r.test[1]:.1f} % "
                f"({100 * (r.test[1] - r.test[0]):+.1f} pt)" if r.test else "")
        notes.append(f"  {r.name}: {r.searched} settings, {r.seconds:.1f} s; weights {w:,} B + params {p:,} B; "
                     f"accuracy 95 % Wilson {100 * r.acc_ci[0]:.1f}..{100 * r.acc_ci[1]:.1f} %; {'; '.join(checks)}; "
                     f"with counters compiled in (both sides) the arena is {r.counting_arena:,} B: "
                     f"{fl['counting_total']:,} / {r.fw.params + r.counting_arena:,} B = "
                     f"{fl['counting_total'] / (r.fw.params + r.counting_arena):.2f}x; "
                     f"ratio by the plain rule {fl['plain']:,} B / {r.model_bytes:,} B = "
                     f"{fl['plain'] / r.model_bytes:.2f}x; {test}")
    table = tabulate(rows, ["model", "val N", "setting", "float %", "quant % (drop, 95 % paired CI)",
                            "model B (w+p / arena / total)", "descr. B", "float32 B (p / arena / total)",
                            "float32 / model", "target (#14)", "met"],
                     tablefmt="simple_outline", disable_numparse=True)
    measured = all(r.fw is None or r.fw.measured for r in results)
    head = (f"Example models: the fewest model bytes within {MAX_DROP_PTS:g} point of float on the validation set "
            f"(weight bits {WEIGHT_BITS[0]}..{WEIGHT_BITS[-1]} x state bits {STATE_BITS[0]}..{STATE_BITS[-1]}), "
            + (f"measured on the ELF of the release build ({board_id}'s core, Cortex-M4; counters compiled out)"
               if measured else
               "NOT measured on firmware (see the notes): lowering's parameter bytes + arena"))
    foot = ("Drop = float - quantized, in points, with Newcombe's paired 95 % interval (edgesnn.plan.stats). Model B: "
            "the ELF's snn_<node>_<slot> tables (weights + parameters, flash) / the runtime's arena (esn_arena_size of "
            "the release runtime, SRAM) / total; descr. B: the node, edge and model descriptors, not counted. float32 B: 4 B x the "
            "parameter elements the runtime stores / the runtime's arena with every state variable at 32 bits "
            "(see the module docstring).")
    return "\n".join([head, table, foot, *notes])


# ---- the real-sized models ----------------------------------------------------------------------------

def real_table(names: list[str], settings: list[tuple[int, int]]) -> str:
    boards = [b for b in load_catalogue().values() if not b.is_emulated]
    rows, fit_lists = [], {}
    for name in names:
        t0 = time.perf_counter()
        g = MODELS[name]()
        calib = spike_inputs(g.input.shape, n=4, seed=1)
        float_bytes = 4 * g.parameter_count()
        for w, s in settings:
            q = quantize(g, QuantConfig(weight_bits=w, state_bits=s), calib)
            blob = len(to_blob(q))
            weights, params, arena = lowered_bytes(q)
            fits = []
            for b in boards:
                flash, sram, _ = memory_terms(g, b, blob, arena)
                if sum(flash.values()) <= b.flash_bytes and sum(sram.values()) <= b.sram_bytes:
                    fits.append(b.id)
            rows.append([name, f"w{w} s{s}", f"{float_bytes:,}", f"{blob:,}", f"{weights:,}", f"{params:,}",
                         f"{arena:,}", f"{float_bytes / (blob + arena):.1f}x",
                         f"{len(fits)} of {len(boards)}", TARGETS[name] if w == 4 else ""])
            fit_lists[(name, w, s)] = fits
        print(f"{name}: built and quantized in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    lines = [tabulate(rows, ["model", "bits", "float32 B", "blob B", "weights B", "params B", "arena B",
                             "float32 / model", "fits", "target (#14)"],
                      tablefmt="simple_outline", disable_numparse=True),
             "float32 / model: float32 parameters over blob + arena. Fits: real boards of the catalogue whose flash "
             "holds runtime code + blob and whose SRAM holds arena + stack + I/O:"]
    for (name, w, s), fits in fit_lists.items():
        lines.append(f"  {name} w{w} s{s}: {', '.join(fits) or 'none'}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", nargs="+", default=["4,8", "8,16"], metavar="W,S",
                    help="weight bits,state bits settings of the real-sized models (default 4,8 8,16)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--examples", nargs="+", default=None, metavar="NAME",
                    help="example models to search (default: every one results.json names)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--real-only", action="store_true", help="only the real-sized models' table")
    which.add_argument("--examples-only", action="store_true", help="only the example models' table")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "edgesnn-bench-memory" / "release",
                    help="where the release builds go, one folder per model (default: under the temp dir)")
    args = ap.parse_args()
    if not args.examples_only:
        settings = [tuple(int(v) for v in b.split(",")) for b in args.bits]
        print(real_table(args.models, settings), flush=True)
    if args.real_only:
        return
    known = example_models()
    names = args.examples or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        ap.error(f"unknown example models {unknown}; known: {', '.join(known)}")
    board = load_catalogue()[EXAMPLE_BOARD]
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results = [search_example(n, board, cache_dir=args.cache, log=log) for n in names]
    if not args.examples_only:
        print()
    print(example_table(results, EXAMPLE_BOARD))


if __name__ == "__main__":
    main()
