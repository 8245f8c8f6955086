"""TFLite import handlers of the data-movement operators (reshape, pad, concatenation,
transpose, split, strided slice) and MEAN; see tflite_ops.py."""

from __future__ import annotations

import math

import numpy as np

from ..ir import Act, DType, Value
from ..ops.reduce import Mean
from ..ops.shape import Concat, Pad, Reshape, Split, StridedSlice, Transpose
from .tflite_context import OpCtx, Unsupported, resolve_shape
from .tflite_ops import (
    _act,
)


def RESHAPE(cx: OpCtx) -> None:
    cx.expect("ReshapeOptions", (1, 2))
    x = cx.operand(0)
    out = cx.out_info().shape
    spec = None
    if cx.has_input(1):
        known = cx.b.const_array(cx.op.inputs[1])
        if known is not None and cx.op.inputs[1] not in cx.b.dynamic:
            if known.dtype.kind not in "iu":
                raise cx.error(f"shape tensor of type {known.dtype}")
            spec = [int(d) for d in np.asarray(known).reshape(-1)]
    elif cx.opt("NewShape", []):
        spec = list(cx.opt("NewShape", []))
    if spec is not None and resolve_shape(spec, x.size) != out:
        raise cx.error(f"shape {spec} does not give the stored output shape {list(out)} for "
                       f"{x.size} elements")
    if math.prod(out) != x.size:
        raise cx.error(f"cannot reshape {list(x.shape)} to the stored {list(out)}")
    cx.emit(Reshape, [x], shape=out)


def SQUEEZE(cx: OpCtx) -> None:
    cx.expect("SqueezeOptions", (1, 1))
    x = cx.operand(0)
    rank = len(x.shape)
    dims = [int(d) for d in cx.opt("SqueezeDims", [])]
    if any(not -rank <= d < rank for d in dims):
        raise cx.error(f"squeeze dims {dims} out of range for {list(x.shape)}")
    drop = {d % rank for d in dims} or {i for i, d in enumerate(x.shape) if d == 1}
    if any(x.shape[d] != 1 for d in drop):
        raise cx.error(f"squeeze dims {dims} of {list(x.shape)} are not all of size 1")
    want = tuple(d for i, d in enumerate(x.shape) if i not in drop)
    if want != cx.out_info().shape:
        raise cx.error(f"squeezing {list(x.shape)} gives {list(want)}, stored output is "
                       f"{list(cx.out_info().shape)}")
    cx.emit(Reshape, [x], shape=want)


def _pads(cx: OpCtx, x: Value) -> tuple[tuple[int, int], ...]:
    p = cx.array(1, "paddings")
    if p.shape != (len(x.shape), 2) or p.dtype.kind != "i":
        raise cx.error(f"paddings of shape {list(p.shape)} ({p.dtype}) for a "
                       f"{len(x.shape)}-D input (needs [{len(x.shape)}, 2] integers)")
    if np.any(p < 0):
        raise cx.error(f"negative paddings {p.tolist()}")
    return tuple((int(a), int(b)) for a, b in p)


def PAD(cx: OpCtx) -> None:
    cx.expect("PadOptions", (2, 2))
    x = cx.operand(0)
    cx.emit(Pad, [x], pads=_pads(cx, x))


def PADV2(cx: OpCtx) -> None:
    cx.expect("PadV2Options", (2, 3))
    x = cx.operand(0)
    pads = _pads(cx, x)
    if cx.has_input(2):
        c = cx.array(2, "constant value")
        out_q = cx.out_info().quant
        fill = 0 if x.dtype is DType.f32 or out_q is None else out_q.zp
        if c.size != 1 or c.reshape(-1)[0] != fill:
            raise Unsupported(f"PADV2 fills with {c.reshape(-1)[:4].tolist()}; firmforge pads "
                              f"with the real value 0 only (here {fill})")
    cx.emit(Pad, [x], pads=pads)


def CONCATENATION(cx: OpCtx) -> None:
    cx.expect("ConcatenationOptions", (1, len(cx.op.inputs) or 1))
    if _act(cx) is not Act.NONE:
        raise Unsupported("a fused activation on CONCATENATION")
    xs = [cx.operand(i) for i in range(len(cx.op.inputs))]
    rank = len(xs[0].shape)
    axis = int(cx.opt("Axis", 0))
    if not -rank <= axis < rank:
        raise cx.error(f"axis {axis} is out of range for {rank}-D inputs")
    cx.emit(Concat, xs, axis=axis)


