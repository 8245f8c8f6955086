"""Ternary kernels (ff_tnn.h) == reference on random shapes.

Every case is a small graph with int8 input and int8 output, so the same rows run in QEMU and
on AVR (test_kernels_on_boards.py): int8 -> Ternarize (random threshold pairs over the whole
int8 range and beyond, a few with lo > hi, random flips) -> a ternary layer with s8 output; the
``_t2`` rows put a ternary layer with t2 output (threshold pairs) between them, and the ``_b1``
rows feed a Binarize's b1 output into a ternary layer. Channel counts are drawn from lists
that hold counts that are not multiples of 32 and multiples of 32 (one word pair, two); the
conv geometries are test_kernels_conv's (strides, dilations, padding wider than the window).
Weights are -1 / 0 / +1 with a random share of zeros (none, all, anything between)."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from test_kernels_conv import geometry

from firmforge.converter.encoding import PackedTernaryRows
from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value, const, make_node
from firmforge.converter.ops.binary import Binarize
from firmforge.converter.ops.ternary import Ternarize, TernaryConv2d, TernaryDense
from firmforge.targets.c.emit import lower

from cases import Row
from kernel_harness import check_row

DENSE_CHANNELS = [1, 3, 17, 31, 32, 33, 45, 64, 65, 100]
CONV_CHANNELS = [1, 3, 5, 17, 31, 32, 33, 40, 64, 70]
ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6]


def _pick(rng: np.random.Generator, options: list) -> object:
    return options[int(rng.integers(len(options)))]


def _ternary(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    zeros = float(_pick(rng, [0.0, 1.0, 0.3, 0.6, rng.random()]))
    v = np.where(rng.random(shape) < 0.5, -1, 1)
    return np.where(rng.random(shape) < zeros, 0, v).astype(np.int8)


def _weights(rng: np.random.Generator, shape: tuple[int, ...], name: str) -> Value:
    o = shape[0]
    q = QuantParams(rng.uniform(0.01, 0.1, o).astype(np.float32), np.zeros(o, np.int64), 0)
    return Value(name, shape, DType.t2, q, _ternary(rng, shape), PackedTernaryRows())


def _pairs(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """(n, 2) threshold pairs in [lo, hi], lo <= hi but for about one in ten."""
    a = rng.integers(lo, hi + 1, n)
    b = np.minimum(a + rng.integers(0, (hi - lo) // 2 + 1, n), hi)
    swap = rng.random(n) < 0.1
    return np.stack([np.where(swap, b, a), np.where(swap, a, b)], 1).astype(np.int32)


def _entry(rng: np.random.Generator, shape: tuple[int, ...], binary: bool) -> tuple[Value, list]:
    """The int8 input and the node that makes t2 (or b1) values of it."""
    x = Value("x", shape, DType.s8, QuantParams.per_tensor(0.05, int(rng.integers(-128, 128))))
    c = shape[-1]
    flip = const("flip", (rng.random(c) < 0.3).astype(np.uint8), DType.u1)
    if binary:
        t = const("thr", rng.integers(-128, 129, c).astype(np.int32), DType.s32)
        return x, [make_node(Binarize, "sign", [x, t, flip], ["h"])]
    t = const("thr", _pairs(rng, c, -140, 140), DType.s32)
    return x, [make_node(Ternarize, "tern", [x, t, flip], ["h"])]


def _s8_layer(rng: np.random.Generator, cls: type, h: Value, w: Value, depth: int,
              **attrs: object) -> list:
    """A ternary layer with s8 output: bias around the dot's spread, an output scale that
    puts that spread at 2 to 80 steps (clamps reached now and then)."""
    o = w.shape[0]
    spread = math.sqrt(depth) + 1
    b = const("bias", rng.integers(-int(spread * 2), int(spread * 2) + 1, o).astype(np.int32),
              DType.s32)
    # an s32 bias makes a new node's output t2: say s8 first, then take the shape it infers
    node = cls(name="layer", inputs=[h, w, b], outputs=[Value("y", (1,), DType.s8)],
               act=_pick(rng, ACTS), **attrs)
    alpha = float(np.mean(w.quant.scale))
    yq = QuantParams.per_tensor(alpha * spread / float(rng.uniform(2, 80)),
                                int(rng.integers(-128, 128)))
    node.outputs = [Value("y", node.infer()[0][0], DType.s8, yq)]
    return [node]


def _t2_layer(rng: np.random.Generator, cls: type, h: Value, w: Value, depth: int,
              **attrs: object) -> list:
    o = w.shape[0]
    spread = int(math.sqrt(depth)) + 2
    t = const("lohi", _pairs(rng, o, -spread, spread), DType.s32)
    return [make_node(cls, "mid", [h, w, t], ["h2"], **attrs)]


def _graph(name: str, x: Value, nodes: list) -> Graph:
    g = Graph(name, nodes, [x], [nodes[-1].outputs[0]])
    g.validate()
    return g


def _dense(mid: bool, binary: bool = False):
    def build(rng: np.random.Generator) -> Graph:
        rows, k = _pick(rng, [1, 1, 2, 3]), _pick(rng, DENSE_CHANNELS)
        x, nodes = _entry(rng, (1, rows, k), binary)
        h = nodes[-1].y
        if mid:
            o1 = _pick(rng, DENSE_CHANNELS)
            nodes += _t2_layer(rng, TernaryDense, h, _weights(rng, (o1, k), "w1"), k)
            h, k = nodes[-1].y, o1
        o = _pick(rng, DENSE_CHANNELS)
        nodes += _s8_layer(rng, TernaryDense, h, _weights(rng, (o, k), "w"), k)
        return _graph("tdense", x, nodes)
    return build


def _conv(mid: bool, binary: bool = False):
    def build(rng: np.random.Generator) -> Graph:
        geo = geometry(rng)
        c = _pick(rng, CONV_CHANNELS)
        x, nodes = _entry(rng, (1, geo.h, geo.w, c), binary)
        h = nodes[-1].y
        attrs = dict(stride=geo.stride, dilation=geo.dilation, padding=geo.padding)
        taps = geo.kernel[0] * geo.kernel[1]
        if mid:
            o1 = _pick(rng, CONV_CHANNELS)
            nodes += _t2_layer(rng, TernaryConv2d, h, _weights(rng, (o1, *geo.kernel, c), "w1"),
                               taps * c, **attrs)
            h, c = nodes[-1].y, o1
            attrs, taps = {}, 1  # then a 1x1 convolution
            kernel = (1, 1)
        else:
            kernel = geo.kernel
        o = _pick(rng, CONV_CHANNELS)
        nodes += _s8_layer(rng, TernaryConv2d, h, _weights(rng, (o, *kernel, c), "w"),
                           taps * c, **attrs)
        return _graph("tconv", x, nodes)
    return build


ROWS = [Row("ternary_dense_s8", _dense(False)), Row("ternary_dense_t2", _dense(True)),
        Row("ternary_dense_b1", _dense(False, binary=True)),
        Row("ternary_conv2d_s8", _conv(False)), Row("ternary_conv2d_t2", _conv(True)),
        Row("ternary_conv2d_b1", _conv(False, binary=True))]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def test_rows_reach_every_kernel_and_channel_kind():
    """Across the rows' draws every ternary kernel runs, with t2 and b1 input, and the
    channel counts include multiples of 32 and others."""
    seen, binary, counts = set(), set(), set()
    for row in ROWS:
        rng = np.random.default_rng(zlib.crc32(row.name.encode()))
        for _ in range(row.count):
            g = row.build(rng)
            for n in g.nodes:
                seen.add(lower(n).fn)
                counts.add(n.x.shape[-1] % 32 == 0)
                if isinstance(n, (TernaryDense, TernaryConv2d)):
                    binary.add(n.x.dtype)
    assert seen == {"ff_ternarize_s8_t2", "ff_binarize_s8_b1", "ff_dense_t2", "ff_dense_t2_s8",
                    "ff_conv2d_t2", "ff_conv2d_t2_s8"}
    assert binary == {DType.t2, DType.b1} and counts == {True, False}
