"""fold_pad_into_conv: a zero Pad of the spatial dims read only by convolutions becomes part of
their padding (a convolution pads with zeros itself, so the result is the same). Pools keep their
Pad: they exclude padding from their windows, while a Pad node's zeros are counted."""

from __future__ import annotations

from dataclasses import replace

from ..ir import DType, Graph
from ..ops.conv import Conv2d, DepthwiseConv2d
from ..ops.shape import Pad
from ._graph import is_output, remove


def fold_pad_into_conv(graph: Graph) -> Graph:
    g = graph.copy()
    for p in list(g.nodes):
        if not isinstance(p, Pad) or p.inputs[0].dtype is not DType.f32 or len(p.pads) != 4:
            continue
        (n0, n1), (t, b), (l, r), (c0, c1) = p.pads
        y = p.outputs[0]
        users = g.consumers(y)
        if (n0, n1, c0, c1) != (0, 0, 0, 0) or is_output(g, y) or not users or not all(
                isinstance(u, (Conv2d, DepthwiseConv2d)) and u.inputs[0] is y
                and y not in u.inputs[1:] for u in users):
            continue
        for u in users:
            q = u.padding
            u.padding = replace(q, top=q.top + t, bottom=q.bottom + b, left=q.left + l,
                                right=q.right + r)
            u.inputs = [p.inputs[0], *u.inputs[1:]]
        remove(g, p)
    return g
