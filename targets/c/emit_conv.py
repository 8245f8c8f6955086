"""Emitters for Conv2d (general and 1x1), DepthwiseConv2d and TransposeConv2d: int8 (int8 or,
except for TransposeConv2d, packed int4 weights), and 16x8 (int16 activations, int8 weights,
int64 or, for Conv2d, int32 bias).

All geometry and requantization constants are computed here; the kernels in ``ff_conv.c``,
``ff_conv_s4.c``, ``ff_conv_s16.c`` and ``ff_conv_transpose.c`` only loop (the transposed ones
need no scratch: they gather per output, see ``ff_conv.h``). A 1x1 int8 convolution with stride
1, no padding and one group is a matrix product over pixels and goes to ``ff_conv2d_s8_1x1``
with constants prepared by ``pairs.py`` (the input offset folded into the bias, pair-packed
int16 weights, requantization records); its scratch holds one block of pixels, so it may write
its output over its input when in_c == out_c (the descriptor says so), and layers its Cortex-M
assembly computes whole call ``ff_conv2d_s8_1x1_fast``, which leaves the general code unlinked.
Fewer than 4 pixels go to the dense kernels instead (``emit_dense.matrix_kernel``), and weights
the pairs cannot hold to the general kernel. Layers of 8, 16 or 32 input channels whose
accumulator bounds allow the two-SMMLAR requantization (``pairs.small_fast``) take
``ff_conv2d_s8_1x1_c8`` / ``_c16`` / ``_c32`` instead, one pixel at a time from one record per
output channel (``pairs.small_records``): there a block of pixels and the channel pairs cost more
than the few multiply-adds of each output. Int4 weights (``Packed()``) take the general
kernels; int8 or int4 weights stored sparse or as a codebook, those of ``sparse.py``.
"""

from __future__ import annotations

import numpy as np

from ...converter.encoding import Dense, Encoding, Packed
from ...converter.ir import DType
from ...converter.ops.common import Padding
from ...converter.ops.conv import Conv2d, DepthwiseConv2d, TransposeConv2d
from . import pairs, sparse
from .context import EmitContext
from .conv_prep import (
    PreparedRq,
    acc_bound,
    dw3x3_weights,
    im2col_geometry,
    im2col_weights,
    prepare_rq,
    round4,
    rq4_blocks,
)
from .emit import Kernel, data_input, emit, kernel, stored, unsupported
from .emit_dense import emit_matrix, matrix_kernel

PW_PIXELS = 4  # FF_PW_PIXELS in ff_conv.h: pixels per block of ff_conv2d_s8_1x1

_Key = tuple[DType, DType, Encoding, DType, DType]
# (input, weights, weight encoding, bias, output) -> kernel name suffix after ff_conv2d_ /
# ff_dwconv2d_ / ff_transpose_conv2d_
_CONV_KERNELS: dict[_Key, str] = {
    (DType.s8, DType.s8, Dense(), DType.s32, DType.s8): "s8",
    (DType.s8, DType.s4, Packed(), DType.s32, DType.s8): "s8_s4",
    (DType.s8, DType.s2, Packed(), DType.s32, DType.s8): "s8_s2",
    (DType.s16, DType.s8, Dense(), DType.s64, DType.s16): "s16_s8",
    (DType.s16, DType.s8, Dense(), DType.s32, DType.s16): "s16_s8_s32"}
_DW_KERNELS: dict[_Key, str] = {
    (DType.s8, DType.s8, Dense(), DType.s32, DType.s8): "s8",
    (DType.s8, DType.s4, Packed(), DType.s32, DType.s8): "s8_s4",
    (DType.s8, DType.s2, Packed(), DType.s32, DType.s8): "s8_s2",
    (DType.s16, DType.s8, Dense(), DType.s64, DType.s16): "s16_s8"}
_TCONV_KERNELS: dict[_Key, str] = {
    (DType.s8, DType.s8, Dense(), DType.s32, DType.s8): "s8",
    (DType.s16, DType.s8, Dense(), DType.s64, DType.s16): "s16_s8"}


def _words(node: Conv2d | DepthwiseConv2d | TransposeConv2d, table: dict[_Key, str]) -> str:
    """The kernel's dtype words, or UnsupportedOpError."""
    x, w, b = node.inputs
    words = table.get((x.dtype, w.dtype, w.encoding, b.dtype, node.y.dtype))
    if words is None:
        raise unsupported(node, f"{x.dtype.value} inputs with {w.dtype.value} weights"
                                f"{stored(w)} and {b.dtype.value} bias")
    data_input(node)
    return words


