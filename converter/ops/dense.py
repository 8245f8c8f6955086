"""Dense (fully connected) layer over the last axis; leading dimensions are kept.

Float:  y[..., o] = b[o] + sum_k x[..., k] * w[o, k]
int8 (TFLM's FULLY_CONNECTED, symmetric weights so their zero point is 0):
        acc[o] = b[o] + sum_k (x_q[k] + in_offset) * w_q[o, k]       in_offset = -x_zp
        y_q[o] = clamp(mbqm(acc[o], M[o], S[o]) + y_zp, act_min, act_max)
        with per-tensor or per-channel weight scales (M, S as for convolutions); w_q is int8
        or int4 (s4), the same arithmetic (see conv.py).
16x8 (int16 x and y, int8 weights; TFLM's int16 FULLY_CONNECTED, which does apply the int16
zero points): acc[o] as above, exact in int64, then
        y_q[o] = clamp(mbqm64(acc[o], M[o], S[o]) + y_zp, act_min, act_max)        s64 bias
        y_q[o] = clamp(mbqm(wrap32(acc[o]), M[o], S[o]) + y_zp, act_min, act_max)  s32 bias
        (TFLM accumulates in the bias type, and int32 wraps on overflow; y_zp is added in
        wrapping int32 as TFLM does, which only matters for outputs that saturate anyway)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import activation_range
from ..ir import Act, DType, IRError, Node, QuantRule
from .conv import _check_int_io, int_requant, requantize_out


@dataclass(eq=False, kw_only=True, repr=False)
class Dense(Node):
    """Inputs ``[x (..., K), w (O, K), b (O,)]``; output ``(..., O)``."""

    act: Act = Act.NONE
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN
    weight_axis: ClassVar[int] = 0  # OK: per output feature

    def _dims(self) -> tuple[int, int]:
        x, w, b = self.inputs
        if len(w.shape) != 2 or x.shape[-1] != w.shape[1]:
            raise IRError(f"{self.name}: input {x.shape} does not match weights {w.shape} (O, K)")
        if b.shape != (w.shape[0],):
            raise IRError(f"{self.name}: bias shape {b.shape} != ({w.shape[0]},)")
        return w.shape[0], w.shape[1]

    def infer(self):
        o, k = self._dims()
        x = self.inputs[0]
        if x.dtype is DType.f32:
            return [((*x.shape[:-1], o), DType.f32)]
        if x.dtype in (DType.s8, DType.s16):
            _check_int_io(self, k, offsets16=True)
            return [((*x.shape[:-1], o), x.dtype)]
        raise IRError(f"{self.name}: dense has no {x.dtype.value} implementation")

    def macs(self) -> int:
        o, k = self._dims()
        return o * k * (self.x.size // self.x.shape[-1])

    def requant(self) -> tuple[np.ndarray, np.ndarray]:
        return int_requant(self)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def ref(self, xs):
        x, w, b = xs
        if x.dtype == np.float32:
            return [self.act.apply_float((x @ w.T.astype(np.float32) + b).astype(np.float32))]
        acc = (x.astype(np.int64) - self.x.quant.zp) @ w.T.astype(np.int64) + b.astype(np.int64)
        return [requantize_out(self, acc)]