def TRANSPOSE(cx: OpCtx) -> None:
    """TFLM's Prepare: 1-D to 5-D input, a constant 1-D int32 perm of the input's rank with
    every entry in [0, rank); its Eval moves float32, int8 and int16 elements. The bytes move
    unchanged, so the output must be quantized as the input."""
    cx.expect("TransposeOptions", (2, 2))
    x = cx.operand(0)
    rank = len(x.shape)
    if rank > 5:
        raise Unsupported(f"a {rank}-D input (TFLM's TRANSPOSE takes 1-D to 5-D)")
    if x.dtype not in (DType.f32, DType.s8, DType.s16):
        raise Unsupported(f"{x.dtype.value} data (TFLM's TRANSPOSE moves float32, int8, int16)")
    p = cx.array(1, "perm")
    if p.dtype != np.int32 or p.shape != (rank,):
        raise cx.error(f"perm must be {rank} int32 values, got {p.dtype} of shape "
                       f"{list(p.shape)}")
    perm = tuple(int(d) for d in p)
    if any(not 0 <= d < rank for d in perm):
        raise cx.error(f"perm {list(perm)} is out of bounds for a {rank}-D input")
    if sorted(perm) != list(range(rank)):
        raise Unsupported(f"perm {list(perm)} repeats a dimension (not a permutation)")
    if perm[0] != 0:
        raise Unsupported(f"perm {list(perm)} moves the batch dimension")
    out_q = cx.out_info().quant
    if x.quant is not None and not x.quant.same_as(out_q):
        raise Unsupported("TRANSPOSE moves bytes: the output must be quantized as the input")
    cx.emit(Transpose, [x], perm=perm)


def _split_axis(cx: OpCtx, i: int, x: Value) -> int:
    """The constant int32 axis of SPLIT / SPLIT_V (TFLM's Prepare refuses a computed one, and
    its Eval reads int32 and fails outside [-rank, rank))."""
    a = cx.array(i, "axis")
    if a.dtype != np.int32 or a.size != 1:
        raise cx.error(f"axis must be one int32, got {a.dtype} of shape {list(a.shape)}")
    rank = len(x.shape)
    axis = int(a.reshape(-1)[0])
    if not -rank <= axis < rank:
        raise cx.error(f"axis {axis} is out of range for a {rank}-D input")
    if axis % rank == 0:
        raise Unsupported("split along the batch dimension")
    return axis % rank


def _outputs(cx: OpCtx, options: str, inputs: int) -> int:
    n = len(cx.op.outputs)
    if n < 1:
        raise cx.error("has no outputs")
    cx.expect(options, (inputs, inputs), outputs=n)
    return n


