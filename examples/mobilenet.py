"""A MobileNet-style image model for the board benchmarks and tests: 96x96x3 input (the size of
TFLM's person-detection example), a strided 3x3 convolution to 8 channels, depthwise-separable
blocks (3x3 depthwise + BatchNorm + ReLU6, then 1x1 pointwise + BatchNorm + ReLU6), four of
them strided, global average pooling and a dense layer to 2 classes.

Its weights are random (a fixed seed) and it is calibrated on random images: it exists to
measure the firmware (instructions, memory, stack), not to classify anything. With the 96x96x3
input it is the model that used to hang the firmware when its input lived on the stack.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SEED = 20261202
# (output channels, stride) of each depthwise-separable block
BLOCKS = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 2))


def _bn(c: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():  # a random affine part: BatchNorm folds into something non-trivial
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.5)
    return bn


class TinyMobileNet(nn.Module):
    def __init__(self, blocks: tuple[tuple[int, int], ...] = BLOCKS, classes: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), _bn(8),
                                   nn.ReLU6()]
        c = 8
        for out, stride in blocks:
            layers += [nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=c, bias=False), _bn(c),
                       nn.ReLU6(), nn.Conv2d(c, out, 1, bias=False), _bn(out), nn.ReLU6()]
            c = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def images(n: int, seed: int = SEED) -> np.ndarray:
    """``n`` random images in [0, 1], NCHW float32: noise with a random contrast and brightness
    per image and channel (plain uniform noise averages out: every image would look alike to
    the global pooling, and every output would be the same)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((n, 3, 96, 96), dtype=np.float32)
    contrast = rng.uniform(0.1, 1.0, (n, 3, 1, 1)).astype(np.float32)
    brightness = rng.uniform(0.0, 1.0, (n, 3, 1, 1)).astype(np.float32)
    return np.clip(brightness + contrast * (noise - 0.5), 0.0, 1.0)


def model_and_data(calibration: int = 16, seed: int = SEED) -> tuple[nn.Module, np.ndarray]:
    """The model with its random weights (eval mode) and ``calibration`` random images.

    The BatchNorm statistics are those of the calibration images (one pass in training mode,
    as training would leave them): with random statistics the activations of a deep random
    network shrink or saturate layer after layer, and every input gives the same output."""
    torch.manual_seed(seed)
    model, x = TinyMobileNet(), images(calibration, seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: exactly the batch's statistics
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(x))
    return model.eval(), x
