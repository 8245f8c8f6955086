"""Fixed-point arithmetic of the integer paths, the Python twin of ``firmware/core/ff_fixed.h``.

Each function here has a C counterpart of the same name with an ``ff_`` prefix, written line for
line the same way, so that reference and kernels round identically. The definitions are TFLite
Micro's (gemmlowp's fixed-point primitives with TFLM's default double rounding):

    srdhm(a, b)  = saturate(round_half_away(a * b / 2**31))          "SaturatingRoundingDoublingHighMul"
    rdbpot(x, e) = round_half_away(x / 2**e)                          "RoundingDivideByPOT"
    mbqm(x, m, s) = rdbpot(srdhm(x * 2**max(s, 0), m), max(-s, 0))   "MultiplyByQuantizedMultiplier"

All array functions take and return int64 numpy arrays holding int32 values, and broadcast, so a
per-channel multiplier/shift pair can be applied to a whole tensor in one call.
"""

from __future__ import annotations

import math

import numpy as np

from .ir import Act, DType, QuantParams

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


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
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _trunc_div_pow2(ab + nudge, 31)
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


def round_half_away(v: float) -> float:
    """C's ``round`` on a double: ties away from zero (``x - floor(x)`` is exact)."""
    f = math.floor(abs(v))
    r = f + 1.0 if abs(v) - f >= 0.5 else f
    return math.copysign(r, v)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A positive real multiplier as (int32 significand in [2**30, 2**31), power-of-two shift).

    ``real ~= significand * 2**(shift - 31)``; TFLM's QuantizeMultiplier, tiny values flushed to 0.
    """
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantization multiplier must be finite and >= 0, got {real}")
    q, shift = math.frexp(real)
    q_fixed = int(round_half_away(q * (1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"requantization multiplier {real} is too large for a 32-bit shift")
    return q_fixed, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``quantize_multiplier``: (int32 multipliers, int32 shifts) arrays."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).ravel()]
    mult = np.array([m for m, _ in pairs], np.int64)
    shift = np.array([s for _, s in pairs], np.int64)
    return mult, shift


def quantize_scalar(scale: float, zero_point: int, f: float) -> int:
    """TFLM's activation-range quantize: ``zero_point + round(f / scale)`` in float32."""
    tmp = float(np.float32(f) / np.float32(scale))
    return zero_point + int(round_half_away(tmp))


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
