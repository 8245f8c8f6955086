"""Emitter for Mean (int8, kernel in ``ff_reduce.c``).

The input's dimensions are split into kept and reduced ones, each list padded to four with
size-1 dimensions, with the input element stride of every dimension; the kernel walks the kept
dimensions in order (which is the output's order, keepdims or not) and sums each reduced block.
"""

from __future__ import annotations

import math

from ...converter.fixed import wrap32
from ...converter.ir import DType
from ...converter.ops.reduce import Mean
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

RANK = 4


def _pad(values: list[int], fill: int) -> list[int]:
    return [fill] * (RANK - len(values)) + values


def _split(node: Mean) -> tuple[list[int], list[int], list[int], list[int]]:
    """(dims, element strides, kept dimensions, reduced dimensions), size-1 ones dropped."""
    axes = node.reduced_axes()
    dims = list(node.x.shape)
    strides = [math.prod(dims[k + 1:]) for k in range(len(dims))]
    kept = [k for k in range(len(dims)) if k not in axes and dims[k] != 1]
    red = [k for k in axes if dims[k] != 1]
    return dims, strides, kept, red


@kernel.register
def _mean_kernel(node: Mean) -> Kernel:
    if node.x.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} data")
    data_input(node)
    _, _, kept, red = _split(node)
    if len(kept) > RANK or len(red) > RANK:
        raise unsupported(node, f"a {len(node.x.shape)}-D input with these axes")
    return Kernel("ff_mean_s8", "ff_reduce.h", "ff_mean_s8_params")


@emit.register
def _mean(node: Mean, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    dims, strides, kept, red = _split(node)
    m, s = node.requant()
    p = ctx.params(
        out_dims=_pad([dims[k] for k in kept], 1),
        out_strides=_pad([strides[k] for k in kept], 0),
        red_dims=_pad([dims[k] for k in red], 1), red_strides=_pad([strides[k] for k in red], 0),
        in_zp_count=int(wrap32(x.quant.zp * node.count())), mult=m, shift=s,
        out_offset=y.quant.zp)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))
