/*
 * esn_model.c: validation of a model before it runs.
 *
 * Two phases. The structure phase checks the settings, every enumeration, every shape and its
 * product, conv/pool geometry, and the edges (grouped by destination, forward edges from earlier
 * nodes, shapes that match). The parameter phase checks that each kind has exactly its parameter
 * arrays, that their values lie in the ranges the quantizer produces (edgesnn/quantize/ptq.py), and
 * runs a bound analysis: the largest magnitude each node's output can reach, for any input,
 * propagated through the graph (recurrent edges included, iterated to a fixed point), so that
 * every int32 accumulator provably stays in range. A cycle that does not pass through a neuron
 * layer has no fixed point and is refused.
 *
 * Not optimal: the bound is per layer (the largest row), not per output, so a model with one
 * heavy row is judged by that row; the quantizer's own check (ptq._check_accumulator) is the same.
 */
#include <string.h>

#include "esn/esn_runtime.h"
#include "esn_internal.h"

#define ESN_BIT(p) (1u << (p))

/* The kind sets of esn_kinds.h hold one bit per kind in a uint32_t. */
typedef char esn_kinds_fit_in_32_bits[ESN_KIND_COUNT <= 32 ? 1 : -1];

/* Parameter arrays per kind: the `required` and `optional` columns of esn_kinds.h. */
static const uint32_t esn_required[ESN_KIND_COUNT] = {
#define ESN_REQUIRED_(name, code, required, optional, flags, state) [ESN_KIND_##name] = (required),
    ESN_KINDS(ESN_REQUIRED_)
#undef ESN_REQUIRED_
};

static const uint32_t esn_optional[ESN_KIND_COUNT] = {
#define ESN_OPTIONAL_(name, code, required, optional, flags, state) [ESN_KIND_##name] = (optional),
    ESN_KINDS(ESN_OPTIONAL_)
#undef ESN_OPTIONAL_
};

int esn__is_neuron(uint32_t kind)
{
    return ESN_KIND_IN(ESN_KINDS_NEURON, kind);
}

int esn__is_spiking(uint32_t kind)
{
    return ESN_KIND_IN(ESN_KINDS_SPIKING, kind);
}

int esn__is_weighted(uint32_t kind)
{
    return ESN_KIND_IN(ESN_KINDS_WEIGHTED, kind);
}

int esn__is_synaptic(uint32_t kind)
{
    return ESN_KIND_IN(ESN_KINDS_SYNAPTIC, kind);
}

int esn__is_conv_like(uint32_t kind)
{
    return ESN_KIND_IN(ESN_KINDS_CONV_LIKE, kind);
}

uint32_t esn__params_required(uint32_t kind)
{
    return kind < ESN_KIND_COUNT ? esn_required[kind] : 0u;
}

uint32_t esn__params_optional(uint32_t kind)
{
    return kind < ESN_KIND_COUNT ? esn_optional[kind] : 0u;
}

uint32_t esn__n_state(const esn_node *nd)
{
    const uint32_t kind = nd->kind;
    if (!esn__is_neuron(kind)) {
        return 0u;
    }
    return (uint32_t)ESN_KIND_HAS(ESN_KINDS_STATE_V, kind) + (uint32_t)ESN_KIND_HAS(ESN_KINDS_STATE_I, kind) +
           (uint32_t)ESN_KIND_HAS(ESN_KINDS_STATE_ETA, kind) + (nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE ? 1u : 0u);
}

int esn__stateless(const esn_node *nd)
{
    const uint32_t kind = nd->kind;
    int cuba;
    uint32_t j;
    if (!ESN_KIND_IN(ESN_KINDS_STATELESS, kind)) {
        return 0;
    }
    cuba = ESN_KIND_HAS(ESN_KINDS_STATE_I, kind);
    if (nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE || (cuba && nd->syn_delay)) {
        return 0;
    }
    for (j = 0u; j < esn__param_stored(nd, ESN_P_ALPHA); ++j) {
        if (esn_param_load(nd->param[ESN_P_ALPHA], esn_param_bits(nd, ESN_P_ALPHA), j) != 0) {
            return 0;
        }
    }
    for (j = 0u; cuba && j < esn__param_stored(nd, ESN_P_ALPHA_SYN); ++j) {
        if (esn_param_load(nd->param[ESN_P_ALPHA_SYN], esn_param_bits(nd, ESN_P_ALPHA_SYN), j) != 0) {
            return 0;
        }
    }
    return 1;
}

esn_status esn__fail(esn_diag *diag, esn_status s, int32_t node, int32_t edge, int64_t value)
{
    if (diag != NULL) {
        diag->node = node;
        diag->edge = edge;
        diag->value = value;
    }
    return s;
}

#define ESN_FAIL(s, node, value) esn__fail(diag, (s), (int32_t)(node), -1, (int64_t)(value))

/* Product of the first `rank` dims (each >= 1, the rest 0) if it is at most ESN_MAX_ELEMS, else 0. */
static uint32_t esn_shape_size(const uint32_t *shape, uint32_t rank)
{
    uint64_t p = 1u;
    uint32_t a;
    if (rank < 1u || rank > ESN_MAX_RANK) {
        return 0u;
    }
    for (a = 0u; a < ESN_MAX_RANK; ++a) {
        if (a < rank) {
            if (shape[a] == 0u) {
                return 0u;
            }
            p *= shape[a];
            if (p > (uint64_t)ESN_MAX_ELEMS) {
                return 0u;
            }
        } else if (shape[a] != 0u) {
            return 0u;
        }
    }
    return (uint32_t)p;
}

