"""Quantize / Dequantize kernels == reference: f32 -> s8 (including saturation, infinities and
NaN), s8 -> s8 requantization over a wide range of scale ratios, s8 -> f32."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import DType, Graph, QuantParams, Value
from firmforge.converter.ops.quant import Dequantize, Quantize
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row, act_quant, single
from kernel_harness import check_row


def _shape(rng: np.random.Generator) -> tuple[int, ...]:
    rank = int(rng.integers(2, 5))
    return (1, *(int(rng.choice([1, 2, 5, 8, 31])) for _ in range(rank - 1)))


def quantize_f32_s8(rng):
    return single(Quantize, "quantize", [Value("x", _shape(rng), DType.f32)], act_quant(rng),
                  dtype=DType.s8)


def quantize_s8_s8(rng):
    xq = act_quant(rng)
    ratio = float(np.exp(rng.uniform(np.log(1e-3), np.log(300))))
    yq = QuantParams.per_tensor(xq.s / ratio, int(rng.integers(-128, 128)))
    return single(Quantize, "requantize", [Value("x", _shape(rng), DType.s8, xq)], yq,
                  dtype=DType.s8)


def dequantize_s8_f32(rng):
    return single(Dequantize, "dequantize", [Value("x", _shape(rng), DType.s8, act_quant(rng))],
                  None)


# Integer in, integer out: these also run under the sanitizers (test_sanitizers.py), whose
# firmware runner reads and prints integers only.
ROWS = [Row("quantize_s8_s8", quantize_s8_s8)]


@pytest.mark.parametrize("row", [*ROWS, Row("dequantize_s8_f32", dequantize_s8_f32)], ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def _float_inputs(rng: np.random.Generator, g: Graph, batch: int) -> np.ndarray:
    """Values around the quantization grid, exact ties, far out of range, +-inf and NaN."""
    v, yq = g.inputs[0], g.nodes[0].y.quant
    n = batch * v.size
    x = rng.normal(0, 100 * yq.s, n).astype(np.float32)
    ties = (rng.integers(-200, 200, n) + 0.5).astype(np.float32) * np.float32(yq.s)
    pick = rng.integers(0, 10, n)
    x = np.where(pick < 3, ties, x)
    x = np.where(pick == 3, rng.choice(np.float32([np.inf, -np.inf, np.nan, 3e38, -3e38,
                                                   1e9, -1e9]), n), x)
    return x.astype(np.float32).reshape(batch, *v.shape[1:])


def test_quantize_f32_s8():
    row = Row("quantize_f32_s8", quantize_f32_s8)
    rng = np.random.default_rng(zlib.crc32(row.name.encode()))
    graphs = [row.build(rng) for _ in range(row.count)]
    models = host.build([(generate(g, f"{row.name}_{i}"), g) for i, g in enumerate(graphs)])
    for g, m in zip(graphs, models, strict=True):
        x = _float_inputs(rng, g, 3)
        want, _ = reference.run(g, [x])
        got = m.run(x)[0]
        assert np.array_equal(got, want[0]), (g, x[got != want[0]], got[got != want[0]])
