"""firmforge's 16x8 references == TensorFlow Lite Micro, byte for byte.

TFLite's 16x8 scheme: int16 activations, int8 symmetric weights, int64 biases (int32 where the
converter was asked for them). Each case is built as a one-node firmforge graph and as a
one-operator .tflite model with the same parameters (tflm_harness), run on the same random
int16 batch and compared: CONV_2D (int64 and int32 bias, grouped), DEPTHWISE_CONV_2D, FULLY_
CONNECTED (int64 and int32 bias, per-tensor and per-channel, with zero points, which TFLM's int16
kernel applies), ADD and SUB (broadcasting, zero points), QUANTIZE / DEQUANTIZE at the int16 boundaries,
and accumulations far beyond int32 (exact with an int64 bias, wrapping with an int32 one). Where
TFLM refuses a configuration, both refusals are asserted; where TFLM silently computes something
else (int16 convolutions ignore zero points), that is shown and firmforge's refusal asserted.
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, IRError, QuantParams, Value, const
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.eltwise import Add, Sub
from firmforge.converter.ops.quant import Dequantize, Quantize

from cases import act_quant, single, weights
from tflm_harness import BuiltinOperator as Op
from tflm_harness import TensorSpec, TFLMRefused, build_model, run_model, schema

CASES = 30  # random cases per test and configuration
BATCH = 3
_ACT = {Act.NONE: 0, Act.RELU: 1, Act.RELU_N1_TO_1: 2, Act.RELU6: 3}
ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _options(cls, **fields):
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


def q16(rng, zp_range: int = 0) -> QuantParams:
    zp = int(rng.integers(-zp_range, zp_range + 1)) if zp_range else 0
    return QuantParams.per_tensor(float(rng.uniform(1e-4, 1e-2)), zp)


def bias(rng, n: int, dtype: DType, spread: float) -> Value:
    s = int(min(spread, 2**31 - 1 if dtype is DType.s32 else 2**46))
    return const("b", rng.integers(-s, s + 1, n).astype(dtype.np), dtype)


def out_q16(rng, xq: QuantParams, wq: QuantParams, depth: int, zp: int = 0) -> QuantParams:
    """An output scale near the accumulator's real spread (uniform int16 x, int8 w)."""
    spread = math.sqrt(depth) * 16384 * 64 * xq.s * float(np.mean(wq.scale))
    return QuantParams.per_tensor(spread / float(rng.uniform(1000, 15000)), zp)


# -- graph -> .tflite ------------------------------------------------------------------------------

def _bias_spec(node) -> TensorSpec:
    """The bias in its own integer type with TFLite's scale s_x * s_w (per channel)."""
    x, w, b = node.inputs
    scale = np.float32(x.quant.s) * w.quant.scale.astype(np.float32)
    return TensorSpec(b.shape, b.dtype.np, scale, np.zeros(scale.size, np.int64), 0, b.data,
                      b.name)


def _padding(node) -> int:
    if node.padding == Padding():
        return schema.Padding.VALID
    kernel = node.inputs[1].shape[1:3]
    assert node.padding == Padding.same(node.x.shape[1:3], kernel, node.stride, node.dilation)
    return schema.Padding.SAME


def to_tflite(g: Graph) -> bytes:
    (node,) = g.nodes
    ins = [TensorSpec.of(v) for v in node.inputs]
    outs = [TensorSpec.of(v) for v in node.outputs]
    act = _ACT[getattr(node, "act", Act.NONE)]
    if isinstance(node, Conv2d):
        o = _options(schema.Conv2DOptionsT, padding=_padding(node), strideH=node.stride[0],
                     strideW=node.stride[1], dilationHFactor=node.dilation[0],
                     dilationWFactor=node.dilation[1], fusedActivationFunction=act)
        return build_model(Op.CONV_2D, o, [ins[0], ins[1], _bias_spec(node)], outs)
    if isinstance(node, DepthwiseConv2d):
        o = _options(schema.DepthwiseConv2DOptionsT, padding=_padding(node),
                     strideH=node.stride[0], strideW=node.stride[1],
                     dilationHFactor=node.dilation[0], dilationWFactor=node.dilation[1],
                     depthMultiplier=node.depth_multiplier, fusedActivationFunction=act)
        return build_model(Op.DEPTHWISE_CONV_2D, o, [ins[0], ins[1], _bias_spec(node)], outs)
    if isinstance(node, Dense):
        o = _options(schema.FullyConnectedOptionsT, fusedActivationFunction=act,
                     keepNumDims=len(node.x.shape) > 2)
        return build_model(Op.FULLY_CONNECTED, o, [ins[0], ins[1], _bias_spec(node)], outs)
    if isinstance(node, Add):
        return build_model(Op.ADD, _options(schema.AddOptionsT, fusedActivationFunction=act),
                           ins, outs)
    if isinstance(node, Sub):
        return build_model(Op.SUB, _options(schema.SubOptionsT, fusedActivationFunction=act),
                           ins, outs)
    if isinstance(node, Quantize):
        return build_model(Op.QUANTIZE, None, ins, outs)
    if isinstance(node, Dequantize):
        return build_model(Op.DEQUANTIZE, None, ins, outs)
    raise AssertionError(f"no TFLite translation for {node.kind}")


