"""Emitters for Dense."""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType
from ...converter.ops.dense import Dense
from .context import EmitContext
from .emit import emit, unsupported


@emit.register
def _dense(node: Dense, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    if x.dtype is not DType.s8 or w.dtype is not DType.s8:
        raise unsupported(node, f"{x.dtype.value} inputs and {w.dtype.value} weights")
    o, k = w.shape
    mult, shift = node.requant()
    lo, hi = node.act_range()
    p = ctx.params(
        "ff_dense_s8_params", rows=x.size // k, in_features=k, out_features=o,
        in_offset=-x.quant.zp, out_offset=node.y.quant.zp, act_min=lo, act_max=hi,
        mult=ctx.array("mult", np.broadcast_to(mult, (o,)), "int32_t"),
        shift=ctx.array("shift", np.broadcast_to(shift, (o,)), "int32_t"))
    ctx.call("ff_dense.h", "ff_dense_s8", p, ctx.ptr(x), ctx.ptr(w), ctx.ptr(b), ctx.ptr(node.y))
