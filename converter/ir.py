"""The one intermediate representation: values, nodes (ops) and the graph.

Every frontend produces a ``Graph``; every pass maps a ``Graph`` to a ``Graph``; every target reads
one. Activations are laid out NHWC (channels innermost, as in TFLite and CMSIS-NN), and every
activation value carries a leading batch dimension, which is 1 in the IR. Reference implementations
(``Node.ref``) accept any batch size in that dimension, so calibration and accuracy runs are
vectorised over samples.

Element types and quantization parameters (``DType``, ``QuantParams``) live in ``dtype.py`` and
are re-exported here. How a constant is stored (sub-byte types packed, sparse, codebook) is its
``Value.encoding`` (``encoding.py``); its ``data`` always holds dense values.
"""

from __future__ import annotations

import copy
import enum
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .dtype import DType, IRError, QuantParams, round_away

if TYPE_CHECKING:
    from .encoding import Encoding

__all__ = ["Act", "DType", "Graph", "IRError", "Names", "Node", "QuantParams", "QuantRule",
           "Stateful", "Value", "const", "make_node", "random_batch", "reset_value",
           "round_away"]


def _dense() -> Encoding:
    from .encoding import Dense

    return Dense()


@dataclass(eq=False)
class Value:
    """A tensor: activation (``data is None``) or constant (weights, bias, tables).

    A constant's ``data`` holds its dense values; ``encoding`` says how the target stores them
    (``encoding.py``: ``Dense()`` by default, ``Packed()`` for int4 weights, ...)."""

    name: str
    shape: tuple[int, ...]
    dtype: DType
    quant: QuantParams | None = None
    data: np.ndarray | None = None
    encoding: Encoding = field(default_factory=_dense)

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)
        if self.dtype in (DType.b1, DType.t2) and self.quant is None and self.data is None:
            self.quant = QuantParams.per_tensor(1.0, 0)  # +-1 (0) values are their own integers
        if any(d <= 0 for d in self.shape):
            raise IRError(f"value {self.name!r} has a non-positive dimension {self.shape}")
        if self.data is not None:
            self.data = np.asarray(self.data)
            if tuple(self.data.shape) != self.shape:
                raise IRError(f"constant {self.name!r}: data {self.data.shape} != shape {self.shape}")
        if self.encoding != _dense():
            from .encoding import encode

            if self.data is None:
                raise IRError(f"value {self.name!r}: only constants have a storage encoding")
            try:
                encode(self.data, self.dtype, self.encoding)
            except IRError as e:
                raise IRError(f"constant {self.name!r}: {e}") from None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes this value occupies in memory: a constant's encoded size, an activation's
        elements (sub-byte types packed)."""
        if self.data is not None:
            return self.encoding.nbytes(self.data, self.dtype)
        if self.dtype is DType.b1:  # rows of the last axis in 32-bit words (ops/binary.py)
            rows = math.prod(self.shape[:-1]) if len(self.shape) > 1 else 1
            return rows * 4 * (((self.shape[-1] if self.shape else 1) + 31) // 32)
        if self.dtype is DType.t2:  # two bit planes of such words (ops/ternary.py)
            rows = math.prod(self.shape[:-1]) if len(self.shape) > 1 else 1
            return rows * 8 * (((self.shape[-1] if self.shape else 1) + 31) // 32)
        return (self.size * self.dtype.bits + 7) // 8

    def __repr__(self) -> str:
        kind = "const " if self.is_const else ""
        return f"<{kind}{self.name}: {self.dtype.value}{list(self.shape)}>"


class Act(enum.Enum):
    """Activation fused into an op's output clamp (TFLite's fused activation functions)."""

    NONE = "none"
    RELU = "relu"
    RELU6 = "relu6"
    RELU_N1_TO_1 = "relu_n1_to_1"

    def apply_float(self, y: np.ndarray) -> np.ndarray:
        lo, hi = {Act.NONE: (None, None), Act.RELU: (0.0, None), Act.RELU6: (0.0, 6.0),
                  Act.RELU_N1_TO_1: (-1.0, 1.0)}[self]
        return y if lo is None else np.clip(y, lo, hi).astype(y.dtype)


class QuantRule(enum.Enum):
    """How post-training quantization chooses the parameters of an op's output.

    Weights are a separate declaration (``Node.weight_axis``): an op with weights quantizes them
    per channel and derives its bias scale from them, whatever its output rule.
    """

    OWN = "own"        # from the output's own calibrated range (conv, add, mean, relu, ...)
    SHARED = "shared"  # the first input's parameters: the op only moves or selects values
    JOINED = "joined"  # every input and the output share one set (concat copies bytes)
    FIXED = "fixed"    # fixed by the op whatever was observed (``Node.fixed_quant``)
    NONE = "none"      # firmforge's quantizer has no rule: the op only arrives quantized
    BINARY = "binary"  # b1 output (+-1, no parameters); the op's ``integer_inputs(x)`` gives
    #                    its inputs once its first input is quantized (ops/binary.py)


@dataclass(eq=False, kw_only=True)
class Node:
    """One operation: a dataclass whose fields are its attributes, plus the op contract below.

    Every op implements ``infer()`` (output shapes and dtypes, raising IRError) and ``ref()``
    (the numpy reference, bit-exact for integer dtypes; ``xs`` holds one array per input,
    constants included, with any batch size in dimension 0). The rest of the contract has
    defaults that suit most ops:

    - ``quant_rule`` / ``weight_axis`` / ``fixed_quant``: how the quantizer treats the op;
    - ``requant()``: the integer parameters the kernel needs (multipliers, shifts, tables),
      derived from the quantization parameters, one record per op; ``act_range()``: the output
      clamp; ``prepare()`` derives both once, so an importer surfaces what TFLM's Prepare rejects;
    - ``inplace``: the output may overwrite the first input when nothing reads it later (every
      output element depends only on input elements at or after the same index);
      ``aliases_input``: the output *is* the first input's bytes (a view, such as Reshape);
    - ``macs()``: multiply-accumulates per inference, for reports.

    Defining a subclass registers it in ``Node.kinds``; a shared base says so with
    ``class Base(Node, abstract=True)`` and is not registered. Ops with state derive from
    ``Stateful`` instead.
    """

    name: str
    inputs: list[Value]
    outputs: list[Value]
    state: list[Value] = field(default_factory=list)

    kinds: ClassVar[list[type[Node]]] = []
    quant_rule: ClassVar[QuantRule] = QuantRule.NONE
    weight_axis: ClassVar[int | None] = None  # input 1: per-channel weights along it; input 2: bias
    fixed_quant: ClassVar[tuple[float, int] | None] = None  # (scale, zero point) for FIXED
    inplace: ClassVar[bool] = False
    aliases_input: ClassVar[bool] = False
    abstract: ClassVar[bool] = True

    def __init_subclass__(cls, abstract: bool = False, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.abstract = abstract
        if not abstract:
            Node.kinds.append(cls)

    @property
    def kind(self) -> str:
        """Lower-case op name (``conv2d``) for reports and messages; never used for dispatch."""
        return type(self).__name__.lower()

    @property
    def attrs(self) -> dict[str, object]:
        base = {f.name for f in fields(Node)}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in base}

    # -- the op contract ------------------------------------------------------------------------
    def infer(self) -> list[tuple[tuple[int, ...], DType]]:
        raise NotImplementedError(type(self).__name__)

    def ref(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError(type(self).__name__)

    def macs(self) -> int:
        return 0

    def requant(self) -> object:
        """The integer parameters of the op's kernel (None when it needs none)."""
        return None

    def act_range(self) -> tuple[int, int]:
        """Integer clamp of the (first) output: the dtype's full range unless the op says."""
        return self.y.dtype.qmin, self.y.dtype.qmax

    def prepare(self) -> None:
        """Derive every integer parameter once; raises IRError (or ValueError) for a
        configuration the kernels cannot compute exactly (what TFLM's Prepare would reject)."""
        if self.quantized:
            self.requant()
            if not self.y.dtype.is_float:
                self.act_range()

    # -- helpers shared by op implementations ---------------------------------------------------
    @property
    def x(self) -> Value:
        return self.inputs[0]

    @property
    def y(self) -> Value:
        return self.outputs[0]

    @property
    def quantized(self) -> bool:
        """True when the op runs on integers (its first input is not float)."""
        return not self.inputs[0].dtype.is_float

    def check(self) -> None:
        """Raise IRError unless the outputs agree with ``infer()``."""
        want = self.infer()
        if len(want) != len(self.outputs):
            raise IRError(f"{self.name}: {len(self.outputs)} outputs, op makes {len(want)}")
        for v, (shape, dtype) in zip(self.outputs, want, strict=True):
            if tuple(v.shape) != tuple(shape) or v.dtype is not dtype:
                raise IRError(f"{self.name} ({self.kind}): output {v.name} is "
                              f"{v.dtype.value}{list(v.shape)}, op makes {dtype.value}{list(shape)}")

    def __repr__(self) -> str:
        ins = ", ".join(v.name for v in self.inputs)
        outs = ", ".join(v.name for v in self.outputs)
        return f"{outs} = {self.kind}({ins}) [{self.name}]"


