"""Single-operator .tflite models for the TFLite frontend tests (built with tflm_harness).

Each generator returns ``Case``s with random but sane parameters from a seeded generator: the
test's own description of the operator in TFLite terms (options, tensor shapes, quantization),
written without the frontend under test. Output shapes are computed here from TFLite's rules.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import flatbuffers
import numpy as np

from firmforge.converter.ir import DType

import lstm_cases as lstm
import svdf_cases as svdf
from tflm_harness import BuiltinOperator as Op
from tflm_harness import TensorSpec, build_model, int4, schema

SAME, VALID = schema.Padding.SAME, schema.Padding.VALID
ACTS = [0, 1, 2, 3]  # NONE, RELU, RELU_N1_TO_1, RELU6


@dataclass
class Case:
    name: str
    model: bytes
    op: str  # the builtin operator the import must map

    def __str__(self) -> str:
        return self.name


def rewrite(model: bytes, edit) -> bytes:
    """The model unpacked with the schema's object API, changed by ``edit(ModelT)``, repacked."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    edit(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def options(cls, **fields):
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o


def act(rng, shape, dtype=np.int8, name="") -> TensorSpec:
    if np.dtype(dtype) == np.float32:
        return TensorSpec(tuple(shape), np.float32, name=name)
    if np.dtype(dtype) == np.int16:
        return TensorSpec(tuple(shape), np.int16, float(rng.uniform(1e-4, 1e-3)), 0, name=name)
    if np.dtype(dtype) == np.int32:  # an int32 activation (a QUANTIZE's input or output)
        return TensorSpec(tuple(shape), np.int32, float(rng.uniform(1e-7, 1e-6)), 0, name=name)
    return TensorSpec(tuple(shape), np.int8, float(rng.uniform(0.01, 0.1)),
                      int(rng.integers(-128, 128)), name=name)


def same_q(spec: TensorSpec, shape, name="") -> TensorSpec:
    return TensorSpec(tuple(shape), spec.dtype, spec.scale, spec.zero_point, name=name)


def weights(rng, shape, axis, per_channel=True, dtype=np.int8) -> TensorSpec:
    if np.dtype(dtype) == np.float32:
        return TensorSpec(shape, np.float32, data=rng.normal(0, 0.3, shape).astype(np.float32))
    n = shape[axis] if per_channel else 1
    scales = rng.uniform(0.002, 0.02, n).astype(np.float32)
    return TensorSpec(shape, np.int8, scales, np.zeros(n, np.int64), axis if per_channel else 0,
                      rng.integers(-127, 128, shape).astype(np.int8))


def bias(rng, n, x: TensorSpec, w: TensorSpec, dtype=np.int32) -> TensorSpec:
    if np.dtype(x.dtype) == np.float32:
        return TensorSpec((n,), np.float32, data=rng.normal(0, 0.5, n).astype(np.float32))
    scale = np.float32(x.scale) * np.broadcast_to(np.asarray(w.scale, np.float32), (n,))
    return TensorSpec((n,), dtype, scale, np.zeros(n, np.int64), 0,
                      rng.integers(-3000, 3001, n).astype(dtype))


def weights4(rng, shape, axis, per_channel=True) -> TensorSpec:
    """INT4 weights over the whole nibble range [-8, 7], per channel along ``axis`` or not."""
    n = shape[axis] if per_channel else 1
    return TensorSpec(shape, int4, rng.uniform(0.02, 0.3, n).astype(np.float32),
                      np.zeros(n, np.int64), axis if per_channel else 0,
                      rng.integers(-8, 8, shape).astype(np.int8))


def out_for_acc(rng, x: TensorSpec, w: TensorSpec, depth: int, shape) -> TensorSpec:
    """An output whose scale sits near the accumulator's spread (both the linear range and the
    clamps get exercised)."""
    if np.dtype(x.dtype) == np.float32:
        return TensorSpec(tuple(shape), np.float32)
    span = 32768.0 if np.dtype(x.dtype) == np.int16 else 74.0
    w_abs = 4.0 if w.dtype is int4 else 73.0  # mean |w| of uniform int4 / int8 weights
    spread = span * w_abs * math.sqrt(depth) * float(x.scale) * float(np.mean(w.scale))
    if np.dtype(x.dtype) == np.int16:
        return TensorSpec(tuple(shape), np.int16, spread / float(rng.uniform(3000, 20000)), 0)
    return TensorSpec(tuple(shape), np.int8, spread / float(rng.uniform(15, 150)),
                      int(rng.integers(-128, 128)))


def window_out(n: int, k: int, s: int, d: int, pad: int) -> int:
    """TFLite's output size (ComputeOutSize) for SAME or VALID padding."""
    eff = (k - 1) * d + 1
    return (n + s - 1) // s if pad == SAME else (n + s - eff) // s


def _geometry(rng, max_k=3, dilate=True):
    h, w = int(rng.integers(3, 10)), int(rng.integers(3, 10))
    kh, kw = int(rng.integers(1, max_k + 1)), int(rng.integers(1, max_k + 1))
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if dilate and rng.random() < 0.4 \
        else (1, 1)
    if (kh - 1) * dil[0] + 1 > h or (kw - 1) * dil[1] + 1 > w:
        dil = (1, 1)
    pad = SAME if rng.random() < 0.5 else VALID
    oh = window_out(h, kh, stride[0], dil[0], pad)
    ow = window_out(w, kw, stride[1], dil[1], pad)
    return h, w, kh, kw, stride, dil, pad, oh, ow


