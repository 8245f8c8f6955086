"""Dense kernels == reference on random shapes (one row per op)."""

import numpy as np
import pytest

from firmforge.converter.ir import Act, DType, Value
from firmforge.converter.ops.dense import Dense

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
    return _dense(rng, int4=False)


def dense_s8_s4(rng: np.random.Generator):
    """Packed int4 weights; odd depths make rows start in the middle of a byte."""
    return _dense(rng, int4=True)


ROWS = [Row("dense_s8", dense_s8), Row("dense_s8_s4", dense_s8_s4)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)
