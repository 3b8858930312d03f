/*
 * esn_fw_server.c: the firmware's protocol server.
 *
 * One request at a time: decode bytes into the rx buffer; on a checked frame execute the request
 * and build the response in the tx buffer, which is kept so that a retransmitted request (same
 * seq and CRC) is answered again without being executed twice. Damaged frames get a NAK.
 */
#include "esn_fw_server.h"

#include "esn_fw_config.h"
#include "esn_fw_ext.h"
#include "esn_fw_frame.h"
#include "esn_fw_port.h"

uint8_t esn_fw_arena[ESN_FW_ARENA_BYTES] __attribute__((section(".arena"), aligned(8)));

static uint8_t s_rx_buf[ESN_FW_FRAME_MAX] __attribute__((aligned(4)));
static uint8_t s_tx_buf[ESN_FW_FRAME_MAX] __attribute__((aligned(4)));
static size_t s_tx_len;
static esn_fw_rx s_rx;
static uint16_t s_last_seq;
static uint32_t s_last_crc;
static uint8_t s_have_last;
static uint8_t s_echo_seen;

static void esn_fw_put_uart(void *ctx, uint8_t b)
{
    (void)ctx;
    esn_fw_port_putc(b);
}

void esn_fw_puts(const char *s)
{
    while (*s) {
        esn_fw_port_putc((uint8_t)*s++);
    }
}

/* v in decimal, NUL-terminated, at the end of b[11]; returns its first digit. */
static const char *esn_fw_dec(uint32_t v, char *b)
{
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v && i > 0);
    return &b[i];
}

void esn_fw_put_dec(uint32_t v)
{
    char b[11];
    esn_fw_puts(esn_fw_dec(v, b));
}

static char s_clock[128]; /* the clock line; truncated, never overrun */
static uint8_t s_clock_len;

void esn_fw_clock_add(const char *s)
{
    while (*s && s_clock_len < sizeof s_clock - 1u) {
        s_clock[s_clock_len++] = *s++;
    }
    s_clock[s_clock_len] = 0;
}

void esn_fw_clock_add_dec(uint32_t v)
{
    char b[11];
    esn_fw_clock_add(esn_fw_dec(v, b));
}

void esn_fw_clock_report(void)
{
    esn_fw_puts("\r\nESN-CLOCK ");
    esn_fw_puts(s_clock);
    esn_fw_puts("\r\n");
    esn_fw_port_putc(0x00);
}

void esn_fw_send_frame(uint8_t type, const uint8_t *payload, uint16_t len)
{
    uint8_t f[ESN_FW_OVERHEAD_BYTES + 64];
    size_t n;
    if (len > 64) {
        len = 64;
    }
    n = esn_fw_frame_build(f, type, ESN_FW_SEQ_NONE, payload, len);
    esn_fw_cobs_send(f, n, esn_fw_put_uart, 0);
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, (uint16_t)v);
    put_u16(p + 2, (uint16_t)(v >> 16));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Appends a length-prefixed string (u8 length, at most 255 bytes); returns the new end. */
static uint16_t put_str(uint8_t *out, uint16_t at, uint16_t cap, const char *s)
{
    uint16_t n = 0;
    if (at >= cap) {
        return at; /* no room even for the length byte: the string is left out */
    }
    while (s[n] && n < 255 && at + 1u + n < cap) {
        out[at + 1u + n] = (uint8_t)s[n];
        n++;
    }
    out[at] = (uint8_t)n;
    return (uint16_t)(at + 1u + n);
}

static uint16_t put_text(uint8_t *out, uint16_t cap, const char *s)
{
    uint16_t n = 0;
    while (s[n] && n < cap) {
        out[n] = (uint8_t)s[n];
        n++;
    }
    return n;
}

static int do_hello(const esn_fw_req *r)
{
    uint8_t *o = r->out;
    uint32_t caps = ESN_FW_CAP_ECHO | ESN_FW_CAP_COUNTER | ESN_FW_CAP_RESET | ESN_FW_CAP_SPIN;
    uint16_t n;
#if ESN_FW_SEMIHOSTING
    caps |= ESN_FW_CAP_EXIT;
#endif
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__)
    caps |= ESN_FW_CAP_DWT;
