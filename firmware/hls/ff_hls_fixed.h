/* firmforge HLS layer templates: TFLite's fixed-point requantization, bit for bit.
 *
 * The HLS twin of converter/fixed.py (and firmware/core/ff_fixed.h), with TFLM's default
 * double rounding:
 *   srdhm(a, b)   = floor((a * b + 2^30) / 2^31)        a, b int32; a == b == INT32_MIN saturates
 *   rdbpot(x, e)  = round_half_away(x / 2^e)           as (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))
 *   mbqm(x, m, s) = rdbpot(srdhm(wrap32(x << max(s, 0)), m), max(-s, 0))
 * The accumulator may be wider than 32 bits (its width comes from the layer's ranges); the
 * reference wraps x << left to int32 exactly as TFLM's int32 arithmetic does, so the same wrap
 * happens here by assigning to a 32-bit integer.
 */
#ifndef FF_HLS_FIXED_H
#define FF_HLS_FIXED_H

#include "ff_hls_types.h"

inline ff_int<32> ff_hls_srdhm(ff_int<32> a, ff_int<32> b) {
#pragma HLS INLINE
    const ff_int<32> int32_min = (long long)-2147483648LL;
    if (a == b && a == int32_min) return (long long)2147483647LL;
    ff_int<64> p = a * b;                       /* exact: |a * b| <= 2^62 */
    ff_int<64> nudged = p + ff_int<64>(1LL << 30);
    ff_int<32> high = nudged >> 31;             /* arithmetic: floor; fits in 32 bits */
    return high;
}

inline ff_int<32> ff_hls_rdbpot(ff_int<32> x, int e) {
#pragma HLS INLINE
    ff_int<64> mask = (ff_int<64>(1) << e) - ff_int<64>(1);
    ff_int<64> x64 = x;
    ff_int<64> rem = x64 & mask;
    ff_int<64> threshold = (mask >> 1) + ff_int<64>(x < 0 ? 1 : 0);
    ff_int<32> q = x >> e;
    return q + ff_int<32>(rem > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier of an accumulator of any width up to 64 bits. */
template <class ACC>
inline ff_int<32> ff_hls_mbqm(ACC acc, ff_int<32> mult, int shift) {
#pragma HLS INLINE
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    ff_int<64> wide = acc;
    ff_int<32> x = wide << left;                /* wrap32, as the reference */
    return ff_hls_rdbpot(ff_hls_srdhm(x, mult), right);
}

/* TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0): the rescaling of ADD. */
inline ff_int<32> ff_hls_mbqm_small(ff_int<32> x, ff_int<32> mult, int shift) {
#pragma HLS INLINE
    return ff_hls_rdbpot(ff_hls_srdhm(x, mult), -shift);
}

#endif
