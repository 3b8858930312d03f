/*
 * esn_synaptic_dsp.c: the event-driven Linear/Affine accumulate with the Cortex-M DSP extension.
 *
 * The hot loop of a spiking dense layer is out[o] += row[o] (int8 weights, int32 accumulators).
 * The reference compiles to about 5 instructions per synapse on Cortex-M4 (LDRSB, LDR, ADD, STR and
 * the loop). Here one LDR fetches 4 weights, LDM fetches 4 accumulators, SXTAB with rotations 0, 8,
 * 16, 24 sign-extends each weight byte into its own 32-bit accumulator (so the sum is the
 * reference's exactly: no 16-bit lane that could wrap, as SADD16/SXTAB16 lanes would), and STMIA
 * writes them back.
 *
 * One row (esn_add_words_s8_dsp): 8 accumulators per LDM/STM, 14 instructions per 8 synapses,
 * i.e. 1.75 instructions and 4.25 estimated cycles per synapse (Cortex-M4 TRM DDI 0439B sec. 3.3:
 * LDR 2, LDM/STM 1+N, SXTAB 1, taken branch 1+P): 18 of the 34 cycles move accumulators.
 * An event of value x != 1 (a conv reading pool sums): esn_mac_row_s8_dsp, SXTB16 + SMLABB/SMLATB,
 * 18 instructions per 8 synapses whatever x (x repeated adds of the row took 1.875 x).
 * Several rows (esn_add_rows_s8_dsp, output-stationary): k = 2..4 rows of one batch of spikes are
 * added while 4 accumulators sit in registers, so one LDM/STM pair serves 4k synapses:
 * LDM + k LDR (pipelined: 1 + k cycles) + 4k SXTAB + STM + CMP + BNE, for k = 4 19 instructions and
 * 35 cycles per 16 synapses (1.19 instructions, 2.19 estimated cycles per synapse).
 * Where it is not optimal: int16 partial sums (SXTAB16, two lanes per instruction) would halve the
 * SXTABs, but need a bound on k rows' sums per lane that the int32 bound analysis does not give.
 *
 * Alignment: rows need not be word aligned (the row length is the layer's fan-out). The one-row kernels
 * read them with unaligned LDR (ARMv7-M; one more bus access where a word straddles, which the cycle
 * estimate does not count). The multi-row kernel has a scalar prologue that brings the row pointers to a word
 * boundary, since out advances with them and stays aligned; rows added together must therefore share their
 * address mod 4 (the caller groups them so). Not optimal:
 * a compiled-in model's `static const int8_t` weights are byte aligned, so at -Os most rows have a scalar
 * head and tail (fan-out 64: 3.08 against 2.56 estimated cycles per synop for the kernels with the blob's
 * 8-byte aligned weights); word-aligned weight arrays in the emitted model.c would remove them.
 */
#include "esn_synaptic_dsp.h"

#if ESN_DSP_KERNELS

/* The weight word in register W added to the accumulators A-D, one byte each. */
#define ESN_DSP_ADD4(W, A, B, C, D)                \
    "sxtab " A ", " A ", " W "\n\t"               \
    "sxtab " B ", " B ", " W ", ror #8\n\t"       \
    "sxtab " C ", " C ", " W ", ror #16\n\t"      \
    "sxtab " D ", " D ", " W ", ror #24\n\t"

#define ESN_ASM_ARG __attribute__((unused)) /* read by the asm body in r0-r3 (AAPCS) */

/* out += `words` (>= 1) words of 4 int8 weights from row: an odd word first (LDM/STM of 4), then two words per
 * iteration with 8 accumulators in r4-r11 (LDM, 2 LDR, 8 SXTAB, STM, CMP, BNE: 14 instructions per 8 synapses).
 * LDR reads the row at any byte address: ARMv7-M takes unaligned LDR (CCR.UNALIGN_TRP stays 0; ARM DDI 0403E
 * A3.2.1), at one extra bus access where the word straddles (TRM DDI 0439B 3.3.2), so no scalar head. */