# -- families ------------------------------------------------------------------------------------
def conv_cases(n: int = 8, dtype=np.int8, tag: str = "conv", bias_dtype=np.int32) -> list[Case]:
    rng = rng_for(tag)
    out = []
    for i in range(n):
        h, w, kh, kw, stride, dil, pad, oh, ow = _geometry(rng)
        groups = 2 if i % 5 == 4 and dtype == np.int8 else 1
        ci, o = int(rng.integers(1, 4)), int(rng.integers(1, 4)) * groups
        x = act(rng, (1, h, w, ci * groups), dtype)
        wt = weights(rng, (o, kh, kw, ci), 0, dtype=dtype if dtype == np.float32 else np.int8)
        y = out_for_acc(rng, x, wt, kh * kw * ci, (1, oh, ow, o))
        b = bias(rng, o, x, wt, bias_dtype)
        ins = [x, wt, b] if i % 4 != 3 else ([x, wt] if i % 8 == 3 else [x, wt, None])
        opt = options(schema.Conv2DOptionsT, padding=pad, strideH=stride[0], strideW=stride[1],
                      dilationHFactor=dil[0], dilationWFactor=dil[1],
                      fusedActivationFunction=ACTS[i % 4])
        if bias_dtype == np.int32 and dtype == np.int16:
            opt.quantizedBiasType = schema.TensorType.INT32
        out.append(Case(f"{tag}{i}", build_model(Op.CONV_2D, opt, ins, [y]), "CONV_2D"))
    return out


def depthwise_cases(n: int = 8, dtype=np.int8, tag: str = "dw") -> list[Case]:
    rng = rng_for(tag)
    out = []
    for i in range(n):
        h, w, kh, kw, stride, dil, pad, oh, ow = _geometry(rng)
        c, m = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        x = act(rng, (1, h, w, c), dtype)
        wt = weights(rng, (1, kh, kw, c * m), 3, dtype=dtype if dtype == np.float32 else np.int8)
        y = out_for_acc(rng, x, wt, kh * kw, (1, oh, ow, c * m))
        b = bias(rng, c * m, x, wt, np.int64 if dtype == np.int16 else np.int32)
        ins = [x, wt, b] if i % 4 != 3 else [x, wt]
        opt = options(schema.DepthwiseConv2DOptionsT, padding=pad, strideH=stride[0],
                      strideW=stride[1], dilationHFactor=dil[0], dilationWFactor=dil[1],
                      depthMultiplier=m, fusedActivationFunction=ACTS[i % 4])
        out.append(Case(f"{tag}{i}", build_model(Op.DEPTHWISE_CONV_2D, opt, ins, [y]),
                        "DEPTHWISE_CONV_2D"))
    return out


