"""Pooling (NHWC): AvgPool2d, MaxPool2d over windows (Mean, the global pool, is in reduce.py).

Windows never read padding: TFLite's pools count and compare only the input elements a window
covers (so an average near the border divides by fewer elements).

AvgPool int8 (TFLM): s = sum of covered x_q; n = their count;
                     y_q = clamp(s > 0 ? (s + n/2) / n : (s - n/2) / n, act_min, act_max)
                     with C's truncating division; input and output share quantization.
MaxPool int8:        y_q = clamp(max of covered x_q, act_min, act_max).
MaxPool b1:          y = max of the covered +-1 values (the OR of their bits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..fixed import activation_range
from ..ir import Act, DType, IRError, Node, QuantRule
from .common import Padding, window_out


@dataclass(eq=False, kw_only=True, repr=False)
class Pool2d(Node, abstract=True):
    """A window reduction; integer pools never requantize, so the output shares the input's
    parameters."""

    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: Padding = field(default_factory=Padding)
    act: Act = Act.NONE

    def _out_hw(self) -> tuple[int, int]:
        x = self.x
        if len(x.shape) != 4:
            raise IRError(f"{self.name}: {self.kind} needs a 4-D NHWC input, got {x.shape}")
        if len(self.kernel) != 2 or len(self.stride) != 2 or min(*self.kernel, *self.stride) < 1:
            raise IRError(f"{self.name}: kernel {self.kernel} and stride {self.stride} must be "
                          "pairs of positive integers")
        p = self.padding
        if max(p.top, p.bottom) >= self.kernel[0] or max(p.left, p.right) >= self.kernel[1]:
            raise IRError(f"{self.name}: padding {p} must be smaller than the window {self.kernel}")
        oh = window_out(x.shape[1], self.kernel[0], self.stride[0], 1, p.top, p.bottom)
        ow = window_out(x.shape[2], self.kernel[1], self.stride[1], 1, p.left, p.right)
        return oh, ow

    def infer(self):
        oh, ow = self._out_hw()
        x = self.x
        binary = x.dtype is DType.b1 and isinstance(self, MaxPool2d)  # max of +-1: an OR
        # a spiking layer's s32 synaptic current (ops/synapse.py), its scale per channel: the
        # maximum of a channel's values is the same at any positive scale
        current = x.dtype is DType.s32 and isinstance(self, MaxPool2d) and self.act is Act.NONE
        if x.dtype not in (DType.f32, DType.s8, DType.s16) and not (binary or current):
            raise IRError(f"{self.name}: {self.kind} has no {x.dtype.value} implementation")
        if x.dtype not in (DType.f32, DType.s32):
            if x.quant is None:
                raise IRError(f"{self.name}: integer {self.kind} needs quantization parameters")
            y = self.outputs[0].quant if self.outputs else None
            # TFLM requires equal parameters (scales within 1e-6): the kernel never requantizes.
            if y is not None and (abs(y.s - x.quant.s) > 1e-6 or y.zp != x.quant.zp):
                raise IRError(f"{self.name}: integer {self.kind} output parameters must equal the "
                              f"input's (scale {x.quant.s}, zero point {x.quant.zp})")
        return [((x.shape[0], oh, ow, x.shape[3]), x.dtype)]

    def act_range(self) -> tuple[int, int]:
        if self.y.dtype is DType.s32:
            return self.y.dtype.qmin, self.y.dtype.qmax
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def _reduce_windows(self, x: np.ndarray, reduce):
        """Apply ``reduce(window [N, k, C]) -> [N, C]`` to the covered part of every window."""
        oh, ow = self._out_hw()
        n, h, w, c = x.shape
        out = []
        for oy in range(oh):
            y0 = oy * self.stride[0] - self.padding.top
            ys = slice(max(y0, 0), min(y0 + self.kernel[0], h))
            row = []
            for ox in range(ow):
                x0 = ox * self.stride[1] - self.padding.left
                xs = slice(max(x0, 0), min(x0 + self.kernel[1], w))
                win = x[:, ys, xs, :].reshape(n, -1, c)
                row.append(reduce(win))
            out.append(np.stack(row, axis=1))
        return np.stack(out, axis=1)


@dataclass(eq=False, kw_only=True, repr=False)
class AvgPool2d(Pool2d):
    """Average over each window's covered elements."""

    def ref(self, xs):
        x = xs[0]
        if x.dtype == np.float32:
            return [self.act.apply_float(self._reduce_windows(x, lambda v: v.mean(axis=1))
                                         .astype(np.float32))]
        def avg(v):
            s = v.astype(np.int64).sum(axis=1)
            n = v.shape[1]
            num = np.where(s > 0, s + n // 2, s - n // 2)
            return np.sign(num) * (np.abs(num) // n)  # C division truncates toward zero
        lo, hi = self.act_range()
        return [np.clip(self._reduce_windows(x, avg), lo, hi).astype(x.dtype)]


@dataclass(eq=False, kw_only=True, repr=False)
class MaxPool2d(Pool2d):
    """Maximum over each window's covered elements."""

    def ref(self, xs):
        x = xs[0]
        y = self._reduce_windows(x, lambda v: v.max(axis=1))
        if x.dtype == np.float32:
            return [self.act.apply_float(y)]
        lo, hi = self.act_range()
        return [np.clip(y, lo, hi).astype(x.dtype)]
