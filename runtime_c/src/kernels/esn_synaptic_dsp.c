/*
 * esn_synaptic_dsp.c: the event-driven Linear/Affine accumulate with the Cortex-M DSP extension.
 *
 * The hot loop of a spiking dense layer is out[o] += row[o] (int8 weights, int32 accumulators).
 * The reference compiles to about 5 instructions per synapse on Cortex-M4 (LDRSB, LDR, ADD, STR and
 * the loop). Here one LDR fetches 4 weights, LDM fetches 4 accumulators, SXTAB with rotations 0, 8,
 * 16, 24 sign-extends each weight byte into its own 32-bit accumulator (so the sum is the
 * reference's exactly: no 16-bit lane that could wrap, as SADD16/SXTAB16 lanes would), and STMIA
 * writes them back: 7 instructions per 4 synapses, unrolled four times, plus 2 per loop, i.e.
 * 1.875 instructions per synapse (1.75 is the floor of this scheme). Where it is not optimal: a batch of
 * spikes could keep accumulators in registers across rows (output-stationary, int16 partial sums
 * bounded by the number of rows), which halves the memory traffic at high spike rates.
 *
 * Alignment: rows need not be word aligned (the row length is the layer's fan-out); a scalar
 * prologue brings the row pointer to a word boundary, since out advances with it and stays aligned.
 */
#include "esn_synaptic_dsp.h"

#if ESN_DSP_KERNELS

/* Four synapses: one weight word, four accumulators in r4-r6, r8 (LDM/STMIA need ascending registers). */
#define ESN_DSP_GROUP4                              \
    "ldr %[w], [%[row]], #4\n\t"                   \
    "ldm %[out], {r4, r5, r6, r8}\n\t"              \
    "sxtab r4, r4, %[w]\n\t"                        \
    "sxtab r5, r5, %[w], ror #8\n\t"                \
    "sxtab r6, r6, %[w], ror #16\n\t"               \
    "sxtab r8, r8, %[w], ror #24\n\t"               \
    "stmia %[out]!, {r4, r5, r6, r8}\n\t"

void esn_add_row_s8_dsp(int32_t *out, const int8_t *row, uint32_t n)
{
    uint32_t w;
    while (n > 0u && ((uintptr_t)row & 3u) != 0u) {
        *out++ += *row++;
        n--;
    }
    if (n >= 16u) { /* 16 synapses per iteration: 4 x 7 instructions + 2 of loop control */
        const int8_t *end = row + (n & ~15u);
        __asm__ volatile("1:\n\t" ESN_DSP_GROUP4 ESN_DSP_GROUP4 ESN_DSP_GROUP4 ESN_DSP_GROUP4
                         "cmp %[row], %[end]\n\t"
                         "bne 1b\n\t"
                         : [out] "+r"(out), [row] "+r"(row), [w] "=&r"(w)
                         : [end] "r"(end)
                         : "r4", "r5", "r6", "r8", "cc", "memory");
        n &= 15u;
    }
    if (n >= 4u) {
        const int8_t *end = row + (n & ~3u);
        __asm__ volatile("2:\n\t" ESN_DSP_GROUP4
                         "cmp %[row], %[end]\n\t"
                         "bne 2b\n\t"
                         : [out] "+r"(out), [row] "+r"(row), [w] "=&r"(w)
                         : [end] "r"(end)
                         : "r4", "r5", "r6", "r8", "cc", "memory");
        n &= 3u;
    }
    while (n > 0u) {
        *out++ += *row++;
        n--;
    }
}

#else
typedef int esn_synaptic_dsp_unused; /* ISO C: a translation unit must declare something */
#endif
