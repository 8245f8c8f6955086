"""Data-movement kernels == reference: transpose, strided slice, concat, split, pad, and Reshape
as copy or as view.

Shapes carry many size-1 dimensions on purpose: the emitter drops and merges dimensions before
calling the 4-D kernels, and those simplifications (including the ones that end in a plain copy)
are what these rows exercise besides the kernels themselves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import DType, Graph, IRError, QuantParams, Value, make_node
from firmforge.converter.ops.shape import Concat, Pad, Reshape, Split, StridedSlice, Transpose
from firmforge.targets.c.emit import UnsupportedOpError
from firmforge.targets.c.emit_shape import simplify_pad, simplify_slice, simplify_transpose
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

from cases import Row, act_quant, single
from kernel_harness import check_row


def _dims(rng: np.random.Generator, rank: int, limit: int = 7, ones: float = 0.3
          ) -> tuple[int, ...]:
    """A batch-1 shape of ``rank`` dims, some of them 1 (dropped/merged by the emitter)."""
    return (1, *(1 if rng.random() < ones else int(rng.integers(2, limit))
                 for _ in range(rank - 1)))


def _quant(rng: np.random.Generator, dtype: DType) -> QuantParams | None:
    return None if dtype is DType.s32 else act_quant(rng, dtype)


def transpose(rng: np.random.Generator) -> Graph:
    dtype = [DType.s8, DType.s8, DType.s16, DType.s32][rng.integers(4)]
    rank = int([3, 4, 5, 5, 5][rng.integers(5)])
    shape = _dims(rng, rank, ones=0.15)
    if rank == 5 and rng.integers(2):  # a 6-D permutation that reduces to 4 dims
        shape = (*shape, 1)
    n = len(shape) - 1
    order = rng.permutation(n)
    while (order == np.arange(n)).all() and rng.random() > 0.1:  # mostly real permutations
        order = rng.permutation(n)
    perm = (0, *(int(d) + 1 for d in order))
    q = _quant(rng, dtype)
    return single(Transpose, "transpose", [Value("x", shape, dtype, q)], q, perm=perm)


def concat(rng: np.random.Generator) -> Graph:
    dtype = [DType.s8, DType.s8, DType.s16][rng.integers(3)]
    rank = int(rng.integers(2, 5))
    base = list(_dims(rng, rank, 6))
    axis = int(rng.integers(1, rank))
    q = act_quant(rng, dtype)
    xs = []
    for i in range(int(rng.integers(2, 5))):
        base[axis] = int(rng.integers(1, 5))
        xs.append(Value(f"x{i}", tuple(base), dtype, q))
    spelled = axis - rank if rng.integers(2) else axis  # negative axes count from the end
    return single(Concat, "concat", xs, q, axis=spelled)


def _pieces(rng: np.random.Generator, n: int) -> tuple[int, ...]:
    """A random composition of ``n`` into 1 to 4 positive parts."""
    k = int(rng.integers(1, min(n, 4) + 1))
    cuts = sorted(int(c) for c in rng.choice(np.arange(1, n), k - 1, replace=False))
    return tuple(int(d) for d in np.diff([0, *cuts, n]))


def split(rng: np.random.Generator) -> Graph:
    """Every output a graph output (caller buffers), sizes equal or not, axes spelled either way."""
    dtype = [DType.s8, DType.s8, DType.s16, DType.s32][rng.integers(4)]
    rank = int(rng.integers(2, 6))
    shape = list(_dims(rng, rank, 6))
    axis = int(rng.integers(1, rank))
    shape[axis] = int(rng.integers(1, 9))
    q = _quant(rng, dtype)
    spelled = axis - rank if rng.integers(2) else axis
    return single(Split, "split", [Value("x", tuple(shape), dtype, q)], q, axis=spelled,
                  sizes=_pieces(rng, shape[axis]))


def split_in_arena(rng: np.random.Generator) -> Graph:
    """Split -> Concat of the pieces in reverse: the outputs live together in the arena."""
    dtype = [DType.s8, DType.s16][rng.integers(2)]
    shape = list(_dims(rng, 4, 6))
    axis = int(rng.integers(1, 4))
    shape[axis] = int(rng.integers(2, 9))
    q = act_quant(rng, dtype)
    x = Value("x", tuple(shape), dtype, q)
    sizes = _pieces(rng, shape[axis])
    sp = make_node(Split, "sp", [x], [f"p{i}" for i in range(len(sizes))], axis=axis,
                   sizes=sizes)
    for v in sp.outputs:
        v.quant = q
    cat = make_node(Concat, "cat", sp.outputs[::-1], ["y"], axis=axis)
    cat.y.quant = q
    g = Graph("split_in_arena", [sp, cat], [x], cat.outputs)
    g.validate()
    return g


def _pad(rng: np.random.Generator, dtype: DType) -> Graph:
    rank = int(rng.integers(2, 6))
    shape = _dims(rng, rank, 6)
    pads = ((0, 0), *((int(rng.integers(0, 4)) if rng.random() < 0.6 else 0,
                       int(rng.integers(0, 4)) if rng.random() < 0.6 else 0)
                      for _ in range(rank - 1)))
    q = act_quant(rng, dtype)
    return single(Pad, "pad", [Value("x", shape, dtype, q)], q, pads=pads)


def _axis_slice(rng: np.random.Generator, n: int) -> tuple[int, int, int]:
    """A random (start, stop, step) over a dimension of ``n``: forwards or backwards, steps up
    to 3, sometimes the whole dimension or one element."""
    step = int(rng.choice([1, 1, 2, 3, -1, -2]))
    if rng.random() < 0.25:
        return (0, n, 1) if step > 0 else (n - 1, -1, -1)
    start = int(rng.integers(n))
    room = (n - start + step - 1) // step if step > 0 else (start + 1 + (-step) - 1) // -step
    count = int(rng.integers(1, room + 1))
    last = start + (count - 1) * step
    return start, last + (1 if step > 0 else -1), step


def strided_slice(rng: np.random.Generator) -> Graph:
    """Rank 2 to 4, steps of either sign, shrunk dimensions of one element."""
    dtype = [DType.s8, DType.s8, DType.s16, DType.s32][rng.integers(4)]
    shape = _dims(rng, int(rng.integers(2, 5)), limit=9, ones=0.15)
    bounds = [(0, 1, 1)] + [_axis_slice(rng, n) for n in shape[1:]]
    counts = [len(range(*b)) for b in bounds]
    shrink = tuple(d for d in range(1, len(shape)) if counts[d] == 1 and rng.random() < 0.5)
    q = _quant(rng, dtype)
    starts, stops, steps = (tuple(b[k] for b in bounds) for k in range(3))
    return single(StridedSlice, "strided_slice", [Value("x", shape, dtype, q)], q,
                  starts=starts, stops=stops, steps=steps, shrink=shrink)


def _factor(rng: np.random.Generator, n: int) -> tuple[int, ...]:
    """A random shape (batch 1 first) with ``n`` elements."""
    dims = []
    while n > 1 and len(dims) < 3:
        divs = [d for d in range(2, n + 1) if n % d == 0]
        d = int(divs[rng.integers(len(divs))])
        dims.append(d)
        n //= d
    return (1, *dims, n) if n > 1 or not dims else (1, *dims)


def reshape_copy(rng: np.random.Generator) -> Graph:
    """Graph input -> Reshape -> graph output: two caller buffers, so the plan must copy."""
    dtype = [DType.s8, DType.s16, DType.s32][rng.integers(3)]
    shape = _dims(rng, int(rng.integers(2, 5)))
    x = Value("x", shape, dtype, _quant(rng, dtype))
    return single(Reshape, "reshape", [x], x.quant, shape=_factor(rng, math.prod(shape)))


def reshape_view(rng: np.random.Generator) -> Graph:
    """Transpose -> Reshape -> Transpose: the Reshape shares an arena buffer and emits nothing."""
    shape = (1, *(int(d) for d in rng.integers(2, 6, 3)))
    x = Value("x", shape, DType.s8)
    t1 = make_node(Transpose, "t1", [x], ["a"], perm=(0, 2, 3, 1))
    mid = _factor(rng, math.prod(shape))
    r = make_node(Reshape, "r", t1.outputs, ["b"], shape=mid)
    perm = (0, *(int(d) + 1 for d in rng.permutation(len(mid) - 1)))
    t2 = make_node(Transpose, "t2", r.outputs, ["y"], perm=perm)
    g = Graph("reshape_view", [t1, r, t2], [x], t2.outputs)
    g.validate()
    return g


ROWS = [
    Row("transpose", transpose),
    Row("strided_slice", strided_slice),
    Row("concat", concat),
    Row("split", split),
    Row("split_in_arena", split_in_arena),
    Row("pad_s8", lambda rng: _pad(rng, DType.s8)),
    Row("pad_s16", lambda rng: _pad(rng, DType.s16)),
    Row("reshape_copy", reshape_copy),
    Row("reshape_view", reshape_view),
]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def test_reshape_emits_copy_only_when_the_plan_copies():
    rng = np.random.default_rng(3)
    assert "ff_copy(" in generate(reshape_copy(rng), "m").files["m.c"]
    g = reshape_view(rng)
    src = generate(g, "m")
    assert src.plan.buffer(g.nodes[1].y) is src.plan.buffer(g.nodes[0].y)
    assert "ff_copy(" not in src.files["m.c"]


def test_simplified_transpose_is_the_same_permutation():
    rng = np.random.default_rng(11)
    for _ in range(200):
        shape = _dims(rng, int(rng.integers(1, 7)), 5)
        perm = tuple(int(d) for d in rng.permutation(len(shape)))
        x = np.arange(math.prod(shape)).reshape(shape)
        dims, strides = simplify_transpose(shape, perm)
        got = np.lib.stride_tricks.as_strided(x.ravel(), dims, [s * x.itemsize for s in strides])
        assert np.array_equal(got.ravel(), x.transpose(perm).ravel()), (shape, perm)


def test_simplified_pad_is_the_same_padding():
    rng = np.random.default_rng(12)
    for _ in range(200):
        shape = _dims(rng, int(rng.integers(1, 7)), 5)
        pads = [(int(rng.integers(0, 3)) * (rng.random() < 0.5),
                 int(rng.integers(0, 3)) * (rng.random() < 0.5)) for _ in shape]
        x = np.arange(1, math.prod(shape) + 1).reshape(shape)
        dims, merged = simplify_pad(shape, pads)
        got = np.pad(x.reshape(dims), merged) if dims else x
        assert np.array_equal(got.ravel(), np.pad(x, pads).ravel()), (shape, pads)


def test_simplified_slice_is_the_same_slice():
    rng = np.random.default_rng(13)
    for _ in range(300):
        shape = _dims(rng, int(rng.integers(1, 7)), 6)
        bounds = [_axis_slice(rng, n) for n in shape]
        x = np.arange(math.prod(shape)).reshape(shape)
        want = x[tuple(slice(a, None if b < 0 else b, s) for a, b, s in bounds)]
        dims, strides, start = simplify_slice(shape, [b[0] for b in bounds],
                                              [b[2] for b in bounds], want.shape)
        got = np.array([x.ravel()[start + sum(i * s for i, s in zip(idx, strides, strict=True))]
                        for idx in np.ndindex(*dims)])
        assert np.array_equal(got.ravel(), want.ravel()), (shape, bounds)


def test_strided_slice_refuses_what_it_cannot_describe():
    x = Value("x", (1, 4, 6), DType.s8, QuantParams.per_tensor(0.1, 3))
    ok = dict(starts=(0, 0, 5), stops=(1, 4, -1), steps=(1, 1, -2))
    for bad, match in [(dict(starts=(0, 1)), "starts/stops/steps"),
                       (dict(stops=(2, 4, -1)), "batch"), (dict(steps=(1, 0, -2)), "step 0"),
                       (dict(stops=(1, 0, -1)), "empty"), (dict(starts=(0, -1, 5)), "leaves"),
                       (dict(shrink=(1,)), "shrink")]:
        with pytest.raises(IRError, match=match):
            single(StridedSlice, "ss", [x], x.quant, **{**ok, **bad})
    with pytest.raises(IRError, match="TFLM copies bytes"):
        single(StridedSlice, "ss", [x], QuantParams.per_tensor(0.2, 3), **ok)


def test_unsupported_dtypes_raise():
    x = Value("x", (1, 2, 3), DType.f32)
    with pytest.raises(UnsupportedOpError, match="transpose"):
        generate(single(Transpose, "t", [x], None, perm=(0, 2, 1)), "m")
    with pytest.raises(UnsupportedOpError, match="pad"):
        generate(single(Pad, "p", [x], None, pads=((0, 0), (1, 0), (0, 1))), "m")


def test_data_movement_is_clean_under_sanitizers():
    """Pad -> Transpose -> Reshape (a view) -> Concat of it with itself, with ASan + UBSan."""
    rng = np.random.default_rng(23)
    q = act_quant(rng)
    x = Value("x", (1, 3, 4, 5), DType.s8, q)
    pad = make_node(Pad, "pad", [x], ["p"], pads=((0, 0), (1, 2), (0, 0), (3, 1)))
    pad.y.quant = q
    tr = make_node(Transpose, "tr", pad.outputs, ["t"], perm=(0, 3, 1, 2))
    rs = make_node(Reshape, "rs", tr.outputs, ["r"], shape=(1, 9, 24))
    tr.y.quant = rs.y.quant = q
    cat = make_node(Concat, "cat", [rs.y, rs.y], ["y"], axis=2)
    cat.y.quant = q
    g = Graph("moves", [pad, tr, rs, cat], [x], cat.outputs)
    g.validate()
    xs = rng.integers(-128, 128, (3, *x.shape[1:])).astype(np.int8)
    (want,), _ = reference.run(g, [xs])
    assert np.array_equal(run_native(generate(g, "moves"), g, [xs])[0], want)
