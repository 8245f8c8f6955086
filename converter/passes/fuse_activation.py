"""fuse_activation: a Relu/Relu6 node folded into its producer's output clamp (``act``).

Allowed when the producer has an ``act`` field (Conv2d, DepthwiseConv2d, Dense, Add, Sub, Mul,
AvgPool2d, MaxPool2d), nothing else reads the producer's output and it is not a graph output.
Clamps compose: relu(relu6(y)) = relu6(relu(y)) = relu6(y), so a producer that already clamps
with RELU or RELU6 absorbs the other as RELU6.
"""

from __future__ import annotations

from ..ir import Act, Graph
from ..ops.act import Relu, Relu6
from ..ops.conv import Conv2d, DepthwiseConv2d
from ..ops.dense import Dense
from ..ops.eltwise import Add, Mul, Sub
from ..ops.pool import AvgPool2d, MaxPool2d
from ._graph import bypass, sole_consumer

_FUSABLE = (Conv2d, DepthwiseConv2d, Dense, Add, Sub, Mul, AvgPool2d, MaxPool2d)
_CLAMPS = {Relu: Act.RELU, Relu6: Act.RELU6}


def _compose(inner: Act, outer: Act) -> Act | None:
    if inner is Act.NONE:
        return outer
    if inner in (Act.RELU, Act.RELU6) and outer in (Act.RELU, Act.RELU6):
        return Act.RELU6 if Act.RELU6 in (inner, outer) else Act.RELU
    return None


def fuse_activation(graph: Graph) -> Graph:
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for r in g.nodes:
            act = _CLAMPS.get(type(r))
            p = g.producer(r.inputs[0]) if act else None
            if not isinstance(p, _FUSABLE) or sole_consumer(g, r.inputs[0]) is not r:
                continue
            fused = _compose(p.act, act)
            if fused is None:
                continue
            p.act = fused
            bypass(g, r, p.outputs[0])
            changed = True
            break
    return g
