"""Fold linear maps into the weighted layer that reads them: an average (or sum) pool, or
another Dense (``fold_dense_chain``, at the end).

A pool is linear, so a weighted layer after it is one weighted layer over the pool's input:

    Dense:   y = W avgpool(x) + b = W' x + b,   W' = W P   (P the pool as a matrix)
    Conv2d:  conv_W(avgpool_k(x)) = conv_W'(x)  for a pool of stride = kernel = (kh, kw):
             W'[o, a*kh + i, b*kw + j, c] = W[o, a, b, c] / (kh kw), stride * k, padding * k

Spiking graphs need it: a pool of spikes (Sinabs-style CNNs pool the spikes of each layer)
makes fractions or counts, which no spiking kernel takes; folded, the next synaptic layer reads
the spikes themselves (event-driven, with k^2 times the weights of a Dense, or a k times larger,
k times strided Conv kernel: the same multiply-accumulates). ANN graphs keep their pools: an
int8 pool is cheaper than the larger layer.

W P without the matrix: each weight of a pooled position spreads, divided by the window's
size, over the positions of its window (the pool's adjoint), one strided slice per window tap.
Only unpadded pools fold (a padded average divides by a varying count); a Conv2d folds when its
dilation is 1 and, if it pads the pooled image's bottom or right, the pool covers the image
exactly (else that padding would read the rows the pool dropped).
"""

from __future__ import annotations

import numpy as np

from ..ir import DType, Graph, Value
from ..ops.common import Padding
from ..ops.conv import Conv2d
from ..ops.dense import Dense
from ..ops.pool import AvgPool2d
from ..ops.shape import Reshape
from ._graph import new_const, prune, sole_consumer


class PoolFoldError(ValueError):
    """A pool that a spiking graph needs folded cannot be (the message says why)."""


def fold_avg_pool(graph: Graph) -> Graph:
    """Every foldable AvgPool2d (see the module docstring) folded into its reader."""
    g = graph.copy()
    while _fold_one(g, strict=False):
        prune(g)
    return g


def fold_avg_pool_strict(graph: Graph) -> Graph:
    """As ``fold_avg_pool``, and an AvgPool2d left over is a ``PoolFoldError`` (spiking
    graphs: nothing downstream takes a pool's fractions)."""
    g = fold_avg_pool(graph)
    _fold_one(g, strict=True)
    return g


def _fold_one(g: Graph, strict: bool) -> bool:
    for pool in g.nodes:
        if not isinstance(pool, AvgPool2d) or pool.x.dtype is not DType.f32:
            continue
        why = _why_not(g, pool)
        if why is None:
            _fold(g, pool)
            return True
        if strict:
            raise PoolFoldError(f"{pool.name}: an average/sum pool must fold into the weighted "
                                f"layer after it, and {why}")
    return False


def _reader(g: Graph, pool: AvgPool2d) -> tuple[Reshape | None, Dense | Conv2d | None]:
    r = sole_consumer(g, pool.y)
    flat = r if isinstance(r, Reshape) and len(r.y.shape) == 2 else None
    layer = sole_consumer(g, flat.y) if flat is not None else r
    if isinstance(layer, (Dense, Conv2d)) and type(layer) in (Dense, Conv2d) \
            and layer.inputs[1].is_const and layer.inputs[2].is_const:
        return flat, layer
    return flat, None


def _why_not(g: Graph, pool: AvgPool2d) -> str | None:
    if pool.padding != Padding() or pool.act.name != "NONE":
        return "it pads or clamps"
    flat, layer = _reader(g, pool)
    if layer is None:
        return "it is not read by one Dense or Conv2d (through a flatten) alone"
    if isinstance(layer, Dense):
        return None if flat is not None else "a Dense must read it through a flatten"
    if flat is not None:
        return "a Conv2d cannot read a flattened pool"
    kh, kw = pool.kernel
    if tuple(pool.stride) != (kh, kw):
        return f"its stride {tuple(pool.stride)} is not its kernel {pool.kernel}"
    if tuple(layer.dilation) != (1, 1):
        return f"the Conv2d after it is dilated {tuple(layer.dilation)}"
    h, w = pool.x.shape[1:3]
    p = layer.padding
    if (p.bottom and h % kh) or (p.right and w % kw):
        return "the Conv2d pads the bottom/right of a pool that drops rows or columns"
    return None


def _fold(g: Graph, pool: AvgPool2d) -> None:
    flat, layer = _reader(g, pool)
    x = pool.x
    kh, kw = pool.kernel
    w = np.asarray(layer.inputs[1].data, np.float64)
    if isinstance(layer, Dense):
        sh, sw = pool.stride
        ho, wo, c = pool.y.shape[1:]
        rows = w.reshape(w.shape[0], ho, wo, c) / (kh * kw)
        spread = np.zeros((w.shape[0], *x.shape[1:]))
        for i in range(kh):
            for j in range(kw):
                spread[:, i:i + sh * ho:sh, j:j + sw * wo:sw, :] += rows
        flat_x = Value(g.unique_name(f"{flat.y.name}.unpooled"),
                       (x.shape[0], int(np.prod(x.shape[1:]))), x.dtype)
        g.nodes.insert(g.nodes.index(pool), Reshape(name=flat_x.name, inputs=[x],
                                                    outputs=[flat_x], shape=flat_x.shape))
        layer.inputs = [flat_x, new_const(g, layer.inputs[1],
                                          spread.reshape(w.shape[0], -1).astype(np.float32)),
                        layer.inputs[2]]
        return
    o, a, b, c = w.shape
    grown = np.repeat(np.repeat(w, kh, axis=1), kw, axis=2) / (kh * kw)
    p = layer.padding
    layer.inputs = [x, new_const(g, layer.inputs[1], grown.astype(np.float32)),
                    layer.inputs[2]]
    layer.stride = (layer.stride[0] * kh, layer.stride[1] * kw)
    layer.padding = Padding(p.top * kh, p.bottom * kh, p.left * kw, p.right * kw)
    assert grown.shape == (o, a * kh, b * kw, c)


def fold_dense_chain(graph: Graph) -> Graph:
    """A float Dense read only by another Dense becomes part of it:
    W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2). (Spyx writes a recurrent layer's weights
    as a second Linear after the feed-forward one; a spiking graph's synaptic layer must feed
    a neuron.)"""
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for first in g.nodes:
            second = sole_consumer(g, first.outputs[0]) if type(first) is Dense else None
            if type(second) is not Dense or first.act.name != "NONE" or len(first.y.shape) != 2 \
                    or not all(v.is_const for v in (*first.inputs[1:], *second.inputs[1:])):
                continue
            w1, b1 = (np.asarray(v.data, np.float64) for v in first.inputs[1:])
            w2, b2 = (np.asarray(v.data, np.float64) for v in second.inputs[1:])
            second.inputs = [first.x, new_const(g, second.inputs[1], (w2 @ w1).astype(np.float32)),
                             new_const(g, second.inputs[2], (w2 @ b1 + b2).astype(np.float32))]
            prune(g)
            changed = True
            break
    return g