__attribute__((naked, noinline)) void esn_add_words_s8_dsp(ESN_ASM_ARG int32_t *out, ESN_ASM_ARG const int8_t *row,
                                                               ESN_ASM_ARG uint32_t words)
{
    __asm__ volatile(
        "push {r4-r11}\n\t"
        "lsrs r2, r2, #1\n\t"          /* word pairs; the odd word -> C */
        "bcc 2f\n\t"
        "ldr r3, [r1], #4\n\t"
        "ldm r0, {r4-r7}\n\t"
        ESN_DSP_ADD4("r3", "r4", "r5", "r6", "r7")
        "stmia r0!, {r4-r7}\n\t"
        "2:\n\t"
        "cbz r2, 3f\n\t"
        "add r2, r0, r2, lsl #5\n\t"   /* the end of out: 32 bytes per pair */
        "1:\n\t"
        "ldm r0, {r4-r11}\n\t"
        "ldr r3, [r1], #4\n\t"
        ESN_DSP_ADD4("r3", "r4", "r5", "r6", "r7")
        "ldr r3, [r1], #4\n\t"
        ESN_DSP_ADD4("r3", "r8", "r9", "r10", "r11")
        "stmia r0!, {r4-r11}\n\t"
        "cmp r0, r2\n\t"
        "bne 1b\n\t"
        "3:\n\t"
        "pop {r4-r11}\n\t"
        "bx lr\n\t");
}

void esn_add_row_s8_dsp(int32_t *out, const int8_t *row, uint32_t n)
{
    const uint32_t words = n >> 2;
    uint32_t o;
    if (words > 0u) {
        esn_add_words_s8_dsp(out, row, words);
    }
    for (o = words << 2; o < n; ++o) {
        out[o] += row[o];
    }
}

/* out[o] += x * row[o] for `words` (>= 1) words of 4 int8 weights, x in int16: SXTB16 splits a weight word into
 * the sign-extended halfword pairs (bytes 0, 2) and (1, 3), SMLABB / SMLATB add lane * x to each 32-bit
 * accumulator (the 16 x 16 product is exact in 32 bits, the sum the reference's: the validator bounds it). Two
 * words per iteration, 8 accumulators in r4-r11: 18 instructions per 8 synapses, where x repeated adds of a
 * spike's row took 1.875 x each. Unaligned LDR as in esn_add_row_s8_dsp. */
#define ESN_DSP_MAC4(W, A, B, C, D)            \
    "sxtb16 lr, " W "\n\t"                     \
    "sxtb16 " W ", " W ", ror #8\n\t"          \
    "smlabb " A ", lr, r3, " A "\n\t"          \
    "smlatb " C ", lr, r3, " C "\n\t"          \
    "smlabb " B ", " W ", r3, " B "\n\t"       \
    "smlatb " D ", " W ", r3, " D "\n\t"

__attribute__((naked, noinline)) static void esn_mac_words_s8(ESN_ASM_ARG int32_t *out, ESN_ASM_ARG const int8_t *row,
                                                               ESN_ASM_ARG uint32_t words, ESN_ASM_ARG int32_t x)
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "lsrs r2, r2, #1\n\t"          /* word pairs; the odd word -> C */
        "bcc 2f\n\t"
        "ldr r12, [r1], #4\n\t"
        "ldm r0, {r4-r7}\n\t"
        ESN_DSP_MAC4("r12", "r4", "r5", "r6", "r7")
        "stmia r0!, {r4-r7}\n\t"
        "2:\n\t"
        "cbz r2, 3f\n\t"
        "add r2, r0, r2, lsl #5\n\t"   /* the end of out: 32 bytes per pair */
        "1:\n\t"
        "ldr r12, [r1], #4\n\t"
        "ldm r0, {r4-r11}\n\t"
        ESN_DSP_MAC4("r12", "r4", "r5", "r6", "r7")
        "ldr r12, [r1], #4\n\t"
        ESN_DSP_MAC4("r12", "r8", "r9", "r10", "r11")
        "stmia r0!, {r4-r11}\n\t"
        "cmp r0, r2\n\t"
        "bne 1b\n\t"
        "3:\n\t"
        "pop {r4-r11, pc}\n\t");
}

void esn_mac_row_s8_dsp(int32_t *out, const int8_t *row, uint32_t n, int32_t x)
{
    const uint32_t words = n >> 2;
    uint32_t o;
    if (words > 0u) {
        esn_mac_words_s8(out, row, words, x);
    }
    for (o = words << 2; o < n; ++o) {
        out[o] += x * row[o];
    }
}

