"""Data-aware rounding of low-bit weights: each layer's weights are quantized so that its
outputs on calibration inputs stay close to a target, not so that each weight stays close.

For a layer computing ``y = W x`` over rows ``x`` (a Dense input, a convolution's patches),
rounding every weight to nearest minimises ``||W - W_q||`` but not the output error
``sum_x ||(W - W_q) x||^2 = tr((W - W_q) H (W - W_q)^T)`` with ``H = sum_x x x^T``. GPTQ
(Frantar et al. 2023, after Optimal Brain Quantization) quantizes the columns of ``W`` one
after the other and moves each column's rounding error onto the columns not yet quantized,
weighted by the inverse of ``H``; the Cholesky factor ``U`` of ``H^-1`` (upper triangular)
gives the update in one row:

    q_j  = clip(round(W_j / s), -Q, Q)                 (per output channel scale s)
    e    = (W_j - s q_j) / U_jj
    W_k -= e U_jk   for k > j

Every output channel is solved at once (they share ``H``). A depthwise layer has one ``H`` per
channel (each channel reads its own input channel). ``H`` is damped by 1 % of its mean
diagonal, as GPTQ does, so that inputs that never vary cannot make it singular.

The target need not be the weights themselves: when the layer's inputs ``x'`` come from a
network whose earlier layers are already quantized, while the wanted outputs are ``W x`` of the
original network, the least-squares weights ``W* = W (X X'^T)(X' X'^T)^-1`` absorb the
earlier layers' error (``||W_q X' - W X||^2 = ||(W_q - W*) X'||^2 + const``), and GPTQ rounds
``W*`` with ``H = X' X'^T``.
"""

from __future__ import annotations

import numpy as np

from ..dtype import round_away
from ..ir import Node
from ..ops.conv import Conv2d, DepthwiseConv2d
from ..ops.dense import Dense

DAMP = 0.01  # of the mean diagonal of H, added to it
FRACTIONS = np.linspace(0.5, 1.0, 11)  # of max|w| / Q: the scales tried per channel