static int esn_same_shape(const uint32_t *a, uint32_t ra, const uint32_t *b, uint32_t rb)
{
    uint32_t i;
    if (ra != rb) {
        return 0;
    }
    for (i = 0u; i < ESN_MAX_RANK; ++i) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

/* (n + 2 pad - dil (k - 1) - 1) / stride + 1, or 0 when the kernel does not fit. */
static uint32_t esn_conv_out_len(uint32_t n, uint32_t k, uint32_t stride, uint32_t pad, uint32_t dil)
{
    const int64_t span = (int64_t)n + 2 * (int64_t)pad - (int64_t)dil * ((int64_t)k - 1) - 1;
    if (span < 0) {
        return 0u;
    }
    return (uint32_t)(span / (int64_t)stride + 1);
}

static esn_status esn_check_geometry(const esn_model *m, uint32_t k, esn_diag *diag)
{
    const esn_node *nd = &m->nodes[k];
    const uint32_t kind = nd->kind;
    const int pool = kind == ESN_KIND_SUMPOOL2D || kind == ESN_KIND_AVGPOOL2D;
    const uint32_t rank = kind == ESN_KIND_CONV1D ? 2u : 3u;
    uint32_t a;
    if (!esn__is_conv_like(kind)) {
        for (a = 0u; a < 2u; ++a) {
            if (nd->kernel[a] || nd->stride[a] || nd->pad[a] || nd->dil[a]) {
                return ESN_FAIL(ESN_ERR_SHAPE, k, a);
            }
        }
        return nd->groups == 0u ? ESN_OK : ESN_FAIL(ESN_ERR_SHAPE, k, nd->groups);
    }
    if (nd->in_rank != rank || nd->out_rank != rank) {
        return ESN_FAIL(ESN_ERR_SHAPE, k, nd->in_rank);
    }
    for (a = 0u; a < 2u; ++a) {
        if (nd->kernel[a] < 1u || nd->stride[a] < 1u || nd->dil[a] < 1u || (pool && nd->dil[a] != 1u)) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, a);
        }
    }
    if (kind == ESN_KIND_CONV1D &&
        (nd->kernel[0] != 1u || nd->stride[0] != 1u || nd->pad[0] != 0u || nd->dil[0] != 1u)) {
        return ESN_FAIL(ESN_ERR_SHAPE, k, nd->kernel[0]);
    }
    if (pool) {
        if (nd->groups != 0u || nd->out_shape[0] != nd->in_shape[0]) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, nd->groups);
        }
    } else if (nd->groups < 1u || nd->in_shape[0] % nd->groups != 0u || nd->out_shape[0] % nd->groups != 0u) {
        return ESN_FAIL(ESN_ERR_SHAPE, k, nd->groups);
    }
    /* spatial axes: (H, W) for rank 3, (L) for rank 2 whose geometry sits in index 1 */
    for (a = 1u; a < rank; ++a) {
        const uint32_t g = rank == 3u ? a - 1u : 1u;
        const uint32_t o = esn_conv_out_len(nd->in_shape[a], nd->kernel[g], nd->stride[g], nd->pad[g], nd->dil[g]);
        if (o < 1u || o != nd->out_shape[a]) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, nd->out_shape[a]);
        }
    }
    return ESN_OK;
}

static esn_status esn_check_flatten(const esn_node *nd, uint32_t k, esn_diag *diag)
{
    uint64_t merged = 1u;
    int32_t a;
    const int32_t s = nd->flat_start;
    const int32_t e = nd->flat_end;
    const int32_t r = nd->in_rank;
    if (nd->kind != ESN_KIND_FLATTEN) {
        return (s == 0 && e == 0) ? ESN_OK : ESN_FAIL(ESN_ERR_SHAPE, k, s);
    }
    if (s < 0 || s > e || e >= r || (int32_t)nd->out_rank != r - (e - s)) {
        return ESN_FAIL(ESN_ERR_SHAPE, k, s);
    }
    for (a = 0; a < r; ++a) {
        if (a < s && nd->out_shape[a] != nd->in_shape[a]) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, a);
        }
        if (a >= s && a <= e) {
            merged *= nd->in_shape[a];
        }
        if (a > e && nd->out_shape[a - (e - s)] != nd->in_shape[a]) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, a);
        }
    }
    return merged == nd->out_shape[s] ? ESN_OK : ESN_FAIL(ESN_ERR_SHAPE, k, merged);
}

