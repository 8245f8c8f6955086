"""Offline preparation of the pair-packed int8 matrix products (``ff_conv2d_s8_1x1`` and
``ff_dense_s8``), the Python side of the last section of ``firmware/core/ff_fixed.h``.

What TFLM and CMSIS-NN compute at run time (or in Prepare) is done here once:

- the input offset folds into the bias: ``bias'[o] = bias[o] + in_offset * sum_k w[o][k]``,
  taken modulo 2**32, since the kernels' int32 accumulator is itself modulo 2**32 (the same
  bytes as ``bias[o] + sum_k (x + in_offset) w``);
- each pair of output channels (2j, 2j + 1) becomes one int16 weight per input
  ``H = w[2j] + 256 * w[2j + 1]`` (its low byte is ``w[2j]``), reordered in groups of four inputs
  as ``H[4g], H[4g + 2], H[4g + 1], H[4g + 3]`` so that one 32-bit word matches what SXTB16 makes
  of four input bytes, and, for ``ff_dense_s8``, interleaved by blocks of ``DENSE_PAIRS`` pairs;
- the requantization parameters become one record per channel, ``{bias', 2 * mult, k, left}``
  (``2 * mult`` modulo 2**32 and ``k = 2**(32 - right)`` are what SMMLAR multiplies by).

The small-depth kernels (``ff_conv2d_s8_1x1_c8`` / ``_c16`` / ``_c32``, ``small_fast`` and
``small_records`` below) take unpaired int16 weights and one record per channel holding the
bias', the weights, ``2 * mult``, ``k' = 2**(32 - right) + 1`` and the output offset.
"""

from __future__ import annotations

import numpy as np

DENSE_PAIRS = 4  # pairs of output channels that ff_dense_s8 accumulates together
PAIR_CHUNK = 508  # FF_PAIR_CHUNK in ff_pairs.h: inputs per chunk of a pair's sums
FULL_RANGE = (-128, 127)  # the int8 output range the assembly requantizes to (no clamp)
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


def multipliers_ok(mult: np.ndarray) -> bool:
    """True when every multiplier is 0 or in [2**30, 2**31), as ``quantize_multiplier`` makes
    them: what the records' requantization (``ff_requant_pre``) assumes."""
    m = np.asarray(mult, np.int64)
    return not np.any((m != 0) & ((m < (1 << 30)) | (m >= (1 << 31))))


def packable(w: np.ndarray, mult: np.ndarray) -> bool:
    """True when the pair-packed kernels apply to weights ``w`` (out, in) with multipliers
    ``mult``: every packed value fits int16 (it does not when ``w[2j + 1] = -128`` meets a negative
    ``w[2j]``; symmetric int8 weights never reach -128) and ``multipliers_ok``."""
    if not multipliers_ok(mult):
        return False
    h = _pair_values(_effective(w, np.asarray(mult, np.int64)))
    return bool(np.all((h >= INT16_MIN) & (h <= INT16_MAX)))


def _pair_values(w: np.ndarray) -> np.ndarray:
    """(pairs, in) int64: w[2j] + 256 * w[2j + 1], an odd last channel paired with zeros."""
    o, k = w.shape
    if o % 2:
        w = np.concatenate([w, np.zeros((1, k), np.int64)])
    return w[0::2] + 256 * w[1::2]


