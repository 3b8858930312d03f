/*
 * esn_internal.h: helpers shared by the runtime's source files; not part of the API.
 */
#ifndef ESN_INTERNAL_H
#define ESN_INTERNAL_H

#include <stdint.h>

#include "esn/esn_types.h"

/* Kind properties. */
int esn__is_neuron(uint32_t kind);
int esn__is_spiking(uint32_t kind);
int esn__is_weighted(uint32_t kind);   /* Linear, Affine, Conv1d, Conv2d, Scale */
int esn__is_synaptic(uint32_t kind);   /* weighted or pool */
int esn__is_conv_like(uint32_t kind);  /* Conv1d, Conv2d, pools */

/* Bitmask over esn_param of the arrays a kind must have / may have. */
uint32_t esn__params_required(uint32_t kind);
uint32_t esn__params_optional(uint32_t kind);

/* Number of state variables S of a neuron node (0 for other kinds), and whether it keeps `pending`. */
uint32_t esn__n_state(const esn_node *nd);

/* t += s, counter by counter (one step's counters into a running total). */
void esn__counters_add(esn_counters *t, const esn_counters *s);

/* Everything but the parameter arrays (settings, enums, shapes, geometry, edges). */
esn_status esn__validate_structure(const esn_model *m, esn_diag *diag);

/* Element count the parameter array `slot` of a structurally valid node must have (0: none). */
uint32_t esn__param_count(const esn_node *nd, uint32_t slot);

/* Elements parameter array `slot` stores: esn__param_count per element, out_shape[0] per channel, 1 per layer. */
uint32_t esn__param_stored(const esn_node *nd, uint32_t slot);

/* Weight rows: the weights one input event reads start a row (Linear/Affine [in][out]: out_size per row; conv
 * [C_in][KH][KW][C_out/g]: C_out/g; Scale: one row of in_size); rows of packed weights start on a byte. */
uint32_t esn__weight_row_len(const esn_node *nd);
uint32_t esn__weight_row_bytes(const esn_node *nd);

/* Bytes array `slot` of nd occupies (packed rows included); 0 when absent. */
uint64_t esn__param_bytes(const esn_node *nd, uint32_t slot);

/* Weight `col` of weight row `row` (any stored width). */
static inline int32_t esn__weight_at(const esn_node *nd, uint32_t row_bytes, uint32_t row, uint32_t col)
{
    const uint32_t bits = esn_param_bits(nd, ESN_P_WEIGHT);
    const uint8_t *r = (const uint8_t *)nd->param[ESN_P_WEIGHT] + (size_t)row * row_bytes;
    return bits == 4u   ? esn_nibble(r, col)
           : bits == 2u ? esn_crumb(r, col)
           : bits == 1u ? ((r[col >> 3] >> (col & 7u)) & 1u ? -(int32_t)nd->wmag : (int32_t)nd->wmag)
                        : esn_param_load(r, bits, col);
}

/* Value of a non-weight parameter for output element j of channel ch (ch ignored unless ESN_PM_CHANNEL). */
static inline int32_t esn__param_of(const esn_node *nd, uint32_t slot, uint32_t j, uint32_t ch)
{
    const uint32_t mode = nd->pmode[slot];
    return esn_param_load(nd->param[slot], esn_param_bits(nd, slot),
                          mode == (uint32_t)ESN_PM_ELEM ? j : mode == (uint32_t)ESN_PM_CHANNEL ? ch : 0u);
}

/* Parameter presence, value ranges and the accumulator bound analysis. */
esn_status esn__validate_params(const esn_model *m, esn_diag *diag);

/* Records where validation failed and returns `s`. */
esn_status esn__fail(esn_diag *diag, esn_status s, int32_t node, int32_t edge, int64_t value);

/* The node whose buffer holds k's output: k, or for a Flatten its input's owner. */
uint32_t esn__owner(const esn_model *m, uint32_t k);

/* Index of the schedule group node k belongs to (ESN_NODE_NEW_GROUP flags up to k). */
uint32_t esn__group_of(const esn_model *m, uint32_t k);

/* Where a neuron layer keeps its state (layout in esn_runtime.h). */
#define ESN_NO_VAR UINT32_MAX
typedef struct esn__state_map {
    uint32_t off[ESN_VAR_COUNT]; /* byte offset of each variable in the layer's block; ESN_NO_VAR: none */
    uint8_t bits[ESN_VAR_COUNT]; /* bits each variable is stored at: 8, 16 or 32 (0: absent) */
    uint32_t bytes;              /* the block's bytes, a multiple of 8; 0 for a stateless layer */
} esn__state_map;

/* 1 when neuron node nd carries nothing from one step to the next: LIF, LI, CubaLIF or CubaLI with every
 * decay (alpha, alpha_syn) zero, no synaptic delay and no subtract-late reset. O(out_size). */
int esn__stateless(const esn_node *nd);

/* The state storage of neuron node nd (bytes 0 when it is not a neuron layer or is stateless): v, then
 * i (CubaLIF/CubaLI), eta (ALIF), pending (subtract-late), each 4-byte aligned. Inline and loop-free:
 * every neuron step calls it. */
