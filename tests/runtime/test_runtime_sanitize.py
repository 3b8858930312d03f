"""The runtime built with -fsanitize=address,undefined -fno-sanitize-recover (gcc) behind a small C driver
(runtime_c/tools/esn_run.c): bit-exact against simulate_fixed on real and random models, and quiet
(no sanitizer report, a clean status) on truncated and hostile blobs."""

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from edgesnn.emit import to_blob
from edgesnn.errors import QuantizeError
from edgesnn.quantize import QuantConfig, quantize
from tests.helpers.cbuild import RUNTIME, SANITIZE, assert_driver_matches, build, run, write_inputs
from tests.helpers.models import (PAPER_EXIT, PAPER_GRAPHS, example_case, example_models, paper_case, quant_config,
                                 random_graph, spikes)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = tmp_path_factory.mktemp("asan")
    return build(d / "esn_run_asan", [RUNTIME / "tools" / "esn_run.c"], SANITIZE)


def run_blob(driver, tmp_path, qgraph, x, label):
    (tmp_path / "m.blob").write_bytes(to_blob(qgraph))
    r = run([driver, tmp_path / "m.blob", write_inputs(tmp_path / "x.bin", x), tmp_path / "out.bin"])
    assert r.returncode == 0 and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    assert_driver_matches(qgraph, x, tmp_path / "out.bin", label)


@pytest.mark.parametrize("key", list(PAPER_GRAPHS))
def test_paper_graphs_under_sanitizers(nir_paper, driver, tmp_path, key):
    q, x = paper_case(key, QuantConfig(rounding="stochastic", seed=11), n=4, steps=16)
    run_blob(driver, tmp_path, q.with_exit(*PAPER_EXIT[key]), x, key)


@pytest.mark.parametrize("path", example_models(), ids=[p.stem for p in example_models()])
def test_example_models_under_sanitizers(driver, tmp_path, path):
    q, x = example_case(path, QuantConfig(6, 12, rounding="truncate"), n=4)
    run_blob(driver, tmp_path, q, x, path.stem)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                HealthCheck.function_scoped_fixture])
@given(g=random_graph(), cfg=quant_config(), data=st.data())
def test_random_graphs_under_sanitizers(driver, tmp_path, g, cfg, data):
    x = spikes((2, 6, *g.input.shape), 0.5, data.draw(st.integers(0, 99)), data.draw(st.sampled_from([1, 255])))
    try:
        q = quantize(g, cfg, None)
    except QuantizeError:
        reject()
    run_blob(driver, tmp_path, q.with_exit(data.draw(st.sampled_from([None, 100]))), x, "random")


def test_hostile_blobs_under_sanitizers(nir_paper, driver, tmp_path):
    """Every truncation, and byte flips behind a recomputed CRC: each gets a status, none a sanitizer report."""
    q, _ = paper_case("braille_zero", QuantConfig())
    b = to_blob(q)
    blobs = [b[:n] for n in range(0, len(b), 3)]
    rng = np.random.default_rng(5)
    nodes_end = 48 + 5 * 16 + 64 + 7 * 168 + 7 * 8 + 64
    for _ in range(400):
        c = bytearray(b)
        for _ in range(int(rng.integers(1, 5))):
            c[int(rng.integers(48, nodes_end))] ^= 1 << int(rng.integers(0, 8))
        struct.pack_into("<I", c, 12, zlib.crc32(bytes(c[16:])))
        blobs.append(bytes(c))
    paths = []
    for i, blob in enumerate(blobs):
        p = tmp_path / f"b{i}.blob"
        p.write_bytes(blob)
        paths.append(p)
    r = run([driver, "--check", *paths], timeout=300)
    assert r.returncode == 0 and "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]
    codes = [int(v) for v in r.stdout.split()]
    assert len(codes) == len(blobs)
    prefixes = len(range(0, len(b), 3))
    assert codes[:prefixes] == [3] * prefixes  # ESN_ERR_TRUNCATED for every prefix
    assert codes.count(0) < 400 and len(set(codes)) > 4
