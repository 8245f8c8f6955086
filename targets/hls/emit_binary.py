"""Emitter of the binary convolution (XNOR-popcount, b1 or int8 output, padding taps worth
pad_value). Template: ``ff_hls_binary_conv2d`` in ``firmware/hls/ff_hls_conv.h``. (Binarize is
in ``emit_eltwise.py``, BinaryDense in ``emit_dense.py``.)"""

from __future__ import annotations

import math

import numpy as np

from ...converter.ir import DType
from ...converter.ops.binary import BinaryConv2d
from .context import HlsContext, unsupported
from .emit import emit
from .emit_conv import HEADER, _geometry
from .emit_dense import table_bits
from .estimate import mac_layer
from .widths import ctype, int_type


@emit.register
def _binary_conv2d(node: BinaryConv2d, ctx: HlsContext) -> None:
    x, w, t = node.inputs
    out = node.y.dtype
    if out not in (DType.b1, DType.s8):
        raise unsupported(node, f"with {out.value} output (the HLS template gives b1 or int8)")
    geo = _geometry(node)
    o = w.shape[0]
    k = w.size // o
    r = ctx.reuse
    bound = k + int(np.abs(t.data.astype(np.int64)).max(initial=0))
    ints = {**geo, "n_in": k, "n_out": o, "reuse": r, "w_banks": max(1, math.ceil(o * k / r)),
            "pad_value": node.pad_value, "binary_out": out is DType.b1, "out_zp": 0,
            "out_lo": 0, "out_hi": 1}
    types = {"row_t": f"ff_uint<{k}>", "dot_t": int_type(-k, k, f"{node.name}: dot"),
             "acc_t": int_type(-bound, bound, f"{node.name}: accumulator"),
             "bias_t": int_type(int(t.data.min()), int(t.data.max()), f"{node.name}: bias"),
             "out_t": ctype(node.y)}
    bits = np.where(w.data.reshape(o, k) > 0, 1, 0)
    if out is DType.s8:
        lo, hi = node.act_range()
        ints.update(out_zp=int(node.y.quant.zp), out_lo=lo, out_hi=hi)
        mult, shift = (np.broadcast_to(np.asarray(a, np.int64), (o,)) for a in node.requant())
    else:  # no requantization: tables the template never reads
        mult, shift = np.zeros(o, np.int64), np.zeros(o, np.int64)
    cfg = ctx.config(ints, types)
    ws = ctx.bit_rows("w", bits, f"{w.name}: OHWI {list(w.shape)}, one word per output")
    ts = ctx.const("t", types["bias_t"], t.data, t.name)
    ms = ctx.const("mult", "ff_int<32>", mult, "requantization multipliers (Q31)")
    ss = ctx.const("shift", "ff_int<6>", shift, "requantization shifts")
    ctx.call(HEADER, f"ff_hls_binary_conv2d<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)}, {ws}, {ts}, "
                     f"{ms}, {ss})")
    ctx.estimate(mac_layer(ctx.layer, node.kind, r, bits * 2 - 1, geo["out_h"] * geo["out_w"],
                           table_bits(types, o, out is DType.s8), 1, binary=True))
