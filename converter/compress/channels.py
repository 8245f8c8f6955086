"""Structured channel pruning of torch modules: output channels really removed.

Filters are ranked by the L1 norm of their weights (Li et al., "Pruning Filters for Efficient
ConvNets", ICLR 2017) and the weakest ``amount`` of each prunable layer are removed: the rows of
the producing Conv/Linear (and its bias), the matching entries of any BatchNorm after it, and
the matching input channels of every layer that reads them (for a Linear behind a flatten, the
``in_features / C`` features of each removed channel).

A layer is prunable when ``torch.fx`` shows that its output reaches only channel-wise ops
(BatchNorm, activations, pooling, dropout, a flatten from dim 1) and then Conv/Linear inputs.
An output that meets a residual add, a concat, the model's output or anything else is left
alone, so the tensors an add joins keep all their channels and stay consistent. The pruned
model computes exactly what the original did when the removed channels' outputs were zero
(weights and bias zero, BatchNorm shift zero); otherwise it is an approximation to fine-tune.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from .prune import CompressionError, check_sparsity

_CONVS = (nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish,
                nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.ELU, nn.Dropout, nn.Identity)
_SPATIAL = (nn.Dropout1d, nn.Dropout2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
            nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d,
            nn.AdaptiveMaxPool2d)
FUNCTIONS = {F.relu, torch.relu, F.relu6, F.leaky_relu, torch.sigmoid, torch.tanh, F.hardtanh,
              F.hardswish, F.silu, F.gelu, F.dropout}
SPATIAL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, F.avg_pool1d, F.avg_pool2d,
                      F.adaptive_avg_pool1d, F.adaptive_avg_pool2d}
METHODS = {"relu", "sigmoid", "tanh", "contiguous"}


@dataclass
class _Chain:
    """The modules one layer's output channels run through."""

    norms: list[str] = field(default_factory=list)
    convs: list[str] = field(default_factory=list)  # read the channels as input channels
    linears: list[tuple[str, bool]] = field(default_factory=list)  # (name, after a flatten)


def prunable_layers(model: nn.Module) -> dict[str, _Chain]:
    """The Conv/Linear modules of ``model`` whose output channels can be removed, with the
    modules that read them (module name -> chain)."""
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as e:
        raise CompressionError(f"channel pruning needs a model torch.fx can trace: {e}") from e
    mods = dict(gm.named_modules())
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    out = {}
    for node in gm.graph.nodes:
        if node.op != "call_module" or calls[node.target] != 1:
            continue
        m = mods[node.target]
        if (isinstance(m, _CONVS) and m.groups != 1) or not isinstance(m, (*_CONVS, nn.Linear)):
            continue
        chain = _Chain()
        if _follow(node, mods, calls, chain, flat=isinstance(m, nn.Linear)) and (
                chain.convs or chain.linears):
            out[node.target] = chain
    return out


def _follow(node: torch.fx.Node, mods: dict, calls: dict, chain: _Chain, flat: bool) -> bool:
    """Walk every user of ``node``; False when one is not channel-wise or a channel reader."""
    for u in node.users:
        first = bool(u.args) and u.args[0] is node and all(
            a is not node for a in [*u.args[1:], *u.kwargs.values()])
        if not first:
            return False
        if u.op == "call_module":
            m = mods[u.target]
            if calls[u.target] != 1:
                return False
            if isinstance(m, _NORMS):
                chain.norms.append(u.target)
                ok = _follow(u, mods, calls, chain, flat)
            elif isinstance(m, ELEMENTWISE) or (isinstance(m, _SPATIAL) and not flat):
                ok = _follow(u, mods, calls, chain, flat)
            elif isinstance(m, _CONVS) and m.groups == 1 and not flat:
                chain.convs.append(u.target)
                ok = True
            elif isinstance(m, nn.Linear) and flat:
                chain.linears.append((u.target, True))
                ok = True
            elif isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
                ok = _follow(u, mods, calls, chain, True)
            else:
                ok = False
        elif u.op == "call_function":
            if u.target in FUNCTIONS or (u.target in SPATIAL_FUNCTIONS and not flat):
                ok = _follow(u, mods, calls, chain, flat)
            elif u.target is torch.flatten and _flattens_from_1(u):
                ok = _follow(u, mods, calls, chain, True)
            else:
                ok = False  # operator.add (residual), torch.cat, ...
        elif u.op == "call_method" and u.target in METHODS:
            ok = _follow(u, mods, calls, chain, flat)
        elif u.op == "call_method" and u.target == "flatten" and _flattens_from_1(u):
            ok = _follow(u, mods, calls, chain, True)
        else:
            ok = False
        if not ok:
            return False
    return True


def _flattens_from_1(u: torch.fx.Node) -> bool:
    start = u.args[1] if len(u.args) > 1 else u.kwargs.get("start_dim", 0)
    end = u.args[2] if len(u.args) > 2 else u.kwargs.get("end_dim", -1)
    return start == 1 and end == -1


