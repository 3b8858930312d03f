"""The chosen candidate's memory, measured: build its firmware for the board and read the ELF.

The planner's analytical memory model (edgesnn.cost.memory: runtime objects + blob, arena + stack +
I/O) ranks candidates; for the one it chooses it builds the real image the deployment runs -
`edgesnn run PLAN.json` builds the same one (edgesnn.device.runner.build_runtime_firmware with the
model compiled in: weights in flash, an arena of exactly esn_arena_size()) - and reports that ELF's
text + data as flash and data + bss + stack + arena as SRAM, so planned == measured by construction.
Builds are cached by content (edgesnn/firmware/build.py), so `run` reuses the planner's image.

Where the image cannot be built here (no cross compiler, or a board without a firmware port), the
plan keeps the analytical estimate and says so (CostReport.memory_source stays "estimate").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..emit import to_blob
from ..firmware import build as F
from ..firmware.runtime import build_runtime_firmware
from ..lower import arena_size


@dataclass(frozen=True)
class FirmwareBase:
    """What a board's firmware holds besides the model, measured from one built image: flash beyond the
    model's blob bytes (runtime, server, start-up code; model tables and blob differ by a fixed header),
    RAM beyond the runtime arena (data, bss with the I/O buffers, stack). Model + base = the image, to a
    few bytes of flash and exactly in RAM, for every candidate of the same graph."""
    flash: int
    ram: int
    source: str


def firmware_base(qgraph, board, cache_dir=None) -> FirmwareBase | None:
    """The FirmwareBase of `board` measured with `qgraph` compiled in; None where no image can be built here
    (no cross compiler, no firmware port) or it does not fit (the analytical memory model stands then)."""
    try:
        fw, _ = build_for_plan(qgraph, board, cache_dir)
    except F.FirmwareTooLarge:
        return None
    if fw is None:
        return None
    return FirmwareBase(fw.sizes.flash - len(to_blob(qgraph)), fw.sizes.ram - arena_size(qgraph),
                        f"firmware {fw.elf} less its model's blob bytes and arena")


def build_for_plan(qgraph, board, cache_dir=None, *, schedule="time", steps: int | None = None):
    """(Firmware, None) for `qgraph` compiled into `board`'s firmware under `schedule` over `steps` steps, or
    (None, why) when it cannot be built here. Raises FirmwareTooLarge (with the numbers) when the image does
    not fit the board."""
    if not board.firmware.get("port"):
        return None, f"board {board.id} has no firmware port to build (memory is the analytical estimate)"
    try:
        return build_runtime_firmware(board, qgraph, builtin=True, cache_dir=cache_dir,
                                      **({} if schedule == "time" else {"schedule": schedule, "steps": steps})), None
    except F.ToolchainMissing as e:
        return None, f"firmware not built ({e}); memory is the analytical estimate"
    except F.FirmwareTooLarge:
        raise
    except F.NoFirmwarePort as e:
        return None, f"{e}; memory is the analytical estimate"
