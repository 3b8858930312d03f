"""Cost model: additive per layer, names its coefficients, calibration overrides priors."""

import json

import numpy as np
import pytest

from edgesnn.board import get_board
from edgesnn.cost import CostReport, coefficients, estimate
from edgesnn.cost.model import PRIORS, fallbacks, resolve
from edgesnn.cost.runtime_size import RUNTIME_CODE_BYTES, measure
from edgesnn.data import load_dataset
from edgesnn.emit import to_blob
from edgesnn.lower import arena_size
from edgesnn.errors import EdgesnnError
from edgesnn.graph import Graph
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.quantize.reference import simulate_fixed
from tests.helpers.paths import DATA, MODELS


@pytest.fixture(scope="module")
def report():
    g = Graph.load(MODELS / "digits_mlp.json")
    x, _ = load_dataset(DATA / "digits_val.npz")
    q = quantize(g, QuantConfig(), x[:32])
    return q, simulate_fixed(q, x[:32]), estimate(q, simulate_fixed(q, x[:32]), get_board())


def test_additive_and_round_trip(report):
    q, r, rep = report
    assert sum(l.cycles for l in rep.layers) == pytest.approx(rep.cycles)
    assert sum(l.energy_pj for l in rep.layers) * 1e-12 == pytest.approx(rep.energy_j)
    assert rep.latency_s == pytest.approx(rep.cycles / get_board().clock_hz)
    assert rep.edp_js == pytest.approx(rep.energy_j * rep.latency_s)
    d = json.loads(json.dumps(rep.to_dict()))
    assert CostReport.from_dict(d).to_dict() == d and d["edgesnn_version"]


def test_memory_terms(report):
    q, _, rep = report
    assert rep.sram["arena"] == arena_size(q) and rep.flash["blob"] == len(to_blob(q))
    assert rep.flash["runtime_code"] > 10_000


def test_counts_come_from_activity(report):
    q, r, rep = report
    fc1 = next(l for l in rep.layers if l.name == "fc1")
    assert fc1.counts["synops"] == pytest.approx(r.counts["fc1"]["synops"].sum() / 32)


def test_every_coefficient_has_a_source_and_calibration_overrides(tmp_path):
    b = get_board()
    c = coefficients(b, priors_only=True)
    assert c.calibration == "priors" and set(c.values) == set(c.sources)
    assert "nucleo-f446re" in c.sources["flash.read_cycles"]  # the emulated board mirrors its real board
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"artifact": "calibration", "id": "test/1", "board": b.id,
                             "coefficients": {"cycles_per_synop": {"value": 7.5, "source": "fit"}}}))
    c2 = coefficients(b, f)
    assert c2.values["cycles_per_synop"] == 7.5 and c2.calibration == "test/1"
    f.write_text(json.dumps({"artifact": "calibration", "coefficients": {"cycles_per_synop": {"value": -1}}}))
    with pytest.raises(EdgesnnError, match="cycles_per_synop"):
        coefficients(b, f)


def test_coefficient_names_fall_back_to_the_generic_ones():
    assert fallbacks("affine.int8.cycles_per_synop") == ["affine.int8.cycles_per_synop", "affine.cycles_per_synop",
                                                         "cycles_per_synop"]
    assert fallbacks("conv.int1.cycles_per_synop")[:2] == ["conv.int1.cycles_per_synop", "conv.int4.cycles_per_synop"]
    assert "conv.int46.cycles_per_synop" not in fallbacks("conv.int16.cycles_per_synop")   # int16 is not binary
    v = {"cycles_per_synop": 4.0, "affine.cycles_per_synop": 3.0}
    assert resolve("affine.int8.cycles_per_synop", v) == "affine.cycles_per_synop"
    assert resolve("conv.int16.cycles_per_synop", v) == "cycles_per_synop"
    with pytest.raises(EdgesnnError, match="no coefficient 'lif.cycles_per_nothing'"):
        resolve("lif.cycles_per_nothing", v)


