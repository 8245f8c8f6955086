"""How a framework's tensor at the graph boundary maps to the IR's NHWC tensor.

PyTorch feeds images as NCHW and 1-D signals as NCL; the IR (and the generated C) use NHWC and
N,1,L,C. A Layout converts a batch of arrays in one direction or the other, so the project can
accept the framework's own shapes while the firmware reads channels-last data.
"""

from __future__ import annotations

import enum

import numpy as np


class Layout(enum.Enum):
    FLAT = "flat"   # same order in both (dense features, NHWC already, ...)
    NCHW = "nchw"   # framework [N, C, H, W]  <->  IR [N, H, W, C]
    NCL = "ncl"     # framework [N, C, L]     <->  IR [N, 1, L, C]

    def to_ir(self, x: np.ndarray) -> np.ndarray:
        if self is Layout.NCHW:
            return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        if self is Layout.NCL:
            return np.ascontiguousarray(x.transpose(0, 2, 1)[:, None])
        return x

    def from_ir(self, x: np.ndarray) -> np.ndarray:
        if self is Layout.NCHW:
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if self is Layout.NCL:
            return np.ascontiguousarray(x[:, 0].transpose(0, 2, 1))
        return x

    def ir_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """IR shape of a framework shape."""
        if self is Layout.NCHW:
            n, c, h, w = shape
            return (n, h, w, c)
        if self is Layout.NCL:
            n, c, length = shape
            return (n, 1, length, c)
        return tuple(shape)

    def framework_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Framework shape of an IR shape (the inverse of ``ir_shape``)."""
        if self is Layout.NCHW:
            n, h, w, c = shape
            return (n, c, h, w)
        if self is Layout.NCL:
            n, _, length, c = shape
            return (n, c, length)
        return tuple(shape)
