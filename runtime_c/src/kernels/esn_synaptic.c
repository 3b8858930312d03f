/*
 * esn_synaptic.c: event-driven Linear/Affine, Conv1d/Conv2d, Scale and Sum/AvgPool kernels.
 *
 * Each kernel first sets its output to the bias (or zero), then scans its input once and, for
 * every nonzero entry x, adds x times the weights that entry reaches. Spikes (x == 1) add the
 * weights without a multiply. Layouts and the no-overflow argument: esn_kernels.h.
 */
#include <string.h>

#include "../esn_internal.h"
#include "esn/esn_kernels.h"
#include "esn_synaptic_dsp.h"

/* One spike (x == 1) through a weight row: out[o] += row[o]. The DSP path is bit-exact with the loop. */
static inline void esn_add_row_s8(int32_t *out, const int8_t *row, uint32_t n)
{
#if ESN_DSP_KERNELS
    esn_add_row_s8_dsp(out, row, n);
#else
    uint32_t o;
    for (o = 0u; o < n; ++o) {
        out[o] += row[o];
    }
#endif
}

static inline void esn_add_row_s16(int32_t *out, const int16_t *row, uint32_t n)
{
    uint32_t o;
    for (o = 0u; o < n; ++o) {
        out[o] += row[o];
    }
}

/* Packed rows: one byte holds two 4-bit (four 2-bit) weights, low bits first; a row starts on a byte. */
static void esn_p4_pairs(int32_t *out, const uint8_t *row, uint32_t from, uint32_t to)
{
    uint32_t o;
    for (o = from; o < to; o += 2u) {
        const uint32_t b = row[o >> 1];
        out[o] += (int32_t)((b & 15u) ^ 8u) - 8;
        out[o + 1u] += (int32_t)((b >> 4) ^ 8u) - 8;
    }
}

/* On the DSP cores the word-aligned middle of the row takes esn_add_row_p4_dsp (8 weights a word), the
 * byte pairs before and after it the loop; the order of the adds is free (esn_kernels.h). */
static inline void esn_add_row_p4(int32_t *out, const uint8_t *row, uint32_t n)
{
    const uint32_t pairs = n & ~1u;
    uint32_t from = 0u;
#if ESN_DSP_KERNELS
    const uint32_t head = 2u * ((0u - (uint32_t)(uintptr_t)row) & 3u); /* outputs before the first word */
    if (head + 8u <= pairs) {
        const uint32_t mid = (pairs - head) & ~7u;
        esn_add_row_p4_dsp(out + head, row + (head >> 1), mid >> 3);
        esn_p4_pairs(out, row, 0u, head);
        from = head + mid;
    }
#endif
    esn_p4_pairs(out, row, from, pairs);
    if (pairs < n) {
        out[pairs] += esn_nibble(row, pairs);
    }
}

static inline void esn_add_row_p2(int32_t *out, const uint8_t *row, uint32_t n)
{
    uint32_t o;
    for (o = 0u; o + 4u <= n; o += 4u) {
        const uint32_t b = row[o >> 2];
        out[o] += (int32_t)((b & 3u) ^ 2u) - 2;
        out[o + 1u] += (int32_t)(((b >> 2) & 3u) ^ 2u) - 2;
        out[o + 2u] += (int32_t)(((b >> 4) & 3u) ^ 2u) - 2;
        out[o + 3u] += (int32_t)((b >> 6) ^ 2u) - 2;
    }
    for (; o < n; ++o) {
        out[o] += esn_crumb(row, o);
    }
}

/* Binary rows (1 bit, 8 weights a byte, low bit first): out[o * stride] += bit o ? -x : x, where x is the event
 * times the layer's magnitude (esn_node.wmag): no multiply. A byte at a time, its bits shifted out over a marker bit
 * just above the last weight it holds (bit 8, or n - o in a row's last byte), so one loop ends both a byte and the
 * row; each bit's sign is applied as x - t - t, t = bit * x (no branch, no overflow: esn_model_validate bounds
 * |x| = |event * wmag| < 2^31).
 * On the DSP cores a dense row with 1 <= x <= 127 takes esn_add_row_b1_dsp for its whole bytes first. */
