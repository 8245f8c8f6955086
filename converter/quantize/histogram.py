"""A fixed-size histogram whose range grows with the data, and the range searches run on it.

Calibration sees every activation of every sample, so observers may not keep the data. The
histogram has ``bins`` equal bins of width ``w`` starting at ``origin``. When a value falls outside
it, the width doubles: adjacent bin pairs merge and the merged half moves to the side that needs
room (the origin moves left by the old span when the data extend left). Old and new bin edges stay
aligned, so growing never re-bins by interpolation and the counts stay exact per bin.

Estimates from the histogram assume values are spread uniformly inside each bin, and are clamped
to the exact running minimum and maximum, which the histogram also keeps.
"""

from __future__ import annotations

import math

import numpy as np

# A grid of candidates per side for the MSE search; the search is |lo| x |hi| evaluations of a
# closed form, so 512 x 512 stays a few milliseconds.
_MAX_CANDIDATES = 512


class Histogram:
    """Counts of observed values in ``bins`` equal bins, growing its range on demand."""

    def __init__(self, bins: int = 4096) -> None:
        if bins < 2 or bins % 2:
            raise ValueError(f"histogram needs an even number of bins >= 2, got {bins}")
        self.bins = bins
        self.counts = np.zeros(bins, np.int64)
        self.origin = 0.0
        self.width = 0.0
        self.total = 0
        self.zeros = 0  # exact zeros, always representable by an int8 grid that includes 0
        self.min = math.inf
        self.max = -math.inf

    @property
    def edges(self) -> np.ndarray:
        return self.origin + self.width * np.arange(self.bins + 1, dtype=np.float64)

    def add(self, x: np.ndarray) -> None:
        """Count the finite values of ``x`` (the caller rejects NaN/Inf)."""
        x = np.asarray(x, np.float64).ravel()
        if x.size == 0:
            return
        lo, hi = float(x.min()), float(x.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError("histogram data contains NaN or Inf")
        if self.total == 0:
            # A constant first batch still needs a positive width; later data grow it by doubling.
            span = max(hi - lo, 1e-9 * max(1.0, abs(lo), abs(hi)))
            self.origin, self.width = lo, span / self.bins
        else:
            self._cover(lo, hi)
        idx = np.floor((x - self.origin) / self.width).astype(np.int64)
        np.clip(idx, 0, self.bins - 1, out=idx)  # the top edge belongs to the last bin
        self.counts += np.bincount(idx, minlength=self.bins)
        self.total += x.size
        self.zeros += int(np.count_nonzero(x == 0.0))
        self.min, self.max = min(self.min, lo), max(self.max, hi)

    def _cover(self, lo: float, hi: float) -> None:
        slack = 1e-6 * self.width  # rounding of origin + bins * width must not force a doubling
        while lo < self.origin - slack or hi > self.origin + self.bins * self.width + slack:
            merged = self.counts.reshape(-1, 2).sum(axis=1)
            empty = np.zeros(self.bins // 2, np.int64)
            if lo < self.origin - slack:
                self.counts = np.concatenate([empty, merged])
                self.origin -= self.bins * self.width
            else:
                self.counts = np.concatenate([merged, empty])
            self.width *= 2.0

    def quantile(self, q: float) -> float:
        """The value below which a fraction ``q`` of the data lies (linear inside a bin)."""
        if self.total == 0:
            raise ValueError("quantile of an empty histogram")
        cdf = np.cumsum(self.counts)
        target = q * self.total
        k = min(int(np.searchsorted(cdf, target, side="left")), self.bins - 1)
        inside = self.counts[k]
        frac = (target - (cdf[k] - inside)) / inside if inside else 0.0
        v = self.origin + self.width * (k + frac)
        return float(min(max(v, self.min), self.max))

    def mse_range(self, levels: int = 255) -> tuple[float, float]:
        """The clipping range ``(lo, hi)`` that minimises the expected quantization MSE.

        Candidates are bin edges (so each bin is wholly clipped or wholly kept), lo <= 0 <= hi,
        clamped to the data's min/max, so the result is never wider than min/max. For a candidate
        the quantizer is the asymmetric one of ``quantize``: grid ``[min(lo,0), max(hi,0)]`` with
        ``levels`` steps of ``s = (hi' - lo') / levels``. With ``n_k`` values spread uniformly over
        bin ``k`` (centre ``m_k``, width ``w``):

            MSE(lo, hi) = sum_{k below lo} n_k ((m_k - lo)^2 + w^2/12)        clipping, left
                        + sum_{k above hi} n_k ((m_k - hi)^2 + w^2/12)        clipping, right
                        + (N_kept - N_zero) * s^2 / 12                        rounding noise

        Exact zeros are excluded from the rounding noise: the grid represents 0 exactly, and
        post-ReLU tensors hold many of them. Every term comes from prefix sums over the bins, so
        the search is a vectorised grid over (lo, hi) candidates.
        """
        if self.total == 0:
            raise ValueError("range of an empty histogram")
        if self.max == self.min:
            return self.min, self.max
        n = self.counts.astype(np.float64)
        e = self.edges
        m = e[:-1] + self.width / 2
        var_bin = self.width ** 2 / 12
        p0 = np.concatenate([[0.0], np.cumsum(n)])
        p1 = np.concatenate([[0.0], np.cumsum(n * m)])
        p2 = np.concatenate([[0.0], np.cumsum(n * m * m)])

        # lo candidates: edge 0 (the data minimum) and every edge <= 0; hi: every edge >= 0 and B.
        # (Bounded by the data's far side too, so that a candidate range is never inverted.)
        lo_idx = _thin(np.concatenate([[0], np.flatnonzero(e[1:] <= min(0.0, self.max)) + 1]))
        hi_idx = _thin(np.concatenate([np.flatnonzero(e[:-1] >= max(0.0, self.min)), [self.bins]]))
        lo_val = np.maximum(e[lo_idx], self.min)
        hi_val = np.minimum(e[hi_idx], self.max)
        lo_val[lo_idx == 0] = self.min
        hi_val[hi_idx == self.bins] = self.max

        a = e[lo_idx]  # clipping bound on the left: bins < i lie wholly below edge i
        left = p2[lo_idx] - 2 * a * p1[lo_idx] + a * a * p0[lo_idx] + var_bin * p0[lo_idx]
        left[lo_idx == 0] = 0.0
        c = e[hi_idx]
        s0, s1, s2 = p0[-1] - p0[hi_idx], p1[-1] - p1[hi_idx], p2[-1] - p2[hi_idx]
        right = s2 - 2 * c * s1 + c * c * s0 + var_bin * s0
        right[hi_idx == self.bins] = 0.0

        step = (np.maximum(hi_val, 0.0)[None, :] - np.minimum(lo_val, 0.0)[:, None]) / levels
        kept = p0[hi_idx][None, :] - p0[lo_idx][:, None] - self.zeros
        mse = left[:, None] + right[None, :] + np.maximum(kept, 0.0) * step * step / 12
        i, j = np.unravel_index(int(np.argmin(mse)), mse.shape)
        return float(lo_val[i]), float(hi_val[j])


def _thin(idx: np.ndarray) -> np.ndarray:
    """At most ``_MAX_CANDIDATES`` indices, evenly spread, keeping both ends."""
    idx = np.unique(idx)
    if idx.size <= _MAX_CANDIDATES:
        return idx
    pick = np.round(np.linspace(0, idx.size - 1, _MAX_CANDIDATES)).astype(np.int64)
    return idx[np.unique(pick)]
