/*
 * esn_fw_ext_runtime.c: the C runtime behind the firmware's extension point (esn_fw_ext.h).
 *
 * A model comes either as a blob streamed over serial (LOAD_MODEL chunks, assembled at the start
 * of the firmware's arena and checked by esn_blob_load) or compiled into the image
 * (ESN_FW_BUILTIN_MODEL: edgesnn.emit.csource.write_c's model.c, const tables in flash, selected
 * by a LOAD_MODEL with total 0). The runtime's own arena follows the blob (8-byte aligned).
 *
 * A model that carries a grouped schedule (esn_model.sched_steps = T, esn_schedule.c) runs over the
 * whole input at once: RUN chunks stage its T steps into the arena's input buffer, and the chunk that
 * completes them runs the schedule. The arena is then esn_arena_size_sched()'s.
 *
 * Payloads (little-endian; edgesnn/device/runner.py is the host side):
 *
 *   LOAD_MODEL  req  u32 offset, u32 total, bytes       (total 0: the compiled-in model)
 *               resp u32 received, u8 loaded, u8 builtin, u16 nodes, u32 input size,
 *                    u32 output size, u32 arena bytes the runtime needs, u32 blob bytes,
 *                    u32 schedule steps T (0: time-step-major, esn_step),
 *                    u32 input staging bytes (RUN_INPUT's area; 0: none)                    (32 B)
 *   RUN_INPUT   req  u32 offset, bytes: written to the input staging area at offset. Chunks come in
 *                    order (offset = bytes staged so far, or a repeat of an earlier offset); offset 0
 *                    starts a new staging. resp u32 bytes staged, u32 staging bytes      (8 B)
 *               The staging area is, time-step-major, the firmware arena's bytes after the blob and
 *               the runtime's arena (whole steps of it are usable); grouped, the schedule's own
 *               [T][input_size] input buffer (offset = step x input_size + byte).
 *   RUN         req  u8 flags (bit 0: reset first = a new input; bit 1: no outputs in the answer;
 *                    bit 2: staged: the n steps' inputs were written by RUN_INPUT, none follow),
 *                    u16 n, n x input_size values (u8 spike counts or i8; none with bit 2; int16
 *                    analog input is always staged, so that esn_step reads it aligned)
 *               resp u8 exited, u8 pad, u16 steps run, u32 steps since reset, u32 cycles the
 *                    esn_step calls took (the port's cycle source, as the counters' field; 0 where
 *                    it has none: the whole step, time loop and exit test included, the outputs'
 *                    copy excluded), then steps run x output_size i64 outputs (none with flag bit 1: for outputs
 *                    larger than a payload, run one step at a time and page them with READ_COUNTERS 2)
 *               Steps stop at the step where early exit fires; later steps are not run.
 *               Staged, time-step-major: the n steps are the staging area's first n x input_size
 *               bytes, which must all have been written; the RUN consumes them (stage again for the
 *               next). Staged, grouped: steps [s, s + n) of the schedule's buffer, s = 0 with bit 0
 *               and the steps staged so far otherwise; RUN_INPUT must have covered them.
 *               Grouped schedule: flag bit 1 is required; "steps run" are the steps staged, "since
 *               reset" the steps staged so far; the chunk that completes T runs every group and
 *               answers the cycles esn_sched_run took. Outputs: READ_COUNTERS 3.
 *   READ_COUNTERS req u16 first node, u8 which (0: last step, 1: since reset)[, u8 most nodes]
 *               which 2: the last step's output from element `first`: resp u16 output size, u16 first,
 *                    u16 count, u8 0, u8 pad, count x i64
 *               which 3, req u16 first, u8 3, u16 step: step `step`'s output of the last grouped run
 *                    from element `first`, answered as which 2
 *               resp u16 nodes, u16 first, u16 count, u8 cycle source (0 none, 1 DWT cycles,
 *                    2 ticks at tick_hz), u8 pad, count x 8 x u64 (esn_counters field order)
 *               A grouped run keeps its totals only (which 0 is refused).
 *
 * Chunks must come in order (offset = bytes received, or a repeat of an earlier offset); a blob
 * that does not fit the arena together with the runtime's arena is refused with the numbers.
 * Every offset, length and step count from the host is checked (64-bit products, so no overflow
 * wraps a check) before a byte is read or written: a hostile request answers ERROR, never faults.
 */
