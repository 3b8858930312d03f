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

/*
 * Fast paths, chosen once per call by esn_neuron_step where their bounds hold, bit for bit the generic loop's
 * results: IF, LIF and LI (one loop) and ALIF with v stored in 8 or 16 bits (state_bits sb <= 16), truncating
 * or nearest rounding, one spike a step at most, no late reset. Everything a neuron does is int32 (one 32x32
 * multiply per decay; ALIF's eta alone needs a 64-bit product), every branch on the kind, reset, spike rule
 * or storage width is taken once per call (a per-width loop is instantiated at compile time; the rule and
 * the reset are folded into constants) and the counters are added once per call.
 *
 * Bounds (db = decay_bits in [2, 16], every decay in [0, 2^db], |v| <= 2^15, esn_model_validate):
 *  - acc: each input entry is below 2^31 in magnitude (the validator's propagated bound); a layer with
 *    several inputs sums them in int64 once (esn_acc_sum). acc is clamped to [-2^29, 2^29) and the caller
 *    checks |bias| <= 2^28: then |leak| <= 2^15 (below) makes acc + leak + bias an int32 that saturates to
 *    sb bits as the unclamped sum does, since beyond +-2^29 both lie beyond +-(2^29 - 2^28 - 2^15) > 2^15.
 *  - leak = floor((alpha v + r) / 2^db), r in {0, 2^(db-1)}: alpha v + r is in [-2^31, 2^31 - 2^15], and
 *    |leak| <= 2^15. It is computed as the logical shift ((uint32)(alpha v) + r + 2^31) >> db, whose dividend
 *    is non-negative and below 2^32 (no signed shift), less 2^(31-db): r + 2^31 is one constant and the
 *    2^(31-db) is folded into the bias. IF is LIF with alpha = 2^db (the shift gives back v exactly).
 *  - spike: v > thr - ge (ge = 1 for the rule >=, thr >= 1), so a crossing v is >= 1 and v - thr is in
 *    [0, 2^15): the subtracting reset needs no saturation; a reset to zero or a value is v & 0 + v_reset.
 */
#if defined(__GNUC__)
#define ESN_LOOP static inline __attribute__((always_inline)) /* each call below is one specialised loop */
#define ESN_OWN static __attribute__((noinline, optimize("O2"))) /* its own frame: the generic loop's registers stay out of it */
#else
#define ESN_LOOP static inline
#define ESN_OWN static
#endif

/* Saturation to a constant b bits: one SSAT (ARMv7-M ARM A7.7.149) where the core has it (ACLE __ARM_FEATURE_SAT;
 * the compiler's builtin behind arm_acle.h's __ssat, so that no header beyond stdint.h and string.h is needed). */
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && defined(__GNUC__)
#define ESN_SSAT(x, b) ((int32_t)__builtin_arm_ssat((x), (b)))
#else
#define ESN_SSAT(x, b) esn_clamp32((x), -((int32_t)1 << ((b) - 1)), ((int32_t)1 << ((b) - 1)) - 1)
#endif

#define ESN_ACC_LO (-((int32_t)1 << 29))
#define ESN_ACC_HI (((int32_t)1 << 29) - 1)
#define ESN_BIAS_MAX ((int32_t)1 << 28)

/* The step's input: in[0] itself, or the sum of the n_in > 1 inputs, clamped to the fast loops' range (exact,
 * see above) and written to `out`, which then holds no input (a layer writes over its input only where it has one)
 * and whose entry j each loop reads before it writes it. */
static const int32_t *esn_acc_sum(const int32_t *const *in, uint32_t n_in, uint32_t n, int32_t *out)
{
    uint32_t j;
    uint32_t e;
    if (n_in == 1u) {
        return in[0];
    }
    for (j = 0u; j < n; ++j) {
        int64_t a = in[0][j];
        for (e = 1u; e < n_in; ++e) {
            a += in[e][j];
        }
        out[j] = a > ESN_ACC_HI ? ESN_ACC_HI : (a < ESN_ACC_LO ? ESN_ACC_LO : (int32_t)a);
    }
    return out;
}