def rows(node: Node, x: np.ndarray) -> np.ndarray | list[np.ndarray]:
    """The rows the layer's weights multiply, from its integer input ``x`` (zero point taken
    off, as float64): ``(P, K)`` for Dense and Conv2d (K in the weights' row order: Dense
    ``(in,)``, Conv2d OHWI ``(ky, kx, ci)``), and for DepthwiseConv2d one ``(P, kh * kw)``
    array per output channel. Padding reads real 0 (the zero point), as in TFLM."""
    zp = node.inputs[0].quant.zp
    xr = np.asarray(x, np.float64) - float(np.asarray(zp).reshape(-1)[0])
    w = node.inputs[1]
    if isinstance(node, Dense):
        return xr.reshape(-1, w.shape[1])
    if isinstance(node, Conv2d):
        if node.groups != 1:
            raise ValueError(f"{node.name}: grouped convolutions are not supported here")
        _, kh, kw, _ = w.shape
        return _windows(node, xr, kh, kw).reshape(-1, kh * kw * xr.shape[3])
    if isinstance(node, DepthwiseConv2d):
        _, kh, kw, oc = w.shape
        win = _windows(node, xr, kh, kw)  # (P, kh, kw, C)
        m = node.depth_multiplier
        return [win[..., o // m].reshape(-1, kh * kw) for o in range(oc)]
    raise ValueError(f"{node.name}: {type(node).__name__} has no data-aware rounding")


def _windows(node: Conv2d | DepthwiseConv2d, x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """(N * oh * ow, kh, kw, C): every output pixel's taps, zeros in the padding."""
    p, (sh, sw), (dh, dw) = node.padding, node.stride, node.dilation
    xp = np.pad(x, ((0, 0), (p.top, p.bottom), (p.left, p.right), (0, 0)))
    _, oh, ow, _ = node.outputs[0].shape
    taps = [[xp[:, ky * dh: ky * dh + (oh - 1) * sh + 1: sh,
                kx * dw: kx * dw + (ow - 1) * sw + 1: sw] for kx in range(kw)]
            for ky in range(kh)]
    win = np.stack([np.stack(r, axis=3) for r in taps], axis=3)  # (N, oh, ow, kh, kw, C)
    return win.reshape(-1, kh, kw, x.shape[3])


def hessian(x: np.ndarray) -> np.ndarray:
    """``H = X^T X`` of rows ``x`` (P, K)."""
    return x.T @ x


def target(w: np.ndarray, x_orig: np.ndarray, x_seen: np.ndarray) -> np.ndarray:
    """Weights ``W*`` (R, K) whose outputs on ``x_seen`` best match ``W`` on ``x_orig`` in
    least squares (the module docstring), kept near ``W`` where the rows say little:
    ``W* = W (X^T X' + l I)(X'^T X' + l I)^-1`` minimises ``||X' W*^T - X W^T||^2 +
    l ||W* - W||^2``, ``l`` the damping of ``gptq``. (Without the pull towards ``W``, inputs
    the calibration never varies would get weights of 0.)"""
    h = hessian(x_seen)
    lam = DAMP * float(np.mean(np.diag(h))) or 1.0
    eye = lam * np.eye(h.shape[0])
    return np.linalg.solve(h + eye, (x_seen.T @ x_orig + eye) @ w.T).T


def gptq(w: np.ndarray, h: np.ndarray, scale: np.ndarray, qmax: int) -> np.ndarray:
    """Integers ``q`` (R, K) in [-qmax, qmax] for weights ``w`` (R, K) with per-row scales
    ``scale`` (R,), rounded column after column against ``h`` (K, K); see the docstring."""
    order = np.argsort(-np.diag(h), kind="stable")  # the most active inputs first
    w = np.array(w, np.float64)[:, order]
    h = np.asarray(h, np.float64)[np.ix_(order, order)]
    s = np.asarray(scale, np.float64)
    u = np.linalg.cholesky(np.linalg.inv(_damped(h))).T  # upper: H^-1 = U^T U
    q = np.zeros(w.shape, np.int64)
    for j in range(w.shape[1]):
        q[:, j] = np.clip(round_away(w[:, j] / s), -qmax, qmax)
        err = (w[:, j] - s * q[:, j]) / u[j, j]
        w[:, j + 1:] -= np.outer(err, u[j, j + 1:])
    out = np.empty_like(q)
    out[:, order] = q
    return out


def refine(w: np.ndarray, h: np.ndarray, q: np.ndarray, scale: np.ndarray, qmax: int,
           sweeps: int = 3) -> np.ndarray:
    """``q`` improved by coordinate descent on the output error ``r H r^T``, ``r = w - s q``
    per row: GPTQ rounds each column once, greedily; afterwards moving a single ``q_j`` by
    ``d = +-1`` changes the error by ``s^2 d^2 H_jj - 2 s d (H r)_j``, and every move that
    lowers it is taken, column by column, until a sweep takes none (or ``sweeps`` ran)."""
    h = np.asarray(h, np.float64)
    s = np.asarray(scale, np.float64)
    q = np.array(q, np.int64)
    g = (np.asarray(w, np.float64) - s[:, None] * q) @ h  # (H r)_j for every row
    for _ in range(sweeps):
        moved = False
        for j in range(q.shape[1]):
            for d in (1, -1):
                gain = s * s * h[j, j] - 2 * s * d * g[:, j]
                take = (gain < 0) & (np.abs(q[:, j] + d) <= qmax)
                if take.any():
                    moved = True
                    q[take, j] += d
                    g[take] -= (s[take] * d)[:, None] * h[j][None, :]
        if not moved:
            break
    return q


def search(w: np.ndarray, h: np.ndarray, qmax: int, fractions: np.ndarray = FRACTIONS
           ) -> tuple[np.ndarray, np.ndarray]:
    """(q, float32 scales): for each row of ``w``, the scale among ``a * max|row| / qmax``
    (``a`` in ``fractions``) whose GPTQ rounding (``refine``d) leaves the least output error
    ``(w - s q) H (w - s q)^T``; at 4 bits and below clipping the largest weights can pay."""
    top = np.abs(w).max(axis=1) / qmax
    top = np.where(top > 0, top, 1.0)
    best_q, best_s, best_e = None, None, None
    for a in fractions:
        s = (top * a).astype(np.float32)
        q = refine(w, h, gptq(w, h, s.astype(np.float64), qmax), s.astype(np.float64), qmax)
        d = w - q * s.astype(np.float64)[:, None]
        e = np.einsum("rk,kl,rl->r", d, h, d)
        if best_e is None:
            best_q, best_s, best_e = q, s, e
            continue
        better = e < best_e
        best_q[better], best_s[better], best_e[better] = q[better], s[better], e[better]
    return best_q, best_s


def _damped(h: np.ndarray) -> np.ndarray:
    h = np.array(h, np.float64)
    d = np.diag(h).copy()
    d[d == 0] = 1.0  # an input that is always zero: any weight does, keep the column solvable
    np.fill_diagonal(h, d + DAMP * float(np.mean(d)))
    return h
