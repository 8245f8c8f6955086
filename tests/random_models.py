"""Randomly built PyTorch models of several topologies for whole-model tests.

Each builder draws its hyperparameters (channels, kernels, strides, padding, activations) from a
generator; BatchNorm statistics are randomised so that folding is not a no-op.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _act(rng) -> nn.Module:
    return [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.1), nn.Identity()][rng.integers(4)]


def _bn(c: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
    return bn


class Plain(nn.Module):
    """conv-bn-act stacks with pooling, then flatten + dense."""

    def __init__(self, rng, c_in, hw):
        super().__init__()
        layers, c, size = [], c_in, hw
        for _ in range(int(rng.integers(1, 4))):
            co, k = int(rng.integers(2, 12)), int(rng.choice([1, 3, 5]))
            stride = int(rng.integers(1, 3)) if size > 6 else 1
            layers += [nn.Conv2d(c, co, k, stride=stride, padding=k // 2), _bn(co), _act(rng)]
            size = (size + 2 * (k // 2) - k) // stride + 1
            c = co
            if size >= 4 and rng.random() < 0.5:
                layers.append([nn.MaxPool2d(2), nn.AvgPool2d(2)][rng.integers(2)])
                size //= 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c * size * size, int(rng.integers(2, 11)))

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


class Residual(nn.Module):
    """Two residual blocks (x + f(x), activation after the add), global mean, dense, softmax."""

    def __init__(self, rng, c_in, hw):
        super().__init__()
        c = int(rng.integers(4, 12))
        self.stem = nn.Conv2d(c_in, c, 3, padding=1)
        self.blocks = nn.ModuleList()
        for _ in range(2):
            self.blocks.append(nn.Sequential(nn.Conv2d(c, c, 3, padding=1), _bn(c), nn.ReLU(),
                                             nn.Conv2d(c, c, 3, padding=1), _bn(c)))
        self.fc = nn.Linear(c, int(rng.integers(2, 8)))
        self.softmax = bool(rng.random() < 0.5)

    def forward(self, x):
        x = F.relu(self.stem(x))
        for b in self.blocks:
            x = F.relu(x + b(x))
        y = self.fc(x.mean((2, 3)))
        return torch.softmax(y, dim=1) if self.softmax else y


class Separable(nn.Module):
    """Depthwise-separable blocks (MobileNet/DS-CNN style), adaptive pool, dense."""

    def __init__(self, rng, c_in, hw):
        super().__init__()
        c = int(rng.integers(4, 16))
        layers = [nn.Conv2d(c_in, c, 3, stride=2, padding=1), _bn(c), nn.ReLU()]
        for _ in range(int(rng.integers(1, 4))):
            mult = int(rng.integers(1, 3))
            co = int(rng.integers(4, 16))
            layers += [nn.Conv2d(c, c * mult, 3, padding=1, groups=c), _bn(c * mult), nn.ReLU6(),
                       nn.Conv2d(c * mult, co, 1), _bn(co), nn.ReLU()]
            c = co
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c, int(rng.integers(2, 12)))

    def forward(self, x):
        return self.fc(self.body(x))


class Branches(nn.Module):
    """Two branches joined by concatenation, a grouped conv, a multiply gate, sigmoid output."""

    def __init__(self, rng, c_in, hw):
        super().__init__()
        a, b = 2 * int(rng.integers(1, 5)), 2 * int(rng.integers(1, 5))
        self.left = nn.Sequential(nn.Conv2d(c_in, a, 3, padding=1), nn.ReLU())
        self.right = nn.Sequential(nn.Conv2d(c_in, b, 1), nn.Tanh())
        self.grouped = nn.Conv2d(a + b, 2 * (a + b), 3, padding=1, groups=2)
        self.gate = nn.Conv2d(a + b, 2 * (a + b), 1)
        self.fc = nn.Linear(2 * (a + b), int(rng.integers(1, 6)))

    def forward(self, x):
        y = torch.cat([self.left(x), self.right(x)], dim=1)
        z = F.relu(self.grouped(y)) * torch.sigmoid(self.gate(y))
        return torch.sigmoid(self.fc(F.adaptive_avg_pool2d(z, 1).flatten(1)))


class Signal(nn.Module):
    """Conv1d over a multichannel signal, pooling, view-based flatten, MLP with leaky ReLU."""

    def __init__(self, rng, c_in, length):
        super().__init__()
        c = int(rng.integers(3, 10))
        self.conv = nn.Conv1d(c_in, c, int(rng.choice([3, 5])), stride=int(rng.integers(1, 3)),
                              dilation=int(rng.integers(1, 3)), padding=2)
        with torch.no_grad():
            out_len = self.conv(torch.zeros(1, c_in, length)).shape[-1]
        self.fc1 = nn.Linear(c * out_len, int(rng.integers(8, 32)))
        self.fc2 = nn.Linear(self.fc1.out_features, int(rng.integers(2, 6)))

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        return self.fc2(F.leaky_relu(self.fc1(x), 0.05))


TOPOLOGIES = [Plain, Residual, Separable, Branches, Signal]


def build(topology: type[nn.Module], seed: int) -> tuple[nn.Module, np.ndarray]:
    """A model of ``topology`` and 64 float calibration samples of its input."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    c_in = int(rng.integers(1, 4))
    if topology is Signal:
        shape = (c_in, int(rng.integers(16, 40)))
    else:
        hw = int(rng.integers(6, 17))
        shape = (c_in, hw, hw)
    model = topology(rng, c_in, shape[-1]).eval()
    calib = rng.standard_normal((64, *shape)).astype(np.float32)
    return model, calib