static void esn_row_b1(int32_t *out, uint32_t stride, const uint8_t *row, uint32_t n, int32_t x)
{
#if ESN_DSP_KERNELS
    if (stride == 1u && (uint32_t)(x - 1) < 127u && n >= 8u) {
        esn_add_row_b1_dsp(out, row, n >> 3, x);
        out += n & ~7u;
        row += n >> 3;
        n &= 7u;
    }
#endif
    while (n != 0u) { /* few live values: Thumb-1 (Cortex-M0) keeps them all in r0-r7 */
        const uint32_t k = n < 8u ? n : 8u;
        uint32_t b = *row++ | (1u << k);
        n -= k;
        for (; b != 1u; b >>= 1, out += stride) {
            const int32_t t = (int32_t)(b & 1u) * x; /* 0 or x: x - t - t is x or -x, each step in range */
            *out += x - t - t;
        }
    }
}

/* out[o * stride] += x * row[o] for a row of n weights stored at `bits` (1 bit: x already times wmag): one
 * dispatch per row, so the loops stay tight. Spikes (x == 1) of a dense row (stride 1) take the add-only paths,
 * the DSP one for int8; other values of a dense int8 row (analog inputs, counts above 1) the DSP multiply-accumulate. */
static void esn_row_mac(int32_t *out, uint32_t stride, const uint8_t *row, uint32_t n, uint32_t bits, int32_t x)
{
    uint32_t o;
    if (bits == 1u) {
        esn_row_b1(out, stride, row, n, x);
        return;
    }
    if (x == 1 && stride == 1u) {
        switch (bits) {
        case 2u:
            esn_add_row_p2(out, row, n);
            return;
        case 4u:
            esn_add_row_p4(out, row, n);
            return;
        case 16u:
            esn_add_row_s16(out, (const int16_t *)(const void *)row, n);
            return;
        default:
            esn_add_row_s8(out, (const int8_t *)(const void *)row, n);
            return;
        }
    }
#if ESN_DSP_KERNELS
    if (bits == 8u && stride == 1u && x >= -32768 && x <= 32767) { /* analog inputs and pool sums: SMLABB/SMLATB */
        esn_mac_row_s8_dsp(out, (const int8_t *)(const void *)row, n, x);
        return;
    }
#endif
    switch (bits) {
    case 2u:
    case 4u: /* packed: one loop for both (conv taps and multi-spike events; spikes of dense rows are above) */
        for (o = 0u; o < n; ++o) {
            out[(size_t)o * stride] += x * (bits == 4u ? esn_nibble(row, o) : esn_crumb(row, o));
        }
        break;
    case 16u:
        for (o = 0u; o < n; ++o) {
            out[(size_t)o * stride] += x * ((const int16_t *)(const void *)row)[o];
        }
        break;
    default:
        for (o = 0u; o < n; ++o) {
            out[(size_t)o * stride] += x * ((const int8_t *)(const void *)row)[o];
        }
        break;
    }
}

/* The input entry j: the sum over the node's incoming edges, each at its width. */
static inline int64_t esn_input_at(const void *const *in, const uint8_t *in8, uint32_t n_in, uint32_t j)
{
    int64_t x = esn__in_at(in, in8, 0u, j);
    uint32_t e;
    for (e = 1u; e < n_in; ++e) {
        x += esn__in_at(in, in8, e, j);
    }
    return x;
}

/* The first entry at or after j of one input buffer that is not zero (n when none). Spiking inputs are
 * mostly zeros: four entries are tested per OR-ed group (on the DSP cores one LDM and 3 ORRs, 1.75
 * instructions per entry, where an entry at a time takes 6-7). */
static inline uint32_t esn_scan(const int32_t *x, uint32_t j, uint32_t n)
{
#if ESN_DSP_KERNELS
    return (uint32_t)(esn_scan_s32_dsp(x + j, x + n) - x);
#else
    const int32_t *p = x + j;
    const int32_t *const end = x + n;
    while (end - p >= 4 && (p[0] | p[1] | p[2] | p[3]) == 0) {
        p += 4;
    }
    while (p < end && *p == 0) {
        ++p;
    }
    return (uint32_t)(p - x);
#endif
}

/* The first entry at or after j of a uint8 buffer that is not zero (n or more when none): the portable loop tests a word of
 * 4 entries at a time after the 0-3 entries up to a word boundary (the word read through memcpy: no aliasing
 * assumption, one load); the DSP cores take esn_scan_u8_dsp, 16 entries per LDM (0.4 instructions an entry where the
 * int32 scan takes 1.75). */
