"""Smooth activations: Sigmoid (TFLite LOGISTIC), Tanh, Softmax.

Float definitions are the usual ones. The int8 definitions are TFLite Micro's reference kernels
(gemmlowp fixed point, ``converter/fixed.py``), integer-only and bit-exact:

Sigmoid / Tanh (TFLM logistic_common.cc / tanh.cc, reference integer_ops/logistic.h / tanh.h):
    Prepare: (M, s) = frexp(in_scale * 2**27) as (round(q * 2**31), exponent)
             radius = floor(15 * 2**27 / 2**s)                    (CalculateInputRadius(4, s))
    Eval:    d = x_q - in_zp
             d <= -radius -> -128;  d >= radius -> 127;  otherwise
             a = mbqm(d, M, s)                                    (d * in_scale in Q4.27)
             sigmoid: y_q = clamp(rdbpot(logistic_q31(a, 4), 23) - 128, -128, 127)
             tanh:    y_q = clamp(rdbpot(tanh_q31(a, 4), 24), -128, 127)

Softmax (TFLM softmax_common.cc, reference softmax.h; int8 in and out takes gemmlowp's exp path,
not the int16 LUT path):
    Prepare: real = min(beta * in_scale * 2**26, 2**31 - 1) in double (beta is float32 in TFLite)
             (M, L) = QuantizeMultiplierGreaterThanOne(real)      (L >= 1)
             diff_min = -floor(31 * 2**26 / 2**L)                 (CalculateInputRadius(5, L))
    Eval, per row of the last axis:
             d[c] = x[c] - max(x);  kept where d[c] >= diff_min
             e[c] = exp_on_negative_values(srdhm(d[c] * 2**L, M), 5)       (Q0)
             S = sum over kept c of rdbpot(e[c], 12)              (Q12, int32 wrap-around)
             (R, b) = get_reciprocal(S, 12);  E = b + 23
             y[c] = clamp(rdbpot(srdhm(R, e[c]), E) - 128, -128, 127), -128 where not kept
    TFLM aborts when E is outside [0, 31]: E > 31 needs S >= 2**28 (512 or more elements tied
    near the maximum), E < 0 a sum that wrapped (rows of thousands). Here the quotient is then
    the exact rounded value for E > 31, which is 0, and E < 0 counts as 0.

TFLM's kernels write fixed output scales whatever the output tensor says: 1/256 with zero point
-128 for LOGISTIC and SOFTMAX, 1/128 with zero point 0 for TANH. TFLM itself checks all of that
only for SOFTMAX (the zero point alone for LOGISTIC, nothing for TANH; TFLite's own runtime checks
all three), so infer() requires those parameters whenever the output carries quantization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import (
    exp_on_negative_values,
    get_reciprocal,
    logistic_q31,
    mbqm,
    mbqm_greater_than_one,
    rdbpot,
    srdhm,
    srmbpot,
    tanh_q31,
    wrap32,
)
from ..ir import DType, IRError, QuantParams, QuantRule, round_away
from .act import Unary

INPUT_INTEGER_BITS = 4        # Q4.27 input of logistic/tanh
SCALED_DIFF_INTEGER_BITS = 5  # Q5.26 input of softmax's exp
ACCUMULATION_INTEGER_BITS = 12  # Q12.19 sum of softmax's exps


@dataclass(frozen=True)
class ActParams:
    """Prepared Sigmoid/Tanh input rescale: Q4.27 = mbqm(x - zp, multiplier, shift)."""

    zero_point: int
    multiplier: int
    shift: int
    radius: int


@dataclass(frozen=True)
class SoftmaxParams:
    """Prepared Softmax input rescale: Q5.26 = srdhm(diff * 2**left_shift, multiplier)."""

    multiplier: int
    left_shift: int
    diff_min: int


def act_params(q: QuantParams, name: str) -> ActParams:
    """TFLM's int8 logistic/tanh Prepare from the float32 input scale."""
    real = float(np.float32(q.s)) * float(1 << (31 - INPUT_INTEGER_BITS))
    frac, shift = math.frexp(real)
    if shift < 0:
        # TFLM's CalculateInputRadius would shift by a negative amount (undefined in C++).
        raise IRError(f"{name}: input scale {q.s} is below 2**-28, outside TFLM's int8 range")
    multiplier = int(round_away(frac * (1 << 31)))
    radius = ((1 << INPUT_INTEGER_BITS) - 1) * (1 << (31 - INPUT_INTEGER_BITS)) >> shift
    return ActParams(q.zp, multiplier, shift, radius)


