"""Flash taken by the C runtime's code, per core: measured, not estimated.

Measured with `arm-none-eabi-size -t` over the objects of runtime_c/src/*.c and
runtime_c/src/kernels/*.c, compiled one by one with

    arm-none-eabi-gcc -std=c99 -Os -mthumb -mcpu=<core> -ffunction-sections -fdata-sections -Iruntime_c/include

(arm-none-eabi-gcc 12.2.1, edgesnn 0.1.0 sources of 2026-12-07; tests/cost/test_cost.py checks the
table against measure() wherever the toolchain is installed, so it cannot fall behind the sources again).
The figure is text + data of the objects before the link: an upper bound, since a firmware link with
--gc-sections drops functions a build does not call. Re-measure with `edgesnn.cost.runtime_size.measure()` after changing the runtime.
Not included: the firmware's protocol server, startup and port (edgesnn/device measures those).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..resources import RUNTIME_C

RUNTIME_CODE_BYTES: dict[str, int] = {
    "cortex-m0": 29_918,
    "cortex-m0plus": 29_918,
    "cortex-m3": 26_942,
    "cortex-m4": 28_661,
    "cortex-m7": 28_711,
    "cortex-m33": 28_695,
    "cortex-m55": 29_061,
}
SOURCE = "arm-none-eabi-size, -Os objects of runtime_c/src (gcc 12.2.1), see edgesnn/cost/runtime_size.py"


def runtime_code_bytes(core: str) -> tuple[int, str]:
    """(bytes, provenance) of the runtime's code for `core`; the largest measured core when unknown."""
    if core in RUNTIME_CODE_BYTES:
        return RUNTIME_CODE_BYTES[core], SOURCE
    return max(RUNTIME_CODE_BYTES.values()), f"{SOURCE}; core {core!r} not measured, largest measured used"


def measure(core: str, root: Path | None = None, cc: str = "arm-none-eabi-gcc") -> int:
    """Compile the runtime sources for `core` at -Os and return text + data bytes (needs the toolchain)."""
    root = root or RUNTIME_C
    srcs = sorted((root / "src").glob("*.c")) + sorted((root / "src" / "kernels").glob("*.c"))
    with tempfile.TemporaryDirectory() as d:
        objs = []
        for s in srcs:
            o = Path(d) / (s.stem + ".o")
            subprocess.run([cc, "-std=c99", "-Os", "-mthumb", f"-mcpu={core}", "-ffunction-sections",
                            "-fdata-sections", f"-I{root / 'include'}", "-c", str(s), "-o", str(o)], check=True)
            objs.append(str(o))
        out = subprocess.run(["arm-none-eabi-size", "-t", *objs], check=True, capture_output=True, text=True).stdout
    text, data = out.strip().splitlines()[-1].split()[:2]
    return int(text) + int(data)
