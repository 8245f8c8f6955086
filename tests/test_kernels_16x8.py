"""16x8 kernels (int16 activations, int8 weights) == reference, bit for bit.

One row per kernel, 50 random cases each: Conv2d with int64 and with int32 bias (grouped,
dilated, padded geometries), DepthwiseConv2d, TransposeConv2d, Dense with int64 and int32 bias
(with and without activation zero points), int16 Add and Sub with broadcasting and constant
operands, and the QUANTIZE / DEQUANTIZE conversions at a 16x8 model's boundaries. The
long_accumulations row drives accumulators far beyond int32: up to 9000 saturated products
aligned with the weights' signs, int64 biases beyond int32, depthwise windows longer than the
kernels' int32 runs; with an int32 bias the same accumulators wrap, as TFLM's do.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from test_kernels_conv import geometry, tconv_geometry

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, IRError, QuantParams, Value, const
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d, TransposeConv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.eltwise import Add, AddSub, Mul, Sub
from firmforge.converter.ops.quant import Dequantize, Quantize
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row, act_quant, single, weights

ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]
MEAN_ABS_X = 16384.0  # E|x| of uniform int16
MEAN_ABS_W = 64.0     # E|w| of uniform int8 weights


@pytest.fixture(scope="module")
def built() -> dict[str, list[tuple[Graph, object]]]:
    """Every row's cases in one host build (the compile is the cost; one build shares the
    core's objects), by row name."""
    cases = {}
    for row in ROWS + FLOAT_ROWS:
        rng = np.random.default_rng(zlib.crc32(row.name.encode()))
        cases[row.name] = [row.build(rng) for _ in range(row.count)]
    sources = [(generate(g, f"{name}_{i}"), g) for name, gs in cases.items()
               for i, g in enumerate(gs)]
    models = iter(host.build(sources))
    return {name: [(g, next(models)) for g in gs] for name, gs in cases.items()}


def check(row: Row, cases: list[tuple[Graph, object]]) -> None:
    """Every case's C output equals the reference."""
    rng = np.random.default_rng(zlib.crc32(row.name.encode()) + 1)
    for i, (g, m) in enumerate(cases):
        xs = row.draw(rng, g, 3)
        want, _ = reference.run(g, xs)
        for w, o in zip(want, m.run(*xs), strict=True):
            if not np.array_equal(w, o, equal_nan=w.dtype.kind == "f"):
                bad = np.argwhere(w != o)
                raise AssertionError(f"{row.name} case {i}: {len(bad)} of {w.size} differ, first "
                                     f"{tuple(bad[0])}: C {o[tuple(bad[0])]} != ref "
                                     f"{w[tuple(bad[0])]}\n{g!r}\n{g.nodes[0].attrs}")


# -- builders -----------------------------------------------------------------------------------

def _pick(rng, values):
    return values[int(rng.integers(len(values)))]


def q16(rng, zp_range: int = 0) -> QuantParams:
    """int16 activation parameters; a zero point only where the op applies one."""
    zp = int(rng.integers(-zp_range, zp_range + 1)) if zp_range else 0
    return QuantParams.per_tensor(float(rng.uniform(1e-4, 1e-2)), zp)


def bias(rng, n: int, dtype: DType, spread: float) -> Value:
    s = int(min(spread, 2**31 - 1 if dtype is DType.s32 else 2**46))
    return const("b", rng.integers(-s, s + 1, n).astype(dtype.np), dtype)


def out_q16(rng, xq: QuantParams, wq: QuantParams, depth: int, zp: int = 0) -> QuantParams:
    """Output scale near the accumulator's real spread, so that outputs span the int16 range
    and saturate in some cases."""
    spread = math.sqrt(depth) * MEAN_ABS_X * MEAN_ABS_W * xq.s * float(np.mean(wq.scale))
    return QuantParams.per_tensor(spread / float(rng.uniform(1000, 15000)), zp)