def _inputs(rng, g: Graph, batch: int = BATCH) -> list[np.ndarray]:
    xs = []
    for v in g.inputs:
        if v.dtype is DType.f32:
            xs.append(rng.normal(0, 20000 * g.nodes[0].y.quant.s, (batch, *v.shape[1:]))
                      .astype(np.float32))
        else:
            info = np.iinfo(v.dtype.np)
            xs.append(rng.integers(info.min, info.max + 1, (batch, *v.shape[1:]))
                      .astype(v.dtype.np))
    return xs


def check_same(g: Graph, rng=None, xs: list[np.ndarray] | None = None) -> None:
    xs = xs if xs is not None else _inputs(rng, g)
    want, _ = reference.run(g, xs)
    got = run_model(to_tflite(g), xs)
    for w, o in zip(want, got, strict=True):
        # shapes first: a reshape here would hide an output laid out differently
        assert o.shape == w.shape, f"{g.nodes[0].kind}: TFLM shape {o.shape}, ref {w.shape}"
        if not np.array_equal(w, o):
            bad = np.argwhere(w != o)
            i = tuple(bad[0])
            raise AssertionError(f"{g.nodes[0].kind}: {len(bad)} of {w.size} differ, first at "
                                 f"{i}: ref {w[i]} TFLM {o[i]}\n{g!r}\n{g.nodes[0].attrs}")


def tflm_rejects(g: Graph, because: str) -> bool:
    xs = [np.zeros((1, *v.shape[1:]), v.dtype.np) for v in g.inputs]
    try:
        run_model(to_tflite(g), xs)
    except TFLMRefused as e:
        # refused, and for the reason the test names (TFLM's error reporter says which check)
        assert because is not None and re.search(because, e.log), f"TFLM refused: {e.log}"
        return True
    return False


def _unchecked(cls, name: str, inputs: list[Value], out: Value, **attrs) -> Graph:
    """A one-node graph built without firmforge's checks (to hand TFLM what the IR refuses)."""
    node = cls(name=name, inputs=inputs, outputs=[out], **attrs)
    return Graph(name, [node], [v for v in inputs if not v.is_const], [out])


# -- cases -------------------------------------------------------------------------------------------

def _window(rng, h: int, w: int, kernel, stride, dilation) -> Padding:
    return Padding() if rng.random() < 0.5 else Padding.same((h, w), kernel, stride, dilation)


def conv_case(rng, depthwise: bool, bias_dtype: DType) -> Graph:
    h, w = int(rng.integers(3, 12)), int(rng.integers(3, 12))
    c = int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dilation = (1, 1) if rng.random() < 0.5 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    if (kh - 1) * dilation[0] + 1 > h or (kw - 1) * dilation[1] + 1 > w:
        dilation = (1, 1)
    pad = _window(rng, h, w, (kh, kw), stride, dilation)
    xq = q16(rng)
    act = _pick(rng, ACTS)
    geo = dict(stride=stride, dilation=dilation, padding=pad, act=act)
    if depthwise:
        m = int(rng.integers(1, 4))
        x = Value("x", (1, h, w, c), DType.s16, xq)
        wt = weights(rng, (1, kh, kw, c * m), axis=3)
        b = bias(rng, c * m, bias_dtype, 3e6 * math.sqrt(kh * kw))
        return single(DepthwiseConv2d, "dw", [x, wt, b], out_q16(rng, xq, wt.quant, kh * kw),
                      depth_multiplier=m, **geo)
    groups = _pick(rng, [1, 1, 1, 2, 3])
    x = Value("x", (1, h, w, c * groups), DType.s16, xq)
    o = groups * int(rng.integers(1, 5))
    wt = weights(rng, (o, kh, kw, c), axis=0)
    b = bias(rng, o, bias_dtype, 3e6 * math.sqrt(kh * kw * c))
    return single(Conv2d, "conv", [x, wt, b], out_q16(rng, xq, wt.quant, kh * kw * c),
                  groups=groups, **geo)


