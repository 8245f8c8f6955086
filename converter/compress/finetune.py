"""PyTorch fine-tuning that keeps pruning masks: gradual magnitude pruning and SR-STE.

- ``Pruner``: Zhu & Gupta's gradual magnitude pruning ("To prune, or not to prune", 2017).
  Every ``interval`` steps from ``begin`` for ``pruning_steps`` steps the masks are recomputed
  from the current magnitudes at the scheduled sparsity (``prune.gradual_sparsity``), per layer
  or with one global threshold; after every optimizer step the masked weights are zeroed again.
- ``NMSparse``: SR-STE (Zhou et al., "Learning N:M Fine-grained Structured Sparse Neural
  Networks From Scratch", ICLR 2021): the forward pass uses the N:M-masked weights, the
  backward pass hands the dense weights the gradient of the sparse ones plus ``lam`` times the
  pruned weights (``g + lam * (1 - mask) * w``), the sparse-refined straight-through estimator.

Rows are the converted model's (``prune.nm_mask``): a Conv2d's ``[O, I, kh, kw]`` weight is read
as ``[O, kh, kw, I]``, the IR's layout, so the N:M pattern survives conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .channels import ir_column_orders
from .prune import CompressionError, check_nm, global_masks, gradual_sparsity, magnitude_mask

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)


def prunable(model: nn.Module, names: object = None) -> dict[str, nn.Module]:
    """The conv/linear modules of ``model`` by qualified name (only ``names``, if given; a name
    that is no such module is a CompressionError)."""
    found = {k: m for k, m in model.named_modules() if isinstance(m, PRUNABLE)}
    if names is None:
        return found
    unknown = [k for k in names if k not in found]  # type: ignore[union-attr]
    if unknown:
        raise CompressionError(f"{unknown[0]!r} is no Conv/Linear module of the model "
                               f"(its layers: {', '.join(found) or 'none'})")
    return {k: found[k] for k in names}  # type: ignore[union-attr]


def _ir_rows(w: torch.Tensor) -> torch.Tensor:
    """``w`` as the converted model's rows (channels last for convolutions)."""
    return w.permute(0, *range(2, w.dim()), 1) if w.dim() > 2 else w


