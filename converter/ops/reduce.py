"""Reductions: Mean over axes (TFLite MEAN); ``axes=(1, 2)`` is a global average pool.

Integer (TFLM's reduce_common.cc: every int8/int16 MEAN, whatever its axes and whether or not
input and output share parameters, goes through reference_ops::QuantizedMeanOrSum):

    n      = number of elements reduced into each output
    M, S   = quantize_multiplier(double(s_x) / double(s_y))
    k      = min(floor(log2 n), 32, 31 + S)            (folds 1/n into the multiplier)
    M'     = (M * 2**k) // n,   S' = S - k             (int64 arithmetic, n > 0)
    acc    = int32(sum of x_q over the axes - zp_x * n)
    y_q    = clamp(mbqm(acc, M', S') + zp_y, qmin, qmax)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import mbqm, quantize_multiplier, wrap32
from ..ir import DType, IRError, Node, QuantRule


def mean_requant(real: float, n: int) -> tuple[int, int]:
    """TFLM's multiplier of a mean of ``n`` elements with requantization ``real``."""
    m, s = quantize_multiplier(real)
    k = min(n.bit_length() - 1, 32, 31 + s)
    return (m << k) // n, s - k


@dataclass(eq=False, kw_only=True, repr=False)
class Mean(Node):
    """Mean over ``axes`` (TFLite MEAN); ``axes=(1, 2)`` is a global average pool."""

    axes: tuple[int, ...] = (1, 2)
    keepdims: bool = True
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN

    def reduced_axes(self) -> tuple[int, ...]:
        nd = len(self.x.shape)
        if not self.axes:
            raise IRError(f"{self.name}: mean over no axes (use Quantize for a requantization)")
        if any(not -nd <= a < nd for a in self.axes):
            raise IRError(f"{self.name}: mean axes {self.axes} out of range for {self.x.shape}")
        axes = tuple(sorted(a % nd for a in self.axes))
        if 0 in axes or len(set(axes)) != len(axes):
            raise IRError(f"{self.name}: mean axes {self.axes} must be distinct and exclude batch")
        return axes

    def infer(self):
        axes = self.reduced_axes()
        x = self.x
        if x.dtype not in (DType.f32, DType.s8, DType.s16):
            raise IRError(f"{self.name}: mean has no {x.dtype.value} implementation")
        if x.dtype is not DType.f32 and (x.quant is None or x.quant.per_channel):
            raise IRError(f"{self.name}: integer mean needs per-tensor quantization parameters")
        if self.keepdims:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [(shape, x.dtype)]

    def count(self) -> int:
        """Elements reduced into each output."""
        return int(np.prod([self.x.shape[a] for a in self.reduced_axes()]))

    def requant(self) -> tuple[int, int]:
        """(M', S') with the 1/n of the mean folded in."""
        yq = self.y.quant
        if yq is None or yq.per_channel:
            raise IRError(f"{self.name}: integer mean needs per-tensor output parameters")
        real = float(np.float32(self.x.quant.s)) / float(np.float32(yq.s))
        return mean_requant(real, self.count())

    def ref(self, xs):
        x = xs[0]
        axes = self.reduced_axes()
        if x.dtype == np.float32:
            return [x.mean(axis=axes, keepdims=self.keepdims).astype(np.float32)]
        m, s = self.requant()
        n = self.count()
        acc = wrap32(x.astype(np.int64).sum(axis=axes, keepdims=self.keepdims)
                     - self.x.quant.zp * n)
        y = mbqm(acc, m, s) + self.y.quant.zp
        return [np.clip(y, self.y.dtype.qmin, self.y.dtype.qmax).astype(self.y.dtype.np)]
