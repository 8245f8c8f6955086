"""Conversions between float and integers, and between two integer quantizations (TFLM's
quantize_common.cc and dequantize.cc).

Quantize   (f32 -> int):  q   = x / s_y                       (float32 division)
                          y_q = clamp(round_half_away(q) + zp_y, qmin, qmax)
                          |q| >= 2**31 is undefined behaviour in TFLM (a float -> int32 cast
                          out of range); firmforge saturates, and NaN gives qmin.
Quantize   (int -> int):  M, S = quantize_multiplier(double(s_x) / double(s_y))
                          y_q = clamp(mbqm(x_q - zp_x, M, S) + zp_y, qmin, qmax)
                          for the pairs TFLM requantizes (s8/s16 -> s8/s16/s32, s32 -> s8/s16).
                          The subtraction and the addition are int32 operations that wrap
                          modulo 2**32 as TFLM's do (reachable with int32 data or int32 zero
                          points; an s32 output is not clamped, its range being int32's).
Dequantize (int -> f32):  y = float32(double(s_x) * (x_q - zp_x)); the double product of a
                          float32 scale and a 9- or 17-bit integer is exact, so one float32
                          multiply gives the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import mbqm, quantize_multiplier, wrap32
from ..ir import DType, IRError, Node, QuantParams, round_away

# Quotients beyond this magnitude saturate every int8/int16 output whatever the zero point, so
# clamping to it first changes no result and keeps the float -> int conversion in range.
QUOTIENT_LIMIT = 1 << 17

# Integer pairs TFLM's QUANTIZE requantizes (input dtype, output dtype).
_REQUANT_PAIRS = {(DType.s8, DType.s8), (DType.s8, DType.s16), (DType.s8, DType.s32),
                  (DType.s16, DType.s8), (DType.s16, DType.s16), (DType.s16, DType.s32),
                  (DType.s32, DType.s8), (DType.s32, DType.s16)}


def quantize_f32(x: np.ndarray, scale: float, zero_point: int, dtype: DType) -> np.ndarray:
    """float32 -> integers as TFLM's AffineQuantize (per-tensor), saturating out of range."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are defined below
        q = np.asarray(x, np.float32) / np.float32(scale)
    q = np.where(np.isnan(q), -QUOTIENT_LIMIT, np.clip(q, -QUOTIENT_LIMIT, QUOTIENT_LIMIT))
    y = round_away(q).astype(np.int64) + zero_point
    return np.clip(y, dtype.qmin, dtype.qmax).astype(dtype.np)


@dataclass(eq=False, kw_only=True, repr=False)
class Quantize(Node):
    """Output dtype and parameters come from the output value itself.

    An integer quantize reads and writes the same element index only, so it may run in place
    when input and output elements have the same size (s8 -> s8, s16 -> s16); the planner
    shares a buffer only when the byte sizes match, so it never shares the other pairs.
    """

    dtype: DType = DType.s8
    inplace: ClassVar[bool] = True

    def infer(self):
        x = self.x
        if x.dtype is not DType.f32:
            if x.quant is None:
                raise IRError(f"{self.name}: integer quantize needs input parameters")
            if (x.dtype, self.dtype) not in _REQUANT_PAIRS:
                raise IRError(f"{self.name}: TFLM has no {x.dtype.value} -> {self.dtype.value} "
                              f"requantization")
        elif self.dtype not in (DType.s8, DType.s16):
            raise IRError(f"{self.name}: quantize from f32 makes s8 or s16, not "
                          f"{self.dtype.value}")
        return [(x.shape, self.dtype)]

    def out_quant(self) -> QuantParams:
        q = self.y.quant
        if q is None:
            raise IRError(f"{self.name}: quantize needs output parameters")
        if q.per_channel:
            raise IRError(f"{self.name}: TFLM's quantize supports per-tensor output only")
        return q

    def requant(self) -> tuple[int, int]:
        """(M, S) of an integer -> integer quantize."""
        xq = self.x.quant
        if xq.per_channel:
            raise IRError(f"{self.name}: requantization needs per-tensor input parameters")
        return quantize_multiplier(float(np.float32(xq.s)) / float(np.float32(self.out_quant().s)))

    def ref(self, xs):
        x = xs[0]
        yq = self.out_quant()
        if x.dtype == np.float32:
            return [quantize_f32(x, yq.s, yq.zp, self.dtype)]
        m, s = self.requant()
        # mbqm wraps its (shifted) argument to int32, which is the wrap of x - zp_x.
        y = wrap32(mbqm(x.astype(np.int64) - self.x.quant.zp, m, s) + yq.zp)
        return [np.clip(y, self.dtype.qmin, self.dtype.qmax).astype(self.dtype.np)]


@dataclass(eq=False, kw_only=True, repr=False)
class Dequantize(Node):
    def infer(self):
        if self.x.quant is None:
            raise IRError(f"{self.name}: dequantize needs input parameters")
        if self.x.dtype not in (DType.s8, DType.s16):
            raise IRError(f"{self.name}: TFLM dequantizes s8 or s16, not {self.x.dtype.value}")
        return [(self.x.shape, DType.f32)]

    def ref(self, xs):
        if self.x.quant.per_channel:
            raise IRError(f"{self.name}: dequantize needs per-tensor parameters")
        return [self.x.quant.dequantize(xs[0])]
