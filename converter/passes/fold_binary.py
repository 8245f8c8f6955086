"""fold_binary: batch-norm and sign folded into binary layers (ops/binary.py).

A binary layer with a float output computes ``z[o] = alpha[o] * dot[o] + b[o]``. Into it fold:

- a per-channel affine right after it (an inference BatchNorm, imported as Mul then Add):
      Mul by s:  alpha' = alpha * s,  b' = b * s        Add t:  b' = b + t
  A negative alpha' is made positive by negating the channel's weights (dot' = -dot, with
  pad_value taps negated alike), so alpha stays a positive scale. A zero s is left alone.
- an affine before a sign folds into the sign's thresholds (``_affine_into_sign``), and a sign
  of one threshold for all channels moves before a reshape or transpose (a flatten);
- the sign after it (a ``Binarize`` with thresholds t and flips, reached directly or through
  max pools): with alpha > 0,
      z[o] >= t[o]  <=>  dot[o] >= T[o] = ceil((t[o] - b[o]) / alpha[o])       (dot is an integer)
  so the layer gives b1 by the integer threshold T; a flipped channel (+1 iff z < t) becomes
  -dot >= 1 - T by negating its weights. The max pools then work on b1: sign(max z) = max sign(z)
  because the sign is non-decreasing (for that reason flips and pools do not mix: a flipped
  channel through a pool is left as it is). T is clipped to [-K - 1, K + 1], K the taps: beyond
  that every dot compares alike.

The layer's float output and the Binarize disappear; what is left is integer already (b1
values, s32 thresholds), so quantization has nothing to calibrate there.
"""

from __future__ import annotations

import numpy as np

from ..ir import DType, Graph, Value, const, make_node
from ..ops.binary import Binarize, BinaryConv2d, BinaryDense
from ..ops.eltwise import Mul
from ..ops.pool import MaxPool2d
from ..ops.shape import Reshape, Transpose
from ._graph import bypass, sole_consumer
from .fold_bn import _affine, _shift
from .fold_scaled import affine_into_layer, float_layer, rescale

_LAYERS = (BinaryDense, BinaryConv2d)


def fold_binary(graph: Graph) -> Graph:
    g = graph.copy()
    while (affine_into_layer(g, _LAYERS) or _affine_into_sign(g) or _sign_before_moves(g)
           or _sign_into_layer(g)):
        pass
    return g


def _sign_before_moves(g: Graph) -> bool:
    """A float Binarize of one threshold and flip for every channel, after a Reshape or
    Transpose (a flatten before a binary dense layer), moves before it: the sign of each
    element does not depend on where the element goes. It can then fold into the layer that
    made the values, and the move carries b1 values."""
    for z in g.nodes:
        if not isinstance(z, Binarize) or z.x.dtype is not DType.f32:
            continue
        _, t, flip = z.inputs
        m = g.producer(z.x)
        if not isinstance(m, (Reshape, Transpose)) or sole_consumer(g, z.x) is not z \
                or np.ptp(t.data) != 0 or np.ptp(flip.data) != 0:
            continue
        x = m.inputs[0]
        c = x.shape[-1]
        if isinstance(m, Reshape) and c != m.y.shape[-1] and (c % 32 or m.y.shape[-1] % 32):
            continue  # b1 rows would pack differently before and after (ops/binary.py)
        signs = make_node(Binarize, g.unique_name(f"{z.name}.moved"),
                          [x, const(g.unique_name(t.name), np.full(c, t.data[0], np.float32)),
                           const(g.unique_name(flip.name), np.full(c, flip.data[0], np.uint8),
                                 DType.u1)], [g.unique_name(f"{x.name}.sign")])
        old = m.outputs[0]
        m.inputs = [signs.outputs[0], *m.inputs[1:]]
        m.outputs = [Value(old.name, old.shape, DType.b1)]
        g.replace_uses(z.outputs[0], m.outputs[0])
        g.nodes.remove(z)
        g.nodes.insert(g.nodes.index(m), signs)
        return True
    return False


def _affine_into_sign(g: Graph) -> bool:
    """A per-channel affine whose only reader is a float Binarize moves into its thresholds:
    sign(x + c) against t is x against t - c; sign(x * s) is x against t / s, the comparison
    turned around where s < 0 (+1 iff x <= t / s, i.e. not x > t / s: the flip, with the
    threshold nudged to the next float above t / s so that equality still gives +1)."""
    for n in g.nodes:
        m = _affine(n)
        z = sole_consumer(g, n.outputs[0]) if m else None
        if not isinstance(z, Binarize) or z.inputs[0] is not n.outputs[0]:
            continue
        x, vec = m
        _, t, flip = z.inputs
        tv = t.data.astype(np.float64)
        if isinstance(n, Mul):
            if np.any(vec == 0):
                continue
            tv = tv / vec
            neg = vec < 0
            tv = np.where(neg, np.nextafter(tv.astype(np.float32), np.float32(np.inf)), tv)
            flips = flip.data.astype(bool) ^ neg
        else:
            tv, flips = tv - _shift(n, vec), flip.data.astype(bool)
        z.inputs = [x, const(g.unique_name(t.name), tv.astype(np.float32), DType.f32),
                    const(g.unique_name(flip.name), flips.astype(np.uint8), DType.u1)]
        g.nodes.remove(n)
        return True
    return False


def _sign_into_layer(g: Graph) -> bool:
    for z in g.nodes:
        if not isinstance(z, Binarize) or z.x.dtype is not DType.f32:
            continue
        pools, v = [], z.x
        while isinstance(g.producer(v), MaxPool2d) and sole_consumer(g, v) is (pools or [z])[0]:
            pools.insert(0, g.producer(v))
            v = pools[0].x
        p = float_layer(g, v, _LAYERS)
        if p is None or sole_consumer(g, v) is not (pools or [z])[0]:
            continue
        _, t, flip = z.inputs
        flips = flip.data.astype(bool)
        if pools and flips.any():
            continue
        alpha = p.inputs[1].quant.scale.astype(np.float64)
        b = p.inputs[2].data.astype(np.float64)
        taps = p.inputs[1].size // p.inputs[1].shape[0]
        thr = np.ceil((t.data.astype(np.float64) - b) / alpha)
        thr = np.where(flips, 1 - thr, thr)
        thr = np.clip(thr, -taps - 1, taps + 1)
        rescale(g, p, alpha, np.where(flips, -1.0, 1.0), thr, DType.s32)
        chain = [p, *pools]
        for node in chain:  # the layer and the pools now carry b1 values
            old = node.outputs[0]
            node.outputs = [Value(old.name, old.shape, DType.b1)]
            g.replace_uses(old, node.outputs[0])
        bypass(g, z, chain[-1].outputs[0])
        return True
    return False
