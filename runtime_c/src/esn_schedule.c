/*
 * esn_schedule.c: the grouped schedule (STEMS-style spatial-temporal mapping) of a whole input.
 *
 * The model's ESN_NODE_NEW_GROUP flags cut its node order into contiguous groups. Inside a group
 * the nodes run time-step-major (for t: for node in group); a group runs all T steps before the
 * next starts. One group is esn_step's schedule; one group per node is layer-major; a weighted
 * layer with the neuron layer after it is "fused". The arithmetic is esn_step's, node by node and
 * step by step (esn__compute), so outputs and counters are bit-identical to esn_run; only the
 * order of the work, and so the memory it needs, changes:
 *
 *   - a tensor read only inside its producer's group lives in a per-step int32 buffer;
 *   - a tensor read by a later group is kept for all T steps (a T-step buffer): as uint8 spike
 *     counts when its producer is the Input or a spiking neuron layer (at most 255 a step), else
 *     int32. A group reading a uint8 one reads row t in place (the kernels take uint8 inputs);
 *   - only the running group's neuron state is resident (zeroed when the group starts).
 *
 * The whole input is staged in the arena first (esn_sched_input); outputs of every step are kept
 * until the run ends. A weighted node flagged ESN_NODE_STAGE_WEIGHTS has its weights copied into the
 * arena when its group starts, so they are read from their region once per input (matters when they
 * sit in slow external flash); the copy costs SRAM (the largest group's staged weights). No early exit (it needs every layer's step t before any layer's step t + 1:
 * one group, which esn_step runs), and a recurrent edge must stay inside one group.
 *
 * Arena layout (esn_runtime.h); the buffers are placed by first fit in a fixed order (group by group:
 * each node's per-step buffer, then its T-step buffer),
 * each at the lowest offset clear of every buffer placed before it whose groups overlap its own.
 * First fit is not optimal in general, but it is deterministic and edgesnn.emit.layout mirrors it.
 * Placing A allocations (per-step and T-step buffers) costs O(A^3) at init: nothing
 * for the example models (A < 30), seconds for a model near the host limits (1,024 nodes).
 */
#include <string.h>

#include "esn/esn_kernels.h"
#include "esn/esn_port.h"
#include "esn/esn_runtime.h"
#include "esn_internal.h"

#define ESN_S_RT_BYTES 16u
#define ESN_S_VIEW_BYTES 8u
#define ESN_S_NONE UINT32_MAX

/* esn_node_rt.flags in a grouped arena */
#define ESN_S_STATELESS 2u /* the layer keeps no state */
#define ESN_S_T8 4u        /* the T-step buffer holds uint8 */
#define ESN_S_DOUBLE 8u    /* the per-step buffer is doubled (a recurrent edge reads last step's) */
#define ESN_S_STAGED 32u   /* the weights are staged at rt.state_off */

/* esn_sched_ctx.view[e].mode: where edge e's destination reads its source's step t */
#define ESN_V_STEP 0u  /* the source's per-step buffer (of the step's parity when doubled) */
#define ESN_V_T32 1u   /* the source's int32 T-step buffer, row t */
#define ESN_V_T8 2u    /* the source's uint8 T-step buffer, row t */

static uint64_t esn_s_align8(uint64_t x)
{
    return (x + 7u) & ~(uint64_t)7u;
}

static int esn_s_u8(uint32_t kind)
{
    return kind == ESN_KIND_INPUT || esn__is_spiking(kind);
}

/* Whether node nd's per-step buffer holds bytes: a spiking layer writes its spike counts at its width
 * (esn_node.out_bits, esn_neuron_step) at the start of its int32-sized per-step buffer. */
static int esn_s_step8(const esn_node *nd)
{
    return esn__is_neuron(nd->kind) && esn_out_u8(nd);
}

static int esn_s_owns(const esn_node *nd)
{
    return nd->kind != ESN_KIND_OUTPUT && nd->kind != ESN_KIND_FLATTEN;
}

