/*
 * esn_runtime.c: arena layout, reset, the time step and the whole-input run.
 *
 * One step runs the nodes in schedule order. Every node except Output and Flatten owns an output
 * buffer in the arena, its elements uint8 (Input bytes, spike counts, small pool sums) or int32
 * (esn_node.out_bits); a Flatten reuses its input's buffer (same bytes, another shape).
 * A node read through a recurrent edge owns two buffers and writes the one of the current step's
 * parity, so the reader finds the previous step's values in the other, without a copy; at step 0
 * that one holds the node's value at rest (a weighted layer's bias, else the zeros of the reset). The Output is summed into int64 per step; with early
 * exit on, it is also accumulated and the entropy check may end the input (esn_fixedpoint.c).
 */
#include <string.h>

#include "esn/esn_fixedpoint.h"
#include "esn/esn_kernels.h"
#include "esn/esn_port.h"
#include "esn/esn_runtime.h"
#include "esn_internal.h"

#ifdef ESN_STRIP_LOG
const char *esn_status_str(esn_status s)
{
    (void)s;
    return "";
}
#else
static const char *const esn_status_strings[ESN_STATUS_COUNT] = {
    [ESN_OK] = "ok",
    [ESN_ERR_NULL] = "a required pointer is NULL",
    [ESN_ERR_ARG] = "argument out of range",
    [ESN_ERR_TRUNCATED] = "blob truncated",
    [ESN_ERR_MAGIC] = "not an edgesnn model blob (bad magic)",
    [ESN_ERR_VERSION] = "unsupported blob version",
    [ESN_ERR_HEADER] = "malformed blob header",
    [ESN_ERR_CRC] = "blob CRC-32 mismatch (corrupted)",
    [ESN_ERR_SECTION] = "malformed section table",
    [ESN_ERR_ALIGN] = "misaligned blob, arena or array",
    [ESN_ERR_LIMIT] = "model exceeds a configured limit",
    [ESN_ERR_KIND] = "unknown node kind or misplaced Input/Output",
    [ESN_ERR_ENUM] = "enumeration value out of range",
    [ESN_ERR_SHAPE] = "inconsistent shape or geometry",
    [ESN_ERR_EDGE] = "malformed edge",
    [ESN_ERR_PARAM] = "parameter array missing, unexpected or out of bounds",
    [ESN_ERR_RANGE] = "parameter or setting out of range",
    [ESN_ERR_OVERFLOW] = "an int32 accumulator could overflow",
    [ESN_ERR_ARENA_SMALL] = "arena smaller than esn_arena_size()",
    [ESN_ERR_STATE] = "call out of order (not initialised, or stepped after early exit)",
    [ESN_ERR_ENDIAN] = "big-endian host cannot use the blob in place",
    [ESN_ERR_SCHEDULE] = "schedule refused: a recurrent edge across groups, or early exit with a schedule",
    [ESN_ERR_PLAN] = "memory plan refused: a region outside the arena, misaligned, or over a live one",
};

const char *esn_status_str(esn_status s)
{
    if ((uint32_t)s >= (uint32_t)ESN_STATUS_COUNT) {
        return "unknown status";
    }
    return esn_status_strings[s];
}
#endif

#define ESN_RT_BYTES 16u
#define ESN_RT_PENDING 1u   /* esn_node_rt.flags: keeps pending (subtract-late reset) */
#define ESN_RT_STATELESS 2u /* keeps no state (esn__stateless) */
#define ESN_COUNTERS_BYTES 64u

/* Compile-time checks of the ABI-independent sizes the layout relies on. */
typedef char esn_rt_size_check[sizeof(esn_node_rt) == ESN_RT_BYTES ? 1 : -1];
typedef char esn_counters_size_check[sizeof(esn_counters) == ESN_COUNTERS_BYTES ? 1 : -1];

static uint64_t esn_align8(uint64_t x)
{
    return (x + 7u) & ~(uint64_t)7u;
}

/* Whether a recurrent edge reads the buffer owned by `owner`. */
static int esn_is_double(const esn_model *m, uint32_t owner)
{
    uint32_t e;
    for (e = 0u; e < m->n_edges; ++e) {
        if (m->edges[e].back && esn__owner(m, m->edges[e].src) == owner) {
            return 1;
        }
    }
    return 0;
}