static inline uint32_t esn_scan_u8(const uint8_t *x, uint32_t j, uint32_t n)
{
#if ESN_DSP_KERNELS
    return (uint32_t)(esn_scan_u8_dsp(x + j, x + n) - x);
#else
    uint32_t w;
    while (j < n && (j & 3u) != 0u) {
        if (x[j] != 0u) {
            return j;
        }
        ++j;
    }
    for (; n - j >= 4u; j += 4u) {
        memcpy(&w, x + j, 4u);
        if (w != 0u) {
            break;
        }
    }
    while (j < n && x[j] == 0u) {
        ++j;
    }
    return j;
#endif
}

/* esn_scan or esn_scan_u8 on one buffer of either width, the event's value in *x. */
static inline uint32_t esn_scan1(const void *p, int u8, uint32_t j, uint32_t n, int64_t *x)
{
    if (u8) {
        j = esn_scan_u8((const uint8_t *)p, j, n);
        *x = j < n ? ((const uint8_t *)p)[j] : 0;
    } else {
        j = esn_scan((const int32_t *)p, j, n);
        *x = j < n ? ((const int32_t *)p)[j] : 0;
    }
    return j;
}

/* The first entry at or after j whose input is not zero (n when none), its value in *x. Most layers read one
 * buffer, mostly zeros: that is esn_scan1. */
static inline uint32_t esn_next_event(const void *const *in, const uint8_t *in8, uint32_t n_in, uint32_t j, uint32_t n,
                                      int64_t *x)
{
    if (n_in == 1u) {
        return esn_scan1(in[0], in8 != NULL && in8[0] != 0u, j, n, x);
    }
    while (j < n && (*x = esn_input_at(in, in8, n_in, j)) == 0) {
        ++j;
    }
    return j;
}

/* An input that does not fit int32 can only reach a layer whose weights are all zero
 * (esn_model_validate bounds every nonzero product), so such an event adds nothing. */
static inline int esn_fits_i32(int64_t x)
{
    return x >= INT32_MIN && x <= INT32_MAX;
}

/* o[i] = v for i in [0, n): 8 words per STMIA on the DSP cores (esn_fill_s32_dsp). */
static inline void esn_fill(int32_t *o, int32_t v, uint32_t n)
{
#if ESN_DSP_KERNELS
    esn_fill_s32_dsp(o, v, n);
#else
    uint32_t i;
    if (v == 0) {
        memset(o, 0, (size_t)n * sizeof(int32_t));
        return;
    }
    for (i = 0u; i < n; ++i) {
        o[i] = v;
    }
#endif
}

/* out[ch][p] = bias[ch] for `channels` x `plane` entries, or zeros without a bias. One fill for a bias stored
 * once for the layer; an Affine's bias (plane 1, one value per output) is copied in one loop per stored width,
 * not a fill per output. */
static void esn_init_out(int32_t *out, const esn_node *nd, uint32_t channels, uint32_t plane)
{
    const void *const bias = nd->param[ESN_P_BIAS];
    const uint32_t bits = esn_param_bits(nd, ESN_P_BIAS);
    uint32_t ch;
    if (bias == NULL) {
        esn_fill(out, 0, channels * plane);
        return;
    }
    if (nd->pmode[ESN_P_BIAS] == (uint8_t)ESN_PM_LAYER) {
        esn_fill(out, esn_param_load(bias, bits, 0u), channels * plane);
        return;
    }
    if (plane == 1u) {
        if (bits == 32u) {
            memcpy(out, bias, (size_t)channels * sizeof(int32_t));
        } else if (bits == 16u) {
            for (ch = 0u; ch < channels; ++ch) {
                out[ch] = ((const int16_t *)bias)[ch];
            }
        } else {
            for (ch = 0u; ch < channels; ++ch) {
                out[ch] = ((const int8_t *)bias)[ch];
            }
        }
        return;
    }
    for (ch = 0u; ch < channels; ++ch) {
        esn_fill(out + (size_t)ch * plane, esn__param_of(nd, ESN_P_BIAS, ch, ch), plane);
    }
}

/* A conv/pool tensor's geometry: (C, H, W) (rank 3 as is, rank 2 [C][L] as (C, 1, L)) and where element
 * (c, y, x) lies: c * cs + (y * W + x) * ps, row-major (cs = H * W, ps = 1) or channel-last (cs = 1, ps = C). */
typedef struct esn_geo {
    uint32_t c, h, w, cs, ps;
} esn_geo;

static void esn_chw(const uint32_t *shape, uint8_t rank, uint32_t cl, esn_geo *g)
{
    g->c = shape[0];
    g->h = rank == 3u ? shape[1] : 1u;
    g->w = rank == 3u ? shape[2] : shape[1];
    g->cs = cl && g->c > 1u ? 1u : g->h * g->w; /* one channel: both layouts are the same order */
    g->ps = cl && g->c > 1u ? g->c : 1u;
}

