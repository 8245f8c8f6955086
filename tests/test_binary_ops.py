"""Binary ops (converter/ops/binary.py) against plain loops, the bit packing of b1 activations,
batch-norm + sign folding (passes/fold_binary.py), quantization of a graph with binary layers,
b1 values at the C boundary (packed words in and out), and the errors for bad binary input: a
sign feeding an op that cannot take b1, weights declared binary that are not +-1, and shapes
that cannot pack."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from firmforge.converter import ConversionError, convert
from firmforge.converter.frontends.torch_fx import UnsupportedModelError
from firmforge.converter.ir import DType, Graph, IRError, QuantParams, Value, const, make_node
from firmforge.converter.nn import BinaryLinear
from firmforge.converter.ops.act import Relu
from firmforge.converter.ops.binary import (
    Binarize,
    BinaryConv2d,
    BinaryDense,
    pack_rows,
    packed_nbytes,
    unpack_rows,
)
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.eltwise import Add, Mul
from firmforge.converter.ops.nonlinear import Softmax
from firmforge.converter.ops.pool import AvgPool2d, MaxPool2d
from firmforge.converter.ops.shape import Concat, Pad, Reshape, Split, StridedSlice, Transpose
from firmforge.converter.passes import fold_binary
from firmforge.converter.plan import plan_memory
from firmforge.converter.quantize.calibrate import calibrate
from firmforge.converter.quantize.ptq import quantize
from firmforge.converter.reference import run, run_planned
from firmforge.targets.c import host
from firmforge.targets.c.emit import UnsupportedOpError, lower
from firmforge.targets.c.vectors import FirmwareOutputError, parse_outputs, vector_files
from firmforge.targets.c.writer import generate


def _pm(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)


def _scales(rng, o):
    return QuantParams(rng.uniform(0.5, 2, o).astype(np.float32), np.zeros(o, np.int64), 0)


def test_packing_puts_value_c_in_bit_c_mod_32_of_word_c_div_32():
    a = -np.ones((2, 70), np.int8)
    a[0, 0] = a[0, 33] = a[1, 69] = 1
    words = pack_rows(a)
    assert words.shape == (2, 3) and words.dtype == np.uint32
    assert words[0].tolist() == [1, 2, 0] and words[1].tolist() == [0, 0, 1 << 5]
    assert np.array_equal(unpack_rows(words, 70), a)
    assert packed_nbytes((1, 4, 4, 70)) == 16 * 3 * 4
    assert Value("v", (1, 4, 4, 70), DType.b1).nbytes == 16 * 3 * 4


def test_binarize_compares_against_thresholds_and_flips():
    x = Value("x", (1, 3), DType.s8, QuantParams.per_tensor(0.1, 0))
    t = const("t", np.array([0, 5, -128], np.int32), DType.s32)
    f = const("f", np.array([0, 1, 1], np.uint8), DType.u1)
    node = make_node(Binarize, "b", [x, t, f], ["y"])
    xs = np.array([[0, 5, 100], [-1, 4, -128]], np.int8)
    (y,) = node.ref([xs, t.data, f.data])
    assert y.tolist() == [[1, -1, -1], [-1, 1, -1]]


@pytest.mark.parametrize("seed", range(6))
def test_binary_dense_is_the_plus_minus_one_dot_product(seed):
    rng = np.random.default_rng(seed)
    k, o = int(rng.integers(1, 100)), int(rng.integers(1, 40))
    x, w = _pm(rng, (5, k)), _pm(rng, (o, k))
    t = rng.integers(-k, k + 1, o).astype(np.int32)
    xv = Value("x", (1, k), DType.b1)
    node = make_node(BinaryDense, "d", [xv, const("w", w, DType.b1, _scales(rng, o)),
                                        const("t", t, DType.s32)], ["y"])
    (y,) = node.ref([x, w, t])
    dot = np.array([[sum(int(x[n, j]) * int(w[i, j]) for j in range(k)) for i in range(o)]
                    for n in range(5)])
    assert np.array_equal(y, np.where(dot >= t, 1, -1))
    # K - 2 popcount(x xor w), the identity the kernels use
    pop = np.array([[np.count_nonzero(x[n] != w[i]) for i in range(o)] for n in range(5)])
    assert np.array_equal(dot, k - 2 * pop)


@pytest.mark.parametrize("pad_value", [-1, 0, 1])
def test_binary_conv_pads_with_its_pad_value(pad_value):
    rng = np.random.default_rng(pad_value + 7)
    n, h, wd, c, o, kh, kw = 2, 5, 6, 3, 4, 3, 2
    pad, stride, dil = Padding(1, 2, 1, 0), (1, 2), (2, 1)
    x, w = _pm(rng, (n, h, wd, c)), _pm(rng, (o, kh, kw, c))
    t = rng.integers(-6, 7, o).astype(np.int32)
    node = make_node(BinaryConv2d, "c", [Value("x", (1, h, wd, c), DType.b1),
                                         const("w", w, DType.b1, _scales(rng, o)),
                                         const("t", t, DType.s32)], ["y"],
                     stride=stride, dilation=dil, padding=pad, pad_value=pad_value)
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
                            inside = 0 <= iy < h and 0 <= ix < wd
                            xv = x[b, iy, ix] if inside else np.full(c, pad_value)
                            s += int(np.dot(xv.astype(np.int64), w[oc, ky, kx]))
                    want[b, oy, ox, oc] = s
    assert np.array_equal(y, np.where(want >= t, 1, -1))


def _float_binary_graph(rng, flip: bool = False) -> Graph:
    """Conv2d -> sign -> BinaryConv2d -> BN (Mul, Add) -> MaxPool -> sign -> BinaryDense."""
    x = Value("x", (1, 6, 6, 2), DType.f32)
    c1 = make_node(Conv2d, "c1", [x, const("w1", rng.normal(0, 0.5, (32, 3, 3, 2)).astype(np.float32)),
                                  const("b1", rng.normal(0, 0.1, 32).astype(np.float32))],
                   ["h1"], padding=Padding(1, 1, 1, 1))
    z1 = make_node(Binarize, "z1", [c1.y, const("t1", np.zeros(32, np.float32)),
                                    const("f1", np.zeros(32, np.uint8), DType.u1)], ["h2"])
    bc = make_node(BinaryConv2d, "bc", [z1.y, const("wb", _pm(rng, (64, 3, 3, 32)), DType.b1,
                                                    _scales(rng, 64)),
                                        const("bb", rng.normal(0, 2, 64).astype(np.float32))],
                   ["h3"], padding=Padding(1, 1, 1, 1), pad_value=-1)
    mul = make_node(Mul, "bn_mul", [bc.y, const("s", rng.normal(0, 1, 64).astype(np.float32))],
                    ["h4"])
    add = make_node(Add, "bn_add", [mul.y, const("a", rng.normal(0, 3, 64).astype(np.float32))],
                    ["h5"])
    mp = make_node(MaxPool2d, "mp", [add.y], ["h6"])
    z2 = make_node(Binarize, "z2", [mp.y, const("t2", np.zeros(64, np.float32)),
                                    const("f2", np.full(64, flip, np.uint8), DType.u1)], ["h7"])
    rs = make_node(Reshape, "rs", [z2.y], ["h8"], shape=(1, 9 * 64))
    bd = make_node(BinaryDense, "bd", [rs.y, const("wd", _pm(rng, (10, 576)), DType.b1,
                                                   _scales(rng, 10)),
                                       const("bd_b", rng.normal(0, 1, 10).astype(np.float32))],
                   ["y"])
    g = Graph("bin", [c1, z1, bc, mul, add, mp, z2, rs, bd], [x], [bd.y])
    g.validate()
    return g


def test_batchnorm_and_sign_fold_into_integer_thresholds():
    rng = np.random.default_rng(3)
    g = _float_binary_graph(rng)
    folded = fold_binary(g)
    kinds = [n.kind for n in folded.nodes]
    assert "mul" not in kinds and "add" not in kinds and kinds.count("binarize") == 1
    bc = next(n for n in folded.nodes if n.name == "bc")
    assert bc.y.dtype is DType.b1 and bc.inputs[2].dtype is DType.s32
    assert np.all(bc.inputs[1].quant.scale > 0)  # negative BN scales became negated rows
    xs = rng.normal(0, 1, (64, 6, 6, 2)).astype(np.float32)
    (want,), t0 = run(g, [xs], keep_all=True)
    (got,), t1 = run(folded, [xs], keep_all=True)
    assert np.array_equal(t0["h7"], t1["h6"])  # the same signs reach the dense layer
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_flipped_sign_after_a_pool_is_not_folded():
    g = _float_binary_graph(np.random.default_rng(4), flip=True)
    folded = fold_binary(g)
    assert [n.kind for n in folded.nodes].count("binarize") == 2  # the pool blocks the flip


def test_quantized_binary_graph_runs_as_planned():
    rng = np.random.default_rng(5)
    g = fold_binary(_float_binary_graph(rng))
    xs = rng.normal(0, 1, (48, 6, 6, 2)).astype(np.float32)
    q = quantize(g, calibrate(g, xs, progress=False))
    assert [v.dtype for v in q.nodes[1].outputs] == [DType.b1]
    assert q.nodes[1].inputs[1].dtype is DType.s32  # threshold on the int8 conv output
    xq = q.inputs[0].quant.quantize(xs, DType.s8)
    (want,) = run(q, [xq])[0]
    got = run_planned(q, plan_memory(q), [xq])
    assert np.array_equal(got[0], want)
    fy = run(g, [xs])[0][0]
    yq = q.outputs[0].quant
    deq = (want.astype(np.float64) - yq.zp) * yq.s
    assert np.corrcoef(deq.ravel(), fy.ravel())[0, 1] > 0.9


def test_bad_binary_input_is_refused_with_a_clear_error():
    rng = np.random.default_rng(6)
    x = Value("x", (1, 2, 2, 40), DType.b1)
    with pytest.raises(IRError, match="packed in 32-bit words"):
        make_node(Reshape, "r", [x], ["y"], shape=(1, 160))
    w = _pm(rng, (3, 8))
    w[1, 2] = 0
    with pytest.raises(IRError, match="not only -1 and \\+1"):
        make_node(BinaryDense, "d", [Value("x", (1, 8), DType.b1),
                                     const("w", w, DType.b1, _scales(rng, 3)),
                                     const("t", np.zeros(3, np.int32), DType.s32)], ["y"])
    with pytest.raises(IRError, match="thresholds and flips of shape"):
        make_node(Binarize, "z", [Value("x", (1, 4), DType.f32), const("t", np.zeros(3, np.float32)),
                                  const("f", np.zeros(4, np.uint8), DType.u1)], ["y"])


def test_an_affine_before_a_sign_moves_into_its_thresholds():
    rng = np.random.default_rng(8)
    x = Value("x", (1, 40), DType.f32)
    s = rng.normal(0, 1, 40).astype(np.float32)
    mul = make_node(Mul, "m", [x, const("s", s)], ["h1"])
    add = make_node(Add, "a", [mul.y, const("c", rng.normal(0, 1, 40).astype(np.float32))], ["h2"])
    z = make_node(Binarize, "z", [add.y, const("t", rng.normal(0, 0.5, 40).astype(np.float32)),
                                  const("f", (rng.random(40) < 0.5).astype(np.uint8), DType.u1)],
                  ["h3"])
    d = make_node(BinaryDense, "d", [z.y, const("w", _pm(rng, (7, 40)), DType.b1, _scales(rng, 7)),
                                     const("b", np.zeros(7, np.float32))], ["y"])
    g = Graph("g", [mul, add, z, d], [x], [d.y])
    folded = fold_binary(g)
    assert [n.kind for n in folded.nodes] == ["binarize", "binarydense"]
    xs = rng.normal(0, 2, (500, 40)).astype(np.float32)
    (_, t0), (_, t1) = run(g, [xs], keep_all=True), run(folded, [xs], keep_all=True)
    assert np.array_equal(t0["h3"], t1["h3"])


# -- b1 values at the C boundary (targets/c/boundary.py) ----------------------------------------
def _dense_b1_graph(rng, k: int = 70, o: int = 40) -> Graph:
    x = Value("x", (1, k), DType.b1)
    node = make_node(BinaryDense, "fc", [x, const("w", _pm(rng, (o, k)), DType.b1, _scales(rng, o)),
                                         const("t", rng.integers(-9, 10, o).astype(np.int32),
                                               DType.s32)], ["y"])
    g = Graph("bnd", [node], [x], [node.y])
    g.validate()
    return g


def test_b1_inputs_and_outputs_cross_the_c_boundary_as_packed_words():
    rng = np.random.default_rng(9)
    g = _dense_b1_graph(rng)
    src = generate(g, "bnd")
    head = src.files["bnd.h"]
    # 70 values: 3 words in; 40 values: 2 words out
    assert "void bnd_run(const uint32_t *in, uint32_t *out);" in head
    assert "#define BND_INPUT_SIZE 3" in head and "#define BND_OUTPUT_SIZE 2" in head
    [m] = host.build([(src, g)])
    x = _pm(rng, (6, 70))
    (got,) = m.run(x)
    assert got.dtype == np.int8 and np.array_equal(got, run(g, [x])[0][0])
    x[3, 69] = 0
    with pytest.raises(ValueError, match=r"input x is b1: its values must be -1 or \+1, got \[0\]"):
        m.run(x)


def test_firmware_vectors_hold_b1_inputs_as_words_and_parse_printed_words():
    rng = np.random.default_rng(10)
    g = _dense_b1_graph(rng, k=33, o=40)
    x = -np.ones((2, 33), np.int8)
    x[0, [0, 31]] = 1  # word 0: bits 0 and 31
    x[1, 32] = 1  # word 1: bit 0
    files = vector_files(generate(g, "bnd"), g, [x])
    assert "#define FF_IN_TYPE uint32_t" in files["ff_vectors.h"]
    assert "#define FF_OUT_TYPE int32_t" in files["ff_vectors.h"]  # printed as signed words
    assert "{\n    0x80000001UL, 0x0UL, 0x0UL, 0x1UL,\n};" in files["ff_vectors.c"]
    # output (1, 40): word 0 with bits 0 and 31 set prints as -2147483647, word 1 holds 8 values
    want = -np.ones((1, 40), np.int8)
    want[0, [0, 31, 39]] = 1
    (y,) = parse_outputs("ff:out 0 -2147483647 128\nff:done\n", g, 1)
    assert np.array_equal(y, want)
    with pytest.raises(FirmwareOutputError, match="output y: b1 rows of 40 values came back with "
                                                  "spare bits set"):
        parse_outputs("ff:out 0 0 256\nff:done\n", g, 1)


def test_a_b1_model_output_runs_on_the_host_as_in_the_reference():
    """A converted model whose output is b1 (a sign at the end): Project.run_host unpacks it."""
    rng = np.random.default_rng(11)
    x = Value("x", (1, 20), DType.f32)
    d = make_node(Dense, "fc", [x, const("w", rng.normal(size=(45, 20)).astype(np.float32)),
                                const("b", rng.normal(size=45).astype(np.float32))], ["h"])
    z = make_node(Binarize, "sign", [d.y, const("t", rng.normal(size=45).astype(np.float32)),
                                     const("f", (rng.random(45) < 0.3).astype(np.uint8),
                                           DType.u1)], ["s"])
    g = Graph("signs", [d, z], [x], [z.y])
    g.validate()
    proj = convert(g, calibration=rng.normal(size=(64, 20)).astype(np.float32), progress=False)
    assert proj.graph.outputs[0].dtype is DType.b1
    xs = rng.normal(size=(8, 20)).astype(np.float32)
    want = proj.reference(xs)
    assert set(np.unique(want)) == {-1, 1} and np.array_equal(proj.run_host(xs), want)


# -- bad binary input: each a clear error naming the node -----------------------------------------
_B1 = Value("s", (1, 4, 4, 40), DType.b1)


def _s8_weights(shape):
    o = shape[0]
    return const("w", np.ones(shape, np.int8), DType.s8,
                 QuantParams(np.ones(o, np.float32), np.zeros(o), 0))


@pytest.mark.parametrize(("cls", "inputs", "attrs"), [
    (Add, lambda: [_B1, _B1], {}),
    (Mul, lambda: [_B1, _B1], {}),
    (Softmax, lambda: [_B1], {}),
    (Relu, lambda: [_B1], {}),
    (AvgPool2d, lambda: [_B1], dict(kernel=(2, 2), stride=(2, 2))),
    (Conv2d, lambda: [_B1, _s8_weights((3, 1, 1, 40)), const("b", np.zeros(3, np.int32))], {}),
    (Dense, lambda: [Value("s", (1, 40), DType.b1), _s8_weights((3, 40)),
                     const("b", np.zeros(3, np.int32))], {}),
], ids=lambda p: getattr(p, "__name__", ""))
def test_a_b1_value_into_an_op_without_b1_is_refused(cls, inputs, attrs):
    """The signs of a binary layer feed binary layers, max pools and reshapes; any other op is
    refused where the graph is built, by name."""
    with pytest.raises(IRError, match=r"^bad: .* has no b1 implementation"):
        make_node(cls, "bad", inputs(), ["y"], **attrs)


def test_a_sign_into_an_op_without_b1_is_refused_by_convert():
    """A float graph whose sign (Binarize) feeds a softmax, built without make_node's check:
    convert() refuses it and names the softmax."""
    x = Value("x", (1, 40), DType.f32)
    z = make_node(Binarize, "sign", [x, const("t", np.zeros(40, np.float32)),
                                     const("f", np.zeros(40, np.uint8), DType.u1)], ["s"])
    sm = Softmax(name="probs", inputs=[z.y], outputs=[Value("y", (1, 40), DType.f32)])
    g = Graph("g", [z, sm], [x], [sm.y])
    calib = np.random.default_rng(12).normal(size=(16, 40)).astype(np.float32)
    with pytest.raises(IRError, match="probs: softmax has no b1 implementation"):
        convert(g, calibration=calib, progress=False)


@pytest.mark.parametrize(("cls", "shapes", "attrs"), [
    (Transpose, [(1, 3, 4, 40)], dict(perm=(0, 3, 1, 2))),
    (Concat, [(1, 3, 40), (1, 3, 8)], dict(axis=2)),
    (Split, [(1, 3, 40)], dict(axis=2, sizes=(8, 32))),
    (StridedSlice, [(1, 3, 40)], dict(starts=(0, 0, 3), stops=(1, 3, 20), steps=(1, 1, 1))),
    (Pad, [(1, 3, 40)], dict(pads=((0, 0), (1, 1), (0, 0)))),
], ids=lambda p: getattr(p, "__name__", ""))
def test_moves_of_packed_b1_data_are_refused_by_the_c_target(cls, shapes, attrs):
    """Shape ops that would move bits inside packed words (or need a b1 kernel the C core does
    not have) are refused by name when C is generated."""
    xs = [Value(f"x{i}", s, DType.b1) for i, s in enumerate(shapes)]
    node = make_node(cls, "move", xs, [f"y{i}" for i in range(2 if cls is Split else 1)], **attrs)
    with pytest.raises(UnsupportedOpError, match=r"^move: the C target has no \w+ kernel for "
                                                 r"(packed )?b1 data"):
        lower(node)


def test_a_concat_of_signs_is_refused_by_convert():
    rng = np.random.default_rng(13)
    x = Value("x", (1, 40), DType.f32)
    z = make_node(Binarize, "sign", [x, const("t", np.zeros(40, np.float32)),
                                     const("f", np.zeros(40, np.uint8), DType.u1)], ["s"])
    cat = make_node(Concat, "cat", [z.y, z.y], ["c"], axis=-1)
    fc = make_node(BinaryDense, "fc", [cat.y, const("w", _pm(rng, (10, 80)), DType.b1,
                                                    _scales(rng, 10)),
                                       const("b", np.zeros(10, np.float32))], ["y"])
    g = Graph("g", [z, cat, fc], [x], [fc.y])
    with pytest.raises(ConversionError, match="cat: the C target has no concat kernel for packed "
                                              "b1 data"):
        convert(g, calibration=rng.normal(size=(16, 40)).astype(np.float32), progress=False)


@pytest.mark.parametrize("bad", [0, 2, -3])
def test_binary_conv_weights_that_are_not_plus_minus_one_are_refused(bad):
    rng = np.random.default_rng(14)
    w = _pm(rng, (4, 3, 3, 5))
    w[2, 1, 0, 4] = bad
    with pytest.raises(IRError, match=rf"^c: weights declared binary hold \[{bad}\], not only -1 "
                                      r"and \+1"):
        make_node(BinaryConv2d, "c", [Value("x", (1, 6, 6, 5), DType.b1),
                                      const("w", w, DType.b1, _scales(rng, 4)),
                                      const("t", np.zeros(4, np.int32), DType.s32)], ["y"])


def test_a_torch_binary_layer_with_non_binary_weights_is_refused():
    """The torch frontend takes a binary layer's weights as its ``binary_weight()`` gives them:
    anything but -1 and +1 there is refused, naming the layer."""

    layer = BinaryLinear(8, 4)
    layer.binary_weight = lambda: layer.weight.detach()  # the latent real weights, not signs
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), layer)
    calib = np.random.default_rng(15).normal(size=(16, 6)).astype(np.float32)
    with pytest.raises(UnsupportedModelError, match=r"module 1 \(BinaryLinear\): binary weights "
                                                    r"must be -1 or \+1"):
        convert(model, calibration=calib, progress=False)


def test_binary_weights_of_the_wrong_shape_are_refused():
    rng = np.random.default_rng(16)
    with pytest.raises(IRError, match=r"^d: input \(1, 40\) does not match weights \(3, 41\)"):
        make_node(BinaryDense, "d", [Value("x", (1, 40), DType.b1),
                                     const("w", _pm(rng, (3, 41)), DType.b1, _scales(rng, 3)),
                                     const("t", np.zeros(3, np.int32), DType.s32)], ["y"])
    with pytest.raises(IRError, match=r"^c: binary conv needs NHWC input and OHWI weights of its "
                                      r"channels, got \(1, 5, 5, 40\) and \(2, 3, 3, 8\)"):
        make_node(BinaryConv2d, "c", [Value("x", (1, 5, 5, 40), DType.b1),
                                      const("w", _pm(rng, (2, 3, 3, 8)), DType.b1, _scales(rng, 2)),
                                      const("t", np.zeros(2, np.int32), DType.s32)], ["y"])
    with pytest.raises(IRError, match=r"cannot be reshaped to \(1, 4, 160\) in place"):
        make_node(Reshape, "r", [Value("x", (1, 4, 4, 40), DType.b1)], ["y"], shape=(1, 4, 160))
    # a b1 reshape that keeps the last axis, or one of whole words, is the same bytes
    make_node(Reshape, "r", [Value("x", (1, 4, 4, 40), DType.b1)], ["y"], shape=(1, 16, 40))
    make_node(Reshape, "r", [Value("x", (1, 4, 64), DType.b1)], ["y"], shape=(1, 8, 32))


def test_b1_inputs_are_drawn_and_checked_as_plus_minus_one():
    """Default inputs of a b1 graph input are -1/+1 (0 would pack as -1 and be refused at the
    C boundary); the reference refuses a 0 in a b1 input; an invalid graph handed to the passes
    is blamed on itself, not on the first pass."""
    from firmforge.converter.ir import random_batch
    from firmforge.converter.ops.nonlinear import Softmax
    from firmforge.converter.passes import FLOAT_PIPELINE, run_passes

    x = Value("x", (1, 4, 4, 37), DType.b1)
    drawn = random_batch(x, 50, np.random.default_rng(0))
    assert set(np.unique(drawn).tolist()) == {-1, 1}
    pool = make_node(MaxPool2d, "pool", [x], ["y"])
    g = Graph("g", [pool], [x], pool.outputs)
    assert run(g, [drawn])[0][0].shape[0] == 50
    with pytest.raises(IRError, match=r"input x is b1: its values must be -1 or \+1, got \[0\]"):
        run(g, [np.zeros((1, 4, 4, 37), np.int8)])
    xf = Value("xf", (1, 8), DType.f32)
    sign = make_node(Binarize, "sign", [xf, const("t", np.zeros(8, np.float32)),
                                        const("f", np.zeros(8, np.uint8), DType.u1)], ["s"])
    soft = Softmax(name="probs", inputs=[sign.outputs[0]], outputs=[Value("p", (1, 8), DType.f32)])
    bad = Graph("bad", [sign, soft], [xf], soft.outputs)
    with pytest.raises(IRError) as err:
        run_passes(bad, FLOAT_PIPELINE)
    assert "probs" in str(err.value) and "produced an invalid graph" not in str(err.value)
