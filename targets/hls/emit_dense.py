"""Emitters of the multiply-accumulate layers over the last axis: Dense (int8, per-channel
requantization fused), DenseCurrent (the s32 current of a spiking layer) and BinaryDense
(XNOR-popcount, b1 or int8 output). Templates: ``firmware/hls/ff_hls_dense.h``."""

from __future__ import annotations

import math

import numpy as np

from ...converter.ir import DType, Node, Value
from ...converter.ops.binary import BinaryDense
from ...converter.ops.dense import Dense
from ...converter.ops.synapse import DenseCurrent
from .context import HlsContext, unsupported
from .emit import emit
from .estimate import is_pow2, mac_layer
from .widths import checked, ctype, int_type, mac_bounds, signed_bits, x_span

HEADER = "ff_hls_dense.h"
_WEIGHTS = (DType.s8, DType.s4, DType.s2)


def check_int8(node: Node) -> None:
    """int8 activations, constant int8 (or int4/int2 values) weights and an s32 bias."""
    x, w, b = node.inputs
    if x.dtype is not DType.s8 or node.y.dtype is not DType.s8:
        raise unsupported(node, f"with {x.dtype.value} input and {node.y.dtype.value} output "
                          "(the HLS templates take int8)")
    if w.dtype not in _WEIGHTS or not w.is_const or not b.is_const or b.dtype is not DType.s32:
        raise unsupported(node, "without constant int8 weights and an s32 bias")


def mac_fields(ctx: HlsContext, node: Node, w2: np.ndarray, bias: np.ndarray, shift: int = 0
               ) -> tuple[dict[str, int], dict[str, str]]:
    """The configuration a dense dot product needs (ff_hls_dense_dot) with its widths."""
    x = node.inputs[0]
    o, k = w2.shape
    r = ctx.reuse
    dot, acc = mac_bounds(w2, x, bias, shift)
    lo, hi = x_span(x)
    nonzero = w2 != 0
    mults = int(np.count_nonzero(nonzero & ~is_pow2(w2)))
    zp = 0 if x.dtype is DType.u1 else int(np.asarray(x.quant.zp).ravel()[0])
    ints = {"n_in": k, "n_out": o, "reuse": r, "w_banks": max(1, math.ceil(o * k / r)),
            "mult_limit": max(1, math.ceil(mults / r)), "in_zp": zp, "shift": shift}
    types = {"in_t": ctype(x), "xd_t": int_type(lo, hi, f"{node.name}: x - zp"),
             "w_t": weight_type(w2), "dot_t": int_type(-dot, dot, f"{node.name}: accumulator"),
             "acc_t": int_type(-acc, acc, f"{node.name}: accumulator"),
             "bias_t": int_type(int(bias.min(initial=0)), int(bias.max(initial=0)),
                                f"{node.name}: bias")}
    return ints, types


def weight_type(w2: np.ndarray) -> str:
    return f"ff_int<{weight_bits(w2)}>"


def weight_bits(w2: np.ndarray) -> int:
    return checked(signed_bits(int(w2.min(initial=0)), int(w2.max(initial=0))), "weights")


def requant_tables(ctx: HlsContext, node: Node, o: int) -> tuple[str, str]:
    """Per-channel multiplier (int32) and shift (6 bits: -31..30) arrays of ``node``."""
    mult, shift = (np.broadcast_to(np.asarray(a, np.int64), (o,)) for a in node.requant())
    return (ctx.const("mult", "ff_int<32>", mult, "requantization multipliers (Q31)"),
            ctx.const("shift", "ff_int<6>", shift, "requantization shifts"))


def table_bits(types: dict[str, str], o: int, requant: bool = True) -> int:
    bias = int(types["bias_t"].split("<")[1].rstrip(">"))
    return o * (bias + (38 if requant else 0))


def _rows(x: Value, k: int) -> int:
    return x.size // k


