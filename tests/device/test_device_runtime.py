"""The C runtime in the firmware, end to end under QEMU: every example model on every emulated board,
bit-identical to the host runtime (run_c) in outputs, exit steps and counters, with per-layer
instruction counts; where a model cannot fit a board, the refusal with its numbers; `edgesnn run`;
the same client over a plain serial URL (--port); a model run through a byte-damaging link.

Skipped only when qemu-system-arm or arm-none-eabi-gcc is absent (`make setup` installs both).
"""

from __future__ import annotations

import os
import re
import struct

import numpy as np
import pytest

from edgesnn.cli import main
from edgesnn.firmware import build as F
from edgesnn.device import protocol as P
from edgesnn.device.qemu import QemuTarget
from edgesnn.device.runner import DeviceModel, run_on_board
from edgesnn.firmware.runtime import build_runtime_firmware
from edgesnn.runtime.binding import run_c
from edgesnn.runtime.engines import load_model, quantize_with
from tests.helpers.boards import EMULATED
from tests.helpers.device import FaultProxy, example_qgraph, same_as_host, spike_inputs
from tests.helpers.paths import MODELS

MODEL_NAMES = sorted(p.stem for p in MODELS.glob("*.json") if p.stem != "results")


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id", EMULATED)
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_example_model_on_every_board_matches_the_host(boards, fw_cache, board_id, model):
    b, q = boards[board_id], example_qgraph(model)
    x = spike_inputs(q)
    try:  # the model sent as a blob into RAM; only the micro:bit's 16 KiB can be too small for some models
        build_runtime_firmware(b, q, cache_dir=fw_cache)
        blob_fits = True
    except F.FirmwareTooLarge as e:
        assert board_id == "qemu-microbit", str(e)
        assert re.search(r"sram needs [\d,]+ B \(stack [\d,]+ \+ bss [\d,]+ \+ arena [\d,]+\) but holds 16,384 B: "
                         r"[\d,]+ B over.*model blob [\d,]+ B sent to RAM.*--builtin", str(e), re.S), str(e)
        blob_fits = False
    res, fw = run_on_board(b, q, x, builtin=not blob_fits, cache_dir=fw_cache)
    same_as_host(res, q, x)
    assert fw.sizes.arena >= (0 if blob_fits else 1)
    assert res.link["retries"] == 0


@pytest.mark.needs_qemu
def test_early_exit_and_compiled_in_model(boards, fw_cache):
    b = boards["qemu-mps2-an505"]
    q = example_qgraph("digits_mlp").with_exit(585)      # entropy below 585/256 nats: stops at the first confident step
    x = spike_inputs(q, n=3, t=25, rate=0.3)
    res, fw = run_on_board(b, q, x, builtin=True, cache_dir=fw_cache)
    same_as_host(res, q, x)
    assert res.steps.min() < 25 and res.steps.max() == 25   # some exited early, each at the host's step


@pytest.mark.needs_qemu
def test_a_model_that_needs_more_than_the_arena_is_refused_by_the_device(boards, fw_cache):
    b, q = boards["qemu-mps2-an386"], example_qgraph("digits_mlp")
    fw = build_runtime_firmware(b, arena_bytes=8, cache_dir=fw_cache)   # the probe build: an empty arena
    with QemuTarget(b, fw.elf) as t:
        assert "run" in t.hello.capabilities and t.hello.runtime_version.endswith("+dsp")
        with pytest.raises(P.RemoteError, match=r"TOO_LARGE.*blob of [\d]+ B does not fit the firmware arena of 8 B"):
            DeviceModel(t.link, q, b)
        with pytest.raises(P.RemoteError, match="UNSUPPORTED.*no model compiled"):
            t.link.request(P.T_LOAD_MODEL, struct.pack("<II", 0, 0))
        with pytest.raises(P.RemoteError, match="BAD_REQUEST.*RUN before a model"):
            t.link.request(P.T_RUN, b"\1\0\0")


@pytest.mark.needs_qemu
def test_cli_run_writes_outputs_and_counters_and_refuses_with_numbers(boards, fw_cache, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setenv("EDGESNN_CACHE", str(fw_cache.parent))
    q = example_qgraph("digits_mlp")
    x = spike_inputs(q, n=2, t=8)
    np.save(tmp_path / "x.npy", x)
    model = str(MODELS / "digits_mlp.json")
    assert main(["run", model, "--board", "qemu-mps2-an386", "--inputs", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "o.npz"), "--weight-bits", "6"]) == 0
    out = capsys.readouterr().out
    assert "instructions" in out and "fc1" in out and "sram" in out
    z = np.load(tmp_path / "o.npz")
    ref = run_c(quantize_with(load_model(model), weight_bits=6), x)
    assert np.array_equal(z["out_spikes"], ref.outputs.reshape(2, 8, -1))
    assert np.array_equal(z["pred"], ref.pred) and list(z["steps"]) == [8, 8]
    assert (z["fc1.instructions"] > 0).all() and np.array_equal(z["fc1.synops"], ref.counts["fc1"]["synops"].sum(1))
    assert main(["run", model, "--board", "qemu-microbit", "--inputs", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "o2.npz")]) == 1
    err = capsys.readouterr().err
    assert "does not fit board qemu-microbit" in err and "holds 16,384 B" in err
    assert not (tmp_path / "o2.npz").exists()