#include <string.h>

#include "esn/esn_blob.h"
#include "esn/esn_port.h"
#include "esn/esn_runtime.h"
#include "esn_cortex_m.h"
#include "esn_fw_config.h"
#include "esn_fw_ext.h"
#include "esn_fw_proto.h"

#if !ESN_ENABLE_COUNTERS
#error "the runtime firmware returns the counters (READ_COUNTERS, edgesnn run/profile): keep ESN_ENABLE_COUNTERS 1"
#endif

#ifndef ESN_FW_BUILTIN_MODEL
#define ESN_FW_BUILTIN_MODEL 0
#endif
#if ESN_FW_BUILTIN_MODEL
#include "model.h"
#endif

#include "kernels/esn_synaptic_dsp.h"

#if ESN_DSP_KERNELS
#define ESN_FW_KERNELS "+dsp"
#else
#define ESN_FW_KERNELS "+ref"
#endif

#if !ESN_FW_BUILTIN_MODEL
static esn_blob_model s_bm;
#endif
static esn_ctx s_ctx;
static esn_sched_ctx s_sctx; /* a model with a grouped schedule */
static uint32_t s_staged;    /* its input steps staged since the last new input */
static const esn_model *s_model;
static uint8_t *s_stage;     /* RUN_INPUT's staging area (see the header) */
static uint32_t s_stage_cap; /* its bytes */
static uint32_t s_stage_len; /* bytes staged in order from offset 0 */
static uint32_t s_received;
static uint32_t s_total;
static uint8_t s_builtin;

/* "<what>: <number> <what2> <number2>" without printf. */
static uint16_t esn_put_uint(uint8_t *o, uint16_t at, uint16_t cap, uint32_t v)
{
    char d[10];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v && n < 10);
    while (n > 0 && at < cap) {
        o[at++] = (uint8_t)d[--n];
    }
    return at;
}

static uint16_t esn_put_s(uint8_t *o, uint16_t at, uint16_t cap, const char *s)
{
    while (*s && at < cap) {
        o[at++] = (uint8_t)*s++;
    }
    return at;
}

