"""State shared by the torch handlers: tensors with their torch shape, node emission, and the
bookkeeping between torch's channels-first layouts and the IR's channels-last one.

A torch tensor of rank 4 ``[N, C, H, W]`` lives in the IR as ``[N, H, W, C]``; a rank-3 tensor
``[N, C, L]`` as ``[N, 1, L, C]`` (so 1-D convolutions are 2-D ones of height 1); other ranks keep
torch's order. Torch dim ``d`` therefore maps to IR axis ``AXES[rank][d]``. An op whose meaning
depends on element order (reshape, permute, rank-changing broadcasts) is lowered in torch order:
``to_torch`` transposes to it, the op runs, ``from_torch`` transposes back. The transposes this
leaves behind are removed by the passes (size-1 moves become reshapes, pairs cancel, a flatten
into a Dense is absorbed by its weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import DType, Graph, Names, Node, Value, const, make_node
from ..layout import Layout
from ..ops.shape import Reshape, Transpose

# torch dim -> IR axis, for the ranks whose layout differs from torch's.
AXES = {4: (0, 3, 1, 2), 3: (0, 3, 2)}


class Unsupported(Exception):
    """A layer, function or argument the IR cannot express; the message says why."""


def layout_of(rank: int) -> Layout:
    return {4: Layout.NCHW, 3: Layout.NCL}.get(rank, Layout.FLAT)


def ir_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return layout_of(len(shape)).ir_shape(tuple(shape))


def ir_axis(rank: int, dim: int) -> int:
    """IR axis of torch dim ``dim`` (negative dims count from the end, as in torch)."""
    if not isinstance(dim, int) or not -rank <= dim < rank:
        raise Unsupported(f"dim {dim!r} is not a valid dim of a {rank}-D tensor")
    d = dim % rank
    return AXES[rank][d] if rank in AXES else d


@dataclass
class T:
    """A tensor computed from the model input: its IR value and its torch shape (batch 1)."""

    value: Value
    shape: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)


class Ctx:
    """Appends nodes to the graph under construction, naming them after the torch node."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.names = Names()
        self.base = ""
        self.out_shape: tuple[int, ...] = ()
        self.emitted: list[Node] = []

    def unique(self, base: str) -> str:
        return self.names.fresh(base)

    def begin(self, base: str, out_shape: tuple[int, ...]) -> None:
        """Start one torch node: ``base`` names its final IR node, ``out_shape`` is torch's."""
        self.base = self.unique(base)
        self.out_shape = tuple(out_shape)
        self.emitted = []

    def finish(self, t: T) -> None:
        """Give the node that produced ``t`` the torch node's own name."""
        for node in self.emitted:
            if node.outputs and node.outputs[0] is t.value:
                node.name = t.value.name = self.base
                return

    # -- emission --------------------------------------------------------------------------
    def emit(self, cls: type[Node], inputs: list[Value], suffix: str | None = None,
             **attrs: object) -> Value:
        name = self.unique(f"{self.base}.{suffix or cls.__name__.lower()}")
        node = make_node(cls, name, inputs, [name], **attrs)
        self.graph.nodes.append(node)
        self.emitted.append(node)
        return node.outputs[0]

    def emit_outputs(self, cls: type[Node], inputs: list[Value], suffix: str | None = None,
                     **attrs: object) -> list[Value]:
        """A node with several outputs (a split), named like ``emit``'s; its values are
        ``<node>.0``, ``<node>.1``, ..."""
        name = self.unique(f"{self.base}.{suffix or cls.__name__.lower()}")
        node = cls(name=name, inputs=list(inputs), outputs=[], **attrs)
        node.outputs = [Value(self.unique(f"{name}.{i}"), shape, dtype)
                        for i, (shape, dtype) in enumerate(node.infer())]
        self.graph.nodes.append(node)
        self.emitted.append(node)
        return node.outputs

    def const(self, suffix: str, data: np.ndarray) -> Value:
        return const(self.unique(f"{self.base}.{suffix}"), np.asarray(data, np.float32), DType.f32)

    def placeholder(self, name: str, shape: tuple[int, ...]) -> T:
        """A value nothing produces: a graph input, or the stand-in for an unsupported node."""
        return T(Value(self.unique(name), ir_shape(shape), DType.f32), tuple(shape))

    # -- layout ----------------------------------------------------------------------------
    def to_torch(self, t: T) -> Value:
        """An IR value holding ``t`` in torch's element order and shape."""
        if t.rank not in AXES:
            return t.value
        v = self.emit(Transpose, [t.value], "to_nchw", perm=(0, 3, 1, 2))
        if t.rank == 3:  # [N, C, 1, L] -> [N, C, L]
            v = self.emit(Reshape, [v], "to_ncl", shape=t.shape)
        return v

    def from_torch(self, v: Value, shape: tuple[int, ...]) -> T:
        """The inverse of ``to_torch``: ``v`` holds a torch-ordered tensor of ``shape``."""
        shape = tuple(shape)
        if len(shape) == 3:
            n, c, length = shape
            v = self.emit(Reshape, [v], "from_ncl", shape=(n, c, 1, length))
        if len(shape) in AXES:
            v = self.emit(Transpose, [v], "to_nhwc", perm=(0, 2, 3, 1))
        return T(v, shape)

    def reshape(self, t: T, shape: tuple[int, ...]) -> T:
        """torch's view/reshape (element order of torch's contiguous layout)."""
        shape = tuple(shape)
        if shape == t.shape:
            return t
        if t.rank not in AXES and len(shape) not in AXES:
            return T(self.emit(Reshape, [t.value], shape=shape), shape)
        v = self.to_torch(t)
        if tuple(v.shape) != shape:
            v = self.emit(Reshape, [v], shape=shape)
        return self.from_torch(v, shape)

    def operand(self, c: object, rank: int) -> Value:
        """A constant operand of a broadcasting op whose result has torch rank ``rank``.

        The constant is padded to that rank, moved to the IR layout and stripped of leading unit
        dims again, so it broadcasts like torch's.
        """
        arr = np.asarray(c.detach().cpu().numpy() if hasattr(c, "detach") else c)
        if arr.dtype.kind not in "fiub":
            raise Unsupported(f"constant operand of type {arr.dtype}")
        arr = arr.astype(np.float32)
        if arr.ndim > rank:
            raise Unsupported(f"constant operand of shape {list(arr.shape)} has more dims than "
                              f"the {rank}-D result")
        arr = arr.reshape((1,) * (rank - arr.ndim) + arr.shape)
        if arr.shape[0] != 1:
            raise Unsupported(f"constant operand of shape {list(arr.shape)} spans the batch dim")
        if rank == 4:
            arr = arr.transpose(0, 2, 3, 1)
        elif rank == 3:
            arr = arr.transpose(0, 2, 1)[:, None]
        while arr.ndim > 1 and arr.shape[0] == 1:
            arr = arr[0]
        return self.const("const", arr)
