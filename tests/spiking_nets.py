"""Random snnTorch networks for the spiking tests: several depths, neuron types, resets,
scalar or per-neuron parameters, recurrent layers, and convolutional ones."""

from __future__ import annotations

import numpy as np
import snntorch as snn
import snntorch.utils
import torch
from torch import nn

RESETS = ("subtract", "zero", "none")


def _neuron(kind: str, n: int, rng: np.random.Generator, reset: str, per_neuron: bool,
            init_hidden: bool = True):
    beta = torch.rand(n) * 0.5 + 0.45 if per_neuron else float(rng.uniform(0.5, 0.97))
    thr = torch.rand(n) * 0.8 + 0.4 if per_neuron else float(rng.uniform(0.5, 1.5))
    if kind == "Leaky":
        return snn.Leaky(beta=beta, threshold=thr, reset_mechanism=reset,
                         init_hidden=init_hidden, learn_beta=per_neuron)
    if kind == "Synaptic":
        alpha = float(rng.uniform(0.3, 0.9))
        return snn.Synaptic(alpha=alpha, beta=beta, threshold=thr,
                            reset_mechanism="subtract" if reset == "zero" else reset,
                            init_hidden=init_hidden)
    reset = "subtract" if reset == "zero" else reset
    if rng.integers(2):
        return snn.RLeaky(beta=beta, threshold=thr, linear_features=n, init_hidden=init_hidden,
                          reset_mechanism=reset)
    v = torch.rand(n) - 0.5 if per_neuron else float(rng.uniform(-0.5, 0.5))
    return snn.RLeaky(beta=beta, threshold=thr, V=v, all_to_all=False,
                      init_hidden=init_hidden, reset_mechanism=reset)


def random_mlp(seed: int, depth: int | None = None) -> tuple[nn.Sequential, int]:
    """(an nn.Sequential of Linear + neuron layers with init_hidden=True, input size)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    depth = depth or int(rng.integers(1, 4))
    sizes = [int(rng.integers(4, 40)) for _ in range(depth + 1)]
    layers: list[nn.Module] = []
    for i in range(depth):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            lin.weight.mul_(2.5)
        kind = ("Leaky", "Synaptic", "RLeaky")[int(rng.integers(3))]
        layers += [lin, _neuron(kind, sizes[i + 1], rng, RESETS[int(rng.integers(3))],
                                bool(rng.integers(2)))]
    return nn.Sequential(*layers), sizes[0]


def random_conv(seed: int) -> tuple[nn.Sequential, tuple[int, int, int]]:
    """Conv2d -> MaxPool2d -> Leaky -> (Conv2d -> Leaky) -> Flatten -> Linear -> Leaky."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    c, h, w = int(rng.integers(1, 3)), int(rng.integers(8, 13)), int(rng.integers(8, 13))
    c1, c2 = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    conv1 = nn.Conv2d(c, c1, 3, padding=int(rng.integers(2)))
    h1, w1 = (h - 2 + 2 * conv1.padding[0]) // 2, (w - 2 + 2 * conv1.padding[0]) // 2
    conv2 = nn.Conv2d(c1, c2, 3, stride=int(rng.integers(1, 3)), padding=1)
    h2, w2 = (h1 - 1) // conv2.stride[0] + 1, (w1 - 1) // conv2.stride[0] + 1
    for m in (conv1, conv2):
        with torch.no_grad():
            m.weight.mul_(3.0)
    net = nn.Sequential(conv1, nn.MaxPool2d(2), snn.Leaky(beta=0.8, init_hidden=True),
                        conv2, snn.Leaky(beta=0.9, threshold=0.7, init_hidden=True),
                        nn.Flatten(), nn.Linear(c2 * h2 * w2, 6),
                        snn.Leaky(beta=0.85, init_hidden=True))
    return net, (c, h, w)


class LoopNet(nn.Module):
    """The tutorial style: ``forward`` loops over the steps with explicit state."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, steps: int, time_major: bool):
        super().__init__()
        self.steps, self.time_major = steps, time_major
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.lif1 = snn.Leaky(beta=0.9)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.lif2 = snn.Synaptic(alpha=0.7, beta=0.8)
        with torch.no_grad():
            self.fc1.weight.mul_(3.0)
            self.fc2.weight.mul_(3.0)

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        syn2, mem2 = self.lif2.init_synaptic()
        record = []
        for step in range(self.steps):
            cur1 = self.fc1(x[step] if self.time_major else x)
            spk1, mem1 = self.lif1(cur1, mem1)
            spk2, syn2, mem2 = self.lif2(self.fc2(spk1), syn2, mem2)
            record.append(spk2)
        return torch.stack(record)


def run_snntorch(net: nn.Module, xs: torch.Tensor) -> np.ndarray:
    """An init_hidden Sequential stepped over time-major ``xs`` [T, B, ...] from reset."""
    snn.utils.reset(net)
    with torch.no_grad():
        out = torch.stack([net(xs[t]) for t in range(xs.shape[0])])
    snn.utils.reset(net)
    return out.numpy()
