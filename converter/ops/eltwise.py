"""Elementwise binary ops with numpy broadcasting: Add, Sub, Mul, Maximum, Minimum (TFLite ADD,
SUB, MUL, MAXIMUM, MINIMUM).

Float: y = act(a + b), act(a - b), act(a * b), max(a, b), min(a, b).

int8 (TFLM's reference kernels, add_common.cc / sub_common.cc / mul_common.cc):

Add/Sub:  v_i  = (x_i - zp_i) * 2**20                           (left_shift 20 for int8)
          w_i  = mbqm_smaller_than_one(v_i, M_i, S_i)            (i = a, b)
          y_q  = clamp(mbqm_smaller_than_one(w_a +- w_b, M_o, S_o) + zp_y, act_min, act_max)
          with twice = 2 * max(s_a, s_b),  M_i/S_i from s_i / twice,
          M_o/S_o from twice / (2**20 * s_y)
Mul:      y_q  = clamp(mbqm((a - zp_a) * (b - zp_b), M, S) + zp_y, act_min, act_max)
          with M/S from s_a * s_b / s_y.

int16 Add/Sub (16x8): the same formula with left_shift 15 (65535 * 2**15 < 2**31). TFLM's
reference has a second int16 path for power-of-two scales with zero points 0 (a saturating add
or subtract of pre-shifted inputs), but TFLM's ADD and SUB kernels always call the general path,
so that is the only one here; zero points other than 0 are applied as for int8 (TFLM's
non-broadcasting int16 SUB only debug-asserts that they are 0; its release build applies them).

Maximum/Minimum (TFLM's maximum_minimum.cc, int8 and int16): y_q = max(a_q, b_q) / min(a_q, b_q)
of the raw integers, no requantization and no clamp. TFLM's kernel has no Prepare and reads no
quantization parameter, so its answer is the maximum of the real values only when a, b and y
share one scale and zero point (what TFLite's converter writes for these ops); firmforge
requires exactly that, so a file whose parameters differ is refused rather than given an answer
that is either not TFLM's or not the maximum.

Every real multiplier is computed in double from the float32 scales. (TFLM's source has at times
computed SUB's in float32; the tflite-micro package used here works in double, which the TFLM
comparison tests establish on scale sets where the two differ.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import activation_range, mbqm, mbqm_smaller_than_one, quantize_multiplier
from ..ir import Act, DType, IRError, Node, QuantParams, QuantRule

ADD_LEFT_SHIFT = 20  # TFLM's headroom for int8 inputs: 255 * 2**20 < 2**31
ADD_LEFT_SHIFT_S16 = 15  # and for int16 inputs: 65535 * 2**15 < 2**31


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...], where: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise IRError(f"{where}: shapes {a} and {b} do not broadcast") from None


@dataclass(frozen=True)
class AddRequant:
    """Fixed-point parameters of int8 ADD/SUB (shifts are <= 0: right shifts)."""

    left_shift: int
    mult_a: int
    shift_a: int
    mult_b: int
    shift_b: int
    mult_out: int
    shift_out: int


def _smaller_than_one(real: float, where: str) -> tuple[int, int]:
    """TFLM's QuantizeMultiplierSmallerThanOneExp, which aborts outside (0, 1)."""
    if not 0.0 < real < 1.0:
        raise IRError(f"{where}: requantization multiplier {real} is outside (0, 1); TFLM "
                      f"rejects it (output scale too small for the input scales)")
    return quantize_multiplier(real)


def add_requant(a: QuantParams, b: QuantParams, y: QuantParams, where: str,
                left_shift: int = ADD_LEFT_SHIFT) -> AddRequant:
    """ADD/SUB multipliers as TFLM's Prepare derives them, in double from the float32 scales."""
    twice = 2.0 * float(max(np.float32(a.s), np.float32(b.s)))
    ma, sha = _smaller_than_one(float(np.float32(a.s)) / twice, where)
    mb, shb = _smaller_than_one(float(np.float32(b.s)) / twice, where)
    mo, sho = _smaller_than_one(twice / ((1 << left_shift) * float(np.float32(y.s))), where)
    return AddRequant(left_shift, ma, sha, mb, shb, mo, sho)


