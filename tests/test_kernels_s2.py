"""Kernel table rows for packed int2 weights: ff_dense_s8_s2, ff_conv2d_s8_s2 and
ff_dwconv2d_s8_s2 == the reference on random shapes (the int4 rows' geometry, every 2-bit value
in [-2, 1], odd depths so rows and filters start inside a byte)."""

from __future__ import annotations

import numpy as np
import pytest
from test_kernels_conv import conv2d_s8_s4, dwconv2d_s8_s4
from test_kernels_dense import dense_s8_s4

from firmforge.converter.encoding import Packed
from firmforge.converter.ir import DType, Graph, QuantParams, Value

from cases import Row
from kernel_harness import check_row


def _as_s2(build):
    """The int4 row's case with its weights redrawn in [-2, 1] (a quarter of int4's mean
    magnitude, so the output scale shrinks by 4 to keep the outputs spread)."""

    def s2(rng: np.random.Generator) -> Graph:
        g = build(rng)
        node = g.nodes[0]
        w = node.inputs[1]
        data = rng.integers(-2, 2, w.shape).astype(np.int8)
        node.inputs[1] = Value(w.name, w.shape, DType.s2, w.quant, data, Packed())
        y = node.outputs[0]
        y.quant = QuantParams.per_tensor(y.quant.s / 4, y.quant.zp)
        return g

    s2.__name__ = build.__name__.replace("_s4", "_s2")
    return s2


ROWS = [Row("dense_s8_s2", _as_s2(dense_s8_s4)), Row("conv2d_s8_s2", _as_s2(conv2d_s8_s4)),
        Row("dwconv2d_s8_s2", _as_s2(dwconv2d_s8_s4))]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)