/* Where the current input event lies, as the counters of its storage order: (iy, ix, ch) channel-last, (ch, iy, ix)
 * row-major, the last running fastest. Events come in increasing index, so moving the counters to the next one
 * costs a step per fastest-axis row skipped, less than the scan that skipped it, and no division. */
typedef struct esn_cursor {
    uint32_t j, slow, mid, fast; /* storage index and its counters */
    uint32_t n_mid, n_fast;
} esn_cursor;

static void esn_cursor_init(esn_cursor *cu, const esn_geo *g)
{
    cu->j = cu->slow = cu->mid = cu->fast = 0u;
    cu->n_mid = g->ps == 1u ? g->h : g->w;
    cu->n_fast = g->ps == 1u ? g->w : g->c;
}

static inline void esn_cursor_to(esn_cursor *cu, uint32_t j)
{
    cu->fast += j - cu->j;
    cu->j = j;
    while (cu->fast >= cu->n_fast) {
        cu->fast -= cu->n_fast;
        if (++cu->mid == cu->n_mid) {
            cu->mid = 0u;
            ++cu->slow;
        }
    }
}

/* (channel, y, x) of the cursor's event in a tensor of geometry g. */
static inline uint32_t esn_cursor_ch(const esn_cursor *cu, const esn_geo *g)
{
    return g->ps == 1u ? cu->slow : cu->fast;
}

static inline uint32_t esn_cursor_y(const esn_cursor *cu, const esn_geo *g)
{
    return g->ps == 1u ? cu->mid : cu->slow;
}

static inline uint32_t esn_cursor_x(const esn_cursor *cu, const esn_geo *g)
{
    return g->ps == 1u ? cu->fast : cu->mid;
}

/* A conv's output at rest: the bias of each channel at every pixel (zeros without one), in the node's layout. A
 * bias the same for every channel (zeros, typically) is the same fill in either layout: esn_init_out's. */
static void esn_conv_init(int32_t *out, const esn_node *nd, const esn_geo *o)
{
    const uint32_t plane = o->h * o->w;
    uint32_t i;
    int uniform = 1;
    for (i = 1u; i < o->c && nd->param[ESN_P_BIAS] != NULL; ++i) {
        uniform &= esn__param_of(nd, ESN_P_BIAS, i, i) == esn__param_of(nd, ESN_P_BIAS, 0u, 0u);
    }
    if (o->ps == 1u || uniform) {
        esn_init_out(out, nd, o->c, plane);
        return;
    }
    esn_init_out(out, nd, o->c, 1u); /* channel-last: pixel 0's channels, then a word copy of them on */
    for (i = o->c; i < o->c * plane; ++i) {
        out[i] = out[i - o->c];
    }
}

void esn_rest_out(const esn_node *nd, int32_t *out)
{
    esn_geo o;
    if (nd->param[ESN_P_BIAS] != NULL && nd->out_rank > 1u) { /* a conv's bias is per channel */
        esn_chw(nd->out_shape, nd->out_rank, nd->layout & ESN_LAYOUT_OUT_CL, &o);
        esn_conv_init(out, nd, &o);
    } else {
        esn_init_out(out, nd, nd->out_size, 1u);
    }
}

#if ESN_DSP_KERNELS
/* The spikes (x == 1) of one int8 input buffer, up to 4 rows per pass over the accumulators
 * (esn_add_rows_s8_dsp). Rows of a pass must share their address mod 4, so spikes wait in one batch per
 * alignment class (one class when the row length is a multiple of 4, as at fan-out 64 or 256); other
 * counts take esn_row_mac at once. Returns the number of nonzero entries. Summing in this order is exact:
 * esn_model_validate bounds |bias| + sum |x w| per output, hence every partial sum (esn_kernels.h). */
