/*
 * esn_fw_config.h: compile-time settings of the firmware. edgesnn/device/firmware.py sets each
 * from the board file (boards/<id>.toml, [firmware] table) with -D; the defaults suit a host build.
 */
#ifndef ESN_FW_CONFIG_H
#define ESN_FW_CONFIG_H

#ifndef ESN_FW_VERSION
#define ESN_FW_VERSION "0.0.0"
#endif
#ifndef ESN_FW_BOARD
#define ESN_FW_BOARD "unknown"
#endif
/* Largest request or response payload; both frame buffers hold this plus 10 bytes. */
#ifndef ESN_FW_MAX_PAYLOAD
#define ESN_FW_MAX_PAYLOAD 256
#endif
/* The runtime's arena, in the board's arena region (section .arena). */
#ifndef ESN_FW_ARENA_BYTES
#define ESN_FW_ARENA_BYTES 8
#endif
#ifndef ESN_FW_TICK_HZ
#define ESN_FW_TICK_HZ 0
#endif
#ifndef ESN_FW_TICK_SOURCE
#define ESN_FW_TICK_SOURCE "none"
#endif
/* 1: exit through semihosting (QEMU). Never on a real board without a debugger: BKPT would fault. */
#ifndef ESN_FW_SEMIHOSTING
#define ESN_FW_SEMIHOSTING 0
#endif
/* Test builds only: fault on the second ECHO (the first succeeds, so a test sees a working link). 1 = undefined instruction, 2 = read of an unmapped
 * address (ESN_FW_FAULT_ADDR), 3 = integer division by zero (trapped on ARMv7-M and later),
 * 4 = stack overflow: pushes until the stack runs out (MSPLIM on ARMv8-M mainline, the MPU guard on
 * ARMv7-M, unmapped memory on the nRF51; runtime_c/ports/cortex_m/esn_startup.c). */
#ifndef ESN_FW_SELFTEST_FAULT
#define ESN_FW_SELFTEST_FAULT 0
#endif
#ifndef ESN_FW_FAULT_ADDR
#define ESN_FW_FAULT_ADDR 0xF0000000u
#endif

#if ESN_FW_MAX_PAYLOAD < 64 || ESN_FW_MAX_PAYLOAD > 4096
#error "ESN_FW_MAX_PAYLOAD must lie in [64, 4096]"
#endif
#if ESN_FW_ARENA_BYTES < 8 || (ESN_FW_ARENA_BYTES % 8) != 0
#error "ESN_FW_ARENA_BYTES must be a positive multiple of 8"
#endif

#include "esn_fw_proto.h"
#define ESN_FW_FRAME_MAX (ESN_FW_MAX_PAYLOAD + ESN_FW_OVERHEAD_BYTES)
#define ESN_FW_STR_(x) #x
#define ESN_FW_STR(x) ESN_FW_STR_(x)

#endif /* ESN_FW_CONFIG_H */