#endif
    caps |= esn_fw_ext_caps();
    if (r->in_len < 1) {
        *r->out_len = put_text(o, r->out_cap, "HELLO needs the host's protocol version");
        return ESN_FW_ST_BAD_REQUEST;
    }
    o[0] = ESN_FW_PROTO_VERSION;
    o[1] = ESN_FW_PROTO_MIN_VERSION;
    put_u16(o + 2, ESN_FW_MAX_PAYLOAD);
    put_u32(o + 4, caps);
    put_u32(o + 8, ESN_FW_ARENA_BYTES);
    put_u32(o + 12, ESN_FW_TICK_HZ);
    n = put_str(o, 16, r->out_cap, ESN_FW_VERSION);
    n = put_str(o, n, r->out_cap, esn_fw_ext_runtime_version());
    n = put_str(o, n, r->out_cap, ESN_FW_BOARD);
    n = put_str(o, n, r->out_cap, ESN_FW_TICK_SOURCE);
    n = put_str(o, n, r->out_cap, s_clock);
    *r->out_len = n;
    return ESN_FW_ST_OK;
}

static int do_echo(const esn_fw_req *r)
{
    uint16_t i;
#if ESN_FW_SELFTEST_FAULT
    if (s_echo_seen) {
        esn_fw_selftest_fault(ESN_FW_SELFTEST_FAULT);
    }
#endif
    s_echo_seen = 1;
    for (i = 0; i < r->in_len; i++) {
        r->out[i] = r->in[i];
    }
    *r->out_len = r->in_len;
    return ESN_FW_ST_OK;
}

static int do_counter(const esn_fw_req *r)
{
    uint32_t flags = 0;
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__)
    flags |= 1u;
#endif
    put_u64(r->out, esn_fw_port_ticks());
    put_u32(r->out + 8, ESN_FW_TICK_HZ);
    put_u32(r->out + 12, esn_fw_port_cycles());
    put_u32(r->out + 16, flags);
    *r->out_len = 20;
    return ESN_FW_ST_OK;
}

static int do_spin(const esn_fw_req *r)
{
    uint32_t n, c0, c1;
    uint64_t t0, t1;
    if (r->in_len != 4 || (n = get_u32(r->in)) == 0) {
        *r->out_len = put_text(r->out, r->out_cap, "SPIN needs a u32 count >= 1");
        return ESN_FW_ST_BAD_REQUEST;
    }
    c0 = esn_fw_port_cycles();
    t0 = esn_fw_port_ticks();
    esn_fw_port_spin(n);
    t1 = esn_fw_port_ticks();
    c1 = esn_fw_port_cycles();
    put_u64(r->out, t1 - t0);
    put_u32(r->out + 8, n);
    put_u32(r->out + 12, c1 - c0);
    *r->out_len = 16;
    return ESN_FW_ST_OK;
}

static int do_reset(const esn_fw_req *r)
{
    if (r->in_len != 1 || r->in[0] > 1) {
        *r->out_len = put_text(r->out, r->out_cap, "RESET needs a u8 mode: 0 session, 1 system");
        return ESN_FW_ST_BAD_REQUEST;
    }
    esn_fw_ext_reset();
    return ESN_FW_ST_OK;
}

static int do_exit(const esn_fw_req *r)
{
#if ESN_FW_SEMIHOSTING
    if (r->in_len != 4) {
        *r->out_len = put_text(r->out, r->out_cap, "EXIT needs an i32 code");
        return ESN_FW_ST_BAD_REQUEST;
    }
    return ESN_FW_ST_OK;
#else
    *r->out_len = put_text(r->out, r->out_cap, "EXIT needs semihosting (emulated boards only)");
    return ESN_FW_ST_UNSUPPORTED;
#endif
}

