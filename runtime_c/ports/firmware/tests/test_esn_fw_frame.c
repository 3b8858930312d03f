/*
 * test_esn_fw_frame.c: host test of the frame code (esn_fw_frame.c), built with the host gcc.
 *
 *   test_esn_fw_frame selftest   built-in vectors; prints ~~~ALL TESTS PASSED~~~
 *   test_esn_fw_frame            a line protocol on stdin for tests/device/test_protocol_c.py, which
 *                                compares every answer with the Python implementation:
 *     C <hex>                    -> CRC-32 of the bytes, 8 hex digits
 *     E <type> <seq> <hex>       -> the frame on the wire (0x00 COBS 0x00), hex
 *     D <cap> <hex>              -> feed the bytes to a decoder with a cap-byte buffer; one line per
 *                                   event: "F <frame hex>" or "B", then "."
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esn_fw_frame.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (s[0] && s[1] && hexval(s[0]) >= 0 && hexval(s[1]) >= 0 && n < cap) {
        out[n++] = (uint8_t)(hexval(s[0]) * 16 + hexval(s[1]));
        s += 2;
    }
    return n;
}

static void puthex(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) printf("%02x", p[i]);
}

typedef struct { uint8_t *buf; size_t n, cap; } sink;

static void sink_put(void *ctx, uint8_t b)
{
    sink *s = (sink *)ctx;
    if (s->n < s->cap) s->buf[s->n++] = b;
}

static int failures;
#define CHECK(cond) do { if (!(cond)) { printf("FAIL %s:%d %s\n", __FILE__, __LINE__, #cond); failures++; } } while (0)

static int selftest(void)
{
    static const uint8_t digits[] = "123456789";
    uint8_t raw[64], wire[80], dec[64];
    sink s = {wire, 0, sizeof wire};
    esn_fw_rx rx;
    size_t n, i, frames = 0;
    CHECK(esn_fw_crc32(0, digits, 9) == 0xCBF43926u);
    CHECK(esn_fw_crc32(esn_fw_crc32(0, digits, 4), digits + 4, 5) == 0xCBF43926u);
    n = esn_fw_frame_build(raw, 0x02, 0x1234, (const uint8_t *)"a\0b", 3);
    CHECK(n == 13 && raw[0] == ESN_FW_PROTO_VERSION && raw[1] == 2 && raw[2] == 0x34 && raw[3] == 0x12 && raw[4] == 3);
    esn_fw_cobs_send(raw, n, sink_put, &s);
    CHECK(s.n >= n + 2 && wire[0] == 0 && wire[s.n - 1] == 0);
    for (i = 1; i + 1 < s.n; i++) CHECK(wire[i] != 0);
    esn_fw_rx_init(&rx, dec, sizeof dec);
    for (i = 0; i < s.n; i++) {
        esn_fw_rx_event ev = esn_fw_rx_feed(&rx, wire[i]);
        if (ev == ESN_FW_RX_FRAME) {
            frames++;
            CHECK(rx.n == n && memcmp(dec, raw, n) == 0);
            CHECK(esn_fw_frame_seq(dec) == 0x1234 && esn_fw_frame_len(dec) == 3);
        }
        CHECK(ev != ESN_FW_RX_BAD);
    }
    CHECK(frames == 1);
    /* one flipped byte: BAD, never a frame */
    wire[5] ^= 0x40;
    frames = 0;
    for (i = 0; i < s.n; i++) {
        esn_fw_rx_event ev = esn_fw_rx_feed(&rx, wire[i]);
        frames += ev == ESN_FW_RX_FRAME;
    }
    CHECK(frames == 0);
    if (failures == 0) printf("~~~ALL TESTS PASSED~~~\n");
    return failures != 0;
}

int main(int argc, char **argv)
{
    static char line[65536];
    static uint8_t a[32768], b[40000];
    if (argc > 1 && strcmp(argv[1], "selftest") == 0) return selftest();
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'C') {
            size_t n = unhex(line + 2, a, sizeof a);
            printf("%08x\n", (unsigned)esn_fw_crc32(0, a, n));
        } else if (line[0] == 'E') {
            unsigned type, seq;
            char hex[65536] = "";
            size_t n, raw_n;
            sink s = {b, 0, sizeof b};
            if (sscanf(line + 2, "%u %u %65535s", &type, &seq, hex) < 2) return 2;
            n = unhex(hex, a + ESN_FW_HDR_BYTES, sizeof a - 16);
            raw_n = esn_fw_frame_build(a, (uint8_t)type, (uint16_t)seq, a + ESN_FW_HDR_BYTES, (uint16_t)n);
            esn_fw_cobs_send(a, raw_n, sink_put, &s);
            puthex(b, s.n);
            printf("\n");
        } else if (line[0] == 'D') {
            char *end;
            size_t cap = strtoul(line + 2, &end, 10), n, i;
            uint8_t *buf = malloc(cap ? cap : 1);
            esn_fw_rx rx;
            n = unhex(end + 1, a, sizeof a);
            esn_fw_rx_init(&rx, buf, cap);
            for (i = 0; i < n; i++) {
                esn_fw_rx_event ev = esn_fw_rx_feed(&rx, a[i]);
                if (ev == ESN_FW_RX_FRAME) {
                    printf("F ");
                    puthex(buf, rx.n);
                    printf("\n");
                } else if (ev == ESN_FW_RX_BAD) {
                    printf("B\n");
                }
            }
            printf(".\n");
            free(buf);
        }
        fflush(stdout);
    }
    return 0;
}
