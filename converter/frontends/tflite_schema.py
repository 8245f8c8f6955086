"""Reading a .tflite flatbuffer into plain Python records, with every offset and length checked.

The schema module comes from an installed package (tflite-micro's, else ai-edge-litert's); it is
never copied into firmforge. Its generated accessors are lazy and trust the file: an offset past
the end raises ``struct.error`` deep inside flatbuffers, and a corrupted vector length is just a
number that a loop would believe. So every read here goes through ``_Reader``:

- each access runs under ``_Reader.get``, which turns whatever the accessor raises into a
  ``TFLiteFormatError`` naming the field it was reading;
- each vector length is checked against the file size *before* anything iterates over it
  (``n * element_size <= file size``), and all lengths together draw on one budget of a few
  elements per file byte, so vectors that share storage cannot multiply the work either;
- scalar vectors are read as numpy views (``np.frombuffer`` checks the range itself), never
  element by element.

Everything the importer needs is read here, once, into ``ModelData``; nothing after this module
touches the flatbuffer.
"""

from __future__ import annotations

import importlib
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from ..encoding import from_packed
from ..ir import DType, IRError, QuantParams
from .tflite_errors import SchemaUnavailableError, TFLiteFormatError, check_header

SCHEMA_VERSION = 3
MAX_RANK = 8  # TFLite kernels handle at most 6 dims; anything past 8 is corruption
SCHEMA_MODULES = ("tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
                  "ai_edge_litert.schema_py_generated")


def load_schema():
    """The generated TFLite schema module of an installed package (never a vendored copy)."""
    try:
        importlib.import_module("flatbuffers")
    except ImportError:
        raise SchemaUnavailableError("reading .tflite files needs the flatbuffers package: "
                                     "pip install flatbuffers") from None
    for name in SCHEMA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise SchemaUnavailableError(
        "reading .tflite files needs the TFLite schema from an installed package: pip install "
        "tflite-micro (or pip install ai-edge-litert)")


# numpy element type of each TFLite tensor type firmforge can read as data
_NP_TYPES = {"FLOAT32": "<f4", "FLOAT16": "<f2", "FLOAT64": "<f8", "INT8": "i1", "UINT8": "u1",
             "INT16": "<i2", "UINT16": "<u2", "INT32": "<i4", "UINT32": "<u4", "INT64": "<i8",
             "UINT64": "<u8", "BOOL": "?"}
