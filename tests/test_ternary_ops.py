"""Ternary ops (converter/ops/ternary.py) against plain loops, the bit-plane packing of t2
values, batch-norm + ternarizer folding (passes/fold_ternary.py), quantization of a graph with
ternary layers, and the errors for bad ternary input."""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter.bitstream import pack_ternary_rows, unpack_ternary_rows
from firmforge.converter.encoding import PackedRows, PackedTernaryRows, decode, encode
from firmforge.converter.ir import Act, DType, Graph, IRError, QuantParams, Value, const, make_node
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.eltwise import Add, Mul
from firmforge.converter.ops.shape import Reshape
from firmforge.converter.ops.ternary import (
    Ternarize,
    TernaryConv2d,
    TernaryDense,
    ternary_nbytes,
)
from firmforge.converter.passes import fold_ternary
from firmforge.converter.plan import plan_memory
from firmforge.converter.quantize.calibrate import calibrate
from firmforge.converter.quantize.ptq import quantize
from firmforge.converter.reference import run, run_planned


def _t(rng, shape, p_zero=1 / 3):
    v = np.where(rng.random(shape) < 0.5, -1, 1)
    return np.where(rng.random(shape) < p_zero, 0, v).astype(np.int8)


def _scales(rng, o):
    return QuantParams(rng.uniform(0.5, 2, o).astype(np.float32), np.zeros(o, np.int64), 0)


def _thresholds(rng, o, k):
    lo = rng.integers(-k - 1, k + 2, o)
    hi = lo + rng.integers(0, k + 2, o)
    return np.stack([lo, hi], axis=1).astype(np.int32)


def _levels(dot, t):
    return np.where(dot >= t[:, 1], 1, np.where(dot < t[:, 0], -1, 0))


def test_packing_puts_planes_in_word_pairs():
    a = np.zeros((2, 40), np.int8)
    a[0, 0], a[0, 1], a[0, 33], a[1, 39] = 1, -1, -1, 1
    words = pack_ternary_rows(a)
    assert words.shape == (2, 4) and words.dtype == np.uint32
    # pair 0: nonzero plane, plus plane; pair 1 the same for values 32..39
    assert words[0].tolist() == [0b11, 0b01, 1 << 1, 0]
    assert words[1].tolist() == [0, 0, 1 << 7, 1 << 7]
    assert np.array_equal(unpack_ternary_rows(words, 40), a)
    assert ternary_nbytes((1, 3, 3, 40)) == 9 * 2 * 2 * 4
    assert Value("v", (1, 3, 3, 40), DType.t2).nbytes == 9 * 2 * 2 * 4
    assert Value("v", (1, 3, 3, 40), DType.t2).quant.s == 1.0


def test_ternary_weights_store_as_packed_ternary_rows():
    rng = np.random.default_rng(0)
    w = _t(rng, (5, 3, 3, 37))
    e = encode(w, DType.t2, PackedTernaryRows())
    assert e.nbytes == 5 * 9 * 2 * 2 * 4
    assert np.array_equal(decode(e), w)
    with pytest.raises(IRError, match="packed ternary rows hold t2"):
        encode(np.ones((2, 3), np.int8), DType.b1, PackedTernaryRows())
    with pytest.raises(IRError, match="packed rows hold b1"):
        encode(w, DType.t2, PackedRows())
    with pytest.raises(IRError, match="do not fit t2"):
        encode(np.full((2, 3), 2, np.int8), DType.t2, PackedTernaryRows())


def test_ternarize_compares_against_two_thresholds_and_flips():
    x = Value("x", (1, 4), DType.s8, QuantParams.per_tensor(0.1, 0))
    t = const("t", np.array([[-2, 3], [-2, 3], [-128, 128], [5, 5]], np.int32), DType.s32)
    f = const("f", np.array([0, 1, 0, 0], np.uint8), DType.u1)
    node = make_node(Ternarize, "z", [x, t, f], ["y"])
    assert node.y.dtype is DType.t2
    xs = np.array([[3, 3, 127, 5], [-2, -2, -128, 4], [-3, -3, 0, 6]], np.int8)
    (y,) = node.ref([xs, t.data, f.data])
    assert y.tolist() == [[1, -1, 0, 1], [0, 0, 0, -1], [-1, 1, 0, 1]]


