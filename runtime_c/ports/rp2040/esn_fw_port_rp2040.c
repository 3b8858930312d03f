/*
 * esn_fw_port_rp2040.c: port for the Raspberry Pi RP2040 (Raspberry Pi Pico), core 0 (Cortex-M0+):
 * the 12 MHz crystal (XOSC) and PLL_SYS at the rated 125 MHz, each with a bounded wait and a
 * fallback that is reported (PLL fails: clk_sys on the crystal, 12 MHz; crystal fails: everything
 * stays on the ring oscillator, ~6 MHz and imprecise); UART0 (PL011) on GP0 (TX) / GP1 (RX); the
 * 64-bit microsecond TIMER for ticks. The M0+ has no DWT cycle counter: esn_fw_port_cycles() is 0
 * (cortex_m layer), HELLO leaves out the DWT capability and the runtime times with ticks, as on the
 * micro:bit v1's M0.
 *
 * Registers from the RP2040 datasheet (Raspberry Pi Ltd), by section:
 *  - 2.1.2 atomic aliases: +0x2000 sets bits, +0x3000 clears bits of a peripheral register.
 *  - 2.14 RESETS (0x4000C000): RESET 0x0, RESET_DONE 0x8; bits io_bank0 5, pads_bank0 8,
 *    pll_sys 12, timer 21, uart0 22.
 *  - 2.15 CLOCKS (0x40008000): CLK_REF_CTRL 0x30 (SRC bits 1:0: 0 ROSC, 2 XOSC), CLK_REF_DIV 0x34,
 *    CLK_REF_SELECTED 0x38 (one-hot), CLK_SYS_CTRL 0x3C (SRC bit 0: 0 clk_ref, 1 aux; AUXSRC bits
 *    7:5: 0 pll_sys), CLK_SYS_DIV 0x40, CLK_SYS_SELECTED 0x44, CLK_PERI_CTRL 0x48 (ENABLE bit 11,
 *    AUXSRC bits 7:5: 0 clk_sys).
 *  - 2.16 XOSC (0x40024000): CTRL 0x00 (FREQ_RANGE bits 11:0 = 0xAA0 for 1-15 MHz, ENABLE bits
 *    23:12 = 0xFAB), STATUS 0x04 (STABLE bit 31), STARTUP 0x0C (DELAY bits 13:0, in 256 cycles).
 *  - 2.18 PLL (PLL_SYS 0x40028000): CS 0x0 (LOCK bit 31, REFDIV bits 5:0), PWR 0x4 (PD bit 0,
 *    POSTDIVPD bit 3, VCOPD bit 5), FBDIV_INT 0x8, PRIM 0xC (POSTDIV1 bits 18:16, POSTDIV2 bits
 *    14:12). 12 MHz / REFDIV 1 * FBDIV 125 = VCO 1500 MHz (750..1600), / 6 / 2 = 125 MHz.
 *  - 2.19.6.1 IO_BANK0 (0x40014000): GPIOn_CTRL 0x04 + 8n (FUNCSEL bits 4:0, 2 = UART).
 *  - 4.2 UART (PL011, UART0 0x40034000, the board's uart_base): UARTDR 0x00, UARTFR 0x18 (BUSY
 *    bit 3, RXFE bit 4, TXFF bit 5), UARTIBRD 0x24, UARTFBRD 0x28, UARTLCR_H 0x2C (WLEN bits 6:5,
 *    FEN bit 4; writing it latches the divisors), UARTCR 0x30 (UARTEN bit 0, TXE bit 8, RXE bit 9).
 *  - 4.6 TIMER (0x40054000): TIMELR 0x0C, then TIMEHR 0x08 (reading the low half latches the
 *    high half); 1 MHz from the watchdog tick generator, 4.7 WATCHDOG (0x40058000): TICK 0x2C
 *    (CYCLES bits 8:0 of clk_ref per microsecond, ENABLE bit 9).
 *
 * QEMU 7.2 has no RP2040 machine: this port is checked by build and ELF tests only
 * (tests/device/test_nrf_rp2040.py) until it runs on a Pico.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_port.h"
#include "esn_fw_server.h"

#ifndef ESN_FW_UART_BASE
#define ESN_FW_UART_BASE 0x40034000u
#endif
#ifndef ESN_FW_BAUD
#define ESN_FW_BAUD 115200u
#endif
/* Chip settings (port.toml [chip.*], the board's [firmware.chip]). */
#ifndef ESN_CHIP_XOSC_HZ
#define ESN_CHIP_XOSC_HZ 12000000u
#endif
#ifndef ESN_CHIP_PLL_FBDIV
#define ESN_CHIP_PLL_FBDIV 125u
#endif
#ifndef ESN_CHIP_PLL_POSTDIV1
#define ESN_CHIP_PLL_POSTDIV1 6u
#endif
#ifndef ESN_CHIP_PLL_POSTDIV2
#define ESN_CHIP_PLL_POSTDIV2 2u
#endif
#ifndef ESN_CHIP_UART_TX_GPIO
#define ESN_CHIP_UART_TX_GPIO 0u
#endif
#ifndef ESN_CHIP_UART_RX_GPIO
#define ESN_CHIP_UART_RX_GPIO 1u
#endif

