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

With calibration inputs (``calibration=``), rounding looks at the data instead (``gptq.py``):
layer after layer in graph order, on the inputs the layer receives from the layers already
requantized, the weights are rounded by GPTQ (then refined by coordinate descent) towards the
least-squares target that reproduces the int8 model's outputs, each channel's scale is the one
of least output error, and the bias absorbs the mean output error that is left (bias
correction). Each output channel is fitted on the rows its activation lets through: rows whose
original output the clamp (a fused ReLU) removes reach no later layer. A layer that sees fewer than
MIN_ROWS_PER_INPUT rows (samples times output pixels) per input cannot tell correlations from
noise, so it keeps rounding to nearest with least-squares scales, bias still corrected.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..dtype import QuantParams, round_away
from ..encoding import Dense, Packed
from ..ir import DType, Graph, Node, Value
from ..ops.conv import DepthwiseConv2d
from ..quantize.params import WEIGHT_QMAX, quantize_bias, quantize_weights
from ..reference import run
from . import gptq
from .prune import CompressionError

MAX_SAMPLES = 256  # calibration inputs used at most
MIN_ROWS_PER_INPUT = 2  # GPTQ only where a layer sees this many rows per input it has
CLAMP_MARGIN = 1.0  # rows up to this many standard deviations below the clamp still count


def requantize_weights(graph: Graph, dtype: DType = DType.s4,
                       layers: Iterable[str] | None = None, *, mse_scales: bool = False,
                       calibration: np.ndarray | None = None) -> Graph:
    """A copy of quantized ``graph`` whose int8 conv/dense weights (every such layer, or the
    ``layers`` named) are requantized to ``dtype`` (``DType.s4`` or ``DType.s2``, stored packed;
    ``DType.s8`` re-derives the scales) with their biases; see the module docstring.

    With ``calibration`` (integer inputs of the graph, batch first) the layers are requantized
    in graph order against the original model's outputs on those inputs (``gptq.py``): each
    layer's rounding with GPTQ on the inputs it receives from the layers already requantized,
    its scales by least squared error, and its bias corrected by the mean output error."""
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
    seen = _Calibration(graph, calibration) if calibration is not None else None
    for node in g.nodes:
        if node.name not in wanted:
            continue
        x, w, b = node.inputs[:3]
        axis = node.weight_axis % w.data.ndim
        shape = [1] * w.data.ndim
        shape[axis] = -1
        w_float = w.data.astype(np.float64) * np.asarray(w.quant.scale, np.float64).reshape(shape)
        b_float = b.data.astype(np.float64) * np.asarray(b.quant.scale, np.float64)
        if seen is None:
            q, p = (_mse_quantized if mse_scales else quantize_weights)(w_float, axis, dtype)
        else:
            q, p, b_float = seen.requantized(g, node, w_float, b_float, dtype)
        node.inputs[1] = Value(f"{w.name}_{dtype.value}", w.shape, dtype, p, q,
                               Packed() if dtype.bits < 8 else Dense())
        qb, pb = quantize_bias(b_float, float(x.quant.scale[0]), p.scale)
        node.inputs[2] = Value(f"{b.name}_{dtype.value}", b.shape, DType.s32, pb, qb)
    g.validate()
    return g


