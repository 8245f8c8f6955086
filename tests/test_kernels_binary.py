"""Binary kernels (ff_bnn.h) == reference on random shapes, one row per kernel: the sign that
enters a binary region (int8 -> b1), XNOR-popcount dense and convolution layers with b1 output
(integer thresholds) or int8 output (requantized), and the b1 max pool.

The b1 values cross the C boundary as packed words (targets/c/boundary.py), so every case is a
one-node graph and the same rows run in QEMU, on AVR (test_kernels_on_boards.py) and under the
sanitizers (test_sanitizers.py). Channel counts run from 1 to 300: below, at and above whole
32-bit words (31, 32, 33, 63, 64, 65, ...), so rows end mid-word and exactly on a word.
Thresholds sit around the dot products' range and beyond it on both sides (always +1, never
+1), and inputs of the sign land on their thresholds a third of the time (``>=``: equality is
+1). Convolutions take test_kernels_conv's geometries (strides, dilations, padding up to a
whole window, so some windows read only padding) and each of the pad values -1, 0 and +1.
"""

from __future__ import annotations

import collections
import math
import zlib

import numpy as np
import pytest
from test_kernels_conv import geometry

from firmforge.converter.encoding import PackedRows
from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value, const
from firmforge.converter.ops.binary import Binarize, BinaryConv2d, BinaryDense
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.pool import MaxPool2d
from firmforge.targets.c.emit import lower

from cases import Row, act_quant, single
from kernel_harness import check_row

# channel counts: small, around one and two words, and up to ten words with ragged ends
CHANNELS = [1, 2, 3, 5, 8, 17, 31, 32, 33, 40, 63, 64, 65, 96, 100, 127, 128, 129, 200, 255,
            256, 300]
SMALL_CHANNELS = [1, 2, 3, 7, 16, 31, 32, 33, 40, 63, 64, 65, 70]
PAD_VALUES = [-1, 0, 1]
B1_QUANT = QuantParams.per_tensor(1.0, 0)


def _pick(rng: np.random.Generator, values: list[int]) -> int:
    return int(values[rng.integers(len(values))])


def _signs(rng: np.random.Generator, shape: tuple[int, ...], p_plus: float = 0.5) -> np.ndarray:
    return np.where(rng.random(shape) < p_plus, 1, -1).astype(np.int8)


def _leading(rng: np.random.Generator) -> tuple[int, ...]:
    """The dimensions before the channels of one sample: none, a row count, or an image."""
    kind = int(rng.integers(3))
    if kind == 0:
        return (1,)
    if kind == 1:
        return (1, int(rng.integers(1, 6)))
    return (1, int(rng.integers(1, 4)), int(rng.integers(1, 4)))


def _b1_inputs(rng: np.random.Generator, g: Graph, batch: int = 2) -> list[np.ndarray]:
    """Random +-1 values; a third of the cases mostly -1 or mostly +1 (max pools of all -1
    windows, dot products near their ends)."""
    p = float(rng.choice([0.5, 0.5, 0.5, 0.05, 0.95, rng.random()]))
    return [_signs(rng, (batch, *v.shape[1:]), p) for v in g.inputs]


def _thresholds(rng: np.random.Generator, o: int, taps: int) -> np.ndarray:
    """Integer thresholds on dot products in [-taps, taps]: inside the range (both parities,
    since dot has the parity of its taps), at its ends, and past them (always / never +1)."""
    t = rng.integers(-taps - 1, taps + 2, o)
    near = rng.integers(-2, 3, o)
    pick = rng.random(o)
    t = np.where(pick < 0.3, near, t)
    t = np.where((pick >= 0.3) & (pick < 0.4), rng.choice([-taps - 1, -taps, taps, taps + 1], o), t)
    return t.astype(np.int32)


def _binary_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> Value:
    """+-1 weights stored as packed rows, with per-channel scales (the s8 output reads them)."""
    o = shape[0]
    scales = rng.uniform(0.01, 0.2, o).astype(np.float32)
    return Value("w", shape, DType.b1, QuantParams(scales, np.zeros(o), 0),
                 _signs(rng, shape, float(rng.uniform(0.2, 0.8))), PackedRows())


