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
 *
 * esn_neuron_step takes the int32 fast paths below (IF, LIF, LI, ALIF at 8- or 16-bit state, deterministic
 * rounding) where their bounds hold, checked once per call; the generic loop after them is the reference path
 * (every kind, width and rounding; Cortex-M0 and the host run the same C).
 */
#include <string.h>

#include "../esn_internal.h"
#include "esn/esn_fixedpoint.h"
#include "esn/esn_kernels.h"

#if defined(__GNUC__)
#define ESN_LOOP static inline __attribute__((always_inline)) /* each call below is one specialised loop */
#define ESN_OWN static __attribute__((noinline))              /* its own frame, its loop's constants in registers */
#define ESN_HOT static __attribute__((noinline, optimize("O2"))) /* -Os keeps a loop's test at its top */
#else
#define ESN_HOT static
#define ESN_LOOP static inline
#define ESN_OWN static
#endif

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

ESN_OWN void esn_par_channel(esn_par *q, const esn_node *nd, uint32_t slot, uint32_t ch)
{
    if (q->p != NULL && nd->pmode[slot] == (uint8_t)ESN_PM_CHANNEL) {
        q->value = esn_param_load(q->p, q->bits, ch);
    }
}

/* Inlined into the generic loop (it reads up to nine a neuron): CubaLIF 298 -> 291 instructions a neuron on
 * Cortex-M4 for 98 bytes. */
ESN_LOOP int32_t esn_par_at(const esn_par *q, uint32_t j)
{
    return q->per_neuron ? esn_param_load(q->p, q->bits, j) : q->value;
}

/* Spike count s of neuron j into `out` at its width (esn_node.out_bits). Byte j lies in int32 entry j/4 <= j, which
 * every loop here has read by then where `out` also holds the layer's input or scratch v (a stateless layer's). */
static inline void esn_put_spike(int32_t *out, int o8, uint32_t j, int32_t s)
{
    if (o8) {
        ((uint8_t *)out)[j] = (uint8_t)s;
    } else {
        out[j] = s;
    }
}

/*
 * Fast paths, chosen once per call by esn_neuron_fast where their bounds hold, bit for bit the generic loop's
 * results: IF, LIF, LI and ALIF with v stored in 8 or 16 bits (state_bits sb <= 16), truncating or nearest
 * rounding, one spike a step at most, no late reset, parameters once per layer or channel (ALIF: its time
 * constants may be per neuron; LI: its alpha; LIF: alpha and threshold both, at 16 bits, pern). A neuron's
 * arithmetic is int32, every branch on the kind, reset, spike rule or storage width is taken once per call (a
 * loop per width and ending, instantiated at compile time; the rule and the reset folded into constants) and the
 * counters are added once per call.
 *
 * Bounds (db = decay_bits in [2, 16], every decay in [0, 2^db], |v| <= 2^15, esn_model_validate):
 *  - leak + bias = floor((alpha v + r + bias 2^db) / 2^db), r in {0, 2^(db-1)}: adding a multiple of 2^db
 *    before a floor shift adds its quotient after it, so r + bias 2^db is one constant and the update one MLA
 *    and one ASR (esn_asr32). alpha v + r is in [-2^31, 2^31 - 2^16 + 2^15]; the caller checks that the bias
 *    keeps the sum in int32 (esn_bias_max: |bias| <= 2^(31-db) - 2^15, only 0 at db = 16) and
 *    |bias| <= 2^28. IF is LIF with alpha = 2^db (the shift gives back v exactly).
 *  - acc: each input entry is below 2^31 in magnitude (the validator's propagated bound); a layer with
 *    several inputs sums them in int64 once (esn_acc_sum). acc is clamped to [-2^29, 2^29) (SSAT #30): with
 *    |leak + bias| <= 2^15 + 2^28, acc + leak + bias is an int32 that saturates to sb bits as the unclamped
 *    sum does, since beyond +-2^29 both lie beyond +-(2^29 - 2^28 - 2^15) > 2^15.
 *  - spike: v > thr - ge (ge = 1 for the rule >=, thr >= 1), so a crossing v is >= 1 and v - thr is in
 *    [0, 2^15): no saturation. The reset is one MLA, v * keep + off: keep = 1, off = -thr (subtract) or
 *    keep = 0, off = v_reset (0 for a reset to zero).
 *  - pern (LIF: alpha and threshold per neuron, each at 8 or 16 bits, v at 8 or 16): the bounds above hold neuron
 *    by neuron (the validator's alpha in [0, 2^db] and threshold in [1, 2^(sb-1) - 1] are per element; alpha >= 0,
 *    < 2^7 at 8 bits and < 2^15 at 16 bits, so read unsigned); the reset is (v - threshold) * keep + off,
 *    v - threshold in [0, 2^15).
 * Where not optimal: a LIF neuron is 16 Cortex-M4 instructions, its loop included (pern: 24, ~37.5 a neuron update
 * with the layer's dispatch); ALIF about 36 in two passes (its v, then its adaptation: one fused pass, tried,
 * spills six registers and measured 61 against 58.5 instructions per update); CubaLIF/CubaLI, per-neuron biases
 * or v_reset, per-neuron thresholds with alpha once (IF), late resets, several spikes a step,
 * stochastic rounding and 32-bit state take the generic loop.
 */

