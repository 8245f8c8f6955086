"""Mean kernel (int8) == reference: random shapes of rank 2..4, every combination of reduced
axes (adjacent or not, keepdims or not), same or different input/output parameters."""

from __future__ import annotations

import itertools

import pytest

from firmforge.converter.ir import DType, Value
from firmforge.converter.ops.reduce import Mean

from cases import Row, act_quant, single
from kernel_harness import check_row


def mean_s8(rng):
    rank = int(rng.integers(2, 5))
    shape = (1, *(int(rng.choice([1, 2, 3, 5, 9, 16])) for _ in range(rank - 1)))
    choices = [c for r in range(1, rank) for c in itertools.combinations(range(1, rank), r)]
    axes = choices[int(rng.integers(len(choices)))]
    if rng.random() < 0.3:  # negative axes
        axes = tuple(a - rank for a in axes)
    xq = act_quant(rng)
    yq = xq if rng.random() < 0.3 else act_quant(rng)
    keepdims = bool(rng.integers(2))
    if len(axes) == rank - 1:
        # A rank-1 output (batch only) cannot pass through HostModel.run yet (it hands cffi a
        # numpy scalar per sample), so reducing every axis keeps the dimensions here.
        keepdims = True
    return single(Mean, "mean", [Value("x", shape, DType.s8, xq)], yq, axes=axes,
                  keepdims=keepdims)


def mean_s8_global(rng):
    """Global average pools: large counts, keepdims as TFLite writes them."""
    shape = (1, int(rng.integers(1, 33)), int(rng.integers(1, 33)), int(rng.integers(1, 20)))
    return single(Mean, "gap", [Value("x", shape, DType.s8, act_quant(rng))], act_quant(rng),
                  axes=(1, 2), keepdims=bool(rng.integers(2)))


ROWS = [Row("mean_s8", mean_s8), Row("mean_s8_global", mean_s8_global)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)