/* Computes the layout (esn_runtime.h); fills rt when it is not NULL. A model with a memory plan
 * (arena_bytes != 0, checked by esn_model_validate) has its buffers and state where the plan says;
 * otherwise every buffer and state block gets its own bytes, in node order. */
static esn_status esn_layout(const esn_model *m, esn_node_rt *rt, uint64_t *bytes)
{
    uint64_t off = esn__arena_base(m); /* node table, counters, output and exit accumulator */
    uint32_t k;
    uint16_t layer = 0u;
    const int planned = m->arena_bytes != 0u;
    for (k = 0u; k < m->n_nodes && planned; ++k) {
        if (rt != NULL) {
            rt[k].buf_off[0] = m->nodes[k].buf_off[0];
            rt[k].buf_off[1] = m->nodes[k].buf_off[1];
        }
    }
    for (k = 0u; k < m->n_nodes && !planned; ++k) {
        const esn_node *nd = &m->nodes[k];
        const uint64_t size = esn_align8((uint64_t)nd->out_size * 4u); /* int32-sized: holds any width */
        uint64_t b0 = 0u;
        uint64_t b1 = 0u;
        if (nd->kind == ESN_KIND_OUTPUT || nd->kind == ESN_KIND_FLATTEN) {
            if (rt != NULL && nd->kind == ESN_KIND_FLATTEN) {
                const esn_node_rt *src = &rt[m->edges[nd->first_edge].src];
                rt[k].buf_off[0] = src->buf_off[0];
                rt[k].buf_off[1] = src->buf_off[1];
            }
            continue;
        }
        b0 = off;
        off += size;
        b1 = b0;
        if (esn_is_double(m, k)) {
            b1 = off;
            off += size;
        }
        if (rt != NULL) {
            if (off > UINT32_MAX) {
                return ESN_ERR_LIMIT;
            }
            rt[k].buf_off[0] = (uint32_t)b0;
            rt[k].buf_off[1] = (uint32_t)b1;
        }
    }
    for (k = 0u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        const uint32_t s = esn__n_state(nd);
        const int stateless = s != 0u && esn__stateless(nd);
        esn__state_map sm;
        if (s == 0u) {
            continue;
        }
        esn__state_map_of(m, nd, stateless, &sm);
        if (rt != NULL) {
            if (off > UINT32_MAX) {
                return ESN_ERR_LIMIT;
            }
            rt[k].state_off = planned ? nd->state_off : (uint32_t)off;
            rt[k].n_state = (uint8_t)s;
            rt[k].layer = layer;
            rt[k].flags = (uint8_t)((nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE ? ESN_RT_PENDING : 0u) |
                                    (stateless ? ESN_RT_STATELESS : 0u));
        }
        ++layer;
        off += sm.bytes;
    }
    if (off > (uint64_t)UINT32_MAX - 7u) {
        return ESN_ERR_LIMIT;
    }
    *bytes = planned ? m->arena_bytes : off;
    return ESN_OK;
}

esn_status esn_arena_size(const esn_model *m, uint32_t *bytes)
{
    uint64_t b = 0u;
    if (m == NULL || bytes == NULL || m->nodes == NULL || m->edges == NULL) {
        return ESN_ERR_NULL;
    }
    ESN_CHECK(esn_layout(m, NULL, &b));
    *bytes = (uint32_t)b;
    return ESN_OK;
}

static void *esn_at(const esn_ctx *ctx, uint32_t off)
{
    return (void *)(ctx->arena + off);
}

