"""Fixed-point arithmetic of the integer paths, the Python twin of ``firmware/core/ff_fixed.h``.

Each function here has a C counterpart of the same name with an ``ff_`` prefix, written line for
line the same way, so that reference and kernels round identically. The definitions are TFLite
Micro's (gemmlowp's fixed-point primitives with TFLM's default double rounding):

    srdhm(a, b)  = saturate(floor(a * b / 2**31 + 1/2))              "SaturatingRoundingDoublingHighMul"
                   (ties toward +infinity: the nudge of a negative product is 1 - 2**30)
    rdbpot(x, e) = round_half_away(x / 2**e)                          "RoundingDivideByPOT"
    mbqm(x, m, s) = rdbpot(srdhm(x * 2**max(s, 0), m), max(-s, 0))   "MultiplyByQuantizedMultiplier"

All array functions take and return int64 numpy arrays holding int32 values, and broadcast, so a
per-channel multiplier/shift pair can be applied to a whole tensor in one call.
"""

from __future__ import annotations

import math

import numpy as np

from .ir import Act, DType, QuantParams, round_away

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to int32 (what C does when an int32 product overflows)."""
    x = np.asarray(x, np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _trunc_div_pow2(v: np.ndarray, n: int) -> np.ndarray:
    """``v / 2**n`` rounded toward zero, as C's integer division does."""
    return np.where(v >= 0, v >> n, -((-v) >> n))


def srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Saturating rounding doubling high multiply: the high 32 bits of ``2*a*b``, rounded."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    # gemmlowp's sign-dependent nudge and truncation, as one floor (ff_fixed.h has the proof)
    high = (a * b + (1 << 30)) >> 31
    return np.where(overflow, INT32_MAX, high)


def rdbpot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """Rounding divide by a power of two, ties away from zero."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def mbqm(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """``x * multiplier * 2**shift / 2**31`` with TFLM's double rounding (int32 ``x``)."""
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rdbpot(srdhm(wrap32(np.asarray(x, np.int64) << left), multiplier), right)


def mbqm_smaller_than_one(x: np.ndarray, multiplier: int, left_shift: int) -> np.ndarray:
    """TFLM's MultiplyByQuantizedMultiplierSmallerThanOneExp (``left_shift <= 0``)."""
    return rdbpot(srdhm(x, multiplier), -np.asarray(left_shift, np.int64))


