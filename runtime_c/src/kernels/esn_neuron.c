/*
 * esn_neuron.c: one step of a neuron layer, as FixedNeuron.step in edgesnn/quantize/reference.py.
 *
 * With acc the step's weighted input (sum of the incoming buffers), db = decay_bits, sat_x the
 * saturation to x's bit width and rshift the configured rounding:
 *
 *     i   = sat_i(rshift(alpha_syn * i, db) + acc)                       CubaLIF / CubaLI
 *     in  = rshift(j * cur_mult, 16), j = i (last step's i with syn_delay)  else in = acc
 *     v   = sat_v(leak + in + bias - pending * threshold)   leak = v (IF) or rshift(alpha * v, db)
 *     LI / CubaLI: output v.
 *     IF / LIF / CubaLIF: cross = v > thr (or >=); s = cross ? (max_spikes > 1 ?
 *         clamp(v / thr, 1, max_spikes) : 1) : 0; reset zero | value | subtract (sat_v(v - s thr))
 *         | subtract late (pending = s, applied next step).
 *     ALIF: theta = b0 + rshift(beta * eta, adapt_bits); s = v crosses theta;
 *         v = sat_v(v - s theta); eta = sat_32(rshift(rho * eta, db) + s * eta_inc).
 *     Threshold: s = acc crosses thr (> or >=); no v, no state (thr in [1, 2^(sb-1) - 1], so saturating
 *         acc first would change nothing).
 *
 * No overflow: esn_model_validate admits decays in [0, 2^16], int32 multipliers and states of at
 * most 32 bits, so every product is below 2^62 in magnitude, every sum below 2^63, and the
 * rounding term (< 2^32) cannot overflow either. Stochastic rounding draws one noise word per
 * neuron and rounded product from the counter-based hash (esn_fixedpoint.h), so the result does
 * not depend on the order of evaluation.
 */
#include <string.h>

#include "esn/esn_fixedpoint.h"
#include "esn/esn_kernels.h"

/* v and i are stored at 8, 16 or 32 bits (the values their saturation keeps fit); pending is always int16
 * (spike counts), eta always int32. */
static int64_t esn_ld(const void *p, uint32_t bits, uint32_t j)
{
    return esn_param_load(p, bits, j);
}

static void esn_st(void *p, uint32_t bits, uint32_t j, int64_t v)
{
    if (bits == 8u) {
        ((int8_t *)p)[j] = (int8_t)v;
    } else if (bits == 16u) {
        ((int16_t *)p)[j] = (int16_t)v;
    } else {
        ((int32_t *)p)[j] = (int32_t)v;
    }
}

/* A parameter array as the neuron loop reads it: per neuron (loaded at j), or one value for the channel or the
 * layer, fetched once per channel (esn_node.pmode). Absent arrays read 0 and are never asked for. */
typedef struct esn_par {
    const void *p;
    uint32_t bits;
    uint32_t per_neuron;
    int32_t value;
} esn_par;

static void esn_par_init(esn_par *q, const esn_node *nd, uint32_t slot)
{
    q->p = nd->param[slot];
    q->bits = esn_param_bits(nd, slot);
    q->per_neuron = q->p != NULL && nd->pmode[slot] == (uint8_t)ESN_PM_ELEM;
    q->value = q->p != NULL && !q->per_neuron ? esn_param_load(q->p, q->bits, 0u) : 0;
}

static void esn_par_channel(esn_par *q, const esn_node *nd, uint32_t slot, uint32_t ch)
{
    if (q->p != NULL && nd->pmode[slot] == (uint8_t)ESN_PM_CHANNEL) {
        q->value = esn_param_load(q->p, q->bits, ch);
    }
}

static inline int32_t esn_par_at(const esn_par *q, uint32_t j)
{
    return q->per_neuron ? esn_param_load(q->p, q->bits, j) : q->value;
}

/* floor(x / 2^s) for int32 x, without relying on how the compiler shifts negative numbers (esn_asr64). */
static inline int32_t esn_asr32(int32_t x, uint32_t s)
{
    return x >= 0 ? x >> s : -1 - ((-1 - x) >> s);
}

