"""Conversions between float and integers, and between two integer quantizations.

Quantize   (f32 -> int):  y_q = clamp(round_half_away(x / s_y) + z_y)          (TFLite QUANTIZE)
Quantize   (int -> int):  requantization, TFLM's definition on the integer reference
Dequantize (int -> f32):  y = s_x * (x_q - z_x)                                  (TFLite DEQUANTIZE)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, IRError, Node


@dataclass(eq=False, kw_only=True)
class Quantize(Node):
    """Output dtype and parameters come from the output value itself."""

    dtype: DType = DType.s8

    def infer(self):
        return [(self.x.shape, self.dtype)]

    def ref(self, xs):
        x = xs[0]
        if self.y.quant is None:
            raise IRError(f"{self.name}: quantize needs output parameters")
        if x.dtype == np.float32:
            return [self.y.quant.quantize(x, self.dtype)]
        return [self._requantize(x)]

    def _requantize(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name}: integer requantize")


@dataclass(eq=False, kw_only=True)
class Dequantize(Node):
    def infer(self):
        if self.x.quant is None:
            raise IRError(f"{self.name}: dequantize needs input parameters")
        return [(self.x.shape, DType.f32)]

    def ref(self, xs):
        return [self.x.quant.dequantize(xs[0])]