@pytest.mark.parametrize("seed", range(6))
def test_ternary_dense_is_the_ternary_dot_product(seed):
    rng = np.random.default_rng(seed)
    k, o, n = int(rng.integers(1, 100)), int(rng.integers(1, 40)), 5
    binary_in = seed % 3 == 2
    x = _t(rng, (n, k), 0.0 if binary_in else 1 / 3)
    w = _t(rng, (o, k))
    t = _thresholds(rng, o, k)
    xv = Value("x", (1, k), DType.b1 if binary_in else DType.t2)
    node = make_node(TernaryDense, "d", [xv, const("w", w, DType.t2), const("t", t, DType.s32)],
                     ["y"])
    assert node.y.dtype is DType.t2
    (y,) = node.ref([x, w, t])
    dot = np.array([[sum(int(x[b, j]) * int(w[i, j]) for j in range(k)) for i in range(o)]
                    for b in range(n)])
    assert np.array_equal(y, _levels(dot, t))
    # popcount(m) - 2 popcount(m & (px ^ pw)), m = nx & nw: the identity the kernels use
    px, pw = pack_ternary_rows(x), pack_ternary_rows(w)
    pops = np.vectorize(lambda v: bin(int(v)).count("1"))
    for b in range(n):
        for i in range(o):
            m = px[b, 0::2] & pw[i, 0::2]
            neg = m & (px[b, 1::2] ^ pw[i, 1::2])
            assert dot[b, i] == pops(m).sum() - 2 * pops(neg).sum()


def test_ternary_dense_f32_output_scales_and_adds_the_bias():
    rng = np.random.default_rng(11)
    x, w = _t(rng, (4, 20)), _t(rng, (6, 20))
    q = _scales(rng, 6)
    b = rng.normal(0, 1, 6).astype(np.float32)
    node = make_node(TernaryDense, "d", [Value("x", (1, 20), DType.t2), const("w", w, DType.t2, q),
                                         const("b", b)], ["y"])
    assert node.y.dtype is DType.f32
    (y,) = node.ref([x, w, b])
    want = (x.astype(np.float64) @ w.T.astype(np.float64)) * q.scale + b
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_ternary_conv_pads_with_zeros(seed):
    rng = np.random.default_rng(seed + 20)
    n, h, wd, c, o, kh, kw = 2, 5, 6, 35, 4, 3, 2
    pad, stride, dil = Padding(1, 2, 1, 0), (1, 2), (2, 1)
    if seed == 2:  # a window mostly over padding: taps that never read the input
        pad, dil = Padding(4, 4, 3, 3), (4, 5)
    x, w = _t(rng, (n, h, wd, c)), _t(rng, (o, kh, kw, c))
    t = _thresholds(rng, o, 20)
    node = make_node(TernaryConv2d, "c", [Value("x", (1, h, wd, c), DType.t2),
                                          const("w", w, DType.t2), const("t", t, DType.s32)],
                     ["y"], stride=stride, dilation=dil, padding=pad)
    (y,) = node.ref([x, w, t])
    _, oh, ow, _ = node.y.shape
    want = np.zeros((n, oh, ow, o), np.int64)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for oc in range(o):
                    s = 0
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * stride[0] - pad.top + ky * dil[0]
                            ix = ox * stride[1] - pad.left + kx * dil[1]
                            if 0 <= iy < h and 0 <= ix < wd:
                                s += int(np.dot(x[b, iy, ix].astype(np.int64), w[oc, ky, kx]))
                    want[b, oy, ox, oc] = s
    assert np.array_equal(y, _levels(want, t))


