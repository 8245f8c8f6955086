"""Element types and quantization parameters: the vocabulary every value of the IR is typed in.

Dtype words are shared with the C core (kernel names say them): ``f32 s64 s32 s16 s8 s4 s2 b1
t2 u1``. ``s64`` holds the int64 biases of TFLite's 16x8 scheme, ``s4``/``s2`` int4/int2 weights,
``b1`` binary +-1 values (bit set = +1), ``t2`` ternary -1/0/+1 values (two bit planes,
``ops/ternary.py``), ``u1`` spikes/bits (0/1). ``QuantParams`` is the affine
map ``real = scale * (q - zero_point)``, per tensor or per channel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class IRError(ValueError):
    """A graph that breaks an IR invariant (shape, dtype, wiring)."""


class DType(enum.Enum):
    """Element type of a value; the word is the one used in C kernel names."""

    f32 = "f32"
    s32 = "s32"
    s16 = "s16"
    s8 = "s8"
    s4 = "s4"
    s2 = "s2"
    b1 = "b1"
    u1 = "u1"
    t2 = "t2"  # ternary -1/0/+1: a nonzero and a +1 bit plane (ops/ternary.py)
    s64 = "s64"  # 16x8 convolution / fully connected biases (TFLite stores them as int64)

    @property
    def bits(self) -> int:
        return _BITS[self]

    @property
    def is_float(self) -> bool:
        return self is DType.f32

    @property
    def qmin(self) -> int:
        """Smallest representable integer (b1 holds -1/+1, t2 -1/0/+1, u1 holds 0/1)."""
        if self is DType.f32:
            raise IRError("f32 has no integer range")
        if self in (DType.b1, DType.t2):
            return -1
        if self is DType.u1:
            return 0
        return -(1 << (self.bits - 1))

    @property
    def qmax(self) -> int:
        if self is DType.f32:
            raise IRError("f32 has no integer range")
        if self in (DType.b1, DType.t2, DType.u1):
            return 1
        return (1 << (self.bits - 1)) - 1

    @property
    def np(self) -> np.dtype:
        """numpy dtype used to hold unpacked elements of this type in the reference."""
        return np.dtype(_NP[self])

    @property
    def ctype(self) -> str:
        """C element type of an unpacked buffer (packed s4/s2/b1/u1 are stored as bytes)."""
        return _CTYPE[self]

    @classmethod
    def of_numpy(cls, dtype: np.dtype) -> DType:
        for d, name in _NP.items():
            if d not in (DType.s4, DType.s2, DType.b1, DType.t2, DType.u1) and np.dtype(name) == dtype:
                return d
        raise IRError(f"no firmforge dtype for numpy {dtype}")


_BITS = {DType.f32: 32, DType.s64: 64, DType.s32: 32, DType.s16: 16, DType.s8: 8, DType.s4: 4,
         DType.s2: 2, DType.b1: 1, DType.t2: 2, DType.u1: 1}
_NP = {DType.f32: "float32", DType.s64: "int64", DType.s32: "int32", DType.s16: "int16",
       DType.s8: "int8", DType.s4: "int8", DType.s2: "int8", DType.b1: "int8", DType.t2: "int8",
       DType.u1: "uint8"}
_CTYPE = {DType.f32: "float", DType.s64: "int64_t", DType.s32: "int32_t", DType.s16: "int16_t",
          DType.s8: "int8_t", DType.s4: "int8_t", DType.s2: "int8_t", DType.b1: "uint8_t",
          DType.t2: "uint8_t", DType.u1: "uint8_t"}


@dataclass(frozen=True, eq=False)
class QuantParams:
    """Affine quantization ``real = scale * (q - zero_point)``.

    ``scale`` is float32 exactly as stored by the producer (a TFLite file, or firmforge's PTQ), since
    TFLM derives its multipliers from the float32 values. Per-tensor parameters have shape ``(1,)``
    and ``axis=None``; per-channel ones have one entry per index of ``axis``.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    def __post_init__(self) -> None:
        s = np.atleast_1d(np.asarray(self.scale, dtype=np.float32))
        z = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))
        if s.ndim != 1 or s.shape != z.shape:
            raise IRError(f"scale {s.shape} and zero_point {z.shape} must be matching 1-D arrays")
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise IRError(f"quantization scales must be finite and positive, got {s[:4]}")
        if self.axis is None and s.size != 1:
            raise IRError("per-channel quantization needs an axis")
        object.__setattr__(self, "scale", s)
        object.__setattr__(self, "zero_point", z)

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int = 0) -> QuantParams:
        return cls(np.array([scale], np.float32), np.array([zero_point]), None)

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def s(self) -> float:
        """The single scale of per-tensor parameters, as the float32 value widened to float."""
        if self.per_channel:
            raise IRError("per-channel parameters have no single scale")
        return float(self.scale[0])

    @property
    def zp(self) -> int:
        if self.per_channel and np.any(self.zero_point != self.zero_point[0]):
            raise IRError("per-channel zero points differ")
        return int(self.zero_point[0])

    def same_as(self, other: QuantParams | None) -> bool:
        return (other is not None and self.axis == other.axis
                and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))

    def _bcast(self, ndim: int, arr: np.ndarray) -> np.ndarray:
        if self.axis is None:
            return arr.reshape(())
        shape = [1] * ndim
        shape[self.axis] = arr.size
        return arr.reshape(shape)

    def quantize(self, x: np.ndarray, dtype: DType) -> np.ndarray:
        """float -> integer with TFLite's rounding (half away from zero) and saturation."""
        x = np.asarray(x, np.float32)
        s = self._bcast(x.ndim, self.scale)
        z = self._bcast(x.ndim, self.zero_point)
        q = round_away(x / s).astype(np.int64) + z
        return np.clip(q, dtype.qmin, dtype.qmax).astype(dtype.np)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q)
        s = self._bcast(q.ndim, self.scale)
        z = self._bcast(q.ndim, self.zero_point)
        return ((q.astype(np.int64) - z) * s.astype(np.float64)).astype(np.float32)


def round_away(x: np.ndarray | float) -> np.ndarray:
    """Round half away from zero (C's ``round``), not numpy's half-to-even; arrays or scalars.

    ``x - trunc(x)`` is exact in floating point, so ties are detected without the
    ``floor(x + 0.5)`` error at 0.49999997.
    """
    x = np.asarray(x)
    t = np.trunc(x)
    return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0).astype(x.dtype)