def conv_16x8(rng, bias_dtype: DType) -> Graph:
    g = geometry(rng)
    groups = _pick(rng, [1, 1, 1, 2, 3])
    ci = _pick(rng, [1, 2, 3, 5, 8, 13])
    o = groups * _pick(rng, [1, 2, 3, 5])
    xq = q16(rng)
    x = Value("x", (1, g.h, g.w, groups * ci), DType.s16, xq)
    w = weights(rng, (o, *g.kernel, ci), axis=0)
    depth = g.kernel[0] * g.kernel[1] * ci
    b = bias(rng, o, bias_dtype, 3e6 * math.sqrt(depth))
    return single(Conv2d, "conv", [x, w, b], out_q16(rng, xq, w.quant, depth), stride=g.stride,
                  dilation=g.dilation, padding=g.padding, groups=groups, act=_pick(rng, ACTS))


def dwconv_16x8(rng) -> Graph:
    g = geometry(rng)
    c = _pick(rng, [1, 2, 3, 5, 8, 17])
    m = int(rng.integers(1, 4))
    xq = q16(rng)
    x = Value("x", (1, g.h, g.w, c), DType.s16, xq)
    w = weights(rng, (1, *g.kernel, c * m), axis=3)
    depth = g.kernel[0] * g.kernel[1]
    b = bias(rng, c * m, DType.s64, 3e6 * math.sqrt(depth))
    return single(DepthwiseConv2d, "dw", [x, w, b], out_q16(rng, xq, w.quant, depth),
                  stride=g.stride, dilation=g.dilation, padding=g.padding, depth_multiplier=m,
                  act=_pick(rng, ACTS))


def transpose_conv_16x8(rng) -> Graph:
    g = tconv_geometry(rng)
    c = _pick(rng, [1, 2, 3, 5, 8, 13, 64])
    o = _pick(rng, [1, 2, 3, 5])
    xq = q16(rng)
    x = Value("x", (1, g.h, g.w, c), DType.s16, xq)
    w = weights(rng, (o, *g.kernel, c), axis=0)
    depth = g.depth * c
    b = bias(rng, o, DType.s64, 3e6 * math.sqrt(depth))
    return single(TransposeConv2d, "tconv", [x, w, b], out_q16(rng, xq, w.quant, depth),
                  stride=g.stride, padding=g.padding, out_hw=g.out_hw, act=_pick(rng, ACTS))


def dense_16x8(rng, bias_dtype: DType) -> Graph:
    k = _pick(rng, [1, 2, 3, 7, 16, 33, 100, 129, 257, 600])
    o = _pick(rng, [1, 2, 5, 10, 31])
    lead = _pick(rng, [(1,), (1, 3), (1, 2, 2)])
    zp = 3000 if rng.random() < 0.4 else 0  # TFLM's int16 FULLY_CONNECTED applies zero points
    xq = q16(rng, zp)
    x = Value("x", (*lead, k), DType.s16, xq)
    w = weights(rng, (o, k), axis=0)
    if rng.random() < 0.3:
        w = const("w", w.data, DType.s8, QuantParams.per_tensor(float(rng.uniform(2e-3, 2e-2))))
    b = bias(rng, o, bias_dtype, 3e6 * math.sqrt(k))
    yq = out_q16(rng, xq, w.quant, k, int(rng.integers(-zp, zp + 1)))
    return single(Dense, "fc", [x, w, b], yq, act=_pick(rng, ACTS))


