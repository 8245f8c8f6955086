"""Post-training quantization: a float Graph plus calibrated ranges -> an int8 Graph (TFLite spec).

Each op class declares how it is quantized (``Node.quant_rule``, ``weight_axis``,
``fixed_quant``; formulas in ``params.py``); this module only applies the declarations:

- ``weight_axis``: per-channel symmetric int8 weights along that axis of input 1, int32 bias
  (input 2) at ``s_in * s_w[c]``. ``weight_dtype`` may ask for int4 weights instead (for every
  weighted node, or per node name): values in [-7, 7] with ``s_w[c] = max|w_c| / 7``, stored
  ``Packed()`` (two per byte), or int2 in [-1, 1] (``s_w[c] = max|w_c|``, four per byte);
  activations and biases stay int8 and int32.
- ``SHARED``: the output (every output, for a split) shares the first input's parameters;
  ``JOINED``: every input and the output share one set (a Concat copies bytes). Sharing is a
  union-find over values, so chains (pool after concat, reshape of reshape) resolve to one
  group, whose parameters come from the union of its members' ranges; a Concat's producers
  thus write their outputs with the union range.
- ``FIXED``: the op's ``fixed_quant`` (Softmax, Sigmoid: 1/256, -128; Tanh: 1/128, 0),
  whatever was observed.
- ``OWN``: asymmetric from the output's own observed range (post fused activation, as the
  float reference applies it).
- ``NONE``: refused (the op only arrives already quantized, or has state).
- A float constant read as an activation (``x + c``): asymmetric int8 from its own min/max.

A JOINED input whose bytes come from a fixed-parameter output (a tanh branch joined with a ReLU
branch) is not merged into the group: an int8 -> int8 Quantize (TFLM's requantization) is
inserted before the Concat instead, as TFLite's converter does. Any other group that holds a
fixed-parameter output together with another source of values would need a requantization the
graph does not have, so it is an error rather than a silent clip.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import numpy as np

from ..encoding import Dense, Encoding, Packed
from ..ir import DType, Graph, Names, Node, QuantParams, QuantRule, Value
from ..ops.binary import B1_QUANT, BINARY_OPS
from ..ops.quant import Quantize
from ..ops.ternary import T2_QUANT, TERNARY_OPS
from .calibrate import CalibrationError
from .params import (
    WEIGHT_QMAX,
    QuantizationError,
    activation_params,
    quantize_bias,
    quantize_weights,
)
from .sign_boundary import centre_sign, sign_only_layer

# How PTQ stores the weights of each dtype it produces.
_WEIGHT_ENCODING: dict[DType, Encoding] = {DType.s8: Dense(), DType.s4: Packed(),
                                           DType.s2: Packed()}
WeightDtype = DType | Mapping[str, DType]


def _moves_values(node: Node) -> bool:
    """The output only holds values of the inputs (same parameters through the op)."""
    return node.quant_rule in (QuantRule.SHARED, QuantRule.JOINED)


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


def quantize(graph: Graph, ranges: Mapping[str, tuple[float, float]], *,
             weight_dtype: WeightDtype = DType.s8) -> Graph:
    """A new int8 graph from the float ``graph`` and ``ranges`` (value name -> (lo, hi)).

    The input and outputs become s8 values of the same names; node classes and attributes are
    unchanged (each op's int8 reference is chosen by dtype). ``weight_dtype`` is the dtype of
    every node's weights (``DType.s8`` or ``DType.s4``), or a mapping from node names to it
    (nodes it does not name get s8). ``graph`` is not modified.
    """
    _check_graph(graph)
    wdtypes = weight_dtypes(graph, weight_dtype)
    operands = _operands(graph)
    groups, requant = _sharing(graph, operands)
    params = _group_params(graph, operands, groups, ranges)
    return _Rewriter(graph, lambda v: params[groups.find(id(v))], requant, wdtypes).run()


def activation_groups(graph: Graph) -> list[list[str]]:
    """The names of the values that share one set of int8 parameters set from calibrated
    ranges, group by group in graph order (the graph inputs' groups first).

    ``quantize`` gives every member of a group the parameters of the union of the members'
    ranges, so a range meant for a group must be given to all its members (what
    ``search.search_ranges`` does). Groups holding a FIXED op's output (softmax, sigmoid, tanh:
    parameters whatever was observed) and constants read as activations are left out."""
    operands = _operands(graph)
    groups, _ = _sharing(graph, operands)
    fixed = {id(n.y) for n in graph.nodes if n.quant_rule is QuantRule.FIXED}
    members: dict[int, list[Value]] = {}
    for v in operands:
        members.setdefault(groups.find(id(v)), []).append(v)
    return [[v.name for v in vs if not v.is_const] for vs in members.values()
            if not any(id(v) in fixed for v in vs) and not all(v.is_const for v in vs)]


def _sharing(graph: Graph, operands: list[Value]) -> tuple[_UnionFind, set[tuple[int, int]]]:
    """The union-find of values sharing parameters (SHARED and JOINED ops), and the JOINED
    inputs ``(id(node), input index)`` to requantize instead (module docstring)."""
    groups = _UnionFind()
    for v in operands:
        groups.find(id(v))
    requant: set[tuple[int, int]] = set()  # (id(concat node), input index) to requantize
    for node in graph.nodes:
        if _moves_values(node):  # every output of a split shares the first one's group
            for y in node.outputs[1:]:
                groups.union(id(node.y), id(y))
        if node.quant_rule is QuantRule.SHARED:
            groups.union(id(node.x), id(node.y))
        elif node.quant_rule is QuantRule.JOINED:
            fixed = [_fixed_source(graph, v) for v in node.inputs]
            same = all(f is not None and f == fixed[0] for f in fixed)
            for i, v in enumerate(node.inputs):
                if fixed[i] is not None and not same:
                    requant.add((id(node), i))
                else:
                    groups.union(id(v), id(node.y))
    return groups, requant


def weight_dtypes(graph: Graph, weight_dtype: WeightDtype) -> dict[str, DType]:
    """The weight dtype of every weighted node of ``graph`` (node name -> s8 or s4) from a
    ``quantize`` argument; raises QuantizationError for anything else (a dtype PTQ does not
    produce, a name that is not a weighted node of the graph, a value that is not a DType)."""
    weighted = [n for n in graph.nodes if n.weight_axis is not None]

    def checked(d: object, where: str) -> DType:
        if not isinstance(d, DType) or d not in WEIGHT_QMAX:
            allowed = ", ".join(f"DType.{k.value}" for k in WEIGHT_QMAX)
            raise QuantizationError(f"{where}: weights are quantized to {allowed}, not {d!r}")
        return d

    if isinstance(weight_dtype, DType):
        d = checked(weight_dtype, "weight_dtype")
        return {n.name: d for n in weighted}
    if not isinstance(weight_dtype, Mapping):
        raise QuantizationError(f"weight_dtype must be a DType or a mapping from node names to "
                                f"DType, not {type(weight_dtype).__name__}")
    by_name = {n.name: n for n in graph.nodes}
    for name, d in weight_dtype.items():
        node = by_name.get(name)
        if node is None:
            known = ", ".join(n.name for n in weighted[:12]) or "none"
            raise QuantizationError(f"weight_dtype names {name!r}, which is no node of graph "
                                    f"{graph.name} (its weighted nodes: {known})")
        if node.weight_axis is None:
            raise QuantizationError(f"weight_dtype names {name!r}, a {node.kind} node, which "
                                    "has no weights")
        checked(d, f"weight_dtype[{name!r}]")
    return {n.name: weight_dtype.get(n.name, DType.s8) for n in weighted}


def _fixed_source(graph: Graph, v: Value) -> tuple[float, int] | None:
    """The (scale, zero point) a FIXED op fixes for ``v`` (through SHARED ops)."""
    node = graph.producer(v)
    while node is not None and node.quant_rule is QuantRule.SHARED:
        node = graph.producer(node.x)
    return node.fixed_quant if node is not None and node.quant_rule is QuantRule.FIXED else None


def _check_graph(graph: Graph) -> None:
    bad = [n for n in graph.nodes if n.quant_rule is QuantRule.NONE or n.state]
    if bad:
        kinds = sorted({n.kind for n in bad})
        names = ", ".join(f"{n.name} ({n.kind})" for n in bad[:8])
        raise QuantizationError(f"cannot quantize graph {graph.name}: no int8 rule for "
                                f"{', '.join(kinds)} (nodes {names})")
    for v in graph.values():
        if v.dtype is not DType.f32 and not _binary_side(graph, v):
            raise QuantizationError(f"graph {graph.name} is not a float graph: value {v.name} "
                                    f"is {v.dtype.value}")
        if v.is_const and not np.all(np.isfinite(v.data)):
            users = ", ".join(n.name for n in graph.consumers(v)) or "no node"
            raise QuantizationError(f"constant {v.name} (read by {users}) contains NaN or Inf; "
                                    "the float model is broken and cannot be quantized")
    for n in graph.nodes:
        if n.weight_axis is not None and not (len(n.inputs) == 3 and n.inputs[1].is_const
                                            and n.inputs[2].is_const):
            raise QuantizationError(f"{n.name} ({n.kind}): weights and bias must be constants")


def _binary_side(graph: Graph, v: Value) -> bool:
    """A value a float graph may hold in integers: b1 or t2 (+-1 and 0 are exact), or a
    constant only binary and ternary ops read (thresholds and flips, ``ops/binary.py``,
    ``ops/ternary.py``)."""
    if v.dtype in (DType.b1, DType.t2):
        return True
    users = graph.consumers(v)
    return v.is_const and bool(users) and all(isinstance(n, BINARY_OPS + TERNARY_OPS)
                                              for n in users)


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
        ins = n.inputs[:1] if n.weight_axis is not None else n.inputs
        for v in [*ins, *n.outputs]:
            add(v)
    for v in graph.outputs:
        add(v)
    return [v for v in out if v.dtype is DType.f32]


def _group_params(graph: Graph, operands: list[Value], groups: _UnionFind,
                  ranges: Mapping[str, tuple[float, float]]) -> dict[int, QuantParams]:
    fixed: dict[int, QuantParams] = {}
    derived: set[int] = set()  # outputs that only move their inputs' values around
    made_by: dict[int, Node] = {}
    for n in graph.nodes:
        made_by.update((id(o), n) for o in n.outputs)
        if n.quant_rule is QuantRule.FIXED:
            fixed[id(n.y)] = QuantParams.per_tensor(*n.fixed_quant)
        elif _moves_values(n):
            derived.update(id(o) for o in n.outputs)
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
                 requant: set[tuple[int, int]], weight_dtypes: Mapping[str, DType]) -> None:
        self.graph = graph
        self.params_of = params_of
        self.requant = requant
        self.weight_dtypes = weight_dtypes
        self.new: dict[object, Value] = {}
        # Activations keep their names; a constant keeps its own for its first int8 version.
        self.names = Names(v.name for v in graph.values() if not v.is_const)

    def run(self) -> Graph:
        g = self.graph
        nodes = []
        copies: dict[int, Node] = {}  # id(float node) -> its int8 copy
        for node in g.nodes:
            if node.quant_rule is QuantRule.BINARY:
                ins = node.integer_inputs(self.operand(node.inputs[0]))
                layer = sign_only_layer(g, node)
                centre = layer and centre_sign(copies[id(layer)], node, ins[0])
                if centre:  # the int8 layer's sign read exactly (sign_boundary.py)
                    lq = copies[id(layer)]
                    lq.inputs = [*lq.inputs[:2], centre[0], *lq.inputs[3:]]
                    ins[1] = centre[1]
            elif node.weight_axis is not None:
                x = self.operand(node.inputs[0])
                w = self.weights(node.inputs[1], node.weight_axis, self.weight_dtypes[node.name])
                ins = [x, w, self.bias(node.inputs[2], x.quant.s, w.quant.scale)]
            else:
                ins = [self.operand(v) for v in node.inputs]
            for i in range(len(ins)):
                if (id(node), i) in self.requant:
                    ins[i] = self.requantized(ins[i], self.params_of(node.y), node, i, nodes)
            q = copy.copy(node)
            q.inputs, q.outputs, q.state = ins, [self.operand(v) for v in node.outputs], []
            nodes.append(q)
            copies[id(node)] = q
        qg = Graph(g.name, nodes, [self.operand(v) for v in g.inputs],
                   [self.operand(v) for v in g.outputs])
        qg.validate()
        return qg

    def _name(self, base: str) -> str:
        return self.names.fresh(base)

    def operand(self, v: Value) -> Value:
        key = ("act", id(v))
        if key not in self.new:
            if v.dtype in (DType.b1, DType.t2):  # +-1 (0) integers already
                q = B1_QUANT if v.dtype is DType.b1 else T2_QUANT
                self.new[key] = Value(v.name, v.shape, v.dtype, q, v.data, v.encoding)
                return self.new[key]
            p = self.params_of(v)
            if v.is_const:
                self.new[key] = Value(self._name(v.name), v.shape, DType.s8, p,
                                      p.quantize(v.data, DType.s8))
            else:
                self.new[key] = Value(v.name, v.shape, DType.s8, p)
        return self.new[key]

    def requantized(self, v: Value, params: QuantParams, node: Node, i: int,
                    nodes: list[Node]) -> Value:
        """Append an int8 -> int8 Quantize of ``v`` to ``params`` (for input ``i`` of ``node``)."""
        out = Value(self._name(f"{v.name}_requant"), v.shape, v.dtype, params)
        nodes.append(Quantize(name=self._name(f"{node.name}_requant{i}"), inputs=[v],
                              outputs=[out], dtype=v.dtype))
        return out

    def weights(self, v: Value, axis: int, dtype: DType) -> Value:
        key = ("w", id(v), axis, dtype)
        # binary and ternary weights keep their values and scales
        if key not in self.new and v.dtype in (DType.b1, DType.t2):
            self.new[key] = Value(self._name(v.name), v.shape, v.dtype, v.quant, v.data,
                                  v.encoding)
        if key not in self.new:
            q, p = quantize_weights(v.data, axis, dtype)
            self.new[key] = Value(self._name(v.name), v.shape, dtype, p, q,
                                  _WEIGHT_ENCODING[dtype])
        return self.new[key]

    def bias(self, v: Value, s_in: float, w_scale: np.ndarray) -> Value:
        q, p = quantize_bias(v.data, s_in, w_scale)
        key = ("b", id(v), p.scale.tobytes())
        if key not in self.new:
            self.new[key] = Value(self._name(v.name), v.shape, DType.s32, p, q)
        return self.new[key]
