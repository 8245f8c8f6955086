"""Quantize / Dequantize kernels == reference: f32 -> s8 (including saturation, infinities and
NaN), s8 -> s8 requantization over a wide range of scale ratios, the requantizations to and from
int32 (int32 data and zero points over their whole range, so the int32 subtraction and addition
wrap), s8 -> f32. (The s8/s16 pairs are rows of test_kernels_16x8.py.)"""

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


def _int_quant(rng: np.random.Generator, dtype: DType) -> QuantParams:
    """Parameters of an integer value; int32 zero points anywhere in int32 in a third of the
    cases (TFLM reads them as int32 and wraps the arithmetic on them)."""
    if dtype is DType.s32:
        zp = int(rng.integers(-(1 << 31), 1 << 31)) if rng.random() < 0.33 else 0
        return QuantParams.per_tensor(float(rng.uniform(1e-8, 1e-6)), zp)
    return act_quant(rng, dtype)


def requantize(src: DType, dst: DType):
    """Scale ratios from 1/20 to 20 times the one that maps the input's range onto the
    output's (a third of the s32 -> s8/s16 cases and the s8/s16 -> s32 ones reach the wrap)."""
    def build(rng):
        xq = _int_quant(rng, src)
        fit = float(1 << (dst.bits - 1)) / float(1 << (src.bits - 1))
        ratio = fit * float(np.exp(rng.uniform(np.log(0.05), np.log(20))))
        yq = _int_quant(rng, dst)
        yq = QuantParams.per_tensor(xq.s / ratio, yq.zp)
        return single(Quantize, "requantize", [Value("x", _shape(rng), src, xq)], yq, dtype=dst)
    return build


def dequantize_s8_f32(rng):
    return single(Dequantize, "dequantize", [Value("x", _shape(rng), DType.s8, act_quant(rng))],
                  None)


# Integer in, integer out: these also run under the sanitizers (test_sanitizers.py), whose
# firmware runner reads and prints integers only.
ROWS = [Row("quantize_s8_s8", quantize_s8_s8),
        *(Row(f"quantize_{a.value}_{b.value}", requantize(a, b)) for a, b in
          [(DType.s8, DType.s32), (DType.s16, DType.s32), (DType.s32, DType.s8),
           (DType.s32, DType.s16)])]


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
