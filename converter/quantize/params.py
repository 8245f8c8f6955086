"""Quantization parameters of the TFLite int8 spec, from ranges and from constant data.

Activations (asymmetric, per tensor), from a range (lo, hi):
    lo' = min(lo, 0), hi' = max(hi, 0)                 (0 must be exactly representable)
    s   = float32((hi' - lo') / 255)                   (a degenerate range becomes _TINY_RANGE wide)
    z   = clamp(round(-128 - lo' / s), -128, 127)      so real 0 is the integer z
Weights (symmetric, per output channel c along ``axis``), Q = 127 for int8, 7 for int4, 1 for int2:
    s_c = float32(max|w_c| / Q)                        (an all-zero channel gets s_c = 1.0)
    q   = clamp(round(w / s_c), -Q, Q),  z = 0
    The range is narrow ([-127, 127], [-7, 7]: the dtype's minimum -2**(b-1) is never used), as
    in TFLite's spec and its own int4 quantizer (kMinQuantizedValue4bit = -7): a symmetric grid
    maps +max|w_c| and -max|w_c| to +Q and -Q alike, so neither sign of a channel is clipped or
    favoured, and zero stays exactly 0. The extra negative level would only serve values that a
    symmetric scale never produces.
Bias (int32, per channel, zero point 0):
    s_c = float32(s_in) * float32(s_w[c])              (the float32 product TFLite stores)
    q   = clamp(round(b / s_c), int32 range)
``round`` is half away from zero throughout, as in TFLite.
"""

from __future__ import annotations

import numpy as np

from ..fixed import INT32_MAX, INT32_MIN
from ..ir import DType, QuantParams, round_away

# The width given to a range that collapses to a point (an all-zero tensor) or is narrower still.
# Any scale represents 0 exactly; this one (scale ~3.9e-8) stays above the smallest input scales
# TFLM's int8 logistic/tanh (2**-28) and softmax (2**-26 / beta) accept, and keeps neighbouring
# requantization multipliers inside TFLM's 32-bit shift range.
_TINY_RANGE = 1e-5

# Scale of a weight channel that is all zero: any positive value quantizes it to zeros.
_ZERO_CHANNEL_SCALE = 1.0


class QuantizationError(ValueError):
    """A graph, constant or range that cannot be quantized to int8."""


def activation_params(lo: float, hi: float, dtype: DType = DType.s8) -> QuantParams:
    """Asymmetric per-tensor parameters for the real range ``[lo, hi]`` (see module docstring)."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise QuantizationError(f"invalid range ({lo}, {hi})")
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < _TINY_RANGE:
        hi = lo + _TINY_RANGE
    scale = np.float32((hi - lo) / (dtype.qmax - dtype.qmin))
    zp = int(round_away(dtype.qmin - lo / float(scale)))
    return QuantParams.per_tensor(float(scale), min(max(zp, dtype.qmin), dtype.qmax))


def constant_params(data: np.ndarray, dtype: DType = DType.s8) -> QuantParams:
    """Per-tensor asymmetric parameters of a constant used as an activation (its own min/max)."""
    data = np.asarray(data, np.float64)
    return activation_params(float(data.min()), float(data.max()), dtype)


# Largest weight magnitude of each weight dtype PTQ produces (the narrow symmetric range).
WEIGHT_QMAX = {DType.s8: 127, DType.s4: 7, DType.s2: 1}


def quantize_weights(w: np.ndarray, axis: int, dtype: DType = DType.s8
                     ) -> tuple[np.ndarray, QuantParams]:
    """Per-channel symmetric weights along ``axis`` in [-Q, Q] (Q = ``WEIGHT_QMAX[dtype]``):
    ``(q, params)``, ``q`` held as ``dtype.np`` (int8 for int4 too: dense values)."""
    if dtype not in WEIGHT_QMAX:
        raise QuantizationError(f"weights can be quantized to "
                                f"{' or '.join(d.value for d in WEIGHT_QMAX)}, not {dtype.value}")
    qmax = WEIGHT_QMAX[dtype]
    w64 = np.asarray(w, np.float64)
    axis = axis % w64.ndim
    others = tuple(a for a in range(w64.ndim) if a != axis)
    maxabs = np.abs(w64).max(axis=others) if others else np.abs(w64)
    scale = (maxabs / float(qmax)).astype(np.float32)
    scale[scale == 0] = _ZERO_CHANNEL_SCALE  # zero channels, and channels whose scale underflows
    shape = [1] * w64.ndim
    shape[axis] = scale.size
    q = np.clip(round_away(w64 / scale.astype(np.float64).reshape(shape)), -qmax, qmax)
    return q.astype(dtype.np), QuantParams(scale, np.zeros(scale.size, np.int64), axis)


def bias_scale(s_in: float, w_scale: np.ndarray) -> np.ndarray:
    """float32(s_in) * float32(s_w[c]), the bias scale of a conv/dense output channel."""
    return np.float32(s_in) * np.asarray(w_scale, np.float32)


def quantize_bias(b: np.ndarray, s_in: float, w_scale: np.ndarray) -> tuple[np.ndarray, QuantParams]:
    """int32 bias with scale ``s_in * s_w[c]`` and zero point 0: ``(q int32, params)``."""
    scale = bias_scale(s_in, w_scale)
    if np.any(scale == 0):
        raise QuantizationError(f"bias scale underflows float32: input scale {s_in} times "
                                f"weight scales down to {float(np.min(w_scale))}")
    q = round_away(np.asarray(b, np.float64) / scale.astype(np.float64))
    q = np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)
    return q, QuantParams(scale, np.zeros(scale.size, np.int64), 0)
