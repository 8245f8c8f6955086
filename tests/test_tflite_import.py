"""The MLPerf Tiny int8 models import exactly: every intermediate tensor of the imported graph's
reference equals TFLM's (the tflite-micro package, all tensors preserved) on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from tflite_micro.python.tflite_micro import runtime

from firmforge.converter import reference
from firmforge.converter.frontends.tflite import TFLiteImport, load_tflite
from firmforge.converter.ir import DType
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.nonlinear import Softmax
from firmforge.converter.ops.pool import AvgPool2d
from firmforge.converter.ops.shape import Reshape

SAMPLES = 20
MODELS = {"kws_ref_model": [Conv2d, DepthwiseConv2d] * 4 + [Conv2d, AvgPool2d, Reshape, Dense,
                                                          Softmax],
          "ad01_int8": [Dense] * 10}


def _path(shared, name):
    return shared / "models" / "mlperf-tiny" / f"{name}.tflite"


def _compare_all_tensors(path, imp: TFLiteImport, seed: int) -> int:
    """Run SAMPLES random int8 inputs through both; returns the number of tensors compared."""
    g = imp.graph
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (SAMPLES, *g.inputs[0].shape[1:]), dtype=np.int8)
    _, tensors = reference.run(g, [x], keep_all=True)
    interp = runtime.Interpreter.from_file(
        str(path), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    for i in range(SAMPLES):
        interp.set_input(x[i:i + 1], 0)
        interp.invoke()
        for name, t in imp.tensor_of.items():
            want = tensors[name][i:i + 1]
            got = np.asarray(interp.GetTensor(t, 0)["tensor_data"])
            assert got.dtype == want.dtype and got.size == want.size, name
            if not np.array_equal(got.reshape(want.shape), want):
                bad = int(np.sum(got.reshape(want.shape) != want))
                raise AssertionError(f"sample {i}: tensor {t} ({name}) differs in {bad} of "
                                     f"{want.size} elements")
    return len(imp.tensor_of)


@pytest.mark.parametrize("name", list(MODELS))
def test_mlperf_model_matches_tflm_everywhere(shared, name):
    path = _path(shared, name)
    imp = load_tflite(path)
    g = imp.graph
    assert g.name == name and imp.quantized
    assert [type(n) for n in g.nodes] == MODELS[name]
    assert g.inputs[0].dtype is DType.s8 and g.outputs[0].dtype is DType.s8
    # one IR node per operator, in order, each named after it
    assert [imp.op_of[n.name][0] for n in g.nodes] == list(range(len(g.nodes)))
    # every activation tensor is mapped: the graph input and each operator's output
    values = {v.name for v in g.values() if not v.is_const}
    assert set(imp.tensor_of) == values
    compared = _compare_all_tensors(path, imp, seed=len(name))
    assert compared == len(g.nodes) + 1


def test_quantization_and_constants_are_kept_as_stored(shared):
    """Per-channel scales with their axis, zero points, and weights as little-endian views of
    the file's buffers (read here with the schema's own object API for comparison)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    path = _path(shared, "kws_ref_model")
    data = path.read_bytes()
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    sub = m.subgraphs[0]
    imp = load_tflite(data, "kws")
    assert imp.graph.name == "kws"
    dw = imp.graph.nodes[1]
    op = sub.operators[1]
    w_t = sub.tensors[op.inputs[1]]
    w = dw.inputs[1]
    assert w.quant.axis == w_t.quantization.quantizedDimension == 3
    assert np.array_equal(w.quant.scale, np.asarray(w_t.quantization.scale, np.float32))
    assert w.data.tobytes() == bytes(m.buffers[w_t.buffer].data)
    b_t = sub.tensors[op.inputs[2]]
    assert np.array_equal(dw.inputs[2].data,
                          np.frombuffer(bytes(m.buffers[b_t.buffer].data), "<i4"))
    x_t = sub.tensors[op.inputs[0]]
    assert dw.inputs[0].quant.s == np.float32(x_t.quantization.scale[0])
    assert dw.inputs[0].quant.zp == x_t.quantization.zeroPoint[0]
    # the reference depends on the file only: path, str and bytes give the same graph
    a = load_tflite(str(path)).graph
    assert [repr(n) for n in a.nodes] == [repr(n) for n in load_tflite(data).graph.nodes]
