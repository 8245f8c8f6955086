"""Convolutions (NHWC): Conv2d (dense and grouped; Conv1d is Conv2d with height 1),
DepthwiseConv2d and TransposeConv2d (its own docstring gives its sums).

Float:  y[n,oy,ox,o] = b[o] + sum_{ky,kx,i} x[n, oy*sh + ky*dh - pt, ox*sw + kx*dw - pl, g*I + i]
                                            * w[o, ky, kx, i]              (g = o // (O / groups))
int8 (TFLM's per-channel scheme, weights symmetric so their zero point is 0):
        acc[o]  = b[o] + sum (x_q + in_offset) * w_q          with in_offset = -x_zp, padding
                                                                 contributing nothing
        y_q[o]  = clamp(mbqm(acc[o], M[o], S[o]) + y_zp, act_min, act_max)
        M[o], S[o] = quantize_multiplier(double(s_x) * double(s_w[o]) / double(s_y))
        w_q is int8, or int4 (s4, values in [-8, 7]) with exactly the same arithmetic: TFLM
        unpacks INT4 filters to int8 and runs its int8 kernel. How the weights are stored
        (packed two per byte) is the constant's encoding, not the op's concern.
16x8 (int16 activations, int8 weights; TFLM's int16 ConvPerChannel / DepthwiseConvPerChannel):
        zero points of x and y must be 0 (TFLM's int16 convolutions ignore them)
        acc[o]  = b[o] + sum x_q * w_q                             exact, in int64
        y_q[o]  = clamp(mbqm64(acc[o], M[o], S[o]), act_min, act_max)       int64 bias (s64)
        y_q[o]  = clamp(mbqm(wrap32(acc[o]), M[o], S[o]), act_min, act_max) int32 bias (s32,
                  Conv2d only): TFLM then accumulates in int32, which wraps on overflow
        TFLM's mbqm64 asserts S[o] <= 7 and |acc| < 2**47; firmforge refuses graphs that break
        either (the accumulator bound from the constant bias and the depth).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..fixed import activation_range, mbqm, mbqm64, quantize_multipliers, wrap32
from ..ir import Act, DType, IRError, Node, QuantParams, QuantRule
from .common import Padding, conv_windows, requantize_acc, window_out

_INT_DTYPES = (DType.s8, DType.s16)

# The contract of TFLM's MultiplyByQuantizedMultiplier for int64 accumulators (asserted there).
MBQM64_MAX_SHIFT = 7
ACC64_LIMIT = 1 << 47


def conv_multipliers(x_q: QuantParams, w_q: QuantParams, y_q: QuantParams
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel requantization (multiplier, shift), TFLM's double-precision formula."""
    real = float(x_q.s) * w_q.scale.astype(np.float64) / float(y_q.s)
    return quantize_multipliers(real)


def _check_int_io(node: Node, depth: int = 0,
                  bias16: tuple[DType, ...] = (DType.s64, DType.s32),
                  offsets16: bool = False) -> None:
    """Dtypes and parameters of an integer conv/dense. For int16 inputs (16x8): ``bias16`` lists
    the bias dtypes TFLM reads correctly, ``offsets16`` whether TFLM applies activation zero
    points, ``depth`` is the number of products per output (for the int64 accumulator bound)."""
    x, w, b = node.inputs
    y = node.outputs[0] if node.outputs else None
    if x.quant is None or w.quant is None or (y is not None and y.quant is None):
        raise IRError(f"{node.name}: integer {node.kind} needs quantization parameters")
    if x.dtype is DType.s16:
        _check_16x8(node, depth, bias16, offsets16)
        return
    if w.dtype not in (DType.s8, DType.s4, DType.s2) or b.dtype is not DType.s32:
        raise IRError(f"{node.name}: int8 {node.kind} needs s8, s4 or s2 weights and s32 bias, "
                      f"got {w.dtype.value}/{b.dtype.value}")