esn_status esn_init(esn_ctx *ctx, const esn_model *m, void *arena, uint32_t size)
{
    uint32_t need = 0u;
    uint64_t used = 0u;
    uint32_t off;
    if (ctx == NULL || m == NULL || arena == NULL) {
        return ESN_ERR_NULL;
    }
    memset(ctx, 0, sizeof *ctx);
    ESN_CHECK(esn_arena_size(m, &need));
    if (((uintptr_t)arena & 7u) != 0u) {
        return ESN_ERR_ALIGN;
    }
    if (size < need) {
        ESN_LOG("arena smaller than esn_arena_size()");
        return ESN_ERR_ARENA_SMALL;
    }
    ctx->model = m;
    ctx->arena = (uint8_t *)arena;
    ctx->arena_size = need;
    ctx->rt = (esn_node_rt *)arena;
    memset(ctx->rt, 0, (size_t)m->n_nodes * ESN_RT_BYTES);
    ESN_CHECK(esn_layout(m, ctx->rt, &used));
    off = (uint32_t)esn_align8((uint64_t)m->n_nodes * ESN_RT_BYTES);
    if (ESN_ENABLE_COUNTERS) { /* else step and total stay NULL: the arena holds none */
        ctx->step = (esn_counters *)esn_at(ctx, off);
        off += (uint32_t)m->n_nodes * ESN_COUNTERS_BYTES;
        ctx->total = (esn_counters *)esn_at(ctx, off);
        off += (uint32_t)m->n_nodes * ESN_COUNTERS_BYTES;
    }
    ctx->out = (int64_t *)esn_at(ctx, off);
    off += (uint32_t)esn_align8((uint64_t)m->output_size * 8u);
    ctx->exit_acc = (int64_t *)esn_at(ctx, off);
    ctx->ready = 1u;
    return esn_reset(ctx);
}

static int32_t *esn_buf(const esn_ctx *ctx, uint32_t node, uint32_t parity);

esn_status esn_reset(esn_ctx *ctx)
{
    uint8_t *start;
    uint32_t k;
    if (ctx == NULL) {
        return ESN_ERR_NULL;
    }
    if (!ctx->ready) {
        return ESN_ERR_STATE;
    }
    start = ctx->arena + esn_align8((uint64_t)ctx->model->n_nodes * ESN_RT_BYTES); /* all after the node table */
    memset(start, 0, (size_t)(ctx->arena_size - (uint32_t)(start - ctx->arena)));
    for (k = 0u; k < ctx->model->n_nodes; ++k) { /* recurrent edges read the value at rest at step 0 */
        const esn_node *nd = &ctx->model->nodes[k];
        if (esn__is_synaptic(nd->kind) && !esn_out_u8(nd) && ctx->rt[k].buf_off[0] != ctx->rt[k].buf_off[1]) {
            esn_rest_out(nd, esn_buf(ctx, k, 1u));
        }
    }
    ctx->t = 0u;
    ctx->exited = 0u;
    return ESN_OK;
}

static int32_t *esn_buf(const esn_ctx *ctx, uint32_t node, uint32_t parity)
{
    return (int32_t *)esn_at(ctx, ctx->rt[node].buf_off[parity]);
}

/* A neuron layer's traffic (esn_traffic), S its state variables. Called by esn__compute with S from the kind's
 * sets (esn__n_state without its calls): every neuron layer, every step, so no call per parameter array either. */
static void esn_neuron_traffic(const esn_node *nd, uint32_t n_state, esn_counters *c)
{
    /* esn__param_bytes of each present array, inlined: a neuron layer has no weights, and each array holds one
     * value per neuron, per channel or per layer (esn_param_mode 0, 1, 2). Its bytes per value (1, 2 or 4) are
     * summed by mode in one word, a byte a mode (at most 40 each: ten arrays), then each sum times its count */
    const uint64_t n = nd->out_size;
    uint32_t by = 0u;
    uint32_t slot;
    uint64_t p;
    for (slot = 1u; slot < ESN_P_COUNT; ++slot) {
        if (nd->param[slot] != NULL) {
            by += (esn_param_bits(nd, slot) >> 3) << (8u * nd->pmode[slot]);
        }
    }
    p = (by & 255u) * n + ((by >> 8) & 255u) * (uint64_t)nd->out_shape[0] + (by >> 16);
    c->param_bytes_read = p;
    c->arena_bytes_read = 4u * n * (nd->n_edges + n_state);
    c->arena_bytes_written = 4u * n * (n_state + 1u);
}

