"""Emitters for the standalone Relu, Relu6, LeakyRelu and HardSwish (int8; LeakyRelu also int16;
kernels in ``ff_act.c``)."""

from __future__ import annotations

from ...converter.ir import DType
from ...converter.ops.act import HardSwish, IntActivation, LeakyRelu, Relu, Relu6
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported


def _s8(node: IntActivation, fn: str) -> Kernel:
    if node.x.dtype is not DType.s8 or node.y.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} data")
    data_input(node)
    return Kernel(fn, "ff_act.h", f"{fn}_params")


@kernel.register
def _relu_kernel(node: Relu) -> Kernel:
    return _s8(node, "ff_relu_s8")


@kernel.register
def _relu6_kernel(node: Relu6) -> Kernel:
    return _s8(node, "ff_relu6_s8")


@kernel.register
def _leaky_relu_kernel(node: LeakyRelu) -> Kernel:
    dtype = node.x.dtype
    if dtype not in (DType.s8, DType.s16) or node.y.dtype is not dtype:
        raise unsupported(node, f"{dtype.value} data")
    data_input(node)
    fn = f"ff_leaky_relu_{dtype.value}"
    return Kernel(fn, "ff_act.h", f"{fn}_params")


@kernel.register
def _hard_swish_kernel(node: HardSwish) -> Kernel:
    return _s8(node, "ff_hard_swish_s8")


@emit.register
def _relu(node: Relu, ctx: EmitContext) -> None:
    m, s = node.requant()
    lo, hi = node.act_range()
    p = ctx.params(n=node.x.size, x_off=node.x.quant.zp, y_off=node.y.quant.zp, mult=m,
                   shift=s, act_min=lo, act_max=hi)
    ctx.call_kernel(p, ctx.ptr(node.x), ctx.ptr(node.y))


@emit.register
def _relu6(node: Relu6, ctx: EmitContext) -> None:
    lo, hi = node.act_range()
    p = ctx.params(n=node.x.size, act_min=lo, act_max=hi)
    ctx.call_kernel(p, ctx.ptr(node.x), ctx.ptr(node.y))


@emit.register
def _leaky_relu(node: LeakyRelu, ctx: EmitContext) -> None:
    mi, si, ma, sa, negative = node.requant()
    p = ctx.params(n=node.x.size, x_off=node.x.quant.zp, y_off=node.y.quant.zp, mult=mi,
                   shift=si, alpha_mult=ma, alpha_shift=sa, alpha_sign=-1 if negative else 1)
    ctx.call_kernel(p, ctx.ptr(node.x), ctx.ptr(node.y))


@emit.register
def _hard_swish(node: HardSwish, ctx: EmitContext) -> None:
    r = node.requant()
    p = ctx.params(n=node.x.size, x_off=node.x.quant.zp, y_off=node.y.quant.zp,
                   out_mult=r.out_mult, out_exp=r.out_exp, relu_mult=r.relu_mult,
                   relu_exp=r.relu_exp)
    ctx.call_kernel(p, ctx.ptr(node.x), ctx.ptr(node.y))
