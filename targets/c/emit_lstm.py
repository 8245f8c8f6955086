"""Emitter for Lstm (TFLite UNIDIRECTIONAL_SEQUENCE_LSTM): int8, and 16x8 (int16 activations).

Every parameter comes from ``Lstm.requant()``, the record the numpy reference runs on; the
output and cell states are the node's state values, which the plan keeps in the state region.
"""

from __future__ import annotations

from ...converter.ir import DType
from ...converter.ops.lstm import Lstm
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

_KERNELS = {DType.s8: "ff_lstm_s8_s16", DType.s16: "ff_lstm_s16_s8"}


@kernel.register
def _lstm_kernel(node: Lstm) -> Kernel:
    fn = _KERNELS.get(node.x.dtype)
    if fn is None:
        raise unsupported(node, f"{node.x.dtype.value} activations")
    data_input(node)
    return Kernel(fn, "ff_lstm.h", "ff_lstm_params")


@emit.register
def _lstm(node: Lstm, ctx: EmitContext) -> None:
    x, w_x, w_h, bias = node.inputs
    h, c = node.state
    q = node.requant()
    batch, steps, inputs, units = node.sizes()
    gates = [*q.gate_x.tolist(), *q.gate_h.tolist()]
    p = ctx.params(
        batch=batch, steps=steps, input_size=inputs, units=units, time_major=node.time_major,
        x_offset=-q.x_zp, h_offset=-q.h_zp, h_zero_point=q.h_zp,
        gate_mult=[m for m, _ in gates], gate_shift=[s for _, s in gates],
        forget_mult=q.forget_mul[0], forget_shift=q.forget_mul[1],
        input_mult=q.input_mul[0], input_shift=q.input_mul[1],
        output_mult=q.output_mul[0], output_shift=q.output_mul[1],
        cell_clip=-1 if q.cell_clip is None else q.cell_clip,
        tanh_multiplier=q.tanh_multiplier, tanh_shift=q.tanh_shift)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w_x), ctx.ptr(w_h), ctx.ptr(bias), ctx.ptr(h),
                    ctx.ptr(c), ctx.ptr(node.y))
