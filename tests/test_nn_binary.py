"""The binary/ternary training layers of ``converter.nn``: forward values, estimators' gradients,
padding, TWN thresholds, argument checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from firmforge.converter.compress.binary import train_binary, warmup_cosine
from firmforge.converter.nn import (
    RESTE_M,
    RESTE_T,
    BinaryConv2d,
    BinaryLinear,
    TernaryConv2d,
    TernaryLinear,
    binarize,
    estimator_grad,
    reste_o_schedule,
    set_reste_o,
    ternarize,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0)


def _grad(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    fn(x).sum().backward()
    return x.grad


# -- the step functions -------------------------------------------------------------------------
def test_binarize_sign_of_zero_is_plus_one():
    x = torch.tensor([-2.0, -1e-9, -0.0, 0.0, 1e-9, 3.0])
    assert binarize(x).tolist() == [-1, -1, 1, 1, 1, 1]


def test_ste_gradient_is_one_inside_the_clip():
    x = torch.tensor([-1.5, -1.0, -0.99, 0.0, 0.3, 1.0, 1.0001, 7.0])
    assert _grad(binarize, x).tolist() == [0, 1, 1, 1, 1, 1, 0, 0]


@pytest.mark.parametrize("o", [1.0, 2.0, 3.0])
def test_reste_gradient(o):
    x = torch.tensor([-2.0, -RESTE_T, -0.5, -0.0999, -0.05, 0.0, 0.03, 0.1001, 0.2, 1.0, 1.6])
    g = _grad(lambda v: binarize(v, "reste", o), x)

    def expected(v: float) -> float:
        a = abs(v)
        if a > RESTE_T:
            return 0.0
        if a <= RESTE_M:  # the chord of |x|^(1/o) over [0, m]
            return RESTE_M ** (1 / o) / RESTE_M
        return a ** (1 / o - 1) / o  # d/dx of sign(x)|x|^(1/o)

    assert g.tolist() == pytest.approx([expected(v) for v in x.tolist()], rel=1e-6)
    assert g.max() <= RESTE_M ** (1 / o - 1) * (1 + 1e-6)


def test_reste_with_o_one_is_ste_clipped_at_t():
    x = torch.linspace(-2, 2, 81)
    assert torch.equal(estimator_grad(x, "reste", 1.0), (x.abs() <= RESTE_T).float())


def test_reste_schedule_rises_from_one_to_o_end():
    assert reste_o_schedule(0.0) == 1.0
    assert reste_o_schedule(1.0) == pytest.approx(3.0)
    assert reste_o_schedule(0.5, 5.0) == pytest.approx(1 + 4 * (1 - math.cos(math.pi / 4)))
    assert reste_o_schedule(2.0) == reste_o_schedule(1.0)


def test_ternarize_threshold_and_gradient():
    x = torch.tensor([-1.2, -0.5, -0.49, 0.0, 0.49, 0.5, 0.9])
    assert ternarize(x, 0.5).tolist() == [-1, -1, 0, 0, 0, 1, 1]
    assert ternarize(x, 0.5, closed=True).tolist() == [-1, 0, 0, 0, 0, 0, 1]
    assert _grad(lambda v: ternarize(v, 0.5), x).tolist() == [0, 1, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("fn", [lambda x: binarize(x, "sign"),
                                lambda x: ternarize(x, 0.5, "STE"),
                                lambda x: BinaryLinear(4, 2, estimator="bop"),
                                lambda x: TernaryConv2d(4, 2, 3, estimator=None)])
def test_unknown_estimator(fn):
    with pytest.raises(ValueError, match=r"unknown estimator .*'ste', 'reste'"):
        fn(torch.zeros(3))


# -- binary layers ------------------------------------------------------------------------------
def test_binary_linear_forward_is_scaled_signs():
    m = BinaryLinear(40, 6, bias=True)
    with torch.no_grad():
        m.weight[0, :5] = 0.0  # sign(0) = +1 for weights too
    x = torch.randn(3, 40)
    x[0, :4] = 0.0
    b, alpha = m.binary_weight(), m.channel_scale()
    assert set(b.unique().tolist()) == {-1.0, 1.0} and b[0, :5].eq(1).all()
    assert torch.allclose(alpha, m.weight.abs().mean(1))
    w = b * alpha[:, None]
    assert torch.equal(w.abs(), alpha[:, None].expand_as(w))
    assert torch.allclose(m(x), _sign(x) @ w.T + m.bias, atol=1e-6)


def test_binary_linear_gradients_reach_input_and_weights():
    m = BinaryLinear(8, 4, estimator="reste")
    m.reste_o = 2.0
    x = (torch.randn(5, 8) * 2).requires_grad_(True)
    m(x).pow(2).sum().backward()
    assert x.grad[x.detach().abs() > RESTE_T].eq(0).all()
    assert x.grad[x.detach().abs() <= RESTE_T].ne(0).any()
    assert m.weight.grad is not None and m.weight.grad.ne(0).any()


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("pad_value", [0.0, -1.0, 1.0])
@pytest.mark.parametrize("padding,stride,dilation", [(1, 1, 1), (2, 2, 1), ((1, 0), 1, 2),
                                                      ("same", 1, 1), ("valid", 1, 1)])
def test_binary_conv_padding(pad_value, padding, stride, dilation):
    m = BinaryConv2d(5, 4, (3, 2) if padding == "same" else 3, stride=stride, padding=padding,
                     dilation=dilation, pad_value=pad_value, bias=True)
    x = torch.randn(2, 5, 9, 8)
    w = m.binary_weight() * m.channel_scale()[:, None, None, None]
    top, bottom, left, right = m.pad_amounts()
    xb = F.pad(_sign(x), (left, right, top, bottom), value=pad_value)
    ref = F.conv2d(xb, w, m.bias, stride, 0, dilation)
    assert torch.allclose(m(x), ref, atol=1e-5)


def test_binary_conv_same_padding_puts_the_odd_row_last():
    assert BinaryConv2d(1, 1, (4, 3), padding="same").pad_amounts() == (1, 2, 1, 1)
    assert BinaryConv2d(1, 1, 3, padding=(2, 1)).pad_amounts() == (2, 2, 1, 1)


def test_zero_padding_taps_contribute_nothing():
    m = BinaryConv2d(1, 1, 3, padding=1, pad_value=0.0)
    with torch.no_grad():
        m.weight.fill_(0.5)
    y = m(torch.ones(1, 1, 3, 3))  # alpha 0.5, every real tap +1
    assert y[0, 0].tolist() == [[2.0, 3.0, 2.0], [3.0, 4.5, 3.0], [2.0, 3.0, 2.0]]
    m.pad_value = -1.0
    assert m(torch.ones(1, 1, 3, 3))[0, 0, 0, 0].item() == pytest.approx(0.5 * (4 - 5))


@pytest.mark.parametrize("bad", [0.5, 2.0, "zeros", None, True, float("nan")])
def test_bad_pad_value(bad):
    with pytest.raises(ValueError, match=r"pad_value must be one of 0\.0, -1\.0, 1\.0"):
        BinaryConv2d(2, 2, 3, pad_value=bad)


@pytest.mark.parametrize("cls", [BinaryConv2d, TernaryConv2d])
def test_groups_other_than_one(cls):
    with pytest.raises(ValueError, match="groups=1 only, got groups=2"):
        cls(4, 4, 3, groups=2)


def test_layers_are_their_torch_base_classes():
    assert isinstance(BinaryLinear(3, 2), nn.Linear)
    assert isinstance(TernaryLinear(3, 2), nn.Linear)
    assert isinstance(BinaryConv2d(3, 2, 1), nn.Conv2d)
    assert isinstance(TernaryConv2d(3, 2, 1), nn.Conv2d)
    assert BinaryLinear(3, 2).bias is None and BinaryConv2d(3, 2, 1).bias is None


# -- ternary layers -----------------------------------------------------------------------------
def test_twn_threshold_and_scale():
    m = TernaryLinear(6, 2)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[0.1, -0.2, 0.3, -0.4, 0.0, 0.6],
                                     [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]))
    delta = 0.7 * torch.tensor([1.6 / 6, 0.0])
    assert torch.allclose(m.weight_threshold(), delta)
    assert m.ternary_weight().tolist() == [[0, -1, 1, -1, 0, 1], [0, 0, 0, 0, 0, 0]]
    assert torch.allclose(m.channel_scale(), torch.tensor([(0.2 + 0.3 + 0.4 + 0.6) / 4, 0.0]))


def test_twn_weight_at_the_threshold_is_zero():
    m = TernaryLinear(10, 1)
    with torch.no_grad():  # mean |w| = 0.1, delta = 0.07: the 0.07 entry sits on it
        m.weight.copy_(torch.tensor([[0.07, 0.93] + [0.0] * 8]))
    assert m.ternary_weight().tolist() == [[0, 1] + [0] * 8]
    x = torch.ones(1, 10)
    assert m(x).item() == pytest.approx(0.93)


@pytest.mark.parametrize("estimator", ["ste", "reste"])
def test_ternary_forward(estimator):
    lin = TernaryLinear(30, 5, estimator=estimator, bias=True)
    conv = TernaryConv2d(4, 3, 3, padding=1, input_threshold=0.3, estimator=estimator)
    x = torch.randn(2, 30)
    w = lin.ternary_weight() * lin.channel_scale()[:, None]
    xt = torch.where(x.abs() < 0.5, 0.0, torch.sign(x))
    assert set(w.abs().flatten().tolist()) <= set(lin.channel_scale().tolist()) | {0.0}
    assert torch.allclose(lin(x), xt @ w.T + lin.bias, atol=1e-6)
    xc = torch.randn(1, 4, 6, 6)
    wc = conv.ternary_weight() * conv.channel_scale()[:, None, None, None]
    xct = torch.where(xc.abs() < 0.3, 0.0, torch.sign(xc))
    assert torch.allclose(conv(xc), F.conv2d(xct, wc, padding=1), atol=1e-5)
    assert conv.input_threshold == 0.3 and lin.input_threshold == 0.5


@pytest.mark.parametrize("bad", [0, -0.5, float("inf"), "0.5", True])
def test_bad_input_threshold(bad):
    with pytest.raises(ValueError, match="input_threshold must be a finite number > 0"):
        TernaryLinear(3, 2, input_threshold=bad)
    with pytest.raises(ValueError, match="the ternary threshold must be a number >= 0"):
        ternarize(torch.zeros(2), -1.0)


# -- training helper ----------------------------------------------------------------------------
def test_set_reste_o_and_weight_clipping():
    model = nn.Sequential(BinaryLinear(4, 32, estimator="reste"), nn.BatchNorm1d(32),
                          nn.Linear(32, 2))
    set_reste_o(model, 2.5)
    assert model[0].reste_o == 2.5
    with pytest.raises(ValueError, match="o must be >= 1"):
        set_reste_o(model, 0.5)
    with torch.no_grad():
        model[0].weight.mul_(10)
    x, y = torch.randn(32, 4).numpy(), torch.randint(0, 2, (32,)).numpy()
    train_binary(model, x, y, epochs=2, lr=1e-2, batch=8, progress=False)
    assert model[0].weight.abs().max() <= 1.0
    assert model[0].reste_o == pytest.approx(3.0)  # the schedule ends at o_end
    assert not model.training


def test_train_binary_bad_arguments():
    model = nn.Sequential(BinaryLinear(4, 2))
    x, y = torch.zeros(4, 4).numpy(), torch.zeros(4, dtype=torch.long).numpy()
    for kw in ({"epochs": 0, "lr": 1e-3}, {"epochs": 1, "lr": 0.0},
               {"epochs": 1, "lr": 1e-3, "warmup": 1.0}, {"epochs": 1, "lr": 1e-3, "o_end": 0.5}):
        with pytest.raises(ValueError):
            train_binary(model, x, y, progress=False, **kw)


def test_warmup_cosine():
    assert [warmup_cosine(s, 10, 2) for s in (0, 1, 2)] == [0.5, 1.0, 1.0]
    assert warmup_cosine(10, 10, 2) == pytest.approx(0.0)


def _student() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(BinaryLinear(8, 64), nn.BatchNorm1d(64), nn.Linear(64, 4))


def test_train_binary_distills_the_teacher_not_the_labels():
    # labels drawn at random carry nothing; with distill=1 only the teacher's soft targets
    # count, so the student ends up agreeing with the teacher and not with the labels
    gen = torch.Generator().manual_seed(0)
    x = _sign(torch.randn(512, 8, generator=gen))  # what the student's first sign sees, too
    teacher = nn.Linear(8, 4)
    with torch.no_grad():
        teacher.weight.copy_(3 * torch.randn(4, 8, generator=gen))
        want = teacher(x).argmax(1)
    noise = torch.randint(0, 4, (512,), generator=gen)
    student = train_binary(_student(), x.numpy(), noise.numpy(), epochs=8, lr=1e-2, batch=32,
                           teacher=teacher, distill=1.0, temperature=2.0, progress=False)
    with torch.no_grad():
        got = student(x).argmax(1)
    assert (got == want).float().mean() > 0.9
    assert (got == noise).float().mean() < 0.4
    assert not teacher.weight.requires_grad or teacher.weight.grad is None  # never trained


def test_train_binary_distill_zero_is_the_label_loss():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 8, generator=gen).numpy(), torch.randint(0, 4, (64,)).numpy()
    plain = train_binary(_student(), x, y, epochs=2, lr=1e-2, batch=16, progress=False)
    taught = train_binary(_student(), x, y, epochs=2, lr=1e-2, batch=16, progress=False,
                          teacher=nn.Linear(8, 4), distill=0.0)
    for a, b in zip(plain.state_dict().values(), taught.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kw", [{"distill": 1.5}, {"distill": -0.1}, {"temperature": 0.0}])
def test_train_binary_bad_distillation(kw):
    x, y = torch.zeros(4, 8).numpy(), torch.zeros(4, dtype=torch.long).numpy()
    with pytest.raises(ValueError, match="distill is a weight in"):
        train_binary(_student(), x, y, epochs=1, lr=1e-3, teacher=nn.Linear(8, 4),
                     progress=False, **kw)