@dataclass(eq=False, kw_only=True, repr=False)
class Binary(Node, abstract=True):
    """Elementwise with numpy broadcasting; output parameters from its own range."""

    act: Act = Act.NONE
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN

    # Every output element reads only the same-index element of a full-size first input, so
    # the kernel may write over it (the planner shares only when the sizes match).
    inplace: ClassVar[bool] = True
    _dtypes: ClassVar[tuple[DType, ...]] = (DType.f32, DType.s8)

    def infer(self):
        a, b = self.inputs
        if a.dtype is not b.dtype:
            raise IRError(f"{self.name}: {self.kind} of {a.dtype.value} and {b.dtype.value}")
        if a.dtype not in self._dtypes:
            raise IRError(f"{self.name}: {self.kind} has no {a.dtype.value} implementation")
        if a.dtype is not DType.f32 and (a.quant is None or b.quant is None):
            raise IRError(f"{self.name}: integer {self.kind} needs quantization parameters")
        for v in (a, b):
            if v.quant is not None and v.quant.per_channel:
                raise IRError(f"{self.name}: {self.kind} needs per-tensor quantization")
        shape = broadcast_shape(a.shape, b.shape, self.name)
        if len(shape) > 4:
            raise IRError(f"{self.name}: {self.kind} supports up to 4 dimensions, got {shape}")
        # The batch dimension must come from an activation, never from broadcasting a constant.
        for v in (a, b):
            if not v.is_const and len(v.shape) != len(shape):
                raise IRError(f"{self.name}: activation {v.name} {v.shape} must have the "
                              f"output's rank {len(shape)}")
            if v.is_const and len(v.shape) == len(shape) and v.shape[0] != 1:
                raise IRError(f"{self.name}: constant {v.name} {v.shape} spans the batch")
        return [(shape, a.dtype)]

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def _float(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def ref(self, xs):
        a, b = xs
        if a.dtype == np.float32:
            return [self.act.apply_float(self._float(a, b).astype(np.float32))]
        if self.y.quant is None:
            raise IRError(f"{self.name}: integer {self.kind} needs output parameters")
        return [self._int(a, b)]

    def _int(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name}: integer {self.kind}")


@dataclass(eq=False, kw_only=True, repr=False)
class AddSub(Binary, abstract=True):
    _sub: ClassVar[bool] = False

    def requant(self) -> AddRequant:
        a, b = self.inputs
        if a.dtype is DType.s16:
            return add_requant(a.quant, b.quant, self.y.quant, self.name,
                               left_shift=ADD_LEFT_SHIFT_S16)
        # int8 keeps the four-argument call (test_tflm_precision swaps in a four-argument twin).
        return add_requant(a.quant, b.quant, self.y.quant, self.name)

    def _int(self, a, b):
        r = self.requant()
        qa, qb = self.inputs[0].quant, self.inputs[1].quant
        wa = mbqm_smaller_than_one((a.astype(np.int64) - qa.zp) << r.left_shift, r.mult_a,
                                   r.shift_a)
        wb = mbqm_smaller_than_one((b.astype(np.int64) - qb.zp) << r.left_shift, r.mult_b,
                                   r.shift_b)
        raw = wa - wb if self._sub else wa + wb
        y = mbqm_smaller_than_one(raw, r.mult_out, r.shift_out) + self.y.quant.zp
        lo, hi = self.act_range()
        return np.clip(y, lo, hi).astype(self.y.dtype.np)


@dataclass(eq=False, kw_only=True, repr=False)
class Add(AddSub):
    """y = a + b (int8, or int16 for 16x8 models)."""

    _dtypes: ClassVar[tuple[DType, ...]] = (DType.f32, DType.s8, DType.s16)

    def _float(self, a, b):
        return a + b


@dataclass(eq=False, kw_only=True, repr=False)
class Sub(AddSub):
    """y = a - b (int8, or int16 for 16x8 models)."""

    _sub: ClassVar[bool] = True
    _dtypes: ClassVar[tuple[DType, ...]] = (DType.f32, DType.s8, DType.s16)

    def _float(self, a, b):
        return a - b


@dataclass(eq=False, kw_only=True, repr=False)
class Mul(Binary):
    """y = a * b."""

    def requant(self) -> tuple[int, int]:
        a, b = self.inputs
        real = float(np.float32(a.quant.s)) * float(np.float32(b.quant.s)) / float(
            np.float32(self.y.quant.s))
        try:
            return quantize_multiplier(real)
        except ValueError as e:
            raise IRError(f"{self.name}: {e}") from None

    def _float(self, a, b):
        return a * b

    def _int(self, a, b):
        m, s = self.requant()
        qa, qb = self.inputs[0].quant, self.inputs[1].quant
        prod = (a.astype(np.int64) - qa.zp) * (b.astype(np.int64) - qb.zp)
        y = mbqm(prod, m, s) + self.y.quant.zp
        lo, hi = self.act_range()
        return np.clip(y, lo, hi).astype(self.y.dtype.np)


@dataclass(eq=False, kw_only=True, repr=False)
class MinMax(Binary, abstract=True):
    """Elementwise maximum or minimum; integer data is compared raw (module docstring), so
    both inputs and the output share one set of parameters (``QuantRule.JOINED``)."""

    quant_rule: ClassVar[QuantRule] = QuantRule.JOINED
    _dtypes: ClassVar[tuple[DType, ...]] = (DType.f32, DType.s8, DType.s16)
    _pick: ClassVar[np.ufunc]

    def infer(self):
        out = super().infer()
        if self.act is not Act.NONE:
            raise IRError(f"{self.name}: {self.kind} has no fused activation")
        self._check_quant()
        return out

    def _check_quant(self) -> None:
        """Integer inputs and (once known) output must share per-tensor parameters."""
        a, b = self.inputs
        if a.dtype is DType.f32:
            return
        ys = [v for v in self.outputs[:1] if v.quant is not None]
        if any(not v.quant.same_as(a.quant) for v in (b, *ys)):
            got = ", ".join(f"{v.name} ({v.quant.s!r}, {v.quant.zp})" for v in (a, b, *ys))
            raise IRError(f"{self.name}: integer {self.kind} compares raw integers, so its "
                          f"inputs and output need identical quantization; got {got}")

    def prepare(self) -> None:
        self._check_quant()
        super().prepare()

    def _float(self, a, b):
        return self._pick(a, b)

    def _int(self, a, b):
        self._check_quant()
        return self._pick(a, b).astype(self.y.dtype.np)


@dataclass(eq=False, kw_only=True, repr=False)
class Maximum(MinMax):
    """y = max(a, b)."""

    _pick: ClassVar[np.ufunc] = np.maximum


@dataclass(eq=False, kw_only=True, repr=False)
class Minimum(MinMax):
    """y = min(a, b)."""

    _pick: ClassVar[np.ufunc] = np.minimum
