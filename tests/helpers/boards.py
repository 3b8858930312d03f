"""Facts the tests take from the board catalogue (boards/*.toml) instead of writing them down."""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgesnn.board import DEFAULT_BOARD, Board, get_board, load_board_file, load_catalogue

# every emulated board of the catalogue (kind = "qemu"), for parametrizing device tests
EMULATED = sorted(b.id for b in load_catalogue().values() if b.is_emulated)


def board_variant(tmp_path: Path, new_id: str, base: str = DEFAULT_BOARD, *, sram_bytes: int | None = None,
                  flash_bytes: int | None = None, stack_bytes: int | None = None,
                  arena_bytes: int | None = None) -> Board:
    """Board `base`'s file under the id `new_id`, with its SRAM or flash (the total and the region that
    holds it), its firmware stack or arena changed. Each figure is found in the file by the base board's
    own value, so a board file that changes makes this fail loudly instead of changing nothing."""
    b = get_board(base)
    text = b.path.read_text()

    def sub(old: str, new: str) -> None:
        nonlocal text
        assert old in text, f"{old!r} not found in {b.path}"
        text = text.replace(old, new)

    sub(f'id = "{base}"', f'id = "{new_id}"')
    if sram_bytes is not None:
        sub(f"{b.sram_bytes:_}", f"{sram_bytes:_}")
    if flash_bytes is not None:
        sub(f"{b.flash_bytes:_}", f"{flash_bytes:_}")
    if stack_bytes is not None:
        sub(f"stack_bytes = {b.firmware['stack_bytes']:_}", f"stack_bytes = {stack_bytes:_}")
    if arena_bytes is not None:
        sub(f"arena_bytes = {b.firmware['arena_bytes']:_}", f"arena_bytes = {arena_bytes:_}")
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / f"{new_id}.toml"
    path.write_text(text)
    return load_board_file(path)


__all__ = ["DEFAULT_BOARD", "EMULATED", "board_variant"]
