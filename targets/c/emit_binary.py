"""Emitters for the binary ops (converter/ops/binary.py; kernels in ff_bnn.h): Binarize,
BinaryDense and BinaryConv2d, with b1 output (thresholds) or s8 output (the records of the
int8 layers, ``sparse.records``: bias, 2 * multiplier, k, left shift, no input offset since
+-1 inputs have zero point 0). Binary weights are written as packed rows of 32-bit words
whatever their storage (``PackedRows`` is what ``Value.nbytes`` counts)."""

from __future__ import annotations

import numpy as np

from ...converter.bitstream import pack_rows
from ...converter.encoding import Dense, PackedRows
from ...converter.ir import DType, Value
from ...converter.ops.binary import Binarize, BinaryConv2d, BinaryDense
from ...converter.ops.pool import MaxPool2d
from . import pairs
from .context import EmitContext, Kernel
from .emit import data_input, emit, kernel, unsupported
from .emit_binary_mst import emit_mst, mst_kernel, stored_mst
from .sparse import records

_HEADER = "ff_bnn.h"


def _words(ctx: EmitContext, v: Value) -> str:
    """A b1 activation as uint32_t words."""
    return f"(uint32_t *){ctx.ptr(v)}"


def _weights(ctx: EmitContext, w: Value) -> str:
    return ctx.array("words", pack_rows(w.data.reshape(-1, w.shape[-1])).reshape(-1), "uint32_t",
                     f"{w.name}: b1{list(w.shape)} as packed rows of 32-bit words")


def _layer_kernel(node: BinaryDense | BinaryConv2d, op: str) -> Kernel:
    if stored_mst(node):  # MST channel reuse (emit_binary_mst.py)
        return mst_kernel(node)
    w = node.inputs[1]
    data_input(node)
    if not isinstance(w.encoding, (Dense, PackedRows)):
        raise unsupported(node, f"binary weights stored {w.encoding}")
    out = node.y.dtype
    if out is DType.b1:
        return Kernel(f"ff_{op}_b1", _HEADER, f"ff_{op}_b1_params", decodes=(1,))
    if out is DType.s8:
        o = w.shape[0]
        if not pairs.multipliers_ok(np.broadcast_to(node.requant()[0], (o,))):
            raise unsupported(node, "multipliers other than 0 or in [2**30, 2**31)")
        return Kernel(f"ff_{op}_b1_s8", _HEADER, f"ff_{op}_b1_params", decodes=(1,))
    raise unsupported(node, f"{out.value} output")


def _last(ctx: EmitContext, node: BinaryDense | BinaryConv2d) -> tuple[str, str]:
    """The per-channel array (thresholds or records) and the output pointer."""
    t = node.inputs[2]
    if node.y.dtype is DType.b1:
        return ctx.array("thr", t.data.astype(np.int32), "int32_t", f"{t.name}: dot >= thr"), \
            _words(ctx, node.y)
    rec = ctx.array("rec", records(node), "int32_t",
                    f"{t.name}: {{bias, 2 * multiplier, k, left shift}}")
    return rec, ctx.ptr(node.y)


def _out_fields(node: BinaryDense | BinaryConv2d) -> dict[str, int]:
    if node.y.dtype is DType.b1:
        return dict(out_offset=0, act_min=-1, act_max=1)
    lo, hi = node.act_range()
    return dict(out_offset=node.y.quant.zp, act_min=lo, act_max=hi)


@kernel.register
def _binarize_kernel(node: Binarize) -> Kernel:
    if node.x.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} input")
    data_input(node)
    return Kernel("ff_binarize_s8_b1", _HEADER, "ff_binarize_params")


@emit.register
def _binarize(node: Binarize, ctx: EmitContext) -> None:
    x, t, flip = node.inputs
    c = x.shape[-1]
    p = ctx.params(rows=x.size // c, channels=c)
    ctx.call_kernel(p, ctx.ptr(x), ctx.array("thr", t.data.astype(np.int32), "int32_t", t.name),
                    ctx.array("flip", flip.data.astype(np.uint8), "uint8_t", flip.name),
                    _words(ctx, node.y))


@kernel.register
def _binary_dense_kernel(node: BinaryDense) -> Kernel:
    return _layer_kernel(node, "dense")


@emit.register
def _binary_dense(node: BinaryDense, ctx: EmitContext) -> None:
    if stored_mst(node):
        return emit_mst(node, ctx)
    x, w, _ = node.inputs
    o, k = w.shape
    last, y = _last(ctx, node)
    p = ctx.params(rows=x.size // k, in_features=k, out_features=o, **_out_fields(node))
    ctx.call_kernel(p, _words(ctx, x), _weights(ctx, w), last, y)


@kernel.register
def _binary_conv_kernel(node: BinaryConv2d) -> Kernel:
    return _layer_kernel(node, "conv2d")


@emit.register
def _binary_conv(node: BinaryConv2d, ctx: EmitContext) -> None:
    if stored_mst(node):
        return emit_mst(node, ctx)
    x, w, _ = node.inputs
    n, ih, iw, c = x.shape
    _, oh, ow, o = node.y.shape
    _, kh, kw, _ = w.shape
    last, y = _last(ctx, node)
    p = ctx.params(batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o, k_h=kh,
                   k_w=kw, stride_h=node.stride[0], stride_w=node.stride[1],
                   dil_h=node.dilation[0], dil_w=node.dilation[1], pad_top=node.padding.top,
                   pad_left=node.padding.left, pad_value=node.pad_value, **_out_fields(node))
    ctx.call_kernel(p, _words(ctx, x), _weights(ctx, w), last, y)


def maxpool_kernel(node: MaxPool2d) -> Kernel:
    """The b1 max pool (an OR of words), for ``emit_pool``."""
    data_input(node)
    return Kernel("ff_maxpool2d_b1", _HEADER, "ff_maxpool2d_b1_params")


def emit_maxpool(node: MaxPool2d, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    p = ctx.params(batches=n, in_h=ih, in_w=iw, channels=c, out_h=oh, out_w=ow,
                   k_h=node.kernel[0], k_w=node.kernel[1], stride_h=node.stride[0],
                   stride_w=node.stride[1], pad_top=node.padding.top, pad_left=node.padding.left)
    ctx.call_kernel(p, _words(ctx, x), _words(ctx, y))
