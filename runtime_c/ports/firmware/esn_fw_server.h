/*
 * esn_fw_server.h: the protocol server (see esn_fw_proto.h for the wire format).
 */
#ifndef ESN_FW_SERVER_H
#define ESN_FW_SERVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Prints the ready line and readies the decoder. */
void esn_fw_server_start(void);

/** Reads every waiting byte and answers every complete request. Never blocks. */
void esn_fw_server_poll(void);

/** Sends an unsolicited frame (LOG, NAK, FAULT) with seq 0xFFFF; usable from a fault handler. */
void esn_fw_send_frame(uint8_t type, const uint8_t *payload, uint16_t len);

/** Writes a NUL-terminated string to the serial link as raw text (outside any frame). */
void esn_fw_puts(const char *s);

/** The arena handed to the extension (8-byte aligned, ESN_FW_ARENA_BYTES). */
extern uint8_t esn_fw_arena[];

/** Test builds (ESN_FW_SELFTEST_FAULT): provokes the configured fault. Defined by the port. */
void esn_fw_selftest_fault(int kind);

/** Runs a loop of exactly two instructions per iteration, n >= 1 times. Defined by the port. */
void esn_fw_port_spin(uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* ESN_FW_SERVER_H */
