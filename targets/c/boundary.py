"""Graph inputs and outputs at the C boundary: the buffers ``<prefix>_run`` takes and fills.

Every dtype crosses as its unpacked elements (``DType.ctype``, one per value), except b1, which
crosses as the arena holds it (``ff_bnn.h``): packed rows of ``uint32_t`` words along the last
axis, value c in bit c % 32 of word c / 32, set for +1, the spare high bits of a row's last word
0. Python keeps b1 values as int8 -1 / +1 (the reference's representation), so a b1 input is
packed on its way in and a b1 output unpacked on its way out (``to_c`` / ``from_c``), by the
host build, the firmware test vectors and the sanitizer runner alike. u1 (spikes) crosses as
packed bytes too: element i of a sample's flattened tensor is bit i % 8 of byte i / 8 (the
spare high bits of the last byte are not read and not defined).
"""

from __future__ import annotations

import numpy as np

from ...converter.bitstream import pack_rows, row_words, unpack_rows
from ...converter.ir import DType, Value

B1_CTYPE = "uint32_t"


def io_ctype(v: Value) -> str:
    """C element type of ``v``'s buffer in ``<prefix>_run``."""
    return B1_CTYPE if v.dtype is DType.b1 else v.dtype.ctype


def io_np(v: Value) -> np.dtype:
    """numpy dtype of those elements."""
    return np.dtype(np.uint32) if v.dtype is DType.b1 else v.dtype.np


def io_count(v: Value) -> int:
    """Elements of ``io_ctype(v)`` in one sample's buffer (all of ``v.shape``, whose first
    dimension is the sample's)."""
    if v.dtype is DType.b1:
        return v.nbytes // 4
    if v.dtype is DType.u1:
        return v.nbytes
    return v.size


def pack_spikes(x: np.ndarray) -> np.ndarray:
    """[batch, ...] of 0/1 -> [batch, bytes]: each sample's flattened bits, least significant
    bit first (the u1 layout of ``ff_lif.h``)."""
    x = np.asarray(x)
    return np.packbits(x.reshape(x.shape[0], -1).astype(np.uint8), axis=1, bitorder="little")


def unpack_spikes(c: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``pack_spikes`` undone: [batch, bytes] -> [batch, *shape] uint8 0/1."""
    c = np.asarray(c, np.uint8)
    n = int(np.prod(shape))
    bits = np.unpackbits(c.reshape(c.shape[0], -1), axis=1, bitorder="little")[:, :n]
    return bits.reshape(c.shape[0], *shape)


def to_c(v: Value, x: np.ndarray) -> np.ndarray:
    """A batch of ``v``'s values (``[batch, *v.shape[1:]]``, the reference's dtype) -> the
    batch's C buffers, ``[batch, io_count(v)]``. A b1 value that is not -1 or +1 has no bit: an
    error, not a silent -1."""
    x = np.asarray(x)
    if v.dtype is DType.u1:
        if np.any((x != 0) & (x != 1)):
            raise ValueError(f"input {v.name} is u1 (spikes): its values must be 0 or 1, got "
                             f"{np.unique(x[(x != 0) & (x != 1)])[:5].tolist()}")
        return pack_spikes(x)
    if v.dtype is not DType.b1:
        return np.ascontiguousarray(x).reshape(x.shape[0], -1)
    bad = (x != 1) & (x != -1)
    if np.any(bad):
        raise ValueError(f"input {v.name} is b1: its values must be -1 or +1, got "
                         f"{np.unique(x[bad])[:5].tolist()}")
    return np.ascontiguousarray(pack_rows(x).reshape(x.shape[0], -1))


def from_c(v: Value, c: np.ndarray) -> np.ndarray:
    """The batch's C buffers (``[batch, io_count(v)]``) -> ``v``'s values. A b1 row whose spare
    bits are set breaks the layout every kernel relies on (they enter XNOR-popcounts): an
    error naming the output."""
    c = np.asarray(c)
    batch = c.shape[0]
    if v.dtype is DType.u1:
        return unpack_spikes(c, v.shape[1:])
    if v.dtype is not DType.b1:
        return c.reshape(batch, *v.shape[1:]).astype(v.dtype.np, copy=False)
    n = v.shape[-1]
    words = c.astype(np.uint32).reshape(batch, *v.shape[1:-1], row_words(n))
    spare = words[..., -1] >> np.uint32(n % 32) if n % 32 else np.zeros(1, np.uint32)
    if np.any(spare):
        raise RuntimeError(f"output {v.name}: b1 rows of {n} values came back with spare bits "
                           "set in their last word (they must be 0)")
    return unpack_rows(words, n)
