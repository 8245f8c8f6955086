"""Emitters for Quantize (f32 -> s8, s8 -> s8) and Dequantize (s8 -> f32); kernels in
``ff_quant.c``."""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType, Node
from ...converter.ops.quant import Dequantize, Quantize
from .context import EmitContext
from .emit import emit, unsupported


def _float_literal(v: float) -> str:
    """A C float literal that parses to exactly the float32 value ``v``."""
    return f"{float(np.float32(v))!r}f"


def _data_input(node: Node) -> None:
    if node.x.is_const:
        raise unsupported(node, "a constant input (fold it first)")


@emit.register
def _quantize(node: Quantize, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    _data_input(node)
    yq = node._out()
    if x.dtype is DType.f32 and y.dtype is DType.s8:
        p = ctx.params("ff_quantize_f32_s8_params", n=x.size, scale=_float_literal(yq.s),
                       zero_point=yq.zp)
        ctx.call("ff_quant.h", "ff_quantize_f32_s8", p, ctx.ptr(x), ctx.ptr(y))
    elif x.dtype is DType.s8 and y.dtype is DType.s8:
        m, s = node.requant()
        p = ctx.params("ff_quantize_s8_s8_params", n=x.size, x_off=x.quant.zp, y_off=yq.zp,
                       mult=m, shift=s)
        ctx.call("ff_quant.h", "ff_quantize_s8_s8", p, ctx.ptr(x), ctx.ptr(y))
    else:
        raise unsupported(node, f"{x.dtype.value} -> {y.dtype.value}")


@emit.register
def _dequantize(node: Dequantize, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    _data_input(node)
    if x.dtype is not DType.s8 or x.quant.per_channel:
        raise unsupported(node, f"{x.dtype.value} input" if x.dtype is not DType.s8
                          else "per-channel parameters")
    p = ctx.params("ff_dequantize_s8_f32_params", n=x.size, scale=_float_literal(x.quant.s),
                   zero_point=x.quant.zp)
    ctx.call("ff_quant.h", "ff_dequantize_s8_f32", p, ctx.ptr(x), ctx.ptr(y))
