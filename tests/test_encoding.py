"""Storage encodings (converter/encoding.py): exact round trips over shapes, dtypes and sparsity,
the byte layouts the C kernels and TFLite's INT4 buffers rely on, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmforge.converter.encoding import (
    CSR,
    NM,
    Bitmask,
    BlockCSR,
    Codebook,
    Dense,
    Packed,
    decode,
    encode,
    from_packed,
    row_view,
)
from firmforge.converter.ir import DType, IRError, Value

SETTINGS = settings(max_examples=300, derandomize=True, deadline=None, database=None)
INT_DTYPES = [DType.s32, DType.s16, DType.s8, DType.s4, DType.s2, DType.b1, DType.u1]


def _values(rng: np.random.Generator, shape: tuple[int, ...], dtype: DType, zeros: float,
            distinct: int | None = None) -> np.ndarray:
    """Random values of ``dtype`` over its whole range, a ``zeros`` fraction set to 0 (b1 has
    no zero), drawn from ``distinct`` values when given."""
    if dtype is DType.b1:
        return np.where(rng.random(shape) < 0.5, 1, -1).astype(np.int8)
    pool = rng.integers(dtype.qmin, dtype.qmax, distinct or 64, endpoint=True)
    pool[:1] = [dtype.qmin]  # the extremes are where sign extension goes wrong
    pool[-1:] = [dtype.qmax]
    v = pool[rng.integers(0, pool.size, shape)]
    v[rng.random(shape) < zeros] = 0
    return v.astype(dtype.np)


def _enforce_nm(v: np.ndarray, enc: NM) -> np.ndarray:
    """Zero all but the first n nonzeros of every group of m columns of the row view."""
    moved = np.moveaxis(v.copy(), enc.axis, 0)
    rows = moved.reshape(moved.shape[0], -1)
    for r in rows:
        for g in range(0, r.size, enc.m):
            grp = r[g:g + enc.m]
            grp[np.flatnonzero(grp)[enc.n:]] = 0
    return np.moveaxis(rows.reshape(moved.shape), 0, enc.axis)


@st.composite
def cases(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(INT_DTYPES))
    axis = draw(st.integers(0, rank - 1))
    kinds = ["dense", "codebook"] + (["packed"] if dtype.bits < 8 else []) \
        + (["bitmask", "csr", "nm"] if dtype is not DType.b1 else []) \
        + (["bcsr", "bcsr"] if dtype is DType.s8 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "nm":
        m = draw(st.integers(2, 9))
        enc = NM(draw(st.integers(1, m)), m, axis)
    else:
        enc = {"dense": Dense(), "packed": Packed(), "bitmask": Bitmask(axis),
               "csr": CSR(axis), "bcsr": BlockCSR(axis),
               "codebook": Codebook(draw(st.integers(1, 8)))}[kind]
    zeros = draw(st.sampled_from([0.0, 0.3, 0.75, 0.95, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return shape, dtype, enc, zeros, seed


@SETTINGS
@given(cases())
def test_decode_inverts_encode_exactly(case):
    shape, dtype, enc, zeros, seed = case
    rng = np.random.default_rng(seed)
    # a codebook's table: at most 2**bits - 1 drawn values, and 0
    distinct = min((1 << enc.bits) - 1, 64) if isinstance(enc, Codebook) else None
    v = _values(rng, shape, dtype, zeros, distinct)
    if isinstance(enc, NM):
        v = _enforce_nm(v, enc)
    if isinstance(enc, BlockCSR) and seed % 2:  # whole 4-row blocks zero, the others dense
        rows = row_view(v, enc.axis)
        keep = np.repeat(rng.random((-(-rows.shape[0] // 4), rows.shape[1])) < 0.5, 4, axis=0)
        moved = np.moveaxis(v, enc.axis, 0).shape
        v = np.moveaxis((rows * keep[:rows.shape[0]]).reshape(moved), 0, enc.axis)
    e = encode(v, dtype, enc)
    back = decode(e)
    assert back.dtype == dtype.np and back.shape == v.shape
    assert np.array_equal(back, v)
    assert e.nbytes == sum(a.data.size * a.data.dtype.itemsize for a in e.arrays)
    assert Value("w", shape, dtype, None, v, enc).nbytes == e.nbytes == enc.nbytes(v, dtype)


def test_packed_layouts_are_low_bits_first():
    """s4: element 2j in the low nibble of byte j; s2: four fields per byte from bit 0; b1: bit
    set = +1; the unused bits of the last byte are 0."""
    cases = [(DType.s4, [1, -2, 7, -8, 3], [0xE1, 0x87, 0x03]),
             (DType.s2, [1, -1, -2, 0, 1], [0b00101101, 0b00000001]),
             (DType.b1, [1, -1, -1, 1, 1, 1, -1, -1, 1], [0b00111001, 0b00000001]),
             (DType.u1, [0, 1, 1, 0, 0, 0, 0, 0, 1, 1], [0b00000110, 0b00000011])]
    for dtype, values, packed in cases:
        e = encode(np.array(values, dtype.np), dtype, Packed())
        (a,) = e.arrays
        assert (a.name, a.ctype) == ("packed", "uint8_t")
        assert a.data.tolist() == packed, dtype
        assert e.nbytes == (len(values) * dtype.bits + 7) // 8


def test_int4_buffers_read_as_tflite_unpacks_them():
    """TFLite's own example (PerChannelDequantize.TestInt4ToFloat_2D): the int8 bytes
    {-1, 0, 65, -127} hold the int4 values {-1, -1, 0, 0, 1, 4, 1, -8}."""
    raw = np.array([-1, 0, 65, -127], np.int8).view(np.uint8)
    assert from_packed(raw, (2, 4), DType.s4).tolist() == [[-1, -1, 0, 0], [1, 4, 1, -8]]
    with pytest.raises(IRError, match="needs 4 bytes, got 3"):
        from_packed(raw[:3], (2, 4), DType.s4)


def test_row_oriented_layouts():
    m = np.array([[0, 3, 0], [0, 0, 0], [-1, 0, 2]], np.int8)
    e = encode(m, DType.s8, CSR())
    assert [(a.name, a.ctype, a.data.tolist()) for a in e.arrays] == [
        ("row_ptr", "int32_t", [0, 1, 1, 3]), ("col_idx", "uint8_t", [1, 0, 2]),
        ("values", "int8_t", [3, -1, 2])]
    assert encode(np.zeros((2, 300), np.int8), DType.s8, CSR())["col_idx"].ctype == "uint16_t"

    # Bitmask: one byte-aligned mask per row; values packed when the dtype is sub-byte.
    b = np.zeros((2, 9), np.int8)
    b[0, [1, 8]] = [3, -4]
    b[1, 0] = 1
    e = encode(b, DType.s4, Bitmask())
    assert e["mask"].data.tolist() == [0b00000010, 0b00000001, 0b00000001, 0]
    assert e["values"].ctype == "uint8_t" and e["values"].data.tolist() == [0xC3, 0x01]

    # 2:4: per group two slots in column order; a group with one nonzero adds its lowest zero.
    row = np.array([[0, 5, 0, -3, 0, 0, 0, 1]], np.int8)
    e = encode(row, DType.s8, NM(2, 4))
    assert e["values"].data.tolist() == [5, -3, 0, 1]
    assert e["indices"].data.tolist() == [1 | 3 << 2 | 0 << 4 | 3 << 6]  # columns 1, 3 | 0, 3

    e = encode(np.array([5, -1, 5, 7], np.int8), DType.s8, Codebook(2))
    assert e["table"].data.tolist() == [-1, 5, 7]
    assert e["indices"].data.tolist() == [1 | 0 << 2 | 1 << 4 | 2 << 6]


def test_block_csr_round_trips_block_and_unstructured_patterns():
    """Random int8 tensors (R not a multiple of 4, C across 256, other axes): whole 4x1 blocks
    zero, some groups all zero, some fully dense, or unstructured zeros."""
    rng = np.random.default_rng(15)
    for _ in range(200):
        shape = tuple(int(d) for d in rng.integers(1, 14, rng.integers(1, 4)))
        if rng.random() < 0.2:
            shape = (int(rng.integers(1, 10)), int(rng.choice([255, 256, 257, 300])))
        axis = int(rng.integers(len(shape)))
        v = _values(rng, shape, DType.s8, float(rng.choice([0.0, 0.5, 0.9, 1.0])))
        rows = row_view(v, axis)
        r, c = rows.shape
        keep = np.repeat(rng.random((-(-r // 4), c)) < rng.random(), 4, axis=0)[:r]
        if rng.random() < 0.3:
            keep[:] = True  # only the tensor's own zeros
        for g in range(0, r, 4):
            u = rng.random()
            keep[g:g + 4] = False if u < 0.15 else (True if u < 0.3 else keep[g:g + 4])
        moved = np.moveaxis(v, axis, 0).shape
        v = np.moveaxis((rows * keep).reshape(moved), 0, axis)
        e = encode(v, DType.s8, BlockCSR(axis))
        assert np.array_equal(decode(e), v)
        assert np.all(np.diff(e["block_ptr"].data) % 2 == 0)
        assert e.nbytes == 4 * (-(-r // 4) + 1) + e["col_idx"].nbytes + e["values"].nbytes


def test_block_csr_layout():
    """Groups of 4 rows, the columns any of them uses, an odd count padded with the last
    column again (zero weights); per column pair the bytes r0c0 r1c0 r0c1 r1c1 r2c0 r3c0 r2c1
    r3c1; the last group's missing rows are zero."""
    m = np.array([[0, 3, 0, 1], [0, 0, 0, 2], [-1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 5, 0]],
                 np.int8)
    e = encode(m, DType.s8, BlockCSR())
    assert [(a.name, a.ctype, a.data.tolist()) for a in e.arrays] == [
        ("block_ptr", "int32_t", [0, 4, 6]), ("col_idx", "uint8_t", [0, 1, 3, 3, 2, 2]),
        ("values", "int8_t", [0, 0, 3, 0, -1, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0,
                              5, 0, 0, 0, 0, 0, 0, 0])]
    assert np.array_equal(decode(e), m)
    assert e.nbytes == 3 * 4 + 6 + 24
    assert encode(np.zeros((5, 300), np.int8), DType.s8, BlockCSR())["col_idx"].ctype \
        == "uint16_t"
    with pytest.raises(IRError, match=r"block csr 4x1 \(axis 0\) storage holds int8 values, "
                                      r"not s4"):
        encode(np.zeros((4, 4), np.int8), DType.s4, BlockCSR())
    with pytest.raises(IRError, match="not s16"):
        encode(np.zeros((4, 4), np.int16), DType.s16, BlockCSR())


