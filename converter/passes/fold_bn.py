"""fold_batchnorm: per-channel affine ops (inference BatchNorm, imported as Mul then Add with
per-channel constants) folded into the weights of a neighbouring layer.

Into the producer (Conv2d, DepthwiseConv2d, Dense with no fused activation, whose output nothing
else reads), for output channel o:
    Mul by s:  w'[o] = w[o] * s[o],  b'[o] = b[o] * s[o]
    Add t:     b'[o] = b[o] + t[o]        (Sub t: b'[o] = b[o] - t[o])
Into a consuming Dense (an affine on its input features k; Dense has no padding, so an Add folds
too):
    Mul by s:  w'[o, k] = w[o, k] * s[k]
    Add t:     b'[o] = b[o] + sum_k w[o, k] * t[k]
A per-channel Mul left on a 4-D tensor becomes a 1x1 DepthwiseConv2d (w = s, b = 0), into which a following
Add then folds, so a standalone BatchNorm ends as one depthwise convolution.
"""

from __future__ import annotations

import numpy as np

from ..ir import Act, DType, Graph, Node, Value, const
from ..ops.common import Padding
from ..ops.conv import Conv2d, DepthwiseConv2d
from ..ops.dense import Dense
from ..ops.eltwise import Add, Mul, Sub
from ._graph import bypass, new_const, per_channel, sole_consumer, split_const

_WEIGHTED = (Conv2d, DepthwiseConv2d, Dense)


def fold_batchnorm(graph: Graph) -> Graph:
    g = graph.copy()
    while _into_producer(g) or _into_dense_consumer(g) or _to_depthwise(g):
        pass
    return g


def _affine(n: Node) -> tuple[Value, np.ndarray] | None:
    """(activation input, per-channel vector) of ``x * s``, ``x + t``, ``t + x`` or ``x - t``."""
    if type(n) not in (Mul, Add, Sub) or n.act is not Act.NONE:
        return None
    split = split_const(n)
    if split is None:
        return None
    x, c, idx = split
    if isinstance(n, Sub) and idx == 0:  # t - x negates x: not an affine of this form
        return None
    if x.dtype is not DType.f32 or not x.shape or tuple(n.y.shape) != tuple(x.shape):
        return None
    vec = per_channel(c, x.shape[-1])
    return None if vec is None else (x, vec)


def _shift(n: Node, vec: np.ndarray) -> np.ndarray:
    return -vec if isinstance(n, Sub) else vec


def _scale_out(p: Node, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    if isinstance(p, Conv2d):
        return w * s[:, None, None, None]
    if isinstance(p, DepthwiseConv2d):
        return w * s
    return w * s[:, None]


def _into_producer(g: Graph) -> bool:
    for n in g.nodes:
        m = _affine(n)
        if m is None:
            continue
        x, vec = m
        p = g.producer(x)
        if not isinstance(p, _WEIGHTED) or p.act is not Act.NONE or sole_consumer(g, x) is not n:
            continue
        _, w, b = p.inputs
        if not (w.is_const and b.is_const):
            continue
        if isinstance(n, Mul):
            p.inputs = [p.inputs[0], new_const(g, w, _scale_out(p, w.data, vec)),
                        new_const(g, b, b.data * vec)]
        else:
            p.inputs = [p.inputs[0], w, new_const(g, b, b.data + _shift(n, vec))]
        bypass(g, n, x)
        return True
    return False


def _into_dense_consumer(g: Graph) -> bool:
    for n in g.nodes:
        m = _affine(n)
        d = sole_consumer(g, n.outputs[0]) if m else None
        if not isinstance(d, Dense) or d.inputs[0] is not n.outputs[0]:
            continue
        x, vec = m
        _, w, b = d.inputs
        if not (w.is_const and b.is_const):
            continue
        w64 = w.data.astype(np.float64)
        if isinstance(n, Mul):
            d.inputs = [x, new_const(g, w, w64 * vec[None, :]), b]
        else:
            d.inputs = [x, w, new_const(g, b, b.data + w64 @ _shift(n, vec))]
        g.nodes.remove(n)
        return True
    return False


def _to_depthwise(g: Graph) -> bool:
    for i, n in enumerate(g.nodes):
        m = _affine(n)
        if m is None or not isinstance(n, Mul) or len(m[0].shape) != 4:
            continue
        x, vec = m
        c = x.shape[-1]
        if c == 1 or n.inputs[1 - n.inputs.index(x)].size != c:
            continue  # a scalar multiply stays a Mul; only per-channel scales are BN-like
        w = const(g.unique_name(f"{n.name}.weight"), vec.reshape(1, 1, 1, c))
        b = const(g.unique_name(f"{n.name}.bias"), np.zeros(c, np.float32))
        g.nodes[i] = DepthwiseConv2d(name=n.name, inputs=[x, w, b], outputs=n.outputs,
                                     padding=Padding(), depth_multiplier=1)
        return True
    return False
