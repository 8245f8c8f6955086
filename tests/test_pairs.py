"""The offline preparation of the pair-packed kernels (targets/c/pairs.py) and the integer
identities their Cortex-M assembly relies on (firmware/core/ff_fixed.h), checked in numpy:

- the packed weights, read in the kernels' order, give each channel's dot product through the
  two sums E and R (R - E = 256 * the second channel's), within one chunk of 511 inputs;
- the folded bias equals bias + in_offset * sum(w) modulo 2**32;
- SMMLAR's rounding reproduces ff_srdhm and ff_rdbpot (right shift >= 2) on every int32.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter import fixed
from firmforge.targets.c import pairs


def _order(k: int) -> np.ndarray:
    """Input index of each packed value of one pair, as the kernels read them."""
    full = k // 4 * 4
    body = np.arange(full).reshape(-1, 4)[:, [0, 2, 1, 3]].ravel()
    return np.concatenate([body, np.arange(full, k)])


def _sums(h: np.ndarray, x: np.ndarray) -> tuple[int, int]:
    """E and R of one pair's packed values h (kernel order) with the inputs x."""
    xs = x[_order(len(x))].astype(np.int64)
    h = h.astype(np.int64)
    lo = ((h & 0xFF) ^ 0x80) - 0x80
    return int((lo * xs).sum()), int((h * xs).sum())


