"""Emitters for AvgPool2d and MaxPool2d (int8 and int16; one parameter struct for both)."""

from __future__ import annotations

from ...converter.ir import DType
from ...converter.ops.pool import AvgPool2d, MaxPool2d, Pool2d
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

_DTYPES = (DType.s8, DType.s16)


def _kernel(node: Pool2d, op: str) -> Kernel:
    x, y = node.x, node.y
    if x.dtype not in _DTYPES or y.dtype is not x.dtype:
        raise unsupported(node, f"{x.dtype.value} data")
    data_input(node)
    return Kernel(f"ff_{op}_{x.dtype.value}", "ff_pool.h", "ff_pool2d_params")


@kernel.register
def _avgpool2d_kernel(node: AvgPool2d) -> Kernel:
    return _kernel(node, "avgpool2d")


@kernel.register
def _maxpool2d_kernel(node: MaxPool2d) -> Kernel:
    return _kernel(node, "maxpool2d")


@emit.register
def _pool2d(node: Pool2d, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    lo, hi = node.act_range()
    p = ctx.params(
        batches=n, in_h=ih, in_w=iw, c=c, out_h=oh, out_w=ow,
        k_h=node.kernel[0], k_w=node.kernel[1], stride_h=node.stride[0], stride_w=node.stride[1],
        pad_top=node.padding.top, pad_left=node.padding.left, act_min=lo, act_max=hi)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))
