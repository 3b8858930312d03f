/*
 * esn_fw_port_microbit.c: port for the BBC micro:bit v1 (nRF51822, Cortex-M0), real or emulated
 * by QEMU's `microbit` machine: the 16 MHz crystal (HFXO) started with a bounded wait, UART0 for
 * the serial link on the pins the board routes to its interface chip's USB serial (chip settings
 * uart_tx_pin / uart_rx_pin: P0.24 / P0.25 on the micro:bit), TIMER0 in 32-bit mode at 16 MHz for
 * ticks (the nRF51's M0 has no SysTick).
 *
 * nRF51 Series Reference Manual v3.0: CLOCK sec. 13 (base 0x40000000: TASKS_HFCLKSTART 0x000,
 * EVENTS_HFCLKSTARTED 0x100, HFCLKSTAT 0x40C (SRC bit 0: 1 = crystal), XTALFREQ 0x550: 0xFF 16 MHz,
 * 0x00 32 MHz), UART sec. 29 (tasks STARTRX 0x000, STARTTX 0x008; events RXDRDY 0x108, TXDRDY
 * 0x11C; ENABLE 0x500 = 4; PSELTXD 0x50C, PSELRXD 0x514; RXD 0x518, TXD 0x51C; BAUDRATE 0x524),
 * GPIO sec. 14 (base 0x50000000: OUTSET 0x508, PIN_CNF[n] 0x700 + 4n: DIR bit 0, INPUT bit 1 = 0
 * connects the input buffer; the UART chapter asks for TXD as an output at 1, RXD an input),
 * TIMER sec. 18 (START 0x000, CLEAR 0x00C, CAPTURE[n] 0x040 + 4n, MODE 0x504, BITMODE 0x508,
 * PRESCALER 0x510, CC[n] 0x540 + 4n).
 *
 * The 32-bit timer wraps every 2^32 / 16 MHz = 268 s; ticks are extended to 64 bits in software,
 * which holds as long as esn_fw_port_ticks() runs at least once per wrap (the idle loop calls it).
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_port.h"
#include "esn_fw_server.h"

#ifndef ESN_FW_UART_BASE
#define ESN_FW_UART_BASE 0x40002000u
#endif
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

#define CLOCK_BASE 0x40000000u
#define TIMER0_BASE 0x40008000u
#define GPIO_BASE 0x50000000u

#define CLOCK_HFCLKSTART ESN_REG(CLOCK_BASE + 0x000u)
#define CLOCK_HFCLKSTARTED ESN_REG(CLOCK_BASE + 0x100u)
#define CLOCK_HFCLKSTAT ESN_REG(CLOCK_BASE + 0x40Cu)
#define CLOCK_XTALFREQ ESN_REG(CLOCK_BASE + 0x550u)

#define GPIO_OUTSET ESN_REG(GPIO_BASE + 0x508u)
#define GPIO_PIN_CNF(n) ESN_REG(GPIO_BASE + 0x700u + 4u * (n))

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

/* Starts the crystal and waits for it at most ESN_CHIP_HFXO_WAIT_US, timed by TIMER0 (it runs from
 * whichever 16 MHz clock runs, the RC one included). Never hangs: on a timeout the chip keeps
 * running on the RC oscillator (a few percent off: marginal for the UART, so it is reported).
 * @return 1 when the crystal runs. */
static int hfxo_start(void)
{
    CLOCK_XTALFREQ = ESN_CHIP_XTALFREQ;
    CLOCK_HFCLKSTARTED = 0;
    CLOCK_HFCLKSTART = 1u;
    for (;;) {
        TIMER_CAPTURE1 = 1u;
        if (CLOCK_HFCLKSTARTED || TIMER_CC1 >= ESN_CHIP_HFXO_WAIT_US * 16u) {
            break;
        }
    }
    return (CLOCK_HFCLKSTAT & 1u) != 0;
}

void esn_fw_port_init(void)
{
    int xtal;
    /* The UART comes first, the timer after it: under QEMU 7.2 the reverse order made every later
     * tick count run ~10^5 ticks ahead after a system reset (measured; the part does not care).
     * Nothing is sent before the crystal runs (the baud generator follows whichever HFCLK runs). */
    GPIO_OUTSET = 1u << ESN_CHIP_UART_TX_PIN; /* the line idles high */
    GPIO_PIN_CNF(ESN_CHIP_UART_TX_PIN) = 1u;  /* output */
    GPIO_PIN_CNF(ESN_CHIP_UART_RX_PIN) = 0u;  /* input */
    UART_PSELTXD = ESN_CHIP_UART_TX_PIN;
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
    xtal = hfxo_start();
    TIMER_CLEAR = 1u; /* ticks count from here */
    s_tick_last = 0;
    s_tick_high = 0;

    /* Which clock runs: a text line ended by 0x00, like the ready line after it (the host keeps
     * both among the link's texts). */
    esn_fw_puts(xtal ? "\r\nESN-CLOCK hfclk=xtal 16000000\r\n"
                     : "\r\nESN-CLOCK hfclk=rc 16000000 (the crystal did not start in time)\r\n");
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
