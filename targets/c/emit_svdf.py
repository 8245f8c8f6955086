"""Emitter for Svdf (TFLite SVDF): int8 with an int16 state (ff_svdf_s8_s16) or an int8 one
(ff_svdf_s8).

Every parameter comes from ``Svdf.requant()`` and ``act_range()``, the record the numpy
reference runs on; the state is the node's state value, which the plan keeps in the state
region. The kernel needs no scratch.
"""

from __future__ import annotations

from ...converter.ir import DType
from ...converter.ops.svdf import Svdf
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

_KERNELS = {DType.s16: "ff_svdf_s8_s16", DType.s8: "ff_svdf_s8"}


@kernel.register
def _svdf_kernel(node: Svdf) -> Kernel:
    fn = _KERNELS.get(node.state[0].dtype)
    if node.x.dtype is not DType.s8 or fn is None:
        raise unsupported(node, f"{node.x.dtype.value} input with a "
                                f"{node.state[0].dtype.value} state")
    data_input(node)
    return Kernel(fn, "ff_svdf.h", "ff_svdf_params")


@emit.register
def _svdf(node: Svdf, ctx: EmitContext) -> None:
    x, w_feature, w_time = node.inputs[:3]
    q = node.requant()
    batch, inputs, filters, memory = node.sizes()
    act_min, act_max = node.act_range()
    p = ctx.params(
        batch=batch, input_size=inputs, filters=filters, memory=memory, rank=node.rank,
        input_offset=-q.x_zp, state_zero_point=q.state_zp, output_zero_point=q.y_zp,
        feature_mult=q.feature_mul[0], feature_shift=q.feature_mul[1],
        output_mult=q.output_mul[0], output_shift=q.output_mul[1],
        act_min=act_min, act_max=act_max)
    bias = ctx.ptr(node.bias) if node.bias is not None else "0"
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w_feature), ctx.ptr(w_time), bias,
                    ctx.ptr(node.state[0]), ctx.ptr(node.y))