@pytest.mark.parametrize("bits, stored", [(2, 2), (3, 4), (4, 4), (5, 8), (8, 8), (12, 16)])
def test_synaptic_terms_are_priced_at_the_width_weights_are_stored_at(bits, stored):
    """A 4-bit layer runs the unpacking loop, not the int8 DSP one: its terms name the stored width, which the
    calibration fits (the digits MLP at 4 bits was estimated -27 % while priced as int8)."""
    from edgesnn.cost.model import layer_info, layer_terms
    g = Graph.load(MODELS / "digits_cnn.json")
    x, _ = load_dataset(DATA / "digits_val_cnn.npz")
    q = quantize(g, QuantConfig(weight_bits=bits), x[:8])
    layers = layer_info(q)["layers"]
    syn = {n: d for n, d in layers.items() if d["family"] in ("affine", "conv")}
    assert syn and all(d["weight_bits"] == stored for d in syn.values())
    for n, d in syn.items():
        terms = layer_terms(d, {"synops": 10.0, "spikes_in": 2.0, "invocations": 1.0})
        fam = "conv.strided" if d.get("strided") else d["family"]   # a row-major conv output: its own terms
        want = f"{fam}.int{stored}" + (".graded" if d["family"] == "affine" and d["graded"] and stored < 16 else "")
        assert terms[f"{want}.cycles_per_synop"] == 10.0, (n, terms)
    graded = {"family": "affine", "weight_bits": stored, "graded": True, "in_size": 4, "out_size": 4, "edges": 1}
    name = f"affine.int{stored}.graded" if stored < 16 else "affine.int16"   # counts above 1: the multiply loop
    assert layer_terms(graded, {"synops": 3.0})[f"{name}.cycles_per_synop"] == 3.0
    cal = coefficients(get_board("qemu-mps2-an386")).values
    if stored in (2, 4):   # the committed calibration fitted the packed loops
        assert f"affine.int{stored}.cycles_per_synop" in cal and f"conv.int{stored}.cycles_per_synop" in cal


def test_priors_alone_give_the_generic_model_and_a_calibration_names_its_terms(report, tmp_path):
    q, r, _ = report
    b = get_board()
    rep = estimate(q, r, b, coeffs=coefficients(b, priors_only=True))
    fc1 = next(l for l in rep.layers if l.name == "fc1")
    c, P = fc1.counts, {k: v for k, (v, _) in PRIORS.items()}
    v = rep.coefficients.values
    mem = (c["param_bytes_read"] / 4 * v["flash.read_cycles"] + c["arena_bytes_read"] / 4 * v["sram.read_cycles"]
           + c["arena_bytes_written"] / 4 * v["sram.write_cycles"])
    instr = (P["cycles_per_synop"] * c["synops"] + P["cycles_per_spike_in"] * c["spikes_in"]
             + P["cycles_per_invocation"] * c["invocations"])
    assert fc1.cycles == pytest.approx(instr + mem)
    assert fc1.terms["cycles_per_synop"] == c["synops"] and "calibration: priors" in rep.table()
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"artifact": "calibration", "id": "test/2", "board": b.id, "coefficients": {
        "affine.int8.cycles_per_synop": {"value": 2.0, "source": "fit"},
        "lif.subtract.cycles_per_neuron_update": {"value": 100.0, "source": "fit"},
        "lif.fast.cycles_per_neuron_update": {"value": 30.0, "source": "fit"},
        "cycles_per_node_step": {"value": 150.0, "source": "fit"}}}))
    cal = estimate(q, r, b, coeffs=coefficients(b, f))
    fc1c = next(l for l in cal.layers if l.name == "fc1")
    assert fc1c.terms["affine.int8.cycles_per_synop"] == c["synops"]
    assert fc1c.cycles == pytest.approx(fc1.cycles - 2.0 * c["synops"])
    lif1 = next(l for l in cal.layers if l.name == "lif1")
    # the example's lif1 (alpha and threshold per neuron at 16 bits) runs the runtime's fast loop
    assert "lif.fast.cycles_per_neuron_update" in lif1.terms
    rt = cal.layers[-1]
    assert rt.name == "(runtime)" and rt.terms["cycles_per_node_step"] == pytest.approx(6 * rep.mean_steps)
    assert sum(l.cycles for l in cal.layers) == pytest.approx(cal.cycles) and "calibration: test/2" in cal.table()


@pytest.mark.needs_arm_gcc
def test_runtime_code_table_is_what_the_sources_measure():
    """The analytical flash term of boards without a firmware build is this table: it must be the runtime's
    code as the sources compile now (it had fallen 5 KB behind when the grouped schedules were added)."""
    for core in ("cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33"):
        assert measure(core) == RUNTIME_CODE_BYTES[core], core


def test_stochastic_rounding_prices_its_noise_draws():
    """Stochastic rounding draws one noise word per shifted product in the generic neuron loop (esn_neuron.c):
    the terms count the draws of each kind (IF none, LIF/LI one, Cuba* and ALIF three) and the per-call keys;
    nearest rounding has neither."""
    from edgesnn.cost.model import layer_info, layer_terms, noise_draws
    assert [noise_draws(k) for k in ("IF", "LIF", "LI", "CubaLIF", "CubaLI", "ALIF")] == [0, 1, 1, 3, 3, 3]
    g = Graph.load(MODELS / "digits_mlp.json")
    x, _ = load_dataset(DATA / "digits_val.npz")
    counts = {"neuron_updates": 40.0, "invocations": 2.0, "spikes_out": 3.0}
    for rounding, priced in (("stochastic", True), ("nearest", False)):
        layers = layer_info(quantize(g, QuantConfig(rounding=rounding), x[:8]))["layers"]
        neurons = {n: d for n, d in layers.items() if "reset" in d or d["family"] in ("li", "lif", "alif")}
        assert neurons
        for n, d in neurons.items():
            t = layer_terms(d, counts)
            if priced:
                assert t["neuron.cycles_per_noise_key"] == 2.0, (n, t)
                assert t["neuron.cycles_per_noise_draw"] == 40.0 * noise_draws(d["kind"]), (n, t)
            else:
                assert "neuron.cycles_per_noise_draw" not in t and "neuron.cycles_per_noise_key" not in t


