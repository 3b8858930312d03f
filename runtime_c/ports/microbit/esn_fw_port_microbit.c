/*
 * esn_fw_port_microbit.c: port for the BBC micro:bit v1 (nRF51822, Cortex-M0), real or emulated
 * by QEMU's `microbit` machine: UART0 for the serial link (TX P0.24, RX P0.25, the pins wired to
 * the interface chip's USB serial), TIMER0 in 32-bit mode at 16 MHz for ticks (the nRF51's M0
 * has no SysTick).
 *
 * nRF51 Series Reference Manual v3.0: UART sec. 29 (tasks STARTRX 0x000, STARTTX 0x008; events
 * RXDRDY 0x108, TXDRDY 0x11C; ENABLE 0x500 = 4; PSELTXD 0x50C, PSELRXD 0x514; RXD 0x518,
 * TXD 0x51C; BAUDRATE 0x524), TIMER sec. 18 (START 0x000, CLEAR 0x00C, CAPTURE[n] 0x040 + 4n,
 * MODE 0x504, BITMODE 0x508, PRESCALER 0x510, CC[n] 0x540 + 4n).
 *
 * The 32-bit timer wraps every 2^32 / 16 MHz = 268 s; ticks are extended to 64 bits in software,
 * which holds as long as esn_fw_port_ticks() runs at least once per wrap (the idle loop calls it).
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_port.h"

#ifndef ESN_FW_UART_BASE
#define ESN_FW_UART_BASE 0x40002000u
#endif
#define TIMER0_BASE 0x40008000u

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

#define TIMER_START ESN_REG(TIMER0_BASE + 0x000u)
#define TIMER_CLEAR ESN_REG(TIMER0_BASE + 0x00Cu)
#define TIMER_CAPTURE1 ESN_REG(TIMER0_BASE + 0x044u)
#define TIMER_MODE ESN_REG(TIMER0_BASE + 0x504u)
#define TIMER_BITMODE ESN_REG(TIMER0_BASE + 0x508u)
#define TIMER_PRESCALER ESN_REG(TIMER0_BASE + 0x510u)
#define TIMER_CC1 ESN_REG(TIMER0_BASE + 0x544u)

static uint8_t s_tx_busy;
static uint32_t s_tick_last, s_tick_high;

void esn_fw_port_init(void)
{
    UART_PSELTXD = 24u;
    UART_PSELRXD = 25u;
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
    s_tick_last = 0;
    s_tick_high = 0;
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
