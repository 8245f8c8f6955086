"""Post-training quantization (converter/quantize/ptq.py, params.py): parameter rules, the graph
rewrite, end-to-end accuracy of the int8 reference against the float one, and the error cases.

Expected parameters are written out here from the TFLite int8 rules, not taken from the code.
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, Node, QuantRule, Value, const, make_node
from firmforge.converter.ops.act import HardSwish, LeakyRelu, Relu, Relu6
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.eltwise import Add, Maximum, Minimum, Mul, Sub
from firmforge.converter.ops.nonlinear import Sigmoid, Softmax, Tanh
from firmforge.converter.ops.pool import AvgPool2d, MaxPool2d
from firmforge.converter.ops.quant import Quantize
from firmforge.converter.ops.reduce import Mean
from firmforge.converter.ops.shape import Concat, Pad, Reshape, Split, Transpose
from firmforge.converter.quantize import (
    CalibrationError,
    MSEObserver,
    QuantizationError,
    calibrate,
    quantize,
)
from firmforge.converter.reference import run


def _act(lo, hi):
    """(scale, zero point) of the activation rule, written out independently."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = np.float32((hi - lo) / 255)
    return s, int(np.clip(np.floor(-128 - lo / float(s) + 0.5), -128, 127))


def _w(rng, shape, std=0.3):
    return rng.normal(0, std, shape).astype(np.float32)


class _B:
    """A tiny graph builder over the op classes (the torch frontend is not needed)."""

    def __init__(self, rng, shape=(1, 8, 8, 3)):
        self.rng = rng
        self.x = Value("x", shape, DType.f32)
        self.nodes = []

    def op(self, cls, name, inputs, **attrs):
        node = make_node(cls, name, inputs, [name], **attrs)
        self.nodes.append(node)
        return node.y

    def conv(self, name, x, o, k=3, groups=1, **attrs):
        i = x.shape[3] // groups
        return self.op(Conv2d, name, [x, const(f"{name}.w", _w(self.rng, (o, k, k, i))),
                                      const(f"{name}.b", _w(self.rng, (o,), 0.1))],
                       groups=groups, **attrs)

    def dw(self, name, x, mult=1, **attrs):
        c = x.shape[3] * mult
        return self.op(DepthwiseConv2d, name, [x, const(f"{name}.w", _w(self.rng, (1, 3, 3, c))),
                                               const(f"{name}.b", _w(self.rng, (c,), 0.1))],
                       depth_multiplier=mult, **attrs)

    def dense(self, name, x, o, **attrs):
        k = x.shape[-1]
        return self.op(Dense, name, [x, const(f"{name}.w", _w(self.rng, (o, k), k ** -0.5)),
                                     const(f"{name}.b", _w(self.rng, (o,), 0.1))], **attrs)

    def graph(self, *outs):
        g = Graph("g", self.nodes, [self.x], list(outs))
        g.validate()
        return g


SAME = Padding(1, 1, 1, 1)


def _chain(rng):
    """conv(relu) -> dw -> concat(., conv(x)) -> maxpool -> reshape -> dense."""
    b = _B(rng)
    c1 = b.conv("conv1", b.x, 8, padding=SAME, act=Act.RELU)
    d1 = b.dw("dw1", c1, padding=SAME)
    c2 = b.conv("conv2", b.x, 4, k=1)
    cat = b.op(Concat, "cat", [d1, c2], axis=3)
    p = b.op(MaxPool2d, "pool", [cat])
    r = b.op(Reshape, "flat", [p], shape=(1, 192))
    return b.graph(b.dense("fc", r, 10))


def _chain2(rng):
    """pad -> grouped strided conv -> transpose -> avgpool -> dw x2 (relu6) -> reshape -> dense."""
    b = _B(rng, (1, 9, 9, 4))
    p = b.op(Pad, "pad", [b.x], pads=((0, 0), (1, 1), (2, 0), (0, 0)))
    c = b.conv("gconv", p, 8, groups=2, stride=(2, 2))
    t = b.op(Transpose, "swap", [c], perm=(0, 2, 1, 3))
    a = b.op(AvgPool2d, "avg", [t], kernel=(2, 2), stride=(1, 1), padding=Padding(0, 1, 0, 1))
    d = b.dw("dw", a, mult=2, stride=(2, 2), padding=SAME, act=Act.RELU6)
    r = b.op(Reshape, "flat", [d], shape=(1, int(np.prod(d.shape[1:]))))
    return b.graph(b.dense("fc", r, 6, act=Act.RELU))