static void handle(const uint8_t *f)
{
    uint8_t type = esn_fw_frame_type(f);
    uint16_t seq = esn_fw_frame_seq(f);
    uint32_t crc = esn_fw_frame_crc(f);
    uint8_t *out = s_tx_buf + ESN_FW_HDR_BYTES;
    uint16_t out_len = 0, i;
    esn_fw_req req;
    int st;

    if (type & ESN_FW_RESPONSE_BIT) {
        return; /* a response or device frame echoed back at us: not a request */
    }
    if (s_have_last && seq == s_last_seq && crc == s_last_crc) {
        esn_fw_cobs_send(s_tx_buf, s_tx_len, esn_fw_put_uart, 0); /* a retransmission */
        return;
    }
    req.in = f + ESN_FW_HDR_BYTES;
    req.in_len = esn_fw_frame_len(f);
    req.out = out;
    req.out_len = &out_len;
    req.out_cap = ESN_FW_MAX_PAYLOAD;
    req.arena = esn_fw_arena;
    req.arena_bytes = ESN_FW_ARENA_BYTES;

    if (esn_fw_frame_version(f) < ESN_FW_PROTO_MIN_VERSION || esn_fw_frame_version(f) > ESN_FW_PROTO_VERSION) {
        out[0] = ESN_FW_PROTO_VERSION;
        out[1] = ESN_FW_PROTO_MIN_VERSION;
        out_len = 2;
        st = ESN_FW_ST_VERSION;
    } else {
        switch (type) {
        case ESN_FW_T_HELLO: st = do_hello(&req); break;
        case ESN_FW_T_ECHO: st = do_echo(&req); break;
        case ESN_FW_T_COUNTER: st = do_counter(&req); break;
        case ESN_FW_T_RESET: st = do_reset(&req); break;
        case ESN_FW_T_EXIT: st = do_exit(&req); break;
        case ESN_FW_T_SPIN: st = do_spin(&req); break;
        /* --- extension point: the runtime (esn_fw_ext.h) --- */
        case ESN_FW_T_LOAD_MODEL: st = esn_fw_ext_load_model(&req); break;
        case ESN_FW_T_RUN: st = esn_fw_ext_run(&req); break;
        case ESN_FW_T_RUN_INPUT: st = esn_fw_ext_run_input(&req); break;
        case ESN_FW_T_READ_COUNTERS: st = esn_fw_ext_read_counters(&req); break;
        default:
            out_len = put_text(out, ESN_FW_MAX_PAYLOAD, "unknown request type");
            st = ESN_FW_ST_UNSUPPORTED;
            break;
        }
    }
    if (out_len > ESN_FW_MAX_PAYLOAD) {
        out_len = ESN_FW_MAX_PAYLOAD;
    }
    if (st != ESN_FW_ST_OK) { /* ERROR payload: request type, status, then the handler's text */
        if (out_len > ESN_FW_MAX_PAYLOAD - 2) {
            out_len = ESN_FW_MAX_PAYLOAD - 2;
        }
        for (i = out_len; i > 0; i--) {
            out[i + 1] = out[i - 1];
        }
        out[0] = type;
        out[1] = (uint8_t)st;
        out_len = (uint16_t)(out_len + 2);
        type = ESN_FW_T_ERROR;
    } else {
        type |= ESN_FW_RESPONSE_BIT;
    }
    s_tx_len = esn_fw_frame_build(s_tx_buf, type, seq, out, out_len);
    s_last_seq = seq;
    s_last_crc = crc;
    s_have_last = 1;
    esn_fw_cobs_send(s_tx_buf, s_tx_len, esn_fw_put_uart, 0);

    if (st == ESN_FW_ST_OK && esn_fw_frame_type(f) == ESN_FW_T_RESET) {
        s_have_last = 0;
        if (req.in[0] == 1) {
            esn_fw_port_flush();
            esn_fw_port_reset();
        }
    }
    if (st == ESN_FW_ST_OK && esn_fw_frame_type(f) == ESN_FW_T_EXIT) {
        esn_fw_port_flush();
        esn_fw_port_exit((int)get_u32(req.in));
    }
}

void esn_fw_server_start(void)
{
    esn_fw_rx_init(&s_rx, s_rx_buf, sizeof s_rx_buf);
    esn_fw_puts("\r\n" ESN_FW_READY_PREFIX " edgesnn-fw/" ESN_FW_VERSION " proto=" ESN_FW_STR(ESN_FW_PROTO_VERSION) " board=" ESN_FW_BOARD "\r\n");
    esn_fw_port_putc(0x00);
}

void esn_fw_server_poll(void)
{
    int c;
    while ((c = esn_fw_port_getc()) >= 0) {
        esn_fw_rx_event ev = esn_fw_rx_feed(&s_rx, (uint8_t)c);
        if (ev == ESN_FW_RX_FRAME) {
            handle(s_rx_buf);
        } else if (ev == ESN_FW_RX_BAD) {
            esn_fw_send_frame(ESN_FW_T_NAK, 0, 0);
        }
    }
}
