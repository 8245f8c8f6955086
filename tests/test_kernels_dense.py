"""Dense kernels == reference on random shapes (one row per op).

Dense int8 (ff_dense_s8): the shapes and quantization of matmul_cases.py, so that blocks of 8
channels, leftover pairs, odd channels, long depths and the requantization's two paths all run.

BatchMatMul: ranks 3 to 5 with batch dims broadcasting on either side, adj_x / adj_y, a third of
the cases with a constant operand (first or second, sometimes of lower rank) read from constant
memory, zero points anywhere and output scales around the accumulator's spread (both clamps).
"""

import math

import matmul_cases as mc
import numpy as np
import pytest

from firmforge.converter.ir import Act, DType, QuantParams, Value, const
from firmforge.converter.ops.dense import BatchMatMul, Dense

from cases import S4_MEAN_ABS, Row, act_quant, bias, out_quant_for_acc, single, weights, weights_s4
from kernel_harness import check_row


def _dense(rng: np.random.Generator, int4: bool):
    k = int(rng.choice([1, 2, 3, 7, 16, 33, 64, 100, 257]))
    o = int(rng.choice([1, 2, 5, 10, 31, 64]))
    lead = [(1,), (1, 3), (1, 2, 4)][rng.integers(3)]
    xq = act_quant(rng)
    x = Value("x", (*lead, k), DType.s8, xq)
    w = weights_s4(rng, (o, k), axis=0) if int4 else weights(rng, (o, k), axis=0)
    yq = out_quant_for_acc(rng, xq, w.quant, k, S4_MEAN_ABS if int4 else 73.0)
    b = bias(rng, o, spread=2000)
    act = [Act.NONE, Act.RELU, Act.RELU6][rng.integers(3)]
    return single(Dense, "dense", [x, w, b], yq, act=act)


def dense_s8(rng: np.random.Generator):
    """ff_dense_s8 (matmul_cases.py): depths from 1 to two chunks of inputs, output counts
    with blocks of 8 and leftover pairs, 1 to 8 rows, zero points and scales at the edges."""
    shape = mc.Shape.draw(rng)
    k = mc.depth(rng, shape)
    o = mc.outs(rng, k, shape)
    lead = [(1,), (1,), (1, 3), (1, 2, 4)][rng.integers(4)]
    xq = mc.in_quant(rng)
    x = Value("x", (*lead, k), DType.s8, xq)
    w = mc.weights(rng, (o, k))
    b = (rng.integers(-(1 << 31), 1 << 31, o, dtype=np.int64) if rng.random() < 0.1
         else rng.integers(-2000, 2001, o))
    return single(Dense, "dense", [x, w, const("b", b.astype(np.int32), DType.s32)],
                  mc.out_quant(rng, xq, w.quant, k, shape), act=mc.act(rng, shape))


def dense_s8_s4(rng: np.random.Generator):
    """Packed int4 weights; odd depths make rows start in the middle of a byte."""
    return _dense(rng, int4=True)



def batch_matmul_s8(rng: np.random.Generator):
    adj_x, adj_y = bool(rng.integers(2)), bool(rng.integers(2))
    rows, depth, cols = (int(rng.choice([1, 2, 3, 5, 8, 17])) for _ in range(3))
    rank = int(rng.integers(3, 6))
    batch = (1, *(int(rng.integers(1, 4)) for _ in range(rank - 3)))
    shapes = []
    for mat in ((depth, rows) if adj_x else (rows, depth), (cols, depth) if adj_y else (depth, cols)):
        shapes.append((*(d if rng.random() < 0.7 else 1 for d in batch), *mat))
    qa, qb = act_quant(rng), act_quant(rng)
    which = int(rng.integers(6))  # 0: a constant, 1: b constant, else both activations
    ops = []
    for i, (shape, q) in enumerate(zip(shapes, (qa, qb), strict=True)):
        if which != i:
            ops.append(Value("ab"[i], shape, DType.s8, q))
            continue
        shape = shape[int(rng.integers(len(shape) - 1)):]  # rank 2 up to the output's
        ops.append(const("ab"[i], rng.integers(-128, 128, shape).astype(np.int8), DType.s8, q))
    spread = 150.0 * math.sqrt(depth) * qa.s * qb.s * 74
    yq = QuantParams.per_tensor(spread / float(rng.uniform(15, 150)), int(rng.integers(-128, 128)))
    return single(BatchMatMul, "bmm", ops, yq, adj_x=adj_x, adj_y=adj_y)


ROWS = [Row("dense_s8", dense_s8), Row("dense_s8_s4", dense_s8_s4),
        Row("batch_matmul_s8", batch_matmul_s8)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)