static esn_status esn_check_enums(const esn_model *m, uint32_t k, esn_diag *diag)
{
    const esn_node *nd = &m->nodes[k];
    const uint32_t kind = nd->kind;
    const int spk = esn__is_spiking(kind);
    const int resets = spk && (esn__params_required(kind) & ESN_BIT(ESN_P_V_RESET)); /* IF, LIF, CubaLIF */
    const int cuba = ESN_KIND_HAS(ESN_KINDS_STATE_I, kind); /* kind < ESN_KIND_COUNT: checked before */
    const uint32_t mask = esn__params_required(kind) | esn__params_optional(kind);
    uint32_t slot;
    if (resets ? nd->reset >= ESN_RESET_COUNT : nd->reset != 0u) {
        return ESN_FAIL(ESN_ERR_ENUM, k, nd->reset);
    }
    if (spk ? nd->spike_rule >= ESN_SPIKE_RULE_COUNT : nd->spike_rule != 0u) {
        return ESN_FAIL(ESN_ERR_ENUM, k, nd->spike_rule);
    }
    if (cuba ? nd->syn_delay > 1u : nd->syn_delay != 0u) {
        return ESN_FAIL(ESN_ERR_ENUM, k, nd->syn_delay);
    }
    if (nd->max_spikes < 1u || nd->max_spikes > 255u || (!resets && nd->max_spikes != 1u) ||
        (nd->max_spikes > 1u && nd->reset != ESN_RESET_SUBTRACT && nd->reset != ESN_RESET_SUBTRACT_LATE)) {
        return ESN_FAIL(ESN_ERR_ENUM, k, nd->max_spikes);
    }
    /* channel-last tensors (esn_types.h, esn_node.layout): only conv/pool read and write them by strides; a neuron
     * layer or a Flatten keeps its input's order, a Linear/Affine may read one (its rows are in that order); the
     * Input, the Output and Scale are row-major, and so is a neuron layer with a per-channel parameter */
    if ((nd->layout & ~(ESN_LAYOUT_OUT_CL | ESN_LAYOUT_IN_CL)) != 0u ||
        (!esn__is_conv_like(kind) && !esn__is_neuron(kind) && kind != ESN_KIND_FLATTEN &&
         nd->layout != ((kind == ESN_KIND_LINEAR || kind == ESN_KIND_AFFINE) ? (nd->layout & ESN_LAYOUT_IN_CL) : 0u)) ||
        ((esn__is_neuron(kind) || kind == ESN_KIND_FLATTEN) && nd->layout != 0u &&
         nd->layout != (ESN_LAYOUT_OUT_CL | ESN_LAYOUT_IN_CL)) ||
        /* stochastic rounding keys a neuron's noise by its index, which is that of the row-major order */
        (esn__is_neuron(kind) && nd->layout != 0u && m->rounding == (uint8_t)ESN_ROUND_STOCHASTIC) ||
        (kind == ESN_KIND_FLATTEN && nd->layout != 0u && nd->flat_start == 0 && nd->flat_end + 1 != (int32_t)nd->in_rank)) {
        /* a Flatten keeps [..][C] last unless it merges the channel axis with some, not all, of the others */
        return ESN_FAIL(ESN_ERR_ENUM, k, nd->layout);
    }
    for (slot = 0u; slot < ESN_P_COUNT; ++slot) { /* storage of each array: esn_types.h, esn_node.pbits */
        const uint32_t bits = nd->pbits[slot];
        const uint32_t mode = nd->pmode[slot];
        int ok;
        if (!(mask & ESN_BIT(slot))) {
            ok = bits == 0u && mode == 0u;
        } else if (slot == ESN_P_WEIGHT) { /* binary weights (weight_bits 1) only at 1 bit, and only they */
            ok = (m->weight_bits == 1u ? bits == 1u
                                       : (bits == 0u || bits == 2u || bits == 4u || bits == 8u || bits == 16u) &&
                                             esn_param_bits(nd, slot) >= m->weight_bits) &&
                 mode == ESN_PM_ELEM;
        } else {
            ok = (bits == 0u || bits == 8u || bits == 16u || bits == 32u) &&
                 (mode == ESN_PM_ELEM || mode == ESN_PM_LAYER ||
                  (mode == ESN_PM_CHANNEL && esn__is_neuron(kind) && nd->out_rank >= 2u));
        }
        if (!ok) {
            return ESN_FAIL(ESN_ERR_PARAM, k, slot);
        }
        if (mode == ESN_PM_CHANNEL && nd->layout != 0u) { /* the neuron kernel's channel is that of [C][H][W] */
            return ESN_FAIL(ESN_ERR_ENUM, k, nd->layout);
        }
    }
    if ((nd->pbits[ESN_P_WEIGHT] == 1u) != (nd->wmag != 0u) || nd->wmag > 127u) { /* esn_node.wmag */
        return ESN_FAIL(ESN_ERR_PARAM, k, nd->wmag);
    }
    if ((nd->flags & ~(ESN_NODE_NEW_GROUP | ESN_NODE_STAGE_WEIGHTS)) != 0u || (k == 0u && nd->flags != 0u) ||
        ((nd->flags & ESN_NODE_STAGE_WEIGHTS) && !esn__is_weighted(kind))) {
        return ESN_FAIL(ESN_ERR_ENUM, k, nd->flags);
    }
    return ESN_OK;
}

static esn_status esn_check_edges(const esn_model *m, uint32_t k, uint32_t expect_first, esn_diag *diag)
{
    const esn_node *nd = &m->nodes[k];
    uint32_t e;
    uint32_t forward = 0u;
    if (nd->first_edge != expect_first) {
        return ESN_FAIL(ESN_ERR_EDGE, k, nd->first_edge);
    }
    if (nd->kind == ESN_KIND_INPUT) {
        return nd->n_edges == 0u ? ESN_OK : ESN_FAIL(ESN_ERR_EDGE, k, nd->n_edges);
    }
    if (nd->n_edges > ESN_MAX_FANIN) {
        return ESN_FAIL(ESN_ERR_LIMIT, k, nd->n_edges);
    }
    if (nd->n_edges == 0u || (uint32_t)nd->first_edge + nd->n_edges > m->n_edges) {
        return ESN_FAIL(ESN_ERR_EDGE, k, nd->n_edges);
    }
    if ((nd->kind == ESN_KIND_FLATTEN || nd->kind == ESN_KIND_SUMPOOL2D || nd->kind == ESN_KIND_AVGPOOL2D) &&
        nd->n_edges != 1u) {
        return ESN_FAIL(ESN_ERR_EDGE, k, nd->n_edges);
    }
    for (e = nd->first_edge; e < (uint32_t)nd->first_edge + nd->n_edges; ++e) {
        const esn_edge *ed = &m->edges[e];
        const esn_node *src;
        if (ed->src >= m->n_nodes || ed->src == m->output_node || ed->back > 1u || ed->reserved != 0u ||
            (!ed->back && ed->src >= k)) {
            return esn__fail(diag, ESN_ERR_EDGE, (int32_t)k, (int32_t)e, ed->src);
        }
        if (nd->kind == ESN_KIND_FLATTEN && ed->back) {
            return esn__fail(diag, ESN_ERR_EDGE, (int32_t)k, (int32_t)e, ed->back);
        }
        forward += ed->back ? 0u : 1u;
        src = &m->nodes[ed->src];
        /* the node reads its sources in the layout they write; a recurrent edge reads a row-major buffer */
        if ((uint32_t)((src->layout & ESN_LAYOUT_OUT_CL) != 0u) != (uint32_t)((nd->layout & ESN_LAYOUT_IN_CL) != 0u) ||
            (ed->back && (src->layout & ESN_LAYOUT_OUT_CL) != 0u)) {
            return esn__fail(diag, ESN_ERR_ENUM, (int32_t)k, (int32_t)e, src->layout);
        }
        if (!esn_same_shape(src->out_shape, src->out_rank, nd->in_shape, nd->in_rank)) {
            return esn__fail(diag, ESN_ERR_SHAPE, (int32_t)k, (int32_t)e, ed->src);
        }
    }
    return forward > 0u ? ESN_OK : ESN_FAIL(ESN_ERR_EDGE, k, 0);
}

