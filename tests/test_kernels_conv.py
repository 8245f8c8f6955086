"""Convolution kernels == reference on random geometries (one row per kernel).

The geometry generator mixes five kinds of case: general (kernels 1..5, strides 1..3, dilations
1..3, independent padding per side, sometimes wider than the window so whole windows fall in the
padding), Conv1d (height 1), tiny images the window almost covers, TensorFlow SAME padding, and
symmetric padding. Transposed convolutions have their own (tconv_geometry): strides larger and
smaller than the kernel, cuts at the top/left, outputs smaller than the full result or beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value, const
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d, TransposeConv2d
from firmforge.targets.c.emit import UnsupportedOpError
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

from cases import S4_MEAN_ABS, Row, act_quant, bias, out_quant_for_acc, single, weights, weights_s4
from kernel_harness import check_row

ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6]  # half the cases use the full range


@dataclass
class Geometry:
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: Padding


def _act(rng: np.random.Generator) -> Act:
    return ACTS[rng.integers(len(ACTS))]


def _pick(rng: np.random.Generator, values: list[int]) -> int:
    return int(values[rng.integers(len(values))])


def _extent(rng: np.random.Generator, eff: int, pad: int, slack: int) -> int:
    """An input length that the (effective) window fits once padded."""
    low = max(1, eff - pad)
    return int(rng.integers(low, low + slack + 1))


def geometry(rng: np.random.Generator) -> Geometry:
    kind = int(rng.integers(5))
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    d = (_pick(rng, [1, 1, 2, 3]), _pick(rng, [1, 1, 2, 3]))
    eff = [(k[i] - 1) * d[i] + 1 for i in range(2)]
    if kind == 1:  # Conv1d: one row, the window slides along the width only
        k, s, d = (1, k[1]), (1, s[1]), (1, d[1])
        left, right = (int(rng.integers(0, eff[1] + 1)) for _ in range(2))
        p = Padding(0, 0, left, right)
        return Geometry(1, _extent(rng, eff[1], left + right, 10), k, s, d, p)
    if kind == 3:  # TensorFlow SAME padding of a random image
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        return Geometry(h, w, k, s, d, Padding.same((h, w), k, s, d))
    if kind == 4:  # symmetric
        ph, pw = int(rng.integers(0, eff[0])), int(rng.integers(0, eff[1]))
        p = Padding(ph, ph, pw, pw)
    else:  # independent sides, up to one full window of padding
        p = Padding(*(int(rng.integers(0, e + 1)) for e in (eff[0], eff[0], eff[1], eff[1])))
    slack = 1 if kind == 2 else 8  # kind 2: the window almost equals the padded image
    h = _extent(rng, eff[0], p.top + p.bottom, slack)
    w = _extent(rng, eff[1], p.left + p.right, slack)
    return Geometry(h, w, k, s, d, p)


def _conv2d(rng: np.random.Generator, int4: bool) -> Graph:
    g = geometry(rng)
    groups = _pick(rng, [1, 1, 1, 2, 3, 4])
    ci = _pick(rng, [1, 2, 3, 5, 8, 13])
    o = groups * _pick(rng, [1, 2, 3, 4, 7])
    xq = act_quant(rng)
    x = Value("x", (1, g.h, g.w, groups * ci), DType.s8, xq)
    shape = (o, *g.kernel, ci)
    w = weights_s4(rng, shape, axis=0) if int4 else weights(rng, shape, axis=0)
    yq = out_quant_for_acc(rng, xq, w.quant, g.kernel[0] * g.kernel[1] * ci,
                           S4_MEAN_ABS if int4 else 73.0)
    return single(Conv2d, "conv", [x, w, bias(rng, o, 300 if int4 else 3000)], yq,
                  stride=g.stride, dilation=g.dilation, padding=g.padding, groups=groups,
                  act=_act(rng))


def conv2d_s8(rng: np.random.Generator) -> Graph:
    return _conv2d(rng, int4=False)


def conv2d_s8_s4(rng: np.random.Generator) -> Graph:
    """Packed int4 weights: odd filter sizes make filters and kernel rows start mid-byte."""
    return _conv2d(rng, int4=True)


def _dwconv2d(rng: np.random.Generator, int4: bool) -> Graph:
    g = geometry(rng)
    c = _pick(rng, [1, 2, 3, 5, 8, 16, 17, 33])
    m = int(rng.integers(1, 4))
    xq = act_quant(rng)
    x = Value("x", (1, g.h, g.w, c), DType.s8, xq)
    shape = (1, *g.kernel, c * m)
    w = weights_s4(rng, shape, axis=3) if int4 else weights(rng, shape, axis=3)
    yq = out_quant_for_acc(rng, xq, w.quant, g.kernel[0] * g.kernel[1],
                           S4_MEAN_ABS if int4 else 73.0)
    return single(DepthwiseConv2d, "dwconv", [x, w, bias(rng, c * m, 100 if int4 else 1000)],
                  yq, stride=g.stride, dilation=g.dilation, padding=g.padding,
                  depth_multiplier=m, act=_act(rng))


def dwconv2d_s8(rng: np.random.Generator) -> Graph:
    return _dwconv2d(rng, int4=False)


def dwconv2d_s8_s4(rng: np.random.Generator) -> Graph:
    return _dwconv2d(rng, int4=True)


@dataclass
class TconvGeometry:
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    out_hw: tuple[int, int]

    @property
    def depth(self) -> int:
        """Taps reaching one output pixel, at most."""
        return -(-self.kernel[0] // self.stride[0]) * -(-self.kernel[1] // self.stride[1])


def tconv_geometry(rng: np.random.Generator) -> TconvGeometry:
    """Kernels 1..5, strides 1..4 (so some output pixels get no tap), a cut of up to a kernel at
    the top/left, outputs from 1 to two beyond the full result (those rows hold the bias only);
    a third of the cases one row high (1-D, as in SEANet)."""
    h, w = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    s = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    if rng.random() < 0.33:
        h, k, s = 1, (1, k[1]), (1, s[1])
    pad = (int(rng.integers(0, k[0])), int(rng.integers(0, k[1])))
    full = ((h - 1) * s[0] + k[0], (w - 1) * s[1] + k[1])
    out = tuple(max(1, f - p - int(rng.integers(-2, k_ + 1))) for f, p, k_ in
                zip(full, pad, k, strict=True))
    return TconvGeometry(h, w, k, s, pad, out)


def transpose_conv2d_s8(rng: np.random.Generator) -> Graph:
    g = tconv_geometry(rng)
    c = _pick(rng, [1, 2, 3, 5, 8, 13])
    o = _pick(rng, [1, 2, 3, 4, 7])
    xq = act_quant(rng)
    x = Value("x", (1, g.h, g.w, c), DType.s8, xq)
    w = weights(rng, (o, *g.kernel, c), axis=0)
    yq = out_quant_for_acc(rng, xq, w.quant, g.depth * c)
    return single(TransposeConv2d, "tconv", [x, w, bias(rng, o, 3000)], yq, stride=g.stride,
                  padding=g.padding, out_hw=g.out_hw, act=_act(rng))


# conv2d_s8_1x1 (the pointwise kernel) has its own table: test_kernels_pointwise.py
ROWS = [Row("conv2d_s8", conv2d_s8), Row("dwconv2d_s8", dwconv2d_s8), Row("conv2d_s8_s4", conv2d_s8_s4),
        Row("dwconv2d_s8_s4", dwconv2d_s8_s4), Row("transpose_conv2d_s8", transpose_conv2d_s8)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def test_float_convolutions_are_unsupported():
    x = Value("x", (1, 4, 4, 2), DType.f32)
    w = const("w", np.ones((3, 2, 2, 2), np.float32))
    b = const("b", np.zeros(3, np.float32))
    g = single(Conv2d, "conv", [x, w, b], None)
    with pytest.raises(UnsupportedOpError, match="conv2d"):
        generate(g, "m")
    dw = single(DepthwiseConv2d, "dw", [x, const("w", np.ones((1, 2, 2, 2), np.float32)),
                                       const("b", np.zeros(2, np.float32))], None)
    with pytest.raises(UnsupportedOpError, match="depthwiseconv2d"):
        generate(dw, "m")


def _then(cls: type, name: str, inputs: list[Value], quant: QuantParams, **attrs: object
          ) -> Conv2d | DepthwiseConv2d:
    node = cls(name=name, inputs=inputs, outputs=[], **attrs)
    ((shape, dtype),) = node.infer()
    node.outputs = [Value(f"{name}_y", shape, dtype, quant)]
    return node


def test_convolutions_are_clean_under_sanitizers():
    """Grouped, dilated, mostly-padding conv -> depthwise x2 -> 1x1, built with ASan + UBSan."""
    rng = np.random.default_rng(21)
    xq = act_quant(rng)
    x = Value("x", (1, 7, 6, 6), DType.s8, xq)
    w1 = weights(rng, (4, 3, 3, 3), axis=0, name="w1")
    q1 = out_quant_for_acc(rng, xq, w1.quant, 27)
    conv = _then(Conv2d, "conv", [x, w1, bias(rng, 4, 3000, "b1")], q1, stride=(2, 1),
                 dilation=(1, 2), padding=Padding(4, 1, 0, 5), groups=2)
    w2 = weights(rng, (1, 2, 3, 8), axis=3, name="w2")
    q2 = out_quant_for_acc(rng, q1, w2.quant, 6)
    dw = _then(DepthwiseConv2d, "dw", [conv.y, w2, bias(rng, 8, 1000, "b2")], q2,
               padding=Padding(1, 1, 1, 1), depth_multiplier=2, act=Act.RELU)
    w3 = weights(rng, (5, 1, 1, 8), axis=0, name="w3")
    q3 = out_quant_for_acc(rng, q2, w3.quant, 8)
    pw = _then(Conv2d, "pw", [dw.y, w3, bias(rng, 5, 2000, "b3")], q3)
    g = Graph("chain", [conv, dw, pw], [x], pw.outputs)
    g.validate()
    xs = rng.integers(-128, 128, (3, *x.shape[1:])).astype(np.int8)
    (want,), _ = reference.run(g, [xs])
    assert np.array_equal(run_native(generate(g, "chain"), g, [xs])[0], want)