static uint32_t esn_linear_s8_batched(int32_t *out, const void *x, int u8, uint32_t n_x, const uint8_t *w, uint32_t rb,
                                      uint32_t n_out)
{
    const int8_t *batch[4][4];
    const int8_t **next[4]; /* where alignment class a's next row goes: batch[a] + its count */
    const uint8_t *const x8 = (const uint8_t *)x;
    const int32_t *const x32 = (const int32_t *)x;
    uint32_t events = 0u;
    uint32_t a;
    uint32_t j;
    for (a = 0u; a < 4u; ++a) {
        next[a] = batch[a];
    }
    for (j = 0u;; ++j) { /* the scan of either width straight, an int32 value (a 64-bit one costs ~15 per event) */
        const uint8_t *row;
        int32_t v;
        if (u8) {
            const uint8_t *p = esn_scan_u8_dsp(x8 + j, x8 + n_x);
            j = (uint32_t)(p - x8);
            if (j >= n_x) {
                break;
            }
            v = *p;
        } else {
            const int32_t *p = esn_scan_s32_dsp(x32 + j, x32 + n_x);
            j = (uint32_t)(p - x32);
            if (j >= n_x) {
                break;
            }
            v = *p;
        }
        row = w + (size_t)j * rb;
        events += ESN_TALLY(1u);
        if (v != 1) {
            esn_row_mac(out, 1u, row, n_out, 8u, v);
            continue;
        }
        a = (uint32_t)(uintptr_t)row & 3u;
        *next[a]++ = (const int8_t *)(const void *)row;
        if (next[a] == batch[a] + 4) {
            esn_add_rows_s8_dsp(out, batch[a], 4u, n_out);
            next[a] = batch[a];
        }
    }
    for (a = 0u; a < 4u; ++a) {
        if (next[a] != batch[a]) {
            esn_add_rows_s8_dsp(out, batch[a], (uint32_t)(next[a] - batch[a]), n_out);
        }
    }
    return events;
}
#endif

/* Weight rows are esn__weight_row_bytes() apart, each read at the node's stored bits (esn_row_mac). */
void esn_linear(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, int32_t *out,
                esn_counters *c)
{
    const uint8_t *w = (const uint8_t *)nd->param[ESN_P_WEIGHT];
    const uint32_t bits = esn_param_bits(nd, ESN_P_WEIGHT);
    const uint32_t n_out = nd->out_size;
    const uint32_t rb = esn__weight_row_bytes(nd);
    const uint32_t n_in_entries = nd->in_size;
    const int32_t mag = nd->wmag != 0u ? (int32_t)nd->wmag : 1; /* binary rows add +-x * wmag (esn_row_b1) */
    uint32_t events = 0u;
    int64_t x = 0;
    uint32_t j;
    esn_init_out(out, nd, n_out, 1u);
#if ESN_DSP_KERNELS
    if (n_in == 1u && bits == 8u) {
        events = esn_linear_s8_batched(out, in[0], in8 != NULL && in8[0] != 0u, n_in_entries, w, rb, n_out);
    } else
#endif
    {
        for (j = esn_next_event(in, in8, n_in, 0u, n_in_entries, &x); j < n_in_entries;
             j = esn_next_event(in, in8, n_in, j + 1u, n_in_entries, &x)) {
            events += ESN_TALLY(1u);
            if (esn_fits_i32(x)) {
                esn_row_mac(out, 1u, w + (size_t)j * rb, n_out, bits, (int32_t)x * mag);
            }
        }
    }
    if (ESN_ENABLE_COUNTERS) { /* counted once per call: 64-bit adds per event cost as much as a row of 8 */
        c->spikes_in += events;
        c->synops += (uint64_t)events * n_out;
    }
}

/*
 * Conv scatter: input (ch, iy, ix) reaches output (o, oy, ox) through tap (ky, kx) when
 * iy + pad_y - ky * dil_y = oy * stride_y (and likewise along x), 0 <= oy < OH. Weights are
 * [C_in][KH][KW reversed][C_out/g] (esn_kernels.h), so along a kernel row the taps that land, taken from the
 * highest kx down, reach output pixels ox left to right through weight rows in storage order. With a channel-last
 * output, one group, stride_x == dil_x (then every tap of a row lands or none, on consecutive pixels) and rows that
 * end on a byte, those taps are one contiguous run of (taps x C_out) weights added to as many contiguous outputs:
 * one esn_row_mac call per (event, kernel row), the dense row kernel (DSP on Cortex-M4, vectorised on the host).
 * Otherwise one call per tap, C_out/g outputs cs apart. Events with x != 1 (pool sums) on a run: esn_conv_run.
 * On Cortex-M4 (N-MNIST CNN, bench_mcu.conv_table): conv1 (C_out 12, runs of at most 60 weights) 2.94, conv2
 * (C_out 32, pool sums x of 1..3) 2.53 instructions per synop, whole layer. Where it is not optimal: the event's
 * geometry (~130 instructions, spilled at -Os) and a call per kernel row (~11) weigh on conv1's short runs; a
 * kernel that took all rows of an event (out and weight strides) would save most of the latter.
 */