def mbqm64(x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier for an int64 accumulator (the 16x8 kernels).

    The multiplier is first reduced to 16 bits with rounding, then
    ``(x * m16 + 2**(14 - shift)) >> (15 - shift)`` with an arithmetic shift.
    """
    x = np.asarray(x, np.int64)
    m = np.asarray(multiplier, np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    return wrap32((x * reduced + (np.int64(1) << (total - 1))) >> total)


class MultiplierError(ValueError):
    """A real requantization multiplier with no int32 significand and shift: not finite,
    negative, or 2**30 times too large (scales out of proportion: a corrupt or degenerate model).
    """


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A positive real multiplier as (int32 significand in [2**30, 2**31), power-of-two shift).

    ``real ~= significand * 2**(shift - 31)``; TFLM's QuantizeMultiplier, tiny values flushed to 0.
    """
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise MultiplierError(f"requantization multiplier must be finite and >= 0, got {real}")
    q, shift = math.frexp(real)
    q_fixed = int(round_away(q * (1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise MultiplierError(f"requantization multiplier {real} is too large for a 32-bit shift")
    return q_fixed, shift


def downscale_multiplier16(multiplier: int) -> int:
    """A Q31 multiplier from ``quantize_multiplier`` rounded to Q15, saturating at 32767 (TFLM's
    DownScaleInt32ToInt16Multiplier)."""
    if multiplier >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``quantize_multiplier``: (int32 multipliers, int32 shifts) arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).ravel()]
    mult = np.array([m for m, _ in pairs], np.int64)
    shift = np.array([s for _, s in pairs], np.int64)
    return mult, shift


def quantize_scalar(scale: float, zero_point: int, f: float) -> int:
    """TFLM's activation-range quantize: ``zero_point + round(f / scale)`` in float32."""
    tmp = float(np.float32(f) / np.float32(scale))
    return zero_point + int(round_away(tmp))


def activation_range(act: Act, q: QuantParams, dtype: DType) -> tuple[int, int]:
    """Integer clamp bounds of a fused activation (TFLM's CalculateActivationRangeQuantized)."""
    lo, hi = dtype.qmin, dtype.qmax
    s, z = q.s, q.zp
    if act is Act.RELU:
        lo = max(lo, quantize_scalar(s, z, 0.0))
    elif act is Act.RELU6:
        lo = max(lo, quantize_scalar(s, z, 0.0))
        hi = min(hi, quantize_scalar(s, z, 6.0))
    elif act is Act.RELU_N1_TO_1:
        lo = max(lo, quantize_scalar(s, z, -1.0))
        hi = min(hi, quantize_scalar(s, z, 1.0))
    return lo, hi


# -- gemmlowp fixed-point math for the integer Softmax, Logistic and Tanh ------------------------
#
# A raw int32 ``v`` in format Qm (m integer bits, 31 - m fractional bits) stands for v / 2**(31-m).
# The functions below are gemmlowp's scalar int32 definitions as TFLM evaluates them: additions
# wrap (two's complement, as they do on every TFLM target), multiplications are ``srdhm`` and
# rescales are saturating (left) or rounding (right) shifts.

def add32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` with int32 wrap-around."""
    return wrap32(np.asarray(a, np.int64) + b)


def sub32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` with int32 wrap-around."""
    return wrap32(np.asarray(a, np.int64) - b)


def neg32(a: np.ndarray) -> np.ndarray:
    """``-a`` with int32 wrap-around (``-INT32_MIN == INT32_MIN``)."""
    return wrap32(-np.asarray(a, np.int64))


def srmbpot(x: np.ndarray, exponent: int) -> np.ndarray:
    """Saturating rounding multiply by ``2**exponent`` (gemmlowp's SaturatingRoundingMultiplyByPOT).

    exponent > 0: ``x * 2**exponent``, saturated to int32 beyond ``+-(2**(31-exponent) - 1)``;
    exponent < 0: ``rdbpot(x, -exponent)``; exponent == 0: ``x``.
    """
    x = np.asarray(x, np.int64)
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        shifted = wrap32(x << exponent)
        return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))
    if exponent < 0:
        return rdbpot(x, -exponent)
    return x


def rounding_half_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a + b) / 2`` rounded half away from zero, computed without overflow."""
    total = np.asarray(a, np.int64) + b
    sign = np.where(total >= 0, 1, -1)
    return _trunc_div_pow2(total + sign, 1)


def mbqm_greater_than_one(x: np.ndarray, multiplier: int, left_shift: int) -> np.ndarray:
    """TFLM's MultiplyByQuantizedMultiplierGreaterThanOne (double rounding, ``left_shift >= 0``):
    ``srdhm(x * 2**left_shift, multiplier)`` with the int32 product wrapping."""
    return srdhm(wrap32(np.asarray(x, np.int64) << left_shift), multiplier)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for a Q0 ``a`` in [-1/4, 0), Q0 result: 4th-order Taylor expansion around -1/8.

    With x = a + 1/8:  exp(a) = e^(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24), the bracketed tail
    evaluated as ((x^4/4 + x^3) / 3 + x^2) / 2. Constants are round(c * 2**31).
    """
    x = add32(a, 1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = srmbpot(x4, -2)
    tail = srmbpot(add32(srdhm(add32(x4_over_4, x3), 715827883), x2), -1)
    return add32(1895147668, srdhm(1895147668, add32(x, tail)))


def exp_barrel_step(result: np.ndarray, remainder: np.ndarray, integer_bits: int, exponent: int,
                    multiplier: int) -> np.ndarray:
    """One stage of exp_on_negative_values' barrel shifter: ``result * exp(-2**exponent)``
    (``multiplier`` in Q0) where bit ``exponent`` of the Q``integer_bits`` ``remainder`` is set."""
    if integer_bits <= exponent:
        return result
    bit = 1 << (31 - integer_bits + exponent)
    return np.where((remainder & bit) != 0, srdhm(result, multiplier), result)


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp(a) for a Q``integer_bits`` ``a <= 0``; Q0 result (exp(0) is INT32_MAX).

    a = r + n with r in [-1/4, 0) and n = a - r a non-positive multiple of 1/4; exp(r) from the
    polynomial, then one multiply by exp(-2**k) for each bit k set in -n. Inputs below -32 give 0
    (only reachable with more than 5 integer bits).
    """
    a = np.asarray(a, np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = sub32(a & (one_quarter - 1), one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        srmbpot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = sub32(a_mod_quarter_minus_one_quarter, a)
    result = exp_barrel_step(result, remainder, integer_bits, -2, 1672461947)
    result = exp_barrel_step(result, remainder, integer_bits, -1, 1302514674)
    result = exp_barrel_step(result, remainder, integer_bits, 0, 790015084)
    result = exp_barrel_step(result, remainder, integer_bits, 1, 290630308)
    result = exp_barrel_step(result, remainder, integer_bits, 2, 39332535)
    result = exp_barrel_step(result, remainder, integer_bits, 3, 720401)
    result = exp_barrel_step(result, remainder, integer_bits, 4, 242)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def newton_reciprocal_q2(half_denominator: np.ndarray) -> np.ndarray:
    """1 / d in Q2 for a Q0 ``d`` in [1/2, 1): start at 48/17 - 32/17 * d, three Newton steps
    x <- x + x * (1 - d * x)."""
    x = add32(1515870810, srdhm(half_denominator, -1010580540))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus_half_denominator_times_x = sub32(1 << 29, half_denominator_times_x)
        x = add32(x, srmbpot(srdhm(x, one_minus_half_denominator_times_x), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a Q0 ``a`` in [0, 1); Q0 result."""
    x = newton_reciprocal_q2(rounding_half_sum(a, INT32_MAX))
    return srmbpot(x, 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """(1 - a) / (1 + a) for a Q0 ``a`` in [0, 1); Q0 result."""
    x = newton_reciprocal_q2(rounding_half_sum(a, INT32_MAX))
    return srmbpot(sub32(x, 1 << 29), 2)


def logistic_q31(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """1 / (1 + exp(-a)) for a Q``integer_bits`` ``a``; Q0 result (0.5 is 2**30).

    Computed for |a| as 1 / (1 + exp(-|a|)); negative inputs take 1 - that.
    """
    a = np.asarray(a, np.int64)
    positive = a > 0
    abs_a = np.where(positive, a, neg32(a))
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(neg32(abs_a), integer_bits))
    result_if_negative = sub32(INT32_MAX, result_if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, result_if_positive, result_if_negative))


def tanh_q31(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """tanh(a) for a Q``integer_bits`` ``a``; Q0 result.

    With n = -|a|: tanh(|a|) = (1 - exp(2n)) / (1 + exp(2n)), 2n read as Q``integer_bits + 1``
    (the same raw value); the sign of ``a`` is restored at the end.
    """
    a = np.asarray(a, np.int64)
    negative = a < 0
    n = np.where(negative, a, neg32(a))
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, neg32(t), t))


def clz32(x: np.ndarray) -> np.ndarray:
    """Leading zero bits of ``x`` read as uint32 (32 for 0), by binary search."""
    u = np.asarray(x, np.int64) & 0xFFFFFFFF
    n = np.zeros_like(u)
    for bits in (16, 8, 4, 2, 1):
        small = u < (1 << (32 - bits))
        n = np.where(small, n + bits, n)
        u = np.where(small, u << bits, u)
    return np.where(u == 0, 32, n)


def get_reciprocal(x: np.ndarray, integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM's GetReciprocal: for a positive Q``integer_digits`` ``x``, ``(scale, bits_over_unit)``
    with ``1 / x = scale * 2**-bits_over_unit``, ``scale`` in Q0.

    x is normalised to 1 + f (f in [0, 1)) by its leading zeros, then scale = 1 / (1 + f).
    """
    headroom_plus_one = clz32(x)
    shifted = wrap32((np.asarray(x, np.int64) & 0xFFFFFFFF) << headroom_plus_one)
    shifted_sum_minus_one = sub32(shifted, INT32_MIN)
    num_bits_over_unit = integer_digits - headroom_plus_one
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


# -- int16 fixed point of the integer HardSwish ------------------------------------------------
#
# gemmlowp's and TFLM's int16 primitives as TFLM's reference HardSwish evaluates them: the raw
# values are int16 (a Q15 value v stands for v / 2**15), held here in int64 arrays.

def srdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int16 saturating rounding doubling high multiply: ``a * b / 2**15`` rounded half away
    from zero; -1 * -1 saturates to INT16_MAX (gemmlowp's SaturatingRoundingDoublingHighMul)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    overflow = (a == b) & (a == INT16_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = _trunc_div_pow2(ab + nudge, 15)
    return np.where(overflow, INT16_MAX, high)


def sdhm16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int16 saturating doubling high multiply *without* rounding: ``a * b / 2**15`` truncated
    toward zero; -1 * -1 saturates (TFLM's SaturatingDoublingHighMul in hard_swish.h)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    overflow = (a == b) & (a == INT16_MIN)
    high = _trunc_div_pow2(a * b, 15)
    return np.where(overflow, INT16_MAX, high)


def rdbpot16(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT evaluated on int16 values (0 <= exponent <= 31).

    As ``rdbpot`` for exponent <= 15. The mask 2**exponent - 1 is itself an int16, so for
    exponent >= 16 it keeps only its low 16 bits, -1; then every x >= 0 (0 included) gives 1 and
    every x < 0 gives -1, which is what TFLM computes there.
    """
    x = np.asarray(x, np.int64)
    mask = -1 if exponent >= 16 else (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    """``x * 2**amount`` saturated to the int16 range (TFLM's SaturatingLeftShift)."""
    r = np.asarray(x, np.int64) * (1 << amount)
    return np.where(r > INT16_MAX, INT16_MAX, np.where(r < INT16_MIN, INT16_MIN, r))


# -- Prepared requantization of the fast int8 kernels (ff_rq in ff_fixed.h, whose comment has the
# proof that rq_apply(acc * rq_scale) == mbqm(acc) + out_zp under rq_valid's conditions).
RQ_ACC_LIMIT = 1 << 29  # |acc| * 2**max(s, 0) may reach this, no more
RQ_MAX_RIGHT = 21  # max(-s, 0) may reach this, no more


def rq_valid(mult: np.ndarray, shift: np.ndarray, acc_bound: np.ndarray, max_left: int = 31
             ) -> bool:
    """Whether ``rq_record`` is exact for accumulators up to ``acc_bound`` (per channel), with
    ``max(s, 0) <= max_left`` (a kernel that scales int16 weights by ``rq_scale`` needs 7)."""
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    scaled = np.asarray(acc_bound, np.int64) << np.minimum(left, 31)
    return bool(np.all((mult >= 0) & (mult <= INT32_MAX) & (scaled <= RQ_ACC_LIMIT)
                       & (-shift <= RQ_MAX_RIGHT) & (left <= max_left)))


def rq_scale(shift: np.ndarray) -> np.ndarray:
    """``2**(max(s, 0) + 1)``: the factor a fast kernel's accumulator carries."""
    return np.int64(2) << np.maximum(np.asarray(shift, np.int64), 0)


def rq_record(mult: np.ndarray, shift: np.ndarray, out_zp: int) -> np.ndarray:
    """Per-channel ``(mult, rnd, rsh)``, int64 ``(C, 3)`` (ff_rq without its bias)."""
    mult = np.asarray(mult, np.int64)
    right = np.maximum(-np.asarray(shift, np.int64), 0)
    rnd = (np.int64(1) << right) + np.int64(out_zp) * (np.int64(2) << right)
    return np.stack([mult, rnd, right + 1], axis=-1)


def rq_apply(acc2: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """``mbqm(acc, m, s) + out_zp`` from ``acc2 = acc * rq_scale(s)``, as ff_rq_apply does."""
    mult, rnd, rsh = (np.asarray(rec, np.int64)[..., k] for k in range(3))
    h = (np.asarray(acc2, np.int64) * mult + (1 << 31)) >> 32
    return (2 * h + rnd - (h < 0)) >> rsh