def transpose_conv_cases(n: int = 8, dtype=np.int8, tag: str = "tconv",
                         bias_dtype=np.int32) -> list[Case]:
    """TRANSPOSE_CONV: SAME and VALID padding, strides 1 to 3, output sizes TensorFlow's
    (in * s for SAME, (in - 1) * s + k for VALID) or up to two smaller or one larger (TFLM takes
    any stored size), output_shape a constant or a graph input (as in SEANet, where TFLM never
    reads it), the bias omitted, fused activations, per-tensor and per-channel weights."""
    rng = rng_for(tag)
    out = []
    for i in range(n):
        h, w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pad = SAME if i % 2 else VALID
        size = [d * s if pad == SAME else (d - 1) * s + k
                for d, s, k in ((h, stride[0], kh), (w, stride[1], kw))]
        size = [max(1, d + int(rng.choice([0, 0, -1, -2, 1]))) for d in size]
        ci, o = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        x = act(rng, (1, h, w, ci), dtype)
        wt = weights(rng, (o, kh, kw, ci), 0, per_channel=i % 3 != 0,
                     dtype=dtype if dtype == np.float32 else np.int8)
        depth = max(1, -(-kh // stride[0]) * -(-kw // stride[1]) * ci)
        y = out_for_acc(rng, x, wt, depth, (1, *size, o))
        shape = TensorSpec((4,), np.int32, data=np.array([1, *size, o], np.int32))
        if i % 4 == 1:
            shape = TensorSpec((4,), np.int32)  # a graph input nothing reads
        ins = [shape, wt, x] + ([bias(rng, o, x, wt, bias_dtype)] if i % 4 != 3 else [])
        opt = options(schema.TransposeConvOptionsT, padding=pad, strideH=stride[0],
                      strideW=stride[1], fusedActivationFunction=ACTS[i % 4])
        out.append(Case(f"{tag}{i}", build_model(Op.TRANSPOSE_CONV, opt, ins, [y]),
                        "TRANSPOSE_CONV"))
    return out


def dense_cases(n: int = 8, dtype=np.int8, tag: str = "fc", bias_dtype=np.int32) -> list[Case]:
    """Rank-2 inputs, rank-4 inputs flattened to one row, keep_num_dims, omitted bias,
    per-tensor and per-channel weights."""
    rng = rng_for(tag)
    out = []
    for i in range(n):
        kind = i % 4
        o = int(rng.integers(1, 12))
        if kind == 1:  # [1, H, W, C] read as one row of H*W*C
            in_shape = (1, int(rng.integers(1, 4)), int(rng.integers(1, 4)),
                        int(rng.integers(1, 6)))
            k, out_shape = math.prod(in_shape), (1, o)
        elif kind == 2:  # keep_num_dims over [1, R, K]
            k = int(rng.integers(1, 30))
            in_shape, out_shape = (1, int(rng.integers(1, 4)), k), None
        else:
            k = int(rng.integers(1, 60))
            in_shape, out_shape = (1, k), (1, o)
        out_shape = out_shape or (*in_shape[:-1], o)
        x = act(rng, in_shape, dtype)
        wt = weights(rng, (o, k), 0, per_channel=i % 3 != 0,
                     dtype=dtype if dtype == np.float32 else np.int8)
        y = out_for_acc(rng, x, wt, k, out_shape)
        b = bias(rng, o, x, wt, bias_dtype)
        ins = [x, wt, b] if kind != 3 else [x, wt, None]
        opt = options(schema.FullyConnectedOptionsT, fusedActivationFunction=ACTS[i % 4],
                      keepNumDims=kind == 2)
        if bias_dtype == np.int32 and dtype == np.int16:
            opt.quantizedBiasType = schema.TensorType.INT32
        out.append(Case(f"{tag}{i}", build_model(Op.FULLY_CONNECTED, opt, ins, [y]),
                        "FULLY_CONNECTED"))
    return out


def batch_matmul_cases(n: int = 10, dtype=np.int8, tag: str = "") -> list[Case]:
    """BATCH_MATMUL: adj_x / adj_y, ranks 3 to 5 with batch dims broadcasting either way, a
    constant operand (first or second, sometimes of lower rank) in a third of the cases, zero
    points anywhere, output scales around the accumulator's spread (both clamps reached)."""
    rng = rng_for("BATCH_MATMUL" + tag)
    out = []
    for i in range(n):
        adj_x, adj_y = bool(i % 2), bool(i % 4 >= 2)
        rows, depth, cols = (int(d) for d in rng.integers(1, 9, 3))
        rank = int(rng.integers(3, 6))
        batch = (1, *(int(d) for d in rng.integers(1, 4, rank - 3)))
        mats = ((depth, rows) if adj_x else (rows, depth), (cols, depth) if adj_y else (depth, cols))
        specs = [act(rng, (*(d if rng.random() < 0.7 else 1 for d in batch), *m), dtype)
                 for m in mats]
        if i % 3 == 2:  # a constant, first or second, sometimes of lower rank
            k = int(rng.integers(2))
            shape = specs[k].shape[int(rng.integers(len(specs[k].shape) - 1)):]
            specs[k] = TensorSpec(shape, specs[k].dtype, specs[k].scale, specs[k].zero_point)
            specs[k].data = (rng.normal(0, 1, shape).astype(np.float32)
                             if np.dtype(dtype) == np.float32
                             else rng.integers(-128, 128, shape).astype(dtype))
        ys = (*np.broadcast_shapes(specs[0].shape[:-2], specs[1].shape[:-2]), rows, cols)
        y = act(rng, ys, dtype)
        if np.dtype(dtype) == np.int8:
            spread = 150.0 * math.sqrt(depth) * specs[0].scale * specs[1].scale * 74
            y.scale = spread / float(rng.uniform(15, 150))
        opt = options(schema.BatchMatMulOptionsT, adjX=adj_x, adjY=adj_y)
        out.append(Case(f"batch_matmul{tag}{i}", build_model(Op.BATCH_MATMUL, opt, specs, [y]),
                        "BATCH_MATMUL"))
    return out


def pool_cases(n: int = 8, dtype=np.int8) -> list[Case]:
    out = []
    for code, name in ((Op.AVERAGE_POOL_2D, "AVERAGE_POOL_2D"), (Op.MAX_POOL_2D, "MAX_POOL_2D")):
        rng = rng_for(name)
        for i in range(n):
            h, w = int(rng.integers(2, 10)), int(rng.integers(2, 10))
            k = (int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1)))
            s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            pad = SAME if i % 2 else VALID
            c = int(rng.integers(1, 5))
            x = act(rng, (1, h, w, c), dtype)
            oh, ow = window_out(h, k[0], s[0], 1, pad), window_out(w, k[1], s[1], 1, pad)
            opt = options(schema.Pool2DOptionsT, padding=pad, strideH=s[0], strideW=s[1],
                          filterHeight=k[0], filterWidth=k[1], fusedActivationFunction=ACTS[i % 4])
            y = same_q(x, (1, oh, ow, c))
            out.append(Case(f"{name.lower()}{i}", build_model(code, opt, [x], [y]), name))
    return out


