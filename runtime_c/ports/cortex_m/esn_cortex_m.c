/*
 * esn_cortex_m.c: the port hooks every Cortex-M shares: DWT cycles, reset, exit, the calibrated
 * spin loop and the self-test faults. A port adds its UART and its tick counter.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_port.h"
#include "esn_fw_server.h"

extern uint32_t __stack_bottom[], __stack_top[];

uint32_t esn_cortex_m_stack_used(void)
{
    const uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == ESN_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

void esn_cortex_m_init(void)
{
#if ESN_CM_MAINLINE
    ESN_DEMCR |= (1u << 24); /* TRCENA */
    ESN_DWT_CYCCNT = 0;
    ESN_DWT_CTRL |= 1u; /* CYCCNTENA */
#endif
}

uint32_t esn_fw_port_cycles(void)
{
#if ESN_CM_MAINLINE
    return ESN_DWT_CYCCNT;
#else
    return 0;
#endif
}

void esn_fw_port_reset(void)
{
    __asm volatile("dsb" ::: "memory");
    ESN_SCB_AIRCR = (0x05FAu << 16) | (1u << 2); /* VECTKEY, SYSRESETREQ */
    __asm volatile("dsb" ::: "memory");
    for (;;) {
    }
}

/* Before stopping, one text line with the stack's high-water mark (how board.py's minimum stack_bytes
 * was measured): ESN-STACK used=<bytes> stack_bytes=<size>. */
void esn_fw_port_exit(int code)
{
    esn_fw_puts("\r\nESN-STACK stack_used=");
    esn_fw_put_dec(esn_cortex_m_stack_used());
    esn_fw_puts(" stack_bytes=");
    esn_fw_put_dec((uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom));
    esn_fw_puts("\r\n");
    esn_fw_port_putc(0x00); /* ends the text for the host's reader, as after the ready line */
    esn_fw_port_flush();
#if ESN_FW_SEMIHOSTING
    esn_semihost_exit(code);
#else
    (void)code;
#endif
    for (;;) {
        __asm volatile("wfi");
    }
}

void esn_semihost_exit(int code)
{
    uint32_t block[2];
    register uint32_t r0 __asm__("r0") = 0x20u; /* SYS_EXIT_EXTENDED */
    register uint32_t *r1 __asm__("r1") = block;
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

__attribute__((noinline)) void esn_fw_port_spin(uint32_t n)
{
    __asm volatile(
        ".syntax unified\n" /* GCC wraps Thumb-1 inline asm in divided syntax */
        "1:\n\t"
        "subs %0, %0, #1\n\t"
        "bne 1b\n"
        : "+l"(n)
        :
        : "cc");
}

__attribute__((noinline)) void esn_fw_selftest_fault(int kind)
{
    if (kind == 2) {
        volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)ESN_FW_FAULT_ADDR;
        (void)*p;
    } else if (kind == 3) {
        volatile uint32_t a = 1, b = 0;
        a = a / b;
        (void)a;
    } else if (kind == 4) { /* stack overflow: push until the stack runs into the guard, MSPLIM or unmapped memory */
        __asm volatile(".syntax unified\n"
                       "1:\n\t"
                       "push {r0-r7}\n\t"
                       "b 1b\n" ::: "memory");
    }
    __asm volatile("udf #0");
    for (;;) {
    }
}
