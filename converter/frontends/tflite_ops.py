"""One import handler per TFLite builtin operator, named after it (``CONV_2D``, ...).

A handler reads its operator through ``OpCtx`` and emits the IR node(s) computing it; the last
``emit`` checks the node's inferred output against the stored output tensor. Handlers raise
``Unsupported`` for what firmforge cannot express (collected into one error) and
``cx.error(...)`` for a file that contradicts itself. ``HANDLERS`` is built from the functions
defined here: adding an operator is adding a function.

Semantics follow TFLM's kernels: SAME padding puts the odd row/column at the bottom/right
(``Padding.same`` is TFLite's ComputePaddingHeightWidth, dilation included); FULLY_CONNECTED
reads its input as rows of the weights' depth (TFLM derives the row count from the output);
the depthwise multiplier TFLM loops over is the option, which must agree with the shapes.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from ..ir import Act, DType, QuantParams, Value, const
from ..ops.act import HardSwish, LeakyRelu, Relu, Relu6
from ..ops.common import Padding
from ..ops.conv import Conv2d, DepthwiseConv2d, TransposeConv2d
from ..ops.dense import BatchMatMul, Dense
from ..ops.eltwise import Add, Maximum, Minimum, Mul, Sub
from ..ops.lstm import Lstm
from ..ops.nonlinear import Sigmoid, Softmax, Tanh
from ..ops.pool import AvgPool2d, MaxPool2d
from ..ops.quant import Dequantize, Quantize
from ..ops.reduce import Mean
from ..ops.shape import Concat, Pad, Reshape, Split, StridedSlice, Transpose
from ..ops.svdf import Svdf
from .tflite_context import OpCtx, Unsupported, resolve_shape

# TFLite ActivationFunctionType -> the IR's fused clamp (TANH and SIGN_BIT have no counterpart)
_ACT = {0: Act.NONE, 1: Act.RELU, 2: Act.RELU_N1_TO_1, 3: Act.RELU6}
_ACT_NAMES = {4: "TANH", 5: "SIGN_BIT"}
_SAME, _VALID = 0, 1
_TENSOR_INT32 = 2  # TensorType.INT32, as quantized_bias_type


def _act(cx: OpCtx) -> Act:
    code = cx.opt("FusedActivationFunction", 0)
    if code not in _ACT:
        raise Unsupported(f"fused activation {_ACT_NAMES.get(code, code)} is not supported")
    return _ACT[code]


def _padding(cx: OpCtx, x: Value, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> Padding:
    kind = cx.opt("Padding", _SAME)
    if min(*stride, *dilation) < 1:
        raise cx.error(f"stride {stride} and dilation {dilation} must be positive")
    if kind not in (_SAME, _VALID):
        raise cx.error(f"unknown padding type {kind}")
    pad = Padding() if kind == _VALID else Padding.same(x.shape[1:3], kernel, stride, dilation)
    _int16_params(stride, dilation, pad)
    return pad


# TFLM's kernels hold strides, dilations and paddings as int16 (ConvParams, PoolParams,
# PaddingValues in kernels/internal/types.h): a larger one wraps there, so TFLM computes another
# window than the file describes (found by make fuzz: a dilation of 65,536 read as 0).
_INT16_MAX = 32767


def _int16_params(stride: tuple[int, int], dilation: tuple[int, int], pad: Padding) -> None:
    pads = (pad.top, pad.bottom, pad.left, pad.right)
    if max(*stride, *dilation, *pads) > _INT16_MAX:
        raise Unsupported(f"stride {stride}, dilation {dilation} or padding {pads} above "
                          f"{_INT16_MAX:,}: TFLM's kernels keep them as int16")


def _steps(cx: OpCtx) -> tuple[tuple[int, int], tuple[int, int]]:
    stride = (int(cx.opt("StrideH", 0)), int(cx.opt("StrideW", 0)))
    dilation = (int(cx.opt("DilationHFactor", 1)), int(cx.opt("DilationWFactor", 1)))
    return stride, dilation


def _rank4(cx: OpCtx, *vs: Value) -> None:
    for v in vs:
        if len(v.shape) != 4:
            raise cx.error(f"{v.name} has shape {list(v.shape)}, the operator needs 4-D")


def _wide_bias(cx: OpCtx) -> bool:
    """Whether an omitted 16x8 bias means int64 accumulation (TFLM's default)."""
    return cx.opt("QuantizedBiasType", 0) != _TENSOR_INT32


# -- convolutions and dense ------------------------------------------------------------------
def CONV_2D(cx: OpCtx) -> None:
    cx.expect("Conv2DOptions", (2, 3), need_options=True)
    x = cx.operand(0)
    w = cx.weights(1, x, axis=0)
    _rank4(cx, x, w)
    o, kh, kw, ci = w.shape
    if x.shape[3] % ci:
        raise cx.error(f"input has {x.shape[3]} channels, the filter's depth {ci} does not "
                       "divide them")
    stride, dilation = _steps(cx)
    pad = _padding(cx, x, (kh, kw), stride, dilation)
    b = cx.bias(2, o, x, _wide_bias(cx))
    cx.emit(Conv2d, [x, w, b], stride=stride, dilation=dilation, padding=pad,
            groups=x.shape[3] // ci, act=_act(cx))


def DEPTHWISE_CONV_2D(cx: OpCtx) -> None:
    cx.expect("DepthwiseConv2DOptions", (2, 3), need_options=True)
    x = cx.operand(0)
    w = cx.weights(1, x, axis=3)
    _rank4(cx, x, w)
    _, kh, kw, oc = w.shape
    c = x.shape[3]
    if w.shape[0] != 1 or oc % c:
        raise cx.error(f"filter shape {list(w.shape)} is not [1, KH, KW, a multiple of the "
                       f"input's {c} channels]")
    mult = oc // c
    if cx.opt("DepthMultiplier", 0) != mult:
        # TFLM loops over the option's multiplier: other values leave outputs unwritten.
        raise Unsupported(f"depth_multiplier option {cx.opt('DepthMultiplier', 0)} disagrees "
                          f"with the shapes ({c} input channels, {oc} filter channels: {mult})")
    stride, dilation = _steps(cx)
    pad = _padding(cx, x, (kh, kw), stride, dilation)
    b = cx.bias(2, oc, x, True)  # TFLM's int16 depthwise always accumulates in int64
    cx.emit(DepthwiseConv2d, [x, w, b], stride=stride, dilation=dilation, padding=pad,
            depth_multiplier=mult, act=_act(cx))


def TRANSPOSE_CONV(cx: OpCtx) -> None:
    """Inputs: output_shape, weights [O, KH, KW, C], x, optional bias. TFLM takes the output
    size from the stored output tensor and never reads output_shape, which may even be a graph
    input (it is then an input of the C model that nothing reads); a constant one must agree.
    Its padding is ComputePaddingHeightWidth over the *output* size with dilation 1, the top
    and left amounts only (``Padding.same`` gives them). TFLM converts an int16 bias of a 16x8
    model to int64, as done here; other 16x8 biases it reads as int64. INT4 filters it refuses."""
    cx.expect("TransposeConvOptions", (3, 4), need_options=True)
    x = cx.operand(2)
    w = cx.weights(1, x, axis=0)
    if w.dtype is DType.s4:
        raise Unsupported("INT4 filters (TFLM's TRANSPOSE_CONV refuses them as hybrid)")
    _rank4(cx, x, w)
    o, kh, kw, c = w.shape
    out = cx.out_info().shape
    if len(out) != 4 or out[0] != x.shape[0] or out[3] != o or x.shape[3] != c:
        raise cx.error(f"input {list(x.shape)}, filter {list(w.shape)} and stored output "
                       f"{list(out)} do not agree")
    spec = None if cx.op.inputs[0] in cx.b.dynamic else cx.b.const_array(cx.op.inputs[0])
    if spec is not None and spec.dtype.kind not in "iu":
        raise cx.error(f"output_shape of type {spec.dtype}")
    if spec is not None and [int(d) for d in np.asarray(spec).reshape(-1)] != list(out):
        raise cx.error(f"output_shape {np.asarray(spec).reshape(-1).tolist()} disagrees with "
                       f"the stored output {list(out)}")
    stride = (int(cx.opt("StrideH", 0)), int(cx.opt("StrideW", 0)))
    kind = cx.opt("Padding", _SAME)
    if min(stride) < 1 or kind not in (_SAME, _VALID):
        raise cx.error(f"stride {stride} and padding type {kind}")
    pad = Padding() if kind == _VALID else Padding.same(out[1:3], (kh, kw), stride)
    _int16_params(stride, (1, 1), pad)
    b = cx.bias(3, o, x, True)
    if b.dtype is DType.s16:
        b = Value(cx.b.unique(f"{cx.base}.bias64"), b.shape, DType.s64, None,
                  b.data.astype(np.int64))
    cx.emit(TransposeConv2d, [x, w, b], stride=stride, padding=(pad.top, pad.left),
            out_hw=out[1:3], act=_act(cx))


def FULLY_CONNECTED(cx: OpCtx) -> None:
    cx.expect("FullyConnectedOptions", (2, 3))
    if cx.opt("WeightsFormat", 0) != 0:
        raise Unsupported("shuffled weights format")
    x = cx.operand(0)
    w = cx.weights(1, x, axis=0)
    if len(w.shape) != 2:
        raise cx.error(f"weights have shape {list(w.shape)}, not [units, depth]")
    if w.dtype is DType.s4 and w.quant.scale.size > 1:
        # TFLM's FULLY_CONNECTED Prepare: per-channel parameters need int8 (not int4) filters.
        raise Unsupported(f"INT4 weights {w.name} with per-channel scales (TFLM's "
                          "FULLY_CONNECTED takes per-tensor INT4 weights only)")
    o, k = w.shape
    b = cx.bias(2, o, x, _wide_bias(cx))
    keep = bool(cx.opt("KeepNumDims", False))
    if x.shape[-1] == k and (keep or len(x.shape) == 2):
        cx.emit(Dense, [x, w, b], act=_act(cx))
        return
    if keep:
        raise cx.error(f"keep_num_dims with input {list(x.shape)} whose last dimension is not "
                       f"the weights' depth {k}")
    if x.size % k:
        raise cx.error(f"input {list(x.shape)} of {x.size} elements is not a whole number of "
                       f"rows of the weights' depth {k}")
    rows = x.size // k
    if rows != 1:
        raise Unsupported(f"input {list(x.shape)} is read as {rows} rows of {k}, a batch other "
                          "than 1 (export with keep_num_dims=True to keep the leading dims)")
    flat = cx.emit_internal(Reshape, [x], "flatten", shape=(1, k))
    cx.emit(Dense, [flat, w, b], act=_act(cx))


def BATCH_MATMUL(cx: OpCtx) -> None:
    """Both operands may be activations or constants; TFLM's Prepare checks what infer()
    checks (one type, 2-D to 5-D, broadcasting batch dims, equal depths)."""
    cx.expect("BatchMatMulOptions", (2, 2))
    cx.emit(BatchMatMul, [cx.operand(0), cx.operand(1)], adj_x=bool(cx.opt("AdjX", False)),
            adj_y=bool(cx.opt("AdjY", False)))


# -- pools -------------------------------------------------------------------------------------
def _pool(cx: OpCtx, cls: type) -> None:
    cx.expect("Pool2DOptions", (1, 1), need_options=True)
    x = cx.operand(0)
    _rank4(cx, x)
    kernel = (int(cx.opt("FilterHeight", 0)), int(cx.opt("FilterWidth", 0)))
    stride, _ = _steps(cx)
    if min(kernel) < 1:
        raise cx.error(f"filter size {kernel} must be positive")
    cx.emit(cls, [x], kernel=kernel, stride=stride, padding=_padding(cx, x, kernel, stride),
            act=_act(cx))


def AVERAGE_POOL_2D(cx: OpCtx) -> None:
    _pool(cx, AvgPool2d)


def MAX_POOL_2D(cx: OpCtx) -> None:
    _pool(cx, MaxPool2d)


# -- elementwise ---------------------------------------------------------------------------------
def _binary(cx: OpCtx, cls: type, options: str) -> None:
    cx.expect(options, (2, 2))
    # Elementwise: an operand stored without a batch dimension broadcasts as TFLM's does.
    a, b = cx.operand(0, unbatched=True), cx.operand(1, unbatched=True)
    rank = max(len(a.shape), len(b.shape))
    ab = []
    for i, v in enumerate((a, b)):
        if not v.is_const and len(v.shape) < rank:
            # numpy and TFLite broadcast from the trailing dims: leading 1s change nothing
            v = cx.emit_internal(Reshape, [v], f"rank{i}",
                                 shape=(1,) * (rank - len(v.shape)) + v.shape)
        ab.append(v)
    cx.emit(cls, ab, act=_act(cx))


def ADD(cx: OpCtx) -> None:
    # pot_scale_int16 is ignored, as by TFLM's ADD (it always takes the general int16 path)
    _binary(cx, Add, "AddOptions")


def SUB(cx: OpCtx) -> None:
    _binary(cx, Sub, "SubOptions")


def MUL(cx: OpCtx) -> None:
    _binary(cx, Mul, "MulOptions")


def MAXIMUM(cx: OpCtx) -> None:
    # TFLM compares the raw integers: Maximum refuses operands whose parameters differ
    _binary(cx, Maximum, "MaximumMinimumOptions")


def MINIMUM(cx: OpCtx) -> None:
    _binary(cx, Minimum, "MaximumMinimumOptions")


# -- activations ---------------------------------------------------------------------------------
def _unary(cx: OpCtx, cls: type, options: str | None = None, elementwise: bool = True,
           **attrs: object) -> None:
    cx.expect(options, (1, 1))
    cx.emit(cls, [cx.operand(0, unbatched=elementwise)], **attrs)


def SOFTMAX(cx: OpCtx) -> None:
    # Not elementwise: a batch prepended to a rank-0 tensor would become the softmax's axis.
    cx.expect("SoftmaxOptions", (1, 1))  # before reading the operands' types
    x_type, y_type = cx.tensor(0).type_name, cx.out_info().type_name
    out = {"out_dtype": cx.out_dtype()} if x_type != y_type else {}  # int8 in, int16 out
    _unary(cx, Softmax, "SoftmaxOptions", elementwise=False, beta=float(cx.opt("Beta", 0.0)),
           **out)


def LOGISTIC(cx: OpCtx) -> None:
    _unary(cx, Sigmoid)


def TANH(cx: OpCtx) -> None:
    _unary(cx, Tanh)


def RELU(cx: OpCtx) -> None:
    _unary(cx, Relu)


def RELU6(cx: OpCtx) -> None:
    _unary(cx, Relu6)


def LEAKY_RELU(cx: OpCtx) -> None:
    _unary(cx, LeakyRelu, "LeakyReluOptions", alpha=float(cx.opt("Alpha", 0.0)))


def HARD_SWISH(cx: OpCtx) -> None:
    _unary(cx, HardSwish, "HardSwishOptions")


def QUANTIZE(cx: OpCtx) -> None:
    cx.expect("QuantizeOptions", (1, 1))  # before reading the output's type
    _unary(cx, Quantize, "QuantizeOptions", dtype=cx.out_dtype())


def DEQUANTIZE(cx: OpCtx) -> None:
    _unary(cx, Dequantize, "DequantizeOptions")


# -- data movement -------------------------------------------------------------------------------
def RESHAPE(cx: OpCtx) -> None:
    cx.expect("ReshapeOptions", (1, 2))
    x = cx.operand(0)
    out = cx.out_info().shape
    spec = None
    if cx.has_input(1):
        known = cx.b.const_array(cx.op.inputs[1])
        if known is not None and cx.op.inputs[1] not in cx.b.dynamic:
            if known.dtype.kind not in "iu":
                raise cx.error(f"shape tensor of type {known.dtype}")
            spec = [int(d) for d in np.asarray(known).reshape(-1)]
    elif cx.opt("NewShape", []):
        spec = list(cx.opt("NewShape", []))
    if spec is not None and resolve_shape(spec, x.size) != out:
        raise cx.error(f"shape {spec} does not give the stored output shape {list(out)} for "
                       f"{x.size} elements")
    if math.prod(out) != x.size:
        raise cx.error(f"cannot reshape {list(x.shape)} to the stored {list(out)}")
    cx.emit(Reshape, [x], shape=out)


def SQUEEZE(cx: OpCtx) -> None:
    cx.expect("SqueezeOptions", (1, 1))
    x = cx.operand(0)
    rank = len(x.shape)
    dims = [int(d) for d in cx.opt("SqueezeDims", [])]
    if any(not -rank <= d < rank for d in dims):
        raise cx.error(f"squeeze dims {dims} out of range for {list(x.shape)}")
    drop = {d % rank for d in dims} or {i for i, d in enumerate(x.shape) if d == 1}
    if any(x.shape[d] != 1 for d in drop):
        raise cx.error(f"squeeze dims {dims} of {list(x.shape)} are not all of size 1")
    want = tuple(d for i, d in enumerate(x.shape) if i not in drop)
    if want != cx.out_info().shape:
        raise cx.error(f"squeezing {list(x.shape)} gives {list(want)}, stored output is "
                       f"{list(cx.out_info().shape)}")
    cx.emit(Reshape, [x], shape=want)


def _pads(cx: OpCtx, x: Value) -> tuple[tuple[int, int], ...]:
    p = cx.array(1, "paddings")
    if p.shape != (len(x.shape), 2) or p.dtype.kind != "i":
        raise cx.error(f"paddings of shape {list(p.shape)} ({p.dtype}) for a "
                       f"{len(x.shape)}-D input (needs [{len(x.shape)}, 2] integers)")
    if np.any(p < 0):
        raise cx.error(f"negative paddings {p.tolist()}")
    return tuple((int(a), int(b)) for a, b in p)


def PAD(cx: OpCtx) -> None:
    cx.expect("PadOptions", (2, 2))
    x = cx.operand(0)
    cx.emit(Pad, [x], pads=_pads(cx, x))


def PADV2(cx: OpCtx) -> None:
    cx.expect("PadV2Options", (2, 3))
    x = cx.operand(0)
    pads = _pads(cx, x)
    if cx.has_input(2):
        c = cx.array(2, "constant value")
        out_q = cx.out_info().quant
        fill = 0 if x.dtype is DType.f32 or out_q is None else out_q.zp
        if c.size != 1 or c.reshape(-1)[0] != fill:
            raise Unsupported(f"PADV2 fills with {c.reshape(-1)[:4].tolist()}; firmforge pads "
                              f"with the real value 0 only (here {fill})")
    cx.emit(Pad, [x], pads=pads)


def CONCATENATION(cx: OpCtx) -> None:
    cx.expect("ConcatenationOptions", (1, len(cx.op.inputs) or 1))
    if _act(cx) is not Act.NONE:
        raise Unsupported("a fused activation on CONCATENATION")
    xs = [cx.operand(i) for i in range(len(cx.op.inputs))]
    rank = len(xs[0].shape)
    axis = int(cx.opt("Axis", 0))
    if not -rank <= axis < rank:
        raise cx.error(f"axis {axis} is out of range for {rank}-D inputs")
    cx.emit(Concat, xs, axis=axis)


def TRANSPOSE(cx: OpCtx) -> None:
    """TFLM's Prepare: 1-D to 5-D input, a constant 1-D int32 perm of the input's rank with
    every entry in [0, rank); its Eval moves float32, int8 and int16 elements. The bytes move
    unchanged, so the output must be quantized as the input."""
    cx.expect("TransposeOptions", (2, 2))
    x = cx.operand(0)
    rank = len(x.shape)
    if rank > 5:
        raise Unsupported(f"a {rank}-D input (TFLM's TRANSPOSE takes 1-D to 5-D)")
    if x.dtype not in (DType.f32, DType.s8, DType.s16):
        raise Unsupported(f"{x.dtype.value} data (TFLM's TRANSPOSE moves float32, int8, int16)")
    p = cx.array(1, "perm")
    if p.dtype != np.int32 or p.shape != (rank,):
        raise cx.error(f"perm must be {rank} int32 values, got {p.dtype} of shape "
                       f"{list(p.shape)}")
    perm = tuple(int(d) for d in p)
    if any(not 0 <= d < rank for d in perm):
        raise cx.error(f"perm {list(perm)} is out of bounds for a {rank}-D input")
    if sorted(perm) != list(range(rank)):
        raise Unsupported(f"perm {list(perm)} repeats a dimension (not a permutation)")
    if perm[0] != 0:
        raise Unsupported(f"perm {list(perm)} moves the batch dimension")
    out_q = cx.out_info().quant
    if x.quant is not None and not x.quant.same_as(out_q):
        raise Unsupported("TRANSPOSE moves bytes: the output must be quantized as the input")
    cx.emit(Transpose, [x], perm=perm)


def _split_axis(cx: OpCtx, i: int, x: Value) -> int:
    """The constant int32 axis of SPLIT / SPLIT_V (TFLM's Prepare refuses a computed one, and
    its Eval reads int32 and fails outside [-rank, rank))."""
    a = cx.array(i, "axis")
    if a.dtype != np.int32 or a.size != 1:
        raise cx.error(f"axis must be one int32, got {a.dtype} of shape {list(a.shape)}")
    rank = len(x.shape)
    axis = int(a.reshape(-1)[0])
    if not -rank <= axis < rank:
        raise cx.error(f"axis {axis} is out of range for a {rank}-D input")
    if axis % rank == 0:
        raise Unsupported("split along the batch dimension")
    return axis % rank


def _outputs(cx: OpCtx, options: str, inputs: int) -> int:
    n = len(cx.op.outputs)
    if n < 1:
        raise cx.error("has no outputs")
    cx.expect(options, (inputs, inputs), outputs=n)
    return n


def SPLIT(cx: OpCtx) -> None:
    """Equal pieces, one per output; TFLM ignores num_splits and so does firmforge."""
    n = _outputs(cx, "SplitOptions", 2)
    x = cx.operand(1)
    axis = _split_axis(cx, 0, x)
    if x.shape[axis] % n:
        raise cx.error(f"dimension {axis} of {list(x.shape)} does not split into {n} outputs")
    cx.emit_outputs(Split, [x], axis=axis, sizes=(x.shape[axis] // n,) * n)


def SPLIT_V(cx: OpCtx) -> None:
    """The pieces are the stored outputs' sizes, as TFLM reads them; a constant size_splits
    (one -1 resolved) must agree."""
    n = _outputs(cx, "SplitVOptions", 3)
    x = cx.operand(0)
    axis = _split_axis(cx, 2, x)
    shapes = [cx.out_info(i).shape for i in range(n)]
    if any(len(s) != len(x.shape) for s in shapes):
        raise cx.error(f"outputs {[list(s) for s in shapes]} must have the input's rank")
    sizes = [s[axis] for s in shapes]
    known = cx.b.const_array(cx.op.inputs[1])
    if known is not None and cx.op.inputs[1] not in cx.b.dynamic:
        if known.dtype.kind not in "iu":
            raise cx.error(f"size_splits of type {known.dtype}")
        spec = [int(d) for d in np.asarray(known).reshape(-1)]
        if -1 in spec and spec.count(-1) == 1:
            spec[spec.index(-1)] = x.shape[axis] - (sum(spec) + 1)
        if spec != sizes:
            raise cx.error(f"size_splits {known.reshape(-1).tolist()} disagree with the stored "
                           f"outputs' sizes {sizes} along dimension {axis}")
    if 0 in sizes:
        raise Unsupported(f"an empty piece (sizes {sizes}): firmforge values are never empty")
    cx.emit_outputs(Split, [x], axis=axis, sizes=tuple(sizes))

def _slice_axis(n: int, begin: int, end: int, stride: int, masked: tuple[bool, bool],
                shrink: bool) -> tuple[int, int, int]:
    """(start, stop, step) of one axis as TFLM's strided slice resolves them: a negative index
    counts from the end, then clamps to [0, n] (forwards) or [-1, n - 1] (backwards); a begin or
    end mask takes the whole axis; a shrunk axis stops one past its start."""
    def bound(i: int) -> int:
        i = i + n if i < 0 else i
        return min(max(i, 0), n) if stride > 0 else min(max(i, -1), n - 1)

    start = (0 if stride > 0 else n - 1) if masked[0] else bound(begin)
    if shrink:
        return start, start + 1, stride
    stop = (n if stride > 0 else -1) if masked[1] else bound(end)
    return start, stop, stride


def STRIDED_SLICE(cx: OpCtx) -> None:
    """TFLM reads begin/end/strides as int32, one per input dimension (at most 4), honours the
    begin, end and shrink masks and ignores the ellipsis and new-axis masks and ``offset``:
    firmforge refuses files that set those, and the shrinks TFLM leaves unwritten (a negative
    stride, a begin outside the axis)."""
    cx.expect("StridedSliceOptions", (4, 4))
    x = cx.operand(0)
    rank = len(x.shape)
    if rank > 4:
        raise Unsupported(f"a {rank}-D input (TFLM's STRIDED_SLICE takes at most 4 dimensions)")
    for mask in ("EllipsisMask", "NewAxisMask"):
        if cx.opt(mask, 0):
            raise Unsupported(f"{mask} {cx.opt(mask, 0)}: TFLM ignores it, which changes what "
                              "the slice means")
    if cx.opt("Offset", False):
        raise Unsupported("offset=True: TFLM ignores it, which changes what the slice means")
    spec = []
    for i, what in ((1, "begin"), (2, "end"), (3, "strides")):
        a = cx.array(i, what)
        if a.dtype != np.int32 or a.shape != (rank,):
            raise Unsupported(f"{what} is {a.dtype}{list(a.shape)}; TFLM reads {rank} int32 "
                              f"values (one per dimension of the input)")
        spec.append([int(v) for v in a])
    begin_mask, end_mask = int(cx.opt("BeginMask", 0)), int(cx.opt("EndMask", 0))
    shrink_mask = int(cx.opt("ShrinkAxisMask", 0))
    bounds, shrink = [], []
    for d, (n, b, e, s) in enumerate(zip(x.shape, *spec, strict=True)):
        if s == 0:
            raise Unsupported(f"stride 0 along dimension {d} (TFLM refuses it)")
        shrunk = bool(shrink_mask >> d & 1)
        a, z, s = _slice_axis(n, b, e, s, (bool(begin_mask >> d & 1), bool(end_mask >> d & 1)),
                              shrunk)
        if shrunk:
            if s < 0 or not 0 <= a < n:
                raise Unsupported(f"dimension {d} is shrunk with stride {s} from index {b}: "
                                  "TFLM writes no output for it")
            shrink.append(d)
        if len(range(a, z, s)) == 1:
            a, z, s = a, a + 1, 1  # one element, whichever way it is walked
        bounds.append((a, z, s))
    if bounds[0] != (0, 1, 1) or 0 in shrink:
        raise Unsupported(f"the slice {bounds[0]} of the batch dimension (firmforge keeps the "
                          "batch whole)")
    starts, stops, steps = (tuple(b[k] for b in bounds) for k in range(3))
    cx.emit(StridedSlice, [x], starts=starts, stops=stops, steps=steps, shrink=tuple(shrink))


def MEAN(cx: OpCtx) -> None:
    cx.expect("ReducerOptions", (2, 2))
    x = cx.operand(0)
    axes = cx.array(1, "axes").reshape(-1)
    rank = len(x.shape)
    if axes.dtype.kind != "i" or np.any((axes < -rank) | (axes >= rank)):
        raise cx.error(f"axes {axes.tolist()} out of range for {list(x.shape)}")
    norm = tuple(sorted({int(a) % rank for a in axes}))  # TFLite resolves duplicates
    if not norm:
        raise Unsupported("MEAN over no axes")
    cx.emit(Mean, [x], axes=norm, keepdims=bool(cx.opt("KeepDims", False)))


# -- recurrent ---------------------------------------------------------------------------------
# Optional inputs of TFLite's LSTM variants; TFLM's kernel (ValidateTensorStatus) refuses them all.
_LSTM_VARIANTS = {"peephole connections": (9, 10, 11), "a projection layer": (16, 17),
                  "layer normalisation": (20, 21, 22, 23)}
_LSTM_REQUIRED = (2, 3, 4, 6, 7, 8, 13, 14, 15, 18, 19)
_TANH = 4


def UNIDIRECTIONAL_SEQUENCE_LSTM(cx: OpCtx) -> None:
    """The standard LSTM as TFLM runs it (inputs 0..23 in TFLite's order; the variable
    tensors 18 and 19 become the node's state). Gate weights and biases are stacked in the
    order i, f, g, o, the weights keeping one scale per gate along axis 0."""
    cx.expect("UnidirectionalSequenceLSTMOptions", (1, 24), need_options=True)
    if len(cx.op.inputs) != 24:
        raise cx.error(f"takes 24 inputs, has {len(cx.op.inputs)}")
    for feature, slots in _LSTM_VARIANTS.items():
        if any(cx.has_input(i) for i in slots):
            raise Unsupported(f"an LSTM with {feature} (TFLM's kernel runs the standard LSTM "
                              "only)")
    if not all(cx.has_input(i) for i in (1, 5, 12)):
        raise Unsupported("a CIFG LSTM (no input gate; TFLM's kernel needs all four gates)")
    for i in _LSTM_REQUIRED:
        if not cx.has_input(i):
            raise cx.error(f"required input {i} is omitted")
    act = cx.opt("FusedActivationFunction", 0)
    if act != _TANH:
        name = {**{k: a.name for k, a in _ACT.items()}, **_ACT_NAMES}.get(act, act)
        raise Unsupported(f"LSTM cell activation {name}: TFLM's kernel applies nothing but "
                          "TANH there (the cell gate would stay a raw pre-activation)")
    if cx.opt("DiagonalRecurrentTensors", False):
        raise Unsupported("diagonal recurrent weights (TFLM's kernel needs full matrices)")
    x = cx.operand(0)
    w_x = _lstm_stack(cx, x, range(1, 5), "w_x")
    w_h = _lstm_stack(cx, x, range(5, 9), "w_h")
    units = w_x.shape[1]
    wide = x.dtype is DType.s16  # TFLM's 16x8 LSTM reads int64 biases, int8's int32
    biases = [cx.bias(i, units, x, wide) for i in range(12, 16)]
    if len({b.dtype for b in biases}) != 1 or biases[0].dtype is not (
            DType.s64 if wide else DType.s32 if x.dtype is DType.s8 else DType.f32):
        raise Unsupported(f"LSTM biases of types {[b.dtype.value for b in biases]} with "
                          f"{x.dtype.value} activations (TFLM reads "
                          f"{'int64' if wide else 'int32'} for integer models)")
    b = const(cx.b.unique(f"{cx.base}.biases"), np.stack([v.data for v in biases]), biases[0].dtype)
    cx.emit(Lstm, [x, w_x, w_h, b], state=[cx.state(18), cx.state(19)],
            cell_clip=float(cx.opt("CellClip", 0.0)), time_major=bool(cx.opt("TimeMajor", False)))


def _lstm_stack(cx: OpCtx, x: Value, slots: range, tag: str) -> Value:
    """Four gate weight tensors as one constant (4, units, depth), one scale per gate."""
    ws = [cx.weights(i, x, axis=0) for i in slots]
    if len({w.shape for w in ws}) != 1 or len(ws[0].shape) != 2:
        raise cx.error(f"LSTM weights {[list(w.shape) for w in ws]} are not four equal matrices")
    quant = None
    if ws[0].quant is not None:
        if any(w.quant.per_channel for w in ws):
            raise Unsupported("per-channel LSTM weights (TFLM's LSTM reads one scale per weight "
                              "tensor)")
        quant = QuantParams(np.array([w.quant.scale[0] for w in ws], np.float32), np.zeros(4),
                            axis=0)
    return const(cx.b.unique(f"{cx.base}.{tag}"), np.stack([w.data for w in ws]), ws[0].dtype,
                 quant)


def SVDF(cx: OpCtx) -> None:
    """TFLM's integer SVDF (inputs x, weights_feature, weights_time, bias, and the variable
    tensor 4, which becomes the node's state). TFLM's integer kernel applies no fused
    activation (it clamps to int8 only), so the node gets none whatever the option says."""
    cx.expect("SVDFOptions", (3, 5), need_options=True)
    if len(cx.op.inputs) != 5 or not cx.has_input(4):
        raise cx.error(f"takes 5 inputs, the state last, has {len(cx.op.inputs)}")
    x = cx.operand(0)
    if x.dtype is not DType.s8:
        raise Unsupported(f"{x.dtype.value} SVDF (firmforge implements TFLM's int8 SVDF; "
                          "a float one would need a quantizer rule)")
    w_f = cx.weights(1, x, axis=0)
    if w_f.quant.per_channel:
        raise Unsupported("per-channel SVDF weights (TFLM's SVDF reads one scale per tensor)")
    if cx.op.inputs[2] in cx.b.dynamic:
        raise Unsupported("SVDF time weights (input 2) are not constant")
    w_t = cx.operand(2, "weights_time")
    rank = int(cx.opt("Rank", 0))
    if rank < 1 or len(w_f.shape) != 2 or w_f.shape[0] % rank:
        raise cx.error(f"weights {list(w_f.shape)} are not a whole number of rank-{rank} units")
    if not cx.has_input(3):
        raise Unsupported("an int8 SVDF without a bias (TFLM's Prepare reads the bias's scale "
                          "and cannot run one)")
    b = cx.bias(3, w_f.shape[0] // rank, x, False)
    cx.emit(Svdf, [x, w_f, w_t, b], state=[cx.state(4)], rank=rank, act=Act.NONE)


HANDLERS = {name: fn for name, fn in dict(globals()).items()
            if name.isupper() and inspect.isfunction(fn) and fn.__module__ == __name__}