static int esn_fail(const esn_fw_req *r, int st, const char *what, esn_status es)
{
    uint16_t n = esn_put_s(r->out, 0, r->out_cap, what);
    if (es != ESN_OK) {
        n = esn_put_s(r->out, n, r->out_cap, ": ");
        n = esn_put_s(r->out, n, r->out_cap, esn_status_str(es));
    }
    *r->out_len = n;
    return st;
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

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint32_t esn_fw_ext_caps(void)
{
    return ESN_FW_CAP_LOAD_MODEL | ESN_FW_CAP_RUN | ESN_FW_CAP_RUN_INPUT | ESN_FW_CAP_READ_COUNTERS;
}

const char *esn_fw_ext_runtime_version(void) { return "edgesnn-runtime/" ESN_FW_VERSION ESN_FW_KERNELS; }

void esn_fw_ext_init(void) { esn_port_init(); }

void esn_fw_ext_reset(void)
{
    s_model = 0;
    s_received = 0;
    s_total = 0;
    s_builtin = 0;
    s_staged = 0;
    s_stage = 0;
    s_stage_cap = 0;
    s_stage_len = 0;
    memset(&s_ctx, 0, sizeof s_ctx);
    memset(&s_sctx, 0, sizeof s_sctx);
}

static int esn_load_response(const esn_fw_req *r, uint32_t need)
{
    uint8_t *o = r->out;
    put_u32(o, s_received);
    o[4] = s_model != 0;
    o[5] = s_builtin;
    put_u16(o + 6, s_model ? (uint16_t)s_model->n_nodes : 0u);
    put_u32(o + 8, s_model ? s_model->input_size : 0u);
    put_u32(o + 12, s_model ? s_model->output_size : 0u);
    put_u32(o + 16, need);
    put_u32(o + 20, s_total);
    put_u32(o + 24, s_model ? s_model->sched_steps : 0u);
    put_u32(o + 28, s_model ? s_stage_cap : 0u);
    *r->out_len = 32;
    return ESN_FW_ST_OK;
}

/* Lays out the runtime's arena after `used` bytes of the firmware arena. */
static int esn_start(const esn_fw_req *r, const esn_model *m, uint32_t used, uint32_t *need)
{
    esn_status st = m->sched_steps ? esn_arena_size_sched(m, need) : esn_arena_size(m, need);
    uint16_t n;
    if (st != ESN_OK) {
        return esn_fail(r, ESN_FW_ST_RUNTIME, "esn_arena_size", st);
    }
    if (*need > r->arena_bytes - used) {
        n = esn_put_s(r->out, 0, r->out_cap, "model needs ");
        n = esn_put_uint(r->out, n, r->out_cap, used);
        n = esn_put_s(r->out, n, r->out_cap, " B blob + ");
        n = esn_put_uint(r->out, n, r->out_cap, *need);
        n = esn_put_s(r->out, n, r->out_cap, " B runtime arena; the firmware arena holds ");
        n = esn_put_uint(r->out, n, r->out_cap, r->arena_bytes);
        *r->out_len = esn_put_s(r->out, n, r->out_cap, " B");
        return ESN_FW_ST_TOO_LARGE;
    }
    /* the runtime gets exactly what it needs, so nothing it does can reach the staging area after it */
    if (m->sched_steps) {
        st = esn_sched_init(&s_sctx, m, r->arena + used, *need);
    } else {
        st = esn_init(&s_ctx, m, r->arena + used, *need);
    }
    if (st != ESN_OK) {
        return esn_fail(r, ESN_FW_ST_RUNTIME, "esn_init", st);
    }
    s_staged = 0;
    s_stage_len = 0;
    if (m->sched_steps) { /* esn_sched_init checked that T x input_size lies inside its arena */
        s_stage = esn_sched_input(&s_sctx);
        s_stage_cap = s_sctx.T * m->input_size;
    } else {
        s_stage = r->arena + used + *need;
        s_stage_cap = r->arena_bytes - used - *need;
    }
    s_model = m;
    return ESN_FW_ST_OK;
}

int esn_fw_ext_load_model(const esn_fw_req *r)
{
    uint32_t off, total, len, need = 0;
    int st;
    if (r->in_len < 8) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "LOAD_MODEL needs u32 offset, u32 total, bytes", ESN_OK);
    }
    off = get_u32(r->in);
    total = get_u32(r->in + 4);
    len = (uint32_t)r->in_len - 8u;
    if (total == 0u) {
#if ESN_FW_BUILTIN_MODEL
        esn_status es;
        esn_fw_ext_reset();
        es = esn_model_validate(&snn_model, 0);
        if (es != ESN_OK) {
            return esn_fail(r, ESN_FW_ST_RUNTIME, "compiled-in model", es);
        }
        s_builtin = 1;
        st = esn_start(r, &snn_model, 0u, &need);
        return st == ESN_FW_ST_OK ? esn_load_response(r, need) : st;
#else
        return esn_fail(r, ESN_FW_ST_UNSUPPORTED, "no model compiled into this firmware", ESN_OK);
#endif
    }
#if ESN_FW_BUILTIN_MODEL
    (void)off;
    (void)len;
    return esn_fail(r, ESN_FW_ST_UNSUPPORTED, "this firmware runs its compiled-in model only", ESN_OK);