@pytest.mark.parametrize("bias_dtype", [DType.s64, DType.s32], ids=lambda d: d.value)
def test_conv2d(bias_dtype):
    rng = _rng(f"conv16 {bias_dtype.value}")
    for _ in range(CASES):
        check_same(conv_case(rng, False, bias_dtype), rng)


def test_depthwise_conv2d():
    rng = _rng("dw16")
    for _ in range(CASES):
        check_same(conv_case(rng, True, DType.s64), rng)


def dense_case(rng, bias_dtype: DType, per_channel: bool, zp_range: int) -> Graph:
    k, o = int(rng.integers(1, 200)), int(rng.integers(1, 24))
    lead = _pick(rng, [(1,), (1, 3)])
    xq = q16(rng, zp_range)
    x = Value("x", (*lead, k), DType.s16, xq)
    wt = weights(rng, (o, k), axis=0)
    if not per_channel:
        wt = const("w", wt.data, DType.s8, QuantParams.per_tensor(float(rng.uniform(2e-3, 2e-2))))
    b = bias(rng, o, bias_dtype, 3e6 * math.sqrt(k))
    yq = out_q16(rng, xq, wt.quant, k, int(rng.integers(-zp_range, zp_range + 1)))
    return single(Dense, "fc", [x, wt, b], yq, act=_pick(rng, ACTS))


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("bias_dtype", [DType.s64, DType.s32], ids=lambda d: d.value)
def test_dense(bias_dtype, per_channel):
    rng = _rng(f"fc16 {bias_dtype.value} {per_channel}")
    for i in range(CASES):
        # A third of the cases with zero points, which TFLM's int16 FULLY_CONNECTED applies.
        check_same(dense_case(rng, bias_dtype, per_channel, 3000 if i % 3 == 2 else 0), rng)


@pytest.mark.parametrize("cls", [Add, Sub], ids=lambda c: c.__name__)
def test_add_sub(cls):
    rng = _rng("add16" if cls is Add else "sub16")
    for i in range(CASES * 2):
        rank = int(rng.integers(2, 5))
        out = (1, *(int(d) for d in rng.integers(1, 7, rank - 1)))
        sa = tuple(d if k == 0 or rng.random() < 0.7 else 1 for k, d in enumerate(out))
        sb = tuple(d if k == 0 or rng.random() < 0.5 else 1 for k, d in enumerate(out))
        zp = 2000 if i % 4 == 3 else 0  # TFLM's int16 ADD/SUB apply zero points as int8's do
        a = Value("a", sa, DType.s16, q16(rng, zp))
        if i % 3 == 2:  # a constant second operand, sometimes of lower rank
            sb = sb[int(rng.integers(len(sb))):] or (1,)
            b = const("b", rng.integers(-32768, 32768, sb).astype(np.int16), DType.s16,
                      q16(rng, zp))
        else:
            b = Value("b", sb, DType.s16, q16(rng, zp))
        yq = QuantParams.per_tensor(max(a.quant.s, b.quant.s) * float(rng.uniform(0.3, 4)),
                                    int(rng.integers(-zp, zp + 1)))
        check_same(single(cls, cls.__name__.lower(), [a, b], yq, act=_pick(rng, ACTS)), rng)


def _shape(rng) -> tuple[int, ...]:
    rank = int(rng.integers(2, 5))
    return (1, *(int(d) for d in rng.integers(1, 9, rank - 1)))