/*
 * IF and LIF layers in their common form, with the generic loop's results bit for bit: one spike a step at
 * most, reset to zero, to a value or by subtraction, truncating or nearest rounding, v kept in 8 or 16 bits
 * and every parameter stored per channel or per layer (hoisted out of the neuron loop). Then the leak
 * alpha * v fits int32 (|alpha| <= 2^16, |v| <= 2^15, rounding term <= 2^15) and only the sum needs 64 bits.
 * Returns the spikes emitted.
 */
static uint64_t esn_if_lif_fast(const esn_model *m, const esn_node *nd, const int32_t *const *in, uint32_t n_in,
                                void *v, uint32_t v_bits, int32_t *out, uint32_t channels, uint32_t plane, esn_par *par)
{
    const uint32_t db = m->decay_bits;
    const int32_t round = m->rounding == (uint32_t)ESN_ROUND_NEAREST ? (int32_t)1 << (db - 1u) : 0;
    const int64_t hi = (int64_t)((((uint64_t)1) << (m->state_bits - 1u)) - 1u);
    const int64_t lo = -hi - 1;
    const int leak = nd->kind == ESN_KIND_LIF;
    const int ge = nd->spike_rule == (uint8_t)ESN_SPIKE_GE;
    const uint32_t reset = nd->reset;
    int8_t *v8 = (int8_t *)v;
    int16_t *v16 = (int16_t *)v;
    uint64_t spikes = 0u;
    uint32_t j = 0u;
    uint32_t ch;
    uint32_t e;
    for (ch = 0u; ch < channels; ++ch) {
        const uint32_t end = j + plane;
        int32_t alpha, bias, thr, v_reset;
        esn_par_channel(&par[ESN_P_ALPHA], nd, ESN_P_ALPHA, ch);
        esn_par_channel(&par[ESN_P_BIAS], nd, ESN_P_BIAS, ch);
        esn_par_channel(&par[ESN_P_THRESHOLD], nd, ESN_P_THRESHOLD, ch);
        esn_par_channel(&par[ESN_P_V_RESET], nd, ESN_P_V_RESET, ch);
        alpha = par[ESN_P_ALPHA].value;
        bias = par[ESN_P_BIAS].value;
        thr = par[ESN_P_THRESHOLD].value;
        v_reset = par[ESN_P_V_RESET].value;
        for (; j < end; ++j) {
            const int32_t vj = v_bits == 8u ? v8[j] : v16[j];
            int64_t vv = in[0][j];
            int32_t s;
            for (e = 1u; e < n_in; ++e) {
                vv += in[e][j];
            }
            vv += bias + (leak ? esn_asr32(alpha * vj + round, db) : vj);
            vv = vv > hi ? hi : (vv < lo ? lo : vv);
            s = (ge ? vv >= thr : vv > thr) ? 1 : 0;
            if (s) { /* vv >= thr >= 1: a subtraction stays above lo */
                vv = reset == (uint32_t)ESN_RESET_ZERO ? 0 : reset == (uint32_t)ESN_RESET_VALUE ? v_reset : vv - thr;
            }
            if (v_bits == 8u) {
                v8[j] = (int8_t)vv;
            } else {
                v16[j] = (int16_t)vv;
            }
            out[j] = s;
            spikes += (uint32_t)s;
        }
    }
    return spikes;
}

