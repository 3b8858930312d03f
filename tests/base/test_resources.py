"""Where shipped files are found, and the user's own places searched first (edgesnn/resources.py)."""

import json

import pytest

from edgesnn import resources
from edgesnn.board import get_board, load_catalogue
from edgesnn.cost import coefficients
from edgesnn.errors import BoardError


def test_a_checkout_reads_its_own_folders():
    assert resources.CHECKOUT is not None
    for folder in resources.SHARED_FOLDERS:
        assert (resources.SHARE / folder).is_dir()
    assert (resources.RUNTIME_C / "src" / "esn_runtime.c").is_file()


def test_user_board_folder_adds_and_overrides_boards(tmp_path, monkeypatch):
    text = (resources.BOARDS_DIR / "nucleo-f446re.toml").read_text()
    (tmp_path / "my-f446.toml").write_text(text.replace('id = "nucleo-f446re"', 'id = "my-f446"'))
    (tmp_path / "nucleo-f446re.toml").write_text(text.replace("clock_hz = 180_000_000", "clock_hz = 84_000_000"))
    monkeypatch.setenv("EDGESNN_BOARDS", str(tmp_path))
    boards = load_catalogue()
    assert boards["my-f446"].mcu == "STM32F446RE"
    assert boards["nucleo-f446re"].clock_hz == 84_000_000  # the user's file wins
    assert "qemu-mps2-an386" in boards  # the shipped catalogue is still there


def test_user_board_folder_that_is_missing_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESNN_BOARDS", str(tmp_path / "nope"))
    with pytest.raises(BoardError, match="EDGESNN_BOARDS names .*nope"):
        get_board()


def test_user_calibration_dir_is_read_first(tmp_path, monkeypatch):
    board = get_board("qemu-mps2-an386")
    shipped = coefficients(board)
    assert shipped.calibration != "priors"
    cal = json.loads((resources.CALIBRATION_DIR / "qemu-mps2-an386.json").read_text())
    cal["id"] = "qemu-mps2-an386/mine"
    (tmp_path / "qemu-mps2-an386.json").write_text(json.dumps(cal))
    monkeypatch.setenv("EDGESNN_CALIBRATION_DIR", str(tmp_path))
    assert resources.calibration_file(board.id) == tmp_path / "qemu-mps2-an386.json"
    assert coefficients(board).calibration == "qemu-mps2-an386/mine"
    assert resources.calibration_file("qemu-microbit") == resources.CALIBRATION_DIR / "qemu-microbit.json"


def test_installed_calibrations_go_to_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "CHECKOUT", None)
    monkeypatch.delenv("EDGESNN_CALIBRATION_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert resources.user_calibration_dir() == tmp_path / "edgesnn" / "calibration"
