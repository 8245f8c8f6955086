"""Emitters for the smooth activations: Sigmoid, Tanh, Softmax (int8, TFLM's arithmetic).

The prepared parameters come from the op classes (``int_params()``), the same values the numpy
reference uses, so C and reference cannot drift apart.
"""

from __future__ import annotations

from ...converter.ir import DType, Node
from ...converter.ops.nonlinear import Sigmoid, Softmax, Tanh
from .context import EmitContext
from .emit import emit, unsupported


def _check_s8(node: Node) -> None:
    if node.x.dtype is not DType.s8 or node.y.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} -> {node.y.dtype.value}")


def _act(node: Sigmoid | Tanh, ctx: EmitContext, fn: str) -> None:
    _check_s8(node)
    q = node.int_params()
    p = ctx.params("ff_act_s8_params", size=node.x.size, input_zero_point=q.zero_point,
                   input_range_radius=q.radius, input_multiplier=q.multiplier,
                   input_shift=q.shift)
    ctx.call("ff_nonlinear.h", fn, p, ctx.ptr(node.x), ctx.ptr(node.y))


@emit.register
def _sigmoid(node: Sigmoid, ctx: EmitContext) -> None:
    _act(node, ctx, "ff_sigmoid_s8")


@emit.register
def _tanh(node: Tanh, ctx: EmitContext) -> None:
    _act(node, ctx, "ff_tanh_s8")


@emit.register
def _softmax(node: Softmax, ctx: EmitContext) -> None:
    _check_s8(node)
    q = node.int_params()
    depth = node.x.shape[-1]
    p = ctx.params("ff_softmax_s8_params", rows=node.x.size // depth, depth=depth,
                   input_multiplier=q.multiplier, input_left_shift=q.left_shift,
                   diff_min=q.diff_min)
    ctx.call("ff_nonlinear.h", "ff_softmax_s8", p, ctx.ptr(node.x), ctx.ptr(node.y))