def _s8_output(rng: np.random.Generator, w: Value, taps: int) -> tuple[QuantParams, Value, Act]:
    """Output parameters near the spread of alpha * (dot + bias) (dot ~ sqrt(taps) for random
    signs), so that results cover the linear range and the clamps, an int32 bias on the scale
    of the dot products, and a fused activation."""
    alpha = float(np.mean(w.quant.scale))
    spread = alpha * 3 * math.sqrt(taps)
    yq = QuantParams.per_tensor(spread / float(rng.uniform(10, 200)), int(rng.integers(-128, 128)))
    b = rng.integers(-2 * taps - 2, 2 * taps + 3, w.shape[0]).astype(np.int32)
    act = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6][rng.integers(4)]
    return yq, const("b", b, DType.s32), act


def _with_output(cls: type, name: str, inputs: list[Value], y: Value, **attrs: object) -> Graph:
    """A one-node graph whose output dtype is given (s8: the infer of a new binary layer gives
    b1 for s32 thresholds)."""
    node = cls(name=name, inputs=inputs, outputs=[y], **attrs)
    shape, _ = node.infer()[0]
    node.outputs = [Value(y.name, shape, y.dtype, y.quant)]
    g = Graph(name, [node], [v for v in inputs if not v.is_const], list(node.outputs))
    g.validate()
    return g


# -- binarize ---------------------------------------------------------------------------------
def _binarize(rng: np.random.Generator) -> Graph:
    c = _pick(rng, CHANNELS)
    x = Value("x", (*_leading(rng), c), DType.s8, act_quant(rng))
    t = rng.integers(-128, 129, c)
    edge = rng.random(c) < 0.15  # -128: always, 128: never (before the flip); 127: x = 127 only
    t = np.where(edge, rng.choice([-128, 128, 127, -127], c), t).astype(np.int32)
    flip = (rng.random(c) < float(rng.choice([0.0, 0.5, 1.0]))).astype(np.uint8)
    return single(Binarize, "binarize", [x, const("t", t, DType.s32),
                                         const("flip", flip, DType.u1)], None)


def _binarize_inputs(rng: np.random.Generator, g: Graph, batch: int = 2) -> list[np.ndarray]:
    """int8 inputs, a third of them equal to their channel's threshold or one off it."""
    x = g.inputs[0]
    t = g.nodes[0].inputs[1].data
    shape = (batch, *x.shape[1:])
    near = np.clip(t + rng.integers(-1, 2, shape), -128, 127)
    anywhere = rng.integers(-128, 128, shape)
    return [np.where(rng.random(shape) < 1 / 3, near, anywhere).astype(np.int8)]


# -- dense ------------------------------------------------------------------------------------
def _dense_operands(rng: np.random.Generator) -> tuple[Value, Value, int]:
    k = _pick(rng, CHANNELS)
    o = _pick(rng, CHANNELS[:-3] if k > 128 else CHANNELS)
    x = Value("x", (*_leading(rng)[:2], k), DType.b1)
    return x, _binary_weights(rng, (o, k)), k


def _dense_b1(rng: np.random.Generator) -> Graph:
    x, w, k = _dense_operands(rng)
    t = const("t", _thresholds(rng, w.shape[0], k), DType.s32)
    return single(BinaryDense, "dense_b1", [x, w, t], None)


def _dense_b1_s8(rng: np.random.Generator) -> Graph:
    x, w, k = _dense_operands(rng)
    yq, b, act = _s8_output(rng, w, k)
    return _with_output(BinaryDense, "dense_b1_s8", [x, w, b], Value("y", (1,), DType.s8, yq),
                        act=act)


