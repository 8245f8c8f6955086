"""Low-bit weights for an already quantized graph (an int8 ``.tflite`` file's, for instance).

A layer's int8 weights q8 with per-channel scales s8[c] stand for the float weights
w = s8[c] * q8. Requantizing them to a ``b``-bit dtype is the post-training quantization of
those floats (``quantize_weights``: per channel, symmetric, scale max|w[c]| / Q):

    q_b = clip(round(w / s_b[c]), -Q, Q),   s_b[c] = max|w[c]| / Q,

or, with ``mse_scales=True``, the scale among a * max|w[c]| / Q (a = 0.40, 0.41, ..., 1.00) of the
least squared error sum (w - s q_b)^2 per channel: at 4 bits and below, clipping the few largest
weights buys a finer step for all the others,
and the int32 bias, which stands for b = s_in * s8[c] * q_bias, is requantized to the new bias
scale s_in * s_b[c]. Activations and every other parameter stay as they are, so the model keeps
its input and output encodings and its other layers bit for bit; each layer's requantization
multiplier follows from the new scales as for any quantized layer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..dtype import QuantParams, round_away
from ..encoding import Dense, Packed
from ..ir import DType, Graph, Value
from ..quantize.params import WEIGHT_QMAX, quantize_bias, quantize_weights
from .prune import CompressionError


def requantize_weights(graph: Graph, dtype: DType = DType.s4,
                       layers: Iterable[str] | None = None, *, mse_scales: bool = False) -> Graph:
    """A copy of quantized ``graph`` whose int8 conv/dense weights (every such layer, or the
    ``layers`` named) are requantized to ``dtype`` (``DType.s4`` or ``DType.s2``, stored packed;
    ``DType.s8`` re-derives the scales) with their biases; see the module docstring."""
    if dtype not in WEIGHT_QMAX:
        raise CompressionError(f"weights can be requantized to "
                               f"{', '.join(d.value for d in WEIGHT_QMAX)}, not {dtype.value}")
    g = graph.copy()
    eligible = {n.name: n for n in g.nodes if _int8_weights(n)}
    wanted = set(eligible) if layers is None else set(layers)
    unknown = wanted - set(eligible)
    if unknown:
        raise CompressionError(f"no layer with int8 constant weights named "
                               f"{', '.join(sorted(unknown))}; these have them: "
                               f"{', '.join(sorted(eligible)) or 'none'}")
    for name in sorted(wanted):
        node = eligible[name]
        x, w, b = node.inputs[:3]
        axis = node.weight_axis % w.data.ndim
        shape = [1] * w.data.ndim
        shape[axis] = -1
        w_float = w.data.astype(np.float64) * np.asarray(w.quant.scale, np.float64).reshape(shape)
        q, p = (_mse_quantized if mse_scales else quantize_weights)(w_float, axis, dtype)
        node.inputs[1] = Value(f"{w.name}_{dtype.value}", w.shape, dtype, p, q,
                               Packed() if dtype.bits < 8 else Dense())
        if b is not None and b.is_const:
            b_float = b.data.astype(np.float64) * np.asarray(b.quant.scale, np.float64)
            qb, pb = quantize_bias(b_float, float(x.quant.scale[0]), p.scale)
            node.inputs[2] = Value(f"{b.name}_{dtype.value}", b.shape, DType.s32, pb, qb)
    g.validate()
    return g


def _int8_weights(node) -> bool:
    """A conv/dense layer with constant per-channel int8 weights and an int32 bias."""
    if node.weight_axis is None or len(node.inputs) < 3:
        return False
    w, b = node.inputs[1], node.inputs[2]
    return (w.is_const and w.dtype is DType.s8 and w.quant is not None
            and isinstance(w.encoding, Dense)
            and b is not None and b.is_const and b.dtype is DType.s32)


def _mse_quantized(w: np.ndarray, axis: int, dtype: DType) -> tuple[np.ndarray, QuantParams]:
    """``quantize_weights`` with each channel's scale chosen by least squared error."""
    _, p = quantize_weights(w, axis, dtype)
    qmax = WEIGHT_QMAX[dtype]
    rows = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)  # channel c: rows[c]
    frac = np.linspace(0.4, 1.0, 61)
    cand = np.abs(rows).max(axis=1)[:, None] / qmax * frac[None, :]  # (C, 61)
    cand = np.where(cand > 0, cand, p.scale.astype(np.float64)[:, None]).astype(np.float32)
    s64 = cand.astype(np.float64)[:, :, None]
    err = ((rows[:, None, :] - s64 * np.clip(round_away(rows[:, None, :] / s64), -qmax, qmax))
           ** 2).sum(axis=2)
    scale = cand[np.arange(len(cand)), err.argmin(axis=1)]
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(round_away(w / scale.astype(np.float64).reshape(shape)), -qmax, qmax)
    return q.astype(dtype.np), QuantParams(scale, np.zeros(scale.size, np.int64), axis)
