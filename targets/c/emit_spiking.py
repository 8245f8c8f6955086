"""Emitters for spiking layers: Lif (``ff_lif_s16``/``ff_lif_s32`` by membrane type) and the
synaptic currents DenseCurrent and Conv2dCurrent (``ff_synapse.h``).

A spike-input DenseCurrent calls the event-driven ``ff_dense_u1_s8_s32`` (or, with
``events=False``, ``ff_dense_u1_s8_s32_scan`` over the weights as they are), whose weights are
written transposed here (one row of outputs per input, so an input spike reads one contiguous
row); the untransposed weights are never emitted. Every Lif parameter is the op's own constant
input (``ops/spiking.py``); the membrane (and synaptic current) is the node's state.
"""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType
from ...converter.ops.spiking import DecayMode, Lif, Reset
from ...converter.ops.synapse import Conv2dCurrent, DenseCurrent
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

_RESET = {Reset.SUBTRACT: 0, Reset.ZERO: 1, Reset.NONE: 2}  # FF_RESET_* in ff_lif.h


@kernel.register
def _lif_kernel(node: Lif) -> Kernel:
    if node.current.dtype is not DType.s32 or node.membrane not in (DType.s16, DType.s32):
        raise unsupported(node, f"a {node.current.dtype.value} current with a "
                                f"{node.membrane.value} membrane")
    data_input(node)
    scratch = (node.neurons + 7) // 8 if node.recurrent else 0
    return Kernel(f"ff_lif_{node.membrane.value}", "ff_lif.h", "ff_lif_params", scratch,
                  inplace=False)


@emit.register
def _lif(node: Lif, ctx: EmitContext) -> None:
    n = node.neurons

    def table(v):
        return ctx.const(v), int(v.data.size == n and n > 1)

    beta, beta_n = table(node.beta)
    thr, thr_n = table(node.threshold)
    alpha, alpha_n = table(node.alpha) if node.alpha is not None else ("0", 0)
    p = ctx.params(
        positions=node.current.size // node.current.shape[0] // n,  # rows of one call
        neurons=n, reset=_RESET[node.reset],
        shift_decay=int(node.decay_mode is DecayMode.SHIFT), fires=int(node.fires),
        beta_per_neuron=beta_n, alpha_per_neuron=alpha_n, thr_per_neuron=thr_n,
        beta=beta, alpha=alpha, thr=thr,
        w_rec=ctx.const(node.w_rec) if node.w_rec is not None else "0")
    syn = ctx.ptr(node.state[0]) if node.synaptic else "0"
    scratch = f"(uint8_t *){ctx.scratch()}" if node.recurrent else "0"
    ctx.call_kernel(p, ctx.ptr(node.current), syn, ctx.ptr(node.state[-1]), ctx.ptr(node.y),
                    scratch)


@kernel.register
def _dense_current_kernel(node: DenseCurrent) -> Kernel:
    data_input(node)
    x = node.x.dtype.value
    scan = "_scan" if node.x.dtype is DType.u1 and not node.events else ""
    return Kernel(f"ff_dense_{x}_s8_s32{scan}", "ff_synapse.h", "ff_dense_current_params",
                  inplace=False)


@emit.register
def _dense_current(node: DenseCurrent, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    o, k = w.shape
    offset = 0 if x.dtype is DType.u1 else -int(np.asarray(x.quant.zp).reshape(-1)[0])
    p = ctx.params(rows=x.size // x.shape[0] // k, inputs=k, outputs=o,  # rows per call
                   input_offset=offset, scale=1 << node.shift)
    if x.dtype is DType.u1 and node.events:
        weights = ctx.array("w_t", np.ascontiguousarray(w.data.T), "int8_t",
                            f"{w.name} transposed: one row of {o} outputs per input")
    else:
        weights = ctx.const(w)
    ctx.call_kernel(p, ctx.ptr(x), weights, ctx.const(b), ctx.ptr(node.y))


@kernel.register
def _conv_current_kernel(node: Conv2dCurrent) -> Kernel:
    data_input(node)
    if node.groups != 1:
        raise unsupported(node, f"{node.groups} groups")
    return Kernel(f"ff_conv2d_{node.x.dtype.value}_s8_s32", "ff_synapse.h",
                  "ff_conv_current_params", inplace=False)


@emit.register
def _conv_current(node: Conv2dCurrent, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    _, ih, iw, c = x.shape
    _, oh, ow, o = node.y.shape
    offset = 0 if x.dtype is DType.u1 else -int(np.asarray(x.quant.zp).reshape(-1)[0])
    p = ctx.params(
        batches=1, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o,  # one sample a call
        k_h=w.shape[1], k_w=w.shape[2], stride_h=node.stride[0], stride_w=node.stride[1],
        dilation_h=node.dilation[0], dilation_w=node.dilation[1],
        pad_top=node.padding.top, pad_left=node.padding.left, input_offset=offset,
        scale=1 << node.shift)
    ctx.call_kernel(p, ctx.ptr(x), ctx.const(w), ctx.const(b), ctx.ptr(node.y))
