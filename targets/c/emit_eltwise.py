"""Emitters for Add, Sub, Mul, Maximum and Minimum (int8; Add, Sub, Maximum and Minimum also
int16; kernels in ``ff_eltwise.c``).

Broadcasting is resolved here: both operands and the output are padded to 4-D with leading 1s,
and each operand gets an element stride per output dimension (0 where it broadcasts), so the
kernel walks the output once. One constant operand is read in place from constant memory
(the ``_c`` kernels); two constant operands should have been folded.
"""

from __future__ import annotations

import math

from ...converter.ir import DType
from ...converter.ops.eltwise import Add, Binary, Maximum, Minimum, MinMax, Mul, Sub
from .context import EmitContext
from .emit import Kernel, emit, kernel, unsupported

RANK = 4

# The integer dtypes each op has kernels for (int16 ADD and SUB serve 16x8 models).
_DTYPES = {"add": (DType.s8, DType.s16), "sub": (DType.s8, DType.s16), "mul": (DType.s8,),
           "maximum": (DType.s8, DType.s16), "minimum": (DType.s8, DType.s16)}


def broadcast_strides(shape: tuple[int, ...]) -> list[int]:
    """Element strides of a C-contiguous operand of ``shape``, padded to 4-D with leading 1s;
    0 along its size-1 dimensions (where it broadcasts, or where the stride is never used)."""
    padded = (1,) * (RANK - len(shape)) + tuple(shape)
    strides = [math.prod(padded[k + 1:]) for k in range(RANK)]
    return [0 if d == 1 else s for d, s in zip(padded, strides, strict=True)]


def _layout(node: Binary) -> dict[str, object]:
    a, b = node.inputs
    out = (1,) * (RANK - len(node.y.shape)) + tuple(node.y.shape)
    return {"shape": list(out), "a_stride": broadcast_strides(a.shape),
            "b_stride": broadcast_strides(b.shape)}


def _kernel(node: Binary, op: str, ptype: str) -> Kernel:
    a, b = node.inputs
    dtype = a.dtype
    if node.y.dtype is not dtype or dtype not in _DTYPES[op]:
        raise unsupported(node, f"{dtype.value} data")
    if a.is_const and b.is_const:
        raise unsupported(node, "two constant operands (fold them first)")
    # One constant operand is read in place from constant memory by the _c variant.
    suffix = "_c" if a.is_const or b.is_const else ""
    return Kernel(f"ff_{op}_{dtype.value}{suffix}", "ff_eltwise.h", ptype)


@kernel.register
def _add_kernel(node: Add) -> Kernel:
    return _kernel(node, "add", f"ff_add_{node.x.dtype.value}_params")


@kernel.register
def _sub_kernel(node: Sub) -> Kernel:
    return _kernel(node, "sub", f"ff_add_{node.x.dtype.value}_params")


@kernel.register
def _mul_kernel(node: Mul) -> Kernel:
    return _kernel(node, "mul", "ff_mul_s8_params")


@kernel.register
def _maximum_kernel(node: Maximum) -> Kernel:
    return _kernel(node, "maximum", "ff_minmax_params")


@kernel.register
def _minimum_kernel(node: Minimum) -> Kernel:
    return _kernel(node, "minimum", "ff_minmax_params")


def _call(node: Binary, ctx: EmitContext, fields: dict[str, object]) -> None:
    a, b = node.inputs
    lo, hi = node.act_range()
    p = ctx.params(**_layout(node), const_first=int(a.is_const), a_offset=-a.quant.zp,
                   b_offset=-b.quant.zp, out_offset=node.y.quant.zp, **fields, act_min=lo,
                   act_max=hi)
    x, c = (b, a) if a.is_const else (a, b)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(c), ctx.ptr(node.y))


def _add_fields(node: Add | Sub) -> dict[str, object]:
    r = node.requant()
    return {"left_shift": r.left_shift, "a_mult": r.mult_a, "a_shift": r.shift_a,
            "b_mult": r.mult_b, "b_shift": r.shift_b, "out_mult": r.mult_out,
            "out_shift": r.shift_out}


@emit.register
def _add(node: Add, ctx: EmitContext) -> None:
    _call(node, ctx, _add_fields(node))


@emit.register
def _sub(node: Sub, ctx: EmitContext) -> None:
    _call(node, ctx, _add_fields(node))


@emit.register
def _mul(node: Mul, ctx: EmitContext) -> None:
    m, s = node.requant()
    _call(node, ctx, {"mult": m, "shift": s})


def _minmax(node: MinMax, ctx: EmitContext) -> None:
    """The raw values are compared: the layout is the kernel's only parameter."""
    a, b = node.inputs
    p = ctx.params(**_layout(node), const_first=int(a.is_const))
    x, c = (b, a) if a.is_const else (a, b)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(c), ctx.ptr(node.y))


@emit.register
def _maximum(node: Maximum, ctx: EmitContext) -> None:
    _minmax(node, ctx)


@emit.register
def _minimum(node: Minimum, ctx: EmitContext) -> None:
    _minmax(node, ctx)
