"""A binary MLP on MNIST, from training to an ATmega328P (2 KB RAM, 32 KB flash).

    .venv/bin/python examples/mnist_binary.py [OUT_DIR]

Trains a 784-128-96-10 network whose hidden layers are binary (weights and inputs +-1, one bit
each) on the 8,000 training images of the shared split (about a minute), converts it to C, checks
that the generated C gives the integer reference's bytes on the 2,000 held-back images, and runs
it on the ATmega328P in simavr. benchmarks/binary_mnist.py measures this model and a binary CNN
against int8 and float.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert
from firmforge.converter.compress.binarize import row_kernel_storage
from firmforge.converter.compress.binary import train_binary
from firmforge.converter.nn import BinaryLinear

from examples.mnist import float_accuracy, load_split

BOARD = "simavr-atmega328p"


class BinaryMLP(nn.Module):
    """sign(pixel - 0.5) -> binary 784x128 -> BN -> binary 128x96 -> BN -> int8 96x10.

    Each BinaryLinear takes the sign of its input (the first one's int8 pixels become bits by a
    threshold) and its scaled +-1 weights; conversion folds every BatchNorm and the next sign into
    one integer threshold per neuron on the XNOR-popcount. The second hidden layer has 96 neurons
    so that the int8 classifier stays under 1,024 MACs: it then takes the small dot-product
    kernel, 1.2 KB of AVR code instead of the blocked one's 6.7 KB."""

    def __init__(self, hidden: tuple[int, int] = (128, 96), estimator: str = "ste") -> None:
        super().__init__()
        h1, h2 = hidden
        self.layers = nn.Sequential(
            BinaryLinear(28 * 28, h1, estimator=estimator), nn.BatchNorm1d(h1),
            BinaryLinear(h1, h2, estimator=estimator), nn.BatchNorm1d(h2),
            nn.Linear(h2, 10))  # the last layer stays int8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.flatten(x, 1) - 0.5)  # +1 where a pixel is at least half on


def shift_pixels(batch: torch.Tensor, gen: torch.Generator, pixels: int = 1) -> torch.Tensor:
    """Every image moved by its own random whole-pixel offset in [-pixels, pixels] both ways
    (zeros shifted in): the augmentation train_binary applies to each training batch."""
    n, _, h, w = batch.shape
    padded = F.pad(batch, (pixels,) * 4)
    dy, dx = (torch.randint(0, 2 * pixels + 1, (n,), generator=gen) for _ in range(2))
    rows = (torch.arange(h) + dy[:, None])[:, :, None]
    cols = (torch.arange(w) + dx[:, None])[:, None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols][:, None]


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/mnist_binary")
    torch.set_num_threads(1)  # as benchmarks/binary_mnist.py trains it: the same model
    x_train, y_train, x_test, y_test = load_split()
    torch.manual_seed(0)
    model = train_binary(BinaryMLP(), x_train, y_train, epochs=60, lr=1e-2,
                         augment=shift_pixels)

    proj = convert(model, calibration=x_train[:500], name="bmlp")
    # the ATmega328P's 2 KB of RAM: binary dense layers on the row kernel (no scratch)
    proj = convert(model, calibration=x_train[:500], name="bmlp",
                   storage=row_kernel_storage(proj.graph))
    host = proj.run_host(x_test)  # the generated C, compiled for this machine
    same = bool(np.array_equal(host, proj.reference(x_test)))
    report = proj.report()
    print(f"float (torch) accuracy {100 * float_accuracy(model, x_test, y_test):.2f} %")
    print(f"C accuracy             {100 * np.mean(host.argmax(1) == y_test):.2f} %   "
          f"(C == reference on all {len(x_test)} images: {same})")
    print(f"weights                {report['weight_bytes']:,} B (float32: "
          f"{sum(layer.get('float_bytes', 0) for layer in report['layers']):,} B)")

    fw = proj.build(BOARD, out_dir / BOARD, x_test[:4])  # 4 test images in flash
    run = fw.run()
    print(f"{BOARD}: outputs == reference {run.equal}, {run.cycles:,} cycles per inference "
          f"({1e3 * run.cycles / fw.board.clock_hz:.1f} ms at 16 MHz), flash "
          f"{fw.flash_bytes:,} B, RAM {fw.ram_bytes:,} B; project in {out_dir / BOARD}")
    return 0 if same and run.equal else 1


if __name__ == "__main__":
    sys.exit(main())
