/*
 * esn_fw_frame.h: framing of the serial protocol (esn_fw_proto.h): CRC-32, frame build and
 * check, and COBS encoding and streaming decoding.
 *
 * Portable C99 with no libc; the same file runs in the firmware and in the host unit tests
 * (tests/device/test_protocol_c.py compiles it with the host gcc through cffi).
 *
 * The decoder is a byte-at-a-time state machine so the firmware needs one buffer of the largest
 * decoded frame and no second copy. It never reads or writes outside that buffer whatever bytes
 * arrive: an over-long frame is marked and discarded at the next delimiter.
 */
#ifndef ESN_FW_FRAME_H
#define ESN_FW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "esn_fw_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * CRC-32 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF: zlib.crc32).
 * A 16-entry table, two lookups per byte: 64 bytes of flash instead of 1 KiB, ~4x slower than
 * a byte table, which is fine at serial rates.
 * @param[in] crc  running value, 0 to start; chain calls to cover split buffers.
 * @param[in] p    bytes [n]
 * @return the updated CRC.
 */
uint32_t esn_fw_crc32(uint32_t crc, const uint8_t *p, size_t n);

/**
 * Lays out one frame (header, payload, CRC) in buf.
 * @param[out] buf  at least ESN_FW_OVERHEAD_BYTES + len bytes; payload may already sit at
 *                  buf + ESN_FW_HDR_BYTES (then it is not copied).
 * @return the frame length, ESN_FW_OVERHEAD_BYTES + len.
 */
size_t esn_fw_frame_build(uint8_t *buf, uint8_t type, uint16_t seq, const uint8_t *payload, uint16_t len);

/** Result of feeding one byte to the decoder. */
typedef enum esn_fw_rx_event {
    ESN_FW_RX_NONE = 0, /* nothing complete yet */
    ESN_FW_RX_FRAME,    /* a frame passed its length and CRC checks: rx->buf[0 .. rx->n) */
    ESN_FW_RX_BAD       /* a frame ended that was truncated, too long, or failed its checks */
} esn_fw_rx_event;

/** Streaming COBS decoder state; initialise with esn_fw_rx_init(). */
typedef struct esn_fw_rx {
    uint8_t *buf;     /* decoded bytes of the frame in progress */
    size_t cap;       /* size of buf */
    size_t n;         /* decoded bytes so far; after ESN_FW_RX_FRAME, the frame length */
    uint8_t left;     /* data bytes left in the current COBS block */
    uint8_t zero;     /* the current block ends with an implied 0x00 (code < 0xFF) */
    uint8_t started;  /* any byte seen since the last delimiter */
    uint8_t overflow; /* the frame outgrew buf: discard at the delimiter */
} esn_fw_rx;

void esn_fw_rx_init(esn_fw_rx *rx, uint8_t *buf, size_t cap);

/** Feeds one received byte. After ESN_FW_RX_FRAME the frame stays in rx->buf until the next feed. */
esn_fw_rx_event esn_fw_rx_feed(esn_fw_rx *rx, uint8_t byte);

/** Header fields of a checked frame. */
static inline uint8_t esn_fw_frame_version(const uint8_t *f) { return f[0]; }
static inline uint8_t esn_fw_frame_type(const uint8_t *f) { return f[1]; }
static inline uint16_t esn_fw_frame_seq(const uint8_t *f) { return (uint16_t)(f[2] | (f[3] << 8)); }
static inline uint16_t esn_fw_frame_len(const uint8_t *f) { return (uint16_t)(f[4] | (f[5] << 8)); }
static inline uint32_t esn_fw_frame_crc(const uint8_t *f)
{
    const uint8_t *c = f + ESN_FW_HDR_BYTES + esn_fw_frame_len(f);
    return (uint32_t)c[0] | ((uint32_t)c[1] << 8) | ((uint32_t)c[2] << 16) | ((uint32_t)c[3] << 24);
}

/** Byte sink for the encoder (the UART on the device, a buffer in the tests). */
typedef void (*esn_fw_put_fn)(void *ctx, uint8_t byte);

/**
 * Sends raw[0 .. n) as one delimited frame: 0x00, COBS(raw), 0x00. Streams: no second buffer.
 * Output length: n + 2 + ceil(n / 254) bytes at most.
 */
void esn_fw_cobs_send(const uint8_t *raw, size_t n, esn_fw_put_fn put, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* ESN_FW_FRAME_H */
