"""The frontend's own check: the IR graph's float reference must reproduce torch on the example.

This is the one place where float framework output meets the float reference, so it is the one
place with a tolerance: ``|ir - torch| <= rtol * (|torch| + max|torch|)`` elementwise, i.e.
relative to each element and to the tensor's scale (float32 sums in another order differ by a few
ulps of the largest terms, which can exceed a purely elementwise bound near zero).
"""

from __future__ import annotations

import numpy as np
import torch

from ..ir import Graph
from ..reference import run
from .torch_context import T, layout_of

RTOL = 1e-4


class ImportMismatchError(AssertionError):
    """The imported graph disagrees with torch on the example: a frontend bug."""


def flatten(a: object) -> list[object]:
    """Leaves of nested tuples, lists and dicts, in order (how fx and torch return outputs)."""
    if isinstance(a, (tuple, list)):
        return [leaf for e in a for leaf in flatten(e)]
    if isinstance(a, dict):
        return [leaf for e in a.values() for leaf in flatten(e)]
    return [a]


def close(got: np.ndarray, want: np.ndarray, rtol: float = RTOL) -> bool:
    if got.shape != want.shape:
        return False
    scale = float(np.abs(want).max()) if want.size else 0.0
    return bool(np.all(np.abs(got.astype(np.float64) - want) <= rtol * (np.abs(want) + scale)
                       + 1e-30))


def check_against_torch(graph: Graph, examples: list[torch.Tensor], outs: list[T],
                        expected: object, trail: list[tuple[str, T, torch.Tensor]]) -> None:
    """Raise ImportMismatchError naming the first output (and node) that disagrees."""
    xs = [layout_of(x.ndim).to_ir(x.numpy()) for x in examples]
    got, tensors = run(graph, xs, keep_all=True)
    want = [w for w in flatten(expected) if isinstance(w, torch.Tensor)]
    if len(want) != len(got):
        raise ImportMismatchError(f"imported graph {graph.name!r} has {len(got)} outputs, the "
                                  f"model returns {len(want)} tensors. This is a frontend bug.")
    for i, (g, w, t) in enumerate(zip(got, want, outs, strict=False)):
        w = w.detach().numpy().astype(np.float64)
        g = layout_of(t.rank).from_ir(np.asarray(g))
        if not close(g, w):
            raise ImportMismatchError(
                f"imported graph {graph.name!r} disagrees with torch on output {i} "
                f"({graph.outputs[i].name}): max |diff| {_maxdiff(g, w)} (torch max "
                f"{np.abs(w).max():.4g}){_first_bad_node(tensors, trail)}. This is a frontend bug.")


def _maxdiff(g: np.ndarray, w: np.ndarray) -> str:
    if g.shape != w.shape:
        return f"n/a: shape {list(g.shape)} vs {list(w.shape)}"
    return f"{np.abs(g - w).max():.4g}"


def _first_bad_node(tensors: dict[str, np.ndarray], trail: list) -> str:
    for name, t, value in trail:
        if t.value.name not in tensors:
            continue
        g = layout_of(t.rank).from_ir(tensors[t.value.name])
        if not close(g, value.detach().numpy().astype(np.float64)):
            return f"; the first node that disagrees is {name} (IR value {t.value.name})"
    return ""