def _ranges(g, rng, n=64):
    return calibrate(g, rng.normal(0, 1, (n, *g.inputs[0].shape[1:])).astype(np.float32),
                     progress=False)


def _sqnr_db(g, qg, x):
    ref = run(g, [x])[0]
    got = run(qg, [qg.inputs[0].quant.quantize(x, DType.s8)])[0]
    worst = np.inf
    for r, q, v in zip(ref, got, qg.outputs, strict=True):
        y = v.quant.dequantize(q)
        worst = min(worst, 10 * np.log10(np.sum(r.astype(np.float64) ** 2)
                                         / max(np.sum((r - y).astype(np.float64) ** 2), 1e-30)))
    return worst


# -- parameter rules -----------------------------------------------------------------------------

@pytest.mark.parametrize(("lo", "hi", "scale", "zp"), [
    (0.0, 2.55, 0.01, -128), (-2.55, 0.0, 0.01, 127), (-1.28, 1.27, 0.01, 0),
    (0.5, 2.55, 0.01, -128), (-2.55, -0.5, 0.01, 127), (-1.0, 3.0, 4 / 255, -64)])
def test_activation_params_from_ranges(lo, hi, scale, zp):
    b = _B(np.random.default_rng(0), (1, 4))
    g = b.graph(b.op(Relu, "r", [b.x]))
    q = quantize(g, {"x": (lo, hi), "r": (0.0, 1.0)}).inputs[0].quant
    assert q.scale[0] == np.float32(scale) and q.zp == zp
    assert q.dequantize(np.array([zp], np.int8))[0] == 0.0


def test_degenerate_range_gets_a_tiny_positive_scale():
    b = _B(np.random.default_rng(0), (1, 4))
    g = b.graph(b.op(Relu, "r", [b.x]))
    qg = quantize(g, {"x": (0.0, 0.0), "r": (0.0, 0.0)})
    for v in (qg.inputs[0], qg.outputs[0]):
        assert 0 < v.quant.s < 1e-6 and v.quant.zp == -128


def test_every_activation_has_zero_exact_and_the_rule_params():
    rng = np.random.default_rng(1)
    g = _chain(rng)
    ranges = _ranges(g, rng)
    qg = quantize(g, ranges)
    shared = {"dw1", "conv2", "cat", "pool", "flat"}  # concat group, then pool and reshape of it
    union = (min(ranges[n][0] for n in shared), max(ranges[n][1] for n in shared))
    for v in qg.values():
        if v.is_const:
            continue
        assert v.dtype is DType.s8 and not v.quant.per_channel
        s, z = _act(*(union if v.name in shared else ranges[v.name]))
        assert v.quant.scale[0] == s and v.quant.zp == z, v.name
        assert v.quant.dequantize(np.array([v.quant.zp]))[0] == 0.0
    assert ranges["conv1"][0] == 0.0 and qg.nodes[0].y.quant.zp == -128  # post-ReLU range


@pytest.mark.parametrize(("build", "layer", "axis"), [
    (_chain, "conv1", 0), (_chain, "dw1", 3), (_chain, "fc", 0), (_chain2, "gconv", 0),
    (_chain2, "dw", 3)])
def test_weights_are_symmetric_per_channel_and_bias_is_int32(build, layer, axis):
    rng = np.random.default_rng(2)
    g = build(rng)
    qg = quantize(g, _ranges(g, rng))
    fnode = next(n for n in g.nodes if n.name == layer)
    qnode = next(n for n in qg.nodes if n.name == layer)
    w, qw = fnode.inputs[1].data, qnode.inputs[1]
    red = tuple(a for a in range(w.ndim) if a != axis)
    want = (np.abs(w.astype(np.float64)).max(axis=red) / 127).astype(np.float32)
    assert qw.dtype is DType.s8 and qw.quant.axis == axis
    assert np.array_equal(qw.quant.scale, want) and not qw.quant.zero_point.any()
    shape = [1] * w.ndim
    shape[axis] = -1
    assert np.all(np.abs(qw.data.astype(np.int64)).max(axis=red) == 127)
    assert np.all(np.abs(qw.data * want.reshape(shape) - w) <= want.reshape(shape) / 2 * 1.0001)
    qb = qnode.inputs[2]
    bscale = np.float32(qnode.x.quant.scale[0]) * want
    assert qb.dtype is DType.s32 and np.array_equal(qb.quant.scale, bscale)
    assert not qb.quant.zero_point.any()
    assert np.array_equal(qb.data, np.floor(fnode.inputs[2].data / bscale.astype(np.float64) + 0.5))


