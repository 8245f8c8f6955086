"""The row-oriented sparse storage formats of ``encoding.py`` (Bitmask, CSR, BlockCSR, NM):
each keeps a tensor as rows of its output channels and stores only their nonzero elements
(or blocks), with the index arrays its kernel walks. The formats' arrays are described in
``encoding.py``'s module docstring, beside every other format's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bitstream import (
    pack_bits,
    stream_bits,
    unpack_bits,
)
from .encoding import (
    Array,
    Encoding,
    _itype,
    _load,
    _plain,
    _plain_np,
    _rows_cols,
    _stored,
    row_view,
)
from .ir import DType, IRError


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
