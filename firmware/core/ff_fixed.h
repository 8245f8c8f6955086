/* Fixed-point helpers of the integer kernels; the C twin of converter/fixed.py, line for line.
 *
 *   ff_srdhm(a, b)     = saturate(floor(a * b / 2^31 + 1/2))      (SaturatingRoundingDoublingHighMul)
 *   ff_rdbpot(x, e)    = round_half_away(x / 2^e)                 (RoundingDivideByPOT)
 *   ff_mbqm(x, m, s)   = ff_rdbpot(ff_srdhm(x * 2^max(s,0), m), max(-s,0))
 *
 * These are TFLite Micro's definitions with its default double rounding, so that imported models
 * give TFLM's bytes. Right shifts of negative values are implementation-defined in C99; ff_asr32
 * and ff_asr64 spell the arithmetic shift out so no kernel depends on the compiler's choice.
 * Every function is static inline: no definitions with external linkage live in a header.
 *
 * The last sections hold the 16x8 accumulation shared by ff_conv_s16.c and ff_dense.c (exact
 * int16 x int8 dot product, the int64 / int32 bias choice); its Python counterparts are the
 * int64 numpy accumulation and requantize() in converter/ops/conv.py, not converter/fixed.py.
 * (The packed int4/int2 weight access of the s4/s2 kernels is ff_packed.h.) Then the
 * prepared requantization of the fast int8 kernels (ff_rq, twin of rq_* in converter/fixed.py)
 * and, through ff_dsp.h (shipped with this header), the helpers of their DSP fast paths.
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

/* A kernel body shared by several public kernels and specialized by constant arguments (element
 * size, operation): `static FF_INLINE_BODY void body(...)`. Inlining into every caller is forced
 * where the compiler allows it, so the constants fold at -O2 and -Os alike and no dispatch on
 * them is left inside a loop. */
#if defined(__GNUC__)
#define FF_INLINE_BODY inline __attribute__((always_inline))
#else
#define FF_INLINE_BODY inline
#endif

/* The opposite, for a long helper that a kernel calls from more than one place but outside its
 * hot loops (softmax's exponential): one copy of its code instead of one per call site. */
#if defined(__GNUC__)
#define FF_OUT_OF_LINE __attribute__((noinline))
#else
#define FF_OUT_OF_LINE
#endif

/* An empty statement the compiler may not move memory accesses across. The portable matrix
 * loops put one between steps, so that GCC's scheduler does not load a whole unrolled loop
 * body ahead and spill it (RISC-V: 108 instructions a step instead of 91). */
#if defined(__GNUC__)
#define FF_SCHED_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define FF_SCHED_BARRIER() ((void)0)
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

/* gemmlowp adds 2^30 to a*b >= 0 and 1 - 2^30 to a*b < 0, then divides by 2^31 truncating
 * toward zero. Both are floor((a*b + 2^30) / 2^31): for a*b >= 0 the truncation is the floor;
 * for a*b = -k < 0 it is -floor((k - 1 + 2^30) / 2^31) = floor((2^30 - k) / 2^31). So one
 * arithmetic shift, no branch on the sign (a few instructions on every target). */
static inline int32_t ff_srdhm(int32_t a, int32_t b) {
    const int overflow = (a == b) && (a == (int32_t)FF_INT32_MIN);
    const int32_t high = (int32_t)ff_asr64((int64_t)a * (int64_t)b + ((int64_t)1 << 30), 31);
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

/* -- gemmlowp fixed-point math for the integer Softmax, Logistic and Tanh -----------------------
 *
 * A raw int32 v in format Qm (m integer bits, 31 - m fractional bits) stands for v / 2^(31-m).
 * These are gemmlowp's scalar int32 definitions as TFLM evaluates them: additions wrap (through
 * uint32_t, so without signed overflow), multiplications are ff_srdhm, rescales are saturating
 * (left) or rounding (right) shifts. Twins of the functions of the same name in converter/fixed.py.
 */

/* a + b, a - b, -a with int32 wrap-around. */
/* int32 accumulator -> int8 output: clamp(mbqm(acc, mult, shift) + out_offset, lo, hi), the
 * requantization of every int8 convolution and dense kernel. */
static inline int8_t ff_requant_s8(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset,
                                   int32_t lo, int32_t hi) {
    return (int8_t)ff_clamp(ff_mbqm(acc, mult, shift) + out_offset, lo, hi);
}

static inline int32_t ff_add32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t ff_sub32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

static inline int32_t ff_neg32(int32_t a) {
    return (int32_t)((uint32_t)0 - (uint32_t)a);
}

/* x * 2^exponent: saturating for exponent > 0, ff_rdbpot for exponent < 0. */
static inline int32_t ff_srmbpot(int32_t x, int exponent) {
    if (exponent > 0) {
        const int32_t threshold = ((int32_t)1 << (31 - exponent)) - 1;
        const int32_t shifted = ff_shl32_wrap(x, exponent);
        return x > threshold ? (int32_t)FF_INT32_MAX
                             : (x < -threshold ? (int32_t)FF_INT32_MIN : shifted);
    }
    if (exponent < 0) {
        return ff_rdbpot(x, -exponent);
    }
    return x;
}

/* (a + b) / 2 rounded half away from zero. */
static inline int32_t ff_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t total = (int64_t)a + (int64_t)b;
    const int64_t sign = total >= 0 ? 1 : -1;
    return (int32_t)ff_trunc_div_pow2(total + sign, 1);
}

