"""Emitters for the binary ops (converter/ops/binary.py; kernels in ff_bnn.h): Binarize,
BinaryDense and BinaryConv2d, with b1 output (thresholds) or s8 output (the records of the
int8 layers, ``sparse.records``: bias, 2 * multiplier, k, left shift, no input offset since
+-1 inputs have zero point 0). Conv2d weights are written as packed rows of 32-bit words
whatever their storage (``PackedRows`` is what ``Value.nbytes`` counts). BinaryDense weights
are rearranged into blocks of 32 output channels (``dense_blocks``) with the constants the block
kernels compare against (``block_thresholds``) or add (``block_records``), all derived in
ff_bnn.h; layers of more than FF_B1_MAX_K inputs keep packed rows and the row kernels."""

from __future__ import annotations

import numpy as np

from ...converter.bitstream import pack_rows
from ...converter.encoding import Dense, PackedRows
from ...converter.ir import DType, Value
from ...converter.ops.binary import Binarize, BinaryConv2d, BinaryDense
from ...converter.ops.pool import MaxPool2d
from . import pairs
from .context import EmitContext, Kernel
from .emit import data_input, emit, kernel, unsupported
from .emit_binary_mst import emit_mst, mst_kernel, stored_mst
from .sparse import records

_HEADER = "ff_bnn.h"
MAX_BLOCK_K = 65533  # FF_B1_MAX_K: uint16_t indices (K included), counters within 16 planes


def _words(ctx: EmitContext, v: Value) -> str:
    """A b1 activation as uint32_t words."""
    return f"(uint32_t *){ctx.ptr(v)}"


def _weights(ctx: EmitContext, w: Value) -> str:
    return ctx.array("words", pack_rows(w.data.reshape(-1, w.shape[-1])).reshape(-1), "uint32_t",
                     f"{w.name}: b1{list(w.shape)} as packed rows of 32-bit words")


def _layer_kernel(node: BinaryDense | BinaryConv2d, op: str) -> Kernel:
    if stored_mst(node):  # MST channel reuse (emit_binary_mst.py)
        return mst_kernel(node)
    w = node.inputs[1]
    data_input(node)
    if not isinstance(w.encoding, (Dense, PackedRows)):
        raise unsupported(node, f"binary weights stored {w.encoding}")
    out = node.y.dtype
    if out is DType.s8:
        o = w.shape[0]
        if not pairs.multipliers_ok(np.broadcast_to(node.requant()[0], (o,))):
            raise unsupported(node, "multipliers other than 0 or in [2**30, 2**31)")
    elif out is not DType.b1:
        raise unsupported(node, f"{out.value} output")
    fn = f"ff_{op}_b1" if out is DType.b1 else f"ff_{op}_b1_s8"
    k = w.shape[-1]
    blocks = not (isinstance(w.encoding, PackedRows) and not w.encoding.blocks)
    if op == "dense" and k <= MAX_BLOCK_K and blocks:
        return Kernel(fn, _HEADER, "ff_dense_b1_params", scratch=block_scratch(k), decodes=(1,))
    if op == "dense":
        fn += "_rows"
    return Kernel(fn, _HEADER, f"ff_{op}_b1_params", decodes=(1,))


def planes(k: int) -> int:
    """Bit planes of the block kernels' lane counters: they count up to K + 2 (ff_bnn.h)."""
    return max(5, (k + 2).bit_length())