def binary_cases(n: int = 6, dtype=np.int8, ops=("ADD", "SUB", "MUL"), tag="") -> list[Case]:
    """Broadcasting shapes, a constant second operand, a lower-rank activation operand."""
    out = []
    for name in ops:
        rng = rng_for(name + tag)
        cls = getattr(schema, f"{name.capitalize()}OptionsT")
        for i in range(n):
            shape = (1, *(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 4)))))
            sa = tuple(d if j == 0 or rng.random() < 0.7 else 1 for j, d in enumerate(shape))
            sb = tuple(d if j == 0 or rng.random() < 0.6 else 1 for j, d in enumerate(shape))
            sy = tuple(np.broadcast_shapes(sa, sb))
            a = act(rng, sa, dtype)
            if i % 3 == 1:  # a constant, sometimes of lower rank
                sb = sb[int(rng.integers(len(sb))):] or (1,)
                b = act(rng, sb, dtype)
                b.data = (rng.normal(0, 1, sb).astype(np.float32) if dtype == np.float32 else
                          rng.integers(-128, 128, sb).astype(dtype))
            elif i % 3 == 2 and len(sa) > 2:  # an activation of lower rank: [1, C]
                b = act(rng, (1, sy[-1]), dtype)
            else:
                b = act(rng, sb, dtype)
            sy = tuple(np.broadcast_shapes(sa, b.shape))
            y = act(rng, sy, dtype)
            if name == "MUL" and dtype != np.float32:
                y.scale = float(a.scale) * float(b.scale) * float(rng.uniform(20, 400))
            opt = options(cls, fusedActivationFunction=ACTS[i % 4])
            out.append(Case(f"{name.lower()}{tag}{i}",
                            build_model(getattr(Op, name), opt, [a, b], [y]), name))
    return out


def minmax_cases(n: int = 6, dtype=np.int8, tag: str = "") -> list[Case]:
    """MAXIMUM and MINIMUM: broadcasting shapes, a constant operand (first or second, of lower
    rank, holding the dtype's extremes), a lower-rank activation; one quantization shared by
    both operands and the output, as TFLite's converter writes it (TFLM compares raw values)."""
    out = []
    for name in ("MAXIMUM", "MINIMUM"):
        rng = rng_for(name + tag)
        for i in range(n):
            shape = (1, *(int(d) for d in rng.integers(1, 6, int(rng.integers(1, 4)))))
            sa, sb = (tuple(d if j == 0 or rng.random() < 0.6 else 1
                            for j, d in enumerate(shape)) for _ in range(2))
            q = act(rng, shape, dtype)
            specs = [same_q(q, sa), same_q(q, sb)]
            if i % 3 == 1:  # a constant, sometimes of lower rank, first or second
                k = i % 2
                cs = specs[k].shape[int(rng.integers(len(specs[k].shape))):] or (1,)
                specs[k] = same_q(q, cs)
                if np.dtype(dtype) == np.float32:
                    specs[k].data = rng.normal(0, 1, cs).astype(np.float32)
                else:
                    info = np.iinfo(dtype)
                    pool = np.array([info.min, info.max, -1, 0, 1], dtype)
                    specs[k].data = rng.choice(pool, cs).astype(dtype)
            elif i % 3 == 2 and len(sa) > 2:  # an activation of lower rank: [1, C]
                specs[1] = same_q(q, (1, shape[-1]))
            sy = tuple(np.broadcast_shapes(*(sp.shape for sp in specs)))
            out.append(Case(f"{name.lower()}{tag}{i}",
                            build_model(getattr(Op, name), schema.MaximumMinimumOptionsT(),
                                        specs, [same_q(q, sy)]), name))
    return out


def _shape(rng, lo=2, hi=4):
    return (1, *(int(d) for d in rng.integers(1, 7, int(rng.integers(lo, hi + 1)) - 1)))


def activation_cases(n: int = 4, dtype=np.int8) -> list[Case]:
    out = []
    fixed = {"LOGISTIC": (1 / 256, -128), "SOFTMAX": (1 / 256, -128), "TANH": (1 / 128, 0)}
    for name in ("SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU"):
        rng = rng_for(name)
        for i in range(n):
            x = act(rng, _shape(rng), dtype)
            if dtype == np.float32:
                y = act(rng, x.shape, dtype)
            elif name in fixed:
                y = TensorSpec(x.shape, np.int8, *fixed[name])
            elif name == "RELU6":
                y = same_q(x, x.shape)
            else:
                y = act(rng, x.shape, dtype)
            opt = None
            if name == "SOFTMAX":
                opt = options(schema.SoftmaxOptionsT, beta=[1.0, 0.5, 2.0, 1.3][i % 4])
            elif name == "LEAKY_RELU":
                opt = options(schema.LeakyReluOptionsT, alpha=[0.1, 0.01, 0.5, -0.2][i % 4])
            out.append(Case(f"{name.lower()}{i}", build_model(getattr(Op, name), opt, [x], [y]),
                            name))
    return out


def softmax_s16_cases(n: int = 6) -> list[Case]:
    """SOFTMAX from int8 to int16 (keyword_scrambled.tflite's last layer): output scale 1/65536,
    or off by up to TFLM's tolerance of 0.1 %, and zero point -32768."""
    rng = rng_for("SOFTMAX16")
    out = []
    for i in range(n):
        x = act(rng, _shape(rng))
        x.scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(3.0))))
        scale = 1 / 65536 * (1 + [0.0, 0.0005, -0.0009, 0.0][i % 4])
        y = TensorSpec(x.shape, np.int16, scale, -32768)
        opt = options(schema.SoftmaxOptionsT, beta=[1.0, 0.5, 2.0, 1.3][i % 4])
        out.append(Case(f"softmax16_{i}", build_model(Op.SOFTMAX, opt, [x], [y]), "SOFTMAX"))
    return out


