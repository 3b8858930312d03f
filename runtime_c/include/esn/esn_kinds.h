/*
 * esn_kinds.h: the node kinds, one row each, as the X-macro ESN_KINDS(X).
 *
 * The same rows as the Python table edgesnn/graph/kinds.py (tests/graph/test_kinds.py checks that they agree).
 * Each row is X(NAME, code, required, optional, flags, state):
 *
 *     NAME      the enumerator's suffix: ESN_KIND_<NAME> (esn_types.h builds enum esn_kind from the rows)
 *     code      its value, stored in the blob
 *     required  the parameter arrays (ESN_PB(<slot>), bits of enum esn_param) the kind must have
 *     optional  those it may have besides
 *     flags     ESN_KF_*: neuron layer, spiking output (uint8 spike counts), weighted (a weight array),
 *               synaptic (weighted or a pool), conv-like (a kernel window), stateless-able (its decays may
 *               all be zero, and it then keeps no state: esn__stateless)
 *     state     the state variables of a neuron layer (ESN_SV(<var>), bits of enum esn_var; none for
 *               THRESHOLD, which keeps nothing across steps); the pending spikes of a subtract-late reset
 *               come with the reset mode, not with the kind
 *
 * From the rows come enum esn_kind, esn_required[] / esn_optional[] (esn_model.c), and the kind sets
 * ESN_KINDS_<FLAG> and ESN_KINDS_STATE_<VAR>: one bit (1 << code) per kind, compile-time constants, so that
 * a predicate is one shift: ESN_KIND_IN(ESN_KINDS_NEURON, kind). Rows are referenced where enum esn_param
 * and enum esn_var are in scope (after esn_types.h).
 */
#ifndef ESN_KINDS_H
#define ESN_KINDS_H

#define ESN_PB(slot) (1u << ESN_P_##slot)
#define ESN_SV(var) (1u << ESN_VAR_##var)

#define ESN_KF_NEURON 0x01u
#define ESN_KF_SPIKING 0x02u
#define ESN_KF_WEIGHTED 0x04u
#define ESN_KF_SYNAPTIC 0x08u
#define ESN_KF_CONV_LIKE 0x10u
#define ESN_KF_STATELESS 0x20u

/* clang-format off */
#define ESN_KINDS(X) \
    X(INPUT,      0, 0u, 0u, 0u, 0u) \
    X(OUTPUT,     1, 0u, 0u, 0u, 0u) \
    X(LINEAR,     2, ESN_PB(WEIGHT), 0u, ESN_KF_WEIGHTED | ESN_KF_SYNAPTIC, 0u) \
    X(AFFINE,     3, ESN_PB(WEIGHT), ESN_PB(BIAS), ESN_KF_WEIGHTED | ESN_KF_SYNAPTIC, 0u) \
    X(CONV1D,     4, ESN_PB(WEIGHT), ESN_PB(BIAS), ESN_KF_WEIGHTED | ESN_KF_SYNAPTIC | ESN_KF_CONV_LIKE, 0u) \
    X(CONV2D,     5, ESN_PB(WEIGHT), ESN_PB(BIAS), ESN_KF_WEIGHTED | ESN_KF_SYNAPTIC | ESN_KF_CONV_LIKE, 0u) \
    X(SUMPOOL2D,  6, 0u, 0u, ESN_KF_SYNAPTIC | ESN_KF_CONV_LIKE, 0u) \
    X(AVGPOOL2D,  7, 0u, 0u, ESN_KF_SYNAPTIC | ESN_KF_CONV_LIKE, 0u) /* a sum: 1/k^2 is folded into the next weights */ \
    X(FLATTEN,    8, 0u, 0u, 0u, 0u) \
    X(SCALE,      9, ESN_PB(WEIGHT), 0u, ESN_KF_WEIGHTED | ESN_KF_SYNAPTIC, 0u) \
    X(IF,        10, ESN_PB(BIAS) | ESN_PB(THRESHOLD) | ESN_PB(V_RESET), 0u, ESN_KF_NEURON | ESN_KF_SPIKING, ESN_SV(V)) \
    X(LIF,       11, ESN_PB(BIAS) | ESN_PB(THRESHOLD) | ESN_PB(V_RESET) | ESN_PB(ALPHA), 0u, ESN_KF_NEURON | ESN_KF_SPIKING | ESN_KF_STATELESS, ESN_SV(V)) \
    X(LI,        12, ESN_PB(BIAS) | ESN_PB(ALPHA), 0u, ESN_KF_NEURON | ESN_KF_STATELESS, ESN_SV(V)) \
    X(CUBALIF,   13, ESN_PB(BIAS) | ESN_PB(THRESHOLD) | ESN_PB(V_RESET) | ESN_PB(ALPHA) | ESN_PB(ALPHA_SYN) | ESN_PB(CUR_MULT), 0u, ESN_KF_NEURON | ESN_KF_SPIKING | ESN_KF_STATELESS, ESN_SV(V) | ESN_SV(I)) \
    X(CUBALI,    14, ESN_PB(BIAS) | ESN_PB(ALPHA) | ESN_PB(ALPHA_SYN) | ESN_PB(CUR_MULT), 0u, ESN_KF_NEURON | ESN_KF_STATELESS, ESN_SV(V) | ESN_SV(I)) \
    X(ALIF,      15, ESN_PB(BIAS) | ESN_PB(ALPHA) | ESN_PB(RHO) | ESN_PB(B0) | ESN_PB(BETA) | ESN_PB(ETA_INC), 0u, ESN_KF_NEURON | ESN_KF_SPIKING, ESN_SV(V) | ESN_SV(ETA)) \
    X(THRESHOLD, 16, ESN_PB(THRESHOLD), 0u, ESN_KF_NEURON | ESN_KF_SPIKING, 0u) /* no state: s = acc crosses threshold */
