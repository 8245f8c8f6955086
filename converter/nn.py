"""PyTorch training layers for binary and ternary networks.

``BinaryLinear`` / ``BinaryConv2d`` keep real-valued latent weights (``self.weight``) and compute

    y = op(b(x), b(W) * alpha[:, None...]) + bias

where ``b`` is the sign with ``b(0) = +1`` (Larq's ``ste_sign``) and ``alpha`` (shape ``[O]``) is
the mean ``|W|`` of each output channel's latent weights (XNOR-Net, Rastegari et al. 2016). The
scale is computed from the latent weights in every forward pass and is *not* detached: the
weights also receive XNOR-Net's ``1/n`` gradient through ``alpha``. ``binary_weight()`` (the
``±1`` tensor) and ``channel_scale()`` (``alpha``) are what the converter reads; the weight the
layer uses equals ``binary_weight() * channel_scale()[:, None(, None, None)]``.

``TernaryLinear`` / ``TernaryConv2d`` do the same with ternary values (TWN, Li et al. 2016): per
output channel ``delta = 0.7 * mean|W|``, weights with ``|W| > delta`` become ``sign(W)``, the
rest 0, and ``alpha`` is the mean ``|W|`` of the weights above ``delta`` (0 for a channel with
none). Inputs become ``sign(x)`` where ``|x| >= input_threshold`` and 0 elsewhere.

The backward pass of every step function (inputs and weights alike) is one of two estimators:

- ``"ste"``: the clipped straight-through estimator (Hubara et al. 2016; Larq's ``ste_sign``):
  gradient 1 for ``|x| <= 1``, else 0.
- ``"reste"``: ReSTE, the rectified straight-through estimator (Wu et al., "Estimator Meets
  Equilibrium Perspective: A Rectified Straight Through Estimator for Binary Neural Networks
  Training", ICCV 2023). Its backward is the derivative of the power function
  ``sign(x) |x|^(1/o)``, clipped: 0 for ``|x| > t``; ``(1/o) |x|^(1/o - 1)`` for
  ``m < |x| <= t``; and near zero, where that derivative is unbounded for ``o > 1``, the slope of
  the power function's chord over ``[0, m]``, ``m^(1/o - 1)`` (so the gradient never exceeds
  ``m^(1/o - 1)``, 4.64 at ``o = 3``). ``t = 1.5`` and ``m = 0.1`` are the authors' code's
  values (``RESTE_T``, ``RESTE_M``). ``o`` is the module attribute ``reste_o`` (1 gives a plain
  STE clipped at ``t``); the authors raise it from 1 to 3 over training as
  ``1 + (o_end - 1) (1 - cos(pi/2 * progress))``, which ``reste_o_schedule`` computes and
  ``compress.binary.train_binary`` applies every step.

The ternary layers use the binary layers' estimators unchanged, evaluated at the input (the
dead zone gets the same gradient as its surroundings, as Larq's ``ste_tern`` does).

These modules are not leaves to a default ``torch.fx.Tracer`` (they live outside ``torch.nn``)
and their custom autograd function does not trace: a tracer must keep them whole.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ESTIMATORS = ("ste", "reste")
RESTE_T = 1.5
RESTE_M = 0.1
TWN_RATIO = 0.7
PAD_VALUES = (0.0, -1.0, 1.0)


def check_estimator(estimator: object) -> str:
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}: choose one of "
                         f"{', '.join(repr(e) for e in ESTIMATORS)}")
    return estimator  # type: ignore[return-value]


def estimator_grad(x: torch.Tensor, estimator: str, o: float = 1.0) -> torch.Tensor:
    """d(step)/dx as the estimator defines it, elementwise (see the module docstring)."""
    a = x.abs()
    if estimator == "ste":
        return (a <= 1.0).to(x.dtype)
    if estimator == "reste":
        power = 1.0 / o - 1.0
        slope = a.clamp(min=RESTE_M).pow(power) / o
        near_zero = torch.full_like(x, RESTE_M ** power)
        return torch.where(a > RESTE_T, torch.zeros_like(x),
                           torch.where(a <= RESTE_M, near_zero, slope))
    raise AssertionError(check_estimator(estimator))


def reste_o_schedule(progress: float, o_end: float = 3.0) -> float:
    """ReSTE's ``o`` at ``progress`` in [0, 1] of training: 1 at the start, ``o_end`` at the end,
    rising along a quarter cosine as in the authors' code."""
    p = min(max(progress, 0.0), 1.0)
    return 1.0 + (o_end - 1.0) * (1.0 - math.cos(0.5 * math.pi * p))