/* TFLM's MultiplyByQuantizedMultiplierGreaterThanOne (double rounding, left_shift >= 0). */
static inline int32_t ff_mbqm_greater_than_one(int32_t x, int32_t multiplier, int32_t left_shift) {
    return ff_srdhm(ff_shl32_wrap(x, (int)left_shift), multiplier);
}

/* exp(a) for a Q0 a in [-1/4, 0): Taylor expansion around -1/8 (x = a + 1/8),
 * e^(-1/8) * (1 + x + ((x^4/4 + x^3) / 3 + x^2) / 2). */
static inline int32_t ff_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t x = ff_add32(a, (int32_t)1 << 28);
    const int32_t x2 = ff_srdhm(x, x);
    const int32_t x3 = ff_srdhm(x2, x);
    const int32_t x4 = ff_srdhm(x2, x2);
    const int32_t x4_over_4 = ff_srmbpot(x4, -2);
    const int32_t tail = ff_srmbpot(ff_add32(ff_srdhm(ff_add32(x4_over_4, x3), 715827883L), x2), -1);
    return ff_add32(1895147668L, ff_srdhm(1895147668L, ff_add32(x, tail)));
}

/* One stage of the barrel shifter below: result * exp(-2^exponent) (multiplier in Q0) where bit
 * exponent of the Q(integer_bits) remainder is set. */
static inline int32_t ff_exp_barrel_step(int32_t result, int32_t remainder, int integer_bits,
                                         int exponent, int32_t multiplier) {
    if (integer_bits <= exponent) {
        return result;
    }
    const int32_t bit = (int32_t)1 << (31 - integer_bits + exponent);
    return (remainder & bit) != 0 ? ff_srdhm(result, multiplier) : result;
}

/* exp(a) for a Q(integer_bits) a <= 0, Q0 result (exp(0) = INT32_MAX): a = r + n with r in
 * [-1/4, 0), then one multiply by exp(-2^k) per bit k of -n (k = -2 .. 4), constants in Q0. */
static inline int32_t ff_exp_on_negative_values(int32_t a, int integer_bits) {
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = ff_sub32(a & (one_quarter - 1), one_quarter);
    int32_t result = ff_exp_on_interval_between_negative_one_quarter_and_0_excl(
        ff_srmbpot(a_mod_quarter_minus_one_quarter, integer_bits));
    /* exp(-2^k) in Q0 for k = -2 .. 4; a loop rather than seven inlined multiplies keeps the
     * softmax kernels small (it runs once per element, far from any hot loop). */
    static FF_CONST int32_t exp_of_minus_pow2[7] = {1672461947L, 1302514674L, 790015084L,
                                                    290630308L, 39332535L, 720401L, 242};
    const int32_t remainder = ff_sub32(a_mod_quarter_minus_one_quarter, a);
    int k;
    for (k = 0; k < 7; k++) {
        result = ff_exp_barrel_step(result, remainder, integer_bits, k - 2, exp_of_minus_pow2[k]);
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) {
        result = 0;
    }
    return a == 0 ? (int32_t)FF_INT32_MAX : result;
}