/* esn_node.acc_shift: the accumulators back in their target's units, rounded to nearest. */
static void esn_acc_shift(const esn_node *nd, int32_t *out)
{
    const uint32_t s = nd->acc_shift;
    uint32_t j;
    if (s == 0u) {
        return;
    }
    for (j = 0u; j < nd->out_size; ++j) {
        out[j] = (int32_t)esn_asr64((int64_t)out[j] + (INT64_C(1) << (s - 1u)), s);
    }
}

/* Memory traffic of one node's step from its synops (definitions in esn_runtime.h); n_state = S. */
static void esn_traffic(const esn_node *nd, uint32_t n_state, esn_counters *c)
{
    const uint64_t e = nd->n_edges;
    if (esn__is_synaptic(nd->kind)) {
        const uint64_t bits = nd->param[ESN_P_WEIGHT] != NULL ? esn_param_bits(nd, ESN_P_WEIGHT) : 0u;
        c->param_bytes_read = (c->synops * bits + 7u) / 8u + esn__param_bytes(nd, ESN_P_BIAS);
        c->arena_bytes_read = 4u * (e * nd->in_size + c->synops);
        c->arena_bytes_written = 4u * ((uint64_t)nd->out_size + c->synops);
    } else if (esn__is_neuron(nd->kind)) {
        esn_neuron_traffic(nd, n_state, c);
    }
}

void esn__compute(const esn_model *m, const esn_node *nd, const void *const *in, const uint8_t *in8, void *out,
                  int out8, void *state_base, uint32_t layer, uint32_t t, esn_counters *c)
{
    const uint32_t kind = nd->kind;
    switch ((esn_kind)kind) {
    /* a kind this build leaves out (ESN_KINDS_BUILT) never gets here (esn_model_validate): its call, a constant
     * false, is compiled out, and with it the kernel where the link drops unused sections */
    case ESN_KIND_LINEAR:
    case ESN_KIND_AFFINE:
        if (ESN_BUILT(ESN_KIND_LINEAR) || ESN_BUILT(ESN_KIND_AFFINE)) {
            esn_linear(nd, in, in8, nd->n_edges, (int32_t *)out, c);
            esn_acc_shift(nd, (int32_t *)out);
        }
        break;
    case ESN_KIND_CONV1D:
    case ESN_KIND_CONV2D:
        if (ESN_BUILT(ESN_KIND_CONV1D) || ESN_BUILT(ESN_KIND_CONV2D)) {
            esn_conv(nd, in, in8, nd->n_edges, (int32_t *)out, c);
            esn_acc_shift(nd, (int32_t *)out);
        }
        break;
    case ESN_KIND_SCALE:
        if (ESN_BUILT(ESN_KIND_SCALE)) {
            esn_scale(nd, in, in8, nd->n_edges, (int32_t *)out, c);
        }
        break;
    case ESN_KIND_SUMPOOL2D:
    case ESN_KIND_AVGPOOL2D:
        if (ESN_BUILT(ESN_KIND_SUMPOOL2D) || ESN_BUILT(ESN_KIND_AVGPOOL2D)) {
            esn_pool(nd, in, in8, nd->n_edges, out, out8, c);
        }
        break;
    case ESN_KIND_IF:
    case ESN_KIND_LIF:
    case ESN_KIND_LI:
    case ESN_KIND_CUBALIF:
    case ESN_KIND_CUBALI:
    case ESN_KIND_ALIF:
    case ESN_KIND_THRESHOLD: {
        void *state[ESN_VAR_COUNT];
        esn__state_map sm;
        uint32_t v;
        esn__state_map_of(m, nd, state_base == NULL, &sm);
        for (v = 0u; v < ESN_VAR_COUNT; ++v) { /* each assigned (an initialiser would be a memset call) */
            state[v] = sm.off[v] != ESN_NO_VAR ? (uint8_t *)state_base + sm.off[v] : NULL;
        }
        esn_neuron_step(m, nd, layer, t, in, in8, nd->n_edges, state, sm.bits, (int32_t *)out, c);
        /* S as esn__n_state counts it (stateless layers included) */
        v = (uint32_t)ESN_KIND_HAS(ESN_KINDS_STATE_V, kind) + (uint32_t)ESN_KIND_HAS(ESN_KINDS_STATE_I, kind) +
            (uint32_t)ESN_KIND_HAS(ESN_KINDS_STATE_ETA, kind) +
            (nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE ? 1u : 0u);
        if (ESN_ENABLE_COUNTERS) {
            esn_neuron_traffic(nd, v, c);
        }
        return;
    }
    case ESN_KIND_INPUT:
    case ESN_KIND_OUTPUT:
    case ESN_KIND_FLATTEN:
    case ESN_KIND_COUNT:
        break; /* handled by the schedule (Input, Output), nothing to do (Flatten), unreachable */
    } /* no default: -Wswitch names a kind of esn_kinds.h that has no case here */
    if (ESN_ENABLE_COUNTERS) {
        esn_traffic(nd, esn__n_state(nd), c);
    }
}

