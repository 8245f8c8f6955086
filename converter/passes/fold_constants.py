"""fold_constants: a node whose inputs are all constants is evaluated once, with its float or
integer reference, and replaced by constants holding its outputs."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, IRError, Value
from ._graph import remove


def fold_constants(graph: Graph) -> Graph:
    g = graph.copy()
    for n in list(g.nodes):
        if n.state or not n.inputs or not all(v.is_const for v in n.inputs):
            continue
        try:
            ys = n.ref([v.data for v in n.inputs])
        except (NotImplementedError, IRError):
            continue  # no reference for this dtype yet: keep the node
        if any(tuple(np.shape(y)) != tuple(v.shape) for y, v in zip(ys, n.outputs, strict=True)):
            continue  # an op whose reference assumes a batched activation: leave it
        for y, v in zip(ys, n.outputs, strict=True):
            g.replace_uses(v, Value(v.name, v.shape, v.dtype, v.quant, np.asarray(y, v.dtype.np)))
        remove(g, n)
    return g