def _check_16x8(node: Node, depth: int, bias16: tuple[DType, ...], offsets16: bool) -> None:
    x, w, b = node.inputs
    y = node.outputs[0] if node.outputs else None
    if w.dtype is not DType.s8 or b.dtype not in bias16:
        want = " or ".join(d.value for d in bias16)
        raise IRError(f"{node.name}: 16x8 {node.kind} needs s8 weights and {want} bias, got "
                      f"{w.dtype.value}/{b.dtype.value}")
    if np.any(w.quant.zero_point != 0):
        raise IRError(f"{node.name}: 16x8 {node.kind} needs symmetric weights (zero point 0)")
    for v in (x, y):
        if v is not None and v.quant.per_channel:
            raise IRError(f"{node.name}: 16x8 {node.kind} needs per-tensor activation "
                          f"parameters ({v.name})")
        if v is not None and not offsets16 and v.quant.zp != 0:
            raise IRError(f"{node.name}: 16x8 {node.kind} needs int16 zero points of 0, "
                          f"{v.name} has {v.quant.zp} (TFLM's int16 kernel ignores it)")
    if b.dtype is DType.s64 and b.is_const:
        x_span = 32768 + abs(x.quant.zp)  # largest |x_q - zp|
        bound = int(np.max(np.abs(b.data.astype(np.int64)), initial=0)) + depth * 128 * x_span
        if bound >= ACC64_LIMIT:
            raise IRError(f"{node.name}: the int64 accumulator can reach {bound}, beyond "
                          f"TFLM's 2**47 limit (bias too large or depth {depth} too long)")