def _reorder(h: np.ndarray) -> np.ndarray:
    """Rows of (.., in) packed values in the kernels' order: per group of four inputs
    0, 2, 1, 3, then the in % 4 last ones."""
    k = h.shape[-1]
    full = k // 4 * 4
    body = h[..., :full].reshape(*h.shape[:-1], k // 4, 4)[..., [0, 2, 1, 3]]
    return np.concatenate([body.reshape(*h.shape[:-1], full), h[..., full:]], axis=-1)


def _effective(w: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Weights with the channels of multiplier 0 zeroed (their result is 0 whatever the sum)."""
    w = np.array(w, np.int64)
    w[np.asarray(mult) == 0] = 0
    return w


def plain_weights(w: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """int8 weights of ``ff_dense_s8_compact``: (out, in) row-major, the channels of
    multiplier 0 zeroed (their records' bias' is 0, so their sum is 0)."""
    return _effective(w, mult).astype(np.int8).ravel()


def conv_weights(w: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """int16 weights of ``ff_conv2d_s8_1x1`` from (out, in) int8 weights: pair after pair, each
    padded to an even number of values."""
    h = _reorder(_pair_values(_effective(w, mult)))
    if h.shape[1] % 2:
        h = np.concatenate([h, np.zeros((h.shape[0], 1), np.int64)], axis=1)
    return h.astype(np.int16).ravel()


def dense_weights(w: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """int16 weights of ``ff_dense_s8``: blocks of DENSE_PAIRS pairs, in each of which every
    group of four inputs holds the pairs' four values one pair after the other (then, for each of
    the in % 4 last inputs, the pairs' values), followed by the remaining pairs laid out one by
    one as for ``ff_conv2d_s8_1x1``."""
    h = _pair_values(_effective(w, mult))
    k = h.shape[1]
    blocks = w.shape[0] // (2 * DENSE_PAIRS)  # blocks of 2 * DENSE_PAIRS real channels
    full = k // 4 * 4
    out = []
    for b in range(blocks):
        hb = _reorder(h[b * DENSE_PAIRS:(b + 1) * DENSE_PAIRS])
        body = hb[:, :full].reshape(DENSE_PAIRS, k // 4, 4).transpose(1, 0, 2).ravel()
        tail = hb[:, full:].T.ravel()
        out += [body, tail]
    rest = conv_weights(w[2 * blocks * DENSE_PAIRS:], mult[2 * blocks * DENSE_PAIRS:])
    return np.concatenate([*out, rest.astype(np.int64)]).astype(np.int16)


def records(w: np.ndarray, bias: np.ndarray, in_offset: int, mult: np.ndarray,
            shift: np.ndarray) -> np.ndarray:
    """int32 records {bias', 2 * mult, k, left} per output channel (flattened): bias' is the bias
    with the input offset folded in (modulo 2**32, as the kernels' int32 sum; 0 for a channel of
    multiplier 0), k = 2**(32 - right) for right = max(-shift, 0) >= 2 (the factor of SMMLAR's
    rounding right shift), -right for right 0 or 1, and left = max(shift, 0)."""
    w = _effective(w, mult)
    m = np.asarray(mult, np.int64)
    b = np.where(m == 0, 0, np.asarray(bias, np.int64) + in_offset * w.sum(axis=1))
    s = np.asarray(shift, np.int64)
    right = np.maximum(-s, 0)
    k = np.where(right >= 2, np.int64(1) << np.clip(32 - right, 0, 30), -right)
    rec = np.stack([_wrap32(b), _wrap32(2 * m), k, np.maximum(s, 0)], axis=1)
    return rec.astype(np.int32).ravel()


def rshift2(rec: np.ndarray) -> int:
    """1 when every record of ``records`` has no left shift and a right shift of at least 2
    (k > 0): the kernels' assembly requantizes only such layers (``conv_fast``,
    ``dense_fast``; the others take the C code)."""
    r = np.asarray(rec).reshape(-1, 4)
    return int(bool(np.all((r[:, 2] > 0) & (r[:, 3] == 0))))


def conv_fast(in_c: int, out_c: int, rec: np.ndarray, act: tuple[int, int]) -> bool:
    """True when ``ff_conv2d_s8_1x1``'s Cortex-M assembly computes the whole layer, so that it
    can call ``ff_conv2d_s8_1x1_fast`` (its pixels >= 4 are the 1x1 kernel's own condition):
    in_c a multiple of 4 up to PAIR_CHUNK (one chunk of groups, no tail), out_c even (whole
    pairs), the full int8 output range and ``rshift2`` records."""
    return in_c % 4 == 0 and 0 < in_c <= PAIR_CHUNK and out_c % 2 == 0 \
        and tuple(act) == FULL_RANGE and bool(rshift2(rec))


def dense_fast(in_features: int, rec: np.ndarray, act: tuple[int, int]) -> bool:
    """True when ``ff_dense_s8``'s Cortex-M code needs no portable block code, so that it can
    call ``ff_dense_s8_fast``: in_features a multiple of 4 (its blocks chunk long rows
    themselves), the full int8 output range and ``rshift2`` records."""
    return in_features % 4 == 0 and in_features > 0 and tuple(act) == FULL_RANGE \
        and bool(rshift2(rec))


SMALL_IN_C = (8, 16, 32)  # the input depths of ff_conv2d_s8_1x1_c8 / _c16 / _c32


def small_fast(in_c: int, out_c: int, mult: np.ndarray, shift: np.ndarray,
               bound: np.ndarray, act: tuple[int, int]) -> bool:
    """True when ``ff_conv2d_s8_1x1_c8`` / ``_c16`` / ``_c32`` give the layer's bytes: in_c in
    SMALL_IN_C, out_c
    even, the full int8 output range, multipliers 0 or in [2**30, 2**31) (``multipliers_ok``),
    right shifts r = -shift of at least 2 (no left shift), and every accumulator bound
    ``bound[o]`` (``conv_prep.acc_bound``) below 2**(32 - r[o]): then |h| < 2**(32 - r) for
    h = ff_srdhm(acc, mult), which makes SMMLAR by k' = 2**(32 - r) + 1 round as ff_rdbpot
    (the proof is in ``ff_conv_1x1_small.c``)."""
    s = np.broadcast_to(np.asarray(shift, np.int64), (out_c,))
    if in_c not in SMALL_IN_C or out_c % 2 or out_c <= 0 or tuple(act) != FULL_RANGE \
            or not multipliers_ok(mult) or np.any(s > -2) or np.any(s < -31):
        return False
    return bool(np.all(np.asarray(bound, np.int64) < (np.int64(1) << (32 + s))))


def small_records(w: np.ndarray, bias: np.ndarray, in_offset: int, mult: np.ndarray,
                  shift: np.ndarray, out_offset: int) -> np.ndarray:
    """int32 records of ``ff_conv2d_s8_1x1_c8`` / ``_c16``, one per output channel of the
    (out, in) weights ``w``: {bias', W[0 .. in/2 - 1], m2, k', out_offset} with bias' and m2 as
    in ``records``, k' = 2**(32 - r) + 1 for the right shift r, and the weights as int16 pairs
    in the order of SXTB16 of four input bytes: W[2g] = {w[4g], w[4g + 2]},
    W[2g + 1] = {w[4g + 1], w[4g + 3]} (low half first)."""
    o, k = w.shape
    we = _effective(w, mult)
    m = np.asarray(mult, np.int64)
    b = np.where(m == 0, 0, np.asarray(bias, np.int64) + in_offset * we.sum(axis=1))
    r = -np.broadcast_to(np.asarray(shift, np.int64), (o,))
    g = we.reshape(o, k // 4, 4)
    lo = g[:, :, [0, 1]] & 0xFFFF  # words 2g, 2g + 1: low halves w[4g], w[4g + 1]
    hi = g[:, :, [2, 3]] & 0xFFFF  # high halves w[4g + 2], w[4g + 3]
    words = (lo | (hi << 16)).reshape(o, k // 2)
    rec = np.concatenate([_wrap32(b)[:, None], _wrap32(words), _wrap32(2 * m)[:, None],
                          ((np.int64(1) << (32 - r)) + 1)[:, None],
                          np.full((o, 1), out_offset, np.int64)], axis=1)
    return rec.astype(np.int32).ravel()
