/*
 * esn_port.c: the C runtime's port hooks (include/esn/esn_port.h) for every Cortex-M board, on top
 * of the firmware's own (firmware/esn_fw_port.h). Linked only into firmware that carries the
 * runtime (edgesnn/device/firmware.py, ext_sources with the runtime integration).
 *
 * Cycles: the DWT cycle counter where the core has one and it counts; otherwise (ARMv6-M, and
 * QEMU, which does not model the DWT) the low 32 bits of the tick counter, whose unit is then
 * 1e9 / ESN_FW_TICK_HZ instructions under QEMU -icount shift=0 (see ports/README.md).
 * Log lines go to the host as LOG frames (at most 64 bytes each).
 */
#include <stdint.h>

#include "esn/esn_port.h"
#include "esn_cortex_m.h"
#include "esn_fw_port.h"
#include "esn_fw_proto.h"
#include "esn_fw_server.h"

static uint8_t s_use_dwt;

void esn_port_init(void)
{
    uint32_t a = esn_fw_port_cycles();
    volatile uint32_t spin;
    for (spin = 0; spin < 16u; spin++) {
    }
    s_use_dwt = esn_fw_port_cycles() != a; /* the DWT exists and counts */
}

uint8_t esn_port_cycle_source(void)
{
    return s_use_dwt ? 1u : 2u; /* 1: DWT CYCCNT (core cycles), 2: the tick counter (ESN_FW_TICK_HZ) */
}

uint32_t esn_port_cycles(void)
{
    return s_use_dwt ? esn_fw_port_cycles() : (uint32_t)esn_fw_port_ticks();
}

void esn_port_log(const char *msg)
{
    uint16_t n = 0;
    while (msg[n] && n < 64u) {
        n++;
    }
    esn_fw_send_frame(ESN_FW_T_LOG, (const uint8_t *)msg, n);
}
