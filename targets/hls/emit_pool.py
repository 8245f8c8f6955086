"""Emitters of max and average pooling (int8, int16; max also on an s32 current and on b1
bits). Template: ``firmware/hls/ff_hls_pool.h``."""

from __future__ import annotations

from ...converter.ir import DType
from ...converter.ops.pool import AvgPool2d, MaxPool2d, Pool2d
from ...converter.ops.reduce import Mean
from .context import HlsContext, unsupported
from .emit import emit
from .estimate import simple_layer
from .widths import ctype, int_type

HEADER = "ff_hls_pool.h"


def _fields(node: Pool2d, ctx: HlsContext) -> dict[str, int]:
    _, h, w, c = node.x.shape
    _, oh, ow, _ = node.y.shape
    lo, hi = node.act_range() if node.y.dtype is not DType.b1 else (0, 1)
    return {"in_h": h, "in_w": w, "c": c, "out_h": oh, "out_w": ow, "k_h": node.kernel[0],
            "k_w": node.kernel[1], "stride_h": node.stride[0], "stride_w": node.stride[1],
            "pad_t": node.padding.top, "pad_l": node.padding.left, "reuse": ctx.reuse,
            "out_lo": lo, "out_hi": hi}


@emit.register
def _maxpool(node: MaxPool2d, ctx: HlsContext) -> None:
    if node.x.dtype not in (DType.s8, DType.s16, DType.s32, DType.b1):
        raise unsupported(node, f"of {node.x.dtype.value}")
    ints = _fields(node, ctx)
    # b1 is stored as bits (1 = +1), so the max of +-1 values is the max of bits (an OR)
    ints["in_min"] = 0 if node.x.dtype is DType.b1 else node.x.dtype.qmin
    cfg = ctx.config(ints, {"in_t": ctype(node.x), "out_t": ctype(node.y)})
    ctx.call(HEADER, f"ff_hls_maxpool2d<{cfg}>({ctx.buf(node.x)}, {ctx.buf(node.y)})")
    ctx.estimate(simple_layer(ctx.layer, node.kind, ctx.reuse, ints["out_h"] * ints["out_w"],
                              depth=2 + node.kernel[0] * node.kernel[1] // 2,
                              adders=node.y.size // (ints["out_h"] * ints["out_w"])))


@emit.register
def _avgpool(node: AvgPool2d, ctx: HlsContext) -> None:
    if node.x.dtype not in (DType.s8, DType.s16):
        raise unsupported(node, f"of {node.x.dtype.value}")
    ints = _fields(node, ctx)
    k = node.kernel[0] * node.kernel[1]
    bound = k * (1 << (node.x.dtype.bits - 1))
    cfg = ctx.config(ints, {"in_t": ctype(node.x), "out_t": ctype(node.y),
                            "sum_t": int_type(-bound, bound, f"{node.name}: sum")})
    ctx.call(HEADER, f"ff_hls_avgpool2d<{cfg}>({ctx.buf(node.x)}, {ctx.buf(node.y)})")
    ctx.estimate(simple_layer(ctx.layer, node.kind, ctx.reuse, ints["out_h"] * ints["out_w"],
                              depth=20, adders=node.y.size))


@emit.register
def _mean(node: Mean, ctx: HlsContext) -> None:
    x = node.x
    if x.dtype not in (DType.s8, DType.s16) or len(x.shape) != 4 or \
            node.reduced_axes() != (1, 2):
        raise unsupported(node, f"over axes {node.axes} of {x.dtype.value}{list(x.shape)} (the "
                          "HLS template is the global average of an NHWC tensor)")
    _, h, w, c = x.shape
    n = h * w
    mult, shift = node.requant()
    bound = n * (1 << (x.dtype.bits - 1))
    ints = {"n": n, "c": c, "reuse": ctx.reuse, "in_zp": int(x.quant.zp),
            "out_zp": int(node.y.quant.zp), "mult": mult, "shift": shift,
            "out_lo": node.y.dtype.qmin, "out_hi": node.y.dtype.qmax}
    cfg = ctx.config(ints, {"in_t": ctype(x), "out_t": ctype(node.y),
                            "sum_t": int_type(-bound, bound, f"{node.name}: sum")})
    ctx.call(HEADER, f"ff_hls_global_mean<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)})")
    ctx.estimate(simple_layer(ctx.layer, node.kind, ctx.reuse, c, depth=n // 2 + 6,
                              adders=n * c, multipliers=c))