def test_all_zero_weight_channel_gets_a_placeholder_scale():
    b = _B(np.random.default_rng(3), (1, 5))
    w = np.arange(15, dtype=np.float32).reshape(3, 5) - 7
    w[1] = 0.0
    y = b.op(Dense, "fc", [b.x, const("w", w), const("b", np.array([0.5, -0.25, 1.0], np.float32))])
    qg = quantize(b.graph(y), {"x": (-1, 1), "fc": (-50, 50)})
    qw = qg.nodes[0].inputs[1]
    assert np.array_equal(qw.quant.scale, np.float32([7 / 127, 1.0, 7 / 127]))
    assert not qw.data[1].any() and np.array_equal(qw.data[0], np.round(w[0] * 127 / 7))


def test_pool_reshape_transpose_pad_share_their_input_params():
    rng = np.random.default_rng(4)
    g = _chain2(rng)
    ranges = _ranges(g, rng)
    qg = quantize(g, ranges)
    by = {v.name: v for v in qg.values()}
    s, z = _act(min(ranges[n][0] for n in ("x", "pad")), max(ranges[n][1] for n in ("x", "pad")))
    assert by["x"].quant.scale[0] == s and by["x"].quant.zp == z
    assert by["pad"].quant.same_as(by["x"].quant)
    group = ("gconv", "swap", "avg")
    assert all(by[n].quant.same_as(by["gconv"].quant) for n in group)
    s, z = _act(min(ranges[n][0] for n in group), max(ranges[n][1] for n in group))
    assert by["avg"].quant.scale[0] == s and by["avg"].quant.zp == z
    assert by["flat"].quant.same_as(by["dw"].quant)
    assert not by["dw"].quant.same_as(by["avg"].quant)


