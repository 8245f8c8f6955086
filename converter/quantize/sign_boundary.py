"""An int8 layer whose output only a sign reads: its sign, exactly.

A Binarize on an int8 tensor compares ``q = round(z / s) + zp`` against an integer threshold.
For a real threshold ``t`` the plain choice ``q >= ceil(t / s + zp)`` (``Binarize.integer_inputs``)
also takes every ``z`` that rounds up onto that step: up to half a step below ``t`` reads +1.
When ``t`` sits on a step (a batch norm folded into the sign's thresholds often gives ``t`` = 0,
right on the zero point) that band is ``[t - s/2, t)``, and a first int8 conv of a binary CNN
gives many outputs there (a blank pixel's response): 7 % of the signs flipped on MNIST, 4.6
points of accuracy (benchmarks/binary_mnist.py).

When the layer that makes ``z`` (Conv2d, DepthwiseConv2d, Dense: an int32 bias) feeds only the
sign, through max pools at most, each channel's bias is shifted by ``delta_c`` so that its
threshold falls halfway between two steps:

    k_c = round(t_c / s - 1/2),  delta_c = (k_c + 1/2) s - t_c   (|delta_c| <= s/2)
    z + delta_c >= t_c + delta_c = (k_c + 1/2) s  <=>  round((z + delta_c) / s) >= k_c + 1

so the sign reads ``q >= k_c + 1 + zp`` with no rounding band: only the bias's own resolution
(one accumulator step, ``s_x s_w[c]``, a fraction of ``s``) is left. A max pool commutes with
the shift (it is the same for every element of a channel), and so does a ReLU folded into the
layer: for ``t_c > 0`` the shifted threshold is ``> 0`` too, and for ``t_c <= 0`` every ReLU
output reads +1 either way. The output's int8 parameters do not change; its values move by less
than half a step, and nothing but the sign reads them.
"""

from __future__ import annotations

import numpy as np

from ..ir import DType, Graph, Node, Value
from ..ops.binary import Binarize
from ..ops.conv import Conv2d, DepthwiseConv2d
from ..ops.dense import Dense
from ..ops.pool import MaxPool2d


def sign_only_layer(graph: Graph, sign: Node) -> Node | None:
    """The float layer of ``graph`` (an int32-bias weighted node) whose output only ``sign``
    reads, through max pools each read by one node only; None when there is none."""
    if not isinstance(sign, Binarize):
        return None
    v = sign.inputs[0]
    reader = sign
    while True:
        if graph.consumers(v) != [reader] or v in graph.outputs:
            return None
        p = graph.producer(v)
        if isinstance(p, MaxPool2d):
            v, reader = p.inputs[0], p
            continue
        return p if isinstance(p, (Conv2d, DepthwiseConv2d, Dense)) else None


def centred(bias: Value, thresholds: np.ndarray, x_scale: float, w_scale: np.ndarray,
            out_scale: float, out_zp: int) -> tuple[np.ndarray, np.ndarray]:
    """(shifted int32 bias, int32 thresholds on the int8 output) for real ``thresholds`` per
    channel (module doc). ``bias`` is the layer's quantized bias (units ``x_scale * w_scale``)."""
    t = thresholds.astype(np.float64)
    s = float(out_scale)
    k = np.floor(t / s)  # round(t / s - 1/2), ties down: either neighbour works
    delta = (k + 0.5) * s - t
    unit = float(x_scale) * np.broadcast_to(w_scale.astype(np.float64), t.shape)
    shift = np.rint(delta / unit)
    b = bias.data.astype(np.int64) + shift.astype(np.int64)
    b = np.clip(b, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
    thr = np.clip(k + 1 + out_zp, -128, 128).astype(np.int32)
    return b, thr


def centre_sign(layer_q: Node, sign_f: Node, x_q: Value) -> tuple[Value, Value] | None:
    """The int8 layer's new bias and the sign's new thresholds (Values), or None when the
    layer is not int8 with per-channel int32 bias units this works on."""
    _, w, b = layer_q.inputs[:3]
    if x_q.dtype is not DType.s8 or b.dtype is not DType.s32 or b.data is None:
        return None
    t = sign_f.inputs[1].data
    if b.shape != t.shape:
        return None
    bias, thr = centred(b, t, layer_q.inputs[0].quant.s, np.asarray(w.quant.scale),
                        x_q.quant.s, int(x_q.quant.zp))
    return (Value(b.name, b.shape, DType.s32, b.quant, bias),
            Value(f"{sign_f.inputs[1].name}_q", t.shape, DType.s32, None, thr))
