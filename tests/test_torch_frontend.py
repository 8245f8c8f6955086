"""torch.fx frontend: every supported module/function imported, run by the float reference before
and after FLOAT_PIPELINE, and compared with torch itself on random batch-3 inputs; the pipeline's
effect checked by counting node kinds; every error path."""

from __future__ import annotations

import operator
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from firmforge.converter.frontends import torch_modules
from firmforge.converter.frontends.torch_fx import (
    ExampleShapeError,
    InvalidWeightsError,
    TorchImport,
    UnsupportedModelError,
    import_torch,
)
from firmforge.converter.frontends.torch_verify import ImportMismatchError
from firmforge.converter.ir import Act
from firmforge.converter.layout import Layout
from firmforge.converter.passes import FLOAT_PIPELINE, run_passes
from firmforge.converter.reference import run

# torch's own notice about its implementation of padding="same" with an even kernel
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def _randomize(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics (fresh BNs are the identity) and eval mode."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c) * 0.5)
            m.running_var.copy_(torch.rand(c) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.randn(c))
                m.bias.data.copy_(torch.randn(c))
    return model.eval()


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max()))


def check(model: nn.Module, *shapes: tuple[int, ...], example_batch: int = 2,
          seed: int = 0) -> tuple[TorchImport, object]:
    """Import, then compare the float reference with torch before and after the pipeline."""
    torch.manual_seed(seed)
    with torch.no_grad():
        _randomize(model)
    imp = import_torch(model, tuple(torch.randn(example_batch, *s) for s in shapes))
    xs = [torch.randn(3, *s) for s in shapes]
    with torch.no_grad():
        want = model(*xs)
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    opt = run_passes(imp.graph, FLOAT_PIPELINE)
    for g in (imp.graph, opt):
        ir_in = [lay.to_ir(x.numpy()) for lay, x in zip(imp.input_layouts, xs, strict=True)]
        got, _ = run(g, ir_in)
        for y, w, lay in zip(got, want, imp.output_layouts, strict=True):
            _close(lay.from_ir(y), w.numpy())
    return imp, opt


def kinds(g) -> Counter:
    return Counter(type(n).__name__ for n in g.nodes)


def seq(*layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(*layers)


class Fn(nn.Module):
    """A model whose forward is ``fn(self, x, ...)``, with optional submodules/parameters."""

    def __init__(self, fn, **children: object) -> None:
        super().__init__()
        self.fn = fn
        for k, v in children.items():
            setattr(self, k, v)

    def forward(self, x):
        return self.fn(self, x)


class Fn2(Fn):
    def forward(self, x, y):
        return self.fn(self, x, y)


def _view_flat(s, x):
    y = s.body(x)
    return s.fc(y.view(y.size(0), -1))


def _residual(s, x):
    y = s.bn2(s.c2(F.relu(s.bn1(s.c1(x)))))
    return torch.relu(x + y)


def _se(s, x):
    w = torch.sigmoid(s.fc(x.mean((2, 3))))
    return x * w.view(w.shape[0], -1, 1, 1)


def _split_chunk(s, x):
    a, b = torch.split(x, [1, 3], dim=1)
    c = x.chunk(3, dim=3)  # width 5: pieces of 2, 2, 1
    d, e = x.split(2, 2)
    return a, F.relu(b), c[0], c[2], d * e, torch.chunk(x, 1, -1)[0]


def _split_1d(s, x):
    c, d = torch.chunk(x, 2, -1), x.split([1, 3], 1)
    return c[0], c[1], d[0], d[1]


def _conv_bn(cin, cout, **kw) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, **kw), nn.BatchNorm2d(cout), nn.ReLU()]