def add_16x8(rng, cls: type[AddSub] = Add) -> Graph:
    rank = int(rng.integers(2, 5))
    out = (1, *(int(rng.choice([1, 2, 3, 5, 8, 17])) for _ in range(rank - 1)))
    sa = tuple(d if k == 0 or rng.random() < 0.7 else 1 for k, d in enumerate(out))
    sb = tuple(d if k == 0 or rng.random() < 0.5 else 1 for k, d in enumerate(out))
    which = int(rng.integers(5))  # 0: a constant, 1: b constant, else both activations
    zp = 2000 if rng.random() < 0.3 else 0  # TFLM's int16 ADD and SUB apply zero points
    ops = []
    for name, shape, constant in (("a", sa, which == 0), ("b", sb, which == 1)):
        q = q16(rng, zp)
        if constant:
            shape = shape[int(rng.integers(0, len(shape))):]
            ops.append(const(name, rng.integers(-32768, 32768, shape).astype(np.int16),
                             DType.s16, q))
        else:
            ops.append(Value(name, shape, DType.s16, q))
    yq = QuantParams.per_tensor(max(ops[0].quant.s, ops[1].quant.s) * float(rng.uniform(0.3, 4)),
                                int(rng.integers(-zp, zp + 1)))
    return single(cls, cls.__name__.lower(), ops, yq, act=_pick(rng, ACTS))


def _shape(rng) -> tuple[int, ...]:
    return (1, *(int(rng.choice([1, 2, 5, 8, 31])) for _ in range(int(rng.integers(1, 4)))))