/* Saturation to a constant b bits: one SSAT (ARMv7-M ARM A7.7.149) where the core has it (ACLE __ARM_FEATURE_SAT;
 * the compiler's builtin behind arm_acle.h's __ssat, so that no header beyond stdint.h and string.h is needed). */
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && defined(__GNUC__)
#define ESN_SSAT(x, b) ((int32_t)__builtin_arm_ssat((x), (b)))
#else
#define ESN_SSAT(x, b) esn_clamp32((x), -((int32_t)1 << ((b) - 1)), ((int32_t)1 << ((b) - 1)) - 1)
#endif

/* x saturated to sb = 16 - sh bits (0 <= sh < 8; at sh = 0 plainly 16 bits). With SSAT: two at 16 bits, y = sat16(x)
 * in [-2^15, 2^15), y 2^sh below 2^23 in magnitude, sat16(y 2^sh) >> sh is y where y fits sb bits, else 2^(sb-1) - 1
 * or -2^(sb-1): the clamp in 4 instructions and one register, not two compares against two bounds. Without (ARMv6-M):
 * the two compares. */
static inline int32_t esn_sat_sb(int32_t x, uint32_t sh)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT && defined(__GNUC__)
    const int32_t y = ESN_SSAT(x, 16);
    return esn_asr32(ESN_SSAT((int32_t)((uint32_t)y << sh), 16), sh);
#else
    const int32_t hi = (int32_t)((1u << (15u - sh)) - 1u);
    return esn_clamp32(x, -hi - 1, hi);
#endif
}

#define ESN_ACC_LO (-((int32_t)1 << 29))
#define ESN_ACC_HI (((int32_t)1 << 29) - 1)

/* The step's input: in[0] itself where it is one int32 buffer, or the sum of the inputs (each at its width),
 * clamped to the fast loops' range (exact, see above) and written to `out`, which then holds no input (a layer
 * writes over its input only where it has one int32 input) and whose entry j each loop reads before it writes it. */
static const int32_t *esn_acc_sum(const void *const *in, const uint8_t *in8, uint32_t n_in, uint32_t n, int32_t *out)
{
    uint32_t j;
    uint32_t e;
    if (n_in == 1u && (in8 == NULL || in8[0] == 0u)) {
        return (const int32_t *)in[0];
    }
    for (j = 0u; j < n; ++j) {
        int64_t a = esn__in_at(in, in8, 0u, j);
        for (e = 1u; e < n_in; ++e) {
            a += esn__in_at(in, in8, e, j);
        }
        out[j] = a > ESN_ACC_HI ? ESN_ACC_HI : (a < ESN_ACC_LO ? ESN_ACC_LO : (int32_t)a);
    }
    return out;
}

/* A parameter stored once per layer or channel: its value for channel ch (0 where absent). */
static inline int32_t esn_par_ch(const esn_node *nd, uint32_t slot, uint32_t ch)
{
    const void *p = nd->param[slot];
    return p == NULL ? 0 : esn_param_load(p, esn_param_bits(nd, slot), nd->pmode[slot] == (uint8_t)ESN_PM_CHANNEL ? ch : 0u);
}

/* The constants of one channel of the IF/LIF/LI loop (and ALIF's first pass). */
typedef struct esn_lif_k {
    uint32_t db;
    int32_t alpha;          /* [0, 2^db] */
    int32_t rb;             /* rounding term + bias 2^db */
    int32_t thr, keep, off; /* threshold - ge; a crossing v becomes v * keep + off */
    uint32_t sh;            /* 16 - sb: the saturation to sb bits at 8 < sb < 16 (esn_sat_sb) */
    int32_t ge;             /* 1 for the rule >= */
    const uint16_t *pa;     /* LI and ALIF: alpha of each neuron, a step of sa neurons (0: one value) */
    uint32_t sa;
    const uint8_t *pb, *tb; /* pern: alpha and threshold of the first neuron (tb NULL: not pern) */
    uint32_t as, ts;        /* pern: their bytes a neuron, 1 or 2 (stored at 8 or 16 bits) */
} esn_lif_k;