def hard_swish_cases(n: int = 8, dtype=np.int8) -> list[Case]:
    """HARD_SWISH: input scales from 1e-5 to 3 and output multipliers s_x / (128 s_y) from 2**-22
    to just below 1, so the int16 arithmetic takes each of its branches and the outputs reach
    both clamps; zero points anywhere."""
    rng = rng_for("HARD_SWISH")
    out = []
    for i in range(n):
        x = act(rng, _shape(rng), dtype)
        y = act(rng, x.shape, dtype)
        if np.dtype(dtype) == np.int8:
            x.scale = float(10 ** rng.uniform(-5, 0.5))
            y.scale = x.scale / 128 / 2.0 ** rng.uniform(-22, -0.02)
        out.append(Case(f"hard_swish{i}", build_model(Op.HARD_SWISH, None, [x], [y]),
                        "HARD_SWISH"))
    return out


def leaky_relu16_cases(n: int = 4) -> list[Case]:
    """int16 LEAKY_RELU, whose TFLM kernel applies zero points (half of the cases have them)."""
    rng = rng_for("LEAKY_RELU16")
    out = []
    for i in range(n):
        x, y = act(rng, _shape(rng), np.int16), act(rng, (), np.int16)
        y.shape = x.shape
        if i % 2:
            x.zero_point, y.zero_point = (int(z) for z in rng.integers(-5000, 5001, 2))
        opt = options(schema.LeakyReluOptionsT, alpha=[0.3, 0.01, 1.5, -0.2][i % 4])
        out.append(Case(f"leaky_relu16_{i}", build_model(Op.LEAKY_RELU, opt, [x], [y]),
                        "LEAKY_RELU"))
    return out


def i32(data, name="") -> TensorSpec:
    a = np.asarray(data, np.int32)
    return TensorSpec(a.shape, np.int32, data=a, name=name)


def shape_cases(n: int = 4, dtype=np.int8) -> list[Case]:
    """RESHAPE (shape tensor, -1, options only), SQUEEZE, PAD, PADV2, CONCATENATION."""
    rng = rng_for("shape ops")
    out = []
    for i in range(n):
        x = act(rng, _shape(rng, 3, 4), dtype)
        size = math.prod(x.shape)
        new = (1, size) if i % 2 else (1, *x.shape[1:][::-1])
        spec = [1, -1] if i % 4 == 1 else list(new)
        ins = [x, i32(spec)] if i % 4 != 2 else [x]
        opt = options(schema.ReshapeOptionsT, newShape=list(new))
        out.append(Case(f"reshape{i}", build_model(Op.RESHAPE, opt, ins, [same_q(x, new)]),
                        "RESHAPE"))
        sq = act(rng, (1, 1, int(rng.integers(1, 5)), 1, int(rng.integers(2, 5))), dtype)
        dims = [1, 3] if i % 2 else [-2, 1]
        want = (1, sq.shape[2], sq.shape[4])
        out.append(Case(f"squeeze{i}", build_model(
            Op.SQUEEZE, options(schema.SqueezeOptionsT, squeezeDims=dims), [sq],
            [same_q(sq, want)]), "SQUEEZE"))
        pads = [[0, 0], *([int(rng.integers(0, 3)), int(rng.integers(0, 3))]
                          for _ in x.shape[1:])]
        py = same_q(x, tuple(d + a + b for d, (a, b) in zip(x.shape, pads, strict=True)))
        out.append(Case(f"pad{i}", build_model(Op.PAD, None, [x, i32(pads)], [py]), "PAD"))
        zp = 0 if dtype == np.float32 else int(x.zero_point)
        c = TensorSpec((1,), x.dtype, x.scale, x.zero_point, data=np.full((1,), zp, x.dtype))
        out.append(Case(f"padv2_{i}", build_model(Op.PADV2, None, [x, i32(pads), c], [py]),
                        "PADV2"))
        rank = len(x.shape)
        axis = int(rng.integers(1, rank))
        parts = [x] + [same_q(x, tuple(int(rng.integers(1, 4)) if d == axis else s
                                       for d, s in enumerate(x.shape)))
                       for _ in range(int(rng.integers(1, 3)))]
        cy = list(x.shape)
        cy[axis] = sum(p.shape[axis] for p in parts)
        opt = options(schema.ConcatenationOptionsT, axis=axis - rank * (i % 2))
        out.append(Case(f"concat{i}", build_model(Op.CONCATENATION, opt, parts,
                                                  [same_q(x, cy)]), "CONCATENATION"))
    return out