#define PLL_HZ (ESN_CHIP_XOSC_HZ / ESN_CHIP_PLL_POSTDIV1 / ESN_CHIP_PLL_POSTDIV2 * ESN_CHIP_PLL_FBDIV)
#if (ESN_CHIP_XOSC_HZ / 1000000u) * ESN_CHIP_PLL_FBDIV < 750u || (ESN_CHIP_XOSC_HZ / 1000000u) * ESN_CHIP_PLL_FBDIV > 1600u
#error "PLL_SYS VCO (xosc_hz * pll_fbdiv) must lie in 750..1600 MHz (RP2040 datasheet sec. 2.18.2)"
#endif
#if ESN_CHIP_PLL_POSTDIV2 > ESN_CHIP_PLL_POSTDIV1
#error "the datasheet asks for POSTDIV1 >= POSTDIV2 (less power)"
#endif
#if ESN_FW_TICK_HZ != 0 && ESN_FW_TICK_HZ != 1000000u
#error "the RP2040 TIMER counts microseconds: set the board's firmware.tick_hz to 1_000_000"
#endif

#define REG(base, off) ESN_REG((base) + (off))
#define SET(base, off) ESN_REG((base) + 0x2000u + (off)) /* atomic bit set alias */
#define CLR(base, off) ESN_REG((base) + 0x3000u + (off)) /* atomic bit clear alias */

#define RESETS_BASE 0x4000C000u
#define CLOCKS_BASE 0x40008000u
#define XOSC_BASE 0x40024000u
#define PLL_SYS_BASE 0x40028000u
#define IO_BANK0_BASE 0x40014000u
#define TIMER_BASE 0x40054000u
#define WATCHDOG_BASE 0x40058000u

#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_PLL_SYS (1u << 12)
#define RESET_TIMER (1u << 21)
#define RESET_UART0 (1u << 22)

#define CLK_REF_CTRL 0x30u
#define CLK_REF_SELECTED 0x38u
#define CLK_SYS_CTRL 0x3Cu
#define CLK_SYS_DIV 0x40u
#define CLK_SYS_SELECTED 0x44u
#define CLK_PERI_CTRL 0x48u

#define UART_DR REG(ESN_FW_UART_BASE, 0x00u)
#define UART_FR REG(ESN_FW_UART_BASE, 0x18u)
#define UART_FR_BUSY (1u << 3)
#define UART_FR_RXFE (1u << 4)
#define UART_FR_TXFF (1u << 5)

/* Bounded waits count polls, not time (no timer runs yet): about 10 CPU cycles per poll, so
 * 200,000 polls last ~0.3 s on the ring oscillator and ~20 ms at 125 MHz; the crystal needs ~1 ms
 * and the PLL well under that. A part that never answers costs that long once, then falls back. */
#define WAIT_POLLS 200000u

