"""State of one .tflite import: IR values per tensor, node emission, and the per-operator view
(``OpCtx``) that the handlers in ``tflite_ops`` work through.

Tensors fall into four kinds. *Activations* are graph inputs and outputs of operators that read
an activation; they become IR values, batch first. A tensor stored without a leading dimension of
1 (a rank-1 ``[64]`` graph input, say) is one sample too, for TFLM has no batch: its IR value is
the stored shape with a batch of 1 prepended. Only elementwise operators, whose handlers say so
(``operand(i, unbatched=True)``), may read such a value, because prepending a dimension changes
nothing in trailing-aligned broadcasting; an operator that reads dimensions by position (axes,
paddings, windows) refuses it. *Constants* carry buffer data and become
constant IR values where an op reads them as operands (weights, bias, an addend), or plain
arrays where only their value matters (axes, paddings, shapes). *Static* tensors are computed by
constant-only operators; a few of those (DEQUANTIZE, RESHAPE, SQUEEZE, SHAPE) are folded to
arrays, the others are remembered by producer so that a reader of their value can say which
operator it would need. *Broken* tensors are outputs of operators already reported as
unsupported; readers of them are skipped silently (the first problem is the one to fix).
"""

from __future__ import annotations

import math

import numpy as np

from ..encoding import Packed
from ..ir import DType, Graph, IRError, Names, Node, QuantParams, Value
from .tflite_errors import TFLiteFormatError
from .tflite_schema import ModelData, OperatorInfo, TensorInfo

# TFLite tensor type -> IR dtype, for activations and for constant operands
ACTIVATION_TYPES = {"FLOAT32": DType.f32, "INT8": DType.s8, "INT16": DType.s16,
                    "INT32": DType.s32}
CONSTANT_TYPES = {**ACTIVATION_TYPES, "INT64": DType.s64}
# Packed constant types, read only as weights: they keep the file's packing (Packed()).
PACKED_WEIGHT_TYPES = {"INT4": DType.s4}
MAX_ELEMENTS = 1 << 31  # TFLM sizes tensors with int; more is corruption, not a model


class Unsupported(Exception):
    """One operator cannot be imported; collected with the others into one error."""


class Builder:
    """Turns ``ModelData`` into a Graph, one operator at a time (see ``tflite.load_tflite``)."""

    def __init__(self, model: ModelData, name: str) -> None:
        self.m = model
        self.graph = Graph(name)
        self.values: dict[int, Value] = {}      # tensor -> IR value (activations, constants)
        self.dynamic: set[int] = set()          # tensors that depend on a graph input
        self.folded: dict[int, np.ndarray] = {}  # static tensors with a known value
        self.static_by: dict[int, str] = {}     # static tensors without one -> producer label
        self.broken: set[int] = set()
        self.written: set[int] = set()
        self.problems: list[str] = []
        self.tensor_of: dict[str, int] = {}
        self.op_of: dict[str, tuple[int, str]] = {}
        self.names = Names()
        self.state_of: dict[int, str] = {}     # variable tensor -> the node owning it
        self.unbatched: set[int] = set()        # activations whose IR value prepends a batch 1

    def info(self, t: int) -> TensorInfo:
        return self.m.tensors[t]

    def unique(self, base: str) -> str:
        return self.names.fresh(base)

    def value_name(self, info: TensorInfo) -> str:
        # The converter joins the names of fused ops with ';'; the first is the outermost op.
        return self.unique(info.name.split(";", 1)[0].strip() or f"tensor{info.index}")

    def quant_of(self, info: TensorInfo, strict: bool = True) -> QuantParams | None:
        if info.quant_error is not None and strict:
            raise TFLiteFormatError(f"{info.quant_error} (quantization as stored)")
        return info.quant

    def activation(self, t: int, unbatched: bool = False) -> Value:
        """The IR value of an activation tensor, created from its stored shape and type. With
        ``unbatched``, a shape without a leading dimension of 1 gets one prepended (the tensor is
        recorded in ``unbatched``); otherwise such a shape is refused."""
        info = self.info(t)
        dtype = ACTIVATION_TYPES.get(info.type_name)
        if dtype is None:
            raise Unsupported(f"{info.label} is {info.type_name}; firmforge activations are "
                              "float32, int8, int16 or int32")
        if info.is_variable:
            raise Unsupported(f"{info.label} is a variable tensor (state) read as an ordinary "
                              "activation")
        _check_storage(info)
        if 0 in info.shape or info.size > MAX_ELEMENTS:
            raise TFLiteFormatError(f"{info.label}: shape {list(info.shape)} has "
                                    f"{info.size} elements")
        shape = info.shape
        if not shape or shape[0] != 1:
            if not unbatched:
                raise Unsupported(f"{info.label} has shape {list(shape)}; firmforge needs "
                                  "activations with a leading batch dimension of 1")
            shape = (1, *shape)
            self.unbatched.add(t)
        quant = None if dtype is DType.f32 else self.quant_of(info)
        if quant is None and dtype in (DType.s8, DType.s16):
            raise Unsupported(f"{info.label} is {info.type_name} without quantization "
                              "parameters")
        _check_zero_point(info, dtype, quant)
        v = Value(self.value_name(info), shape, dtype, quant)
        self.tensor_of[v.name] = t
        return v

    def constant(self, t: int, hint: str, strict_quant: bool = True,
                 packed: bool = False) -> Value:
        """A constant operand's IR value (one per tensor however many ops read it), named
        ``hint`` after the first node reading it (weights names are long and uninformative).
        ``packed``: the reader takes INT4 weights (stored ``Packed()``, as in the file)."""
        if t in self.values:
            return self.values[t]
        info = self.info(t)
        data = self.folded.get(t, info.data)
        dtype = CONSTANT_TYPES.get(info.type_name) if t not in self.folded else None
        encoding = None
        if packed and t not in self.folded and info.type_name in PACKED_WEIGHT_TYPES:
            dtype, encoding = PACKED_WEIGHT_TYPES[info.type_name], Packed()
        if t in self.folded:
            try:
                dtype = DType.of_numpy(data.dtype)
            except IRError:
                dtype = None
        if dtype is None or data is None:
            raise Unsupported(f"{info.label}: constant of type {info.type_name} is not "
                              "supported as an operand")
        _check_storage(info)
        quant = None if dtype is DType.f32 else self.quant_of(info, strict_quant)
        try:
            v = Value(self.unique(hint), tuple(data.shape), dtype, quant, data,
                      **({} if encoding is None else {"encoding": encoding}))
        except IRError as e:
            raise TFLiteFormatError(f"{info.label}: {e}") from None
        self.values[t] = v
        return v

    def const_array(self, t: int) -> np.ndarray | None:
        """The value of a constant or folded tensor, or None when it is not known."""
        if t in self.folded:
            return self.folded[t]
        return self.info(t).data

    def add_node(self, node: Node, op: OperatorInfo) -> None:
        self.graph.nodes.append(node)
        self.names.taken.add(node.name)
        self.op_of[node.name] = (op.index, op.op_name)


