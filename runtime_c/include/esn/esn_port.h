/*
 * esn_port.h: the few hooks a board supplies (ports/<board>/esn_port.c).
 *
 * The runtime calls nothing else outside itself: no heap, no stdio. A port that has no cycle
 * counter returns 0 from esn_port_cycles(); the cycle counters then read 0.
 */
#ifndef ESN_PORT_H
#define ESN_PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One-time board set-up (clocks, cycle counter, serial). Called by the application, not the runtime. */
void esn_port_init(void);

/**
 * A free-running cycle counter (DWT->CYCCNT on Cortex-M; a nanosecond clock on the host).
 * @return the counter's current value; differences are taken modulo 2^32.
 */
uint32_t esn_port_cycles(void);

/**
 * Writes one NUL-terminated log line. Never called when ESN_STRIP_LOG is defined.
 * @param[in] msg  the message, without a trailing newline.
 */
void esn_port_log(const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* ESN_PORT_H */