def ir_column_orders(model: nn.Module, example: torch.Tensor) -> dict[str, torch.Tensor]:
    """For each Linear that reads a flattened ``[N, C, *S]`` tensor, the order in which the
    converted model's Dense holds its input features: torch's feature ``c * |S| + s`` moves
    to the IR's channels-last position (``s * C + c``), and entry ``j`` of the result is the
    torch column the IR's column ``j`` holds. Needs ``torch.fx``; other Linears keep their
    order (absent from the result)."""
    from torch.fx.passes.shape_prop import ShapeProp

    gm = torch.fx.symbolic_trace(model)
    ShapeProp(gm).propagate(example)
    mods = dict(gm.named_modules())
    out = {}
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(mods[node.target], nn.Linear):
            continue
        src = node.args[0]
        while _channelwise(src, mods):
            src = src.args[0]
        if not _is_flatten(src, mods):
            continue
        shape = tuple(src.args[0].meta["tensor_meta"].shape)[1:]
        if len(shape) in (2, 3):
            idx = torch.arange(int(torch.tensor(shape).prod())).reshape(shape)
            out[node.target] = idx.movedim(0, -1).reshape(-1)
    return out


def _channelwise(n: object, mods: dict) -> bool:
    if not isinstance(n, torch.fx.Node) or not n.args:
        return False
    if n.op == "call_module":
        return isinstance(mods[n.target], ELEMENTWISE)
    return (n.op == "call_function" and n.target in FUNCTIONS) or (
        n.op == "call_method" and n.target in METHODS)


def _is_flatten(n: object, mods: dict) -> bool:
    if not isinstance(n, torch.fx.Node):
        return False
    if n.op == "call_module":
        m = mods[n.target]
        return isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1
    if (n.op == "call_function" and n.target is torch.flatten) or (
            n.op == "call_method" and n.target == "flatten"):
        return _flattens_from_1(n)
    return False


def filter_norms(module: nn.Module) -> torch.Tensor:
    """L1 norm of each output channel's weights."""
    w = module.weight.detach()
    return w.abs().reshape(w.shape[0], -1).sum(dim=1)


def prune_channels(model: nn.Module, amount: float | Mapping[str, float]) -> nn.Module:
    """A copy of ``model`` with the weakest ``amount`` (a fraction, rounded down, at least one
    channel kept) of the output channels of every prunable Conv/Linear removed, or per layer
    with a mapping from module names to fractions (naming a layer that cannot be pruned is a
    CompressionError that says why). ``model`` is not modified."""
    chains = prunable_layers(model)
    if isinstance(amount, Mapping):
        for k in amount:
            if k not in chains:
                known = ", ".join(chains) or "none"
                raise CompressionError(f"cannot prune the channels of {k!r}: it is not a "
                                       f"Conv/Linear whose outputs only reach other layers' "
                                       f"inputs through channel-wise ops (prunable: {known})")
        amounts = {k: check_sparsity(v, f"amount[{k!r}]") for k, v in amount.items()}
    else:
        a = check_sparsity(amount, "amount")
        amounts = dict.fromkeys(chains, a)
    new = copy.deepcopy(model)
    mods = dict(new.named_modules())
    out_keep: dict[str, torch.Tensor] = {}
    in_keep: dict[str, torch.Tensor] = {}
    for name, a in amounts.items():
        layer = mods[name]
        c = layer.weight.shape[0]
        drop = min(int(a * c), c - 1)
        if drop == 0:
            continue
        keep = torch.sort(torch.argsort(filter_norms(layer), descending=True,
                                        stable=True)[:c - drop]).values
        out_keep[name] = keep
        chain = chains[name]
        for bn in chain.norms:
            _slice_norm(mods[bn], keep)
        for conv in chain.convs:
            in_keep[conv] = keep
        for lin, _ in chain.linears:
            per = mods[lin].in_features // c
            in_keep[lin] = (keep[:, None] * per + torch.arange(per)[None, :]).reshape(-1)
    for name in {*out_keep, *in_keep}:
        _slice_layer(mods[name], out_keep.get(name), in_keep.get(name))
    return new


@torch.no_grad()
def _slice_layer(m: nn.Module, out: torch.Tensor | None, inp: torch.Tensor | None) -> None:
    w = m.weight
    if out is not None:
        w = w[out]
        if m.bias is not None:
            m.bias = nn.Parameter(m.bias[out].clone())
    if inp is not None:
        w = w[:, inp]
    m.weight = nn.Parameter(w.clone())
    if isinstance(m, nn.Linear):
        m.out_features, m.in_features = w.shape
    else:
        m.out_channels, m.in_channels = w.shape[:2]


@torch.no_grad()
def _slice_norm(bn: nn.Module, keep: torch.Tensor) -> None:
    if bn.affine:
        bn.weight = nn.Parameter(bn.weight[keep].clone())
        bn.bias = nn.Parameter(bn.bias[keep].clone())
    if bn.running_mean is not None:
        bn.running_mean = bn.running_mean[keep].clone()
        bn.running_var = bn.running_var[keep].clone()
    bn.num_features = int(keep.numel())


def parameter_count(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())