uint32_t esn__owner(const esn_model *m, uint32_t k)
{
    while (m->nodes[k].kind == ESN_KIND_FLATTEN) {
        k = m->edges[m->nodes[k].first_edge].src; /* a Flatten's one edge is forward: this ends */
    }
    return k;
}

uint32_t esn__group_of(const esn_model *m, uint32_t k)
{
    uint32_t g = 0u;
    uint32_t j;
    for (j = 1u; j <= k; ++j) {
        g += m->nodes[j].flags & ESN_NODE_NEW_GROUP;
    }
    return g;
}

/* Analog input (esn_model.input_bits 8 or 16) is multiplied into the weights of the layers that read it, so only
 * Linear, Affine and Conv layers may read the Input (a pool, Scale or neuron layer would take signed real values
 * as spike counts). */
static esn_status esn_check_analog_readers(const esn_model *m, esn_diag *diag)
{
    uint32_t k;
    uint32_t e;
    if (m->input_bits == 0u) {
        return ESN_OK;
    }
    for (k = 1u; k < m->n_nodes; ++k) { /* readers of the Input, or of a Flatten of it */
        const uint32_t kind = m->nodes[k].kind;
        for (e = m->nodes[k].first_edge; e < (uint32_t)m->nodes[k].first_edge + m->nodes[k].n_edges; ++e) {
            if (kind != ESN_KIND_FLATTEN && esn__owner(m, m->edges[e].src) == 0u && kind != ESN_KIND_LINEAR &&
                kind != ESN_KIND_AFFINE && kind != ESN_KIND_CONV1D && kind != ESN_KIND_CONV2D) {
                return esn__fail(diag, ESN_ERR_KIND, (int32_t)k, (int32_t)e, kind);
            }
        }
    }
    return ESN_OK;
}

/* Group flags without a schedule are meaningless; with one, early exit needs every layer's step t
 * before any layer's step t + 1 (one group, which is esn_step's schedule), and a recurrent edge
 * reads last step's value of a node that must then run in the same group as its reader. */
static esn_status esn_check_schedule(const esn_model *m, esn_diag *diag)
{
    uint32_t k;
    uint32_t e;
    if (m->sched_steps == 0u) {
        for (k = 0u; k < m->n_nodes; ++k) {
            if (m->nodes[k].flags != 0u) {
                return ESN_FAIL(ESN_ERR_SCHEDULE, k, m->nodes[k].flags);
            }
        }
        return ESN_OK;
    }
    if (m->exit_enabled || m->input_bits != 0u) { /* the grouped schedule stages spike-count input only */
        return ESN_FAIL(ESN_ERR_SCHEDULE, -1, m->sched_steps);
    }
    for (k = 1u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        for (e = nd->first_edge; e < (uint32_t)nd->first_edge + nd->n_edges; ++e) {
            const uint32_t src = m->edges[e].src;
            const uint32_t own = esn__owner(m, src);
            if (m->edges[e].back && (own == 0u || esn__group_of(m, src) != esn__group_of(m, k) ||
                                     esn__group_of(m, own) != esn__group_of(m, k))) {
                return esn__fail(diag, ESN_ERR_SCHEDULE, (int32_t)k, (int32_t)e, src);
            }
        }
    }
    return ESN_OK;
}

