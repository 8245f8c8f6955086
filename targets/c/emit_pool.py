"""Emitters for AvgPool2d and MaxPool2d (int8 and int16; one parameter struct for both)."""

from __future__ import annotations

from ...converter.ir import DType
from ...converter.ops.pool import AvgPool2d, MaxPool2d, _Pool2d
from .context import EmitContext
from .emit import emit, unsupported

_DTYPES = (DType.s8, DType.s16)


def _emit_pool(node: _Pool2d, ctx: EmitContext, op: str) -> None:
    x, y = node.x, node.y
    if x.dtype not in _DTYPES or y.dtype is not x.dtype:
        raise unsupported(node, f"{x.dtype.value} data")
    if x.is_const:
        raise unsupported(node, "a constant input (fold it first)")
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    lo, hi = node.act_range()
    p = ctx.params(
        "ff_pool2d_params", batches=n, in_h=ih, in_w=iw, c=c, out_h=oh, out_w=ow,
        k_h=node.kernel[0], k_w=node.kernel[1], stride_h=node.stride[0], stride_w=node.stride[1],
        pad_top=node.padding.top, pad_left=node.padding.left, act_min=lo, act_max=hi)
    ctx.call("ff_pool.h", f"ff_{op}_{x.dtype.value}", p, ctx.ptr(x), ctx.ptr(y))


@emit.register
def _avgpool2d(node: AvgPool2d, ctx: EmitContext) -> None:
    _emit_pool(node, ctx, "avgpool2d")


@emit.register
def _maxpool2d(node: MaxPool2d, ctx: EmitContext) -> None:
    _emit_pool(node, ctx, "maxpool2d")
