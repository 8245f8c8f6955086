"""The block kernels of BinaryDense (ff_bnn_dense.c: bit-sliced lane counters over the listed
inputs) on the host against the reference, over awkward shapes (K and O not multiples of 32,
O < 32, O = 33, K = 1, K up to 1000), b1 and s8 outputs, and inputs all -1, all +1, half +1,
one away from half, and random: the direct and the complement index lists and their ties.

A graph is int8 x -> Binarize (x >= 0 is +1) -> BinaryDense, b1 or s8. A b1 output is read
through a second BinaryDense of s8 output at scale 1 (y2 = dot + bias, rarely clipped), where a
wrong bit moves every output by 2. The emitters' layouts are checked against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import DType, Graph, QuantParams, Value, const, make_node
from firmforge.converter.ops.binary import Binarize, BinaryDense
from firmforge.targets.c import host
from firmforge.targets.c.emit import lower
from firmforge.targets.c.emit_binary import block_thresholds, dense_blocks, planes
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

# (K, O, rows): K = 1, tiny and odd shapes, O = 33, a tail block of 1, whole words, K = 1000
SHAPES = [(1, 1, 1), (1, 40, 2), (2, 33, 1), (5, 3, 3), (31, 17, 1), (32, 32, 2), (33, 65, 1),
          (64, 31, 1), (100, 33, 2), (200, 97, 1), (511, 129, 1), (1000, 70, 1), (1000, 5, 2)]
PATTERNS = ["minus", "plus", "half", "half+1", "half-1", "random"]


def _pm(rng: np.random.Generator, shape: tuple[int, ...], p: float = 0.5) -> np.ndarray:
    return np.where(rng.random(shape) < p, 1, -1).astype(np.int8)


def _signs(pattern: str, rows: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """+-1 inputs of the pattern: exactly half (or one more or fewer) +1 in random places."""
    if pattern == "minus":
        return -np.ones((rows, k), np.int8)
    if pattern == "plus":
        return np.ones((rows, k), np.int8)
    if pattern == "random":
        return _pm(rng, (rows, k), rng.uniform(0.1, 0.9))
    plus = k // 2 + {"half": 0, "half+1": 1, "half-1": -1}[pattern]
    s = -np.ones((rows, k), np.int8)
    for r in range(rows):
        s[r, rng.permutation(k)[:max(0, min(k, plus))]] = 1
    return s


def _dense(name: str, x: Value, o: int, rng: np.random.Generator, out: DType,
           exact: bool = False) -> BinaryDense:
    """A BinaryDense of random +-1 weights: b1 with thresholds around the dots' spread (some
    beyond +-K: constant outputs), or s8 (``exact``: weight scales 1, output scale 1)."""
    k = x.shape[-1]
    w = _pm(rng, (o, k), rng.uniform(0.2, 0.8))
    scales = np.ones(o) if exact else rng.uniform(0.5, 2, o)
    wq = QuantParams(scales.astype(np.float32), np.zeros(o, np.int64), 0)
    wv = const(f"{name}_w", w, DType.b1, wq)
    if out is DType.b1:
        t = rng.integers(-int(2 * np.sqrt(k)) - 2, int(2 * np.sqrt(k)) + 3, o)
        t[rng.random(o) < 0.1] = rng.choice([-k - 5, -k, k, k + 1, 2**31 - 1, -2**31], 1)[0]
        node = make_node(BinaryDense, name, [x, wv, const(f"{name}_t", t.astype(np.int32),
                                                                DType.s32)], [f"{name}_y"])
        assert node.y.dtype is DType.b1
        return node
    bias = rng.integers(-40, 41, o).astype(np.int32)
    s_y = 1.0 if exact else float(np.sqrt(k) / 40)
    node = BinaryDense(name=name, inputs=[x, wv, const(f"{name}_b", bias, DType.s32)],
                       outputs=[])
    (shape, _), = node.infer()
    node.outputs = [Value(f"{name}_y", shape, DType.s8,
                          QuantParams.per_tensor(s_y, int(rng.integers(-5, 6))))]
    return node


def binary_graph(k: int, o: int, rows: int, out: DType, seed: int) -> Graph:
    """x (1, rows, k) int8 -> Binarize -> BinaryDense k -> o (``out``), and for a b1 output a
    second BinaryDense o -> 12 of s8 output at scale 1."""
    rng = np.random.default_rng(seed)
    x = Value("x", (1, rows, k), DType.s8, QuantParams.per_tensor(0.1, 0))
    sign = make_node(Binarize, "sign", [x, const("thr", np.zeros(k, np.int32), DType.s32),
                                        const("flip", np.zeros(k, np.uint8), DType.u1)], ["xb"])
    layer = _dense("fc", sign.y, o, rng, out)
    nodes = [sign, layer]
    if out is DType.b1:
        nodes.append(_dense("readout", layer.y, 12, rng, DType.s8, exact=True))
    g = Graph(f"bd_{k}_{o}_{rows}_{out.value}", nodes, [x], [nodes[-1].y])
    g.validate()
    return g


def _inputs(g: Graph, rng: np.random.Generator) -> list[np.ndarray]:
    """One sample per pattern, as int8 whose sign is the pattern (0 for +1, -1 .. -128 for -1)."""
    _, rows, k = g.inputs[0].shape
    xs = [np.where(_signs(p, rows, k, rng) > 0, rng.integers(0, 128, (rows, k)),
                   rng.integers(-128, 0, (rows, k))) for p in PATTERNS]
    return [np.stack(xs).astype(np.int8)]


@pytest.mark.parametrize("out", [DType.b1, DType.s8], ids=["b1", "s8"])
def test_binary_dense_block_kernels_equal_reference_on_host(out):
    graphs = [binary_graph(k, o, rows, out, seed) for seed, (k, o, rows) in enumerate(SHAPES)]
    assert all(lower(g.nodes[1]).fn == f"ff_dense_b1{'' if out is DType.b1 else '_s8'}"
               for g in graphs)
    models = host.build([(generate(g, g.name), g) for g in graphs])
    rng = np.random.default_rng(7)
    for g, m in zip(graphs, models, strict=True):
        xs = _inputs(g, rng)
        want, _ = reference.run(g, xs)
        (got,) = m.run(*xs)
        if out is DType.b1:  # the readout moves with every bit, and is rarely clipped
            assert np.mean(np.abs(want[0].astype(int)) < 120) > 0.8, g.name
        for i, pattern in enumerate(PATTERNS):
            np.testing.assert_array_equal(got[i], want[0][i], err_msg=f"{g.name} {pattern}")


@pytest.mark.parametrize(("k", "o", "out"), [(33, 65, DType.b1), (1000, 33, DType.s8)])
def test_block_kernels_are_sanitizer_clean_in_their_arena_and_scratch(k, o, out):
    """ASan and UBSan, with only the layer's own arena bytes (its scratch included)
    addressable while it runs."""
    g = binary_graph(k, o, 2, out, 5)
    xs = _inputs(g, np.random.default_rng(5))
    want, _ = reference.run(g, xs)
    (got,) = run_native(generate(g, g.name, check_arena=True), g, xs)
    np.testing.assert_array_equal(got, want[0])


def test_more_inputs_than_uint16_indices_take_the_row_kernel():
    g = binary_graph(65534, 3, 1, DType.s8, 1)
    assert lower(g.nodes[1]).fn == "ff_dense_b1_s8_rows"
    (m,) = host.build([(generate(g, g.name), g)])
    xs = _inputs(g, np.random.default_rng(3))
    np.testing.assert_array_equal(m.run(*xs)[0], reference.run(g, xs)[0][0])


def test_dense_blocks_put_output_32b_plus_j_in_bit_j_of_block_b():
    rng = np.random.default_rng(0)
    w = _pm(rng, (37, 5))
    blocks = dense_blocks(w).reshape(2, 6)
    for o in range(37):
        for k in range(5):
            assert (int(blocks[o // 32, k]) >> (o % 32)) & 1 == (w[o, k] > 0)
    assert not blocks[:, 5].any() and not (blocks[1, :5] >> 5).any()


def test_block_thresholds_decide_dot_ge_thr_for_every_count():
    """The constants' meaning (ff_bnn.h), checked lane by lane for every list length n and
    count V against dot >= thr computed directly."""
    rng = np.random.default_rng(1)
    for k in (1, 2, 7, 40):
        o = 33
        w = _pm(rng, (o, k))
        t = rng.integers(-k - 3, k + 4, o)
        t[:4] = [-2**31, 2**31 - 1, -k, k]
        n_planes = planes(k)
        words = block_thresholds(w, t).reshape(2, 2, 2, n_planes)  # block, case, parity
        s = (w > 0).sum(axis=1)
        big_n, z = k // 2, k // 4 + 1
        for lane in range(o):
            b, j = divmod(lane, 32)
            for case, sgn in ((0, 1), (1, -1)):
                for n in range(big_n + 1):
                    c = words[b, case, n % 2]
                    start = sum(((int(c[i]) >> j) & 1) << i for i in range(n_planes))
                    for v in range(n + 1):
                        dot = sgn * (4 * v - 2 * n - 2 * int(s[lane]) + k)
                        assert v + start < 1 << n_planes
                        y = v + start > n // 2 + z
                        assert (y != (case == 1)) == (dot >= t[lane]), (k, lane, case, n, v)
