"""A jet-tagging-shaped MLP on synthetic data: 16 features, 5 classes, 16-64-32-32-5 with ReLU
and a softmax output, the network hls4ml's jet-tagging benchmark uses.

The real data set (the hls4ml LHC jet data) is not available here, so the data is synthetic and
seeded: each class is a gaussian cluster in a 6-dimensional latent space (the cluster centres
are fixed, the samples come from the seed), and the 16 features are nonlinear functions of the
latent point (squares, products, tanh, |.|, sin) mixed by a fixed random rotation plus noise,
then standardized as jet features are. Two classes share a centre and differ only in spread, so
only the nonlinear features separate them. The float model reaches about 80 % on held-out data,
in the range of real jet taggers (~75 %).

``train_jet_tagger(seed)`` is what benchmarks/hls_vs_hls4ml.py (and tests) use.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

FEATURES = 16
CLASSES = 5
SIZES = (FEATURES, 64, 32, 32, CLASSES)
N_TRAIN = 40_000
N_TEST = 10_000

# The "physics" (cluster centres, spreads, feature mixing) is fixed whatever the seed: a seed
# draws samples and the initial weights, not a different problem.
_PROBLEM_SEED = 20_240_601
_LATENT = 6


def _problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_PROBLEM_SEED)
    centres = rng.normal(0, 0.9, (CLASSES, _LATENT))
    centres[4] = centres[3]  # classes 3 and 4 differ only in spread (below)
    spread = np.array([1.0, 1.0, 1.0, 0.6, 1.6])
    mix = np.linalg.qr(rng.normal(size=(FEATURES, FEATURES)))[0]
    return centres, spread, mix


def make_jet_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples ``(x [n, 16] float32, unstandardized; y [n] int64 class labels)``."""
    centres, spread, mix = _problem()
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    z = centres[y] + spread[y, None] * rng.normal(size=(n, _LATENT))
    feats = np.concatenate([
        z,                                                   # 6
        z[:, :3] ** 2,                                       # 3
        z[:, [0, 2, 4]] * z[:, [1, 3, 5]],                   # 3
        np.tanh(2 * z[:, 3:5]),                              # 2
        np.abs(z[:, 5:6]),                                   # 1
        np.sin(z[:, 0:1] + z[:, 2:3]),                       # 1
    ], axis=1)
    x = feats @ mix + rng.normal(0, 0.3, (n, FEATURES))
    return x.astype(np.float32), y.astype(np.int64)


def jet_mlp() -> nn.Sequential:
    """16-64-32-32-5, ReLU between the layers, softmax at the end (as in hls4ml's example)."""
    a, b, c, d, e = SIZES
    return nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, c), nn.ReLU(),
                         nn.Linear(c, d), nn.ReLU(), nn.Linear(d, e), nn.Softmax(dim=1))


def train_jet_tagger(seed: int = 0, epochs: int = 12
                     ) -> tuple[nn.Sequential, np.ndarray, np.ndarray, np.ndarray]:
    """Train the MLP on ``N_TRAIN`` fresh samples; returns ``(model in eval mode, x_train,
    x_test, y_test)`` with ``N_TEST`` held-out samples, features standardized by the training
    set's statistics. Deterministic for a seed (a few seconds on one core)."""
    x, y = make_jet_data(N_TRAIN + N_TEST, seed)
    mean, std = x[:N_TRAIN].mean(axis=0), x[:N_TRAIN].std(axis=0)
    x = ((x - mean) / std).astype(np.float32)
    x_train, y_train, x_test, y_test = x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]

    torch.manual_seed(seed)
    model = jet_mlp()
    logits = model[:-1]  # cross-entropy wants the logits; the softmax is part of the model
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(N_TRAIN, generator=gen).split(512):
            opt.zero_grad()
            nn.functional.cross_entropy(logits(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()
    return model.eval(), x_train, x_test, y_test


def float_predictions(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The float model's class probabilities for ``x``."""
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()
