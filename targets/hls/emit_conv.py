"""Emitters of 2-D convolutions (one group; Conv1d arrives as Conv2d with height 1): int8 with
fused requantization, and the s32 current of a spiking layer. Template:
``firmware/hls/ff_hls_conv.h`` (a patch per output pixel, then the dense dot product)."""

from __future__ import annotations

import numpy as np

from ...converter.ops.conv import Conv2d, DepthwiseConv2d
from ...converter.ops.synapse import Conv2dCurrent
from .context import HlsContext, unsupported
from .emit import emit
from .emit_dense import check_int8, mac_fields, requant_tables, table_bits, weight_bits
from .estimate import mac_layer
from .widths import ctype

HEADER = "ff_hls_conv.h"


def _geometry(node: Conv2d | DepthwiseConv2d) -> dict[str, int]:
    if getattr(node, "groups", 1) != 1:
        raise unsupported(node, f"with {node.groups} groups (the HLS template has one group)")
    _, h, w, c = node.x.shape
    _, oh, ow, _ = node.y.shape
    _, kh, kw, _ = node.inputs[1].shape
    p = node.padding
    return {"in_h": h, "in_w": w, "in_c": c, "out_h": oh, "out_w": ow, "k_h": kh, "k_w": kw,
            "stride_h": node.stride[0], "stride_w": node.stride[1],
            "dil_h": node.dilation[0], "dil_w": node.dilation[1], "pad_t": p.top,
            "pad_l": p.left}


@emit.register
def _conv2d(node: Conv2d, ctx: HlsContext) -> None:
    check_int8(node)
    geo = _geometry(node)
    x, w, b = node.inputs
    o = w.shape[0]
    w2 = w.data.reshape(o, -1)
    ints, types = mac_fields(ctx, node, w2, b.data)
    lo, hi = node.act_range()
    ints.update(geo, out_zp=int(node.y.quant.zp), out_lo=lo, out_hi=hi)
    types["out_t"] = ctype(node.y)
    cfg = ctx.config(ints, types)
    ws = ctx.const("w", types["w_t"], w2, f"{w.name}: OHWI {list(w.shape)}")
    bs = ctx.const("b", types["bias_t"], b.data, b.name)
    ms, ss = requant_tables(ctx, node, o)
    ctx.call(HEADER, f"ff_hls_conv2d<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)}, {ws}, {bs}, {ms}, "
                     f"{ss})")
    ctx.estimate(mac_layer(ctx.layer, node.kind, ctx.reuse, w2, geo["out_h"] * geo["out_w"],
                           table_bits(types, o), weight_bits(w2)))


@emit.register
def _conv2d_current(node: Conv2dCurrent, ctx: HlsContext) -> None:
    geo = _geometry(node)
    x, w, b = node.inputs
    o = w.shape[0]
    w2 = w.data.reshape(o, -1)
    ints, types = mac_fields(ctx, node, w2, b.data, node.shift)
    ints.update(geo)
    types["out_t"] = ctype(node.y)
    cfg = ctx.config(ints, types)
    ws = ctx.const("w", types["w_t"], w2, f"{w.name}: OHWI {list(w.shape)}")
    bs = ctx.const("b", types["bias_t"], b.data, b.name)
    ctx.call(HEADER, f"ff_hls_conv2d_current<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)}, {ws}, "
                     f"{bs})")
    ctx.estimate(mac_layer(ctx.layer, node.kind, ctx.reuse, w2, geo["out_h"] * geo["out_w"],
                           table_bits(types, o, requant=False), weight_bits(w2)))


@emit.register
def _dwconv2d(node: DepthwiseConv2d, ctx: HlsContext) -> None:
    check_int8(node)
    geo = _geometry(node)
    x, w, b = node.inputs
    _, kh, kw, oc = w.shape
    taps = w.data.reshape(kh * kw, oc)  # [tap, oc], the layout the template reads
    w2 = np.ascontiguousarray(taps.T)  # (O, K): each output's own taps, for widths/estimates
    ints, types = mac_fields(ctx, node, w2, b.data)
    lo, hi = node.act_range()
    ints.update(geo, mult=node.depth_multiplier, out_zp=int(node.y.quant.zp), out_lo=lo,
                out_hi=hi)
    types["out_t"] = ctype(node.y)
    cfg = ctx.config(ints, types)
    ws = ctx.const("w", types["w_t"], taps, f"{w.name}: 1HWC {list(w.shape)}")
    bs = ctx.const("b", types["bias_t"], b.data, b.name)
    ms, ss = requant_tables(ctx, node, oc)
    ctx.call(HEADER, f"ff_hls_dwconv2d<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)}, {ws}, {bs}, "
                     f"{ms}, {ss})")
    ctx.estimate(mac_layer(ctx.layer, node.kind, ctx.reuse, w2, geo["out_h"] * geo["out_w"],
                           table_bits(types, oc), weight_bits(w2)))