def softmax_params(beta: float, q: QuantParams, name: str) -> SoftmaxParams:
    """TFLM's int8 softmax Prepare (PreprocessSoftmaxScaling, CalculateInputRadius)."""
    real = min(float(np.float32(beta)) * float(np.float32(q.s))
               * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))
    if not real > 1.0:
        raise IRError(f"{name}: beta * input scale = {real / (1 << 26):g} is at most 2**-26; "
                      "TFLM's softmax needs a larger product")
    frac, shift = math.frexp(real)
    multiplier = int(round_away(frac * (1 << 31)))
    if multiplier == 1 << 31:
        multiplier //= 2
        shift += 1
    radius = (((1 << SCALED_DIFF_INTEGER_BITS) - 1)
              * (1 << (31 - SCALED_DIFF_INTEGER_BITS))) >> shift
    return SoftmaxParams(multiplier, shift, -radius)


def _require_out_quant(node: Unary, scale: float, zero_point: int) -> None:
    if not node.outputs or node.y.quant is None or node.y.dtype is not DType.s8:
        return
    q = node.y.quant
    if q.per_channel or q.scale[0] != np.float32(scale) or q.zp != zero_point:
        raise IRError(f"{node.name}: int8 {node.kind} output must have scale 1/{round(1 / scale)} "
                      f"and zero point {zero_point} (TFLite's fixed output quantization), got "
                      f"scale {q.scale[0]:g}, zero point {q.zero_point[0]}")


@dataclass(eq=False, kw_only=True, repr=False)
class SmoothActivation(Unary, abstract=True):
    """Shared checks of the three ops: int8 only among the integer types, per-tensor input,
    and the fixed output parameters of TFLite (``fixed_quant``)."""

    quant_rule: ClassVar[QuantRule] = QuantRule.FIXED
    fixed_quant: ClassVar[tuple[float, int]] = (1.0 / 256, -128)
    # Each kernel reads x[i] before it writes y[i] (softmax after the row's max and sum), so the
    # planner may give y the bytes of x.
    inplace: ClassVar[bool] = True

    def infer(self):
        out = super().infer()
        x = self.x
        if x.dtype is DType.s16:
            raise IRError(f"{self.name}: int16 {self.kind} is not implemented (int8 and float only)")
        if x.dtype is DType.s8 and x.quant.per_channel:
            raise IRError(f"{self.name}: {self.kind} needs per-tensor input quantization")
        _require_out_quant(self, *self.fixed_quant)
        return out


@dataclass(eq=False, kw_only=True, repr=False)
class Sigmoid(SmoothActivation):
    """y = 1 / (1 + exp(-x)); int8 as TFLM's LOGISTIC (module docstring), output 1/256, -128."""

    def _float(self, x):
        return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))

    def requant(self) -> ActParams:
        return act_params(self.x.quant, self.name)

    def _int(self, x):
        return sigmoid_s8(x, self.requant())


@dataclass(eq=False, kw_only=True, repr=False)
class Tanh(SmoothActivation):
    """y = tanh(x); int8 as TFLM's TANH (module docstring), output scale 1/128, zero point 0."""

    fixed_quant: ClassVar[tuple[float, int]] = (1.0 / 128, 0)

    def _float(self, x):
        return np.tanh(x)

    def requant(self) -> ActParams:
        return act_params(self.x.quant, self.name)

    def _int(self, x):
        return tanh_s8(x, self.requant())


