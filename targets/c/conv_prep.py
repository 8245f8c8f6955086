"""Offline preparation of the fast int8 convolution kernels: what TFLM and CMSIS-NN do in
Prepare, done once by the converter so that the kernels only do arithmetic.

- Accumulator bounds: the largest ``|acc|`` a layer can produce, per output channel,
  ``|bias| + max|x + in_offset| * sum|w|``. They decide whether the prepared requantization
  (``ff_rq`` in ``ff_fixed.h``, ``rq_record`` in ``converter/fixed.py``) is exact, and show that
  a folded bias and every partial sum stay far from int32 overflow.
- The input offset folded into the bias: ``bias + in_offset * sum(w)`` (the int32 value TFLM's
  accumulator reaches over a window of zero-point inputs, plus the bias).
- The requantization's left shift and doubling folded into weights and bias (``rq_scale``),
  and weights reordered and widened to int16 in the order the DSP loops read them.

The layouts are documented with the kernels in ``firmware/core/ff_conv.h``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...converter.fixed import rq_record, rq_scale, rq_valid
from ...converter.ir import Node

# int8 weights scaled by 2**(l+1) stay within int16 for l <= 7 (127 * 2**8 = 32512).
RQ_INT16_MAX_LEFT = 7


def x_span(node: Node) -> int:
    """Largest ``|x + in_offset|`` of an int8 input: ``max(128 + zp, 127 - zp)``."""
    zp = int(node.inputs[0].quant.zp)
    return max(128 + zp, 127 - zp)


def acc_bound(node: Node, w_abs_sum: np.ndarray) -> np.ndarray:
    """Per output channel, a bound on every accumulator (and partial sum) of ``node``, whose
    output channel o sums ``w_abs_sum[o]`` absolute weights."""
    bias = np.abs(node.inputs[2].data.astype(np.int64))
    return bias + x_span(node) * w_abs_sum.astype(np.int64)


@dataclass
class PreparedRq:
    """The prepared requantization of a layer: ``records`` (one ``ff_rq`` per output channel,
    padded: bias, mult, rnd, rsh) and the ``scale`` (``2**(l+1)`` per channel) that the
    kernel's weights and biases carry."""

    records: np.ndarray
    scale: np.ndarray


def prepare_rq(node: Node, w_sum: np.ndarray, w_abs_sum: np.ndarray, channels: int,
               max_left: int = RQ_INT16_MAX_LEFT) -> PreparedRq | None:
    """``ff_rq`` records for an int8 conv-like ``node`` whose output channel o sums weights
    ``w_sum[o]`` (``w_abs_sum[o]`` in magnitude), padded to ``channels`` records (the extra
    ones requantize nothing): the bias with the input offset folded in, times the scale. None
    when the prepared requantization is not provably exact for this layer."""
    mult, shift = node.requant()
    n = len(w_sum)
    mult = np.broadcast_to(mult, (n,))
    shift = np.broadcast_to(shift, (n,))
    if not rq_valid(mult, shift, acc_bound(node, w_abs_sum), max_left):
        return None
    scale = np.ones(channels, np.int64)
    scale[:n] = rq_scale(shift)
    rec = np.zeros((channels, 4), np.int64)
    rec[:n, 0] = folded_bias(node, w_sum) * scale[:n]
    rec[:n, 1:] = rq_record(mult, shift, int(node.y.quant.zp))
    rec[n:, 1:] = (0, 0, 1)
    return PreparedRq(rec, scale)


def rq4_blocks(records: np.ndarray) -> np.ndarray:
    """``ff_rq`` records (a multiple of 4 of them, ``(n, 4)``: bias, mult, rnd, rsh) regrouped
    as ``ff_rq4`` blocks: per four channels the biases, the (mult, rnd) pairs, the shifts."""
    r = np.asarray(records).reshape(-1, 4, 4)  # [block][lane][field]
    return np.concatenate([r[:, :, 0], r[:, :, 1:3].reshape(-1, 8), r[:, :, 3]], axis=1)


def folded_bias(node: Node, w_sum: np.ndarray) -> np.ndarray:
    """``bias + in_offset * w_sum`` per output channel (exact: the bounds keep it in int32)."""
    return node.inputs[2].data.astype(np.int64) - int(node.inputs[0].quant.zp) * w_sum


def round4(n: int) -> int:
    return (n + 3) // 4 * 4


def dw3x3_weights(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Depthwise 3x3 weights ``(1, 3, 3, C)`` times the per-channel ``scale``, as int16 blocks
    of four channels, 36 per block, in ``ff_dwconv2d_s8_3x3``'s order (``ff_conv.h``)."""
    c = w.shape[3]
    k = np.zeros((3, 3, len(scale)), np.int64)
    k[:, :, :c] = w[0]
    k *= scale
    blocks = k.reshape(3, 3, -1, 4).transpose(2, 0, 1, 3)  # [block][ky][kx][lane]
    out = np.empty((blocks.shape[0], 36), np.int64)
    for kx in range(3):  # rows 0 and 1 of column kx, lane by lane
        out[:, 8 * kx:8 * kx + 8] = blocks[:, 0:2, kx, :].transpose(0, 2, 1).reshape(-1, 8)
    out[:, 24:32] = blocks[:, 2, 0:2, :].transpose(0, 2, 1).reshape(-1, 8)
    out[:, 32:36] = blocks[:, 2, 2, :][:, [0, 2, 1, 3]]
    return _int16(out.reshape(-1))


def _int16(a: np.ndarray) -> np.ndarray:
    if np.any(np.abs(a) > 32767):
        raise ValueError("prepared weights overflow int16")  # excluded by max_left
    return a.astype(np.int16)


def im2col_geometry(k_h: int, k_w: int, in_c: int) -> tuple[int, np.ndarray]:
    """``(depth, position)`` of ``ff_conv2d_s8_im2col``'s columns (``ff_conv.h``):
    position[(ky * k_w + kx) * in_c + i] is where tap (ky, kx, i) sits. Kernel row ky starts at
    ``2 * lw * ky``, ``lw = ceil(k_w * in_c / 2)`` words, so an odd row leaves one position
    (a zero weight) before the next."""
    length = k_w * in_c
    lw = (length + 1) // 2
    position = np.arange(k_h)[:, None] * 2 * lw + np.arange(length)[None, :]
    return round4(k_h * 2 * lw), position.reshape(-1)


def im2col_weights(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Conv weights ``(O, KH, KW, C)`` times the per-channel ``scale`` (length O rounded up to
    a multiple of 4), as int16: groups of four channels, each ``depth / 2`` words of the four
    channels' position pairs (``ff_conv.h``)."""
    o, kh, kw, ci = w.shape
    depth, position = im2col_geometry(kh, kw, ci)
    dense = np.zeros((len(scale), depth), np.int64)
    dense[:o, position] = w.reshape(o, -1).astype(np.int64)
    dense *= scale[:, None]
    # [g][h][T][e] -> [g][T][h][e]: channel o = 4g + h, position P = 2T + e
    out = dense.reshape(-1, 4, depth // 2, 2).transpose(0, 2, 1, 3)
    return _int16(out.reshape(-1))
