"""Bad .tflite input gives one clear error (a ValueError subclass naming what and where), never
a traceback from inside flatbuffers, a hang or a huge allocation."""

from __future__ import annotations

import struct
import sys
import time

import numpy as np
import pytest
import tflite_cases as tc

from firmforge.converter.frontends import tflite_schema
from firmforge.converter.frontends.tflite import (
    SchemaUnavailableError,
    TFLiteFormatError,
    UnsupportedTFLiteError,
    load_tflite,
)

from tflm_harness import BuiltinOperator as Op
from tflm_harness import build_model, schema


@pytest.fixture
def kws(shared) -> bytes:
    return (shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite").read_bytes()


def _conv() -> bytes:
    """A small int8 CONV_2D model: tensor 0 input, 1 weights, 2 bias, 3 output."""
    return tc.conv_cases(1, tag="bad")[0].model


def _fails(data, match: str, cls=TFLiteFormatError) -> str:
    with pytest.raises(cls, match=match) as e:
        load_tflite(data)
    return str(e.value)


def _vector_length_at(obj, slot: int) -> int:
    """Byte position of the length field of the vector in ``slot`` of a lazy schema table."""
    tab = obj._tab
    field = tab.Pos + tab.Offset(slot)
    return field + struct.unpack_from("<I", tab.Bytes, field)[0]


def _patch_u32(data: bytes, pos: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<I", out, pos, value)
    return bytes(out)


# -- not a model at all --------------------------------------------------------------------------
def test_wrong_file_types(tmp_path):
    import torch

    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3)}, pt)
    _fails(pt, "not a .tflite model: the data looks like a ZIP archive")
    (tmp_path / "empty.tflite").write_bytes(b"")
    _fails(tmp_path / "empty.tflite", "empty file")
    (tmp_path / "notes.txt").write_text("conv2d 3x3, 16 channels\nthen relu\n")
    _fails(tmp_path / "notes.txt", "looks like a text file")
    rand = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    _fails(rand, r"bytes 4\.\.8 are .* the TFLite identifier is b'TFL3'")
    _fails(b"\x08\x00\x00\x00TFL2" + bytes(40), "identifier b'TFL2'")
    _fails(b"\x08\x00\x00\x00TFL3", "truncated .tflite model: 8 bytes")
    _fails(tmp_path / "missing.tflite", "cannot read .*missing.tflite: No such file")
    _fails(tmp_path, "cannot read")
    _fails(12345, "takes a path or the bytes of a .tflite file, got int")


def test_missing_schema_package(monkeypatch):
    for name in tflite_schema.SCHEMA_MODULES:
        monkeypatch.setitem(sys.modules, name, None)  # import of a None entry fails
    _fails(_conv(), "pip install tflite-micro", SchemaUnavailableError)
    monkeypatch.setitem(sys.modules, "flatbuffers", None)
    _fails(_conv(), "pip install flatbuffers", SchemaUnavailableError)


def test_second_schema_package_is_used(monkeypatch):
    pytest.importorskip("ai_edge_litert.schema_py_generated")
    monkeypatch.setitem(sys.modules, tflite_schema.SCHEMA_MODULES[0], None)
    assert len(load_tflite(_conv()).graph.nodes) == 1


