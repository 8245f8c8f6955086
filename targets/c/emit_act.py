"""Emitters for the standalone Relu, Relu6 and LeakyRelu (int8, kernels in ``ff_act.c``)."""

from __future__ import annotations

from ...converter.ir import DType
from ...converter.ops.act import LeakyRelu, Relu, Relu6, _IntAct
from .context import EmitContext
from .emit import emit, unsupported


def _check(node: _IntAct) -> None:
    if node.x.dtype is not DType.s8 or node.y.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} data")
    if node.x.is_const:
        raise unsupported(node, "a constant input (fold it first)")


@emit.register
def _relu(node: Relu, ctx: EmitContext) -> None:
    _check(node)
    m, s = node.requant()
    lo, hi = node.bounds()
    p = ctx.params("ff_relu_s8_params", n=node.x.size, x_off=node.x.quant.zp,
                   y_off=node.y.quant.zp, mult=m, shift=s, act_min=lo, act_max=hi)
    ctx.call("ff_act.h", "ff_relu_s8", p, ctx.ptr(node.x), ctx.ptr(node.y))


@emit.register
def _relu6(node: Relu6, ctx: EmitContext) -> None:
    _check(node)
    lo, hi = node.bounds()
    p = ctx.params("ff_relu6_s8_params", n=node.x.size, act_min=lo, act_max=hi)
    ctx.call("ff_act.h", "ff_relu6_s8", p, ctx.ptr(node.x), ctx.ptr(node.y))


@emit.register
def _leaky_relu(node: LeakyRelu, ctx: EmitContext) -> None:
    _check(node)
    mi, si, ma, sa, negative = node.requant()
    p = ctx.params("ff_leaky_relu_s8_params", n=node.x.size, x_off=node.x.quant.zp,
                   y_off=node.y.quant.zp, mult=mi, shift=si, alpha_mult=ma, alpha_shift=sa,
                   alpha_sign=-1 if negative else 1)
    ctx.call("ff_act.h", "ff_leaky_relu_s8", p, ctx.ptr(node.x), ctx.ptr(node.y))
