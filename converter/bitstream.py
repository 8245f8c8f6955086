"""Bit streams. Sub-byte fields are packed least significant first: field ``i`` of a ``b``-bit
stream (``b`` in 1, 2, 4, 8) is bits ``(i*b) % 8 .. (i*b) % 8 + b - 1`` of byte ``(i*b) // 8``,
and the unused high bits of the last byte are 0. For int4 that puts element ``2j`` in the low
nibble of byte ``j`` and element ``2j+1`` in its high nibble: TFLite's INT4 (and INT2) layout
(``tensor_utils::PackInt8IntoDenseInt`` / ``UnpackPackedIntToInt8``), which CMSIS-NN's s4
kernels read too, so an INT4 buffer of a .tflite file *is* a ``Packed()`` array byte for byte.
It is also the order a little-endian reader extracts without knowing how many fields a byte
holds: ``(byte >> (b * (i % (8 / b)))) & (2**b - 1)``. Field values: s4/s2 are two's
complement in ``b`` bits (s4 -8..7 is 0x8..0x7); b1 is bit 1 = +1, bit 0 = -1; u1 the bit.

These helpers are the one place such streams are made and read (``encoding.py``'s formats).
"""

from __future__ import annotations

import numpy as np

from .ir import DType, IRError


def pack_bits(fields: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit fields -> bytes, field i at bit (i*bits) % 8 of byte (i*bits)//8."""
    if bits not in (1, 2, 4, 8):
        raise IRError(f"bit streams hold 1, 2, 4 or 8-bit fields, not {bits}")
    per = 8 // bits
    f = np.asarray(fields, np.uint8).reshape(-1)
    f = np.concatenate([f, np.zeros(-f.size % per, np.uint8)]).reshape(-1, per)
    return (f.astype(np.uint32) << (bits * np.arange(per, dtype=np.uint32))).sum(
        axis=1).astype(np.uint8)


def unpack_bits(data: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The first ``count`` unsigned ``bits``-bit fields of a byte stream (``pack_bits``' inverse)."""
    per = 8 // bits
    d = np.asarray(data, np.uint8).reshape(-1)
    if d.size * per < count:
        raise IRError(f"{d.size} bytes hold fewer than {count} {bits}-bit fields")
    f = (d[:, None] >> (bits * np.arange(per, dtype=np.uint8))) & ((1 << bits) - 1)
    return f.reshape(-1)[:count].astype(np.uint8)


def stream_bits(bits: int) -> int:
    """Index widths that do not divide 8 are stored in the next that does (3 -> 4, 5..7 -> 8),
    so no field straddles a byte."""
    return next(b for b in (1, 2, 4, 8) if b >= bits)


def value_fields(v: np.ndarray, dtype: DType) -> np.ndarray:
    """Sub-byte values -> their unsigned bit fields (two's complement, b1 +1 -> 1)."""
    if dtype is DType.b1:
        return (v > 0).astype(np.uint8)
    return (v.astype(np.int16) & ((1 << dtype.bits) - 1)).astype(np.uint8)


def field_values(f: np.ndarray, dtype: DType) -> np.ndarray:
    """Bit fields -> values: sign extension as (f ^ half) - half, b1 as 2f - 1."""
    f = f.astype(np.int16)
    if dtype is DType.b1:
        return (2 * f - 1).astype(dtype.np)
    if dtype is DType.u1:
        return f.astype(dtype.np)
    half = 1 << (dtype.bits - 1)
    return ((f ^ half) - half).astype(dtype.np)


# -- rows of 32-bit words: b1 activations and binary weights (ops/binary.py) ------------------
WORD = 32


def row_words(c: int) -> int:
    """uint32 words of one packed row of ``c`` b1 values."""
    return (c + WORD - 1) // WORD


def pack_rows(a: np.ndarray) -> np.ndarray:
    """b1 values (..., C) -> words (..., ceil(C / 32)) as uint32: value c in bit c % 32 of word
    c // 32, set for +1, the spare high bits of the last word 0."""
    a = np.asarray(a)
    c = a.shape[-1]
    bits = np.zeros((*a.shape[:-1], row_words(c) * WORD), np.uint64)
    bits[..., :c] = a > 0
    words = (bits.reshape(*a.shape[:-1], -1, WORD) << np.arange(WORD, dtype=np.uint64)).sum(-1)
    return words.astype(np.uint32)


def unpack_rows(words: np.ndarray, c: int) -> np.ndarray:
    """Words (..., W) -> b1 values (..., c) as int8 -1 / +1 (``pack_rows``' inverse)."""
    w = np.asarray(words, np.uint32)
    bits = (w[..., None] >> np.arange(WORD, dtype=np.uint32)) & 1
    bits = bits.reshape(*w.shape[:-1], -1)[..., :c]
    return (2 * bits.astype(np.int8) - 1).astype(np.int8)


# -- rows of word pairs: t2 activations and ternary weights (ops/ternary.py) -------------------
def pack_ternary_rows(a: np.ndarray) -> np.ndarray:
    """t2 values (..., C) -> words (..., 2 ceil(C / 32)) as uint32: word pairs, pair i holding
    values 32i .. 32i + 31 as a nonzero plane (word 2i: bit c % 32 set where value c is not 0)
    and a plus plane (word 2i + 1: set where it is +1); spare high bits 0 in both."""
    a = np.asarray(a)
    nonzero, plus = pack_rows(np.where(a != 0, 1, -1)), pack_rows(np.where(a > 0, 1, -1))
    return np.stack([nonzero, plus], axis=-1).reshape(*a.shape[:-1], -1)


def unpack_ternary_rows(words: np.ndarray, c: int) -> np.ndarray:
    """Words (..., 2W) -> t2 values (..., c) as int8 -1 / 0 / +1 (``pack_ternary_rows``'
    inverse; a plus bit without its nonzero bit reads as 0)."""
    w = np.asarray(words, np.uint32).reshape(*np.shape(words)[:-1], -1, 2)
    nonzero = unpack_rows(w[..., 0], c) > 0
    plus = unpack_rows(w[..., 1], c) > 0
    return np.where(nonzero, np.where(plus, 1, -1), 0).astype(np.int8)
