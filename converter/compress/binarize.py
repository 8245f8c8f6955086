"""Turn a float PyTorch model into a binary or ternary one for training: every ``nn.Linear`` and
``nn.Conv2d`` (groups 1) becomes the matching layer of ``converter.nn``, except the first and the
last, which stay as they are and so convert to int8 (binary networks lose the most accuracy in
those two layers: the first sees the raw input, the last produces the logits; BinaryNet,
XNOR-Net and Larq's zoo all keep them at higher precision).

    bnn = make_binary(float_model)                   # hidden layers binary, first/last int8
    tnn = make_binary(float_model, ternary=True, input_threshold=0.3)
    train_binary(bnn, images, labels, epochs=10, lr=1e-3)

"First" and "last" are in the order the model calls its layers (``torch.fx`` traces it), or the
order they were registered in when it cannot be traced. The latent weights start as the float
weights (so a trained float model is a good start, as in the literature's two-stage recipe); a
copy is returned and ``model`` is left untouched. Grouped and depthwise convolutions have no
binary form here and stay float, as do layers of other types.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..encoding import PackedRows
from ..nn import BinaryConv2d, BinaryLinear, TernaryConv2d, TernaryLinear, check_estimator
from ..ops.binary import BinaryDense


def make_binary(model: nn.Module, *, ternary: bool = False, estimator: str = "ste",
             keep_first: bool = True, keep_last: bool = True, pad_value: float = 0.0,
             input_threshold: float = 0.5) -> nn.Module:
    """A copy of ``model`` whose Linear/Conv2d layers are binary (or ternary) ones, the first
    and last kept unless ``keep_first``/``keep_last`` is False (see the module doc).
    ``pad_value`` is the binary convolutions' (``BinaryConv2d``), ``input_threshold`` the
    ternary layers' input dead zone."""
    check_estimator(estimator)
    out = copy.deepcopy(model)
    names = _call_order(out)
    if not names:
        raise ValueError("make_binary: the model has no nn.Linear or nn.Conv2d (groups=1) layer")
    keep = set()
    if keep_first:
        keep.add(names[0])
    if keep_last:
        keep.add(names[-1])
    for name in names:
        if name not in keep:
            _replace(out, name, _quantized(out.get_submodule(name), ternary, estimator, pad_value,
                                           input_threshold))
    return out


def _convertible(m: nn.Module) -> bool:
    return type(m) is nn.Linear or (type(m) is nn.Conv2d and m.groups == 1
                                    and m.padding_mode == "zeros")


def _call_order(model: nn.Module) -> list[str]:
    """Qualified names of the convertible layers, in call order when torch.fx can trace."""
    registered = [k for k, m in model.named_modules() if _convertible(m)]
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:  # any tracing failure: fall back to registration order
        return registered
    called = [n.target for n in graph.nodes if n.op == "call_module"]
    order = [k for k in dict.fromkeys(called) if k in registered]
    return order + [k for k in registered if k not in order]  # defined, never called: at the end


def _quantized(m: nn.Module, ternary: bool, estimator: str, pad_value: float,
               input_threshold: float) -> nn.Module:
    bias = m.bias is not None
    kw = {"device": m.weight.device, "dtype": m.weight.dtype, "estimator": estimator}
    if ternary:
        kw["input_threshold"] = input_threshold
    if isinstance(m, nn.Linear):
        cls = TernaryLinear if ternary else BinaryLinear
        q = cls(m.in_features, m.out_features, bias=bias, **kw)
    else:
        if not ternary:
            kw["pad_value"] = pad_value
        cls = TernaryConv2d if ternary else BinaryConv2d
        q = cls(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                dilation=m.dilation, bias=bias, **kw)
    with torch.no_grad():
        q.weight.copy_(m.weight)
        if bias:
            q.bias.copy_(m.bias)
    q.train(m.training)
    return q


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def row_kernel_storage(graph) -> dict[str, PackedRows]:
    """A ``convert(..., storage=...)`` mapping that keeps every BinaryDense layer of a
    converted ``graph`` on the row kernel (``PackedRows(blocks=False)``): no arena scratch,
    for boards whose RAM cannot hold the block kernel's index list (2 B an input).

        proj = convert(model, calibration=x)
        proj = convert(model, calibration=x, storage=row_kernel_storage(proj.graph))
    """
    return {n.name: PackedRows(blocks=False) for n in graph.nodes if isinstance(n, BinaryDense)}