/* A parameter stored once per layer or channel: its value for channel ch (0 where absent). */
static int32_t esn_par_ch(const esn_node *nd, uint32_t slot, uint32_t ch)
{
    const void *p = nd->param[slot];
    return p == NULL ? 0 : esn_param_load(p, esn_param_bits(nd, slot), nd->pmode[slot] == (uint8_t)ESN_PM_CHANNEL ? ch : 0u);
}

/* Whether every stored value of a parameter lies in [lo, hi] (a layer-wide or per-channel array: a few values). */
static int esn_par_within(const esn_node *nd, uint32_t slot, uint32_t channels, int32_t lo, int32_t hi)
{
    uint32_t ch;
    if (nd->param[slot] != NULL && nd->pmode[slot] == (uint8_t)ESN_PM_ELEM) {
        return 0;
    }
    for (ch = 0u; ch < channels; ++ch) {
        const int32_t x = esn_par_ch(nd, slot, ch);
        if (x < lo || x > hi) {
            return 0;
        }
    }
    return 1;
}

/* How the IF/LIF/LI loop ends a neuron's update. */
#define ESN_LI 0u       /* output v */
#define ESN_SET 1u      /* spike; a crossing v becomes off (0 or v_reset) */
#define ESN_SUB 2u      /* spike; a crossing v becomes v + off (off = -threshold) */
#define ESN_ANY 3u      /* spike; a crossing v becomes (v & keep) + off: either of the above */

/* n neurons of one channel: v stored at w = 8 or 16 bits, saturated to sat = 8 or 16 bits (one SSAT) or, sat = 0,
 * to [lo, hi]. alpha in [0, 2^db], rb = rounding term + 2^31, add = bias - 2^(31-db), thr = threshold - ge.
 * Returns the spikes. */
ESN_LOOP uint32_t esn_lif_loop(const int32_t *acc, void *vp, int32_t *out, uint32_t n, uint32_t w, uint32_t sat,
                               uint32_t mode, uint32_t db, uint32_t alpha, uint32_t rb, int32_t add, int32_t thr,
                               int32_t keep, int32_t off, int32_t lo, int32_t hi, const uint16_t *pa)
{
    int8_t *v8 = (int8_t *)vp;
    int16_t *v16 = (int16_t *)vp;
    const int32_t *const end = acc + n;
    uint32_t spikes = 0u;
    while (acc != end) {
        const int32_t vj = w == 8u ? *v8 : *v16;
        int32_t x;
        if (pa != NULL) { /* ALIF: alpha per neuron */
            alpha = *pa++;
        }
        x = ESN_SSAT(*acc++, 30) + (int32_t)((alpha * (uint32_t)vj + rb) >> db) + add;
        x = sat == 8u ? ESN_SSAT(x, 8) : sat == 16u ? ESN_SSAT(x, 16) : esn_clamp32(x, lo, hi);
        if (mode == ESN_LI) {
            *out++ = x;
        } else {
            const uint32_t s = (uint32_t)(thr - x) >> 31; /* x > thr; |thr - x| < 2^16 */
            if (s != 0u) {
                x = mode == ESN_SET ? off : mode == ESN_SUB ? x + off : (x & keep) + off;
            }
            *out++ = (int32_t)s;
            spikes += s;
        }
        if (w == 8u) {
            *v8++ = (int8_t)x;
        } else {
            *v16++ = (int16_t)x;
        }
    }
    return spikes;
}

/* The constants of one channel of the IF/LIF/LI loop (esn_lif_loop). */
typedef struct esn_lif_k {
    uint32_t db, alpha, rb;
    int32_t add, thr, keep, off, hi;
} esn_lif_k;

/* One channel: the loop for v at w bits, saturated to sb bits, ending as `mode`. Its own frame, so that the
 * loop's constants stay in registers. */