_PACKED_BITS = {"INT4": 4, "UINT4": 4, "INT2": 2}
_PACKED_DTYPES = {"INT4": DType.s4}  # packed types read as values (TFLM's INT4 filters)


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the subgraph as stored. ``data`` is a read-only little-endian view of its
    buffer in the tensor's shape (None for activations and for types numpy cannot hold); an
    INT4 buffer (two values per byte, low nibble first) is unpacked to int8 values."""

    index: int
    name: str
    shape: tuple[int, ...]
    type_name: str
    quant: QuantParams | None
    quant_error: str | None
    data: np.ndarray | None
    has_data: bool
    is_variable: bool
    sparse: bool
    quant_details: bool

    @property
    def label(self) -> str:
        return f"tensor {self.index} ({self.name})"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class OperatorInfo:
    """One operator: its builtin name (``CONV_2D``; ``CUSTOM`` with ``custom_code``), tensor
    indices (-1 for an omitted optional input) and its options read into a dict."""

    index: int
    op_name: str
    version: int
    custom_code: str | None
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options_name: str
    options: dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        extra = f" {self.custom_code!r}" if self.custom_code is not None else ""
        return f"operator {self.index} ({self.op_name}{extra})"


@dataclass(frozen=True)
class ModelData:
    size: int
    description: str
    subgraph_count: int
    tensors: list[TensorInfo]
    operators: list[OperatorInfo]
    inputs: list[int]
    outputs: list[int]


_READ_ERRORS = (struct.error, TypeError, ValueError, IndexError, OverflowError, AttributeError,
                UnicodeDecodeError, MemoryError)


class _Reader:
    """Bounds-checked access to the generated accessors over one byte string."""

    def __init__(self, data: bytes, schema) -> None:
        self.data = data
        self.schema = schema
        self.n = len(data)
        # No legitimate file holds more vector elements than bytes; sharing offsets could fake
        # that, so all reads together get a linear budget.
        self.budget = 4 * self.n + 4096
        self.type_names = _enum_names(schema.TensorType)

    def get(self, where: str, fn, *args):
        try:
            return fn(*args)
        except TFLiteFormatError:
            raise
        except _READ_ERRORS as e:
            raise TFLiteFormatError(f"{where}: unreadable, an offset or length points outside "
                                    f"the {self.n}-byte file ({type(e).__name__}: {e})") from None

    def length(self, where: str, fn, elem_bytes: int) -> int:
        n = self.get(where, fn)
        if not isinstance(n, int) or n < 0 or n * elem_bytes > self.n:
            raise TFLiteFormatError(f"{where}: a vector of {n} elements cannot fit in a "
                                    f"{self.n}-byte file")
        self.budget -= n
        if self.budget < 0:
            raise TFLiteFormatError(f"{where}: the file's vectors add up to more elements than "
                                    f"{self.n} bytes can hold (overlapping, corrupted offsets)")
        return n

    def array(self, where: str, obj, name: str, elem_bytes: int) -> np.ndarray:
        """A scalar vector field as a numpy view (empty when the field is absent)."""
        self.length(where, getattr(obj, f"{name}Length"), elem_bytes)
        arr = self.get(where, getattr(obj, f"{name}AsNumpy"))
        return arr if isinstance(arr, np.ndarray) else np.zeros(0, np.int32)

    def string(self, where: str, fn) -> str:
        raw = self.get(where, fn)
        return "" if raw is None else raw.decode("utf-8", errors="replace")


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def read_model(data: bytes) -> ModelData:
    """Parse and check the container: identifier, schema version, indices, buffer sizes."""
    check_header(data)
    schema = load_schema()
    r = _Reader(data, schema)
    model = r.get("model table", schema.Model.GetRootAs, data, 0)
    version = r.get("model version", model.Version)
    if version != SCHEMA_VERSION:
        raise TFLiteFormatError(f"schema version {version}; TFLite models are version "
                                f"{SCHEMA_VERSION}")
    n_sub = r.length("model subgraphs", model.SubgraphsLength, 4)
    if n_sub == 0:
        raise TFLiteFormatError("the model has no subgraph")
    codes = _opcodes(r, model)
    n_buf = r.length("model buffers", model.BuffersLength, 4)
    buffers = _Buffers(r, model, n_buf)
    sub = r.get("subgraph 0", model.Subgraphs, 0)
    n_t = r.length("subgraph 0 tensors", sub.TensorsLength, 4)
    tensors = [_tensor(r, r.get(f"tensor {i}", sub.Tensors, i), i, buffers) for i in range(n_t)]
    ins = _indices(r, "subgraph inputs", sub, "Inputs", n_t)
    outs = _indices(r, "subgraph outputs", sub, "Outputs", n_t)
    n_op = r.length("subgraph 0 operators", sub.OperatorsLength, 4)
    ops = [_operator(r, r.get(f"operator {i}", sub.Operators, i), i, codes, n_t)
           for i in range(n_op)]
    return ModelData(len(data), r.string("model description", model.Description), n_sub,
                     tensors, ops, ins, outs)


def _opcodes(r: _Reader, model) -> list[tuple[str, int, str | None]]:
    names = _enum_names(r.schema.BuiltinOperator)
    out = []
    for i in range(r.length("model operator codes", model.OperatorCodesLength, 4)):
        where = f"operator code {i}"
        c = r.get(where, model.OperatorCodes, i)
        # Old files keep the code in the int8 field only (127 there means "see builtin_code").
        code = max(r.get(where, c.BuiltinCode), r.get(where, c.DeprecatedBuiltinCode))
        name = names.get(code, f"BUILTIN_{code}")
        custom = r.string(where, c.CustomCode) if name == "CUSTOM" else None
        out.append((name, r.get(where, c.Version), custom))
    return out


class _Buffers:
    """Buffer contents on demand: inline data, or an (offset, size) range of the file."""

    def __init__(self, r: _Reader, model, count: int) -> None:
        self.r, self.model, self.count = r, model, count
        self.cache: dict[int, np.ndarray] = {}

    def get(self, i: int, where: str) -> np.ndarray:
        if i == 0 and self.count == 0:
            return np.zeros(0, np.uint8)  # buffer 0 is the empty buffer by convention
        if not 0 <= i < self.count:
            raise TFLiteFormatError(f"{where}: buffer index {i} is out of range (the model has "
                                    f"{self.count} buffers)")
        if i not in self.cache:
            r = self.r
            b = r.get(f"buffer {i}", self.model.Buffers, i)
            raw = r.array(f"buffer {i}", b, "Data", 1)
            off = int(r.get(f"buffer {i}", getattr(b, "Offset", lambda: 0)))
            size = int(r.get(f"buffer {i}", getattr(b, "Size", lambda: 0)))
            if raw.size == 0 and off > 1:  # data kept after the flatbuffer (large models)
                if off + size > r.n:
                    raise TFLiteFormatError(f"buffer {i}: external data at bytes {off}.."
                                            f"{off + size} lies outside the {r.n}-byte file")
                raw = np.frombuffer(r.data, np.uint8, size, off)
            self.cache[i] = raw
        return self.cache[i]


def _indices(r: _Reader, where: str, obj, field_name: str, n_tensors: int,
             optional: bool = False) -> list[int]:
    idx = r.array(where, obj, field_name, 4).astype(np.int64)
    lo = -1 if optional else 0
    bad = idx[(idx < lo) | (idx >= n_tensors)]
    if bad.size:
        raise TFLiteFormatError(f"{where}: tensor index {int(bad[0])} is out of range (the "
                                f"subgraph has {n_tensors} tensors)")
    return [int(i) for i in idx]


def _tensor(r: _Reader, t, index: int, buffers: _Buffers) -> TensorInfo:
    where = f"tensor {index}"
    name = r.string(where, t.Name)[:200] or f"tensor{index}"
    where = f"tensor {index} ({name})"
    rank = r.length(f"{where} shape", t.ShapeLength, 4)
    if rank > MAX_RANK:
        raise TFLiteFormatError(f"{where}: shape has {rank} dimensions")
    shape = tuple(int(d) for d in r.array(f"{where} shape", t, "Shape", 4))
    if any(d < 0 for d in shape):
        raise TFLiteFormatError(f"{where}: negative dimension in shape {list(shape)}")
    type_code = r.get(where, t.Type)
    type_name = r.type_names.get(type_code, f"TYPE_{type_code}")
    quant, quant_error, details = _quantization(r, t, where, shape)
    buf = buffers.get(r.get(where, t.Buffer), where)
    has_data = buf.size > 0
    variable = bool(r.get(where, t.IsVariable))
    if has_data and variable:
        raise TFLiteFormatError(f"{where}: a variable tensor with constant data (TFLM ignores "
                                "the data: it allocates variables in its arena and resets them)")
    data = None
    if has_data:
        data = _constant(buf, shape, type_name, where)
    sparse = r.get(where, t.Sparsity) is not None
    return TensorInfo(index, name, shape, type_name, quant, quant_error, data, has_data,
                      variable, sparse, details)


def _constant(buf: np.ndarray, shape: tuple[int, ...], type_name: str, where: str
              ) -> np.ndarray | None:
    n = math.prod(shape)
    if type_name in _NP_TYPES:
        dt = np.dtype(_NP_TYPES[type_name])
        need = n * dt.itemsize
    elif type_name in _PACKED_BITS:
        dt, need = None, (n * _PACKED_BITS[type_name] + 7) // 8
    else:
        raise TFLiteFormatError(f"{where}: constant data of type {type_name}, which has no "
                                "fixed element size")
    if buf.size != need:
        dims = ",".join(map(str, shape))
        raise TFLiteFormatError(f"{where}: buffer holds {buf.size} bytes, shape [{dims}] "
                                f"{type_name.lower()} needs {need}")
    if dt is None:
        if type_name not in _PACKED_DTYPES:
            return None
        arr = from_packed(buf, shape, _PACKED_DTYPES[type_name])
        arr.flags.writeable = False
        return arr
    arr = np.frombuffer(buf, dt).reshape(shape)
    arr.flags.writeable = False
    return arr


def _quantization(r: _Reader, t, where: str, shape: tuple[int, ...]
                  ) -> tuple[QuantParams | None, str | None, bool]:
    q = r.get(where, t.Quantization)
    if q is None:
        return None, None, False
    details = r.get(where, q.DetailsType) != 0
    scale = r.array(f"{where} scales", q, "Scale", 4)
    zp = r.array(f"{where} zero points", q, "ZeroPoint", 8)
    if scale.size == 0:
        return None, None, details  # min/max only: TFLite treats the tensor as unquantized
    axis = int(r.get(where, q.QuantizedDimension))
    problem = None
    if zp.size == 0:
        # TFLM reads such a tensor as unquantized (micro_allocator.cc wants both vectors)
        problem = f"{scale.size} scales but no zero points (TFLM reads it as unquantized)"
    elif zp.size != scale.size:
        problem = f"{scale.size} scales but {zp.size} zero points"
    elif scale.size > 1 and not 0 <= axis < len(shape):
        problem = f"quantized dimension {axis} is outside the shape {list(shape)}"
    elif scale.size > 1 and shape[axis] != scale.size:
        problem = (f"{scale.size} scales for dimension {axis} of shape {list(shape)}")
    if problem is not None:
        # Not an error of the file as such: TFLM reads no parameters of some tensors (a
        # convolution's bias, whose scale it derives from the input's and the filter's; person
        # detection's biases say dimension 3 of a 1-D shape). The importer refuses the
        # parameters only where it reads them (``Builder.quant_of``).
        return None, f"{where}: quantization has {problem}", details
    try:
        qp = QuantParams(scale.astype(np.float32), zp.astype(np.int64),
                         axis if scale.size > 1 else None)
    except IRError as e:
        return None, f"{where}: {e}", details
    return qp, None, details


def _operator(r: _Reader, op, index: int, codes: list, n_tensors: int) -> OperatorInfo:
    where = f"operator {index}"
    code = r.get(where, op.OpcodeIndex)
    if not 0 <= code < len(codes):
        raise TFLiteFormatError(f"{where}: opcode index {code} is out of range (the model has "
                                f"{len(codes)} operator codes)")
    name, version, custom = codes[code]
    where = f"operator {index} ({name})"
    ins = _indices(r, f"{where} inputs", op, "Inputs", n_tensors, optional=True)
    outs = _indices(r, f"{where} outputs", op, "Outputs", n_tensors)
    opt_name, options = _options(r, op, where)
    return OperatorInfo(index, name, version, custom, tuple(ins), tuple(outs), opt_name, options)


_SKIP = ("Init", "GetRootAs")


def _options(r: _Reader, op, where: str) -> tuple[str, dict[str, object]]:
    """The builtin options table as {accessor name: value} (scalars and scalar vectors)."""
    kind = r.get(where, op.BuiltinOptionsType)
    if kind == 0:
        return "", {}
    name = _enum_names(r.schema.BuiltinOptions).get(kind)
    cls = getattr(r.schema, name, None) if name else None
    if cls is None:
        raise TFLiteFormatError(f"{where}: unknown builtin options type {kind}")
    table = r.get(where, op.BuiltinOptions)
    if table is None:
        return name, {}
    obj = cls()
    r.get(f"{where} {name}", obj.Init, table.Bytes, table.Pos)
    attrs = [a for a in vars(cls) if a[:1].isupper() and not a.startswith(_SKIP)
             and not a.endswith(("BufferHasIdentifier", "AsNumpy", "IsNone", "Length"))]
    out: dict[str, object] = {}
    for a in attrs:
        if hasattr(cls, f"{a}AsNumpy"):  # a scalar vector: read it whole, after the length check
            out[a] = [int(v) if not isinstance(v, float) else v
                      for v in r.array(f"{where} option {a}", obj, a, 8).tolist()]
        elif hasattr(cls, f"{a}Length"):
            continue  # vectors of tables or strings: no op firmforge imports has one
        else:
            v = r.get(f"{where} option {a}", getattr(obj, a))
            if isinstance(v, (bool, int, float)):
                out[a] = v
    return name, out
