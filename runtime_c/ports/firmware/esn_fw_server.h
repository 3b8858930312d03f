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

/** Writes v in decimal as raw text. */
void esn_fw_put_dec(uint32_t v);

/**
 * The clock line: what the port's clock set-up brought up, first word "rated" or "fallback" (a clock did not come
 * up in its bounded wait), e.g. "fallback sysclk_hz=16000000 source=hsi ... error=hse-not-ready".
 * A port whose set-up can fall back to another clock builds it in esn_fw_port_init (esn_fw_clock_add, _add_dec)
 * and prints it once (esn_fw_clock_report: an "ESN-CLOCK ..." text line ended by 0x00, before the ready line);
 * HELLO carries it too, so a host that connects later still learns which clock runs. Empty: the port says nothing.
 */
void esn_fw_clock_add(const char *s);
void esn_fw_clock_add_dec(uint32_t v);
void esn_fw_clock_report(void);

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
