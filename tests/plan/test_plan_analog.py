"""The planner on analog data (issue #17 item 1): real-valued validation inputs make the input's precision a searched
parameter kind (8 or 16 bits, per-channel scales), each candidate judged on the inputs quantized at its own precision;
spike-count data keep the spike-count input and never search it."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.board import get_board

from edgesnn.graph.simulate import simulate
from edgesnn.plan import plan
from edgesnn.plan.quant_search import candidates
from edgesnn.plan.search import PlanInputError, check_data
from edgesnn.quantize import QuantConfig
from edgesnn.runtime import run_c
from tests.quantize.test_analog_input import sensor_graph, sensor_series

pytestmark = pytest.mark.needs_c_ext


@pytest.fixture(scope="module")
def sensor_plan():
    g = sensor_graph()
    x = sensor_series(48, 8, seed=3)
    y = simulate(g, x).pred
    menu = {"weight_bits": (4, 8), "state_bits": (12, 16), "decay_bits": (8, 12), "threshold_bits": (None,),
            "rounding": ("nearest",)}
    configs = candidates(g, menu, analog=True)
    return g, x, y, configs, plan(g, get_board("qemu-mps2-an386"), x, y, configs=configs, measure=False, workers=1)


def test_analog_data_search_the_input_precision(sensor_plan):
    g, x, y, configs, p = sensor_plan
    assert {c.input_bits for c in configs} == {8, 16} and {c.input_scale for c in configs} == {"channel"}
    assert p.search_space["input_bits"] == [8, 16]
    c = p.qgraph.config
    assert c.input_bits in (8, 16) and c.input_scale == "channel"
    assert p.qgraph.input_scale.shape == (3,)
    # the plan's accuracy is its model's on the validation data, run by the C runtime on the real values
    assert p.accuracy == pytest.approx(float(np.mean(run_c(p.qgraph.with_exit(None), x).pred == y)), abs=0.05)
    assert "analog input" in p.summary() if hasattr(p, "summary") else True


def test_spike_data_keep_spike_counts():
    g = sensor_graph()
    assert all(c.input_bits == 0 for c in candidates(g))
    x, _ = check_data(g, (sensor_series(2, 2) > 0).astype(np.uint8), np.zeros(2, np.int64))
    assert x.dtype == np.uint8
    xa, _ = check_data(g, sensor_series(2, 2), np.zeros(2, np.int64))
    assert xa.dtype == np.float64
    bad = sensor_series(2, 2)
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(PlanInputError, match="not a finite number"):
        check_data(g, bad, np.zeros(2, np.int64))


def test_an_analog_config_on_spike_counts_and_a_spike_config_on_real_values():
    g = sensor_graph()
    x = sensor_series(8, 4, seed=5)
    y = simulate(g, x).pred
    with pytest.raises(Exception, match="analog input"):   # real values need an analog input layer
        plan(g, get_board("qemu-mps2-an386"), x, y, configs=[QuantConfig()], measure=False, workers=1,
             sensitivity=False)
