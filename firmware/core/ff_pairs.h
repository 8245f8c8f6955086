/* firmforge: pair-packed int8 matrix products, shared by ff_conv_1x1.c and ff_dense_s8.c.
 * The math is below; the converter's side (packing, records) is targets/c/pairs.py. */
#ifndef FF_PAIRS_H
#define FF_PAIRS_H

#include "ff_fixed.h"

/*
 * ff_conv2d_s8_1x1 and ff_dense_s8 compute acc[n][o] = bias[o] + sum_k (x[n][k] + in_offset) *
 * w[o][k] and y[n][o] = clamp(ff_mbqm(acc, mult[o], shift[o]) + out_offset, act_min, act_max)
 * from constants the converter prepares (targets/c/pairs.py, the Python side of this section):
 *   bias'[o] = bias[o] + in_offset * sum_k w[o][k]          modulo 2^32, so that
 *   acc      = bias'[o] + sum_k x[k] * w[o][k]              modulo 2^32 (the same accumulator)
 *   H[k]     = w[2j][k] + 256 * w[2j + 1][k]                int16, per pair of channels
 * H's low byte, read as int8 (ff_lo_s8), is w[2j][k], so one pair needs two sums:
 *   E = sum_k x[k] * lo(H[k]) = sum_k x[k] * w[2j][k]
 *   R = sum_k x[k] * H[k]     = E + 256 * sum_k x[k] * w[2j + 1][k]           (modulo 2^32)
 * and a 16-bit multiply-accumulate of H (SMLAD) advances both channels. Over at most
 * FF_PAIR_CHUNK + 3 = 511 values of k, |sum x * w[2j + 1]| <= 511 * 2^14 < 2^23, so ff_pair_hi
 * recovers it from R - E modulo 2^32. H fits int16 unless w[2j + 1][k] = -128 meets a negative
 * w[2j][k] (symmetric int8 weights are in [-127, 127]); the converter then uses other kernels.
 * An odd last channel is paired with zero weights.
 *
 * Requantization records, four int32 per output channel: {bias', m2, k, left} with m2 = 2 mult
 * modulo 2^32, k = 2^(32 - right) for right = -shift >= 2, else k = -max(-shift, 0), and
 * left = max(shift, 0). Layers whose records all have k > 0 and left = 0 ("rshift2" in the
 * parameters) take the Cortex-M assembly requantization. Multipliers are 0 or in [2^30, 2^31)
 * (quantize_multiplier); a channel of multiplier 0 has its weights and bias' zeroed, so its
 * accumulator and result are 0.
 */
#define FF_PAIR_CHUNK 508

/* sum_k x[k] * w[2j + 1][k] over one chunk, from the pair's sums R and E over that chunk. */
static inline int32_t ff_pair_hi(uint32_t r, uint32_t e) {
    return ff_asr32((int32_t)(r - e), 8);
}

/* The low byte of a packed weight as int8 (w[2j][k] of H[k]). */
static inline int32_t ff_lo_s8(int32_t h) {
    return ((h & 0xFF) ^ 0x80) - 0x80;
}

/* clamp(ff_mbqm(acc, mult, left - right) + out_offset, lo, hi) from a record's m2, k and left,
 * mult being 0 (then acc is 0) or in [2^30, 2^31); `narrow` says whether [lo, hi] is narrower
 * than [-128, 127]. The integers of ff_requant_s8 by fewer instructions:
 *   ff_srdhm(x, mult)   = floor((x * mult + 2^30) / 2^31)     (nudge and truncation combined)
 *                       = ((x * m2 + 2^31) >> 32) + x        (m2 = 2 mult - 2^32: SMMLAR)
 *   ff_rdbpot(v, right) = floor((v' + 2^(right - 1)) / 2^right), v' = v - (v < 0)
 *                       = (v' * k + 2^31) >> 32              (right >= 2; |v| < 2^31)
 * and the offset is added after a saturation that leaves the clamped result unchanged. */
static inline int8_t ff_requant_pre(int32_t acc, int32_t m2, int32_t k, int32_t left,
                                    int32_t out_offset, int32_t lo, int32_t hi, int narrow) {
    const int32_t x = ff_shl32_wrap(acc, (int)left);
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const int32_t v = ff_smmlar(x, m2, x);
#else
    const int32_t mult = (int32_t)((uint32_t)m2 >> 1);
    const int32_t v = (int32_t)ff_asr64((int64_t)x * mult + ((int64_t)1 << 30), 31);
#endif
    const int32_t r = k > 0 ? (int32_t)ff_asr64((int64_t)(v + ff_asr32(v, 31)) * k +
                                                ((int64_t)1 << 31), 32)
                            : ff_rdbpot(v, (int)-k);
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const int32_t s = __ssat(__qadd(r, out_offset), 8);
    return (int8_t)(narrow ? ff_clamp(s, lo, hi) : s);
#else
    (void)narrow;
    return (int8_t)ff_clamp(ff_clamp(r, -256, 255) + out_offset, lo, hi);
#endif
}

#endif /* FF_PAIRS_H */
