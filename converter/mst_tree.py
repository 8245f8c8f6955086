"""The reuse tree of a binary layer's output channels (MST channel reuse, from "MST-compression").

A binary layer's output channel o reads its packed weight row w_o (``channel_rows``: Dense
``(O, K)`` rows of ceil(K / 32) words, Conv2d OHWI rows of all KH * KW taps of ceil(C / 32)
words each, tap-major, the layout ``PackedRows`` and the kernels use). For channels i and j
and D = w_i xor w_j (the bits where their weights differ), the mismatch of an input x,
m(x, w) = popcount(x xor w), obeys

    m_j = m_i - popcount((x xor w_i) & D) + popcount((x xor w_j) & D)
        = m_i - |D| + 2 popcount((x xor w_j) & D)

since under D, x xor w_i is the complement of x xor w_j. So channel j costs the words where
D is nonzero (its *diff words*) once channel i's result is known, instead of its whole row.

Words read per input row: a channel computed fully reads its W row words, a channel computed
from another reads its diff words. The cheapest choice of "fully, or from which channel" for
every channel is a minimum spanning tree over the channels plus a virtual root: an edge of
weight W from the root to each channel (computed fully), an edge of weight d(i, j) (the words
where w_i and w_j differ) between channels. Every spanning tree is a valid plan (the root's
children are computed fully, any other channel from its tree parent, parents first), and a
plan is a spanning tree, so the MST minimises the words read; Prim's algorithm from the virtual
root gives the evaluation order (each channel after its parent). A channel takes a parent only
when d(i, j) < W strictly: on a tie it is computed fully (no bookkeeping, one less load).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bitstream import pack_rows, row_words, unpack_rows
from .encoding import Array, Encoding
from .ir import DType, IRError

FULL = -1  # the parent of a channel computed fully
_BLOCK = 256  # channels per block of the distance computation (bounds its temporary memory)


def channel_rows(values: np.ndarray) -> np.ndarray:
    """The packed weight row of every output channel (axis 0): ``(O, W)`` uint32, a row being
    the channel's values packed along the last axis, sub-rows (conv taps) one after another."""
    v = np.asarray(values)
    if v.ndim < 2:
        raise IRError(f"channel reuse needs weights with an output axis and a row, got {v.shape}")
    return pack_rows(v.reshape(-1, v.shape[-1])).reshape(v.shape[0], -1)


def word_distances(rows: np.ndarray) -> np.ndarray:
    """d[i, j]: the words where rows i and j differ."""
    o = rows.shape[0]
    d = np.zeros((o, o), np.int64)
    for s in range(0, o, _BLOCK):
        d[s:s + _BLOCK] = (rows[s:s + _BLOCK, None, :] != rows[None, :, :]).sum(axis=2)
    return d


@dataclass(frozen=True)
class ReuseTree:
    """The evaluation order (channels, parents first) and each channel's parent (FULL or a
    channel), with the words each plan reads per input row."""

    order: np.ndarray  # (O,) channel computed at each step
    parent: np.ndarray  # (O,) by channel: FULL or the channel its result starts from
    row_words: int  # W
    words: np.ndarray  # (O,) by channel: words it reads (W when full, its diff words if not)

    @property
    def plain_words(self) -> int:
        """Words the plain kernel reads: every channel's whole row."""
        return int(self.order.size * self.row_words)

    @property
    def words_read(self) -> int:
        return int(self.words.sum())

    @property
    def reused(self) -> int:
        """Channels computed from another channel's result."""
        return int(np.count_nonzero(self.parent != FULL))


def reuse_tree(rows: np.ndarray) -> ReuseTree:
    """The minimum spanning tree of the module docstring, by Prim's algorithm from the virtual
    root (ties broken towards computing fully, then towards the lower channel index)."""
    o, w = rows.shape
    d = word_distances(rows)
    cost = np.full(o, w, np.int64)  # the cheapest way found so far to compute each channel
    parent = np.full(o, FULL, np.int64)
    done = np.zeros(o, bool)
    order = np.empty(o, np.int64)
    for step in range(o):
        j = int(np.argmin(np.where(done, np.iinfo(np.int64).max, cost)))
        order[step] = j
        done[j] = True
        better = ~done & (d[j] < cost)
        cost[better] = d[j][better]
        parent[better] = j
    return ReuseTree(order, parent, w, cost)


