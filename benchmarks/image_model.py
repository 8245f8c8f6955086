"""A MobileNet-style image model (96x96x3 input, as TFLM's person detection takes): a 3x3
stride-2 convolution to 8 channels, seven depthwise-separable blocks (3x3 depthwise + 1x1
pointwise, BN, ReLU; three of stride 2), global average pooling and a dense classifier. 4.05 M
MACs, converted with calibration on random data (the weights are untrained: the numbers are
instructions, not accuracy).

Prints instructions per inference on the emulated boards for the whole model, and for the
layers this work targets (the first convolution, the depthwise layers, the pooling) as one-node
models, so the kernels can be compared without a per-layer profile:

    .venv/bin/python benchmarks/image_model.py [board ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert, reference
from firmforge.converter.ir import Graph
from firmforge.targets.board.firmware import build_firmware
from firmforge.targets.c.writer import generate

BOARDS = ["qemu-mps2-an386", "qemu-mps2-an385", "qemu-mps2-an505", "qemu-riscv32-virt"]
# (input channels, output channels, depthwise stride) of the separable blocks
BLOCKS = [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2),
          (128, 128, 1)]


class TinyMobileNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8),
                                   nn.ReLU()]
        for cin, cout, stride in BLOCKS:
            layers += [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                       nn.BatchNorm2d(cin), nn.ReLU(),
                       nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(6)
        self.classifier = nn.Linear(BLOCKS[-1][1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def build(seed: int = 0):
    """The converted project and two int8 test inputs (IR layout)."""
    torch.manual_seed(seed)
    model = TinyMobileNet().eval()
    with torch.no_grad():  # give the BatchNorms non-trivial statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(seed)
    calib = rng.uniform(-1, 1, (32, 3, 96, 96)).astype(np.float32)
    proj = convert(model, calibration=calib, name="tinymobilenet", progress=False)
    v = proj.graph.inputs[0]
    x = rng.integers(-128, 128, (2, *v.shape[1:])).astype(np.int8)
    return proj, x


def layer_graphs(graph: Graph) -> dict[str, Graph]:
    """One-node models of the first convolution, each depthwise layer and the pooling."""
    out = {}
    for node in graph.nodes:
        if node.kind in ("conv2d", "depthwiseconv2d", "avgpool2d") and not (
                node.kind == "conv2d" and node.inputs[1].shape[1:3] == (1, 1)):
            out[node.name] = Graph(f"l_{len(out)}", [node], [node.inputs[0]], [node.y])
    return out


def instructions(g: Graph, board: str, x: np.ndarray) -> tuple[int, bool, int]:
    """(instructions of the first vector, outputs equal to the reference, arena bytes)."""
    want, _ = reference.run(g, [x])
    src = generate(g)
    with tempfile.TemporaryDirectory() as d:
        res = build_firmware(src, g, board, Path(d), [x]).run()
    equal = all(np.array_equal(w, o) for w, o in zip(want, res.outputs, strict=True))
    return res.counts[0], equal, src.plan.arena_size


def main() -> None:
    boards = sys.argv[1:] or BOARDS
    proj, x = build()
    macs = proj.report()["macs"]
    print(f"tinymobilenet: {macs:,} MACs, arena {proj.report()['arena_bytes']:,} B")
    for board in boards:
        n, eq, _ = instructions(proj.graph, board, x)
        print(f"  {board:<18} whole model {n:>12,} ({n / macs:.2f}/MAC) equal={eq}")
    rng = np.random.default_rng(1)
    for name, g in layer_graphs(proj.graph).items():
        v = g.inputs[0]
        xl = rng.integers(-128, 128, (1, *v.shape[1:])).astype(np.int8)
        lm = g.nodes[0].macs() or 1
        row = [f"{name:<22} {g.nodes[0].kind:<16} {lm:>9,}"]
        for board in boards:
            n, eq, _ = instructions(g, board, xl)
            row.append(f"{n:>10,}{'' if eq else '!'}")
        print(" ".join(row))


if __name__ == "__main__":
    main()