/* What the layout works from, computed once per call (on the stack: a few bytes per node and edge). */
typedef struct esn_s_plan {
    uint32_t T;
    uint32_t n_groups;
    uint16_t grp[ESN_MAX_NODES];   /* group of each node */
    uint16_t last[ESN_MAX_NODES];  /* owners: last group that reads it */
    uint8_t flags[ESN_MAX_NODES];  /* owners: ESN_S_* and bit 0 = has a T-step buffer, bit 4 = per-step buffer */
    uint32_t sb[ESN_MAX_NODES];    /* per-step buffer offset, from the buffer region; ESN_S_NONE */
    uint32_t tb[ESN_MAX_NODES];    /* T-step buffer offset (the Input's: the input region) */
    uint8_t mode[ESN_MAX_EDGES];   /* ESN_V_* */
} esn_s_plan;

#define ESN_S_HAS_T 1u
#define ESN_S_HAS_STEP 16u

static uint64_t esn_s_step_bytes(const esn_node *nd, uint32_t flags)
{
    return esn_s_align8((uint64_t)nd->out_size * 4u) * ((flags & ESN_S_DOUBLE) ? 2u : 1u);
}

static uint64_t esn_s_t_bytes(const esn_node *nd, uint32_t flags, uint32_t T)
{
    return esn_s_align8((uint64_t)T * nd->out_size * ((flags & ESN_S_T8) ? 1u : 4u));
}

/* An allocation: a = 0..n-1 per-step buffers, n..2n-1 T-step buffers (a >= 2n: none). */
static int esn_s_alloc(const esn_model *m, esn_s_plan *p, uint32_t a, uint64_t *size, uint32_t *g0,
                       uint32_t *g1, uint32_t **off)
{
    const uint32_t n = m->n_nodes;
    if (a < n) {
        if (!(p->flags[a] & ESN_S_HAS_STEP)) {
            return 0;
        }
        *size = esn_s_step_bytes(&m->nodes[a], p->flags[a]);
        *g0 = *g1 = p->grp[a];
        *off = &p->sb[a];
        return 1;
    }
    if (a - n == 0u || a >= 2u * n || !(p->flags[a - n] & ESN_S_HAS_T)) {
        return 0; /* the Input's T-step buffer is the input region */
    }
    *size = esn_s_t_bytes(&m->nodes[a - n], p->flags[a - n], p->T);
    *g0 = p->grp[a - n];
    *g1 = p->last[a - n];
    *off = &p->tb[a - n];
    return 1;
}

/* First fit of allocation a: the lowest offset (0 or the end of a placed allocation) clear of every
 * allocation already placed whose groups overlap a's. */
static esn_status esn_s_place(const esn_model *m, esn_s_plan *p, uint32_t a)
{
    const uint32_t count = 2u * m->n_nodes;
    uint64_t size, best = UINT64_MAX;
    uint32_t g0, g1, c;
    uint32_t *off;
    if (!esn_s_alloc(m, p, a, &size, &g0, &g1, &off)) {
        return ESN_OK;
    }
    for (c = 0u; c <= count; ++c) {
        uint64_t cand, csize, jsize;
        uint32_t c0, c1, j, j0, j1;
        uint32_t *coff, *joff;
        int clear = 1;
        if (c == count) {
            cand = 0u;
        } else if (c != a && esn_s_alloc(m, p, c, &csize, &c0, &c1, &coff) && *coff != ESN_S_NONE && c0 <= g1 &&
                   g0 <= c1) {
            cand = *coff + csize;
        } else {
            continue;
        }
        if (cand >= best) {
            continue;
        }
        for (j = 0u; j < count && clear; ++j) {
            if (j != a && esn_s_alloc(m, p, j, &jsize, &j0, &j1, &joff) && *joff != ESN_S_NONE && j0 <= g1 &&
                g0 <= j1) {
                clear = cand + size <= *joff || cand >= *joff + jsize;
            }
        }
        if (clear) {
            best = cand;
        }
    }
    if (best + size > (uint64_t)UINT32_MAX - 7u) {
        return ESN_ERR_LIMIT;
    }
    *off = (uint32_t)best;
    return ESN_OK;
}

