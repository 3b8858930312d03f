/*
 * esn_cortex_m.h: the few Cortex-M system registers the firmware touches, and the shared pieces
 * every Cortex-M port links (startup, fault reporting, semihosting, SysTick ticks).
 * Addresses from the ARMv6-M / ARMv7-M / ARMv8-M Architecture Reference Manuals (System Control
 * Space); no CMSIS dependency.
 */
#ifndef ESN_CORTEX_M_H
#define ESN_CORTEX_M_H

#include <stdint.h>

#define ESN_REG(addr) (*(volatile uint32_t *)(addr))

#define ESN_SYST_CSR ESN_REG(0xE000E010u)
#define ESN_SYST_RVR ESN_REG(0xE000E014u)
#define ESN_SYST_CVR ESN_REG(0xE000E018u)
#define ESN_SCB_ICSR ESN_REG(0xE000ED04u)
#define ESN_SCB_VTOR ESN_REG(0xE000ED08u)
#define ESN_SCB_AIRCR ESN_REG(0xE000ED0Cu)
#define ESN_SCB_CCR ESN_REG(0xE000ED14u)
#define ESN_SCB_SHCSR ESN_REG(0xE000ED24u)
#define ESN_SCB_CFSR ESN_REG(0xE000ED28u)
#define ESN_SCB_HFSR ESN_REG(0xE000ED2Cu)
#define ESN_SCB_MMFAR ESN_REG(0xE000ED34u)
#define ESN_SCB_BFAR ESN_REG(0xE000ED38u)
#define ESN_SCB_CPACR ESN_REG(0xE000ED88u)
#define ESN_DEMCR ESN_REG(0xE000EDFCu)
#define ESN_MPU_TYPE ESN_REG(0xE000ED90u) /* PMSAv7/PMSAv6: Armv7-M ARM B3.5.5, Armv6-M ARM B3.5 */
#define ESN_MPU_CTRL ESN_REG(0xE000ED94u)
#define ESN_MPU_RNR ESN_REG(0xE000ED98u)
#define ESN_MPU_RBAR ESN_REG(0xE000ED9Cu)
#define ESN_MPU_RASR ESN_REG(0xE000EDA0u)
#define ESN_DWT_CTRL ESN_REG(0xE0001000u)
#define ESN_DWT_CYCCNT ESN_REG(0xE0001004u)

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__)
#define ESN_CM_MAINLINE 1 /* has VTOR, configurable faults, CFSR/HFSR, DWT */
#else
#define ESN_CM_MAINLINE 0
#endif

/* The cores whose MPU (when present) has the PMSAv7 register layout: ARMv7-M and ARMv6-M. */
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_6M__)
#define ESN_CM_PMSAV7 1
#else
#define ESN_CM_PMSAV7 0
#endif

/* Stack overflow trap (esn_startup.c): the MPU guard below the stack. It must be larger than the
 * largest single stack allocation of the firmware, so that no write can jump over it: measured with
 * -fstack-usage, esn_sched_init's 1,912 B frame (runtime_c/src/esn_schedule.c, ESN_MAX_NODES 64) on
 * Cortex-M4. Any power of two from 32 B (ARMv6-M: 256 B) aligned to itself. */
#ifndef ESN_STACK_GUARD_BYTES
#define ESN_STACK_GUARD_BYTES 4096u
#endif
#define ESN_MPU_MIN_REGION (ESN_CM_MAINLINE ? 32u : 256u)

/* The fault reporter's own stack (esn_startup.c: esn_fault_stack). */
#define ESN_FAULT_STACK_BYTES 640

/* The word the unused stack is painted with at reset (esn_cortex_m_stack_used). */
#define ESN_STACK_PAINT 0x5AC3A55Cu

/** Bytes of the main stack ever used since reset: its size less the painted words still intact at
 * its bottom (a lower bound: a frame that skipped words leaves them painted). */
uint32_t esn_cortex_m_stack_used(void);

/** Writes v in decimal on the serial link (esn_fault.c). */

/** Enables the DWT cycle counter where there is one. */
void esn_cortex_m_init(void);

/** SysTick as a 64-bit counter on the processor clock: 24-bit hardware, wraps counted in its IRQ. */
void esn_systick_init(void);
uint64_t esn_systick_ticks(void);

/** Semihosting SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit and the code. */
void esn_semihost_exit(int code);

/** What esn_port_cycles() counts (after esn_port_init): 1 DWT CYCCNT core cycles, 2 ticks at
 * ESN_FW_TICK_HZ (QEMU, ARMv6-M): under QEMU -icount shift=0 one tick is 1e9 / ESN_FW_TICK_HZ
 * executed instructions. */
uint8_t esn_port_cycle_source(void);

#endif /* ESN_CORTEX_M_H */
