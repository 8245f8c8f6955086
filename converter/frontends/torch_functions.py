"""Handlers for torch functions (``torch.*``, ``torch.nn.functional.*``, ``operator.*``) and
tensor methods, each named after the function or method it converts.

A call ``torch.relu(x)``, ``F.relu(x)`` or ``x.relu()`` runs ``relu(cx, x)``: the importer looks a
handler up by the target's name after checking that the target really is the torch/operator
function of that name, and binds torch's arguments to the handler's parameters, which mirror
torch's signature (methods pass the tensor as the first argument). Arguments that are not
tensors computed from the input arrive as their concrete values from the example run.
"""

from __future__ import annotations

from ..ops.act import HardSwish, LeakyRelu, Relu, Relu6
from ..ops.eltwise import Add, Maximum, Minimum, Mul, Sub
from ..ops.nonlinear import Sigmoid, Softmax, Tanh
from ..ops.shape import Split
from . import torch_lower as low
from .torch_context import Ctx, T, Unsupported, ir_axis


# -- activations ------------------------------------------------------------------------------
def relu(cx: Ctx, input: T, inplace: bool = False) -> T:
    return T(cx.emit(Relu, [input.value]), input.shape)


def relu6(cx: Ctx, input: T, inplace: bool = False) -> T:
    return T(cx.emit(Relu6, [input.value]), input.shape)


def hardtanh(cx: Ctx, input: T, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> T:
    return low.clamp(cx, input, min_val, max_val, "hardtanh")


def clamp(cx: Ctx, input: T, min: float | None = None, max: float | None = None) -> T:
    return low.clamp(cx, input, min, max, "clamp")


def leaky_relu(cx: Ctx, input: T, negative_slope: float = 0.01, inplace: bool = False) -> T:
    return T(cx.emit(LeakyRelu, [input.value], alpha=float(negative_slope)), input.shape)


def hardswish(cx: Ctx, input: T, inplace: bool = False) -> T:
    return T(cx.emit(HardSwish, [input.value]), input.shape)


def sigmoid(cx: Ctx, input: T) -> T:
    return T(cx.emit(Sigmoid, [input.value]), input.shape)


def tanh(cx: Ctx, input: T) -> T:
    return T(cx.emit(Tanh, [input.value]), input.shape)


def softmax(cx: Ctx, input: T, dim: int | None = None, _stacklevel: int = 3,
            dtype: object = None) -> T:
    if dtype is not None:
        raise Unsupported(f"softmax with dtype={dtype}")
    if dim is None:  # torch's legacy implicit choice
        dim = 0 if input.rank in (0, 1, 3) else 1
    axis = ir_axis(input.rank, dim)
    if axis != len(input.value.shape) - 1:
        raise Unsupported(f"softmax over torch dim {dim} of a {input.rank}-D tensor is IR axis "
                          f"{axis}; the IR's Softmax works on the last (channel) axis only")
    return T(cx.emit(Softmax, [input.value]), input.shape)


relu_ = relu
clamp_ = clamp
sigmoid_ = sigmoid
tanh_ = tanh
leaky_relu_ = leaky_relu


# -- shape ------------------------------------------------------------------------------------
def _to_recorded_shape(cx: Ctx, input: T, *args: object, **kwargs: object) -> T:
    """view, reshape, flatten, squeeze, unsqueeze: the target shape is the one torch produced."""
    return cx.reshape(input, cx.out_shape)


view = reshape = flatten = squeeze = unsqueeze = unflatten = _to_recorded_shape


def permute(cx: Ctx, input: T, *dims: object) -> T:
    perm = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], int) else dims
    return low.permute(cx, input, perm)


def transpose(cx: Ctx, input: T, dim0: int, dim1: int) -> T:
    perm = list(range(input.rank))
    a, b = dim0 % input.rank, dim1 % input.rank
    perm[a], perm[b] = perm[b], perm[a]
    return low.permute(cx, input, tuple(perm))


def contiguous(cx: Ctx, input: T, memory_format: object = None) -> T:
    return input


def clone(cx: Ctx, input: T, memory_format: object = None) -> T:
    return input


def detach(cx: Ctx, input: T) -> T:
    return input


def dropout(cx: Ctx, input: T, p: float = 0.5, training: bool = False,
            inplace: bool = False) -> T:
    if training:
        raise Unsupported("dropout with training=True (random at inference)")
    return input


def _dim_size(t: T, dim: object) -> int:
    ir_axis(t.rank, dim)  # raises Unsupported for a dim that is not one of t's
    return t.shape[dim % t.rank]


