"""The exported library on an emulated Cortex-M4 (QEMU mps2-an386): the CMake library cross-built through its
own toolchain file, linked with a minimal bare-metal start (a vector table, .bss zeroed, the FPU on, printf
and exit through semihosting) the way a user's firmware would link it, and run. Its example main (a stand-in
sensor fed step by step, stopped by the early exit) prints the class and step count fixed-c computes for the
same window, and a main that classifies test digits prints fixed-c's predictions."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from edgesnn import api
from edgesnn.data import load_dataset
from edgesnn.graph.nir_io import read_nir
from edgesnn.quantize import QuantConfig, quantize
from edgesnn.runtime.binding import run_c
from tests.emit.test_library import _cmake_build, _sh
from tests.helpers.paths import DATA, FIXTURES, MODELS

pytestmark = [pytest.mark.needs_qemu, pytest.mark.needs_c_ext,
              pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed (make setup)")]

CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]

# What a user's board support gives the library: the reset vector, zeroed .bss, the FPU enabled (the C library
# is the hard-float one), and newlib's output and exit, here through Arm semihosting (QEMU -semihosting).
START = r"""
#include <stdint.h>
#include <stdio.h>
extern uint32_t __bss_start__, __bss_end__, __stack_top;
int main(void);
static int semihost(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
int _write(int fd, const char *buf, int len);
int _write(int fd, const char *buf, int len)
{
    int i;
    (void)fd;
    for (i = 0; i < len; ++i) {
        char c = buf[i];
        semihost(0x03, &c);             /* SYS_WRITEC */
    }
    return len;
}
void Reset_Handler(void);
void Reset_Handler(void)
{
    uint32_t *p, block[2];
    for (p = &__bss_start__; p < &__bss_end__; ++p) {
        *p = 0u;
    }
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;   /* CPACR: CP10, CP11 full access */
    __asm__ volatile("dsb\n isb");
    block[0] = 0x20026u;                                 /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)main();
    fflush(stdout);                                      /* what printf buffered */
    semihost(0x20, block);                               /* SYS_EXIT_EXTENDED: QEMU exits with main's status */
    for (;;) {
    }
}
__attribute__((section(".vectors"), used)) static const void *const vectors[2] = {&__stack_top, Reset_Handler};
"""

LINK = """
MEMORY { RAM (rwx) : ORIGIN = 0x00000000, LENGTH = 4M }
ENTRY(Reset_Handler)
SECTIONS
{
    .text : { KEEP(*(.vectors)) *(.text .text.*) *(.rodata .rodata.*) . = ALIGN(4); } > RAM
    .ARM.exidx : { *(.ARM.exidx*) } > RAM
    .data : { *(.data .data.*) . = ALIGN(4); } > RAM
    .bss (NOLOAD) : { __bss_start__ = .; *(.bss .bss.* COMMON) . = ALIGN(4); __bss_end__ = .; } > RAM
    end = .;
    __stack_top = ORIGIN(RAM) + LENGTH(RAM);
}
"""


def _firmware(tmp, lib_build, name, main_obj_or_src, out) -> str:
    (tmp / "start.c").write_text(START)
    (tmp / "link.ld").write_text(LINK)
    _sh(["arm-none-eabi-gcc", *CPU, "-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections",
         "-specs=nano.specs", "-specs=nosys.specs", "-nostartfiles", f"-T{tmp / 'link.ld'}",
         tmp / "start.c", main_obj_or_src, lib_build / f"lib{name}.a", "-o", out])
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "null",
                        "-semihosting-config", "enable=on,target=native", "-kernel", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"QEMU exit {r.returncode}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}"
    return r.stderr   # QEMU writes the semihosting console on its stderr (without a chardev for it)


def test_exported_example_runs_on_qemu_as_fixed_c(tmp_path):
    e = api.export_c(MODELS / "digits_mlp.json", tmp_path / "lib", name="digits", exit_confidence=0.9)
    build = tmp_path / "build"
    _cmake_build(tmp_path / "lib", build, "-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake",
                 "-DEDGESNN_CPU=cortex-m4", "-DCMAKE_BUILD_TYPE=MinSizeRel", cflags="-Wall -Wextra -Werror")
    example = next(build.rglob("examples/mcu/main.c.obj"))
    out = _firmware(tmp_path, build, "digits", example, tmp_path / "example.elf")
    # the example's stand-in sensor, computed here: x[t][j] = ((7 j + 3 t) mod 5 == 0), 16 steps
    steps = int(re.search(r"#define EXAMPLE_STEPS (\d+)u", (tmp_path / "lib" / "examples" / "mcu" / "main.c")
                          .read_text()).group(1))
    t, j = np.meshgrid(np.arange(steps), np.arange(64), indexing="ij")
    x = (((7 * j + 3 * t) % 5) == 0).astype(np.uint8)[None]
    ref = run_c(e.qgraph, x)
    assert ref.outputs.sum() > 0, "the stand-in window makes no output: nothing would be compared"
    assert out.strip() == f"class {int(ref.pred[0])} after {int(ref.steps[0])} of {steps} steps", out

    # test digits through NAME_infer, in the user's own main
    xs, _ = load_dataset(DATA / "digits_test.npz")
    xs = xs[:24]
    rows = ",\n".join("{" + ",".join(map(str, v.reshape(-1))) + "}" for v in xs)
    (tmp_path / "digits_main.c").write_text(f"""