@dataclass(eq=False, kw_only=True, repr=False)
class Softmax(SmoothActivation):
    """y = exp(beta * x) / sum exp(beta * x) over the last axis; int8 as TFLM's SOFTMAX (module
    docstring), output scale 1/256, zero point -128.

    ``out_dtype=DType.s16`` is TFLM's int8-in, int16-out softmax (keyword_scrambled.tflite): the
    same arithmetic with the final exponent ``b + 31 - 16``, offset -32768 and the int16 clamp;
    TFLM requires the output zero point -32768 and a scale within 0.1 % of 1/65536.
    """

    beta: float = 1.0
    out_dtype: DType | None = None  # None: the input's dtype

    def infer(self):
        ((shape, dtype),) = super().infer()
        if self.out_dtype in (None, dtype):
            return [(shape, dtype)]
        if (dtype, self.out_dtype) != (DType.s8, DType.s16):
            raise IRError(f"{self.name}: softmax from {dtype.value} to {self.out_dtype.value}; "
                          "TFLM's only mixed one is s8 -> s16")
        q = self.outputs[0].quant if self.outputs else None
        if q is not None and (q.per_channel or q.zp != -32768
                              or abs(q.s - 1 / 65536) > 0.001 / 65536):
            raise IRError(f"{self.name}: int16 softmax output must have scale 1/65536 and zero "
                          f"point -32768 (TFLM checks both), got scale {q.scale[0]:g}, zero "
                          f"point {q.zero_point[0]}")
        return [(shape, DType.s16)]

    def _float(self, x):
        z = self.beta * (x.astype(np.float64) - x.max(axis=-1, keepdims=True))
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def requant(self) -> SoftmaxParams:
        return softmax_params(self.beta, self.x.quant, self.name)

    def _int(self, x):
        return softmax_s8(x, self.requant(), self.y.dtype)


def _q4_input(x: np.ndarray, p: ActParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, a): saturation masks and the Q4.27 input of the lanes inside the radius."""
    d = x.astype(np.int64) - p.zero_point
    low = d <= -p.radius
    high = d >= p.radius
    # Lanes outside the radius never reach the multiply in TFLM; zero them so the shift below
    # (which can reach 31 and more when the radius is 0) cannot overflow int64.
    inside = np.where(low | high, 0, d)
    return low, high, mbqm(inside, p.multiplier, min(p.shift, 31))


def sigmoid_s8(x: np.ndarray, p: ActParams) -> np.ndarray:
    """int8 logistic (module docstring) on any shape."""
    low, high, a = _q4_input(x, p)
    y = np.clip(rdbpot(logistic_q31(a, INPUT_INTEGER_BITS), 31 - 8) - 128, -128, 127)
    return np.where(low, -128, np.where(high, 127, y)).astype(np.int8)


def tanh_s8(x: np.ndarray, p: ActParams) -> np.ndarray:
    """int8 tanh (module docstring) on any shape."""
    low, high, a = _q4_input(x, p)
    y = np.clip(rdbpot(tanh_q31(a, INPUT_INTEGER_BITS), 31 - 7), -128, 127)
    return np.where(low, -128, np.where(high, 127, y)).astype(np.int8)


def softmax_s8(x: np.ndarray, p: SoftmaxParams, out: DType = DType.s8) -> np.ndarray:
    """int8 softmax over the last axis (module docstring), vectorised over all rows, to int8 or
    int16 (``out``: the final exponent drops by its bits, the offset is its minimum)."""
    x = x.astype(np.int64)
    diff = x - x.max(axis=-1, keepdims=True)
    kept = diff >= p.diff_min
    scaled = mbqm_greater_than_one(np.where(kept, diff, 0), p.multiplier, p.left_shift)
    exps = exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    terms = np.where(kept, srmbpot(exps, -ACCUMULATION_INTEGER_BITS), 0)
    # int32 addition is associative modulo 2**32, so one wrap of the int64 sum equals C's loop.
    total = wrap32(terms.sum(axis=-1, keepdims=True))
    scale, bits_over_unit = get_reciprocal(total, ACCUMULATION_INTEGER_BITS)
    exponent = np.maximum(bits_over_unit + 31 - out.bits, 0)
    quotient = rdbpot(srdhm(scale, exps), np.minimum(exponent, 31))
    quotient = np.where(exponent > 31, 0, quotient)
    y = np.clip(quotient + out.qmin, out.qmin, out.qmax)
    return np.where(kept, y, out.qmin).astype(out.np)