def test_rows_are_the_output_channels():
    """Depthwise weights (1, KH, KW, C) with axis 3: a row holds one channel's taps, so CSR's
    rows count channels and a channel's taps keep their (kh, kw) order."""
    w = np.arange(1, 13, dtype=np.int8).reshape(1, 2, 2, 3)
    assert row_view(w, 3).tolist() == [[1, 4, 7, 10], [2, 5, 8, 11], [3, 6, 9, 12]]
    w[0, 1, 0, 2] = 0
    e = encode(w, DType.s8, CSR(axis=3))
    assert e["row_ptr"].data.tolist() == [0, 4, 8, 11]
    assert e["values"].data.tolist() == [1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 12]
    assert np.array_equal(decode(e), w)


def test_unsuitable_encodings_are_refused():
    w8 = np.zeros((2, 4), np.int8)
    with pytest.raises(IRError, match=r"packed storage is for sub-byte dtypes .* not s8"):
        encode(w8, DType.s8, Packed())
    with pytest.raises(IRError, match=r"constant 'w': packed storage .* not s8"):
        Value("w", (2, 4), DType.s8, None, w8, Packed())
    with pytest.raises(IRError, match="only constants have a storage encoding"):
        Value("x", (1, 4), DType.s4, None, None, Packed())
    with pytest.raises(IRError, match=r"values -8\.\.8 do not fit s4 \(-8\.\.7\)"):
        encode(np.array([-8, 8], np.int8), DType.s4, Packed())
    with pytest.raises(IRError, match=r"b1 values .* are never zero"):
        encode(np.ones((2, 2), np.int8), DType.b1, CSR())
    with pytest.raises(IRError, match="holds integers, not f32"):
        encode(np.ones(3, np.float32), DType.f32, Codebook(4))
    broken = np.array([[1, 2, 3, 0, 0, 0, 0, 9]], np.int8)
    with pytest.raises(IRError, match=r"2:4 sparse \(axis 0\) pattern broken: row 0, "
                                      r"columns 0\.\.3 hold 3 nonzeros"):
        encode(broken, DType.s8, NM(2, 4))
    with pytest.raises(IRError, match="N:M sparsity needs"):
        NM(5, 4)
    with pytest.raises(IRError, match="2-bit codebook holds 4 values, the tensor has 5"):
        encode(np.arange(5, dtype=np.int8), DType.s8, Codebook(2))
    with pytest.raises(IRError, match="1 to 8 bits"):
        Codebook(9)


def test_dense_keeps_the_plain_c_types():
    for dtype, ctype in [(DType.s8, "int8_t"), (DType.s4, "int8_t"), (DType.s16, "int16_t"),
                         (DType.s32, "int32_t"), (DType.s64, "int64_t"), (DType.u1, "uint8_t"),
                         (DType.f32, "float")]:
        v = np.ones((3, 2), dtype.np)
        (a,) = encode(v, dtype, Dense()).arrays
        assert a.ctype == ctype and a.nbytes == 6 * dtype.np.itemsize
    # an unpacked s4 constant takes a byte per value; packed, half a byte
    v = np.full((3, 5), -3, np.int8)
    assert Value("d", v.shape, DType.s4, None, v).nbytes == 15
    assert Value("p", v.shape, DType.s4, None, v, Packed()).nbytes == 8