/* The placement order: group by group, each node's per-step then T-step buffer. */
static esn_status esn_s_place_all(const esn_model *m, esn_s_plan *p, uint64_t *end)
{
    const uint32_t n = m->n_nodes;
    uint32_t g, k;
    uint64_t hi = 0u;
    for (g = 0u; g < p->n_groups; ++g) {
        for (k = 0u; k < n; ++k) {
            if (p->grp[k] == g) {
                ESN_CHECK(esn_s_place(m, p, k));
                ESN_CHECK(esn_s_place(m, p, n + k));
            }
        }
    }
    for (k = 0u; k < 2u * n; ++k) {
        uint64_t size;
        uint32_t g0, g1;
        uint32_t *off;
        if (esn_s_alloc(m, p, k, &size, &g0, &g1, &off) && *off + size > hi) {
            hi = *off + size;
        }
    }
    *end = hi;
    return ESN_OK;
}

/* Bytes of one kept output element: an Output with one incoming edge copies an int32 buffer (4), else
 * it sums several (8). */
static uint32_t esn_s_out_bytes(const esn_model *m)
{
    return m->nodes[m->output_node].n_edges == 1u ? 4u : 8u;
}

/* Sizes of the fixed regions, in layout order. */
typedef struct esn_s_regions {
    uint64_t view, total, out, input, state, weights, buffers, bytes;
} esn_s_regions;

/* Bytes of a weighted node's weight array (aligned 8). */
static uint64_t esn_s_weight_bytes(const esn_node *nd)
{
    return esn_s_align8(esn__param_bytes(nd, ESN_P_WEIGHT));
}

