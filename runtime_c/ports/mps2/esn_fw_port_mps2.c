/*
 * esn_fw_port_mps2.c: port for the Arm MPS2/MPS2+ FPGA boards (AN386 Cortex-M4, AN500 Cortex-M7,
 * AN505 Cortex-M33), real or emulated by QEMU: the CMSDK APB UART at ESN_FW_UART_BASE for the
 * serial link, SysTick for ticks.
 *
 * CMSDK APB UART (Arm CoreLink SDK-101 TRM, sec. 4.3): DATA 0x00, STATE 0x04 (bit 0 TX full,
 * bit 1 RX full), CTRL 0x08 (bit 0 TX enable, bit 1 RX enable), BAUDDIV 0x10 (>= 16). Polled:
 * the firmware has nothing else to do between requests. The one-byte RX buffer is enough under
 * QEMU (it stops delivering until the byte is read); on real hardware an overrun loses bytes,
 * which the protocol turns into a retry.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_port.h"

#ifndef ESN_FW_UART_BASE
#error "ESN_FW_UART_BASE must name the CMSDK UART (boards/<id>.toml, firmware.uart_base)"
#endif
#ifndef ESN_FW_UART_CLOCK_HZ
#define ESN_FW_UART_CLOCK_HZ 25000000u
#endif
#ifndef ESN_FW_BAUD
#define ESN_FW_BAUD 115200u
#endif

#define UART_DATA ESN_REG(ESN_FW_UART_BASE + 0x00u)
#define UART_STATE ESN_REG(ESN_FW_UART_BASE + 0x04u)
#define UART_CTRL ESN_REG(ESN_FW_UART_BASE + 0x08u)
#define UART_BAUDDIV ESN_REG(ESN_FW_UART_BASE + 0x10u)

void esn_fw_port_init(void)
{
    esn_cortex_m_init();
    UART_BAUDDIV = ESN_FW_UART_CLOCK_HZ / ESN_FW_BAUD;
    UART_CTRL = 3u; /* TX and RX enabled, no interrupts */
    esn_systick_init();
}

int esn_fw_port_getc(void)
{
    if (UART_STATE & 2u) {
        return (int)(UART_DATA & 0xFFu);
    }
    return -1;
}

void esn_fw_port_putc(uint8_t byte)
{
    while (UART_STATE & 1u) {
    }
    UART_DATA = byte;
}

void esn_fw_port_flush(void)
{
    while (UART_STATE & 1u) {
    }
}

uint64_t esn_fw_port_ticks(void)
{
    return esn_systick_ticks();
}
