"""The pieces of examples/mnist_binary.py: its augmentation, and its binary MLP (784-128-96-10,
untrained here) fitting the ATmega328P with outputs equal to the reference. Accuracy is
benchmarks/binary_mnist.py's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from firmforge.converter import convert
from firmforge.converter.compress.binarize import row_kernel_storage

from examples.mnist_binary import BinaryMLP, shift_pixels


@pytest.mark.parametrize("pixels", [1, 2])
def test_shift_pixels_moves_each_image_by_its_own_whole_pixel_offset(pixels):
    x = torch.rand(64, 1, 12, 10)
    out = shift_pixels(x, torch.Generator().manual_seed(0), pixels)
    assert out.shape == x.shape
    p = pixels
    padded = torch.nn.functional.pad(x, (p,) * 4)
    offsets = set()
    for i in range(len(x)):
        # exactly one window of the zero-padded image is this output
        found = [(dy, dx) for dy in range(2 * p + 1) for dx in range(2 * p + 1)
                 if torch.equal(out[i, 0], padded[i, 0, dy:dy + 12, dx:dx + 10])]
        assert len(found) == 1, (i, found)
        offsets.add(found[0])
    assert len(offsets) > (2 * p + 1) ** 2 // 2  # offsets drawn per image, not per batch


def test_example_mlp_fits_the_atmega328p_and_equals_the_reference(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28)
    model = BinaryMLP()
    with torch.no_grad():
        model(x)  # batch-norm statistics of one batch
    model.eval()
    proj = convert(model, calibration=x.numpy(), name="bmlp", progress=False)
    proj = convert(model, calibration=x.numpy(), name="bmlp", progress=False,
                   storage=row_kernel_storage(proj.graph))  # as the example converts it
    fw = proj.build("simavr-atmega328p", tmp_path, x[:4].numpy())  # as the example builds it
    assert fw.flash_bytes <= 32 * 1024 and fw.ram_bytes <= 2048
    res = fw.run()
    np.testing.assert_array_equal(res.outputs, proj.reference(x[:4].numpy()))
    assert res.unit == "cycles" and min(res.counts) > 0