esn_status esn__validate_structure(const esn_model *m, esn_diag *diag)
{
    uint32_t k;
    uint32_t first = 0u;
    if (m == NULL || m->nodes == NULL || m->edges == NULL) {
        return ESN_FAIL(ESN_ERR_NULL, -1, 0);
    }
    if (m->n_nodes < 2u || m->n_nodes > ESN_MAX_NODES) {
        return ESN_FAIL(ESN_ERR_LIMIT, -1, m->n_nodes);
    }
    if (m->n_edges < 1u || m->n_edges > ESN_MAX_EDGES) {
        return ESN_FAIL(ESN_ERR_LIMIT, -1, m->n_edges);
    }
    if (m->weight_bits < 1u || m->weight_bits > 16u || m->state_bits < 8u || m->state_bits > 32u ||
        m->current_bits < 8u || m->current_bits > 32u || m->adapt_bits < 4u || m->adapt_bits > 16u ||
        m->threshold_bits < 2u || m->threshold_bits > m->state_bits || m->decay_bits < 2u || m->decay_bits > 16u) {
        return ESN_FAIL(ESN_ERR_RANGE, -1, 0);
    }
    if (m->rounding >= ESN_ROUNDING_COUNT || m->exit_enabled > 1u) {
        return ESN_FAIL(ESN_ERR_ENUM, -1, m->rounding);
    }
    if (m->input_bits != 0u && m->input_bits != 8u && m->input_bits != 16u) {
        return ESN_FAIL(ESN_ERR_ENUM, -1, m->input_bits);
    }
    if (m->exit_enabled ? (m->exit_threshold_q8 < 0 || m->exit_beta_q16 <= 0)
                        : (m->exit_threshold_q8 != 0 || m->exit_beta_q16 != 0)) {
        return ESN_FAIL(ESN_ERR_RANGE, -1, m->exit_beta_q16);
    }
    if (m->input_node != 0u || m->output_node >= m->n_nodes) {
        return ESN_FAIL(ESN_ERR_KIND, -1, m->output_node);
    }
    for (k = 0u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        const uint32_t kind = nd->kind;
        if (kind >= ESN_KIND_COUNT || (kind == ESN_KIND_INPUT) != (k == 0u) ||
            (kind == ESN_KIND_OUTPUT) != (k == m->output_node) || !ESN_BUILT(kind)) { /* ESN_KINDS_BUILT */
            return ESN_FAIL(ESN_ERR_KIND, k, kind);
        }
        if (esn_shape_size(nd->in_shape, nd->in_rank) != nd->in_size || nd->in_size == 0u ||
            esn_shape_size(nd->out_shape, nd->out_rank) != nd->out_size || nd->out_size == 0u) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, nd->out_size);
        }
        ESN_CHECK(esn_check_enums(m, k, diag));
        ESN_CHECK(esn_check_edges(m, k, first, diag));
        first += nd->n_edges;
        ESN_CHECK(esn_check_geometry(m, k, diag));
        ESN_CHECK(esn_check_flatten(nd, k, diag));
        if (nd->acc_shift > 30u || (nd->acc_shift != 0u && kind != ESN_KIND_LINEAR && kind != ESN_KIND_AFFINE &&
                                    kind != ESN_KIND_CONV1D && kind != ESN_KIND_CONV2D)) {
            return ESN_FAIL(ESN_ERR_RANGE, k, nd->acc_shift);
        }
        if ((kind == ESN_KIND_LINEAR || kind == ESN_KIND_AFFINE) && (nd->in_rank != 1u || nd->out_rank != 1u)) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, nd->in_rank);
        }
        if ((kind == ESN_KIND_INPUT || kind == ESN_KIND_OUTPUT || kind == ESN_KIND_SCALE || esn__is_neuron(kind)) &&
            !esn_same_shape(nd->in_shape, nd->in_rank, nd->out_shape, nd->out_rank)) {
            return ESN_FAIL(ESN_ERR_SHAPE, k, nd->out_size);
        }
        if (esn__is_weighted(kind) && esn__param_count(nd, ESN_P_WEIGHT) == 0u) {
            return ESN_FAIL(ESN_ERR_LIMIT, k, nd->in_size);
        }
    }
    if (first != m->n_edges) {
        return ESN_FAIL(ESN_ERR_EDGE, -1, first);
    }
    ESN_CHECK(esn_check_analog_readers(m, diag));
    if (m->input_size != m->nodes[0].out_size || m->output_size != m->nodes[m->output_node].out_size) {
        return ESN_FAIL(ESN_ERR_SHAPE, -1, m->input_size);
    }
    return esn_check_schedule(m, diag);
}

uint32_t esn__param_count(const esn_node *nd, uint32_t slot)
{
    const uint32_t kind = nd->kind;
    const uint32_t mask = esn__params_required(kind) | esn__params_optional(kind);
    uint64_t n;
    if (slot >= ESN_P_COUNT || !(mask & ESN_BIT(slot))) {
        return 0u;
    }
    if (esn__is_neuron(kind)) {
        return nd->out_size;
    }
    if (slot == ESN_P_BIAS) {
        return nd->out_shape[0]; /* per output channel (Linear: per output) */
    }
    switch (kind) { /* the weights */
    case ESN_KIND_LINEAR:
    case ESN_KIND_AFFINE:
        n = (uint64_t)nd->in_size * nd->out_size;
        break;
    case ESN_KIND_CONV1D:
    case ESN_KIND_CONV2D:
        n = (uint64_t)nd->out_shape[0] * (nd->in_shape[0] / nd->groups) * nd->kernel[0] * nd->kernel[1];
        break;
    case ESN_KIND_SCALE:
        n = nd->in_size;
        break;
    default:
        n = 0u;
        break;
    }
    return n > (uint64_t)ESN_MAX_ELEMS ? 0u : (uint32_t)n; /* 0: too many (esn__validate_structure refuses) */
}

uint32_t esn__param_stored(const esn_node *nd, uint32_t slot)
{
    const uint32_t n = esn__param_count(nd, slot);
    if (n == 0u) {
        return 0u;
    }
    return nd->pmode[slot] == ESN_PM_LAYER ? 1u : nd->pmode[slot] == ESN_PM_CHANNEL ? nd->out_shape[0] : n;
}

uint32_t esn__weight_row_len(const esn_node *nd)
{
    switch (nd->kind) {
    case ESN_KIND_LINEAR:
    case ESN_KIND_AFFINE:
        return nd->out_size;
    case ESN_KIND_CONV1D:
    case ESN_KIND_CONV2D:
        return nd->groups != 0u ? nd->out_shape[0] / nd->groups : 0u;
    case ESN_KIND_SCALE:
        return nd->in_size;
    default:
        return 0u;
    }
}

uint32_t esn__weight_row_bytes(const esn_node *nd)
{
    return (uint32_t)(((uint64_t)esn__weight_row_len(nd) * esn_param_bits(nd, ESN_P_WEIGHT) + 7u) / 8u);
}

uint64_t esn__param_bytes(const esn_node *nd, uint32_t slot)
{
    uint32_t n;
    if (nd->param[slot] == NULL) {
        return 0u;
    }
    if (slot == ESN_P_WEIGHT) {
        const uint32_t len = esn__weight_row_len(nd);
        return len == 0u ? 0u : (uint64_t)(esn__param_count(nd, slot) / len) * esn__weight_row_bytes(nd);
    }
    /* esn__param_stored without its lookups (the traffic counters ask every step): a present array other than
     * the weights has one value per neuron, or per output channel for a weighted node's bias */
    switch (nd->pmode[slot]) {
    case ESN_PM_LAYER:
        n = 1u;
        break;
    case ESN_PM_CHANNEL:
        n = nd->out_shape[0];
        break;
    default:
        n = esn__is_neuron(nd->kind) ? nd->out_size : nd->out_shape[0];
        break;
    }
    return (uint64_t)n * (esn_param_bits(nd, slot) / 8u);
}