/* 1 / d in Q2 for a Q0 d in [1/2, 1): 48/17 - 32/17 * d, then three Newton steps. */
static inline int32_t ff_newton_reciprocal_q2(int32_t half_denominator) {
    int32_t x = ff_add32(1515870810L, ff_srdhm(half_denominator, -1010580540L));
    int i;
    for (i = 0; i < 3; i++) {
        const int32_t half_denominator_times_x = ff_srdhm(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x =
            ff_sub32((int32_t)1 << 29, half_denominator_times_x);
        x = ff_add32(x, ff_srmbpot(ff_srdhm(x, one_minus_half_denominator_times_x), 2));
    }
    return x;
}

/* 1 / (1 + a) for a Q0 a in [0, 1); Q0 result. */
static inline int32_t ff_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t x = ff_newton_reciprocal_q2(ff_rounding_half_sum(a, (int32_t)FF_INT32_MAX));
    return ff_srmbpot(x, 1);
}

/* (1 - a) / (1 + a) for a Q0 a in [0, 1); Q0 result. */
static inline int32_t ff_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t x = ff_newton_reciprocal_q2(ff_rounding_half_sum(a, (int32_t)FF_INT32_MAX));
    return ff_srmbpot(ff_sub32(x, (int32_t)1 << 29), 2);
}

/* 1 / (1 + exp(-a)) for a Q(integer_bits) a; Q0 result (0.5 = 2^30). */
static inline int32_t ff_logistic_q31(int32_t a, int integer_bits) {
    const int positive = a > 0;
    const int32_t abs_a = positive ? a : ff_neg32(a);
    const int32_t result_if_positive = ff_one_over_one_plus_x_for_x_in_0_1(
        ff_exp_on_negative_values(ff_neg32(abs_a), integer_bits));
    const int32_t result_if_negative = ff_sub32((int32_t)FF_INT32_MAX, result_if_positive);
    return a == 0 ? ((int32_t)1 << 30) : (positive ? result_if_positive : result_if_negative);
}

/* tanh(a) for a Q(integer_bits) a; Q0 result. With n = -|a|, tanh(|a|) = (1 - e^2n) / (1 + e^2n),
 * 2n being the same raw value read with one more integer bit. */
static inline int32_t ff_tanh_q31(int32_t a, int integer_bits) {
    const int negative = a < 0;
    const int32_t n = negative ? a : ff_neg32(a);
    const int32_t t = ff_one_minus_x_over_one_plus_x_for_x_in_0_1(
        ff_exp_on_negative_values(n, integer_bits + 1));
    return a == 0 ? 0 : (negative ? ff_neg32(t) : t);
}

/* Leading zero bits of x (32 for 0), by binary search. */
static inline int ff_clz32(uint32_t x) {
    int n = 0;
    int bits;
    for (bits = 16; bits > 0; bits >>= 1) {
        if (x < ((uint32_t)1 << (32 - bits))) {
            n += bits;
            x <<= bits;
        }
    }
    return x == 0 ? 32 : n;
}

/* TFLM's GetReciprocal: for a positive Q(integer_digits) x, returns scale (Q0) and sets
 * *num_bits_over_unit so that 1 / x = scale * 2^-num_bits_over_unit. */