static void esn_run_node(esn_ctx *ctx, uint32_t k, const void *x, uint32_t par)
{
    const esn_model *m = ctx->model;
    const esn_node *nd = &m->nodes[k];
    const esn_node_rt *rt = &ctx->rt[k];
    const void *in[ESN_MAX_FANIN];
    uint8_t in8[ESN_MAX_FANIN]; /* input e is uint8 (a Flatten's out_bits are its owner's: esn_model_validate) */
    int32_t *out = esn_buf(ctx, k, par);
    uint32_t e;
    uint32_t j;
    for (e = 0u; e < nd->n_edges; ++e) {
        const esn_edge *ed = &m->edges[nd->first_edge + e];
        in[e] = esn_buf(ctx, ed->src, ed->back ? par ^ 1u : par);
        in8[e] = (uint8_t)esn_out_u8(&m->nodes[ed->src]);
    }
    switch ((esn_kind)nd->kind) {
    case ESN_KIND_INPUT: /* spike counts as bytes (or widened); analog values widened to int32 */
        if (esn_out_u8(nd)) {
            memcpy(out, x, nd->out_size);
        } else if (m->input_bits == 16u) {
            for (j = 0u; j < nd->out_size; ++j) {
                out[j] = ((const int16_t *)x)[j];
            }
        } else if (m->input_bits == 8u) {
            for (j = 0u; j < nd->out_size; ++j) {
                out[j] = ((const int8_t *)x)[j];
            }
        } else {
            for (j = 0u; j < nd->out_size; ++j) {
                out[j] = ((const uint8_t *)x)[j];
            }
        }
        break;
    case ESN_KIND_OUTPUT:
        for (j = 0u; j < nd->out_size; ++j) {
            int64_t s = 0;
            for (e = 0u; e < nd->n_edges; ++e) {
                s += esn__in_at(in, in8, e, j);
            }
            ctx->out[j] = s;
        }
        break;
    default:
        esn__compute(m, nd, in, in8, out, esn_out_u8(nd),
                     (rt->n_state && !(rt->flags & ESN_RT_STATELESS)) ? esn_at(ctx, rt->state_off) : NULL, rt->layer,
                     ctx->t, ESN_ENABLE_COUNTERS ? &ctx->step[k] : NULL);
        break;
    }
}

void esn__counters_add(esn_counters *t, const esn_counters *s)
{
    t->spikes_in += s->spikes_in;
    t->synops += s->synops;
    t->neuron_updates += s->neuron_updates;
    t->spikes_out += s->spikes_out;
    t->param_bytes_read += s->param_bytes_read;
    t->arena_bytes_read += s->arena_bytes_read;
    t->arena_bytes_written += s->arena_bytes_written;
    t->cycles += s->cycles;
}

