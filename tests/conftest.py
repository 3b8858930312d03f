from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check results, not speed: a per-example deadline only measures how busy the machine is
# (CI shares 2 cores among the test workers and compilers), so none is set for any of them.
settings.register_profile("edgesnn", deadline=None)
settings.load_profile("edgesnn")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NIR_PAPER = FIXTURES / "nir_paper"  # the NIR paper's graphs and traces (BSD-3, its LICENSE beside them)
EXAMPLES = ROOT / "examples"


@pytest.fixture
def nir_paper() -> Path:
    return NIR_PAPER
