from pathlib import Path

import pytest

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