ESN_OWN uint32_t esn_lif_run(const int32_t *a, void *v, int32_t *o, uint32_t n, uint32_t w, uint32_t sb, uint32_t mode,
                             const esn_lif_k *k)
{
    const uint32_t db = k->db, alpha = k->alpha, rb = k->rb;
    const int32_t add = k->add, thr = k->thr, off = k->off, hi = k->hi;
    if (w == 8u) { /* state_bits 8 */
        return mode == ESN_SET ? esn_lif_loop(a, v, o, n, 8u, 8u, ESN_SET, db, alpha, rb, add, thr, 0, off, 0, 0, NULL)
             : mode == ESN_SUB ? esn_lif_loop(a, v, o, n, 8u, 8u, ESN_SUB, db, alpha, rb, add, thr, 0, off, 0, 0, NULL)
                               : esn_lif_loop(a, v, o, n, 8u, 8u, ESN_LI, db, alpha, rb, add, 0, 0, 0, 0, 0, NULL);
    }
    if (sb == 16u) {
        return mode == ESN_SET ? esn_lif_loop(a, v, o, n, 16u, 16u, ESN_SET, db, alpha, rb, add, thr, 0, off, 0, 0, NULL)
             : mode == ESN_SUB ? esn_lif_loop(a, v, o, n, 16u, 16u, ESN_SUB, db, alpha, rb, add, thr, 0, off, 0, 0, NULL)
                               : esn_lif_loop(a, v, o, n, 16u, 16u, ESN_LI, db, alpha, rb, add, 0, 0, 0, 0, 0, NULL);
    }
    /* state_bits 9 to 15: one spiking loop for both resets */
    return mode == ESN_LI ? esn_lif_loop(a, v, o, n, 16u, 0u, ESN_LI, db, alpha, rb, add, 0, 0, 0, -hi - 1, hi, NULL)
                          : esn_lif_loop(a, v, o, n, 16u, 0u, ESN_ANY, db, alpha, rb, add, thr, k->keep, off, -hi - 1, hi, NULL);
}

/* IF, LIF and LI layers with every parameter stored per layer or channel. Returns the spikes. */
static uint32_t esn_lif_fast(const esn_model *m, const esn_node *nd, const int32_t *acc, void *v, uint32_t v_bits,
                             int32_t *out, uint32_t channels, uint32_t plane)
{
    const uint32_t db = m->decay_bits;
    const uint32_t sb = m->state_bits;
    const uint32_t mode = nd->kind == ESN_KIND_LI ? ESN_LI : nd->reset == (uint8_t)ESN_RESET_SUBTRACT ? ESN_SUB : ESN_SET;
    uint32_t spikes = 0u;
    uint32_t ch;
    esn_lif_k k;
    k.db = db;
    k.rb = (m->rounding == (uint32_t)ESN_ROUND_NEAREST ? (uint32_t)1 << (db - 1u) : 0u) + 0x80000000u;
    k.hi = (int32_t)((((uint32_t)1) << (sb - 1u)) - 1u);
    k.keep = mode == ESN_SUB ? -1 : 0;
    for (ch = 0u; ch < channels; ++ch) {
        const uint32_t at = ch * plane;
        const int32_t t0 = esn_par_ch(nd, ESN_P_THRESHOLD, ch);
        k.alpha = nd->kind == ESN_KIND_IF ? (uint32_t)1 << db : (uint32_t)esn_par_ch(nd, ESN_P_ALPHA, ch);
        k.add = esn_par_ch(nd, ESN_P_BIAS, ch) - ((int32_t)1 << (31u - db));
        k.thr = t0 - (nd->spike_rule == (uint8_t)ESN_SPIKE_GE);
        k.off = mode == ESN_SUB ? -t0 : nd->reset == (uint8_t)ESN_RESET_VALUE ? esn_par_ch(nd, ESN_P_V_RESET, ch) : 0;
        spikes += esn_lif_run(acc + at, (uint8_t *)v + at * (v_bits / 8u), out + at, plane, v_bits, sb, mode, &k);
    }
    return spikes;
}

