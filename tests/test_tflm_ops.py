"""firmforge's integer reference == TensorFlow Lite Micro, op by op, byte for byte.

Each case is built twice with the same random parameters: as a one-node firmforge graph and as
a one-operator .tflite model (tflm_harness), then both run on the same random batch. Where TFLM
refuses a configuration, the test asserts the refusal (and firmforge's matching IRError where
firmforge checks it). test_tflm_precision.py establishes the arithmetic choices themselves
(double-precision multipliers, double rounding) on inputs built to tell them apart.
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.fixed import mbqm
from firmforge.converter.ir import Act, DType, Graph, IRError, QuantParams, Value, const
from firmforge.converter.ops.act import LeakyRelu, Relu, Relu6
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d
from firmforge.converter.ops.dense import BatchMatMul, Dense
from firmforge.converter.ops.eltwise import Add, Mul, Sub
from firmforge.converter.ops.pool import AvgPool2d, MaxPool2d
from firmforge.converter.ops.quant import Dequantize, Quantize
from firmforge.converter.ops.reduce import Mean
from firmforge.converter.ops.shape import Concat, Pad, Reshape

from cases import act_quant, bias, out_quant_for_acc, single, weights
from tflm_harness import BuiltinOperator as Op
from tflm_harness import TensorSpec, TFLMRefused, build_model, run_model, schema

CASES = 24  # random cases per op and configuration
BATCH = 3

_ACT = {Act.NONE: 0, Act.RELU: 1, Act.RELU_N1_TO_1: 2, Act.RELU6: 3}
ACTS = list(_ACT)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _inputs(rng, g: Graph, batch: int = BATCH) -> list[np.ndarray]:
    xs = []
    for v in g.inputs:
        if v.dtype is DType.f32:
            xs.append(rng.normal(0, 3, (batch, *v.shape[1:])).astype(np.float32))
        else:
            info = np.iinfo(v.dtype.np)
            xs.append(rng.integers(info.min, info.max + 1, (batch, *v.shape[1:]))
                      .astype(v.dtype.np))
    return xs


def _const_i32(name: str, data) -> TensorSpec:
    a = np.asarray(data, np.int32)
    return TensorSpec(a.shape, np.int32, data=a, name=name)


def _options(cls, **fields):
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


def _pad_kind(p: Padding, x: Value, kernel, stride, dilation=(1, 1)) -> int:
    if p == Padding():
        return schema.Padding.VALID
    assert p == Padding.same(x.shape[1:3], kernel, stride, dilation)
    return schema.Padding.SAME


def to_tflite(g: Graph) -> bytes:
    """The one-operator .tflite model of a one-node graph (the test's own translation table)."""
    (node,) = g.nodes
    ins = [TensorSpec.of(v) for v in node.inputs]
    outs = [TensorSpec.of(v) for v in node.outputs]
    act = _ACT[getattr(node, "act", Act.NONE)]
    t = type(node)
    if t in (Add, Sub, Mul):
        cls = {Add: schema.AddOptionsT, Sub: schema.SubOptionsT, Mul: schema.MulOptionsT}[t]
        code = {Add: Op.ADD, Sub: Op.SUB, Mul: Op.MUL}[t]
        return build_model(code, _options(cls, fusedActivationFunction=act), ins, outs)
    if t is Relu:
        return build_model(Op.RELU, None, ins, outs)
    if t is Relu6:
        return build_model(Op.RELU6, None, ins, outs)
    if t is LeakyRelu:
        return build_model(Op.LEAKY_RELU, _options(schema.LeakyReluOptionsT, alpha=node.alpha),
                           ins, outs)
    if t is Quantize:
        return build_model(Op.QUANTIZE, None, ins, outs)
    if t is Dequantize:
        return build_model(Op.DEQUANTIZE, None, ins, outs)
    if t is Mean:
        return build_model(Op.MEAN, _options(schema.ReducerOptionsT, keepDims=node.keepdims),
                           [ins[0], _const_i32("axes", list(node.axes))], outs)
    if t is Conv2d:
        kh, kw = node.inputs[1].shape[1:3]
        pad = _pad_kind(node.padding, node.x, (kh, kw), node.stride, node.dilation)
        o = _options(schema.Conv2DOptionsT, padding=pad, strideH=node.stride[0],
                     strideW=node.stride[1], dilationHFactor=node.dilation[0],
                     dilationWFactor=node.dilation[1], fusedActivationFunction=act)
        return build_model(Op.CONV_2D, o, [ins[0], ins[1], _bias_spec(node)], outs)
    if t is DepthwiseConv2d:
        kh, kw = node.inputs[1].shape[1:3]
        pad = _pad_kind(node.padding, node.x, (kh, kw), node.stride, node.dilation)
        o = _options(schema.DepthwiseConv2DOptionsT, padding=pad, strideH=node.stride[0],
                     strideW=node.stride[1], dilationHFactor=node.dilation[0],
                     dilationWFactor=node.dilation[1], depthMultiplier=node.depth_multiplier,
                     fusedActivationFunction=act)
        return build_model(Op.DEPTHWISE_CONV_2D, o, [ins[0], ins[1], _bias_spec(node)], outs)
    if t is Dense:
        o = _options(schema.FullyConnectedOptionsT, fusedActivationFunction=act,
                     keepNumDims=len(node.x.shape) > 2)
        return build_model(Op.FULLY_CONNECTED, o, [ins[0], ins[1], _bias_spec(node)], outs)
    if t is BatchMatMul:
        o = _options(schema.BatchMatMulOptionsT, adjX=node.adj_x, adjY=node.adj_y)
        return build_model(Op.BATCH_MATMUL, o, ins, outs)
    if t in (AvgPool2d, MaxPool2d):
        pad = _pad_kind(node.padding, node.x, node.kernel, node.stride)
        o = _options(schema.Pool2DOptionsT, padding=pad, strideH=node.stride[0],
                     strideW=node.stride[1], filterHeight=node.kernel[0],
                     filterWidth=node.kernel[1], fusedActivationFunction=act)
        code = Op.AVERAGE_POOL_2D if t is AvgPool2d else Op.MAX_POOL_2D
        return build_model(code, o, ins, outs)
    if t is Pad:
        return build_model(Op.PAD, None, [ins[0], _const_i32("pads", node.pads)], outs)
    if t is Concat:
        o = _options(schema.ConcatenationOptionsT, axis=node.axis, fusedActivationFunction=0)
        return build_model(Op.CONCATENATION, o, ins, outs)
    if t is Reshape:
        return build_model(Op.RESHAPE, _options(schema.ReshapeOptionsT,
                                                newShape=list(node.shape)),
                           [ins[0], _const_i32("shape", list(node.shape))], outs)
    raise AssertionError(f"no TFLite translation for {t.__name__}")


def _bias_spec(node) -> TensorSpec:
    """int32 bias with TFLite's scale s_x * s_w (per channel when the weights are)."""
    x, w, b = node.inputs
    scale = np.float32(x.quant.s) * w.quant.scale.astype(np.float32)
    return TensorSpec(b.shape, np.int32, scale, np.zeros(scale.size, np.int64), 0, b.data,
                      b.name)


def check_same(g: Graph, rng, batch: int = BATCH) -> None:
    xs = _inputs(rng, g, batch)
    want, _ = reference.run(g, xs)
    got = run_model(to_tflite(g), xs)
    for w, o in zip(want, got, strict=True):
        # shapes first: a reshape here would hide an output laid out differently
        assert o.shape == w.shape, f"{g.nodes[0].kind}: TFLM shape {o.shape}, ref {w.shape}"
        if not np.array_equal(w, o):
            bad = np.argwhere(w != o)
            i = tuple(bad[0])
            raise AssertionError(f"{g.nodes[0].kind}: {len(bad)} of {w.size} differ, first at "
                                 f"{i}: ref {w[i]} TFLM {o[i]}\n{g!r}\nattrs "
                                 f"{g.nodes[0].attrs}")


# TFLM's CONCATENATION Prepare: every input quantized as the output
_CAT_SCALES = r"concatenation\.cc:\d+ static_cast<double>\(input->params\.scale\) != "


def tflm_rejects(g: Graph, rng, because: str) -> bool:
    try:
        run_model(to_tflite(g), _inputs(rng, g, 1))
    except TFLMRefused as e:
        # refused, and for the reason the test names (TFLM's error reporter says which check)
        assert because is not None and re.search(because, e.log), f"TFLM refused: {e.log}"
        return True
    return False


# -- elementwise ----------------------------------------------------------------------------------

def _bcast_shapes(rng):
    rank = int(rng.integers(2, 5))
    out = (1, *(int(d) for d in rng.integers(1, 7, rank - 1)))
    a = tuple(d if i == 0 or rng.random() < 0.7 else 1 for i, d in enumerate(out))
    b = tuple(d if i == 0 or rng.random() < 0.5 else 1 for i, d in enumerate(out))
    return a, b


@pytest.mark.parametrize("cls", [Add, Sub, Mul], ids=lambda c: c.__name__)
def test_binary(cls):
    rng = _rng(cls.__name__)
    for i in range(CASES * 2):
        sa, sb = _bcast_shapes(rng)
        a = Value("a", sa, DType.s8, act_quant(rng))
        if i % 3 == 2:  # a constant second operand, sometimes of lower rank
            sb = sb[int(rng.integers(len(sb))):] or (1,)
            data = rng.integers(-128, 128, sb).astype(np.int8)
            b = const("b", data, DType.s8, act_quant(rng))
        else:
            b = Value("b", sb, DType.s8, act_quant(rng))
        yq = act_quant(rng)
        if cls is Mul:  # keep the product's real range near the output's
            yq = QuantParams.per_tensor(a.quant.s * b.quant.s * float(rng.uniform(20, 400)),
                                        yq.zp)
        g = single(cls, cls.__name__.lower(), [a, b], yq, act=_pick(rng, ACTS))
        check_same(g, rng)


_ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


# -- activations and conversions ---------------------------------------------------------------------

def _shape(rng, max_rank: int = 4):
    rank = int(rng.integers(2, max_rank + 1))
    return (1, *(int(d) for d in rng.integers(1, 9, rank - 1)))


def test_relu_leaky_relu():
    rng = _rng("act")
    for i in range(CASES * 2):
        x = Value("x", _shape(rng), DType.s8, act_quant(rng))
        if i % 2:
            g = single(LeakyRelu, "lrelu", [x], act_quant(rng),
                       alpha=float(_pick(rng, [0.0, 0.01, 0.2, 0.5, 1.7, -0.3])))
        else:
            g = single(Relu, "relu", [x], act_quant(rng))
        check_same(g, rng)


def test_int16_relu_leaky_relu():
    rng = _rng("act16")
    for i in range(CASES):
        x = Value("x", _shape(rng), DType.s16, act_quant(rng, DType.s16))
        if i % 2:
            g = single(LeakyRelu, "lrelu", [x], act_quant(rng, DType.s16), alpha=0.1)
        else:
            g = single(Relu, "relu", [x], act_quant(rng, DType.s16))
        check_same(g, rng)


def test_relu6():
    rng = _rng("relu6")
    for _ in range(CASES):
        q = QuantParams.per_tensor(float(rng.uniform(0.005, 0.1)), int(rng.integers(-128, 100)))
        g = single(Relu6, "relu6", [Value("x", _shape(rng), DType.s8, q)], q)
        check_same(g, rng)


def test_relu6_with_different_output_params_is_refused():
    """TFLM's RELU6 clamps the input bytes and ignores the output's parameters: two output
    scales give the same bytes. firmforge refuses such a graph instead of copying that."""
    rng = _rng("relu6 refuse")
    x = Value("x", (1, 64), DType.s8, QuantParams.per_tensor(0.05, -3))
    outs = []
    for s in (0.05, 0.2):
        g = single(Relu6, "relu6", [x], QuantParams.per_tensor(s, 10))
        outs.append(run_model(to_tflite(g), [_ALL_INT8[:64].reshape(1, 64)])[0])
    assert np.array_equal(outs[0], outs[1])
    with pytest.raises(IRError, match="relu6"):
        reference.run(g, _inputs(rng, g, 1))


def test_quantize_requantize_dequantize():
    rng = _rng("quant")
    for i in range(CASES * 2):
        shape = _shape(rng)
        kind = i % 3
        if kind == 0:  # float -> int8, including values that saturate
            x = Value("x", shape, DType.f32)
            g = single(Quantize, "q", [x], act_quant(rng), dtype=DType.s8)
        elif kind == 1:  # int8 -> int8
            x = Value("x", shape, DType.s8, act_quant(rng))
            yq = QuantParams.per_tensor(x.quant.s * float(rng.uniform(0.2, 5)),
                                        int(rng.integers(-128, 128)))
            g = single(Quantize, "rq", [x], yq, dtype=DType.s8)
        else:
            g = single(Dequantize, "dq", [Value("x", shape, DType.s8, act_quant(rng))], None)
        check_same(g, rng)


def test_integer_requantize_pairs():
    rng = _rng("requant pairs")
    pairs = [(DType.s8, DType.s16), (DType.s16, DType.s8), (DType.s16, DType.s16),
             (DType.s8, DType.s32), (DType.s16, DType.s32)]
    for src, dst in pairs * 3:
        xq = act_quant(rng, src)
        x = Value("x", _shape(rng), src, xq)
        yq = QuantParams.per_tensor(xq.s * float(rng.uniform(0.3, 4)),
                                    0 if dst is not DType.s8 else int(rng.integers(-128, 128)))
        check_same(single(Quantize, "rq", [x], yq, dtype=dst), rng)


_INT32_PAIRS = [(DType.s32, DType.s16), (DType.s32, DType.s8), (DType.s16, DType.s32),
                (DType.s8, DType.s32)]


@pytest.mark.parametrize("pair", _INT32_PAIRS, ids=lambda p: f"{p[0].value}_{p[1].value}")
def test_int32_requantize_wraps(pair):
    """QUANTIZE to and from int32: TFLM subtracts the input zero point and adds the output's
    in int32, and both wrap. With int32 data and zero points over their whole range and scale
    ratios from 1/20 to 20 times the one that maps range onto range, the reference (which
    wraps) equals TFLM, and on cases where saturating instead would change bytes, TFLM is
    shown to wrap."""
    src, dst = pair
    rng = _rng(f"requant32 {src.value} {dst.value}")
    differ = 0
    for _ in range(CASES):
        zx = int(rng.integers(-(1 << 31), 1 << 31)) if src is DType.s32 else 0
        zy = int(rng.integers(-(1 << 31), 1 << 31)) if dst is DType.s32 else 0
        sx = float(rng.uniform(1e-8, 1e-6)) if src is DType.s32 else act_quant(rng, src).s
        fit = float(1 << (dst.bits - 1)) / float(1 << (src.bits - 1))
        ratio = fit * float(np.exp(rng.uniform(np.log(0.05), np.log(20))))
        x = Value("x", _shape(rng), src, QuantParams.per_tensor(sx, zx))
        g = single(Quantize, "rq", [x], QuantParams.per_tensor(sx / ratio, zy), dtype=dst)
        xs = _inputs(rng, g)
        want, _ = reference.run(g, xs)
        got = run_model(to_tflite(g), xs)[0]
        assert got.shape == want[0].shape and np.array_equal(got, want[0]), g
        m, sh = g.nodes[0].requant()
        d = np.clip(xs[0].astype(np.int64) - zx, -(1 << 31), (1 << 31) - 1)
        saturating = np.clip(np.clip(mbqm(d, m, sh) + zy, -(1 << 31), (1 << 31) - 1),
                             dst.qmin, dst.qmax)
        differ += not np.array_equal(saturating, got)
    assert differ >= 2, f"only {differ} cases tell wrapping from saturating"


def test_mean():
    rng = _rng("mean")
    for i in range(CASES * 2):
        shape = (1, *(int(d) for d in rng.integers(1, 10, 3)))
        if i % 4 == 3:
            shape = shape[:3]
        nd = len(shape)
        axes = _pick(rng, [(1, 2), (2, 1), (1,), (2,), (-1,), (1, 2, 3), (3, 1)])
        axes = tuple(a for a in axes if -nd <= a < nd and a % nd != 0) or (1,)
        xq = act_quant(rng)
        same = i % 3 == 0  # input and output sharing parameters takes no other TFLM path
        yq = xq if same else act_quant(rng)
        g = single(Mean, "mean", [Value("x", shape, DType.s8, xq)], yq, axes=axes,
                   keepdims=bool(rng.integers(2)))
        check_same(g, rng)


def test_int16_mean_quantize_dequantize():
    rng = _rng("int16 conversions")
    for i in range(CASES):
        shape = _shape(rng)
        q16 = act_quant(rng, DType.s16)
        if i % 3 == 0:
            g = single(Quantize, "q", [Value("x", shape, DType.f32)], q16, dtype=DType.s16)
        elif i % 3 == 1:
            g = single(Dequantize, "dq", [Value("x", shape, DType.s16, q16)], None)
        else:
            axes = tuple(range(1, len(shape)))[: int(rng.integers(1, len(shape)))]
            g = single(Mean, "mean", [Value("x", shape, DType.s16, q16)],
                       act_quant(rng, DType.s16), axes=axes)
        check_same(g, rng)


def test_mean_large_count():
    rng = _rng("mean big")
    for axes in ((1, 2), (1, 2, 3), (2,)):
        g = single(Mean, "mean", [Value("x", (1, 48, 40, 3), DType.s8, act_quant(rng))],
                   act_quant(rng), axes=axes, keepdims=False)
        check_same(g, rng, batch=2)


# -- ops whose references other modules own ---------------------------------------------------------

def _window_padding(rng, x_hw, kernel, stride, dilation=(1, 1)) -> Padding:
    if rng.random() < 0.5:
        return Padding()
    return Padding.same(x_hw, kernel, stride, dilation)


def _conv_case(rng, depthwise: bool):
    h, w = int(rng.integers(3, 12)), int(rng.integers(3, 12))
    c = int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dilation = (1, 1) if rng.random() < 0.5 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    if (kh - 1) * dilation[0] + 1 > h or (kw - 1) * dilation[1] + 1 > w:
        dilation = (1, 1)
    xq = act_quant(rng)
    x = Value("x", (1, h, w, c), DType.s8, xq)
    pad = _window_padding(rng, (h, w), (kh, kw), stride, dilation)
    act = _pick(rng, ACTS)
    if depthwise:
        mult = int(rng.integers(1, 4))
        wt = weights(rng, (1, kh, kw, c * mult), axis=3)
        yq = out_quant_for_acc(rng, xq, wt.quant, kh * kw)
        return single(DepthwiseConv2d, "dw", [x, wt, bias(rng, c * mult, 3000)], yq,
                      stride=stride, dilation=dilation, padding=pad, depth_multiplier=mult,
                      act=act)
    o = int(rng.integers(1, 9))
    wt = weights(rng, (o, kh, kw, c), axis=0)
    yq = out_quant_for_acc(rng, xq, wt.quant, kh * kw * c)
    return single(Conv2d, "conv", [x, wt, bias(rng, o, 3000)], yq, stride=stride,
                  dilation=dilation, padding=pad, act=act)


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv2d", "depthwise"])
def test_conv(depthwise):
    rng = _rng(f"conv {depthwise}")
    for _ in range(CASES * 2):
        check_same(_conv_case(rng, depthwise), rng)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_dense(per_channel):
    rng = _rng(f"dense {per_channel}")
    for _ in range(CASES * 2):
        k, o = int(rng.integers(1, 80)), int(rng.integers(1, 24))
        lead = _pick(rng, [(1,), (1, 3)])
        xq = act_quant(rng)
        x = Value("x", (*lead, k), DType.s8, xq)
        wt = weights(rng, (o, k), axis=0)
        if not per_channel:
            wt = const("w", wt.data, DType.s8, QuantParams.per_tensor(
                float(rng.uniform(0.002, 0.02)), 0))
        yq = out_quant_for_acc(rng, xq, wt.quant, k)
        check_same(single(Dense, "fc", [x, wt, bias(rng, o, 3000)], yq, act=_pick(rng, ACTS)),
                   rng)


@pytest.mark.parametrize("cls", [AvgPool2d, MaxPool2d], ids=lambda c: c.__name__)
def test_pool(cls):
    rng = _rng(cls.__name__)
    for _ in range(CASES * 2):
        h, w, c = int(rng.integers(2, 12)), int(rng.integers(2, 12)), int(rng.integers(1, 6))
        k = (int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        q = act_quant(rng)
        pad = _window_padding(rng, (h, w), k, stride)
        if max(pad.top, pad.bottom) >= k[0] or max(pad.left, pad.right) >= k[1]:
            pad = Padding()
        g = single(cls, "pool", [Value("x", (1, h, w, c), DType.s8, q)], q, kernel=k,
                   stride=stride, padding=pad, act=_pick(rng, ACTS))
        check_same(g, rng)


def test_pad_concat_reshape():
    rng = _rng("shape")
    for i in range(CASES):
        shape = _shape(rng)
        q = act_quant(rng)
        x = Value("x", shape, DType.s8, q)
        pads = ((0, 0), *((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in shape[1:]))
        check_same(single(Pad, "pad", [x], q, pads=pads), rng)
        axis = int(rng.integers(1, len(shape))) * (-1 if i % 2 else 1) % len(shape)
        others = [Value(f"x{j}", tuple(int(rng.integers(1, 5)) if d == axis else s
                                        for d, s in enumerate(shape)), DType.s8, q)
                  for j in range(int(rng.integers(1, 4)))]
        check_same(single(Concat, "cat", [x, *others], q, axis=axis - len(shape) * (i % 2)),
                   rng)
        flat = (1, x.size) if i % 2 else (1, *shape[1:][::-1])
        if math.prod(flat) == x.size:
            check_same(single(Reshape, "reshape", [x], q, shape=flat), rng)


def test_concat_with_different_params_is_refused_by_both():
    rng = _rng("concat refuse")
    a = Value("a", (1, 4), DType.s8, QuantParams.per_tensor(0.1, 0))
    b = Value("b", (1, 3), DType.s8, QuantParams.per_tensor(0.2, 0))
    node = Concat(name="cat", inputs=[a, b], outputs=[Value("y", (1, 7), DType.s8, a.quant)],
                  axis=1)
    with pytest.raises(IRError, match="identical quantization"):
        node.infer()
    g = Graph("cat", [node], [a, b], node.outputs)
    assert tflm_rejects(g, rng, because=_CAT_SCALES)


def test_grouped_conv():
    """TFLM's CONV_2D also runs grouped convolutions (filter depth = input depth / groups)."""
    rng = _rng("grouped conv")
    for _ in range(CASES):
        groups = int(rng.integers(2, 4))
        ci, og = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        h, w = int(rng.integers(3, 9)), int(rng.integers(3, 9))
        xq = act_quant(rng)
        x = Value("x", (1, h, w, ci * groups), DType.s8, xq)
        wt = weights(rng, (og * groups, 3, 3, ci), axis=0)
        yq = out_quant_for_acc(rng, xq, wt.quant, 9 * ci)
        pad = _window_padding(rng, (h, w), (3, 3), (1, 1))
        check_same(single(Conv2d, "gconv", [x, wt, bias(rng, og * groups, 3000)], yq,
                          padding=pad, groups=groups), rng)


def test_configurations_tflm_refuses():
    """TFLM refuses these in Prepare; firmforge's references refuse the same graphs."""
    rng = _rng("refuse")
    # QUANTIZE to per-channel parameters: TFLM requires a single output scale.
    x = Value("x", (1, 4, 3), DType.f32)
    g = single(Quantize, "q", [x], QuantParams(np.array([0.1, 0.2, 0.3]), np.zeros(3), 2),
               dtype=DType.s8)
    assert tflm_rejects(g, rng, because=r"affine_quantization->scale->size == 1")
    with pytest.raises(IRError, match="per-tensor output"):
        reference.run(g, _inputs(rng, g, 1))
    # Pools and CONCATENATION need the output's parameters to equal the input's in TFLM, and
    # firmforge's IR refuses the same graphs when they are built.
    xq, yq = QuantParams.per_tensor(0.1, 3), QuantParams.per_tensor(0.2, 3)
    for cls in (AvgPool2d, MaxPool2d):
        ins = [Value("x", (1, 4, 4, 2), DType.s8, xq)]
        with pytest.raises(IRError, match="must equal"):
            single(cls, "pool", ins, yq)
        assert tflm_rejects(_unchecked(cls, "pool", ins, yq), rng,
                            because=r"pooling_common\.cc:\d+ scale_diff <= 1\.0e-6")
    ins = [Value("a", (1, 4), DType.s8, xq), Value("b", (1, 3), DType.s8, xq)]
    with pytest.raises(IRError, match="identical quantization"):
        single(Concat, "cat", ins, yq, axis=1)
    assert tflm_rejects(_unchecked(Concat, "cat", ins, yq, axis=1), rng, because=_CAT_SCALES)


def _unchecked(cls, name, inputs, out_quant, **attrs):
    """A one-node graph that skips firmforge's validation (to hand TFLM what the IR refuses)."""
    node = cls(name=name, inputs=inputs, outputs=[], **attrs)
    node.outputs = [Value("y", s, d, None) for s, d in node.infer()]
    node.outputs[0].quant = out_quant
    return Graph(name, [node], list(inputs), list(node.outputs))
