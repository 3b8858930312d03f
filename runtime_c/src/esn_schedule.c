/*
 * esn_schedule.c: the layer-major schedule (STEMS-style time batching) of a feed-forward model.
 *
 * Each node runs all T steps before the next node starts: its input is its producers' [T][size]
 * buffers, its output a [T][out_size] int32 buffer, and only the running neuron layer's state is
 * resident (zeroed when the layer starts). The arithmetic is the time-step-major runtime's, node
 * by node and step by step (esn__compute), so outputs and counters are bit-identical to esn_run;
 * only the order of the work changes. No early exit: it needs every layer's step t before any
 * layer's step t + 1, which is exactly what this schedule gives up.
 *
 * Arena layout (each region 8-byte aligned):
 *
 *     scratch counters  64 bytes (one node's step)
 *     state             max over neuron layers of out_size x 4 x S
 *     buffers           one T-step buffer (T x out_size x 4, aligned 8) per node except Output and
 *                       Flatten (which reads its input's buffer in place), each placed by first fit
 *                       (lowest offset clear of every buffer still to be read) in schedule order
 *
 * A buffer is live from its node to its last reader. First fit is not optimal in general (it is for
 * a chain: two buffers ping-pong), but it is deterministic and edgesnn.emit.layout mirrors it.
 */
#include <string.h>

#include "esn/esn_port.h"
#include "esn/esn_runtime.h"
#include "esn_internal.h"

#define ESN_SCHED_COUNTERS_BYTES 64u

static uint64_t esn_s_align8(uint64_t x)
{
    return (x + 7u) & ~(uint64_t)7u;
}

static uint32_t esn_s_owner(const esn_model *m, uint32_t k)
{
    while (m->nodes[k].kind == ESN_KIND_FLATTEN) {
        k = m->edges[m->nodes[k].first_edge].src;
    }
    return k;
}

static int esn_s_has_buffer(const esn_node *nd)
{
    return nd->kind != ESN_KIND_OUTPUT && nd->kind != ESN_KIND_FLATTEN;
}

/* The last node that reads the buffer owned by `owner` (owner itself when none does). */
static uint32_t esn_s_last_use(const esn_model *m, uint32_t owner)
{
    uint32_t last = owner;
    uint32_t k;
    uint32_t e;
    for (k = owner + 1u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        for (e = 0u; e < nd->n_edges; ++e) {
            if (esn_s_owner(m, m->edges[nd->first_edge + e].src) == owner) {
                last = k;
            }
        }
    }
    return last;
}

/*
 * Places node k's buffer given the offsets (relative to the buffer region) of nodes 0..k-1:
 * the lowest candidate (0 or the end of a live buffer) that overlaps no buffer live at k.
 */
static uint64_t esn_s_place(const esn_model *m, uint32_t T, const uint64_t *off, const uint32_t *last, uint32_t k)
{
    const uint64_t size = esn_s_align8((uint64_t)T * m->nodes[k].out_size * 4u);
    uint64_t best = UINT64_MAX;
    uint32_t c;
    for (c = 0u; c <= k; ++c) {
        uint64_t cand;
        uint32_t j;
        int clear = 1;
        if (c == k) {
            cand = 0u;
        } else if (esn_s_has_buffer(&m->nodes[c]) && last[c] >= k) {
            cand = off[c] + esn_s_align8((uint64_t)T * m->nodes[c].out_size * 4u);
        } else {
            continue;
        }
        if (cand >= best) {
            continue;
        }
        for (j = 0u; j < k && clear; ++j) {
            if (esn_s_has_buffer(&m->nodes[j]) && last[j] >= k) {
                const uint64_t lo = off[j];
                const uint64_t hi = lo + esn_s_align8((uint64_t)T * m->nodes[j].out_size * 4u);
                clear = cand + size <= lo || cand >= hi;
            }
        }
        if (clear) {
            best = cand;
        }
    }
    return best;
}

/* Computes the layout: buffer offsets (absolute) into off[n_nodes], the state offset, the total. */
static esn_status esn_s_layout(const esn_model *m, uint32_t T, uint64_t *off, uint64_t *state_off, uint64_t *bytes)
{
    uint32_t last[ESN_MAX_NODES];
    uint64_t state = 0u;
    uint64_t base;
    uint64_t end = 0u;
    uint32_t k;
    uint32_t e;
    if (m->n_nodes > ESN_MAX_NODES) {
        return ESN_ERR_LIMIT;
    }
    if (m->exit_enabled) {
        return ESN_ERR_SCHEDULE;
    }
    for (e = 0u; e < m->n_edges; ++e) {
        if (m->edges[e].back) {
            return ESN_ERR_SCHEDULE;
        }
    }
    for (k = 0u; k < m->n_nodes; ++k) {
        const uint64_t s = esn_s_align8((uint64_t)m->nodes[k].out_size * 4u * esn__n_state(&m->nodes[k]));
        state = s > state ? s : state;
        last[k] = esn_s_last_use(m, k);
    }
    for (k = 0u; k < m->n_nodes; ++k) {
        off[k] = 0u;
        if (esn_s_has_buffer(&m->nodes[k])) {
            uint64_t hi;
            off[k] = esn_s_place(m, T, off, last, k);
            hi = off[k] + esn_s_align8((uint64_t)T * m->nodes[k].out_size * 4u);
            end = hi > end ? hi : end;
        }
    }
    base = ESN_SCHED_COUNTERS_BYTES + state;
    for (k = 0u; k < m->n_nodes; ++k) {
        off[k] += base;
    }
    if (base + end > (uint64_t)UINT32_MAX - 7u) {
        return ESN_ERR_LIMIT;
    }
    *state_off = ESN_SCHED_COUNTERS_BYTES;
    *bytes = base + end;
    return ESN_OK;
}

