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

/* v and i are int32 or, with their bit set in `narrow`, int16 (values their saturation keeps within 16
 * bits); pending is always int16 (spike counts), eta always int32. */
static int64_t esn_ld(const void *p, uint32_t n16, uint32_t j)
{
    return n16 ? ((const int16_t *)p)[j] : ((const int32_t *)p)[j];
}

static void esn_st(void *p, uint32_t n16, uint32_t j, int64_t v)
{
    if (n16) {
        ((int16_t *)p)[j] = (int16_t)v;
    } else {
        ((int32_t *)p)[j] = (int32_t)v;
    }
}

void esn_neuron_step(const esn_model *m, const esn_node *nd, uint32_t layer, uint32_t t,
                     const int32_t *const *in, uint32_t n_in, void *const *state, uint32_t narrow, int32_t *out,
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
    const int32_t *bias = (const int32_t *)nd->param[ESN_P_BIAS];
    const int32_t *thr = (const int32_t *)nd->param[ESN_P_THRESHOLD];
    const int32_t *v_reset = (const int32_t *)nd->param[ESN_P_V_RESET];
    const int32_t *alpha = (const int32_t *)nd->param[ESN_P_ALPHA];
    const int32_t *alpha_syn = (const int32_t *)nd->param[ESN_P_ALPHA_SYN];
    const int32_t *cur_mult = (const int32_t *)nd->param[ESN_P_CUR_MULT];
    const int32_t *rho = (const int32_t *)nd->param[ESN_P_RHO];
    const int32_t *b0 = (const int32_t *)nd->param[ESN_P_B0];
    const int32_t *beta = (const int32_t *)nd->param[ESN_P_BETA];
    const int32_t *eta_inc = (const int32_t *)nd->param[ESN_P_ETA_INC];
    /* A stateless layer (all decays 0, no pending, no synaptic delay) keeps its v and i in `out`: what it
     * reads back there is multiplied by a zero decay, and `out` is written after them, so its contents
     * and the result are those of the layer that starts every step from 0. */
    const int stateless = state[ESN_VAR_V] == NULL;
    void *v = stateless ? (void *)out : state[ESN_VAR_V];
    void *cur = stateless ? (void *)out : state[ESN_VAR_I];
    int32_t *eta = (int32_t *)state[ESN_VAR_ETA];
    int16_t *pending = (int16_t *)state[ESN_VAR_PENDING];
    const uint32_t v16 = stateless ? 0u : narrow & (1u << ESN_VAR_V);
    const uint32_t i16 = stateless ? 0u : narrow & (1u << ESN_VAR_I);
    uint32_t k_v = 0u, k_i = 0u, k_mult = 0u, k_eta = 0u, k_adapt = 0u;
    uint64_t spikes = 0u;
    uint32_t j;
    uint32_t e;

    if (kind == ESN_KIND_THRESHOLD) { /* no state, no noise: its own loop keeps the others' loop as it was */
        for (j = 0u; j < n; ++j) {
            int64_t acc = in[0][j];
            int32_t s;
            for (e = 1u; e < n_in; ++e) {
                acc += in[e][j];
            }
            s = (ge ? acc >= thr[j] : acc > thr[j]) ? 1 : 0;
            out[j] = s;
            spikes += (uint32_t)s;
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
    for (j = 0u; j < n; ++j) {
        int64_t acc = in[0][j];
        int64_t drive;
        int64_t vv;
        int32_t s;
        for (e = 1u; e < n_in; ++e) {
            acc += in[e][j];
        }
        drive = acc;
        if (cuba) {
            const int64_t i_prev = esn_ld(cur, i16, j);
            const int64_t i_new = esn_sat64(
                esn_rshift((int64_t)alpha_syn[j] * i_prev, db, mode, stoch ? esn_noise(k_i, j) : 0u) + acc,
                m->current_bits);
            const int64_t jj = nd->syn_delay ? i_prev : i_new;
            esn_st(cur, i16, j, i_new);
            drive = esn_rshift(jj * cur_mult[j], ESN_GAIN_SHIFT, mode, stoch ? esn_noise(k_mult, j) : 0u);
        }
        if (kind == ESN_KIND_IF) {
            vv = esn_ld(v, v16, j);
        } else {
            vv = esn_rshift((int64_t)alpha[j] * esn_ld(v, v16, j), db, mode, stoch ? esn_noise(k_v, j) : 0u);
        }
        vv += drive + bias[j];
        if (pending != NULL) {
            vv -= (int64_t)pending[j] * thr[j];
        }
        vv = esn_sat64(vv, sb);
        if (kind == ESN_KIND_ALIF) {
            const int64_t eta_j = eta[j];
            const int64_t theta =
                b0[j] + esn_rshift((int64_t)beta[j] * eta_j, m->adapt_bits, mode, stoch ? esn_noise(k_adapt, j) : 0u);
            s = (ge ? vv >= theta : vv > theta) ? 1 : 0;
            esn_st(v, v16, j, esn_sat64(vv - s * theta, sb));
            eta[j] = (int32_t)esn_sat64(esn_rshift((int64_t)rho[j] * eta_j, db, mode, stoch ? esn_noise(k_eta, j) : 0u) +
                                            (int64_t)s * eta_inc[j],
                                        32u);
            out[j] = s;
            spikes += (uint32_t)s;
            continue;
        }
        if (!spiking) {
            esn_st(v, v16, j, vv);
            out[j] = (int32_t)vv;
            continue;
        }
        s = 0;
        if (ge ? vv >= thr[j] : vv > thr[j]) {
            /* crossing implies vv >= thr >= 1, so the division is of positive numbers */
            s = 1;
            if (nd->max_spikes > 1u) {
                const int64_t q = vv / thr[j];
                s = q > (int64_t)nd->max_spikes ? (int32_t)nd->max_spikes : (int32_t)q;
            }
            if (nd->reset == (uint8_t)ESN_RESET_ZERO) {
                vv = 0;
            } else if (nd->reset == (uint8_t)ESN_RESET_VALUE) {
                vv = v_reset[j];
            }
        }
        if (nd->reset == (uint8_t)ESN_RESET_SUBTRACT) {
            vv = esn_sat64(vv - (int64_t)s * thr[j], sb);
        } else if (nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE) {
            pending[j] = (int16_t)s;
        }
        esn_st(v, v16, j, vv);
        out[j] = s;
        spikes += (uint32_t)s;
    }
    c->neuron_updates += n;
    c->spikes_out += spikes;
}
