"""Firmware: the device image for a board, built with arm-none-eabi-gcc from the shipped C sources and
measured from its ELF.

    build.build(board, ...) -> Firmware        any firmware for a board's port, cached by content (build.py)
    runtime.build_runtime_firmware(board, q)   the firmware with the C runtime, sized for a model (runtime.py)
    runtime.model_ram_bytes(q)                 what a model takes in the device's RAM
    elf.Elf(path)                              sections and symbols of an image (elf.py)
    cache                                      the firmware cache: LRU with a size cap (cache.py)
"""

from .build import Firmware, FirmwareSizes, FirmwareTooLarge, NoFirmwarePort, ToolchainMissing
from .runtime import build_runtime_firmware, model_ram_bytes

__all__ = ["Firmware", "FirmwareSizes", "FirmwareTooLarge", "NoFirmwarePort", "ToolchainMissing",
           "build_runtime_firmware", "model_ram_bytes"]