static int wait_set(uint32_t addr, uint32_t mask, uint32_t want)
{
    uint32_t n;
    for (n = 0; n < WAIT_POLLS; n++) {
        if ((ESN_REG(addr) & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static int unreset(uint32_t bits)
{
    CLR(RESETS_BASE, 0x0u) = bits;
    return wait_set(RESETS_BASE + 0x8u, bits, bits);
}

/* 0: ring oscillator (crystal did not start), 1: crystal, 2: PLL at PLL_HZ. clk_ref and clk_sys end
 * on the best source that came up; clk_peri (the UART) follows clk_sys. */
static int clocks_start(void)
{
    /* Back to known sources first (the boot ROM and boot2 leave clk_sys on clk_ref = ROSC, but a
     * debugger's reset may not). clk_sys on clk_ref is glitch-free. */
    CLR(CLOCKS_BASE, CLK_SYS_CTRL) = 1u; /* SRC = clk_ref */
    (void)wait_set(CLOCKS_BASE + CLK_SYS_SELECTED, 1u, 1u);

    REG(XOSC_BASE, 0x0Cu) = ((ESN_CHIP_XOSC_HZ / 1000u) + 128u) / 256u; /* STARTUP: ~1 ms */
    REG(XOSC_BASE, 0x00u) = (0xFABu << 12) | 0xAA0u;                    /* ENABLE, 1-15 MHz */
    if (!wait_set(XOSC_BASE + 0x04u, 1u << 31, 1u << 31)) {
        return 0;
    }
    REG(CLOCKS_BASE, CLK_REF_CTRL) = 2u; /* clk_ref = XOSC */
    if (!wait_set(CLOCKS_BASE + CLK_REF_SELECTED, 1u << 2, 1u << 2)) {
        REG(CLOCKS_BASE, CLK_REF_CTRL) = 0u;
        return 0;
    }
    REG(WATCHDOG_BASE, 0x2Cu) = (1u << 9) | (ESN_CHIP_XOSC_HZ / 1000000u); /* 1 us ticks from clk_ref */

    SET(RESETS_BASE, 0x0u) = RESET_PLL_SYS;
    if (!unreset(RESET_PLL_SYS)) {
        return 1;
    }
    REG(PLL_SYS_BASE, 0x0u) = 1u; /* REFDIV */
    REG(PLL_SYS_BASE, 0x8u) = ESN_CHIP_PLL_FBDIV;
    CLR(PLL_SYS_BASE, 0x4u) = (1u << 0) | (1u << 5); /* power up PLL and VCO */
    if (!wait_set(PLL_SYS_BASE + 0x0u, 1u << 31, 1u << 31)) {
        SET(PLL_SYS_BASE, 0x4u) = (1u << 0) | (1u << 5); /* no lock: power it down again */
        return 1;
    }
    REG(PLL_SYS_BASE, 0xCu) = (ESN_CHIP_PLL_POSTDIV1 << 16) | (ESN_CHIP_PLL_POSTDIV2 << 12);
    CLR(PLL_SYS_BASE, 0x4u) = 1u << 3; /* post dividers on */

    REG(CLOCKS_BASE, CLK_SYS_DIV) = 1u << 8;         /* divide by 1 */
    REG(CLOCKS_BASE, CLK_SYS_CTRL) = 0u << 5;        /* AUXSRC = pll_sys, while SRC is still clk_ref */
    REG(CLOCKS_BASE, CLK_SYS_CTRL) = (0u << 5) | 1u; /* SRC = aux */
    if (!wait_set(CLOCKS_BASE + CLK_SYS_SELECTED, 2u, 2u)) {
        CLR(CLOCKS_BASE, CLK_SYS_CTRL) = 1u;
        return 1;
    }
    return 2;
}

static uint32_t s_uart_clk_hz;

void esn_fw_port_init(void)
{
    int clk = clocks_start();
    uint32_t div64;
    s_uart_clk_hz = clk == 2 ? PLL_HZ : clk == 1 ? ESN_CHIP_XOSC_HZ : 6500000u; /* ROSC: nominal */
    if (clk == 0) {
        REG(WATCHDOG_BASE, 0x2Cu) = (1u << 9) | 6u; /* ticks from ROSC: approximate */
    }

    /* clk_peri from clk_sys: disabled while its source changes (datasheet sec. 2.15.3.2) */
    REG(CLOCKS_BASE, CLK_PERI_CTRL) = 0u;
    REG(CLOCKS_BASE, CLK_PERI_CTRL) = (1u << 11) | (0u << 5);

    (void)unreset(RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0 | RESET_TIMER);
    /* PL011 divisor = clk / (16 baud) in 1/64ths, rounded: IBRD its integer, FBRD its fraction */
    div64 = (4u * s_uart_clk_hz + ESN_FW_BAUD / 2u) / ESN_FW_BAUD;
    REG(ESN_FW_UART_BASE, 0x24u) = div64 >> 6;
    REG(ESN_FW_UART_BASE, 0x28u) = div64 & 63u;
    REG(ESN_FW_UART_BASE, 0x2Cu) = (3u << 5) | (1u << 4);             /* 8N1, FIFOs on; latches the divisors */
    REG(ESN_FW_UART_BASE, 0x30u) = (1u << 0) | (1u << 8) | (1u << 9); /* UARTEN, TXE, RXE */
    REG(IO_BANK0_BASE, 0x04u + 8u * ESN_CHIP_UART_TX_GPIO) = 2u;       /* FUNCSEL UART */
    REG(IO_BANK0_BASE, 0x04u + 8u * ESN_CHIP_UART_RX_GPIO) = 2u;

    /* Which clock runs (ROSC: at its nominal rate): the boot's ESN-CLOCK line, and HELLO's clock */
    esn_fw_clock_add(clk == 2   ? "rated clk_sys=pll_sys "
                     : clk == 1 ? "fallback clk_sys=xosc (PLL_SYS did not lock) "
                                : "fallback clk_sys=rosc (the crystal did not start: baud and ticks approximate) ");
    esn_fw_clock_add_dec(s_uart_clk_hz);
    esn_fw_clock_add(" Hz");
    esn_fw_clock_report();
}

int esn_fw_port_getc(void)
{
    if (UART_FR & UART_FR_RXFE) {
        return -1;
    }
    return (int)(UART_DR & 0xFFu); /* error flags in bits 11:8 dropped: the frame CRC catches them */
}

void esn_fw_port_putc(uint8_t byte)
{
    while (UART_FR & UART_FR_TXFF) {
    }
    UART_DR = byte;
}

void esn_fw_port_flush(void)
{
    while (UART_FR & UART_FR_BUSY) {
    }
}

uint64_t esn_fw_port_ticks(void)
{
    uint32_t lo = REG(TIMER_BASE, 0x0Cu); /* TIMELR latches TIMEHR */
    uint32_t hi = REG(TIMER_BASE, 0x08u);
    return ((uint64_t)hi << 32) | lo;
}
