/* esn_fw_frame.c: see esn_fw_frame.h. */
#include "esn_fw_frame.h"

static const uint32_t esn_fw_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t esn_fw_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    size_t i;
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ esn_fw_crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ esn_fw_crc_nibble[crc & 15u];
    }
    return ~crc;
}

size_t esn_fw_frame_build(uint8_t *buf, uint8_t type, uint16_t seq, const uint8_t *payload, uint16_t len)
{
    uint8_t *body = buf + ESN_FW_HDR_BYTES;
    uint32_t crc;
    size_t i;
    buf[0] = ESN_FW_PROTO_VERSION;
    buf[1] = type;
    buf[2] = (uint8_t)seq;
    buf[3] = (uint8_t)(seq >> 8);
    buf[4] = (uint8_t)len;
    buf[5] = (uint8_t)(len >> 8);
    if (payload != body) {
        for (i = 0; i < len; i++) {
            body[i] = payload[i];
        }
    }
    crc = esn_fw_crc32(0, buf, ESN_FW_HDR_BYTES + (size_t)len);
    body[len + 0] = (uint8_t)crc;
    body[len + 1] = (uint8_t)(crc >> 8);
    body[len + 2] = (uint8_t)(crc >> 16);
    body[len + 3] = (uint8_t)(crc >> 24);
    return ESN_FW_OVERHEAD_BYTES + (size_t)len;
}

void esn_fw_rx_init(esn_fw_rx *rx, uint8_t *buf, size_t cap)
{
    rx->buf = buf;
    rx->cap = cap;
    rx->n = 0;
    rx->left = 0;
    rx->zero = 0;
    rx->started = 0;
    rx->overflow = 0;
}

static void esn_fw_rx_put(esn_fw_rx *rx, uint8_t b)
{
    if (rx->n < rx->cap) {
        rx->buf[rx->n++] = b;
    } else {
        rx->overflow = 1;
    }
}

static esn_fw_rx_event esn_fw_rx_check(const esn_fw_rx *rx)
{
    const uint8_t *f = rx->buf;
    if (rx->overflow || rx->left != 0 || rx->n < ESN_FW_OVERHEAD_BYTES) {
        return ESN_FW_RX_BAD;
    }
    if ((size_t)esn_fw_frame_len(f) + ESN_FW_OVERHEAD_BYTES != rx->n) {
        return ESN_FW_RX_BAD;
    }
    if (esn_fw_crc32(0, f, rx->n - ESN_FW_CRC_BYTES) != esn_fw_frame_crc(f)) {
        return ESN_FW_RX_BAD;
    }
    return ESN_FW_RX_FRAME;
}

esn_fw_rx_event esn_fw_rx_feed(esn_fw_rx *rx, uint8_t byte)
{
    esn_fw_rx_event ev;
    if (byte == 0x00) { /* delimiter: a frame ends, or an empty gap between two delimiters */
        ev = rx->started ? esn_fw_rx_check(rx) : ESN_FW_RX_NONE;
        if (ev == ESN_FW_RX_FRAME) {
            /* keep rx->n (the frame length) for the caller; reset the rest */
            rx->left = 0;
            rx->zero = 0;
            rx->started = 0;
            rx->overflow = 0;
            return ev;
        }
        esn_fw_rx_init(rx, rx->buf, rx->cap);
        return ev;
    }
    if (!rx->started) { /* first byte after a delimiter: a new frame */
        rx->n = 0;
        rx->started = 1;
    }
    if (rx->left == 0) { /* a code byte: the previous block's implied zero becomes real */
        if (rx->zero) {
            esn_fw_rx_put(rx, 0x00);
        }
        rx->left = (uint8_t)(byte - 1u);
        rx->zero = (uint8_t)(byte != 0xFFu);
    } else {
        esn_fw_rx_put(rx, byte);
        rx->left--;
    }
    return ESN_FW_RX_NONE;
}

void esn_fw_cobs_send(const uint8_t *raw, size_t n, esn_fw_put_fn put, void *ctx)
{
    size_t i = 0, start, k;
    put(ctx, 0x00);
    for (;;) {
        start = i;
        while (i < n && raw[i] != 0x00 && i - start < 254u) {
            i++;
        }
        put(ctx, (uint8_t)(i - start + 1u));
        for (k = start; k < i; k++) {
            put(ctx, raw[k]);
        }
        if (i - start == 254u) { /* a full block carries no implied zero */
            if (i == n) {
                break;
            }
            continue;
        }
        if (i == n) {
            break;
        }
        i++; /* the zero this block's code stands for */
    }
    put(ctx, 0x00);
}