class OpCtx:
    """What a handler sees of one operator: its operands, options, and ``emit``."""

    def __init__(self, b: Builder, op: OperatorInfo) -> None:
        self.b = b
        self.op = op
        self.base = b.unique(f"{op.op_name.lower()}_{op.index}")
        self.emitted = 0
        self.unbatched = False  # an operand read with unbatched=True: outputs may be too

    # -- structure --------------------------------------------------------------------------
    def error(self, msg: str) -> TFLiteFormatError:
        return TFLiteFormatError(f"{self.op.label}: {msg}")

    def expect(self, options: str | None, inputs: tuple[int, int], outputs: int = 1,
               need_options: bool = False) -> None:
        """Check the options type and the number of inputs and outputs."""
        op = self.op
        if op.options_name and op.options_name != options:
            raise self.error(f"carries {op.options_name}, expected {options}")
        if need_options and not op.options_name:
            raise self.error(f"has no {options}")
        lo, hi = inputs
        if not lo <= len(op.inputs) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.error(f"takes {want} inputs, has {len(op.inputs)}")
        if len(op.outputs) != outputs:
            raise self.error(f"makes {outputs} output(s), has {len(op.outputs)}")
        for i in range(lo):
            if op.inputs[i] < 0:
                raise self.error(f"required input {i} is omitted")

    def opt(self, name: str, default: object) -> object:
        return self.op.options.get(name, default)

    def has_input(self, i: int) -> bool:
        return i < len(self.op.inputs) and self.op.inputs[i] >= 0

    def tensor(self, i: int) -> TensorInfo:
        return self.b.info(self.op.inputs[i])

    def out_info(self, i: int = 0) -> TensorInfo:
        return self.b.info(self.op.outputs[i])

    # -- operands ---------------------------------------------------------------------------
    def operand(self, i: int, role: str = "", packed: bool = False,
                unbatched: bool = False) -> Value:
        """Input ``i`` as an IR value: an activation, or a constant operand (``packed``: INT4
        constants allowed, see ``Builder.constant``). ``unbatched`` says the operator is
        elementwise, so it may read an activation stored without a leading batch dimension (its
        IR value has one prepended) and write one (see ``emit``)."""
        t = self.op.inputs[i]
        if t < 0:
            raise self.error(f"input {i} is omitted")
        self.unbatched = self.unbatched or unbatched
        if t in self.b.dynamic:
            if t in self.b.unbatched and not unbatched:
                info = self.b.info(t)
                raise Unsupported(f"input {i} ({info.label}) has shape {list(info.shape)}, "
                                  f"without a leading batch dimension of 1; firmforge reads such "
                                  f"tensors only in elementwise operators")
            return self.b.values[t]
        if t in self.b.static_by:
            raise Unsupported(f"input {i} ({self.b.info(t).label}) is computed from constants "
                              f"by {self.b.static_by[t]}, which firmforge does not evaluate")
        return self.b.constant(t, f"{self.base}.{role or f'input{i}'}", packed=packed)

    def state(self, i: int) -> Value:
        """Variable tensor input ``i`` as a state value of the node being emitted (pass it as
        ``emit(..., state=[...])``). TFLite keeps variable tensors across ``Invoke()`` calls;
        the IR keeps them as the node's state, one owner per tensor."""
        t = self.op.inputs[i]
        if t < 0:
            raise self.error(f"state input {i} is omitted")
        info = self.b.info(t)
        if not info.is_variable:
            raise self.error(f"input {i} ({info.label}) must be a variable tensor (state)")
        if t in self.b.state_of:
            raise Unsupported(f"variable tensor {info.label} is also the state of "
                              f"{self.b.state_of[t]}; firmforge gives each state one owner")
        dtype = ACTIVATION_TYPES.get(info.type_name)
        if dtype is None or 0 in info.shape:
            raise Unsupported(f"state {info.label} is {info.type_name}{list(info.shape)}")
        _check_storage(info)
        quant = None if dtype is DType.f32 else self.b.quant_of(info)
        _check_zero_point(info, dtype, quant)
        v = Value(self.b.value_name(info), info.shape, dtype, quant)
        self.b.state_of[t] = self.base
        self.b.tensor_of[v.name] = t
        return v

    def array(self, i: int, what: str) -> np.ndarray:
        """The value of input ``i``, which must be constant (axes, paddings, ...)."""
        t = self.op.inputs[i]
        if t < 0:
            raise self.error(f"{what} (input {i}) is omitted")
        data = None if t in self.b.dynamic else self.b.const_array(t)
        if data is None:
            raise Unsupported(f"{what} (input {i}, {self.b.info(t).label}) must be a constant")
        return np.asarray(data)

    def weights(self, i: int, x: Value, axis: int) -> Value:
        """Constant weights of a conv/dense whose input is ``x``: per-channel along ``axis``.
        An int8 input takes int8 weights or INT4 ones (TFLM's int4 filters: packed two per
        byte, imported as s4 constants stored ``Packed()``, the file's bytes)."""
        t = self.op.inputs[i]
        if t in self.b.dynamic:
            raise Unsupported(f"weights (input {i}) are not constant")
        w = self.operand(i, "weights", packed=x.dtype is DType.s8)
        want = DType.f32 if x.dtype is DType.f32 else DType.s8
        if w.dtype is not want and not (want is DType.s8 and w.dtype is DType.s4):
            raise Unsupported(f"{x.dtype.value} input with {w.dtype.value} weights (firmforge "
                              f"needs {want.value}; hybrid models are not supported)")
        q = w.quant
        if want is DType.s8:
            if q is None:
                raise Unsupported(f"{w.dtype.value} weights {w.name} without quantization "
                                  "parameters")
            if np.any(q.zero_point != 0):
                raise Unsupported(f"weights {w.name} have zero point "
                                  f"{int(q.zero_point[q.zero_point != 0][0])}; firmforge needs "
                                  "symmetric weights (zero point 0)")
            if q.per_channel and q.axis != axis:
                raise Unsupported(f"weights {w.name} are quantized along dimension {q.axis}, "
                                  f"TFLite's kernels read dimension {axis}")
        return w

    def bias(self, i: int, n: int, x: Value, wide: bool) -> Value:
        """Bias input ``i`` of ``n`` channels, or zeros when omitted: f32, s32, or for 16x8
        s64 when ``wide`` (the type TFLM's int16 kernels then accumulate in)."""
        if x.dtype is DType.f32:
            dtype = DType.f32
        elif x.dtype is DType.s16 and wide:
            dtype = DType.s64
        else:
            dtype = DType.s32
        if not self.has_input(i):
            name = self.b.unique(f"{self.base}.bias")
            return Value(name, (n,), dtype, None, np.zeros(n, dtype.np))
        t = self.op.inputs[i]
        if t in self.b.dynamic:
            raise Unsupported(f"bias (input {i}) is not constant")
        info = self.b.info(t)
        if info.shape != (n,):
            raise self.error(f"bias {info.label} has shape {list(info.shape)}, the weights "
                             f"have {n} output channels")
        if t in self.b.static_by:
            return self.operand(i)  # raises: the value is not known
        return self.b.constant(t, f"{self.base}.bias", strict_quant=False)  # TFLM never reads a bias's scale

    # -- emission ---------------------------------------------------------------------------
    def out_dtype(self, i: int = 0) -> DType:
        info = self.out_info(i)
        if info.type_name not in ACTIVATION_TYPES:
            raise Unsupported(f"output {info.label} is {info.type_name}")
        return ACTIVATION_TYPES[info.type_name]

    def emit(self, cls: type[Node], inputs: list[Value], out: int = 0,
             state: list[Value] = (), **attrs: object) -> Value:
        """The node computing output ``out`` of the operator, checked against the stored
        output tensor: infer() must give its exact shape and dtype. ``state`` lists the
        node's state values (``state(i)``) for a stateful op. The output may lack a leading
        batch dimension when an operand was read with ``unbatched=True``."""
        return self._emit(cls, inputs, [out], state, attrs)[0]

    def emit_outputs(self, cls: type[Node], inputs: list[Value], **attrs: object
                     ) -> list[Value]:
        """One node computing every output of the operator, in order (SPLIT), each checked
        against its stored tensor as ``emit`` checks one."""
        return self._emit(cls, inputs, list(range(len(self.op.outputs))), (), attrs)

    def _emit(self, cls: type[Node], inputs: list[Value], outs: list[int],
              state: list[Value], attrs: dict[str, object]) -> list[Value]:
        ts = [self.op.outputs[i] for i in outs]
        ys = [self.b.activation(t, unbatched=self.unbatched) for t in ts]
        name = self.base if outs[0] == 0 else self.b.unique(f"{self.base}.{outs[0]}")
        node = cls(name=name, inputs=list(inputs), outputs=ys, state=list(state), **attrs)
        try:
            inferred = node.infer()
        except (IRError, ArithmeticError) as e:
            raise Unsupported(str(e)) from None
        if len(inferred) != len(ys):
            raise self.error(f"has {len(ys)} output(s), the operator computes {len(inferred)}")
        for t, y, (shape, dtype) in zip(ts, ys, inferred, strict=True):
            if tuple(shape) != y.shape or dtype is not y.dtype:
                raise self.error(f"output {self.b.info(t).label} is stored as {y.dtype.value}"
                                 f"{list(y.shape)}, the operator computes {dtype.value}"
                                 f"{list(shape)} from its inputs")
        self._prepare(node)
        self.b.add_node(node, self.op)
        for t, y in zip(ts, ys, strict=True):
            self.b.values[t] = y
            self.b.dynamic.add(t)
        return ys

    def emit_internal(self, cls: type[Node], inputs: list[Value], suffix: str,
                      **attrs: object) -> Value:
        """A helper node the operator needs in the IR (a flatten, a rank change)."""
        name = self.b.unique(f"{self.base}.{suffix}")
        node = cls(name=name, inputs=list(inputs), outputs=[], **attrs)
        try:
            ((shape, dtype),) = node.infer()
        except IRError as e:
            raise Unsupported(str(e)) from None
        node.outputs = [Value(name, shape, dtype, inputs[0].quant)]
        self.b.add_node(node, self.op)
        return node.outputs[0]

    def _prepare(self, node: Node) -> None:
        """Derive the node's integer parameters now: what TFLM's Prepare rejects is reported
        as unsupported at import, not found when generating C."""
        try:
            node.prepare()
        except (IRError, ValueError, ArithmeticError) as e:
            raise Unsupported(str(e)) from None


