"""Smooth activations: Sigmoid (TFLite LOGISTIC), Tanh, Softmax.

Float definitions are the usual ones; the integer definitions are TFLM's and are documented on
each class's integer reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .act import _Unary


@dataclass(eq=False, kw_only=True)
class Sigmoid(_Unary):
    """y = 1 / (1 + exp(-x))."""

    def _float(self, x):
        return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


@dataclass(eq=False, kw_only=True)
class Tanh(_Unary):
    """y = tanh(x)."""

    def _float(self, x):
        return np.tanh(x)


@dataclass(eq=False, kw_only=True)
class Softmax(_Unary):
    """y = exp(beta * x) / sum exp(beta * x) over the last axis."""

    beta: float = 1.0

    def _float(self, x):
        z = self.beta * (x.astype(np.float64) - x.max(axis=-1, keepdims=True))
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