#define ESN_DSP_SXTAB4(W) ESN_DSP_ADD4(W, "r4", "r5", "r6", "r7")

/* The word loop of esn_add_rows_s8_dsp: out (r0) += the next word of each of k rows (r3 bits 0-2, k in
 * 2..4) from rows[0..3] (r1: all four pointers loaded, k used) plus `head` bytes (r3 bits 8-9), which makes
 * them word aligned, for `words` (r2, >= 1) words of 4 synapses. A naked function: it owns every register
 * (AAPCS: r4-r11 saved), which 4 row pointers, 4 weight words, 4 accumulators, out and its end need; the
 * compiler could not spare them around inline asm. */
__attribute__((naked, noinline)) static void esn_rows_words_s8(ESN_ASM_ARG int32_t *out, ESN_ASM_ARG const int8_t *const *rows,
                                                                ESN_ASM_ARG uint32_t words, ESN_ASM_ARG uint32_t k_head)
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "ldm r1, {r8-r11}\n\t"         /* the row pointers */
        "ubfx r12, r3, #8, #2\n\t"     /* head */
        "add r8, r8, r12\n\t"
        "add r9, r9, r12\n\t"
        "add r10, r10, r12\n\t"
        "add r11, r11, r12\n\t"
        "and r3, r3, #7\n\t"           /* k */
        "add lr, r0, r2, lsl #4\n\t"   /* the end of out: 16 bytes per word of weights */
        "cmp r3, #3\n\t"
        "bhi 4f\n\t"
        "beq 3f\n\t"
        "2:\n\t"                       /* k = 2: 14 instructions, 25 cycles per 8 synapses */
        "ldm r0, {r4-r7}\n\t"
        "ldr r1, [r8], #4\n\t"
        "ldr r2, [r9], #4\n\t"
        ESN_DSP_SXTAB4("r1") ESN_DSP_SXTAB4("r2")
        "stmia r0!, {r4-r7}\n\t"
        "cmp r0, lr\n\t"
        "bne 2b\n\t"
        "pop {r4-r11, pc}\n\t"
        "3:\n\t"                       /* k = 3: 19 instructions, 30 cycles per 12 synapses */
        "ldm r0, {r4-r7}\n\t"
        "ldr r1, [r8], #4\n\t"
        "ldr r2, [r9], #4\n\t"
        "ldr r3, [r10], #4\n\t"
        ESN_DSP_SXTAB4("r1") ESN_DSP_SXTAB4("r2") ESN_DSP_SXTAB4("r3")
        "stmia r0!, {r4-r7}\n\t"
        "cmp r0, lr\n\t"
        "bne 3b\n\t"
        "pop {r4-r11, pc}\n\t"
        "4:\n\t"                       /* k = 4: 24 instructions, 35 cycles per 16 synapses */
        "ldm r0, {r4-r7}\n\t"
        "ldr r1, [r8], #4\n\t"
        "ldr r2, [r9], #4\n\t"
        "ldr r3, [r10], #4\n\t"
        "ldr r12, [r11], #4\n\t"
        ESN_DSP_SXTAB4("r1") ESN_DSP_SXTAB4("r2") ESN_DSP_SXTAB4("r3") ESN_DSP_SXTAB4("r12")
        "stmia r0!, {r4-r7}\n\t"
        "cmp r0, lr\n\t"
        "bne 4b\n\t"
        "pop {r4-r11, pc}\n\t");
}

/* out[o] += rows[0][o] + ... + rows[k-1][o] for o in [from, to), to - from <= 3 (the entries before the rows'
 * first word and after their last): rows past k read zeros, so one loop of 13 instructions per output
 * serves every k (k >= 2). */
static void esn_rows_edge_s8(int32_t *out, const int8_t *const *rows, uint32_t k, uint32_t from, uint32_t to)
{
    static const int8_t zeros[3] = {0, 0, 0};
    const int8_t *const r0 = rows[0] + from;
    const int8_t *const r1 = rows[1] + from;
    const int8_t *const r2 = k > 2u ? rows[2] + from : zeros;
    const int8_t *const r3 = k > 3u ? rows[3] + from : zeros;
    uint32_t o;
    out += from;
    for (o = 0u; o < to - from; ++o) {
        out[o] += r0[o] + r1[o] + r2[o] + r3[o];
    }
}

