"""Emitters of the elementwise ops: Add/Sub (int8, TFLM's rescaling), standalone Relu and
Relu6, Quantize between integer types (a standalone requantization), Binarize, and Reshape
(a copy: activations are flat arrays). Template: ``firmware/hls/ff_hls_eltwise.h``."""

from __future__ import annotations

import math

import numpy as np

from ...converter.ir import DType, Node, Value
from ...converter.ops.act import Relu, Relu6
from ...converter.ops.binary import Binarize
from ...converter.ops.eltwise import AddSub
from ...converter.ops.quant import Quantize
from ...converter.ops.shape import Reshape
from .context import HlsContext, unsupported
from .emit import emit
from .estimate import simple_layer
from .widths import ctype, int_type, x_span

HEADER = "ff_hls_eltwise.h"
REQUANT_DEPTH = 5


def _loop(ctx: HlsContext, n: int) -> dict[str, int]:
    """n elements, ceil(n / reuse) of them per cycle."""
    return {"n": n, "reuse": ctx.reuse, "unroll": max(1, math.ceil(n / ctx.reuse))}


def _row(ctx: HlsContext, node: Node, n: int, depth: int = REQUANT_DEPTH, adders: int = 0):
    iters = math.ceil(n / max(1, math.ceil(n / ctx.reuse)))
    ctx.estimate(simple_layer(ctx.layer, node.kind, ctx.reuse, iters, depth, adders))


def _zp(v: Value) -> int:
    return int(np.asarray(v.quant.zp).ravel()[0])


@emit.register
def _add_sub(node: AddSub, ctx: HlsContext) -> None:
    a, b = node.inputs
    if a.dtype is not DType.s8 or a.is_const or b.is_const:
        raise unsupported(node, f"of {a.dtype.value} (the HLS template adds two int8 tensors)")
    if tuple(a.shape) != tuple(b.shape):
        raise unsupported(node, f"broadcasting {a.shape} with {b.shape}")
    r = node.requant()
    lo, hi = node.act_range()
    ints = {**_loop(ctx, node.y.size), "sub": node._sub, "left_shift": r.left_shift,
            "zp_a": _zp(a), "zp_b": _zp(b), "zp_y": _zp(node.y), "mult_a": r.mult_a,
            "shift_a": r.shift_a, "mult_b": r.mult_b, "shift_b": r.shift_b,
            "mult_out": r.mult_out, "shift_out": r.shift_out, "out_lo": lo, "out_hi": hi}
    cfg = ctx.config(ints, {"a_t": ctype(a), "b_t": ctype(b), "out_t": ctype(node.y)})
    ctx.call(HEADER, f"ff_hls_add<{cfg}>({ctx.buf(a)}, {ctx.buf(b)}, {ctx.buf(node.y)})")
    _row(ctx, node, node.y.size, 3 * REQUANT_DEPTH, adders=node.y.size)


def _requantize(node: Node, ctx: HlsContext, mult: int, shift: int, lo: int, hi: int) -> None:
    x, y = node.x, node.y
    zl, zh = x_span(x)
    ints = {**_loop(ctx, y.size), "zp_x": _zp(x), "zp_y": _zp(y), "mult": mult, "shift": shift,
            "out_lo": lo, "out_hi": hi}
    cfg = ctx.config(ints, {"in_t": ctype(x), "xd_t": int_type(zl, zh, f"{node.name}: x - zp"),
                            "out_t": ctype(y)})
    ctx.call(HEADER, f"ff_hls_requantize<{cfg}>({ctx.buf(x)}, {ctx.buf(y)})")
    _row(ctx, node, y.size)


@emit.register
def _relu(node: Relu, ctx: HlsContext) -> None:
    if node.x.dtype not in (DType.s8, DType.s16):
        raise unsupported(node, f"of {node.x.dtype.value}")
    m, s = node.requant()
    _requantize(node, ctx, m, s, *node.act_range())


@emit.register
def _relu6(node: Relu6, ctx: HlsContext) -> None:
    if node.x.dtype not in (DType.s8, DType.s16):
        raise unsupported(node, f"of {node.x.dtype.value}")
    lo, hi = node.act_range()
    cfg = ctx.config({**_loop(ctx, node.y.size), "out_lo": lo, "out_hi": hi},
                     {"in_t": ctype(node.x), "out_t": ctype(node.y)})
    ctx.call(HEADER, f"ff_hls_clamp_layer<{cfg}>({ctx.buf(node.x)}, {ctx.buf(node.y)})")
    _row(ctx, node, node.y.size, 1)


@emit.register
def _quantize(node: Quantize, ctx: HlsContext) -> None:
    if node.x.dtype not in (DType.s8, DType.s16) or node.y.dtype not in (DType.s8, DType.s16,
                                                                          DType.s32):
        raise unsupported(node, f"from {node.x.dtype.value} to {node.y.dtype.value} (the HLS "
                          "template requantizes int8/int16 to int8/int16/int32)")
    m, s = node.requant()
    _requantize(node, ctx, m, s, node.y.dtype.qmin, node.y.dtype.qmax)


@emit.register
def _binarize(node: Binarize, ctx: HlsContext) -> None:
    x, t, flip = node.inputs
    if x.dtype is not DType.s8:
        raise unsupported(node, f"of {x.dtype.value} (the HLS template binarizes int8)")
    c = t.shape[0]
    tt = int_type(int(t.data.min()), int(t.data.max()), f"{node.name}: thresholds")
    cfg = ctx.config({**_loop(ctx, x.size), "c": c}, {"in_t": ctype(x), "t_t": tt})
    ts = ctx.const("t", tt, t.data, t.name)
    fs = ctx.const("flip", "ff_uint<1>", flip.data, flip.name)
    ctx.call(HEADER, f"ff_hls_binarize<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)}, {ts}, {fs})")
    _row(ctx, node, x.size, 2)


@emit.register
def _reshape(node: Reshape, ctx: HlsContext) -> None:
    x = node.x
    if x.dtype not in (DType.s8, DType.s16, DType.s32, DType.b1, DType.u1):
        raise unsupported(node, f"of {x.dtype.value}")
    ctx.call(HEADER, f"ff_hls_copy<{ctype(x)}, {x.size}>({ctx.buf(x)}, {ctx.buf(node.y)})")
    ctx.estimate(simple_layer(ctx.layer, node.kind, ctx.reuse, 0, 0))