/* n neurons: v stored at w = 8 or 16 bits, saturated to sat = 8 or 16 bits (one SSAT) or, sat = 0, to sb bits
 * (esn_sat_sb); spiking: 1 for IF and LIF, 0 for LI (alpha read through pa), -1 for ALIF's first pass with
 * alpha per neuron (pa read one by one, v left to the second pass, which stores it); pern (LIF only): each
 * neuron's own alpha and threshold read through pb and tb, each at 8 or 16 bits (one compare-and-select a load:
 * planners pick 6-bit decays and 8-bit thresholds; a LIF with one of them once, or IF with per-neuron thresholds,
 * takes the generic loop). Returns the spikes. */
ESN_LOOP uint32_t esn_lif_loop(const int32_t *acc, void *vp, void *out, uint32_t n, uint32_t w, uint32_t sat,
                               int spiking, int pern, const esn_lif_k *k)
{
    uint8_t *s8 = (uint8_t *)out; /* spikes: bytes (out_bits 8); LI's and ALIF's first pass: int32 v */
    int32_t *x32 = (int32_t *)out;
    int8_t *v8 = (int8_t *)vp;
    int16_t *v16 = (int16_t *)vp;
    const int32_t *const end = acc + n;
    /* pern 1: both at 16 bits (constant steps); pern 2: each at 8 or 16 bits (a compare-and-select a load) */
    const uint32_t db = k->db, sa = k->sa, as = pern == 1 ? 2u : k->as, ts = pern == 1 ? 2u : k->ts;
    const int32_t keep = k->keep, ge = k->ge, rb = k->rb;
    const uint32_t sh = k->sh;
    const int32_t thr = k->thr, off = pern ? k->off + keep * (thr + ge) : k->off; /* pern: -threshold unfolded */
    const uint16_t *pa = k->pa;
    const uint8_t *pb = k->pb;
    const uint8_t *tb = k->tb;
    int32_t alpha = k->alpha;
    uint32_t spikes = 0u;
    if (n == 0u) {
        return 0u;
    }
    do { /* the test at the bottom: one compare and branch a neuron */
        const int32_t vj = w == 8u ? *v8 : *v16;
        int32_t x;
        int32_t t = thr;
        if (spiking < 0) {
            alpha = (int32_t)*pa++;
        } else if (!spiking) {
            alpha = (int32_t)*pa;
            pa += sa;
        }
        if (pern) { /* alpha in [0, 2^db] (< 2^7 stored at 8 bits), threshold in [1, 2^(sb-1) - 1] (esn_model_validate) */
            alpha = as == 1u ? (int32_t)*pb : (int32_t)*(const uint16_t *)(const void *)pb;
            t = (ts == 1u ? (int32_t)*(const int8_t *)tb : (int32_t)*(const int16_t *)(const void *)tb) - ge;
            pb += as;
            tb += ts;
        }
        x = ESN_SSAT(*acc++, 30) + esn_asr32(alpha * vj + rb, db); /* + leak + bias */
        x = sat == 8u ? ESN_SSAT(x, 8) : sat == 16u ? ESN_SSAT(x, 16) : esn_sat_sb(x, sh);
        if (spiking > 0) {
            const uint32_t s = (uint32_t)(t - x) >> 31; /* x > t; |t - x| < 2^16 */
            if (s != 0u) { /* x >= threshold: x - threshold in [0, 2^15); off: v_reset, 0 or -threshold */
                x = pern ? (x - t - ge) * keep + off : x * keep + off;
            }
            *s8++ = (uint8_t)s;
            spikes += ESN_TALLY(s);
        } else if (spiking == 0) {
            *x32++ = x;
        }
        if (w == 8u) { /* ALIF's first pass: v for the second, which reads it back (sat = w: exact) */
            *v8++ = (int8_t)x;
        } else {
            *v16++ = (int16_t)x;
        }
    } while (acc != end);
    return spikes;
}

