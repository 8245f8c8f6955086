"""Emitters for the smooth activations: Sigmoid, Tanh, Softmax (int8, TFLM's arithmetic).

The prepared parameters come from the op classes (``requant()``), the same values the numpy
reference uses, so C and reference cannot drift apart.
"""

from __future__ import annotations

from ...converter.ir import DType, Node
from ...converter.ops.nonlinear import Sigmoid, Softmax, Tanh
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported


def _s8(node: Node, fn: str, ptype: str) -> Kernel:
    if node.x.dtype is not DType.s8 or node.y.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} -> {node.y.dtype.value}")
    data_input(node)
    return Kernel(fn, "ff_nonlinear.h", ptype)


@kernel.register
def _sigmoid_kernel(node: Sigmoid) -> Kernel:
    return _s8(node, "ff_sigmoid_s8", "ff_act_s8_params")


@kernel.register
def _tanh_kernel(node: Tanh) -> Kernel:
    return _s8(node, "ff_tanh_s8", "ff_act_s8_params")


@kernel.register
def _softmax_kernel(node: Softmax) -> Kernel:
    if node.x.dtype is DType.s8 and node.y.dtype is DType.s16:
        data_input(node)
        return Kernel("ff_softmax_s8_s16", "ff_nonlinear.h", "ff_softmax_s8_params")
    return _s8(node, "ff_softmax_s8", "ff_softmax_s8_params")


def _act(node: Sigmoid | Tanh, ctx: EmitContext) -> None:
    q = node.requant()
    p = ctx.params(size=node.x.size, input_zero_point=q.zero_point, input_range_radius=q.radius,
                   input_multiplier=q.multiplier, input_shift=q.shift)
    ctx.call_kernel(p, ctx.ptr(node.x), ctx.ptr(node.y))


@emit.register
def _sigmoid(node: Sigmoid, ctx: EmitContext) -> None:
    _act(node, ctx)


@emit.register
def _tanh(node: Tanh, ctx: EmitContext) -> None:
    _act(node, ctx)


@emit.register
def _softmax(node: Softmax, ctx: EmitContext) -> None:
    q = node.requant()
    depth = node.x.shape[-1]
    p = ctx.params(rows=node.x.size // depth, depth=depth, input_multiplier=q.multiplier,
                   input_left_shift=q.left_shift, diff_min=q.diff_min)
    ctx.call_kernel(p, ctx.ptr(node.x), ctx.ptr(node.y))