class _Calibration:
    """The inputs of every layer in the original graph, and the data-aware requantization of
    one layer given the graph requantized so far (``gptq.py``)."""

    def __init__(self, graph: Graph, calibration: np.ndarray) -> None:
        self.xs = [np.asarray(calibration)[:MAX_SAMPLES]]
        _, self.original = run(graph, self.xs, keep_all=True)

    def requantized(self, g: Graph, node: Node, w_float: np.ndarray, b_float: np.ndarray,
                    dtype: DType) -> tuple[np.ndarray, QuantParams, np.ndarray]:
        """(q, params, corrected float bias) of ``node`` of the partly requantized ``g``."""
        name = node.inputs[0].name
        _, now = run(g, self.xs, keep_all=True)
        x_orig, x_seen = gptq.rows(node, self.original[name]), gptq.rows(node, now[name])
        qmax = WEIGHT_QMAX[dtype]
        s_in = float(node.inputs[0].quant.scale[0])
        floor = (_clamp_floor(node) - b_float) / s_in  # per channel, in units of x.w
        if isinstance(node, DepthwiseConv2d):
            wm = w_float.reshape(-1, w_float.shape[-1]).T  # (channels, kh * kw)
            pairs = [self._channel(wm[o:o + 1], x_orig[o], x_seen[o], qmax, floor[o:o + 1])
                     for o in range(len(wm))]
            q = np.concatenate([p[0] for p in pairs]).T.reshape(w_float.shape)
            scale = np.concatenate([p[1] for p in pairs])
            delta = np.concatenate([p[2] for p in pairs])
            axis = w_float.ndim - 1
        else:
            wm = w_float.reshape(w_float.shape[0], -1)
            parts = [self._channel(wm[o:o + 1], x_orig, x_seen, qmax, floor[o:o + 1])
                     for o in range(len(wm))]
            q = np.concatenate([p[0] for p in parts]).reshape(w_float.shape)
            scale = np.concatenate([p[1] for p in parts])
            delta = np.concatenate([p[2] for p in parts])
            axis = 0
        params = QuantParams(scale, np.zeros(scale.size, np.int64), axis)
        return q.astype(dtype.np), params, b_float + s_in * delta

    @staticmethod
    def _channel(w: np.ndarray, x_orig: np.ndarray, x_seen: np.ndarray, qmax: int,
                 floor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(q, scales, mean output error) of one channel's weights ``w`` (1, K) on rows x;
        ``floor`` (1,) is the pre-activation (in units of x.w) below which its output clamps."""
        # Rows whose original output the activation clamps away (a ReLU's negative side)
        # reach no later layer: fitting them would spend the few levels of a 4-bit weight on
        # nothing, so only rows above the clamp (less a margin, for rows that the new weights
        # could lift over it) count.
        pre = x_orig @ w[0]
        live = pre > floor[0] - CLAMP_MARGIN * pre.std()
        if live.sum() >= MIN_ROWS_PER_INPUT * w.shape[1]:
            x_orig, x_seen = x_orig[live], x_seen[live]
        if len(x_seen) < MIN_ROWS_PER_INPUT * w.shape[1]:
            # too few rows to tell the inputs' correlations apart from noise: GPTQ would fit
            # the calibration set, so the layer rounds to nearest (bias still corrected)
            scale = _mse_scales(w, qmax)
            q = np.clip(round_away(w / scale.astype(np.float64)[:, None]), -qmax, qmax)
        else:
            goal = gptq.target(w, x_orig, x_seen)
            q, scale = gptq.search(goal, gptq.hessian(x_seen), qmax)
        wq = q * scale.astype(np.float64)[:, None]
        delta = (x_orig @ w.T).mean(axis=0) - (x_seen @ wq.T).mean(axis=0)
        return q, scale, delta


def _clamp_floor(node: Node) -> np.ndarray:
    """The real value below which the layer's output clamps (its activation's lower end)."""
    lo, _ = node.act_range()
    q = node.outputs[0].quant
    return np.asarray((lo - float(np.asarray(q.zp).reshape(-1)[0])) * float(q.scale[0]))


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
    qmax = WEIGHT_QMAX[dtype]
    scale = _mse_scales(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1), qmax)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(round_away(w / scale.astype(np.float64).reshape(shape)), -qmax, qmax)
    return q.astype(dtype.np), QuantParams(scale, np.zeros(scale.size, np.int64), axis)


def _mse_scales(rows: np.ndarray, qmax: int) -> np.ndarray:
    """float32 scale per row (channel) among a * max|row| / qmax, a = 0.40 ... 1.00, of the
    least squared rounding error (an all-zero row keeps scale 1)."""
    frac = np.linspace(0.4, 1.0, 61)
    cand = np.abs(rows).max(axis=1)[:, None] / qmax * frac[None, :]  # (C, 61)
    cand = np.where(cand > 0, cand, 1.0).astype(np.float32)
    s64 = cand.astype(np.float64)[:, :, None]
    err = ((rows[:, None, :] - s64 * np.clip(round_away(rows[:, None, :] / s64), -qmax, qmax))
           ** 2).sum(axis=2)
    return cand[np.arange(len(cand)), err.argmin(axis=1)]
