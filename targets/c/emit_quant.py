"""Emitters for Quantize (f32 -> s8/s16, integer requantization between s8 and s16) and
Dequantize (s8/s16 -> f32); kernels in ``ff_quant.c``."""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType, Node
from ...converter.ops.quant import Dequantize, Quantize
from .context import EmitContext
from .emit import emit, unsupported

_INT = (DType.s8, DType.s16)


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
    words = f"{x.dtype.value}_{y.dtype.value}"
    if x.dtype is DType.f32 and y.dtype in _INT:
        p = ctx.params(f"ff_quantize_{words}_params", n=x.size, scale=_float_literal(yq.s),
                       zero_point=yq.zp)
    elif x.dtype in _INT and y.dtype in _INT:
        m, s = node.requant()
        p = ctx.params(f"ff_quantize_{words}_params", n=x.size, x_off=x.quant.zp,
                       y_off=yq.zp, mult=m, shift=s)
    else:
        raise unsupported(node, f"{x.dtype.value} -> {y.dtype.value}")
    ctx.call("ff_quant.h", f"ff_quantize_{words}", p, ctx.ptr(x), ctx.ptr(y))


@emit.register
def _dequantize(node: Dequantize, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    _data_input(node)
    if x.dtype not in _INT or x.quant.per_channel:
        raise unsupported(node, f"{x.dtype.value} input" if x.dtype not in _INT
                          else "per-channel parameters")
    words = f"{x.dtype.value}_f32"
    p = ctx.params(f"ff_dequantize_{words}_params", n=x.size, scale=_float_literal(x.quant.s),
                   zero_point=x.quant.zp)
    ctx.call("ff_quant.h", f"ff_dequantize_{words}", p, ctx.ptr(x), ctx.ptr(y))
