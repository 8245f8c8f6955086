"""TFLite frontend: a .tflite flatbuffer becomes an IR Graph, exactly as stored.

    imp = load_tflite("model.tflite")      # or the file's bytes
    imp.graph       # int8/int16 graph of a quantized model (its own scales and zero points),
                    # float32 graph of a float model (for firmforge's PTQ)
    imp.tensor_of   # IR value name -> TFLite tensor index (TFLM's GetTensor), activations only
    imp.op_of       # IR node name -> (operator index, builtin name such as "CONV_2D")

Three stages, each with its own errors (all ValueError subclasses):

1. ``tflite_schema.read_model`` checks the container (identifier, size, every offset, vector
   length, index and buffer size) and reads it into plain records: ``TFLiteFormatError``.
2. Every operator is mapped by its handler in ``tflite_ops`` (named after the builtin op) onto
   the IR's op classes, and each node's ``infer()`` must reproduce the stored output shape
   (``TFLiteFormatError`` otherwise). Operators, options and tensors firmforge cannot express
   are collected, with the outputs of a refused operator skipped downstream, and reported
   together in one ``UnsupportedTFLiteError``, before any graph is returned.
3. The graph is validated as a whole.

Operators whose inputs are all constant (shape arithmetic feeding a RESHAPE, a DEQUANTIZE of
float16 weights) never become nodes; the few firmforge needs the value of are folded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ir import Graph, IRError
from .tflite_context import Builder, OpCtx, Unsupported
from .tflite_errors import (
    MAX_FILE_BYTES,
    SchemaUnavailableError,
    TFLiteFormatError,
    UnsupportedTFLiteError,
)
from .tflite_ops import HANDLERS
from .tflite_schema import ModelData, OperatorInfo, read_model

__all__ = ["SchemaUnavailableError", "TFLiteFormatError", "TFLiteImport",
           "UnsupportedTFLiteError", "load_tflite"]

_INT_TYPES = ("INT8", "INT16", "UINT8", "INT4")
_QDQ = ("QUANTIZE", "DEQUANTIZE")


@dataclass
class TFLiteImport:
    """The imported graph and how its names map back to the file.

    ``tensor_of`` maps the IR value of every graph input and operator output to its tensor
    index (helper values a mapping adds, such as the flatten before a FULLY_CONNECTED, have
    none); ``op_of`` maps every IR node, helpers included, to the operator it implements.
    """

    graph: Graph
    quantized: bool
    tensor_of: dict[str, int]
    op_of: dict[str, tuple[int, str]]


def load_tflite(source: str | os.PathLike | bytes, name: str | None = None) -> TFLiteImport:
    """Import a .tflite model from a path or its bytes; ``name`` defaults to the file stem."""
    data, default = _read_source(source)
    return build(read_model(data), name or default)


def _read_source(source: object) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "model"
    if not isinstance(source, (str, os.PathLike)):
        raise TFLiteFormatError(f"load_tflite takes a path or the bytes of a .tflite file, got "
                                f"{type(source).__name__}")
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TFLiteFormatError(f"{path}: {size} bytes is larger than a flatbuffer can "
                                    "address")
        data = path.read_bytes()
    except OSError as e:
        raise TFLiteFormatError(f"cannot read {path}: {e.strerror or e}") from None
    return data, path.stem or "model"


def is_quantized(m: ModelData) -> bool:
    """A model is quantized when an activation it computes on or hands out is an integer:
    a graph input or output, or an input/output of an operator other than QUANTIZE and
    DEQUANTIZE. (A float model's fake-quantization pairs do not make it one.)"""
    def integer(t: int) -> bool:
        return t >= 0 and not m.tensors[t].has_data and m.tensors[t].type_name in _INT_TYPES
    if any(integer(t) for t in (*m.inputs, *m.outputs)):
        return True
    return any(integer(t) for op in m.operators if op.op_name not in _QDQ
               for t in (*op.inputs, *op.outputs) if t >= 0)


def check_support(m: ModelData, name: str) -> None:
    """Name every operator firmforge cannot map, in one error, before reading any of them.

    Only operators that compute on the graph's inputs (or on state) count: a constant-only
    operator is folded or reported where its value is needed. Variable tensors (the state of
    LSTM and SVDF layers) are written by the runtime, so they are inputs here, not unwritten
    tensors of a malformed file."""
    live = set(m.inputs) | {t.index for t in m.tensors if t.is_variable}
    problems = []
    for op in m.operators:
        if op.op_name == "SHAPE" or not any(t in live for t in op.inputs if t >= 0):
            continue
        live.update(op.outputs)
        if op.custom_code is not None:
            problems.append(f"{op.label}: custom operators are not supported")
        elif op.op_name not in HANDLERS:
            problems.append(f"{op.label}: operator not supported")
    if problems:
        kinds = sorted({p.split("(", 1)[1].split(")", 1)[0] for p in problems})
        n = len(problems)
        raise UnsupportedTFLiteError(
            f"{name}: {n} operator{'s' * (n > 1)} firmforge does not support "
            f"({', '.join(kinds)}):\n  " + "\n  ".join(problems))


def build(m: ModelData, name: str) -> TFLiteImport:
    check_support(m, name)
    b = Builder(m, name)
    quantized = is_quantized(m)
    if m.subgraph_count > 1:
        b.problems.append(f"the model has {m.subgraph_count} subgraphs (control flow); firmforge "
                          "imports single-subgraph models (only subgraph 0 was checked)")
    if not m.outputs:
        raise TFLiteFormatError("the subgraph has no outputs")
    for t in m.inputs:
        _graph_input(b, t)
    for op in m.operators:
        _operator(b, op, quantized)
    for k, t in enumerate(m.outputs):
        info = b.info(t)
        if t in b.broken:
            continue
        if t in m.outputs[:k]:
            b.problems.append(f"graph output {info.label} is listed twice: firmforge gives each "
                              "output its own buffer, which one tensor cannot fill")
        elif t in m.inputs:
            b.problems.append(f"graph output {info.label} is a graph input: nothing computes it")
        elif t not in b.dynamic:
            b.problems.append(f"graph output {info.label} is a constant or computed from "
                              "constants only")
        else:
            b.graph.outputs.append(b.values[t])
    if b.problems:
        n = len(b.problems)
        raise UnsupportedTFLiteError(f"{name}: {n} unsupported item{'s' * (n > 1)}:\n  "
                                     + "\n  ".join(b.problems))
    try:
        b.graph.validate()
    except IRError as e:
        raise TFLiteFormatError(f"{name}: the imported graph is inconsistent: {e}") from None
    return TFLiteImport(b.graph, quantized, b.tensor_of, b.op_of)


def _graph_input(b: Builder, t: int) -> None:
    info = b.info(t)
    if info.has_data:
        raise TFLiteFormatError(f"graph input {info.label} holds constant data")
    if t in b.written:
        raise TFLiteFormatError(f"{info.label} is listed twice as a graph input")
    b.written.add(t)
    try:
        v = b.activation(t, unbatched=True)  # readers other than elementwise ops refuse it
    except Unsupported as e:
        b.problems.append(f"graph input: {e}")
        b.broken.add(t)
        return
    b.values[t] = v
    b.dynamic.add(t)
    b.graph.inputs.append(v)


def _operator(b: Builder, op: OperatorInfo, quantized: bool) -> None:
    ins = [t for t in op.inputs if t >= 0]
    for i, t in enumerate(op.inputs):
        info = b.info(t) if t >= 0 else None
        if info is not None and t not in b.written and not (info.has_data or info.is_variable):
            raise TFLiteFormatError(f"{op.label}: input {i} ({b.info(t).label}) is read before "
                                    "anything writes it")
    for t in op.outputs:
        if t in b.written:
            raise TFLiteFormatError(f"{op.label}: output {b.info(t).label} is already written "
                                    "(a graph input or an earlier operator's output)")
        if b.info(t).has_data:
            raise TFLiteFormatError(f"{op.label}: output {b.info(t).label} holds constant data")
        b.written.add(t)
    live = [t for t in ins if t in b.dynamic or t in b.broken]
    if op.op_name == "SHAPE" or not live:
        _fold(b, op)
        return
    handler = HANDLERS.get(op.op_name)
    problem = None
    # Problems that need no operand are reported even behind an already refused operator.
    if op.op_name in _QDQ and not quantized:
        problem = ("a float model with QUANTIZE/DEQUANTIZE (fake quantization): export the "
                   "float model without them and let firmforge quantize it, or export a fully "
                   "quantized model")
    elif op.custom_code is not None:
        problem = "custom operators are not supported"
    elif handler is None:
        problem = "operator not supported"
    elif any(t in b.broken for t in live):
        b.broken.update(op.outputs)
        return
    else:
        try:
            handler(OpCtx(b, op))
        except Unsupported as e:
            problem = str(e)
        except IRError as e:  # an IR constructor refused what the file holds
            raise TFLiteFormatError(f"{op.label}: {e}") from None
    if problem is not None:
        b.problems.append(f"{op.label}: {problem}")
        b.broken.update(op.outputs)


def _fold(b: Builder, op: OperatorInfo) -> None:
    """Outputs of a constant-only operator: folded where firmforge needs and knows the value."""
    value = None
    if len(op.outputs) == 1 and op.inputs and op.inputs[0] >= 0:
        src, out = b.info(op.inputs[0]), b.info(op.outputs[0])
        data = b.const_array(op.inputs[0])
        if op.op_name == "SHAPE":
            value = np.array(src.shape, np.int64 if out.type_name == "INT64" else np.int32)
        elif data is None:
            pass
        elif op.op_name in ("RESHAPE", "SQUEEZE") and data.size == out.size:
            value = data.reshape(out.shape)
        elif op.op_name == "DEQUANTIZE" and out.type_name == "FLOAT32" and data.shape == out.shape:
            if src.type_name == "FLOAT16":
                value = data.astype(np.float32)
            elif src.quant is not None and data.dtype.kind == "i":
                value = src.quant.dequantize(data)
    for t in op.outputs:
        if value is not None:
            b.folded[t] = value
        else:
            b.static_by[t] = op.label
