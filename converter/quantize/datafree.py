"""Data-free calibration (ZeroQ, Cai et al. 2020): inputs synthesized from BatchNorm statistics.

A trained model's BatchNorm layers keep the running mean and variance of their inputs over the
training data. Starting from Gaussian noise, a batch of inputs is optimised (Adam, in torch)
until the per-channel mean and variance of every BatchNorm layer's input match its running
statistics:

    loss = sum over BN layers of ||mu_batch - mu_run||^2 + ||sigma_batch - sigma_run||^2

(the "distilled data"); calibration then runs on it as on real samples. Only the activation
ranges come from it: weights are quantized from the weights as always.
"""

from __future__ import annotations

import numpy as np


class DataFreeError(ValueError):
    """The model holds no BatchNorm statistics to synthesize calibration data from."""


def batchnorms(model) -> list:
    import torch

    return [m for m in model.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats and m.running_mean is not None]


def distill(model, shape: tuple[int, ...], *, samples: int = 64, iters: int = 300,
            lr: float = 0.1, seed: int = 0) -> np.ndarray:
    """``samples`` synthetic inputs of per-sample ``shape`` (framework layout) for ``model``."""
    import torch

    bns = batchnorms(model)
    if not bns:
        raise DataFreeError(f"data_free=True needs BatchNorm layers with running statistics, "
                            f"and {type(model).__name__} has none: give calibration data")
    stats: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(module, inputs, _out):
        x = inputs[0]
        dims = [d for d in range(x.dim()) if d != 1]
        stats.append((x.mean(dims), x.var(dims, unbiased=False)))

    handles = [m.register_forward_hook(hook) for m in bns]
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((samples, *shape), generator=gen).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for _ in range(iters):
            stats.clear()
            opt.zero_grad()
            model(x)
            loss = sum(((mu - m.running_mean) ** 2).sum() / mu.numel()
                       + ((var.clamp_min(1e-8).sqrt() - (m.running_var + m.eps).sqrt()) ** 2).sum()
                       / var.numel()
                       for (mu, var), m in zip(stats, bns, strict=True))
            loss.backward()
            opt.step()
    finally:
        for h in handles:
            h.remove()
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    return x.detach().numpy().astype(np.float32)
