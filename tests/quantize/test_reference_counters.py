"""The memory-traffic counters of the fixed-point specification (edgesnn/quantize/reference.py), checked
against their definitions, independently of the C runtime that reproduces them."""

import numpy as np

from edgesnn.quantize import QuantConfig
from edgesnn.quantize.reference import BYTE_COUNTERS, FIXED_COUNTERS, simulate_fixed
from edgesnn.graph.simulate import COUNTERS
from tests.helpers.models import paper_case


def test_byte_counters_follow_their_definitions(nir_paper):
    q, x = paper_case("braille_subtract", QuantConfig(12, 16))  # int16 weights, a subtract-late reset
    r = simulate_fixed(q, x)
    assert FIXED_COUNTERS == COUNTERS + BYTE_COUNTERS
    g = q.graph
    shapes = g.schedule().shapes
    for name, cs in r.counts.items():
        assert set(cs) == set(FIXED_COUNTERS)
        preds = g.predecessors(name)
        n_in, n_out = int(np.prod(shapes[preds[0]])), int(np.prod(shapes[name]))
        if name in ("lif1.lif", "lif2"):  # CubaLIF, reset one step late: v, i, pending; 6 parameter arrays,
            # each stored once when its values agree, at the fewest of 8, 16 and 32 bits that hold it
            arrays = [a.reshape(-1) for a in q.layers[name].params.values()]
            assert len(arrays) == 6
            stored = sum((1 if np.all(a == a[0]) else a.size)
                         * next(w for w in (1, 2, 4) if -(1 << (8 * w - 1)) <= a.min() and a.max() < 1 << (8 * w - 1))
                         for a in arrays)
            np.testing.assert_array_equal(cs["param_bytes_read"], stored)
            np.testing.assert_array_equal(cs["arena_bytes_read"], n_out * 4 * (len(preds) + 3))
            np.testing.assert_array_equal(cs["arena_bytes_written"], n_out * 4 * 4)
        else:  # Linear layers with 2-byte weights, no bias
            syn = cs["synops"]
            np.testing.assert_array_equal(cs["param_bytes_read"], 2 * syn)
            np.testing.assert_array_equal(cs["arena_bytes_read"], 4 * (n_in + syn))
            np.testing.assert_array_equal(cs["arena_bytes_written"], 4 * (n_out + syn))
    assert r.counts["lif1.lif"]["arena_bytes_read"][0, 0] == 40 * 4 * (2 + 3)  # fc1 and the recurrent w_rec


def test_counters_stop_at_early_exit(nir_paper):
    q, x = paper_case("cnn_sinabs", QuantConfig(), n=3, steps=8)
    r = simulate_fixed(q.with_exit(20, 1 << 14), x)
    for i, s in enumerate(r.steps):
        for cs in r.counts.values():
            for c in BYTE_COUNTERS:
                assert cs[c][i, s:].sum() == 0
            assert cs["arena_bytes_read"][i, :s].min() > 0
