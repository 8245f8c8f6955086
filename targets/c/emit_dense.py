"""Emitters for Dense (int8 with int8 or packed int4 weights, and 16x8: int16 activations, int8
weights, int64 or int32 bias) and BatchMatMul (int8). Int8 or int4 weights stored sparse or as a
codebook take the kernels of ``sparse.py``."""

from __future__ import annotations

import math

import numpy as np

from ...converter.encoding import Dense as Plain
from ...converter.encoding import Encoding, Packed
from ...converter.ir import DType, Value
from ...converter.ops.conv import Conv2d
from ...converter.ops.dense import BatchMatMul, Dense
from . import pairs, sparse
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, stored, unsupported

# (input, weights, weight encoding, bias, output) -> (kernel, its parameter struct)
_KERNELS: dict[tuple[DType, DType, Encoding, DType, DType], tuple[str, str]] = {
    (DType.s8, DType.s8, Plain(), DType.s32, DType.s8): ("ff_dense_s8", "ff_dense_s8_params"),  # or
    # its _fast / _compact variants, or ff_conv2d_s8 when none applies (matrix_kernel)
    (DType.s8, DType.s4, Packed(), DType.s32, DType.s8): ("ff_dense_s8_s4",
                                                          "ff_dense_s8_s4_params"),
    (DType.s8, DType.s2, Packed(), DType.s32, DType.s8): ("ff_dense_s8_s2",
                                                          "ff_dense_s8_s2_params"),
    (DType.s16, DType.s8, Plain(), DType.s64, DType.s16): ("ff_dense_s16_s8",
                                                           "ff_dense_s16_s8_params"),
    (DType.s16, DType.s8, Plain(), DType.s32, DType.s16): ("ff_dense_s16_s8_s32",
                                                           "ff_dense_s16_s8_params")}


# A layer of fewer multiply-accumulates per inference than this takes ff_dense_s8_compact, one
# dot product per output, instead of the blocked kernels. On a Cortex-M4 at -O2 the compact
# kernel is 300 B of code and ff_dense_s8 with its helpers 2.5 KB (more than any other kernel
# of a small model); the compact loop takes 5 instructions per MAC, the blocked one about 2.5
# (kws_ref_model's 64 -> 12 classifier, 768 MACs: 1,850 instructions more, 0.05% of the
# model's 3.76 million). So below 1024 MACs a layer loses at most ~2,600 instructions per
# inference (0.1 ms at 25 MHz), while 2.2 KB of flash are saved; layers at or above the bound
# keep the blocked kernel, whose speed then counts.
COMPACT_MACS = 1024


def _matrix(node: Dense | Conv2d) -> tuple[np.ndarray, int] | None:
    """The (out, in) weights and the row count of a Dense or a pointwise Conv2d with constant
    weights and bias, else None."""
    x, w, b = node.inputs
    if not (w.is_const and b.is_const):
        return None
    w2 = w.data.reshape(w.shape[0], -1)
    return w2, x.size // w2.shape[1]