def split_cases(n: int = 6, dtype=np.int8, tag: str = "") -> list[Case]:
    """SPLIT (equal pieces) and SPLIT_V (given sizes, one of them -1 at times) along every
    non-batch axis, spelled positive or negative, 1 to 4 outputs, ranks 2 to 5; every output
    quantized as the input (TFLM copies bytes)."""
    out = []
    for name in ("SPLIT", "SPLIT_V"):
        rng = rng_for(name + tag)
        for i in range(n):
            rank = int(rng.integers(2, 6))
            shape = [1, *(int(d) for d in rng.integers(1, 5, rank - 1))]
            axis, k = int(rng.integers(1, rank)), int(rng.integers(1, 5))
            sizes = [int(rng.integers(1, 4))] * k if name == "SPLIT" else \
                [int(d) for d in rng.integers(1, 4, k)]
            shape[axis] = sum(sizes)
            x = act(rng, shape, dtype)
            outs = [same_q(x, (*shape[:axis], s, *shape[axis + 1:])) for s in sizes]
            spelled = i32(np.int32(axis - rank if i % 2 else axis))
            if name == "SPLIT":
                model = build_model(Op.SPLIT, options(schema.SplitOptionsT, numSplits=k),
                                    [spelled, x], outs)
            else:
                spec = list(sizes)
                if i % 3 == 1:
                    spec[int(rng.integers(k))] = -1
                model = build_model(Op.SPLIT_V, options(schema.SplitVOptionsT, numSplits=k),
                                    [x, i32(spec), spelled], outs)
            out.append(Case(f"{name.lower()}{tag}{i}", model, name))
    return out


def transpose_cases(n: int = 8, dtype=np.int8, tag: str = "") -> list[Case]:
    """TRANSPOSE over ranks 1 to 5 (batch 1 first, kept in place), random permutations of the
    other dimensions (the identity now and then), dimensions of 1 among them."""
    rng = rng_for("TRANSPOSE" + tag)
    out = []
    for i in range(n):
        rank = [1, 2, 3, 4, 5, 5, 4, 3][i % 8]
        shape = (1, *(int(d) for d in rng.integers(1, 6, rank - 1)))
        perm = [0, *(int(d) + 1 for d in rng.permutation(rank - 1))]
        x = act(rng, shape, dtype)
        y = same_q(x, tuple(shape[d] for d in perm))
        out.append(Case(f"transpose{tag}{i}", build_model(Op.TRANSPOSE, None, [x, i32(perm)],
                                                          [y]), "TRANSPOSE"))
    return out


def strided_slice_cases(n: int = 12, dtype=np.int8, tag: str = "strided_slice") -> list[Case]:
    """Ranks 2 to 4, strides of either sign, indices beyond the axis and negative ones, begin,
    end and shrink masks. The output shape is numpy's basic slicing of the same spec (TFLite's
    rules: negative indices count from the end, then clamp; a mask takes the whole axis; a shrunk
    axis is indexed)."""
    rng = rng_for(tag)
    out = []
    while len(out) < n:
        shape = (1, *(int(d) for d in rng.integers(2, 9, int(rng.integers(1, 4)))))
        begin, end, strides, index = [0], [1], [1], [slice(None)]
        masks = {"beginMask": 0, "endMask": 0, "shrinkAxisMask": 0}
        for d, size in enumerate(shape[1:], 1):
            s = int(rng.choice([1, 1, 2, 3, -1, -2]))
            kind = rng.random()
            if kind < 0.5:  # from inside the axis, a run that may overshoot (and clamp)
                b = int(rng.integers(size))
                e = b + s * int(rng.integers(1, size + 1))
                b, e = (v - size if 0 <= v < size and rng.random() < 0.3 else v for v in (b, e))
            else:  # anywhere, beyond either end included
                b, e = (int(v) for v in rng.integers(-size - 2, size + 3, 2))
            bm, em = rng.random() < 0.2, rng.random() < 0.25
            if rng.random() < 0.15:  # shrink: a forward stride from an index inside the axis
                s, b, bm, em = 1, int(rng.integers(-size, size)), False, False
                masks["shrinkAxisMask"] |= 1 << d
                index.append(b)
            else:
                index.append(slice(None if bm else b, None if em else e, s))
            masks["beginMask"] |= int(bm) << d
            masks["endMask"] |= int(em) << d
            begin.append(b)
            end.append(e)
            strides.append(s)
        y_shape = np.empty(shape)[tuple(index)].shape
        if 0 in y_shape:
            continue
        x = act(rng, shape, dtype)
        opt = options(schema.StridedSliceOptionsT, **masks)
        model = build_model(Op.STRIDED_SLICE, opt, [x, i32(begin), i32(end), i32(strides)],
                            [same_q(x, y_shape)])
        out.append(Case(f"{tag}{len(out)}", model, "STRIDED_SLICE"))
    return out


def mean_cases(n: int = 6, dtype=np.int8) -> list[Case]:
    rng = rng_for("mean")
    out = []
    for i in range(n):
        x = act(rng, (1, *(int(d) for d in rng.integers(1, 7, 3))), dtype)
        axes = [[1, 2], [2, 1], [-1], [1, 2, 3], [2], [-3, -2]][i % 6]
        keep = bool(i % 2)
        red = {a % 4 for a in axes}
        shape = tuple(1 if j in red else d for j, d in enumerate(x.shape)) if keep else \
            tuple(d for j, d in enumerate(x.shape) if j not in red)
        y = act(rng, shape, dtype) if i % 3 else same_q(x, shape)
        opt = options(schema.ReducerOptionsT, keepDims=keep)
        out.append(Case(f"mean{i}", build_model(Op.MEAN, opt, [x, i32(axes)], [y]), "MEAN"))
    return out