def block_scratch(k: int) -> int:
    """FF_B1_SCRATCH(k): floor(K / 2) + 15 uint16_t indices, rounded up to 4 bytes."""
    return ((k // 2 + 15) * 2 + 3) // 4 * 4


def dense_blocks(w: np.ndarray) -> np.ndarray:
    """+-1 weights (O, K) as blocks of 32 outputs, K + 1 words each: word k of block b has bit
    j = (w[32 b + j, k] == +1), word K is 0 (the index list's padding reads it)."""
    o, k = w.shape
    bits = np.zeros((-(-o // 32) * 32, k + 1), np.uint64)
    bits[:o, :k] = w > 0
    lanes = bits.reshape(-1, 32, k + 1) << np.arange(32, dtype=np.uint64)[None, :, None]
    return lanes.sum(axis=1).astype(np.uint32).reshape(-1)


def _bit_slice(a: np.ndarray, n_planes: int) -> np.ndarray:
    """Non-negative integers per output (O,) -> per block of 32, n_planes words: bit j of word
    i = bit i of a[32 b + j] (missing outputs 0)."""
    padded = np.zeros(-(-a.size // 32) * 32, np.uint64)
    padded[:a.size] = a
    lanes = padded.reshape(-1, 32)
    bits = (lanes[:, None, :] >> np.arange(n_planes, dtype=np.uint64)[None, :, None]) & 1
    return (bits << np.arange(32, dtype=np.uint64)).sum(axis=2).astype(np.uint32)


def block_thresholds(w: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """ff_dense_b1's per-block constants for dot >= thr: the counters' starts a' + tie
    (``planes(K)`` words, bit-sliced) for the direct list of even and odd length, then the
    complement's (ff_bnn.h)."""
    k = w.shape[1]
    n_max = k // 2
    s = (w > 0).sum(axis=1).astype(np.int64)
    t = thr.astype(np.int64)
    starts = []
    for e in (k - 2 * s - t, k - 2 * s + t - 1):
        h = np.clip(e // 2, -n_max - 1, n_max)
        a = h // 2 + n_max // 2 + 1
        starts += [_bit_slice(a + 1, planes(k)), _bit_slice(a + (h & 1), planes(k))]
    return np.concatenate(starts, axis=1).reshape(-1)


def block_records(node: BinaryDense) -> np.ndarray:
    """ff_dense_b1_s8's records {bias + K - 2 S, bias - K + 2 S, 2 mult, k, left} (int32,
    modulo 2^32), S the +1 weights of the output: the direct and the complement accumulators'
    constants (ff_bnn.h)."""
    w = node.inputs[1].data
    o, k = w.shape
    rec = records(node).reshape(o, 4).astype(np.int64)
    u = k - 2 * (w > 0).sum(axis=1).astype(np.int64)
    both = np.stack([rec[:, 0] + u, rec[:, 0] - u], axis=1)
    wrapped = ((both + 2**31) % 2**32 - 2**31).astype(np.int32)
    return np.concatenate([wrapped, rec[:, 1:].astype(np.int32)], axis=1).reshape(-1)


def _last(ctx: EmitContext, node: BinaryDense | BinaryConv2d) -> tuple[str, str]:
    """The per-channel array (thresholds or records) and the output pointer."""
    t = node.inputs[2]
    if node.y.dtype is DType.b1:
        return ctx.array("thr", t.data.astype(np.int32), "int32_t", f"{t.name}: dot >= thr"), \
            _words(ctx, node.y)
    rec = ctx.array("rec", records(node), "int32_t",
                    f"{t.name}: {{bias, 2 * multiplier, k, left shift}}")
    return rec, ctx.ptr(node.y)


def _out_fields(node: BinaryDense | BinaryConv2d) -> dict[str, int]:
    if node.y.dtype is DType.b1:
        return dict(out_offset=0, act_min=-1, act_max=1)
    lo, hi = node.act_range()
    return dict(out_offset=node.y.quant.zp, act_min=lo, act_max=hi)


@kernel.register
def _binarize_kernel(node: Binarize) -> Kernel:
    if node.x.dtype is not DType.s8:
        raise unsupported(node, f"{node.x.dtype.value} input")
    data_input(node)
    return Kernel("ff_binarize_s8_b1", _HEADER, "ff_binarize_params")


@emit.register
def _binarize(node: Binarize, ctx: EmitContext) -> None:
    x, t, flip = node.inputs
    c = x.shape[-1]
    p = ctx.params(rows=x.size // c, channels=c)
    ctx.call_kernel(p, ctx.ptr(x), ctx.array("thr", t.data.astype(np.int32), "int32_t", t.name),
                    ctx.array("flip", flip.data.astype(np.uint8), "uint8_t", flip.name),
                    _words(ctx, node.y))


@kernel.register
def _binary_dense_kernel(node: BinaryDense) -> Kernel:
    return _layer_kernel(node, "dense")


@emit.register
def _binary_dense(node: BinaryDense, ctx: EmitContext) -> None:
    if stored_mst(node):
        return emit_mst(node, ctx)
    x, w, t = node.inputs
    o, k = w.shape
    p = ctx.params(rows=x.size // k, in_features=k, out_features=o, **_out_fields(node),
                   planes=planes(k))
    if not ctx.kernel.scratch:  # the row kernels
        last, y = _last(ctx, node)
        ctx.call_kernel(p, _words(ctx, x), _weights(ctx, w), last, y)
        return
    wb = ctx.array("blocks", dense_blocks(w.data), "uint32_t",
                   f"{w.name}: b1{list(w.shape)} as blocks of 32 outputs, K + 1 words each")
    if node.y.dtype is DType.b1:
        last = ctx.array("thr", block_thresholds(w.data, t.data), "uint32_t",
                         f"{t.name}: per block, the counters' start and tie bits, bit-sliced")
        y = _words(ctx, node.y)
    else:
        last = ctx.array("rec", block_records(node), "int32_t",
                         f"{t.name}: {{bias + K - 2 S, bias - K + 2 S, 2 * multiplier, k, left}}")
        y = ctx.ptr(node.y)
    ctx.call_kernel(p, _words(ctx, x), wb, last, y, f"(uint16_t *){ctx.scratch()}")


@kernel.register
def _binary_conv_kernel(node: BinaryConv2d) -> Kernel:
    return _layer_kernel(node, "conv2d")


@emit.register
def _binary_conv(node: BinaryConv2d, ctx: EmitContext) -> None:
    if stored_mst(node):
        return emit_mst(node, ctx)
    x, w, _ = node.inputs
    n, ih, iw, c = x.shape
    _, oh, ow, o = node.y.shape
    _, kh, kw, _ = w.shape
    last, y = _last(ctx, node)
    p = ctx.params(batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o, k_h=kh,
                   k_w=kw, stride_h=node.stride[0], stride_w=node.stride[1],
                   dil_h=node.dilation[0], dil_w=node.dilation[1], pad_top=node.padding.top,
                   pad_left=node.padding.left, pad_value=node.pad_value, **_out_fields(node))
    ctx.call_kernel(p, _words(ctx, x), _weights(ctx, w), last, y)


def maxpool_kernel(node: MaxPool2d) -> Kernel:
    """The b1 max pool (an OR of words), for ``emit_pool``."""
    data_input(node)
    return Kernel("ff_maxpool2d_b1", _HEADER, "ff_maxpool2d_b1_params")


def emit_maxpool(node: MaxPool2d, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    p = ctx.params(batches=n, in_h=ih, in_w=iw, channels=c, out_h=oh, out_w=ow,
                   k_h=node.kernel[0], k_w=node.kernel[1], stride_h=node.stride[0],
                   stride_w=node.stride[1], pad_top=node.padding.top, pad_left=node.padding.left)
    ctx.call_kernel(p, _words(ctx, x), _words(ctx, y))
