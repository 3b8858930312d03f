"""Fixtures and markers every test folder shares (defined here once; helpers that are not fixtures are in
tests/helpers/).

Markers, each skipping its test when the tool is missing (tests/helpers/tools.py says how it is found):
  needs_arm_gcc  arm-none-eabi-gcc            needs_qemu  qemu-system-arm and arm-none-eabi-gcc
  needs_c_ext    the compiled C runtime       needs_cc    a host C compiler (gcc or cc)
"""

from pathlib import Path

import pytest
from hypothesis import settings

from edgesnn.board import load_catalogue
from tests.helpers.cli import run
from tests.helpers.paths import NIR_PAPER
from tests.helpers.tools import MARKERS

# Property tests check results, not speed: a per-example deadline only measures how busy the machine is
# (CI shares 2 cores among the test workers and compilers), so none is set for any of them.
settings.register_profile("edgesnn", deadline=None)
settings.load_profile("edgesnn")


def pytest_configure(config):
    for name, (_, reason) in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: skipped when missing: {reason}")


def pytest_collection_modifyitems(config, items):
    missing = {name: reason for name, (have, reason) in MARKERS.items() if not have}
    for item in items:
        for name, reason in missing.items():
            if item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def boards():
    """The board catalogue (boards/*.toml and the user's board folder), by id."""
    return load_catalogue()


@pytest.fixture(scope="session")
def fw_cache(tmp_path_factory) -> Path:
    """One firmware cache for the whole run, laid out as `edgesnn run`'s (EDGESNN_CACHE=fw_cache.parent).
    The parent of the base temp folder is shared by the xdist workers of one run, so each firmware is
    built once; two workers building the same one at once is safe, since a build lands by an atomic rename."""
    return tmp_path_factory.getbasetemp().parent / "edgesnn-cache" / "firmware"


@pytest.fixture
def nir_paper() -> Path:
    return NIR_PAPER


@pytest.fixture
def braille(nir_paper, tmp_path) -> Path:
    """The NIR paper's Braille RNN (snntorch, reset to zero) imported with `edgesnn import`: its JSON."""
    out = tmp_path / "braille.json"
    assert run("import", nir_paper / "03_rnn" / "braille_noDelay_bias_zero.nir", "--dt", "1e-4",
               "--dialect", "snntorch", "--reset", "zero", "-o", out) == 0
    return out