static inline void esn__state_map_of(const esn_model *m, const esn_node *nd, int stateless, esn__state_map *sm)
{
    const uint32_t n = nd->out_size;
    const uint32_t kind = nd->kind;
    /* v is saturated to state_bits and i to current_bits, so each fits the smallest of int8/16/32 holding them */
    const uint32_t wv = m->state_bits <= 8u ? 1u : m->state_bits <= 16u ? 2u : 4u;
    const uint32_t wi = m->current_bits <= 8u ? 1u : m->current_bits <= 16u ? 2u : 4u;
    uint32_t at;
    sm->off[ESN_VAR_V] = sm->off[ESN_VAR_I] = sm->off[ESN_VAR_ETA] = sm->off[ESN_VAR_PENDING] = ESN_NO_VAR;
    sm->bits[ESN_VAR_V] = sm->bits[ESN_VAR_I] = sm->bits[ESN_VAR_ETA] = sm->bits[ESN_VAR_PENDING] = 0u;
    sm->bytes = 0u;
    if (stateless || !ESN_KIND_HAS(ESN_KINDS_STATE_V, kind)) { /* not a neuron, or a Threshold: no state */
        return;
    }
    sm->off[ESN_VAR_V] = 0u;
    sm->bits[ESN_VAR_V] = (uint8_t)(8u * wv);
    at = n * wv;
    if (ESN_KIND_HAS(ESN_KINDS_STATE_I, kind)) {
        at = (at + 3u) & ~3u;
        sm->off[ESN_VAR_I] = at;
        sm->bits[ESN_VAR_I] = (uint8_t)(8u * wi);
        at += n * wi;
    }
    if (ESN_KIND_HAS(ESN_KINDS_STATE_ETA, kind)) { /* eta: saturated to 32 bits only */
        at = (at + 3u) & ~3u;
        sm->off[ESN_VAR_ETA] = at;
        sm->bits[ESN_VAR_ETA] = 32u;
        at += n * 4u;
    }
    if (nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE) { /* pending spikes: <= 255, int16 */
        at = (at + 3u) & ~3u;
        sm->off[ESN_VAR_PENDING] = at;
        sm->bits[ESN_VAR_PENDING] = 16u;
        at += n * 2u;
    }
    sm->bytes = (at + 7u) & ~7u;
}

/* Arena bytes of one node's counters (esn_counters, 64 bytes; none without ESN_ENABLE_COUNTERS). */
#define ESN_COUNTERS_ARENA_BYTES (ESN_ENABLE_COUNTERS ? 64u : 0u)

/* Bytes of esn_init's fixed part, before the buffers and state: node table, step and total counters (when
 * compiled in), output and exit accumulator (esn_runtime.h). */
static inline uint64_t esn__arena_base(const esn_model *m)
{
    const uint64_t n = m->n_nodes;
    return ((n * 16u + 7u) & ~(uint64_t)7u) + 2u * n * ESN_COUNTERS_ARENA_BYTES +
           2u * (((uint64_t)m->output_size * 8u + 7u) & ~(uint64_t)7u);
}

/* Bytes of node nd's output buffer at its element width (esn_node.out_bits), 8-aligned. */
static inline uint64_t esn__buf_bytes(const esn_node *nd)
{
    return ((uint64_t)nd->out_size * (esn_out_u8(nd) ? 1u : 4u) + 7u) & ~(uint64_t)7u;
}

/* Bytes of the int32 buffer node nd computes in: a spiking neuron layer with uint8 output uses its region as int32
 * scratch (its summed inputs, a stateless layer's v) while it writes its spikes as bytes at the region's start
 * (esn_neuron.c: byte j lies in int32 entry j/4, read by then), so the rest is free after its step; others:
 * esn__buf_bytes. */
static inline uint64_t esn__work_bytes(const esn_node *nd)
{
    return esn_out_u8(nd) && esn__is_neuron(nd->kind) ? ((uint64_t)nd->out_size * 4u + 7u) & ~(uint64_t)7u
                                                       : esn__buf_bytes(nd);
}

/* Entry j of input e: uint8 where in8[e] says so (in8 NULL: every input int32). */
static inline int32_t esn__in_at(const void *const *in, const uint8_t *in8, uint32_t e, uint32_t j)
{
    return (in8 != NULL && in8[e] != 0u) ? (int32_t)((const uint8_t *)in[e])[j] : ((const int32_t *)in[e])[j];
}

/* The memory plan's regions, checked by esn__validate_params when the model has one (arena_bytes != 0). */
esn_status esn__check_plan(const esn_model *m, esn_diag *diag);

/* One step of a synaptic or neuron node (others: traffic only): the kernel on `in` (input e uint8 where in8[e] != 0;
 * in8 NULL: all int32), into `out` (a pool's as uint8 where out8, else int32; a neuron layer's int32), with
 * the state block at state_base laid out by esn__state_map_of (NULL: a stateless layer), then its
 * traffic counters into c (NULL, and not touched, without ESN_ENABLE_COUNTERS). */
void esn__compute(const esn_model *m, const esn_node *nd, const void *const *in, const uint8_t *in8, void *out,
                  int out8, void *state_base, uint32_t layer, uint32_t t, esn_counters *c);

/* Logs a line through the port unless ESN_STRIP_LOG. */
#ifdef ESN_STRIP_LOG
#define ESN_LOG(msg) ((void)0)
#else
#include "esn/esn_port.h"
#define ESN_LOG(msg) esn_port_log(msg)
#endif

#endif /* ESN_INTERNAL_H */
