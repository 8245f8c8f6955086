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
import sys

import numpy as np

from ..ir import Act, DType, Value
from ..ops.act import HardSwish, LeakyRelu, Relu, Relu6
from ..ops.common import Padding
from ..ops.conv import Conv2d, DepthwiseConv2d, TransposeConv2d
from ..ops.dense import BatchMatMul, Dense
from ..ops.eltwise import Add, Maximum, Minimum, Mul, Sub
from ..ops.nonlinear import Sigmoid, Softmax, Tanh
from ..ops.pool import AvgPool2d, MaxPool2d
from ..ops.quant import Dequantize, Quantize
from ..ops.shape import Reshape
from .tflite_context import OpCtx, Unsupported

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


# The data movement and recurrent handlers live in their own modules (they read helpers above).
from . import tflite_ops_recurrent, tflite_ops_shape  # noqa: E402

HANDLERS = {name: fn for m in (sys.modules[__name__], tflite_ops_shape, tflite_ops_recurrent)
            for name, fn in vars(m).items()
            if name.isupper() and inspect.isfunction(fn) and fn.__module__ == m.__name__}