class _Step(torch.autograd.Function):
    """Forward: sign (``threshold is None``, sign(0) = +1) or ternary (0 where ``|x| <
    threshold``, or ``<=`` if ``closed``); backward: the estimator's gradient at ``x``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, threshold: torch.Tensor | float | None, closed: bool,
                estimator: str, o: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.estimator, ctx.o = estimator, o
        one = torch.ones_like(x)
        out = torch.where(x >= 0, one, -one)
        if threshold is not None:
            dead = x.abs() <= threshold if closed else x.abs() < threshold
            out = torch.where(dead, torch.zeros_like(x), out)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (x,) = ctx.saved_tensors
        return g * estimator_grad(x, ctx.estimator, ctx.o), None, None, None, None


def binarize(x: torch.Tensor, estimator: str = "ste", o: float = 1.0) -> torch.Tensor:
    """``+1`` where ``x >= 0``, else ``-1``; the backward pass uses ``estimator``."""
    return _Step.apply(x, None, False, check_estimator(estimator), float(o))


def ternarize(x: torch.Tensor, threshold: torch.Tensor | float, estimator: str = "ste",
              o: float = 1.0, *, closed: bool = False) -> torch.Tensor:
    """``sign(x)`` where ``|x| >= threshold``, else 0 (``threshold`` a number or a tensor that
    broadcasts against ``x``); ``closed`` zeroes ``|x| == threshold`` too (TWN's weight rule).
    The backward pass uses ``estimator``."""
    if isinstance(threshold, torch.Tensor):
        threshold = threshold.detach()
    elif isinstance(threshold, bool) or not threshold >= 0:
        raise ValueError(f"the ternary threshold must be a number >= 0, got {threshold!r}")
    return _Step.apply(x, threshold, closed, check_estimator(estimator), float(o))


def _per_channel(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.reshape(-1, *([1] * (ndim - 1)))


def binary_scale(w: torch.Tensor) -> torch.Tensor:
    """XNOR-Net's per-output-channel scale: mean |w| over all but the first axis."""
    return w.abs().flatten(1).mean(1)


def twn_threshold(w: torch.Tensor) -> torch.Tensor:
    """TWN's per-output-channel threshold ``0.7 * mean|w|``."""
    return TWN_RATIO * w.detach().abs().flatten(1).mean(1)


def twn_scale(w: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Mean |w| of each channel's weights above ``delta`` (0 where there are none)."""
    a = w.abs().flatten(1)
    keep = (a > delta[:, None]).to(w.dtype)
    return (a * keep).sum(1) / keep.sum(1).clamp(min=1.0)


class _Quantized:
    """What the four layers share: the estimator, ReSTE's ``o``, argument checks."""

    weight: torch.Tensor
    estimator: str
    reste_o: float

    def _setup(self, estimator: str) -> None:
        self.estimator = check_estimator(estimator)
        self.reste_o = 1.0

    def _step(self, x: torch.Tensor, threshold: torch.Tensor | float | None,
              closed: bool = False) -> torch.Tensor:
        if threshold is None:
            return binarize(x, self.estimator, self.reste_o)
        return ternarize(x, threshold, self.estimator, self.reste_o, closed=closed)

    def _extra(self) -> str:
        return f", estimator={self.estimator!r}"


class _Binary(_Quantized):
    def _weight(self) -> torch.Tensor:
        w = self.weight
        return self._step(w, None) * _per_channel(binary_scale(w), w.dim())

    def binary_weight(self) -> torch.Tensor:
        """The ``±1`` weights (``sign(weight)``, sign(0) = +1), detached."""
        with torch.no_grad():
            return torch.where(self.weight >= 0, 1.0, -1.0).to(self.weight.dtype)

    def channel_scale(self) -> torch.Tensor:
        """``alpha`` ``[O]``: mean |weight| of each output channel, detached."""
        with torch.no_grad():
            return binary_scale(self.weight)


class _Ternary(_Quantized):
    input_threshold: float

    def _check_threshold(self, input_threshold: float) -> None:
        if not (isinstance(input_threshold, (int, float)) and not isinstance(input_threshold, bool)
                and input_threshold > 0
                and math.isfinite(input_threshold)):
            raise ValueError(f"input_threshold must be a finite number > 0, got "
                             f"{input_threshold!r}")
        self.input_threshold = float(input_threshold)

    def _weight(self) -> torch.Tensor:
        w = self.weight
        delta = twn_threshold(w)
        t = self._step(w, _per_channel(delta, w.dim()), closed=True)
        return t * _per_channel(twn_scale(w, delta), w.dim())

    def weight_threshold(self) -> torch.Tensor:
        """TWN's ``delta`` ``[O]``: ``0.7 * mean|weight|`` per output channel."""
        return twn_threshold(self.weight)

    def ternary_weight(self) -> torch.Tensor:
        """The ``{-1, 0, +1}`` weights, detached."""
        with torch.no_grad():
            w = self.weight
            delta = _per_channel(twn_threshold(w), w.dim())
            return torch.where(w.abs() > delta, torch.sign(w), torch.zeros_like(w))

    def channel_scale(self) -> torch.Tensor:
        """``alpha`` ``[O]``: mean |weight| over each channel's weights above ``delta``."""
        with torch.no_grad():
            return twn_scale(self.weight, twn_threshold(self.weight))

    def _extra(self) -> str:
        return f", estimator={self.estimator!r}, input_threshold={self.input_threshold}"


class BinaryLinear(_Binary, nn.Linear):
    """``Linear`` on binarized inputs with binarized, channel-scaled weights (see module doc)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False,
                 estimator: str = "ste", device=None, dtype=None) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias=bias, device=device,
                           dtype=dtype)
        self._setup(estimator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self._step(x, None), self._weight(), self.bias)

    def extra_repr(self) -> str:
        return nn.Linear.extra_repr(self) + self._extra()


class TernaryLinear(_Ternary, nn.Linear):
    """``Linear`` on ternarized inputs with TWN-ternarized, channel-scaled weights."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False,
                 estimator: str = "ste", input_threshold: float = 0.5, device=None,
                 dtype=None) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias=bias, device=device,
                           dtype=dtype)
        self._setup(estimator)
        self._check_threshold(input_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self._step(x, self.input_threshold), self._weight(), self.bias)

    def extra_repr(self) -> str:
        return nn.Linear.extra_repr(self) + self._extra()


