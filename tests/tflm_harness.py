"""Single-operator .tflite models built in memory and run in TensorFlow Lite Micro.

TFLM (the ``tflite-micro`` package) is the golden reference for imported int8 models, so the op
comparison tests build each op twice: as a firmforge graph and as a one-operator .tflite model
with the same parameters, and compare the bytes. The model is written with the flatbuffer object
API of the schema module that ships inside the installed tflite-micro package (never a copy).

API (everything else here is private):

    TensorSpec(shape, dtype, scale=None, zero_point=None, quantized_dimension=0, data=None,
               name="", variable=False)                  one tensor of the model
    int4                                                 the dtype of an INT4 tensor
    TensorSpec.of(value)                                 the spec of a firmforge ``Value``
    build_model(op, options, inputs, outputs, *, intermediates=()) -> bytes
                                                         a one-operator model
    run_model(model, inputs) -> list[np.ndarray]         run a batch in TFLM
    run_op(op, options, inputs, outputs, xs)             build_model + run_model
    TFLMRefused                                          what they raise when TFLM refuses:
        .log                                             TFLM's own words (its error reporter)
    Session(model)                                       one interpreter kept across calls:
        .invoke(inputs) -> list[np.ndarray]              one Invoke(); variable tensors carry over
        .reset()                                         TFLM's Reset(): variables to initial values
    schema                                               the installed schema module
    BuiltinOperator, ActivationFunctionType, Padding     its enums, re-exported

``op`` is a ``BuiltinOperator`` code; ``options`` is the op's options object from the schema
(``schema.AddOptionsT()``, ...) or None; its union tag is derived from the class name. Inputs
with ``data`` become constant tensors (weights, bias, axes, paddings); the others, in order, are
the model's inputs. An input spec of None is an omitted optional input (index -1). A spec with
``variable=True`` is a variable tensor (``isVariable``, no data: TFLM allocates it in the arena and
owns its contents, like the LSTM's state inputs); it is neither a model input nor a constant.
Stateful models are run with ``Session``, whose interpreter lives across ``invoke`` calls.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

BuiltinOperator = schema.BuiltinOperator
ActivationFunctionType = schema.ActivationFunctionType
Padding = schema.Padding


class int4:  # a dtype word, like np.int8
    """The ``dtype`` of a TensorSpec of TFLite INT4 data: ``data`` holds int8 values in [-8, 7],
    which the model stores two per byte, the even element in the low nibble (TFLite's
    ``PackInt8IntoDenseInt`` layout, transcribed here independently of firmforge)."""


def pack_int4(values: np.ndarray) -> np.ndarray:
    """int8 values in [-8, 7], flattened in C order -> TFLite's INT4 bytes."""
    v = np.asarray(values, np.int8).reshape(-1)
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 values must lie in [-8, 7]")
    out = np.zeros((v.size + 1) // 2, np.uint8)
    for i, x in enumerate(v.tolist()):
        out[i // 2] |= (x & 0x0F) << (4 * (i % 2))
    return out


_TENSOR_TYPE = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.int32): schema.TensorType.INT32,
    np.dtype(np.int16): schema.TensorType.INT16,
    np.dtype(np.int8): schema.TensorType.INT8,
    np.dtype(np.uint8): schema.TensorType.UINT8,
    np.dtype(np.int64): schema.TensorType.INT64,
    np.dtype(np.bool_): schema.TensorType.BOOL,
}


@dataclass
class TensorSpec:
    """One tensor of a model.

    ``scale``/``zero_point``: None for an unquantized tensor, a number for per-tensor, or equal
    length sequences for per-channel parameters along ``quantized_dimension``. ``data`` makes the
    tensor a constant (its shape and dtype must match).
    """

    shape: tuple[int, ...]
    dtype: np.dtype | type
    scale: float | Sequence[float] | np.ndarray | None = None
    zero_point: int | Sequence[int] | np.ndarray | None = None
    quantized_dimension: int = 0
    data: np.ndarray | None = None
    name: str = ""
    variable: bool = False

    @classmethod
    def of(cls, value) -> TensorSpec:
        """Spec of a firmforge ``Value`` (its shape, dtype, quantization and constant data)."""
        q = value.quant
        scale = zp = None
        axis = 0
        if q is not None:
            scale = np.asarray(q.scale, np.float32)
            zp = np.asarray(q.zero_point, np.int64)
            axis = q.axis or 0
        dtype = int4 if value.dtype.value == "s4" else value.dtype.np
        return cls(tuple(value.shape), dtype, scale, zp, axis, value.data, value.name)

    def _quantization(self) -> schema.QuantizationParametersT | None:
        if self.scale is None:
            return None
        q = schema.QuantizationParametersT()
        # float32 values exactly as firmforge holds them; the flatbuffer stores float32.
        q.scale = [float(s) for s in np.atleast_1d(np.asarray(self.scale, np.float32))]
        zp = 0 if self.zero_point is None else self.zero_point
        q.zeroPoint = [int(z) for z in np.atleast_1d(np.asarray(zp, np.int64))]
        if len(q.zeroPoint) == 1 and len(q.scale) > 1:
            q.zeroPoint = q.zeroPoint * len(q.scale)
        q.quantizedDimension = int(self.quantized_dimension)
        return q


