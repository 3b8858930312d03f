"""examples/seeds_real.py (the research seeds' figures on the real-sized models): each part's measurement function
run on a small example model (examples/models/), its figures checked against what the project's own tools give
for the same model, so that none is hard-coded: the Q-SpiNN ratio is bench_memory's, the DT-SNN figures are the C
runtime's with the calibrated exit, the STEMS traffic is the runtime's synaptic counters and the lowering's staged
bytes, the ALIF/LIF accuracies are those train_recurrent.py recorded."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from edgesnn.board import load_catalogue
from edgesnn.lower import arena_size_schedule, lower
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.quantize.qgraph import weight_storage_bits
from tests.helpers.paths import EXAMPLES, ROOT

sys.path.insert(0, str(EXAMPLES))
sys.path.insert(0, str(ROOT / "bench"))
import bench_memory as BM  # noqa: E402
import seeds_real as S  # noqa: E402

SMALL = S.real_models(EXAMPLES / "models", EXAMPLES / "data")


@pytest.mark.needs_arm_gcc
@pytest.mark.needs_c_ext
def test_qspinn_is_bench_memorys_figure(tmp_path):
    d = S.qspinn("digits_mlp", SMALL["digits_mlp"], weight_bits=(3, 4, 8), state_bits=(8, 16), cache_dir=tmp_path,
                 test=False)
    r = BM.search_example("digits_mlp", load_catalogue()[BM.EXAMPLE_BOARD], weight_bits=(3, 4, 8),
                          state_bits=(8, 16), cache_dir=tmp_path / "bench", test=False)
    assert d["within"] and d["measured_on_elf"]
    assert QuantConfig(**d["config"]) == r.config and d["ratio"] == r.ratio and d["model_bytes"] == r.model_bytes
    assert d["model_bytes"] == d["tables_bytes"] + d["arena_bytes"]
    assert d["ratio"] == d["float32_bytes"]["total"] / d["model_bytes"]
    assert d["drop_pts_val"] <= 1.0
    assert f"{d['ratio']:.2f}x" in S.table({"qspinn": {"models": {"digits_mlp": d}}})


@pytest.mark.needs_c_ext
def test_dtsnn_figures_are_the_runtimes_with_the_calibrated_exit():
    from edgesnn.graph import Graph
    from edgesnn.runtime.binding import run_c
    ref = SMALL["digits_mlp"]
    d = S.dtsnn("digits_mlp", ref, qemu=0)
    p = d["policy"]
    assert p["threshold_q8"] is not None and p["accuracy"] >= p["full_accuracy"] - S.EXIT_MAX_DROP - 1e-12
    g = Graph.load(ref["graph"])
    xv, _ = BM.load_set(g, ref["val"])
    xt, yt = BM.load_set(g, ref["test"])
    q = quantize(g, ref["config"], xv)
    ex = run_c(q.with_exit(p["threshold_q8"], p["beta_q16"]), xt)
    assert d["test_accuracy_exit"] == float(np.mean(ex.pred == yt))
    assert d["test_mean_steps_exit"] == float(ex.steps.mean()) < d["steps"] == xt.shape[1]
    assert d["step_reduction"] == d["steps"] / d["test_mean_steps_exit"]
    c = d["cost_model"]
    assert c["exit"]["mean_steps"] == d["test_mean_steps_exit"] and c["full"]["mean_steps"] == d["steps"]
    assert 0 < c["edp_ratio"] == c["exit"]["edp_js"] / c["full"]["edp_js"] < 1
    assert "qemu" not in d


@pytest.mark.needs_qemu
@pytest.mark.needs_c_ext
def test_dtsnn_on_qemu_counts_fewer_instructions_with_the_exit():
    d = S.dtsnn("digits_mlp", SMALL["digits_mlp"], qemu=2)["qemu"]
    assert d["full"]["unit"] == d["exit"]["unit"] == "instructions"
    assert d["full"]["outputs_identical_with_host"] and d["exit"]["outputs_identical_with_host"]
    assert d["exit"]["mean_steps"] < d["full"]["mean_steps"]
    assert d["instruction_ratio"] == d["exit"]["instructions_per_input"] / d["full"]["instructions_per_input"] < 1
    assert d["edp_ratio_constant_energy_per_instruction"] == d["instruction_ratio"] ** 2


@pytest.mark.needs_c_ext
def test_stems_traffic_is_the_runtimes_counters_and_the_staged_copy():
    from edgesnn.graph import Graph
    from edgesnn.runtime.binding import run_c
    ref = SMALL["digits_cnn"]
    d = S.stems("digits_cnn", ref, board_id=S.STEMS_BOARD, inputs=4)
    g = Graph.load(ref["graph"])
    xv, _ = BM.load_set(g, ref["val"])
    xt, _ = BM.load_set(g, ref["test"])
    q, x = quantize(g, ref["config"], xv), xt[:4]
    low = lower(q)
    weighted = [nd.name for nd in low.nodes if "weight" in nd.params]
    res = run_c(q, x)
    # the runtime's traffic rule (esn_runtime.c esn_traffic): ceil(synops x weight bits / 8) per node and step
    bits = {k: weight_storage_bits(q.config.weight_bits) for k in weighted}
    want = sum(int(((res.counts[k]["synops"] * bits[k] + 7) // 8).sum()) for k in weighted) / len(x)
    s = d["schedules"]
    assert s["time-step-major"]["slow_memory_weight_bytes_per_input"] == pytest.approx(want, rel=1e-12)
    assert s["time-step-major"]["slow_traffic_reduction"] == 1.0
    for key, r in s.items():
        if "refused" in r:
            continue
        assert r["outputs_identical"]
        assert r["arena_bytes"] == arena_size_schedule(q, S.SCHEDULES[r["schedule"]], x.shape[1],
                                                       "all" if r["staged"] else None)
        assert r["peak_sram_bytes"] > r["arena_bytes"]
        if r["staged"]:  # staging copies every weight once per input: the lowering's staged bytes
            staged = lower(q, S.SCHEDULES[r["schedule"]], x.shape[1], "all").staged_weight_bytes()
            assert r["slow_memory_weight_bytes_per_input"] == staged == d["weight_bytes_stored"]
            assert r["slow_traffic_reduction"] == want / staged > 1
        else:
            assert r["slow_memory_weight_bytes_per_input"] == pytest.approx(want, rel=1e-12)
    assert "STEMS" in S.table({"stems": {"model": "digits_cnn", **d}})


@pytest.mark.needs_c_ext
def test_alif_accuracies_are_the_recorded_ones_and_the_differences_pair_seeds():
    recorded = json.loads((EXAMPLES / "models" / "results.json").read_text())
    refs = {n: [SMALL[n] | {"seed": s} for s in (0, 1)] for n in ("seqdigits_alif", "seqdigits_lif")}
    plans = {"seqdigits_alif": (QuantConfig(weight_bits=8, state_bits=16), None)}
    d = S.alif(refs, plans, pair=("seqdigits_alif", "seqdigits_lif"))
    for n in refs:
        one = d["per_seed"][n][0]
        assert one["float"] == recorded[n]["accuracy"]                   # train_recurrent.py's own figures
        assert one["fixed_train_config"] == recorded[n]["accuracy_fixed"]
        assert d["summary"][n]["float"]["mean"] == one["float"] and d["summary"][n]["float"]["sd"] == 0.0
    assert "fixed_plan_config" in d["per_seed"]["seqdigits_alif"][0]
    assert "fixed_plan_config" not in d["summary"]["seqdigits_alif"]    # not every model has a plan config
    diff = recorded["seqdigits_alif"]["accuracy"] - recorded["seqdigits_lif"]["accuracy"]
    assert d["difference_alif_minus_lif"]["float"]["mean"] == pytest.approx(diff, abs=1e-12)
    assert d["pairs"] == 2 and d["alif_wins"]["float"] == (2 if diff > 0 else 0)


def test_committed_results_render_the_readme_table():
    # the README's table is the one the last run of seeds_real.py wrote: rerun the script, paste its table
    res = json.loads((EXAMPLES / "results" / "seeds_real.json").read_text())
    assert res["table"] == S.table(res)
    readme = (EXAMPLES / "README.md").read_text()
    assert res["table"] in readme
    assert set(S.PARTS) <= set(res) and res["alif"]["pairs"] >= 3


def test_spikernel_figures_are_the_committed_searchs():
    """The part reuses results/kernel_search_real/search.json (its settings are the part's) and reports that
    search's best model that fits and its best at the template's kernels, means and spreads over its seeds."""
    d = S.spikernel(None)   # no model needed: nothing is trained when the committed search matches
    r = json.loads((S.KERNEL_OUT / "search.json").read_text())
    assert d["reused"] and d["settings"]["seeds"] == S.KERNEL_SEARCH["seeds"] >= 3
    by = {c["name"]: c for c in r["candidates"]}
    for key, name in (("best", r["best"]), ("baseline", r["best_baseline"])):
        c = by[name]
        assert d[key]["name"] == name and c["fits"] and c["full"] and d[key]["total_bytes"] <= d["budget_bytes"]
        assert d[key]["test"]["mean"] == pytest.approx(np.mean(c["test_acc_fixed_seeds"]), abs=1e-12)
        assert d[key]["test"]["n"] == len(c["test_acc_fixed_seeds"]) == S.KERNEL_SEARCH["seeds"]
    assert by[r["best_baseline"]]["kernels"] == r["settings"]["baseline"]
    assert d["fit"] == sum(c["fits"] for c in r["candidates"]) and d["candidates"] == len(r["candidates"])
    assert "SpiKernel" in S.table({"spikernel": d})