def _same_pads(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """(top, bottom, left, right) of PyTorch's ``padding="same"``: the odd one goes last."""
    pads: list[int] = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class _QuantConv(nn.Conv2d):
    def _init_conv(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
                   dilation, groups: int, bias: bool, device, dtype) -> None:
        if groups != 1:
            raise ValueError(f"{type(self).__name__} supports groups=1 only, got groups={groups}")
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride=stride,
                           padding=padding, dilation=dilation, groups=1, bias=bias,
                           device=device, dtype=dtype)

    def pad_amounts(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) rows/columns of padding, ``padding="same"`` resolved."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            return _same_pads(self.kernel_size, self.dilation)  # type: ignore[return-value]
        ph, pw = self.padding  # type: ignore[misc]
        return (ph, ph, pw, pw)


class BinaryConv2d(_Binary, _QuantConv):
    """``Conv2d`` on binarized inputs with binarized, channel-scaled weights (see module doc).

    ``pad_value`` is what padded taps hold after the input is binarized: 0.0 (they contribute
    nothing: ordinary zero padding), or -1.0 / +1.0 (the binarized input is padded with that
    value, then convolved without padding).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = False, estimator: str = "ste", pad_value: float = 0.0,
                 groups: int = 1, device=None, dtype=None) -> None:
        if pad_value not in PAD_VALUES or isinstance(pad_value, bool):
            raise ValueError(f"pad_value must be one of {', '.join(map(str, PAD_VALUES))} (the "
                             f"value of a padded tap after binarization), got {pad_value!r}")
        self._init_conv(in_channels, out_channels, kernel_size, stride, padding, dilation,
                        groups, bias, device, dtype)
        self._setup(estimator)
        self.pad_value = float(pad_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xb = self._step(x, None)
        w = self._weight()
        if self.pad_value == 0.0:
            return self._conv_forward(xb, w, self.bias)
        top, bottom, left, right = self.pad_amounts()
        xb = F.pad(xb, (left, right, top, bottom), value=self.pad_value)
        return F.conv2d(xb, w, self.bias, self.stride, 0, self.dilation)

    def extra_repr(self) -> str:
        return nn.Conv2d.extra_repr(self) + self._extra() + f", pad_value={self.pad_value}"


class TernaryConv2d(_Ternary, _QuantConv):
    """``Conv2d`` on ternarized inputs with TWN-ternarized, channel-scaled weights; padding is
    zeros (a ternary value)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = False, estimator: str = "ste",
                 input_threshold: float = 0.5, groups: int = 1, device=None,
                 dtype=None) -> None:
        self._init_conv(in_channels, out_channels, kernel_size, stride, padding, dilation,
                        groups, bias, device, dtype)
        self._setup(estimator)
        self._check_threshold(input_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self._step(x, self.input_threshold), self._weight(), self.bias)

    def extra_repr(self) -> str:
        return nn.Conv2d.extra_repr(self) + self._extra()


QUANTIZED = (BinaryLinear, BinaryConv2d, TernaryLinear, TernaryConv2d)


def quantized_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The binary and ternary layers of ``model`` by qualified name."""
    return {k: m for k, m in model.named_modules() if isinstance(m, QUANTIZED)}


def set_reste_o(model: nn.Module, o: float) -> None:
    """Set ReSTE's ``o`` on every binary/ternary layer of ``model``."""
    if not o >= 1.0:
        raise ValueError(f"ReSTE's o must be >= 1, got {o!r}")
    for m in quantized_modules(model).values():
        m.reste_o = float(o)