def _check_zero_point(info: TensorInfo, dtype: DType, quant: QuantParams | None) -> None:
    """An int8/int16 activation's or state's zero points lie in its dtype's range."""
    if quant is not None and dtype in (DType.s8, DType.s16) and (
            np.any(quant.zero_point < dtype.qmin) or np.any(quant.zero_point > dtype.qmax)):
        bad = quant.zero_point[(quant.zero_point < dtype.qmin) | (quant.zero_point > dtype.qmax)]
        raise TFLiteFormatError(f"{info.label}: zero point {int(bad[0])} is outside the "
                                f"{info.type_name.lower()} range")


def _check_storage(info: TensorInfo) -> None:
    if info.sparse:
        raise Unsupported(f"{info.label} is stored sparse")
    if info.quant_details:
        raise Unsupported(f"{info.label} has custom or blockwise quantization details")


def resolve_shape(spec: list[int], size: int) -> tuple[int, ...] | None:
    """A RESHAPE shape with at most one -1 resolved against ``size`` elements (None if bad)."""
    if spec.count(-1) > 1 or any(d < -1 for d in spec):
        return None
    known = math.prod(d for d in spec if d != -1)
    if -1 in spec:
        if known == 0 or size % known:
            return None
        spec = [size // known if d == -1 else d for d in spec]
    return tuple(spec)
