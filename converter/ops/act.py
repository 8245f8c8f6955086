"""Piecewise-linear activations that stand as their own op (when they cannot be fused into a
producer's clamp): Relu, Relu6, LeakyRelu. ``Unary`` is shared with ``nonlinear.py``.

Float definitions are the usual ones; the integer definitions are TFLM's (activations.cc,
leaky_relu_common.cc) and are documented on each class. Real multipliers are computed in double
from the float32 scales (``QuantParams.s`` is the float32 value widened), as the tflite-micro
package does; the TFLM comparison tests check that on scale sets where float32 would differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import mbqm, quantize_multiplier, quantize_scalar, wrap32
from ..ir import DType, IRError, Node, QuantRule


@dataclass(eq=False, kw_only=True, repr=False)
class Unary(Node, abstract=True):
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


@dataclass(eq=False, kw_only=True, repr=False)
class IntActivation(Unary, abstract=True):
    """Integer activation with per-tensor input and output parameters; safe to run in place
    (each output element depends only on the same input element)."""

    inplace: ClassVar[bool] = True
    # Whether TFLM's int16 kernel applies zero points (else they must be 0).
    s16_zero_points: ClassVar[bool] = False

    def _io(self) -> tuple[float, int, float, int]:
        """(s_x, zp_x, s_y, zp_y), checked."""
        xq, yq = self.x.quant, self.y.quant
        if yq is None:
            raise IRError(f"{self.name}: integer {self.kind} needs output parameters")
        if xq.per_channel or yq.per_channel:
            raise IRError(f"{self.name}: {self.kind} needs per-tensor quantization")
        if self.x.dtype is DType.s16 and not self.s16_zero_points and (xq.zp != 0 or yq.zp != 0):
            raise IRError(f"{self.name}: int16 {self.kind} needs zero points of 0 (as TFLM)")
        return xq.s, xq.zp, yq.s, yq.zp


@dataclass(eq=False, kw_only=True, repr=False)
class Relu(IntActivation):
    """y = max(x, 0).

    Integer (TFLM's ReluQuantized): M, S = quantize_multiplier(double(s_x) / double(s_y));
        y_q = clamp(zp_y + mbqm(x_q - zp_x, M, S), max(qmin, zp_y), qmax)
    """

    quant_rule: ClassVar[QuantRule] = QuantRule.OWN

    def requant(self) -> tuple[int, int]:
        sx, _, sy, _ = self._io()
        return quantize_multiplier(sx / sy)

    def act_range(self) -> tuple[int, int]:
        _, _, _, zy = self._io()
        return max(self.y.dtype.qmin, zy), self.y.dtype.qmax

    def _float(self, x):
        return np.maximum(x, 0)

    def _int(self, x):
        _, zx, _, zy = self._io()
        m, s = self.requant()
        lo, hi = self.act_range()
        y = zy + mbqm(x.astype(np.int64) - zx, m, s)
        return np.clip(y, lo, hi).astype(self.y.dtype.np)


@dataclass(eq=False, kw_only=True, repr=False)
class Relu6(IntActivation):
    """y = min(max(x, 0), 6).

    Integer (TFLM's Relu6Quantized): no requantization at all; the input bytes are clamped to
        [zp_x, clamp(zp_x + round(6 / s_x))]
    TFLM ignores the output's parameters, which is only right when they equal the input's, so
    firmforge requires that (IRError otherwise) rather than give a wrong or a non-TFLM answer.
    """

    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED

    def act_range(self) -> tuple[int, int]:
        sx, zx, sy, zy = self._io()
        if not self.x.quant.same_as(self.y.quant):
            raise IRError(f"{self.name}: int relu6 needs the output's quantization to equal the "
                          f"input's (TFLM clamps the input bytes), got s {sx}/{sy} zp {zx}/{zy}")
        d = self.x.dtype
        return zx, min(max(quantize_scalar(sx, zx, 6.0), d.qmin), d.qmax)

    def _float(self, x):
        return np.clip(x, 0, 6)

    def _int(self, x):
        lo, hi = self.act_range()
        return np.clip(x, lo, hi).astype(self.y.dtype.np)


@dataclass(eq=False, kw_only=True, repr=False)
class LeakyRelu(IntActivation):
    """y = x if x > 0 else alpha * x.

    Integer (TFLM's QuantizeLeakyRelu), with d = x_q - zp_x:
        M_id, S_id = quantize_multiplier(double(s_x) / double(s_y))
        M_a,  S_a  = quantize_multiplier(|double(s_x) * double(alpha) / double(s_y)|)
        y_q = clamp(zp_y + (d >= 0 ? mbqm(d, M_id, S_id) : sign(alpha) * mbqm(d, M_a, S_a)))
    over the full range of the dtype (alpha < 0 works as TFLM does it: the magnitude is
    multiplied and the sign applied afterwards). The addition of zp_y wraps modulo 2**32 as
    TFLM's int32 one does (reachable only with scale ratios beyond 2**15). int16 is the same
    formula: TFLM's int16 LEAKY_RELU applies both zero points.
    """

    alpha: float = 0.01
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN
    s16_zero_points: ClassVar[bool] = True

    def requant(self) -> tuple[int, int, int, int, bool]:
        """(M_id, S_id, M_alpha, S_alpha, alpha_negative)."""
        sx, _, sy, _ = self._io()
        mi, si = quantize_multiplier(sx / sy)
        # alpha is a float32 in the flatbuffer; TFLM widens it like the scales.
        real_alpha = sx * float(np.float32(self.alpha)) / sy
        ma, sa = quantize_multiplier(abs(real_alpha))
        return mi, si, ma, sa, real_alpha < 0

    def _float(self, x):
        return np.where(x > 0, x, np.float32(self.alpha) * x)

    def _int(self, x):
        _, zx, _, zy = self._io()
        mi, si, ma, sa, neg = self.requant()
        d = x.astype(np.int64) - zx
        scaled_alpha = mbqm(d, ma, sa)
        y = wrap32(zy + np.where(d >= 0, mbqm(d, mi, si), -scaled_alpha if neg else scaled_alpha))
        return np.clip(y, self.y.dtype.qmin, self.y.dtype.qmax).astype(self.y.dtype.np)
