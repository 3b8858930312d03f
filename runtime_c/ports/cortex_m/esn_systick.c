/*
 * esn_systick.c: SysTick as a 64-bit tick counter, for ports whose core has SysTick.
 *
 * SysTick is a 24-bit down-counter. Clocked from the processor clock (CLKSOURCE = 1) and reloaded
 * at 2^24 - 1, its IRQ counts wraps; a read combines the wrap count with the current value and
 * corrects for a wrap whose IRQ is pending but not yet taken. On a real board a tick is a core
 * cycle; under QEMU it is a tick of the machine's modelled system clock (see ports/README.md).
 */
#include <stdint.h>

#include "esn_cortex_m.h"

/* SysTick on the processor clock (CLKSOURCE = 1), reload 2^24 - 1, a wrap count in the IRQ. */
static volatile uint32_t s_systick_wraps;

void SysTick_Handler(void)
{
    s_systick_wraps++;
}

void esn_systick_init(void)
{
    ESN_SYST_RVR = 0xFFFFFFu;
    ESN_SYST_CVR = 0;
    ESN_SYST_CSR = 7u; /* CLKSOURCE | TICKINT | ENABLE */
}

uint64_t esn_systick_ticks(void)
{
    uint32_t w1, w2, v, pending;
    do {
        w1 = s_systick_wraps;
        v = ESN_SYST_CVR;
        pending = ESN_SCB_ICSR & (1u << 26); /* PENDSTSET: a wrap not yet counted */
        w2 = s_systick_wraps;
    } while (w1 != w2);
    if (pending && v > 0x7FFFFFu) {
        w1++; /* v was read after the reload, before the IRQ ran */
    }
    return ((uint64_t)w1 << 24) + (0xFFFFFFu - v);
}
