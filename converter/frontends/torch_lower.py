"""Lowerings shared by the module handlers (``torch_modules``) and the function/method handlers
(``torch_functions``): each takes tensors (``T``), constants and torch's own arguments, emits IR
nodes and returns the result tensor. Arguments the IR cannot express raise ``Unsupported``.
"""

from __future__ import annotations

import math

import numpy as np

from ..encoding import PackedRows, PackedTernaryRows
from ..ir import DType, QuantParams, Value, const
from ..ops.act import Relu, Relu6
from ..ops.binary import Binarize, BinaryConv2d, BinaryDense
from ..ops.common import Padding
from ..ops.conv import Conv2d, DepthwiseConv2d
from ..ops.dense import Dense
from ..ops.eltwise import Add, Mul, Sub
from ..ops.pool import AvgPool2d, MaxPool2d
from ..ops.reduce import Mean
from ..ops.shape import Concat, Pad, Transpose
from ..ops.ternary import Ternarize, TernaryConv2d, TernaryDense
from .torch_context import AXES, Ctx, T, Unsupported, ir_axis


def array(p: object) -> np.ndarray | None:
    """A parameter/buffer/tensor as a float32 numpy array (None stays None)."""
    if p is None:
        return None
    if not hasattr(p, "detach"):
        raise Unsupported(f"expected a constant tensor, got {type(p).__name__} (weights computed "
                          "from the input are not supported)")
    return p.detach().cpu().numpy().astype(np.float32)


def pair(v: object, n: int = 2) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    t = tuple(int(e) for e in v)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise Unsupported(f"expected {n} values, got {v!r}")
    return t


def tensor_in(x: object, rank: int | tuple[int, ...], what: str) -> T:
    ranks = (rank,) if isinstance(rank, int) else rank
    if not isinstance(x, T) or x.rank not in ranks:
        got = f"{x.rank}-D" if isinstance(x, T) else type(x).__name__
        raise Unsupported(f"{what} needs a {' or '.join(map(str, ranks))}-D input, got {got}")
    return x


