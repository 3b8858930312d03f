/*
 * esn_nordic.h: what the Nordic ports share (nRF51 Series Reference Manual v3.0; nRF52833 PS v1.6,
 * nRF52840 PS v1.7: the registers below have the same offsets in both families).
 *  - CLOCK (base 0x40000000; nRF51 RM sec. 13, nRF52 PS "CLOCK"): TASKS_HFCLKSTART 0x000,
 *    EVENTS_HFCLKSTARTED 0x100, HFCLKSTAT 0x40C (SRC bit 0: 1 = crystal).
 *  - UART (UART0 0x40002000, the board's firmware.uart_base; nRF51 RM sec. 29, nRF52 PS "UART"):
 *    TASKS_STARTRX 0x000, TASKS_STARTTX 0x008, EVENTS_RXDRDY 0x108, EVENTS_TXDRDY 0x11C, ENABLE
 *    0x500 (4 = UART), PSELTXD 0x50C, PSELRXD 0x514 (nRF52: PIN bits 4:0, PORT bit 5, CONNECT bit
 *    31 = 0), RXD 0x518, TXD 0x51C, BAUDRATE 0x524 (0x01D7E000 = 115200 baud).
 *  - GPIO (P0 0x50000000; nRF52840 P1 0x50000300; nRF51 RM sec. 14): OUTSET 0x508, PIN_CNF[n]
 *    0x700 + 4n (DIR bit 0, INPUT bit 1 = 0 connects the input buffer). The UART chapters ask for
 *    TXD as an output driven high and RXD as an input before the UART is enabled.
 *  - TIMER (TIMER0 0x40008000, or the board's chip.timer_base; nRF51 RM sec. 18): TASKS_START
 *    0x000, TASKS_STOP 0x004, TASKS_CLEAR 0x00C, TASKS_CAPTURE[n] 0x040 + 4n, MODE 0x504, BITMODE
 *    0x508 (3 = 32 bit), PRESCALER 0x510 (0 = 16 MHz), CC[n] 0x540 + 4n.
 */
#ifndef ESN_NORDIC_H
#define ESN_NORDIC_H

#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"

#ifndef ESN_FW_UART_BASE
#define ESN_FW_UART_BASE 0x40002000u
#endif
#ifndef ESN_CHIP_TIMER_BASE
#define ESN_CHIP_TIMER_BASE 0x40008000u /* TIMER0 */
#endif

#define ESN_NORDIC_TIMER_HZ 16000000u
#if ESN_FW_TICK_HZ != 0 && ESN_FW_TICK_HZ != ESN_NORDIC_TIMER_HZ
#error "the Nordic TIMER counts at 16 MHz (PRESCALER 0): set the board's firmware.tick_hz to 16_000_000"
#endif

#define ESN_NORDIC_CLOCK_BASE 0x40000000u
#define ESN_NORDIC_GPIO_BASE 0x50000000u /* P0; the nRF52840's P1 is 0x300 above */
#define ESN_NORDIC_CLOCK_HFCLKSTART ESN_REG(ESN_NORDIC_CLOCK_BASE + 0x000u)
#define ESN_NORDIC_CLOCK_HFCLKSTARTED ESN_REG(ESN_NORDIC_CLOCK_BASE + 0x100u)
#define ESN_NORDIC_CLOCK_HFCLKSTAT ESN_REG(ESN_NORDIC_CLOCK_BASE + 0x40Cu)

#define ESN_NORDIC_UART_ENABLE ESN_REG(ESN_FW_UART_BASE + 0x500u)
#define ESN_NORDIC_TIMER_STOP ESN_REG(ESN_CHIP_TIMER_BASE + 0x004u)

/* TXD, RXD on GPIO `tx`, `rx` (port * 32 + n), 115200 baud, started. */
void esn_nordic_uart_start(uint32_t tx, uint32_t rx);

/* The tick TIMER: 32-bit at 16 MHz, running (from whichever 16 MHz clock runs). */
void esn_nordic_timer_start(void);

/* Starts the crystal and waits for it at most wait_us, timed by the tick TIMER (running). Never hangs:
 * on a timeout the chip keeps running on its RC oscillator. @return 1 when the crystal runs. */
int esn_nordic_hfxo_start(uint32_t wait_us);

/* Ticks count from 0 again (after the clock start-up). */
void esn_nordic_ticks_restart(void);

#endif /* ESN_NORDIC_H */