# -- small versions of common architectures -----------------------------------------------------
class InvRes(nn.Module):
    """MobileNetV2 inverted residual: expand 1x1, depthwise 3x3, project 1x1, + input."""

    def __init__(self, c: int, e: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(c, c * e, 1, bias=False), nn.BatchNorm2d(c * e), nn.ReLU6(inplace=True),
            nn.Conv2d(c * e, c * e, 3, padding=1, groups=c * e, bias=False),
            nn.BatchNorm2d(c * e), nn.ReLU6(inplace=True),
            nn.Conv2d(c * e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.block(x)


class MBNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = seq(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.layers = nn.ModuleList([InvRes(8, 4), InvRes(8, 2)])
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.softmax(self.head(x), dim=-1)


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c2(x)), 2)
        x = x.view(-1, 16 * 5 * 5)
        return self.f3(torch.tanh(self.f2(torch.tanh(self.f1(x)))))


class ECG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = seq(nn.Conv1d(1, 8, 7, padding=3), nn.BatchNorm1d(8), nn.ReLU(),
                       nn.MaxPool1d(2), nn.Conv1d(8, 16, 5, padding=2), nn.BatchNorm1d(16),
                       nn.ReLU())
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(self.net(x).mean(-1))


class ResDown(nn.Module):
    """ResNet basic block with a strided 1x1 downsample branch and an in-place add."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(4, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
        self.down = seq(nn.Conv2d(4, 8, 1, 2, bias=False), nn.BatchNorm2d(8))

    def forward(self, x):
        out = F.relu(self.b1(self.c1(x)), inplace=True)
        out = self.b2(self.c2(out))
        out += self.down(x)
        return F.relu(out)


class KWS(nn.Module):
    """DS-CNN keyword spotter on an [N, T, F] feature map given without a channel dim."""

    def __init__(self) -> None:
        super().__init__()
        self.c, self.bn = nn.Conv2d(1, 8, (5, 3), stride=(2, 1), padding=(2, 1)), nn.BatchNorm2d(8)
        self.dw, self.pw = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.bn(self.c(x.unsqueeze(1))))
        x = F.relu(self.pw(F.relu(self.dw(x))))
        return self.fc(torch.mean(x, dim=(2, 3)))


# name, model factory, per-sample input shape, node kinds after FLOAT_PIPELINE
CASES = [
    ("mlp", lambda: seq(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10)), (16,),
     {"Dense": 2}),
    ("cnn_view_size0", lambda: Fn(_view_flat, body=seq(*_conv_bn(3, 8), nn.MaxPool2d(2)),
                                  fc=nn.Linear(8 * 4 * 4, 10)), (3, 8, 8),
     {"Conv2d": 1, "MaxPool2d": 1, "Reshape": 1, "Dense": 1}),
    ("residual", lambda: Fn(_residual, c1=nn.Conv2d(8, 8, 3, padding=1, bias=False),
                            bn1=nn.BatchNorm2d(8), c2=nn.Conv2d(8, 8, 3, padding=1, bias=False),
                            bn2=nn.BatchNorm2d(8)), (8, 6, 6),
     {"Conv2d": 2, "Add": 1}),
    ("depthwise_separable", lambda: seq(nn.Conv2d(8, 8, 3, padding=1, groups=8),
                                        nn.BatchNorm2d(8), nn.ReLU6(), nn.Conv2d(8, 16, 1),
                                        nn.BatchNorm2d(16), nn.Hardtanh(0, 6)), (8, 7, 7),
     {"DepthwiseConv2d": 1, "Conv2d": 1}),
    ("depth_multiplier", lambda: seq(nn.Conv2d(4, 12, 3, stride=2, padding=1, groups=4),
                                     nn.ReLU()), (4, 9, 9), {"DepthwiseConv2d": 1}),
    ("grouped_conv", lambda: seq(nn.Conv2d(8, 12, 3, groups=4, padding=(1, 0)), nn.ReLU6()),
     (8, 6, 6), {"Conv2d": 1}),
    ("conv_options", lambda: seq(nn.Conv2d(3, 4, (2, 4), padding="same", dilation=(2, 1)),
                                 nn.Conv2d(4, 5, 3, stride=(2, 1), padding="valid", bias=False),
                                 nn.Conv2d(5, 2, 3, dilation=2, padding=2)), (3, 11, 10),
     {"Conv2d": 3}),
    ("conv1d_net", lambda: seq(nn.Conv1d(4, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(),
                               nn.MaxPool1d(2), nn.Conv1d(8, 8, 3, groups=8, dilation=2),
                               nn.AvgPool1d(2), nn.Conv1d(8, 6, 3, stride=2, padding="valid"),
                               nn.Flatten(), nn.Linear(6 * 2, 5)), (4, 32),
     {"Conv2d": 2, "DepthwiseConv2d": 1, "MaxPool2d": 1, "AvgPool2d": 1, "Reshape": 1,
      "Dense": 1}),
    ("conv1d_avgpool_pad_gap", lambda: seq(nn.Conv1d(3, 4, 3), nn.AvgPool1d(3, 2, padding=1),
                                           nn.AdaptiveAvgPool1d(1), nn.Flatten()), (3, 12),
     {"Conv2d": 1, "Pad": 1, "AvgPool2d": 1, "Mean": 1, "Reshape": 1}),
    ("cat", lambda: Fn(lambda s, x: torch.cat([s.a(x), s.b(x), x], dim=1),
                       a=nn.Conv2d(3, 4, 3, padding=1), b=seq(nn.Conv2d(3, 2, 1), nn.ReLU())),
     (3, 5, 5), {"Conv2d": 2, "Concat": 1}),
    ("concat_dim_w", lambda: Fn(lambda s, x: torch.concat((x, F.relu(x)), -1)), (3, 4, 5),
     {"Relu": 1, "Concat": 1}),
    ("flatten_forms", lambda: Fn(lambda s, x: (s.fc(torch.flatten(x, 1)), s.fc(s.flat(x)),
                                               s.fc(x.reshape(x.shape[0], -1)),
                                               s.fc(x.flatten(1)), s.fc(x.view(-1, 48)))
                                 , fc=nn.Linear(48, 3), flat=nn.Flatten()), (3, 4, 4),
     {"Reshape": 5, "Dense": 5}),
    ("flatten_after_gap", lambda: seq(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten(), nn.Linear(6, 4), nn.Softmax(dim=1)),
     (3, 7, 7), {"Conv2d": 1, "Mean": 1, "Reshape": 1, "Dense": 1, "Softmax": 1}),
    ("mean_pooling", lambda: Fn(lambda s, x: (x.mean((2, 3)), x.mean(dim=[-1, -2], keepdim=True),
                                              F.adaptive_avg_pool2d(x, 1), torch.mean(x, 3),
                                              F.adaptive_avg_pool2d(x, (2, 1)))), (4, 6, 6),
     {"Mean": 4, "Reshape": 2, "AvgPool2d": 1}),
    ("standalone_bn", lambda: seq(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3, padding=1)), (3, 5, 5),
     {"DepthwiseConv2d": 1, "Conv2d": 1}),
    ("bn_after_add", lambda: Fn(lambda s, x: s.bn(x + s.c(x)), c=nn.Conv2d(4, 4, 1),
                                bn=nn.BatchNorm2d(4, affine=False)), (4, 3, 3),
     {"Conv2d": 1, "Add": 1, "DepthwiseConv2d": 1}),
    ("bn1d_before_and_after_linear", lambda: seq(nn.BatchNorm1d(10), nn.Linear(10, 8),
                                                 nn.BatchNorm1d(8, eps=1e-3), nn.ReLU(),
                                                 nn.Linear(8, 2, bias=False)), (10,),
     {"Dense": 2}),
    ("activations", lambda: seq(nn.Linear(6, 6), nn.LeakyReLU(0.2), nn.Linear(6, 6),
                                nn.Sigmoid(), nn.Linear(6, 6), nn.Tanh(), nn.Softmax(-1)), (6,),
     {"Dense": 3, "LeakyRelu": 1, "Sigmoid": 1, "Tanh": 1, "Softmax": 1}),
    ("functional_activations", lambda: Fn(lambda s, x: (
        F.relu(x), torch.relu(x), x.relu(), F.relu6(x * 4), F.leaky_relu(x, 0.1),
        torch.sigmoid(x), F.sigmoid(x), x.sigmoid(), torch.tanh(x), F.softmax(x, dim=1),
        torch.softmax(x, 1), F.hardtanh(x, 0.0, 6.0), torch.clamp(x, min=0))), (3, 4, 4),
     {"Relu": 4, "Relu6": 1, "Mul": 1, "LeakyRelu": 1, "Sigmoid": 3, "Tanh": 1, "Softmax": 2}),
    ("hardswish", lambda: Fn(lambda s, x: (F.hardswish(x * 3), s.h(x)), h=nn.Hardswish()),
     (3, 4, 4), {"HardSwish": 2, "Mul": 1}),
    ("avgpool_count_include_pad", lambda: seq(nn.AvgPool2d(3, 2, padding=1),
                                              nn.AvgPool2d(2, 1, 1, count_include_pad=False),
                                              nn.AvgPool2d(2, ceil_mode=True)), (2, 9, 9),
     {"Pad": 1, "AvgPool2d": 3}),
    ("maxpool", lambda: seq(nn.MaxPool2d(3, 2, padding=1), nn.MaxPool2d((2, 1)),
                            nn.AdaptiveMaxPool2d(1)), (3, 8, 8), {"MaxPool2d": 3}),
    ("functional_pools", lambda: Fn(lambda s, x: (F.avg_pool2d(x, 2), F.max_pool2d(x, 3, 1, 1),
                                                  F.avg_pool2d(x, 3, padding=1,
                                                               count_include_pad=False),
                                                  F.max_pool1d(x.flatten(2), 4))), (2, 6, 6),
     {"AvgPool2d": 2, "MaxPool2d": 2, "Reshape": 1}),
    ("pad_into_conv", lambda: seq(nn.ZeroPad2d((1, 2, 0, 1)), nn.Conv2d(3, 4, 3),
                                  nn.ConstantPad2d(1, 0.0), nn.Conv2d(4, 4, 3, groups=4)),
     (3, 6, 6), {"Conv2d": 1, "DepthwiseConv2d": 1}),
    ("pad_functional", lambda: Fn(lambda s, x: F.max_pool2d(F.pad(x, (1, 1, 2, 0)), 2)),
     (2, 5, 5), {"Pad": 1, "MaxPool2d": 1}),
    ("arithmetic", lambda: Fn2(lambda s, x, y: (
        torch.add(x, y), torch.sub(x, y), torch.mul(x, y), x + 1.5, 2.0 * x, 1 - x, x - s.p,
        x * s.p, x / 4, -x, x.add(y, alpha=1), x + y.mean(1, keepdim=True),
        operator.iadd(x.clone(), y)), p=nn.Parameter(torch.randn(3, 1, 4))), (3, 5, 4), (3, 5, 4),
     None),
    ("broadcast_constants", lambda: Fn2(lambda s, x, y: (x * s.b, y.unsqueeze(1) - x, s.c + y,
                                                         y * s.b),
                                       b=nn.Parameter(torch.randn(4)),
                                       c=nn.Parameter(torch.randn(1, 5, 1))), (3, 5, 4), (5, 4),
     None),
    ("maximum_minimum", lambda: Fn2(lambda s, x, y: (
        torch.maximum(x, y), torch.minimum(x, s.c), x.maximum(y * 2), torch.minimum(s.c, y)),
        c=nn.Parameter(torch.randn(5, 1))), (3, 5, 4), (3, 5, 4), {"Maximum": 2, "Minimum": 2,
                                                                   "Mul": 1}),
    ("split_chunk", lambda: Fn(_split_chunk), (4, 4, 5), {"Split": 3, "Relu": 1, "Mul": 1}),
    ("split_1d", lambda: Fn(_split_1d), (4, 6), {"Split": 2}),
    ("squeeze_unsqueeze", lambda: Fn(lambda s, x: s.c1(s.fc(x.mean((2, 3), keepdim=True)
                                                            .squeeze(-1).squeeze(-1))
                                                       .unsqueeze(2)),
                                     fc=nn.Linear(3, 8), c1=nn.Conv1d(8, 2, 1)), (3, 4, 4),
     {"Mean": 1, "Reshape": 2, "Dense": 1, "Conv2d": 1}),
    ("permute_transpose", lambda: Fn(lambda s, x: s.fc(x.permute(0, 2, 3, 1).contiguous())
                                     .permute(0, 3, 1, 2) + x.transpose(2, 3).transpose(3, 2),
                                     fc=nn.Linear(4, 4)), (4, 3, 5), None),
    ("permute_1d", lambda: Fn(lambda s, x: s.fc(x.transpose(1, 2)).transpose(1, 2),
                              fc=nn.Linear(4, 6)), (4, 7), None),
    ("linear_to_conv", lambda: Fn(lambda s, z: s.c(s.fc(z).view(-1, 4, 3, 5)),
                                  fc=nn.Linear(8, 60), c=nn.Conv2d(4, 2, 3, padding=1)), (8,),
     {"Dense": 1, "Reshape": 1, "Conv2d": 1}),
    ("linear_to_conv1d", lambda: Fn(lambda s, z: s.c(s.fc(z).view(z.size(0), 6, 5)),
                                    fc=nn.Linear(8, 30), c=nn.Conv1d(6, 2, 3)), (8,),
     {"Dense": 1, "Reshape": 1, "Conv2d": 1}),
    ("squeeze_excite", lambda: Fn(_se, fc=nn.Linear(6, 6)), (6, 4, 4), None),
    ("dropout_identity", lambda: seq(nn.Conv2d(3, 3, 1), nn.Dropout(0.5), nn.Identity(),
                                     nn.Dropout2d(), nn.Flatten(), nn.Dropout(),
                                     nn.Linear(27, 2)), (3, 3, 3), {"Conv2d": 1, "Reshape": 1,
                                                                    "Dense": 1}),
    ("nested_reused_module", lambda: Fn(lambda s, x: s.blk(s.blk(x)),
                                        blk=seq(seq(nn.Conv2d(2, 2, 3, padding=1)),
                                                nn.ReLU())), (2, 4, 4), {"Conv2d": 2}),
    ("linear_3d_input", lambda: seq(nn.Linear(7, 3), nn.ReLU()), (5, 7),
     {"Transpose": 2, "Reshape": 2, "Dense": 1, "Relu": 1}),
    ("mobilenet_v2_blocks", MBNet, (3, 16, 16),
     {"Conv2d": 5, "DepthwiseConv2d": 2, "Add": 2, "Mean": 1, "Reshape": 1, "Dense": 1,
      "Softmax": 1}),
    ("lenet5", LeNet, (1, 28, 28), {"Conv2d": 2, "Tanh": 4, "AvgPool2d": 2, "Reshape": 1,
                                    "Dense": 3}),
    ("ecg_conv1d_mean", ECG, (1, 64), {"Conv2d": 2, "MaxPool2d": 1, "Mean": 1, "Reshape": 1,
                                        "Dense": 1}),
    ("resnet_downsample_iadd", ResDown, (4, 8, 8), {"Conv2d": 3, "Add": 1}),
    ("kws_unsqueeze_input", KWS, (20, 10), {"Transpose": 1, "Conv2d": 2, "DepthwiseConv2d": 1,
                                            "Mean": 1, "Reshape": 1, "Dense": 1}),
    ("functional_layers", lambda: Fn(lambda s, x: F.linear(F.batch_norm(
        F.conv2d(x, s.w, None, 1, 1).flatten(1), s.m, s.v, eps=1e-3), s.lw, s.lb),
        w=nn.Parameter(torch.randn(2, 3, 3, 3)), lw=nn.Parameter(torch.randn(4, 32)),
        lb=nn.Parameter(torch.randn(4)), m=torch.zeros(32) + 0.3, v=torch.ones(32) * 2),
        (3, 4, 4), {"Conv2d": 1, "Reshape": 1, "Dense": 1}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_model_matches_torch_before_and_after_pipeline(case):
    _, make, *shapes, want_kinds = case
    imp, opt = check(make(), *shapes)
    if want_kinds is not None:
        assert kinds(opt) == Counter(want_kinds), (kinds(imp.graph), kinds(opt))


def test_pipeline_folds_bn_fuses_acts_and_absorbs_the_flatten_transpose():
    imp, opt = check(CASES[1][1](), (3, 8, 8))
    before, after = kinds(imp.graph), kinds(opt)
    assert before["Mul"] == before["Add"] == 1 and before["Transpose"] == 1 and before["Relu"] == 1
    assert "Mul" not in after and "Add" not in after and "Transpose" not in after
    conv = next(n for n in opt.nodes if type(n).__name__ == "Conv2d")
    assert conv.act is Act.RELU and conv.name == "body.0"
    names = [n.name for n in imp.graph.nodes]
    assert {"body.0", "body.1", "body.2", "body.3", "fc"} <= set(names)
    assert len(set(names)) == len(names)


def test_residual_relu_fused_into_add_and_reused_modules_get_unique_names():
    _, opt = check(CASES[2][1](), (8, 6, 6))
    add = next(n for n in opt.nodes if type(n).__name__ == "Add")
    assert add.act is Act.RELU
    imp, _ = check(Fn(lambda s, x: s.r(s.r(x)), r=nn.ReLU()), (3, 2, 2))
    assert sorted(n.name for n in imp.graph.nodes) == ["r", "r_1"]


def test_layouts_and_numpy_example():
    model = seq(nn.Conv1d(2, 3, 3)).eval()
    imp = import_torch(model, np.random.default_rng(0).normal(size=(1, 2, 9)).astype(np.float32),
                       name="net")
    assert imp.graph.name == "net"
    assert imp.input_layouts == [Layout.NCL] and imp.output_layouts == [Layout.NCL]
    assert imp.graph.inputs[0].shape == (1, 1, 9, 2) and imp.graph.outputs[0].shape == (1, 1, 7, 3)
    imp = import_torch(seq(nn.Conv2d(2, 3, 1), nn.Flatten()), torch.randn(4, 2, 3, 3))
    assert imp.input_layouts == [Layout.NCHW] and imp.output_layouts == [Layout.FLAT]
    assert imp.graph.inputs[0].shape == (1, 3, 3, 2)


class _Defaults(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x, scale: float = 2.0):
        return {"logits": self.fc(x) * scale, "features": x}


def test_defaulted_arguments_are_constants_and_dict_outputs_flatten():
    model = _Defaults().eval()
    imp = import_torch(model, torch.randn(2, 3))
    x = torch.randn(3, 3)
    got, _ = run(run_passes(imp.graph, FLOAT_PIPELINE), [x.numpy()])
    with torch.no_grad():
        want = model(x)
    _close(got[0], want["logits"].numpy())
    assert np.array_equal(got[1], x.numpy()) and imp.graph.outputs[1] is imp.graph.inputs[0]


class _Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
        self.act = nn.GELU()
        self.up = nn.Upsample(scale_factor=2)
        self.sm = nn.Softmax(dim=-1)
        self.pools = nn.Sequential(nn.MaxPool2d(2, dilation=2), nn.AvgPool2d(2, ceil_mode=True),
                                   nn.Hardtanh(), nn.AvgPool2d(1, divisor_override=2))

    def forward(self, x):
        y = self.act(self.conv(x))
        y = torch.abs(y) + y[:, :2].sum()
        return self.sm(self.up(y)), torch.cumsum(y, 1), self.pools(y)


def test_all_unsupported_operations_are_listed_together():
    with pytest.raises(UnsupportedModelError) as e:
        import_torch(_Unsupported(), torch.randn(1, 3, 7, 7))
    msg = str(e.value)
    assert isinstance(e.value, ValueError)
    for part in ["module conv (Conv2d)", "padding_mode='reflect'", "module act (GELU)",
                 "function torch.abs", "getitem", "indexing", "module up (Upsample)",
                 "module sm (Softmax)", "last (channel) axis", "torch.cumsum",
                 "test_torch_frontend.py:", "`y = torch.abs(y) + y[:, :2].sum()`",
                 "module pools.0 (MaxPool2d)", ": max pool with dilation 2",
                 "module pools.1 (AvgPool2d)", ": avg pool with ceil_mode=True gives output "
                 "[2, 2], not the floor size [1, 1]", "module pools.2 (Hardtanh)",
                 ": hardtanh with bounds (-1.0, 1.0)", "module pools.3 (AvgPool2d)",
                 ": avg pool with divisor_override=2"]:
        assert part in msg, (part, msg)
    assert "sum_1: method sum at" in msg
    # conv act abs getitem sum up sm cumsum and four pools
    assert msg.startswith("12 unsupported operations"), msg


def test_nested_function_names_its_module_and_batch_mixing_is_rejected():
    inner = Fn(lambda s, x: torch.erf(x))
    with pytest.raises(UnsupportedModelError, match=r"torch\.erf in module inner"):
        import_torch(Fn(lambda s, x: s.inner(x), inner=inner), torch.randn(2, 3))
    with pytest.raises(UnsupportedModelError, match="batch"):
        import_torch(Fn(lambda s, x: x.reshape(-1)), torch.randn(2, 3))
    with pytest.raises(UnsupportedModelError, match="batch"):
        import_torch(Fn(lambda s, x: x.mean()), torch.randn(2, 3))
    with pytest.raises(UnsupportedModelError, match="split along the batch dim"):
        import_torch(Fn(lambda s, x: torch.split(x, 1)[0]), torch.randn(2, 3))  # dim=0


def test_untraceable_model_is_a_clear_error():
    def forward(s, x):
        return x if x.sum() > 0 else -x

    with pytest.raises(UnsupportedModelError, match=r"torch\.fx cannot trace"):
        import_torch(Fn(forward), torch.randn(1, 3))


def test_example_shape_error_states_the_shape():
    with pytest.raises(ExampleShapeError, match=r"\[2, 8\]") as e:
        import_torch(seq(nn.Linear(16, 4)), torch.randn(2, 8))
    assert isinstance(e.value, ValueError) and "mat1 and mat2" in str(e.value)
    with pytest.raises(ExampleShapeError):
        import_torch(seq(nn.Linear(16, 4)), torch.randn(16))


def test_nan_and_inf_weights_are_all_listed():
    model = seq(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = float("nan")
        model[1].running_var[1] = float("inf")
        model[2].bias[:] = float("nan")
    with pytest.raises(InvalidWeightsError) as e:
        import_torch(model, torch.randn(1, 3, 5, 5))
    msg = str(e.value)
    assert "0.weight" in msg and "1.running_var" in msg and "2.bias [2]: 2 NaN/Inf" in msg
    assert "0.bias" not in msg and isinstance(e.value, ValueError)


def test_train_eval_modes_are_restored_even_on_error():
    model = seq(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(), nn.GELU())
    model.train()
    model[1].eval()
    before = [m.training for m in model.modules()]
    with pytest.raises(UnsupportedModelError):
        import_torch(model, torch.randn(1, 3, 5, 5))
    assert [m.training for m in model.modules()] == before
    del model[3]
    import_torch(model, torch.randn(2, 3, 5, 5))
    assert [m.training for m in model.modules()] == before[:-1]


def test_a_wrong_lowering_is_caught_and_located(monkeypatch):
    from firmforge.converter.ops.act import Relu6

    def bad_relu(cx, mod, x):  # deliberately wrong: clamps at 6
        return type(x)(cx.emit(Relu6, [x.value]), x.shape)

    monkeypatch.setattr(torch_modules, "ReLU", bad_relu, raising=False)
    model = seq(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].weight.mul_(50)
    with pytest.raises(ImportMismatchError,
                       match=r"output 0 .*first node that disagrees is _1 \(IR value 1\)"):
        import_torch(model, torch.randn(4, 4))