def quant_cases() -> list[Case]:
    rng = rng_for("quantize")
    out = []
    pairs = [(np.float32, np.int8), (np.int8, np.int8), (np.float32, np.int16),
             (np.int8, np.int16), (np.int16, np.int8), (np.int32, np.int16), (np.int16, np.int32),
             (np.int32, np.int8), (np.int8, np.int32)]
    for i, (src, dst) in enumerate(pairs):
        shape = _shape(rng)
        out.append(Case(f"quantize{i}", build_model(Op.QUANTIZE, None, [act(rng, shape, src)],
                                                    [act(rng, shape, dst)]), "QUANTIZE"))
    for i, src in enumerate((np.int8, np.int16)):
        shape = _shape(rng)
        out.append(Case(f"dequantize{i}", build_model(
            Op.DEQUANTIZE, None, [act(rng, shape, src)], [TensorSpec(shape, np.float32)]),
            "DEQUANTIZE"))
    return out


def unbatched_cases() -> list[Case]:
    """Elementwise operators on activations stored without a leading batch dimension of 1 (TFLM
    has no batch): a rank-1 [C] input subtracted from [1, H, W, C] (SEANet's SUB), a rank-0
    input, two [3, 5] inputs giving a [3, 5] output, [4, 1, 5] + [1, 3, 5] = [4, 3, 5], and
    unary operators on [6] and [2, 7]."""
    rng = rng_for("unbatched")
    out = []

    def binary(name, dtype, sa, sb, act_fn=0):
        cls = getattr(schema, f"{name.capitalize()}OptionsT")
        a, b = act(rng, sa, dtype), act(rng, sb, dtype)
        y = act(rng, tuple(np.broadcast_shapes(sa, sb)), dtype)
        if name == "MUL":
            y.scale = float(a.scale) * float(b.scale) * float(rng.uniform(20, 400))
        opt = options(cls, fusedActivationFunction=act_fn)
        out.append(Case(f"unbatched_{name.lower()}{len(out)}",
                        build_model(getattr(Op, name), opt, [a, b], [y]), name))

    binary("SUB", np.int16, (1, 2, 5, 8), (8,))
    binary("SUB", np.int8, (8,), (1, 3, 8), 1)
    binary("ADD", np.int8, (3, 5), (3, 5))
    binary("ADD", np.int16, (4, 1, 5), (1, 3, 5))
    binary("MUL", np.int8, (), (1, 4))
    x = act(rng, (6,), np.int16)
    opt = options(schema.LeakyReluOptionsT, alpha=0.3)
    out.append(Case("unbatched_leaky_relu", build_model(Op.LEAKY_RELU, opt, [x],
                                                        [act(rng, (6,), np.int16)]), "LEAKY_RELU"))
    out.append(Case("unbatched_quantize", build_model(Op.QUANTIZE, None, [act(rng, (2, 7),
                                                                              np.int16)],
                                                      [act(rng, (2, 7))]), "QUANTIZE"))
    return out


def int16x8_cases() -> list[Case]:
    """16x8: int16 activations, int8 weights, int64 (or int32 where TFLM allows) bias."""
    return [*conv_cases(4, np.int16, "conv16", np.int64),
            *conv_cases(3, np.int16, "conv16b32", np.int32),
            *depthwise_cases(4, np.int16, "dw16"),
            *dense_cases(4, np.int16, "fc16", np.int64),
            *dense_cases(3, np.int16, "fc16b32", np.int32),
            *binary_cases(4, np.int16, ("ADD", "SUB"), "16"),
            *minmax_cases(3, np.int16, "16"),
            *split_cases(3, np.int16, "16"),
            *transpose_cases(4, np.int16, "16"),
            *leaky_relu16_cases(),
            *strided_slice_cases(6, np.int16, "strided_slice16"),
            *transpose_conv_cases(4, np.int16, "tconv16", np.int64),
            *transpose_conv_cases(2, np.int16, "tconv16b16", np.int16)]