esn_status esn_step(esn_ctx *ctx, const void *x)
{
    const esn_model *m;
    uint32_t k;
    uint32_t par;
    if (ctx == NULL || x == NULL) {
        return ESN_ERR_NULL;
    }
    if (!ctx->ready || ctx->exited) {
        return ESN_ERR_STATE;
    }
    m = ctx->model;
    par = ctx->t & 1u;
    if (ESN_ENABLE_COUNTERS) {
        memset(ctx->step, 0, (size_t)m->n_nodes * ESN_COUNTERS_BYTES);
    }
    for (k = 0u; k < m->n_nodes; ++k) {
#if ESN_ENABLE_CYCLES
        const uint32_t c0 = esn_port_cycles();
        esn_run_node(ctx, k, x, par);
        ctx->step[k].cycles = (uint32_t)(esn_port_cycles() - c0);
#else
        esn_run_node(ctx, k, x, par);
#endif
    }
    for (k = 0u; k < m->n_nodes && ESN_ENABLE_COUNTERS; ++k) {
        esn__counters_add(&ctx->total[k], &ctx->step[k]);
    }
    if (m->exit_enabled) {
        const int64_t lim = INT64_C(4611686018427387904); /* 2^62: saturate, far beyond any real run */
        uint32_t j;
        for (j = 0u; j < m->output_size; ++j) {
            int64_t a = ctx->exit_acc[j] + ctx->out[j]; /* |acc| <= 2^62 and |out| < 2^48: no overflow */
            ctx->exit_acc[j] = a > lim ? lim : (a < -lim ? -lim : a);
        }
        if (esn_entropy_q8(ctx->exit_acc, m->output_size, ctx->t + 1u, m->exit_beta_q16) < m->exit_threshold_q8) {
            ctx->exited = 1u;
        }
    }
    ctx->t += 1u;
    return ESN_OK;
}

esn_status esn_run(esn_ctx *ctx, const void *x, uint32_t T, int64_t *out, uint32_t *steps)
{
    uint32_t t;
    uint32_t ran = 0u;
    if (ctx == NULL || x == NULL) {
        return ESN_ERR_NULL;
    }
    if (T == 0u) {
        return ESN_ERR_ARG;
    }
    ESN_CHECK(esn_reset(ctx));
    for (t = 0u; t < T; ++t) {
        const uint32_t k = ctx->model->output_size;
        if (!ctx->exited) {
            ESN_CHECK(esn_step(ctx, (const uint8_t *)x + (size_t)t * ctx->model->input_size * esn_input_bytes(ctx->model)));
            ran = t + 1u;
            if (out != NULL) {
                memcpy(out + (size_t)t * k, ctx->out, (size_t)k * sizeof(int64_t));
            }
        } else if (out != NULL) {
            memset(out + (size_t)t * k, 0, (size_t)k * sizeof(int64_t));
        }
    }
    if (steps != NULL) {
        *steps = ran;
    }
    return ESN_OK;
}

const int64_t *esn_output(const esn_ctx *ctx)
{
    return (ctx != NULL && ctx->ready) ? ctx->out : NULL;
}

const esn_counters *esn_counters_of(const esn_ctx *ctx, uint32_t node, int total)
{
    if (!ESN_ENABLE_COUNTERS || ctx == NULL || !ctx->ready || node >= ctx->model->n_nodes) {
        return NULL;
    }
    return total ? &ctx->total[node] : &ctx->step[node];
}

esn_status esn_state_read(const esn_ctx *ctx, uint32_t node, esn_var var, int32_t *dst)
{
    const esn_node *nd;
    const esn_node_rt *rt;
    esn__state_map sm;
    const uint8_t *p;
    uint32_t j;
    if (ctx == NULL || dst == NULL) {
        return ESN_ERR_NULL;
    }
    if (!ctx->ready) {
        return ESN_ERR_STATE;
    }
    if (node >= ctx->model->n_nodes || (uint32_t)var >= (uint32_t)ESN_VAR_COUNT) {
        return ESN_ERR_ARG;
    }
    nd = &ctx->model->nodes[node];
    rt = &ctx->rt[node];
    if (rt->n_state == 0u || (rt->flags & ESN_RT_STATELESS)) {
        return ESN_ERR_ARG;
    }
    esn__state_map_of(ctx->model, nd, 0, &sm);
    if (sm.off[var] == ESN_NO_VAR) {
        return ESN_ERR_ARG;
    }
    p = ctx->arena + rt->state_off + sm.off[var];
    for (j = 0u; j < nd->out_size; ++j) {
        dst[j] = esn_param_load(p, sm.bits[var], j);
    }
    return ESN_OK;
}
