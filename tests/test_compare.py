"""The divergence finder names the first layer whose bytes differ, with the elements."""

import subprocess
import sys

import numpy as np
import pytest
import tflite_cases as tc

from firmforge.converter import compare_tflm
from firmforge.converter.frontends.tflite import load_tflite
from firmforge.converter.ops.conv import DepthwiseConv2d
from firmforge.targets.c.writer import generate

from tflm_harness import TensorSpec, schema


@pytest.fixture
def kws(shared):
    path = shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent on this machine")
    return path


def test_a_wrong_reference_is_located(kws, monkeypatch):
    real = DepthwiseConv2d.ref

    def off_by_one(self, xs):
        (y,) = real(self, xs)
        y = y.copy()
        y.reshape(len(y), -1)[:, 5] ^= 1  # element 5 of every sample
        return [y]

    monkeypatch.setattr(DepthwiseConv2d, "ref", off_by_one)
    result = compare_tflm(kws, samples=3, host=True)
    bad = result.first_mismatch
    assert not result.ok and bad is not None
    assert bad.op == "DEPTHWISE_CONV_2D" and not bad.ref_equal and bad.host_equal
    assert bad.mismatches == 3 and bad.max_abs_diff == 1  # element 5 of each of 3 samples
    assert bad.examples[0][0] == 0
    first_dw = next(r for r in result.rows if r.op == "DEPTHWISE_CONV_2D")
    assert bad is first_dw
    text = result.format()
    assert "first difference" in text and bad.node in text


def test_cli_compare_exit_codes(kws, tmp_path):
    x = np.random.default_rng(3).integers(-128, 128, (4, 49, 10, 1)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    cmd = [sys.executable, "-m", "firmforge.converter.cli", "compare", str(kws),
           "--input", str(tmp_path / "x.npy")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "layers equal byte for byte" in r.stdout and "TFLM" in r.stdout
    np.save(tmp_path / "bad.npy", x.astype(np.int16))
    r = subprocess.run([*cmd[:-1], str(tmp_path / "bad.npy")], capture_output=True, text=True)
    assert r.returncode == 2 and "int8" in r.stderr and "Traceback" not in r.stderr


def _split_then_concat() -> bytes:
    """SPLIT of [1, 4, 6] into three [1, 4, 2] pieces, joined again in reverse order by a
    CONCATENATION: the pieces are intermediates, live together in the arena."""
    x = TensorSpec((1, 4, 6), np.int8, 0.05, 3)
    pieces = [tc.same_q(x, (1, 4, 2)) for _ in range(3)]
    model = tc.build_model(tc.Op.SPLIT, tc.options(schema.SplitOptionsT, numSplits=3),
                           [tc.i32(np.int32(2)), x], pieces)

    def add_concat(m):
        sub = m.subgraphs[0]
        y = schema.TensorT()
        y.shape, y.type, y.buffer, y.name = [1, 4, 6], schema.TensorType.INT8, 0, b"y"
        y.quantization = sub.tensors[1].quantization
        sub.tensors.append(y)
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = tc.Op.CONCATENATION
        code.version = 1
        m.operatorCodes.append(code)
        cat = schema.OperatorT()
        cat.opcodeIndex, cat.inputs, cat.outputs = 1, list(sub.outputs[::-1]), [len(sub.tensors) - 1]
        cat.builtinOptionsType = schema.BuiltinOptions.ConcatenationOptions
        cat.builtinOptions = tc.options(schema.ConcatenationOptionsT, axis=2)
        sub.operators.append(cat)
        sub.outputs = [len(sub.tensors) - 1]

    return tc.rewrite(model, add_concat)


def test_every_output_of_a_split_is_compared(tmp_path):
    """A multi-output node: each of its outputs is a row of its own (reference and trace build
    against TFLM), and the generated C comments the node with all its outputs."""
    path = tmp_path / "split_concat.tflite"
    path.write_bytes(_split_then_concat())
    result = compare_tflm(path, samples=3, host=True)
    assert result.ok, result.format()
    assert [r.op for r in result.rows] == ["SPLIT"] * 3 + ["CONCATENATION"]
    assert all(r.host_equal for r in result.rows)
    g = load_tflite(path).graph
    assert "split 4x6 -> 4x2 4x2 4x2 */" in generate(g, "m").files["m.c"]