@emit.register
def _dense(node: Dense, ctx: HlsContext) -> None:
    check_int8(node)
    x, w, b = node.inputs
    o, k = w.shape
    ints, types = mac_fields(ctx, node, w.data, b.data)
    lo, hi = node.act_range()
    ints.update(n_rows=_rows(x, k), out_zp=int(node.y.quant.zp), out_lo=lo, out_hi=hi)
    types["out_t"] = ctype(node.y)
    cfg = ctx.config(ints, types)
    ws = ctx.const("w", types["w_t"], w.data, f"{w.name}: ({o}, {k})")
    bs = ctx.const("b", types["bias_t"], b.data, b.name)
    ms, ss = requant_tables(ctx, node, o)
    ctx.call(HEADER, f"ff_hls_dense<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)}, {ws}, {bs}, {ms}, "
                     f"{ss})")
    ctx.estimate(mac_layer(ctx.layer, node.kind, ctx.reuse, w.data, _rows(x, k),
                           table_bits(types, o), weight_bits(w.data)))


@emit.register
def _dense_current(node: DenseCurrent, ctx: HlsContext) -> None:
    x, w, b = node.inputs
    o, k = w.shape
    ints, types = mac_fields(ctx, node, w.data, b.data, node.shift)
    ints["n_rows"] = _rows(x, k)
    types["out_t"] = ctype(node.y)
    cfg = ctx.config(ints, types)
    ws = ctx.const("w", types["w_t"], w.data, f"{w.name}: ({o}, {k})")
    bs = ctx.const("b", types["bias_t"], b.data, b.name)
    ctx.call(HEADER, f"ff_hls_dense_current<{cfg}>({ctx.buf(x)}, {ctx.buf(node.y)}, {ws}, {bs})")
    ctx.estimate(mac_layer(ctx.layer, node.kind, ctx.reuse, w.data, _rows(x, k),
                           table_bits(types, o, requant=False), weight_bits(w.data)))


@emit.register
def _binary_dense(node: BinaryDense, ctx: HlsContext) -> None:
    x, w, t = node.inputs
    out = node.y.dtype
    if out not in (DType.b1, DType.s8):
        raise unsupported(node, f"with {out.value} output (the HLS templates give b1 or int8)")
    o, k = w.shape
    r = ctx.reuse
    bound = k + int(np.abs(t.data.astype(np.int64)).max(initial=0))
    ints = {"n_rows": _rows(x, k), "n_in": k, "n_out": o, "reuse": r,
            "w_banks": max(1, math.ceil(o * k / r))}
    types = {"row_t": f"ff_uint<{k}>", "pop_t": f"ff_uint<{max(k.bit_length(), 1)}>",
             "dot_t": int_type(-k, k, f"{node.name}: dot"),
             "acc_t": int_type(-bound, bound, f"{node.name}: accumulator"),
             "bias_t": int_type(int(t.data.min()), int(t.data.max()), f"{node.name}: bias")}
    bits = np.where(w.data > 0, 1, 0)
    if out is DType.s8:
        lo, hi = node.act_range()
        ints.update(out_zp=int(node.y.quant.zp), out_lo=lo, out_hi=hi)
        types["out_t"] = ctype(node.y)
    cfg = ctx.config(ints, types)
    ws = ctx.bit_rows("w", bits, f"{w.name}: ({o}, {k}), one word per output, bit 1 = +1")
    ts = ctx.const("t", types["bias_t"], t.data, t.name)
    args = f"{ctx.buf(x)}, {ctx.buf(node.y)}, {ws}, {ts}"
    if out is DType.b1:
        ctx.call(HEADER, f"ff_hls_binary_dense_b1<{cfg}>({args})")
    else:
        ms, ss = requant_tables(ctx, node, o)
        ctx.call(HEADER, f"ff_hls_binary_dense_s8<{cfg}>({args}, {ms}, {ss})")
    ctx.estimate(mac_layer(ctx.layer, node.kind, r, bits * 2 - 1, _rows(x, k),
                           table_bits(types, o, out is DType.s8), 1, binary=True))