/* One channel: the loop for v at w bits saturated to sb bits. */
ESN_HOT uint32_t esn_lif_run(const int32_t *a, void *v, void *o, uint32_t n, uint32_t w, uint32_t sb, int spiking,
                             const esn_lif_k *k)
{
    if (spiking && k->tb != NULL) { /* pern: both at 16 bits (v at 16: sb > 8) in the loops with constant steps */
        if (k->as == 2u && k->ts == 2u) {
            return sb == 16u ? esn_lif_loop(a, v, o, n, 16u, 16u, 1, 1, k) : esn_lif_loop(a, v, o, n, 16u, 0u, 1, 1, k);
        }
        return w == 8u ? esn_lif_loop(a, v, o, n, 8u, 8u, 1, 2, k) : esn_lif_loop(a, v, o, n, 16u, 0u, 1, 2, k);
    }
    if (w == 8u) { /* state_bits 8 */
        return spiking ? esn_lif_loop(a, v, o, n, 8u, 8u, 1, 0, k) : esn_lif_loop(a, v, o, n, 8u, 8u, 0, 0, k);
    }
    if (sb == 16u) {
        return spiking ? esn_lif_loop(a, v, o, n, 16u, 16u, 1, 0, k) : esn_lif_loop(a, v, o, n, 16u, 16u, 0, 0, k);
    }
    return spiking ? esn_lif_loop(a, v, o, n, 16u, 0u, 1, 0, k) : esn_lif_loop(a, v, o, n, 16u, 0u, 0, 0, k);
}

/* ALIF's first pass with alpha per neuron (sb = w): one load of alpha a neuron and no store of v (58 -> 56
 * instructions per update, bench_mcu --neurons). */
ESN_HOT void esn_alif_first(const int32_t *a, void *v, void *o, uint32_t n, uint32_t w, const esn_lif_k *k)
{
    (void)(w == 8u ? esn_lif_loop(a, v, o, n, 8u, 8u, -1, 0, k) : esn_lif_loop(a, v, o, n, 16u, 16u, -1, 0, k));
}

/*
 * ALIF in two passes: the first is LI's loop (v = sat(leak + acc + bias), kept in v and `out`), the second reads
 * v back from `out` and adapts. With ab = adapt_bits, r_ab its rounding term and the caller's checks (sb = 8 or
 * 16, 0 <= beta < 2^16):
 *  - where 0 <= eta < 2^15 (one unsigned compare; eta >= 0 always, unless set so: it starts at 0, decays
 *    towards 0 and grows by eta_inc >= 0), beta eta + r_ab + (b0 - ge) 2^ab (each term below 2^31, b0 <= 2^15,
 *    ab <= 16) and rho eta + r (rho <= 2^16) are uint32s: theta - ge = (beta eta + r_ab + (b0 - ge) 2^ab) >> ab
 *    (a multiple of 2^ab added before the shift is its quotient after it) and eta' = (rho eta + r) >> db are
 *    two MLA and two LSR, and eta' <= eta < 2^15 leaves eta' + eta_inc (<= 2^16) far from saturating;
 *  - elsewhere (esn_alif_wide) the neuron is the generic loop's, in int64 (|beta eta| < 2^47);
 *  - a crossing means v >= theta, so v - theta >= 0 needs only its upper saturation.
 * alpha, rho and eta_inc are stored once per layer or channel, or all three per neuron at 16 bits (a neuron's
 * own time constants: pern); bias, b0 and beta once per layer or channel.
 */
typedef struct esn_alif_k {
    uint32_t db, ab, rho, inc, rdb, rab, beta; /* rdb, rab: rounding terms */
    int32_t b0;                                /* b0 - ge: x > theta - ge crosses */
    int32_t ge;
    uint32_t w, mode;
    void *v;
    int32_t *eta;
    uint8_t *s;                  /* the channel's spikes, bytes in `out` (which holds no input by then) */
    const uint16_t *pr, *pi;     /* pern: rho and eta_inc of the channel's first neuron */
} esn_alif_k;

/* Neuron j where eta is outside [0, 2^15), its new v stored by the first pass: 64-bit products and sums. Returns its
 * spike. */
ESN_OWN uint32_t esn_alif_wide(const esn_alif_k *k, uint32_t j, int pern)
{
    const int32_t x = k->w == 8u ? ((const int8_t *)k->v)[j] : ((const int16_t *)k->v)[j];
    const int32_t e = k->eta[j];
    const int64_t rho = pern ? k->pr[j] : k->rho;
    const int64_t t = k->b0 + esn_rshift((int64_t)k->beta * e, k->ab, k->mode, 0u); /* theta - ge */
    int64_t q = esn_rshift(rho * e, k->db, k->mode, 0u);
    const uint32_t s = t < x;
    const int64_t d = s != 0u ? esn_sat64(x - t - k->ge, k->w) : x; /* v - theta, or v (the loop left it) */
    if (k->w == 8u) {
        ((int8_t *)k->v)[j] = (int8_t)d;
    } else {
        ((int16_t *)k->v)[j] = (int16_t)d;
    }
    if (s != 0u) {
        q = esn_sat64(q + (pern ? k->pi[j] : k->inc), 32u);
    }
    k->eta[j] = (int32_t)q;
    k->s[j] = (uint8_t)s;
    return s;
}

