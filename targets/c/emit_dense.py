"""Emitters for Dense: int8 (int8 or packed int4 weights), and 16x8 (int16 activations, int8
weights, int64 or int32 bias)."""

from __future__ import annotations

import numpy as np

from ...converter.encoding import Dense as Plain
from ...converter.encoding import Encoding, Packed
from ...converter.ir import DType
from ...converter.ops.dense import Dense
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, stored, unsupported

# (input, weights, weight encoding, bias, output) -> (kernel, its parameter struct)
_KERNELS: dict[tuple[DType, DType, Encoding, DType, DType], tuple[str, str]] = {
    (DType.s8, DType.s8, Plain(), DType.s32, DType.s8): ("ff_dense_s8", "ff_dense_s8_params"),
    (DType.s8, DType.s4, Packed(), DType.s32, DType.s8): ("ff_dense_s8_s4",
                                                          "ff_dense_s8_s4_params"),
    (DType.s16, DType.s8, Plain(), DType.s64, DType.s16): ("ff_dense_s16_s8",
                                                           "ff_dense_s16_s8_params"),
    (DType.s16, DType.s8, Plain(), DType.s32, DType.s16): ("ff_dense_s16_s8_s32",
                                                           "ff_dense_s16_s8_params")}


@kernel.register
def _dense_kernel(node: Dense) -> Kernel:
    x, w, b = node.inputs
    found = _KERNELS.get((x.dtype, w.dtype, w.encoding, b.dtype, node.y.dtype))
    if found is None:
        raise unsupported(node, f"{x.dtype.value} inputs, {w.dtype.value} weights{stored(w)} "
                                f"and {b.dtype.value} bias")
    data_input(node)
    return Kernel(found[0], "ff_dense.h", found[1], decodes=(1,))


@emit.register
def _dense(node: Dense, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    o, k = w.shape
    mult, shift = node.requant()
    lo, hi = node.act_range()
    p = ctx.params(
        rows=x.size // k, in_features=k, out_features=o,
        in_offset=-x.quant.zp, out_offset=node.y.quant.zp, act_min=lo, act_max=hi,
        mult=ctx.array("mult", np.broadcast_to(mult, (o,)), "int32_t"),
        shift=ctx.array("shift", np.broadcast_to(shift, (o,)), "int32_t"))
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w), ctx.ptr(b), ctx.ptr(node.y))
