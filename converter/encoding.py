"""Storage encodings of constant tensors: how a weight's integers are laid out in flash.

A constant ``Value`` holds its dense integer values (``Value.data``, what every ``ref()`` reads)
and an encoding (``Value.encoding``, default ``Dense()``) saying how the C target stores them.
This module is the one place where values become stored arrays (``encode``) and stored arrays
become values again (``decode``); the kernel descriptors, ``EmitContext.const``, the report and
the TFLite importer all go through it. For every encoding ``decode(encode(v, t, e)) == v``
exactly, and ``Encoded.nbytes`` is what the arrays occupy.

Bit streams (sub-byte values, index fields) are ``bitstream.py``'s: least significant field
first, which is TFLite's INT4/INT2 layout, so an INT4 buffer of a .tflite file *is* a
``Packed()`` array byte for byte.

The *storage of a dtype* is how a format keeps a list of values: sub-byte dtypes as one bit
stream (uint8_t), the others one C element each (``int8_t`` ... ``int64_t``, ``float``).

Row view. The row-oriented formats (Bitmask, CSR, BlockCSR, NM) see a tensor as a matrix of
``R`` rows and ``C`` columns, ``R = shape[axis]`` the output channels (the op's
``weight_axis``, default 0) and ``C = size / R``: ``np.moveaxis(values, axis, 0).reshape(R,
C)``. A row is everything one output channel reads, in the order of the remaining axes: Dense
``(O, K)`` rows are ``w[o]``, Conv2d OHWI rows are ``w[o]`` flattened (kh, kw, ci),
DepthwiseConv2d 1HWC (axis 3) rows are the (kh, kw) taps of one channel, a transposed view.

Formats and their arrays (C type, length):

``Dense()``         values: the tensor in C order, the dtype's numpy type (s4/s2/b1 unpacked in
                    int8_t), ``size`` elements.
``Packed()``        s4, s2, b1, u1 only. packed: uint8_t[ceil(size * bits / 8)], the tensor in C
                    order as one bit stream (not per row: rows of an odd int4 length share a
                    byte, exactly as in TFLite).
``PackedRows()``    b1 only (binary weights, ops/binary.py). words: uint32_t, the tensor's rows
                    along its LAST axis, each in ceil(C / 32) words, value c in bit c % 32 of
                    word c // 32 (set for +1, spare bits 0): the layout of b1 activations, so
                    a convolution tap's weight words line up with an input pixel's words.
``PackedTernaryRows()`` t2 only (ternary weights, ops/ternary.py). words: uint32_t, the rows
                    along the last axis, each in ceil(C / 32) word pairs (a nonzero plane
                    word, then a +1 plane word): the layout of t2 activations.
``Bitmask(axis)``   mask: uint8_t[R * ceil(C / 8)], per row a bit stream of C bits, bit c set when
                    element (r, c) is nonzero, each row starting on a byte; values: the nonzero
                    elements row by row, in the dtype's storage.
``CSR(axis)``       row_ptr: int32_t[R + 1], row r's nonzeros are entries row_ptr[r] ..
                    row_ptr[r+1] - 1; col_idx: their columns, ascending within a row, uint8_t if
                    C <= 256, uint16_t if C <= 65536, else int32_t; values: the nonzeros in the
                    dtype's storage.
``BlockCSR(axis)``  int8 only. Block sparsity of 4 rows x 1 column (TF-MOT's block pruning,
                    XNNPACK's sparse kernels): the rows form G = ceil(R / 4) groups of 4 (the
                    last one padded with zero rows); group g stores the columns where any of
                    its 4 rows is nonzero, ascending, and when they are odd in number its last
                    column once more, whose 4 weights are 0 (so decoding adds entries up).
                    block_ptr: int32_t[G + 1], group g's columns are entries block_ptr[g] ..
                    block_ptr[g+1] - 1 (an even count); col_idx: as CSR's; values: int8_t[4 *
                    entries], per pair of entries 2j, 2j+1 (columns c0, c1, rows r0..r3 of the
                    group) the 8 bytes w(r0,c0) w(r1,c0) w(r0,c1) w(r1,c1) w(r2,c0) w(r3,c0)
                    w(r2,c1) w(r3,c1): a little-endian word holds rows r0 and r1 (r2 and r3)
                    of both columns, which Cortex-M's SXTB16 splits into the halfword pairs
                    (w(r0,c0), w(r0,c1)) and (w(r1,c0), w(r1,c1)) that SMLAD multiplies by
                    (v[c0], v[c1]).
``NM(n, m, axis)``  N:M structured sparsity: each row is cut into G = ceil(C / m) groups of m
                    columns (the last one padded with zeros), and each group holds at most n
                    nonzeros. Every group stores exactly n slots, in ascending column order:
                    values[(r*G + g)*n + s] (the dtype's storage) and an index field of ib
                    bits, the column within the group. A group with fewer nonzeros fills its
                    spare slots with zeros at its lowest zero columns.
                    indices: uint8_t[R * ceil(G * n * ib / 8)], per row a bit stream of its G*n
                    fields, each row starting on a byte.
``Codebook(bits)``  one table for the tensor (a per-layer codebook): table: its distinct values
                    ascending (at most 2**bits, 1 <= bits <= 8), in the dtype's storage;
                    indices: uint8_t[ceil(size * ib / 8)], the tensor in C order as a bit stream
                    of ib-bit table indices.

Index fields (ib above) are ceil(log2 m) bits for N:M (at least 1) and ``bits`` for a codebook,
rounded up to 1, 2, 4 or 8 so that no field straddles a byte (2:4 and 1:2 indices take 2 and 1
bits, 3-bit codebook indices take 4).

An encoding that does not suit the dtype (``Packed`` on s8, sparsity on b1, which has no zero)
or the data (an N:M pattern the data breaks, more distinct values than a codebook holds,
values outside the dtype) raises IRError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bitstream import (
    field_values,
    pack_bits,
    pack_rows,
    pack_ternary_rows,
    row_words,
    stream_bits,
    unpack_bits,
    unpack_rows,
    unpack_ternary_rows,
    value_fields,
)
from .ir import DType, IRError

_CTYPE_OF_NP = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t",
                "int32": "int32_t", "int64": "int64_t", "float32": "float"}
_PACKABLE = (DType.s4, DType.s2, DType.b1, DType.u1)


@dataclass(frozen=True, eq=False)
class Array:
    """One stored array: its role in the format, its C element type and its elements (1-D)."""

    name: str
    ctype: str
    data: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.data.size) * self.data.dtype.itemsize


@dataclass(frozen=True, eq=False)
class Encoded:
    """The arrays a constant is stored as, with what ``decode`` needs to rebuild its values."""

    encoding: Encoding
    dtype: DType
    shape: tuple[int, ...]
    arrays: tuple[Array, ...]

    def __getitem__(self, name: str) -> Array:
        for a in self.arrays:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def nbytes(self) -> int:
        """Total bytes of the arrays (the constant's size in flash, before alignment)."""
        return sum(a.nbytes for a in self.arrays)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Encoding:
    """Base of the storage formats (frozen, comparable, hashable: usable as table keys)."""

    def check(self, dtype: DType) -> None:
        """Raise IRError unless the format can store values of ``dtype``."""
        if dtype.is_float:
            raise IRError(f"{self} storage holds integers, not {dtype.value}")

    def nbytes(self, values: np.ndarray, dtype: DType) -> int:
        return encode(values, dtype, self).nbytes

    def _encode(self, v: np.ndarray, dtype: DType) -> tuple[Array, ...]:
        raise NotImplementedError(type(self).__name__)

    def _decode(self, e: Encoded) -> np.ndarray:
        raise NotImplementedError(type(self).__name__)


@dataclass(frozen=True)
class Dense(Encoding):
    """One C element per value, in C order (the default)."""

    def check(self, dtype: DType) -> None:
        pass

    def nbytes(self, values: np.ndarray, dtype: DType) -> int:
        return int(np.size(values)) * dtype.np.itemsize

    def _encode(self, v, dtype):
        return (_plain("values", v.reshape(-1), dtype),)

    def _decode(self, e):
        return e["values"].data.reshape(e.shape)

    def __str__(self) -> str:
        return "dense"


@dataclass(frozen=True)
class Packed(Encoding):
    """Sub-byte values as one bit stream over the whole tensor, low bits first (TFLite's)."""

    def check(self, dtype: DType) -> None:
        if dtype not in _PACKABLE:
            raise IRError(f"packed storage is for sub-byte dtypes "
                          f"({', '.join(d.value for d in _PACKABLE)}), not {dtype.value}")

    def nbytes(self, values: np.ndarray, dtype: DType) -> int:
        return (int(np.size(values)) * dtype.bits + 7) // 8

    def _encode(self, v, dtype):
        return (_stored("packed", v.reshape(-1), dtype),)

    def _decode(self, e):
        return _load(e["packed"], e.dtype, e.size).reshape(e.shape)

    def __str__(self) -> str:
        return "packed"


@dataclass(frozen=True)
class PackedRows(Encoding):
    """b1 values in 32-bit words, row by row along the last axis (the module docstring).

    ``blocks`` is for the C target's binary dense kernel: True (the default) writes a
    BinaryDense layer's weights as blocks of 32 outputs for the bit-sliced kernel
    (ff_bnn_dense.c, 6x fewer instructions than an int8 layer on a Cortex-M4), which lists the
    input's +1 (or -1) positions in arena scratch, 2 bytes an input; False keeps plain rows and
    the row kernel, which needs no scratch: the choice where RAM is scarcer than time (a
    784-input layer's 816 B of scratch does not fit next to the ATmega328P's image buffer).
    The values, and so the reference's answer, are the same either way."""

    blocks: bool = True

    def check(self, dtype: DType) -> None:
        if dtype is not DType.b1:
            raise IRError(f"packed rows hold b1 values, not {dtype.value}")

    def _encode(self, v, dtype):
        return (Array("words", "uint32_t", pack_rows(v.reshape(-1, v.shape[-1])).reshape(-1)),)

    def _decode(self, e):
        c = e.shape[-1]
        return unpack_rows(e["words"].data.reshape(-1, row_words(c)), c).reshape(e.shape)

    def __str__(self) -> str:
        return "packed rows" if self.blocks else "packed rows (row kernel)"


@dataclass(frozen=True)
class Codebook(Encoding):
    """A per-tensor table of at most ``2**bits`` values and a ``bits``-bit index per element."""

    bits: int = 4

    def __post_init__(self) -> None:
        if not (isinstance(self.bits, int) and 1 <= self.bits <= 8):
            raise IRError(f"a codebook index has 1 to 8 bits, not {self.bits}")

    def _encode(self, v, dtype):
        table, idx = np.unique(v.reshape(-1), return_inverse=True)
        if table.size > 1 << self.bits:
            raise IRError(f"{self} holds {1 << self.bits} values, the tensor has {table.size} "
                          "distinct ones")
        return _stored("table", table, dtype), Array("indices", "uint8_t",
                                                     pack_bits(idx, self.index_bits))

    @property
    def index_bits(self) -> int:
        """Bits of an index field: ``bits`` rounded up to 1, 2, 4 or 8."""
        return stream_bits(self.bits)

    def _decode(self, e):
        idx = unpack_bits(e["indices"].data, self.index_bits, e.size).astype(np.int64)
        table = e["table"]
        count = table.data.size if e.dtype.bits >= 8 else (table.data.size * 8) // e.dtype.bits
        values = _load(table, e.dtype, min(count, 1 << self.bits))
        if idx.size and idx.max() >= values.size:
            raise IRError(f"{self}: an index is outside the table")
        return values[idx].reshape(e.shape)

    def __str__(self) -> str:
        return f"{self.bits}-bit codebook"


@dataclass(frozen=True)
class PackedTernaryRows(Encoding):
    """t2 values in pairs of 32-bit bit planes, row by row along the last axis (module doc)."""

    def check(self, dtype: DType) -> None:
        if dtype is not DType.t2:
            raise IRError(f"packed ternary rows hold t2 values, not {dtype.value}")

    def _encode(self, v, dtype):
        rows = pack_ternary_rows(v.reshape(-1, v.shape[-1]))
        return (Array("words", "uint32_t", rows.reshape(-1)),)

    def _decode(self, e):
        c = e.shape[-1]
        words = e["words"].data.reshape(-1, 2 * row_words(c))
        return unpack_ternary_rows(words, c).reshape(e.shape)

    def __str__(self) -> str:
        return "packed ternary rows"


# -- the two entry points ----------------------------------------------------------------------

def encode(values: np.ndarray, dtype: DType, encoding: Encoding) -> Encoded:
    """The arrays ``values`` (dense integers of ``dtype``) are stored as under ``encoding``."""
    encoding.check(dtype)
    v = np.asarray(values)
    if not dtype.is_float:
        _check_range(v, dtype)
        v = v.astype(dtype.np)
    return Encoded(encoding, dtype, tuple(v.shape), tuple(encoding._encode(v, dtype)))


def decode(encoded: Encoded) -> np.ndarray:
    """The dense values (``dtype.np`` numbers in ``shape``) that ``encoded`` stores."""
    return np.asarray(encoded.encoding._decode(encoded))


def row_view(values: np.ndarray, axis: int) -> np.ndarray:
    """The ``R x C`` matrix of the row-oriented formats: ``axis`` (output channels) first."""
    v = np.moveaxis(np.asarray(values), axis, 0)
    return v.reshape(v.shape[0], -1)


def from_packed(data: np.ndarray, shape: tuple[int, ...], dtype: DType) -> np.ndarray:
    """Dense values of a ``Packed()`` byte buffer (a TFLite INT4 / INT2 buffer, for example)."""
    data = np.asarray(data, np.uint8).reshape(-1)
    need = Packed().nbytes(np.empty(shape, np.int8), dtype)
    if data.size != need:
        raise IRError(f"packed {dtype.value}{list(shape)} needs {need} bytes, got {data.size}")
    return decode(Encoded(Packed(), dtype, tuple(shape), (Array("packed", "uint8_t", data),)))


def _stored(name: str, flat: np.ndarray, dtype: DType) -> Array:
    """A list of values in the dtype's storage: a bit stream for sub-byte types."""
    if dtype.bits < 8:
        return Array(name, "uint8_t", pack_bits(value_fields(flat, dtype), dtype.bits))
    return _plain(name, flat, dtype)


def _load(a: Array, dtype: DType, count: int) -> np.ndarray:
    """``count`` values kept in the dtype's storage (``_stored``' inverse)."""
    if dtype.bits < 8:
        return field_values(unpack_bits(a.data, dtype.bits, count), dtype)
    if a.data.size != count:
        raise IRError(f"{a.name}: {a.data.size} values stored, {count} expected")
    return a.data.astype(dtype.np)


def _plain(name: str, flat: np.ndarray, dtype: DType) -> Array:
    return _plain_np(name, np.asarray(flat, dtype.np).reshape(-1))


def _plain_np(name: str, arr: np.ndarray) -> Array:
    return Array(name, _CTYPE_OF_NP[arr.dtype.name], np.ascontiguousarray(arr))


def _itype(c: int) -> type:
    """The column index type of C columns (CSR, BlockCSR)."""
    return np.uint8 if c <= 1 << 8 else np.uint16 if c <= 1 << 16 else np.int32


def _rows_cols(shape: tuple[int, ...], axis: int) -> tuple[int, int]:
    r = shape[axis]
    return r, math.prod(shape) // r


def _check_range(v: np.ndarray, dtype: DType) -> None:
    if not np.issubdtype(v.dtype, np.integer) and not np.issubdtype(v.dtype, np.bool_):
        if not np.all(np.equal(np.mod(v, 1), 0)):
            raise IRError(f"{dtype.value} values must be integers, got {v.dtype}")
    if v.size == 0:
        return
    lo, hi = v.min(), v.max()
    if lo < dtype.qmin or hi > dtype.qmax:
        raise IRError(f"values {lo}..{hi} do not fit {dtype.value} ({dtype.qmin}..{dtype.qmax})")
    if dtype is DType.b1 and np.any(v == 0):
        raise IRError("b1 values are -1 or +1, got 0")


# The row-oriented sparse formats live in their own module (they build on the helpers above);
# importing them here keeps ``from .encoding import CSR`` the one way to name any format.
from .encoding_sparse import CSR, NM, Bitmask, BlockCSR  # noqa: E402

FORMATS: tuple[type[Encoding], ...] = (Dense, Packed, PackedRows, Bitmask, CSR, BlockCSR, NM,
                                        Codebook, PackedTernaryRows)