#else
    if (total > r->arena_bytes || off > total || len > total - off) {
        uint16_t n = esn_put_s(r->out, 0, r->out_cap, "blob of ");
        n = esn_put_uint(r->out, n, r->out_cap, total);
        n = esn_put_s(r->out, n, r->out_cap, " B does not fit the firmware arena of ");
        n = esn_put_uint(r->out, n, r->out_cap, r->arena_bytes);
        *r->out_len = esn_put_s(r->out, n, r->out_cap, " B (or the chunk lies outside it)");
        return total > r->arena_bytes ? ESN_FW_ST_TOO_LARGE : ESN_FW_ST_BAD_REQUEST;
    }
    if (off == 0u) {
        esn_fw_ext_reset();
        s_total = total;
    } else if (total != s_total || off > s_received) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "LOAD_MODEL chunk out of order (start again at offset 0)", ESN_OK);
    }
    memcpy(r->arena + off, r->in + 8, len);
    if (off + len > s_received) {
        s_received = off + len;
    }
    if (s_received == s_total && s_model == 0) {
        esn_status es = esn_blob_load(&s_bm, r->arena, s_total);
        if (es != ESN_OK) {
            s_received = 0;
            return esn_fail(r, ESN_FW_ST_RUNTIME, "esn_blob_load", es);
        }
        st = esn_start(r, &s_bm.model, (s_total + 7u) & ~7u, &need);
        if (st != ESN_FW_ST_OK) {
            s_received = 0;
            return st;
        }
    } else if (s_model != 0) {
        (void)(s_model->sched_steps ? esn_arena_size_sched(s_model, &need) : esn_arena_size(s_model, &need));
    }
    return esn_load_response(r, need);
#endif
}

#define ESN_RUN_HEADER 12u

/* RUN for a grouped schedule: stage n steps; the chunk that completes the input runs it. */
static int esn_run_sched(const esn_fw_req *r, uint32_t n, int staged)
{
    const uint32_t in_size = s_model->input_size;
    uint32_t cycles = 0;
    uint8_t *o = r->out;
    if (!(r->in[0] & 2u)) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "a grouped schedule answers no outputs in RUN (flag bit 1); "
                        "read them with READ_COUNTERS 3", ESN_OK);
    }
    if (r->in[0] & 1u) {
        s_staged = 0;
    }
    if (n > s_sctx.T - s_staged) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "RUN stages more steps than the schedule's T", ESN_OK);
    }
    if (!staged) { /* staged: RUN_INPUT wrote them in place (checked by the caller) */
        memcpy(esn_sched_input(&s_sctx) + s_staged * in_size, r->in + 3, n * in_size);
    }
    s_staged += n;
    if (n > 0u && s_staged == s_sctx.T) {
        const uint32_t c0 = esn_port_cycles();
        esn_status es = esn_sched_run(&s_sctx, 0);
        cycles = esn_port_cycles() - c0;
        s_stage_len = 0; /* the next input is staged afresh: a stale one is never run twice by mistake */
        if (es != ESN_OK) {
            return esn_fail(r, ESN_FW_ST_RUNTIME, "esn_sched_run", es);
        }
    }
    o[0] = 0;
    o[1] = 0;
    put_u16(o + 2, (uint16_t)n);
    put_u32(o + 4, s_staged);
    put_u32(o + 8, ESN_ENABLE_CYCLES ? cycles : 0u);
    *r->out_len = ESN_RUN_HEADER;
    return ESN_FW_ST_OK;
}

/* "<what> <a> B, <what2> <b> B" for a refusal with the numbers. */
static int esn_fail_sizes(const esn_fw_req *r, int st, const char *what, uint64_t a, const char *what2, uint32_t b)
{
    uint16_t n = esn_put_s(r->out, 0, r->out_cap, what);
    n = esn_put_uint(r->out, n, r->out_cap, a > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)a);
    n = esn_put_s(r->out, n, r->out_cap, " B, ");
    n = esn_put_s(r->out, n, r->out_cap, what2);
    n = esn_put_uint(r->out, n, r->out_cap, b);
    *r->out_len = esn_put_s(r->out, n, r->out_cap, " B");
    return st;
}

