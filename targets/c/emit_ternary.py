"""Emitters for the ternary ops (converter/ops/ternary.py; kernels in ff_tnn.h): Ternarize,
TernaryDense and TernaryConv2d on t2 or b1 input, with t2 output (threshold pairs) or s8
output (the records of the int8 layers, ``sparse.records``: bias, 2 * multiplier, k, left
shift, no input offset since ternary inputs have zero point 0). Ternary weights are written
as packed ternary rows (word pairs of bit planes) whatever their storage
(``PackedTernaryRows`` is what ``Value.nbytes`` counts)."""

from __future__ import annotations

import numpy as np

from ...converter.bitstream import pack_ternary_rows
from ...converter.encoding import Dense, PackedTernaryRows
from ...converter.ir import DType, Value
from ...converter.ops.ternary import Ternarize, TernaryConv2d, TernaryDense
from . import pairs
from .context import EmitContext, Kernel
from .emit import data_input, emit, kernel, unsupported
from .sparse import records

_HEADER = "ff_tnn.h"


def _words(ctx: EmitContext, v: Value) -> str:
    """A t2 or b1 activation as uint32_t words."""
    return f"(uint32_t *){ctx.ptr(v)}"


def _weights(ctx: EmitContext, w: Value) -> str:
    words = pack_ternary_rows(w.data.reshape(-1, w.shape[-1])).reshape(-1)
    return ctx.array("words", words, "uint32_t",
                     f"{w.name}: t2{list(w.shape)} as rows of (nonzero, plus) word pairs")


def _layer_kernel(node: TernaryDense | TernaryConv2d, op: str) -> Kernel:
    w = node.inputs[1]
    data_input(node)
    if not isinstance(w.encoding, (Dense, PackedTernaryRows)):
        raise unsupported(node, f"ternary weights stored {w.encoding}")
    out = node.y.dtype
    if out is DType.t2:
        return Kernel(f"ff_{op}_t2", _HEADER, f"ff_{op}_t2_params", decodes=(1,))
    if out is DType.s8:
        o = w.shape[0]
        if not pairs.multipliers_ok(np.broadcast_to(node.requant()[0], (o,))):
            raise unsupported(node, "multipliers other than 0 or in [2**30, 2**31)")
        return Kernel(f"ff_{op}_t2_s8", _HEADER, f"ff_{op}_t2_params", decodes=(1,))
    raise unsupported(node, f"{out.value} output")


def _last(ctx: EmitContext, node: TernaryDense | TernaryConv2d) -> tuple[str, str]:
    """The per-channel array (threshold pairs or records) and the output pointer."""
    t = node.inputs[2]
    if node.y.dtype is DType.t2:
        return ctx.array("thr", t.data.astype(np.int32).reshape(-1), "int32_t",
                         f"{t.name}: {{lo, hi}}: +1 if dot >= hi, -1 if dot < lo"), \
            _words(ctx, node.y)
    rec = ctx.array("rec", records(node), "int32_t",
                    f"{t.name}: {{bias, 2 * multiplier, k, left shift}}")
    return rec, ctx.ptr(node.y)


def _fields(node: TernaryDense | TernaryConv2d) -> dict[str, int]:
    binary = int(node.x.dtype is DType.b1)
    if node.y.dtype is DType.t2:
        return dict(in_binary=binary, out_offset=0, act_min=-1, act_max=1)
    lo, hi = node.act_range()
    return dict(in_binary=binary, out_offset=node.y.quant.zp, act_min=lo, act_max=hi)


@kernel.register
def _ternarize_kernel(node: Ternarize) -> Kernel:
    if node.x.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} input")
    data_input(node)
    return Kernel("ff_ternarize_s8_t2", _HEADER, "ff_ternarize_params")


@emit.register
def _ternarize(node: Ternarize, ctx: EmitContext) -> None:
    x, t, flip = node.inputs
    c = x.shape[-1]
    p = ctx.params(rows=x.size // c, channels=c)
    thr = ctx.array("thr", t.data.astype(np.int32).reshape(-1), "int32_t",
                    f"{t.name}: {{lo, hi}} per channel")
    ctx.call_kernel(p, ctx.ptr(x), thr,
                    ctx.array("flip", flip.data.astype(np.uint8), "uint8_t", flip.name),
                    _words(ctx, node.y))


@kernel.register
def _ternary_dense_kernel(node: TernaryDense) -> Kernel:
    return _layer_kernel(node, "dense")


@emit.register
def _ternary_dense(node: TernaryDense, ctx: EmitContext) -> None:
    x, w, _ = node.inputs
    o, k = w.shape
    last, y = _last(ctx, node)
    p = ctx.params(rows=x.size // k, in_features=k, out_features=o, **_fields(node))
    ctx.call_kernel(p, _words(ctx, x), _weights(ctx, w), last, y)


@kernel.register
def _ternary_conv_kernel(node: TernaryConv2d) -> Kernel:
    return _layer_kernel(node, "conv2d")


@emit.register
def _ternary_conv(node: TernaryConv2d, ctx: EmitContext) -> None:
    x, w, _ = node.inputs
    n, ih, iw, c = x.shape
    _, oh, ow, o = node.y.shape
    _, kh, kw, _ = w.shape
    last, y = _last(ctx, node)
    p = ctx.params(batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o, k_h=kh,
                   k_w=kw, stride_h=node.stride[0], stride_w=node.stride[1],
                   dil_h=node.dilation[0], dil_w=node.dilation[1], pad_top=node.padding.top,
                   pad_left=node.padding.left, **_fields(node))
    ctx.call_kernel(p, _words(ctx, x), _weights(ctx, w), last, y)