static inline int32_t ff_get_reciprocal(int32_t x, int integer_digits, int *num_bits_over_unit) {
    const int headroom_plus_one = ff_clz32((uint32_t)x);
    const uint32_t shifted = (uint32_t)((uint64_t)(uint32_t)x << headroom_plus_one);
    const int32_t shifted_sum_minus_one = ff_sub32((int32_t)shifted, (int32_t)FF_INT32_MIN);
    *num_bits_over_unit = integer_digits - headroom_plus_one;
    return ff_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

/* -- int16 fixed point of the integer HardSwish ------------------------------------------------
 *
 * gemmlowp's and TFLM's int16 primitives as TFLM's reference HardSwish evaluates them, on int16
 * values held in int32_t (a Q15 value v stands for v / 2^15). Twins of converter/fixed.py.
 */

/* a * b / 2^15 rounded half away from zero; -1 * -1 saturates
 * (gemmlowp's SaturatingRoundingDoublingHighMul). */
static inline int32_t ff_srdhm16(int32_t a, int32_t b) {
    const int overflow = (a == b) && (a == -32768L);
    const int32_t ab = a * b;
    const int32_t nudge = ab >= 0 ? ((int32_t)1 << 14) : (1 - ((int32_t)1 << 14));
    const int32_t high = (int32_t)ff_trunc_div_pow2(ab + nudge, 15);
    return overflow ? 32767 : high;
}

/* a * b / 2^15 truncated toward zero; -1 * -1 saturates (TFLM's SaturatingDoublingHighMul). */
static inline int32_t ff_sdhm16(int32_t a, int32_t b) {
    const int overflow = (a == b) && (a == -32768L);
    const int32_t high = (int32_t)ff_trunc_div_pow2(a * b, 15);
    return overflow ? 32767 : high;
}

/* gemmlowp's RoundingDivideByPOT on int16 values (0 <= exponent <= 31). The mask 2^exponent - 1
 * is an int16 there, so for exponent >= 16 it keeps its low 16 bits, -1: x >= 0 then gives 1
 * and x < 0 gives -1, as in TFLM. */
static inline int32_t ff_rdbpot16(int32_t x, int exponent) {
    const int32_t mask = exponent >= 16 ? -1 : (((int32_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = ff_asr32(mask, 1) + (x < 0 ? 1 : 0);
    return ff_asr32(x, exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^amount saturated to the int16 range (TFLM's SaturatingLeftShift); a multiplication,
 * since a left shift of a negative value is undefined in C99. */
static inline int32_t ff_saturating_left_shift16(int32_t x, int amount) {
    const int64_t r = (int64_t)x * ((int64_t)1 << amount);
    return r > 32767 ? 32767 : (r < -32768L ? -32768L : (int32_t)r);
}

/* -- 16x8 accumulation (ff_conv_s16.c, ff_dense.c) ---------------------------------------------
 *
 * TFLM accumulates int16 x int8 products in int64. Most of that work is done here in int32, over
 * runs of FF_DOT_RUN products, and only the runs are added in int64. The run length follows from
 * the worst-case product:
 *   x is int16 and in_offset = -(int16 zero point), so |x + in_offset| <= 2^15 + 2^15 = 2^16;
 *   |w| <= 2^7 (int8);  hence |(x + in_offset) * w| <= 2^(16+7) = 2^FF_DOT_PRODUCT_LOG2;
 *   a run of n products is at most n * 2^23 in magnitude, below 2^31 (int32) for n < 2^(31-23),
 * so FF_DOT_RUN = 2^8 - 1 = 255 (at most 2^31 - 2^23). Without an offset (the convolutions,
 * whose zero points are 0) products are at most 2^22 and the same runs are looser still.
 */
#define FF_DOT_PRODUCT_LOG2 23
#define FF_DOT_RUN ((int32_t)(((int32_t)1 << (31 - FF_DOT_PRODUCT_LOG2)) - 1))

/* sum_{k < n} (x[k] + in_offset) * w[k], exact. */
static inline int64_t ff_dot_s16_s8(const int16_t *x, FF_CONST int8_t *w, int32_t n,
                                    int32_t in_offset) {
    int64_t acc = 0;
    int32_t k = 0;
    while (k < n) {
        const int32_t end = n - k > FF_DOT_RUN ? k + FF_DOT_RUN : n;
        int32_t part = 0;
        for (; k < end; k++) {
            part += ((int32_t)x[k] + in_offset) * (int32_t)w[k];
        }
        acc += part;
    }
    return acc;
}

/* Requantize output o of a 16x8 kernel from its exact sum of products, by the bias width.
 * Exactly one of bias64 / bias32 is non-null:
 *   int64 bias: ff_mbqm64(sum + bias64[o], mult, shift)
 *   int32 bias: ff_mbqm((sum + bias32[o]) mod 2^32, mult, shift), what TFLM's wrapping int32
 *               accumulator holds (addition modulo 2^32 is associative), through unsigned
 *               arithmetic as ff_add32 does.
 * Returns the result before any output offset and clamp. */
static inline int32_t ff_requant_16x8(int64_t sum, FF_CONST int64_t *bias64,
                                      FF_CONST int32_t *bias32, int32_t o, int32_t mult,
                                      int32_t shift) {
    if (bias64 != 0) {
        return ff_mbqm64(sum + bias64[o], mult, shift);
    }
    return ff_mbqm((int32_t)((uint32_t)(uint64_t)sum + (uint32_t)bias32[o]), mult, shift);
}

/* -- Prepared requantization of the fast int8 kernels ------------------------------------------
 *
 * ff_rq_s8(acc2, q, lo, hi) == ff_requant_s8(acc, m, s, out_offset, lo, hi) in a handful of
 * instructions, where acc2 = acc * 2^(l+1) is the accumulator a fast kernel computes with its
 * prepared weights and bias scaled by 2^(l+1), and q a per-channel record the converter
 * prepares offline (converter/fixed.py: rq_scale, rq_record and rq_apply are the Python twins,
 * rq_valid checks the conditions below):
 *   mult = m,   rsh = r + 1,   rnd = 2^r + out_offset * 2^(r+1),   l = max(s, 0), r = max(-s, 0)
 * It is exact under three conditions, which the converter proves for every accumulator a layer
 * can produce before it picks a kernel that uses it:
 *   (a) 0 <= m < 2^31;  (b) |acc| * 2^l <= 2^29;  (c) r <= 21.
 * Proof. Let a = acc * 2^l: by (b) it fits int32, so ff_shl32_wrap(acc, l) = a, and so does
 * acc2 = 2a.
 * 1. ff_srdhm(a, m) = floor((a*m + 2^30) / 2^31). gemmlowp adds 2^30 when a*m >= 0 and
 *    1 - 2^30 otherwise, then divides truncating toward 0. For a*m >= 0 that is the floor. For
 *    a*m = -k < 0 it is -floor((k - 1 + 2^30) / 2^31) = -ceil((k - 2^30) / 2^31)
 *    = floor((2^30 - k) / 2^31). (The saturating case needs m = INT32_MIN, excluded by (a).)
 *    That floor is floor((2a*m + 2^31) / 2^32), the high word of acc2*m + 2^31, which is
 *    ff_smmulr(acc2, m). Call it h; |h| <= |a| <= 2^29.
 * 2. ff_rdbpot(h, r) = floor((2h + 2^r - [h < 0]) / 2^(r+1)) for every r >= 0. For r = 0 the
 *    right side is floor((2h + 1 - [h<0]) / 2) = h, and ff_rdbpot(h, 0) = h. For r >= 1,
 *    ff_rdbpot adds 1 to floor(h / 2^r) exactly when the remainder h mod 2^r is at least
 *    2^(r-1) + [h < 0], i.e. it is floor((h + 2^(r-1) - [h<0]) / 2^r)
 *    = floor((2h + 2^r - 2[h<0]) / 2^(r+1)). That numerator is even; adding [h < 0] to it
 *    changes the floor only if the sum is a multiple of the even 2^(r+1), and an odd number
 *    never is.
 * 3. Adding out_offset * 2^(r+1) to the numerator adds out_offset to the floor, so
 *    ff_rq_apply(acc2, q) = ff_asr32(2h + rnd - [h < 0], rsh) = ff_mbqm(acc, m, s) + out_offset.
 *    No step overflows: |2h| <= 2^30 and |rnd| <= 2^21 * 255 < 2^29 by (c).
 * The record also carries the channel's (prepared, scaled) bias, the accumulator's first term,
 * so a kernel walks one array of records per output channel. */
typedef struct {
    int32_t bias, mult, rnd, rsh;
} ff_rq;

/* SMMULR: the high word of a*b + 2^31 (one instruction with the DSP extension). */
static inline int32_t ff_smmulr(int32_t a, int32_t b) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(uint32_t)((uint64_t)((int64_t)a * b + 0x80000000LL) >> 32);
#endif
}

/* ff_mbqm(acc, m, s) + out_offset from acc2 = acc * 2^(l+1), under conditions (a)-(c). */
static inline int32_t ff_rq_apply(int32_t acc2, FF_CONST ff_rq *q) {
    const int32_t h = ff_smmulr(acc2, q->mult);
    return ff_asr32(2 * h + q->rnd - (h < 0 ? 1 : 0), (int)q->rsh);
}

/* ff_requant_s8(acc, m, s, out_offset, lo, hi) from acc2 and the prepared record. */
static inline int8_t ff_rq_s8(int32_t acc2, FF_CONST ff_rq *q, int32_t lo, int32_t hi) {
    return (int8_t)ff_clamp(ff_rq_apply(acc2, q), lo, hi);
}

/* The Cortex-M DSP helpers the fast paths share (FF_DSP, word access, PKH, ...). */
#include "ff_dsp.h"

#endif /* FF_FIXED_H */