/* What every event of one esn_conv call reads, computed once (on Cortex-M at -Os, the event loop then keeps
 * few values live). */
typedef struct esn_conv_ctx {
    const esn_node *nd;
    int32_t *out;
    esn_geo gi, go;
    uint32_t bits, rb, kh, kw, s0, s1, d0, cin_g, cout_g, o_row, run;
} esn_conv_ctx;

/* The taps of kernel rows whose output rows an event reaches, `rows` of them from output row o and weight row wr,
 * each next one o_back outputs before and w_next bytes after, tap by tap (tap kx lands on pixel
 * (nx - kx * dil_x) / stride_x). Returns the taps. */
static uint32_t esn_conv_taps(const esn_conv_ctx *k, int32_t *o, uint32_t o_back, const uint8_t *wr, uint32_t w_next,
                              uint32_t rows, uint32_t nx, int32_t x)
{
    uint32_t taps = 0u;
    for (; rows > 0u; --rows, o -= o_back, wr += w_next) {
        uint32_t kx;
        for (kx = 0u; kx < k->kw; ++kx) {
            const int32_t mx = (int32_t)nx - (int32_t)(kx * k->nd->dil[1]);
            uint32_t ox;
            if (mx < 0) {
                break;
            }
            ox = k->s1 == 1u ? (uint32_t)mx : (uint32_t)mx / k->s1;
            if (ox * k->s1 != (uint32_t)mx || ox >= k->go.w) {
                continue;
            }
            taps += ESN_TALLY(1u);
            esn_row_mac(o + (size_t)ox * k->go.ps, k->go.cs, wr + (size_t)(k->kw - 1u - kx) * k->rb, k->cout_g,
                        k->bits, x);
        }
    }
    return taps;
}

/* One run of n weights from wr added x times to the outputs from o. On the DSP cores int8 runs call the kernels
 * directly (esn_row_mac's dispatch cost about 20 instructions a run) and x != 1 takes the multiply-accumulate
 * kernel; elsewhere x = 2, 3 (pool sums) add the row 2, 3 times: the add-only kernel beats a multiply per weight,
 * and integer adds are exact in any order. */
static inline void esn_conv_run(const esn_conv_ctx *k, int32_t *o, const uint8_t *wr, uint32_t n, int32_t x)
{
    uint32_t r;
#if ESN_DSP_KERNELS
    if (k->bits == 8u && x >= -32768 && x <= 32767) {
        if (x == 1) {
            esn_add_row_s8_dsp(o, (const int8_t *)(const void *)wr, n);
        } else {
            esn_mac_row_s8_dsp(o, (const int8_t *)(const void *)wr, n, x);
        }
        return;
    }
#endif
    if (x == 2 || x == 3) {
        for (r = 0u; r < (uint32_t)x; ++r) {
            esn_row_mac(o, 1u, wr, n, k->bits, 1);
        }
        return;
    }
    esn_row_mac(o, 1u, wr, n, k->bits, x);
}