def requantize(src: DType, dst: DType) -> Callable[[np.random.Generator], Graph]:
    def build(rng):
        xq = q16(rng, 2000) if src is DType.s16 else act_quant(rng)
        # Scale ratios that map the input range onto a fraction to a multiple of the output's.
        span = (1 << (src.bits - 1)) / (1 << (dst.bits - 1))
        ratio = span * float(np.exp(rng.uniform(np.log(0.05), np.log(20))))
        zp = int(rng.integers(dst.qmin // 16, dst.qmax // 16 + 1))
        yq = QuantParams.per_tensor(xq.s / ratio, zp)
        return single(Quantize, "rq", [Value("x", _shape(rng), src, xq)], yq, dtype=dst)
    return build


def quantize_f32_s16(rng) -> Graph:
    return single(Quantize, "q", [Value("x", _shape(rng), DType.f32)], q16(rng, 5000),
                  dtype=DType.s16)


def dequantize_s16_f32(rng) -> Graph:
    return single(Dequantize, "dq", [Value("x", _shape(rng), DType.s16, q16(rng, 5000))], None)


def float_inputs(rng, g: Graph, batch: int) -> list[np.ndarray]:
    """Values over the int16 grid, exact ties, far out of range, +-inf and NaN."""
    v, yq = g.inputs[0], g.nodes[0].y.quant
    n = batch * v.size
    x = rng.normal(0, 20000 * yq.s, n).astype(np.float32)
    ties = (rng.integers(-40000, 40000, n) + 0.5).astype(np.float32) * np.float32(yq.s)
    pick = rng.integers(0, 10, n)
    x = np.where(pick < 3, ties, x)
    x = np.where(pick == 3, rng.choice(np.float32([np.inf, -np.inf, np.nan, 3e38, -3e38, 1e9,
                                                   -1e9]), n), x)
    return [x.astype(np.float32).reshape(batch, *v.shape[1:])]


# -- the largest accumulations ---------------------------------------------------------------------

def aligned_inputs(rng, g: Graph, batch: int) -> list[np.ndarray]:
    """Samples whose products with the first output channel's weights all have one sign and
    the largest magnitude (|acc| ~ depth * 127 * 32767), both signs, then random samples."""
    node = g.nodes[0]
    x, w = node.inputs[0], node.inputs[1].data.astype(np.int64)
    if isinstance(node, Dense):
        sign = np.sign(w[0])
    elif isinstance(node, DepthwiseConv2d):
        sign = np.sign(w[0, :, :, 0])[..., None]  # channel 0's taps, over the whole image
    else:
        sign = np.sign(w[0])  # (kh, kw, ci) of a 1-pixel output
    full = np.broadcast_to(np.where(sign >= 0, 32767, -32768), x.shape[1:])
    rand = [rng.integers(-32768, 32768, x.shape[1:]) for _ in range(max(batch - 2, 0))]
    return [np.stack([full, -1 - full, *rand][:batch]).astype(np.int16)]


def _long_quant(xq: QuantParams, wq: QuantParams, depth: int, rng) -> QuantParams:
    """An output scale that keeps the aligned (largest) accumulator inside the int16 range."""
    acc = depth * 127 * 32767.0 * xq.s * float(np.max(wq.scale))
    return QuantParams.per_tensor(acc / float(rng.uniform(8000, 30000)))


def _long_bias(rng, n: int, dtype: DType, depth: int) -> Value:
    """int64: up to a quarter of the aligned accumulator (beyond int32 from depth ~1000);
    int32: the whole int32 range (the sums wrap anyway)."""
    return bias(rng, n, dtype, depth * 127 * 32767 / 4 if dtype is DType.s64 else 2**31 - 1)


def dense_long(bias_dtype: DType) -> Callable[[np.random.Generator], Graph]:
    def build(rng):
        k = _pick(rng, [257, 1000, 4096, 9000])
        o = _pick(rng, [1, 2, 3])
        xq = q16(rng)
        x = Value("x", (1, k), DType.s16, xq)
        w = weights(rng, (o, k), axis=0)
        b = _long_bias(rng, o, bias_dtype, k)
        return single(Dense, "fc", [x, w, b], _long_quant(xq, w.quant, k, rng))
    return build


def conv_long(bias_dtype: DType) -> Callable[[np.random.Generator], Graph]:
    """One output pixel of a window the size of the image: depth = kh * kw * ci."""
    def build(rng):
        kh, kw, ci = int(rng.integers(1, 6)), int(rng.integers(1, 6)), _pick(rng, [64, 200, 700])
        xq = q16(rng)
        x = Value("x", (1, kh, kw, ci), DType.s16, xq)
        w = weights(rng, (int(rng.integers(1, 4)), kh, kw, ci), axis=0)
        b = _long_bias(rng, w.shape[0], bias_dtype, kh * kw * ci)
        return single(Conv2d, "conv", [x, w, b], _long_quant(xq, w.quant, kh * kw * ci, rng))
    return build


def dwconv_long(rng) -> Graph:
    """Windows of 300 to 2500 taps (beyond the kernel's int32 run of 256)."""
    kh, kw = int(rng.integers(15, 51)), int(rng.integers(20, 51))
    c = _pick(rng, [1, 2, 3])
    xq = q16(rng)
    x = Value("x", (1, kh, kw, c), DType.s16, xq)
    w = weights(rng, (1, kh, kw, c), axis=3)
    b = _long_bias(rng, c, DType.s64, kh * kw)
    return single(DepthwiseConv2d, "dw", [x, w, b], _long_quant(xq, w.quant, kh * kw, rng))


LONG = [dense_long(DType.s64), dense_long(DType.s32), conv_long(DType.s64),
        conv_long(DType.s32), dwconv_long]

ROWS = [
    Row("conv2d_s16_s8", lambda rng: conv_16x8(rng, DType.s64)),
    Row("conv2d_s16_s8_s32", lambda rng: conv_16x8(rng, DType.s32)),
    Row("dwconv2d_s16_s8", dwconv_16x8),
    Row("transpose_conv2d_s16_s8", transpose_conv_16x8),
    Row("dense_s16_s8", lambda rng: dense_16x8(rng, DType.s64)),
    Row("dense_s16_s8_s32", lambda rng: dense_16x8(rng, DType.s32)),
    Row("add_s16", add_16x8),
    Row("sub_s16", lambda rng: add_16x8(rng, Sub)),
    Row("quantize_s16_s8", requantize(DType.s16, DType.s8)),
    Row("quantize_s8_s16", requantize(DType.s8, DType.s16)),
    Row("quantize_s16_s16", requantize(DType.s16, DType.s16), count=25),
    # Every kernel's largest accumulations, in one build (a fixed cost per build).
    Row("long_accumulations", lambda rng: _pick(rng, LONG)(rng), count=40, inputs=aligned_inputs),
]
# Float in or out: kept out of ROWS, which test_sanitizers.py also runs (its firmware runner reads
# and prints integers only).
FLOAT_ROWS = [Row("quantize_f32_s16", quantize_f32_s16, inputs=float_inputs),
              Row("dequantize_s16_f32", dequantize_s16_f32)]


@pytest.mark.parametrize("row", ROWS + FLOAT_ROWS, ids=str)
def test_kernel_matches_reference(row, built):
    check(row, built[row.name])


def test_long_rows_leave_int32():
    """The long rows do what they claim: aligned accumulators exceed int32, an int64 bias
    keeps them exact (an unsaturated output) and an int32 bias wraps them (another output)."""
    rng = np.random.default_rng(3)
    x = Value("x", (1, 9000), DType.s16, q16(rng))
    w = weights(rng, (2, 9000), axis=0)
    yq = _long_quant(x.quant, w.quant, 9000, rng)
    xs = aligned_inputs(rng, single(Dense, "fc", [x, w, bias(rng, 2, DType.s64, 0)], yq), 3)
    assert abs(int(xs[0][0].astype(np.int64) @ w.data[0].astype(np.int64))) > 2**33
    outs = []
    for dtype in (DType.s64, DType.s32):
        g = single(Dense, "fc", [x, w, const("b", np.zeros(2, dtype.np), dtype)], yq)
        outs.append(reference.run(g, xs)[0][0])
    assert 1000 < abs(int(outs[0][0, 0])) < 32767
    assert outs[0][0, 0] != outs[1][0, 0]


# -- what the 16x8 references refuse -------------------------------------------------------------

def test_refusals():
    rng = np.random.default_rng(5)
    x = Value("x", (1, 4, 4, 2), DType.s16, q16(rng))
    w = weights(rng, (3, 2, 2, 2), axis=0)
    b64 = bias(rng, 3, DType.s64, 1000)
    yq = QuantParams.per_tensor(0.5)
    # int16 convolutions ignore zero points in TFLM: a nonzero one is refused.
    for bad in (Value("x", x.shape, DType.s16, QuantParams.per_tensor(0.01, 5)),):
        with pytest.raises(IRError, match="zero points of 0"):
            single(Conv2d, "conv", [bad, w, b64], yq)
    with pytest.raises(IRError, match="zero points of 0"):
        single(Conv2d, "conv", [x, w, b64], QuantParams.per_tensor(0.5, -3))
    # Biases: s16 is no TFLM bias type; the depthwise kernel reads int64 only.
    with pytest.raises(IRError, match="s64 or s32 bias"):
        single(Conv2d, "conv", [x, w, const("b", np.zeros(3, np.int16), DType.s16)], yq)
    dw = weights(rng, (1, 2, 2, 2), axis=3)
    with pytest.raises(IRError, match="s64 bias"):
        single(DepthwiseConv2d, "dw", [x, dw, const("b", np.zeros(2, np.int32))], yq)
    # The int64 accumulator contract (|acc| < 2**47) and the shift limit of mbqm64.
    with pytest.raises(IRError, match="2\\*\\*47"):
        single(Conv2d, "conv", [x, w, const("b", np.full(3, 1 << 47, np.int64))], yq)
    tiny = single(Conv2d, "conv", [x, w, b64], QuantParams.per_tensor(1e-12))
    with pytest.raises(IRError, match="shift"):
        reference.run(tiny, [np.zeros((1, 4, 4, 2), np.int16)])
    # Int16 weights, mixed activation types, int16 MUL.
    w16 = const("w", np.ones((3, 2, 2, 2), np.int16), DType.s16, w.quant)
    with pytest.raises(IRError, match="s8 weights"):
        single(Conv2d, "conv", [x, w16, b64], yq)
    with pytest.raises(IRError, match="output"):
        node = Conv2d(name="conv", inputs=[x, w, b64],
                      outputs=[Value("y", (1, 3, 3, 3), DType.s8, yq)])
        node.check()
    a = Value("a", (1, 4), DType.s16, q16(rng))
    with pytest.raises(IRError, match="mul has no s16"):
        single(Mul, "mul", [a, a], yq)
