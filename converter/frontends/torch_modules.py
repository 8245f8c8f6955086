"""Handlers for torch.nn leaf modules, each named exactly after the class it converts.

The importer calls ``<ClassName>(cx, module, *args, **kwargs)`` for a module whose type is
``torch.nn.<ClassName>``; defining a function here is all it takes to support a module. Names
starting with an underscore are helpers. A module whose behaviour is its functional twin's
(``nn.ReLU``, ``nn.LeakyReLU``, ``nn.Softmax``, ...) needs no handler here: the importer calls
the twin's handler in ``torch_functions`` with the module's attributes.
"""

from __future__ import annotations

from . import torch_lower as low
from .torch_context import Ctx, T, Unsupported


def Conv2d(cx: Ctx, mod, x: T) -> T:
    if mod.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={mod.padding_mode!r} (only 'zeros')")
    return low.conv(cx, x, mod.weight, mod.bias, mod.stride, mod.padding, mod.dilation,
                    mod.groups)


Conv1d = Conv2d


def Linear(cx: Ctx, mod, x: T) -> T:
    return low.linear(cx, x, mod.weight, mod.bias)


def BinaryLinear(cx: Ctx, mod, x: T) -> T:
    """firmforge's binary layer (converter/nn.py): the sign of the input, then XNOR-popcount
    with the binary weights times their per-channel scale."""
    return low.binary_linear(cx, low.binarize(cx, x), mod.binary_weight(), mod.channel_scale(),
                             mod.bias)


def BinaryConv2d(cx: Ctx, mod, x: T) -> T:
    return low.binary_conv(cx, low.binarize(cx, x), mod.binary_weight(), mod.channel_scale(),
                           mod.bias, mod.stride, mod.padding, mod.dilation, mod.pad_value)


def TernaryLinear(cx: Ctx, mod, x: T) -> T:
    """firmforge's ternary layer (converter/nn.py): the input ternarized at its threshold, then
    the ternary dot product with the TWN weights times their per-channel scale."""
    return low.ternary_linear(cx, low.ternarize(cx, x, mod.input_threshold),
                              mod.ternary_weight(), mod.channel_scale(), mod.bias)


def TernaryConv2d(cx: Ctx, mod, x: T) -> T:
    return low.ternary_conv(cx, low.ternarize(cx, x, mod.input_threshold), mod.ternary_weight(),
                            mod.channel_scale(), mod.bias, mod.stride, mod.padding, mod.dilation)


def BatchNorm2d(cx: Ctx, mod, x: T) -> T:
    return low.batchnorm(cx, x, mod.running_mean, mod.running_var, mod.weight, mod.bias,
                         mod.eps)


BatchNorm1d = BatchNorm2d


def AvgPool2d(cx: Ctx, mod, x: T) -> T:
    return low.pool(cx, low.tensor_in(x, 4, "AvgPool2d"), "avg", mod.kernel_size, mod.stride,
                    mod.padding, mod.ceil_mode, mod.count_include_pad, mod.divisor_override)


def AvgPool1d(cx: Ctx, mod, x: T) -> T:
    return low.pool(cx, low.tensor_in(x, 3, "AvgPool1d"), "avg", mod.kernel_size, mod.stride,
                    mod.padding, mod.ceil_mode, mod.count_include_pad)


def MaxPool2d(cx: Ctx, mod, x: T) -> T:
    if mod.return_indices:
        raise Unsupported("max pool with return_indices=True")
    return low.pool(cx, low.tensor_in(x, 4, "MaxPool2d"), "max", mod.kernel_size, mod.stride,
                    mod.padding, mod.ceil_mode, dilation=mod.dilation)


def MaxPool1d(cx: Ctx, mod, x: T) -> T:
    if mod.return_indices:
        raise Unsupported("max pool with return_indices=True")
    return low.pool(cx, low.tensor_in(x, 3, "MaxPool1d"), "max", mod.kernel_size, mod.stride,
                    mod.padding, mod.ceil_mode, dilation=mod.dilation)


def AdaptiveAvgPool2d(cx: Ctx, mod, x: T) -> T:
    return low.adaptive_pool(cx, low.tensor_in(x, 4, "AdaptiveAvgPool2d"), "avg", mod.output_size)


def AdaptiveAvgPool1d(cx: Ctx, mod, x: T) -> T:
    return low.adaptive_pool(cx, low.tensor_in(x, 3, "AdaptiveAvgPool1d"), "avg", mod.output_size)


def AdaptiveMaxPool2d(cx: Ctx, mod, x: T) -> T:
    if mod.return_indices:
        raise Unsupported("max pool with return_indices=True")
    return low.adaptive_pool(cx, low.tensor_in(x, 4, "AdaptiveMaxPool2d"), "max", mod.output_size)


def Flatten(cx: Ctx, mod, x: T) -> T:
    return cx.reshape(x, cx.out_shape)


Unflatten = Flatten


def Identity(cx: Ctx, mod, x: T, *args: object, **kwargs: object) -> T:
    """Identity, and dropout in eval mode (where it is the identity)."""
    return x


Dropout = Dropout1d = Dropout2d = Dropout3d = AlphaDropout = FeatureAlphaDropout = Identity


def ConstantPad2d(cx: Ctx, mod, x: T) -> T:
    return low.pad(cx, x, mod.padding, "constant", mod.value)


ConstantPad1d = ZeroPad1d = ZeroPad2d = ConstantPad2d
