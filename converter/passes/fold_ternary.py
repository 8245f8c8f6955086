"""fold_ternary: batch-norm and ternarizer folded into ternary layers (ops/ternary.py).

A ternary layer with a float output computes ``z[o] = alpha[o] * dot[o] + b[o]``. Into it fold:

- a per-channel affine right after it (``fold_scaled.affine_into_layer``);
- an affine before a ternarizer folds into the ternarizer's thresholds
  (``_affine_into_ternarize``): x + c against (lo, hi) is x against (lo - c, hi - c); x * s
  with s > 0 is x against (lo / s, hi / s); with s < 0 the comparisons turn around:
      s x >= hi  <=>  x <= hi / s  <=>  x < up(hi / s)      (up: the next float32 above)
      s x <  lo  <=>  x >  lo / s  <=>  x >= up(lo / s)
  so v(s x) = -v'(x) with v' of thresholds (lo', hi') = (up(hi / s), up(lo / s)): the flip
  toggles. lo <= hi gives lo' <= hi'.
- the ternarizer after it (a ``Ternarize`` of thresholds (lo, hi) and flips, reached
  directly): with alpha > 0 and dot an integer,
      z >= hi  <=>  dot >= H = ceil((hi - b) / alpha)
      z <  lo  <=>  dot <  L = ceil((lo - b) / alpha)
  so the layer gives t2 by the integer thresholds (L, H). A flipped channel (y = -v) negates
  its weights: y = +1 <=> dot < L <=> -dot >= 1 - L, and y = -1 <=> dot >= H <=> -dot < 1 - H,
  i.e. thresholds (1 - H, 1 - L) on the new dot. Both are clipped to [-K - 1, K + 1], K the
  taps: beyond that every dot compares alike.

The layer's float output and the Ternarize disappear; what is left is integer already (t2
values, s32 thresholds), so quantization has nothing to calibrate there. Max pools between the
layer and the ternarizer are not folded through (there is no t2 max pool): such a layer keeps
its float output, which PTQ makes int8, and the ternarizer then reads int8.
"""

from __future__ import annotations

import numpy as np

from ..ir import DType, Graph, Value, const
from ..ops.eltwise import Mul
from ..ops.ternary import Ternarize, TernaryConv2d, TernaryDense
from ._graph import bypass, sole_consumer
from .fold_bn import _affine, _shift
from .fold_scaled import affine_into_layer, float_layer, rescale

_LAYERS = (TernaryDense, TernaryConv2d)


def fold_ternary(graph: Graph) -> Graph:
    g = graph.copy()
    while affine_into_layer(g, _LAYERS) or _affine_into_ternarize(g) or _ternarize_into_layer(g):
        pass
    return g


def _up(v: np.ndarray) -> np.ndarray:
    return np.nextafter(v.astype(np.float32), np.float32(np.inf)).astype(np.float64)


def _affine_into_ternarize(g: Graph) -> bool:
    for n in g.nodes:
        m = _affine(n)
        z = sole_consumer(g, n.outputs[0]) if m else None
        if not isinstance(z, Ternarize) or z.inputs[0] is not n.outputs[0]:
            continue
        x, vec = m
        _, t, flip = z.inputs
        lo, hi = (t.data[:, i].astype(np.float64) for i in (0, 1))
        flips = flip.data.astype(bool)
        if isinstance(n, Mul):
            if np.any(vec == 0):
                continue
            neg = vec < 0
            lo, hi = np.where(neg, _up(hi / vec), lo / vec), np.where(neg, _up(lo / vec), hi / vec)
            flips = flips ^ neg
        else:
            lo, hi = lo - _shift(n, vec), hi - _shift(n, vec)
        thr = np.stack([lo, hi], axis=1).astype(np.float32)
        z.inputs = [x, const(g.unique_name(t.name), thr, DType.f32),
                    const(g.unique_name(flip.name), flips.astype(np.uint8), DType.u1)]
        g.nodes.remove(n)
        return True
    return False


def _ternarize_into_layer(g: Graph) -> bool:
    for z in g.nodes:
        if not isinstance(z, Ternarize) or z.x.dtype is not DType.f32:
            continue
        p = float_layer(g, z.x, _LAYERS)
        if p is None or sole_consumer(g, z.x) is not z:
            continue
        _, t, flip = z.inputs
        flips = flip.data.astype(bool)
        alpha = p.inputs[1].quant.scale.astype(np.float64)
        b = p.inputs[2].data.astype(np.float64)
        taps = p.inputs[1].size // p.inputs[1].shape[0]
        low = np.ceil((t.data[:, 0].astype(np.float64) - b) / alpha)
        high = np.ceil((t.data[:, 1].astype(np.float64) - b) / alpha)
        low, high = np.where(flips, 1 - high, low), np.where(flips, 1 - low, high)
        thr = np.clip(np.stack([low, high], axis=1), -taps - 1, taps + 1)
        rescale(g, p, alpha, np.where(flips, -1.0, 1.0), thr, DType.s32)
        old = p.outputs[0]
        p.outputs = [Value(old.name, old.shape, DType.t2)]
        g.replace_uses(old, p.outputs[0])
        bypass(g, z, p.outputs[0])
        return True
    return False
