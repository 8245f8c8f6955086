"""Pooling kernels == reference on random windows (int8 and int16 rows).

Windows of 1..5 per side, strides 1..3 (so windows overlap, tile or skip input), padding on each
side up to kernel - 1 (the IR's limit, where border windows cover a single row or column), images
from barely one window to several, channel counts across the kernels' 16-channel blocks, and
every fused activation.
"""

from __future__ import annotations

import collections
import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.pool import AvgPool2d, MaxPool2d, Pool2d
from firmforge.targets.c.emit import UnsupportedOpError, lower
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

from cases import Row, act_quant, act_quant_extreme, single
from kernel_harness import check_row

ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]


def _pool_graph(rng: np.random.Generator, cls: type[Pool2d], dtype: DType) -> Graph:
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = Padding(*(int(rng.integers(0, kk)) for kk in (k[0], k[0], k[1], k[1])))
    h = int(rng.integers(max(1, k[0] - p.top - p.bottom), k[0] + 9))
    w = int(rng.integers(max(1, k[1] - p.left - p.right), k[1] + 9))
    c = int([1, 2, 3, 8, 16, 17, 40][rng.integers(7)])
    q = act_quant(rng, dtype) if dtype is DType.s16 else act_quant_extreme(rng)
    if dtype is DType.s16 and rng.integers(2):
        # A coarse int16 scale puts RELU6's upper bound inside the range.
        q = QuantParams.per_tensor(float(rng.uniform(0.005, 0.05)), 0)
    x = Value("x", (1, h, w, c), dtype, q)
    act = ACTS[rng.integers(len(ACTS))]
    return single(cls, cls.__name__.lower(), [x], q, kernel=k, stride=s, padding=p, act=act)


def _global_pool(rng: np.random.Generator, cls: type[Pool2d], dtype: DType) -> Graph:
    """Whole-image windows (the classifier heads of keyword and image models), up to 20 x 20:
    more than 255 elements, beyond what a 16-bit lane may sum before it is widened."""
    h, w = int(rng.integers(1, 21)), int(rng.integers(1, 21))
    c = int([1, 3, 4, 5, 17, 64][rng.integers(6)])
    q = act_quant(rng, dtype) if dtype is DType.s16 else act_quant_extreme(rng)
    x = Value("x", (1, h, w, c), dtype, q)
    act = ACTS[rng.integers(len(ACTS))]
    return single(cls, "global", [x], q, kernel=(h, w), stride=(h, w), act=act)


ROWS = [
    Row("avgpool2d_s8", lambda rng: _pool_graph(rng, AvgPool2d, DType.s8)),
    Row("avgpool2d_s8_global", lambda rng: _global_pool(rng, AvgPool2d, DType.s8)),
    Row("maxpool2d_s8_global", lambda rng: _global_pool(rng, MaxPool2d, DType.s8)),
    Row("avgpool2d_s16_global", lambda rng: _global_pool(rng, AvgPool2d, DType.s16)),
    Row("maxpool2d_s8", lambda rng: _pool_graph(rng, MaxPool2d, DType.s8)),
    Row("avgpool2d_s16", lambda rng: _pool_graph(rng, AvgPool2d, DType.s16)),
    Row("maxpool2d_s16", lambda rng: _pool_graph(rng, MaxPool2d, DType.s16)),
]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def _avg_kernel(h: int, w: int, c: int, k: tuple[int, int]) -> str:
    q = QuantParams.per_tensor(0.1, 0)
    x = Value("x", (1, h, w, c), DType.s8, q)
    return lower(single(AvgPool2d, "avg", [x], q, kernel=k, stride=k).nodes[0]).fn


def test_average_pooling_variant_is_chosen_at_conversion():
    """ff_avgpool2d_s8_fast exactly when the DSP path covers the layer: channels a multiple of
    4 and windows of at most 255 elements (what a 16-bit lane sums without widening)."""
    assert _avg_kernel(25, 5, 64, (25, 5)) == "ff_avgpool2d_s8_fast"  # kws_ref_model's head
    assert _avg_kernel(15, 17, 4, (15, 17)) == "ff_avgpool2d_s8_fast"  # 255 elements
    assert _avg_kernel(16, 16, 4, (16, 16)) == "ff_avgpool2d_s8"  # 256 elements
    assert _avg_kernel(8, 8, 6, (2, 2)) == "ff_avgpool2d_s8"  # 6 channels