def _requant_fields(node: Conv2d | DepthwiseConv2d | TransposeConv2d, ctx: EmitContext, channels: int
                    ) -> dict[str, object]:
    mult, shift = node.requant()
    lo, hi = node.act_range()
    # The 16x8 kernels have no offsets: their zero points are 0 (checked by the op).
    offsets = {} if node.x.dtype is DType.s16 else dict(in_offset=-node.x.quant.zp,
                                                         out_offset=node.y.quant.zp)
    return dict(
        **offsets, act_min=lo, act_max=hi,
        mult=ctx.array("mult", np.broadcast_to(mult, (channels,)), "int32_t"),
        shift=ctx.array("shift", np.broadcast_to(shift, (channels,)), "int32_t"))


def is_pointwise(node: Conv2d) -> bool:
    """True when ``node`` is a plain matrix product over pixels (the 1x1 kernel applies)."""
    _, kh, kw, _ = node.inputs[1].shape
    return (kh, kw) == (1, 1) and tuple(node.stride) == (1, 1) and node.groups == 1 \
        and node.padding == Padding()


# The im2col kernel keeps two columns and k_h padded input rows in scratch; layers that would
# need more (deep or wide ones) stay with the general kernel rather than grow the arena.
IM2COL_MAX_SCRATCH = 4096


def _im2col_scratch(node: Conv2d) -> tuple[int, int]:
    """``(ring_w, scratch bytes)`` of ``ff_conv2d_s8_im2col`` for ``node``."""
    _, kh, kw, ci = node.inputs[1].shape
    ring_w = (node.y.shape[2] - 1) * node.stride[1] + kw
    # two int16 columns, then k_h int16 ring rows (an even number of values each) and 4 bytes
    # of slack (the last window's odd word may read one value past its row)
    row = (ring_w * node.x.shape[3] + 1) // 2 * 2
    return ring_w, 4 * im2col_geometry(kh, kw, ci)[0] + 2 * kh * row + 4


def _im2col_prepared(node: Conv2d) -> PreparedRq | None:
    """The prepared requantization of ``ff_conv2d_s8_im2col`` when it applies to ``node`` (int8,
    one group, no dilation, constant dense weights and bias, scratch within
    IM2COL_MAX_SCRATCH, exact prepared requantization), else None."""
    x, w, b = node.inputs
    if (x.dtype, w.dtype, b.dtype, node.y.dtype) != (DType.s8, DType.s8, DType.s32, DType.s8) \
            or not (w.is_const and b.is_const) or not isinstance(w.encoding, Dense) \
            or node.groups != 1 or tuple(node.dilation) != (1, 1) \
            or _im2col_scratch(node)[1] > IM2COL_MAX_SCRATCH:
        return None
    w_abs = np.abs(w.data.astype(np.int64)).reshape(w.shape[0], -1).sum(axis=1)
    return prepare_rq(node, np.zeros(w.shape[0], np.int64), w_abs, round4(w.shape[0]))


def _pointwise_pairs(node: Conv2d) -> bool:
    """True when the 1x1 kernel applies and its pair-packed constants can hold the weights
    (``pairs.packable``; otherwise the general kernel computes the same bytes)."""
    w = node.inputs[1]
    if not is_pointwise(node) or not w.is_const or not node.inputs[2].is_const:
        return False
    mult, _ = node.requant()
    return pairs.packable(w.data.reshape(w.shape[0], -1),
                          np.broadcast_to(mult, (w.shape[0],)))