/* a * b + c, saturating at UINT64_MAX. */
static uint64_t esn_mac_sat(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t p;
    if (a != 0u && b > UINT64_MAX / a) {
        return UINT64_MAX;
    }
    p = a * b;
    return p > UINT64_MAX - c ? UINT64_MAX : p + c;
}

static uint64_t esn_abs64(int64_t x)
{
    return x < 0 ? (uint64_t)(-(x + 1)) + 1u : (uint64_t)x;
}

/* Checks every stored value of parameter array `slot` of node k against [lo, hi]. */
static esn_status esn_check_range(const esn_model *m, uint32_t k, uint32_t slot, int64_t lo, int64_t hi, esn_diag *diag)
{
    const esn_node *nd = &m->nodes[k];
    const uint32_t n = esn__param_stored(nd, slot);
    const uint32_t bits = esn_param_bits(nd, slot);
    uint32_t i;
    for (i = 0u; i < n; ++i) {
        const int32_t a = esn_param_load(nd->param[slot], bits, i);
        if (a < lo || a > hi) {
            return ESN_FAIL(ESN_ERR_RANGE, k, a);
        }
    }
    return ESN_OK;
}

/* Weights of a weighted node: range check, and the gain for the bound analysis, i.e. the largest
 * sum of |w| over everything one output reads (Scale: the largest |w|), capped at 2^32 - 1. */
static esn_status esn_weight_gain(const esn_model *m, uint32_t k, uint32_t *gain, esn_diag *diag)
{
    const esn_node *nd = &m->nodes[k];
    const int32_t wmax = m->weight_bits == 1u ? 127 : (int32_t)((1u << (m->weight_bits - 1u)) - 1u); /* binary: wmag */
    const uint32_t cols = esn__weight_row_len(nd); /* outputs per weight row (Scale: one row of n) */
    const uint32_t rows = cols != 0u ? esn__param_count(nd, ESN_P_WEIGHT) / cols : 0u;
    const uint32_t rb = esn__weight_row_bytes(nd);
    uint64_t best = 0u;
    uint32_t r;
    uint32_t col;
    for (r = 0u; r < rows; ++r) {
        for (col = 0u; col < cols; ++col) {
            const int32_t w = esn__weight_at(nd, rb, r, col);
            if (w > wmax || w < -wmax - 1) {
                return ESN_FAIL(ESN_ERR_RANGE, k, w);
            }
        }
    }
    if (nd->kind == ESN_KIND_SCALE) {
        for (col = 0u; col < cols; ++col) {
            const uint64_t a = esn_abs64(esn__weight_at(nd, rb, 0u, col));
            best = a > best ? a : best;
        }
    } else {
        /* output channel g * cols + col reads column col of the rows of group g (Linear: one group) */
        const uint32_t groups = esn__is_conv_like(nd->kind) ? nd->groups : 1u;
        const uint32_t rows_per_group = rows / groups;
        uint32_t g;
        for (g = 0u; g < groups; ++g) {
            for (col = 0u; col < cols; ++col) {
                uint64_t sum = 0u;
                for (r = 0u; r < rows_per_group; ++r) {
                    sum += esn_abs64(esn__weight_at(nd, rb, g * rows_per_group + r, col));
                }
                best = sum > best ? sum : best;
            }
        }
    }
    *gain = best > UINT32_MAX ? UINT32_MAX : (uint32_t)best;
    return ESN_OK;
}

static esn_status esn_check_neuron_params(const esn_model *m, uint32_t k, esn_diag *diag)
{
    const esn_node *nd = &m->nodes[k];
    const int64_t smax = (int64_t)((((uint64_t)1) << (m->state_bits - 1u)) - 1u);
    const int64_t one = (int64_t)1 << m->decay_bits;
    const void *const *p = nd->param;
    if (p[ESN_P_THRESHOLD]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_THRESHOLD, 1, smax, diag));
    }
    if (p[ESN_P_V_RESET]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_V_RESET, -smax - 1, smax, diag));
    }
    if (p[ESN_P_ALPHA]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_ALPHA, 0, one, diag));
    }
    if (p[ESN_P_ALPHA_SYN]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_ALPHA_SYN, 0, one, diag));
    }
    if (p[ESN_P_RHO]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_RHO, 0, one, diag));
    }
    if (p[ESN_P_B0]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_B0, 1, smax, diag));
    }
    if (p[ESN_P_BETA]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_BETA, 0, INT32_MAX, diag));
    }
    if (p[ESN_P_ETA_INC]) {
        ESN_CHECK(esn_check_range(m, k, ESN_P_ETA_INC, 0, (int64_t)1 << m->adapt_bits, diag));
    }
    return ESN_OK;
}

/* Each buffer's element width (esn_node.out_bits): 0 or 32 for any node; 8 for the Input of spike counts, a spiking neuron
 * layer (spike counts <= max_spikes <= 255) and a pool whose inputs are all uint8 (so >= 0) and whose window sums
 * the bound analysis keeps <= 255; a Flatten's must be its input's (0 reads as 32). */
static esn_status esn_check_out_bits(const esn_model *m, const uint32_t *bound, esn_diag *diag)
{
    uint32_t k;
    for (k = 0u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        int ok = nd->out_bits == 0u || nd->out_bits == 32u;
        if (nd->kind == ESN_KIND_FLATTEN) {
            ok = esn_out_u8(nd) == esn_out_u8(&m->nodes[esn__owner(m, k)]) && (ok || esn_out_u8(nd));
        } else if (nd->out_bits == 8u) {
            uint32_t e;
            ok = (nd->kind == ESN_KIND_INPUT && m->input_bits == 0u) || esn__is_spiking(nd->kind);
            if (nd->kind == ESN_KIND_SUMPOOL2D || nd->kind == ESN_KIND_AVGPOOL2D) {
                ok = bound[k] <= 255u;
                for (e = nd->first_edge; e < (uint32_t)nd->first_edge + nd->n_edges; ++e) {
                    ok &= esn_out_u8(&m->nodes[esn__owner(m, m->edges[e].src)]);
                }
            }
        }
        if (!ok) {
            return ESN_FAIL(ESN_ERR_ENUM, k, nd->out_bits);
        }
    }
    return ESN_OK;
}

