"""Bit widths of the HLS integer types, computed at conversion from the actual value ranges.

A signed type holds [lo, hi] when ``-2^(W-1) <= lo`` and ``hi <= 2^(W-1) - 1``. Accumulators
are sized from the weights themselves, not a blanket 32 bits:

    dot bound[o]  = sum_k |w[o, k]| * max |x - zp_x|          (the sum of products)
    acc bound[o]  = dot bound[o] * 2^shift + |b[o]|            (plus the bias)

and the type's width is the largest over the output channels. Zero weights add nothing, so a
pruned layer gets a narrower accumulator.
"""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType, Value
from .errors import HlsError, WidthError

MAX_BITS = 64  # ff_hls_fixed.h widens accumulators to 64 bits before requantizing


def signed_bits(lo: int, hi: int) -> int:
    """Smallest W such that a signed W-bit integer holds every value of [lo, hi] (at least 2)."""
    need = max(int(hi).bit_length(), (-int(lo) - 1).bit_length() if lo < 0 else 0)
    return max(need + 1, 2)


def checked(bits: int, what: str) -> int:
    if bits > MAX_BITS:
        raise WidthError(f"{what} needs {bits} bits; the HLS templates support at most "
                         f"{MAX_BITS} (fewer inputs, smaller weights or a smaller bias)")
    return bits


def ctype(v: Value) -> str:
    """The HLS element type of an activation of ``v``'s dtype (b1 and u1 are single bits:
    bit 1 is +1 for b1 and a spike for u1)."""
    if v.dtype in (DType.b1, DType.u1):
        return "ff_uint<1>"
    if v.dtype in (DType.s8, DType.s16, DType.s32):
        return f"ff_int<{v.dtype.bits}>"
    raise HlsError(f"{v.name}: the HLS target has no {v.dtype.value} activations")


def int_type(lo: int, hi: int, what: str) -> str:
    return f"ff_int<{checked(signed_bits(lo, hi), what)}>"


def x_span(x: Value) -> tuple[int, int]:
    """Range of ``x - zp_x`` over x's whole dtype (u1 spikes: 0 and 1, no zero point)."""
    zp = 0 if x.dtype is DType.u1 or x.quant is None else int(np.asarray(x.quant.zp).ravel()[0])
    return x.dtype.qmin - zp, x.dtype.qmax - zp


def mac_bounds(w2: np.ndarray, x: Value, bias: np.ndarray | None, shift: int = 0
               ) -> tuple[int, int]:
    """(dot bound, acc bound) over output channels of ``w2`` (O, K) applied to ``x``."""
    lo, hi = x_span(x)
    xmax = max(abs(lo), abs(hi))
    per_o = np.abs(w2.astype(np.int64)).sum(axis=1) * xmax
    dot = int(per_o.max(initial=0))
    b = np.abs(bias.astype(np.int64)) if bias is not None else np.zeros_like(per_o)
    acc = int(((per_o << shift) + b).max(initial=0))
    return dot, acc
