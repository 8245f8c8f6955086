"""Unstructured pruning masks on numpy weights.

- Magnitude pruning: the smallest ``|w|`` are removed, per tensor or with one threshold across
  tensors (global magnitude pruning, Han et al. 2015). With ``block=b`` whole blocks of ``b``
  rows x 1 column are removed instead, ranked by their mean ``|w|`` (the L1 norm over the block
  divided by its rows; the last block of a row count that ``b`` does not divide has fewer):
  TF Model Optimization's ``block_size=(b, 1)``, the pattern ``encoding.BlockCSR`` (b = 4)
  stores and its kernels skip.
- The gradual schedule of Zhu & Gupta ("To prune, or not to prune", 2017):
  ``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3`` for ``t0 <= t <= t0 + n dt``.
- N:M fine-grained sparsity (Mishra et al. 2021; Zhou et al., SR-STE 2021): at most ``n``
  nonzeros in every ``m`` consecutive weights of a row. Rows are what ``encoding.row_view``
  makes of the tensor: the output-channel axis first, the rest flattened in memory order
  (for the IR's OHWI convolution weights: H, W, then input channel innermost).

Masks are boolean arrays of the weight's shape, ``True`` where a weight is kept.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..encoding import row_view


class CompressionError(ValueError):
    """A compression option that cannot be applied; the message names the value (and layer)."""


def check_sparsity(sparsity: object, where: str = "sparsity") -> float:
    """``sparsity`` as a float in [0, 1), else CompressionError naming it."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating)):
        raise CompressionError(f"{where} must be a number in [0, 1), got {sparsity!r}")
    s = float(sparsity)
    if not 0.0 <= s < 1.0:
        raise CompressionError(f"{where} must be in [0, 1), got {sparsity!r}")
    return s


def check_block(block: object, where: str = "sparsity_block") -> int:
    """``block`` as a positive integer (rows of a pruning block), else CompressionError."""
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise CompressionError(f"{where} must be a positive integer (rows of a block of rows "
                               f"x 1 column, such as 4), got {block!r}")
    return int(block)


def magnitude_mask(w: np.ndarray, sparsity: float, *, block: int = 1,
                   axis: int = 0) -> np.ndarray:
    """Keep-mask removing the ``floor(sparsity * n)`` units of smallest magnitude, ties broken
    by position (so the count is exact and the result deterministic): with ``block=1`` the n =
    ``w.size`` weights, else the n blocks of ``block`` rows x 1 column of the row view (rows
    along ``axis``), ranked by their mean ``|w|``."""
    s = check_sparsity(sparsity)
    return _unblock(_drop_smallest(_block_scores(w, check_block(block), axis), s), w, block,
                    axis)


def global_masks(weights: Mapping[str, np.ndarray], sparsity: float, *,
                 block: int = 1) -> dict[str, np.ndarray]:
    """Keep-masks with one magnitude threshold across all ``weights``: the smallest
    ``floor(sparsity * total)`` units of the union are removed, wherever they are (weights, or
    with ``block`` > 1 blocks of ``block`` rows x 1 column of each tensor, rows along axis 0,
    by mean ``|w|``)."""
    s = check_sparsity(sparsity)
    b = check_block(block)
    names = list(weights)
    scores = [_block_scores(weights[k], b, 0) for k in names]
    flat = np.concatenate([x.reshape(-1) for x in scores]) if scores else np.zeros(0)
    keep = _drop_smallest(flat, s)
    out, start = {}, 0
    for k, x in zip(names, scores, strict=True):
        out[k] = _unblock(keep[start:start + x.size].reshape(x.shape), weights[k], b, 0)
        start += x.size
    return out


