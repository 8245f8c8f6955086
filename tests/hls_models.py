"""Small converted models for the HLS tests: an MLP, a CNN, a residual MLP (Add), a binary MLP
and spiking networks, each with random weights (bit-exactness does not depend on training)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.nn import BinaryConv2d, BinaryLinear

PART = "xc7z020clg400-1"


def mlp(prune: float = 0.0, seed: int = 0):
    """16-64-32-32-5 ReLU MLP; ``prune``: that fraction of every layer's weights set to 0."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                          nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))
    if prune:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in model:
                if isinstance(m, nn.Linear):
                    m.weight.mul_((torch.rand(m.weight.shape, generator=gen) >= prune).float())
    cal = np.random.default_rng(seed).standard_normal((128, 16)).astype(np.float32)
    return convert(model, calibration=cal, name="mlp", progress=False)


def cnn(seed: int = 0):
    """conv-relu-maxpool, conv-relu-avgpool, flatten, dense on 1x12x12 images."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 8, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 2 * 2, 10))
    cal = np.random.default_rng(seed).standard_normal((64, 1, 12, 12)).astype(np.float32)
    return convert(model, calibration=cal, name="cnn", progress=False)


def conv1d(seed: int = 0):
    """Conv1d (Conv2d with height 1 in the IR), max pool, strided conv, dense."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
                          nn.Conv1d(8, 4, 3, stride=2), nn.Flatten(), nn.Linear(4 * 7, 3))
    cal = np.random.default_rng(seed).standard_normal((64, 3, 32)).astype(np.float32)
    return convert(model, calibration=cal, name="conv1d", progress=False)


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(12, 20)
        self.b = nn.Linear(12, 20)
        self.c = nn.Linear(20, 4)

    def forward(self, x):
        return self.c(torch.relu(self.a(x)) + self.b(x))


def residual(seed: int = 0):
    """Two dense branches joined by an int8 Add (TFLM's rescaling), then a dense."""
    torch.manual_seed(seed)
    cal = np.random.default_rng(seed).standard_normal((128, 12)).astype(np.float32)
    return convert(_Residual(), calibration=cal, name="residual", progress=False)


class _BinaryMLP(nn.Module):
    """tests/test_binary_models.py's binary MLP: sign, two XNOR layers, an int8 classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.layers = nn.Sequential(BinaryLinear(196, 64), nn.BatchNorm1d(64),
                                    BinaryLinear(64, 48), nn.BatchNorm1d(48), nn.Linear(48, 10))

    def forward(self, x):
        return self.layers(torch.flatten(x, 1) - 0.5)


def binary_mlp():
    """(project, float inputs): batch-norm statistics of a few batches, then eval mode."""
    x = torch.rand(96, 1, 14, 14, generator=torch.Generator().manual_seed(0))
    model = _BinaryMLP().train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    proj = convert(model.eval(), calibration=x.numpy(), name="bmlp", progress=False)
    return proj, x.numpy()


def binary_cnn(pad_value: float = 1.0):
    """int8 conv, then two XNOR convolutions and an XNOR dense (tests/test_binary_models.py's
    shape, smaller): (project, float inputs)."""
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.MaxPool2d(2),
        BinaryConv2d(8, 16, 3, padding=1, pad_value=pad_value), nn.BatchNorm2d(16),
        nn.MaxPool2d(2),
        BinaryConv2d(16, 16, 3, padding=1, pad_value=pad_value), nn.BatchNorm2d(16),
        nn.Flatten(), BinaryLinear(16 * 3 * 3, 24), nn.BatchNorm1d(24), nn.Linear(24, 10))
    x = torch.rand(64, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    proj = convert(model.eval(), calibration=x.numpy(), name="bcnn", progress=False)
    return proj, x.numpy()


def images(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 12, 12)).astype(np.float32)


def vectors(n: int, k: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, k)).astype(np.float32) * 1.5


def spike_trains(shape: tuple[int, ...], seed: int, p: float = 0.35) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32)
