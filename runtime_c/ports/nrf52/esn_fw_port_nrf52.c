/*
 * esn_fw_port_nrf52.c: port for Nordic nRF52833 (BBC micro:bit v2) and nRF52840 (Arduino Nano 33
 * BLE), Cortex-M4F at 64 MHz: the 32 MHz crystal (HFXO) started with a bounded wait, the UART
 * (non-DMA, one byte at a time) on the pins the board routes to its host link, a TIMER at 16 MHz
 * widened to 64 bits for ticks, the DWT cycle counter (cortex_m layer).
 *
 * Registers from the nRF52840 Product Specification v1.7 and the nRF52833 PS v1.6, identical in
 * both parts (chapter names as in the PS):
 *  - CLOCK (base 0x40000000): TASKS_HFCLKSTART 0x000, EVENTS_HFCLKSTARTED 0x100, HFCLKSTAT 0x40C
 *    (SRC bit 0: 1 = crystal; STATE bit 16).
 *  - UART, Universal asynchronous receiver/transmitter (UART0 0x40002000, the board's uart_base):
 *    TASKS_STARTRX 0x000, TASKS_STARTTX 0x008, EVENTS_RXDRDY 0x108, EVENTS_TXDRDY 0x11C, ENABLE
 *    0x500 (4 = UART), PSEL.TXD 0x50C, PSEL.RXD 0x514 (PIN bits 4:0, PORT bit 5, CONNECT bit 31
 *    = 0), RXD 0x518, TXD 0x51C, BAUDRATE 0x524 (0x01D7E000 = 115200 baud).
 *  - GPIO (P0 0x50000000, P1 0x50000300): OUTSET 0x508, PIN_CNF[n] 0x700 + 4n (DIR bit 0, INPUT
 *    bit 1 = 0 connects the input buffer). The UART chapter asks for TXD as an output driven high
 *    and RXD as an input before the UART is enabled, so the line idles high.
 *  - TIMER (TIMER0 0x40008000, the board's chip.timer_base): TASKS_START 0x000, TASKS_STOP 0x004,
 *    TASKS_CLEAR 0x00C,
 *    TASKS_CAPTURE[n] 0x040 + 4n, MODE 0x504, BITMODE 0x508 (3 = 32 bit), PRESCALER 0x510 (0 =
 *    16 MHz), CC[n] 0x540 + 4n.
 *
 * QEMU 7.2 has no nRF52 machine: this port is checked by build and ELF tests only
 * (tests/device/test_nrf_rp2040.py) until it runs on the boards.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_port.h"
#include "esn_fw_server.h"

#ifndef ESN_FW_UART_BASE
#define ESN_FW_UART_BASE 0x40002000u
#endif
/* Chip settings (port.toml [chip.*], given by the board's [firmware.chip]); pins are port * 32 + n. */
#if !defined(ESN_CHIP_UART_TX_PIN) || !defined(ESN_CHIP_UART_RX_PIN)
#error "ESN_CHIP_UART_TX_PIN / ESN_CHIP_UART_RX_PIN come from the board's [firmware.chip]"
#endif
#ifndef ESN_CHIP_TIMER_BASE
#define ESN_CHIP_TIMER_BASE 0x40008000u
#endif
#ifndef ESN_CHIP_HFXO_WAIT_US
#define ESN_CHIP_HFXO_WAIT_US 10000u
#endif

#define CLOCK_BASE 0x40000000u
#define CLOCK_HFCLKSTART ESN_REG(CLOCK_BASE + 0x000u)
#define CLOCK_HFCLKSTARTED ESN_REG(CLOCK_BASE + 0x100u)
#define CLOCK_HFCLKSTAT ESN_REG(CLOCK_BASE + 0x40Cu)

#define UART_STARTRX ESN_REG(ESN_FW_UART_BASE + 0x000u)
#define UART_STARTTX ESN_REG(ESN_FW_UART_BASE + 0x008u)
#define UART_RXDRDY ESN_REG(ESN_FW_UART_BASE + 0x108u)
#define UART_TXDRDY ESN_REG(ESN_FW_UART_BASE + 0x11Cu)
#define UART_ENABLE ESN_REG(ESN_FW_UART_BASE + 0x500u)
#define UART_PSELTXD ESN_REG(ESN_FW_UART_BASE + 0x50Cu)
#define UART_PSELRXD ESN_REG(ESN_FW_UART_BASE + 0x514u)
#define UART_RXD ESN_REG(ESN_FW_UART_BASE + 0x518u)
#define UART_TXD ESN_REG(ESN_FW_UART_BASE + 0x51Cu)
#define UART_BAUDRATE ESN_REG(ESN_FW_UART_BASE + 0x524u)

#define GPIO_PORT_BASE(pin) (0x50000000u + ((pin) >> 5) * 0x300u)
#define GPIO_OUTSET(pin) ESN_REG(GPIO_PORT_BASE(pin) + 0x508u)
#define GPIO_PIN_CNF(pin) ESN_REG(GPIO_PORT_BASE(pin) + 0x700u + 4u * ((pin) & 31u))

