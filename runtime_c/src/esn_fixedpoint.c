/*
 * esn_fixedpoint.c: the early-exit entropy and the blob CRC.
 *
 * Entropy (edgesnn.quantize.fixedpoint.entropy_q8), for output accumulated over t steps:
 *     d_k  = min(max(acc) - acc_k, 2^31 - 1)
 *     x_k  = min(floor(d_k * beta_q16 / (t * 2^12)), 255)       logit gap in 1/16 nat
 *     e_k  = ESN_EXP_LUT[x_k] = round(2^15 exp(-x_k / 16))
 *     S    = sum e_k,  H_q8 = ln_q8(S) + floor(16 sum(e_k x_k) / S)
 *     ln_q8(S) = (b - 15) * 177 + ESN_LN_LUT[(S >> (b - 6)) & 63],  b = floor(log2 S)
 * The tables are those of fixedpoint.EXP_LUT / LN_LUT; tests/runtime/test_runtime_c.py checks them.
 * Not optimal: two 64-bit divisions per class; fine for the few classes of a readout.
 */
#include "esn/esn_fixedpoint.h"

/* round(32768 * exp(-x / 16)), x = 0..255 */
static const uint16_t esn_exp_lut[256] = {
    32768u, 30783u, 28918u, 27166u, 25520u, 23974u, 22521u, 21157u, 19875u, 18671u, 17539u, 16477u,
    15479u, 14541u, 13660u, 12832u, 12055u, 11324u, 10638u, 9994u, 9388u, 8819u, 8285u, 7783u,
    7312u, 6869u, 6452u, 6061u, 5694u, 5349u, 5025u, 4721u, 4435u, 4166u, 3914u, 3676u,
    3454u, 3244u, 3048u, 2863u, 2690u, 2527u, 2374u, 2230u, 2095u, 1968u, 1849u, 1737u,
    1631u, 1533u, 1440u, 1352u, 1271u, 1194u, 1121u, 1053u, 990u, 930u, 873u, 820u,
    771u, 724u, 680u, 639u, 600u, 564u, 530u, 498u, 467u, 439u, 412u, 387u,
    364u, 342u, 321u, 302u, 283u, 266u, 250u, 235u, 221u, 207u, 195u, 183u,
    172u, 162u, 152u, 143u, 134u, 126u, 118u, 111u, 104u, 98u, 92u, 86u,
    81u, 76u, 72u, 67u, 63u, 59u, 56u, 52u, 49u, 46u, 43u, 41u,
    38u, 36u, 34u, 32u, 30u, 28u, 26u, 25u, 23u, 22u, 21u, 19u,
    18u, 17u, 16u, 15u, 14u, 13u, 12u, 12u, 11u, 10u, 10u, 9u,
    9u, 8u, 8u, 7u, 7u, 6u, 6u, 6u, 5u, 5u, 5u, 4u,
    4u, 4u, 4u, 3u, 3u, 3u, 3u, 3u, 2u, 2u, 2u, 2u,
    2u, 2u, 2u, 2u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u,
    1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 1u, 0u, 0u,
    0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u,
    0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u,
    0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u,
    0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u,
    0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u,
    0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u,
    0u, 0u, 0u, 0u,
};

/* round(256 * ln(1 + i / 64)), i = 0..63 */
static const uint8_t esn_ln_lut[64] = {
    0u, 4u, 8u, 12u, 16u, 19u, 23u, 27u, 30u, 34u, 37u, 41u,
    44u, 47u, 51u, 54u, 57u, 60u, 63u, 67u, 70u, 73u, 76u, 79u,
    82u, 84u, 87u, 90u, 93u, 96u, 98u, 101u, 104u, 106u, 109u, 112u,
    114u, 117u, 119u, 122u, 124u, 127u, 129u, 132u, 134u, 136u, 139u, 141u,
    143u, 146u, 148u, 150u, 152u, 154u, 157u, 159u, 161u, 163u, 165u, 167u,
    169u, 171u, 173u, 175u,
};

#define ESN_LN2_Q8 177
#define ESN_X_MAX 255

int64_t esn_entropy_q8(const int64_t *acc, uint32_t k, uint32_t t, int32_t beta_q16)
{
    int64_t top = acc[0];
    const int64_t den = (int64_t)t << 12;
    uint64_t s = 0u;
    uint64_t ex = 0u;
    uint32_t b = 0u;
    uint32_t c;
    int64_t ln_s;
    for (c = 1u; c < k; ++c) {
        if (acc[c] > top) {
            top = acc[c];
        }
    }
    for (c = 0u; c < k; ++c) {
        int64_t d = top - acc[c]; /* >= 0; the accumulator saturates at +-2^62, so no overflow */
        int64_t x;
        uint32_t e;
        if (d > INT64_C(2147483647)) {
            d = INT64_C(2147483647);
        }
        x = (d * (int64_t)beta_q16) / den; /* both >= 0: C division is floor division here */
        if (x > ESN_X_MAX) {
            x = ESN_X_MAX;
        }
        e = esn_exp_lut[x];
        s += e;
        ex += (uint64_t)e * (uint64_t)x;
    }
    /* s >= 2^15 (the largest class has x = 0), so b >= 15 */
    while ((s >> (b + 1u)) != 0u) {
        ++b;
    }
    ln_s = ((int64_t)b - 15) * ESN_LN2_Q8 + (int64_t)esn_ln_lut[(s >> (b - 6u)) & 63u];
    return ln_s + (int64_t)((16u * ex) / s);
}

/* CRC-32 with a 16-entry table (64 bytes of flash): two table steps per byte. */
static const uint32_t esn_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t esn_crc32(uint32_t crc, const uint8_t *data, uint32_t n)
{
    uint32_t i;
    crc = ~crc;
    for (i = 0u; i < n; ++i) {
        crc ^= data[i];
        crc = (crc >> 4) ^ esn_crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ esn_crc_nibble[crc & 15u];
    }
    return ~crc;
}
