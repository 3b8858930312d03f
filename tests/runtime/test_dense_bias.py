"""The Linear/Affine output initialisation (esn_init_out in runtime_c/src/kernels/esn_synaptic.c) against the
specification, simulate_fixed: an Affine's bias stored per output at 8, 16 and 32 bits (one copy loop per
width) and once for the layer (a fill), with and without input events."""

import numpy as np
import pytest

from edgesnn.quantize.qgraph import PM_ELEM, PM_LAYER, param_storage
from edgesnn.runtime import run_c
from tests.firmware.test_mcu_kernels import bias_variants
from tests.helpers.models import assert_same, reference


@pytest.mark.parametrize("fan_out", [3, 7, 64])
def test_affine_bias_widths_bit_exact(fan_out):
    variants = bias_variants(fan_out, 24)
    stored = {param_storage(q.layers["fc"].params["bias"], per_channel=False)[1:] for _, q in variants}
    assert stored == {(PM_ELEM, 8), (PM_ELEM, 16), (PM_ELEM, 32), (PM_LAYER, 8)}
    rng = np.random.default_rng(fan_out)
    x = (rng.random((2, 6, 24)) < 0.2).astype(np.uint8)
    x[:, 0] = 0  # a step without events: the output is the bias alone
    for label, q in variants:
        assert_same(reference(q, x), run_c(q, x, record_states=True), label, q)