def _from_ir_rows(r: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    if len(shape) <= 2:
        return r.reshape(shape)
    moved = r.reshape(shape[0], *shape[2:], shape[1])
    return moved.permute(0, moved.dim() - 1, *range(1, moved.dim() - 1))


def nm_mask_torch(w: torch.Tensor, n: int, m: int, name: str = "weights",
                  columns: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean keep-mask: the ``n`` largest magnitudes of every ``m`` consecutive weights of a
    row, rows in the converted model's layout (a Linear's ``columns``: the torch column of each
    IR column, from ``channels.ir_column_orders``)."""
    if columns is not None:
        keep = torch.empty_like(w, dtype=torch.bool)
        keep[:, columns] = nm_mask_torch(w.detach()[:, columns], n, m, name)
        return keep
    rows = _ir_rows(w.detach()).reshape(w.shape[0], -1)
    if rows.shape[1] % m:
        raise CompressionError(f"{name}: N:M sparsity {n}:{m} needs rows whose length divides "
                               f"by {m}, but its rows hold {rows.shape[1]} weights")
    grp = rows.abs().reshape(rows.shape[0], -1, m)
    idx = grp.topk(n, dim=2).indices
    keep = torch.zeros_like(grp, dtype=torch.bool).scatter_(2, idx, True)
    return _from_ir_rows(keep.reshape(rows.shape), w.shape)


class _SRSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: torch.Tensor, mask: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.save_for_backward(w, mask)
        ctx.lam = lam
        return w * mask

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        w, mask = ctx.saved_tensors
        return g + ctx.lam * (~mask) * w, None, None


class NMSparse(nn.Module):
    """A weight parametrization: N:M-masked forward, SR-STE backward."""

    def __init__(self, n: int, m: int, lam: float = 2e-4, name: str = "weights",
                 columns: torch.Tensor | None = None) -> None:
        super().__init__()
        self.n, self.m = check_nm(n, m)
        self.lam = lam
        self.name = name
        self.columns = columns

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        mask = nm_mask_torch(w, self.n, self.m, self.name, self.columns)
        return _SRSTE.apply(w, mask, self.lam)


def train_steps(model: nn.Module, x: np.ndarray, y: np.ndarray, steps: int, *,
                lr: float = 1e-3, batch: int = 64, seed: int = 0,
                after_step: Callable[[], None] | None = None,
                loss_fn: Callable | None = None) -> nn.Module:
    """``steps`` Adam steps on random batches of ``(x, y)`` (classification by default),
    calling ``after_step`` after each; deterministic for a seed. Leaves ``model`` in eval mode."""
    torch.manual_seed(seed)  # dropout and the like draw from the global generator
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (batch,), generator=gen)
        opt.zero_grad()
        loss_fn(model(xt[idx]), yt[idx]).backward()
        opt.step()
        if after_step is not None:
            after_step()
    model.eval()
    return model


class Pruner:
    """Gradual magnitude pruning of ``model``'s conv/linear weights during training.

    ``sparsity`` is the final sparsity of every layer, or a mapping from module names to it
    (only those layers are pruned). Call ``step()`` after every optimizer step: it updates the
    masks on the schedule and zeroes the pruned weights.
    """

    def __init__(self, model: nn.Module, sparsity: float | Mapping[str, float], *,
                 pruning_steps: int, begin: int = 0, interval: int = 1, initial: float = 0.0,
                 global_threshold: bool = False) -> None:
        names = list(sparsity) if isinstance(sparsity, Mapping) else None
        self.modules = prunable(model, names)
        self.final = (dict(sparsity) if isinstance(sparsity, Mapping)
                      else dict.fromkeys(self.modules, sparsity))
        if global_threshold and len(set(self.final.values())) > 1:
            raise CompressionError("a global threshold prunes every layer to one sparsity; "
                                   "give a single number")
        for s in self.final.values():
            gradual_sparsity(0, s, initial=initial, pruning_steps=pruning_steps,
                             interval=interval)  # checks the values
        self.begin, self.pruning_steps, self.interval = begin, pruning_steps, interval
        self.initial, self.global_threshold = initial, global_threshold
        self.t = 0
        self.masks = {k: torch.ones_like(m.weight, dtype=torch.bool)
                      for k, m in self.modules.items()}

    def target(self, name: str, t: int | None = None) -> float:
        """The scheduled sparsity of layer ``name`` at step ``t`` (default: the current one)."""
        return gradual_sparsity(self.t if t is None else t, self.final[name],
                                initial=self.initial, begin=self.begin,
                                pruning_steps=self.pruning_steps, interval=self.interval)

    def step(self) -> None:
        """Advance one training step: new masks when the schedule says so, then zero the pruned
        weights."""
        t = self.t - self.begin
        if 0 <= t <= self.pruning_steps and t % self.interval == 0:
            self.update_masks()
        self.apply()
        self.t += 1

    def update_masks(self) -> None:
        weights = {k: m.weight.detach().cpu().numpy() for k, m in self.modules.items()}
        if self.global_threshold:
            s = self.target(next(iter(self.final))) if self.final else 0.0
            masks = global_masks(weights, s)
        else:
            masks = {k: magnitude_mask(w, self.target(k)) for k, w in weights.items()}
        self.masks = {k: torch.from_numpy(v).to(self.modules[k].weight.device)
                      for k, v in masks.items()}

    @torch.no_grad()
    def apply(self) -> None:
        for k, m in self.modules.items():
            m.weight.mul_(self.masks[k])


def prune_and_finetune(model: nn.Module, data: tuple[np.ndarray, np.ndarray],
                       target_sparsity: float | Mapping[str, float], steps: int, *,
                       global_threshold: bool = False, ramp: float = 0.75, lr: float = 1e-3,
                       batch: int = 64, seed: int = 0) -> nn.Module:
    """Prune ``model`` gradually to ``target_sparsity`` while fine-tuning on ``data = (x, y)``
    for ``steps`` steps: the cubic schedule runs over the first ``ramp`` of the steps, masks
    updated about 20 times; the rest recovers accuracy at the final sparsity. ``model`` is
    modified and returned, its pruned weights exactly zero."""
    span = max(1, int(steps * ramp))
    pruner = Pruner(model, target_sparsity, pruning_steps=span, interval=max(1, span // 20),
                    global_threshold=global_threshold)
    pruner.update_masks()
    train_steps(model, *data, steps, lr=lr, batch=batch, seed=seed, after_step=pruner.step)
    pruner.t = span  # finish at the final sparsity whatever the step count
    pruner.update_masks()
    pruner.apply()
    return model


def sr_ste_finetune(model: nn.Module, data: tuple[np.ndarray, np.ndarray], n: int, m: int,
                    steps: int, *, layers: object = None, lam: float = 2e-4, lr: float = 1e-3,
                    batch: int = 64, seed: int = 0) -> nn.Module:
    """Train ``model`` (its conv/linear modules, or the named ``layers``) with N:M-sparse
    weights by SR-STE for ``steps`` steps on ``data = (x, y)``; returns ``model`` with the
    masks applied for good (exactly N:M sparse in the converted layout: a Linear behind a
    flatten is masked in the channels-last order the converter gives its columns)."""
    n, m = check_nm(n, m)
    mods = prunable(model, layers)
    for k, mod in mods.items():
        nm_mask_torch(mod.weight, n, m, f"layer {k}")  # every layer fits before training
    cols = ir_column_orders(model, torch.as_tensor(data[0][:1]))
    for k, mod in mods.items():
        parametrize.register_parametrization(mod, "weight",
                                             NMSparse(n, m, lam, f"layer {k}", cols.get(k)))
    try:
        train_steps(model, *data, steps, lr=lr, batch=batch, seed=seed)
    finally:
        for mod in mods.values():
            parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
    return model
