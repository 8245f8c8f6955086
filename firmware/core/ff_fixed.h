/* Fixed-point helpers of the integer kernels; the C twin of converter/fixed.py, line for line.
 *
 *   ff_srdhm(a, b)     = saturate(round_half_away(a * b / 2^31))  (SaturatingRoundingDoublingHighMul)
 *   ff_rdbpot(x, e)    = round_half_away(x / 2^e)                 (RoundingDivideByPOT)
 *   ff_mbqm(x, m, s)   = ff_rdbpot(ff_srdhm(x * 2^max(s,0), m), max(-s,0))
 *
 * These are TFLite Micro's definitions with its default double rounding, so that imported models
 * give TFLM's bytes. Right shifts of negative values are implementation-defined in C99; ff_asr32
 * and ff_asr64 spell the arithmetic shift out so no kernel depends on the compiler's choice.
 * Every function is static inline: no definitions with external linkage live in a header.
 */
#ifndef FF_FIXED_H
#define FF_FIXED_H

#include <stdint.h>

/* Weights and other model constants. On AVR (gnu99 mode) they stay in flash through the __flash
 * address space instead of being copied to the 2 KB of RAM; elsewhere this is plain const. */
#if defined(__AVR__) && defined(__FLASH) && !defined(__STRICT_ANSI__)
#define FF_CONST const __flash
#else
#define FF_CONST const
#endif

#if defined(__GNUC__)
#define FF_ALIGNED(n) __attribute__((aligned(n)))
#else
#define FF_ALIGNED(n)
#endif

#define FF_INT32_MIN (-2147483647L - 1)
#define FF_INT32_MAX 2147483647L

/* x >> n for any sign, rounding toward minus infinity (0 <= n <= 31). */
static inline int32_t ff_asr32(int32_t x, int n) {
    return x >= 0 ? (int32_t)(x >> n) : (int32_t)~(~x >> n);
}

static inline int64_t ff_asr64(int64_t x, int n) {
    return x >= 0 ? (int64_t)(x >> n) : (int64_t)~(~x >> n);
}

/* Two's-complement wrap of x * 2^n, as TFLM's int32 multiplication does on every target. */
static inline int32_t ff_shl32_wrap(int32_t x, int n) {
    return (int32_t)((uint32_t)x << n);
}

static inline int32_t ff_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* v / 2^n rounded toward zero, as C's integer division (without a 64-bit division call). */
static inline int64_t ff_trunc_div_pow2(int64_t v, int n) {
    return v >= 0 ? (v >> n) : -((-v) >> n);
}

static inline int32_t ff_srdhm(int32_t a, int32_t b) {
    const int overflow = (a == b) && (a == (int32_t)FF_INT32_MIN);
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    const int32_t high = (int32_t)ff_trunc_div_pow2(ab + nudge, 31);
    return overflow ? (int32_t)FF_INT32_MAX : high;
}

static inline int32_t ff_rdbpot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return ff_asr32(x, exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t ff_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    return ff_rdbpot(ff_srdhm(ff_shl32_wrap(x, left), multiplier), right);
}

/* TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0). */
static inline int32_t ff_mbqm_smaller_than_one(int32_t x, int32_t multiplier, int32_t left_shift) {
    return ff_rdbpot(ff_srdhm(x, multiplier), (int)-left_shift);
}

/* MultiplyByQuantizedMultiplier for an int64 accumulator (16x8 kernels): the multiplier reduced
 * to 16 bits with rounding, then (x * m16 + 2^(14 - shift)) >> (15 - shift). */
static inline int32_t ff_mbqm64(int64_t x, int32_t multiplier, int32_t shift) {
    const int64_t reduced = multiplier < 0x7FFF0000L ? (((int64_t)multiplier + (1L << 15)) >> 16)
                                                     : 0x7FFF;
    const int total = 15 - (int)shift;
    const int64_t r = ff_asr64(x * reduced + ((int64_t)1 << (total - 1)), total);
    return (int32_t)(uint32_t)(uint64_t)r;
}

#endif /* FF_FIXED_H */