#define TIMER_START ESN_REG(ESN_CHIP_TIMER_BASE + 0x000u)
#define TIMER_STOP ESN_REG(ESN_CHIP_TIMER_BASE + 0x004u)
#define TIMER_CLEAR ESN_REG(ESN_CHIP_TIMER_BASE + 0x00Cu)
#define TIMER_CAPTURE1 ESN_REG(ESN_CHIP_TIMER_BASE + 0x044u)
#define TIMER_MODE ESN_REG(ESN_CHIP_TIMER_BASE + 0x504u)
#define TIMER_BITMODE ESN_REG(ESN_CHIP_TIMER_BASE + 0x508u)
#define TIMER_PRESCALER ESN_REG(ESN_CHIP_TIMER_BASE + 0x510u)
#define TIMER_CC1 ESN_REG(ESN_CHIP_TIMER_BASE + 0x544u)

/* NVIC interrupt clear-enable / clear-pending (ARMv7-M ARM sec. B3.4): the nRF52840 has 48 IRQs. */
#define NVIC_ICER(n) ESN_REG(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n) ESN_REG(0xE000E280u + 4u * (n))

#define TIMER_HZ 16000000u
#if ESN_FW_TICK_HZ != 0 && ESN_FW_TICK_HZ != TIMER_HZ
#error "the nRF52 TIMER counts at 16 MHz (PRESCALER 0): set the board's firmware.tick_hz to 16_000_000"
#endif

static uint8_t s_tx_busy;
static uint32_t s_tick_last, s_tick_high;

/* Starts the crystal and waits for it at most ESN_CHIP_HFXO_WAIT_US, timed by the TIMER (it runs
 * on whichever 16 MHz clock runs). Never hangs: on a timeout the chip keeps running on HFINT
 * (+-1.5 % or so: marginal for the UART, hence the report). @return 1 when the crystal runs. */
static int hfxo_start(void)
{
    CLOCK_HFCLKSTARTED = 0;
    CLOCK_HFCLKSTART = 1u;
    for (;;) {
        TIMER_CAPTURE1 = 1u;
        if (CLOCK_HFCLKSTARTED || TIMER_CC1 >= ESN_CHIP_HFXO_WAIT_US * (TIMER_HZ / 1000000u)) {
            break;
        }
    }
    return (CLOCK_HFCLKSTAT & 1u) != 0;
}

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
    UART_ENABLE = 0u;
    TIMER_STOP = 1u;
    esn_cortex_m_init(); /* DWT cycle counter */

    GPIO_OUTSET(ESN_CHIP_UART_TX_PIN) = 1u << (ESN_CHIP_UART_TX_PIN & 31u);
    GPIO_PIN_CNF(ESN_CHIP_UART_TX_PIN) = 1u; /* output, input buffer connected */
    GPIO_PIN_CNF(ESN_CHIP_UART_RX_PIN) = 0u; /* input */
    UART_PSELTXD = ESN_CHIP_UART_TX_PIN;     /* PIN and PORT; CONNECT = 0 */
    UART_PSELRXD = ESN_CHIP_UART_RX_PIN;
    UART_BAUDRATE = 0x01D7E000u; /* 115200 baud */
    UART_ENABLE = 4u;
    UART_TXDRDY = 0;
    UART_RXDRDY = 0;
    UART_STARTTX = 1u;
    UART_STARTRX = 1u;
    s_tx_busy = 0;

    TIMER_MODE = 0u;      /* timer */
    TIMER_BITMODE = 3u;   /* 32 bit */
    TIMER_PRESCALER = 0u; /* 16 MHz */
    TIMER_CLEAR = 1u;
    TIMER_START = 1u;
    xtal = hfxo_start();  /* nothing is sent before: the baud generator follows HFCLK */
    TIMER_CLEAR = 1u;     /* ticks count from here */
    s_tick_last = 0;
    s_tick_high = 0;

    /* Which clock runs: a text line ended by 0x00 before the ready line (the host keeps it). */
    esn_fw_puts(xtal ? "\r\nESN-CLOCK hfclk=xtal 64000000\r\n"
                     : "\r\nESN-CLOCK hfclk=rc 64000000 (the crystal did not start in time)\r\n");
    esn_fw_port_putc(0x00);
}

int esn_fw_port_getc(void)
{
    if (UART_RXDRDY) {
        UART_RXDRDY = 0; /* clear before reading: reading RXD may raise it again for the next byte */
        return (int)(UART_RXD & 0xFFu);
    }
    return -1;
}

void esn_fw_port_putc(uint8_t byte)
{
    if (s_tx_busy) {
        while (!UART_TXDRDY) {
        }
    }
    UART_TXDRDY = 0;
    UART_TXD = byte;
    s_tx_busy = 1;
}

void esn_fw_port_flush(void)
{
    if (s_tx_busy) {
        while (!UART_TXDRDY) {
        }
    }
}

/* The 32-bit TIMER wraps every 268 s at 16 MHz; widened to 64 bits in software, which holds while
 * this runs at least once per wrap (the idle loop calls it). */
uint64_t esn_fw_port_ticks(void)
{
    uint32_t now;
    TIMER_CAPTURE1 = 1u;
    now = TIMER_CC1;
    if (now < s_tick_last) {
        s_tick_high++;
    }
    s_tick_last = now;
    return ((uint64_t)s_tick_high << 32) | now;
}
