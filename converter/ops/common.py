"""Small pieces shared by op families: padding, window geometry, integer requantization."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fixed import mbqm
from ..ir import IRError


@dataclass(frozen=True)
class Padding:
    """Explicit zero padding of a 2-D window op (TFLite's SAME/VALID resolve to this)."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def __post_init__(self) -> None:
        if min(self.top, self.bottom, self.left, self.right) < 0:
            raise IRError(f"negative padding {self}")

    @classmethod
    def same(cls, in_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> Padding:
        """TFLite/TensorFlow SAME padding: the extra row/column goes at the bottom/right."""
        pads = []
        for n, k, s, d in zip(in_hw, kernel, stride, dilation, strict=True):
            eff = (k - 1) * d + 1
            out = (n + s - 1) // s
            total = max((out - 1) * s + eff - n, 0)
            pads.append((total // 2, total - total // 2))
        return cls(pads[0][0], pads[0][1], pads[1][0], pads[1][1])


def window_out(n: int, k: int, stride: int, dilation: int, pad_before: int, pad_after: int) -> int:
    """Output length of a sliding window; raises IRError when the window does not fit."""
    eff = (k - 1) * dilation + 1
    span = n + pad_before + pad_after - eff
    if max(eff, n + pad_before + pad_after) >= 1 << 31:
        raise IRError(f"window {k} (dilation {dilation}) over {n} positions padded by "
                      f"{pad_before} + {pad_after} reaches past int32 (the kernels' indices)")
    if span < 0:
        raise IRError(f"window {k} (dilation {dilation}) is larger than the padded input {n}")
    return span // stride + 1


def pad_nhwc(x: np.ndarray, p: Padding, value: float | int) -> np.ndarray:
    return np.pad(x, ((0, 0), (p.top, p.bottom), (p.left, p.right), (0, 0)),
                  constant_values=value)


def conv_windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int], p: Padding, out_hw: tuple[int, int],
                 value: float | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows of ``x`` padded with ``value``, [N, OH, OW, KY, KX, C], for the kernel taps
    that read the input for at least one output, with those taps' indices ``(ky, kx)``; every
    other tap reads padding only. When all taps read the input this is ``windows`` of the
    padded array; otherwise the live taps are gathered, so a dilation far beyond the input
    (a window mostly over padding) costs no memory for the padding."""
    _, h, w, _ = x.shape
    rows, ky = _live_taps(h, kernel[0], stride[0], dilation[0], p.top, out_hw[0])
    cols, kx = _live_taps(w, kernel[1], stride[1], dilation[1], p.left, out_hw[1])
    if len(ky) == kernel[0] and len(kx) == kernel[1]:
        return windows(pad_nhwc(x, p, value), kernel, stride, dilation, out_hw), ky, kx
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=value)
    r = np.clip(rows[:, ky] + 1, 0, h + 1)  # index 0 and h + 1 are padding
    c = np.clip(cols[:, kx] + 1, 0, w + 1)
    return xp[:, r[:, None, :, None], c[None, :, None, :], :], ky, kx


def _live_taps(n: int, k: int, s: int, d: int, pad: int, out: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Input index [out, k] each output reads through each tap, and the taps that read inside
    [0, n) for some output."""
    idx = (np.arange(out, dtype=np.int64)[:, None] * s - pad
           + np.arange(k, dtype=np.int64)[None, :] * d)
    return idx, np.flatnonzero(((idx >= 0) & (idx < n)).any(axis=0))


def windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Sliding windows of a padded NHWC array: shape [N, OH, OW, KH, KW, C] (a view)."""
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    oh, ow = out_hw
    n, _, _, c = x.shape
    st = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, oh, ow, kh, kw, c),
        (st[0], st[1] * sh, st[2] * sw, st[1] * dh, st[2] * dw, st[3]), writeable=False)


def requantize_acc(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, out_zp: int,
                   lo: int, hi: int) -> np.ndarray:
    """int32 accumulator -> output integers: ``clamp(mbqm(acc, m, s) + zp, lo, hi)``."""
    return np.clip(mbqm(acc, mult, shift) + out_zp, lo, hi)
