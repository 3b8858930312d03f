/*
 * esn_fw_port_nrf52.c: port for Nordic nRF52833 (BBC micro:bit v2) and nRF52840 (Arduino Nano 33
 * BLE), Cortex-M4F at 64 MHz: the 32 MHz crystal (HFXO) started with a bounded wait, the UART on the
 * pins the board routes to its host link, a TIMER for ticks (the nordic layer, esn_nordic.c, with
 * the registers both families share), the DWT cycle counter (cortex_m layer). This file adds the
 * clean-up after a boot loader. NVIC ICER/ICPR: ARMv7-M ARM sec. B3.4 (the nRF52840 has 48 IRQs).
 *
 * QEMU 7.2 has no nRF52 machine: this port is checked by build and ELF tests only
 * (tests/device/test_nrf_rp2040.py) until it runs on the boards.
 */
#include <stdint.h>

#include "esn_fw_port.h"
#include "esn_fw_server.h"
#include "esn_nordic.h"

/* Chip settings (port.toml [chip.*], given by the board's [firmware.chip]); pins are port * 32 + n. */
#if !defined(ESN_CHIP_UART_TX_PIN) || !defined(ESN_CHIP_UART_RX_PIN)
#error "ESN_CHIP_UART_TX_PIN / ESN_CHIP_UART_RX_PIN come from the board's [firmware.chip]"
#endif
#ifndef ESN_CHIP_HFXO_WAIT_US
#define ESN_CHIP_HFXO_WAIT_US 10000u
#endif

#define NVIC_ICER(n) ESN_REG(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n) ESN_REG(0xE000E280u + 4u * (n))

void esn_fw_port_init(void)
{
    int xtal;
    /* A boot loader may run first (the Nano 33 BLE's Arduino one does) and leave SysTick, interrupts,
     * the UART(E) or the TIMER on: an interrupt would land in the fault reporter, so all are off. */
    ESN_SYST_CSR = 0;
    NVIC_ICER(0) = 0xFFFFFFFFu;
    NVIC_ICER(1) = 0xFFFFFFFFu;
    NVIC_ICPR(0) = 0xFFFFFFFFu;
    NVIC_ICPR(1) = 0xFFFFFFFFu;
    ESN_NORDIC_UART_ENABLE = 0u;
    ESN_NORDIC_TIMER_STOP = 1u;
    esn_cortex_m_init(); /* DWT cycle counter */

    esn_nordic_uart_start(ESN_CHIP_UART_TX_PIN, ESN_CHIP_UART_RX_PIN);
    esn_nordic_timer_start();
    xtal = esn_nordic_hfxo_start(ESN_CHIP_HFXO_WAIT_US); /* nothing is sent before: the baud follows HFCLK */
    esn_nordic_ticks_restart();                          /* ticks count from here */

    /* Which clock runs: the boot's ESN-CLOCK line, and HELLO's clock (esn_fw_server.h) */
    esn_fw_clock_add(xtal ? "rated hfclk=xtal 64000000" : "fallback hfclk=rc 64000000 (the crystal did not start in time)");
    esn_fw_clock_report();
}
