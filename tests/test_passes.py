"""Graph passes on hand-built float graphs: the rewritten graph computes what the original did
(both run by the op references on random batch-3 inputs), the rewrite actually happened (node
kinds counted), the rewrite is refused where it would be wrong, and the input graph is untouched."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from firmforge.converter.ir import Act, DType, Graph, IRError, Value, const, make_node
from firmforge.converter.ops.act import LeakyRelu, Relu, Relu6
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.eltwise import Add, Mul, Sub
from firmforge.converter.ops.pool import AvgPool2d, MaxPool2d
from firmforge.converter.ops.shape import Pad, Reshape, Transpose
from firmforge.converter.passes import (
    FLOAT_PIPELINE,
    fold_batchnorm,
    fold_constants,
    fold_pad_into_conv,
    fold_transpose_into_dense,
    fuse_activation,
    remove_redundant_reshapes,
    run_passes,
    simplify_transposes,
)
from firmforge.converter.reference import run


class B:
    """Builds a float graph node by node with random constants."""

    def __init__(self, *shape: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.x = Value("x", shape, DType.f32)
        self.g = Graph("t", inputs=[self.x])
        self.consts = 0

    def c(self, *shape: int, lo: float = -1.0, hi: float = 1.0) -> Value:
        data = self.rng.uniform(lo, hi, shape).astype(np.float32)
        self.consts += 1
        return const(f"c{self.consts}", data)

    def __call__(self, cls, *inputs: Value, **attrs) -> Value:
        name = f"n{len(self.g.nodes)}"
        node = make_node(cls, name, list(inputs), [name], **attrs)
        self.g.nodes.append(node)
        return node.outputs[0]

    def conv(self, x: Value, o: int, k: int = 3, **attrs) -> Value:
        return self(Conv2d, x, self.c(o, k, k, x.shape[3]), self.c(o), **attrs)

    def dw(self, x: Value, k: int = 3, **attrs) -> Value:
        return self(DepthwiseConv2d, x, self.c(1, k, k, x.shape[3]), self.c(x.shape[3]), **attrs)

    def dense(self, x: Value, o: int, **attrs) -> Value:
        return self(Dense, x, self.c(o, x.shape[-1]), self.c(o), **attrs)

    def done(self, *outs: Value) -> Graph:
        self.g.outputs = list(outs)
        self.g.validate()
        return self.g


def kinds(g: Graph) -> Counter:
    return Counter(type(n).__name__ for n in g.nodes)


def apply(p, g: Graph, seed: int = 1) -> Graph:
    """Run pass ``p``; check validity, equal results on random inputs, and an untouched input."""
    before = repr(g), kinds(g)
    out = run_passes(g, [p])
    assert (repr(g), kinds(g)) == before
    x = np.random.default_rng(seed).normal(size=(3, *g.inputs[0].shape[1:])).astype(np.float32)
    for want, got in zip(run(g, [x])[0], run(out, [x])[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1, np.abs(want).max()))
    return out


# -- fold_batchnorm ---------------------------------------------------------------------------
def _bn(b: B, y: Value, sub: bool = False, swap: bool = False) -> Value:
    c = y.shape[-1]
    y = b(Mul, b.c(c, lo=0.5, hi=2), y) if swap else b(Mul, y, b.c(c, lo=0.5, hi=2))
    if sub:
        return b(Sub, y, b.c(c))
    return b(Add, b.c(1, 1, 1, c), y) if swap else b(Add, y, b.c(c))


@pytest.mark.parametrize("producer", ["conv", "conv_groups", "dw", "dw_mult", "dense"])
@pytest.mark.parametrize("variant", ["add", "sub", "swapped"])
def test_bn_folds_into_producer(producer, variant):
    b = B(1, 6, 6, 4)
    y = {"conv": lambda: b.conv(b.x, 5, padding=Padding(1, 1, 1, 1)),
         "conv_groups": lambda: b(Conv2d, b.x, b.c(6, 3, 3, 2), b.c(6), groups=2),
         "dw": lambda: b.dw(b.x, stride=(2, 2)),
         "dw_mult": lambda: b(DepthwiseConv2d, b.x, b.c(1, 3, 3, 8), b.c(8), depth_multiplier=2),
         "dense": lambda: b.dense(b.x, 7)}[producer]()
    g = b.done(_bn(b, y, sub=variant == "sub", swap=variant == "swapped"))
    out = apply(fold_batchnorm, g)
    assert sum(kinds(out).values()) == 1 and kinds(out)[type(g.nodes[0]).__name__] == 1


def test_bn_after_a_shared_or_activated_output_becomes_depthwise():
    b = B(1, 5, 5, 3)
    y = b.conv(b.x, 4)
    z = b.conv(b.x, 4, act=Act.RELU)
    g = b.done(_bn(b, y), _bn(b, z), y)  # y is also a graph output: it cannot change
    out = apply(fold_batchnorm, g)
    assert kinds(out) == Counter({"Conv2d": 2, "DepthwiseConv2d": 2})
    dws = [n for n in out.nodes if isinstance(n, DepthwiseConv2d)]
    assert all(n.inputs[1].shape == (1, 1, 1, 4) for n in dws)


def test_standalone_bn_becomes_one_depthwise_and_scalar_mul_stays():
    b = B(1, 4, 4, 3)
    g = b.done(_bn(b, b.x), b(Mul, b.x, const("half", np.array([0.5], np.float32))))
    out = apply(fold_batchnorm, g)
    assert kinds(out) == Counter({"DepthwiseConv2d": 1, "Mul": 1})


def test_bn_before_dense_folds_into_its_weights():
    b = B(1, 6)
    g = b.done(b.dense(_bn(b, b.x), 3))
    assert kinds(apply(fold_batchnorm, g)) == Counter({"Dense": 1})
    b = B(1, 6)
    g = b.done(b.dense(b(Sub, b(Mul, b.x, b.c(6)), b.c(1, 6)), 3))
    assert kinds(apply(fold_batchnorm, g)) == Counter({"Dense": 1})


def test_non_affine_patterns_are_left_alone():
    b = B(1, 4, 4, 3)
    y = b.conv(b.x, 3)
    g = b.done(b(Sub, b.c(3), y), b(Mul, y, b.c(2, 1, 3)))  # c - y; not per channel
    assert kinds(apply(fold_batchnorm, g)) == kinds(g)


# -- fuse_activation --------------------------------------------------------------------------
PRODUCERS = {
    "conv": lambda b: b.conv(b.x, 4),
    "dw": lambda b: b.dw(b.x),
    "dense": lambda b: b.dense(b.x, 5),
    "add": lambda b: b(Add, b.x, b.c(3)),
    "sub": lambda b: b(Sub, b.x, b.c(4, 1, 1)),
    "mul": lambda b: b(Mul, b.x, b.c(1, 4, 3)),
    "avgpool": lambda b: b(AvgPool2d, b.x, kernel=(2, 2), stride=(1, 1)),
    "maxpool": lambda b: b(MaxPool2d, b.x, kernel=(3, 3), stride=(2, 2),
                           padding=Padding(1, 1, 1, 1)),
}


@pytest.mark.parametrize("clamp", [Relu, Relu6])
@pytest.mark.parametrize("producer", sorted(PRODUCERS))
def test_activation_fuses_into_producer(producer, clamp):
    b = B(1, 4, 4, 3)
    g = b.done(b(clamp, PRODUCERS[producer](b)))
    for n in g.nodes:
        for v in n.inputs:
            if v.is_const:
                v.data = v.data * 4  # push values past 6 so Relu6 clamps
    out = apply(fuse_activation, g)
    assert len(out.nodes) == 1
    assert out.nodes[0].act is {Relu: Act.RELU, Relu6: Act.RELU6}[clamp]


def test_activation_composition_and_refusals():
    b = B(1, 4, 4, 3)
    y = b.conv(b.x, 3, act=Act.RELU6)
    z = b.conv(b.x, 3, act=Act.RELU_N1_TO_1)
    shared = b.conv(b.x, 3)
    out_too = b.conv(b.x, 3)
    g = b.done(b(Relu, y), b(Relu, z), b(Relu, shared), b(Relu6, shared), b(Relu, out_too),
               out_too, b(LeakyRelu, b.conv(b.x, 3), alpha=0.1), b(Relu, b(Relu6, b.x)))
    out = apply(fuse_activation, g)
    assert kinds(out) == Counter({"Conv2d": 5, "Relu": 4, "Relu6": 2, "LeakyRelu": 1})
    assert out.nodes[0].act is Act.RELU6 and out.nodes[1].act is Act.RELU_N1_TO_1


# -- transposes and reshapes ------------------------------------------------------------------
def test_flatten_transpose_folds_into_every_dense():
    b = B(1, 3, 4, 5)
    t = b(Transpose, b.x, perm=(0, 3, 1, 2))
    r = b(Reshape, t, shape=(1, 60))
    g = b.done(b.dense(r, 7), b.dense(r, 2, act=Act.RELU))
    out = apply(fold_transpose_into_dense, g)
    assert kinds(out) == Counter({"Reshape": 1, "Dense": 2})


def test_transpose_after_dense_folds_into_its_rows():
    b = B(1, 8)
    t = b(Transpose, b(Reshape, b.dense(b.x, 24), shape=(1, 4, 2, 3)), perm=(0, 2, 3, 1))
    g = b.done(b.conv(t, 2, k=1))
    out = apply(fold_transpose_into_dense, g)
    assert kinds(out) == Counter({"Dense": 1, "Reshape": 1, "Conv2d": 1})


def test_transpose_feeding_a_non_dense_or_an_output_stays():
    b = B(1, 3, 4, 5)
    t = b(Transpose, b.x, perm=(0, 3, 1, 2))
    r = b(Reshape, t, shape=(1, 60))
    g = b.done(b.dense(r, 7), b(Relu, r))
    assert kinds(apply(fold_transpose_into_dense, g)) == kinds(g)


def test_simplify_transposes():
    b = B(1, 1, 6, 4)
    back = b(Transpose, b(Transpose, b.x, perm=(0, 3, 1, 2)), perm=(0, 2, 3, 1))  # cancels
    unit = b(Transpose, b.x, perm=(0, 2, 1, 3))  # moves only the size-1 dim: a reshape
    # NHWC -> NCHW -> [N, C, H*W] -> back to NCL-in-IR [N, 1, H*W, C]: keeps the flat order
    c = b(Reshape, b(Reshape, b(Transpose, b.x, perm=(0, 3, 1, 2)), shape=(1, 4, 6)),
          shape=(1, 4, 1, 6))
    real = b(Transpose, b.x, perm=(0, 1, 3, 2))  # a real transpose: stays
    # torch's x.unsqueeze(1) of an [N, T, F] input seen as NCL: four nodes, one transpose
    d = b(Reshape, b(Reshape, b(Transpose, b.x, perm=(0, 3, 1, 2)), shape=(1, 4, 6)),
          shape=(1, 1, 4, 6))
    g = b.done(b(Relu, back), unit, b(Transpose, c, perm=(0, 2, 3, 1)), real,
               b(Transpose, d, perm=(0, 2, 3, 1)))
    out = apply(simplify_transposes, g)
    assert kinds(out) == Counter({"Relu": 1, "Reshape": 2, "Transpose": 2})
    assert out.producer(out.outputs[-1]).perm == (0, 3, 2, 1)


def test_remove_redundant_reshapes():
    b = B(1, 2, 3, 4)
    r = b(Reshape, b(Reshape, b(Relu, b.x), shape=(1, 6, 4)), shape=(1, 24))
    same = b(Reshape, b(Relu6, b.x), shape=(1, 2, 3, 4))
    g = b.done(b.dense(r, 3), b(Relu, same), b(Reshape, b.x, shape=(1, 2, 3, 4)))
    out = apply(remove_redundant_reshapes, g)
    # the chain merges, the same-shape reshape goes, the input->output one must stay
    assert kinds(out) == Counter({"Relu": 2, "Relu6": 1, "Reshape": 2, "Dense": 1})


# -- constants, padding -----------------------------------------------------------------------
def test_fold_constants():
    b = B(1, 4)
    k = b(Reshape, b(Add, b.c(1, 4), b.c(1, 4)), shape=(1, 2, 2))
    g = b.done(b(Mul, b(Reshape, b.x, shape=(1, 2, 2)), k))
    out = apply(fold_constants, g)
    assert kinds(out) == Counter({"Reshape": 1, "Mul": 1}) and out.nodes[1].inputs[1].is_const


def test_pad_folds_into_convs_but_not_pools():
    b = B(1, 5, 5, 3)
    p = b(Pad, b.x, pads=((0, 0), (1, 0), (2, 1), (0, 0)))
    q = b(Pad, b.x, pads=((0, 0), (1, 1), (1, 1), (0, 0)))
    ch = b(Pad, b.x, pads=((0, 0), (1, 1), (0, 0), (0, 1)))
    g = b.done(b.conv(p, 4, padding=Padding(0, 1, 0, 0)), b.dw(p),
               b(AvgPool2d, q, kernel=(3, 3), stride=(1, 1)), b.conv(ch, 2))
    out = apply(fold_pad_into_conv, g)
    assert kinds(out) == Counter({"Conv2d": 2, "DepthwiseConv2d": 1, "AvgPool2d": 1, "Pad": 2})
    assert out.nodes[2].padding == Padding(1, 1, 2, 1)


# -- the pipeline ---------------------------------------------------------------------------
def test_float_pipeline_end_to_end():
    b = B(1, 6, 6, 3)
    y = b(Relu, _bn(b, b.conv(b.x, 4, padding=Padding(1, 1, 1, 1))))
    y = b(Relu6, b(Add, y, b(Relu, _bn(b, b.dw(y, padding=Padding(1, 1, 1, 1))))))
    t = b(Reshape, b(Transpose, b(MaxPool2d, y, kernel=(2, 2), stride=(2, 2)),
                     perm=(0, 3, 1, 2)), shape=(1, 36))
    g = b.done(b(Relu, b.dense(t, 5)))
    out = apply(lambda g: run_passes(g, FLOAT_PIPELINE), g)
    assert kinds(out) == Counter({"Conv2d": 1, "DepthwiseConv2d": 1, "Add": 1, "MaxPool2d": 1,
                                  "Reshape": 1, "Dense": 1})
    assert [getattr(n, "act", None) for n in out.nodes] == [
        Act.RELU, Act.RELU, Act.RELU6, Act.NONE, None, Act.RELU]


def test_run_passes_names_a_pass_that_breaks_the_graph():
    b = B(1, 4)
    g = b.done(b(Relu, b.x))

    def breaks(graph: Graph) -> Graph:
        out = graph.copy()
        out.nodes[0].outputs[0].shape = (1, 5)
        return out

    with pytest.raises(IRError, match="pass breaks"):
        run_passes(g, [breaks])
