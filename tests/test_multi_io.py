"""Models with two inputs and models with two outputs, through the whole public API: the
reference, the host C, the TFLM comparison, the firmware in QEMU and the CLI, all equal to TFLM.

The two-input model is TFLM's own kind of test model (an ADD of two activations, like
``simple_add_model.tflite`` in TFLM's examples); the two-output one adds a second operator whose
output is a second graph output. Both are built here with the flatbuffer schema of the installed
tflite-micro package.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from tflite_cases import options, rewrite

from firmforge.converter import convert
from firmforge.converter.compare import compare_tflm
from firmforge.converter.ir import IRError

from tflm_harness import BuiltinOperator as Op
from tflm_harness import TensorSpec, build_model, run_model, schema

SHAPE = (1, 4, 5, 3)


def _spec(scale: float, zp: int, name: str) -> TensorSpec:
    return TensorSpec(SHAPE, np.int8, scale, zp, name=name)


def _two_inputs() -> bytes:
    a, b = _spec(0.05, 3, "a"), _spec(0.03, -20, "b")
    y = _spec(0.07, -5, "y")
    return build_model(Op.ADD, options(schema.AddOptionsT, fusedActivationFunction=0), [a, b], [y])


def _two_outputs() -> bytes:
    """ADD(a, b) -> y0 and MUL(a, b) -> y1, both graph outputs."""
    model = _two_inputs()

    def edit(m):
        sub = m.subgraphs[0]
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = list(SHAPE), schema.TensorType.INT8, 0, b"y1"
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [0.01], [7]
        t.quantization = q
        sub.tensors.append(t)
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = Op.MUL
        code.version = 1
        m.operatorCodes.append(code)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 1, list(sub.inputs), [len(sub.tensors) - 1]
        op.builtinOptionsType = schema.BuiltinOptions.MulOptions
        op.builtinOptions = schema.MulOptionsT()
        sub.operators.append(op)
        sub.outputs = [*sub.outputs, len(sub.tensors) - 1]

    return rewrite(model, edit)


def _inputs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(-128, 128, (n, *SHAPE[1:])).astype(np.int8) for _ in range(2))


@pytest.fixture(params=["two_inputs", "two_outputs"])
def model(request, tmp_path):
    data = _two_inputs() if request.param == "two_inputs" else _two_outputs()
    path = tmp_path / f"{request.param}.tflite"
    path.write_bytes(data)
    return request.param, path


def _listed(y) -> list[np.ndarray]:
    return y if isinstance(y, list) else [y]


def test_reference_host_and_tflm_agree(model):
    kind, path = model
    a, b = _inputs(6, 1)
    want = run_model(path.read_bytes(), [a, b])
    assert len(want) == (2 if kind == "two_outputs" else 1)
    proj = convert(path)
    ref = _listed(proj.reference(a, b))
    for w, r in zip(want, ref, strict=True):
        np.testing.assert_array_equal(r, w)
    for got in (proj.run_host(a, b), proj.reference([a, b]), proj.run_host([a, b])):
        for w, g in zip(want, _listed(got), strict=True):
            np.testing.assert_array_equal(g, w)
    # one sample without the batch dimension gives outputs without it
    for w, g in zip(want, _listed(proj.reference(a[0], b[0])), strict=True):
        np.testing.assert_array_equal(g, w[0])
    assert proj.verify(a, b) is None
    res = compare_tflm(path, [a, b])
    assert res.ok and res.samples == 6 and len(res.rows) == len(want)


def test_wrong_number_of_inputs_is_a_clear_error(model):
    _, path = model
    proj = convert(path)
    a, _ = _inputs(2, 2)
    with pytest.raises(IRError, match=r"takes 2 inputs \(a, b\), got 1"):
        proj.reference(a)
    with pytest.raises(ValueError, match="2 inputs, got 1 input arrays"):
        compare_tflm(path, [a])


def test_firmware_runs_two_inputs_and_outputs_in_qemu(model, tmp_path):
    _, path = model
    a, b = _inputs(3, 3)
    want = run_model(path.read_bytes(), [a, b])
    proj = convert(path)
    fw = proj.build("qemu-mps2-an386", tmp_path / "fw", a, b)
    res = fw.run()
    assert res.equal
    for w, g in zip(want, _listed(res.outputs), strict=True):
        np.testing.assert_array_equal(g, w)
    a2, b2 = _inputs(2, 4)
    res2 = fw.run(a2, b2)  # new vectors: one rebuild, then the same comparison
    assert res2.equal and len(_listed(res2.outputs)[0]) == 2


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "firmforge.converter.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_cli_takes_one_input_file_per_model_input(model, tmp_path):
    _, path = model
    a, b = _inputs(3, 5)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    r = _cli("compare", path, "--input", "a.npy", "--input", "b.npy", cwd=tmp_path)
    assert r.returncode == 0 and "3 input(s)" in r.stdout and "equal byte for byte" in r.stdout, \
        r.stdout + r.stderr
    r = _cli("compare", path, "--input", "a.npy", cwd=tmp_path)
    assert r.returncode == 2 and "2 inputs, got 1" in r.stderr
    r = _cli("convert", path, "-o", "out", cwd=tmp_path)  # an int8 file needs no --calib
    assert r.returncode == 0, r.stderr
    r = _cli("run", "out", "--board", "qemu-mps2-an386", "--input", "a.npy", "--input", "b.npy",
             cwd=tmp_path)
    assert r.returncode == 0 and "3/3 inferences equal the reference" in r.stdout, r.stderr


class _TwoInTwoOut(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(6, 5)

    def forward(self, img, vec):
        return torch.relu(self.conv(img)), torch.sigmoid(self.fc(vec))


def test_torch_model_with_two_inputs_and_two_outputs(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(6)
    img = rng.normal(0, 1, (40, 3, 6, 6)).astype(np.float32)
    vec = rng.normal(0, 1, (40, 6)).astype(np.float32)
    net = _TwoInTwoOut()
    proj = convert(net, calibration=(img, vec), progress=False)
    assert [len(v.shape) for v in proj.graph.inputs] == [4, 2]
    ref = proj.reference(img[:5], vec[:5])
    assert isinstance(ref, list) and ref[0].shape == (5, 4, 6, 6) and ref[1].shape == (5, 5)
    for r, h in zip(ref, proj.run_host(img[:5], vec[:5]), strict=True):
        np.testing.assert_array_equal(h, r)
    # per-sample tuples are the same calibration set
    again = convert(net, calibration=[(img[i], vec[i]) for i in range(40)], progress=False)
    for r, s in zip(ref, again.reference(img[:5], vec[:5]), strict=True):
        np.testing.assert_array_equal(s, r)
    with pytest.raises(ValueError, match="2 inputs, the calibration data 1"):
        convert(net, (img[:1], vec[:1]), calibration=img, progress=False)