/* clang-format on */

/* Kind sets: bit (1 << code) for each kind whose row has the flag, or the state variable. */
#define ESN_KSET_(c, has) ((has) ? 1uL << (c) : 0uL)
#define ESN_KSET_NEURON_(n, c, r, o, f, s) | ESN_KSET_(c, (f) & ESN_KF_NEURON)
#define ESN_KSET_SPIKING_(n, c, r, o, f, s) | ESN_KSET_(c, (f) & ESN_KF_SPIKING)
#define ESN_KSET_WEIGHTED_(n, c, r, o, f, s) | ESN_KSET_(c, (f) & ESN_KF_WEIGHTED)
#define ESN_KSET_SYNAPTIC_(n, c, r, o, f, s) | ESN_KSET_(c, (f) & ESN_KF_SYNAPTIC)
#define ESN_KSET_CONV_LIKE_(n, c, r, o, f, s) | ESN_KSET_(c, (f) & ESN_KF_CONV_LIKE)
#define ESN_KSET_STATELESS_(n, c, r, o, f, s) | ESN_KSET_(c, (f) & ESN_KF_STATELESS)
#define ESN_KSET_V_(n, c, r, o, f, s) | ESN_KSET_(c, (s) & ESN_SV(V))
#define ESN_KSET_I_(n, c, r, o, f, s) | ESN_KSET_(c, (s) & ESN_SV(I))
#define ESN_KSET_ETA_(n, c, r, o, f, s) | ESN_KSET_(c, (s) & ESN_SV(ETA))

#define ESN_KINDS_NEURON ((uint32_t)(0uL ESN_KINDS(ESN_KSET_NEURON_)))
#define ESN_KINDS_SPIKING ((uint32_t)(0uL ESN_KINDS(ESN_KSET_SPIKING_)))
#define ESN_KINDS_WEIGHTED ((uint32_t)(0uL ESN_KINDS(ESN_KSET_WEIGHTED_)))
#define ESN_KINDS_SYNAPTIC ((uint32_t)(0uL ESN_KINDS(ESN_KSET_SYNAPTIC_)))
#define ESN_KINDS_CONV_LIKE ((uint32_t)(0uL ESN_KINDS(ESN_KSET_CONV_LIKE_)))
#define ESN_KINDS_STATELESS ((uint32_t)(0uL ESN_KINDS(ESN_KSET_STATELESS_)))
#define ESN_KINDS_STATE_V ((uint32_t)(0uL ESN_KINDS(ESN_KSET_V_)))
#define ESN_KINDS_STATE_I ((uint32_t)(0uL ESN_KINDS(ESN_KSET_I_)))
#define ESN_KINDS_STATE_ETA ((uint32_t)(0uL ESN_KINDS(ESN_KSET_ETA_)))

/* 1 when kind (any uint32_t; evaluated twice) is in the kind set: ESN_KIND_IN(ESN_KINDS_SPIKING, nd->kind).
 * ESN_KIND_HAS is the same for a kind known to be valid (< ESN_KIND_COUNT: a validated model's node). */
#define ESN_KIND_IN(set, kind) ((kind) < 32u && ESN_KIND_HAS(set, kind))
#define ESN_KIND_HAS(set, kind) ((((set) >> (kind)) & 1u) != 0u)

/* 1 when this build runs kind (ESN_KINDS_BUILT, esn_config.h): a compile-time constant for a constant kind. */
#define ESN_BUILT(kind) ESN_KIND_HAS((uint32_t)(ESN_KINDS_BUILT), (uint32_t)(kind))

#endif /* ESN_KINDS_H */
