/*
 * esn_fw_port_microbit.c: port for the BBC micro:bit v1 (nRF51822, Cortex-M0), real or emulated
 * by QEMU's `microbit` machine: the 16 MHz crystal (HFXO) started with a bounded wait, UART0 on the
 * pins the board routes to its interface chip's USB serial (chip settings uart_tx_pin / uart_rx_pin:
 * P0.24 / P0.25 on the micro:bit), TIMER0 for ticks (the nRF51's M0 has no SysTick). The UART,
 * TIMER and crystal start-up are the nordic layer's (esn_nordic.c); this file adds what the nRF51
 * alone has: CLOCK XTALFREQ (nRF51 RM v3.0 sec. 13, 0x550: 0xFF 16 MHz, 0x00 32 MHz).
 */
#include <stdint.h>

#include "esn_fw_port.h"
#include "esn_fw_server.h"
#include "esn_nordic.h"

/* Chip settings (port.toml [chip.*], given by each board's [firmware.chip]); the defaults are the
 * micro:bit's, for a build without a board file. */
#ifndef ESN_CHIP_UART_TX_PIN
#define ESN_CHIP_UART_TX_PIN 24u
#endif
#ifndef ESN_CHIP_UART_RX_PIN
#define ESN_CHIP_UART_RX_PIN 25u
#endif
#ifndef ESN_CHIP_XTALFREQ
#define ESN_CHIP_XTALFREQ 0xFFu
#endif
#ifndef ESN_CHIP_HFXO_WAIT_US
#define ESN_CHIP_HFXO_WAIT_US 10000u
#endif

#define CLOCK_XTALFREQ ESN_REG(ESN_NORDIC_CLOCK_BASE + 0x550u)

void esn_fw_port_init(void)
{
    int xtal;
    /* The UART comes first, the timer after it: under QEMU 7.2 the reverse order made every later
     * tick count run ~10^5 ticks ahead after a system reset (measured; the part does not care).
     * Nothing is sent before the crystal runs (the baud generator follows whichever HFCLK runs). */
    esn_nordic_uart_start(ESN_CHIP_UART_TX_PIN, ESN_CHIP_UART_RX_PIN);
    esn_nordic_timer_start();
    CLOCK_XTALFREQ = ESN_CHIP_XTALFREQ;
    xtal = esn_nordic_hfxo_start(ESN_CHIP_HFXO_WAIT_US); /* RC fallback: a few percent off, reported */
    esn_nordic_ticks_restart();                          /* ticks count from here */

    /* Which clock runs: the boot's ESN-CLOCK line, and HELLO's clock (esn_fw_server.h) */
    esn_fw_clock_add(xtal ? "rated hfclk=xtal 16000000" : "fallback hfclk=rc 16000000 (the crystal did not start in time)");
    esn_fw_clock_report();
}
