"""The checkout's folders the tests read (defined once)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MODELS = EXAMPLES / "models"
DATA = EXAMPLES / "data"
FIXTURES = ROOT / "tests" / "fixtures"
NIR_PAPER = FIXTURES / "nir_paper"  # the NIR paper's graphs and traces (BSD-3, its LICENSE beside them)
