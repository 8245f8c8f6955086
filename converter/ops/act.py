"""Piecewise activations that stand as their own op (when they cannot be fused into a producer's
clamp): Relu, Relu6, LeakyRelu, HardSwish. ``Unary`` is shared with ``nonlinear.py``.

Float definitions are the usual ones; the integer definitions are TFLM's (activations.cc,
leaky_relu_common.cc, hard_swish.h) and are documented on each class. Real multipliers are
computed in double from the float32 scales (``QuantParams.s`` is the float32 value widened), as
the tflite-micro package does; the TFLM comparison tests check that on scale sets where float32
would differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import (
    downscale_multiplier16,
    mbqm,
    quantize_multiplier,
    quantize_scalar,
    rdbpot16,
    saturating_left_shift16,
    sdhm16,
    srdhm16,
    wrap32,
)
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


@dataclass(frozen=True)
class HardSwishRequant:
    """TFLM's HardSwishParams: Q15 int16 multipliers and their power-of-two exponents."""

    out_mult: int  # s_x / (128 s_y)
    out_exp: int  # <= 0 (TFLM's Prepare refuses more)
    relu_mult: int  # (s_x / 128) / (3 / 32768): the input on a scale where 3.0 is 2**15
    relu_exp: int


@dataclass(eq=False, kw_only=True, repr=False)
class HardSwish(IntActivation):
    """y = x * relu6(x + 3) / 6.

    Integer (TFLM's reference HardSwish, int8 only), all values int16. Prepare: h = s_x / 128
    (the "hires" input scale, exact in float32), then
        M_o, E_o = quantize_multiplier(h / s_y),                 E_o <= 0 or refused
        M_r, E_r = quantize_multiplier(h / (3 / 32768))
    with both multipliers rounded to Q15 (downscale_multiplier16). The quotients are double, as
    the tflite-micro package forms them (TFLM's source at hand divides in float32 and widens the
    result; the package is the judge, and test_tflm_hard_swish establishes the output
    multiplier on scale pairs where the two differ; for the relu multiplier, a division by
    3 * 2**-15, the two give the same Q15 value). Per element:
        v   = (x_q - zp_x) * 128                   the input on the hires scale
        o   = srdhm16(v, M_o)                      ... on the output scale, before the shift
        r   = v;  E_r > 0: r = sat_shl16(r, E_r - 1)
        r   = srdhm16(r, M_r);  E_r > 0: r = sat_shl16(r, 1);  E_r < 0: r = rdbpot16(r, -E_r)
        r   = (r + 2**15) >> 1                     relu6(x + 3) / 6 as Q15 in [0, 1]
        y_q = clamp(rdbpot16(sdhm16(r, o), -E_o) + zp_y, -128, 127)
    (sdhm16 truncates where srdhm16 rounds: TFLM's choice, which cancels the bias of the
    rounding steps before it.) The sum before the clamp stays inside int16 for int8 data:
    |sdhm16(r, o)| <= 32640 and |zp_y| <= 128.
    """

    quant_rule: ClassVar[QuantRule] = QuantRule.OWN

    def infer(self):
        if self.x.dtype is DType.s16:
            raise IRError(f"{self.name}: hard_swish has no s16 implementation (TFLM has "
                          "float32 and int8 only)")
        return super().infer()

    def requant(self) -> HardSwishRequant:
        sx, _, sy, _ = self._io()
        hires = sx / 128.0
        mo, eo = quantize_multiplier(hires / sy)
        if eo > 0:
            raise IRError(f"{self.name}: hard_swish output scale {sy!r} is not above 1/128 of "
                          f"the input scale {sx!r}; TFLM's Prepare rejects it")
        mr, er = quantize_multiplier(hires / (3.0 / 32768.0))
        return HardSwishRequant(downscale_multiplier16(mo), eo, downscale_multiplier16(mr), er)

    def _float(self, x):
        return x * np.clip(x + np.float32(3), 0, 6) / np.float32(6)

    def _int(self, x):
        _, zx, _, zy = self._io()
        r = self.requant()
        v = (x.astype(np.int64) - zx) * 128
        o = srdhm16(v, r.out_mult)
        relu = v
        if r.relu_exp > 0:
            relu = saturating_left_shift16(relu, r.relu_exp - 1)
        relu = srdhm16(relu, r.relu_mult)
        if r.relu_exp > 0:
            relu = saturating_left_shift16(relu, 1)
        if r.relu_exp < 0:
            relu = rdbpot16(relu, -r.relu_exp)
        relu = (relu + (1 << 15)) >> 1
        y = rdbpot16(sdhm16(relu, o), -r.out_exp) + zy
        return np.clip(y, -128, 127).astype(np.int8)
