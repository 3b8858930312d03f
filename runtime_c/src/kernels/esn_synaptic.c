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

/* out[o * stride] += x * row[o] for a row of n weights stored at `bits`: one dispatch per row, so the loops
 * stay tight. Spikes (x == 1) of a dense row (stride 1) take the add-only paths, the DSP one for int8. */
static void esn_row_mac(int32_t *out, uint32_t stride, const uint8_t *row, uint32_t n, uint32_t bits, int32_t x)
{
    uint32_t o;
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

/* The input entry j: the sum over the node's incoming edges. */
static inline int64_t esn_input_at(const int32_t *const *in, uint32_t n_in, uint32_t j)
{
    int64_t x = in[0][j];
    uint32_t e;
    for (e = 1u; e < n_in; ++e) {
        x += in[e][j];
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

/* The first entry at or after j whose input is not zero (n when none), its value in *x. Most layers read one
 * buffer, mostly zeros: that is esn_scan. */
static inline uint32_t esn_next_event(const int32_t *const *in, uint32_t n_in, uint32_t j, uint32_t n, int64_t *x)
{
    if (n_in == 1u) {
        const int32_t *x0 = in[0];
        j = esn_scan(x0, j, n);
        *x = j < n ? x0[j] : 0;
        return j;
    }
    while (j < n && (*x = esn_input_at(in, n_in, j)) == 0) {
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

/* (C, H, W) of a conv/pool tensor: rank 3 as is, rank 2 ([C][L], Conv1d) as (C, 1, L). */
static void esn_chw(const uint32_t *shape, uint8_t rank, uint32_t *c, uint32_t *h, uint32_t *w)
{
    *c = shape[0];
    *h = rank == 3u ? shape[1] : 1u;
    *w = rank == 3u ? shape[2] : shape[1];
}

void esn_rest_out(const esn_node *nd, int32_t *out)
{
    uint32_t c;
    uint32_t h;
    uint32_t w;
    if (nd->param[ESN_P_BIAS] != NULL && nd->out_rank > 1u) { /* a conv's bias is per channel */
        esn_chw(nd->out_shape, nd->out_rank, &c, &h, &w);
        esn_init_out(out, nd, c, h * w);
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
static uint32_t esn_linear_s8_batched(int32_t *out, const int32_t *x, uint32_t n_x, const uint8_t *w, uint32_t rb,
                                      uint32_t n_out)
{
    const int8_t *batch[4][4];
    const int8_t **next[4]; /* where alignment class a's next row goes: batch[a] + its count */
    const int32_t *const end = x + n_x;
    const int32_t *p;
    uint32_t events = 0u;
    uint32_t a;
    for (a = 0u; a < 4u; ++a) {
        next[a] = batch[a];
    }
    for (p = esn_scan_s32_dsp(x, end); p != end; p = esn_scan_s32_dsp(p + 1, end)) {
        const uint8_t *row = w + (size_t)(p - x) * rb;
        ++events;
        if (*p != 1) {
            esn_row_mac(out, 1u, row, n_out, 8u, *p);
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

/*
 * Weight rows are esn__weight_row_bytes() apart, each read at the node's stored bits (esn_row_mac).
 * Conv scatter: input (ch, iy, ix) reaches output (o, oy, ox) through tap (ky, kx) when
 * iy + pad_y - ky * dil_y = oy * stride_y (and likewise along x), 0 <= oy < OH.
 */
void esn_linear(const esn_node *nd, const int32_t *const *in, uint32_t n_in, int32_t *out, esn_counters *c)
{
    const uint8_t *w = (const uint8_t *)nd->param[ESN_P_WEIGHT];
    const uint32_t bits = esn_param_bits(nd, ESN_P_WEIGHT);
    const uint32_t n_out = nd->out_size;
    const uint32_t rb = esn__weight_row_bytes(nd);
    const uint32_t n_in_entries = nd->in_size;
    uint32_t events = 0u;
    int64_t x = 0;
    uint32_t j;
    esn_init_out(out, nd, n_out, 1u);
#if ESN_DSP_KERNELS
    if (n_in == 1u && bits == 8u) {
        events = esn_linear_s8_batched(out, in[0], n_in_entries, w, rb, n_out);
    } else
#endif
    {
        for (j = esn_next_event(in, n_in, 0u, n_in_entries, &x); j < n_in_entries;
             j = esn_next_event(in, n_in, j + 1u, n_in_entries, &x)) {
            ++events;
            if (esn_fits_i32(x)) {
                esn_row_mac(out, 1u, w + (size_t)j * rb, n_out, bits, (int32_t)x);
            }
        }
    }
    c->spikes_in += events; /* counted once per call: 64-bit adds per event cost as much as a row of 8 */
    c->synops += (uint64_t)events * n_out;
}

void esn_conv(const esn_node *nd, const int32_t *const *in, uint32_t n_in, int32_t *out, esn_counters *c)
{
    const uint8_t *w = (const uint8_t *)nd->param[ESN_P_WEIGHT];
    const uint32_t bits = esn_param_bits(nd, ESN_P_WEIGHT);
    const uint32_t rb = esn__weight_row_bytes(nd);
    uint32_t cin, h, wd, cout, oh, ow;
    uint32_t cin_g, cout_g, plane, taps, ch, iy, ix, ky, kx;
    esn_chw(nd->in_shape, nd->in_rank, &cin, &h, &wd);
    esn_chw(nd->out_shape, nd->out_rank, &cout, &oh, &ow);
    cin_g = cin / nd->groups;
    cout_g = cout / nd->groups;
    plane = oh * ow;
    taps = (uint32_t)nd->kernel[0] * nd->kernel[1];
    esn_init_out(out, nd, cout, plane);
    for (ch = 0u; ch < cin; ++ch) {
        int32_t *out_g = out + (size_t)(ch / cin_g) * cout_g * plane;
        const uint8_t *w_ch = w + (size_t)ch * taps * rb;
        for (iy = 0u; iy < h; ++iy) {
            for (ix = 0u; ix < wd; ++ix) {
                const int64_t x = esn_input_at(in, n_in, (ch * h + iy) * wd + ix);
                int32_t xi;
                if (x == 0) {
                    continue;
                }
                c->spikes_in += 1u;
                xi = esn_fits_i32(x) ? (int32_t)x : 0;
                for (ky = 0u; ky < nd->kernel[0]; ++ky) {
                    const int32_t ny = (int32_t)(iy + nd->pad[0]) - (int32_t)(ky * nd->dil[0]);
                    uint32_t oy;
                    if (ny < 0) {
                        break; /* ny only decreases with ky */
                    }
                    if ((uint32_t)ny % nd->stride[0] != 0u) {
                        continue;
                    }
                    oy = (uint32_t)ny / nd->stride[0];
                    if (oy >= oh) {
                        continue;
                    }
                    for (kx = 0u; kx < nd->kernel[1]; ++kx) {
                        const int32_t nx = (int32_t)(ix + nd->pad[1]) - (int32_t)(kx * nd->dil[1]);
                        uint32_t ox;
                        if (nx < 0) {
                            break;
                        }
                        if ((uint32_t)nx % nd->stride[1] != 0u) {
                            continue;
                        }
                        ox = (uint32_t)nx / nd->stride[1];
                        if (ox >= ow) {
                            continue;
                        }
                        c->synops += cout_g;
                        esn_row_mac(out_g + oy * ow + ox, plane, w_ch + (size_t)(ky * nd->kernel[1] + kx) * rb, cout_g,
                                    bits, xi);
                    }
                }
            }
        }
    }
}

void esn_scale(const esn_node *nd, const int32_t *const *in, uint32_t n_in, int32_t *out, esn_counters *c)
{
    const uint32_t rb = esn__weight_row_bytes(nd);
    uint32_t events = 0u;
    int64_t x = 0;
    uint32_t j;
    memset(out, 0, (size_t)nd->out_size * sizeof(int32_t));
    for (j = esn_next_event(in, n_in, 0u, nd->in_size, &x); j < nd->in_size;
         j = esn_next_event(in, n_in, j + 1u, nd->in_size, &x)) {
        ++events;
        if (esn_fits_i32(x)) {
            out[j] += (int32_t)x * esn__weight_at(nd, rb, 0u, j);
        }
    }
    c->spikes_in += events;
    c->synops += events;
}

void esn_pool_s32(const esn_node *nd, const int32_t *const *in, uint32_t n_in, int32_t *out, esn_counters *c)
{
    uint32_t channels, h, wd, oc, oh, ow, plane, ch, iy, ix, ky, kx;
    esn_chw(nd->in_shape, nd->in_rank, &channels, &h, &wd);
    esn_chw(nd->out_shape, nd->out_rank, &oc, &oh, &ow);
    plane = oh * ow;
    memset(out, 0, (size_t)nd->out_size * sizeof(int32_t));
    for (ch = 0u; ch < channels; ++ch) {
        int32_t *out_c = out + (size_t)ch * plane;
        for (iy = 0u; iy < h; ++iy) {
            for (ix = 0u; ix < wd; ++ix) {
                /* fits int32: esn_model_validate bounds the window sums */
                const int32_t x = (int32_t)esn_input_at(in, n_in, (ch * h + iy) * wd + ix);
                if (x == 0) {
                    continue;
                }
                c->spikes_in += 1u;
                for (ky = 0u; ky < nd->kernel[0]; ++ky) {
                    const int32_t ny = (int32_t)(iy + nd->pad[0]) - (int32_t)ky;
                    uint32_t oy;
                    if (ny < 0) {
                        break;
                    }
                    if ((uint32_t)ny % nd->stride[0] != 0u) {
                        continue;
                    }
                    oy = (uint32_t)ny / nd->stride[0];
                    if (oy >= oh) {
                        continue;
                    }
                    for (kx = 0u; kx < nd->kernel[1]; ++kx) {
                        const int32_t nx = (int32_t)(ix + nd->pad[1]) - (int32_t)kx;
                        uint32_t ox;
                        if (nx < 0) {
                            break;
                        }
                        if ((uint32_t)nx % nd->stride[1] != 0u) {
                            continue;
                        }
                        ox = (uint32_t)nx / nd->stride[1];
                        if (ox >= ow) {
                            continue;
                        }
                        out_c[oy * ow + ox] += x;
                        c->synops += 1u;
                    }
                }
            }
        }
    }
    (void)oc;
}
