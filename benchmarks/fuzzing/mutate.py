"""Mutations of .tflite models that reach past the flatbuffer parser.

Byte-level mutations (libFuzzer's own, or benchmarks/fuzz_tflite.py's flips and 4-byte field
overwrites) mostly break the container, so the importer refuses them in its first checks. A
*field* mutation instead unpacks the model with the schema's object API, changes one leaf of the
object tree (a shape dimension, a tensor type, a scale, a zero point, an operator's input index,
an option, an opcode, a weight byte, a list element, a whole operator or tensor dropped or
duplicated) and packs it again: the result is a well-formed flatbuffer that the importer reads to
the end, so the mutation exercises the operator mappings, shape inference, quantization checks,
the passes, the code generator and the reference.

    mutate(data, rng, max_size, fallback)  -> (kind, bytes)   one mutation; kind is "field",
                                              "byte" or "libFuzzer" (the fallback's)
    field_mutation(data, rng)              -> bytes | None   None when data does not unpack
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from benchmarks.fuzz_tflite import flip, overwrite, structural_positions
from firmforge.converter.frontends.tflite import TFLiteFormatError
from firmforge.converter.frontends.tflite_ops import HANDLERS
from firmforge.converter.frontends.tflite_schema import read_model

FIELD_SHARE = 0.7  # of mutations: one field of the unpacked model
BYTE_SHARE = 0.1  # structural byte flips and 4-byte overwrites (fuzz_tflite's)
INTS = (0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 127, 128, -128, 255, 256, 32767, 32768, -32768,
        65535, 65536, 2**31 - 1, -2**31)
FLOATS = (0.0, -0.0, 1.0, -1.0, 1e-38, 1e-45, 1e38, 3.4e38, math.inf, -math.inf, math.nan,
          2.0**-31, 2.0**31)
# builtin operator codes firmforge maps: an operator turned into another keeps its tensors
_CODES = sorted(getattr(schema.BuiltinOperator, n) for n in HANDLERS
                if hasattr(schema.BuiltinOperator, n))
_SKIP = {"name", "description", "customCode", "signatureKey"}


def mutate(data: bytes, rng: random.Random, max_size: int,
           fallback: Callable[[bytes, int], bytes], bases: Sequence[bytes] = ()
           ) -> tuple[str, bytes]:
    """One mutation of ``data``: a field mutation (``FIELD_SHARE``), a structural byte mutation
    (``BYTE_SHARE``), else ``fallback(data, max_size)`` (libFuzzer's mutator in the engine).
    When ``data`` does not pass the container checks (a byte mutation broke it), a field or
    byte mutation falls back too, or, half the time when ``bases`` are given, mutates a random
    one of them instead (so that most executions get past the parser)."""
    r = rng.random()
    out, kind = None, "libFuzzer"
    if r < FIELD_SHARE + BYTE_SHARE and bases and rng.random() < 0.5 and not _parses(data):
        data = rng.choice(bases)
    if r < FIELD_SHARE + BYTE_SHARE and _parses(data):
        if r < FIELD_SHARE:
            out, kind = field_mutation(data, rng), "field"
        elif _structural(data):
            out, kind = (flip if rng.random() < 0.5 else overwrite)(data, rng), "byte"
    if out is None:
        out, kind = fallback(data, max_size), "libFuzzer"
    return kind, out[:max_size]


def field_mutation(data: bytes, rng: random.Random) -> bytes | None:
    """``data`` (a model firmforge's container checks accept) with one leaf of its object tree
    changed, repacked; None when the mutated value does not pack."""
    try:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    except Exception:  # fields firmforge does not read may still be corrupt
        return None
    leaves: list[tuple[object, str]] = []
    _collect(model, leaves)
    if not leaves:
        return None
    obj, name = leaves[rng.randrange(len(leaves))]
    _change(obj, name, rng)
    try:
        b = flatbuffers.Builder(max(1024, len(data)))
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
    except Exception:  # a value outside its field's type (struct.error, OverflowError, ...)
        return None
    return bytes(b.Output())


def _parses(data: bytes) -> bool:
    """The container checks pass (they are bounds-checked: the object API and the structural
    positions would follow any corrupt offset)."""
    try:
        read_model(data)
    except TFLiteFormatError:
        return False
    return True


def _structural(data: bytes) -> bool:
    """fuzz_tflite's structural positions can be found (the buffers they skip are readable)."""
    try:
        return bool(structural_positions(data))
    except Exception:  # a buffer firmforge never reads may still hold a corrupt offset
        return False


def _collect(obj: object, out: list[tuple[object, str]]) -> None:
    for name, v in vars(obj).items():
        if name in _SKIP or v is None:
            continue
        if isinstance(v, list) and v and hasattr(v[0], "__dict__"):
            out.append((obj, name))  # the list itself: drop, duplicate or swap elements
            for item in v:
                _collect(item, out)
        elif hasattr(v, "__dict__"):
            _collect(v, out)
        elif isinstance(v, (bool, int, float, list, np.ndarray)):
            out.append((obj, name))


def _change(obj: object, name: str, rng: random.Random) -> None:
    v = getattr(obj, name)
    if isinstance(obj, schema.OperatorCodeT) and name in ("builtinCode", "deprecatedBuiltinCode"):
        code = rng.choice(_CODES) if rng.random() < 0.8 else _int(rng, v)
        obj.builtinCode, obj.deprecatedBuiltinCode = code, min(max(code, 0), 127)
    elif isinstance(v, bool):
        setattr(obj, name, not v)
    elif isinstance(v, int):
        setattr(obj, name, _int(rng, v))
    elif isinstance(v, float):
        setattr(obj, name, _float(rng, v))
    elif isinstance(v, np.ndarray) and v.dtype == np.uint8:
        setattr(obj, name, _bytes(rng, v))
    elif isinstance(v, np.ndarray):
        items = _list(rng, v.tolist(), v.dtype.kind == "f")
        setattr(obj, name, np.array(items, np.float64 if v.dtype.kind == "f" else np.int64)
                .astype(v.dtype))
    elif v and hasattr(v[0], "__dict__"):
        _objects(rng, v)
    else:
        setattr(obj, name, _list(rng, list(v), bool(v) and isinstance(v[0], float)))


def _int(rng: random.Random, old: int) -> int:
    r = rng.random()
    if r < 0.3:
        return old + rng.choice((-2, -1, 1, 2))
    if r < 0.5:
        return rng.randint(-1, 64)
    if r < 0.6:
        return old * rng.choice((2, -1, 0))
    return rng.choice(INTS)


def _float(rng: random.Random, old: float) -> float:
    r = rng.random()
    if r < 0.4:
        return old * rng.choice((0.5, 2.0, 1.0 + 2.0**-20, 1.0 - 2.0**-20, 1000.0, 1e-3, -1.0))
    return rng.choice(FLOATS)


def _list(rng: random.Random, items: list, floats: bool) -> list:
    r = rng.random()
    new = (lambda old: _float(rng, old)) if floats else (lambda old: _int(rng, old))
    if items and r < 0.6:
        i = rng.randrange(len(items))
        items[i] = new(items[i])
    elif items and r < 0.75:
        del items[rng.randrange(len(items))]
    elif items and r < 0.85:
        i, j = rng.randrange(len(items)), rng.randrange(len(items))
        items[i], items[j] = items[j], items[i]
    else:
        items.insert(rng.randrange(len(items) + 1), new(items[0] if items else 1))
    return items


def _bytes(rng: random.Random, data: np.ndarray) -> np.ndarray:
    out = bytearray(data.tobytes())
    r = rng.random()
    if out and r < 0.6:
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    elif out and r < 0.8:
        del out[rng.randrange(len(out)):]
    else:
        at = rng.randrange(len(out) + 1)
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 8))))
    return np.frombuffer(bytes(out), np.uint8)


def _objects(rng: random.Random, items: list) -> None:
    r = rng.random()
    if r < 0.4:
        del items[rng.randrange(len(items))]
    elif r < 0.8:
        items.insert(rng.randrange(len(items) + 1), copy.deepcopy(rng.choice(items)))
    else:
        i, j = rng.randrange(len(items)), rng.randrange(len(items))
        items[i], items[j] = items[j], items[i]


def plain_bytes(data: bytes, rng: random.Random) -> bytes:
    """A byte-level mutation that needs no parse (the fallback outside libFuzzer): bits
    flipped, a 4-byte field overwritten, the end cut off, or bytes inserted."""
    out = bytearray(data)
    r = rng.random()
    if out and r < 0.4:
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif len(out) >= 4 and r < 0.7:
        pos = rng.randrange(len(out) // 4) * 4
        out[pos:pos + 4] = (rng.choice(INTS) & 0xFFFFFFFF).to_bytes(4, "little")
    elif out and r < 0.85:
        del out[rng.randrange(len(out)):]
    else:
        at = rng.randrange(len(out) + 1)
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(out)
