"""MNIST for the demo, tests and benchmarks: the shared test set split 8,000 / 2,000, a small CNN,
and a short deterministic training loop.

Only the 10,000-image MNIST *test* file is available here (../shared/data/mnist), so it is split
with a fixed seed: 8,000 images to train on, 2,000 held back for accuracy.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

SPLIT_SEED = 20261201
ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    return Path(os.environ.get("FIRMFORGE_SHARED", ROOT.parent / "shared"))


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(shared: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train [8000,1,28,28] float32 in [0,1], y_train, x_test [2000,...], y_test)."""
    d = (shared or shared_dir()) / "data" / "mnist"
    images = d / "t10k-images-idx3-ubyte.gz"
    labels = d / "t10k-labels-idx1-ubyte.gz"
    if not images.exists() or not labels.exists():
        raise FileNotFoundError(f"MNIST test set not found in {d}")
    x = (_read_idx(images).astype(np.float32) / 255.0)[:, None]
    y = _read_idx(labels).astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    tr, te = order[:8000], order[8000:]
    return x[tr], y[tr], x[te], y[te]


class MnistCNN(nn.Module):
    """conv3x3(8)-relu-pool, conv3x3(16)-relu-pool, dense(10): about 8k parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(16 * 7 * 7, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int = 8, seed: int = 0,
          batch: int = 64, lr: float = 3e-3) -> nn.Module:
    """Adam with a cosine schedule; deterministic for a given seed and thread count."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def float_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def trained_cnn(seed: int = 0) -> tuple[MnistCNN, tuple[np.ndarray, ...]]:
    """The demo's CNN trained on the 8,000-image split, with the split itself."""
    data = load_split()
    torch.manual_seed(seed)
    model = train(MnistCNN(), data[0], data[1], seed=seed)
    return model, data
