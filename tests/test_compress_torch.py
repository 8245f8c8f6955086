"""PyTorch side of compression: gradual magnitude pruning during fine-tuning, SR-STE N:M
training, and structured channel pruning (exact when the removed channels were zero, residual
adds left consistent, the pruned model converting to C equal to the reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.compress import CompressionError
from firmforge.converter.compress.channels import parameter_count, prunable_layers, prune_channels
from firmforge.converter.compress.finetune import (
    NMSparse,
    Pruner,
    nm_mask_torch,
    prune_and_finetune,
    sr_ste_finetune,
)
from firmforge.converter.compress.prune import is_nm, sparsity_of

from examples.mnist import MnistCNN


def blobs(seed: int = 0, n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian classes in 16 dimensions."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((4, 16)) * 2
    y = rng.integers(0, 4, n)
    x = (centers[y] + rng.standard_normal((n, 16))).astype(np.float32)
    return x, y.astype(np.int64)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 4))


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def test_pruner_follows_the_schedule_and_keeps_pruned_weights_zero():
    model = mlp()
    pruner = Pruner(model, 0.8, pruning_steps=40, interval=10)
    x, y = blobs()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    seen = []
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(x[:64])), torch.from_numpy(y[:64])
                                    ).backward()
        opt.step()
        pruner.step()
        seen.append(sparsity_of(model[2].weight.detach().numpy()))
    # updates at t = 0, 10, 20, 30, 40: 0, 0.8(1 - 0.75^3), 0.8(1 - 0.5^3), ..., 0.8
    for t, s in [(5, 0.0), (15, 0.8 * (1 - 0.75 ** 3)), (25, 0.8 * (1 - 0.5 ** 3)),
                 (35, 0.8 * (1 - 0.25 ** 3)), (59, 0.8)]:
        assert seen[t] == pytest.approx(int(s * 1024) / 1024), t


def test_prune_and_finetune_reaches_the_sparsity_and_recovers():
    x, y = blobs()
    dense = mlp()
    from firmforge.converter.compress.finetune import train_steps

    train_steps(dense, x, y, 200, lr=3e-3)
    base = accuracy(dense, x, y)
    model = prune_and_finetune(mlp(), (x, y), 0.75, 200, lr=3e-3)
    for m in (model[0], model[2], model[4]):
        w = m.weight.detach().numpy()
        assert (w == 0).sum() == int(0.75 * w.size)
    assert accuracy(model, x, y) >= base - 0.05
    glob = prune_and_finetune(mlp(), (x, y), 0.75, 100, global_threshold=True, lr=3e-3)
    ws = [m.weight.detach().numpy() for m in (glob[0], glob[2], glob[4])]
    assert sum(int((w == 0).sum()) for w in ws) == int(0.75 * sum(w.size for w in ws))


def test_srste_gradient_is_dense_plus_decay_on_pruned_weights():
    w = torch.randn(4, 8, requires_grad=True)
    p = NMSparse(2, 4, lam=0.5)
    y = p(w)
    mask = nm_mask_torch(w, 2, 4)
    assert torch.equal(y, w * mask)
    y.sum().backward()
    assert torch.allclose(w.grad, 1 + 0.5 * (~mask) * w.detach())


def test_srste_trains_an_nm_sparse_model_that_converts():
    x, y = blobs(1)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 4))
    x4 = np.ascontiguousarray(x.reshape(-1, 4, 2, 2).repeat(2, 2).repeat(2, 3))
    before = model[3].weight.detach().clone()
    sr_ste_finetune(model, (x4, y), 2, 4, 150, lr=3e-3)
    model.eval()
    assert accuracy(model, x4, y) > 0.8
    conv = model[0].weight.detach().permute(0, 2, 3, 1).numpy()  # the IR's OHWI rows
    # the Linear's columns in the converted (channels-last) order: h, w, then channel
    fc = model[3].weight.detach().reshape(4, 8, 4, 4).permute(0, 2, 3, 1).reshape(4, -1)
    assert is_nm(conv, 2, 4) and is_nm(fc.numpy(), 2, 4)
    assert sparsity_of(conv) == 0.5
    assert not torch.equal(before, model[3].weight)
    proj = convert(model, calibration=x4[:32], progress=False)
    for n in proj.graph.nodes:
        if n.weight_axis is not None:
            assert is_nm(n.inputs[1].data, 2, 4), n.name
    np.testing.assert_array_equal(proj.run_host(x4[:32]), proj.reference(x4[:32]))


def test_srste_names_a_layer_whose_rows_do_not_divide():
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(CompressionError, match=r"layer 0: N:M sparsity 2:4 .* rows hold 9"):
        sr_ste_finetune(model, blobs(), 2, 4, 1)


def _zero_channels(model: MnistCNN, conv: int, bn: int, channels: list[int]) -> None:
    with torch.no_grad():
        c, b = model.features[conv], model.features[bn]
        c.weight[channels] = 0
        c.bias[channels] = 0
        b.bias[channels] = 0
        b.running_mean[channels] = 0


def test_channel_pruning_is_exact_when_the_removed_channels_were_zero():
    torch.manual_seed(2)
    model = MnistCNN()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for bn in (model.features[1], model.features[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    _zero_channels(model, 0, 1, [1, 4, 6, 7])
    _zero_channels(model, 4, 5, list(range(0, 16, 2)))
    model.eval()
    assert set(prunable_layers(model)) == {"features.0", "features.4"}
    pruned = prune_channels(model, 0.5)
    assert pruned.features[0].out_channels == 4 and pruned.features[4].in_channels == 4
    assert pruned.features[1].num_features == 4 and pruned.features[5].num_features == 8
    assert pruned.classifier[2].in_features == 8 * 49
    assert parameter_count(pruned) < 0.5 * parameter_count(model)
    x = torch.randn(16, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model(x), rtol=0, atol=1e-5)
    assert model.features[0].out_channels == 8  # the original is untouched
    xs = x.numpy()
    proj = convert(pruned, calibration=xs, progress=False)
    np.testing.assert_array_equal(proj.run_host(xs), proj.reference(xs))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        y = torch.relu(s + self.b(torch.relu(self.bn(self.a(s)))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def test_residual_adds_keep_their_channels():
    torch.manual_seed(3)
    model = Residual().eval()
    assert set(prunable_layers(model)) == {"a"}  # stem and b feed the add
    pruned = prune_channels(model, 0.5)
    assert (pruned.stem.out_channels, pruned.a.out_channels, pruned.bn.num_features,
            pruned.b.in_channels, pruned.b.out_channels) == (8, 4, 4, 4, 8)
    x = torch.randn(4, 3, 8, 8)
    assert pruned(x).shape == (4, 4)
    xs = x.numpy()
    proj = convert(pruned, calibration=xs, progress=False)
    np.testing.assert_array_equal(proj.run_host(xs), proj.reference(xs))
    with pytest.raises(CompressionError, match="cannot prune the channels of 'stem'"):
        prune_channels(model, {"stem": 0.5})
    with pytest.raises(CompressionError, match=r"amount\['a'\] must be in \[0, 1\)"):
        prune_channels(model, {"a": 1.0})