def test_bad_ternary_input_is_refused_with_a_clear_error():
    rng = np.random.default_rng(6)
    x = Value("x", (1, 8), DType.t2)
    t = const("t", np.zeros((3, 2), np.int32), DType.s32)
    for bad in (2, -3):
        w = _t(rng, (3, 8))
        w[1, 2] = bad
        with pytest.raises(IRError, match="not only -1, 0 and \\+1"):
            make_node(TernaryDense, "d", [x, Value("w", (3, 8), DType.t2, None, w), t], ["y"])
    with pytest.raises(IRError, match="needs t2 or b1 input and constant t2 weights"):
        make_node(TernaryDense, "d", [x, const("w", _t(rng, (3, 8)), DType.s8), t], ["y"])
    with pytest.raises(IRError, match="needs t2 or b1 input"):
        make_node(TernaryDense, "d", [Value("x", (1, 8), DType.s8, QuantParams.per_tensor(1.0)),
                                      const("w", _t(rng, (3, 8)), DType.t2), t], ["y"])
    with pytest.raises(IRError, match=r"constant s32 thresholds \(3, 2\)"):
        make_node(TernaryDense, "d", [x, const("w", _t(rng, (3, 8)), DType.t2),
                                      const("t", np.zeros(3, np.int32), DType.s32)], ["y"])
    with pytest.raises(IRError, match="a t2 output has no fused activation"):
        make_node(TernaryDense, "d", [x, const("w", _t(rng, (3, 8)), DType.t2), t], ["y"],
                  act=Act.RELU)
    with pytest.raises(IRError, match="per-channel scales"):
        make_node(TernaryDense, "d", [x, const("w", _t(rng, (3, 8)), DType.t2),
                                      const("b", np.zeros(3, np.float32))], ["y"])
    with pytest.raises(IRError, match=r"t2 tensor .* packed in 32-bit words"):
        make_node(Reshape, "r", [Value("x", (1, 2, 2, 40), DType.t2)], ["y"], shape=(1, 160))
    ok = make_node(Reshape, "r", [Value("x", (1, 2, 64), DType.t2)], ["y"], shape=(1, 4, 32))
    assert ok.y.dtype is DType.t2  # whole word pairs: the same bytes
    with pytest.raises(IRError, match=r"thresholds \(4, 2\) and flips"):
        make_node(Ternarize, "z", [Value("x", (1, 4), DType.f32),
                                   const("t", np.zeros(4, np.float32)),
                                   const("f", np.zeros(4, np.uint8), DType.u1)], ["y"])


def _twn_thresholds(c: int, d: float) -> np.ndarray:
    """converter.nn's input rule sign(x) where |x| >= d: lo = the float32 after -d, hi = d."""
    lo = np.nextafter(np.float32(-d), np.float32(np.inf))
    return np.tile(np.array([lo, d], np.float32), (c, 1))


def _float_ternary_graph(rng, k: int = 40) -> Graph:
    """x -> ternarize -> TernaryDense -> BN (Mul, Add) -> ternarize -> TernaryDense (f32)."""
    x = Value("x", (1, k), DType.f32)
    z1 = make_node(Ternarize, "z1", [x, const("t1", _twn_thresholds(k, 0.5)),
                                     const("f1", np.zeros(k, np.uint8), DType.u1)], ["h1"])
    d1 = make_node(TernaryDense, "d1", [z1.y, const("w1", _t(rng, (48, k)), DType.t2,
                                                    _scales(rng, 48)),
                                        const("b1", rng.normal(0, 2, 48).astype(np.float32))],
                   ["h2"])
    s = rng.normal(0, 1, 48).astype(np.float32)
    mul = make_node(Mul, "bn_mul", [d1.y, const("s", s)], ["h3"])
    add = make_node(Add, "bn_add", [mul.y, const("a", rng.normal(0, 3, 48).astype(np.float32))],
                    ["h4"])
    z2 = make_node(Ternarize, "z2", [add.y, const("t2", _twn_thresholds(48, 0.7)),
                                     const("f2", (rng.random(48) < 0.3).astype(np.uint8),
                                           DType.u1)], ["h5"])
    d2 = make_node(TernaryDense, "d2", [z2.y, const("w2", _t(rng, (10, 48)), DType.t2,
                                                    _scales(rng, 10)),
                                        const("b2", rng.normal(0, 1, 10).astype(np.float32))],
                   ["y"])
    g = Graph("tern", [z1, d1, mul, add, z2, d2], [x], [d2.y])
    g.validate()
    return g