def SPLIT(cx: OpCtx) -> None:
    """Equal pieces, one per output; TFLM ignores num_splits and so does firmforge."""
    n = _outputs(cx, "SplitOptions", 2)
    x = cx.operand(1)
    axis = _split_axis(cx, 0, x)
    if x.shape[axis] % n:
        raise cx.error(f"dimension {axis} of {list(x.shape)} does not split into {n} outputs")
    cx.emit_outputs(Split, [x], axis=axis, sizes=(x.shape[axis] // n,) * n)


def SPLIT_V(cx: OpCtx) -> None:
    """The pieces are the stored outputs' sizes, as TFLM reads them; a constant size_splits
    (one -1 resolved) must agree."""
    n = _outputs(cx, "SplitVOptions", 3)
    x = cx.operand(0)
    axis = _split_axis(cx, 2, x)
    shapes = [cx.out_info(i).shape for i in range(n)]
    if any(len(s) != len(x.shape) for s in shapes):
        raise cx.error(f"outputs {[list(s) for s in shapes]} must have the input's rank")
    sizes = [s[axis] for s in shapes]
    known = cx.b.const_array(cx.op.inputs[1])
    if known is not None and cx.op.inputs[1] not in cx.b.dynamic:
        if known.dtype.kind not in "iu":
            raise cx.error(f"size_splits of type {known.dtype}")
        spec = [int(d) for d in np.asarray(known).reshape(-1)]
        if -1 in spec and spec.count(-1) == 1:
            spec[spec.index(-1)] = x.shape[axis] - (sum(spec) + 1)
        if spec != sizes:
            raise cx.error(f"size_splits {known.reshape(-1).tolist()} disagree with the stored "
                           f"outputs' sizes {sizes} along dimension {axis}")
    if 0 in sizes:
        raise Unsupported(f"an empty piece (sizes {sizes}): firmforge values are never empty")
    cx.emit_outputs(Split, [x], axis=axis, sizes=tuple(sizes))

def _slice_axis(n: int, begin: int, end: int, stride: int, masked: tuple[bool, bool],
                shrink: bool) -> tuple[int, int, int]:
    """(start, stop, step) of one axis as TFLM's strided slice resolves them: a negative index
    counts from the end, then clamps to [0, n] (forwards) or [-1, n - 1] (backwards); a begin or
    end mask takes the whole axis; a shrunk axis stops one past its start."""
    def bound(i: int) -> int:
        i = i + n if i < 0 else i
        return min(max(i, 0), n) if stride > 0 else min(max(i, -1), n - 1)

    start = (0 if stride > 0 else n - 1) if masked[0] else bound(begin)
    if shrink:
        return start, start + 1, stride
    stop = (n if stride > 0 else -1) if masked[1] else bound(end)
    return start, stop, stride


def STRIDED_SLICE(cx: OpCtx) -> None:
    """TFLM reads begin/end/strides as int32, one per input dimension (at most 4), honours the
    begin, end and shrink masks and ignores the ellipsis and new-axis masks and ``offset``:
    firmforge refuses files that set those, and the shrinks TFLM leaves unwritten (a negative
    stride, a begin outside the axis)."""
    cx.expect("StridedSliceOptions", (4, 4))
    x = cx.operand(0)
    rank = len(x.shape)
    if rank > 4:
        raise Unsupported(f"a {rank}-D input (TFLM's STRIDED_SLICE takes at most 4 dimensions)")
    for mask in ("EllipsisMask", "NewAxisMask"):
        if cx.opt(mask, 0):
            raise Unsupported(f"{mask} {cx.opt(mask, 0)}: TFLM ignores it, which changes what "
                              "the slice means")
    if cx.opt("Offset", False):
        raise Unsupported("offset=True: TFLM ignores it, which changes what the slice means")
    spec = []
    for i, what in ((1, "begin"), (2, "end"), (3, "strides")):
        a = cx.array(i, what)
        if a.dtype != np.int32 or a.shape != (rank,):
            raise Unsupported(f"{what} is {a.dtype}{list(a.shape)}; TFLM reads {rank} int32 "
                              f"values (one per dimension of the input)")
        spec.append([int(v) for v in a])
    begin_mask, end_mask = int(cx.opt("BeginMask", 0)), int(cx.opt("EndMask", 0))
    shrink_mask = int(cx.opt("ShrinkAxisMask", 0))
    bounds, shrink = [], []
    for d, (n, b, e, s) in enumerate(zip(x.shape, *spec, strict=True)):
        if s == 0:
            raise Unsupported(f"stride 0 along dimension {d} (TFLM refuses it)")
        shrunk = bool(shrink_mask >> d & 1)
        a, z, s = _slice_axis(n, b, e, s, (bool(begin_mask >> d & 1), bool(end_mask >> d & 1)),
                              shrunk)
        if shrunk:
            if s < 0 or not 0 <= a < n:
                raise Unsupported(f"dimension {d} is shrunk with stride {s} from index {b}: "
                                  "TFLM writes no output for it")
            shrink.append(d)
        if len(range(a, z, s)) == 1:
            a, z, s = a, a + 1, 1  # one element, whichever way it is walked
        bounds.append((a, z, s))
    if bounds[0] != (0, 1, 1) or 0 in shrink:
        raise Unsupported(f"the slice {bounds[0]} of the batch dimension (firmforge keeps the "
                          "batch whole)")
    starts, stops, steps = (tuple(b[k] for b in bounds) for k in range(3))
    cx.emit(StridedSlice, [x], starts=starts, stops=stops, steps=steps, shrink=tuple(shrink))


def MEAN(cx: OpCtx) -> None:
    cx.expect("ReducerOptions", (2, 2))
    x = cx.operand(0)
    axes = cx.array(1, "axes").reshape(-1)
    rank = len(x.shape)
    if axes.dtype.kind != "i" or np.any((axes < -rank) | (axes >= rank)):
        raise cx.error(f"axes {axes.tolist()} out of range for {list(x.shape)}")
    norm = tuple(sorted({int(a) % rank for a in axes}))  # TFLite resolves duplicates
    if not norm:
        raise Unsupported("MEAN over no axes")
    cx.emit(Mean, [x], axes=norm, keepdims=bool(cx.opt("KeepDims", False)))
