"""remove_redundant_reshapes: a Reshape of a Reshape reads the first one's input (the middle one
dies if unused), and a Reshape to its input's own shape is dropped."""

from __future__ import annotations

from ..ir import Graph
from ..ops.shape import Reshape
from ._graph import aliases_io, bypass, prune


def remove_redundant_reshapes(graph: Graph) -> Graph:
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for r in g.nodes:
            if not isinstance(r, Reshape):
                continue
            q = g.producer(r.inputs[0])
            if isinstance(q, Reshape):
                r.inputs = [q.inputs[0]]
                prune(g)
                changed = True
                break
            x, y = r.inputs[0], r.outputs[0]
            if tuple(x.shape) == tuple(y.shape) and not aliases_io(g, x, y):
                bypass(g, r, x)
                changed = True
                break
    return g
