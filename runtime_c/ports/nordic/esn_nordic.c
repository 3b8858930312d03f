/*
 * esn_nordic.c: the serial hooks and the TIMER tick source of the Nordic ports (registers in
 * esn_nordic.h). The UART is used without EasyDMA, one byte at a time: the protocol's frames are
 * short and the link is the bottleneck, not the core.
 *
 * The 32-bit TIMER wraps every 2^32 / 16 MHz = 268 s; ticks are extended to 64 bits in software,
 * which holds as long as esn_fw_port_ticks() runs at least once per wrap (the idle loop calls it).
 */
#include "esn_nordic.h"

#include "esn_fw_port.h"

#define UART_STARTRX ESN_REG(ESN_FW_UART_BASE + 0x000u)
#define UART_STARTTX ESN_REG(ESN_FW_UART_BASE + 0x008u)
#define UART_RXDRDY ESN_REG(ESN_FW_UART_BASE + 0x108u)
#define UART_TXDRDY ESN_REG(ESN_FW_UART_BASE + 0x11Cu)
#define UART_PSELTXD ESN_REG(ESN_FW_UART_BASE + 0x50Cu)
#define UART_PSELRXD ESN_REG(ESN_FW_UART_BASE + 0x514u)
#define UART_RXD ESN_REG(ESN_FW_UART_BASE + 0x518u)
#define UART_TXD ESN_REG(ESN_FW_UART_BASE + 0x51Cu)
#define UART_BAUDRATE ESN_REG(ESN_FW_UART_BASE + 0x524u)

#define GPIO_PORT_BASE(pin) (ESN_NORDIC_GPIO_BASE + ((pin) >> 5) * 0x300u)
#define GPIO_OUTSET(pin) ESN_REG(GPIO_PORT_BASE(pin) + 0x508u)
#define GPIO_PIN_CNF(pin) ESN_REG(GPIO_PORT_BASE(pin) + 0x700u + 4u * ((pin) & 31u))

#define TIMER_START ESN_REG(ESN_CHIP_TIMER_BASE + 0x000u)
#define TIMER_CLEAR ESN_REG(ESN_CHIP_TIMER_BASE + 0x00Cu)
#define TIMER_CAPTURE1 ESN_REG(ESN_CHIP_TIMER_BASE + 0x044u)
#define TIMER_MODE ESN_REG(ESN_CHIP_TIMER_BASE + 0x504u)
#define TIMER_BITMODE ESN_REG(ESN_CHIP_TIMER_BASE + 0x508u)
#define TIMER_PRESCALER ESN_REG(ESN_CHIP_TIMER_BASE + 0x510u)
#define TIMER_CC1 ESN_REG(ESN_CHIP_TIMER_BASE + 0x544u)

static uint8_t s_tx_busy;
static uint32_t s_tick_last, s_tick_high;

void esn_nordic_uart_start(uint32_t tx, uint32_t rx)
{
    GPIO_OUTSET(tx) = 1u << (tx & 31u); /* the line idles high */
    GPIO_PIN_CNF(tx) = 1u;              /* output, input buffer connected */
    GPIO_PIN_CNF(rx) = 0u;              /* input */
    UART_PSELTXD = tx;                  /* nRF52: PIN and PORT; CONNECT = 0 */
    UART_PSELRXD = rx;
    UART_BAUDRATE = 0x01D7E000u; /* 115200 baud */
    ESN_NORDIC_UART_ENABLE = 4u;
    UART_TXDRDY = 0;
    UART_RXDRDY = 0;
    UART_STARTTX = 1u;
    UART_STARTRX = 1u;
    s_tx_busy = 0;
}

void esn_nordic_timer_start(void)
{
    TIMER_MODE = 0u;      /* timer */
    TIMER_BITMODE = 3u;   /* 32 bit */
    TIMER_PRESCALER = 0u; /* 16 MHz */
    TIMER_CLEAR = 1u;
    TIMER_START = 1u;
}

int esn_nordic_hfxo_start(uint32_t wait_us)
{
    ESN_NORDIC_CLOCK_HFCLKSTARTED = 0;
    ESN_NORDIC_CLOCK_HFCLKSTART = 1u;
    for (;;) {
        TIMER_CAPTURE1 = 1u;
        if (ESN_NORDIC_CLOCK_HFCLKSTARTED || TIMER_CC1 >= wait_us * (ESN_NORDIC_TIMER_HZ / 1000000u)) {
            break;
        }
    }
    return (ESN_NORDIC_CLOCK_HFCLKSTAT & 1u) != 0;
}

void esn_nordic_ticks_restart(void)
{
    TIMER_CLEAR = 1u;
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