static esn_status esn_validate_values(const esn_model *m, esn_diag *diag)
{
    uint32_t gain[ESN_MAX_NODES];  /* weighted: largest |row| sum; pools: window size; flatten: 1 */
    uint32_t bias[ESN_MAX_NODES];  /* weighted: largest |bias| */
    uint32_t bound[ESN_MAX_NODES]; /* largest |output entry|, capped at 2^32 - 1 */
    uint32_t k;
    uint32_t pass;
    for (k = 0u; k < m->n_nodes; ++k) {
        const esn_node *nd = &m->nodes[k];
        const uint32_t req = esn__params_required(nd->kind);
        const uint32_t opt = esn__params_optional(nd->kind);
        uint32_t slot;
        for (slot = 0u; slot < ESN_P_COUNT; ++slot) {
            const int present = nd->param[slot] != NULL;
            if ((req & ESN_BIT(slot)) ? !present : (present && !(opt & ESN_BIT(slot)))) {
                return ESN_FAIL(ESN_ERR_PARAM, k, slot);
            }
        }
        if (esn__is_weighted(nd->kind)) {
            uint32_t i;
            uint64_t bmax = 0u;
            ESN_CHECK(esn_weight_gain(m, k, &gain[k], diag));
            if (nd->param[ESN_P_BIAS]) {
                for (i = 0u; i < esn__param_stored(nd, ESN_P_BIAS); ++i) {
                    const uint64_t a = esn_abs64(esn_param_load(nd->param[ESN_P_BIAS], esn_param_bits(nd, ESN_P_BIAS), i));
                    bmax = a > bmax ? a : bmax;
                }
            }
            bias[k] = bmax > UINT32_MAX ? UINT32_MAX : (uint32_t)bmax;
        } else {
            gain[k] = (nd->kind == ESN_KIND_SUMPOOL2D || nd->kind == ESN_KIND_AVGPOOL2D)
                          ? (uint32_t)nd->kernel[0] * nd->kernel[1]
                          : 1u;
            bias[k] = 0u;
        }
        if (esn__is_neuron(nd->kind)) {
            ESN_CHECK(esn_check_neuron_params(m, k, diag));
        }
        /* constant bounds: inputs are 0..255, spiking layers emit at most max_spikes, readouts
         * hold a saturated membrane */
        if (nd->kind == ESN_KIND_INPUT) { /* spike counts 0..255; analog |x| <= 2^(bits-1) */
            bound[k] = m->input_bits != 0u ? 1u << (m->input_bits - 1u) : 255u;
        } else if (esn__is_spiking(nd->kind)) {
            bound[k] = nd->max_spikes;
        } else if (esn__is_neuron(nd->kind)) {
            bound[k] = (uint32_t)(((uint64_t)1) << (m->state_bits - 1u));
        } else {
            bound[k] = 0u;
        }
    }
    /* propagate through synaptic layers, pools and flattens until nothing changes; bounds only grow */
    for (pass = 0u; pass <= m->n_nodes; ++pass) {
        int changed = 0;
        for (k = 0u; k < m->n_nodes; ++k) {
            const esn_node *nd = &m->nodes[k];
            uint64_t in_sum = 0u;
            uint64_t b;
            uint32_t e;
            if (!esn__is_synaptic(nd->kind) && nd->kind != ESN_KIND_FLATTEN) {
                continue;
            }
            for (e = nd->first_edge; e < (uint32_t)nd->first_edge + nd->n_edges; ++e) {
                in_sum += bound[m->edges[e].src];
            }
            b = esn_mac_sat(in_sum, gain[k], bias[k]);
            if (b > (uint64_t)INT32_MAX) {
                return ESN_FAIL(ESN_ERR_OVERFLOW, k, b > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)b);
            }
            if ((uint32_t)b != bound[k]) {
                bound[k] = (uint32_t)b;
                changed = 1;
            }
        }
        if (!changed) {
            return esn_check_out_bits(m, bound, diag);
        }
    }
    return ESN_FAIL(ESN_ERR_OVERFLOW, -1, 0); /* a cycle without a neuron layer: unbounded */
}

/* One region of the memory plan: node k's buffer at parity r (r = 0, 1), its state block (r = 2), or (r = 3) the
 * int32 buffer a spiking neuron layer with uint8 output computes in during its own step, whose first bytes then
 * hold its output (esn__work_bytes): the region is that wide at the layer's step, its prefix alive after it. */
typedef struct esn_region {
    uint64_t off, end;   /* [off, end) in the arena */
    uint32_t first, last; /* the node steps it is alive for (whole input: 0 .. n_nodes) */
} esn_region;

