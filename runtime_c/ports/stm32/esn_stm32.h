/*
 * esn_stm32.h: what the STM32 port's two files share: the family codes a board's
 * [firmware.chip] family selects, and the clock set-up's result.
 *
 * Per-chip facts (peripheral bases, PLL factors, wait states, pins, enable bits) come from the board
 * file as ESN_CHIP_<NAME> (runtime_c/ports/stm32/port.toml declares them); register offsets and bit
 * positions inside a peripheral are facts of the family and live in the .c files, each block with
 * the reference manual section it was written from. No vendor header or HAL.
 */
#ifndef ESN_STM32_H
#define ESN_STM32_H

#include <stdint.h>

#define ESN_STM32_F4 1 /* STM32F405/F446: RM0090, RM0390 */
#define ESN_STM32_F7 2 /* STM32F746: RM0385 */
#define ESN_STM32_H7 3 /* STM32H743: RM0433 */
#define ESN_STM32_L4 4 /* STM32L476: RM0351 */
#define ESN_STM32_L5 5 /* STM32L552: RM0438 */

#ifndef ESN_CHIP_FAMILY
#error "ESN_CHIP_FAMILY must come from the board's [firmware.chip] table (runtime_c/ports/stm32/port.toml)"
#endif

/* Which step of the clock set-up failed (esn_stm32_clock.error); 0: the PLL runs as planned. */
enum {
    ESN_STM32_CLK_OK = 0,
    ESN_STM32_CLK_SUPPLY, /* H7: the supply configuration (ACTVOSRDY) never settled */
    ESN_STM32_CLK_VOS,    /* the regulator never reached the voltage scale the clock needs */
    ESN_STM32_CLK_HSE,    /* the HSE oscillator never reported ready */
    ESN_STM32_CLK_PLL,    /* the PLL never locked */
    ESN_STM32_CLK_OVERDRIVE, /* F4/F7: the over-drive regulator never reported ready */
    ESN_STM32_CLK_FLASH,  /* the flash latency did not read back as written */
    ESN_STM32_CLK_SWITCH  /* the system clock switch never reported the PLL */
};

typedef struct {
    uint32_t sysclk_hz;    /* the clock the core runs at now */
    uint32_t uart_clk_hz;  /* the serial UART's kernel clock now */
    uint8_t error;         /* ESN_STM32_CLK_*: why the reset clock still runs, or 0 */
    uint8_t sws;           /* the system clock switch status read back (family encoding) */
} esn_stm32_clock;

/**
 * Raises the clock tree to the board's rated clock (PLL), with the voltage scale, flash wait states
 * and prefetch/ART the family needs. Every wait on a ready flag is bounded: an oscillator, PLL or
 * regulator that never reports ready leaves the reset clock running (HSI, or MSI on L4/L5), and the
 * result says which step failed. Returns the clocks that actually run.
 */
esn_stm32_clock esn_stm32_clock_init(void);

/** The name of a clock error ("hse-not-ready", ...) or "none". */
const char *esn_stm32_clock_error_name(uint8_t error);

/** The name of the system clock source a switch status reads back ("hsi", "msi", "hse", "pll"). */
const char *esn_stm32_sws_name(uint8_t sws);

/**
 * Polls a status register until a field reads as wanted, at most ESN_STM32_READY_POLLS times (default
 * 500,000: tens of ms at the reset clock, several times a crystal's start-up).
 * @param[in] reg   the register
 * @param[in] mask  the bits to look at
 * @param[in] want  their wanted value (a subset of mask)
 * @return 1 when the field got there, 0 when the bound ran out
 */
int esn_stm32_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want);

#endif /* ESN_STM32_H */