/* One event (ch, y + pad_y = ny, x + pad_x = nx) of value x: returns its taps. */
static uint32_t esn_conv_event(const esn_conv_ctx *k, uint32_t ch, uint32_t ny, uint32_t nx, int32_t x)
{
    int32_t *o = k->out + (k->cin_g == k->gi.c ? 0u : (size_t)(ch / k->cin_g) * k->cout_g * k->go.cs);
    const uint8_t *wr = (const uint8_t *)k->nd->param[ESN_P_WEIGHT] + (size_t)ch * k->kh * k->kw * k->rb;
    uint32_t ky, lo = 0u, hi = 0u, n = 0u, taps = 0u;
    if (k->run) { /* taps lo..hi of every kernel row land, on output pixels q - hi .. q - lo */
        const uint32_t q = k->s1 == 1u ? nx : nx / k->s1;
        lo = q >= k->go.w ? q - k->go.w + 1u : 0u;
        hi = q < k->kw - 1u ? q : k->kw - 1u;
        if (q * k->s1 != nx || lo > hi) {
            return 0u;
        }
        n = (hi - lo + 1u) * k->go.c;
        o += (size_t)(q - hi) * k->go.c;
        wr += (size_t)(k->kw - 1u - hi) * k->rb;
    }
    if (k->s0 == 1u) { /* kernel rows ky0..ky1 land on output rows ny - ky * d0, one after another */
        const uint32_t d0 = k->d0;
        const uint32_t ky0 = ny >= k->go.h ? (d0 == 1u ? ny - k->go.h : (ny - k->go.h) / d0) + 1u : 0u;
        const uint32_t top = d0 == 1u ? ny : ny / d0;
        const uint32_t ky1 = top < k->kh - 1u ? top : k->kh - 1u;
        uint32_t rows;
        if (ky0 > ky1) {
            return 0u;
        }
        rows = ky1 - ky0 + 1u;
        o += (size_t)(ny - ky0 * d0) * k->o_row;
        wr += (size_t)ky0 * k->kw * k->rb;
        if (!k->run) {
            return esn_conv_taps(k, o, d0 * k->o_row, wr, k->kw * k->rb, rows, nx, x);
        }
#if ESN_DSP_KERNELS
        if (k->bits == 8u && x == 1 && (n & 3u) == 0u) { /* spikes on whole words: the word kernel straight */
            const uint32_t o_back = d0 * k->o_row, w_next = k->kw * k->rb;
            const uint8_t *const w_end = wr + (size_t)rows * w_next;
            do {
                esn_add_words_s8_dsp(o, (const int8_t *)(const void *)wr, n >> 2);
                o -= o_back;
                wr += w_next;
            } while (wr != w_end);
            return ESN_TALLY(rows * (hi - lo + 1u));
        }
#endif
        for (ky = rows; ky > 0u; --ky, o -= d0 * k->o_row, wr += k->kw * k->rb) {
            esn_conv_run(k, o, wr, n, x);
        }
        return ESN_TALLY(rows * (hi - lo + 1u));
    }
    for (ky = 0u; ky < k->kh; ++ky) { /* stride_y > 1: row by row */
        const int32_t m = (int32_t)ny - (int32_t)(ky * k->d0);
        uint32_t oy;
        if (m < 0) {
            break; /* m only decreases with ky */
        }
        oy = (uint32_t)m / k->s0;
        if (oy * k->s0 != (uint32_t)m || oy >= k->go.h) {
            continue;
        }
        if (!k->run) {
            taps += esn_conv_taps(k, o + (size_t)oy * k->o_row, 0u, wr + (size_t)ky * k->kw * k->rb, 0u, 1u, nx, x);
            continue;
        }
        taps += ESN_TALLY(hi - lo + 1u);
        esn_conv_run(k, o + (size_t)oy * k->o_row, wr + (size_t)ky * k->kw * k->rb, n, x);
    }
    return taps;
}

void esn_conv(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, int32_t *out,
              esn_counters *c)
{
    esn_conv_ctx k;
    esn_cursor cu;
    uint32_t j, events = 0u, taps = 0u;
    int64_t x = 0;
    k.nd = nd;
    k.out = out;
    esn_chw(nd->in_shape, nd->in_rank, nd->layout & ESN_LAYOUT_IN_CL, &k.gi);
    esn_chw(nd->out_shape, nd->out_rank, nd->layout & ESN_LAYOUT_OUT_CL, &k.go);
    k.bits = esn_param_bits(nd, ESN_P_WEIGHT);
    k.rb = esn__weight_row_bytes(nd);
    k.kh = nd->kernel[0];
    k.kw = nd->kernel[1];
    k.s0 = nd->stride[0];
    k.s1 = nd->stride[1];
    k.d0 = nd->dil[0];
    k.cin_g = k.gi.c / nd->groups;
    k.cout_g = k.go.c / nd->groups;
    k.o_row = k.go.w * k.go.ps; /* outputs from one output row to the next */
    k.run = k.go.cs == 1u && nd->groups == 1u && k.s1 == nd->dil[1] && (k.go.c * k.bits) % 8u == 0u;
    esn_cursor_init(&cu, &k.gi);
    esn_conv_init(out, nd, &k.go);
    for (j = 0u;; ++j) {
#if ESN_DSP_KERNELS
        if (n_in == 1u) { /* one buffer: the scan straight (esn_next_event's call cost ~20 instructions an event) */
            if (in8 != NULL && in8[0] != 0u) {
                const uint8_t *x8 = (const uint8_t *)in[0];
                j = (uint32_t)(esn_scan_u8_dsp(x8 + j, x8 + nd->in_size) - x8);
                if (j >= nd->in_size) {
                    break;
                }
                x = x8[j];
            } else {
                const int32_t *x32 = (const int32_t *)in[0];
                j = (uint32_t)(esn_scan_s32_dsp(x32 + j, x32 + nd->in_size) - x32);
                if (j >= nd->in_size) {
                    break;
                }
                x = x32[j];
            }
        } else
#endif
        {
            j = esn_next_event(in, in8, n_in, j, nd->in_size, &x);
            if (j >= nd->in_size) {
                break;
            }
        }
        esn_cursor_to(&cu, j);
        events += ESN_TALLY(1u);
        taps += esn_conv_event(&k, esn_cursor_ch(&cu, &k.gi), esn_cursor_y(&cu, &k.gi) + nd->pad[0],
                               esn_cursor_x(&cu, &k.gi) + nd->pad[1],
                               esn_fits_i32(x) ? (int32_t)x * (nd->wmag != 0u ? (int32_t)nd->wmag : 1) : 0);
    }
    if (ESN_ENABLE_COUNTERS) {
        c->spikes_in += events;
        c->synops += (uint64_t)taps * k.cout_g;
    }
}