# -- the storage format: binary weights in the order of their reuse tree --------------------------
@dataclass(frozen=True)
class MSTRows(Encoding):
    """b1 weights for MST channel reuse (this module): each output channel's packed row
    (``PackedRows``' rows, all taps of a conv channel in one row) either whole or as its diff
    words against the channel whose result it starts from, in the tree's evaluation order.

    steps: int32_t[O * 4], per step s (parents first) {channel, parent (-1: computed fully),
        diff words n_s, flips |D| (the bits of its diff masks, 0 when full)}
    full: uint32_t, the rows of the channels computed fully, whole (W words each), in step order
    diffs: uint32_t[3 * sum n_s], per diff word {index in the row, D = w xor w_parent there,
        w & D}, ascending index within a step, steps in order

    The tree is the minimum spanning tree of ``reuse_tree`` (a function of the data),
    so ``MSTRows()`` has no fields; ``passes/mst_reuse.py`` decides where it pays."""

    def check(self, dtype: DType) -> None:
        if dtype is not DType.b1:
            raise IRError(f"mst rows hold b1 values, not {dtype.value}")

    def tree(self, rows: np.ndarray):
        """The reuse tree of the packed channel rows (``ReuseTree``)."""
        return reuse_tree(rows)

    def _encode(self, v, dtype):
        rows = channel_rows(v)
        tree = self.tree(rows)
        steps, full, diffs = [], [], []
        for o in tree.order:
            p = int(tree.parent[o])
            if p == FULL:
                full.append(rows[o])
                steps.append((o, FULL, 0, 0))
                continue
            mask = rows[o] ^ rows[p]
            at = np.flatnonzero(mask)
            diffs.append(np.stack([at.astype(np.uint32), mask[at], rows[o][at] & mask[at]], 1))
            steps.append((o, p, at.size, int(sum(int(m).bit_count() for m in mask[at]))))
        empty = np.zeros((0,), np.uint32)
        return (Array("steps", "int32_t", np.asarray(steps, np.int32).reshape(-1)),
                Array("full", "uint32_t", np.concatenate(full) if full else empty),
                Array("diffs", "uint32_t",
                      np.concatenate(diffs).reshape(-1) if diffs else empty))

    def _decode(self, e):
        o, c = e.shape[0], e.shape[-1]
        w = row_words(c) * (e.size // (o * c))
        steps = e["steps"].data.astype(np.int64).reshape(-1, 4)
        full = e["full"].data.reshape(-1, w) if w else e["full"].data.reshape(0, 0)
        diffs = e["diffs"].data.astype(np.uint32).reshape(-1, 3)
        rows = np.zeros((o, w), np.uint32)
        seen = np.zeros(o, bool)
        nf = nd = 0
        bad = steps.shape[0] != o or set(steps[:, 0].tolist()) != set(range(o))
        for ch, p, n, flips in ([] if bad else steps):
            if p == -1:
                bad = nf >= full.shape[0] or n != 0 or flips != 0
                if bad:
                    break
                rows[ch], nf = full[nf], nf + 1
            else:
                at, mask, bits = (diffs[nd:nd + n, k] for k in range(3))
                bad = not (0 <= p < o and seen[p]) or nd + n > diffs.shape[0] \
                    or np.any(at >= w) or np.any(bits & ~mask) \
                    or flips != sum(int(m).bit_count() for m in mask)
                if bad:
                    break
                rows[ch] = rows[p]
                rows[ch, at.astype(np.int64)] ^= mask
                bad = np.any(rows[ch, at.astype(np.int64)] & mask != bits)
                if bad:
                    break
                nd += n
            seen[ch] = True
        if bad or nf != full.shape[0] or nd != diffs.shape[0]:
            raise IRError("mst rows arrays are inconsistent with the shape")
        return unpack_rows(rows.reshape(-1, row_words(c)), c).reshape(e.shape)

    def __str__(self) -> str:
        return "mst rows"