def _options_type(options: object) -> int:
    name = type(options).__name__
    if not name.endswith("T") or not hasattr(schema.BuiltinOptions, name[:-1]):
        raise TypeError(f"{name} is not a builtin options class of the schema")
    return getattr(schema.BuiltinOptions, name[:-1])


def build_model(op: int, options: object | None, inputs: Sequence[TensorSpec | None],
                outputs: Sequence[TensorSpec], *, version: int = 1,
                intermediates: Sequence[TensorSpec] = ()) -> bytes:
    """A .tflite flatbuffer holding one subgraph with one operator ``op``; ``intermediates``
    become the operator's intermediate tensors (as TFLite's converter writes for LSTMs)."""
    buffers = [schema.BufferT()]  # buffer 0 is the empty buffer by convention
    tensors: list[schema.TensorT] = []

    def add(spec: TensorSpec) -> int:
        packed = spec.dtype is int4
        dtype = np.dtype(np.int8 if packed else spec.dtype)
        t = schema.TensorT()
        t.shape = [int(d) for d in spec.shape]
        t.type = schema.TensorType.INT4 if packed else _TENSOR_TYPE[dtype]
        t.name = spec.name or f"t{len(tensors)}"
        t.quantization = spec._quantization()
        t.buffer = 0
        t.isVariable = bool(spec.variable)
        if spec.variable and spec.data is not None:
            raise ValueError(f"{t.name}: a variable tensor has no constant data")
        if spec.data is not None:
            data = np.asarray(spec.data, dtype)  # (ascontiguousarray would make rank 0 rank 1)
            if tuple(data.shape) != tuple(spec.shape):
                raise ValueError(f"{t.name}: data {data.shape} != shape {spec.shape}")
            b = schema.BufferT()
            b.data = pack_int4(data) if packed else \
                np.ascontiguousarray(data.reshape(-1)).view(np.uint8)
            t.buffer = len(buffers)
            buffers.append(b)
        tensors.append(t)
        return len(tensors) - 1

    in_idx = [-1 if s is None else add(s) for s in inputs]
    out_idx = [add(s) for s in outputs]
    mid_idx = [add(s) for s in intermediates]
    graph_inputs = [i for i, s in zip(in_idx, inputs, strict=True)
                    if s is not None and s.data is None and not s.variable]

    code = schema.OperatorCodeT()
    code.builtinCode = int(op)
    code.deprecatedBuiltinCode = min(int(op), 127)  # old readers see 127 = "use builtinCode"
    code.version = version
    oper = schema.OperatorT()
    oper.opcodeIndex = 0
    oper.inputs = in_idx
    oper.outputs = out_idx
    if mid_idx:
        oper.intermediates = mid_idx
    if options is not None:
        oper.builtinOptionsType = _options_type(options)
        oper.builtinOptions = options

    sub = schema.SubGraphT()
    sub.tensors = tensors
    sub.inputs = graph_inputs
    sub.outputs = out_idx
    sub.operators = [oper]
    sub.name = "main"
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.subgraphs = [sub]
    model.buffers = buffers
    model.description = "firmforge single-op test model"
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


