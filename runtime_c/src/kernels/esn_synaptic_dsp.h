/*
 * esn_synaptic_dsp.h: Cortex-M DSP-extension paths of the synaptic kernels (esn_synaptic_dsp.c).
 *
 * ESN_DSP_KERNELS is 1 where the compiler targets a core with the DSP extension (__ARM_FEATURE_DSP:
 * Cortex-M4, M7, M33, M55) and ESN_NO_DSP_KERNELS is not set; the portable reference loops in
 * esn_synaptic.c are used otherwise (Cortex-M0/M0+/M3, the host) and stay the specification.
 */
#ifndef ESN_SYNAPTIC_DSP_H
#define ESN_SYNAPTIC_DSP_H

#include <stdint.h>

#include "esn/esn_config.h"

#if defined(ESN_HAS_DSP) && ESN_HAS_DSP && !(defined(ESN_NO_DSP_KERNELS) && ESN_NO_DSP_KERNELS)
#define ESN_DSP_KERNELS 1
#else
#define ESN_DSP_KERNELS 0
#endif

#if ESN_DSP_KERNELS
/**
 * out[o] += row[o] for o in [0, n): one spike through an int8 weight row into int32 accumulators.
 * Bit-exact with the reference loop: every int8 weight is sign-extended and added to its own 32-bit
 * accumulator (SXTAB), so no lane can wrap; 4 synapses per weight word, 2 words per loop.
 * @param[in,out] out  int32 [n], 4-byte aligned.
 * @param[in]     row  int8 [n], any alignment.
 */
void esn_add_row_s8_dsp(int32_t *out, const int8_t *row, uint32_t n);

/**
 * out[o] += row[o] for o in [0, 4 * words): esn_add_row_s8_dsp's word loop, for callers whose rows are whole words.
 * @param[in,out] out    int32 [4 * words], 4-byte aligned.
 * @param[in]     row    int8 [4 * words], any alignment.
 * @param[in]     words  >= 1.
 */
void esn_add_words_s8_dsp(int32_t *out, const int8_t *row, uint32_t words);

/**
 * out[o] += x * row[o] for o in [0, n): an event of value x (a pool's window sum) through an int8 weight row,
 * bit-exact with the reference loop (exact 16 x 16 products into int32 accumulators).
 * @param[in,out] out  int32 [n], 4-byte aligned.
 * @param[in]     row  int8 [n], any alignment.
 * @param[in]     x    [-32768, 32767].
 */
void esn_mac_row_s8_dsp(int32_t *out, const int8_t *row, uint32_t n, int32_t x);

/**
 * out[o] += rows[0][o] + ... + rows[k-1][o] for o in [0, n): k spikes of one step through int8 weight rows,
 * four accumulators held in registers across the k rows (one LDM/STM per 4k synapses). Bit-exact with k
 * esn_add_row_s8_dsp calls: the validator bounds every partial sum (esn_kernels.h), so the order is free.
 * @param[in,out] out   int32 [n], 4-byte aligned.
 * @param[in]     rows  [k] pointers to int8 [n], all with the same address mod 4 (any alignment).
 * @param[in]     k     [1, 4].
 */
void esn_add_rows_s8_dsp(int32_t *out, const int8_t *const *rows, uint32_t k, uint32_t n);

/**
 * out[i] = v for i in [0, n): the bias or zero initialisation of a synaptic layer's output.
 * @param[out] out  int32 [n], 4-byte aligned.
 */
void esn_fill_s32_dsp(int32_t *out, int32_t v, uint32_t n);

/**
 * The first nonzero entry of an input buffer: most entries of a spiking layer's input are zero.
 * @param[in] p    int32 [end - p], 4-byte aligned.
 * @return         the first q in [p, end) with *q != 0, or end.
 */
const int32_t *esn_scan_s32_dsp(const int32_t *p, const int32_t *end);

/**
 * The first nonzero entry of a uint8 input buffer (esn_scan_s32_dsp's for bytes, 16 entries per LDM).
 * @param[in] p    uint8 [end - p], any alignment, in a buffer whose 8-aligned region holds the word of every byte.
 * @return         the first q in [p, end) with *q != 0; when none, end or up to 3 bytes past it (test q >= end).
 */
const uint8_t *esn_scan_u8_dsp(const uint8_t *p, const uint8_t *end);

/**
 * out[o] += w[o] for o in [0, 8 * words): one spike through a packed 4-bit row (two's complement nibbles, low
 * nibble first), bit-exact with esn_nibble.
 * @param[in,out] out    int32 [8 * words], 4-byte aligned.
 * @param[in]     row    uint8 [4 * words], 4-byte aligned.
 * @param[in]     words  >= 1.
 */
void esn_add_row_p4_dsp(int32_t *out, const uint8_t *row, uint32_t words);

/**
 * out[o] += bit o of row ? -x : x for o in [0, 8 * bytes): an event through a binary (1-bit) row, x = the event
 * times the layer's magnitude, bit-exact with esn_bit_sign.
 * @param[in,out] out    int32 [8 * bytes], 4-byte aligned.
 * @param[in]     row    uint8 [bytes], any alignment.
 * @param[in]     bytes  >= 1.
 * @param[in]     x      [1, 127].
 */
void esn_add_row_b1_dsp(int32_t *out, const uint8_t *row, uint32_t bytes, int32_t x);
#endif

#endif /* ESN_SYNAPTIC_DSP_H */
