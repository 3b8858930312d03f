"""Which external tools this machine has. tests/conftest.py turns these into the markers
`needs_arm_gcc`, `needs_qemu`, `needs_c_ext` and `needs_cc` (skip when missing); a test that
does part of its work without the tool reads them directly."""

import shutil

from edgesnn.runtime.binding import extension_available

HAVE_ARM_GCC = shutil.which("arm-none-eabi-gcc") is not None
# a QEMU test builds the firmware it boots, so it needs the cross compiler as well
HAVE_QEMU = HAVE_ARM_GCC and shutil.which("qemu-system-arm") is not None
HAVE_C_EXT = extension_available()
HAVE_CC = (shutil.which("gcc") or shutil.which("cc")) is not None

# marker name -> (available, reason when skipped)
MARKERS = {
    "needs_arm_gcc": (HAVE_ARM_GCC, "arm-none-eabi-gcc not installed (make setup installs it)"),
    "needs_qemu": (HAVE_QEMU, "qemu-system-arm / arm-none-eabi-gcc not installed (make setup installs them)"),
    "needs_c_ext": (HAVE_C_EXT, "C runtime extension not built"),
    "needs_cc": (HAVE_CC, "no host C compiler (gcc or cc)"),
}