def test_quantize_dequantize_at_int16_boundaries():
    rng = _rng("quant16")
    for i in range(CASES * 2):
        kind = i % 5
        if kind == 0:  # float -> int16, with zero points and saturation
            g = single(Quantize, "q", [Value("x", _shape(rng), DType.f32)], q16(rng, 5000),
                       dtype=DType.s16)
        elif kind == 4:
            g = single(Dequantize, "dq", [Value("x", _shape(rng), DType.s16, q16(rng, 5000))],
                       None)
        else:
            src, dst = [(DType.s16, DType.s8), (DType.s8, DType.s16), (DType.s16, DType.s16)][
                kind - 1]
            xq = q16(rng, 2000) if src is DType.s16 else act_quant(rng)
            span = (1 << (src.bits - 1)) / (1 << (dst.bits - 1))
            ratio = span * float(np.exp(rng.uniform(np.log(0.05), np.log(20))))
            yq = QuantParams.per_tensor(xq.s / ratio, int(rng.integers(dst.qmin // 16,
                                                                       dst.qmax // 16 + 1)))
            g = single(Quantize, "rq", [Value("x", _shape(rng), src, xq)], yq, dtype=dst)
        check_same(g, rng)


# -- accumulations beyond int32 ------------------------------------------------------------------------

def _aligned(w0: np.ndarray, shape: tuple[int, ...], rng) -> list[np.ndarray]:
    """Inputs whose products with filter w0 all take one sign at the largest magnitude (and
    the opposite), then one random sample."""
    full = np.broadcast_to(np.where(w0 >= 0, 32767, -32768), shape)
    return [np.stack([full, -1 - full, rng.integers(-32768, 32768, shape)]).astype(np.int16)]


def _long_quant(xq: QuantParams, wq: QuantParams, depth: int, rng) -> QuantParams:
    acc = depth * 127 * 32767.0 * xq.s * float(np.max(wq.scale))
    return QuantParams.per_tensor(acc / float(rng.uniform(8000, 30000)))


@pytest.mark.parametrize("bias_dtype", [DType.s64, DType.s32], ids=lambda d: d.value)
def test_long_accumulations(bias_dtype):
    """|acc| up to 9000 * 127 * 32767 ~ 2**35: exact in TFLM's int64 accumulator, wrapping in
    its int32 one; the reference reproduces both."""
    rng = _rng(f"long {bias_dtype.value}")
    spread = 2**38 if bias_dtype is DType.s64 else 2**31 - 1
    for k in (600, 3000, 9000):
        xq = q16(rng)
        x = Value("x", (1, k), DType.s16, xq)
        wt = weights(rng, (3, k), axis=0)
        g = single(Dense, "fc", [x, wt, bias(rng, 3, bias_dtype, spread)],
                   _long_quant(xq, wt.quant, k, rng))
        check_same(g, xs=_aligned(wt.data[0], (k,), rng))
        ci = k // 25
        x = Value("x", (1, 5, 5, ci), DType.s16, xq)
        wt = weights(rng, (2, 5, 5, ci), axis=0)
        g = single(Conv2d, "conv", [x, wt, bias(rng, 2, bias_dtype, spread)],
                   _long_quant(xq, wt.quant, 25 * ci, rng))
        check_same(g, xs=_aligned(wt.data[0], (5, 5, ci), rng))
    if bias_dtype is DType.s64:
        x = Value("x", (1, 40, 40, 2), DType.s16, q16(rng))
        wt = weights(rng, (1, 40, 40, 2), axis=3)
        g = single(DepthwiseConv2d, "dw", [x, wt, bias(rng, 2, DType.s64, spread)],
                   _long_quant(x.quant, wt.quant, 1600, rng))
        check_same(g, xs=_aligned(wt.data[0, :, :, :1], (40, 40, 2), rng))


# -- configurations TFLM refuses or mishandles ---------------------------------------------------------

def test_int16_weights_and_mixed_types_are_refused_by_both():
    rng = _rng("refuse16")
    xq = q16(rng)
    x = Value("x", (1, 5, 5, 2), DType.s16, xq)
    w8 = weights(rng, (3, 2, 2, 2), axis=0)
    w16 = const("w", w8.data.astype(np.int16), DType.s16, w8.quant)
    b = bias(rng, 3, DType.s64, 1000)
    yq = QuantParams.per_tensor(0.5)
    y = Value("y", (1, 4, 4, 3), DType.s16, yq)
    # Int16 weights ("hybrid" in TFLM's words).
    with pytest.raises(IRError, match="s8 weights"):
        single(Conv2d, "conv", [x, w16, b], yq)
    assert tflm_rejects(_unchecked(Conv2d, "conv", [x, w16, b], y), because="Hybrid models")
    fx = Value("x", (1, 8), DType.s16, xq)
    fw = weights(rng, (3, 8), axis=0)
    fw16 = const("w", fw.data.astype(np.int16), DType.s16, fw.quant)
    fy = Value("y", (1, 3), DType.s16, yq)
    with pytest.raises(IRError, match="s8 weights"):
        single(Dense, "fc", [fx, fw16, b], yq)
    assert tflm_rejects(_unchecked(Dense, "fc", [fx, fw16, b], fy),
                        because="Input type: INT16 with filter type: INT16 not supported")
    # An int16 bias: TFLM's int16 CONV_2D accepts only int32 and int64.
    b16 = const("b", np.zeros(3, np.int16), DType.s16)
    with pytest.raises(IRError, match="s64 or s32 bias"):
        single(Conv2d, "conv", [x, w8, b16], yq)
    assert tflm_rejects(_unchecked(Conv2d, "conv", [x, w8, b16], y),
                        because=r"Bias type INT16 \(7\) not supported")
    # int16 in, int8 out.
    y8 = Value("y", (1, 4, 4, 3), DType.s8, QuantParams.per_tensor(0.5))
    with pytest.raises(IRError, match="op makes s16"):
        _unchecked(Conv2d, "conv", [x, w8, b], y8).validate()
    assert tflm_rejects(_unchecked(Conv2d, "conv", [x, w8, b], y8),
                        because=r"input->type != output->type \(7 != 9\)")


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv2d", "depthwise"])
def test_int16_convolutions_ignore_zero_points_in_tflm(depthwise):
    """TFLM's int16 CONV_2D and DEPTHWISE_CONV_2D never read the activations' zero points: the
    same bytes come out whatever they are, which is not the quantized math. firmforge refuses
    such graphs rather than reproduce that."""
    rng = _rng(f"zp16 {depthwise}")
    g = conv_case(rng, depthwise, DType.s64)
    node = g.nodes[0]
    x, w, b = node.inputs
    xs = _inputs(rng, g)
    node.act = Act.NONE  # the clamp bounds are the only place TFLM uses the output zero point
    base = run_model(to_tflite(g), xs)[0]
    assert np.array_equal(base.reshape(-1), reference.run(g, xs)[0][0].reshape(-1))
    xz = Value("x", x.shape, DType.s16, QuantParams.per_tensor(x.quant.s, 1234))
    yz = Value("y", node.y.shape, DType.s16, QuantParams.per_tensor(node.y.quant.s, -777))
    cls = type(node)
    attrs = {k: v for k, v in node.attrs.items()}
    shifted = _unchecked(cls, node.name, [xz, w, b], yz, **attrs)
    assert np.array_equal(run_model(to_tflite(shifted), xs)[0], base)
    with pytest.raises(IRError, match="zero points of 0"):
        single(cls, node.name, [xz, w, b], node.y.quant, **attrs)
    with pytest.raises(IRError, match="zero points of 0"):
        single(cls, node.name, [x, w, b], yz.quant, **attrs)


@pytest.mark.parametrize("cls", [Add, Sub], ids=lambda c: c.__name__)
def test_int16_add_sub_left_shift_is_15(cls, monkeypatch):
    """left_shift 15 (not int8's 20, nor 14) changes bytes only near rounding ties: over random
    scale sets with 65536 input pairs each, find ones where 14 and 15 give different bytes and
    require TFLM to agree with 15."""
    from firmforge.converter.ops import eltwise

    rng = _rng("add16 shift" if cls is Add else "sub16 shift")
    grid = np.arange(-32768, 32768, 256, dtype=np.int16)
    xs = [grid.reshape(1, 256, 1), (grid + 77).reshape(1, 1, 256)]
    found = 0
    for _ in range(200):
        a = Value("a", (1, 256, 1), DType.s16, q16(rng))
        b = Value("b", (1, 1, 256), DType.s16, q16(rng))
        yq = QuantParams.per_tensor(max(a.quant.s, b.quant.s) * float(rng.uniform(0.3, 3)))
        g = single(cls, cls.__name__.lower(), [a, b], yq)
        want = reference.run(g, xs)[0][0]
        with monkeypatch.context() as m:
            m.setattr(eltwise, "ADD_LEFT_SHIFT_S16", 14)
            alt = reference.run(g, xs)[0][0]
        if np.array_equal(want, alt):
            continue
        got = run_model(to_tflite(g), xs)[0]
        assert got.shape == want.shape and np.array_equal(got, want) and not np.array_equal(got, alt)
        found += 1
        if found == 3:
            return
    raise AssertionError(f"only {found} of 3 scale sets found where left shifts 14 and 15 differ")
