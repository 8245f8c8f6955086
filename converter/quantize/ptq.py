"""Post-training quantization: a float Graph plus calibrated ranges -> an int8 Graph (TFLite spec).

Parameters per value (formulas in ``params.py``):

- Conv2d, DepthwiseConv2d, Dense: per-channel symmetric int8 weights along the output channel
  (axis 0 of OHWI, axis 3 of 1HWC, axis 0 of OK), int32 bias at ``s_in * s_w[c]``.
- MaxPool2d, AvgPool2d, Reshape, Transpose, Pad, Relu6: output shares the input's parameters
  (TFLM's int8 RELU6 clamps the input bytes and ignores the output's parameters); Concat:
  every input and the output share one set (TFLM copies bytes for all of them). Sharing is a
  union-find over values, so chains (pool after concat, reshape of reshape) resolve to one group,
  whose parameters come from the union of its members' ranges; a Concat's producers thus write
  their outputs with the union range.
- Softmax, Sigmoid: output (1/256, -128); Tanh: (1/128, 0), whatever was observed.
- Every other output (Conv2d, DepthwiseConv2d, Dense, Add, Sub, Mul, Mean, Relu, LeakyRelu):
  asymmetric from its own observed range (post fused activation, as the float
  reference applies it).
- A float constant read as an activation (``x + c``): asymmetric int8 from its own min/max.

A Concat input whose bytes come from a fixed-parameter output (a tanh branch joined with a ReLU
branch) is not merged into the Concat's group: an int8 -> int8 Quantize (TFLM's requantization)
is inserted before the Concat instead, as TFLite's converter does. Any other group that holds a
fixed-parameter output together with another source of values would need a requantization the
graph does not have, so it is an error rather than a silent clip.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import numpy as np

from ..ir import DType, Graph, Node, QuantParams, Value
from ..ops.act import LeakyRelu, Relu, Relu6
from ..ops.conv import Conv2d, DepthwiseConv2d
from ..ops.dense import Dense
from ..ops.eltwise import Add, Mul, Sub
from ..ops.nonlinear import Sigmoid, Softmax, Tanh
from ..ops.pool import AvgPool2d, MaxPool2d
from ..ops.quant import Quantize
from ..ops.reduce import Mean
from ..ops.shape import Concat, Pad, Reshape, Transpose
from .calibrate import CalibrationError
from .params import QuantizationError, activation_params, quantize_bias, quantize_weights

_WEIGHT_AXIS: dict[type[Node], int] = {Conv2d: 0, DepthwiseConv2d: 3, Dense: 0}
_SHARED: tuple[type[Node], ...] = (MaxPool2d, AvgPool2d, Reshape, Transpose, Pad, Relu6)
_FIXED: dict[type[Node], tuple[float, int]] = {
    Softmax: (1.0 / 256, -128), Sigmoid: (1.0 / 256, -128), Tanh: (1.0 / 128, 0)}
_OWN: tuple[type[Node], ...] = (Add, Sub, Mul, Mean, Relu, LeakyRelu)
_SUPPORTED = {*_WEIGHT_AXIS, *_SHARED, Concat, *_FIXED, *_OWN}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, k: int) -> int:
        root = self.parent.setdefault(k, k)
        while root != self.parent[root]:
            root = self.parent[root]
        while k != root:  # path compression
            self.parent[k], k = root, self.parent[k]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def quantize(graph: Graph, ranges: Mapping[str, tuple[float, float]]) -> Graph:
    """A new int8 graph from the float ``graph`` and ``ranges`` (value name -> (lo, hi)).

    The input and outputs become s8 values of the same names; node classes and attributes are
    unchanged (each op's int8 reference is chosen by dtype). ``graph`` is not modified.
    """
    _check_graph(graph)
    operands = _operands(graph)
    groups = _UnionFind()
    for v in operands:
        groups.find(id(v))
    requant: set[tuple[int, int]] = set()  # (id(concat node), input index) to requantize
    for node in graph.nodes:
        if type(node) in _SHARED:
            groups.union(id(node.x), id(node.y))
        elif type(node) is Concat:
            fixed = [_fixed_source(graph, v) for v in node.inputs]
            same = all(f is not None and f == fixed[0] for f in fixed)
            for i, v in enumerate(node.inputs):
                if fixed[i] is not None and not same:
                    requant.add((id(node), i))
                else:
                    groups.union(id(v), id(node.y))
    params = _group_params(graph, operands, groups, ranges)
    return _Rewriter(graph, lambda v: params[groups.find(id(v))], requant).run()


def _fixed_source(graph: Graph, v: Value) -> tuple[float, int] | None:
    """The (scale, zero point) a Softmax/Sigmoid/Tanh fixes for ``v`` (through shared ops)."""
    node = graph.producer(v)
    while node is not None and type(node) in _SHARED:
        node = graph.producer(node.x)
    return _FIXED.get(type(node)) if node is not None else None


def _check_graph(graph: Graph) -> None:
    bad = [n for n in graph.nodes if type(n) not in _SUPPORTED or n.state]
    if bad:
        kinds = sorted({n.kind for n in bad})
        names = ", ".join(f"{n.name} ({n.kind})" for n in bad[:8])
        raise QuantizationError(f"cannot quantize graph {graph.name}: no int8 rule for "
                                f"{', '.join(kinds)} (nodes {names})")
    for v in graph.values():
        if v.dtype is not DType.f32:
            raise QuantizationError(f"graph {graph.name} is not a float graph: value {v.name} "
                                    f"is {v.dtype.value}")
        if v.is_const and not np.all(np.isfinite(v.data)):
            users = ", ".join(n.name for n in graph.consumers(v)) or "no node"
            raise QuantizationError(f"constant {v.name} (read by {users}) contains NaN or Inf; "
                                    "the float model is broken and cannot be quantized")
    for n in graph.nodes:
        if type(n) in _WEIGHT_AXIS and not (len(n.inputs) == 3 and n.inputs[1].is_const
                                            and n.inputs[2].is_const):
            raise QuantizationError(f"{n.name} ({n.kind}): weights and bias must be constants")


def _operands(graph: Graph) -> list[Value]:
    """Every value quantized as an activation: all but the weight and bias slots, once each."""
    seen: set[int] = set()
    out: list[Value] = []

    def add(v: Value) -> None:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)

    for v in graph.inputs:
        add(v)
    for n in graph.nodes:
        ins = n.inputs[:1] if type(n) in _WEIGHT_AXIS else n.inputs
        for v in [*ins, *n.outputs]:
            add(v)
    for v in graph.outputs:
        add(v)
    return out


def _group_params(graph: Graph, operands: list[Value], groups: _UnionFind,
                  ranges: Mapping[str, tuple[float, float]]) -> dict[int, QuantParams]:
    fixed: dict[int, QuantParams] = {}
    derived: set[int] = set()  # outputs that only move their inputs' values around
    made_by: dict[int, Node] = {}
    for n in graph.nodes:
        made_by.update((id(o), n) for o in n.outputs)
        if type(n) in _FIXED:
            fixed[id(n.y)] = QuantParams.per_tensor(*_FIXED[type(n)])
        elif type(n) in _SHARED or type(n) is Concat:
            derived.add(id(n.y))
    members: dict[int, list[Value]] = {}
    for v in operands:
        members.setdefault(groups.find(id(v)), []).append(v)

    params: dict[int, QuantParams] = {}
    for root, vs in members.items():
        fx = [v for v in vs if id(v) in fixed]
        if fx:
            others = [v for v in vs if id(v) not in derived and id(v) not in fixed]
            first = fixed[id(fx[0])]
            if others or any(not first.same_as(fixed[id(v)]) for v in fx):
                names = ", ".join(v.name for v in [*fx, *others])
                raise QuantizationError(
                    f"values {names} must share int8 parameters, but {fx[0].name} has fixed "
                    f"ones (made by {made_by[id(fx[0])].kind}) that the others cannot use")
            params[root] = first
            continue
        lo, hi = zip(*(_range_of(v, ranges, made_by) for v in vs), strict=True)
        params[root] = activation_params(min(lo), max(hi))
    return params


def _range_of(v: Value, ranges: Mapping[str, tuple[float, float]],
              made_by: dict[int, Node]) -> tuple[float, float]:
    if v.is_const:
        return float(np.min(v.data)), float(np.max(v.data))
    if v.name not in ranges:
        node = made_by.get(id(v))
        where = f"made by {node.name} ({node.kind})" if node else "a graph input"
        raise CalibrationError(f"no calibration range for value {v.name} ({where})")
    try:
        lo, hi = (float(r) for r in ranges[v.name])
    except (TypeError, ValueError):
        raise CalibrationError(f"range of {v.name} must be a pair of numbers, got "
                               f"{ranges[v.name]!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise CalibrationError(f"invalid calibration range ({lo}, {hi}) for value {v.name}")
    return lo, hi


class _Rewriter:
    """Builds the int8 copy: new Values (names kept) and shallow copies of the nodes."""

    def __init__(self, graph: Graph, params_of: Callable[[Value], QuantParams],
                 requant: set[tuple[int, int]]) -> None:
        self.graph = graph
        self.params_of = params_of
        self.requant = requant
        self.new: dict[object, Value] = {}
        self.taken: set[str] = {v.name for v in graph.values()}
        self.used: set[str] = set()

    def run(self) -> Graph:
        g = self.graph
        nodes = []
        for node in g.nodes:
            if type(node) in _WEIGHT_AXIS:
                x = self.operand(node.inputs[0])
                w = self.weights(node.inputs[1], _WEIGHT_AXIS[type(node)])
                ins = [x, w, self.bias(node.inputs[2], x.quant.s, w.quant.scale)]
            else:
                ins = [self.operand(v) for v in node.inputs]
            for i in range(len(ins)):
                if (id(node), i) in self.requant:
                    ins[i] = self.requantized(ins[i], self.params_of(node.y), node, i, nodes)
            q = copy.copy(node)
            q.inputs, q.outputs, q.state = ins, [self.operand(v) for v in node.outputs], []
            nodes.append(q)
        qg = Graph(g.name, nodes, [self.operand(v) for v in g.inputs],
                   [self.operand(v) for v in g.outputs])
        qg.validate()
        return qg

    def _name(self, base: str) -> str:
        """The original name for the first int8 version of a constant, a fresh one after."""
        name, k = base, 0
        while name in self.used or (k and name in self.taken):
            k += 1
            name = f"{base}_q{k}"
        self.used.add(name)
        return name

    def operand(self, v: Value) -> Value:
        key = ("act", id(v))
        if key not in self.new:
            p = self.params_of(v)
            if v.is_const:
                self.new[key] = Value(self._name(v.name), v.shape, DType.s8, p,
                                      p.quantize(v.data, DType.s8))
            else:
                self.used.add(v.name)
                self.new[key] = Value(v.name, v.shape, DType.s8, p)
        return self.new[key]

    def requantized(self, v: Value, params: QuantParams, node: Node, i: int,
                    nodes: list[Node]) -> Value:
        """Append an int8 -> int8 Quantize of ``v`` to ``params`` (for input ``i`` of ``node``)."""
        out = Value(self._name(f"{v.name}_requant"), v.shape, v.dtype, params)
        nodes.append(Quantize(name=self._name(f"{node.name}_requant{i}"), inputs=[v],
                              outputs=[out], dtype=v.dtype))
        return out

    def weights(self, v: Value, axis: int) -> Value:
        key = ("w", id(v), axis)
        if key not in self.new:
            q, p = quantize_weights(v.data, axis)
            self.new[key] = Value(self._name(v.name), v.shape, DType.s8, p, q)
        return self.new[key]

    def bias(self, v: Value, s_in: float, w_scale: np.ndarray) -> Value:
        q, p = quantize_bias(v.data, s_in, w_scale)
        key = ("b", id(v), p.scale.tobytes())
        if key not in self.new:
            self.new[key] = Value(self._name(v.name), v.shape, DType.s32, p, q)
        return self.new[key]