# -- broken containers ---------------------------------------------------------------------------
def test_truncated_files(kws):
    for n in (10, 24, 100, 1000, len(kws) // 2, len(kws) - 100, len(kws) - 1):
        _fails(kws[:n], "(truncated|outside the .*-byte file|buffer holds|cannot fit|out of "
               "range)")


def test_schema_version():
    def edit(m):
        m.version = 2
    _fails(tc.rewrite(_conv(), edit), "schema version 2; TFLite models are version 3")


def test_absurd_vector_lengths_fail_fast(kws):
    """A corrupted length never drives a loop: it is checked against the file size first."""
    m = schema.Model.GetRootAs(kws, 0)
    sub = m.Subgraphs(0)
    cases = {"tensors": (sub, 4), "shape": (sub.Tensors(5), 4), "inputs": (sub.Operators(3), 6),
             "operator codes": (m, 6), "subgraphs": (m, 8), "buffers": (m, 12)}
    for what, (obj, slot) in cases.items():
        pos = _vector_length_at(obj, slot)
        for value in (0xFFFFFFFF, 0x7FFFFFFF, len(kws)):
            start = time.perf_counter()
            _fails(_patch_u32(kws, pos, value), "cannot fit in a 53936-byte file")
            assert time.perf_counter() - start < 1.0, what


def test_overlapping_vectors_exhaust_the_budget():
    """Vectors that share storage could fake more elements than the file holds; every length
    draws on one budget proportional to the file size."""
    r = tflite_schema._Reader(bytes(1000), schema)
    for _ in range(3):
        r.length("v", lambda: 1000, 1)
    with pytest.raises(TFLiteFormatError, match="add up to more elements than 1000 bytes"):
        for _ in range(10):
            r.length("v", lambda: 1000, 1)


def test_out_of_range_indices():
    def tensor_buffer(m):
        m.subgraphs[0].tensors[1].buffer = 999
    _fails(tc.rewrite(_conv(), tensor_buffer), r"tensor 1 \(t1\): buffer index 999 is out of "
           "range \\(the model has 3 buffers\\)")

    def op_input(m):
        m.subgraphs[0].operators[0].inputs = [0, 77, 2]
    _fails(tc.rewrite(_conv(), op_input), r"operator 0 \(CONV_2D\) inputs: tensor index 77 is "
           "out of range \\(the subgraph has 4 tensors\\)")

    def opcode(m):
        m.subgraphs[0].operators[0].opcodeIndex = 5
    _fails(tc.rewrite(_conv(), opcode), "operator 0: opcode index 5 is out of range")

    def graph_output(m):
        m.subgraphs[0].outputs = [-3]
    _fails(tc.rewrite(_conv(), graph_output), "subgraph outputs: tensor index -3 is out of range")


def test_buffer_of_the_wrong_size():
    def edit(m):
        m.buffers[m.subgraphs[0].tensors[1].buffer].data = np.zeros(5, np.uint8)
    w = schema.Model.GetRootAs(_conv(), 0).Subgraphs(0).Tensors(1).ShapeAsNumpy()
    dims = ",".join(map(str, w))
    _fails(tc.rewrite(_conv(), edit), rf"tensor 1 \(t1\): buffer holds 5 bytes, shape \[{dims}\] "
           rf"int8 needs {int(np.prod(w))}")


def test_bad_quantization():
    def zero_scale(m):
        m.subgraphs[0].tensors[3].quantization.scale = [0.0]
    _fails(tc.rewrite(_conv(), zero_scale), r"tensor 3 \(t3\): quantization scales must be "
           "finite and positive")

    def channels(m):
        q = m.subgraphs[0].tensors[1].quantization
        q.scale, q.zeroPoint = q.scale + [0.1] * 4, q.zeroPoint + [0] * 4
    _fails(tc.rewrite(_conv(), channels), r"tensor 1 \(t1\): quantization has \d+ scales for "
           "dimension 0")


def test_int8_activation_without_quantization():
    def edit(m):
        m.subgraphs[0].tensors[3].quantization = None
    _fails(tc.rewrite(_conv(), edit), r"tensor 3 \(t3\) is INT8 without quantization "
           "parameters", UnsupportedTFLiteError)


def test_output_shape_that_disagrees_with_the_operator():
    def edit(m):
        t = m.subgraphs[0].tensors[3]
        t.shape = [1, t.shape[1] + 1, *t.shape[2:]]
    _fails(tc.rewrite(_conv(), edit), r"operator 0 \(CONV_2D\): output tensor 3 \(t3\) is stored "
           r"as s8\[1, \d+, .*the operator computes s8\[1, \d+")


def test_graph_structure_errors():
    def read_before_write(m):
        m.subgraphs[0].inputs = []
    _fails(tc.rewrite(_conv(), read_before_write), r"input 0 \(tensor 0 \(t0\)\) is read before "
           "anything writes it")

    def output_is_input(m):
        m.subgraphs[0].outputs = [0]
    _fails(tc.rewrite(_conv(), output_is_input), "graph output tensor 0 .* is a graph input",
           UnsupportedTFLiteError)

    def output_is_constant(m):
        m.subgraphs[0].outputs = [3, 1]
    _fails(tc.rewrite(_conv(), output_is_constant), "graph output tensor 1 .* is a constant",
           UnsupportedTFLiteError)

    def written_twice(m):
        sub = m.subgraphs[0]
        sub.operators.append(sub.operators[0])
    _fails(tc.rewrite(_conv(), written_twice), r"operator 1 \(CONV_2D\): output tensor 3 .* is "
           "already written")


def test_unsupported_things_are_listed_together():
    def edit(m):
        sub = m.subgraphs[0]
        sub.inputs = [0, 1]                       # weights fed at run time
        sub.tensors[1].buffer = 0
        sub.operators[0].builtinOptions.fusedActivationFunction = 9
        m.subgraphs.append(sub)
    msg = _fails(tc.rewrite(_conv(), edit), "unsupported", UnsupportedTFLiteError)
    assert "the model has 2 subgraphs" in msg
    assert "operator 0 (CONV_2D): weights (input 1) are not constant" in msg


def test_unknown_fused_activation():
    def edit(m):
        m.subgraphs[0].operators[0].builtinOptions.fusedActivationFunction = 9
    _fails(tc.rewrite(_conv(), edit), r"operator 0 \(CONV_2D\): fused activation 9 is not "
           "supported", UnsupportedTFLiteError)


def test_fake_quantization_in_a_float_model():
    rng = tc.rng_for("fake quant")
    x = tc.act(rng, (1, 8), np.float32)
    q = tc.act(rng, (1, 8))
    y = tc.act(rng, (1, 8), np.float32)
    qm = build_model(Op.QUANTIZE, None, [x], [q])

    def edit(m):
        sub = m.subgraphs[0]
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 8], schema.TensorType.FLOAT32, 0, b"y"
        sub.tensors.append(t)
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = Op.DEQUANTIZE
        code.version = 1
        m.operatorCodes.append(code)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 1, [1], [2]
        sub.operators.append(op)
        sub.outputs = [2]
    assert y.dtype == np.float32
    msg = _fails(tc.rewrite(qm, edit), "fake quantization", UnsupportedTFLiteError)
    assert "operator 0 (QUANTIZE)" in msg and "operator 1 (DEQUANTIZE)" in msg


def test_options_of_the_wrong_type():
    def edit(m):
        m.subgraphs[0].operators[0].builtinOptionsType = schema.BuiltinOptions.Pool2DOptions
        m.subgraphs[0].operators[0].builtinOptions = schema.Pool2DOptionsT()
    _fails(tc.rewrite(_conv(), edit), r"operator 0 \(CONV_2D\): carries Pool2DOptions, "
           "expected Conv2DOptions")