class TFLMRefused(RuntimeError):
    """TFLM refused a model (Prepare failed) or an invocation. The runtime's exception says only
    that it failed ("TFLM failed to allocate tensors"); ``log`` holds what TFLM's error reporter
    printed, which names the check that failed (``...cc:67 params->... was not true.``), so a
    test can assert why TFLM refused."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(f"{message}\n{log}".rstrip())
        self.log = log


@contextlib.contextmanager
def _tflm_errors() -> Iterator[None]:
    """Turn TFLM's RuntimeError into TFLMRefused with its error reporter's text: the C++ side
    writes to file descriptor 2 directly, so that descriptor is captured for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except RuntimeError as e:
            os.dup2(saved, 2)
            log.seek(0)
            raise TFLMRefused(str(e), log.read().decode(errors="replace")) from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run_model(model: bytes, inputs: Sequence[np.ndarray], *, arena_size: int | None = None
              ) -> list[np.ndarray]:
    """Run ``model`` in TFLM on a batch: one array per model input, samples along dimension 0.

    When the model's batch is smaller than the arrays' (the usual batch 1), the samples are run
    one model-batch at a time and the outputs are concatenated. An input the model stores
    without a batch dimension (one rank lower than its array) takes one sample at a time.
    Raises TFLMRefused when TFLM rejects the model (Prepare fails) or the invocation.
    """
    with _tflm_errors():
        return _run_model(model, inputs, arena_size)


def _run_model(model: bytes, inputs: Sequence[np.ndarray], arena_size: int | None
               ) -> list[np.ndarray]:
    arena = arena_size or 64 * 1024 + 4 * _tensor_bytes(model)
    interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
    xs = [np.asarray(x) for x in inputs]
    n_out = _count_outputs(model)
    if not xs:
        interp.invoke()
        return [np.array(interp.get_output(i), copy=True) for i in range(n_out)]
    shapes = [tuple(int(d) for d in interp.get_input_details(i)["shape"]) for i in range(len(xs))]
    shape = shapes[0]
    # the model's own batch; an input stored without a batch dimension is one sample
    mb = int(shape[0]) if len(shape) == xs[0].ndim and shape[0] > 0 else 1
    total = xs[0].shape[0] if xs[0].ndim else 1
    if total % mb:
        raise ValueError(f"batch {total} is not a multiple of the model's batch {mb}")
    outs: list[list[np.ndarray]] = [[] for _ in range(n_out)]
    for start in range(0, total, mb):
        for i, x in enumerate(xs):
            xi = x[start:start + mb] if x.ndim else x
            if x.ndim and len(shapes[i]) == x.ndim - 1:  # one sample of an unbatched input
                xi = xi.reshape(shapes[i])
            interp.set_input(np.array(xi, order="C"), i)  # (ascontiguousarray makes 0-D 1-D)
        interp.invoke()
        for i in range(n_out):
            outs[i].append(np.array(interp.get_output(i), copy=True))
    return [np.concatenate(o, axis=0) if o[0].ndim else o[0] for o in outs]


def run_op(op: int, options: object | None, inputs: Sequence[TensorSpec | None],
           outputs: Sequence[TensorSpec], xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Build the one-operator model and run it on ``xs`` (see ``run_model``)."""
    return run_model(build_model(op, options, inputs, outputs), xs)


class Session:
    """One TFLM interpreter kept across calls, so that variable tensors (recurrent state) carry
    from one ``invoke`` to the next, as on a device that runs a stateful model repeatedly.

    TFLM initialises variable tensors when it allocates them and again on ``reset()`` (the
    runtime's ``Interpreter.reset``, MicroInterpreter::Reset): int8 ones to their zero point,
    all others to 0.
    """

    def __init__(self, model: bytes, *, arena_size: int | None = None) -> None:
        arena = arena_size or 64 * 1024 + 4 * _tensor_bytes(model)
        with _tflm_errors():
            self._interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
        self._outputs = _count_outputs(model)

    def invoke(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Set the model inputs (whole tensors, model batch included), Invoke() once and return
        copies of the outputs."""
        for i, x in enumerate(inputs):
            self._interp.set_input(np.ascontiguousarray(x), i)
        with _tflm_errors():
            self._interp.invoke()
        return [np.array(self._interp.get_output(i), copy=True) for i in range(self._outputs)]

    def reset(self) -> None:
        """Restore every variable tensor to its initial value."""
        self._interp.reset()


_ITEMSIZE = {t: np.dtype(d).itemsize for d, t in _TENSOR_TYPE.items()}


def _tensor_bytes(model: bytes) -> int:
    """Bytes of every tensor of the first subgraph (to size TFLM's arena generously)."""
    sub = schema.Model.GetRootAs(model, 0).Subgraphs(0)
    total = 0
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        dims = [t.Shape(k) for k in range(t.ShapeLength())]
        total += int(np.prod(dims)) * _ITEMSIZE.get(t.Type(), 8)
    return total


def _count_outputs(model: bytes) -> int:
    m = schema.Model.GetRootAs(model, 0)
    return m.Subgraphs(0).OutputsLength()