/* Groups, buffer kinds, views and placement; the region offsets. */
static esn_status esn_s_layout(const esn_model *m, esn_s_plan *p, esn_s_regions *r)
{
    const uint32_t n = m->n_nodes;
    uint32_t k, e, g;
    uint64_t state = 0u;
    uint64_t group_state = 0u;
    uint64_t weights = 0u;
    uint64_t end = 0u;
    if (n > ESN_MAX_NODES || m->n_edges > ESN_MAX_EDGES) {
        return ESN_ERR_LIMIT;
    }
    if (m->sched_steps == 0u || m->exit_enabled) {
        return ESN_ERR_SCHEDULE;
    }
    p->T = m->sched_steps;
    g = 0u;
    for (k = 0u; k < n; ++k) {
        g += k > 0u ? (m->nodes[k].flags & ESN_NODE_NEW_GROUP) : 0u;
        p->grp[k] = (uint16_t)g;
        p->last[k] = (uint16_t)g;
        p->flags[k] = 0u;
        p->sb[k] = p->tb[k] = ESN_S_NONE;
    }
    p->n_groups = g + 1u;
    for (k = 0u; k < n; ++k) { /* who reads what, and from which group */
        const esn_node *nd = &m->nodes[k];
        if (nd->kind == ESN_KIND_FLATTEN) {
            continue;
        }
        for (e = nd->first_edge; e < (uint32_t)nd->first_edge + nd->n_edges; ++e) {
            const uint32_t o = esn__owner(m, m->edges[e].src);
            if (m->edges[e].back) {
                if (o == 0u || p->grp[o] != p->grp[k]) {
                    return ESN_ERR_SCHEDULE;
                }
                p->flags[o] |= ESN_S_DOUBLE;
            }
            if (p->grp[k] > p->last[o]) {
                p->last[o] = p->grp[k];
            }
        }
    }
    for (k = 0u; k < n; ++k) {
        const esn_node *nd = &m->nodes[k];
        if (!esn_s_owns(nd)) {
            continue;
        }
        p->flags[k] |= esn_s_u8(nd->kind) ? ESN_S_T8 : 0u;
        if (k == 0u || p->last[k] > p->grp[k]) {
            p->flags[k] |= ESN_S_HAS_T;
        }
        /* an int32 T-step buffer is written in place, unless a recurrent edge needs last step's copy */
        if (k != 0u && (!(p->flags[k] & ESN_S_HAS_T) || (p->flags[k] & (ESN_S_T8 | ESN_S_DOUBLE)))) {
            p->flags[k] |= ESN_S_HAS_STEP;
        }
        if (esn__n_state(nd) != 0u && esn__stateless(nd)) {
            p->flags[k] |= ESN_S_STATELESS;
        }
    }
    for (k = 0u; k < n; ++k) { /* where each edge reads */
        const esn_node *nd = &m->nodes[k];
        for (e = nd->first_edge; e < (uint32_t)nd->first_edge + nd->n_edges; ++e) {
            const uint32_t o = esn__owner(m, m->edges[e].src);
            if (nd->kind == ESN_KIND_FLATTEN) {
                p->mode[e] = ESN_V_STEP; /* reads nothing */
            } else if (p->grp[o] == p->grp[k] && o != 0u) {
                p->mode[e] = (uint8_t)((p->flags[o] & ESN_S_HAS_STEP) ? ESN_V_STEP : ESN_V_T32);
            } else {
                p->mode[e] = (uint8_t)((p->flags[o] & ESN_S_T8) ? ESN_V_T8 : ESN_V_T32);
            }
        }
    }
    for (g = 0u; g < p->n_groups; ++g) { /* the largest group's resident state and staged weights */
        uint64_t group_weights = 0u;
        group_state = 0u;
        for (k = 0u; k < n; ++k) {
            if (p->grp[k] == g && esn__n_state(&m->nodes[k]) != 0u) {
                esn__state_map sm;
                esn__state_map_of(m, &m->nodes[k], (p->flags[k] & ESN_S_STATELESS) != 0u, &sm);
                group_state += sm.bytes;
            }
            if (p->grp[k] == g && (m->nodes[k].flags & ESN_NODE_STAGE_WEIGHTS)) {
                group_weights += esn_s_weight_bytes(&m->nodes[k]);
            }
        }
        state = group_state > state ? group_state : state;
        weights = group_weights > weights ? group_weights : weights;
    }
    ESN_CHECK(esn_s_place_all(m, p, &end));
    r->view = esn_s_align8((uint64_t)n * ESN_S_RT_BYTES);
    r->total = r->view + esn_s_align8((uint64_t)m->n_edges * ESN_S_VIEW_BYTES);
    r->out = r->total + (uint64_t)n * ESN_COUNTERS_ARENA_BYTES; /* none without ESN_ENABLE_COUNTERS */
    r->input = r->out + esn_s_align8((uint64_t)p->T * m->output_size * esn_s_out_bytes(m));
    r->state = r->input + esn_s_align8((uint64_t)p->T * m->input_size);
    r->weights = r->state + state;
    r->buffers = r->weights + weights;
    r->bytes = r->buffers + end;
    if (r->bytes > (uint64_t)UINT32_MAX - 7u) {
        return ESN_ERR_LIMIT;
    }
    return ESN_OK;
}

esn_status esn_arena_size_sched(const esn_model *m, uint32_t *bytes)
{
    esn_s_plan p;
    esn_s_regions r;
    if (m == NULL || bytes == NULL || m->nodes == NULL || m->edges == NULL) {
        return ESN_ERR_NULL;
    }
    ESN_CHECK(esn_s_layout(m, &p, &r));
    *bytes = (uint32_t)r.bytes;
    return ESN_OK;
}