void esn_add_rows_s8_dsp(int32_t *out, const int8_t *const *rows, uint32_t k, uint32_t n)
{
    uint32_t head = (0u - (uint32_t)(uintptr_t)rows[0]) & 3u; /* entries before the rows' first word */
    uint32_t words;
    if (k == 1u) {
        esn_add_row_s8_dsp(out, rows[0], n);
        return;
    }
    head = head < n ? head : n;
    words = (n - head) >> 2;
    if (head != 0u) {
        esn_rows_edge_s8(out, rows, k, 0u, head);
    }
    if (words > 0u) {
        esn_rows_words_s8(out + head, rows, words, k | (head << 8));
    }
    if (head + (words << 2) != n) {
        esn_rows_edge_s8(out, rows, k, head + (words << 2), n);
    }
}

/* The first nonzero entry in [p, end), or end: 4 entries per LDM and 3 ORRs (7 instructions, 13 cycles
 * per 4 entries where a C loop takes 12 instructions); the entry that made the group nonzero is found in the
 * loaded registers, then the last 0-3 entries one at a time. */
__attribute__((naked, noinline)) const int32_t *esn_scan_s32_dsp(ESN_ASM_ARG const int32_t *p, ESN_ASM_ARG const int32_t *end)
{
    __asm__ volatile(
        "push {r4, r5}\n\t"
        "sub r12, r1, #12\n\t"         /* p < end - 12 bytes: 4 entries left (p, end word aligned) */
        "1:\n\t"
        "cmp r0, r12\n\t"
        "bhs 2f\n\t"
        "ldm r0!, {r2, r3, r4, r5}\n\t"
        "orr r1, r2, r3\n\t"           /* r1 (end) is free in here: r12 bounds the loop */
        "orr r1, r1, r4\n\t"
        "orrs r1, r1, r5\n\t"
        "beq 1b\n\t"
        "subs r0, r0, #16\n\t"         /* the group's first entry */
        "cbnz r2, 3f\n\t"
        "adds r0, r0, #4\n\t"
        "cbnz r3, 3f\n\t"
        "adds r0, r0, #4\n\t"
        "cbnz r4, 3f\n\t"
        "adds r0, r0, #4\n\t"          /* r5 != 0 */
        "b 3f\n\t"
        "2:\n\t"
        "add r1, r12, #12\n\t"         /* end again */
        "cmp r0, r1\n\t"
        "bhs 3f\n\t"
        "ldr r2, [r0]\n\t"
        "cbnz r2, 3f\n\t"
        "adds r0, r0, #4\n\t"
        "b 2b\n\t"
        "3:\n\t"
        "pop {r4, r5}\n\t"
        "bx lr\n\t");
}

/* The first nonzero byte in [p, end), or end: uint8 inputs (spike counts, Input bytes, small pool sums). The word
 * holding p is read whole and shifted past the bytes before p (no byte loop after an event); then 16 entries per LDM
 * of 4 words and 3 ORRs (6 instructions per 16 entries, where the int32 scan takes 7 per 4), then a word at a time.
 * In a nonzero word RBIT + CLZ give its first nonzero byte (little-endian: the lowest address is the least
 * significant byte, as the nibble unpack assumes). Whole aligned words are read only where they hold a byte of
 * [p, end): they lie inside the buffer's 8-aligned region, whatever its bytes beyond end hold, and a result in them
 * (up to 3 bytes past end) means none, as end does: the callers test >= end (no clamp: 3 instructions an event).
 * end - 15 does not wrap: buffers lie in SRAM, far above 15. */