@pytest.mark.parametrize("name", ["avgpool2d_s8", "avgpool2d_s8_global"])
@pytest.mark.parametrize(("seed", "count"), [("{}", 50), ("{} on qemu-mps2-an386", 200),
                                             ("{} on qemu-mps2-an505", 200)])
def test_rows_reach_every_variant(name, seed, count):
    """The host table and the DSP boards' tables call both int8 average pooling entry points on
    many layers."""
    row = next(r for r in ROWS if r.name == name)
    rng = np.random.default_rng(zlib.crc32(seed.format(name).encode()))
    found = collections.Counter(lower(row.build(rng).nodes[0]).fn for _ in range(count))
    assert found["ff_avgpool2d_s8"] >= 5 and found["ff_avgpool2d_s8_fast"] >= 5, found


def test_average_rounds_half_away_from_zero():
    """A 2x1 window over (1, 2) and (-1, -2) averages to +-1.5: TFLM gives 2 and -2."""
    q = QuantParams.per_tensor(0.1, 0)
    x = Value("x", (1, 2, 1, 2), DType.s8, q)
    g = single(AvgPool2d, "avg", [x], q, kernel=(2, 1), stride=(1, 1))
    (y,) = g.nodes[0].ref([np.array([[[[1, -1]], [[2, -2]]]], np.int8)])
    assert y.ravel().tolist() == [2, -2]


def test_float_pooling_is_unsupported():
    x = Value("x", (1, 4, 4, 2), DType.f32)
    with pytest.raises(UnsupportedOpError, match="maxpool2d"):
        generate(single(MaxPool2d, "mp", [x], None), "m")


def test_pools_are_clean_under_sanitizers():
    """Average then max pooling with clipped border windows, built with ASan + UBSan."""
    rng = np.random.default_rng(22)
    q = act_quant(rng)
    x = Value("x", (1, 9, 7, 20), DType.s8, q)
    avg = AvgPool2d(name="avg", inputs=[x], outputs=[], kernel=(3, 2), stride=(2, 1),
                    padding=Padding(2, 1, 1, 0))
    avg.outputs = [Value("a", avg.infer()[0][0], DType.s8, q)]
    mx = MaxPool2d(name="max", inputs=avg.outputs, outputs=[], kernel=(2, 3), stride=(1, 2),
                   padding=Padding(1, 1, 2, 0), act=Act.RELU)
    mx.outputs = [Value("y", mx.infer()[0][0], DType.s8, q)]
    g = Graph("pools", [avg, mx], [x], mx.outputs)
    g.validate()
    xs = rng.integers(-128, 128, (3, *x.shape[1:])).astype(np.int8)
    (want,), _ = reference.run(g, [xs])
    assert np.array_equal(run_native(generate(g, "pools"), g, [xs])[0], want)


def test_window_count_reciprocals_are_exact():
    """floor(t / n) == (2t * m >> 32) >> c (ff_pool.h) for every t up to 32768.5 n: all t for
    small n, the top of the range and random t up to n = 65534."""
    from firmforge.targets.c.emit_pool import MAX_WINDOW, recip_table

    rng = np.random.default_rng(5)
    table = recip_table(1, MAX_WINDOW).reshape(-1, 2)
    for n in [*range(1, 300), *rng.integers(300, MAX_WINDOW + 1, 200), MAX_WINDOW]:
        m, c = (int(v) for v in table[n - 1])
        top = 32768 * n + n // 2
        t = np.arange(0, top + 1) if n < 40 else np.concatenate(
            [np.arange(top - 5000, top + 1), rng.integers(0, top, 20000)])
        t = t.astype(np.uint64)
        got = ((2 * t * np.uint64(m)) >> np.uint64(32)) >> np.uint64(c)
        np.testing.assert_array_equal(got, t // np.uint64(n), err_msg=f"n={n}")
