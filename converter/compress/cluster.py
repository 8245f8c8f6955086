"""k-means weight clustering (weight sharing, Han et al., "Deep Compression", 2016).

One-dimensional Lloyd iterations with a deterministic quantile initialisation (centroid ``j``
starts at the ``(j + 1/2) / k`` quantile of the values, or of the distinct values when repeated
ones make quantiles coincide; Han et al. compare linear, random and
density-based initialisations, and the quantile one is the density-based choice). In one
dimension the assignment step is a search among the midpoints of the sorted centroids, so no
randomness and no distance matrix are needed. Zeros (pruned weights) can be kept exactly zero,
so clustering a pruned layer keeps its sparsity.
"""

from __future__ import annotations

import numpy as np

from .prune import CompressionError


def check_clusters(k: object, where: str = "clusters") -> int:
    """``k`` as an int in [2, 256], else CompressionError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 256:
        raise CompressionError(f"{where} must be an integer in [2, 256], got {k!r}")
    return int(k)


def assign(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest of the sorted ``centroids`` for each value (ties: the lower)."""
    mids = (centroids[1:] + centroids[:-1]) / 2
    return np.searchsorted(mids, values, side="left")


def kmeans_1d(values: np.ndarray, k: int, *, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """``(centroids, labels)``: at most ``k`` sorted centroids of the 1-D ``values`` and each
    value's centroid index. Deterministic (quantile initialisation, Lloyd's iterations until
    no label changes or ``iters`` rounds); fewer centroids when there are fewer distinct values.
    """
    k = check_clusters(k, "k")
    v = np.asarray(values, np.float64).reshape(-1)
    if v.size == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    distinct = np.unique(v)
    if distinct.size <= k:
        return distinct, np.searchsorted(distinct, v)
    c = np.unique(np.quantile(v, (np.arange(k) + 0.5) / k))
    if c.size < k:  # repeated values (zeros of a pruned layer) made quantiles coincide
        c = np.quantile(distinct, (np.arange(k) + 0.5) / k)
    labels = assign(v, c)
    for _ in range(iters):
        sums = np.bincount(labels, weights=v, minlength=c.size)
        counts = np.bincount(labels, minlength=c.size)
        c = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        c = np.unique(c)
        new = assign(v, c)
        if new.size == labels.size and np.array_equal(new, labels):
            break
        labels = new
    return c, assign(v, c)


def cluster_weights(w: np.ndarray, k: int, *, axis: int | None = None,
                    keep_zeros: bool = True) -> np.ndarray:
    """``w`` with every weight replaced by its k-means centroid: at most ``k`` distinct values
    per tensor (``axis=None``) or per slice along ``axis`` (per channel). With ``keep_zeros``
    exact zeros stay zero and count as one of the ``k`` values."""
    k = check_clusters(k)
    w = np.asarray(w)
    if axis is None:
        return _cluster_flat(w.reshape(-1), k, keep_zeros).reshape(w.shape).astype(w.dtype)
    moved = np.moveaxis(w, axis, 0)
    out = np.stack([_cluster_flat(ch.reshape(-1), k, keep_zeros).reshape(ch.shape)
                    for ch in moved])
    return np.moveaxis(out, 0, axis).astype(w.dtype)


def _cluster_flat(v: np.ndarray, k: int, keep_zeros: bool) -> np.ndarray:
    out = np.zeros(v.shape, np.float64)
    nz = v != 0 if keep_zeros else np.ones(v.shape, bool)
    budget = k - 1 if keep_zeros and not nz.all() else k
    if nz.any() and budget >= 1:
        if budget == 1:
            out[nz] = v[nz].mean()
        else:
            c, labels = kmeans_1d(v[nz], budget)
            out[nz] = c[labels]
    return out