def split(cx: Ctx, tensor: T, split_size_or_sections: object, dim: int = 0) -> tuple[T, ...]:
    """Pieces of the given size (the last one smaller) or of the listed sizes: one Split along
    the IR axis of torch dim ``dim`` (cutting a dimension commutes with the layout's
    permutation, so each piece is the IR layout of torch's piece)."""
    n = _dim_size(tensor, dim)
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step < 1:
            raise Unsupported(f"split size {step}")
        sizes = [step] * (n // step) + ([n % step] if n % step else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or min(sizes, default=0) < 1:
            raise Unsupported(f"split sections {sizes} of a dim of {n}")
    axis = ir_axis(tensor.rank, dim)
    if axis == 0:
        raise Unsupported("split along the batch dim")
    if len(sizes) == 1:
        return (tensor,)
    d = dim % tensor.rank
    vs = cx.emit_outputs(Split, [tensor.value], axis=axis, sizes=tuple(sizes))
    return tuple(T(v, (*tensor.shape[:d], s, *tensor.shape[d + 1:]))
                 for v, s in zip(vs, sizes, strict=True))


def chunk(cx: Ctx, input: T, chunks: int, dim: int = 0) -> tuple[T, ...]:
    """torch's chunks: ceil(n / chunks) elements each, the last one smaller (so possibly fewer
    than ``chunks`` pieces)."""
    if chunks < 1:
        raise Unsupported(f"chunk into {chunks} pieces")
    n = _dim_size(input, dim)
    return split(cx, input, -(-n // chunks), dim)


def getitem(cx: Ctx, a: object, index: object) -> T:
    if isinstance(a, (tuple, list)):
        return a[index]
    raise Unsupported(f"indexing or slicing a tensor ({index!r})")


# -- arithmetic -------------------------------------------------------------------------------
def _scaled(other: object, alpha: object) -> object:
    if alpha == 1:
        return other
    if isinstance(other, T):
        raise Unsupported(f"alpha={alpha} with a tensor operand")
    return other * alpha


def add(cx: Ctx, input: object, other: object, alpha: object = 1) -> T:
    return low.binary(cx, Add, input, _scaled(other, alpha))


def sub(cx: Ctx, input: object, other: object, alpha: object = 1) -> T:
    return low.binary(cx, Sub, input, _scaled(other, alpha))


def mul(cx: Ctx, input: object, other: object) -> T:
    return low.binary(cx, Mul, input, other)


def truediv(cx: Ctx, input: object, other: object) -> T:
    if isinstance(other, T):
        raise Unsupported("division by a tensor computed from the input")
    return low.binary(cx, Mul, input, 1.0 / other)


def div(cx: Ctx, input: object, other: object, rounding_mode: object = None) -> T:
    if rounding_mode is not None:
        raise Unsupported(f"division with rounding_mode={rounding_mode!r}")
    return truediv(cx, input, other)


def maximum(cx: Ctx, input: object, other: object) -> T:
    return low.binary(cx, Maximum, input, other)


def minimum(cx: Ctx, input: object, other: object) -> T:
    return low.binary(cx, Minimum, input, other)


def neg(cx: Ctx, input: T) -> T:
    return low.binary(cx, Mul, input, -1.0)


iadd = add_ = add
isub = sub_ = sub
imul = mul_ = mul
itruediv = div_ = truediv


def cat(cx: Ctx, tensors: object, dim: int = 0) -> T:
    return low.concat(cx, tensors, dim)


concat = concatenate = cat


def mean(cx: Ctx, input: T, dim: object = None, keepdim: bool = False, dtype: object = None) -> T:
    if dtype is not None:
        raise Unsupported(f"mean with dtype={dtype}")
    return low.mean(cx, input, dim, keepdim)


# -- layers as functions ----------------------------------------------------------------------
def adaptive_avg_pool2d(cx: Ctx, input: T, output_size: object) -> T:
    return low.adaptive_pool(cx, low.tensor_in(input, 4, "adaptive_avg_pool2d"), "avg",
                             output_size)


def adaptive_avg_pool1d(cx: Ctx, input: T, output_size: object) -> T:
    return low.adaptive_pool(cx, low.tensor_in(input, 3, "adaptive_avg_pool1d"), "avg",
                             output_size)


def adaptive_max_pool2d(cx: Ctx, input: T, output_size: object,
                        return_indices: bool = False) -> T:
    if return_indices:
        raise Unsupported("max pool with return_indices=True")
    return low.adaptive_pool(cx, low.tensor_in(input, 4, "adaptive_max_pool2d"), "max",
                             output_size)


def avg_pool2d(cx: Ctx, input: T, kernel_size: object, stride: object = None,
               padding: object = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: object = None) -> T:
    return low.pool(cx, low.tensor_in(input, 4, "avg_pool2d"), "avg", kernel_size, stride,
                    padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool1d(cx: Ctx, input: T, kernel_size: object, stride: object = None,
               padding: object = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> T:
    return low.pool(cx, low.tensor_in(input, 3, "avg_pool1d"), "avg", kernel_size, stride,
                    padding, ceil_mode, count_include_pad)


def max_pool2d(cx: Ctx, input: T, kernel_size: object, stride: object = None,
               padding: object = 0, dilation: object = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> T:
    if return_indices:
        raise Unsupported("max pool with return_indices=True")
    return low.pool(cx, low.tensor_in(input, 4, "max_pool2d"), "max", kernel_size, stride,
                    padding, ceil_mode, dilation=dilation)


def max_pool1d(cx: Ctx, input: T, kernel_size: object, stride: object = None,
               padding: object = 0, dilation: object = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> T:
    if return_indices:
        raise Unsupported("max pool with return_indices=True")
    return low.pool(cx, low.tensor_in(input, 3, "max_pool1d"), "max", kernel_size, stride,
                    padding, ceil_mode, dilation=dilation)


def pad(cx: Ctx, input: T, pad: object, mode: str = "constant", value: object = None) -> T:
    return low.pad(cx, input, pad, mode, value)


def linear(cx: Ctx, input: T, weight: object, bias: object = None) -> T:
    return low.linear(cx, input, weight, bias)


def conv2d(cx: Ctx, input: T, weight: object, bias: object = None, stride: object = 1,
           padding: object = 0, dilation: object = 1, groups: int = 1) -> T:
    return low.conv(cx, input, weight, bias, stride, padding, dilation, groups)


conv1d = conv2d


def batch_norm(cx: Ctx, input: T, running_mean: object, running_var: object,
               weight: object = None, bias: object = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> T:
    if training:
        raise Unsupported("batch_norm with training=True normalises with batch statistics")
    return low.batchnorm(cx, input, running_mean, running_var, weight, bias, eps)
