"""The runtime built without counters (-DESN_ENABLE_COUNTERS=0, a release build): its arena is the one the
lowering plans with counters=False (esn_arena_size and esn_arena_size_sched equal Lowered's, both builds), its
outputs and steps are the counting build's bit for bit, it reports no counters (zeros through esn_run), a
counting runtime refuses a plan made without counters, and the counting code is gone from the kernels."""

import re
import subprocess

import numpy as np
import pytest

from edgesnn.emit.blob import blob_from_lowered
from edgesnn.lower import lower
from edgesnn.quantize import QuantConfig
from tests.helpers.cbuild import RUNTIME, SOURCES, STRICT, build, gcc, read_outputs, run, write_inputs
from tests.helpers.models import PAPER_EXIT, example_case, example_models, paper_case

OFF = ["-DESN_ENABLE_COUNTERS=0"]
_STATUSES = re.findall(r"^    (ESN_\w+)", (RUNTIME / "include" / "esn" / "esn_types.h").read_text().split("typedef enum esn_status")[1]
                       .split("}")[0], re.M)
ESN_ERR_PLAN = _STATUSES.index("ESN_ERR_PLAN")


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("counters")
    tool = [RUNTIME / "tools" / "esn_run.c"]
    return build(d / "esn_run_on", tool, STRICT), build(d / "esn_run_off", tool, STRICT + OFF)


def _arena(driver, blob_path) -> tuple[int, int, int]:
    r = run([driver, "--arena", blob_path])
    assert r.returncode == 0, r.stderr
    st, plain, sched = (int(v) for v in r.stdout.split())
    return st, plain, sched


def _cases():
    for p in example_models():
        yield p.stem, lambda p=p: example_case(p, QuantConfig(6, 12, rounding="truncate"), n=4)
    yield "braille_subtract", lambda: (lambda q, x: (q.with_exit(*PAPER_EXIT["braille_subtract"]), x))(
        *paper_case("braille_subtract", QuantConfig(rounding="stochastic", seed=3), n=3, steps=16))


CASES = dict(_cases())


@pytest.mark.parametrize("key", list(CASES))
def test_outputs_equal_the_counting_build_and_arenas_equal_the_lowering(drivers, tmp_path, key, request):
    if key.startswith("braille"):
        request.getfixturevalue("nir_paper")
    on, off = drivers
    q, x = CASES[key]()
    low_on, low_off = lower(q), lower(q, counters=False)
    n = len(low_on.nodes)
    assert low_on.arena_size() - low_off.arena_size() == low_on.arena_base() - low_off.arena_base() == 128 * n
    assert low_off.plan_problem(low_off.memory_plan()) is None
    for name, low in (("on", low_on), ("off", low_off)):
        (tmp_path / f"{name}.blob").write_bytes(blob_from_lowered(low))
    xs = write_inputs(tmp_path / "x.bin", x)
    # each build's arena is the lowering's for it; the counting one refuses the plan made without counters
    # (its regions overlap the counters), the release one runs the counting plan in its bigger arena
    assert _arena(off, tmp_path / "off.blob") == (0, low_off.arena_size(), 0)
    assert _arena(on, tmp_path / "on.blob") == (0, low_on.arena_size(), 0)
    assert _arena(on, tmp_path / "off.blob")[0] == ESN_ERR_PLAN
    assert _arena(off, tmp_path / "on.blob") == (0, low_on.arena_size(), 0)
    for exe, blob, out in ((on, "on.blob", "ref.bin"), (off, "off.blob", "off.bin"), (off, "on.blob", "off2.bin")):
        r = run([exe, tmp_path / blob, xs, tmp_path / out])
        assert r.returncode == 0, r.stderr
    ref_out, ref_cnt, ref_steps = read_outputs(tmp_path / "ref.bin")
    assert ref_cnt[..., 1].sum() > 0, "the counting build counted no synops: the comparison would be empty"
    for out in ("off.bin", "off2.bin"):
        outs, cnts, steps = read_outputs(tmp_path / out)
        np.testing.assert_array_equal(outs, ref_out, err_msg=f"{key}: outputs")
        np.testing.assert_array_equal(steps, ref_steps, err_msg=f"{key}: steps")
        assert not cnts.any(), f"{key}: a runtime without counters reported some"


@pytest.mark.parametrize("schedule", ["layer", "fused"])
def test_grouped_arena_equals_the_lowering_in_both_builds(drivers, tmp_path, schedule):
    on, off = drivers
    q, _ = example_case(next(p for p in example_models() if p.stem == "digits_cnn"), QuantConfig(), n=2)
    for counters, exe in ((True, on), (False, off)):
        low = lower(q, schedule, 6, counters=counters)
        (tmp_path / "m.blob").write_bytes(blob_from_lowered(low))
        assert _arena(exe, tmp_path / "m.blob") == (0, low.arena_size(), low.arena_size_sched()), counters
    n = len(low.nodes)
    assert lower(q, schedule, 6).arena_size_sched() - low.arena_size_sched() == 64 * n


def test_kernels_spend_no_code_on_counting(tmp_path):
    """Each object built without counters is smaller (the tallies and the stores folded away), and nothing
    but the counting build calls the counters' helpers."""
    def text(src, flags):
        obj = tmp_path / f"{src.stem}{len(flags)}.o"
        r = subprocess.run([gcc(), *STRICT, *flags, f"-I{RUNTIME / 'include'}", "-c", str(src), "-o", str(obj)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        sizes = subprocess.run(["size", str(obj)], capture_output=True, text=True).stdout.split("\n")[1].split()
        return int(sizes[0]), subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True).stdout

    for src in SOURCES[:-1]:
        if src.stem in ("esn_synaptic", "esn_neuron", "esn_runtime", "esn_schedule"):
            (t_on, _), (t_off, undef) = text(src, []), text(src, OFF)
            assert t_off < t_on, (src.name, t_on, t_off)
            assert "esn__counters_add" not in undef and "esn_port_cycles" not in undef, src.name
