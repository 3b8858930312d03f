from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check results, not speed: a per-example deadline only measures how busy the machine is
# (CI shares 2 cores among the test workers and compilers), so none is set for any of them.
settings.register_profile("edgesnn", deadline=None)
settings.load_profile("edgesnn")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NIR_PAPER = SHARED / "nir_paper"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"


@pytest.fixture
def nir_paper() -> Path:
    if not NIR_PAPER.exists():
        pytest.fail(f"{NIR_PAPER} is missing: the shared NIR graphs must sit beside the checkout")
    return NIR_PAPER
