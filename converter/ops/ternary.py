"""Ternary layers: the ternarizer that enters a ternary region, and Dense and Conv2d with
ternary ({-1, 0, +1}) weights on ternary (or binary) inputs, computed with AND / XOR /
popcount.

Values of dtype t2 hold -1, 0 or +1 (int8 arrays in the reference) and carry the parameters
(scale 1, zero point 0): their integers are their values. In memory (the C arena, the planned
reference) a t2 activation of shape (..., C) is stored row by row along its last axis, each
row in W = ceil(C / 32) pairs of little-endian uint32 words, pair i holding values 32i ..
32i + 31 in two bit planes (``bitstream.pack_ternary_rows``):

    word 2i      nonzero plane: bit c % 32 set where value c is not 0
    word 2i + 1  plus plane:    bit c % 32 set where value c is +1
    spare high bits of a row's last pair: 0 in both planes

The two planes of a word pair sit next to each other so a kernel reads each pair with one
pointer; a b1 row (``ops/binary.py``: bit set for +1) is a plus plane whose nonzero plane is
all ones. Ternary weights are stored in the same layout along their last axis
(``encoding.PackedTernaryRows``): Dense (O, K) as O rows of K, Conv2d OHWI as O * KH * KW rows
of C, so a convolution tap's weight pairs line up with an input pixel's pairs.

Ternarize: inputs ``[x (..., C) s8 or f32, t (C, 2) s32 or f32, flip (C,) u1]``, output t2:
    v = +1 if x >= t[c, 1] (hi), else -1 if x < t[c, 0] (lo), else 0;  y = -v if flip[c]
  (+1 is tested first, so thresholds with lo > hi are still defined). ``flip`` turns a channel
  around (a batch-norm of negative scale before the ternarizer). converter.nn's input rule
  sign(x) where |x| >= d, else 0, is lo = the float32 after -d, hi = d. For an int8 x the
  quantizer turns a float threshold t on real values into ceil(t / s_x + zp_x) for both
  (``integer_inputs``; q >= ceil(a) <=> q >= a and q < ceil(a) <=> q < a for an integer q),
  clipped to [-128, 128].

TernaryDense: inputs ``[x (..., K) t2 or b1, w (O, K) t2, t]``; TernaryConv2d: ``[x (N, H,
W, C) t2 or b1, w (O, KH, KW, C) t2, t]`` with stride, dilation and explicit padding, padded
taps holding 0 (they add nothing). Per output (a row of x, an output pixel):
    dot[o] = sum over the taps k of x[k] * w[o, k]
           = popcount(m) - 2 popcount(m & (px ^ pw)),  m = nx & nw   (bits of the planes)
  m marks the taps where both are nonzero; among those the product is -1 exactly where the
  plus bits differ. No multiplication.
  t2 output:  y[o] = +1 if dot >= t[o, 1], else -1 if dot < t[o, 0], else 0    t s32 (O, 2)
  f32 output: y[o] = alpha[o] * dot[o] + t[o]            alpha = w's scales, t the bias (O,)
  s8 output:  acc = t[o] + dot[o],  y_q = clamp(mbqm(acc, M[o], S[o]) + zp_y, act_min, act_max)
              t the int32 bias at scale 1 * alpha[o]; M, S from alpha[o] / s_y as for conv
A batch-norm and ternarizer after a ternary layer fold into t (``passes/fold_ternary.py``),
channels that would flip by negating their weights. The weights carry the per-channel scales
alpha (QuantParams on axis 0); only the f32 and s8 outputs read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..fixed import activation_range
from ..ir import Act, DType, IRError, Node, QuantParams, QuantRule, Value
from .common import Padding, conv_windows, window_out
from .conv import _check_steps, int_requant, requantize_out

T2_QUANT = QuantParams.per_tensor(1.0, 0)
_INPUTS = (DType.t2, DType.b1)


def ternary_nbytes(shape: tuple[int, ...]) -> int:
    """Bytes of a t2 activation of ``shape`` in memory (two planes of 32-bit words a row)."""
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return rows * 8 * ((shape[-1] + 31) // 32 if shape else 1)


def _levels(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """+1 at or above hi, else -1 below lo, else 0 (broadcast along the last axis)."""
    return np.where(x >= hi, 1, np.where(x < lo, -1, 0)).astype(np.int8)


@dataclass(eq=False, kw_only=True, repr=False)
class Ternarize(Node):
    """-1 / 0 / +1 of an int8 or float tensor by two per-channel thresholds (module doc)."""

    quant_rule: ClassVar[QuantRule] = QuantRule.BINARY

    def infer(self):
        x, t, flip = self.inputs
        c = x.shape[-1]
        if t.shape != (c, 2) or flip.shape != (c,) or not (t.is_const and flip.is_const):
            raise IRError(f"{self.name}: ternarize needs constant thresholds ({c}, 2) and "
                          f"flips ({c},), got {t.shape} and {flip.shape}")
        if flip.dtype is not DType.u1:
            raise IRError(f"{self.name}: flips are u1, not {flip.dtype.value}")
        if (x.dtype, t.dtype) not in ((DType.f32, DType.f32), (DType.s8, DType.s32)):
            raise IRError(f"{self.name}: ternarize takes f32 x with f32 thresholds or s8 x with "
                          f"s32 thresholds, not {x.dtype.value} with {t.dtype.value}")
        return [(x.shape, DType.t2)]

    def integer_inputs(self, x: Value) -> list[Value]:
        """The inputs once x is int8 (``x``): both thresholds on x_q (module docstring)."""
        _, t, flip = self.inputs
        s, zp = float(x.quant.s), int(x.quant.zp)
        tq = np.clip(np.ceil(t.data.astype(np.float64) / s + zp), -128, 128).astype(np.int32)
        flips = Value(flip.name, flip.shape, flip.dtype, None, flip.data)
        return [x, Value(f"{t.name}_q", t.shape, DType.s32, None, tq), flips]

    def ref(self, xs):
        x, t, flip = xs
        v = _levels(x, t[:, 0], t[:, 1])
        return [np.where(flip > 0, -v, v).astype(np.int8)]


@dataclass(eq=False, kw_only=True, repr=False)
class _TernaryLayer(Node, abstract=True):
    """What TernaryDense and TernaryConv2d share: the operand checks, outputs from dots."""

    act: Act = Act.NONE
    weight_axis: ClassVar[int] = 0

    @property
    def quant_rule(self) -> QuantRule:  # type: ignore[override]
        """t2 outputs need no parameters; f32 ones become int8 from their observed range."""
        return QuantRule.BINARY if self._ternary_out() else QuantRule.OWN

    def _ternary_out(self) -> bool:
        return bool(self.outputs) and self.outputs[0].dtype is DType.t2

    def _check(self, depth: int) -> DType:
        """The output dtype, after checking the operands."""
        x, w, t = self.inputs
        if x.dtype not in _INPUTS or w.dtype is not DType.t2 or not w.is_const:
            raise IRError(f"{self.name}: {self.kind} needs t2 or b1 input and constant t2 "
                          f"weights, got {x.dtype.value} and {w.dtype.value}")
        if not np.all(np.abs(w.data) <= 1) or not np.all(np.equal(np.mod(w.data, 1), 0)):
            bad = np.unique(w.data[(np.abs(w.data) > 1) | (np.mod(w.data, 1) != 0)])[:5]
            raise IRError(f"{self.name}: weights declared ternary hold {bad.tolist()}, not only "
                          "-1, 0 and +1")
        o = w.shape[0]
        # a new node: f32 bias -> f32 output, s32 (O, 2) thresholds -> t2 (s8 comes from PTQ)
        out = self.outputs[0].dtype if self.outputs else (
            DType.f32 if t.dtype is DType.f32 else DType.t2)
        want = {DType.t2: (DType.s32, (o, 2)), DType.s8: (DType.s32, (o,)),
                DType.f32: (DType.f32, (o,))}
        if out not in want or (t.dtype, t.shape) != want[out] or not t.is_const:
            raise IRError(f"{self.name}: {self.kind} gives t2 (constant s32 thresholds "
                          f"({o}, 2)), s8 (s32 bias ({o},)) or f32 (f32 bias ({o},)), not "
                          f"{out.value} with {t.dtype.value}{list(t.shape)}")
        if out is not DType.t2 and (w.quant is None or w.quant.scale.size != o):
            raise IRError(f"{self.name}: {out.value} output needs the weights' per-channel "
                          "scales (QuantParams on axis 0)")
        if out is DType.t2 and self.act is not Act.NONE:
            raise IRError(f"{self.name}: a t2 output has no fused activation")
        if depth >= 1 << 30:
            raise IRError(f"{self.name}: {depth} taps overflow the int32 dot product")
        return out

    def integer_inputs(self, x: Value) -> list[Value]:
        """The inputs of the t2-output layer once x is quantized: its constants are integers
        already (copies)."""
        return [x, *(Value(v.name, v.shape, v.dtype, v.quant, v.data, v.encoding)
                     for v in self.inputs[1:])]

    def requant(self) -> tuple[np.ndarray, np.ndarray]:
        return int_requant(self)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def prepare(self) -> None:
        if not self._ternary_out():  # t2 outputs compare: no multipliers, no clamp
            super().prepare()

    def _outputs(self, dot: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        out = self.y.dtype
        if out is DType.t2:
            return [_levels(dot, t[:, 0], t[:, 1])]
        if out is DType.f32:
            alpha = self.inputs[1].quant.scale.astype(np.float32)
            y = dot.astype(np.float32) * alpha + t.astype(np.float32)
            return [self.act.apply_float(y.astype(np.float32))]
        return [requantize_out(self, dot + t.astype(np.int64))]


@dataclass(eq=False, kw_only=True, repr=False)
class TernaryDense(_TernaryLayer):
    """Ternary fully connected layer over the last axis (module docstring)."""

    def infer(self):
        x, w, _ = self.inputs
        if len(w.shape) != 2 or x.shape[-1] != w.shape[1]:
            raise IRError(f"{self.name}: input {x.shape} does not match weights {w.shape} (O, K)")
        return [((*x.shape[:-1], w.shape[0]), self._check(w.shape[1]))]

    def macs(self) -> int:
        o, k = self.inputs[1].shape
        return o * k * (self.x.size // k)

    def ref(self, xs):
        x, w, t = xs
        dot = x.astype(np.int64) @ w.astype(np.int64).T
        return self._outputs(dot, t)


@dataclass(eq=False, kw_only=True, repr=False)
class TernaryConv2d(_TernaryLayer):
    """Ternary convolution, NHWC input, OHWI weights, zero padding (module docstring)."""

    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = field(default_factory=Padding)

    def _geometry(self) -> tuple[int, int, int]:
        x, w, _ = self.inputs
        if len(x.shape) != 4 or len(w.shape) != 4 or w.shape[3] != x.shape[3]:
            raise IRError(f"{self.name}: ternary conv needs NHWC input and OHWI weights of its "
                          f"channels, got {x.shape} and {w.shape}")
        _check_steps(self)
        o, kh, kw, _ = w.shape
        p = self.padding
        oh = window_out(x.shape[1], kh, self.stride[0], self.dilation[0], p.top, p.bottom)
        ow = window_out(x.shape[2], kw, self.stride[1], self.dilation[1], p.left, p.right)
        return oh, ow, o

    def infer(self):
        oh, ow, o = self._geometry()
        x, w, _ = self.inputs
        return [((x.shape[0], oh, ow, o), self._check(w.size // o))]

    def macs(self) -> int:
        oh, ow, _ = self._geometry()
        return oh * ow * self.inputs[1].size

    def ref(self, xs):
        x, w, t = xs
        oh, ow, _ = self._geometry()
        _, kh, kw, _ = w.shape
        # taps that only ever read padding hold 0 and add nothing: the live ones suffice
        pt, ky, kx = conv_windows(x.astype(np.int64), (kh, kw), self.stride, self.dilation,
                                  self.padding, (oh, ow), 0)
        wt = w.astype(np.int64)[:, ky][:, :, kx]
        dot = np.tensordot(pt, wt, axes=([3, 4, 5], [1, 2, 3]))
        return self._outputs(dot, t)


TERNARY_OPS = (Ternarize, TernaryDense, TernaryConv2d)