def int_requant(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """(M, S) per output channel of an integer conv/dense; 16x8 with int64 bias keeps S <= 7."""
    x, w, b = node.inputs
    mult, shift = conv_multipliers(x.quant, w.quant, node.y.quant)
    if x.dtype is DType.s16 and b.dtype is DType.s64 and np.any(shift > MBQM64_MAX_SHIFT):
        raise IRError(f"{node.name}: requantization shift {int(np.max(shift))} exceeds TFLM's "
                      f"int64 limit {MBQM64_MAX_SHIFT} (output scale too small)")
    return mult, shift


def requantize_out(node: Node, acc: np.ndarray) -> np.ndarray:
    """Exact int64 accumulators -> output integers, by the node's dtypes (see the module doc)."""
    mult, shift = node.requant()
    lo, hi = node.act_range()
    y = node.y
    if node.x.dtype is not DType.s16:
        return requantize_acc(acc, mult, shift, y.quant.zp, lo, hi).astype(y.dtype.np)
    if node.inputs[2].dtype is DType.s32:
        scaled = mbqm(wrap32(acc), mult, shift)
    else:
        scaled = mbqm64(acc, mult, shift)
    # TFLM adds the zero point in int32; the scaled value can exceed int32 only for outputs that
    # saturate anyway, but wrapping keeps even those equal.
    return np.clip(wrap32(scaled + y.quant.zp), lo, hi).astype(y.dtype.np)


def _check_steps(node: Node) -> None:
    """Strides and dilations are positive pairs (a zero stride would divide by zero later)."""
    for attr in ("stride", "dilation"):
        v = tuple(getattr(node, attr))
        if len(v) != 2 or min(v) < 1:
            raise IRError(f"{node.name}: {attr} must be two positive integers, got {v}")


@dataclass(eq=False, kw_only=True, repr=False)
class Conv2d(Node):
    """2-D convolution; inputs ``[x (N,H,W,C), w (O,KH,KW,C/groups), b (O,)]``."""

    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = field(default_factory=Padding)
    groups: int = 1
    act: Act = Act.NONE
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN
    weight_axis: ClassVar[int] = 0  # OHWI: per output channel

    def _geometry(self) -> tuple[int, int, int, int]:
        x, w, b = self.inputs
        if len(x.shape) != 4 or len(w.shape) != 4:
            raise IRError(f"{self.name}: conv2d needs 4-D NHWC input and OHWI weights, "
                          f"got {x.shape} and {w.shape}")
        o, kh, kw, ci = w.shape
        c = x.shape[3]
        if self.groups < 1 or c != ci * self.groups or o % self.groups:
            raise IRError(f"{self.name}: {c} input channels do not match weights {w.shape} "
                          f"with {self.groups} groups")
        if b.shape != (o,):
            raise IRError(f"{self.name}: bias shape {b.shape} != ({o},)")
        _check_steps(self)
        p = self.padding
        oh = window_out(x.shape[1], kh, self.stride[0], self.dilation[0], p.top, p.bottom)
        ow = window_out(x.shape[2], kw, self.stride[1], self.dilation[1], p.left, p.right)
        return oh, ow, o, kh * kw * ci

    def infer(self):
        oh, ow, o, depth = self._geometry()
        x = self.inputs[0]
        if x.dtype is DType.f32:
            return [((x.shape[0], oh, ow, o), DType.f32)]
        if x.dtype in _INT_DTYPES:
            _check_int_io(self, depth)
            return [((x.shape[0], oh, ow, o), x.dtype)]
        raise IRError(f"{self.name}: conv2d has no {x.dtype.value} implementation")

    def macs(self) -> int:
        oh, ow, o, k = self._geometry()
        return oh * ow * o * k

    def requant(self) -> tuple[np.ndarray, np.ndarray]:
        return int_requant(self)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def _patches(self, x: np.ndarray, w: np.ndarray, pad_value: float | int
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The input's windows and the weights of the taps they hold (``conv_windows``: taps
        that read padding only contribute nothing and are left out)."""
        oh, ow, _, _ = self._geometry()
        _, kh, kw, _ = self.inputs[1].shape
        pt, ky, kx = conv_windows(x, (kh, kw), self.stride, self.dilation, self.padding,
                                  (oh, ow), pad_value)
        return pt, w if len(ky) == kh and len(kx) == kw else w[:, ky][:, :, kx]

    def _grouped_dot(self, patches: np.ndarray, w: np.ndarray) -> np.ndarray:
        """sum over (ky, kx, i) of patches[..., g*I + i] * w[o, ky, kx, i] for each group."""
        o, _, _, ci = w.shape
        og = o // self.groups
        outs = []
        for g in range(self.groups):
            pg = patches[..., g * ci:(g + 1) * ci]
            wg = w[g * og:(g + 1) * og]
            outs.append(np.tensordot(pg, wg, axes=([3, 4, 5], [1, 2, 3])))
        return outs[0] if self.groups == 1 else np.concatenate(outs, axis=-1)

    def ref(self, xs):
        x, w, b = xs
        if x.dtype == np.float32:
            y = self._grouped_dot(*self._patches(x, w.astype(np.float32), 0.0)) + b
            return [self.act.apply_float(y.astype(np.float32))]
        xq = self.inputs[0].quant
        # Padding with the input zero point makes (x + in_offset) zero there, as TFLM skips it.
        patches, wt = self._patches(x, w.astype(np.int64), xq.zp)
        acc = self._grouped_dot(patches.astype(np.int64) - xq.zp, wt) + b.astype(np.int64)
        return [requantize_out(self, acc)]


@dataclass(eq=False, kw_only=True, repr=False)
class DepthwiseConv2d(Node):
    """Depthwise convolution; inputs ``[x (N,H,W,C), w (1,KH,KW,C*M), b (C*M,)]``.

    Output channel ``c*M + m`` filters input channel ``c`` (TFLite's layout and depth multiplier).
    """

    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: Padding = field(default_factory=Padding)
    depth_multiplier: int = 1
    act: Act = Act.NONE
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN
    weight_axis: ClassVar[int] = 3  # 1HWC: per output channel

    def _geometry(self) -> tuple[int, int, int, int, int]:
        x, w, b = self.inputs
        if len(x.shape) != 4 or len(w.shape) != 4 or w.shape[0] != 1:
            raise IRError(f"{self.name}: depthwise conv needs NHWC input and 1HWC weights, "
                          f"got {x.shape} and {w.shape}")
        _, kh, kw, oc = w.shape
        if oc != x.shape[3] * self.depth_multiplier:
            raise IRError(f"{self.name}: weights have {oc} channels, input {x.shape[3]} x "
                          f"multiplier {self.depth_multiplier}")
        if b.shape != (oc,):
            raise IRError(f"{self.name}: bias shape {b.shape} != ({oc},)")
        _check_steps(self)
        p = self.padding
        oh = window_out(x.shape[1], kh, self.stride[0], self.dilation[0], p.top, p.bottom)
        ow = window_out(x.shape[2], kw, self.stride[1], self.dilation[1], p.left, p.right)
        return oh, ow, oc, kh, kw

    def infer(self):
        oh, ow, oc, kh, kw = self._geometry()
        x = self.inputs[0]
        if x.dtype is DType.f32:
            return [((x.shape[0], oh, ow, oc), DType.f32)]
        if x.dtype in _INT_DTYPES:
            # TFLM reads an int16 depthwise bias as int64 whatever its type: only s64 is right.
            _check_int_io(self, kh * kw, bias16=(DType.s64,))
            return [((x.shape[0], oh, ow, oc), x.dtype)]
        raise IRError(f"{self.name}: depthwise conv has no {x.dtype.value} implementation")

    def macs(self) -> int:
        oh, ow, oc, kh, kw = self._geometry()
        return oh * ow * oc * kh * kw

    def requant(self) -> tuple[np.ndarray, np.ndarray]:
        return int_requant(self)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def _dot(self, x: np.ndarray, w: np.ndarray, pad_value: float | int) -> np.ndarray:
        oh, ow, _, kh, kw = self._geometry()
        if self.depth_multiplier > 1:
            x = np.repeat(x, self.depth_multiplier, axis=3)  # channel c*M + m reads c
        pt, ky, kx = conv_windows(x, (kh, kw), self.stride, self.dilation, self.padding,
                                  (oh, ow), pad_value)
        return np.einsum("nhwyxc,yxc->nhwc", pt, w[0][ky][:, kx])

    def ref(self, xs):
        x, w, b = xs
        if x.dtype == np.float32:
            y = self._dot(x, w.astype(np.float32), 0.0) + b
            return [self.act.apply_float(y.astype(np.float32))]
        zp = self.inputs[0].quant.zp
        acc = self._dot(x.astype(np.int64) - zp, w.astype(np.int64), 0) + b.astype(np.int64)
        return [requantize_out(self, acc)]


@dataclass(eq=False, kw_only=True, repr=False)
class TransposeConv2d(Node):
    """Transposed convolution (TFLite's TRANSPOSE_CONV); inputs ``[x (N,H,W,C), w (O,KH,KW,C),
    b (O,)]``, output ``(N, out_hw[0], out_hw[1], O)``.

    Every input pixel scatters its products onto a window of the output, ``stride`` apart, the
    first ``padding`` = (top, left) rows and columns cut away; the output size is an attribute
    (TFLite takes it from the output tensor), so rows beyond the full result hold the bias only:

        y[n, oy, ox, o] = b[o] + sum of x[n, iy, ix, c] * w[o, ky, kx, c]
                          over iy*sh - pt + ky = oy,  ix*sw - pl + kx = ox,  all c

    int8 (TFLM's reference_integer_ops::TransposeConv): the products are (x_q - zp_x) * w_q, and
        y_q = clamp(mbqm(acc, M[o], S[o]) + zp_y, act_min, act_max) with conv_multipliers.
    16x8: x_q * w_q summed exactly (int64), bias s64, y_q = clamp(mbqm64(acc, M[o], S[o])), the
    zero points 0 (TFLM's int16 kernel ignores them); TFLM's limits of mbqm64 apply (``conv``).
    TFLM accumulates the scattered products in an output-sized scratch buffer; the sums are the
    same in any order (int64 exact, int32 modulo 2**32).
    """

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    out_hw: tuple[int, int] = (1, 1)
    act: Act = Act.NONE
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN
    weight_axis: ClassVar[int] = 0  # OHWI: per output channel

    def _geometry(self) -> tuple[int, int, int, int]:
        """(O, KH, KW, C), checked."""
        x, w, b = self.inputs
        if len(x.shape) != 4 or len(w.shape) != 4:
            raise IRError(f"{self.name}: transpose conv needs 4-D NHWC input and OHWI weights, "
                          f"got {x.shape} and {w.shape}")
        o, kh, kw, c = w.shape
        if x.shape[3] != c:
            raise IRError(f"{self.name}: {x.shape[3]} input channels, weights {w.shape}")
        if b.shape != (o,):
            raise IRError(f"{self.name}: bias shape {b.shape} != ({o},)")
        if len(self.stride) != 2 or min(self.stride) < 1:
            raise IRError(f"{self.name}: stride must be two positive integers, got {self.stride}")
        if len(self.padding) != 2 or min(self.padding) < 0 or len(self.out_hw) != 2 or \
                min(self.out_hw) < 1:
            raise IRError(f"{self.name}: bad padding {self.padding} or output size {self.out_hw}")
        # the kernels' tap arithmetic runs in int32 (TFLM's too): stride * (n - 1) + k must fit
        for n, s, k in zip(x.shape[1:3], self.stride, (kh, kw), strict=True):
            if max(n - 1, 1) * s + k + max(self.padding) + max(self.out_hw) >= 1 << 31:
                raise IRError(f"{self.name}: stride {self.stride} over a {x.shape[1]}x"
                              f"{x.shape[2]} input reaches past int32 positions")
        return o, kh, kw, c

    def infer(self):
        o, kh, kw, c = self._geometry()
        x = self.inputs[0]
        shape = (x.shape[0], *self.out_hw, o)
        if x.dtype is DType.f32:
            return [(shape, DType.f32)]
        if x.dtype in _INT_DTYPES:
            # TFLM reads an int16 transpose conv's bias as int64 (an int16 one converted).
            _check_int_io(self, kh * kw * c, bias16=(DType.s64,))
            return [(shape, x.dtype)]
        raise IRError(f"{self.name}: transpose conv has no {x.dtype.value} implementation")

    def macs(self) -> int:
        """Products that land inside the output."""
        o, kh, kw, c = self._geometry()
        _, h, w, _ = self.inputs[0].shape
        rows = sum(0 <= iy * self.stride[0] - self.padding[0] + ky < self.out_hw[0]
                   for iy in range(h) for ky in range(kh))
        cols = sum(0 <= ix * self.stride[1] - self.padding[1] + kx < self.out_hw[1]
                   for ix in range(w) for kx in range(kw))
        return rows * cols * o * c

    def requant(self) -> tuple[np.ndarray, np.ndarray]:
        return int_requant(self)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def _scatter(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """sum of x * w onto the output grid (no bias), in x's dtype (int64 or float32)."""
        _, kh, kw, _ = w.shape
        n, h, wd, _ = x.shape
        sh, sw = self.stride
        pt, pl = self.padding
        oh, ow = self.out_hw
        # The result up to the output's far edge (products beyond it are cut away, so a large
        # stride costs no memory): tap (ky, kx) lands input rows iy < ny (iy*sh + ky < pt + oh).
        full = np.zeros((n, pt + oh, pl + ow, w.shape[0]), x.dtype)
        for ky in range(min(kh, pt + oh)):
            ny = min(h, (pt + oh - 1 - ky) // sh + 1)
            for kx in range(min(kw, pl + ow)):
                nx = min(wd, (pl + ow - 1 - kx) // sw + 1)
                full[:, ky:ky + (ny - 1) * sh + 1:sh, kx:kx + (nx - 1) * sw + 1:sw, :] += \
                    np.einsum("nhwc,oc->nhwo", x[:, :ny, :nx], w[:, ky, kx, :])
        return full[:, pt:, pl:, :]

    def ref(self, xs):
        x, w, b = xs
        if x.dtype == np.float32:
            y = self._scatter(x, w.astype(np.float32)) + b
            return [self.act.apply_float(y.astype(np.float32))]
        zp = self.inputs[0].quant.zp
        acc = self._scatter(x.astype(np.int64) - zp, w.astype(np.int64)) + b.astype(np.int64)
        return [requantize_out(self, acc)]
