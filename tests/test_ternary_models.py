"""Ternary networks from PyTorch (converter/nn.py's TernaryLinear / TernaryConv2d) end to end:
the ordinary convert(...) imports them, batch norms and ternarizers fold into threshold pairs,
and the generated C equals the reference on the host and in QEMU (Cortex-M4). The models are
untrained (batch-norm statistics from a few batches, briefly trained for the MLP): bit
exactness does not depend on accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.frontends.torch_context import Unsupported
from firmforge.converter.frontends.torch_lower import _ternary_weights
from firmforge.converter.ir import DType
from firmforge.converter.nn import TernaryConv2d, TernaryLinear


def _settle(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Batch-norm statistics of a few batches, then eval mode."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


def ternary_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.MaxPool2d(2),
        TernaryConv2d(16, 40, 3, padding=1), nn.BatchNorm2d(40),  # 40: not whole words
        TernaryConv2d(40, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 3 * 3, 10))


class TernaryMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.layers = nn.Sequential(TernaryLinear(196, 70, input_threshold=0.25),
                                    nn.BatchNorm1d(70), TernaryLinear(70, 64), nn.BatchNorm1d(64),
                                    TernaryLinear(64, 48, bias=True), nn.BatchNorm1d(48),
                                    nn.Linear(48, 10))

    def forward(self, x):
        return self.layers(torch.flatten(x, 1) - 0.5)


def _train_briefly(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A few steps towards a fixed random labelling (the weights leave their initial values)."""
    y = torch.randint(0, 10, (x.shape[0],), generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(15):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return _settle(model, x)


@pytest.fixture(scope="module")
def cnn():
    x = torch.rand(64, 1, 28, 28)
    model = _settle(ternary_cnn(), x)
    return convert(model, calibration=x.numpy(), name="tcnn", progress=False), model, x.numpy()


@pytest.fixture(scope="module")
def mlp():
    x = torch.rand(96, 1, 14, 14)
    model = _train_briefly(TernaryMLP(), x)
    return convert(model, calibration=x.numpy(), name="tmlp", progress=False), model, x.numpy()


def _kinds(proj) -> list[tuple[str, DType]]:
    return [(n.kind, n.outputs[0].dtype) for n in proj.graph.nodes]


def test_ternary_mlp_folds_to_threshold_pairs(mlp):
    proj, model, x = mlp
    kinds = _kinds(proj)
    # the flatten, then the "- 0.5" inside the first ternarizer's thresholds (on int8 x)
    assert kinds == [("reshape", DType.s8), ("ternarize", DType.t2), ("ternarydense", DType.t2),
                     ("ternarydense", DType.t2), ("ternarydense", DType.s8), ("dense", DType.s8)]
    assert proj.graph.nodes[1].x.dtype is DType.s8
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = proj.reference(x)
    assert np.mean(got.argmax(1) == want.argmax(1)) > 0.6
    np.testing.assert_array_equal(proj.run_host(x), got)


def test_ternary_cnn_host_c_equals_reference(cnn):
    proj, model, x = cnn
    kinds = _kinds(proj)
    assert ("ternaryconv2d", DType.t2) in kinds and ("ternaryconv2d", DType.s8) in kinds
    assert [k for k, _ in kinds].count("ternarize") == 1
    np.testing.assert_array_equal(proj.run_host(x), proj.reference(x))
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy().argmax(1)
    # untrained: logits nearly tie and the int8 first conv moves some ternary values
    assert np.mean(proj.reference(x).argmax(1) == want) > 0.3


@pytest.mark.parametrize("which", ["cnn", "mlp"])
def test_ternary_models_on_cortex_m4_equal_reference(which, request, tmp_path):
    proj, _, x = request.getfixturevalue(which)
    fw = proj.build("qemu-mps2-an386", tmp_path, x[:3])
    res = fw.run(x[:3])
    np.testing.assert_array_equal(res.outputs, proj.reference(x[:3]))
    assert res.unit == "instructions" and len(res.counts) == 3


def test_ternary_weights_that_are_not_ternary_are_refused():
    with pytest.raises(Unsupported, match="ternary weights must be -1, 0 or \\+1"):
        _ternary_weights(None, torch.tensor([[0.5, 1.0]]), torch.tensor([1.0]), (0, 1))
    with pytest.raises(Unsupported, match="nonzero weights has scale 0"):
        _ternary_weights(None, torch.tensor([[0.0, 1.0]]), torch.tensor([0.0]), (0, 1))