def test_batchnorm_and_ternarizer_fold_into_integer_thresholds():
    rng = np.random.default_rng(3)
    g = _float_ternary_graph(rng)
    folded = fold_ternary(g)
    assert [n.kind for n in folded.nodes] == ["ternarize", "ternarydense", "ternarydense"]
    d1 = folded.nodes[1]
    assert d1.y.dtype is DType.t2 and d1.inputs[2].dtype is DType.s32
    assert d1.inputs[2].shape == (48, 2)
    assert np.all(d1.inputs[1].quant.scale > 0)  # negative BN scales became negated rows
    xs = rng.normal(0, 1, (400, 40)).astype(np.float32)
    (want,), t0 = run(g, [xs], keep_all=True)
    (got,), t1 = run(folded, [xs], keep_all=True)
    assert np.array_equal(t0["h5"], t1["h2"])  # the same ternary values reach d2
    assert np.mean(t1["h2"] == 0) > 0.05 and np.mean(t1["h2"] != 0) > 0.3  # all levels occur
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", [-2.0, 2.0])
def test_an_affine_before_a_ternarizer_moves_into_its_thresholds(scale):
    """Inputs exactly at the boundaries: with z = scale x + 1 and thresholds (-0.5, 0.5), z
    meets them at x = -0.25 and x = -0.75 (scale 2), x = 0.25 and x = 0.75 (scale -2)."""
    rng = np.random.default_rng(8)
    c = 6
    x = Value("x", (1, c), DType.f32)
    mul = make_node(Mul, "m", [x, const("s", np.full(c, scale, np.float32))], ["h1"])
    add = make_node(Add, "a", [mul.y, const("c", np.ones(c, np.float32))], ["h2"])
    thr = np.tile(np.array([-0.5, 0.5], np.float32), (c, 1))
    flips = np.array([0, 1, 0, 1, 0, 1], np.uint8)
    z = make_node(Ternarize, "z", [add.y, const("t", thr), const("f", flips, DType.u1)], ["h3"])
    g = Graph("g", [mul, add, z], [x], [z.y])
    folded = fold_ternary(g)
    assert [n.kind for n in folded.nodes] == ["ternarize"]
    assert folded.nodes[0].inputs[2].data.tolist() == (flips ^ (scale < 0)).tolist()
    edges = np.array([-0.75, -0.25, 0.25, 0.75, 0.0, 1.0, -1.0], np.float32)
    xs = np.concatenate([np.repeat(edges[:, None], c, 1),
                         rng.normal(0, 1, (300, c)).astype(np.float32)])
    (want,), (got,) = run(g, [xs])[0], run(folded, [xs])[0]
    assert np.array_equal(got, want)
    assert set(np.unique(want[:4]).tolist()) == {-1, 0, 1}


def test_quantized_ternary_graph_runs_as_planned():
    rng = np.random.default_rng(5)
    g = fold_ternary(_float_ternary_graph(rng, k=70))
    xs = rng.normal(0, 1, (64, 70)).astype(np.float32)
    q = quantize(g, calibrate(g, xs, progress=False))
    z1, d1, d2 = q.nodes
    assert z1.x.dtype is DType.s8 and z1.inputs[1].dtype is DType.s32
    assert d1.y.dtype is DType.t2 and d2.y.dtype is DType.s8
    assert d2.inputs[1].dtype is DType.t2 and d2.inputs[2].dtype is DType.s32
    xq = q.inputs[0].quant.quantize(xs, DType.s8)
    (want,) = run(q, [xq])[0]
    got = run_planned(q, plan_memory(q), [xq])
    assert np.array_equal(got[0], want)
    fy = run(g, [xs])[0][0]
    yq = q.outputs[0].quant
    deq = (want.astype(np.float64) - yq.zp) * yq.s
    assert np.corrcoef(deq.ravel(), fy.ravel())[0, 1] > 0.9
