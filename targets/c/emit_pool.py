"""Emitters for AvgPool2d and MaxPool2d (int8 and int16, and int32 max pooling of a spiking
layer's current; one parameter struct for both).

Average pooling divides by the window count with a prepared reciprocal (``ff_pool.h`` has the
proof of exactness): ``recip_table`` lists, for every window count the geometry can produce,
the multiplier and shift the kernel uses instead of a division. An int8 average pooling whose
channels are a multiple of 4 and whose windows hold at most 255 elements calls
``ff_avgpool2d_s8_fast``, the kernel's Cortex-M DSP path alone.
"""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType
from ...converter.ops.pool import AvgPool2d, MaxPool2d, Pool2d
from . import emit_binary
from .context import EmitContext
from .emit import Kernel, data_input, emit, kernel, unsupported

_DTYPES = (DType.s8, DType.s16)
MAX_WINDOW = 65534  # the reciprocal's proof needs 32768.5 * n < 2**31
LANE_WINDOW = 255  # int8 values a 16-bit lane of ff_avgpool2d_s8's DSP path sums without widening


def window_counts(node: Pool2d) -> list[int]:
    """The element counts of the windows clipped to the input, over every output pixel."""
    _, ih, iw, _ = node.x.shape
    _, oh, ow, _ = node.y.shape

    def lengths(n: int, k: int, s: int, pad: int, out: int) -> set[int]:
        return {min(o * s - pad + k, n) - max(o * s - pad, 0) for o in range(out)}

    rows = lengths(ih, node.kernel[0], node.stride[0], node.padding.top, oh)
    cols = lengths(iw, node.kernel[1], node.stride[1], node.padding.left, ow)
    return sorted({r * c for r in rows for c in cols})


def recip_table(n_min: int, n_max: int) -> np.ndarray:
    """``(m, c)`` for each n in ``n_min..n_max``: c = ceil(log2 n), m = ceil(2**(31+c) / n)."""
    out = []
    for n in range(n_min, n_max + 1):
        c = (n - 1).bit_length()
        out += [-(-(1 << (31 + c)) // n), c]
    return np.array(out, np.int64)


def _kernel(node: Pool2d, op: str) -> Kernel:
    x, y = node.x, node.y
    dtypes = (*_DTYPES, DType.s32) if op == "maxpool2d" else _DTYPES  # s32: spiking currents
    if x.dtype not in dtypes or y.dtype is not x.dtype:
        raise unsupported(node, f"{x.dtype.value} data")
    data_input(node)
    if op == "avgpool2d" and node.kernel[0] * node.kernel[1] > MAX_WINDOW:
        raise unsupported(node, f"windows of more than {MAX_WINDOW} elements")
    fn = f"ff_{op}_{x.dtype.value}"
    if fn == "ff_avgpool2d_s8" and x.shape[-1] % 4 == 0 \
            and window_counts(node)[-1] <= LANE_WINDOW:
        # what the DSP path sums four channels at a time without widening: the entry point
        # without the code for other channel counts and longer windows
        fn += "_fast"
    return Kernel(fn, "ff_pool.h", "ff_pool2d_params")


@kernel.register
def _avgpool2d_kernel(node: AvgPool2d) -> Kernel:
    return _kernel(node, "avgpool2d")


@kernel.register
def _maxpool2d_kernel(node: MaxPool2d) -> Kernel:
    if node.x.dtype is DType.b1:
        return emit_binary.maxpool_kernel(node)
    return _kernel(node, "maxpool2d")


@emit.register
def _pool2d(node: Pool2d, ctx: EmitContext) -> None:
    if node.x.dtype is DType.b1:
        emit_binary.emit_maxpool(node, ctx)
        return
    x, y = node.x, node.y
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    lo, hi = node.act_range()
    recip: dict[str, object] = {"n_min": 0, "recip": "0"}
    if isinstance(node, AvgPool2d):
        counts = window_counts(node)
        table = ctx.array("recip", recip_table(counts[0], counts[-1]), "uint32_t",
                          f"(multiplier, shift) per window count {counts[0]}..{counts[-1]}")
        recip = {"n_min": counts[0], "recip": table}
    p = ctx.params(
        batches=n, in_h=ih, in_w=iw, c=c, out_h=oh, out_w=ow,
        k_h=node.kernel[0], k_w=node.kernel[1], stride_h=node.stride[0], stride_w=node.stride[1],
        pad_top=node.padding.top, pad_left=node.padding.left, act_min=lo, act_max=hi, **recip)
    ctx.call_kernel(p, ctx.ptr(x), ctx.ptr(y))