@pytest.mark.needs_qemu
def test_the_same_client_over_a_serial_url(boards, fw_cache):
    """--port: a real board's path or any pyserial URL; here QEMU's socket stands in for /dev/ttyACM0."""
    b, q = boards["qemu-mps2-an386"], example_qgraph("digits_mlp")
    x = spike_inputs(q, n=1, t=6)
    fw = build_runtime_firmware(b, q, cache_dir=fw_cache)
    t = QemuTarget(b, fw.elf)
    t.start()
    try:
        t.link.close()
        res, fw2 = run_on_board(b, q, x, port=f"socket://127.0.0.1:{t.port}", cache_dir=fw_cache)
        assert fw2.elf == fw.elf     # the firmware it checked the model against is the one running
        assert np.array_equal(res.outputs, run_c(q, x).outputs)
    finally:
        t.kill()


@pytest.mark.needs_qemu
def test_model_inference_through_a_damaging_link_is_right_or_loud(boards, fw_cache):
    """1% of bytes dropped, duplicated or corrupted both ways: every inference completes bit-exactly
    or raises; none returns a wrong result."""
    b, q = boards["qemu-mps2-an386"], example_qgraph("digits_mlp")
    fw = build_runtime_firmware(b, q, cache_dir=fw_cache)
    x = spike_inputs(q, n=4, t=5, seed=3)
    ref = run_c(q, x).outputs
    proxy = FaultProxy(p=0.01, seed=int(os.environ.get("EDGESNN_FAULT_SEED", "5")))
    t = QemuTarget(b, fw.elf, timeout=0.1, retries=40, via=proxy.url)
    t.start()
    ok = loud = 0
    try:
        dm = DeviceModel(t.link, q, b, frame_payload=96)   # loads over the clean link; then one step per frame
        proxy.enabled = True
        for i in range(len(x)):
            try:
                res = dm.run(x[i:i + 1])
            except (P.LinkTimeout, P.ProtocolError):
                loud += 1
                continue
            assert np.array_equal(res.outputs[0], ref[i])   # never a wrong answer
            ok += 1
        proxy.enabled = False
        stats = t.link.stats
        assert t.close() == 0
    finally:
        t.kill()
        proxy.close()
    damaged = proxy.counts["drop"] + proxy.counts["dup"] + proxy.counts["flip"]
    print("fault proxy with a model:", proxy.counts, "ok", ok, "loud", loud, stats)
    assert damaged >= 20 and stats.retries > 0
    assert ok >= len(x) - 1


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board_id", ["qemu-mps2-an386", "qemu-microbit"])
def test_fast_neuron_saturation_between_8_and_16_bits_matches_the_host(boards, fw_cache, board_id):
    """esn_sat_sb, the fast loops' saturation at 8 < state_bits < 16: two SSATs around a shift where the core has
    SSAT (the AN386's Cortex-M4), two compares on ARMv6-M (the micro:bit's Cortex-M0) and on the host. Driven into
    saturation at 9, 12 and 15 bits (large input counts, random parameters): the same as the host, which the
    reference checks (tests/runtime/test_neuron_fast.py)."""
    from edgesnn.cost.model import _fast_neuron
    from edgesnn.quantize import QuantConfig
    from tests.runtime.test_neuron_fast import _inputs, _layer_params, _model
    rng = np.random.default_rng(2026)
    saturated = 0
    for sb in (9, 12, 15):
        for kind in ("LIF", "LI"):
            q = _model(kind, QuantConfig(8, sb), seed=sb)
            _layer_params(q, kind, rng)
            assert _fast_neuron(q, q.graph.nodes["nrn"], q.layers["nrn"]), (kind, sb)
            x = _inputs(rng, n=2, steps=10, big=True)
            res, _ = run_on_board(boards[board_id], q, x, cache_dir=fw_cache)
            same_as_host(res, q, x)
            v = run_c(q, x, record_states=True).states["nrn"]["v"]
            saturated += int(np.any(np.abs(v) >= (1 << (sb - 1)) - 1))
    assert saturated >= 3, saturated   # the saturation ran, not just the arithmetic below it
