"""Piecewise-linear activations that stand as their own op (when they cannot be fused into a
producer's clamp): Relu, Relu6, LeakyRelu. ``_Unary`` is shared with ``nonlinear.py``.

Float definitions are the usual ones; the integer definitions are TFLM's and are documented on
each class's integer reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, IRError, Node


@dataclass(eq=False, kw_only=True)
class _Unary(Node):
    """Shape-preserving op on one tensor."""

    def infer(self):
        x = self.x
        if x.dtype not in (DType.f32, DType.s8, DType.s16):
            raise IRError(f"{self.name}: {self.kind} has no {x.dtype.value} implementation")
        if x.dtype is not DType.f32 and x.quant is None:
            raise IRError(f"{self.name}: integer {self.kind} needs quantization parameters")
        return [(x.shape, x.dtype)]

    def ref(self, xs):
        x = xs[0]
        if x.dtype == np.float32:
            return [self._float(x).astype(np.float32)]
        return [self._int(x)]

    def _float(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _int(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name}: integer {self.kind}")


@dataclass(eq=False, kw_only=True)
class Relu(_Unary):
    """y = max(x, 0)."""

    def _float(self, x):
        return np.maximum(x, 0)


@dataclass(eq=False, kw_only=True)
class Relu6(_Unary):
    """y = min(max(x, 0), 6)."""

    def _float(self, x):
        return np.clip(x, 0, 6)


@dataclass(eq=False, kw_only=True)
class LeakyRelu(_Unary):
    """y = x if x >= 0 else alpha * x."""

    alpha: float = 0.01

    def _float(self, x):
        return np.where(x >= 0, x, np.float32(self.alpha) * x)