void esn_neuron_step(const esn_model *m, const esn_node *nd, uint32_t layer, uint32_t t,
                     const int32_t *const *in, uint32_t n_in, void *const *state, const uint8_t *state_bits, int32_t *out,
                     esn_counters *c)
{
    const uint32_t n = nd->out_size;
    const uint32_t db = m->decay_bits;
    const uint32_t sb = m->state_bits;
    const uint32_t mode = m->rounding;
    const uint32_t kind = nd->kind;
    const int stoch = mode == (uint32_t)ESN_ROUND_STOCHASTIC;
    const int cuba = ESN_KIND_HAS(ESN_KINDS_STATE_I, kind);
    const int spiking = ESN_KIND_HAS(ESN_KINDS_SPIKING, kind); /* ALIF: its own branch below */
    const int ge = nd->spike_rule == (uint8_t)ESN_SPIKE_GE;
    /* channels: parameters stored per channel change every `plane` neurons (rank 1: one channel) */
    const uint32_t channels = nd->out_rank >= 2u && nd->out_shape[0] != 0u ? nd->out_shape[0] : 1u;
    const uint32_t plane = n / channels;
    esn_par par[ESN_P_COUNT];
    /* A stateless layer (all decays 0, no pending, no synaptic delay) keeps its v and i in `out`: what it
     * reads back there is multiplied by a zero decay, and `out` is written after them, so its contents
     * and the result are those of the layer that starts every step from 0. */
    const int stateless = state[ESN_VAR_V] == NULL;
    void *v = stateless ? (void *)out : state[ESN_VAR_V];
    void *cur = stateless ? (void *)out : state[ESN_VAR_I];
    int32_t *eta = (int32_t *)state[ESN_VAR_ETA];
    int16_t *pending = (int16_t *)state[ESN_VAR_PENDING];
    const uint32_t v_bits = stateless ? 32u : state_bits[ESN_VAR_V]; /* bits v and i are stored at */
    const uint32_t i_bits = stateless ? 32u : state_bits[ESN_VAR_I];
    uint32_t k_v = 0u, k_i = 0u, k_mult = 0u, k_eta = 0u, k_adapt = 0u;
    uint64_t spikes = 0u;
    uint32_t slot;
    uint32_t ch;
    uint32_t j = 0u;
    uint32_t end;
    uint32_t e;

    for (slot = 1u; slot < ESN_P_COUNT; ++slot) { /* every slot but the weights */
        esn_par_init(&par[slot], nd, slot);
    }
    if ((kind == ESN_KIND_IF || kind == ESN_KIND_LIF) && !stateless && v_bits <= 16u && nd->max_spikes == 1u &&
        nd->reset != (uint8_t)ESN_RESET_SUBTRACT_LATE && !stoch && !par[ESN_P_BIAS].per_neuron &&
        !par[ESN_P_THRESHOLD].per_neuron && !par[ESN_P_ALPHA].per_neuron && !par[ESN_P_V_RESET].per_neuron) {
        spikes = esn_if_lif_fast(m, nd, in, n_in, v, v_bits, out, channels, plane, par);
        c->neuron_updates += n;
        c->spikes_out += spikes;
        return;
    }
    if (kind == ESN_KIND_THRESHOLD) { /* no state, no noise: its own loop keeps the others' loop as it was */
        for (ch = 0u; ch < channels; ++ch) {
            esn_par_channel(&par[ESN_P_THRESHOLD], nd, ESN_P_THRESHOLD, ch);
            for (end = j + plane; j < end; ++j) {
                const int32_t thr = esn_par_at(&par[ESN_P_THRESHOLD], j);
                int64_t acc = in[0][j];
                int32_t s;
                for (e = 1u; e < n_in; ++e) {
                    acc += in[e][j];
                }
                s = (ge ? acc >= thr : acc > thr) ? 1 : 0;
                out[j] = s;
                spikes += (uint32_t)s;
            }
        }
        c->neuron_updates += n;
        c->spikes_out += spikes;
        return;
    }
    if (stoch) {
        k_v = esn_noise_key(m->seed, layer, t, ESN_STREAM_V);
        k_i = esn_noise_key(m->seed, layer, t, ESN_STREAM_I);
        k_mult = esn_noise_key(m->seed, layer, t, ESN_STREAM_MULT);
        k_eta = esn_noise_key(m->seed, layer, t, ESN_STREAM_ETA);
        k_adapt = esn_noise_key(m->seed, layer, t, ESN_STREAM_ADAPT);
    }
    for (ch = 0u; ch < channels; ++ch) {
        for (slot = 1u; slot < ESN_P_COUNT; ++slot) {
            esn_par_channel(&par[slot], nd, slot, ch);
        }
        for (end = j + plane; j < end; ++j) {
            int64_t acc = in[0][j];
            int64_t drive;
            int64_t vv;
            int32_t s;
            int32_t thr;
            for (e = 1u; e < n_in; ++e) {
                acc += in[e][j];
            }
            drive = acc;
            if (cuba) {
                const int64_t i_prev = esn_ld(cur, i_bits, j);
                const int64_t i_new = esn_sat64(esn_rshift((int64_t)esn_par_at(&par[ESN_P_ALPHA_SYN], j) * i_prev, db,
                                                           mode, stoch ? esn_noise(k_i, j) : 0u) +
                                                    acc,
                                                m->current_bits);
                const int64_t jj = nd->syn_delay ? i_prev : i_new;
                esn_st(cur, i_bits, j, i_new);
                drive = esn_rshift(jj * esn_par_at(&par[ESN_P_CUR_MULT], j), ESN_GAIN_SHIFT, mode,
                                   stoch ? esn_noise(k_mult, j) : 0u);
            }
            if (kind == ESN_KIND_IF) {
                vv = esn_ld(v, v_bits, j);
            } else {
                vv = esn_rshift((int64_t)esn_par_at(&par[ESN_P_ALPHA], j) * esn_ld(v, v_bits, j), db, mode,
                                stoch ? esn_noise(k_v, j) : 0u);
            }
            vv += drive + esn_par_at(&par[ESN_P_BIAS], j);
            if (kind == ESN_KIND_ALIF) {
                const int64_t eta_j = eta[j];
                const int64_t theta = esn_par_at(&par[ESN_P_B0], j) +
                                      esn_rshift((int64_t)esn_par_at(&par[ESN_P_BETA], j) * eta_j, m->adapt_bits,
                                                 mode, stoch ? esn_noise(k_adapt, j) : 0u);
                vv = esn_sat64(vv, sb);
                s = (ge ? vv >= theta : vv > theta) ? 1 : 0;
                esn_st(v, v_bits, j, esn_sat64(vv - s * theta, sb));
                eta[j] = (int32_t)esn_sat64(esn_rshift((int64_t)esn_par_at(&par[ESN_P_RHO], j) * eta_j, db, mode,
                                                       stoch ? esn_noise(k_eta, j) : 0u) +
                                                (int64_t)s * esn_par_at(&par[ESN_P_ETA_INC], j),
                                            32u);
                out[j] = s;
                spikes += (uint32_t)s;
                continue;
            }
            if (!spiking) {
                vv = esn_sat64(vv, sb);
                esn_st(v, v_bits, j, vv);
                out[j] = (int32_t)vv;
                continue;
            }
            thr = esn_par_at(&par[ESN_P_THRESHOLD], j);
            if (pending != NULL) {
                vv -= (int64_t)pending[j] * thr;
            }
            vv = esn_sat64(vv, sb);
            s = 0;
            if (ge ? vv >= thr : vv > thr) {
                /* crossing implies vv >= thr >= 1, so the division is of positive numbers */
                s = 1;
                if (nd->max_spikes > 1u) {
                    const int64_t q = vv / thr;
                    s = q > (int64_t)nd->max_spikes ? (int32_t)nd->max_spikes : (int32_t)q;
                }
                if (nd->reset == (uint8_t)ESN_RESET_ZERO) {
                    vv = 0;
                } else if (nd->reset == (uint8_t)ESN_RESET_VALUE) {
                    vv = esn_par_at(&par[ESN_P_V_RESET], j);
                }
            }
            if (nd->reset == (uint8_t)ESN_RESET_SUBTRACT) {
                vv = esn_sat64(vv - (int64_t)s * thr, sb);
            } else if (nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE) {
                pending[j] = (int16_t)s;
            }
            esn_st(v, v_bits, j, vv);
            out[j] = s;
            spikes += (uint32_t)s;
        }
    }
    c->neuron_updates += n;
    c->spikes_out += spikes;
}