@pytest.mark.parametrize(("o", "k"), [(1, 1), (2, 3), (5, 4), (7, 9), (16, 64), (9, 511)])
def test_conv_layout_gives_every_dot_product(o, k):
    rng = np.random.default_rng(o * 1000 + k)
    w = rng.integers(-127, 128, (o, k))
    x = rng.integers(-128, 128, k)
    packed = pairs.conv_weights(w, np.full(o, 1 << 30)).astype(np.int64)
    stride = k + k % 2
    assert packed.size == (o + 1) // 2 * stride
    for j in range((o + 1) // 2):
        e, r = _sums(packed[j * stride:j * stride + k], x)
        assert e == int(w[2 * j] @ x)
        assert (r - e) % 256 == 0 and abs((r - e) // 256) < 1 << 23
        if 2 * j + 1 < o:
            assert (r - e) // 256 == int(w[2 * j + 1] @ x)


@pytest.mark.parametrize(("o", "k"), [(8, 4), (9, 7), (17, 12), (31, 33), (64, 128)])
def test_dense_layout_blocks_then_pairs(o, k):
    rng = np.random.default_rng(o * 1000 + k)
    w = rng.integers(-127, 128, (o, k))
    x = rng.integers(-128, 128, k)
    packed = pairs.dense_weights(w, np.full(o, 1 << 30)).astype(np.int64)
    blocks, full = o // (2 * pairs.DENSE_PAIRS), k // 4 * 4
    pos = 0
    for _ in range(blocks):
        n = pairs.DENSE_PAIRS * k
        blk = packed[pos:pos + n]
        body = blk[:4 * full].reshape(k // 4, pairs.DENSE_PAIRS, 4)
        tail = blk[4 * full:].reshape(k - full, pairs.DENSE_PAIRS)
        for j in range(pairs.DENSE_PAIRS):
            e, r = _sums(np.concatenate([body[:, j].ravel(), tail[:, j]]), x)
            c = 2 * (pos // k) + 2 * j
            assert (e, (r - e) // 256) == (int(w[c] @ x), int(w[c + 1] @ x))
        pos += n
    rest = pairs.conv_weights(w[2 * pairs.DENSE_PAIRS * blocks:],
                              np.full(o - 2 * pairs.DENSE_PAIRS * blocks, 1 << 30))
    assert np.array_equal(packed[pos:], rest)


def test_packable_refuses_what_int16_cannot_hold():
    w = np.array([[-1, 5], [-128, 3]])
    assert not pairs.packable(w, np.full(2, 1 << 30))
    assert pairs.packable(w[::-1], np.full(2, 1 << 30))  # -128 first: -128 + 256 * -1 fits
    assert pairs.packable(np.array([[0, 1], [-128, 3]]), np.full(2, 1 << 30))
    assert not pairs.packable(np.ones((2, 2)), np.array([1 << 29, 1 << 30]))  # mult < 2**30
    assert pairs.packable(w, np.array([0, 1 << 30]))  # a zero channel's weights are zeroed


def test_records_fold_the_offset_and_encode_the_shifts():
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (4, 50))
    bias = np.array([2**31 - 1, -(2**31), 17, 0])
    mult = np.array([1 << 30, (1 << 31) - 1, 0, 1 << 30])
    shift = np.array([-2, 3, 0, -1])
    rec = pairs.records(w, bias, 128, mult, shift).reshape(4, 4).astype(np.int64)
    want = (bias + 128 * w.sum(axis=1) + (1 << 31)) % (1 << 32) - (1 << 31)
    assert np.array_equal(rec[[0, 1, 3], 0], want[[0, 1, 3]]) and rec[2, 0] == 0
    assert np.array_equal(rec[:, 1] % (1 << 32), (2 * mult) % (1 << 32))
    assert rec[:, 2].tolist() == [1 << 30, 0, 0, -1] and rec[:, 3].tolist() == [0, 3, 0, 0]
    assert pairs.rshift2(rec) == 0 and pairs.rshift2(rec[:1]) == 1


def _smmlar(a: np.ndarray, b: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """SMMLAR: (acc * 2**32 + a * b + 2**31) >> 32, on int64 arrays of int32 values."""
    a, b, acc = (np.asarray(v, dtype=object) for v in (a, b, acc))
    return np.array([(int(c) * (1 << 32) + int(p) * int(q) + (1 << 31)) >> 32
                     for p, q, c in zip(a, b, acc, strict=True)], np.int64)


def test_smmlar_rounding_reproduces_srdhm_and_rdbpot():
    rng = np.random.default_rng(2)
    edges = [-(1 << 31), -(1 << 31) + 1, -1, 0, 1, (1 << 31) - 1, 1 << 30, -(1 << 30)]
    x = np.concatenate([edges, rng.integers(-(1 << 31), 1 << 31, 4000)]).astype(np.int64)
    for m in [1 << 30, (1 << 31) - 1, 1518500250, *rng.integers(1 << 30, 1 << 31, 5)]:
        m2 = 2 * int(m) - (1 << 32)
        v = _smmlar(x, np.full(x.size, m2), x)  # SMMLAR v, x, m2, x
        assert np.array_equal(v, fixed.srdhm(x, int(m)))
        for right in (2, 3, 7, 16, 31):
            k = 1 << (32 - right)
            got = _smmlar(v + (v < 0) * -1, np.full(v.size, k), np.zeros(v.size))
            assert np.array_equal(got, fixed.rdbpot(v, right)), (m, right)


def test_smmlar_by_k_prime_rounds_as_rdbpot_inside_the_bound():
    """The small-depth kernels' one-SMMLAR rounding: SMMLAR(h, 2**(32 - right) + 1, 0) is
    ff_rdbpot(h, right) for every |h| < 2**(32 - right) (ties of both signs and their
    neighbours, near 0 and near the bound), and not beyond it, which is why pairs.small_fast
    checks the accumulator bounds."""
    rng = np.random.default_rng(4)
    for right in (2, 3, 7, 12, 20, 31):
        lim = 1 << (32 - right)
        top = lim >> right  # ties j * 2**right + 2**(right - 1) up to the bound
        j = np.concatenate([np.arange(-60, 60), np.arange(top - 60, top + 1),
                            np.arange(-top - 1, -top + 60)]).astype(np.int64)
        ties = j * (1 << right) + (1 << (right - 1))
        h = np.concatenate([ties, ties - 1, ties + 1, -ties, [lim - 1, 1 - lim, 0, 1, -1],
                            rng.integers(1 - lim, lim, 3000)])
        h = h[np.abs(h) < lim].astype(np.int64)
        k = np.full(h.size, lim + 1)
        assert np.array_equal(_smmlar(h, k, np.zeros(h.size)), fixed.rdbpot(h, right)), right
    # past the bound: h = 1 - 2**19 with right = 20 is 128 times 2**(32 - 20) in magnitude, and
    # its h / 2**12 = -128 pulls the floor below rdbpot's
    h = np.array([1 - (1 << 19)], np.int64)
    assert _smmlar(h, np.full(1, (1 << 12) + 1), np.zeros(1))[0] != fixed.rdbpot(h, 20)[0]


def test_small_records_layout_and_conditions():
    """small_records: {bias', W pairs in SXTB16 order, 2 * mult, k', out_offset} per channel;
    small_fast refuses other depths, odd out_c, narrow ranges, right shifts under 2 and
    bounds at 2**(32 - right)."""
    rng = np.random.default_rng(6)
    w = rng.integers(-128, 128, (4, 8))
    mult = np.array([1 << 30, (1 << 31) - 1, 0, 1 << 30])
    shift = np.array([-2, -9, -3, -31])
    rec = pairs.small_records(w, np.array([5, -7, 9, 11]), 3, mult, shift, -4)
    rec = rec.reshape(4, 8).astype(np.int64)
    lo16 = ((rec[:, 1:5] & 0xFFFF) ^ 0x8000) - 0x8000
    hi16 = rec[:, 1:5] >> 16
    we = w.copy()
    we[2] = 0
    assert np.array_equal(lo16, we[:, [0, 1, 4, 5]])
    assert np.array_equal(hi16, we[:, [2, 3, 6, 7]])
    assert rec[:, 0].tolist() == [5 + 3 * w[0].sum(), -7 + 3 * w[1].sum(), 0,
                                  11 + 3 * w[3].sum()]
    assert np.array_equal(rec[:, 5] % (1 << 32), (2 * mult) % (1 << 32))
    assert rec[:, 6].tolist() == [(1 << 30) + 1, (1 << 23) + 1, (1 << 29) + 1, 3]
    assert rec[:, 7].tolist() == [-4] * 4
    ok = dict(mult=mult[:2], shift=np.array([-2, -9]), bound=np.array([(1 << 30) - 1, 100]),
              act=(-128, 127))
    assert pairs.small_fast(8, 2, **ok) and pairs.small_fast(32, 2, **ok)
    assert not pairs.small_fast(12, 2, **ok) and not pairs.small_fast(64, 2, **ok)
    assert not pairs.small_fast(8, 2, **{**ok, "act": (0, 127)})
    assert not pairs.small_fast(8, 2, **{**ok, "bound": np.array([1 << 30, 100])})
    assert not pairs.small_fast(8, 2, **{**ok, "shift": np.array([-1, -9])})
    assert not pairs.small_fast(8, 3, **{**ok, "mult": mult[:3], "shift": shift[:3],
                                         "bound": np.zeros(3)})
