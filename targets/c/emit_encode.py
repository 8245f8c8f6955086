"""Emitter for RateEncode (``ff_rate_encode_s8_u1``): int8 intensities in, spike bits out,
the generator's state the node's own state value (``ops/encode.py``)."""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType
from ...converter.ops.encode import RateEncode
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported


@kernel.register
def _rate_encode_kernel(node: RateEncode) -> Kernel:
    if node.x.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} input")
    data_input(node)
    return Kernel("ff_rate_encode_s8_u1", "ff_encode.h", "ff_rate_encode_params", inplace=False)


@emit.register
def _rate_encode(node: RateEncode, ctx: EmitContext) -> None:
    x = node.x
    p = ctx.params(size=x.size // x.shape[0],
                   zero_point=int(np.asarray(x.quant.zp).reshape(-1)[0]))
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(node.state[0]), ctx.ptr(node.y))