def _block_scores(w: np.ndarray, block: int, axis: int) -> np.ndarray:
    """|w| (block 1), else the mean |w| of each block of ``block`` rows x 1 column of the row
    view: a (ceil(R / block), C) array."""
    a = np.abs(np.asarray(w, np.float64))
    if block == 1:
        return a
    rows = row_view(a, axis)
    r, c = rows.shape
    padded = np.zeros((-(-r // block) * block, c))
    padded[:r] = rows
    count = np.minimum(block, r - block * np.arange(padded.shape[0] // block))  # rows per block
    return padded.reshape(-1, block, c).sum(axis=1) / count[:, None]


def _drop_smallest(scores: np.ndarray, s: float) -> np.ndarray:
    """Keep-flags of ``scores``' shape without its floor(s * size) smallest (ties by position)."""
    keep = np.ones(scores.size, bool)
    drop = int(np.floor(s * scores.size))
    if drop:
        keep[np.argsort(scores.reshape(-1), kind="stable")[:drop]] = False
    return keep.reshape(scores.shape)


def _unblock(keep: np.ndarray, w: np.ndarray, block: int, axis: int) -> np.ndarray:
    """Block keep-flags (``_block_scores``' shape) as a keep-mask of ``w``'s shape."""
    w = np.asarray(w)
    if block == 1:
        return keep.reshape(w.shape)
    rows = np.repeat(keep, block, axis=0)[:w.shape[axis]]
    moved = np.moveaxis(w, axis, 0).shape
    return np.moveaxis(rows.reshape(moved), 0, axis)


def gradual_sparsity(step: int, final: float, *, initial: float = 0.0, begin: int = 0,
                     pruning_steps: int = 100, interval: int = 1) -> float:
    """Zhu & Gupta's cubic schedule at training step ``step``.

    ``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3``, with ``t0 = begin``,
    ``n dt = pruning_steps`` and ``t`` rounded down to a multiple of ``interval`` after ``t0``
    (masks are updated every ``dt = interval`` steps); ``s_i`` before ``t0``, ``s_f`` after
    ``t0 + n dt``.
    """
    s_f = check_sparsity(final, "final sparsity")
    s_i = check_sparsity(initial, "initial sparsity")
    if pruning_steps <= 0 or interval <= 0:
        raise CompressionError(f"pruning_steps and interval must be positive, got "
                               f"{pruning_steps} and {interval}")
    if step < begin:
        return s_i
    if step >= begin + pruning_steps:
        return s_f
    t = begin + (step - begin) // interval * interval
    return s_f + (s_i - s_f) * (1.0 - (t - begin) / pruning_steps) ** 3


def check_nm(n: object, m: object, where: str = "nm") -> tuple[int, int]:
    """``(n, m)`` as integers with 1 <= n < m <= 256, else CompressionError."""
    if not (isinstance(n, (int, np.integer)) and isinstance(m, (int, np.integer))
            and not isinstance(n, bool) and 1 <= n < m <= 256):
        raise CompressionError(f"{where} must be integers n:m with 1 <= n < m <= 256, got "
                               f"{n}:{m}")
    return int(n), int(m)


def nm_mask(w: np.ndarray, n: int, m: int, *, axis: int = 0, name: str = "weights") -> np.ndarray:
    """Keep-mask with the ``n`` largest magnitudes of every ``m`` consecutive weights of each
    row (rows along ``axis``, as ``encoding.row_view`` forms them). The row length must be a
    multiple of ``m``; otherwise CompressionError naming ``name``."""
    n, m = check_nm(n, m)
    w = np.asarray(w)
    rows = row_view(w, axis)
    r, c = rows.shape
    if c % m:
        raise CompressionError(f"{name}: N:M sparsity {n}:{m} needs rows whose length divides by "
                               f"{m}, but its rows hold {c} weights")
    grp = np.abs(rows.astype(np.float64)).reshape(r, c // m, m)
    order = np.argsort(-grp, axis=2, kind="stable")  # largest first, ties by position
    keep = np.zeros(grp.shape, bool)
    np.put_along_axis(keep, order[..., :n], True, axis=2)
    moved = np.moveaxis(w, axis, 0).shape
    return np.moveaxis(keep.reshape(moved), 0, axis)


def sparsity_of(w: np.ndarray) -> float:
    """Fraction of zeros in ``w``."""
    w = np.asarray(w)
    return float((w == 0).sum() / w.size) if w.size else 0.0


def is_nm(w: np.ndarray, n: int, m: int, axis: int = 0) -> bool:
    """Whether every ``m`` consecutive weights of each row of ``w`` hold at most ``n``
    nonzeros (the last group padded with zeros)."""
    rows = row_view(np.asarray(w), axis) != 0
    r, c = rows.shape
    padded = np.zeros((r, -(-c // m) * m), bool)
    padded[:, :c] = rows
    return bool(padded.reshape(r, -1, m).sum(axis=2).max(initial=0) <= n)
