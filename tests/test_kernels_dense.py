"""Dense kernels == reference on random shapes (one row per op).

Dense int8: the shapes and quantization of matmul_cases.py, so that blocks of 8 channels,
leftover pairs, odd channels, long depths and the requantization's two paths all run; in one row
for the blocked kernels (ff_dense_s8 and its _fast entry: layers of at least COMPACT_MACS
multiply-accumulates), in another for ff_dense_s8_compact (the smaller ones).

BatchMatMul: ranks 3 to 5 with batch dims broadcasting on either side, adj_x / adj_y, a third of
the cases with a constant operand (first or second, sometimes of lower rank) read from constant
memory, zero points anywhere and output scales around the accumulator's spread (both clamps).
"""

import collections
import math
import zlib

import matmul_cases as mc
import numpy as np
import pytest

from firmforge.converter.ir import Act, DType, QuantParams, Value, const
from firmforge.converter.ops.dense import BatchMatMul, Dense
from firmforge.targets.c.emit import lower
from firmforge.targets.c.emit_dense import COMPACT_MACS

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


def _dense_s8(rng: np.random.Generator, least: int = 0):
    """A matmul_cases.py layer: depths from 1 to two chunks of inputs, output counts with blocks
    of 8 and leftover pairs, 1 to 8 rows, zero points and scales at the edges; with ``least``,
    rows are added until the layer has at least that many multiply-accumulates."""
    shape = mc.Shape.draw(rng)
    k = mc.depth(rng, shape)
    o = mc.outs(rng, k, shape)
    lead = [(1,), (1,), (1, 3), (1, 2, 4)][rng.integers(4)]
    if k * o * math.prod(lead) < least:
        lead = (1, -(-least // (k * o)))
    xq = mc.in_quant(rng)
    x = Value("x", (*lead, k), DType.s8, xq)
    w = mc.weights(rng, (o, k))
    b = (rng.integers(-(1 << 31), 1 << 31, o, dtype=np.int64) if rng.random() < 0.1
         else rng.integers(-2000, 2001, o))
    return single(Dense, "dense", [x, w, const("b", b.astype(np.int32), DType.s32)],
                  mc.out_quant(rng, xq, w.quant, k, shape), act=mc.act(rng, shape))


def dense_s8(rng: np.random.Generator):
    """The blocked kernels, ff_dense_s8 and ff_dense_s8_fast (layers of COMPACT_MACS or more)."""
    return _dense_s8(rng, least=COMPACT_MACS)


def dense_s8_compact(rng: np.random.Generator):
    """ff_dense_s8_compact: the layers of _dense_s8 below COMPACT_MACS (a third of the draws),
    -128 weights included (the compact kernel reads them as plain int8)."""
    while True:
        g = _dense_s8(rng)
        if g.nodes[0].macs() < COMPACT_MACS:
            return g


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


ROWS = [Row("dense_s8", dense_s8), Row("dense_s8_compact", dense_s8_compact),
        Row("dense_s8_s4", dense_s8_s4), Row("batch_matmul_s8", batch_matmul_s8)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def _kernels(row: Row, seed: str, count: int) -> collections.Counter:
    """The kernels the cases of ``row`` drawn as the harness draws them (``seed``) lower to."""
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    return collections.Counter(lower(row.build(rng).nodes[0]).fn for _ in range(count))


@pytest.mark.parametrize(("seed", "count"), [("{}", 50), ("{} on qemu-mps2-an386", 200),
                                             ("{} on qemu-mps2-an505", 200)])
def test_rows_reach_every_variant(seed, count):
    """The host table and the DSP boards' tables run each entry point on several cases."""
    rows = {r.name: r for r in ROWS}
    blocked = _kernels(rows["dense_s8"], seed.format("dense_s8"), count)
    assert blocked["ff_dense_s8"] >= 5 and blocked["ff_dense_s8_fast"] >= 5, blocked
    # (a layer of one output channel takes the compact kernel at any size)
    assert set(blocked) <= {"ff_dense_s8", "ff_dense_s8_fast", "ff_dense_s8_compact",
                            "ff_conv2d_s8"}, blocked
    compact = _kernels(rows["dense_s8_compact"], seed.format("dense_s8_compact"), count)
    assert set(compact) == {"ff_dense_s8_compact"}, compact


def _layer(k: int, o: int, rows: int = 1, act: Act = Act.NONE, zp: int = 3,
           w: np.ndarray | None = None, small_mult: bool = True) -> Dense:
    """A Dense of k inputs, o outputs and ``rows`` rows; multipliers far below 1/4 (right
    shifts of at least 2) unless ``small_mult`` is False (then about 1)."""
    rng = np.random.default_rng(k * 100 + o)
    xq = QuantParams.per_tensor(0.05, 0)
    wv = rng.integers(-127, 128, (o, k)) if w is None else w
    wq = QuantParams(np.full(o, 0.01, np.float32), np.zeros(o), 0)
    yq = QuantParams.per_tensor(0.05 * 0.01 * (1000 if small_mult else 1), zp)
    x = Value("x", (rows, k), DType.s8, xq)
    g = single(Dense, "fc", [x, const("w", wv.astype(np.int8), DType.s8, wq),
                             const("b", np.zeros(o, np.int32), DType.s32)], yq, act=act)
    return g.nodes[0]


def test_dense_variant_is_chosen_at_conversion():
    """Below COMPACT_MACS the compact kernel; above, ff_dense_s8_fast exactly when its Cortex-M
    assembly computes the whole layer (in % 4 == 0, full output range, right shifts >= 2),
    else ff_dense_s8; weights the pairs cannot hold, the general convolution."""
    assert lower(_layer(64, 12)).fn == "ff_dense_s8_compact"  # kws_ref_model's classifier
    assert lower(_layer(64, 16)).fn == "ff_dense_s8_fast"
    assert lower(_layer(8, 128)).fn == "ff_dense_s8_fast"  # 1024 MACs: not below the bound
    assert lower(_layer(4, 64, rows=4)).fn == "ff_dense_s8_fast"  # MACs count every row
    assert lower(_layer(66, 16)).fn == "ff_dense_s8"  # in % 4 != 0
    assert lower(_layer(64, 16, act=Act.RELU, zp=-100)).fn == "ff_dense_s8"  # a clamp
    assert lower(_layer(64, 16, small_mult=False)).fn == "ff_dense_s8"  # right shift < 2
    w = np.ones((16, 64), np.int64)
    w[1, 0], w[0, 0] = -128, -5  # the pair (0, 1) does not fit int16
    assert lower(_layer(64, 16, w=w)).fn == "ff_conv2d_s8"
    assert lower(_layer(64, 12, w=w[:12])).fn == "ff_dense_s8_compact"  # plain int8 weights