int esn_fw_ext_run_input(const esn_fw_req *r)
{
    uint32_t off, len;
    if (s_model == 0) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "RUN_INPUT before a model was loaded", ESN_OK);
    }
    if (r->in_len < 4) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "RUN_INPUT needs u32 offset, bytes", ESN_OK);
    }
    off = get_u32(r->in);
    len = (uint32_t)r->in_len - 4u;
    if (off > s_stage_cap || len > s_stage_cap - off) {
        return esn_fail_sizes(r, ESN_FW_ST_TOO_LARGE, "RUN_INPUT chunk ends at ", (uint64_t)off + len,
                              "past the input staging area of ", s_stage_cap);
    }
    if (off > s_stage_len) {
        return esn_fail_sizes(r, ESN_FW_ST_BAD_REQUEST, "RUN_INPUT chunk out of order: offset ", off,
                              "staged so far (start again at offset 0) ", s_stage_len);
    }
    if (off == 0u) {
        s_stage_len = 0;
    }
    memcpy(s_stage + off, r->in + 4, len);
    if (off + len > s_stage_len) {
        s_stage_len = off + len;
    }
    put_u32(r->out, s_stage_len);
    put_u32(r->out + 4, s_stage_cap);
    *r->out_len = 8;
    return ESN_FW_ST_OK;
}

int esn_fw_ext_run(const esn_fw_req *r)
{
    uint32_t n, i, k, in_size, out_size;
    uint32_t cycles = 0;
    uint16_t done = 0;
    uint8_t *o = r->out;
    const uint8_t *x;
    int staged;
    if (s_model == 0) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "RUN before a model was loaded", ESN_OK);
    }
    if (r->in_len < 3) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "RUN needs u8 flags, u16 steps, inputs", ESN_OK);
    }
    if (r->in[0] & ~7u) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "RUN flags: only bits 0 (reset), 1 (no outputs), 2 (staged)", ESN_OK);
    }
    in_size = s_model->input_size * esn_input_bytes(s_model); /* bytes of one step's input */
    out_size = s_model->output_size;
    n = get_u16(r->in + 1);
    staged = (r->in[0] & 4u) != 0;
    if (esn_input_bytes(s_model) > 1u && !staged) { /* int16 values must be aligned: RUN's payload is not */
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "int16 input is sent by RUN_INPUT (a staged RUN, flag bit 2)",
                        ESN_OK);
    }
    if (staged) {
        const uint32_t first = (s_model->sched_steps && !(r->in[0] & 1u)) ? s_staged : 0u;
        if (r->in_len != 3) {
            return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "a staged RUN (flag bit 2) carries no inputs", ESN_OK);
        }
        if ((uint64_t)(first + n) * in_size > s_stage_len) {
            return esn_fail_sizes(r, ESN_FW_ST_BAD_REQUEST, "staged RUN needs inputs up to ",
                                  (uint64_t)(first + n) * in_size, "RUN_INPUT staged ", s_stage_len);
        }
        x = s_stage;
    } else {
        if ((uint64_t)r->in_len != 3u + (uint64_t)n * in_size) {
            return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "RUN payload length is not 3 + steps x input size", ESN_OK);
        }
        x = r->in + 3;
    }
    if (!(r->in[0] & 2u) && (uint64_t)ESN_RUN_HEADER + (uint64_t)n * out_size * 8u > r->out_cap) {
        return esn_fail(r, ESN_FW_ST_TOO_LARGE, "RUN outputs of these steps exceed the max payload", ESN_OK);
    }
    if (s_model->sched_steps) {
        return esn_run_sched(r, n, staged);
    }
    if (r->in[0] & 1u) {
        esn_status es = esn_reset(&s_ctx);
        if (es != ESN_OK) {
            return esn_fail(r, ESN_FW_ST_RUNTIME, "esn_reset", es);
        }
    }
    for (i = 0; i < n && !s_ctx.exited; i++) {
        const int64_t *y;
        const uint32_t c0 = esn_port_cycles();
        esn_status es = esn_step(&s_ctx, x + i * in_size);
        cycles += esn_port_cycles() - c0;
        if (es != ESN_OK) {
            return esn_fail(r, ESN_FW_ST_RUNTIME, "esn_step", es);
        }
        y = esn_output(&s_ctx);
        for (k = 0; k < out_size && !(r->in[0] & 2u); k++) {
            put_u64(o + ESN_RUN_HEADER + (done * out_size + k) * 8u, (uint64_t)y[k]);
        }
        done++;
    }
    if (staged) {
        s_stage_len = 0; /* consumed: the next staged RUN needs its own inputs */
    }
    o[0] = s_ctx.exited;
    o[1] = 0;
    put_u16(o + 2, done);
    put_u32(o + 4, s_ctx.t);
    put_u32(o + 8, ESN_ENABLE_CYCLES ? cycles : 0u);
    *r->out_len = (uint16_t)(ESN_RUN_HEADER + ((r->in[0] & 2u) ? 0u : done * out_size * 8u));
    return ESN_FW_ST_OK;
}