/* The second pass from neuron j < n, v stored at w bits: stops at n or at a neuron for esn_alif_wide, whose index
 * it returns. It reads v where the first pass stored it and stores it back (after a spike, v - theta) through the
 * same pointer: a spike then costs an SSAT and an ADD, not the neuron's address, width and eta_inc looked up anew;
 * the spikes go out as bytes, so no pointer into `out` is read (one register fewer, no spills on Cortex-M4). */
ESN_LOOP uint32_t esn_alif_loop(const esn_alif_k *k, uint32_t j, uint32_t n, uint32_t w, int pern, uint32_t *spikes)
{
    const uint32_t db = k->db, ab = k->ab, rdb = k->rdb, beta = k->beta;
    const uint32_t rab = k->rab + ((uint32_t)k->b0 << ab);
    const int32_t ge = k->ge;
    uint8_t *s8 = k->s + j;
    int32_t *eta = k->eta + j;
    const uint8_t *const end = k->s + n;
    int8_t *v8 = (int8_t *)k->v + j;
    int16_t *v16 = (int16_t *)k->v + j;
    const uint16_t *pr = k->pr + j;
    /* eta_inc of the neuron whose rho is at pr lies di bytes on (two arrays: an address difference, not a pointer
     * one): one register instead of a third pointer to step, 1 instruction a neuron */
    const uintptr_t di = (uintptr_t)k->pi - (uintptr_t)k->pr;
    uint32_t rho = k->rho;
    uint32_t inc = k->inc;
    uint32_t sp = 0u;
    do { /* the test at the bottom */
        int32_t x = w == 8u ? *v8 : *v16;
        const uint32_t e = (uint32_t)*eta;
        int32_t theta, q;
        uint32_t s;
        if (pern) {
            inc = *(const uint16_t *)((uintptr_t)pr + di);
            rho = *pr++;
        }
        if (e >= 0x8000u) { /* eta < 0 or >= 2^15 */
            break;
        }
        theta = (int32_t)((beta * e + rab) >> ab); /* (rab: r_ab + (b0 - ge) 2^ab) */
        q = (int32_t)((rho * e + rdb) >> db);
        s = (uint32_t)(theta - x) >> 31; /* x > theta - ge; both within 2^30 */
        if (s != 0u) {
            const int32_t d = x - theta - ge; /* v - theta, in [0, 2^31) */
            x = w == 8u ? ESN_SSAT(d, 8) : ESN_SSAT(d, 16);
            q += (int32_t)inc;
        }
        sp += ESN_TALLY(s);
        if (w == 8u) {
            *v8++ = (int8_t)x;
        } else {
            *v16++ = (int16_t)x;
        }
        *eta++ = q;
        *s8++ = (uint8_t)s;
    } while (s8 != end);
    *spikes += sp;
    return (uint32_t)(s8 - k->s);
}

ESN_OWN uint32_t esn_alif_pass(const esn_alif_k *k, uint32_t j, uint32_t n, int pern, uint32_t *spikes)
{
    if (k->w == 8u) {
        return pern ? esn_alif_loop(k, j, n, 8u, 1, spikes) : esn_alif_loop(k, j, n, 8u, 0, spikes);
    }
    return pern ? esn_alif_loop(k, j, n, 16u, 1, spikes) : esn_alif_loop(k, j, n, 16u, 0, spikes);
}

/* The constants of the first pass (IF, LIF, LI; ALIF's v) for channel ch. */
static void esn_lif_consts(const esn_model *m, const esn_node *nd, uint32_t ch, esn_lif_k *k)
{
    const uint32_t db = m->decay_bits;
    const int32_t t0 = esn_par_ch(nd, ESN_P_THRESHOLD, ch);
    const int sub = nd->reset == (uint8_t)ESN_RESET_SUBTRACT;
    k->db = db;
    k->rb = (m->rounding == (uint32_t)ESN_ROUND_NEAREST ? (int32_t)1 << (db - 1u) : 0) +
            esn_par_ch(nd, ESN_P_BIAS, ch) * ((int32_t)1 << db); /* in int32: esn_bias_ok */
    k->sh = 16u - m->state_bits; /* used at 8 < state_bits < 16 only */
    k->keep = sub;
    k->alpha = nd->kind == ESN_KIND_IF ? (int32_t)1 << db : esn_par_ch(nd, ESN_P_ALPHA, ch);
    k->ge = nd->spike_rule == (uint8_t)ESN_SPIKE_GE;
    k->thr = t0 - k->ge;
    k->off = sub ? -t0 : nd->reset == (uint8_t)ESN_RESET_VALUE ? esn_par_ch(nd, ESN_P_V_RESET, ch) : 0;
}