esn_status esn_arena_size_layer_major(const esn_model *m, uint32_t T, uint32_t *bytes)
{
    uint64_t off[ESN_MAX_NODES];
    uint64_t state_off = 0u;
    uint64_t b = 0u;
    if (m == NULL || bytes == NULL || m->nodes == NULL || m->edges == NULL) {
        return ESN_ERR_NULL;
    }
    if (T == 0u) {
        return ESN_ERR_ARG;
    }
    ESN_CHECK(esn_s_layout(m, T, off, &state_off, &b));
    *bytes = (uint32_t)b;
    return ESN_OK;
}

esn_status esn_run_layer_major(const esn_model *m, void *arena, uint32_t size, const uint8_t *x, uint32_t T,
                               int64_t *out, esn_counters *steps, esn_counters *total)
{
    uint64_t off[ESN_MAX_NODES];
    uint64_t state_off = 0u;
    uint64_t need = 0u;
    uint8_t *a = (uint8_t *)arena;
    esn_counters *c;
    uint32_t k;
    uint16_t layer = 0u;
    if (m == NULL || arena == NULL || x == NULL || m->nodes == NULL || m->edges == NULL) {
        return ESN_ERR_NULL;
    }
    if (T == 0u) {
        return ESN_ERR_ARG;
    }
    if (((uintptr_t)arena & 7u) != 0u) {
        return ESN_ERR_ALIGN;
    }
    ESN_CHECK(esn_s_layout(m, T, off, &state_off, &need));
    if ((uint64_t)size < need) {
        ESN_LOG("arena smaller than esn_arena_size_layer_major()");
        return ESN_ERR_ARENA_SMALL;
    }
    c = (esn_counters *)arena;
    if (steps != NULL) {
        memset(steps, 0, (size_t)T * m->n_nodes * sizeof(esn_counters));
    }
    if (total != NULL) {
        memset(total, 0, (size_t)m->n_nodes * sizeof(esn_counters));
    }
    for (k = 0u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        const uint32_t n_state = esn__n_state(nd);
        const int32_t *in[ESN_MAX_FANIN];
        int32_t *buf = (int32_t *)(a + off[esn_s_owner(m, k)]);
        int32_t *state = (int32_t *)(a + state_off);
        uint32_t t;
        uint32_t e;
        uint32_t j;
        if (nd->kind == ESN_KIND_FLATTEN) {
            continue; /* reads its input's buffer in place; counts nothing */
        }
        if (n_state != 0u) {
            memset(state, 0, (size_t)nd->out_size * 4u * n_state);
        }
        for (t = 0u; t < T; ++t) {
            int32_t *o = buf + (size_t)t * nd->out_size;
            for (e = 0u; e < nd->n_edges; ++e) {
                const uint32_t src = m->edges[nd->first_edge + e].src;
                in[e] = (const int32_t *)(a + off[esn_s_owner(m, src)]) + (size_t)t * m->nodes[src].out_size;
            }
            memset(c, 0, sizeof *c);
            if (nd->kind == ESN_KIND_INPUT) {
                const uint8_t *xt = x + (size_t)t * nd->out_size;
                for (j = 0u; j < nd->out_size; ++j) {
                    o[j] = xt[j];
                }
            } else if (nd->kind == ESN_KIND_OUTPUT) {
                if (out != NULL) {
                    int64_t *ot = out + (size_t)t * nd->out_size;
                    for (j = 0u; j < nd->out_size; ++j) {
                        int64_t s = 0;
                        for (e = 0u; e < nd->n_edges; ++e) {
                            s += in[e][j];
                        }
                        ot[j] = s;
                    }
                }
            } else {
#if ESN_ENABLE_CYCLES
                const uint32_t c0 = esn_port_cycles();
                esn__compute(m, nd, in, o, n_state ? state : NULL, layer, t, c);
                c->cycles = (uint32_t)(esn_port_cycles() - c0);
#else
                esn__compute(m, nd, in, o, n_state ? state : NULL, layer, t, c);
#endif
            }
            if (steps != NULL) {
                steps[(size_t)t * m->n_nodes + k] = *c;
            }
            if (total != NULL) {
                esn__counters_add(&total[k], c);
            }
        }
        if (n_state != 0u) {
            ++layer;
        }
    }
    return ESN_OK;
}
