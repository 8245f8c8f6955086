"""The integer reference interpreter: runs a Graph in numpy, node by node, with each op's ``ref``.

For a quantized graph this *is* the answer every backend must reproduce bit for bit. It runs a
whole batch at once (every op's reference accepts any size in dimension 0) and can return every
intermediate tensor for layer-by-layer comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .ir import Graph, IRError, Value


def run(graph: Graph, inputs: Sequence[np.ndarray], *,
        keep_all: bool = False) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Run ``graph`` on ``inputs`` (one array per graph input, batch first, the input's dtype).

    Returns ``(outputs, tensors)``; ``tensors`` maps value names to arrays and is filled only with
    ``keep_all=True``.
    """
    if len(inputs) != len(graph.inputs):
        raise IRError(f"graph {graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    env: dict[int, np.ndarray] = {}
    for v, x in zip(graph.inputs, inputs, strict=True):
        env[id(v)] = _check_input(v, np.asarray(x))
    for node in graph.nodes:
        args = [v.data if v.is_const else env[id(v)] for v in node.inputs]
        outs = node.ref(args)
        for v, y in zip(node.outputs, outs, strict=True):
            if y.dtype != v.dtype.np or tuple(y.shape[1:]) != tuple(v.shape[1:]):
                raise IRError(f"{node.name}: reference produced {y.dtype}{list(y.shape)}, "
                              f"value {v.name} is {v.dtype.value}{list(v.shape)}")
            env[id(v)] = y
    outputs = [v.data if v.is_const else env[id(v)] for v in graph.outputs]
    tensors = {}
    if keep_all:
        tensors = {v.name: env[id(v)] for v in graph.values() if id(v) in env}
    return outputs, tensors


def _check_input(v: Value, x: np.ndarray) -> np.ndarray:
    if tuple(x.shape[1:]) != tuple(v.shape[1:]):
        raise IRError(f"input {v.name} expects shape [batch, {', '.join(map(str, v.shape[1:]))}], "
                      f"got {list(x.shape)}")
    if x.dtype != v.dtype.np:
        raise IRError(f"input {v.name} expects {v.dtype.np}, got {x.dtype}")
    return x