@dataclass(eq=False, kw_only=True, repr=False)
class Stateful(Node, abstract=True):
    """An op whose state persists from one inference to the next (TFLite's variable tensors,
    spiking membranes). ``state`` lists one non-constant Value per state tensor.

    ``ref(xs, state) -> (outputs, new_state)`` is pure: the reference runner passes the state
    arrays (each of its Value's shape) and stores the new ones; it runs a stateful graph one
    sample at a time, so consecutive samples are consecutive inferences, as TFLM's consecutive
    ``Invoke()`` calls are. ``initial_state()`` is what a reset restores.
    """

    def ref(self, xs: list[np.ndarray], state: list[np.ndarray]  # type: ignore[override]
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        raise NotImplementedError(type(self).__name__)

    def initial_state(self) -> list[np.ndarray]:
        """TFLM's ResetVariableTensors: int8 state holds its zero point, other types 0."""
        return [np.full(v.shape, reset_value(v), v.dtype.np) for v in self.state]


def reset_value(v: Value) -> int:
    """The element a reset writes into state value ``v`` (int8: its zero point, else 0)."""
    if v.dtype is DType.s8 and v.quant is not None:
        return v.quant.zp
    return 0


class Names:
    """Fresh names against a set of taken ones: ``base``, then ``base_1``, ``base_2``, ..."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken: set[str] = set(taken)

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.taken:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name


@dataclass(eq=False)
class Graph:
    """Nodes in execution (topological) order, with the graph's input and output values."""

    name: str
    nodes: list[Node] = field(default_factory=list)
    inputs: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)

    def values(self) -> Iterator[Value]:
        """Every value once: graph inputs, then node inputs/outputs in order."""
        seen: set[int] = set()
        for v in self.inputs:
            seen.add(id(v))
            yield v
        for n in self.nodes:
            for v in [*n.inputs, *n.state, *n.outputs]:
                if id(v) not in seen:
                    seen.add(id(v))
                    yield v

    def producer(self, v: Value) -> Node | None:
        for n in self.nodes:
            if any(o is v for o in n.outputs):
                return n
        return None

    def consumers(self, v: Value) -> list[Node]:
        return [n for n in self.nodes if any(i is v for i in n.inputs)]

    def replace_uses(self, old: Value, new: Value) -> None:
        """Make every reader of ``old`` (nodes and graph outputs) read ``new`` instead."""
        for n in self.nodes:
            n.inputs = [new if i is old else i for i in n.inputs]
        self.outputs = [new if o is old else o for o in self.outputs]

    def copy(self) -> Graph:
        """Deep copy that shares constant arrays (they are never mutated in place)."""
        memo: dict[int, object] = {}
        for v in self.values():
            if v.data is not None:
                memo[id(v.data)] = v.data
        return copy.deepcopy(self, memo)

    def validate(self) -> None:
        """Check wiring, topological order, unique names and every node's shapes."""
        ready = {id(v) for v in self.inputs}
        names: set[str] = set()
        for v in self.values():
            if v.name in names:
                raise IRError(f"graph {self.name!r}: two values are named {v.name!r}")
            names.add(v.name)
        for n in self.nodes:
            for v in n.inputs:
                if not v.is_const and id(v) not in ready:
                    raise IRError(f"{n.name}: input {v.name} is used before it is produced")
            for v in n.state:  # the node's own storage: never produced, never a constant
                if v.is_const or id(v) in ready:
                    raise IRError(f"{n.name}: state {v.name} must be its own non-constant value")
            n.check()
            ready.update(id(o) for o in n.outputs)
        for v in self.outputs:
            if id(v) not in ready and not v.is_const:
                raise IRError(f"graph output {v.name} is never produced")
        if len({id(v) for v in self.outputs}) < len(self.outputs):
            twice = next(v for i, v in enumerate(self.outputs)
                         if any(u is v for u in self.outputs[:i]))
            raise IRError(f"graph output {twice.name} is listed twice (each output has its own "
                          "buffer, which one value cannot fill)")

    def unique_name(self, base: str) -> str:
        """A value or node name not used in the graph yet."""
        return Names([*(v.name for v in self.values()), *(n.name for n in self.nodes)]).fresh(base)

    @property
    def stateful(self) -> bool:
        return any(n.state for n in self.nodes)

    def __repr__(self) -> str:
        lines = [f"graph {self.name}({', '.join(map(repr, self.inputs))}):"]
        lines += [f"  {n!r}" for n in self.nodes]
        lines.append(f"  return {', '.join(v.name for v in self.outputs)}")
        return "\n".join(lines)