/* IF, LIF and LI layers. Returns the spikes. */
ESN_OWN uint32_t esn_lif_layer(const esn_model *m, const esn_node *nd, const int32_t *acc, void *v, uint32_t v_bits,
                               int32_t *out, uint32_t channels, uint32_t plane)
{
    const int spiking = nd->kind != ESN_KIND_LI;
    /* alpha per neuron: LI's at 16 bits, or LIF's with its threshold, each at 8 or 16 bits (esn_neuron_fast) */
    const int pa = nd->param[ESN_P_ALPHA] != NULL && nd->pmode[ESN_P_ALPHA] == (uint8_t)ESN_PM_ELEM;
    const int pern = pa && spiking;
    const uint32_t as = esn_param_bits(nd, ESN_P_ALPHA) / 8u;
    const uint32_t ts = esn_param_bits(nd, ESN_P_THRESHOLD) / 8u;
    uint32_t spikes = 0u;
    uint32_t at = 0u;
    uint32_t ch;
    uint16_t alpha16;
    esn_lif_k k;
    for (ch = 0u; ch < channels; ++ch, at += plane) {
        esn_lif_consts(m, nd, ch, &k);
        alpha16 = (uint16_t)k.alpha; /* LI: alpha <= 2^db <= 2^15 */
        k.pa = pa && !pern ? (const uint16_t *)nd->param[ESN_P_ALPHA] + at : &alpha16;
        k.sa = (uint32_t)(pa && !pern);
        k.pb = pern ? (const uint8_t *)nd->param[ESN_P_ALPHA] + (size_t)at * as : NULL;
        k.tb = pern ? (const uint8_t *)nd->param[ESN_P_THRESHOLD] + (size_t)at * ts : NULL;
        k.as = as;
        k.ts = ts;
        spikes += esn_lif_run(acc + at, (uint8_t *)v + at * (v_bits / 8u),
                              spiking ? (void *)((uint8_t *)out + at) : (void *)(out + at), plane, v_bits,
                              m->state_bits, spiking, &k);
    }
    return spikes;
}

/* ALIF layers (state_bits 8 or 16). Returns the spikes. */
ESN_OWN uint32_t esn_alif_layer(const esn_model *m, const esn_node *nd, const int32_t *acc, void *v, uint32_t v_bits,
                                int32_t *eta, int32_t *out, uint32_t channels, uint32_t plane, int pern)
{
    const uint32_t ab = m->adapt_bits;
    const int32_t ge = nd->spike_rule == (uint8_t)ESN_SPIKE_GE;
    uint32_t spikes = 0u;
    uint32_t at = 0u;
    uint32_t ch;
    uint32_t j;
    uint16_t alpha16;
    esn_lif_k k;
    esn_alif_k q;
    q.db = m->decay_bits;
    q.ab = ab;
    q.rab = m->rounding == (uint32_t)ESN_ROUND_NEAREST ? (uint32_t)1 << (ab - 1u) : 0u;
    q.rdb = m->rounding == (uint32_t)ESN_ROUND_NEAREST ? (uint32_t)1 << (q.db - 1u) : 0u;
    q.ge = ge;
    q.w = v_bits;
    q.mode = m->rounding;
    q.rho = q.inc = 0u; /* pern: read per neuron */
    k.db = q.db;
    k.alpha = k.thr = k.keep = k.off = 0; /* the latter three unread (no spikes) */
    k.sh = 0u;                             /* unread: sat = w */
    for (ch = 0u; ch < channels; ++ch, at += plane) {
        /* the first pass is LI's (esn_lif_consts' fields it reads: no threshold, reset or sh, since sb = w) */
        k.rb = (int32_t)q.rdb + esn_par_ch(nd, ESN_P_BIAS, ch) * ((int32_t)1 << q.db); /* in int32: esn_bias_ok */
        if (!pern) {
            k.alpha = esn_par_ch(nd, ESN_P_ALPHA, ch);
            q.rho = (uint32_t)esn_par_ch(nd, ESN_P_RHO, ch);
            q.inc = (uint32_t)esn_par_ch(nd, ESN_P_ETA_INC, ch);
        }
        alpha16 = (uint16_t)k.alpha; /* alpha <= 2^db <= 2^15 */
        k.pa = pern ? (const uint16_t *)nd->param[ESN_P_ALPHA] + at : &alpha16;
        k.sa = (uint32_t)pern;
        q.v = (uint8_t *)v + at * (v_bits / 8u);
        if (pern) {
            esn_alif_first(acc + at, q.v, out + at, plane, v_bits, &k);
        } else {
            (void)esn_lif_run(acc + at, q.v, out + at, plane, v_bits, m->state_bits, 0, &k);
        }
        q.beta = (uint32_t)esn_par_ch(nd, ESN_P_BETA, ch);
        q.b0 = esn_par_ch(nd, ESN_P_B0, ch) - ge;
        q.s = (uint8_t *)out + at;
        q.eta = eta + at;
        q.pr = (const uint16_t *)nd->param[ESN_P_RHO] + at;
        q.pi = (const uint16_t *)nd->param[ESN_P_ETA_INC] + at;
        for (j = 0u; j < plane;) {
            j = esn_alif_pass(&q, j, plane, pern, &spikes);
            if (j < plane) {
                spikes += esn_alif_wide(&q, j++, pern);
            }
        }
    }
    return spikes;
}