esn_status esn_sched_init(esn_sched_ctx *ctx, const esn_model *m, void *arena, uint32_t size)
{
    esn_s_plan p;
    esn_s_regions r;
    esn_node_rt *rt;
    uint32_t *view;
    uint32_t k, e;
    uint16_t layer = 0u;
    uint32_t prev_grp = UINT32_MAX;
    uint64_t state_at = 0u;
    uint64_t weights_at = 0u;
    if (ctx == NULL || m == NULL || arena == NULL || m->nodes == NULL || m->edges == NULL) {
        return ESN_ERR_NULL;
    }
    memset(ctx, 0, sizeof *ctx);
    ESN_CHECK(esn_s_layout(m, &p, &r));
    if (((uintptr_t)arena & 7u) != 0u) {
        return ESN_ERR_ALIGN;
    }
    if ((uint64_t)size < r.bytes) {
        ESN_LOG("arena smaller than esn_arena_size_sched()");
        return ESN_ERR_ARENA_SMALL;
    }
    ctx->model = m;
    ctx->arena = (uint8_t *)arena;
    ctx->arena_size = (uint32_t)r.bytes;
    ctx->T = p.T;
    ctx->n_groups = p.n_groups;
    ctx->rt = rt = (esn_node_rt *)arena;
    ctx->view = view = (uint32_t *)(void *)(ctx->arena + r.view);
    ctx->total = ESN_ENABLE_COUNTERS ? (esn_counters *)(void *)(ctx->arena + r.total) : NULL;
    ctx->out = ctx->arena + r.out;
    ctx->out_bytes = esn_s_out_bytes(m);
    ctx->input = ctx->arena + r.input;
    memset(arena, 0, (size_t)r.bytes);
    for (k = 0u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        if (p.grp[k] != prev_grp) {
            prev_grp = p.grp[k];
            state_at = r.state;
            weights_at = r.weights;
        }
        rt[k].buf_off[0] = p.sb[k] == ESN_S_NONE ? 0u : (uint32_t)(r.buffers + p.sb[k]);
        rt[k].buf_off[1] = k == 0u ? (uint32_t)r.input : (p.tb[k] == ESN_S_NONE ? 0u : (uint32_t)(r.buffers + p.tb[k]));
        rt[k].flags = (uint8_t)(p.flags[k] | ((nd->flags & ESN_NODE_STAGE_WEIGHTS) ? ESN_S_STAGED : 0u));
        rt[k].n_state = (uint8_t)esn__n_state(nd);
        if (nd->flags & ESN_NODE_STAGE_WEIGHTS) { /* a weighted node has no state: state_off holds the copy */
            rt[k].state_off = (uint32_t)weights_at;
            weights_at += esn_s_weight_bytes(nd);
        }
        if (rt[k].n_state != 0u) {
            esn__state_map sm;
            esn__state_map_of(m, nd, (p.flags[k] & ESN_S_STATELESS) != 0u, &sm);
            rt[k].layer = layer++;
            rt[k].state_off = (uint32_t)state_at;
            state_at += sm.bytes;
        }
    }
    for (e = 0u; e < m->n_edges; ++e) {
        const uint32_t o = esn__owner(m, m->edges[e].src);
        view[2u * e + 1u] = p.mode[e];
        if (p.mode[e] != ESN_V_STEP) {
            view[2u * e] = rt[o].buf_off[1];
        } else {
            view[2u * e] = rt[o].buf_off[0];
        }
    }
    ctx->ready = 1u;
    return ESN_OK;
}

int64_t esn_sched_output(const esn_sched_ctx *ctx, uint32_t t, uint32_t j)
{
    size_t i;
    if (ctx == NULL || !ctx->ready || t >= ctx->T || j >= ctx->model->output_size) {
        return 0;
    }
    i = (size_t)t * ctx->model->output_size + j;
    return ctx->out_bytes == 4u ? ((const int32_t *)(const void *)ctx->out)[i]
                                : ((const int64_t *)(const void *)ctx->out)[i];
}

uint8_t *esn_sched_input(const esn_sched_ctx *ctx)
{
    return (ctx != NULL && ctx->ready) ? ctx->input : NULL;
}

