"""The research seeds' figures re-measured on the real-sized trained models (examples/models/real/), each beside
the seed's published claim.

    python examples/seeds_real.py                               # all five parts (data: train_real.py --data-only;
                                                                # spikernel: --data-only events --with-train)
    python examples/seeds_real.py --only qspinn,dtsnn           # some of them
    python examples/seeds_real.py --only alif --seeds 3         # fewer seeds (missing ones are trained, then cached)

Parts (--only):
  qspinn  Q-SpiNN (Putra & Shafique, IJCNN 2021: "ca. 4x memory footprint reduction, accuracy within 1 % of the
          baseline", unsupervised MNIST). Per model, bench/bench_memory.py's example-model rule, reused as it is
          (search_example): every QuantConfig(weight_bits 2..8, state_bits in STATE_BITS) run bit-exactly in the C
          runtime on the validation set; the setting with the fewest model bytes within 1 point of the float
          simulation; its model bytes (weight and parameter tables + arena) read from the ELF of the release
          build (Cortex-M4, counters compiled out) against the float32 program's bytes. Post-training from the
          saved graphs, whose weights QAT put on a 4-bit grid (train_real.py): the float baseline is that graph
          in float, not the float network before QAT.
  dtsnn   DT-SNN (Li et al., 2023, arXiv 2305.17346: entropy exit after each step; "1.46 average timesteps to
          achieve the accuracy of a 4-timestep static SNN while reducing the energy-delay product by 80 %").
          Per model at its training config (results.json fixed_config): the exit policy chosen on the
          validation set by the planner's calibration (edgesnn.plan.exit.calibrate, max_drop 0.5 point, as
          plan() calls it), then on the test set run in the bit-exact C runtime with and without it (accuracy,
          mean steps), and on the first --qemu test inputs on the emulated board QEMU_BOARD with and without it
          (the firmware with the model compiled in): QEMU's instructions per input, measured. EDP is given two
          ways, each named: from the measured instructions at a constant energy per instruction (EDP ~
          instructions^2), and from the cost model (edgesnn.cost.estimate, the board's calibration) over the
          whole test set.
  stems   STEMS (Eissa et al., IEEE TC 2025, arXiv 2502.03287: "up to 12x reduction in off-chip data movement"
          from layer fusion and time batching). nmnist_cnn at its training config on STEMS_BOARD (the STM32F746
          disco: 8 MiB external SDRAM) with its weights placed in the SDRAM: per schedule (time-step-major, fused,
          layer-major; the grouped ones also with their weights staged into the arena once per input), the
          weight bytes read from the slow memory per input, measured by the C runtime on the test inputs (its
          param_bytes_read counters of the weighted layers; staged: the bytes the runtime copied, its
          staged_bytes), the arena (edgesnn.lower.arena_size_schedule: what the runtime and firmware allocate)
          and peak SRAM = arena + the board's stack + I/O (analytical terms). Modelled: the SDRAM reads' energy
          from the traffic and the board file's access cost, and the whole input's energy by the cost model
          (edgesnn.cost.estimate with the weights in SDRAM, or in the arena once staged, plus the copy) on the
          board (priors: it has no calibration) and on its emulated twin STEMS_TWINS (calibrated instructions,
          but no SDRAM wait states).
  alif    Multiple-timescale ALIF vs LIF at equal size (Yin, Corradi & Bohte, Nat. Mach. Intell. 2021: adaptive
          multiple-timescale spiking RNNs beat LIF ones on SHD and other time-domain tasks). shd_alif and shd_lif
          over --seeds training seeds (0: the committed models; the others trained by train_real.py --seed into
          examples/data/real/seeds/seedN/, git-ignored, reused when there): test accuracy in float (the saved
          graph simulated), at the training's fixed config (w4 s16) and at the config plan_real chose on
          QEMU_BOARD (plans_real.json), plus the float accuracy before QAT that training recorded.
  spikernel  SpiKernel (Putra & Shafique, IEEE ESL 2025, arXiv 2404.01685: kernel-size exploration for higher
          accuracy at an acceptable memory footprint). `edgesnn search-kernels` on nmnist_cnn (edgesnn.train.
          kernel_search, template space): both convolutions at every size of KERNEL_SEARCH (valid padding kept, so
          smaller kernels leave larger maps), memory = model + arena against KERNEL_BOARD's 128 KiB SRAM, a short
          proxy ranks them, the proxy's front and the template's own kernels (5x5, 5x5) train in full with
          train_real.py's recipe over 3 seeds; fixed-point validation chooses, test is reported. Reused from
          results/kernel_search_real/search.json when it ran with these settings (it takes about 40 min).

Writes examples/results/seeds_real.json (every figure, per part, with its wall time) and prints the markdown table
that examples/README.md carries ("The seeds on the real-sized models"). Nothing here is hard-coded but the claims.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "bench"))

import bench_memory as BM  # noqa: E402

from edgesnn.artifact import save_json  # noqa: E402
from edgesnn.board import load_catalogue  # noqa: E402
from edgesnn.cost import coefficients, estimate, memory_terms  # noqa: E402
from edgesnn.emit.blob import blob_from_lowered  # noqa: E402
from edgesnn.graph import Graph  # noqa: E402
from edgesnn.graph.simulate import simulate  # noqa: E402
from edgesnn.lower import SCHEDULES, lower  # noqa: E402
from edgesnn.plan.exit import calibrate  # noqa: E402
from edgesnn.quantize import QuantConfig, quantize  # noqa: E402
from edgesnn.runtime.binding import CModel, run_c  # noqa: E402

PARTS = ("qspinn", "dtsnn", "stems", "alif", "spikernel")
MODELS = ("mnist_mlp", "nmnist_cnn", "shd_alif", "shd_lif")
FEEDFORWARD = ("mnist_mlp", "nmnist_cnn")
REAL = HERE / "models" / "real"
DATA = HERE / "data"
SEEDS_DIR = DATA / "real" / "seeds"          # git-ignored: examples/data/real/
OUT = HERE / "results" / "seeds_real.json"
QEMU_BOARD = "qemu-mps2-an386"
STEMS_BOARD = "stm32f746g-disco"             # 8 MiB external SDRAM, 12 read cycles a word (boards/*.toml; priors)
STEMS_TWINS = ("qemu-mps2-an500",)           # its emulated twin: calibrated instructions, but no wait states
STEMS_MODEL = "nmnist_cnn"
STATE_BITS = (8, 10, 12, 16)                 # state stored int8 at <= 8 bits, int16 above: bytes change at 8 only
EXIT_MAX_DROP = 0.005                         # plan()'s exit_max_drop: 0.5 point of the full-length run
KERNEL_BOARD = "nucleo-f446re"               # 128 KiB SRAM: the kernel search's budget (model + arena)
KERNEL_SEARCH = {"kernel_sizes": [1, 3, 5, 7], "epochs": 6, "proxy_epochs": 2, "proxy_fraction": 0.5, "lr": 3e-3,
                 "batch_size": 32, "seeds": 3, "seed": 0}  # train_real.py's nmnist_cnn recipe, 3 seeds
KERNEL_OUT = HERE / "results" / "kernel_search_real"
CLAIMS = {
    "qspinn": "Q-SpiNN (Putra & Shafique, IJCNN 2021): ca. 4x less memory than the 32-bit baseline within 1 % "
              "accuracy (unsupervised MNIST; supervised DVS-Gesture: ca. 2x within 2 %)",
    "dtsnn": "DT-SNN (Li, Moitra, Geller, Panda 2023, arXiv 2305.17346): 1.46 mean steps for the accuracy of a "
             "4-step static SNN (2.7x fewer), energy-delay product -80 % (on in-memory-computing hardware)",
    "stems": "STEMS (Eissa et al., IEEE Trans. Computers 2025, arXiv 2502.03287): up to 12x less off-chip data "
             "movement and up to 5x less energy from layer fusion and time batching",
    "alif": "Yin, Corradi & Bohte (Nat. Mach. Intell. 2021): adaptive (multiple-timescale) spiking RNNs beat "
            "LIF ones at equal size on SHD and other time-domain tasks (SHD 90.4 % with ALIF)",
    "spikernel": "SpiKernel (Putra & Shafique, IEEE Embedded Systems Letters 2025, arXiv 2404.01685): exploring "
                 "kernel sizes raises an SNN's accuracy at an acceptable memory footprint (CIFAR-10 93.24 % with "
                 "< 10M parameters)",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- the models -------------------------------------------------------------------------------------

def real_models(root: Path = REAL, data: Path = DATA) -> dict[str, dict]:
    """name -> {graph, val, test (paths), config (QuantConfig of training), calib (validation inputs it was
    calibrated on), record (results.json's entry)} of the trained models under `root`."""
    recorded = json.loads((root / "results.json").read_text())
    out = {}
    for name, r in recorded.items():
        fc = dict(r.get("fixed_config") or {})
        calib = fc.pop("calibration", "")
        n = int(calib.split()[1]) if calib.startswith("first ") else None
        out[name] = {"graph": root / r["model"], "val": data / r["val_data"], "test": data / r["test_data"],
                     "config": QuantConfig(**fc) if fc else QuantConfig(weight_bits=8, state_bits=16),
                     "calib": n, "record": r}
    return out


def load(ref: dict):
    """(graph, x_val, y_val, x_test, y_test, calibration inputs) of a model of real_models()."""
    g = Graph.load(ref["graph"])
    for p in (ref["val"], ref["test"]):
        if not p.exists():
            how = ref["record"].get("data_command", "python examples/train_real.py --data-only TASK")
            raise SystemExit(f"{p} missing: run {how}")
    xv, yv = BM.load_set(g, ref["val"])
    xt, yt = BM.load_set(g, ref["test"])
    return g, xv, yv, xt, yt, xv[:ref["calib"]] if ref["calib"] else xv


# ---- Q-SpiNN ------------------------------------------------------------------------------------------

def qspinn(name: str, ref: dict, *, weight_bits=BM.WEIGHT_BITS, state_bits=STATE_BITS, cache_dir: Path | None = None,
           test: bool = True) -> dict:
    """bench_memory's rule (fewest model bytes within 1 point of float on validation, bytes from the release
    ELF) applied to one model; the figures as a dict."""
    board = load_catalogue()[BM.EXAMPLE_BOARD]
    r = BM.search_example(name, board, weight_bits=weight_bits, state_bits=state_bits, test=test,
                          cache_dir=cache_dir or Path(tempfile.gettempdir()) / "edgesnn-seeds-real",
                          models={name: (ref["graph"], ref["val"], ref["test"])})
    d = {"searched": r.searched, "val_inputs": r.n_val, "float_val_accuracy": r.float_correct / r.n_val,
         "float_test_accuracy_before_qat_recorded": ref["record"].get("accuracy_float_before_qat"),
         "weight_bits": list(weight_bits), "state_bits": list(state_bits), "float32_bytes": r.float32,
         "seconds": round(r.seconds, 1)}
    if r.config is None:
        c, k, b = r.best
        return d | {"within": False, "best": {"config": c.to_dict(), "val_accuracy": k / r.n_val,
                                               "model_bytes_lowered": b, "ratio": r.float32["total"] / b}}
    w, p, a = r.lowered
    return d | {"within": True, "config": r.config.to_dict(), "val_accuracy": r.quant_correct / r.n_val,
                "drop_pts_val": 100 * (r.float_correct - r.quant_correct) / r.n_val,
                "drop_ci_val": [100 * v for v in r.drop_ci],
                "model_bytes": r.model_bytes, "tables_bytes": r.fw.params, "arena_bytes": r.fw.arena,
                "descriptor_bytes": r.fw.descriptors, "lowered_bytes": {"weights": w, "params": p, "arena": a},
                "measured_on_elf": r.fw.measured, "source": r.fw.source,
                "ratio": r.ratio,
                "test": None if r.test is None else {"float": r.test[0], "quantized": r.test[1], "inputs": r.test[2],
                                                     "drop_pts": 100 * (r.test[0] - r.test[1])}}


# ---- DT-SNN -------------------------------------------------------------------------------------------

def dtsnn(name: str, ref: dict, *, qemu: int = 8, board_id: str = QEMU_BOARD, max_drop: float = EXIT_MAX_DROP) -> dict:
    """The entropy exit calibrated on validation (the planner's calibrate), on the test set with and without it
    (C runtime), on QEMU for the first `qemu` test inputs (instructions), and the cost model's EDP."""
    t0 = time.perf_counter()
    g, xv, yv, xt, yt, calib = load(ref)
    q = quantize(g, ref["config"], calib)
    pol = calibrate(run_c(q, xv).outputs, yv, max_drop=max_drop)
    full = run_c(q, xt)
    qe = q.with_exit(pol.threshold_q8, pol.beta_q16)
    ex = run_c(qe, xt) if pol.threshold_q8 is not None else full
    steps = int(xt.shape[1])
    board = load_catalogue()[board_id]
    cost_full, cost_exit = estimate(q, full, board).summary(), estimate(qe, ex, board).summary()
    d = {"config": ref["config"].to_dict(), "steps": steps,
         "policy": {k: v for k, v in pol.to_dict().items() if k != "curve"},
         "test_inputs": int(len(yt)), "test_accuracy_full": float(np.mean(full.pred == yt)),
         "test_accuracy_exit": float(np.mean(ex.pred == yt)),
         "test_mean_steps_exit": float(ex.mean_steps), "step_reduction": steps / float(ex.mean_steps),
         "cost_model": {"board": board_id, "full": cost_full, "exit": cost_exit,
                        "edp_ratio": cost_exit["edp_js"] / cost_full["edp_js"],
                        "energy_ratio": cost_exit["energy_j"] / cost_full["energy_j"]}}
    d["test_drop_pts"] = 100 * (d["test_accuracy_full"] - d["test_accuracy_exit"])
    if qemu and pol.threshold_q8 is not None:  # without an exit both runs would be the same
        d["qemu"] = qemu_pair(q, qe, xt[:qemu], yt[:qemu], board)
    d["seconds"] = round(time.perf_counter() - t0, 1)
    return d


def qemu_pair(q, qe, x: np.ndarray, y: np.ndarray, board) -> dict:
    """Instructions per input on the emulated board without and with the exit (the model compiled in), each run's
    outputs compared with the C runtime's on the host; EDP at a constant energy per instruction."""
    from edgesnn.api import run
    out = {"board": board.id, "inputs": int(len(x))}
    for label, model in (("full", q), ("exit", qe)):
        if model is None:
            out[label] = None
            continue
        ran = run(model, x, board=board, builtin=True, boot_timeout=120)
        m = ran.measurement
        host = run_c(model, x)
        steps = m.steps if m.steps is not None else np.full(len(x), x.shape[1])
        out[label] = {"instructions_per_input": None if m.run_cycles is None else float(np.mean(m.run_cycles)),
                      "unit": m.unit, "mean_steps": float(np.mean(steps)), "accuracy": float(np.mean(m.pred == y)),
                      "outputs_identical_with_host": bool(np.array_equal(m.outputs, host.outputs)),
                      "wall_seconds": round(ran.wall_seconds, 1)}
    if out["exit"] and out["full"]["instructions_per_input"] and out["exit"]["instructions_per_input"]:
        r = out["exit"]["instructions_per_input"] / out["full"]["instructions_per_input"]
        out["instruction_ratio"] = r
        out["edp_ratio_constant_energy_per_instruction"] = r * r
    return out


# ---- STEMS --------------------------------------------------------------------------------------------

def _modelled(q, res, board, label: str, low, stage: bool, staged: int) -> dict:
    """The cost model's energy and cycles per input with the weights read where they are read from (the board's
    sdram region, or the arena once staged) plus, staged, the copy (read from sdram, written to the arena)."""
    cf = coefficients(board)
    cv, ar = cf.values, board.arena_region
    slow = next(r for r, v in board.regions.items() if v.kind == "sdram")
    rep = estimate(q, res, board, coeffs=cf, schedule=label, arena_bytes=low.arena_bytes,
                   placement={"weights": ar if stage else slow, "arena": ar}).summary()
    words = staged / 4
    copy_j = words * (cv[f"{slow}.read_energy_pj"] + cv[f"{ar}.write_energy_pj"]) * 1e-12
    copy_cycles = words * (cv[f"{slow}.read_cycles"] + cv[f"{ar}.write_cycles"])
    return {"energy_uj_per_input": (rep["energy_j"] + copy_j) * 1e6, "cycles_per_input": rep["cycles"] + copy_cycles,
            "calibration": cf.calibration, "sdram_read_cycles": cv[f"{slow}.read_cycles"],
            "sdram_read_energy_pj": cv[f"{slow}.read_energy_pj"]}


def stems(name: str, ref: dict, *, board_id: str = STEMS_BOARD, twins=STEMS_TWINS, inputs: int | None = 32) -> dict:
    """Weight traffic from the slow memory and peak SRAM per schedule, weights in the board's SDRAM; the cost
    model's energy on `board_id` and on `twins` (boards with the same memory map, e.g. its emulated twin)."""
    t0 = time.perf_counter()
    g, xv, yv, xt, yt, calib = load(ref)
    q = quantize(g, ref["config"], calib)
    x = xt[:inputs] if inputs else xt
    n, steps = int(len(x)), int(x.shape[1])
    board = load_catalogue()[board_id]
    slow = next((r for r, v in board.regions.items() if v.kind == "sdram"), None)
    if slow is None:
        raise SystemExit(f"{board_id} has no external (sdram) region")
    twins = [load_catalogue()[t] for t in twins]
    energy_pj = coefficients(board).values[f"{slow}.read_energy_pj"]
    low0 = lower(q)
    bias = {nd.name: nd.param_nbytes("bias") if "bias" in nd.params else 0 for nd in low0.nodes}
    weighted = [nd.name for nd in low0.nodes if "weight" in nd.params]
    ref_out, rows = None, {}
    for label, spec in SCHEDULES.items():
        for stage in ([None] if spec == "time" else [None, "all"]):
            key = label + (" + staged weights" if stage else "")
            try:
                low = lower(q, spec, steps, stage)
            except Exception as e:  # noqa: BLE001 (a schedule the runtime refuses: say why)
                rows[key] = {"refused": str(e)}
                continue
            res = run_c(q, x, schedule=spec, stage=stage)
            if ref_out is None:
                ref_out = res.outputs
            read = {k: float(res.counts[k]["param_bytes_read"].sum()) / n for k in weighted}
            # the weights alone: param_bytes_read less the bias each invocation reads (one per step)
            wread = {k: read[k] - bias[k] * steps for k in weighted}
            staged = staged_bytes(low, x[:1]) if stage else 0
            slow_bytes = staged if stage else sum(wread.values())
            _, sram, _ = memory_terms(g, board, 0, low.arena_bytes)
            modelled = {b.id: _modelled(q, res, b, label, low, bool(stage), staged) for b in (board, *twins)}
            rows[key] = {"schedule": label, "staged": bool(stage), "arena_bytes": int(low.arena_bytes),
                         "peak_sram_bytes": int(sum(sram.values())), "sram_terms": sram,
                         "fits_board_sram": bool(sum(sram.values()) <= board.sram_bytes
                                                 and low.arena_bytes <= board.regions[board.arena_region].size_bytes),
                         "weight_bytes_read_per_input": sum(wread.values()),
                         "slow_memory_weight_bytes_per_input": float(slow_bytes),
                         "slow_memory_energy_uj_per_input": slow_bytes / 4 * energy_pj * 1e-6,
                         "outputs_identical": bool(np.array_equal(res.outputs, ref_out)),
                         "modelled": modelled,
                         "modelled_energy_uj_per_input": modelled[board.id]["energy_uj_per_input"]}
    base = rows["time-step-major"]["slow_memory_weight_bytes_per_input"]
    for r in rows.values():
        if "refused" not in r:
            r["slow_traffic_reduction"] = base / r["slow_memory_weight_bytes_per_input"]
            for bid, m in r["modelled"].items():
                m["energy_reduction"] = (rows["time-step-major"]["modelled"][bid]["energy_uj_per_input"]
                                         / m["energy_uj_per_input"])
            r["modelled_energy_reduction"] = r["modelled"][board_id]["energy_reduction"]
    total_w = sum(nd.param_nbytes("weight") for nd in low0.nodes if "weight" in nd.params)
    return {"config": ref["config"].to_dict(), "board": board_id, "slow_region": slow,
            "board_sram_bytes": board.sram_bytes, "arena_region": board.arena_region,
            "arena_region_bytes": board.regions[board.arena_region].size_bytes,
            "slow_region_read_energy_pj": energy_pj, "inputs": n, "steps": steps,
            "weight_bytes_stored": int(total_w), "schedules": rows, "seconds": round(time.perf_counter() - t0, 1)}


def staged_bytes(low, x: np.ndarray) -> int:
    """The weight bytes the C runtime copied into the arena for one input under the lowered (staged) schedule:
    its context's staged_bytes after esn_sched_run."""
    m = CModel(blob_from_lowered(low))
    m.run(x.astype(np.uint8))
    return int(m.staged_bytes)


# ---- ALIF vs LIF over seeds ---------------------------------------------------------------------------

def seed_folder(seed: int, epochs: int | None) -> Path:
    """Where training seed `seed` lives: the committed models for seed 0 at the default epochs, else a git-ignored
    folder of train_real.py --out (models/real/ under it)."""
    if seed == 0 and not epochs:
        return HERE
    return SEEDS_DIR / (f"seed{seed}" + (f"-e{epochs}" if epochs else ""))


def seed_refs(names, seeds: int, epochs: int | None, *, train: bool = True) -> dict[str, list[dict]]:
    """name -> [ref of seed 0, 1, ...]: trained by train_real.py (one at a time) where missing, else reused."""
    import train_real
    out: dict[str, list[dict]] = {n: [] for n in names}
    for seed in range(seeds):
        folder = seed_folder(seed, epochs)
        for name in names:
            res = folder / "models" / "real" / "results.json"
            have = res.exists() and name in json.loads(res.read_text())
            if not have:
                if not train:
                    raise SystemExit(f"seed {seed} of {name} not trained ({res}); run without --no-train")
                log(f"alif: training {name} seed {seed}" + (f" ({epochs} epochs)" if epochs else "")
                    + f" into {folder}")
                argv = ["--only", name, "--seed", str(seed), "--out", str(folder)]
                train_real.main(argv + (["--epochs", str(epochs)] if epochs else []))
            ref = real_models(folder / "models" / "real", DATA)[name]
            out[name].append(ref | {"seed": seed, "folder": str(folder)})
    return out


def plan_configs(path: Path = HERE / "results" / "plans_real.json", board_id: str = QEMU_BOARD) -> dict:
    """name -> (QuantConfig, validation inputs it was calibrated on) that plan_real.py chose on `board_id`."""
    out = {}
    if path.exists():
        for name, r in json.loads(path.read_text()).items():
            b = r.get("boards", {}).get(board_id, {})
            if b.get("fits"):
                n = int(r["validation"].split()[1]) if r.get("validation", "").startswith("first ") else None
                out[name] = (QuantConfig(**b["config"]), n)
    return out


def accuracies(ref: dict, plan: tuple[QuantConfig, int | None] | None) -> dict:
    """Test accuracy of one trained model: the saved graph in float, at its training config, at the plan's config."""
    g, xv, yv, xt, yt, calib = load(ref)
    d = {"seed": ref.get("seed", 0), "float": float(np.mean(simulate(g, xt).pred == yt)),
         "fixed_train_config": float(np.mean(run_c(quantize(g, ref["config"], calib), xt).pred == yt)),
         "float_before_qat_recorded": ref["record"].get("accuracy_float_before_qat"),
         "train_seconds_recorded": ref["record"].get("train_seconds"), "epochs": ref["record"].get("epochs"),
         "test_inputs": int(len(yt))}
    if plan is not None:
        cfg, n = plan
        d["fixed_plan_config"] = float(np.mean(run_c(quantize(g, cfg, xv[:n] if n else xv), xt).pred == yt))
    return d


def summary(values: list[float]) -> dict:
    v = np.asarray([x for x in values if x is not None], np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "min": float(v.min()),
            "max": float(v.max()), "n": int(len(v))}


def alif(refs: dict[str, list[dict]], plans: dict, pair=("shd_alif", "shd_lif")) -> dict:
    """Per model and seed the accuracies, their summaries, and the ALIF - LIF differences seed by seed."""
    t0 = time.perf_counter()
    per = {name: [accuracies(r, plans.get(name)) for r in rs] for name, rs in refs.items()}
    metrics = [m for m in ("float", "fixed_train_config", "fixed_plan_config", "float_before_qat_recorded")
               if all(m in d and d[m] is not None for rs in per.values() for d in rs)]
    out = {"seeds": {n: [d["seed"] for d in rs] for n, rs in per.items()}, "per_seed": per,
           "summary": {n: {m: summary([d[m] for d in rs]) for m in metrics} for n, rs in per.items()},
           "plan_configs": {n: c.to_dict() for n, (c, _) in plans.items() if n in per}}
    a, b = pair
    if a in per and b in per:
        k = min(len(per[a]), len(per[b]))
        out["difference_alif_minus_lif"] = {
            m: summary([per[a][i][m] - per[b][i][m] for i in range(k)]) for m in metrics}
        out["alif_wins"] = {m: sum(per[a][i][m] > per[b][i][m] for i in range(k)) for m in metrics}
        out["pairs"] = k
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


# ---- the table ------------------------------------------------------------------------------------------

# ---- SpiKernel -----------------------------------------------------------------------------------------

def spikernel(ref: dict, *, out_dir: Path = KERNEL_OUT, board_id: str = KERNEL_BOARD) -> dict:
    """`edgesnn search-kernels` on nmnist_cnn (every conv at every size of KERNEL_SEARCH) under the board's SRAM,
    reused from out_dir/search.json when that search ran with these settings; its best model that fits against
    the best at the template's own kernels."""
    from edgesnn.train.kernel_search import file_data, search_kernels
    board = load_catalogue()[board_id]
    path = out_dir / "search.json"
    prev = json.loads(path.read_text()) if path.exists() else None
    same = prev is not None and prev["budget_bytes"] == board.sram_bytes and prev["weight_bits"] == 8 and \
        prev["state_bits"] == 16 and all(prev["settings"].get(k) == v for k, v in KERNEL_SEARCH.items())
    if not same:
        train = ref["val"].with_name(ref["val"].name.replace("_val", "_train"))
        if not train.exists():
            raise SystemExit(f"{train} missing: run python examples/train_real.py --data-only events --with-train")
        g = Graph.load(ref["graph"])
        search_kernels(board.sram_bytes, board=board.id, template=g, out_dir=out_dir, log=log,
                       data=file_data(g.input.shape, train, ref["val"], ref["test"]),
                       **{k: v for k, v in KERNEL_SEARCH.items() if k != "kernel_sizes"},
                       kernel_sizes=tuple(KERNEL_SEARCH["kernel_sizes"]))
    r = json.loads(path.read_text())
    by = {c["name"]: c for c in r["candidates"]}

    def fig(name):
        c = by[name]
        return {"name": name, "kernels": c["kernels"], "total_bytes": c["total_bytes"],
                "val": summary(c["val_acc_fixed_seeds"]), "test": summary(c["test_acc_fixed_seeds"])}
    return {"board": board.id, "budget_bytes": r["budget_bytes"], "settings": r["settings"],
            "candidates": len(r["candidates"]), "fit": sum(c["fits"] for c in r["candidates"]),
            "trained": sum(c["full"] for c in r["candidates"]), "best": fig(r["best"]),
            "baseline": fig(r["best_baseline"]), "search_seconds": r["seconds"], "reused": same,
            "results": str(path.relative_to(HERE))}


def _pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def _pt(v: float) -> str:
    """Points with their sign, never "-0.00"."""
    return f"{round(v, 2) + 0.0:+.2f} pt"


def table(res: dict) -> str:
    """The markdown table of every part in `res` (seeds_real.json's "parts")."""
    rows = ["| seed: claim | model | our figure | reproduces? |", "|---|---|---|---|"]
    q = res.get("qspinn")
    if q:
        for name, d in q["models"].items():
            if not d["within"]:
                b = d["best"]
                rows.append(f"| Q-SpiNN: ~4x memory within 1 % | {name} | no setting within 1 pt of float on "
                            f"validation; the most accurate, w{b['config']['weight_bits']} s{b['config']['state_bits']}"
                            f", {b['ratio']:.2f}x | **no** |")
                continue
            c, t = d["config"], d["test"]
            fig = (f"w{c['weight_bits']} s{c['state_bits']}: **{d['ratio']:.2f}x** less ({d['model_bytes']:,} B "
                   f"{'from the ELF' if d['measured_on_elf'] else 'as lowered (no ELF)'} vs "
                   f"{d['float32_bytes']['total']:,} "
                   f"B float32; arena {d['arena_bytes']:,} B of it); validation {_pt(-d['drop_pts_val'])}")
            ok = d["ratio"] >= 4.0
            verdict = "yes" if ok else "**no**"
            if t:
                fig += f", test {_pct(t['quantized'])} vs float {_pct(t['float'])} ({_pt(-t['drop_pts'])})"
                ok = ok and t["drop_pts"] <= 1.0
                verdict = "yes" if ok else "**no**"
                pre = d.get("float_test_accuracy_before_qat_recorded")
                if pre is not None:
                    gap = 100 * (t["quantized"] - pre)
                    fig += f"; float net before QAT (recorded) {_pct(pre)}: {_pt(gap)}"
                    if ok and gap < -1.0:
                        verdict = "yes vs the saved graph; **no** vs the float net before QAT"
            rows.append(f"| Q-SpiNN: ~4x memory within 1 % | {name} | {fig} | {verdict} |")
    dt = res.get("dtsnn")
    if dt:
        for name, d in dt["models"].items():
            T, p = d["steps"], d["policy"]
            if p["threshold_q8"] is None:
                rows.append(f"| DT-SNN: 2.7x fewer steps, EDP -80 %, same accuracy | {name} | no exit threshold keeps "
                            f"validation within {100 * EXIT_MAX_DROP:g} pt: all {T} steps | **no** |")
                continue
            fig = (f"{d['test_mean_steps_exit']:.2f} of {T} steps (**{d['step_reduction']:.2f}x** fewer), test "
                   f"{_pct(d['test_accuracy_full'])} -> {_pct(d['test_accuracy_exit'])} ({_pt(-d['test_drop_pts'])}); "
                   f"cost model EDP {100 * (d['cost_model']['edp_ratio'] - 1):+.0f} %")
            qm = d.get("qemu")
            if qm and qm.get("instruction_ratio") is not None:
                fig += (f"; QEMU ({qm['inputs']} inputs): {qm['full']['instructions_per_input']:,.0f} -> "
                        f"{qm['exit']['instructions_per_input']:,.0f} instructions per input, EDP at constant energy "
                        f"per instruction {100 * (qm['edp_ratio_constant_energy_per_instruction'] - 1):+.0f} %")
            edp = qm["edp_ratio_constant_energy_per_instruction"] if qm and qm.get("instruction_ratio") else \
                d["cost_model"]["edp_ratio"]
            ok = d["step_reduction"] >= 4 / 1.46 and d["test_drop_pts"] <= 0.5 and edp <= 0.2
            part = d["step_reduction"] >= 2 and d["test_drop_pts"] <= 0.5
            rows.append(f"| DT-SNN: 2.7x fewer steps, EDP -80 %, same accuracy | {name} | {fig} | "
                        f"{'yes' if ok else ('partly' if part else '**no**')} |")
    st = res.get("stems")
    if st:
        rs = {k: v for k, v in st["schedules"].items() if "refused" not in v}
        best = max(rs, key=lambda k: rs[k]["slow_traffic_reduction"])
        fit = [k for k in rs if rs[k]["fits_board_sram"]]
        best_fit = max(fit, key=lambda k: rs[k]["slow_traffic_reduction"]) if fit else None
        for key, r in st["schedules"].items():
            if "refused" in r:
                rows.append(f"| STEMS: up to 12x less off-chip traffic | {st['model']}, {key} | "
                            f"refused: {r['refused']} | |")
                continue
            fig = (f"{r['slow_memory_weight_bytes_per_input']:,.0f} B per input from {st['slow_region']} "
                   f"(**{r['slow_traffic_reduction']:.1f}x** less than time-step-major; modelled energy on "
                   f"{st['board']} {r['modelled_energy_uj_per_input']:,.0f} uJ per input, "
                   f"{r['modelled_energy_reduction']:.2f}x less; "
                   f"arena {r['arena_bytes']:,} B, "
                   f"peak SRAM {r['peak_sram_bytes']:,} B, "
                   + ("fits" if r["fits_board_sram"] else f"**does not fit** {st['board']}'s SRAM") + ")")
            verdict = ""
            if key == best and r["slow_traffic_reduction"] >= 12:
                verdict = "yes" if r["fits_board_sram"] else "yes in traffic, but **not on the board** (SRAM)"
            elif key == best:
                verdict = "**no**"
            if key == best_fit and key != best:
                verdict = ("yes" if r["slow_traffic_reduction"] >= 12 else "**no**: the best schedule that fits")
            rows.append(f"| STEMS: up to 12x less off-chip traffic | {st['model']}, {key} | {fig} | {verdict} |")
    al = res.get("alif")
    if al:
        labels = {"float": "float", "fixed_train_config": "fixed w4 s16",
                  "fixed_plan_config": "fixed at the plan's bits",
                  "float_before_qat_recorded": "float before QAT"}
        for name, s in al["summary"].items():
            fig = "; ".join(f"{labels[m]} {100 * s[m]['mean']:.2f} +- {100 * s[m]['sd']:.2f} %"
                            for m in labels if m in s)
            seeds = ", ".join(f"{100 * d['float']:.1f}" for d in al["per_seed"][name])
            rows.append(f"| ALIF beats LIF at equal size | {name} ({s['float']['n']} seeds) | {fig} (float per seed: "
                        f"{seeds}) | |")
        if "difference_alif_minus_lif" in al:
            dif, wins, k = al["difference_alif_minus_lif"], al["alif_wins"], al["pairs"]
            fig = "; ".join(f"{labels[m]} {_pt(100 * dif[m]['mean'])} +- {100 * dif[m]['sd']:.2f} (ALIF ahead in "
                            f"{wins[m]} of {k})" for m in labels if m in dif)
            ok = all(dif[m]["mean"] > 0 for m in dif)
            rows.append(f"| ALIF beats LIF at equal size | ALIF - LIF, same seed | {fig} | "
                        f"{'yes' if ok else '**no**'} |")
    sk = res.get("spikernel")
    if sk:
        b, base = sk["best"], sk["baseline"]

        def one(f):
            return (f"{f['name']} ({f['total_bytes']:,} B): validation {100 * f['val']['mean']:.2f} +- "
                    f"{100 * f['val']['sd']:.2f} %, test {100 * f['test']['mean']:.2f} +- {100 * f['test']['sd']:.2f} %")
        gain = b["test"]["mean"] - base["test"]["mean"]
        noise = max(b["test"]["sd"], base["test"]["sd"])
        verdict = ("**no**: the template's kernels are the best that fits" if b["name"] == base["name"] else
                   "yes" if gain > noise else f"**no**: {_pt(100 * gain)} on test, within the seeds' spread")
        rows.append(f"| SpiKernel: searched kernel sizes, higher accuracy at acceptable memory | {STEMS_MODEL} "
                    f"({sk['settings']['seeds']} seeds, {sk['board']} {sk['budget_bytes']:,} B) | {sk['fit']} of "
                    f"{sk['candidates']} kernel pairs fit, {sk['trained']} trained in full; best that fits "
                    f"{one(b)}" + ("" if b["name"] == base["name"] else f"; the template's kernels {one(base)}")
                    + f" | {verdict} |")
    times = [f"{p} {res[p]['seconds']:.0f} s" + (f" ({res[p]['seconds_with_training']:.0f} s with the training of "
                                                 "missing seeds)" if "seconds_with_training" in res[p] else "")
             + (f" (reusing its search of {res[p]['search_seconds'] / 60:.0f} min)" if res[p].get("reused") else "")
             for p in PARTS if p in res and "seconds" in res[p]]
    if times:
        rows += ["", "Wall time of each part's last run: " + ", ".join(times) + "."]
    return "\n".join(rows)


# ---- main ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {','.join(PARTS)} (default all)")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="for qspinn and dtsnn")
    ap.add_argument("--seeds", type=int, default=5, help="training seeds per recurrent model (alif; default 5)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="alif: train every seed of both models at these float epochs (QAT a quarter) instead of "
                         "train_real.py's; cached apart (seedN-eE), seed 0 included")
    ap.add_argument("--no-train", action="store_true", help="alif: fail rather than train a missing seed")
    ap.add_argument("--qemu", type=int, default=8, metavar="N", help="dtsnn: test inputs to run on QEMU (0: none)")
    ap.add_argument("--stems-inputs", type=int, default=32, help="stems: test inputs to count traffic on")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    bad = sorted(set(parts) - set(PARTS))
    if bad:
        ap.error(f"unknown part(s) {', '.join(bad)}; known: {', '.join(PARTS)}")
    t_all = time.perf_counter()
    res = json.loads(args.out.read_text()) if args.out.exists() else {}
    res.setdefault("claims", CLAIMS)
    models = real_models()
    if "qspinn" in parts:
        t0, d = time.perf_counter(), {}
        for name in args.models:
            log(f"qspinn: {name}: {len(BM.WEIGHT_BITS) * len(STATE_BITS)} settings on the validation set, "
                "release build")
            d[name] = qspinn(name, models[name])
            log(f"qspinn: {name}: " + (f"w{d[name]['config']['weight_bits']} s{d[name]['config']['state_bits']} "
                                       f"{d[name]['ratio']:.2f}x" if d[name]["within"] else "none within")
                + f" ({d[name]['seconds']} s)")
        res["qspinn"] = {"models": d, "rule": "bench/bench_memory.py search_example (fewest model bytes within 1 "
                         "point of float on validation; bytes from the release ELF, Cortex-M4)",
                         "seconds": round(time.perf_counter() - t0, 1)}
        save_json(args.out, res)
    if "dtsnn" in parts:
        t0, d = time.perf_counter(), {}
        for name in args.models:
            log(f"dtsnn: {name}: exit calibrated on validation, test set in the C runtime"
                + (f", {args.qemu} test inputs on {QEMU_BOARD}" if args.qemu else ""))
            d[name] = dtsnn(name, models[name], qemu=args.qemu)
            log(f"dtsnn: {name}: {d[name]['test_mean_steps_exit']:.2f} of {d[name]['steps']} steps, "
                f"{d[name]['test_drop_pts']:+.2f} pt ({d[name]['seconds']} s)")
        res["dtsnn"] = {"models": d, "max_drop": EXIT_MAX_DROP, "seconds": round(time.perf_counter() - t0, 1)}
        save_json(args.out, res)
    if "stems" in parts:
        t0 = time.perf_counter()
        log(f"stems: {STEMS_MODEL} on {STEMS_BOARD}, {args.stems_inputs} test inputs per schedule")
        res["stems"] = {"model": STEMS_MODEL, **stems(STEMS_MODEL, models[STEMS_MODEL], inputs=args.stems_inputs)}
        res["stems"]["seconds"] = round(time.perf_counter() - t0, 1)
        save_json(args.out, res)
    if "alif" in parts:
        t0 = time.perf_counter()
        refs = seed_refs(("shd_alif", "shd_lif"), args.seeds, args.epochs, train=not args.no_train)
        log(f"alif: {args.seeds} seeds of each trained; measuring")
        res["alif"] = alif(refs, plan_configs())
        res["alif"]["epochs"] = args.epochs or "train_real.py's"
        res["alif"]["seconds_with_training"] = round(time.perf_counter() - t0, 1)
        save_json(args.out, res)
    if "spikernel" in parts:
        t0 = time.perf_counter()
        log(f"spikernel: {STEMS_MODEL}'s kernel sizes under {KERNEL_BOARD}'s SRAM ({KERNEL_OUT.name}/)")
        res["spikernel"] = spikernel(models[STEMS_MODEL])
        res["spikernel"]["seconds"] = round(time.perf_counter() - t0, 1)
        save_json(args.out, res)
    wall = round(time.perf_counter() - t_all, 1)
    res["last_run"] = {"parts": parts, "seconds": wall, "command": "python examples/seeds_real.py"
                       + ("" if parts == list(PARTS) else f" --only {','.join(parts)}")}
    res["table"] = table(res)
    save_json(args.out, res)
    print(res["table"])
    log(f"-> {args.out} ({wall} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