/*
 * ALIF in two passes: the first is LI's loop (v = sat(leak + acc + bias), kept in v and `out`), the second reads
 * v back from `out` and adapts. With ab = adapt_bits, r_ab its rounding term and the caller's checks (sb = 8 or
 * 16, beta < 2^16):
 *  - where |eta| <= 2^15 (one unsigned compare of eta + 2^15 with 2^16), beta eta + r_ab and rho eta + r
 *    (rho <= 2^16) are int32, and theta = b0 + floor((beta eta + r_ab) / 2^ab) and eta' = floor((rho eta + r) / 2^db)
 *    take the offset-binary shift of the leak: two MLA, two LSR;
 *  - elsewhere (esn_alif_wide) both are 64-bit, and theta is clamped to [-2^30, 2^30], which changes no spike and
 *    no v: above 2^30 no v (<= 2^15) crosses, below -2^30 every v crosses and v - theta saturates either way;
 *  - a crossing means v >= theta, so v - theta >= 0 needs only its upper saturation; eta' lies between eta and
 *    0 (0 <= rho <= 2^db), and eta' + s eta_inc saturates at 2^31 - 1 only (eta_inc >= 0).
 * alpha, rho and eta_inc are stored once per layer or channel, or all three per neuron at 16 bits (a neuron's
 * own time constants, read through pointers: pern); bias, b0 and beta once per layer or channel.
 */
typedef struct esn_alif_k {
    uint32_t db, ab, rho, inc, rb, rab, beta;
    int32_t b0;  /* b0 - ge - 2^(31-ab): x > theta - ge crosses */
    int32_t odb; /* 2^(31-db) */
    int32_t ge;
    const uint16_t *pr, *pi; /* pern: rho and eta_inc of the channel's first neuron */
} esn_alif_k;

/* theta - ge (clamped to [-2^30, 2^30]) and eta' of a neuron whose |eta| exceeds 2^15: 64-bit products. */
ESN_OWN int32_t esn_alif_wide(int32_t e, uint32_t rho, const esn_alif_k *k, int32_t *q)
{
    const int64_t b0 = (int64_t)k->b0 + ((int64_t)1 << (31u - k->ab));
    const int64_t t = b0 + esn_asr64((int64_t)k->beta * e + (int64_t)(k->rab - 0x80000000u), k->ab);
    *q = (int32_t)esn_asr64((int64_t)rho * e + (int64_t)(k->rb - 0x80000000u), k->db);
    return t > ((int32_t)1 << 30) ? ((int32_t)1 << 30) : t < -((int32_t)1 << 30) ? -((int32_t)1 << 30) : (int32_t)t;
}

/* The second pass over n neurons: x = v (in `out`), eta; writes spikes to `out`, v where it spikes, eta. */
ESN_LOOP uint32_t esn_alif_loop(int32_t *out, void *vp, int32_t *eta, uint32_t n, uint32_t w, int pern,
                                const esn_alif_k *k)
{
    const uint32_t db = k->db, ab = k->ab, rb = k->rb, rab = k->rab, beta = k->beta;
    const int32_t b0 = k->b0, odb = k->odb;
    const uint16_t *pr = k->pr, *pi = k->pi;
    uint32_t rho = k->rho;
    uint32_t spikes = 0u;
    uint32_t j;
    for (j = 0u; j < n; ++j) {
        const int32_t x = out[j];
        const int32_t e = eta[j];
        int32_t theta, q;
        uint32_t s;
        if (pern) {
            rho = pr[j];
        }
        if ((uint32_t)e + 0x8000u < 0x10000u) { /* -2^15 <= eta < 2^15 */
            theta = (int32_t)((beta * (uint32_t)e + rab) >> ab) + b0;
            q = (int32_t)((rho * (uint32_t)e + rb) >> db) - odb;
        } else {
            theta = esn_alif_wide(e, rho, k, &q);
        }
        s = (uint32_t)(theta - x) >> 31; /* x > theta - ge; both within 2^30 */
        if (s != 0u) {
            const int32_t inc = (int32_t)(pern ? pi[j] : k->inc);
            const int32_t d = x - theta - k->ge; /* v - theta, in [0, 2^31) */
            if (w == 8u) {
                ((int8_t *)vp)[j] = (int8_t)ESN_SSAT(d, 8);
            } else {
                ((int16_t *)vp)[j] = (int16_t)ESN_SSAT(d, 16);
            }
            q = q > INT32_MAX - inc ? INT32_MAX : q + inc;
            spikes += 1u;
        }
        eta[j] = q;
        out[j] = (int32_t)s;
    }
    return spikes;
}