__attribute__((naked, noinline)) const uint8_t *esn_scan_u8_dsp(ESN_ASM_ARG const uint8_t *p, ESN_ASM_ARG const uint8_t *end)
{
    __asm__ volatile(
        "push {r4, r5}\n\t"
        "cmp r0, r1\n\t"
        "bhs 8f\n\t"
        "bic r3, r0, #3\n\t"
        "ldr r2, [r3], #4\n\t"         /* the word holding p; r3: the next one */
        "and r12, r0, #3\n\t"
        "lsl r12, r12, #3\n\t"
        "lsrs r2, r2, r12\n\t"         /* the bytes before p shifted out */
        "bne 7f\n\t"
        "mov r0, r3\n\t"
        "sub r12, r1, #15\n\t"         /* p < end - 15: 16 entries left */
        "1:\n\t"
        "cmp r0, r12\n\t"
        "bhs 5f\n\t"
        "ldm r0!, {r2, r3, r4, r5}\n\t"
        "orr r1, r2, r3\n\t"           /* r1 (end) is free in here: r12 bounds the loop */
        "orr r1, r1, r4\n\t"
        "orrs r1, r1, r5\n\t"
        "beq 1b\n\t"
        "add r1, r12, #15\n\t"         /* end again */
        "subs r0, r0, #16\n\t"         /* the group's first word */
        "cbnz r2, 7f\n\t"
        "adds r0, r0, #4\n\t"
        "movs r2, r3\n\t"
        "bne 7f\n\t"
        "adds r0, r0, #4\n\t"
        "movs r2, r4\n\t"
        "bne 7f\n\t"
        "adds r0, r0, #4\n\t"
        "mov r2, r5\n\t"               /* r5 != 0 */
        "b 7f\n\t"
        "5:\n\t"
        "add r1, r12, #15\n\t"         /* end again */
        "6:\n\t"                       /* the last 0-15 entries, a word at a time */
        "cmp r0, r1\n\t"
        "bhs 8f\n\t"
        "ldr r2, [r0]\n\t"
        "cbnz r2, 7f\n\t"
        "adds r0, r0, #4\n\t"
        "b 6b\n\t"
        "7:\n\t"                       /* r2: a nonzero word whose lowest byte is at r0 */
        "rbit r2, r2\n\t"
        "clz r2, r2\n\t"
        "add r0, r0, r2, lsr #3\n\t"
        "8:\n\t"
        "pop {r4, r5}\n\t"
        "bx lr\n\t");
}

/* 16 words per iteration (two STMIA of 8: 1 + 8 cycles each, TRM sec. 3.3.1), then 8, 4, 2, 1 by the bits
 * of n: a bias or zero fill of 256 outputs in about 70 instructions, where a word loop takes 3-4 per output. */
__attribute__((naked, noinline)) void esn_fill_s32_dsp(ESN_ASM_ARG int32_t *out, ESN_ASM_ARG int32_t v, ESN_ASM_ARG uint32_t n)
{
    __asm__ volatile(
        "push {r4-r8}\n\t"
        "mov r3, r1\n\t"
        "mov r4, r1\n\t"
        "mov r5, r1\n\t"
        "mov r6, r1\n\t"
        "mov r7, r1\n\t"
        "mov r8, r1\n\t"
        "mov r12, r1\n\t"
        "subs r2, r2, #16\n\t"
        "blo 2f\n\t"
        "1:\n\t"
        "stmia r0!, {r1, r3, r4, r5, r6, r7, r8, r12}\n\t"
        "stmia r0!, {r1, r3, r4, r5, r6, r7, r8, r12}\n\t"
        "subs r2, r2, #16\n\t"
        "bhs 1b\n\t"
        "2:\n\t"                 /* r2 = n mod 16 - 16: its low 4 bits are n's */
        "lsls r2, r2, #29\n\t"   /* bit 3 -> C, bit 2 -> N */
        "it cs\n\t"
        "stmiacs r0!, {r1, r3, r4, r5, r6, r7, r8, r12}\n\t"
        "it mi\n\t"
        "stmiami r0!, {r1, r3, r4, r5}\n\t"
        "lsls r2, r2, #2\n\t"    /* bit 1 -> C, bit 0 -> N */
        "it cs\n\t"
        "stmiacs r0!, {r1, r3}\n\t"
        "it mi\n\t"
        "strmi r1, [r0]\n\t"
        "pop {r4-r8}\n\t"
        "bx lr\n\t");
}

/* out[o] += the 8 signed nibbles of each of `words` (>= 1) word-aligned weight words, low nibble first: one
 * spike through a 4-bit row. EOR 0x88888888 flips each nibble's sign bit, the two ANDs split the low and high
 * nibbles into bytes (v ^ 8 in 0..15) and USUB8 subtracts 8 from each byte, which leaves the nibble's two's
 * complement value as a signed byte (the reference's ((v ^ 8) - 8) exactly); SXTAB adds each byte to its
 * accumulator. 21 instructions per 8 synapses (2.6 a synapse; the C loop takes about 7). */
