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
class _Sparse(Encoding):
    """Row-oriented sparse formats; each declares a field ``axis`` (last, default 0): the
    output-channel axis of the row view."""

    def check(self, dtype: DType) -> None:
        super().check(dtype)
        if dtype is DType.b1:
            raise IRError(f"{self} storage keeps nonzeros, and b1 values (+-1) are never zero")

    def rows(self, v: np.ndarray) -> np.ndarray:
        if not -v.ndim <= self.axis < v.ndim:
            raise IRError(f"{self}: axis {self.axis} is outside a rank-{v.ndim} tensor")
        return row_view(v, self.axis)

    def unrows(self, mat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        moved = np.moveaxis(np.empty(shape, np.int8), self.axis, 0).shape
        return np.moveaxis(mat.reshape(moved), 0, self.axis)


@dataclass(frozen=True)
class Bitmask(_Sparse):
    """A bit per element (set: nonzero) and the nonzero values."""

    axis: int = 0

    def _encode(self, v, dtype):
        m = self.rows(v)
        nz = m != 0
        return (Array("mask", "uint8_t", np.concatenate([pack_bits(r.astype(np.uint8), 1)
                                                         for r in nz])),
                _stored("values", m[nz], dtype))

    def _decode(self, e):
        r, c = _rows_cols(e.shape, self.axis)
        per_row = (c + 7) // 8
        mask = e["mask"].data.reshape(r, per_row)
        nz = np.stack([unpack_bits(row, 1, c) for row in mask]).astype(bool)
        mat = np.zeros((r, c), e.dtype.np)
        mat[nz] = _load(e["values"], e.dtype, int(nz.sum()))
        return self.unrows(mat, e.shape)

    def __str__(self) -> str:
        return f"bitmask (axis {self.axis})"


@dataclass(frozen=True)
class CSR(_Sparse):
    """Compressed sparse rows: row pointers, column indices, nonzero values."""

    axis: int = 0

    def _encode(self, v, dtype):
        m = self.rows(v)
        rows, cols = np.nonzero(m)
        ptr = np.zeros(m.shape[0] + 1, np.int32)
        np.cumsum(np.bincount(rows, minlength=m.shape[0]), out=ptr[1:])
        return (Array("row_ptr", "int32_t", ptr),
                _plain_np("col_idx", cols.astype(_itype(m.shape[1]))),
                _stored("values", m[rows, cols], dtype))

    def _decode(self, e):
        r, c = _rows_cols(e.shape, self.axis)
        ptr = e["row_ptr"].data.astype(np.int64)
        cols = e["col_idx"].data.astype(np.int64)
        if ptr.size != r + 1 or ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != cols.size \
                or np.any(cols >= c):
            raise IRError("csr arrays are inconsistent with the shape")
        mat = np.zeros((r, c), e.dtype.np)
        mat[np.repeat(np.arange(r), np.diff(ptr)), cols] = _load(e["values"], e.dtype, cols.size)
        return self.unrows(mat, e.shape)

    def __str__(self) -> str:
        return f"csr (axis {self.axis})"


@dataclass(frozen=True)
class BlockCSR(_Sparse):
    """Block compressed sparse rows: 4-row groups, the columns any row of a group uses, 4
    weights per stored column interleaved by column pairs (module doc)."""

    axis: int = 0

    def check(self, dtype: DType) -> None:
        if dtype is not DType.s8:
            raise IRError(f"{self} storage holds int8 values, not {dtype.value}")

    def _encode(self, v, dtype):
        m = self.rows(v)
        r, c = m.shape
        blocks = np.zeros((-(-r // 4) * 4, c), np.int8)
        blocks[:r] = m
        blocks = blocks.reshape(-1, 4, c)
        cols, pad = [], []
        for grp in blocks:
            used = np.flatnonzero(grp.any(axis=0))
            odd = used.size % 2
            cols.append(np.append(used, used[-1:]) if odd else used)
            pad.append(np.arange(cols[-1].size) == used.size)  # the repeated column
        ptr = np.zeros(blocks.shape[0] + 1, np.int32)
        np.cumsum([x.size for x in cols], out=ptr[1:])
        col = np.concatenate(cols).astype(np.int64) if cols else np.zeros(0, np.int64)
        w4 = blocks[np.repeat(np.arange(blocks.shape[0]), np.diff(ptr)), :, col]  # (entries, 4)
        w4[np.concatenate(pad) if pad else np.zeros(0, bool)] = 0
        # (pair, column j, row half h, row k) -> bytes in (h, j, k) order
        vals = w4.reshape(-1, 2, 2, 2).transpose(0, 2, 1, 3).reshape(-1)
        return (Array("block_ptr", "int32_t", ptr), _plain_np("col_idx", col.astype(_itype(c))),
                _plain("values", vals, dtype))

    def _decode(self, e):
        r, c = _rows_cols(e.shape, self.axis)
        g = -(-r // 4)
        ptr = e["block_ptr"].data.astype(np.int64)
        cols = e["col_idx"].data.astype(np.int64)
        n = np.diff(ptr)
        if ptr.size != g + 1 or ptr[0] != 0 or np.any(n < 0) or np.any(n % 2) \
                or ptr[-1] != cols.size or np.any(cols >= c):
            raise IRError("block csr arrays are inconsistent with the shape")
        w4 = _load(e["values"], e.dtype, 4 * cols.size).reshape(-1, 2, 2, 2)
        w4 = w4.transpose(0, 2, 1, 3).reshape(-1, 4).astype(np.int32)
        rows = np.repeat(np.arange(g), n)[:, None] * 4 + np.arange(4)
        mat = np.zeros((g * 4, c), np.int32)
        np.add.at(mat, (rows, np.broadcast_to(cols[:, None], rows.shape)), w4)
        if np.any(mat[r:]) or np.any(mat < e.dtype.qmin) or np.any(mat > e.dtype.qmax):
            raise IRError("block csr arrays hold weights outside the matrix or its dtype")
        return self.unrows(mat[:r].astype(e.dtype.np), e.shape)

    def __str__(self) -> str:
        return f"block csr 4x1 (axis {self.axis})"


@dataclass(frozen=True)
class NM(_Sparse):
    """N:M structured sparsity: at most ``n`` nonzeros in every ``m`` consecutive columns."""

    n: int
    m: int
    axis: int = 0

    def __post_init__(self) -> None:
        n, m = self.n, self.m
        if not (isinstance(n, int) and isinstance(m, int) and 1 <= n <= m and 2 <= m <= 256):
            raise IRError(f"N:M sparsity needs integers 1 <= n <= m, 2 <= m <= 256, got {n}:{m}")

    @property
    def index_bits(self) -> int:
        """Bits of a column index field: ceil(log2 m) rounded up to 1, 2, 4 or 8."""
        return stream_bits(max(1, (self.m - 1).bit_length()))

    def _groups(self, mat: np.ndarray) -> np.ndarray:
        r, c = mat.shape
        g = -(-c // self.m)
        padded = np.zeros((r, g * self.m), mat.dtype)
        padded[:, :c] = mat
        return padded.reshape(r, g, self.m)

    def _encode(self, v, dtype):
        grp = self._groups(self.rows(v))
        count = (grp != 0).sum(axis=2)
        if np.any(count > self.n):
            r, g = np.argwhere(count > self.n)[0]
            raise IRError(f"{self} pattern broken: row {r}, columns {g * self.m}.."
                          f"{g * self.m + self.m - 1} hold {count[r, g]} nonzeros")
        # Nonzeros first, then the lowest zero columns; each group's n chosen columns ascending.
        key = np.where(grp != 0, 0, 1) * self.m + np.arange(self.m)
        idx = np.sort(np.argsort(key, axis=2, kind="stable")[..., :self.n], axis=2)
        vals = np.take_along_axis(grp, idx, axis=2)
        bits = self.index_bits
        ind = np.concatenate([pack_bits(row.reshape(-1), bits) for row in idx])
        return Array("indices", "uint8_t", ind), _stored("values", vals.reshape(-1), dtype)

    def _decode(self, e):
        r, c = _rows_cols(e.shape, self.axis)
        g = -(-c // self.m)
        fields = g * self.n
        per_row = (fields * self.index_bits + 7) // 8
        raw = e["indices"].data.reshape(r, per_row)
        idx = np.stack([unpack_bits(row, self.index_bits, fields) for row in raw]).astype(np.int64)
        if np.any(idx >= self.m):
            raise IRError(f"{self}: an index is outside its group")
        vals = _load(e["values"], e.dtype, r * fields).reshape(r, g, self.n)
        grp = np.zeros((r, g, self.m), e.dtype.np)
        np.put_along_axis(grp, idx.reshape(r, g, self.n), vals, axis=2)
        return self.unrows(grp.reshape(r, g * self.m)[:, :c], e.shape)

    def __str__(self) -> str:
        return f"{self.n}:{self.m} sparse (axis {self.axis})"


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


FORMATS: tuple[type[Encoding], ...] = (Dense, Packed, PackedRows, Bitmask, CSR, BlockCSR, NM,
                                        Codebook, PackedTernaryRows)


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
