"""Binary networks from PyTorch (converter/nn.py layers) end to end: the import reproduces
torch, batch norms and signs fold into thresholds, and the generated C equals the reference
on the host, in QEMU (Cortex-M4, RISC-V) and, for the small MLP, on an ATmega328P in simavr.
The models are untrained (batch-norm statistics from a few batches): bit-exactness does not
depend on training; accuracy is benchmarks/binary_mnist.py's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.ir import DType
from firmforge.converter.nn import BinaryConv2d, BinaryLinear


def _settle(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Batch-norm statistics of a few batches, then eval mode."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


def binary_cnn(pad_value: float = 1.0, channels: int = 64) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.MaxPool2d(2),
        BinaryConv2d(16, channels, 3, padding=1, pad_value=pad_value), nn.BatchNorm2d(channels),
        nn.MaxPool2d(2),
        BinaryConv2d(channels, 32, 3, padding=1, pad_value=pad_value), nn.BatchNorm2d(32),
        nn.MaxPool2d(2), nn.Flatten(), BinaryLinear(32 * 3 * 3, 40), nn.BatchNorm1d(40),
        nn.Linear(40, 10))


class BinaryMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.layers = nn.Sequential(BinaryLinear(196, 64), nn.BatchNorm1d(64),
                                    BinaryLinear(64, 48), nn.BatchNorm1d(48), nn.Linear(48, 10))

    def forward(self, x):
        return self.layers(torch.flatten(x, 1) - 0.5)


@pytest.fixture(scope="module")
def cnn():
    x = torch.rand(96, 1, 28, 28)
    model = _settle(binary_cnn(), x)
    return convert(model, calibration=x.numpy(), name="bcnn", progress=False), model, x.numpy()


@pytest.fixture(scope="module")
def mlp():
    x = torch.rand(96, 1, 14, 14)
    model = _settle(BinaryMLP(), x)
    return convert(model, calibration=x.numpy(), name="bmlp", progress=False), model, x.numpy()


def test_binary_cnn_folds_to_binary_layers_with_thresholds(cnn):
    proj, model, x = cnn
    kinds = [(n.kind, n.outputs[0].dtype) for n in proj.graph.nodes]
    assert ("binaryconv2d", DType.b1) in kinds and ("maxpool2d", DType.b1) in kinds
    assert [k for k, _ in kinds].count("binarize") == 1  # only the int8 conv's output
    assert ("binarydense", DType.s8) in kinds
    assert not any(k in ("mul", "add", "transpose", "depthwiseconv2d") for k, _ in kinds)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy().argmax(1)
    # untrained, its logits nearly tie and the int8 first conv moves some signs: well above
    # chance (0.1) is what an untrained model shows (benchmarks/binary_mnist.py: accuracy)
    assert np.mean(proj.reference(x).argmax(1) == want) > 0.3


@pytest.mark.parametrize("pad_value", [-1.0, 0.0, 1.0])
def test_binary_cnn_host_c_equals_reference(pad_value):
    x = torch.rand(40, 1, 28, 28)
    model = _settle(binary_cnn(pad_value, channels=40), x)  # 40 channels: not whole words
    proj = convert(model, calibration=x.numpy(), progress=False)
    np.testing.assert_array_equal(proj.run_host(x.numpy()), proj.reference(x.numpy()))


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-riscv32-virt"])
def test_binary_cnn_on_emulated_boards_equals_reference(cnn, board, tmp_path):
    proj, _, x = cnn
    fw = proj.build(board, tmp_path, x[:4])
    res = fw.run(x[:4])
    np.testing.assert_array_equal(res.outputs, proj.reference(x[:4]))
    assert res.unit == "instructions" and len(res.counts) == 4


def test_binary_mlp_on_atmega328p(mlp, tmp_path):
    proj, _, x = mlp
    np.testing.assert_array_equal(proj.run_host(x), proj.reference(x))
    fw = proj.build("simavr-atmega328p", tmp_path, x[:3])
    assert 0 < fw.ram_bytes <= 2048 and 0 < fw.flash_bytes <= 32 * 1024
    res = fw.run(x[:3])
    np.testing.assert_array_equal(res.outputs, proj.reference(x[:3]))
    assert res.unit == "cycles" and min(res.counts) > 0