#include <stdio.h>
#include "digits.h"
static const uint8_t inputs[{len(xs)}][{xs.shape[1] * 64}] = {{{rows}}};
static digits_ctx ctx;
int main(void)
{{
    unsigned i;
    if (digits_init(&ctx) < 0) {{
        return 1;
    }}
    for (i = 0; i < {len(xs)}u; ++i) {{
        printf("%d %u\\n", digits_infer(&ctx, inputs[i], {xs.shape[1]}u, NULL), (unsigned)digits_steps(&ctx));
    }}
    return 0;
}}
""")
    _sh(["arm-none-eabi-gcc", *CPU, "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c",
         tmp_path / "digits_main.c", f"-I{tmp_path / 'lib' / 'include'}",
         f"-I{tmp_path / 'lib' / 'runtime' / 'include'}", "-o", tmp_path / "digits_main.o"])
    out = _firmware(tmp_path, build, "digits", tmp_path / "digits_main.o", tmp_path / "digits.elf")
    got = np.array([[int(v) for v in ln.split()] for ln in out.strip().splitlines()])
    want = api.simulate(MODELS / "digits_mlp.json", xs, engine="fixed-c", exit_confidence=0.9).measurement
    np.testing.assert_array_equal(got[:, 0], want.pred)
    np.testing.assert_array_equal(got[:, 1], want.steps)
    assert want.steps.min() < xs.shape[1]


def test_analog_library_on_qemu_quantizes_and_predicts_as_fixed_c(tmp_path):
    """SpikingJelly's direct-encoded conv exported with a 16-bit analog input: a user's main on the emulated
    Cortex-M4 quantizes the real pixel intensities itself (NAME_quantize_input) and classifies them; the classes
    are fixed-c's on the same real values."""
    d = np.load(FIXTURES / "spikingjelly_dconv.npz")
    xs = d["inputs"].astype(np.float64)[:16]
    g = read_nir(FIXTURES / "spikingjelly_dconv.nir", dialect="spikingjelly", dt=float(d["dt"]))
    q = quantize(g, QuantConfig(input_bits=16), xs.reshape(*xs.shape[:2], *g.input.shape))
    q.save(tmp_path / "dconv.json")
    api.export_c(tmp_path / "dconv.json", tmp_path / "lib", name="dconv")
    build = tmp_path / "build"
    _cmake_build(tmp_path / "lib", build, "-DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake",
                 "-DEDGESNN_CPU=cortex-m4", "-DCMAKE_BUILD_TYPE=MinSizeRel", cflags="-Wall -Wextra -Werror")
    n, steps = xs.shape[:2]
    rows = ",\n".join("{" + ",".join(repr(float(v)) for v in img[0].reshape(-1)) + "}" for img in xs)
    (tmp_path / "main.c").write_text(f"""
#include <stdio.h>
#include "dconv.h"
static const double images[{n}][DCONV_INPUT_SIZE] = {{{rows}}};
static dconv_input_t frames[{steps}][DCONV_INPUT_SIZE];
static dconv_ctx ctx;
int main(void)
{{
    unsigned i, t, j;
    if (dconv_init(&ctx) < 0) {{
        return 1;
    }}
    for (i = 0; i < {n}u; ++i) {{
        for (t = 0; t < {steps}u; ++t) {{       /* direct encoding: the same readings at every step */
            for (j = 0; j < DCONV_INPUT_SIZE; ++j) {{
                frames[t][j] = dconv_quantize_input(images[i][j], j);
            }}
        }}
        printf("%d\\n", dconv_infer(&ctx, &frames[0][0], {steps}u, NULL));
    }}
    return 0;
}}
""")
    _sh(["arm-none-eabi-gcc", *CPU, "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", tmp_path / "main.c",
         f"-I{tmp_path / 'lib' / 'include'}", f"-I{tmp_path / 'lib' / 'runtime' / 'include'}", "-o",
         tmp_path / "main.o"])
    out = _firmware(tmp_path, build, "dconv", tmp_path / "main.o", tmp_path / "dconv.elf")
    got = np.array([int(v) for v in out.split()])
    want = run_c(q, xs.reshape(*xs.shape[:2], *g.input.shape)).pred
    assert len(set(want.tolist())) > 3, "a few classes at least: the comparison must see something"
    np.testing.assert_array_equal(got, want)
