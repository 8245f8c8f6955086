"""compress.binarize.make_binary: a float model's hidden Linear/Conv2d layers become binary (or
ternary) training layers, the first and last stay float (so they convert to int8), in call
order; and the result converts with the ordinary convert(), host C == reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.compress.binarize import make_binary
from firmforge.converter.ir import DType
from firmforge.converter.nn import BinaryConv2d, BinaryLinear, TernaryConv2d, TernaryLinear


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.MaxPool2d(2),
        nn.Conv2d(8, 40, 3, padding=1), nn.BatchNorm2d(40), nn.MaxPool2d(2),
        nn.Conv2d(40, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.Flatten(),
        nn.Linear(8 * 7 * 7, 24), nn.BatchNorm1d(24), nn.Linear(24, 10))


class _Reordered(nn.Module):
    """Registered out, hidden, inp; called inp, hidden, out."""

    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(16, 3)
        self.hidden = nn.Linear(16, 16)
        self.inp = nn.Linear(5, 16)

    def forward(self, x):
        return self.out(self.hidden(self.inp(x)))


def _kinds(model: nn.Module) -> list[type]:
    return [type(m) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def test_hidden_layers_become_binary_first_and_last_stay():
    model = _cnn()
    bnn = make_binary(model, pad_value=-1.0)
    assert _kinds(bnn) == [nn.Conv2d, BinaryConv2d, nn.Conv2d, BinaryLinear, nn.Linear]
    assert bnn[3].pad_value == -1.0 and bnn[3].padding == (1, 1)
    assert torch.equal(bnn[3].weight, model[3].weight) and bnn[3].weight is not model[3].weight
    assert _kinds(model)[1] is nn.Conv2d  # the original is left as it was
    tnn = make_binary(model, ternary=True, input_threshold=0.25, estimator="reste")
    assert _kinds(tnn) == [nn.Conv2d, TernaryConv2d, nn.Conv2d, TernaryLinear, nn.Linear]
    assert tnn[9].input_threshold == 0.25 and tnn[9].estimator == "reste"
    every = make_binary(model, keep_first=False, keep_last=False)
    assert _kinds(every) == [BinaryConv2d, BinaryConv2d, nn.Conv2d, BinaryLinear, BinaryLinear]


def test_first_and_last_are_in_call_order():
    bnn = make_binary(_Reordered())
    assert type(bnn.inp) is nn.Linear and type(bnn.out) is nn.Linear
    assert type(bnn.hidden) is BinaryLinear


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"no nn\.Linear or nn\.Conv2d"):
        make_binary(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="estimator"):
        make_binary(_cnn(), estimator="sign")
    with pytest.raises(ValueError, match="pad_value"):
        make_binary(_cnn(), pad_value=0.5)


def test_made_binary_model_converts_and_host_c_equals_reference():
    bnn = make_binary(_cnn())
    x = torch.rand(64, 1, 28, 28)
    bnn.train()
    with torch.no_grad():
        for _ in range(3):
            bnn(x)
    bnn.eval()
    proj = convert(bnn, calibration=x.numpy(), name="made", progress=False)
    ops = [type(n).__name__ for n in proj.graph.nodes]
    assert ops.count("Binarize") == 2 and "BinaryConv2d" in ops and "BinaryDense" in ops, ops
    assert all(n.inputs[0].dtype is DType.b1 for n in proj.graph.nodes
               if type(n).__name__.startswith("Binary"))
    xs = torch.rand(8, 1, 28, 28).numpy()
    np.testing.assert_array_equal(proj.run_host(xs), proj.reference(xs))


def test_row_kernel_storage_keeps_binary_dense_layers_on_the_row_kernel():
    """PackedRows(blocks=False): the same values, the row kernel (no arena scratch), the same
    bytes out; the block kernel is the default."""
    from firmforge.converter.compress.binarize import row_kernel_storage
    from firmforge.converter.encoding import PackedRows

    torch.manual_seed(2)
    model = make_binary(nn.Sequential(nn.Flatten(), nn.Linear(100, 64), nn.BatchNorm1d(64),
                                      nn.Linear(64, 48), nn.BatchNorm1d(48), nn.Linear(48, 10)))
    x = torch.rand(64, 1, 10, 10)
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    blocks = convert(model, calibration=x.numpy(), name="blk", progress=False)
    storage = row_kernel_storage(blocks.graph)
    assert list(storage.values()) == [PackedRows(blocks=False)]
    rows = convert(model, calibration=x.numpy(), name="blk", progress=False, storage=storage)
    src_blocks = "".join(blocks.sources().files.values())
    src_rows = "".join(rows.sources().files.values())
    assert "ff_dense_b1_s8(" in src_blocks and "ff_dense_b1_s8_rows(" not in src_blocks
    assert "ff_dense_b1_s8_rows(" in src_rows
    assert rows.sources().plan.arena_size < blocks.sources().plan.arena_size
    xs = torch.rand(16, 1, 10, 10).numpy()
    np.testing.assert_array_equal(rows.run_host(xs), blocks.reference(xs))
    np.testing.assert_array_equal(blocks.run_host(xs), blocks.reference(xs))
