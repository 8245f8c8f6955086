"""Synaptic layers of an integer spiking network: the input current of a ``Lif`` layer.

A spiking layer never requantizes its synaptic sum: the sum itself is the current, in units of
the neuron layer's membrane scale ``s[o] = s_x * s_w[o] / 2^shift`` (``snn/quantize.py`` makes
the threshold and the recurrent weights share those units; ``shift`` gives the membrane finer
steps than one weight, so that thresholds and the decay's rounding are fine), so the current
is exact:

    DenseCurrent:   I[..., o]      = b[o] + 2^shift sum_k (x[..., k] - z_x) * w[o, k]
    Conv2dCurrent:  I[n, y, x, o]  = b[o] + 2^shift sum_{ky, kx, i} (x[n, y*sy - pt + ky*dy,
                                            x*sx - pl + kx*dx, i] - z_x) * w[o, ky, kx, i]

with int8 weights, an s32 bias and an s32 current. The input ``x`` is spikes (u1, 0/1, no zero
point) or, for a first layer fed a direct current, int8 with the zero point ``z_x`` (padding
reads the zero point: it adds nothing). ``SPIKE_DEPTH_LIMIT`` keeps the sum inside int32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import DType, IRError, Node, QuantRule
from .conv import Conv2d
from .dense import Dense

MAX_SHIFT = 16


def _check(node: Node, depth: int) -> None:
    x, w, b = node.inputs
    if x.dtype not in (DType.u1, DType.s8):
        raise IRError(f"{node.name}: a synaptic current is summed from u1 spikes or int8 "
                      f"values, not {x.dtype.value}")
    if x.dtype is DType.s8 and x.quant is None:
        raise IRError(f"{node.name}: int8 input {x.name} needs quantization parameters")
    if w.dtype is not DType.s8 or not w.is_const or b.dtype is not DType.s32 or not b.is_const:
        raise IRError(f"{node.name}: a synaptic layer has constant s8 weights and an s32 bias")
    if not 0 <= node.shift <= MAX_SHIFT:
        raise IRError(f"{node.name}: shift {node.shift} is not in [0, {MAX_SHIFT}]")
    span = 1 if x.dtype is DType.u1 else 255
    worst = int(np.abs(w.data.astype(np.int64)).reshape(w.shape[0], -1).sum(axis=1).max()) \
        * span * (1 << node.shift) + int(np.abs(b.data.astype(np.int64)).max(initial=0))
    if worst >= 1 << 31:
        raise IRError(f"{node.name}: the current could reach {worst}, beyond int32 (fewer "
                      "inputs, smaller weights or a smaller shift)")


def _zero_point(node: Node) -> int:
    x = node.inputs[0]
    return 0 if x.dtype is DType.u1 else int(np.asarray(x.quant.zp).reshape(-1)[0])


@dataclass(eq=False, kw_only=True, repr=False)
class DenseCurrent(Dense):
    """Inputs ``[x (..., K) u1 or s8, w (O, K) s8, b (O,) s32]``; output the s32 current.
    ``events``: on spike input, the C kernel is event-driven (only the weight rows of inputs
    that spiked are read); False scans every weight (the same sums; for comparison)."""

    events: bool = True
    shift: int = 0
    quant_rule: ClassVar[QuantRule] = QuantRule.NONE

    def infer(self):
        o, k = self._dims()
        _check(self, k)
        return [((*self.x.shape[:-1], o), DType.s32)]

    def ref(self, xs):
        x, w, b = xs
        acc = (x.astype(np.int64) - _zero_point(self)) @ w.T.astype(np.int64)
        return [(acc * (1 << self.shift) + b.astype(np.int64)).astype(np.int32)]


@dataclass(eq=False, kw_only=True, repr=False)
class Conv2dCurrent(Conv2d):
    """Inputs ``[x (N, H, W, C) u1 or s8, w (O, KH, KW, C) s8, b (O,) s32]``; output the s32
    current (N, OH, OW, O). One group."""

    shift: int = 0
    quant_rule: ClassVar[QuantRule] = QuantRule.NONE

    def infer(self):
        oh, ow, o, depth = self._geometry()
        if self.groups != 1:
            raise IRError(f"{self.name}: a synaptic convolution has one group")
        _check(self, depth)
        return [((self.x.shape[0], oh, ow, o), DType.s32)]

    def ref(self, xs):
        x, w, b = xs
        zp = _zero_point(self)
        patches, wt = self._patches(x, w.astype(np.int64), zp)
        acc = self._grouped_dot(patches.astype(np.int64) - zp, wt)
        return [(acc * (1 << self.shift) + b.astype(np.int64)).astype(np.int32)]
