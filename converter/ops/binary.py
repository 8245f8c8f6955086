"""Binary layers: the sign that enters a binary region, and XNOR-popcount Dense and Conv2d.

Values of dtype b1 hold -1 or +1 (int8 arrays in the reference). In memory (the C arena, the
planned reference) a b1 activation of shape (..., C) is stored row by row along its last axis,
each row in W = ceil(C / 32) little-endian uint32 words: value c in bit c % 32 of word c // 32,
set for +1, the spare high bits of a row's last word 0 (``pack_rows`` / ``unpack_rows``). A b1
activation carries the parameters (scale 1, zero point 0): its integers are its values.

Binarize: inputs ``[x (..., C) s8 or f32, t (C,) s32 or f32, flip (C,) u1]``, output b1:
    y = +1 if (x >= t[c]) != flip[c] else -1
  ``flip`` turns a channel's comparison around (a batch-norm of negative scale before the
  sign: +1 iff x < t). For an int8 x the thresholds are integers on x_q; the quantizer turns a
  float threshold t on real values into ceil(t / s_x + zp_x) (``integer_inputs``), clipped to
  [-128, 128] (-128: always, 128: never, before the flip).

BinaryDense: inputs ``[x (..., K) b1, w (O, K) b1, t (O,)]``; BinaryConv2d: ``[x (N, H, W, C)
b1, w (O, KH, KW, C) b1, t (O,)]`` with stride, dilation, explicit padding and ``pad_value``,
the value a tap in the padding holds: -1 or +1, or 0 (the tap contributes nothing; Larq's
``pad_values`` are 0 and 1). Per output (a row of x, an output pixel):
    dot[o] = sum over the taps k of x[k] * w[o, k]
           = K' - 2 popcount(x xor w)      (bits; K' the taps that hold +-1)
  b1 output:  y[o] = +1 if dot[o] >= t[o] else -1          t s32
  f32 output: y[o] = alpha[o] * dot[o] + t[o]              alpha = w's scales, t the bias
  s8 output:  acc = t[o] + dot[o],  y_q = clamp(mbqm(acc, M[o], S[o]) + zp_y, act_min, act_max)
              t the int32 bias at scale 1 * alpha[o]; M, S from alpha[o] / s_y as for conv
A batch-norm and sign after a binary layer fold into t (``converter/passes/fold_binary.py``);
a channel whose sign would flip is folded by negating its weights, so every b1-output channel
compares upward. The weights carry the per-channel scales alpha (QuantParams on axis 0) from
the float graph on; only the f32 and s8 outputs read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..bitstream import WORD, pack_rows, row_words, unpack_rows  # noqa: F401 (re-exported)
from ..fixed import activation_range
from ..ir import Act, DType, IRError, Node, QuantParams, QuantRule, Value
from .common import Padding, conv_windows, window_out
from .conv import _check_steps, int_requant, requantize_out

B1_QUANT = QuantParams.per_tensor(1.0, 0)


def packed_nbytes(shape: tuple[int, ...]) -> int:
    """Bytes of a b1 activation of ``shape`` in memory."""
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return rows * row_words(shape[-1] if shape else 1) * 4


def _signs(v: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(v) > 0, 1, -1).astype(np.int8)


@dataclass(eq=False, kw_only=True, repr=False)
class Binarize(Node):
    """The sign of an int8 or float tensor against per-channel thresholds (module docstring)."""

    quant_rule: ClassVar[QuantRule] = QuantRule.BINARY

    def infer(self):
        x, t, flip = self.inputs
        c = x.shape[-1]
        if t.shape != (c,) or flip.shape != (c,) or not (t.is_const and flip.is_const):
            raise IRError(f"{self.name}: binarize needs constant thresholds and flips of shape "
                          f"({c},), got {t.shape} and {flip.shape}")
        if flip.dtype is not DType.u1:
            raise IRError(f"{self.name}: flips are u1, not {flip.dtype.value}")
        if (x.dtype, t.dtype) not in ((DType.f32, DType.f32), (DType.s8, DType.s32)):
            raise IRError(f"{self.name}: binarize takes f32 x with f32 thresholds or s8 x with "
                          f"s32 thresholds, not {x.dtype.value} with {t.dtype.value}")
        return [(x.shape, DType.b1)]

    def integer_inputs(self, x: Value) -> list[Value]:
        """The inputs once x is int8 (``x``): thresholds on x_q (module docstring)."""
        _, t, flip = self.inputs
        s, zp = float(x.quant.s), int(x.quant.zp)
        tq = np.clip(np.ceil(t.data.astype(np.float64) / s + zp), -128, 128).astype(np.int32)
        flips = Value(flip.name, flip.shape, flip.dtype, None, flip.data)
        return [x, Value(f"{t.name}_q", t.shape, DType.s32, None, tq), flips]

    def ref(self, xs):
        x, t, flip = xs
        up = x >= t
        return [np.where(up != (flip > 0), 1, -1).astype(np.int8)]


@dataclass(eq=False, kw_only=True, repr=False)
class _BinaryLayer(Node, abstract=True):
    """What BinaryDense and BinaryConv2d share: the outputs from dot products."""

    act: Act = Act.NONE
    weight_axis: ClassVar[int] = 0

    @property
    def quant_rule(self) -> QuantRule:  # type: ignore[override]
        """b1 outputs need no parameters; f32 ones become int8 from their observed range."""
        return QuantRule.BINARY if self._binary_out() else QuantRule.OWN

    def _binary_out(self) -> bool:
        return bool(self.outputs) and self.outputs[0].dtype is DType.b1

    def _check(self, depth: int) -> DType:
        """The output dtype, after checking the operands."""
        x, w, t = self.inputs
        if x.dtype is not DType.b1 or w.dtype is not DType.b1 or not w.is_const:
            raise IRError(f"{self.name}: {self.kind} needs b1 input and constant b1 weights, "
                          f"got {x.dtype.value} and {w.dtype.value}")
        if not np.all(np.abs(w.data) == 1):
            bad = np.unique(w.data[np.abs(w.data) != 1])[:5]
            raise IRError(f"{self.name}: weights declared binary hold {bad.tolist()}, not only "
                          "-1 and +1")
        if t.shape != (w.shape[0],) or not t.is_const:
            raise IRError(f"{self.name}: thresholds or bias must be constant of shape "
                          f"({w.shape[0]},), got {t.shape}")
        # a new node: f32 bias -> f32 output, s32 thresholds -> b1 (s8 ones come from PTQ)
        out = self.outputs[0].dtype if self.outputs else (
            DType.f32 if t.dtype is DType.f32 else DType.b1)
        want = {DType.b1: DType.s32, DType.s8: DType.s32, DType.f32: DType.f32}
        if out not in want or t.dtype is not want[out]:
            raise IRError(f"{self.name}: {self.kind} gives b1 (s32 thresholds), s8 (s32 bias) or "
                          f"f32 (f32 bias), not {out.value} with {t.dtype.value}")
        if out is not DType.b1 and (w.quant is None or w.quant.scale.size != w.shape[0]):
            raise IRError(f"{self.name}: {out.value} output needs the weights' per-channel "
                          "scales (QuantParams on axis 0)")
        if out is DType.b1 and self.act is not Act.NONE:
            raise IRError(f"{self.name}: a b1 output has no fused activation")
        if depth >= 1 << 30:
            raise IRError(f"{self.name}: {depth} taps overflow the int32 dot product")
        return out

    def integer_inputs(self, x: Value) -> list[Value]:
        """The inputs of the b1-output layer once x is quantized: its constants are integers
        already (copies)."""
        return [x, *(Value(v.name, v.shape, v.dtype, v.quant, v.data, v.encoding)
                     for v in self.inputs[1:])]

    def requant(self) -> tuple[np.ndarray, np.ndarray]:
        return int_requant(self)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def _outputs(self, dot: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        out = self.y.dtype
        if out is DType.b1:
            return [np.where(dot >= t, 1, -1).astype(np.int8)]
        if out is DType.f32:
            alpha = self.inputs[1].quant.scale.astype(np.float32)
            y = dot.astype(np.float32) * alpha + t.astype(np.float32)
            return [self.act.apply_float(y.astype(np.float32))]
        return [requantize_out(self, dot + t.astype(np.int64))]


@dataclass(eq=False, kw_only=True, repr=False)
class BinaryDense(_BinaryLayer):
    """XNOR-popcount fully connected layer over the last axis (module docstring)."""

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
        dot = _signs(x).astype(np.int64) @ _signs(w).astype(np.int64).T
        return self._outputs(dot, t)


@dataclass(eq=False, kw_only=True, repr=False)
class BinaryConv2d(_BinaryLayer):
    """XNOR-popcount convolution, NHWC input, OHWI weights (module docstring)."""

    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = field(default_factory=Padding)
    pad_value: int = 0

    def _geometry(self) -> tuple[int, int, int]:
        x, w, _ = self.inputs
        if len(x.shape) != 4 or len(w.shape) != 4 or w.shape[3] != x.shape[3]:
            raise IRError(f"{self.name}: binary conv needs NHWC input and OHWI weights of its "
                          f"channels, got {x.shape} and {w.shape}")
        if self.pad_value not in (-1, 0, 1):
            raise IRError(f"{self.name}: pad_value is -1, 0 or +1, not {self.pad_value!r}")
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
        pt, ky, kx = conv_windows(_signs(x).astype(np.int64), (kh, kw), self.stride,
                                  self.dilation, self.padding, (oh, ow), self.pad_value)
        wt = _signs(w).astype(np.int64)[:, ky][:, :, kx]
        dot = np.tensordot(pt, wt, axes=([3, 4, 5], [1, 2, 3]))
        if len(ky) != kh or len(kx) != kw:  # taps that only read padding: pad_value * w each
            dead = _signs(w).astype(np.int64).sum(axis=(1, 2, 3)) - wt.sum(axis=(1, 2, 3))
            dot = dot + self.pad_value * dead
        return self._outputs(dot, t)


BINARY_OPS = (Binarize, BinaryDense, BinaryConv2d)