# -- weighted layers ----------------------------------------------------------------------------
def conv(cx: Ctx, x: T, weight: object, bias: object, stride: object, padding: object,
         dilation: object, groups: int) -> T:
    """torch Conv1d/Conv2d (weights [O, C/groups, (KH,) KW]) -> Conv2d or DepthwiseConv2d."""
    w = array(weight)
    spatial = w.ndim - 2
    x = tensor_in(x, spatial + 2, f"conv{spatial}d")
    if spatial == 1:  # a 1-D conv is a 2-D one over [N, 1, L, C] with kernel height 1
        w = w[:, :, None, :]
    o, _, kh, kw = w.shape
    c = x.shape[1]
    st, dl = _spatial(stride, spatial), _spatial(dilation, spatial)
    pad = _conv_padding(padding, spatial, (kh, kw), dl)
    b = np.zeros(o, np.float32) if bias is None else array(bias)
    if groups == c and c > 1:
        # torch's output channel c*M + m filters input channel c, as in TFLite's depthwise conv
        return T(cx.emit(DepthwiseConv2d, [x.value, cx.const("weight", w.transpose(1, 2, 3, 0)),
                                           cx.const("bias", b)],
                         stride=st, dilation=dl, padding=pad, depth_multiplier=o // c),
                 cx.out_shape)
    return T(cx.emit(Conv2d, [x.value, cx.const("weight", w.transpose(0, 2, 3, 1)),
                              cx.const("bias", b)],
                     stride=st, dilation=dl, padding=pad, groups=groups), cx.out_shape)


def _spatial(v: object, spatial: int) -> tuple[int, int]:
    t = pair(v, spatial)
    return (1, t[0]) if spatial == 1 else (t[0], t[1])


def _conv_padding(padding: object, spatial: int, kernel: tuple[int, int],
                  dilation: tuple[int, int]) -> Padding:
    if padding == "valid":
        return Padding()
    if padding == "same":  # torch puts the odd element at the end, like TensorFlow
        tot = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return Padding(tot[0] // 2, tot[0] - tot[0] // 2, tot[1] // 2, tot[1] - tot[1] // 2)
    if spatial == 1:
        (pw,) = pair(padding, 1)
        return Padding(0, 0, pw, pw)
    ph, pw = pair(padding)
    return Padding(ph, ph, pw, pw)


def linear(cx: Ctx, x: T, weight: object, bias: object) -> T:
    """torch Linear over the last torch dim: y = x @ W.T + b (W is [O, K] as in the IR)."""
    w = array(weight)
    b = np.zeros(w.shape[0], np.float32) if bias is None else array(bias)
    if x.rank < 2:
        raise Unsupported("linear needs an input with a batch dim")
    args = [cx.const("weight", w), cx.const("bias", b)]
    if x.rank in AXES:
        y = cx.emit(Dense, [cx.to_torch(x), *args])
        return cx.from_torch(y, cx.out_shape)
    return T(cx.emit(Dense, [x.value, *args]), cx.out_shape)


def batchnorm(cx: Ctx, x: T, mean: object, var: object, weight: object, bias: object,
              eps: float) -> T:
    """Inference batch norm: y = x * s + t with s = gamma / sqrt(var + eps), t = beta - mean * s.

    Emitted as a per-channel Mul and Add; ``fold_batchnorm`` folds them into the producer.
    """
    x = tensor_in(x, (2, 3, 4), "batch norm")
    if mean is None or var is None:
        raise Unsupported("batch norm without running statistics (track_running_stats=False) "
                          "normalises with batch statistics, which depend on the batch")
    m, v = array(mean).astype(np.float64), array(var).astype(np.float64)
    g = np.ones_like(m) if weight is None else array(weight).astype(np.float64)
    be = np.zeros_like(m) if bias is None else array(bias).astype(np.float64)
    s = g / np.sqrt(v + eps)
    y = cx.emit(Mul, [x.value, cx.const("scale", s)], "mul")
    return T(cx.emit(Add, [y, cx.const("shift", be - m * s)], "add"), x.shape)


# -- binary layers (ops/binary.py) -------------------------------------------------------------
def binarize(cx: Ctx, x: T) -> T:
    """The sign of x (+1 for x >= 0) along its IR channels: a Binarize of threshold 0."""
    c = x.value.shape[-1]
    t = cx.const("threshold", np.zeros(c, np.float32))
    flips = const(cx.unique(f"{cx.base}.flip"), np.zeros(c, np.uint8), DType.u1)
    return T(cx.emit(Binarize, [x.value, t, flips]), x.shape)


def _binary_weights(cx: Ctx, weight: object, scale: object, ir_order: tuple[int, ...]) -> Value:
    w = array(weight)
    if not np.all(np.abs(w) == 1):
        raise Unsupported("binary weights must be -1 or +1")
    alpha = array(scale).reshape(-1)
    if alpha.size != w.shape[0] or not np.all(alpha > 0):
        raise Unsupported(f"a binary layer needs one positive scale per output channel, got "
                          f"{alpha.size} for {w.shape[0]} channels")
    return Value(cx.unique(f"{cx.base}.weight"), w.transpose(ir_order).shape, DType.b1,
                 QuantParams(alpha, np.zeros(alpha.size, np.int64), 0),
                 w.transpose(ir_order).astype(np.int8), PackedRows())


def binary_linear(cx: Ctx, x: T, weight: object, scale: object, bias: object) -> T:
    """y = alpha * (sign(x) . w_b) + b over the last torch dim."""
    if x.rank != 2:
        raise Unsupported(f"a binary linear layer needs a 2-D input (batch, features), got "
                          f"{x.rank}-D")
    w = _binary_weights(cx, weight, scale, (0, 1))
    b = np.zeros(w.shape[0], np.float32) if bias is None else array(bias)
    return T(cx.emit(BinaryDense, [x.value, w, cx.const("bias", b)]), cx.out_shape)


def binary_conv(cx: Ctx, x: T, weight: object, scale: object, bias: object, stride: object,
                padding: object, dilation: object, pad_value: float) -> T:
    """torch-layout binary Conv2d (weights [O, C, KH, KW]) with padded taps at ``pad_value``."""
    x = tensor_in(x, 4, "binary conv2d")
    w = _binary_weights(cx, weight, scale, (0, 2, 3, 1))
    _, kh, kw, _ = w.shape
    dl = pair(dilation)
    b = np.zeros(w.shape[0], np.float32) if bias is None else array(bias)
    if float(pad_value) not in (-1.0, 0.0, 1.0):
        raise Unsupported(f"binary conv pad_value must be -1, 0 or +1, not {pad_value}")
    return T(cx.emit(BinaryConv2d, [x.value, w, cx.const("bias", b)], stride=pair(stride),
                     dilation=dl, padding=_conv_padding(padding, 2, (kh, kw), dl),
                     pad_value=int(pad_value)), cx.out_shape)


# -- ternary layers (ops/ternary.py) -----------------------------------------------------------
def ternarize(cx: Ctx, x: T, threshold: float) -> T:
    """converter.nn's input rule, sign(x) where |x| >= d else 0, along the IR channels: +1 for
    x >= d, -1 for x <= -d, i.e. x < the float32 after -d (torch compares float32 values)."""
    c = x.value.shape[-1]
    d = np.float32(threshold)
    lo = np.nextafter(-d, np.float32(np.inf))
    t = cx.const("threshold", np.tile(np.array([lo, d], np.float32), (c, 1)))
    flips = const(cx.unique(f"{cx.base}.flip"), np.zeros(c, np.uint8), DType.u1)
    return T(cx.emit(Ternarize, [x.value, t, flips]), x.shape)


def _ternary_weights(cx: Ctx, weight: object, scale: object, ir_order: tuple[int, ...]) -> Value:
    w = array(weight)
    if not np.all(np.isin(w, (-1.0, 0.0, 1.0))):
        raise Unsupported("ternary weights must be -1, 0 or +1")
    alpha = array(scale).reshape(-1).astype(np.float32)
    if alpha.size != w.shape[0] or not np.all(np.isfinite(alpha)) or np.any(alpha < 0):
        raise Unsupported(f"a ternary layer needs one scale >= 0 per output channel, got "
                          f"{alpha.size} for {w.shape[0]} channels")
    rows = w.reshape(w.shape[0], -1)
    if np.any((alpha == 0) & np.any(rows != 0, axis=1)):
        raise Unsupported("a ternary channel with nonzero weights has scale 0")
    alpha = np.where(alpha == 0, np.float32(1), alpha)  # all-zero channels: any scale is exact
    wt = w.transpose(ir_order)
    return Value(cx.unique(f"{cx.base}.weight"), wt.shape, DType.t2,
                 QuantParams(alpha, np.zeros(alpha.size, np.int64), 0), wt.astype(np.int8),
                 PackedTernaryRows())


def ternary_linear(cx: Ctx, x: T, weight: object, scale: object, bias: object) -> T:
    """y = alpha * (ternary(x) . w_t) + b over the last torch dim."""
    if x.rank != 2:
        raise Unsupported(f"a ternary linear layer needs a 2-D input (batch, features), got "
                          f"{x.rank}-D")
    w = _ternary_weights(cx, weight, scale, (0, 1))
    b = np.zeros(w.shape[0], np.float32) if bias is None else array(bias)
    return T(cx.emit(TernaryDense, [x.value, w, cx.const("bias", b)]), cx.out_shape)


def ternary_conv(cx: Ctx, x: T, weight: object, scale: object, bias: object, stride: object,
                 padding: object, dilation: object) -> T:
    """torch-layout ternary Conv2d (weights [O, C, KH, KW]), zero padding."""
    x = tensor_in(x, 4, "ternary conv2d")
    w = _ternary_weights(cx, weight, scale, (0, 2, 3, 1))
    _, kh, kw, _ = w.shape
    dl = pair(dilation)
    b = np.zeros(w.shape[0], np.float32) if bias is None else array(bias)
    return T(cx.emit(TernaryConv2d, [x.value, w, cx.const("bias", b)], stride=pair(stride),
                     dilation=dl, padding=_conv_padding(padding, 2, (kh, kw), dl)),
             cx.out_shape)


# -- activations --------------------------------------------------------------------------------
def clamp(cx: Ctx, x: T, lo: float | None, hi: float | None, what: str) -> T:
    if not all(b is None or isinstance(b, (int, float)) for b in (lo, hi)):
        raise Unsupported(f"{what} with tensor bounds")
    if lo == 0 and (hi is None or math.isinf(hi)):
        return T(cx.emit(Relu, [x.value]), x.shape)
    if lo == 0 and hi == 6:
        return T(cx.emit(Relu6, [x.value]), x.shape)
    raise Unsupported(f"{what} with bounds ({lo}, {hi}): only (0, inf) [ReLU] and (0, 6) "
                      "[ReLU6] have an IR op")


# -- pooling, padding, reductions ---------------------------------------------------------------
def pool(cx: Ctx, x: T, kind: str, kernel: object, stride: object, padding: object,
         ceil_mode: bool, count_include_pad: bool = True, divisor_override: object = None,
         dilation: object = 1) -> T:
    """torch avg/max pool (1-D or 2-D). torch's max pool never picks its -inf padding, and
    ``count_include_pad=False`` divides by the covered count: both are the IR pools' own
    semantics. ``count_include_pad=True`` counts the zeros, so it becomes Pad + AvgPool2d."""
    x = tensor_in(x, (3, 4), f"{kind} pool")
    spatial = x.rank - 2
    k = _spatial(kernel, spatial)
    s = k if stride is None or stride == [] or stride == () else _spatial(stride, spatial)
    p = pair(padding) if spatial == 2 else (0, pair(padding, 1)[0])
    if _spatial(dilation, spatial) != (1, 1):
        raise Unsupported(f"{kind} pool with dilation {dilation}")
    if divisor_override is not None:
        raise Unsupported(f"avg pool with divisor_override={divisor_override}")
    ih, iw = x.value.shape[1:3]
    floor_hw = tuple((n + 2 * q - kk) // ss + 1 for n, q, kk, ss in zip((ih, iw), p, k, s,
                                                                         strict=True))
    if tuple(cx.out_shape[2:]) != floor_hw[2 - spatial:]:
        raise Unsupported(f"{kind} pool with ceil_mode={ceil_mode} gives output "
                          f"{list(cx.out_shape[2:])}, not the floor size {list(floor_hw)}")
    v = x.value
    pad = Padding(p[0], p[0], p[1], p[1])
    if kind == "avg" and count_include_pad and max(p) > 0:
        v = cx.emit(Pad, [v], "pad", pads=((0, 0), (p[0], p[0]), (p[1], p[1]), (0, 0)))
        pad = Padding()
    cls = AvgPool2d if kind == "avg" else MaxPool2d
    return T(cx.emit(cls, [v], kernel=k, stride=s, padding=pad), cx.out_shape)


def adaptive_pool(cx: Ctx, x: T, kind: str, output_size: object) -> T:
    """Adaptive pooling where it is an ordinary one: global, or bins of equal size."""
    x = tensor_in(x, (3, 4), f"adaptive {kind} pool")
    spatial = x.rank - 2
    sizes = (output_size,) * spatial if output_size is None or isinstance(output_size, int) \
        else tuple(output_size)
    ih, iw = x.value.shape[1:3]
    ins = (ih, iw)[2 - spatial:]
    outs = tuple(n if o is None else int(o) for o, n in zip(sizes, ins, strict=True))
    if outs == ins:
        return x
    if kind == "avg" and all(o == 1 for o in outs):
        return T(cx.emit(Mean, [x.value], axes=(1, 2), keepdims=True), cx.out_shape)
    if any(n % o for n, o in zip(ins, outs, strict=True)):
        raise Unsupported(f"adaptive {kind} pool from {list(ins)} to {list(outs)}: bins of "
                          "unequal size")
    k = tuple(n // o for n, o in zip(ins, outs, strict=True))
    k2 = (1, k[0]) if spatial == 1 else k
    cls = AvgPool2d if kind == "avg" else MaxPool2d
    return T(cx.emit(cls, [x.value], kernel=k2, stride=k2), cx.out_shape)


def pad(cx: Ctx, x: T, pads: object, mode: str, value: object) -> T:
    """torch pad (pairs listed from the last dim backwards), constant 0 only."""
    if mode != "constant" or (value is not None and float(value) != 0.0):
        raise Unsupported(f"pad with mode={mode!r}, value={value!r}: only constant 0 padding")
    flat = tuple(int(e) for e in pads)
    if len(flat) % 2 or len(flat) // 2 > x.rank - 1:
        raise Unsupported(f"pad {pads!r} for a {x.rank}-D tensor")
    if min(flat) < 0:
        raise Unsupported(f"negative padding (cropping) {pads!r}")
    ir = [[0, 0] for _ in x.value.shape]
    for i in range(len(flat) // 2):
        ir[ir_axis(x.rank, x.rank - 1 - i)] = [flat[2 * i], flat[2 * i + 1]]
    return T(cx.emit(Pad, [x.value], pads=tuple(map(tuple, ir))), cx.out_shape)


def mean(cx: Ctx, x: T, dim: object, keepdim: bool) -> T:
    if dim is None:
        raise Unsupported("mean over all dims includes the batch dim")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    axes = tuple(sorted(ir_axis(x.rank, d) for d in dims))
    if 0 in axes:
        raise Unsupported("mean over the batch dim")
    kept = tuple(1 if d % x.rank in {e % x.rank for e in dims} else n
                 for d, n in enumerate(x.shape))
    y = T(cx.emit(Mean, [x.value], axes=axes, keepdims=True), kept)
    return y if keepdim else cx.reshape(y, cx.out_shape)


# -- broadcasting arithmetic and data movement --------------------------------------------------
def binary(cx: Ctx, cls: type, a: object, b: object) -> T:
    """a (op) b with torch broadcasting; either operand may be a constant or a Python number.

    Operands of equal rank broadcast the same way in the IR layout (both are permuted alike).
    A lower-rank operand would align its batch dim with a feature dim (torch aligns trailing
    dims), which no batch-independent graph can express.
    """
    rank = len(cx.out_shape)
    if not isinstance(a, T) and cls is not Sub:
        a, b = b, a  # commutative: the tensor goes first
    ts = [t for t in (a, b) if isinstance(t, T)]
    if any(t.rank != rank for t in ts):
        raise Unsupported(f"broadcasting a {min(t.rank for t in ts)}-D tensor to {rank}-D "
                          "aligns its batch dim with another dim")
    ins = [t.value if isinstance(t, T) else cx.operand(t, rank) for t in (a, b)]
    return T(cx.emit(cls, ins), cx.out_shape)


def concat(cx: Ctx, tensors: object, dim: int) -> T:
    ts = list(tensors)
    if not all(isinstance(t, T) for t in ts):
        raise Unsupported("concatenating a constant with input-dependent tensors")
    ranks = {t.rank for t in ts}
    if len(ranks) != 1:
        raise Unsupported(f"concatenating tensors of ranks {sorted(ranks)}")
    axis = ir_axis(ts[0].rank, dim)
    if axis == 0:
        raise Unsupported("concatenation along the batch dim")
    if len(ts) == 1:
        return ts[0]
    return T(cx.emit(Concat, [t.value for t in ts], axis=axis), cx.out_shape)


def permute(cx: Ctx, x: T, perm: tuple[int, ...]) -> T:
    perm = tuple(p % x.rank for p in perm)
    if sorted(perm) != list(range(x.rank)):
        raise Unsupported(f"permutation {perm} of a {x.rank}-D tensor")
    if perm[0] != 0:
        raise Unsupported(f"permutation {perm} moves the batch dim")
    if perm == tuple(range(x.rank)):
        return x
    y = cx.emit(Transpose, [cx.to_torch(x)], perm=perm)
    return cx.from_torch(y, cx.out_shape)