/* Whether a parameter is absent or stored per layer or channel. */
#define ESN_ONCE(nd, slot) ((nd)->param[slot] == NULL || (nd)->pmode[slot] != (uint8_t)ESN_PM_ELEM)

/* Whether a parameter stored per layer or channel has its values in [lo, hi] (absent: yes). */
static int esn_par_in(const esn_node *nd, uint32_t slot, uint32_t channels, int32_t lo, int32_t hi)
{
    const uint32_t count = nd->pmode[slot] == (uint8_t)ESN_PM_CHANNEL ? channels : 1u;
    uint32_t ch;
    for (ch = 0u; nd->param[slot] != NULL && ch < count; ++ch) {
        const int32_t x = esn_par_ch(nd, slot, ch);
        if (x < lo || x > hi) {
            return 0;
        }
    }
    return 1;
}

/* The largest |bias| the IF/LIF/LI loop folds into its rounding term (the bounds above): alpha v + r + bias 2^db
 * stays in int32 for alpha <= 2^db, -2^15 <= v < 2^15, r <= 2^(db-1) exactly when |bias| <= 2^(31-db) - 2^15
 * (floor((2^31 - 1 - 2^db (2^15 - 1) - 2^(db-1)) / 2^db), and its negative side); capped at 2^28. */
static int32_t esn_bias_max(uint32_t db)
{
    const int32_t b = (int32_t)(0x7FFFFFFFu >> db) - 32767;
    return b > ((int32_t)1 << 28) ? (int32_t)1 << 28 : b;
}

/* Whether an ALIF time constant (or LI's alpha) is stored per neuron at 16 bits; ESN_PERN816: at 8 or 16 bits. */
#define ESN_PERN(nd, slot) ((nd)->pmode[slot] == (uint8_t)ESN_PM_ELEM && esn_param_bits(nd, slot) == 16u)
#define ESN_PERN816(nd, slot) ((nd)->pmode[slot] == (uint8_t)ESN_PM_ELEM && esn_param_bits(nd, slot) <= 16u)

/* Runs the layer's step on a fast path where one applies (the conditions and bounds above) and returns 1;
 * returns 0, having changed nothing, where the generic loop must run it. */
