"""Training binary and ternary networks (the layers of ``converter.nn``).

``train_binary`` is a plain classification loop with what these networks need on top of the
float recipe:

- Adam with a cosine learning rate falling to 0 (after an optional linear warm-up);
- ReSTE's ``o`` raised every step from 1 to ``o_end`` along the authors' quarter-cosine
  (``nn.reste_o_schedule``) on the layers trained with ``estimator="reste"``;
- the latent weights of the binary/ternary layers clipped to ``[-clip_weights, clip_weights]``
  after every step (BinaryNet, Hubara et al. 2016; Larq's ``weight_clip``): beyond 1 the clipped
  STE passes no gradient, so an unclipped weight that drifted there would never flip back;
- an optional ``augment(batch, generator)`` applied to every training batch;
- optional distillation from a trained ``teacher`` (Hinton et al. 2015): the loss is
  ``(1 - distill) * CE(student, labels) + distill * T^2 * KL(softmax(teacher / T) ||
  softmax(student / T))`` on the same (augmented) batch. A binary student learns more from a float
  network's soft targets than from labels alone: on the 8,000 MNIST training images a binary CNN
  distilled from the float CNN of the same shape stays within half a point of it
  (benchmarks/binary_mnist.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..nn import quantized_modules, reste_o_schedule

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The learning-rate factor at ``step`` of ``total``: linear from 0 over ``warmup`` steps,
    then a cosine from 1 to 0."""
    if step < warmup:
        return (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(p, 1.0)))


def train_binary(model: nn.Module, images: np.ndarray, labels: np.ndarray, *, epochs: int,
                 lr: float, batch: int = 64, seed: int = 0, warmup: float = 0.0,
                 o_end: float = 3.0, clip_weights: float | None = 1.0,
                 weight_decay: float = 0.0, augment: Augment | None = None,
                 teacher: nn.Module | None = None, distill: float = 0.5,
                 temperature: float = 1.0, progress: bool = True) -> nn.Module:
    """Train ``model`` on ``(images, labels)`` (cross-entropy on its logits) for ``epochs``
    epochs of shuffled batches; ``warmup`` is the fraction of the steps spent warming up. With a
    ``teacher`` (run in eval mode, not trained), ``distill`` in [0, 1] weighs its soft targets at
    ``temperature`` against the labels. Deterministic for a seed and thread count. Returns
    ``model`` in eval mode."""
    if epochs < 1 or batch < 1 or not lr > 0:
        raise ValueError(f"epochs and batch must be >= 1 and lr > 0, got epochs={epochs}, "
                         f"batch={batch}, lr={lr}")
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {warmup}")
    if not o_end >= 1.0:
        raise ValueError(f"ReSTE's o_end must be >= 1, got {o_end}")
    if not 0.0 <= distill <= 1.0 or not temperature > 0:
        raise ValueError(f"distill is a weight in [0, 1] and temperature > 0, got distill="
                         f"{distill}, temperature={temperature}")
    if teacher is not None:
        teacher.eval()
    torch.manual_seed(seed)  # dropout and initial draws from the global generator
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(images), torch.as_tensor(labels)
    quantized = quantized_modules(model)
    reste = [m for m in quantized.values() if m.estimator == "reste"]
    per_epoch = (len(xt) + batch - 1) // batch
    total = epochs * per_epoch
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    warm = int(warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, warm))
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    step = 0
    bar = tqdm(range(epochs), desc="train_binary", disable=not progress, leave=False)
    for _ in bar:
        perm = torch.randperm(len(xt), generator=gen)
        running = 0.0
        for i in range(0, len(xt), batch):
            o = reste_o_schedule(step / max(1, total - 1), o_end)
            for m in reste:
                m.reste_o = o
            idx = perm[i:i + batch]
            x = xt[idx] if augment is None else augment(xt[idx], gen)
            opt.zero_grad()
            logits = model(x)
            loss = loss_fn(logits, yt[idx])
            if teacher is not None:
                loss = (1.0 - distill) * loss + distill * _soft_loss(logits, teacher, x,
                                                                    temperature)
            loss.backward()
            opt.step()
            sched.step()
            if clip_weights is not None:
                with torch.no_grad():
                    for m in quantized.values():
                        m.weight.clamp_(-clip_weights, clip_weights)
            running += loss.item()
            step += 1
        bar.set_postfix(loss=f"{running / per_epoch:.4f}",
                        o=f"{reste[0].reste_o:.2f}" if reste else "-")
    model.eval()
    return model


def _soft_loss(logits: torch.Tensor, teacher: nn.Module, x: torch.Tensor,
               temperature: float) -> torch.Tensor:
    """``T^2 KL(softmax(teacher(x) / T) || softmax(logits / T))``, batch mean; the ``T^2`` keeps
    its gradients the size of the labels' term whatever ``T`` (Hinton et al. 2015)."""
    with torch.no_grad():
        target = F.log_softmax(teacher(x) / temperature, dim=1)
    own = F.log_softmax(logits / temperature, dim=1)
    kl = F.kl_div(own, target, reduction="batchmean", log_target=True)
    return temperature * temperature * kl
