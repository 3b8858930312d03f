/*
 * esn_fw_port.h: what a board port supplies to the firmware (runtime_c/ports/<port>/).
 *
 * Six hooks: set-up, byte I/O on the serial link, a 64-bit tick counter, reset and exit. The
 * runtime's own hooks (include/esn/esn_port.h: esn_port_cycles, esn_port_log) are written on top
 * of these when the runtime is linked in (see esn_fw_ext.h).
 */
#ifndef ESN_FW_PORT_H
#define ESN_FW_PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Clocks, the serial link, the tick counter. Called once from main before anything else. */
void esn_fw_port_init(void);

/** @return the next received byte [0, 255], or -1 when none is waiting. Never blocks. */
int esn_fw_port_getc(void);

/** Sends one byte; blocks while the transmitter is full. */
void esn_fw_port_putc(uint8_t byte);

/** Returns when every byte handed to esn_fw_port_putc has left the transmitter. */
void esn_fw_port_flush(void);

/**
 * A monotonic 64-bit tick counter at ESN_FW_TICK_HZ (SysTick on the processor clock, or a
 * board timer). Under QEMU with -icount it counts executed instructions (see ports/README.md).
 */
uint64_t esn_fw_port_ticks(void);

/** The DWT cycle counter where the core has one (ARMv7-M and later), else 0. QEMU reads 0. */
uint32_t esn_fw_port_cycles(void);

/** System reset (SCB->AIRCR SYSRESETREQ); does not return. */
void esn_fw_port_reset(void);

/**
 * Ends the firmware with an exit code: semihosting SYS_EXIT_EXTENDED where ESN_FW_SEMIHOSTING is
 * set (QEMU), else parks the core. Does not return.
 */
void esn_fw_port_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* ESN_FW_PORT_H */