__attribute__((naked, noinline)) void esn_add_row_p4_dsp(ESN_ASM_ARG int32_t *out, ESN_ASM_ARG const uint8_t *row,
                                                        ESN_ASM_ARG uint32_t words)
{
    __asm__ volatile(
        "push {r4-r7, lr}\n\t"
        "add r2, r1, r2, lsl #2\n\t"   /* the row's end */
        "mov r12, #0x08080808\n\t"
        "1:\n\t"
        "ldr r3, [r1], #4\n\t"
        "eor r3, r3, #0x88888888\n\t"
        "lsr lr, r3, #4\n\t"
        "and r3, r3, #0x0F0F0F0F\n\t"   /* low nibbles: outputs 0, 2, 4, 6 */
        "and lr, lr, #0x0F0F0F0F\n\t"   /* high nibbles: outputs 1, 3, 5, 7 */
        "usub8 r3, r3, r12\n\t"
        "usub8 lr, lr, r12\n\t"
        "ldm r0, {r4-r7}\n\t"
        "sxtab r4, r4, r3\n\t"
        "sxtab r5, r5, lr\n\t"
        "sxtab r6, r6, r3, ror #8\n\t"
        "sxtab r7, r7, lr, ror #8\n\t"
        "stmia r0!, {r4-r7}\n\t"
        "ldm r0, {r4-r7}\n\t"
        "sxtab r4, r4, r3, ror #16\n\t"
        "sxtab r5, r5, lr, ror #16\n\t"
        "sxtab r6, r6, r3, ror #24\n\t"
        "sxtab r7, r7, lr, ror #24\n\t"
        "stmia r0!, {r4-r7}\n\t"
        "cmp r1, r2\n\t"
        "bne 1b\n\t"
        "pop {r4-r7, pc}\n\t");
}

/* out[o] += bit o ? -x : x for the 8 weights of each of `bytes` (>= 1) bytes of a binary row, x in [1, 127]: each
 * nibble of weights becomes a word of 4 signed bytes +-x, which SXTAB adds to 4 accumulators like an int8 row.
 * MUL by 0x10204080 (2^7 + 2^14 + 2^21 + 2^28) moves weight bit i to bit 7 of byte i (the four shifted copies do
 * not overlap, so no carry reaches those bits), USUB8 against 0x80808080 sets GE[i] exactly where that bit is
 * set, and SEL picks -x (bytes 0 - x) there and x elsewhere: 23 instructions per 8 synapses (2.9 a synapse,
 * the 4-bit kernel's 2.6; the C loop takes about 9). The row is read a byte at a time, so any alignment. */
__attribute__((naked, noinline)) void esn_add_row_b1_dsp(ESN_ASM_ARG int32_t *out, ESN_ASM_ARG const uint8_t *row,
                                                        ESN_ASM_ARG uint32_t bytes, ESN_ASM_ARG int32_t x)
{
    __asm__ volatile(
        "push {r4-r10, lr}\n\t"
        "add r2, r1, r2\n\t"          /* the row's end */
        "orr r3, r3, r3, lsl #8\n\t"
        "orr r3, r3, r3, lsl #16\n\t" /* x in every byte */
        "movs r10, #0\n\t"
        "usub8 r10, r10, r3\n\t"      /* -x in every byte */
        "movw r8, #0x4080\n\t"
        "movt r8, #0x1020\n\t"
        "mov r9, #0x80808080\n\t"
        "1:\n\t"
        "ldrb r12, [r1], #1\n\t"
        "and lr, r12, #15\n\t"
        "mul lr, lr, r8\n\t"
        "usub8 lr, lr, r9\n\t"
        "sel lr, r10, r3\n\t"
        "ldm r0, {r4-r7}\n\t"
        ESN_DSP_SXTAB4("lr")
        "stmia r0!, {r4-r7}\n\t"
        "lsr r12, r12, #4\n\t"
        "mul lr, r12, r8\n\t"
        "usub8 lr, lr, r9\n\t"
        "sel lr, r10, r3\n\t"
        "ldm r0, {r4-r7}\n\t"
        ESN_DSP_SXTAB4("lr")
        "stmia r0!, {r4-r7}\n\t"
        "cmp r1, r2\n\t"
        "bne 1b\n\t"
        "pop {r4-r10, pc}\n\t");
}

#else
typedef int esn_synaptic_dsp_unused; /* ISO C: a translation unit must declare something */
#endif