def test_per_neuron_lif_at_8_bits_prices_its_width_select():
    """The digits MLP's lif1 (alpha and threshold per neuron) runs the fast loop with constant 16-bit steps at the
    default precision and the width-selecting one when a plan stores them at 8 bits (6 decay bits, 8-bit state):
    only the latter carries neuron.fast.cycles_per_width_select_update."""
    from edgesnn.cost.model import layer_info, layer_terms
    g = Graph.load(MODELS / "digits_mlp.json")
    x, _ = load_dataset(DATA / "digits_val.npz")
    counts = {"neuron_updates": 64.0, "invocations": 4.0}
    for cfg, select in ((QuantConfig(), False), (QuantConfig(weight_bits=4, state_bits=8, decay_bits=6), True)):
        info = layer_info(quantize(g, cfg, x[:8]))["layers"]["lif1"]
        assert info["fast"] and info["per_neuron_params"] == 2, info
        t = layer_terms(info, counts)
        assert ("neuron.fast.cycles_per_width_select_update" in t) == select, (cfg, t)
        if select:
            assert t["neuron.fast.cycles_per_width_select_update"] == 64.0


def test_fast_loops_between_8_and_16_bit_state_price_their_clamp():
    """The digits CNN's LIF layers (per-channel parameters) take the fast loop at 8, 12 and 16-bit state; at 12
    bits v (stored in 16) is saturated by two compares, not one SSAT (36.3 against 28.3 instructions a LIF update
    on Cortex-M4, bench_mcu's neuron rows): only that layer carries neuron.fast.cycles_per_clamped_update."""
    from edgesnn.cost.model import layer_info, layer_terms
    g = Graph.load(MODELS / "digits_cnn.json")
    x, _ = load_dataset(DATA / "digits_val_cnn.npz")
    counts = {"neuron_updates": 64.0, "invocations": 4.0}
    for sb, clamped in ((8, False), (12, True), (16, False), (24, False)):
        info = layer_info(quantize(g, QuantConfig(state_bits=sb), x[:8]))["layers"]["lif1"]
        assert info["fast"] == (sb <= 16) and not info.get("width_select"), (sb, info)
        t = layer_terms(info, counts)
        assert t.get("neuron.fast.cycles_per_clamped_update") == (64.0 if clamped else None), (sb, t)


def test_an_analog_reader_is_priced_as_a_multiply_accumulate():
    """A layer reading an analog input multiplies every event (the int8 DSP MAC, 8 synapses a loop): its own .mac
    terms, its int32 input's scan, the accumulator shift and the input's widening; the next layer is priced as
    before."""
    from edgesnn.cost.model import layer_info, layer_terms, runtime_terms
    from tests.quantize.test_analog_input import sensor_graph, sensor_series
    g = Graph.load(MODELS / "digits_mlp.json")
    x = np.abs(np.random.default_rng(0).normal(0, 1, (4, 3, 64)))
    q = quantize(g, QuantConfig(input_bits=16), x)
    info = layer_info(q)
    fc1, fc2 = info["layers"]["fc1"], info["layers"]["fc2"]
    assert fc1["analog"] and fc1.get("shifted") and not fc2.get("analog")
    t = layer_terms(fc1, {"synops": 100.0, "spikes_in": 5.0, "invocations": 2.0})
    assert t["affine.int8.mac.cycles_per_synop"] == 100.0 and t["affine.int8.mac.cycles_per_spike_in"] == 5.0
    assert t["affine.mac.cycles_per_input_scanned"] == 64 * 2.0
    assert t["cycles_per_shifted_output"] == 128 * 2.0
    assert t["affine.int8.mac.cycles_per_tail_quad"] == 0.0 and "affine.int8.cycles_per_tail_quad" not in t
    assert "affine.int8.cycles_per_synop" in layer_terms(fc2, {"synops": 1.0, "spikes_in": 1.0, "invocations": 1.0})
    assert "cycles_per_analog_input_value" in runtime_terms(info["model"], 3.0)
    assert "cycles_per_input_byte" in runtime_terms(layer_info(quantize(g, QuantConfig(), x.round()))["model"], 3.0)
    conv = layer_info(quantize(sensor_graph(), QuantConfig(input_bits=8), sensor_series(2, 2)))["layers"]["conv"]
    assert "conv.int8.mac.cycles_per_synop" in layer_terms(conv, {"synops": 1.0, "spikes_in": 1.0, "invocations": 1})
