"""Elementwise binary ops with numpy broadcasting: Add, Sub, Mul (TFLite ADD, SUB, MUL).

Float: y = act(a + b), act(a - b), act(a * b).
The integer definitions are TFLM's and are documented on each class's ``ref``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fixed import activation_range
from ..ir import Act, DType, IRError, Node


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...], where: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise IRError(f"{where}: shapes {a} and {b} do not broadcast") from None


@dataclass(eq=False, kw_only=True)
class _Binary(Node):
    act: Act = Act.NONE

    def infer(self):
        a, b = self.inputs
        if a.dtype is not b.dtype:
            raise IRError(f"{self.name}: {self.kind} of {a.dtype.value} and {b.dtype.value}")
        if a.dtype not in (DType.f32, DType.s8, DType.s16):
            raise IRError(f"{self.name}: {self.kind} has no {a.dtype.value} implementation")
        if a.dtype is not DType.f32 and (a.quant is None or b.quant is None):
            raise IRError(f"{self.name}: integer {self.kind} needs quantization parameters")
        shape = broadcast_shape(a.shape, b.shape, self.name)
        if len(shape) > 4:
            raise IRError(f"{self.name}: {self.kind} supports up to 4 dimensions, got {shape}")
        return [(shape, a.dtype)]

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def _float(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def ref(self, xs):
        a, b = xs
        if a.dtype == np.float32:
            return [self.act.apply_float(self._float(a, b).astype(np.float32))]
        return [self._int(a, b)]

    def _int(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name}: integer {self.kind}")


@dataclass(eq=False, kw_only=True)
class Add(_Binary):
    """y = a + b."""

    def _float(self, a, b):
        return a + b


@dataclass(eq=False, kw_only=True)
class Sub(_Binary):
    """y = a - b."""

    def _float(self, a, b):
        return a - b


@dataclass(eq=False, kw_only=True)
class Mul(_Binary):
    """y = a * b."""

    def _float(self, a, b):
        return a * b
