/*
 * esn_fixedpoint.h: the integer arithmetic of edgesnn.quantize.fixedpoint, bit for bit.
 *
 * Everything is exact integer math on int64_t with no implementation-defined behaviour: right
 * shifts of negative numbers go through esn_asr64 (floor division by 2^s, as Python's >>), and
 * no expression can overflow for the operand ranges esn_model_validate() admits (see the
 * bounds in esn_neuron.c).
 */
#ifndef ESN_FIXEDPOINT_H
#define ESN_FIXEDPOINT_H

#include <stdint.h>

#include "esn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Streams of the stochastic-rounding noise (fixedpoint.STREAM_*). */
#define ESN_STREAM_V 0u
#define ESN_STREAM_I 1u
#define ESN_STREAM_MULT 2u
#define ESN_STREAM_ETA 3u
#define ESN_STREAM_ADAPT 4u

/** The synaptic-current-to-membrane multiplier is Q16 (fixedpoint.GAIN_SHIFT). */
#define ESN_GAIN_SHIFT 16u

/**
 * Arithmetic shift right: floor(x / 2^s) for every x, without relying on how the compiler shifts
 * negative numbers.
 * @param[in] x  any int64 value.
 * @param[in] s  shift: [0, 62].
 */
static inline int64_t esn_asr64(int64_t x, uint32_t s)
{
    if (x >= 0) {
        return x >> s;
    }
    /* x < 0: floor(x / 2^s) = -1 - floor((-1 - x) / 2^s), and -1 - x >= 0 cannot overflow. */
    return -1 - ((-1 - x) >> s);
}

/**
 * floor(x / 2^s) for int32 x, as esn_asr64: defined for every x, and one ASR with GCC and Clang (they fold the
 * negative branch, -1 - ((-1 - x) >> s) = ~(~x >> s), into the arithmetic shift).
 * @param[in] s  shift: [0, 31].
 */
static inline int32_t esn_asr32(int32_t x, uint32_t s)
{
    return x >= 0 ? x >> s : -1 - ((-1 - x) >> s);
}

/**
 * Saturates to the signed range of `bits` bits (fixedpoint.sat).
 * @param[in] x     any int64 value.
 * @param[in] bits  [2, 63].
 */
static inline int64_t esn_sat64(int64_t x, uint32_t bits)
{
    const int64_t hi = (int64_t)((((uint64_t)1) << (bits - 1u)) - 1u);
    const int64_t lo = -hi - 1;
    return x > hi ? hi : (x < lo ? lo : x);
}

/**
 * Shifts a product back by `s` bits with the configured rounding (fixedpoint.rshift).
 * @param[in] p     the product: |p| <= 2^62 - 2^32 so that adding the rounding term cannot overflow.
 * @param[in] s     shift: [0, 31].
 * @param[in] mode  esn_rounding.
 * @param[in] r     the neuron's noise for this stream (esn_noise), used by stochastic rounding only.
 */
static inline int64_t esn_rshift(int64_t p, uint32_t s, uint32_t mode, uint32_t r)
{
    if (s == 0u) {
        return p;
    }
    if (mode == (uint32_t)ESN_ROUND_NEAREST) {
        p += (int64_t)1 << (s - 1u);
    } else if (mode == (uint32_t)ESN_ROUND_STOCHASTIC) {
        p += (int64_t)(r & ((((uint32_t)1) << s) - 1u));
    }
    return esn_asr64(p, s);
}

/**
 * x clamped to [lo, hi] (lo <= hi): the int32 saturation of the fast neuron loops (esn_neuron.c). With
 * constant power-of-two bounds GCC makes it one SSAT (ARMv7-M ARM A7.7.149); otherwise two compares.
 */
static inline int32_t esn_clamp32(int32_t x, int32_t lo, int32_t hi)
{
    const int32_t y = x > lo ? x : lo; /* max, then min: the form GCC's SSAT pattern matches inside loops */
    return y < hi ? y : hi;
}

/** lowbias32 (Chris Wellons): the 32-bit mixer of fixedpoint.hash32. */
static inline uint32_t esn_hash32(uint32_t x)
{
    x ^= x >> 16;
    x = (uint32_t)(x * 0x7FEB352DUL);
    x ^= x >> 15;
    x = (uint32_t)(x * 0x846CA68BUL);
    x ^= x >> 16;
    return x;
}

/**
 * Key of one layer's noise at one step for one stream (fixedpoint.noise without the neuron index).
 * @param[in] seed    QuantConfig.seed.
 * @param[in] layer   index of the neuron layer among the model's neuron layers, in node order.
 * @param[in] step    time step since the last reset, from 0.
 * @param[in] stream  ESN_STREAM_*.
 */
static inline uint32_t esn_noise_key(uint32_t seed, uint32_t layer, uint32_t step, uint32_t stream)
{
    return seed ^ (uint32_t)(layer * 0x9E3779B1UL) ^ (uint32_t)(step * 0x85EBCA77UL) ^
           (uint32_t)(stream * 0x27D4EB2FUL);
}

/** Noise of neuron `idx` under `key` (fixedpoint.noise). */
static inline uint32_t esn_noise(uint32_t key, uint32_t idx)
{
    return esn_hash32(key ^ (uint32_t)(idx * 0xC2B2AE3DUL));
}

/**
 * Entropy of softmax(beta * acc / t) in 1/256 nat, integer only (fixedpoint.entropy_q8):
 * two divisions per class and two small tables (esn_fixedpoint.c).
 * @param[in] acc       [k] output accumulated over the t steps run so far.
 * @param[in] k         classes, >= 1.
 * @param[in] t         steps accumulated, >= 1.
 * @param[in] beta_q16  (0, 2^31): real value of one output unit, Q16.
 * @return the entropy, >= 0.
 */
int64_t esn_entropy_q8(const int64_t *acc, uint32_t k, uint32_t t, int32_t beta_q16);

/** Bytes 0..n-1 through CRC-32 (IEEE 802.3, reflected, as zlib.crc32), continuing from `crc` (0 to start). */
uint32_t esn_crc32(uint32_t crc, const uint8_t *data, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* ESN_FIXEDPOINT_H */