def _pointwise_rq(node: Conv2d) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(out, in) weights, per-channel multipliers and prepared records (``pairs.records``) of a
    pointwise ``node``."""
    x, w, b = node.inputs
    o = w.shape[0]
    mult, shift = (np.broadcast_to(a, (o,)) for a in node.requant())
    w2 = w.data.reshape(o, -1)
    return w2, mult, pairs.records(w2, b.data, -x.quant.zp, mult, shift)


# ff_conv2d_s8_1x1_c<in_c>, one entry point per input depth it is written for
SMALL_KERNELS = {f"ff_conv2d_s8_1x1_c{c}": c for c in pairs.SMALL_IN_C}
SMALL_SCRATCH_MIN_IN_C = 32  # from this depth the kernel widens the pixel into scratch


def _pointwise_small(node: Conv2d) -> bool:
    """True when ``ff_conv2d_s8_1x1_c8`` / ``_c16`` apply to a pointwise ``node`` (constant
    weights and bias, ``pairs.small_fast`` with the layer's accumulator bounds)."""
    x, w, b = node.inputs
    if not is_pointwise(node) or not w.is_const or not b.is_const \
            or not isinstance(w.encoding, Dense) or x.shape[-1] not in pairs.SMALL_IN_C:
        return False
    o = w.shape[0]
    mult, shift = (np.broadcast_to(a, (o,)) for a in node.requant())
    w_abs = np.abs(w.data.astype(np.int64)).reshape(o, -1).sum(axis=1)
    return pairs.small_fast(x.shape[-1], o, mult, shift, acc_bound(node, w_abs),
                            node.act_range())


@kernel.register
def _conv2d_kernel(node: Conv2d) -> Kernel:
    if sparse.compressed(node):
        data_input(node)
        return sparse.sparse_kernel(node)
    words = _words(node, _CONV_KERNELS)
    if words == "s8" and is_pointwise(node) and node.x.size // node.x.shape[-1] < PW_PIXELS:
        # fewer pixels than a block: a matrix-vector product, which the dense kernels do
        # without scratch (blocks would be padded to 4 pixels)
        found = matrix_kernel(node)
        if found is not None:
            return found
    elif words == "s8" and _pointwise_small(node):
        # 8 or 16 input channels: one pixel at a time from registers, no scratch; the pixel is
        # read whole before its outputs are written, so y may be x
        in_c, out_c = node.x.shape[-1], node.y.shape[-1]
        # (32 channels: the pixel widened to int16 in 64 bytes of scratch)
        return Kernel(f"ff_conv2d_s8_1x1_c{in_c}", "ff_conv.h", "ff_conv2d_s8_1x1_params",
                      scratch=2 * in_c if in_c >= SMALL_SCRATCH_MIN_IN_C else 0,
                      inplace=in_c == out_c)
    elif words == "s8" and _pointwise_pairs(node):
        in_c, out_c = node.x.shape[-1], node.y.shape[-1]
        # The kernel copies each block of pixels into its scratch before writing the block's
        # outputs, so the output may take the input's buffer when the shapes allow it. Layers
        # its Cortex-M assembly computes whole call the entry point without the general code.
        _, _, rec = _pointwise_rq(node)
        fast = pairs.conv_fast(in_c, out_c, rec, node.act_range())
        return Kernel("ff_conv2d_s8_1x1_fast" if fast else "ff_conv2d_s8_1x1", "ff_conv.h",
                      "ff_conv2d_s8_1x1_params", scratch=2 * PW_PIXELS * in_c,
                      inplace=in_c == out_c)
    if words == "s8" and _im2col_prepared(node) is not None:
        return Kernel("ff_conv2d_s8_im2col", "ff_conv.h", "ff_conv2d_s8_im2col_params",
                      scratch=_im2col_scratch(node)[1])
    ptype = "ff_conv2d_s16_s8_params" if words.startswith("s16") else f"ff_conv2d_{words}_params"
    return Kernel(f"ff_conv2d_{words}", "ff_conv.h", ptype, decodes=(1,))


def _dw3x3_prepared(node: DepthwiseConv2d) -> PreparedRq | None:
    """The prepared requantization of ``ff_dwconv2d_s8_3x3`` when it applies to ``node`` (a
    3x3 int8 kernel, depth multiplier 1, no dilation, constant weights and bias, exact
    prepared requantization), else None."""
    x, w, b = node.inputs
    if (x.dtype, w.dtype, b.dtype, node.y.dtype) != (DType.s8, DType.s8, DType.s32, DType.s8) \
            or not (w.is_const and b.is_const) or not isinstance(w.encoding, Dense) \
            or w.shape[1:3] != (3, 3) or node.depth_multiplier != 1 \
            or tuple(node.dilation) != (1, 1):
        return None
    w_int = w.data.astype(np.int64)
    return prepare_rq(node, w_int.sum(axis=(0, 1, 2)), np.abs(w_int).sum(axis=(0, 1, 2)),
                      round4(w.shape[3]))


def _dw3x3_ring_w(node: DepthwiseConv2d) -> int:
    return (node.y.shape[2] - 1) * node.stride[1] + 3


@kernel.register
def _dwconv2d_kernel(node: DepthwiseConv2d) -> Kernel:
    words = _words(node, _DW_KERNELS)
    if words == "s8" and _dw3x3_prepared(node) is not None:
        x, y = node.x, node.y
        same = tuple(node.stride) == (1, 1) and x.shape == y.shape
        # whole blocks of four channels take the variant without partial blocks, whose ring
        # keeps 16 bytes per pixel and block on DSP cores (12 elsewhere)
        c4 = x.shape[3] % 4 == 0
        fn = "ff_dwconv2d_s8_3x3_c4" if c4 else "ff_dwconv2d_s8_3x3"
        ring = (4 if c4 else 3) * _dw3x3_ring_w(node) * round4(x.shape[3])
        return Kernel(fn, "ff_conv.h", "ff_dwconv2d_s8_3x3_params", scratch=ring, inplace=same)
    return Kernel(f"ff_dwconv2d_{words}", "ff_conv.h", f"ff_dwconv2d_{words}_params",
                  decodes=(1,))


@kernel.register
def _transpose_conv2d_kernel(node: TransposeConv2d) -> Kernel:
    words = _words(node, _TCONV_KERNELS)
    return Kernel(f"ff_transpose_conv2d_{words}", "ff_conv.h",
                  f"ff_transpose_conv2d_{words}_params")


@emit.register
def _conv2d(node: Conv2d, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    y = node.y
    o, kh, kw, ci = w.shape
    n, ih, iw, c = x.shape
    if sparse.compressed(node):
        sparse.emit_sparse(node, ctx)
        return
    if ctx.kernel.fn in SMALL_KERNELS:
        _pointwise_small_call(node, ctx)
        return
    if ctx.kernel.params == "ff_conv2d_s8_1x1_params":
        _pointwise(node, ctx)
        return
    if ctx.kernel.params == "ff_dense_s8_params":  # matrix_kernel's choice
        emit_matrix(ctx, node)
        return
    _, oh, ow, _ = y.shape
    if ctx.kernel.fn == "ff_conv2d_s8_im2col":
        _conv2d_im2col(node, ctx)
        return
    p = ctx.params(
        batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o,
        k_h=kh, k_w=kw, filter_c=ci, group_out=o // node.groups,
        stride_h=node.stride[0], stride_w=node.stride[1],
        dil_h=node.dilation[0], dil_w=node.dilation[1],
        pad_top=node.padding.top, pad_left=node.padding.left, **_requant_fields(node, ctx, o))
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w), ctx.ptr(b), ctx.ptr(y))


