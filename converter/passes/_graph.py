"""Graph queries and edits shared by the passes (not a pass itself)."""

from __future__ import annotations

import numpy as np

from ..ir import DType, Graph, Node, Value, const


def is_output(g: Graph, v: Value) -> bool:
    return any(o is v for o in g.outputs)


def sole_consumer(g: Graph, v: Value) -> Node | None:
    """The only node reading ``v``, when exactly one does and ``v`` is not a graph output."""
    users = g.consumers(v)
    if len(users) != 1 or is_output(g, v):
        return None
    return users[0]


def remove(g: Graph, node: Node) -> None:
    g.nodes = [n for n in g.nodes if n is not node]


def bypass(g: Graph, node: Node, by: Value) -> None:
    """Drop ``node``, whose readers read ``by`` instead of its output."""
    g.replace_uses(node.outputs[0], by)
    remove(g, node)


def prune(g: Graph) -> None:
    """Remove nodes whose outputs nobody reads (dead after a rewrite)."""
    changed = True
    while changed:
        changed = False
        for n in reversed(g.nodes):
            if n.state:
                continue
            if not any(is_output(g, o) or g.consumers(o) for o in n.outputs):
                remove(g, n)
                changed = True
                break


def aliases_io(g: Graph, a: Value, b: Value) -> bool:
    """True when replacing ``b`` by ``a`` would make a graph output alias a graph boundary value."""
    boundary = any(v is a for v in g.inputs) or is_output(g, a)
    return boundary and is_output(g, b)


def per_channel(v: Value, channels: int) -> np.ndarray | None:
    """``v``'s data as a (channels,) vector when it is a float constant broadcasting over the last
    axis only (shape (), (1,), (C,), (1, ..., 1, C) or all ones); else None."""
    if not v.is_const or v.dtype is not DType.f32:
        return None
    shape = list(v.shape)
    while shape and shape[0] == 1:
        shape.pop(0)
    if shape not in ([], [channels]):
        return None
    return np.broadcast_to(v.data.reshape(-1), (channels,)).astype(np.float32)


def split_const(node: Node) -> tuple[Value, Value, int] | None:
    """(activation, constant, index of the constant) of a binary node with one constant input."""
    a, b = node.inputs
    if b.is_const and not a.is_const:
        return a, b, 1
    if a.is_const and not b.is_const:
        return b, a, 0
    return None


def new_const(g: Graph, like: Value, data: np.ndarray) -> Value:
    """A constant replacing ``like``: its name when nothing else reads it, else a fresh one."""
    users = sum(1 for n in g.nodes for i in n.inputs if i is like)
    name = like.name if users <= 1 else g.unique_name(like.name)
    return const(name, np.asarray(data, like.dtype.np), like.dtype)
