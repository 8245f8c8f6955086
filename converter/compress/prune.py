"""Unstructured pruning masks on numpy weights.

- Magnitude pruning: the smallest ``|w|`` are removed, per tensor or with one threshold across
  tensors (global magnitude pruning, Han et al. 2015).
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


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep-mask removing the ``floor(sparsity * w.size)`` weights of smallest magnitude (ties
    broken by position, so the count is exact and the result deterministic)."""
    s = check_sparsity(sparsity)
    w = np.asarray(w)
    drop = int(np.floor(s * w.size))
    keep = np.ones(w.size, bool)
    if drop:
        order = np.argsort(np.abs(w.reshape(-1)), kind="stable")
        keep[order[:drop]] = False
    return keep.reshape(w.shape)


def global_masks(weights: Mapping[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """Keep-masks with one magnitude threshold across all ``weights``: the smallest
    ``floor(sparsity * total)`` magnitudes of the union are removed, wherever they are."""
    s = check_sparsity(sparsity)
    names = list(weights)
    flat = [np.abs(np.asarray(weights[k], np.float64)).reshape(-1) for k in names]
    allw = np.concatenate(flat) if flat else np.zeros(0)
    drop = int(np.floor(s * allw.size))
    keep = np.ones(allw.size, bool)
    if drop:
        keep[np.argsort(allw, kind="stable")[:drop]] = False
    out, start = {}, 0
    for k, f in zip(names, flat, strict=True):
        out[k] = keep[start:start + f.size].reshape(np.shape(weights[k]))
        start += f.size
    return out


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
