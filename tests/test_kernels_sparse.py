"""Compressed-weight kernels (ff_sparse.h) == reference on random shapes, one row per op and
storage format: Dense and Conv2d (groups 1) with int8 or int4 weights stored Bitmask, CSR, N:M
or Codebook, and int8 weights stored BlockCSR.

Every case draws its weights' sparsity: none (every weight nonzero), about half, about 90%,
all zero, or any density, and then some rows all zero and some fully dense. N:M cases draw n:m
from 2:4, 1:4, 1:2, 3:8, 1:10, 2:16, 4:4 and 1:256 (groups with fewer nonzeros than n, rows
ending mid-group); codebook cases a table of 2 to 256 distinct int8 values (2 to 16 int4 ones)
and index widths from the smallest that holds it up to 8 bits. Depths cross 256 columns (CSR's
uint16 indices), input zero points sit at the extremes a third of the time, a channel's
multiplier flushes to 0 now and then (its stored weights stay nonzero), and Conv2d geometries are
test_kernels_conv's (strides, dilations, padding wider than the window). The cases are
one-node graphs, so the same rows run in QEMU (test_kernels_on_boards.py). BlockCSR cases zero
whole blocks of 4 rows x 1 column at the drawn density (some 4-row groups all zero, some
fully dense; the last group cut short when the rows are not a multiple of 4), and now and then
single weights inside the kept blocks too, with int8 weights down to -128.
"""

from __future__ import annotations

import math

import matmul_cases as mc
import numpy as np
import pytest
from test_kernels_conv import geometry

from firmforge.converter.encoding import CSR, NM, Bitmask, BlockCSR, Codebook, Encoding
from firmforge.converter.encoding import Dense as Plain
from firmforge.converter.ir import Act, DType, Graph, IRError, QuantParams, Value, const
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d
from firmforge.converter.ops.dense import Dense
from firmforge.targets.c.emit import UnsupportedOpError, lower

from cases import Row, act_quant, bias, out_quant_for_acc, single
from kernel_harness import check_row

NM_PATTERNS = [(2, 4), (2, 4), (1, 4), (1, 2), (3, 8), (1, 10), (2, 16), (4, 4), (1, 256)]
DENSE_DEPTHS = [1, 2, 3, 7, 8, 16, 33, 64, 100, 255, 256, 257, 300, 600]
DENSE_OUTS = [1, 2, 3, 5, 8, 16, 17, 33]
ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6]


def _range(dtype: DType) -> tuple[int, int]:
    return (-127, 127) if dtype is DType.s8 else (-8, 7)


def _nonzero(rng: np.random.Generator, shape: tuple[int, ...], dtype: DType) -> np.ndarray:
    """Integers of ``dtype`` none of which is 0."""
    lo, hi = _range(dtype)
    v = rng.integers(lo, hi, shape)
    return np.where(v >= 0, v + 1, v)  # [lo, hi - 1] -> [lo, -1] + [1, hi]


def _density(rng: np.random.Generator) -> float:
    return float(rng.choice([1.0, 0.5, 0.1, 0.0, rng.random()]))


def _unstructured(rng: np.random.Generator, rows: int, cols: int, dtype: DType) -> np.ndarray:
    """A (rows, cols) matrix of the drawn density, some rows all zero, some fully dense."""
    keep = rng.random((rows, cols)) < _density(rng)
    for r in range(rows):
        u = rng.random()
        keep[r] = False if u < 0.1 else (True if u < 0.2 else keep[r])
    return _nonzero(rng, (rows, cols), dtype) * keep