/* One channel of ALIF: both passes. */
ESN_OWN uint32_t esn_alif_run(const int32_t *a, void *v, int32_t *eta, int32_t *o, uint32_t n, uint32_t w,
                              const uint16_t *pa, uint32_t alpha, int32_t add, const esn_alif_k *k)
{
    const uint32_t db = k->db, rb = k->rb;
    if (w == 8u) {
        if (pa != NULL) {
            (void)esn_lif_loop(a, v, o, n, 8u, 8u, ESN_LI, db, 0u, rb, add, 0, 0, 0, 0, 0, pa);
            return esn_alif_loop(o, v, eta, n, 8u, 1, k);
        }
        (void)esn_lif_loop(a, v, o, n, 8u, 8u, ESN_LI, db, alpha, rb, add, 0, 0, 0, 0, 0, NULL);
        return esn_alif_loop(o, v, eta, n, 8u, 0, k);
    }
    if (pa != NULL) {
        (void)esn_lif_loop(a, v, o, n, 16u, 16u, ESN_LI, db, 0u, rb, add, 0, 0, 0, 0, 0, pa);
        return esn_alif_loop(o, v, eta, n, 16u, 1, k);
    }
    (void)esn_lif_loop(a, v, o, n, 16u, 16u, ESN_LI, db, alpha, rb, add, 0, 0, 0, 0, 0, NULL);
    return esn_alif_loop(o, v, eta, n, 16u, 0, k);
}

/* ALIF layers (state_bits 8 or 16). Returns the spikes. */
static uint32_t esn_alif_fast(const esn_model *m, const esn_node *nd, const int32_t *acc, void *v, uint32_t v_bits,
                              int32_t *eta, int32_t *out, uint32_t channels, uint32_t plane, int pern)
{
    const uint32_t db = m->decay_bits;
    const uint32_t ab = m->adapt_bits;
    const int near = m->rounding == (uint32_t)ESN_ROUND_NEAREST;
    uint32_t spikes = 0u;
    uint32_t ch;
    esn_alif_k k;
    k.db = db;
    k.ab = ab;
    k.rb = (near ? (uint32_t)1 << (db - 1u) : 0u) + 0x80000000u;
    k.rab = (near ? (uint32_t)1 << (ab - 1u) : 0u) + 0x80000000u;
    k.odb = (int32_t)1 << (31u - db);
    k.ge = nd->spike_rule == (uint8_t)ESN_SPIKE_GE;
    for (ch = 0u; ch < channels; ++ch) {
        const uint32_t at = ch * plane;
        k.beta = (uint32_t)esn_par_ch(nd, ESN_P_BETA, ch);
        k.b0 = esn_par_ch(nd, ESN_P_B0, ch) - k.ge - ((int32_t)1 << (31u - ab));
        k.pr = (const uint16_t *)nd->param[ESN_P_RHO] + at;
        k.pi = (const uint16_t *)nd->param[ESN_P_ETA_INC] + at;
        k.rho = (uint32_t)esn_par_ch(nd, ESN_P_RHO, ch);
        k.inc = (uint32_t)esn_par_ch(nd, ESN_P_ETA_INC, ch);
        spikes += esn_alif_run(acc + at, (uint8_t *)v + at * (v_bits / 8u), eta + at, out + at, plane, v_bits,
                               pern ? (const uint16_t *)nd->param[ESN_P_ALPHA] + at : NULL,
                               (uint32_t)esn_par_ch(nd, ESN_P_ALPHA, ch),
                               esn_par_ch(nd, ESN_P_BIAS, ch) - ((int32_t)1 << (31u - db)), &k);
    }
    return spikes;
}

