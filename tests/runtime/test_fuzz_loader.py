"""A short libFuzzer run (clang, ASan + UBSan) of the blob loader and of the runtime on what it accepts
(runtime_c/fuzz/fuzz_loader.c), seeded with real blobs. runtime_c/README.md documents a longer run."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgesnn.emit import to_blob
from edgesnn.quantize import QuantConfig
from tests.helpers.cbuild import RUNTIME, SOURCES, run
from tests.helpers.models import example_case, example_models, paper_case

FUZZ_SECONDS = 20


def seed_blobs() -> dict[str, bytes]:
    """Real blobs of every structure we have: recurrent CubaLIF nets, the example MLP and CNN, with and
    without a grouped schedule."""
    seeds = {}
    for key, cfg in (("braille_zero", QuantConfig()), ("braille_subtract", QuantConfig(4, 10, rounding="stochastic"))):
        q, _ = paper_case(key, cfg, n=2, steps=4)
        seeds[key] = to_blob(q)
        seeds[key + "_exit"] = to_blob(q.with_exit(300))
        seeds[key + "_fused"] = to_blob(q, "fused", 4)  # version 2: a grouped schedule
    for path in example_models():
        q, _ = example_case(path, QuantConfig(12, 24), n=1)
        seeds[path.stem] = to_blob(q)
        if path.stem in ("digits_mlp", "digits_cnn"):
            seeds[path.stem + "_layer"] = to_blob(q, "layer", 3)
            seeds[path.stem + "_fused"] = to_blob(q, "fused", 5)
            seeds[path.stem + "_staged"] = to_blob(q, "fused", 2, stage="all")
    return seeds


@pytest.fixture(scope="module")
def fuzzer(tmp_path_factory):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed: `make setup` installs it (Debian packages clang, libclang-rt-dev)")
    d = tmp_path_factory.mktemp("fuzz")
    exe = d / "fuzz_loader"
    r = subprocess.run([clang, "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
                        f"-I{RUNTIME / 'include'}", *map(str, SOURCES), str(RUNTIME / "fuzz" / "fuzz_loader.c"),
                        "-o", str(exe)], capture_output=True, text=True)
    if r.returncode != 0 and "libclang_rt.fuzzer" in r.stderr:
        pytest.skip("clang's fuzzer runtime is missing: `make setup` installs libclang-rt-dev")
    assert r.returncode == 0, r.stderr
    return exe


def test_fuzz_the_loader_briefly(nir_paper, fuzzer, tmp_path):
    seeds, corpus = tmp_path / "seeds", tmp_path / "corpus"
    seeds.mkdir()
    corpus.mkdir()
    for name, blob in seed_blobs().items():
        (seeds / f"{name}.blob").write_bytes(blob)
    r = run([fuzzer, f"-max_total_time={FUZZ_SECONDS}", "-print_final_stats=1", "-max_len=65536",
             "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", corpus, seeds], timeout=FUZZ_SECONDS + 120)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    assert not list(Path(tmp_path).glob("crash-*")) and not list(Path(tmp_path).glob("leak-*"))
    execs = int(re.search(r"stat::number_of_executed_units:\s*(\d+)", log).group(1))
    assert execs > 1000, log[-2000:]
    print(f"fuzz_loader: {execs} executions in {FUZZ_SECONDS} s")