/* Where edge e (into a node of the running group) reads step t: uint8 where its mode is ESN_V_T8, else int32. */
static const void *esn_s_in(const esn_sched_ctx *ctx, uint32_t e, uint32_t t)
{
    const esn_model *m = ctx->model;
    const esn_edge *ed = &m->edges[e];
    const uint32_t o = esn__owner(m, ed->src);
    const uint32_t n = m->nodes[o].out_size;
    const uint32_t off = ctx->view[2u * e];
    switch (ctx->view[2u * e + 1u]) {
    case ESN_V_T32:
        return (const int32_t *)(const void *)(ctx->arena + off) + (size_t)t * n;
    case ESN_V_T8:
        return ctx->arena + off + (size_t)t * n;
    default: {
        const uint32_t par = (t & 1u) ^ (ed->back ? 1u : 0u);
        const uint32_t dbl = (ctx->rt[o].flags & ESN_S_DOUBLE) ? par : 0u;
        return (const int32_t *)(const void *)(ctx->arena + off + dbl * (uint32_t)esn_s_align8((uint64_t)n * 4u));
    }
    }
}

/* Starts group [g0, g1): zero its state; a doubled per-step buffer's other copy holds the value at rest;
 * copy the weights it stages. */
static void esn_s_start_group(esn_sched_ctx *ctx, uint32_t g0, uint32_t g1)
{
    const esn_model *m = ctx->model;
    uint32_t k;
    for (k = g0; k < g1; ++k) {
        const esn_node *nd = &m->nodes[k];
        const esn_node_rt *rt = &ctx->rt[k];
        if (rt->flags & ESN_S_STAGED) {
            const uint32_t bytes = (uint32_t)esn__param_bytes(nd, ESN_P_WEIGHT);
            memcpy(ctx->arena + rt->state_off, nd->param[ESN_P_WEIGHT], bytes);
            ctx->staged_bytes += bytes;
        }
        if (rt->n_state != 0u && !(rt->flags & ESN_S_STATELESS)) {
            esn__state_map sm;
            esn__state_map_of(m, nd, 0, &sm);
            memset(ctx->arena + rt->state_off, 0, sm.bytes);
        }
        if (rt->flags & ESN_S_DOUBLE) {
            int32_t *other = (int32_t *)(void *)(ctx->arena + rt->buf_off[0] +
                                                 (uint32_t)esn_s_align8((uint64_t)nd->out_size * 4u));
            if (esn__is_synaptic(nd->kind)) {
                esn_rest_out(nd, other);
            } else {
                memset(other, 0, (size_t)nd->out_size * 4u);
            }
        }
    }
}