def _rq(node: Dense | Conv2d, w2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel multipliers, shifts and prepared records (``pairs.records``) of ``node``."""
    o = w2.shape[0]
    mult, shift = (np.broadcast_to(a, (o,)) for a in node.requant())
    return mult, shift, pairs.records(w2, node.inputs[2].data, -node.x.quant.zp, mult, shift)


def matrix_kernel(node: Dense | Conv2d) -> Kernel | None:
    """The kernel of a matrix-vector product (a Dense, or a pointwise Conv2d of fewer pixels
    than a block of the 1x1 kernel) from prepared constants: ``ff_dense_s8_compact`` below
    COMPACT_MACS or for one output channel, else ``ff_dense_s8_fast`` or ``ff_dense_s8`` when
    the pairs can hold the weights (``pairs.packable``); None when none applies."""
    found = _matrix(node)
    if found is None:
        return None
    w2, rows = found
    mult, _, rec = _rq(node, w2)
    # One output channel has no partner: pairing it with zeros would double its weights in
    # flash and spend half the multiply-accumulates on them, so it is a plain dot product.
    if (w2.size * rows < COMPACT_MACS or w2.shape[0] == 1) and pairs.multipliers_ok(mult):
        return Kernel("ff_dense_s8_compact", "ff_dense.h", "ff_dense_s8_params")
    if not pairs.packable(w2, mult):
        return None
    fast = pairs.dense_fast(w2.shape[1], rec, node.act_range())
    return Kernel("ff_dense_s8_fast" if fast else "ff_dense_s8", "ff_dense.h",
                  "ff_dense_s8_params")


def emit_matrix(ctx: EmitContext, node: Dense | Conv2d) -> None:
    """The call of ``matrix_kernel(node)``: prepared constants (``pairs.py``: requantization
    records with the input offset folded into the bias; plain int8 weights for the compact
    kernel, pair-packed int16 weights for the others)."""
    x, w, _ = node.inputs
    w2, rows = _matrix(node)
    o, k = w2.shape
    mult, _, rec = _rq(node, w2)
    lo, hi = node.act_range()
    p = ctx.params("ff_dense_s8_params", rows=rows, in_features=k, out_features=o,
                   out_offset=node.y.quant.zp, act_min=lo, act_max=hi)
    if ctx.kernel.fn == "ff_dense_s8_compact":
        wp = ctx.array("w", pairs.plain_weights(w2, mult), "int8_t",
                       f"{w.name}: out x in, channels of multiplier 0 zeroed")
    else:
        wp = ctx.array("w", pairs.dense_weights(w2, mult), "int16_t",
                       f"{w.name}: pairs of output channels packed for ff_dense_s8")
    recs = ctx.array("rec", rec, "int32_t",
                     "{bias with the input offset folded in, 2 * multiplier, k, left shift}")
    ctx.call_kernel(p, ctx.ptr(x), wp, recs, ctx.ptr(node.y))


@kernel.register
def _dense_kernel(node: Dense) -> Kernel:
    x, w, b = node.inputs
    if sparse.compressed(node):
        data_input(node)
        return sparse.sparse_kernel(node)
    found = _KERNELS.get((x.dtype, w.dtype, w.encoding, b.dtype, node.y.dtype))
    if found is None:
        raise unsupported(node, f"{x.dtype.value} inputs, {w.dtype.value} weights{stored(w)} "
                                f"and {b.dtype.value} bias")
    data_input(node)
    if found[0] == "ff_dense_s8":
        # weights the prepared kernels cannot hold: the general convolution computes the same
        # bytes (a dense layer is a 1x1 convolution over rows)
        return matrix_kernel(node) or Kernel("ff_conv2d_s8", "ff_conv.h", "ff_conv2d_s8_params")
    return Kernel(found[0], "ff_dense.h", found[1], decodes=(1,))


@emit.register
def _dense(node: Dense, ctx: EmitContext) -> None:
    x, w, b = node.inputs
    o, k = w.shape
    mult, shift = node.requant()
    lo, hi = node.act_range()
    if ctx.kernel.params == "ff_dense_s8_params":  # matrix_kernel's choice
        emit_matrix(ctx, node)
        return
    if sparse.compressed(node):
        sparse.emit_sparse(node, ctx)
        return
    if ctx.kernel.fn == "ff_conv2d_s8":
        p = ctx.params(
            batches=x.size // k, in_h=1, in_w=1, in_c=k, out_h=1, out_w=1, out_c=o, k_h=1, k_w=1,
            filter_c=k, group_out=o, stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_top=0,
            pad_left=0, in_offset=-x.quant.zp, out_offset=node.y.quant.zp, act_min=lo,
            act_max=hi, mult=ctx.array("mult", np.broadcast_to(mult, (o,)), "int32_t"),
            shift=ctx.array("shift", np.broadcast_to(shift, (o,)), "int32_t"))
        ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w), ctx.ptr(b), ctx.ptr(node.y))
        return
    p = ctx.params(
        rows=x.size // k, in_features=k, out_features=o,
        in_offset=-x.quant.zp, out_offset=node.y.quant.zp, act_min=lo, act_max=hi,
        mult=ctx.array("mult", np.broadcast_to(mult, (o,)), "int32_t"),
        shift=ctx.array("shift", np.broadcast_to(shift, (o,)), "int32_t"))
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(w), ctx.ptr(b), ctx.ptr(node.y))


BMM_BATCH = 3  # batch dimensions of ff_batch_matmul_s8 (TFLM's 5-D limit less the matrix)


@kernel.register
def _batch_matmul_kernel(node: BatchMatMul) -> Kernel:
    a, b = node.inputs
    if a.dtype is not DType.s8 or b.dtype is not DType.s8:
        raise unsupported(node, f"{a.dtype.value} x {b.dtype.value} data")
    if a.is_const and b.is_const:
        raise unsupported(node, "two constant operands (fold them first)")
    suffix = "_c" if a.is_const or b.is_const else ""
    return Kernel(f"ff_batch_matmul_s8{suffix}", "ff_dense.h", "ff_batch_matmul_s8_params")


def _batch_strides(v: Value, rank: int) -> list[int]:
    """Element strides of ``v`` along the output's batch dims (padded to BMM_BATCH with
    leading 1s), 0 where ``v`` has size 1 (it broadcasts, or the index is always 0)."""
    shape = (1,) * (rank - len(v.shape)) + tuple(v.shape)
    batch = shape[:-2]
    strides = [0 if d == 1 else math.prod(shape[k + 1:]) for k, d in enumerate(batch)]
    return [0] * (BMM_BATCH - len(batch)) + strides


@emit.register
def _batch_matmul(node: BatchMatMul, ctx: EmitContext) -> None:
    a, b = node.inputs
    y = node.y
    rank = len(y.shape)
    rows, cols = y.shape[-2:]
    # a's stored matrix is rows x depth, or depth x rows with adj_x; b's depth x cols, or
    # cols x depth with adj_y: the strides read either in place.
    depth = a.shape[-2] if node.adj_x else a.shape[-1]
    a_row, a_depth = (1, rows) if node.adj_x else (depth, 1)
    b_depth, b_col = (1, depth) if node.adj_y else (cols, 1)
    m, s = node.requant()
    p = ctx.params(batch=[1] * (BMM_BATCH - (rank - 2)) + list(y.shape[:-2]),
                   a_batch_stride=_batch_strides(a, rank), b_batch_stride=_batch_strides(b, rank),
                   rows=rows, cols=cols, depth=depth, a_row_stride=a_row,
                   a_depth_stride=a_depth, b_depth_stride=b_depth, b_col_stride=b_col,
                   const_first=int(a.is_const), a_offset=-a.quant.zp, b_offset=-b.quant.zp,
                   out_offset=y.quant.zp, mult=m, shift=s)
    x, c = (b, a) if a.is_const else (a, b)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(c), ctx.ptr(y))
