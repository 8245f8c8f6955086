"""Reductions: Mean over axes (TFLite MEAN); ``axes=(1, 2)`` is a global average pool.

The integer definition is TFLM's and is documented on the integer reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, IRError, Node


@dataclass(eq=False, kw_only=True)
class Mean(Node):
    """Mean over ``axes`` (TFLite MEAN); ``axes=(1, 2)`` is a global average pool."""

    axes: tuple[int, ...] = (1, 2)
    keepdims: bool = True

    def _axes(self) -> tuple[int, ...]:
        nd = len(self.x.shape)
        axes = tuple(sorted(a % nd for a in self.axes))
        if 0 in axes or len(set(axes)) != len(axes):
            raise IRError(f"{self.name}: mean axes {self.axes} must be distinct and exclude batch")
        return axes

    def infer(self):
        axes = self._axes()
        x = self.x
        if self.keepdims:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        if x.dtype is not DType.f32 and x.quant is None:
            raise IRError(f"{self.name}: integer mean needs quantization parameters")
        return [(shape, x.dtype)]

    def ref(self, xs):
        x = xs[0]
        if x.dtype == np.float32:
            return [x.mean(axis=self._axes(), keepdims=self.keepdims).astype(np.float32)]
        raise NotImplementedError(f"{self.name}: integer mean")
