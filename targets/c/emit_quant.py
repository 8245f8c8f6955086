"""Emitters for Quantize (f32 -> s8/s16; integer requantization for every pair TFLM's QUANTIZE
has: s8/s16 -> s8/s16/s32, s32 -> s8/s16) and Dequantize (s8/s16 -> f32); kernels in
``ff_quant.c``."""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType
from ...converter.ops.quant import Dequantize, Quantize
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

_INT = (DType.s8, DType.s16)
# (input, output) dtypes of the ff_quantize_<in>_<out> kernels
_QUANTIZE = {(DType.f32, DType.s8), (DType.f32, DType.s16),
             *((a, b) for a in _INT for b in (*_INT, DType.s32)),
             (DType.s32, DType.s8), (DType.s32, DType.s16)}


def _float_literal(v: float) -> str:
    """A C float literal that parses to exactly the float32 value ``v``."""
    return f"{float(np.float32(v))!r}f"


@kernel.register
def _quantize_kernel(node: Quantize) -> Kernel:
    x, y = node.x, node.y
    data_input(node)
    if (x.dtype, y.dtype) not in _QUANTIZE:
        raise unsupported(node, f"{x.dtype.value} -> {y.dtype.value}")
    words = f"{x.dtype.value}_{y.dtype.value}"
    return Kernel(f"ff_quantize_{words}", "ff_quant.h", f"ff_quantize_{words}_params")


@kernel.register
def _dequantize_kernel(node: Dequantize) -> Kernel:
    x = node.x
    data_input(node)
    if x.dtype not in _INT or x.quant.per_channel:
        raise unsupported(node, f"{x.dtype.value} input" if x.dtype not in _INT
                          else "per-channel parameters")
    words = f"{x.dtype.value}_f32"
    return Kernel(f"ff_dequantize_{words}", "ff_quant.h", f"ff_dequantize_{words}_params")


@emit.register
def _quantize(node: Quantize, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    yq = node.out_quant()
    if x.dtype is DType.f32:
        p = ctx.params(n=x.size, scale=_float_literal(yq.s), zero_point=yq.zp)
    else:
        m, s = node.requant()
        p = ctx.params(n=x.size, x_off=x.quant.zp, y_off=yq.zp, mult=m, shift=s)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))


@emit.register
def _dequantize(node: Dequantize, ctx: EmitContext) -> None:
    x = node.x
    p = ctx.params(n=x.size, scale=_float_literal(x.quant.s), zero_point=x.quant.zp)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(node.y))
