"""Emitters for Reshape, Transpose, StridedSlice, Concat, Split and Pad (the kernels are in
``ff_shape.c``).

Shapes are simplified before they reach C: size-1 dimensions are dropped and dimensions that
move together are merged, so the kernels' fixed 4-D loops cover every permutation and padding
that reduces to at most four dimensions (among them every one of up to five dimensions with the
IR's batch of 1), and a transpose or pad that moves nothing but whole blocks becomes a copy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from ...converter.ir import DType, Value
from ...converter.ops.shape import Concat, Pad, Reshape, Split, StridedSlice, Transpose
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

MAX_DIMS = 4  # FF_SHAPE_MAX_DIMS in ff_shape.h

_TRANSPOSE_DTYPES = (DType.s8, DType.s16, DType.s32)
_PAD_DTYPES = (DType.s8, DType.s16)


def _copy(ctx: EmitContext, x: Value, y: Value) -> None:
    ctx.call("ff_shape.h", "ff_copy", y.nbytes, ctx.ptr(x), ctx.ptr(y))


def simplify_transpose(shape: Sequence[int], perm: Sequence[int]
                       ) -> tuple[list[int], list[int]]:
    """The smallest equivalent transpose: (output dims, input stride of each output dim).

    ``y[i_0..i_k] = x[sum_j i_j * stride_j]`` with ``y`` contiguous. Size-1 input dimensions are
    dropped; consecutive output dimensions that read consecutive (kept) input dimensions in order
    are merged, the merged dimension taking the stride of the innermost input dimension.
    """
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    kept = [d for d in range(len(shape)) if shape[d] != 1]
    after = dict(itertools.pairwise(kept))  # next kept input dimension
    merged: list[list[int]] = []
    for d in perm:
        if shape[d] == 1:
            continue
        if merged and after.get(merged[-1][-1]) == d:
            merged[-1].append(d)
        else:
            merged.append([d])
    dims = [math.prod(shape[d] for d in r) for r in merged]
    return dims, [strides[r[-1]] for r in merged]


def simplify_pad(shape: Sequence[int], pads: Sequence[tuple[int, int]]
                 ) -> tuple[list[int], list[tuple[int, int]]]:
    """The smallest equivalent padding: (input dims, (before, after) per dim).

    Unpadded size-1 dimensions are dropped, and a dimension is merged into the one inside it
    when that inner one is unpadded (index ``i*n + j`` with pads scaled by ``n``).
    """
    dims = [(int(d), (int(a), int(b))) for d, (a, b) in zip(shape, pads, strict=True)
            if d != 1 or (a, b) != (0, 0)]
    out: list[tuple[int, tuple[int, int]]] = []
    for d, (a, b) in reversed(dims):
        if out and out[-1][1] == (0, 0):
            n = out[-1][0]
            out[-1] = (d * n, (a * n, b * n))
        else:
            out.append((d, (a, b)))
    out.reverse()
    return [d for d, _ in out], [p for _, p in out]


def simplify_slice(shape: Sequence[int], starts: Sequence[int], steps: Sequence[int],
                   counts: Sequence[int]) -> tuple[list[int], list[int], int]:
    """The smallest equivalent strided slice: (output dims, input stride of each, start offset).

    ``y[i_0..i_k] = x[start + sum_j i_j * stride_j]`` with ``y`` contiguous. Dimensions of one
    element only add to the start offset; a dimension is merged into the one inside it when
    stepping it once equals stepping the inner one ``count`` times (a contiguous run).
    """
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    start = sum(a * st for a, st in zip(starts, strides, strict=True))
    out: list[list[int]] = []  # [count, stride], outermost first
    for n, step, st in zip(counts, steps, strides, strict=True):
        if n == 1:
            continue
        if out and out[-1][1] == n * step * st:
            out[-1] = [out[-1][0] * n, step * st]
        else:
            out.append([n, step * st])
    return [n for n, _ in out], [st for _, st in out], start


def _left_fill(values: list[int], fill: int) -> list[int]:
    return [fill] * (MAX_DIMS - len(values)) + values


_COPY = Kernel("ff_copy", "ff_shape.h")


@kernel.register
def _reshape_kernel(node: Reshape) -> Kernel:
    data_input(node)
    return _COPY  # only called when the planner could not make the output a view


@kernel.register
def _transpose_kernel(node: Transpose) -> Kernel:
    x = node.x
    if x.dtype not in _TRANSPOSE_DTYPES:
        raise unsupported(node, f"{x.dtype.value} data")
    data_input(node)
    dims, _ = simplify_transpose(x.shape, node.perm)
    if len(dims) <= 1:
        return _COPY
    if len(dims) > MAX_DIMS:
        raise unsupported(node, f"a permutation of {len(dims)} irreducible dimensions")
    return Kernel(f"ff_transpose_{x.dtype.value}", "ff_shape.h", "ff_transpose_params")


@kernel.register
def _strided_slice_kernel(node: StridedSlice) -> Kernel:
    x = node.x
    if x.dtype not in _TRANSPOSE_DTYPES:
        raise unsupported(node, f"{x.dtype.value} data")
    data_input(node)
    dims, _, _ = simplify_slice(x.shape, node.starts, node.steps, node.counts())
    if len(dims) > MAX_DIMS:
        raise unsupported(node, f"a slice of {len(dims)} irreducible dimensions")
    return Kernel(f"ff_strided_slice_{x.dtype.value}", "ff_shape.h", "ff_strided_slice_params")


@kernel.register
def _concat_kernel(node: Concat) -> Kernel:
    if node.y.dtype.bits % 8:
        raise unsupported(node, f"packed {node.y.dtype.value} data")
    data_input(node, *node.inputs)
    return Kernel("ff_concat", "ff_shape.h", "ff_concat_params")


@kernel.register
def _split_kernel(node: Split) -> Kernel:
    if node.x.dtype.bits % 8:
        raise unsupported(node, f"packed {node.x.dtype.value} data")
    data_input(node)
    return Kernel("ff_split", "ff_shape.h", "ff_split_params")


@kernel.register
def _pad_kernel(node: Pad) -> Kernel:
    x = node.x
    if x.dtype not in _PAD_DTYPES:
        raise unsupported(node, f"{x.dtype.value} data")
    data_input(node)
    dims, pads = simplify_pad(x.shape, node.pads)
    if all(p == (0, 0) for p in pads):
        return _COPY
    if len(dims) > MAX_DIMS:
        raise unsupported(node, f"padding of {len(dims)} irreducible dimensions")
    return Kernel(f"ff_pad_{x.dtype.value}", "ff_shape.h", "ff_pad_params")


@emit.register
def _reshape(node: Reshape, ctx: EmitContext) -> None:
    if ctx.step in ctx.plan.copies:
        _copy(ctx, node.x, node.y)  # else the output is a view: nothing to move


@emit.register
def _transpose(node: Transpose, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    if ctx.kernel is _COPY:
        _copy(ctx, x, y)
        return
    dims, strides = simplify_transpose(x.shape, node.perm)
    p = ctx.params(out_dims=_left_fill(dims, 1), in_stride=_left_fill(strides, 0))
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))


@emit.register
def _strided_slice(node: StridedSlice, ctx: EmitContext) -> None:
    x = node.x
    dims, strides, start = simplify_slice(x.shape, node.starts, node.steps, node.counts())
    p = ctx.params(out_dims=_left_fill(dims, 1), in_stride=_left_fill(strides, 0), start=start)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(node.y))


@emit.register
def _concat(node: Concat, ctx: EmitContext) -> None:
    y = node.y
    a = node.axis_index()
    size = y.dtype.bits // 8
    outer = math.prod(y.shape[:a])
    inner = math.prod(y.shape[a + 1:]) * size
    offset = 0
    for x in node.inputs:
        block = x.shape[a] * inner
        p = ctx.params(outer=outer, in_block=block, out_block=y.shape[a] * inner, offset=offset)
        ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))
        offset += block


@emit.register
def _split(node: Split, ctx: EmitContext) -> None:
    """One byte-block copy per output, like Concat's in reverse."""
    x = node.x
    a = node.axis_index()
    size = x.dtype.bits // 8
    outer = math.prod(x.shape[:a])
    inner = math.prod(x.shape[a + 1:]) * size
    offset = 0
    for y in node.outputs:
        block = y.shape[a] * inner
        p = ctx.params(outer=outer, in_block=x.shape[a] * inner, out_block=block, offset=offset)
        ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))
        offset += block


@emit.register
def _pad(node: Pad, ctx: EmitContext) -> None:
    x, y = node.x, node.y
    if ctx.kernel is _COPY:
        _copy(ctx, x, y)
        return
    dims, pads = simplify_pad(x.shape, node.pads)
    before = [a for a, _ in pads]
    out = [d + a + b for d, (a, b) in zip(dims, pads, strict=True)]
    p = ctx.params(in_dims=_left_fill(dims, 1), out_dims=_left_fill(out, 1),
                   before=_left_fill(before, 0), fill=node.fill())
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))
