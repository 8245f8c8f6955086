"""Better weights for PTQ, chosen on calibration data: layer-wise rounding and bias correction.

Both work on the float graph before ``quantize()`` and return a corrected copy of it, so the
quantizer, the reference and every target see ordinary float weights and biases:

- **Layer-wise calibration** (AdaRound, Nagel et al. 2020): for each Conv2d / Dense node, the
  rounding of every weight (down or up from ``w / s_c``, with the scales ``s_c`` of
  ``quantize_weights``) is learned in torch so that the layer's output on its float calibration
  inputs matches the float output: ``W~ = s * clip(floor(W/s) + h(V), -Q, Q)`` with the
  rectified sigmoid ``h``, minimising ``||x W~ - x W||^2 + lam * sum(1 - |2h - 1|^beta)`` with
  ``beta`` annealed from 20 to 2 so that every ``h`` ends at 0 or 1. The learned integers ``q``
  are written back as the float weights ``q * s``, which ``quantize_weights`` maps to ``q``
  again (the per-channel maximum keeps its nearest rounding, so ``s`` is unchanged). Other
  weighted ops (depthwise, ...) keep round-to-nearest.
- **Bias correction** (Nagel et al. 2019, DFQ; empirical form): the quantized weights make a
  layer's output off by ``E[(W_q - W) x]`` per output channel on average; that expectation,
  measured on the calibration inputs of the layer (the float network's), is subtracted from the
  float bias before the bias is quantized.

The weights ``W_q`` are those the quantizer will produce (``quantize_weights`` of the weights,
after layer-wise calibration when both are asked), at each node's weight dtype.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np

from ..ir import DType, Graph, Node
from ..ops.conv import Conv2d
from ..ops.dense import Dense
from ..reference import run
from .params import WEIGHT_QMAX, quantize_weights

MAX_SAMPLES = 256  # calibration samples used to measure layer inputs
ZETA, GAMMA = 1.1, -0.1  # AdaRound's rectified sigmoid stretch


def refine(graph: Graph, calib: tuple[np.ndarray, ...], weight_dtypes: Mapping[str, DType], *,
           layerwise: bool = False, bias_correction: bool = False, iters: int = 400,
           seed: int = 0) -> Graph:
    """A copy of the float ``graph`` whose weights (``layerwise``) and biases
    (``bias_correction``) are corrected for quantization at ``weight_dtypes`` (node name ->
    dtype), measured on the IR-layout calibration arrays ``calib`` (one per input, at most
    MAX_SAMPLES used)."""
    g = copy.deepcopy(graph)
    if not (layerwise or bias_correction):
        return g
    xs = [np.asarray(a, np.float32)[:MAX_SAMPLES] for a in calib]
    _, tensors = run(g, xs, keep_all=True)
    for node in g.nodes:
        if node.weight_axis is None or node.name not in weight_dtypes:
            continue
        x = tensors[node.x.name]
        w, b = node.inputs[1], node.inputs[2]
        dtype = weight_dtypes[node.name]
        if layerwise and type(node) in _TORCH_LAYERS:
            w.data = adaround(node, x, dtype, iters=iters, seed=seed).astype(np.float32)
        if bias_correction:
            q, p = quantize_weights(w.data, node.weight_axis, dtype)
            shape = [1] * w.data.ndim
            shape[node.weight_axis] = -1
            dw = q.astype(np.float64) * p.scale.astype(np.float64).reshape(shape) - w.data
            err = linear(node, x, dw.astype(np.float32), np.zeros_like(b.data))
            b.data = (b.data - err.reshape(-1, err.shape[-1]).mean(axis=0)).astype(np.float32)
    return g


def linear(node: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The node's float output before its fused activation, for weights ``w`` and bias ``b``."""
    n = copy.copy(node)
    n.act = type(node.act).NONE
    return n.ref([x, w, b])[0]


def _torch_conv2d(node: Node, x, w, b):
    import torch.nn.functional as F

    p = node.padding
    x = F.pad(x.permute(0, 3, 1, 2), (p.left, p.right, p.top, p.bottom))
    y = F.conv2d(x, w.permute(0, 3, 1, 2), b, stride=tuple(node.stride),
                 dilation=tuple(node.dilation), groups=node.groups)
    return y.permute(0, 2, 3, 1)


def _torch_dense(node: Node, x, w, b):
    return x @ w.T + b


_TORCH_LAYERS = {Conv2d: _torch_conv2d, Dense: _torch_dense}


def adaround(node: Node, x: np.ndarray, dtype: DType, *, iters: int = 400, lam: float = 0.01,
             batch: int = 64, lr: float = 1e-2, seed: int = 0) -> np.ndarray:
    """AdaRound's weights ``q * s`` (float64) for a Conv2d or Dense ``node`` on its float
    inputs ``x`` (IR layout), at weight dtype ``dtype``."""
    import torch

    fwd = _TORCH_LAYERS[type(node)]
    w = np.asarray(node.inputs[1].data, np.float64)
    axis = node.weight_axis
    _, p = quantize_weights(w, axis, dtype)
    qmax = WEIGHT_QMAX[dtype]
    shape = [1] * w.ndim
    shape[axis] = -1
    s = p.scale.astype(np.float64).reshape(shape)
    ws = w / s
    nearest = np.clip(np.round(ws), -qmax, qmax)
    fixed = np.abs(nearest) >= qmax  # the channel maxima keep their rounding (and so ``s``)
    lo = np.floor(ws)
    rest = np.clip(ws - lo, 0.01, 0.99)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        xt = torch.from_numpy(np.asarray(x, np.float32))
        wt = torch.from_numpy(w.astype(np.float32))
        bt = torch.from_numpy(np.asarray(node.inputs[2].data, np.float32))
        target = fwd(node, xt, wt, bt)
    v = torch.tensor(-np.log((ZETA - GAMMA) / (rest - GAMMA) - 1), dtype=torch.float32,
                     requires_grad=True)
    lo_t = torch.from_numpy(lo.astype(np.float32))
    s_t = torch.from_numpy(s.astype(np.float32))
    fixed_t = torch.from_numpy(fixed)
    near_t = torch.from_numpy(nearest.astype(np.float32))
    opt = torch.optim.Adam([v], lr=lr)
    warm = iters // 5

    def h():
        return torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0, 1)

    def weights(soft):
        q = torch.clamp(lo_t + soft, -qmax, qmax)
        return torch.where(fixed_t, near_t, q) * s_t

    for it in range(iters):
        idx = torch.randint(0, len(xt), (min(batch, len(xt)),), generator=gen)
        out = fwd(node, xt[idx], weights(h()), bt)
        loss = ((out - target[idx]) ** 2).mean()
        if it >= warm:
            beta = 20 + (2 - 20) * (it - warm) / max(iters - warm, 1)
            hv = h()
            loss = loss + lam * (1 - (2 * hv - 1).abs() ** beta).sum() / hv.numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        q = torch.where(fixed_t, near_t, torch.clamp(lo_t + (h() >= 0.5).float(), -qmax, qmax))
    return q.numpy().astype(np.float64) * s