def random_batch(v: Value, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random samples for value ``v`` (batch first): uniform over an integer dtype's whole
    range (b1: -1 or +1), standard normal for float. The default inputs of test vectors and
    comparisons."""
    shape = (n, *v.shape[1:])
    if v.dtype.is_float:
        return rng.standard_normal(shape).astype(np.float32)
    if v.dtype is DType.b1:
        return np.where(rng.random(shape) < 0.5, -1, 1).astype(v.dtype.np)
    return rng.integers(v.dtype.qmin, v.dtype.qmax, shape, dtype=v.dtype.np, endpoint=True)


def const(name: str, data: np.ndarray, dtype: DType | None = None,
          quant: QuantParams | None = None) -> Value:
    """A constant value holding ``data`` (dtype inferred from numpy unless given)."""
    data = np.asarray(data)
    return Value(name, data.shape, dtype or DType.of_numpy(data.dtype), quant, data)


def make_node(cls: type[Node], name: str, inputs: Sequence[Value], out_names: Sequence[str],
              **attrs: object) -> Node:
    """Build a node whose output values are created from its own ``infer()``."""
    node = cls(name=name, inputs=list(inputs), outputs=[], **attrs)
    node.outputs = [Value(n, shape, dtype) for n, (shape, dtype) in
                    zip(out_names, node.infer(), strict=True)]
    return node