void esn_scale(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, int32_t *out,
               esn_counters *c)
{
    const uint32_t rb = esn__weight_row_bytes(nd);
    uint32_t events = 0u;
    int64_t x = 0;
    uint32_t j;
    memset(out, 0, (size_t)nd->out_size * sizeof(int32_t));
    for (j = esn_next_event(in, in8, n_in, 0u, nd->in_size, &x); j < nd->in_size;
         j = esn_next_event(in, in8, n_in, j + 1u, nd->in_size, &x)) {
        events += ESN_TALLY(1u);
        if (esn_fits_i32(x)) {
            out[j] += (int32_t)x * esn__weight_at(nd, rb, 0u, j);
        }
    }
    if (ESN_ENABLE_COUNTERS) {
        c->spikes_in += events;
        c->synops += events;
    }
}

/* The windows (k wide, stride s, dilation 1) over position n (padding included) that hold it: outputs o with
 * o * s <= n < o * s + k, within [0, len): [*lo, returned end). No division at stride 1. */
static uint32_t esn_windows(uint32_t n, uint32_t k, uint32_t s, uint32_t len, uint32_t *lo)
{
    const uint32_t hi = s == 1u ? n : n / s;
    *lo = n + 1u > k ? (s == 1u ? n + 1u - k : (n + s - k) / s) : 0u; /* ceil((n - k + 1) / s) */
    return hi < len ? hi + 1u : len;
}

void esn_pool(const esn_node *nd, const void *const *in, const uint8_t *in8, uint32_t n_in, void *out, int out8,
              esn_counters *c)
{
    esn_geo gi, go;
    esn_cursor cu;
    uint32_t j, events = 0u, taps = 0u;
    int64_t xl = 0;
    esn_chw(nd->in_shape, nd->in_rank, nd->layout & ESN_LAYOUT_IN_CL, &gi);
    esn_chw(nd->out_shape, nd->out_rank, nd->layout & ESN_LAYOUT_OUT_CL, &go);
    esn_cursor_init(&cu, &gi);
    memset(out, 0, (size_t)nd->out_size * (out8 ? 1u : sizeof(int32_t)));
    for (j = esn_next_event(in, in8, n_in, 0u, nd->in_size, &xl); j < nd->in_size;
         j = esn_next_event(in, in8, n_in, j + 1u, nd->in_size, &xl)) {
        uint32_t y0, x0, y1, x1, oy, ox;
        const int32_t x = (int32_t)xl; /* fits int32: esn_model_validate bounds the window sums */
        size_t at;
        esn_cursor_to(&cu, j);
        y1 = esn_windows(esn_cursor_y(&cu, &gi) + nd->pad[0], nd->kernel[0], nd->stride[0], go.h, &y0);
        x1 = esn_windows(esn_cursor_x(&cu, &gi) + nd->pad[1], nd->kernel[1], nd->stride[1], go.w, &x0);
        at = (size_t)esn_cursor_ch(&cu, &gi) * go.cs;
        events += ESN_TALLY(1u);
        for (oy = y0; oy < y1; ++oy) {
            for (ox = x0; ox < x1; ++ox) {
                const size_t i = at + ((size_t)oy * go.w + ox) * go.ps;
                if (out8) { /* every partial sum in [0, 255]: inputs >= 0, the bound analysis caps the sum */
                    ((uint8_t *)out)[i] = (uint8_t)(((uint8_t *)out)[i] + x);
                } else {
                    ((int32_t *)out)[i] += x;
                }
                taps += ESN_TALLY(1u);
            }
        }
    }
    if (ESN_ENABLE_COUNTERS) {
        c->spikes_in += events;
        c->synops += taps;
    }
}