@dataclass(eq=False, kw_only=True, repr=False)
class _Halves(Node):
    """Test-only two-output op: the halves of the last axis (a split), parameters SHARED."""

    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED

    def infer(self):
        *lead, c = self.x.shape
        return [((*lead, c // 2), self.x.dtype)] * 2

    def ref(self, xs):
        c = xs[0].shape[-1] // 2
        return [xs[0][..., :c], xs[0][..., c:2 * c]]


def test_every_output_of_a_multi_output_node_shares_its_rule():
    """Both outputs of a SHARED two-output node join the input's group, and a JOINED consumer
    of the second output pulls the whole group to the union range."""
    b = _B(np.random.default_rng(15), (1, 4, 4, 6))
    h = make_node(_Halves, "h", [b.conv("c", b.x, 6, k=1)], ["h0", "h1"])
    b.nodes.append(h)
    cat = b.op(Concat, "cat", [h.outputs[1], b.x], axis=3)
    g = b.graph(h.outputs[0], cat)
    qg = quantize(g, {"x": (-1.0, 1.0), "c": (-2.0, 3.0), "h0": (-2.0, 1.0), "h1": (0.0, 3.0),
                      "cat": (-1.0, 3.0)})
    s, z = _act(-2.0, 3.0)
    for v in qg.values():
        if v.name in ("x", "c", "h0", "h1", "cat"):
            assert v.quant.scale[0] == s and v.quant.zp == z, v.name


def test_concat_chains_resolve_to_one_group():
    rng = np.random.default_rng(5)
    b = _B(rng)
    a1 = b.conv("a1", b.x, 2, k=1)
    a2 = b.conv("a2", b.x, 3, k=1)
    r1 = b.op(Reshape, "r1", [a2], shape=(1, 8, 8, 3))
    r2 = b.op(Reshape, "r2", [r1], shape=(1, 8, 8, 3))
    cat = b.op(Concat, "cat", [a1, r2, b.x], axis=3)
    p = b.op(AvgPool2d, "p", [cat])
    cat2 = b.op(Concat, "cat2", [p, b.op(MaxPool2d, "m", [b.conv("a3", b.x, 1, k=1)])], axis=3)
    g = b.graph(b.dense("fc", b.op(Reshape, "flat", [cat2], shape=(1, 144)), 4))
    ranges = {"x": (-1.0, 2.0), "a1": (-3.0, 0.5), "a2": (-0.5, 1.5), "r1": (-0.5, 1.5),
              "r2": (-0.5, 1.5), "cat": (-3.0, 2.0), "p": (-2.0, 1.0), "a3": (0.0, 4.0),
              "m": (0.0, 3.5), "cat2": (-2.0, 4.0), "flat": (-2.0, 4.0), "fc": (-1.0, 1.0)}
    qg = quantize(g, ranges)
    group = ("x", "a1", "a2", "r1", "r2", "cat", "p", "a3", "m", "cat2", "flat")
    s, z = _act(-3.0, 4.0)
    for v in qg.values():
        if v.name in group:
            assert v.quant.scale[0] == s and v.quant.zp == z, v.name
    assert qg.outputs[0].quant.scale[0] == _act(-1.0, 1.0)[0]


@pytest.mark.parametrize("cls", [Maximum, Minimum])
def test_maximum_minimum_join_operands_and_output(cls):
    """TFLM compares raw integers, so both operands (a constant included) and the output get
    the parameters of their joined range, and the int8 reference is then exact on the grid."""
    rng = np.random.default_rng(14)
    b = _B(rng, (1, 4, 4, 2))
    a1, a2 = b.conv("a1", b.x, 3, k=1), b.conv("a2", b.x, 3, k=1)
    m = b.op(cls, "m", [a1, a2])
    k = const("k", np.array([-2.5, 0.0, 0.7], np.float32))
    g = b.graph(b.op(cls, "mk", [m, k]))
    ranges = {"x": (-1, 1), "a1": (-3.0, 0.5), "a2": (-0.5, 1.5), "m": (-0.5, 1.5),
              "mk": (-2.5, 1.5)}
    qg = quantize(g, ranges)
    s, z = _act(-3.0, 1.5)
    group = [qg.nodes[2].inputs[0], qg.nodes[2].inputs[1], *qg.nodes[3].inputs, qg.outputs[0]]
    for v in group:
        assert v.quant.scale[0] == s and v.quant.zp == z, v.name
    qk = qg.nodes[3].inputs[1]
    assert np.array_equal(qk.data, np.round(k.data / s) + z)
    xs = [rng.integers(-128, 128, (3, 4, 4, 3), dtype=np.int8) for _ in range(2)]
    pick = np.maximum if cls is Maximum else np.minimum
    assert np.array_equal(qg.nodes[2].ref(xs)[0], pick(*xs))


@pytest.mark.parametrize(("cls", "scale", "zp"), [
    (Softmax, 1 / 256, -128), (Sigmoid, 1 / 256, -128), (Tanh, 1 / 128, 0)])
def test_fixed_output_params(cls, scale, zp):
    b = _B(np.random.default_rng(6), (1, 6))
    y = b.op(cls, "f", [b.dense("fc", b.x, 4)])
    r = b.op(Reshape, "r", [y], shape=(1, 2, 2))
    g = b.graph(b.op(Concat, "cat", [r, b.op(Reshape, "r2", [y], shape=(1, 2, 2))], axis=2))
    qg = quantize(g, {"x": (-1, 1), "fc": (-5, 5)})  # fixed groups need no observed range
    for v in qg.values():
        if v.name in ("f", "r", "r2", "cat"):
            assert v.quant.scale[0] == np.float32(scale) and v.quant.zp == zp


@pytest.mark.parametrize("cls", [Add, Sub, Mul])
def test_float_constant_operand_becomes_per_tensor_int8(cls):
    rng = np.random.default_rng(7)
    b = _B(rng, (1, 4, 5))
    c = const("c", rng.uniform(0.2, 1.7, (1, 1, 5)).astype(np.float32))
    g = b.graph(b.op(cls, "op", [b.x, c]))
    qg = quantize(g, {"x": (-2, 2), "op": (-3, 3)})
    qc = qg.nodes[0].inputs[1]
    s, z = _act(float(c.data.min()), float(c.data.max()))
    assert qc.name == "c" and qc.dtype is DType.s8 and qc.quant.scale[0] == s and qc.quant.zp == z
    assert np.all(np.abs(qc.quant.dequantize(qc.data) - c.data) <= s / 2 * 1.0001)


@pytest.mark.parametrize("cls", [Relu, Relu6, LeakyRelu, Mean, HardSwish])
def test_own_range_ops(cls):
    b = _B(np.random.default_rng(8), (1, 3, 3, 2))
    g = b.graph(b.op(cls, "op", [b.conv("c", b.x, 2, padding=SAME)]))
    qg = quantize(g, {"x": (-1, 1), "c": (-4, 4), "op": (-0.5, 5.0)})
    # TFLM's int8 RELU6 clamps the input bytes, so its output shares the input's parameters.
    s, z = _act(-4.0, 5.0) if cls is Relu6 else _act(-0.5, 5.0)
    assert qg.outputs[0].quant.scale[0] == s and qg.outputs[0].quant.zp == z


def test_rewrite_keeps_names_classes_attributes_and_the_float_graph():
    rng = np.random.default_rng(9)
    g = _chain2(rng)
    def snapshot():
        return [(v.name, v.dtype, v.quant, id(v.data), v.data.copy() if v.is_const else None)
                for v in g.values()]

    before = snapshot()
    qg = quantize(g, _ranges(g, rng))
    for (*a, da), (*b, db) in zip(before, snapshot(), strict=True):
        assert a == b and (da is None or np.array_equal(da, db))
    assert [v.name for v in qg.values()] == [v.name for v in g.values()]
    for f, q in zip(g.nodes, qg.nodes, strict=True):
        assert type(f) is type(q) and f.name == q.name and f.attrs == q.attrs
    assert [v.dtype for v in qg.inputs + qg.outputs] == [DType.s8, DType.s8]
    qg.validate()


def test_weights_shared_by_two_layers_get_distinct_bias_values():
    rng = np.random.default_rng(10)
    b = _B(rng, (1, 4))
    w, bias = const("w", _w(rng, (4, 4))), const("b", _w(rng, (4,)))
    h = b.op(Dense, "fc1", [b.x, w, bias])
    g = b.graph(b.op(Dense, "fc2", [h, w, bias]))
    qg = quantize(g, {"x": (-1, 1), "fc1": (-3, 3), "fc2": (-9, 9)})
    b1, b2 = qg.nodes[0].inputs[2], qg.nodes[1].inputs[2]
    assert qg.nodes[0].inputs[1] is qg.nodes[1].inputs[1]
    assert b1.name == "b" and b2.name != "b" and not np.array_equal(b1.quant.scale, b2.quant.scale)


# -- end to end: the int8 reference against the float reference -----------------------------------

@pytest.mark.parametrize("observer", [None, MSEObserver])
@pytest.mark.parametrize("build", [_chain, _chain2])
def test_quantized_chain_tracks_the_float_graph(build, observer):
    rng = np.random.default_rng(11)
    g = build(rng)
    shape = g.inputs[0].shape[1:]
    calib = rng.normal(0, 1, (128, *shape)).astype(np.float32)
    ranges = calibrate(g, calib, progress=False, **({"observer": observer} if observer else {}))
    qg = quantize(g, ranges)
    assert _sqnr_db(g, qg, rng.normal(0, 1, (64, *shape)).astype(np.float32)) > 25.0


def _conv_then(cls, **attrs):
    def build(rng):
        b = _B(rng, (1, 6, 6, 3))
        c = b.conv("c", b.x, 4, padding=SAME)
        if cls in (Add, Sub, Mul, Maximum, Minimum):
            other = b.conv("c2", b.x, 4, k=1)
            return b.graph(b.op(cls, "op", [c, other], **attrs))
        return b.graph(b.op(cls, "op", [c], **attrs))
    return build


def _const_operand(cls):
    def build(rng):
        b = _B(rng, (1, 6, 6, 3))
        c = b.conv("c", b.x, 4, padding=SAME)
        k = const("k", rng.uniform(0.5, 1.5, (1, 1, 1, 4)).astype(np.float32))
        return b.graph(b.op(cls, "op", [c, k]))
    return build


def _split_then_add(rng):
    b = _B(rng, (1, 6, 6, 3))
    sp = make_node(Split, "sp", [b.conv("c", b.x, 5, padding=SAME)], ["p0", "p1"], axis=3,
                   sizes=(2, 3))
    b.nodes.append(sp)
    return b.graph(b.op(Add, "op", [sp.outputs[0], b.op(Mean, "m", [sp.outputs[1]], axes=(3,),
                                                        keepdims=True)]))


# These ops' int8 references are written by other helpers; the tests stand as their acceptance.
PENDING = {
    "add": _conv_then(Add), "sub": _conv_then(Sub), "mul": _conv_then(Mul),
    "add_const": _const_operand(Add), "mul_const": _const_operand(Mul),
    "mean": _conv_then(Mean, axes=(1, 2)), "relu": _conv_then(Relu), "relu6": _conv_then(Relu6),
    "leaky_relu": _conv_then(LeakyRelu, alpha=0.1), "softmax": _conv_then(Softmax),
    "sigmoid": _conv_then(Sigmoid), "tanh": _conv_then(Tanh),
    "maximum": _conv_then(Maximum), "minimum_const": _const_operand(Minimum),
    "hard_swish": _conv_then(HardSwish), "split": _split_then_add,
}


@pytest.mark.parametrize("name", sorted(PENDING))
def test_quantized_op_tracks_the_float_graph(name):
    rng = np.random.default_rng(12)
    g = PENDING[name](rng)
    qg = quantize(g, _ranges(g, rng, 512))
    assert _sqnr_db(g, qg, rng.normal(0, 1, (64, 6, 6, 3)).astype(np.float32)) > 25.0


# -- errors ---------------------------------------------------------------------------------------

def test_nan_or_inf_weights_are_rejected():
    rng = np.random.default_rng(13)
    for bad, where in ((np.nan, 1), (np.inf, 2)):
        g = _chain(rng)
        ranges = _ranges(g, rng, 8)
        const_v = g.nodes[0].inputs[where]
        data = const_v.data.copy()
        data.flat[3] = bad
        g.nodes[0].inputs[where] = const(const_v.name, data)
        with pytest.raises(QuantizationError, match=rf"constant {const_v.name} .*conv1.*NaN or Inf"):
            quantize(g, ranges)


def test_unsupported_node_types_are_named():
    b = _B(np.random.default_rng(14), (1, 4))
    q = b.op(Quantize, "q", [b.x])
    g = Graph("g", b.nodes, [b.x], [q])
    with pytest.raises(QuantizationError, match=r"no int8 rule for quantize \(nodes q \(quantize\)\)"):
        quantize(g, {"x": (-1, 1)})


def test_missing_or_bad_ranges_are_calibration_errors():
    rng = np.random.default_rng(15)
    g = _chain(rng)
    ranges = _ranges(g, rng, 8)
    del ranges["pool"]
    with pytest.raises(CalibrationError, match=r"no calibration range for value pool \(made by pool"):
        quantize(g, ranges)
    ranges["pool"] = (1.0, -1.0)
    with pytest.raises(CalibrationError, match="invalid calibration range"):
        quantize(g, ranges)


def test_quantized_graphs_and_dynamic_weights_are_rejected():
    rng = np.random.default_rng(16)
    g = _chain(rng)
    qg = quantize(g, _ranges(g, rng, 8))
    with pytest.raises(QuantizationError, match="not a float graph"):
        quantize(qg, {})
    b = _B(rng, (1, 4))
    w = b.op(Reshape, "w", [b.x], shape=(1, 4))
    g = b.graph(b.op(Dense, "fc", [b.x, w, const("b", np.zeros(1, np.float32))]))
    with pytest.raises(QuantizationError, match="weights and bias must be constants"):
        quantize(g, {"x": (-1, 1), "w": (-1, 1), "fc": (-1, 1)})


def test_fixed_params_joined_with_other_sources_are_requantized():
    """sigmoid(h) concatenated with h: the sigmoid branch gets an int8 -> int8 Quantize to the
    Concat's parameters instead of forcing h into the sigmoid's fixed ones."""
    b = _B(np.random.default_rng(17), (1, 6))
    h = b.dense("fc", b.x, 4)
    g = b.graph(b.op(Concat, "cat", [b.op(Sigmoid, "s", [h]), h], axis=1))
    qg = quantize(g, {"x": (-1, 1), "fc": (-5, 5), "s": (0, 1), "cat": (-5, 5)})
    kinds = [n.kind for n in qg.nodes]
    assert kinds == ["dense", "sigmoid", "quantize", "concat"], kinds
    rq, cat = qg.nodes[2], qg.nodes[3]
    assert rq.x.quant.scale[0] == np.float32(1 / 256) and rq.y.quant.same_as(cat.y.quant)
    assert cat.inputs[1].quant.same_as(cat.y.quant)
    x = np.random.default_rng(0).uniform(-1, 1, (64, 6)).astype(np.float32)
    want = reference.run(g, [x])[0][0]
    got = qg.outputs[0].quant.dequantize(reference.run(qg, [qg.inputs[0].quant.quantize(x, DType.s8)])[0][0])
    assert np.abs(got - want).max() < 0.1
