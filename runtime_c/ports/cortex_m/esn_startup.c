/*
 * esn_startup.c: vector table and reset handler for every Cortex-M port.
 *
 * Reset: enable the FPU (when built for one), set the stack limit (ARMv8-M mainline: a stack
 * overflow then faults instead of corrupting .data), copy .data, zero .bss, point VTOR at the
 * table, enable the configurable faults (MemManage, BusFault, UsageFault, SecureFault) and the
 * divide-by-zero trap so a fault names its cause, then call main. Every exception and interrupt
 * without a handler goes to the fault reporter (esn_fault.c), which names it.
 *
 * Symbols come from the linker script (esn_fw.ld.in): __stack_bottom/__stack_top (the .stack
 * section at the start of the data region, so an overflow runs off the region's bottom),
 * __data_load/__data_start/__data_end, __bss_start/__bss_end.
 */
#include <stdint.h>

#include "esn_cortex_m.h"
#include "esn_fw_port.h"
#include "esn_fw_proto.h"

extern uint32_t __stack_top[], __stack_bottom[];
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern int main(void);

void Reset_Handler(void);
void esn_fault_entry(void);
void esn_fw_fault_report(uint32_t *frame, uint32_t exc_return);
/* Ports that count ticks with SysTick define it (esn_systick.c); elsewhere it reports a fault. */
void SysTick_Handler(void) __attribute__((weak, alias("esn_fault_entry")));

/* The reporter runs on its own stack, so that a fault caused by an exhausted or corrupt main stack
 * (ARMv8-M: MSPLIM at its limit) can still be reported. */
#define ESN_FAULT_STACK_BYTES 640
uint64_t esn_fault_stack[ESN_FAULT_STACK_BYTES / 8];

/* Finds the stacked exception frame (MSP or PSP, from EXC_RETURN bit 2), moves to the fault stack
 * and hands both to the reporter (esn_fault.c). Thumb-1 only, so it runs on ARMv6-M too. */
__attribute__((naked)) void esn_fault_entry(void)
{
    __asm volatile(
        ".syntax unified\n\t"
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "b 2f\n"
        "1:\n\t"
        "mrs r0, msp\n"
        "2:\n\t"
        "mov r1, lr\n\t"
#if defined(__ARM_ARCH_8M_MAIN__)
        "ldr r2, =esn_fault_stack\n\t"
        "msr msplim, r2\n\t"
#endif
        "ldr r2, =esn_fault_stack + %c0\n\t"
        "mov sp, r2\n\t"
        "ldr r2, =esn_fw_fault_report\n\t"
        "bx r2\n\t"
        ".ltorg\n"
        :
        : "i"(ESN_FAULT_STACK_BYTES));
}

#define ESN_IRQ_COUNT 48

typedef void (*esn_vector)(void);

__attribute__((section(".vectors"), used)) const esn_vector esn_vectors[16 + ESN_IRQ_COUNT] = {
    [0] = (esn_vector)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2] = esn_fault_entry,  /* NMI */
    [3] = esn_fault_entry,  /* HardFault */
    [4] = esn_fault_entry,  /* MemManage */
    [5] = esn_fault_entry,  /* BusFault */
    [6] = esn_fault_entry,  /* UsageFault */
    [7] = esn_fault_entry,  /* SecureFault (ARMv8-M) */
    [11] = esn_fault_entry, /* SVCall */
    [12] = esn_fault_entry, /* DebugMonitor */
    [14] = esn_fault_entry, /* PendSV */
    [15] = SysTick_Handler,
    [16 ... 16 + ESN_IRQ_COUNT - 1] = esn_fault_entry,
};

void Reset_Handler(void)
{
    uint32_t *src, *dst;
#if defined(__ARM_FP)
    ESN_SCB_CPACR |= (0xFu << 20); /* CP10, CP11: full access */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
#if defined(__ARM_ARCH_8M_MAIN__)
    __asm volatile("msr msplim, %0" : : "r"(__stack_bottom));
#endif
    for (src = __data_load, dst = __data_start; dst < __data_end;) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end;) {
        *dst++ = 0;
    }
#if ESN_CM_MAINLINE
    ESN_SCB_VTOR = (uint32_t)(uintptr_t)esn_vectors;
    ESN_SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18)
#if defined(__ARM_ARCH_8M_MAIN__)
                     | (1u << 19)
#endif
        ;
    ESN_SCB_CCR |= (1u << 4); /* DIV_0_TRP */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    (void)main();
    esn_fw_port_exit(ESN_FW_EXIT_ERROR);
}