def lstm_cases(n: int = 6) -> list[Case]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM, int8 and 16x8, drawn by lstm_cases.py (whose TFLM tests
    cover the arithmetic); batch-major with batch 1 or time-major with one step."""
    out = []
    for i in range(n):
        dtype = DType.s16 if i % 3 == 2 else DType.s8
        case = lstm.ir_case(rng_for(f"lstm {i}"), dtype)
        out.append(Case(f"lstm{i}", lstm.tflite_model(case), "UNIDIRECTIONAL_SEQUENCE_LSTM"))
    return out


def int4_cases(n: int = 6) -> list[Case]:
    """INT4 weights (TFLM unpacks them to int8 and runs its int8 kernels): CONV_2D with
    per-channel and per-tensor filters, grouped ones, and filter sizes that put filters and
    kernel rows mid-byte; DEPTHWISE_CONV_2D; FULLY_CONNECTED with per-tensor weights (TFLM's
    FULLY_CONNECTED refuses per-channel INT4) and odd depths."""
    rng = rng_for("int4")
    out = []
    for i in range(n):
        h, w, kh, kw, stride, dil, pad, oh, ow = _geometry(rng)
        groups = 2 if i % 3 == 2 else 1
        ci, o = int(rng.integers(1, 6)), int(rng.integers(1, 5)) * groups
        x = act(rng, (1, h, w, ci * groups))
        wt = weights4(rng, (o, kh, kw, ci), 0, per_channel=i % 2 == 0)
        y = out_for_acc(rng, x, wt, kh * kw * ci, (1, oh, ow, o))
        opt = options(schema.Conv2DOptionsT, padding=pad, strideH=stride[0], strideW=stride[1],
                      dilationHFactor=dil[0], dilationWFactor=dil[1],
                      fusedActivationFunction=ACTS[i % 4])
        ins = [x, wt, bias(rng, o, x, wt)]
        out.append(Case(f"conv4_{i}", build_model(Op.CONV_2D, opt, ins, [y]), "CONV_2D"))
    for i in range(n):
        h, w, kh, kw, stride, dil, pad, oh, ow = _geometry(rng)
        c, m = int(rng.integers(1, 6)), int(rng.integers(1, 3))
        x = act(rng, (1, h, w, c))
        wt = weights4(rng, (1, kh, kw, c * m), 3, per_channel=i % 2 == 0)
        y = out_for_acc(rng, x, wt, kh * kw, (1, oh, ow, c * m))
        opt = options(schema.DepthwiseConv2DOptionsT, padding=pad, strideH=stride[0],
                      strideW=stride[1], dilationHFactor=dil[0], dilationWFactor=dil[1],
                      depthMultiplier=m, fusedActivationFunction=ACTS[i % 4])
        ins = [x, wt, bias(rng, c * m, x, wt)]
        out.append(Case(f"dw4_{i}", build_model(Op.DEPTHWISE_CONV_2D, opt, ins, [y]),
                        "DEPTHWISE_CONV_2D"))
    for i in range(n):
        k = int(rng.integers(1, 40)) | (i % 2)  # odd depths: rows start mid-byte
        o = int(rng.integers(1, 12))
        x = act(rng, (1, k))
        wt = weights4(rng, (o, k), 0, per_channel=False)
        y = out_for_acc(rng, x, wt, k, (1, o))
        opt = options(schema.FullyConnectedOptionsT, fusedActivationFunction=ACTS[i % 4])
        ins = [x, wt, bias(rng, o, x, wt)] if i != 3 else [x, wt, None]
        out.append(Case(f"fc4_{i}", build_model(Op.FULLY_CONNECTED, opt, ins, [y]),
                        "FULLY_CONNECTED"))
    return out


def svdf_cases(n: int = 6) -> list[Case]:
    """SVDF with an int16 and an int8 state, drawn by svdf_cases.py (whose TFLM tests cover the
    arithmetic); batch 1, ranks 1 to 3, any fused activation code (TFLM's integer kernel
    applies none)."""
    out = []
    for i in range(n):
        dtype = DType.s16 if i % 2 == 0 else DType.s8
        case = svdf.random_case(rng_for(f"svdf {i}"), dtype, batch=1)
        out.append(Case(f"svdf{i}", svdf.tflite_model(case), "SVDF"))
    return out


def int8_cases() -> dict[str, list[Case]]:
    return {"conv": conv_cases(), "depthwise": depthwise_cases(), "dense": dense_cases(),
            "batch_matmul": batch_matmul_cases(),
            "pool": pool_cases(), "binary": binary_cases(), "minmax": minmax_cases(),
            "activation": activation_cases(), "hard_swish": hard_swish_cases(),
            "softmax_s16": softmax_s16_cases(),
            "transpose_conv": transpose_conv_cases(),
            "shape": shape_cases(), "split": split_cases(), "transpose": transpose_cases(),
            "strided_slice": strided_slice_cases(),
            "mean": mean_cases(), "quant": quant_cases(), "int16x8": int16x8_cases(),
            "lstm": lstm_cases(), "svdf": svdf_cases(), "int4": int4_cases(),
            "unbatched": unbatched_cases()}


def float_cases() -> list[Case]:
    """One float32 model per op family, each with a single input (calibration takes one):
    float import, then firmforge's own PTQ. Binary ops take a constant operand, CONCATENATION
    joins its input with itself."""
    f = np.float32
    rng = rng_for("float concat")
    x = act(rng, (1, 3, 4), f)
    cat = build_model(Op.CONCATENATION, options(schema.ConcatenationOptionsT, axis=-1),
                      [x, x], [act(rng, (1, 3, 8), f)])

    def same_input(m):
        sub = m.subgraphs[0]
        sub.operators[0].inputs = [0, 0]
        sub.inputs = [0]

    cat = rewrite(cat, same_input)
    binary = binary_cases(2, f, ("ADD", "MUL"), "f")
    minmax = minmax_cases(2, f, "f")
    cases = [conv_cases(1, f, "conv")[0], depthwise_cases(1, f, "dw")[0],
             dense_cases(2, f, "fc")[1], *pool_cases(1, f), binary[1], binary[3],
             minmax[1], minmax[3], hard_swish_cases(1, f)[0],
             *split_cases(1, f, "f"), transpose_cases(4, f, "f")[3],
             batch_matmul_cases(3, f, "f")[2],
             *activation_cases(1, f), mean_cases(1, f)[0],
             *(c for c in shape_cases(1, f) if c.op != "CONCATENATION"),
             Case("concat", cat, "CONCATENATION"), strided_slice_cases(1, f, "float slice")[0],
             transpose_conv_cases(1, f, "float tconv")[0]]
    return [Case(f"float_{c.name}", c.model, c.op) for c in cases]
