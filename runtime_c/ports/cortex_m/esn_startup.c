/*
 * esn_startup.c: vector table and reset handler for every Cortex-M port.
 *
 * Reset: enable the FPU (when built for one), arm the stack overflow trap (below), paint the
 * unused stack with ESN_STACK_PAINT (its high-water mark: esn_cortex_m_stack_used), copy .data,
 * zero .bss, point VTOR at the table, enable the configurable faults (MemManage, BusFault,
 * UsageFault, SecureFault) and the divide-by-zero trap so a fault names its cause, then call main.
 * Every exception and interrupt without a handler goes to the fault reporter (esn_fault.c).
 *
 * Stack overflow, per architecture (the stack is the first section of the data region, esn_fw.ld.in):
 * - ARMv8-M mainline (M33): MSPLIM = __stack_bottom. A push or SP update below it raises a UsageFault
 *   with CFSR.STKOF and writes nothing (Armv8-M ARM, "Stack limit checks").
 * - ARMv7-M (M4, M7): an MPU guard region, no access, of ESN_STACK_GUARD_BYTES just below
 *   __stack_bottom (Armv7-M ARM B3.5, "Protected Memory System Architecture, PMSAv7"; PRIVDEFENA keeps
 *   the default map everywhere else). The region's bottom alone does not do: QEMU 7.2's MPS2 machines
 *   decode 0x0101_0000-0x1FFF_FFFF as RAZ/WI "RESERVED" (`info mtree -f`), so an overflow there wrote
 *   nothing, read zeros and gave wrong answers with no fault; on silicon what lies below the SRAM
 *   differs per chip (STM32: system memory, option bytes). The first access to the guard is a
 *   MemManage fault (CFSR.DACCVIOL with MMFAR; MSTKERR when the exception entry's own stacking hits it),
 *   which ARMv7-M still takes: a stacking fault is a derived exception, not a lockup. The guard (4 KiB)
 *   is larger than any frame the firmware allocates (-fstack-usage: 1,912 B, esn_sched_init), so no
 *   write can skip it.
 * - ARMv6-M: the RP2040's M0+ has the optional MPU (same registers, regions of 256 B or more): the same
 *   guard; the nRF51's M0 has none, and nothing is mapped below its SRAM. Either way the first write
 *   below the stack faults. On silicon ARMv6-M then locks up: its only fault, HardFault, cannot stack
 *   its frame onto the overflowed stack (Armv6-M ARM, "Lockup"); the nRF51 resets (RESETREAS.LOCKUP),
 *   the RP2040 stops, and the host sees no answer. Never a wrong one. QEMU 7.2 does not model that
 *   lockup: it takes the HardFault, and the reporter (which does not read the unstacked frame) reports it.
 *
 * Symbols come from the linker script (esn_fw.ld.in): __stack_bottom/__stack_top,
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
 * (MSPLIM at its limit, or SP inside the MPU guard) can still be reported: the entry moves SP there
 * (and MSPLIM to its bottom) before any C code runs. */
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

/* Arms the MPU guard below the stack: MPU_TYPE, MPU_CTRL, MPU_RNR, MPU_RBAR, MPU_RASR of PMSAv7
 * (Armv7-M ARM B3.5; an ARMv6-M core with the optional MPU has the same registers, Armv6-M ARM B3.5).
 * MPU_TYPE.DREGION = 0: no MPU (nRF51). The guard is the highest-numbered region, which wins where
 * regions overlap, no access (RASR.AP = 000), execute-never; its size is a power of two aligned to
 * itself, so it shrinks to what __stack_bottom's alignment allows (every board's data region starts at
 * least 4 KiB aligned). HFNMIENA = 0: HardFault and NMI run with the MPU off; the reporter needs none. */
#if ESN_CM_PMSAV7
static void esn_stack_guard(void)
{
    uint32_t bottom = (uint32_t)(uintptr_t)__stack_bottom, size = ESN_STACK_GUARD_BYTES, regions, i;
    regions = (ESN_MPU_TYPE >> 8) & 0xFFu;
    if (regions == 0u || bottom == 0u) {
        return;
    }
    while (size > ESN_MPU_MIN_REGION && (bottom & (size - 1u)) != 0u) {
        size >>= 1;
    }
    if ((bottom & (size - 1u)) != 0u) {
        return; /* __stack_bottom (the data region's origin) too poorly aligned for any region */
    }
    ESN_MPU_CTRL = 0; /* off while its regions change */
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (i = 0; i + 1u < regions; i++) { /* regions a boot loader that ran first may have left on */
        ESN_MPU_RNR = i;
        ESN_MPU_RASR = 0;
    }
    ESN_MPU_RNR = regions - 1u;
    ESN_MPU_RBAR = bottom - size;
    ESN_MPU_RASR = (1u << 28) | ((uint32_t)(31 - __builtin_clz(size) - 1) << 1) | 1u; /* XN, SIZE, ENABLE */
    ESN_MPU_CTRL = (1u << 2) | 1u; /* PRIVDEFENA, ENABLE */
    __asm volatile("dsb\n\tisb" ::: "memory");
}
#endif

void Reset_Handler(void)
{
    uint32_t *src, *dst, *sp;
#if defined(__ARM_FP)
    ESN_SCB_CPACR |= (0xFu << 20); /* CP10, CP11: full access */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
#if defined(__ARM_ARCH_8M_MAIN__)
    __asm volatile("msr msplim, %0" : : "r"(__stack_bottom));
#elif ESN_CM_PMSAV7
    esn_stack_guard();
#endif
    /* Paint the stack below this frame (64 B spare) for the high-water mark and the red zone check. */
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (dst = __stack_bottom; dst < sp - 16;) {
        *dst++ = ESN_STACK_PAINT;
    }
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