static int esn_neuron_fast(const esn_model *m, const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in,
                           void *const *state, const uint8_t *state_bits, int32_t *out, esn_counters *c)
{
    const uint32_t kind = nd->kind;
    const uint32_t n = nd->out_size;
    const uint32_t sb = m->state_bits;
    const uint32_t channels = nd->out_rank >= 2u && nd->out_shape[0] != 0u ? nd->out_shape[0] : 1u;
    const uint32_t plane = channels == 1u ? n : n / channels;
    int pern = 0;
    uint32_t spikes;
    if (m->rounding == (uint32_t)ESN_ROUND_STOCHASTIC || state[ESN_VAR_V] == NULL || sb > 16u ||
        (kind != ESN_KIND_LI && !esn_out_u8(nd)) || /* spikes as int32: a blob's choice, not the lowering's */
        !ESN_ONCE(nd, ESN_P_BIAS) || !(ESN_ONCE(nd, ESN_P_THRESHOLD) || ESN_PERN816(nd, ESN_P_THRESHOLD)) ||
        !ESN_ONCE(nd, ESN_P_V_RESET) ||
        !esn_par_in(nd, ESN_P_BIAS, channels, -esn_bias_max(m->decay_bits), esn_bias_max(m->decay_bits))) {
        return 0;
    }
    if (kind == ESN_KIND_ALIF) {
        pern = ESN_PERN(nd, ESN_P_ALPHA);
        if ((sb != 8u && sb != 16u) || m->decay_bits > 15u || !ESN_ONCE(nd, ESN_P_B0) || !ESN_ONCE(nd, ESN_P_BETA) ||
            !esn_par_in(nd, ESN_P_BETA, channels, 0, 0xFFFF) ||
            (pern ? !ESN_PERN(nd, ESN_P_RHO) || !ESN_PERN(nd, ESN_P_ETA_INC)
                  : !ESN_ONCE(nd, ESN_P_ALPHA) || !ESN_ONCE(nd, ESN_P_RHO) || !ESN_ONCE(nd, ESN_P_ETA_INC))) {
            return 0;
        }
    } else if ((ESN_ONCE(nd, ESN_P_ALPHA) /* per neuron: LI's alpha (16 bits), or LIF's alpha and threshold (8, 16) */
                    ? !ESN_ONCE(nd, ESN_P_THRESHOLD)
                    : kind == ESN_KIND_LI ? !ESN_PERN(nd, ESN_P_ALPHA)
                                          : kind != ESN_KIND_LIF || !ESN_PERN816(nd, ESN_P_ALPHA) ||
                                                ESN_ONCE(nd, ESN_P_THRESHOLD)) ||
               (kind == ESN_KIND_LI ? m->decay_bits > 15u
                                              : (kind != ESN_KIND_IF && kind != ESN_KIND_LIF) ||
                                                    nd->max_spikes != 1u ||
                                                    nd->reset == (uint8_t)ESN_RESET_SUBTRACT_LATE)) {
        return 0; /* LI and ALIF: alpha <= 2^15 (alpha16); per neuron: LI's alpha, or LIF's alpha and threshold */
    }
    spikes = ESN_BUILT(ESN_KIND_ALIF) && kind == ESN_KIND_ALIF /* ALIF's passes only where built */
                 ? esn_alif_layer(m, nd, esn_acc_sum(in, in8, n_in, n, out), state[ESN_VAR_V], state_bits[ESN_VAR_V],
                                  (int32_t *)state[ESN_VAR_ETA], out, channels, plane, pern)
                 : esn_lif_layer(m, nd, esn_acc_sum(in, in8, n_in, n, out), state[ESN_VAR_V], state_bits[ESN_VAR_V],
                                 out, channels, plane);
    if (ESN_ENABLE_COUNTERS) {
        c->neuron_updates += n;
        c->spikes_out += spikes;
    }
    return 1;
}

/* The generic loop: every kind, storage and rounding (the specification's equations as written above). */
ESN_OWN void esn_neuron_generic(const esn_model *m, const esn_node *nd, uint32_t layer, uint32_t t,
                                const void *const *in, const uint8_t *in8, uint32_t n_in, void *const *state,
                                const uint8_t *state_bits, int32_t *out, esn_counters *c)
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
    const int o8 = esn_out_u8(nd);
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
    if (kind == ESN_KIND_THRESHOLD) { /* no state, no noise: its own loop keeps the others' loop as it was */
        for (ch = 0u; ch < channels; ++ch) {
            esn_par_channel(&par[ESN_P_THRESHOLD], nd, ESN_P_THRESHOLD, ch);
            for (end = j + plane; j < end; ++j) {
                const int32_t thr = esn_par_at(&par[ESN_P_THRESHOLD], j);
                int64_t acc = esn__in_at(in, in8, 0u, j);
                int32_t s;
                for (e = 1u; e < n_in; ++e) {
                    acc += esn__in_at(in, in8, e, j);
                }
                s = (ge ? acc >= thr : acc > thr) ? 1 : 0;
                esn_put_spike(out, o8, j, s);
                spikes += ESN_TALLY((uint32_t)s);
            }
        }
        if (ESN_ENABLE_COUNTERS) {
            c->neuron_updates += n;
            c->spikes_out += spikes;
        }
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
            int64_t acc = esn__in_at(in, in8, 0u, j);
            int64_t drive;
            int64_t vv;
            int32_t s;
            int32_t thr;
            for (e = 1u; e < n_in; ++e) {
                acc += esn__in_at(in, in8, e, j);
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
                esn_put_spike(out, o8, j, s);
                spikes += ESN_TALLY((uint32_t)s);
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
            esn_put_spike(out, o8, j, s);
            spikes += ESN_TALLY((uint32_t)s);
        }
    }
    if (ESN_ENABLE_COUNTERS) {
        c->neuron_updates += n;
        c->spikes_out += spikes;
    }
}

void esn_neuron_step(const esn_model *m, const esn_node *nd, uint32_t layer, uint32_t t,
                     const void *const *in, const uint8_t *in8, uint32_t n_in, void *const *state,
                     const uint8_t *state_bits, int32_t *out, esn_counters *c)
{
    if (!esn_neuron_fast(m, nd, in, in8, n_in, state, state_bits, out, c)) {
        esn_neuron_generic(m, nd, layer, t, in, in8, n_in, state, state_bits, out, c);
    }
}
