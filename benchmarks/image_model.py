"""The MobileNet-style image model of ``examples/mobilenet.py`` (96x96x3 input, as TFLM's person
detection takes): a 3x3 stride-2 convolution to 8 channels, seven depthwise-separable blocks
(3x3 depthwise + 1x1 pointwise, BN, ReLU6; four of stride 2), global average pooling and a dense
classifier. 3.57 M MACs, converted with calibration on its random images (the weights are
untrained: the numbers are instructions, not accuracy).

Prints instructions per inference on the emulated boards for the whole model, and for the
layers the specialised kernels serve (the first convolution, the depthwise layers, the pooling)
as one-node models, so the kernels can be compared without a per-layer profile:

    .venv/bin/python benchmarks/image_model.py [board ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert, reference
from firmforge.converter.ir import Graph
from firmforge.targets.board.firmware import build_firmware
from firmforge.targets.c.writer import generate

from examples import mobilenet

BOARDS = ["qemu-mps2-an386", "qemu-mps2-an385", "qemu-mps2-an505", "qemu-riscv32-virt"]


def build():
    """The converted project and two int8 test inputs (IR layout)."""
    model, images = mobilenet.model_and_data()
    proj = convert(model, calibration=images, name="mobilenet", progress=False)
    x = proj.prepare_input(images[:2])[0]
    return proj, x


def layer_graphs(graph: Graph) -> dict[str, Graph]:
    """One-node models of the first convolution, each depthwise layer and the pooling."""
    out = {}
    for node in graph.nodes:
        if node.kind in ("conv2d", "depthwiseconv2d", "avgpool2d", "mean") and not (
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
    print(f"mobilenet: {macs:,} MACs, arena {proj.report()['arena_bytes']:,} B")
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