int esn_fw_ext_read_counters(const esn_fw_req *r)
{
    uint32_t first, count, k;
    uint8_t *o = r->out;
    if (s_model == 0) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "READ_COUNTERS before a model was loaded", ESN_OK);
    }
    if ((r->in_len != 3 && r->in_len != 4 && r->in_len != 5) || r->in[2] > 3u || (r->in_len == 4 && r->in[3] == 0u) ||
        ((r->in_len == 5) != (r->in[2] == 3u))) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST,
                        "READ_COUNTERS needs u16 first, u8 which (0/1/2)[, u8 most >= 1], or u16 first, u8 3, u16 step",
                        ESN_OK);
    }
    first = get_u16(r->in);
    if (s_model->sched_steps && r->in[2] == 0u) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "a grouped schedule keeps no per-step counters (ask for 1)", ESN_OK);
    }
    if (r->in[2] == 3u && (!s_model->sched_steps || get_u16(r->in + 3) >= s_sctx.T)) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "READ_COUNTERS 3 needs a grouped schedule and a step below its T",
                        ESN_OK);
    }
    if (r->in[2] >= 2u) { /* an output, paged: the last step's, or step `step`'s of a grouped run */
        const int64_t *y = s_model->sched_steps ? 0 : esn_output(&s_ctx);
        const uint32_t step = r->in[2] == 3u ? get_u16(r->in + 3) : s_sctx.T - 1u;
        if (first > s_model->output_size) {
            return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "READ_COUNTERS output element out of range", ESN_OK);
        }
        count = s_model->output_size - first;
        if (count > (r->out_cap - 8u) / 8u) {
            count = (r->out_cap - 8u) / 8u;
        }
        put_u16(o, (uint16_t)s_model->output_size);
        put_u16(o + 2, (uint16_t)first);
        put_u16(o + 4, (uint16_t)count);
        o[6] = 0;
        o[7] = 0;
        for (k = 0; k < count; k++) {
            put_u64(o + 8 + k * 8u, (uint64_t)(y ? y[first + k] : esn_sched_output(&s_sctx, step, first + k)));
        }
        *r->out_len = (uint16_t)(8u + count * 8u);
        return ESN_FW_ST_OK;
    }
    if (first > s_model->n_nodes) {
        return esn_fail(r, ESN_FW_ST_BAD_REQUEST, "READ_COUNTERS first node out of range", ESN_OK);
    }
    count = s_model->n_nodes - first;
    if (count > (r->out_cap - 8u) / 64u) {
        count = (r->out_cap - 8u) / 64u;
    }
    if (r->in_len == 4 && count > r->in[3]) {
        count = r->in[3]; /* small frames for a noisy link */
    }
    put_u16(o, (uint16_t)s_model->n_nodes);
    put_u16(o + 2, (uint16_t)first);
    put_u16(o + 4, (uint16_t)count);
    o[6] = ESN_ENABLE_CYCLES ? esn_port_cycle_source() : 0u;
    o[7] = 0;
    for (k = 0; k < count; k++) {
        const esn_counters *c = s_model->sched_steps ? &s_sctx.total[first + k] : esn_counters_of(&s_ctx, first + k, r->in[2]);
        uint8_t *p = o + 8 + k * 64u;
        put_u64(p, c->spikes_in);
        put_u64(p + 8, c->synops);
        put_u64(p + 16, c->neuron_updates);
        put_u64(p + 24, c->spikes_out);
        put_u64(p + 32, c->param_bytes_read);
        put_u64(p + 40, c->arena_bytes_read);
        put_u64(p + 48, c->arena_bytes_written);
        put_u64(p + 56, c->cycles);
    }
    *r->out_len = (uint16_t)(8u + count * 64u);
    return ESN_FW_ST_OK;
}
