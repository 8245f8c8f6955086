"""Compression of float weights before quantization.

- ``prune``: magnitude pruning (per layer and global), Zhu & Gupta's gradual schedule, N:M masks;
- ``cluster``: k-means weight clustering (per layer or per channel);
- ``finetune``: PyTorch helpers that keep masks during training (gradual pruning, SR-STE);
- ``binary``: ``train_binary``, the training loop for the binary/ternary layers of ``converter.nn``
  (ReSTE's ``o`` schedule, latent-weight clipping);
- ``binarize``: ``make_binary``, a float model's hidden Linear/Conv2d layers made binary or
  ternary (the first and last kept: they convert to int8);
- ``channels``: structured channel pruning of torch modules (torch.fx);
- ``graph``: the ``convert()`` options (``sparsity``, ``nm``, ``clusters``, ``weight_bits``)
  applied to a float and a quantized Graph;
- ``budget``: mixed precision under a flash budget (per-layer weight dtypes by integer
  programming).
"""

from __future__ import annotations

from .cluster import cluster_weights, kmeans_1d
from .prune import (
    CompressionError,
    global_masks,
    gradual_sparsity,
    magnitude_mask,
    nm_mask,
)

__all__ = ["CompressionError", "cluster_weights", "global_masks", "gradual_sparsity", "kmeans_1d",
           "magnitude_mask", "nm_mask"]
