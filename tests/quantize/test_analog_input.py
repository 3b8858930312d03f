"""Analog input (issue #17 item 1): a first Linear/Affine/Conv layer multiplies int8 / int16 readings into its weights.

The quantizer picks the input scale from the calibration data (per tensor or per channel) and an accumulator shift
that keeps the multiplied weights at their precision; fixed-python and fixed-c agree bit for bit on outputs, every
counter and every state; the blob carries the input bits (model byte 44), the shift (node byte 78) and the scale
(META); both checkers refuse the same malformed models.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.calibrate.profile import direct_encoded
from edgesnn.data import load_dataset
from edgesnn.emit.blob import BlobError, from_blob, to_blob
from edgesnn.errors import QuantizeError, ScheduleRefused, SimulationError
from edgesnn.graph import Graph, ir
from edgesnn.graph.simulate import simulate
from edgesnn.quantize import QGraph, QuantConfig, quantize
from edgesnn.quantize.reference import simulate_fixed
from edgesnn.runtime import run_c

from tests.emit.test_blob import recrc
from tests.helpers.models import assert_same
from tests.helpers.paths import EXAMPLES, FIXTURES


def _lif(name: str, shape, thr: float = 1.0) -> ir.LIF:
    n = int(np.prod(shape))
    one = np.ones(n).reshape(shape)
    return ir.LIF(name=name, gain=one.copy(), bias=np.zeros(n).reshape(shape), alpha=np.full(n, 0.9).reshape(shape),
                  threshold=one * thr, v_reset=np.zeros(n).reshape(shape), reset="subtract")


def sensor_graph(seed: int = 0) -> ir.Graph:
    """A sensor-like time series model: 3 channels x 16 samples a step -> Conv1d(3 -> 6, k 5) -> LIF -> Flatten ->
    Affine(-> 4) -> LIF readout."""
    rng = np.random.default_rng(seed)
    conv = ir.Conv1d(name="conv", weight=rng.normal(0, 0.4, (6, 3, 5)), bias=rng.normal(0, 0.05, 6), padding=(2,))
    fc = ir.Affine(name="fc", weight=rng.normal(0, 0.3, (4, 96)), bias=np.zeros(4))
    nodes = [ir.Input(name="x", shape=(3, 16)), conv, _lif("lif1", (6, 16), 0.8), ir.Flatten(name="flat"), fc,
             _lif("lif2", (4,), 0.6), ir.Output(name="out", shape=(4,))]
    names = [n.name for n in nodes]
    return ir.Graph({n.name: n for n in nodes}, list(zip(names, names[1:])), 1e-3, {})


def sensor_series(n: int, steps: int, seed: int = 1) -> np.ndarray:
    """Accelerometer-like readings in m/s^2: a sine per channel at its own frequency and gain, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps * 16).reshape(steps, 16) / 100.0
    f = rng.uniform(1, 6, (n, 3, 1, 1))
    gain = np.array([9.81, 2.0, 0.5]).reshape(1, 3, 1, 1)   # channels of very different ranges: per-channel scales
    x = gain * np.sin(2 * np.pi * f * t) + rng.normal(0, 0.05, (n, 3, steps, 16))
    return x.transpose(0, 2, 1, 3)   # [N, T, C, L]


def example(name: str) -> Graph:
    return Graph.load(EXAMPLES / "models" / f"{name}.json")


def digits_direct(model: str, n: int) -> np.ndarray:
    """The digits test set's pixel intensities, direct-encoded (the rate its spikes code, at every step)."""
    g = example(model)
    x, _ = load_dataset(EXAMPLES / "data" / ("digits_test_cnn.npz" if "cnn" in model else "digits_test.npz"))
    return direct_encoded(x[:n].reshape(n, x.shape[1], *g.input.shape))


CASES = [(m, ib, sc, wb) for m in ("sensor", "digits_mlp", "digits_cnn") for ib in (8, 16)
         for sc in ("tensor", "channel") for wb in (8, 4)]


@pytest.mark.parametrize("model,input_bits,scale,weight_bits", CASES)
def test_fixed_python_and_c_agree_bit_for_bit(model, input_bits, scale, weight_bits):
    if model == "sensor":
        g, x = sensor_graph(), sensor_series(6, 6)
    else:
        g, x = example(model), digits_direct(model, 6)
    q = quantize(g, QuantConfig(input_bits=input_bits, input_scale=scale, weight_bits=weight_bits), x)
    ref = simulate_fixed(q, x, record_states=True)
    assert ref.outputs.any(), "the case must spike to compare anything"
    assert_same(ref, run_c(q, x, record_states=True), f"{model} i{input_bits} {scale} w{weight_bits}", q)