/* Region r of node k; 0 when it has none. last_read[k]: the last node reading k's buffer in a step. */
static int esn_region_of(const esn_model *m, uint32_t k, uint32_t r, const uint8_t *last_read, const uint8_t *doubled,
                         esn_region *g)
{
    const esn_node *nd = &m->nodes[k];
    if (r == 2u) {
        esn__state_map sm;
        esn__state_map_of(m, nd, esn__n_state(nd) != 0u && esn__stateless(nd), &sm);
        if (sm.bytes == 0u) {
            return 0;
        }
        g->off = nd->state_off;
        g->end = g->off + sm.bytes;
        g->first = 0u;
        g->last = m->n_nodes;
        return 1;
    }
    if (nd->kind == ESN_KIND_OUTPUT || nd->kind == ESN_KIND_FLATTEN || (r == 1u && !doubled[k]) ||
        (r == 3u && (doubled[k] || esn__work_bytes(nd) == esn__buf_bytes(nd)))) {
        return 0;
    }
    g->off = nd->buf_off[r & 1u];
    /* a recurrent edge reads it at the next step: kept throughout, at its working width */
    g->end = g->off + (r == 3u || doubled[k] ? esn__work_bytes(nd) : esn__buf_bytes(nd));
    g->first = doubled[k] ? 0u : k;
    g->last = doubled[k] ? m->n_nodes : r == 3u ? k : last_read[k];
    return 1;
}

/* Whether neuron node k writes its output over the buffer of its only input, as planned: allowed when no
 * node reads that buffer after k, neither is kept for a recurrent edge, and the input is int32 of k's size,
 * since every neuron kernel reads in[j] before it writes out[j] (and k's uint8 output then takes the region's
 * first bytes, esn_run_node). The N-MNIST-sized CNN's first LIF layer saves 43 KB of arena so. */
static int esn_in_place(const esn_model *m, uint32_t k, const uint8_t *last_read, const uint8_t *doubled)
{
    const esn_node *nd = &m->nodes[k];
    const esn_edge *ed = &m->edges[nd->first_edge];
    const uint32_t o = nd->n_edges == 1u ? esn__owner(m, ed->src) : k;
    return esn__is_neuron(nd->kind) && o != k && !ed->back && !doubled[k] && !doubled[o] && last_read[o] == k &&
           m->nodes[o].out_size == nd->out_size && !esn_out_u8(&m->nodes[o]) && m->nodes[o].buf_off[0] == nd->buf_off[0];
}

esn_status esn__check_plan(const esn_model *m, esn_diag *diag)
{
    const uint64_t base = esn__arena_base(m);
    uint8_t last_read[ESN_MAX_NODES];
    uint8_t doubled[ESN_MAX_NODES];
    uint32_t k;
    uint32_t e;
    uint32_t a;
    uint32_t b;
    for (k = 0u; k < m->n_nodes; ++k) {
        last_read[k] = (uint8_t)k;
        doubled[k] = 0u;
    }
    for (e = 0u; e < m->n_edges; ++e) { /* grouped by destination: dst never decreases */
        const uint32_t o = esn__owner(m, m->edges[e].src);
        uint32_t dst = 0u;
        for (k = 0u; k < m->n_nodes; ++k) {
            if (e >= m->nodes[k].first_edge && e < (uint32_t)m->nodes[k].first_edge + m->nodes[k].n_edges) {
                dst = k;
            }
        }
        if (m->edges[e].back) {
            doubled[o] = 1u;
        } else if (dst > last_read[o]) {
            last_read[o] = (uint8_t)dst;
        }
    }
    for (k = 0u; k < m->n_nodes; ++k) { /* each region alone: the fields it does not use are 0 */
        const esn_node *nd = &m->nodes[k];
        const uint32_t o = esn__owner(m, k);
        esn_region g;
        uint32_t r;
        if (nd->kind == ESN_KIND_OUTPUT ? (nd->buf_off[0] | nd->buf_off[1]) != 0u
            : nd->kind == ESN_KIND_FLATTEN ? nd->buf_off[0] != m->nodes[o].buf_off[0] ||
                                                 nd->buf_off[1] != m->nodes[o].buf_off[1]
                                           : !doubled[k] && nd->buf_off[1] != nd->buf_off[0]) {
            return ESN_FAIL(ESN_ERR_PLAN, k, nd->buf_off[1]);
        }
        if (!esn_region_of(m, k, 2u, last_read, doubled, &g) && nd->state_off != 0u) {
            return ESN_FAIL(ESN_ERR_PLAN, k, nd->state_off);
        }
        for (r = 0u; r < 4u; ++r) {
            if (esn_region_of(m, k, r, last_read, doubled, &g) &&
                (g.off < base || g.end > m->arena_bytes || (g.off & 7u) != 0u)) {
                return ESN_FAIL(ESN_ERR_PLAN, k, (int64_t)g.off);
            }
        }
    }
    /* no two regions alive at once share a byte, but a node's output and the int32 buffer it computes in (one
     * region, r = 0 and 3), and an in-place neuron layer's (r = 0, 3) and its input's buffer (r = 0) */
    for (a = 0u; a < 4u * m->n_nodes; ++a) {
        esn_region ga;
        if (!esn_region_of(m, a / 4u, a % 4u, last_read, doubled, &ga)) {
            continue;
        }
        for (b = a + 1u; b < 4u * m->n_nodes; ++b) {
            esn_region gb;
            if (esn_region_of(m, b / 4u, b % 4u, last_read, doubled, &gb) && ga.off < gb.end && gb.off < ga.end &&
                ga.first <= gb.last && gb.first <= ga.last &&
                !(a % 4u == 0u && (b % 4u == 0u || b % 4u == 3u) &&
                  (a / 4u == b / 4u || (esn_in_place(m, b / 4u, last_read, doubled) &&
                                        esn__owner(m, m->edges[m->nodes[b / 4u].first_edge].src) == a / 4u)))) {
                return ESN_FAIL(ESN_ERR_PLAN, (int32_t)(b / 4u), (int64_t)gb.off);
            }
        }
    }
    return ESN_OK;
}

esn_status esn__validate_params(const esn_model *m, esn_diag *diag)
{
    ESN_CHECK(esn_validate_values(m, diag));
    return m->arena_bytes != 0u ? esn__check_plan(m, diag) : ESN_OK;
}

esn_status esn_model_validate(const esn_model *m, esn_diag *diag)
{
    ESN_CHECK(esn__validate_structure(m, diag));
    return esn__validate_params(m, diag);
}