# -- conv2d -----------------------------------------------------------------------------------
def _conv_operands(rng: np.random.Generator) -> tuple[Value, Value, dict[str, object], int]:
    g = geometry(rng)
    c = _pick(rng, CHANNELS)
    o = _pick(rng, SMALL_CHANNELS)
    # keep a case's work modest: channels x taps x outputs
    while c * g.kernel[0] * g.kernel[1] * o > 40000 and o > 1:
        o = max(1, o // 2)
    x = Value("x", (1, g.h, g.w, c), DType.b1)
    w = _binary_weights(rng, (o, *g.kernel, c))
    attrs = dict(stride=g.stride, dilation=g.dilation, padding=g.padding,
                 pad_value=_pick(rng, PAD_VALUES))
    return x, w, attrs, g.kernel[0] * g.kernel[1] * c


def _conv2d_b1(rng: np.random.Generator) -> Graph:
    x, w, attrs, taps = _conv_operands(rng)
    t = const("t", _thresholds(rng, w.shape[0], taps), DType.s32)
    return single(BinaryConv2d, "conv2d_b1", [x, w, t], None, **attrs)


def _conv2d_b1_s8(rng: np.random.Generator) -> Graph:
    x, w, attrs, taps = _conv_operands(rng)
    yq, b, act = _s8_output(rng, w, taps)
    return _with_output(BinaryConv2d, "conv2d_b1_s8", [x, w, b],
                        Value("y", (1,), DType.s8, yq), act=act, **attrs)


# -- max pool ---------------------------------------------------------------------------------
def _maxpool2d_b1(rng: np.random.Generator) -> Graph:
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = Padding(*(int(rng.integers(0, kk)) for kk in (k[0], k[0], k[1], k[1])))
    h = int(rng.integers(max(1, k[0] - p.top - p.bottom), k[0] + 7))
    w = int(rng.integers(max(1, k[1] - p.left - p.right), k[1] + 7))
    x = Value("x", (1, h, w, _pick(rng, CHANNELS)), DType.b1)
    return single(MaxPool2d, "maxpool2d_b1", [x], B1_QUANT, kernel=k, stride=s, padding=p)


ROWS = [
    Row("binarize_s8_b1", _binarize, 50, _binarize_inputs),
    Row("dense_b1", _dense_b1, 50, _b1_inputs),
    Row("dense_b1_s8", _dense_b1_s8, 50, _b1_inputs),
    Row("conv2d_b1", _conv2d_b1, 50, _b1_inputs),
    Row("conv2d_b1_s8", _conv2d_b1_s8, 50, _b1_inputs),
    Row("maxpool2d_b1", _maxpool2d_b1, 50, _b1_inputs),
]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def test_rows_cover_the_kernels_and_their_edges():
    """Across each row's draws (the ones check_row makes): every binary kernel, channel counts
    that end mid-word and on a word boundary, more than one row per sample, and for each
    convolution kernel every pad value with windows that reach into the padding."""
    kernels, pads = set(), collections.Counter()
    ragged, whole, rows = collections.Counter(), collections.Counter(), collections.Counter()
    for row in ROWS:
        rng = np.random.default_rng(zlib.crc32(row.name.encode()))
        for _ in range(row.count):
            n = row.build(rng).nodes[0]
            kernels.add(lower(n).fn)
            c = n.inputs[0].shape[-1]
            ragged[row.name] += c % 32 != 0 and c > 32
            whole[row.name] += c % 32 == 0
            rows[row.name] += math.prod(n.inputs[0].shape[:-1]) > 1
            p = n.padding if isinstance(n, BinaryConv2d) else None
            if p is not None and (p.top or p.bottom or p.left or p.right):
                pads[(row.name, n.pad_value)] += 1
    assert kernels == {"ff_binarize_s8_b1", "ff_dense_b1", "ff_dense_b1_s8", "ff_conv2d_b1",
                       "ff_conv2d_b1_s8", "ff_maxpool2d_b1"}
    for row in ROWS:
        assert ragged[row.name] >= 5 and whole[row.name] >= 3 and rows[row.name] >= 10, row.name
    for name in ("conv2d_b1", "conv2d_b1_s8"):
        assert all(pads[(name, p)] >= 5 for p in PAD_VALUES), pads