def test_the_first_layer_keeps_its_precision_and_tracks_the_float_model():
    """The accumulator shift keeps the multiplied weights at their bits however small one input unit is (int16:
    weights would otherwise round to 0), so the fixed-point readout tracks the float one."""
    g, x = sensor_graph(), sensor_series(24, 8)
    ref = simulate(g, x).outputs.sum(axis=1)
    for bits in (8, 16):
        q = quantize(g, QuantConfig(input_bits=bits, input_scale="channel"), x)
        conv = q.layers["conv"]
        assert conv.acc_shift > 0
        assert np.abs(conv.params["weight"]).max() >= 64   # uses its 8 bits
        got = simulate_fixed(q, x).outputs.sum(axis=1)
        assert np.corrcoef(ref.reshape(-1), got.reshape(-1))[0, 1] > 0.9, bits
    assert q.layers["fc"].acc_shift == 0   # only the readers of the input shift


def test_channel_scales_follow_each_channels_range():
    g, x = sensor_graph(), sensor_series(8, 4)
    q = quantize(g, QuantConfig(input_bits=8, input_scale="channel"), x)
    peak = np.abs(x).max(axis=(0, 1, 3))
    np.testing.assert_allclose(q.input_scale, peak / 127)
    xq = q.quantize_inputs(x)
    assert xq.dtype == np.int8 and np.abs(xq).max() == 127
    assert all(np.abs(xq[:, :, c]).max() == 127 for c in range(3))   # every channel uses its range
    t = quantize(g, QuantConfig(input_bits=16), x)
    assert t.input_scale.shape == (1,) and t.quantize_inputs(x).dtype == np.int16


def test_quantized_inputs_round_half_away_from_zero_and_saturate():
    g = sensor_graph()
    q = quantize(g, QuantConfig(input_bits=8), sensor_series(4, 2))
    s = float(q.input_scale[0])
    x = np.zeros((1, 1, 3, 16))
    x[0, 0, 0, :4] = [2.5 * s, -2.5 * s, 1e9, -1e9]
    np.testing.assert_array_equal(q.quantize_inputs(x)[0, 0, 0, :4], [3, -3, 127, -127])


def test_the_blob_round_trips_the_input_bits_scale_and_shift():
    g, x = sensor_graph(), sensor_series(4, 4)
    q = quantize(g, QuantConfig(input_bits=16, input_scale="channel"), x)
    b = to_blob(q)
    back = from_blob(b)
    assert back.config.input_bits == 16 and back.config.input_scale == "channel"
    np.testing.assert_array_equal(back.input_scale, q.input_scale)
    assert back.layers["conv"].acc_shift == q.layers["conv"].acc_shift
    assert to_blob(back) == b
    np.testing.assert_array_equal(simulate_fixed(back, x).outputs, simulate_fixed(q, x).outputs)
    again = QGraph.from_dict(q.to_dict())
    np.testing.assert_array_equal(again.input_scale, q.input_scale)


def test_a_blob_without_its_input_scale_is_refused():
    import json
    g, x = sensor_graph(), sensor_series(4, 4)
    q = quantize(g, QuantConfig(input_bits=8), x)
    b = to_blob(q)
    lost = b.replace(json.dumps([float(v) for v in q.input_scale]).encode(), b"null" + b" " *
                     (len(json.dumps([float(v) for v in q.input_scale])) - 4))
    assert lost != b
    with pytest.raises(BlobError, match="CRC"):
        from_blob(lost)
    lost = recrc(bytearray(lost))
    with pytest.raises(BlobError, match="input's scale"):
        from_blob(lost)


