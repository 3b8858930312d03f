/*
 * Host port: a monotonic nanosecond clock as the "cycle" counter (POSIX clock_gettime; 0 where
 * it is unavailable) and log lines on stderr when the environment sets ESN_LOG (so that a Python
 * process using the runtime through cffi stays quiet unless asked).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 199309L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 199309L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "esn/esn_port.h"

void esn_port_init(void) {}

uint32_t esn_port_cycles(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0u;
    }
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
#else
    return 0u;
#endif
}

void esn_port_log(const char *msg)
{
    if (getenv("ESN_LOG") != NULL) {
        fprintf(stderr, "esn: %s\n", msg);
    }
}