/* Runs node k (not Input or Flatten) of the running group at step t. */
static void esn_s_node(esn_sched_ctx *ctx, uint32_t k, uint32_t t, esn_counters *c)
{
    const esn_model *m = ctx->model;
    const esn_node *nd = &m->nodes[k];
    const esn_node_rt *rt = &ctx->rt[k];
    const void *in[ESN_MAX_FANIN];
    uint8_t in8[ESN_MAX_FANIN];
    int32_t *o;
    uint32_t e, j;
    for (e = 0u; e < nd->n_edges; ++e) {
        in[e] = esn_s_in(ctx, nd->first_edge + e, t);
        const uint32_t mode = ctx->view[2u * (nd->first_edge + e) + 1u];
        in8[e] = (uint8_t)(mode == ESN_V_T8 ||
                           (mode == ESN_V_STEP && esn_s_step8(&m->nodes[esn__owner(m, m->edges[nd->first_edge + e].src)])));
    }
    if (nd->kind == ESN_KIND_OUTPUT) {
        const size_t row = (size_t)t * m->output_size;
        for (j = 0u; j < nd->out_size; ++j) {
            int64_t s = 0;
            for (e = 0u; e < nd->n_edges; ++e) {
                s += esn__in_at(in, in8, e, j);
            }
            if (ctx->out_bytes == 4u) {
                ((int32_t *)(void *)ctx->out)[row + j] = (int32_t)s; /* one edge: an int32 value */
            } else {
                ((int64_t *)(void *)ctx->out)[row + j] = s;
            }
        }
        return;
    }
    if (rt->flags & ESN_S_HAS_STEP) {
        const uint32_t dbl = (rt->flags & ESN_S_DOUBLE) ? (t & 1u) : 0u;
        o = (int32_t *)(void *)(ctx->arena + rt->buf_off[0] + dbl * (uint32_t)esn_s_align8((uint64_t)nd->out_size * 4u));
    } else {
        o = (int32_t *)(void *)(ctx->arena + rt->buf_off[1]) + (size_t)t * nd->out_size;
    }
#if ESN_ENABLE_CYCLES
    {
        const uint32_t c0 = esn_port_cycles();
#endif
        if (rt->flags & ESN_S_STAGED) {
            esn_node staged = *nd; /* the same node, reading its weights from the arena's copy */
            staged.param[ESN_P_WEIGHT] = ctx->arena + rt->state_off;
            esn__compute(m, &staged, in, in8, o, 0, NULL, rt->layer, t, c);
        } else {
            esn__compute(m, nd, in, in8, o, 0, /* int32-sized per-step buffers (spikes as bytes), uint8 or int32 T rows */
                         (rt->n_state != 0u && !(rt->flags & ESN_S_STATELESS)) ? ctx->arena + rt->state_off : NULL,
                         rt->layer, t, c);
        }
#if ESN_ENABLE_CYCLES
        c->cycles = (uint32_t)(esn_port_cycles() - c0);
    }
#endif
    if ((rt->flags & ESN_S_HAS_T) && (rt->flags & ESN_S_HAS_STEP)) { /* keep step t for later groups */
        if (rt->flags & ESN_S_T8) {
            uint8_t *row = ctx->arena + rt->buf_off[1] + (size_t)t * nd->out_size;
            if (esn_s_step8(nd)) {
                memcpy(row, o, nd->out_size);
            } else {
                for (j = 0u; j < nd->out_size; ++j) {
                    row[j] = (uint8_t)o[j]; /* spike counts: 0..255 */
                }
            }
        } else {
            memcpy((int32_t *)(void *)(ctx->arena + rt->buf_off[1]) + (size_t)t * nd->out_size, o,
                   (size_t)nd->out_size * 4u);
        }
    }
}

esn_status esn_sched_run(esn_sched_ctx *ctx, esn_counters *steps)
{
    const esn_model *m;
    uint32_t g0, g1, t, k;
    if (ctx == NULL) {
        return ESN_ERR_NULL;
    }
    if (!ctx->ready) {
        return ESN_ERR_STATE;
    }
    m = ctx->model;
    ctx->staged_bytes = 0u;
    if (ESN_ENABLE_COUNTERS) {
        memset(ctx->total, 0, (size_t)m->n_nodes * sizeof(esn_counters));
    }
    if (steps != NULL) { /* zeros without ESN_ENABLE_COUNTERS */
        memset(steps, 0, (size_t)ctx->T * m->n_nodes * sizeof(esn_counters));
    }
    for (g0 = 0u; g0 < m->n_nodes; g0 = g1) {
        for (g1 = g0 + 1u; g1 < m->n_nodes && !(m->nodes[g1].flags & ESN_NODE_NEW_GROUP); ++g1) {
        }
        esn_s_start_group(ctx, g0, g1);
        for (t = 0u; t < ctx->T; ++t) {
            for (k = g0; k < g1; ++k) {
                esn_counters c;
                const uint32_t kind = m->nodes[k].kind;
                if (kind == ESN_KIND_INPUT || kind == ESN_KIND_FLATTEN) {
                    continue; /* staged / read in place; count nothing */
                }
                if (!ESN_ENABLE_COUNTERS) {
                    esn_s_node(ctx, k, t, NULL);
                    continue;
                }
                memset(&c, 0, sizeof c);
                esn_s_node(ctx, k, t, &c);
                esn__counters_add(&ctx->total[k], &c);
                if (steps != NULL) {
                    steps[(size_t)t * m->n_nodes + k] = c;
                }
            }
        }
    }
    return ESN_OK;
}