def test_refusals_name_what_is_wrong():
    g, x = sensor_graph(), sensor_series(4, 4)
    with pytest.raises(QuantizeError, match="needs calibration inputs"):
        quantize(g, QuantConfig(input_bits=8))
    with pytest.raises(QuantizeError, match="input_bits = 12"):
        QuantConfig(input_bits=12)
    pooled = Graph.load(EXAMPLES / "models" / "digits_cnn.json")
    # a pool reading the analog input would take signed readings as spike counts
    nodes = dict(pooled.nodes)
    first = pooled.successors(pooled.input.name)[0]
    nodes["pool0"] = ir.SumPool2d(name="pool0", kernel_size=(1, 1), stride=(1, 1))
    edges = [(a, b) for a, b in pooled.edges if not (a == pooled.input.name and b == first)]
    edges += [(pooled.input.name, "pool0"), ("pool0", first)]
    bad = ir.Graph(nodes, edges, pooled.dt, {})
    xi = np.random.default_rng(0).normal(0, 1, (2, 3, *bad.input.shape))
    with pytest.raises(QuantizeError, match="'pool0' .*reads the analog input"):
        quantize(bad, QuantConfig(input_bits=8), xi)
    q = quantize(g, QuantConfig(input_bits=8), x)
    with pytest.raises(ScheduleRefused, match="analog"):
        run_c(q, x, schedule="layer")
    with pytest.raises(QuantizeError, match="finite"):
        q.quantize_inputs(np.full((1, 1, 3, 16), np.nan))
    spikes = quantize(g, QuantConfig(), (x > 0).astype(np.uint8))
    with pytest.raises(SimulationError, match="analog input"):
        simulate_fixed(spikes, x)


@pytest.mark.parametrize("bits", [8, 16])
def test_spikingjellys_direct_encoded_conv_runs_in_fixed_point(bits):
    """SpikingJelly's own export of a direct-encoded conv (tests/fixtures/spikingjelly_dconv: the digits' pixel
    intensities fed unchanged every step into Conv2d -> LIF -> Linear -> IF): quantized with an analog input, the two
    fixed-point engines agree bit for bit and classify as SpikingJelly itself did."""
    from edgesnn.graph.nir_io import read_nir
    d = np.load(FIXTURES / "spikingjelly_dconv.npz")
    g = read_nir(FIXTURES / "spikingjelly_dconv.nir", dialect="spikingjelly", dt=float(d["dt"]))
    x = d["inputs"].reshape(*d["inputs"].shape[:2], *g.input.shape).astype(np.float64)
    theirs = d["out"].sum(axis=1).argmax(axis=1)
    q = quantize(g, QuantConfig(input_bits=bits), x)
    ref = simulate_fixed(q, x, record_states=True)
    assert_same(ref, run_c(q, x, record_states=True), f"spikingjelly dconv i{bits}", q)
    assert np.mean(ref.pred == theirs) >= 0.9, np.mean(ref.pred == theirs)
    assert np.mean(ref.pred == d["labels"]) >= 0.9


@pytest.mark.parametrize("bits", [8, 16])
def test_the_mnist_sized_mlp_direct_encoded_is_bit_exact(bits):
    """The real-sized 784-512-256-10 MLP (examples/models/real) on its regenerated test digits, direct-encoded: 784
    readings a step multiplied into 401k weights (accumulator shift 5 at int8, 13 at int16), both engines agree."""
    from tests.graph.test_examples_real import REAL, RESULTS, _train_real
    tr = _train_real()
    from train_examples import splits
    *_, x_te, _ = splits()
    rec = RESULTS["mnist_mlp"]
    g = Graph.load(REAL / rec["model"])
    x = direct_encoded(tr.encode(tr.TASKS["mnist_mlp"], x_te[:6], tr.SEEDS["test"] * 1000))
    q = quantize(g, QuantConfig(input_bits=bits, input_scale="channel"), x)
    assert q.layers["fc1"].acc_shift > 0
    ref = simulate_fixed(q, x, record_states=True)
    assert ref.outputs.any()
    assert_same(ref, run_c(q, x, record_states=True), f"mnist_mlp i{bits}", q)


def test_the_c_runtime_refuses_inputs_a_cast_would_change():
    """CModel.run takes the model's integers: real values handed to it (not through run_c, which quantizes an analog
    model's readings) are refused, never truncated into wrong ones."""
    from edgesnn.runtime.binding import CModel
    from edgesnn.emit.blob import to_blob
    g, x = sensor_graph(), sensor_series(2, 3)
    q = quantize(g, QuantConfig(input_bits=8), x)
    with pytest.raises(SimulationError, match="inputs must be the model's int8 values; these do not fit"):
        CModel(to_blob(q)).run(x)
    spikes = quantize(g, QuantConfig(), (x > 0).astype(np.uint8))
    with pytest.raises(SimulationError, match=r"spike counts \(integers 0..255\); these do not fit"):
        CModel(to_blob(spikes)).run(x)