def _conv2d_im2col(node: Conv2d, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    o, kh, kw, ci = w.shape
    n, ih, iw, c = x.shape
    _, oh, ow, _ = node.y.shape
    prep = _im2col_prepared(node)
    depth, _ = im2col_geometry(kh, kw, ci)
    lo, hi = node.act_range()
    rq = ctx.array("rq", prep.records, "int32_t", f"{b.name} scaled; requantization (ff_rq)")
    p = ctx.params(
        batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o, k_h=kh, k_w=kw,
        stride_h=node.stride[0], stride_w=node.stride[1],
        pad_top=node.padding.top, pad_left=node.padding.left, in_offset=-x.quant.zp,
        ring_w=_im2col_scratch(node)[0], depth=depth, act_min=lo, act_max=hi,
        rq=f"(FF_CONST ff_rq *){rq}")
    wq = ctx.array("wcol", im2col_weights(w.data, prep.scale), "int16_t",
                   f"{w.name}: scaled, in column order, int16")
    ctx.call_kernel(p, ctx.ptr(x), wq, ctx.ptr(node.y), ctx.scratch())


def _dwconv2d_3x3(node: DepthwiseConv2d, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    n, ih, iw, c = x.shape
    _, oh, ow, _ = node.y.shape
    prep = _dw3x3_prepared(node)
    lo, hi = node.act_range()
    if ctx.kernel.fn == "ff_dwconv2d_s8_3x3_c4":
        rq = ctx.array("rq", rq4_blocks(prep.records), "int32_t",
                       f"{b.name} + input offset * sum of weights, scaled; requantization "
                       "(ff_rq4 blocks)")
    else:
        rq = ctx.array("rq", prep.records, "int32_t",
                       f"{b.name} + input offset * sum of weights, scaled; requantization (ff_rq)")
    p = ctx.params(
        batches=n, in_h=ih, in_w=iw, c=c, out_h=oh, out_w=ow,
        stride_h=node.stride[0], stride_w=node.stride[1],
        pad_top=node.padding.top, pad_left=node.padding.left, pad_value=x.quant.zp,
        act_min=lo, act_max=hi, ring_w=_dw3x3_ring_w(node), rq=f"(FF_CONST ff_rq *){rq}")
    wq = ctx.array("w3x3", dw3x3_weights(w.data, prep.scale), "int16_t",
                   f"{w.name}: scaled, reordered, int16")
    ctx.call_kernel(p, ctx.ptr(x), wq, ctx.ptr(node.y), ctx.scratch())


def _pointwise(node: Conv2d, ctx: EmitContext) -> None:
    """``ff_conv2d_s8_1x1`` from prepared constants (``pairs.py``): int16 pair-packed weights,
    requantization records with the input offset folded into the bias."""
    x, w, _ = node.inputs
    n, ih, iw, c = x.shape
    w2, mult, rec = _pointwise_rq(node)
    lo, hi = node.act_range()
    p = ctx.params(pixels=n * ih * iw, in_c=c, out_c=w2.shape[0], out_offset=node.y.quant.zp,
                   act_min=lo, act_max=hi)
    wp = ctx.array("w", pairs.conv_weights(w2, mult), "int16_t",
                   f"{w.name}: pairs of output channels packed for ff_conv2d_s8_1x1")
    recs = ctx.array("rec", rec, "int32_t",
                     "{bias with the input offset folded in, 2 * multiplier, k, left shift}")
    ctx.call_kernel(p, ctx.ptr(x), wp, recs, ctx.ptr(node.y), ctx.scratch())


def _pointwise_small_call(node: Conv2d, ctx: EmitContext) -> None:
    """``ff_conv2d_s8_1x1_c8`` / ``_c16`` from one record per output channel
    (``pairs.small_records``)."""
    x, w, b = node.inputs
    n, ih, iw, c = x.shape
    o = w.shape[0]
    mult, shift = (np.broadcast_to(a, (o,)) for a in node.requant())
    lo, hi = node.act_range()
    p = ctx.params(pixels=n * ih * iw, in_c=c, out_c=o, out_offset=node.y.quant.zp,
                   act_min=lo, act_max=hi)
    rec = pairs.small_records(w.data.reshape(o, -1), b.data, -x.quant.zp, mult, shift,
                              int(node.y.quant.zp))
    recs = ctx.array("rec", rec, "int32_t",
                     f"{w.name}, {b.name}: per output channel {{bias with the input offset "
                     "folded in, int16 weight pairs, 2 * multiplier, k', output offset}")
    extra = [ctx.scratch()] if c >= SMALL_SCRATCH_MIN_IN_C else []
    ctx.call_kernel(p, ctx.ptr(x), recs, ctx.ptr(node.y), *extra)


@emit.register
def _dwconv2d(node: DepthwiseConv2d, ctx: EmitContext) -> None:
    if ctx.kernel.fn in ("ff_dwconv2d_s8_3x3", "ff_dwconv2d_s8_3x3_c4"):
        _dwconv2d_3x3(node, ctx)
        return
    x, w, b = node.inputs
    y = node.y
    _, kh, kw, oc = w.shape
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    p = ctx.params(
        batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow,
        out_c=oc, depth_mult=node.depth_multiplier, k_h=kh, k_w=kw,
        stride_h=node.stride[0], stride_w=node.stride[1],
        dil_h=node.dilation[0], dil_w=node.dilation[1],
        pad_top=node.padding.top, pad_left=node.padding.left, **_requant_fields(node, ctx, oc))
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w), ctx.ptr(b), ctx.ptr(y))


@emit.register
def _transpose_conv2d(node: TransposeConv2d, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    y = node.y
    o, kh, kw, _ = w.shape
    n, ih, iw, c = x.shape
    p = ctx.params(
        batches=n, in_h=ih, in_w=iw, in_c=c, out_h=node.out_hw[0], out_w=node.out_hw[1],
        out_c=o, k_h=kh, k_w=kw, stride_h=node.stride[0], stride_w=node.stride[1],
        pad_top=node.padding[0], pad_left=node.padding[1], **_requant_fields(node, ctx, o))
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w), ctx.ptr(b), ctx.ptr(y))
