"""What the binary and ternary folds share: a layer of low-bit weights with a per-channel
scale, ``z[o] = alpha[o] * dot[o] + b[o]`` (``dot`` over +-1 or -1/0/+1 weights), as
``fold_binary`` and ``fold_ternary`` find it and rewrite it.

A per-channel affine right after such a layer (an inference BatchNorm, imported as Mul then
Add) folds into it (``affine_into_layer``):
    Mul by s:  alpha' = alpha * s,  b' = b * s        Add t:  b' = b + t
and a negative alpha' is made positive by negating the channel's weights (dot' = -dot). A zero
s is left alone: the channel's output no longer depends on its input.
"""

from __future__ import annotations

import numpy as np

from ..ir import Act, DType, Graph, Node, QuantParams, Value, const
from ..ops.eltwise import Mul
from ._graph import bypass, sole_consumer
from .fold_bn import _affine, _shift


def float_layer(g: Graph, v: Value, layers: tuple[type[Node], ...]) -> Node | None:
    """The layer of one of the ``layers`` types producing ``v``, while its output is still a
    float with no fused activation (nothing folded into it yet that would make it integer)."""
    p = g.producer(v)
    ok = isinstance(p, layers) and p.y.dtype is DType.f32 and p.act is Act.NONE
    return p if ok else None


def rescale(g: Graph, p: Node, alpha: np.ndarray, sign: np.ndarray, t: np.ndarray,
            t_dtype: DType) -> None:
    """Give layer ``p`` scales ``alpha``, its weight rows times ``sign`` (keeping the weights'
    dtype) and the constant ``t`` (its bias, or its integer thresholds) of ``t_dtype``."""
    _, w, old_t = p.inputs
    rows = sign.reshape(-1, *([1] * (w.data.ndim - 1)))
    wq = QuantParams(alpha.astype(np.float32), np.zeros(alpha.size, np.int64), 0)
    p.inputs = [p.inputs[0],
                Value(g.unique_name(w.name), w.shape, w.dtype, wq,
                      (w.data * rows).astype(np.int8), w.encoding),
                const(g.unique_name(old_t.name), t.astype(t_dtype.np), t_dtype)]


def affine_into_layer(g: Graph, layers: tuple[type[Node], ...]) -> bool:
    """Fold one per-channel affine into the float layer before it (module docstring); True
    when something was folded."""
    for n in g.nodes:
        m = _affine(n)
        if m is None:
            continue
        x, vec = m
        p = float_layer(g, x, layers)
        if p is None or sole_consumer(g, x) is not n:
            continue
        alpha = p.inputs[1].quant.scale.astype(np.float64)
        b = p.inputs[2].data.astype(np.float64)
        if isinstance(n, Mul):
            if np.any(vec == 0):
                continue
            a = alpha * vec
            rescale(g, p, np.abs(a), np.sign(a), b * vec, DType.f32)
        else:
            rescale(g, p, alpha, np.ones_like(alpha), b + _shift(n, vec), DType.f32)
        bypass(g, n, x)
        return True
    return False
