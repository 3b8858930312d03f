"""The STM32 port (runtime_c/ports/stm32): one port for the family, per-chip facts in the board files.

- Under QEMU's netduinoplus2 (an STM32F405), built from the same port code as the NUCLEO boards:
  `edgesnn run` of every example model equals `edgesnn simulate --engine fixed-c`, outputs and
  per-layer counters; the clock set-up's bounded waits give up on QEMU's unmodelled RCC (it reads 0)
  and the firmware says so on its ESN-CLOCK line, runs on the HSI and keeps its link.
- For the five real boards (no silicon here): the runtime firmware builds, fits (sizes read from the
  ELF), and its vector table sits at the flash origin with an initial SP inside SRAM and an odd reset
  vector inside flash that is the ELF's entry point.
- The peripheral addresses each board compiles in against a table taken from the reference manuals.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesnn.board import chip_settings, load_board_file
from edgesnn.cli import main
from edgesnn.errors import DeviceError
from edgesnn.firmware import build as F
from edgesnn.firmware.elf import Elf
from edgesnn.firmware.runtime import build_runtime_firmware
from edgesnn.device.qemu import QemuTarget
from edgesnn.runtime.binding import run_c
from tests.helpers.device import FIXED, example_qgraph, spike_inputs
from tests.helpers.paths import MODELS

EMULATED = "qemu-netduinoplus2"
REAL = ["nucleo-f446re", "nucleo-l476rg", "nucleo-h743zi", "stm32f746g-disco", "nucleo-l552ze-q"]
MODEL_NAMES = sorted(p.stem for p in MODELS.glob("*.json") if p.stem != "results")

# Peripheral bases from each reference manual's memory map (register boundary address table), the
# serial UART and its pins from the board user manuals, enable bits from the RCC register descriptions.
#   RM0090 (F405) sec. 2.3 table 1, RCC sec. 7.3.10 AHB1ENR / 7.3.14 APB2ENR
#   RM0390 (F446) sec. 2.2.2 table 1, RCC sec. 6.3.10 AHB1ENR / 6.3.13 APB1ENR
#   RM0385 (F746) sec. 2.2.2 table 1, RCC sec. 5.3.10 AHB1ENR / 5.3.14 APB2ENR
#   RM0433 (H743) sec. 2.3.2 table 8, RCC sec. 8.7.43 AHB4ENR / 8.7.45 APB1LENR; SYSCFG 0x5800_0400
#   RM0351 (L476) sec. 2.2.2 table 1, RCC sec. 6.4.17 AHB2ENR / 6.4.19 APB1ENR1
#   RM0438 (L552) sec. 2.3 table 4 (non-secure aliases), RCC sec. 9.8.17 AHB2ENR / 9.8.20 APB1ENR2
#   UM1724 (Nucleo-64): USART2 PA2/PA3; UM1974 (Nucleo-144): USART3 PD8/PD9; UM1907 (F746G-DISCO):
#   USART1 PA9/PB7; UM2581 (NUCLEO-L552ZE-Q): LPUART1 PG7/PG8. AF7 for USART1..3, AF8 for LPUART1
#   (each datasheet's alternate function table).
REFERENCE = {
    "qemu-netduinoplus2": dict(family=1, rcc_base=0x4002_3800, flash_base=0x4002_3C00, pwr_base=0x4000_7000,
                               uart_base=0x4001_1000, uart_en_reg=0x44, uart_en_bit=4, gpio_en_reg=0x30,
                               tx=(0x4002_0000, 9, 0), rx=(0x4002_0000, 10, 0), uart_af=7, lpuart=0),
    "nucleo-f446re": dict(family=1, rcc_base=0x4002_3800, flash_base=0x4002_3C00, pwr_base=0x4000_7000,
                          uart_base=0x4000_4400, uart_en_reg=0x40, uart_en_bit=17, gpio_en_reg=0x30,
                          tx=(0x4002_0000, 2, 0), rx=(0x4002_0000, 3, 0), uart_af=7, lpuart=0),
    "nucleo-l476rg": dict(family=4, rcc_base=0x4002_1000, flash_base=0x4002_2000, pwr_base=0x4000_7000,
                          uart_base=0x4000_4400, uart_en_reg=0x58, uart_en_bit=17, gpio_en_reg=0x4C,
                          tx=(0x4800_0000, 2, 0), rx=(0x4800_0000, 3, 0), uart_af=7, lpuart=0),
    "nucleo-h743zi": dict(family=3, rcc_base=0x5802_4400, flash_base=0x5200_2000, pwr_base=0x5802_4800,
                          uart_base=0x4000_4800, uart_en_reg=0xE8, uart_en_bit=18, gpio_en_reg=0xE0,
                          tx=(0x5802_0C00, 8, 3), rx=(0x5802_0C00, 9, 3), uart_af=7, lpuart=0,
                          syscfg_base=0x5800_0400),
    "stm32f746g-disco": dict(family=2, rcc_base=0x4002_3800, flash_base=0x4002_3C00, pwr_base=0x4000_7000,
                             uart_base=0x4001_1000, uart_en_reg=0x44, uart_en_bit=4, gpio_en_reg=0x30,
                             tx=(0x4002_0000, 9, 0), rx=(0x4002_0400, 7, 1), uart_af=7, lpuart=0),
    "nucleo-l552ze-q": dict(family=5, rcc_base=0x4002_1000, flash_base=0x4002_2000, pwr_base=0x4000_7000,
                            uart_base=0x4000_8000, uart_en_reg=0x5C, uart_en_bit=0, gpio_en_reg=0x4C,
                            tx=(0x4202_1800, 7, 6), rx=(0x4202_1800, 8, 6), uart_af=8, lpuart=1),
}


def _vectors(elf: Elf, origin: int) -> tuple[int, int]:
    """(initial SP, reset vector): the first two words of the image at the flash origin."""
    for addr, data in elf.load_segments():
        if addr == origin:
            return struct.unpack_from("<II", data, 0)
    raise AssertionError(f"{elf.path}: nothing is loaded at the flash origin {origin:#010x}")


def _clock_line(texts: list[str]) -> dict[str, str]:
    line = next(t for t in texts if t.startswith("ESN-CLOCK "))
    return dict(kv.split("=", 1) if "=" in kv else ("state", kv) for kv in line.split()[1:])


@pytest.mark.needs_qemu
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_example_model_on_the_emulated_stm32_matches_fixed_c(boards, fw_cache, tmp_path, capsys, monkeypatch,
                                                                    model):
    monkeypatch.setenv("EDGESNN_CACHE", str(fw_cache.parent))
    q = example_qgraph(model)
    x = spike_inputs(q, n=2, t=8)
    np.save(tmp_path / "x.npy", x)
    path = str(MODELS / f"{model}.json")
    assert main(["run", path, "--board", EMULATED, "--inputs", str(tmp_path / "x.npy"), "-o", str(tmp_path / "dev.npz")]) == 0
    assert main(["simulate", path, "--engine", "fixed-c", "--inputs", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "c.npz")]) == 0
    capsys.readouterr()
    dev, ref = np.load(tmp_path / "dev.npz"), np.load(tmp_path / "c.npz")
    for k in ref.files:   # out_spikes or out_mem, pred: bit-identical
        assert np.array_equal(dev[k], ref[k]), k
    c = run_c(q, x)       # the fixed-c engine's counters, per layer, summed over steps
    assert list(dev["steps"]) == [8, 8]
    for layer, counts in c.counts.items():
        for name in FIXED:
            assert np.array_equal(dev[f"{layer}.{name}"], counts[name].sum(axis=1)), (layer, name)
        assert (dev[f"{layer}.instructions"] > 0).all(), layer


@pytest.mark.needs_qemu
def test_clock_fallback_is_reported_and_the_link_runs_on_the_reset_clock(boards, fw_cache):
    """QEMU's RCC reads 0: the wait for HSERDY gives up after its bound, the PLL is never switched in, the
    firmware reports the HSI on its ESN-CLOCK line, sets the baud from it and serves requests. SysTick, which
    QEMU clocks at 168 MHz whatever the RCC says, is measured with SPIN (2 instructions per iteration,
    1 ns per instruction; the timer reads around the loop are ~25 instructions)."""
    b = boards[EMULATED]
    fw = F.build(b, cache_dir=fw_cache)
    with QemuTarget(b, fw.elf) as t:
        clock = _clock_line(t.link.texts)
        assert clock == {"state": "fallback", "sysclk_hz": "16000000", "source": "hsi", "uart_clk_hz": "16000000",
                         "rated_hz": "168000000", "error": "hse-not-ready"}
        assert t.hello.clock == t.link.texts[0].removeprefix("ESN-CLOCK ")   # HELLO says it too
        assert t.link.texts.index(next(s for s in t.link.texts if s.startswith("ESN-CLOCK"))) < \
            t.link.texts.index(t.ready_line)
        assert t.link.echo(bytes(range(256))) == bytes(range(256))
        assert t.hello.tick_hz == b.clock_hz == 168_000_000
        n = 1_000_000
        s = t.link.spin(n)
        assert s.ticks == pytest.approx(2 * n * b.clock_hz / 1e9, abs=40 * b.clock_hz / 1e9)
        assert s.dwt_cycles == 0  # QEMU does not model the DWT
    assert t.exit_code == 0


@pytest.mark.needs_qemu
@pytest.mark.parametrize("kind, exception, cause", [(2, "BusFault", "PRECISERR"), (3, "UsageFault", "DIVBYZERO")])
def test_faults_are_reported_on_the_emulated_stm32(fw_cache, boards, kind, exception, cause):
    """The shared fault reporter works on this machine too (a read of an unmapped address, a division by zero)."""
    from edgesnn.device import protocol as P
    b = boards[EMULATED]
    t = QemuTarget(b, F.build(b, cache_dir=fw_cache, selftest_fault=kind).elf)
    t.start()
    try:
        t.link.echo(b"first")   # the self-test faults on the second ECHO
        with pytest.raises(P.FirmwareFault) as ei:
            t.link.echo(b"second")
        assert exception in str(ei.value) and cause in str(ei.value) and "esn_fw_selftest_fault" in str(ei.value)
    finally:
        t.kill()


@pytest.mark.needs_qemu
def test_a_pll_that_never_locks_is_reported_too(fw_cache, tmp_path):
    """The same board with its PLL fed by the HSI (no HSE to wait for): now the PLL-lock wait is the one that
    gives up, and the boot still reaches the ready line on the HSI."""
    src = (Path(__file__).parents[2] / "boards" / f"{EMULATED}.toml").read_text()
    for old, new in (("hse_hz = 25_000_000", "hse_hz = 0"), ("pll_m = 25 ", "pll_m = 16 ")):
        assert old in src
        src = src.replace(old, new)
    path = tmp_path / f"{EMULATED}.toml"
    path.write_text(src)
    b = load_board_file(path)
    assert chip_settings(b)["hse_hz"] == 0
    with QemuTarget(b, F.build(b, cache_dir=fw_cache).elf) as t:
        clock = _clock_line(t.link.texts)
        assert (clock["error"], clock["source"], clock["sysclk_hz"]) == ("pll-not-locked", "hsi", "16000000")


@pytest.mark.needs_arm_gcc
def test_pll_factors_that_miss_the_boards_clock_do_not_build(fw_cache, tmp_path):
    src = (Path(__file__).parents[2] / "boards" / f"{EMULATED}.toml").read_text().replace("pll_n = 336", "pll_n = 300")
    path = tmp_path / f"{EMULATED}.toml"
    path.write_text(src)
    with pytest.raises(DeviceError, match="differs from the board's clock_hz"):
        F.build(load_board_file(path), cache_dir=fw_cache)


@pytest.mark.needs_arm_gcc
@pytest.mark.parametrize("board_id", REAL)
def test_real_board_firmware_builds_fits_and_boots_from_flash(boards, fw_cache, board_id):
    b = boards[board_id]
    assert b.port is not None and b.port.id == "stm32" and not b.is_emulated
    fw = build_runtime_firmware(b, example_qgraph("digits_mlp"), cache_dir=fw_cache)
    sizes = F.measure(fw.elf, b)           # read from the ELF's section headers
    for region, used in sizes.regions.items():
        assert used <= b.regions[region].size_bytes, (region, used)
    assert sizes.text < 40_000 and sizes.stack == b.firmware["stack_bytes"]
    elf = Elf(fw.elf)
    flash = b.regions[b.code_region]
    sp, reset = _vectors(elf, flash.origin)
    text = elf.section(".text")
    assert text.addr == flash.origin       # the vector table leads .text, at the flash origin (BOOT0 = 0)
    data = b.regions[b.data_region]
    assert data.origin < sp <= data.end and sp % 8 == 0
    assert sp == elf.symbols()["__stack_top"].value
    assert reset & 1 and flash.origin <= reset < flash.end   # Thumb, in flash
    assert elf.entry == reset == elf.symbols()["Reset_Handler"].value
    assert fw.defines["ESN_CHIP_FAMILY"] == f"{REFERENCE[board_id]['family']:#x}u"
    print(f"{board_id}: text {sizes.text:,} B, bss {sizes.bss:,} B, stack {sizes.stack:,} B, arena {sizes.arena:,} B "
          f"({', '.join(f'{r} {n:,}/{b.regions[r].size_bytes:,}' for r, n in sizes.regions.items())})")


@pytest.mark.parametrize("board_id", sorted(REFERENCE))
def test_peripheral_addresses_match_the_reference_manuals(boards, board_id):
    b, want = boards[board_id], REFERENCE[board_id]
    chip = chip_settings(b)
    assert b.firmware["uart_base"] == want["uart_base"]
    for k in ("family", "rcc_base", "flash_base", "pwr_base", "uart_en_reg", "uart_en_bit", "gpio_en_reg",
              "uart_af", "lpuart"):
        assert chip[k] == want[k], k
    assert (chip["tx_gpio_base"], chip["tx_pin"], chip["tx_gpio_en_bit"]) == want["tx"]
    assert (chip["rx_gpio_base"], chip["rx_pin"], chip["rx_gpio_en_bit"]) == want["rx"]
    assert chip["syscfg_base"] == want.get("syscfg_base", 0)
    # GPIO ports are 0x400 apart from port A in every family, and the enable bit is the port's index
    gpioa = {1: 0x4002_0000, 2: 0x4002_0000, 3: 0x5802_0000, 4: 0x4800_0000, 5: 0x4202_0000}[want["family"]]
    for base, _pin, bit in (want["tx"], want["rx"]):
        assert base == gpioa + 0x400 * bit
    # what the build compiles in is what the table says
    d = F.firmware_defines(b)
    assert d["ESN_FW_UART_BASE"] == f"{want['uart_base']:#x}u" and d["ESN_CHIP_RCC_BASE"] == f"{want['rcc_base']:#x}u"
    # the PLL factors give the board's rated clock (the C build checks it too)
    src = chip["hse_hz"] or chip["reset_clock_hz"]
    assert src * chip["pll_n"] // chip["pll_m"] // chip["pll_p"] == b.clock_hz == b.firmware["tick_hz"]


def test_the_port_cites_a_reference_manual_beside_each_register_block():
    port = Path(__file__).parents[2] / "runtime_c" / "ports" / "stm32"
    text = "".join(p.read_text() for p in sorted(port.glob("*.c")))
    for rm in ("RM0090", "RM0390", "RM0385", "RM0433", "RM0351", "RM0438"):
        assert re.search(rf"{rm} sec\. \d", text), rm
    assert "0xC5ACCE55" in text   # the Cortex-M7's DWT lock access key


# ---------------------------------------------------------------------------------------------
# The register programming of the chips no emulator models, run on the host: the port's own files
# (esn_fw_port_stm32.c, esn_stm32_clock.c) built with the board's settings against a register model
# (runtime_c/ports/stm32/tests/esn_stm32_host_model.c) whose second thread raises each ready flag once its
# enable bit is set, except the one a case says never comes. The expected values are encoded here
# from the reference manuals' field tables, independently of the C.

PORT = Path(__file__).parents[2] / "runtime_c" / "ports"
CLK = {"ok": 0, "vos": 2, "hse": 3, "pll": 4, "switch": 7}   # ESN_STM32_CLK_* (esn_stm32.h)
ERROR_NAME = {"vos": "vos-not-ready", "hse": "hse-not-ready", "pll": "pll-not-locked", "switch": "switch-not-done"}
RESET_NAME = {1: "hsi", 2: "hsi", 3: "hsi", 4: "msi", 5: "msi"}


def _model(board, tmp_path: Path) -> Path:
    exe = tmp_path / f"model-{board.id}"
    defines = F.firmware_defines(board)
    cmd = (["gcc", "-std=c99", "-O1", "-pthread", "-Wall", "-Wextra", "-Werror", "-Wno-int-to-pointer-cast",
            "-DESN_STM32_HOST_MODEL=1", "-DESN_STM32_READY_POLLS=200000000u"]
           + [f"-D{k}={v}" for k, v in defines.items()]
           + [f"-I{PORT / d}" for d in ("stm32", "firmware", "cortex_m")]
           + [str(PORT / "stm32" / f) for f in ("esn_fw_port_stm32.c", "esn_stm32_clock.c", "tests/esn_stm32_host_model.c")]
           + ["-o", str(exe)])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return exe


def _apb(d: int) -> int:
    return 0 if d == 1 else 3 + d.bit_length() - 1


def _ahb(d: int) -> int:
    return 0 if d == 1 else 7 + d.bit_length() - 1


def _cases(board_id: str) -> list[str]:
    """Every step whose ready flag can fail on this chip (the F446, L476 and L552 have no HSE to wait for;
    the F4/F7's voltage scale needs no wait)."""
    fam = REFERENCE[board_id]["family"]
    return (["ok", "pll", "switch"] + (["hse"] if board_id in ("qemu-netduinoplus2", "nucleo-h743zi", "stm32f746g-disco")
                                       else []) + (["vos"] if fam in (3, 5) else []))


@pytest.mark.needs_cc
@pytest.mark.skipif(sys.platform != "linux", reason="maps the peripheral windows at their addresses (Linux mmap)")
@pytest.mark.parametrize("board_id", sorted(REFERENCE))
def test_clock_and_uart_registers_on_a_host_model(boards, tmp_path, board_id):
    exe = _model(boards[board_id], tmp_path)
    for case in _cases(board_id):
        _check_model_case(boards[board_id], exe, case)


def _check_model_case(b, exe: Path, case: str) -> None:
    c, fam = chip_settings(b), REFERENCE[b.id]["family"]
    out = subprocess.run([str(exe), str(CLK[case])], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    reg = {k: v.strip() for k, v in (line.split("=", 1) for line in out.stdout.splitlines() if line.strip())}
    text = reg.pop("text")
    r = {k: int(v, 16) for k, v in reg.items()}
    assert text.split()[:2] == ["ESN-CLOCK", "rated" if case == "ok" else "fallback"], text
    clock = dict(kv.split("=", 1) for kv in text.split()[2:])
    ok = case == "ok"
    sysclk = b.clock_hz if ok else c["reset_clock_hz"]
    uart_div = c["ahb_div"] * (c["apb1_div"] if c["uart_apb"] == 1 else c["apb2_div"])
    uart_clk = b.clock_hz // uart_div if ok else c["reset_clock_hz"]
    assert clock == {"sysclk_hz": str(sysclk), "source": "pll" if ok else RESET_NAME[fam], "uart_clk_hz": str(uart_clk),
                     "rated_hz": str(b.clock_hz), "error": "none" if ok else ERROR_NAME[case]}

    # the UART: its clock enabled, 8N1 with the baud divider of the clock that runs, pins in their AF
    assert r["uart_en"] >> c["uart_en_bit"] & 1 and r["gpio_en"] >> c["tx_gpio_en_bit"] & 1
    brr = (256 * uart_clk + b.baud // 2) // b.baud if c["lpuart"] else (uart_clk + b.baud // 2) // b.baud
    assert r["uart_brr"] == brr
    assert r["uart_cr1"] == ((1 << 13) | 0xC if fam == 1 else 0xD)   # UE TE RE: F4 UE at 13, else at 0
    for pin, moder, afr in ((c["tx_pin"], r["tx_moder"], r["tx_afr"]), (c["rx_pin"], r["rx_moder"], r["rx_afr"])):
        assert moder >> 2 * pin & 3 == 2 and afr >> 4 * (pin & 7) & 0xF == c["uart_af"]
    assert r["rx_pupdr"] >> 2 * c["rx_pin"] & 3 == 1
    if fam in (2, 3):   # Cortex-M7: I- and D-cache on, DWT unlocked
        assert r["scb_ccr"] & 0x30000 == 0x30000 and r["dwt_lar"] == 0xC5ACCE55 and r["demcr"] >> 24 & 1

    hse = c["hse_hz"] > 0
    if not ok:   # back on the reset clock: PLL and HSE off, switch and prescalers at reset
        assert r["rcc_cr"] & (1 << 24 | 1 << 16 | 1 << 18) == 0
        assert r["rcc_cfgr"] & (0x7 if fam == 3 else 0xFFF3) == 0
        return
    assert r["rcc_cr"] >> 24 & 1 and (r["rcc_cr"] >> 16 & 1) == hse and (r["rcc_cr"] >> 18 & 1) == c["hse_bypass"]
    m, n, p, q, ws = c["pll_m"], c["pll_n"], c["pll_p"], c["pll_q"], c["flash_wait_states"]
    if fam in (1, 2):   # RM0090/RM0390 sec. 6.3.2, RM0385 sec. 5.3.2; reset bits outside the fields kept (PLLR)
        assert r["rcc_pllcfgr"] == (0x2000_0000 | m | n << 6 | (p // 2 - 1) << 16 | hse << 22 | q << 24)
        assert r["rcc_cfgr"] == 2 | 2 << 2 | _ahb(c["ahb_div"]) << 4 | _apb(c["apb1_div"]) << 10 | _apb(c["apb2_div"]) << 13
        assert r["flash_acr"] == ws | (0x700 if fam == 1 else 0x300)    # + PRFTEN ICEN DCEN (F4) / PRFTEN ARTEN (F7)
        assert r["pwr_cr"] >> 16 & 3 == (3 if c["over_drive"] else 0)  # ODEN, ODSWEN
    elif fam == 3:      # RM0433 sec. 8.7
        rge = 1 if 2e6 <= 8e6 / m < 4e6 else None
        assert r["rcc_pllckselr"] == (0x0202_0000 | 2 | m << 4) and r["rcc_pllcfgr"] == 0x01FF_0000 | rge << 2
        assert r["rcc_pll1divr"] == (n - 1) | (p - 1) << 9 | (q - 1) << 16 | 1 << 24
        assert r["rcc_cfgr"] == 3 | 3 << 3
        assert (r["rcc_d1cfgr"], r["rcc_d2cfgr"], r["rcc_d3cfgr"]) == (
            _ahb(c["ahb_div"]) | _apb(c["apb1_div"]) << 4, _apb(c["apb1_div"]) << 4 | _apb(c["apb2_div"]) << 8,
            _apb(c["apb1_div"]) << 4)
        assert r["flash_acr"] == ws | c["flash_prog_delay"] << 4
        assert r["pwr_cr3"] & 7 == 6 and r["pwr_d3cr"] >> 14 == 3 and r["syscfg_pwrcr"] & 1 == (c["vos"] == 0)
    else:               # RM0351 sec. 6.4.4, RM0438 sec. 9.8.4
        assert r["rcc_pllcfgr"] == (3 if hse else 1) | (m - 1) << 4 | n << 8 | 1 << 24 | (p // 2 - 1) << 25
        assert r["rcc_cfgr"] == 3 | 3 << 2 | _ahb(c["ahb_div"]) << 4 | _apb(c["apb1_div"]) << 8 | _apb(c["apb2_div"]) << 11
        assert r["flash_acr"] == ws | (0x700 if fam == 4 else 0)
        assert r["pwr_cr1"] >> 9 & 3 == c["vos"] and r["pwr_cr2"] >> 9 & 1 == c["vddio2"]