def _blocked(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """int8 weights with whole 4x1 blocks zero at the drawn density: some 4-row groups all
    zero, some fully dense, sometimes zeros inside the kept blocks, a few weights -128."""
    groups = -(-rows // 4)
    keep = rng.random((groups, cols)) < _density(rng)
    for g in range(groups):
        u = rng.random()
        keep[g] = False if u < 0.1 else (True if u < 0.2 else keep[g])
    keep = np.repeat(keep, 4, axis=0)[:rows]
    if rng.random() < 0.3:
        keep &= rng.random((rows, cols)) < 0.7
    w = _nonzero(rng, (rows, cols), DType.s8)
    if rng.random() < 0.3:
        w[rng.random((rows, cols)) < 0.05] = -128
    return w * keep


def _nm(rng: np.random.Generator, rows: int, cols: int, dtype: DType, n: int, m: int
        ) -> np.ndarray:
    """At most n nonzeros in every group of m columns (the last group cut at ``cols``); a group
    holds n of them mostly, fewer now and then."""
    groups = -(-cols // m)
    full = rng.random() < 0.7
    keep = np.zeros((rows, groups, m), bool)
    for r in range(rows):
        for g in range(groups):
            k = n if full and rng.random() < 0.9 else int(rng.integers(0, n + 1))
            keep[r, g, rng.choice(m, k, replace=False)] = True
    keep = keep.reshape(rows, groups * m)[:, :cols]
    return _nonzero(rng, (rows, cols), dtype) * keep


def _codebook(rng: np.random.Generator, rows: int, cols: int, dtype: DType
              ) -> tuple[np.ndarray, int]:
    """Values from a table of 2..256 (int4: 2..16) distinct entries, and index bits that hold
    the table (sometimes more than needed)."""
    lo, hi = _range(dtype)
    if dtype is DType.s8:
        lo = -128  # a codebook may hold every int8 value
    size = int(rng.choice([2, 3, 4, 5, 16, 17, 100, 255, 256])) if dtype is DType.s8 \
        else int(rng.integers(2, 17))
    table = rng.choice(np.arange(lo, hi + 1), min(size, hi - lo + 1), replace=False)
    bits = max(1, math.ceil(math.log2(table.size)))
    if rng.random() < 0.2:
        bits = int(rng.integers(bits, 9))
    return table[rng.integers(0, table.size, (rows, cols))], bits


def stored_weights(rng: np.random.Generator, shape: tuple[int, ...], fmt: type[Encoding]
                   ) -> Value:
    """Per-channel symmetric weights (axis 0) of a random dtype (int8, int4 a third of the time;
    BlockCSR: int8) stored in ``fmt``, with a random sparsity pattern or codebook."""
    dtype = DType.s4 if rng.random() < 1 / 3 and fmt is not BlockCSR else DType.s8
    rows, cols = shape[0], math.prod(shape[1:])
    if fmt is BlockCSR:
        data, enc = _blocked(rng, rows, cols), BlockCSR()
    elif fmt is NM:
        n, m = NM_PATTERNS[rng.integers(len(NM_PATTERNS))]
        data, enc = _nm(rng, rows, cols, dtype, n, m), NM(n, m)
    elif fmt is Codebook:
        data, bits = _codebook(rng, rows, cols, dtype)
        enc = Codebook(bits)
    else:
        data, enc = _unstructured(rng, rows, cols, dtype), fmt()
    scales = rng.uniform(0.002, 0.02, rows) * (8.0 if dtype is DType.s4 else 1.0)
    if rows > 1 and rng.random() < 0.1:  # a channel whose multiplier flushes to 0
        scales[int(rng.integers(rows))] = 1e-30
    q = QuantParams(scales.astype(np.float32), np.zeros(rows), 0)
    return Value("w", shape, dtype, q, data.reshape(shape).astype(np.int8), enc)


def _out_quant(rng: np.random.Generator, xq: QuantParams, w: Value) -> QuantParams:
    """An output scale around the accumulator's spread at the weights' own density."""
    rows = w.data.reshape(w.shape[0], -1)
    nnz = max(1.0, float(np.count_nonzero(rows)) / rows.shape[0])
    mean_abs = float(np.abs(rows[rows != 0].astype(np.int64)).mean()) if np.any(rows) else 1.0
    return out_quant_for_acc(rng, xq, w.quant, math.ceil(nnz), mean_abs)


def _bias(rng: np.random.Generator, o: int) -> Value:
    if rng.random() < 0.1:  # large biases: the folded bias' wraps modulo 2**32
        return const("b", rng.integers(-(1 << 29), 1 << 29, o).astype(np.int32), DType.s32)
    return bias(rng, o, spread=2000)


def _dense(fmt: type[Encoding]):
    def build(rng: np.random.Generator) -> Graph:
        k = int(rng.choice(DENSE_DEPTHS))
        o = int(rng.choice(DENSE_OUTS))
        lead = [(1,), (1,), (1, 3)][rng.integers(3)]
        xq = mc.in_quant(rng)
        x = Value("x", (*lead, k), DType.s8, xq)
        w = stored_weights(rng, (o, k), fmt)
        return single(Dense, "dense", [x, w, _bias(rng, o)], _out_quant(rng, xq, w),
                      act=ACTS[rng.integers(len(ACTS))])
    build.__name__ = f"dense_{fmt.__name__.lower()}"
    return build


def _conv2d(fmt: type[Encoding]):
    def build(rng: np.random.Generator) -> Graph:
        g = geometry(rng)
        ci = int(rng.choice([1, 2, 3, 5, 8, 13, 32]))
        o = int(rng.choice([1, 2, 3, 4, 7, 16]))
        xq = act_quant(rng) if rng.random() < 0.5 else mc.in_quant(rng)
        x = Value("x", (1, g.h, g.w, ci), DType.s8, xq)
        w = stored_weights(rng, (o, *g.kernel, ci), fmt)
        return single(Conv2d, "conv", [x, w, _bias(rng, o)], _out_quant(rng, xq, w),
                      stride=g.stride, dilation=g.dilation, padding=g.padding,
                      act=ACTS[rng.integers(len(ACTS))])
    build.__name__ = f"conv2d_{fmt.__name__.lower()}"
    return build


FORMATS = [Bitmask, CSR, BlockCSR, NM, Codebook]
# named after the kernel family (ff_sparse.h), so `-k sparse` selects them in every table
ROWS = [Row(f"dense_sparse_{f.__name__.lower()}", _dense(f)) for f in FORMATS] + \
       [Row(f"conv2d_sparse_{f.__name__.lower()}", _conv2d(f)) for f in FORMATS]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def test_rows_reach_every_kernel():
    """Across the rows' draws, every compressed kernel entry point runs (int4 and int8
    weights, (block) CSR's uint8 and uint16 columns), and padded convolutions gather into
    scratch."""
    import zlib

    seen, scratch = set(), False
    for row in ROWS:
        rng = np.random.default_rng(zlib.crc32(row.name.encode()))
        for _ in range(row.count):
            k = lower(row.build(rng).nodes[0])
            seen.add(k.fn)
            scratch |= k.scratch > 0
    want = {f"ff_{op}_{w}_{fmt}" for op in ("dense", "conv2d") for w in ("s8", "s8_s4")
            for fmt in ("bitmask", "csr", "csr16", "nm", "codebook")} \
        | {f"ff_{op}_s8_{fmt}" for op in ("dense", "conv2d") for fmt in ("bcsr", "bcsr16")}
    assert seen == want, want ^ seen
    assert scratch


def _layer(w: np.ndarray, enc: Encoding, dtype: DType = DType.s8, scale: float = 0.01) -> Dense:
    o, k = w.shape
    xq = QuantParams.per_tensor(0.05, 3)
    wq = QuantParams(np.full(o, scale, np.float32), np.zeros(o), 0)
    x = Value("x", (1, k), DType.s8, xq)
    return single(Dense, "fc", [x, Value("w", (o, k), dtype, wq, w.astype(np.int8), enc),
                                const("b", np.zeros(o, np.int32), DType.s32)],
                  QuantParams.per_tensor(0.5, 0)).nodes[0]


def test_unsupported_layouts_are_refused_by_name():
    w = np.eye(4, 8, dtype=np.int64)
    with pytest.raises(UnsupportedOpError, match="axis 0"):
        lower(_layer(w, CSR(axis=1)))
    with pytest.raises(UnsupportedOpError, match="more than 65536"):
        lower(_layer(np.eye(2, 70000, dtype=np.int64), CSR()))
    with pytest.raises(UnsupportedOpError, match="more than 65536"):
        lower(_layer(np.eye(5, 70000, dtype=np.int64), BlockCSR()))
    with pytest.raises(UnsupportedOpError, match="axis 0"):
        lower(_layer(np.eye(4, 8, dtype=np.int64), BlockCSR(axis=1)))
    int4 = _layer(w, Plain(), DType.s4)  # (a Value refuses the pair: set past its check)
    int4.inputs[1].encoding = BlockCSR()
    with pytest.raises(UnsupportedOpError, match=r"fc: .*s4 weights stored block csr.*int8 "
                                                 r"weights only"):
        lower(int4)
    xq = QuantParams.per_tensor(0.05, 0)
    x = Value("x", (1, 5, 5, 4), DType.s8, xq)
    wq = QuantParams(np.full(4, 0.01, np.float32), np.zeros(4), 0)
    wv = Value("w", (4, 3, 3, 2), DType.s8, wq, np.ones((4, 3, 3, 2), np.int8), Bitmask())
    g = single(Conv2d, "grouped", [x, wv, const("b", np.zeros(4, np.int32), DType.s32)],
               QuantParams.per_tensor(0.5, 0), groups=2)
    with pytest.raises(UnsupportedOpError, match=r"grouped.*2 groups"):
        lower(g.nodes[0])
    dw = Value("w", (1, 3, 3, 4), DType.s8, QuantParams(np.full(4, 0.01, np.float32),
                                                        np.zeros(4), 3),
               np.ones((1, 3, 3, 4), np.int8), Bitmask(axis=3))
    g = single(DepthwiseConv2d, "dw", [x, dw, const("b", np.zeros(4, np.int32), DType.s32)],
               QuantParams.per_tensor(0.5, 0))
    with pytest.raises(UnsupportedOpError, match=r"dw.*stored bitmask"):
        lower(g.nodes[0])


def test_data_that_breaks_a_format_names_the_constant():
    w = np.ones((2, 8), np.int64)
    with pytest.raises(IRError, match=r"'w'.*2:4 sparse.*pattern broken: row 0"):
        _layer(w, NM(2, 4))
    with pytest.raises(IRError, match=r"'w'.*holds 2 values.*3 distinct"):
        _layer(np.array([[1, 2, 3, 1]]), Codebook(1))