#define ESN_PBIT(slot) ((uint32_t)1 << (slot))

/* Whether none of the parameters in `slots` (a bit per esn_param) is stored per neuron. */
static int esn_uniform(const esn_node *nd, uint32_t slots)
{
    uint32_t slot;
    for (slot = 1u; slot < ESN_P_COUNT; ++slot) {
        if ((slots >> slot) & 1u && nd->param[slot] != NULL && nd->pmode[slot] == (uint8_t)ESN_PM_ELEM) {
            return 0;
        }
    }
    return 1;
}

/* Runs the layer's step on a fast path where one applies (their conditions and bounds above) and returns 1;
 * returns 0, having changed nothing, where the generic loop must run it. */
static int esn_neuron_fast(const esn_model *m, const esn_node *nd, const int32_t *const *in, uint32_t n_in,
                           void *const *state, const uint8_t *state_bits, int32_t *out, esn_counters *c)
{
    const uint32_t kind = nd->kind;
    const uint32_t n = nd->out_size;
    const uint32_t sb = m->state_bits;
    const uint32_t channels = nd->out_rank >= 2u && nd->out_shape[0] != 0u ? nd->out_shape[0] : 1u;
    const uint32_t plane = n / channels;
    void *const v = state[ESN_VAR_V];
    uint32_t spikes;
    if (m->rounding == (uint32_t)ESN_ROUND_STOCHASTIC || v == NULL || sb > 16u ||
        !esn_par_within(nd, ESN_P_BIAS, channels, -ESN_BIAS_MAX, ESN_BIAS_MAX)) {
        return 0;
    }
    if (kind == ESN_KIND_IF || kind == ESN_KIND_LIF || kind == ESN_KIND_LI) {
        if ((kind != ESN_KIND_LI && (nd->max_spikes != 1u || nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE)) ||
            !esn_uniform(nd, ESN_PBIT(ESN_P_THRESHOLD) | ESN_PBIT(ESN_P_ALPHA) | ESN_PBIT(ESN_P_V_RESET))) {
            return 0;
        }
        spikes = esn_lif_fast(m, nd, esn_acc_sum(in, n_in, n, out), v, state_bits[ESN_VAR_V], out, channels, plane);
    } else if (kind == ESN_KIND_ALIF) {
        const uint32_t pn = ESN_PBIT(ESN_P_ALPHA) | ESN_PBIT(ESN_P_RHO) | ESN_PBIT(ESN_P_ETA_INC);
        const int pern = nd->pmode[ESN_P_ALPHA] == (uint8_t)ESN_PM_ELEM;
        if ((sb != 8u && sb != 16u) || !esn_uniform(nd, ESN_PBIT(ESN_P_B0)) ||
            !esn_par_within(nd, ESN_P_BETA, channels, 0, 0xFFFF) ||
            !(pern ? nd->pmode[ESN_P_RHO] == (uint8_t)ESN_PM_ELEM && nd->pmode[ESN_P_ETA_INC] == (uint8_t)ESN_PM_ELEM &&
                         esn_param_bits(nd, ESN_P_ALPHA) == 16u && esn_param_bits(nd, ESN_P_RHO) == 16u &&
                         esn_param_bits(nd, ESN_P_ETA_INC) == 16u
                   : esn_uniform(nd, pn))) {
            return 0;
        }
        spikes = esn_alif_fast(m, nd, esn_acc_sum(in, n_in, n, out), v, state_bits[ESN_VAR_V], (int32_t *)state[ESN_VAR_ETA],
                               out, channels, plane, pern);
    } else {
        return 0;
    }
    c->neuron_updates += n;
    c->spikes_out += spikes;
    return 1;
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

    if (esn_neuron_fast(m, nd, in, n_in, state, state_bits, out, c)) {
        return;
    }
    for (slot = 1u; slot < ESN_P_COUNT; ++slot) { /* every slot but the weights */
        esn_par_init(&par[slot], nd, slot);
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
