"""Packed int4 weights end to end: PTQ with ``weight_dtype``, ``convert``, the report's sizes,
host C and firmware on QEMU equal to the reference, the project file, the CLI, MNIST accuracy,
and the C target refusing encodings it has no kernel for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from firmforge.converter import convert
from firmforge.converter.convert import ConversionError
from firmforge.converter.encoding import CSR, Codebook, Dense, Packed
from firmforge.converter.ir import DType, Value
from firmforge.converter.ops.dense import Dense as DenseOp
from firmforge.converter.quantize import QuantizationError, calibrate, quantize
from firmforge.converter.serialize import load_project, save_project
from firmforge.targets.c.emit import UnsupportedOpError
from firmforge.targets.c.writer import generate

from cases import act_quant, bias, out_quant_for_acc, single, weights

# Every weighted layer: a conv, a depthwise conv, two dense layers (the last one with an odd
# number of weights, 7 x 5, so its packed array ends in half a byte).
LAYERS = {"0": "ff_conv2d_s8_s4", "2": "ff_dwconv2d_s8_s4", "5": "ff_dense_s8_s4",
          "7": "ff_dense_s8_s4"}


def model() -> tuple[nn.Module, np.ndarray]:
    torch.manual_seed(4)
    m = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.ReLU(), nn.Flatten(),
                      nn.Linear(216, 7), nn.ReLU(), nn.Linear(7, 5)).eval()
    return m, np.random.default_rng(4).standard_normal((64, 2, 6, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def converted():
    m, calib = model()
    p8 = convert(m, calibration=calib, name="net", progress=False)
    p4 = convert(m, calibration=calib, name="net", progress=False, weight_dtype=DType.s4)
    return m, calib, p8, p4


def _weights(proj) -> dict[str, Value]:
    return {n.name: n.inputs[1] for n in proj.graph.nodes if n.weight_axis is not None}


def test_int4_weights_are_narrow_per_channel_and_packed(converted):
    _, _, p8, p4 = converted
    float_w = {n.name: n.inputs[1].data for n in p4.float_graph.nodes
               if n.weight_axis is not None}
    assert set(_weights(p4)) == set(LAYERS)
    for name, w in _weights(p4).items():
        assert w.dtype is DType.s4 and w.encoding == Packed()
        axis = w.quant.axis
        others = tuple(a for a in range(w.data.ndim) if a != axis)
        # symmetric [-7, 7]: every channel reaches +-7, none reaches -8
        assert np.all(np.abs(w.data).max(axis=others) == 7) and w.data.min() >= -7
        maxabs = np.abs(float_w[name].astype(np.float64)).max(axis=others)
        np.testing.assert_array_equal(w.quant.scale, (maxabs / 7).astype(np.float32))
        assert _weights(p8)[name].dtype is DType.s8 and _weights(p8)[name].encoding == Dense()
    src = p4.sources()
    body = src.files["net.c"]
    for name, fn in LAYERS.items():
        assert f"{fn}(&net_n{name}_p," in body  # layer "0" is C identifier n0
    assert "ff_conv2d_s8(" not in body and "ff_dense_s8(" not in body


def test_host_c_equals_reference(converted):
    _, calib, _, p4 = converted
    np.testing.assert_array_equal(p4.run_host(calib), p4.reference(calib))


def test_report_counts_packed_bytes(converted):
    """Per weighted layer, W weights and O int32 biases: int8 W + 4*O bytes, int4
    ceil(W / 2) + 4*O bytes (the bias stays int32); the C arrays shrink by at least as much."""
    _, _, p8, p4 = converted
    r8, r4 = p8.report(), p4.report()
    rows8 = {r["name"]: r["weight_bytes"] for r in r8["layers"] if r["name"] in LAYERS}
    rows4 = {r["name"]: r["weight_bytes"] for r in r4["layers"] if r["name"] in LAYERS}
    #               W     O       int8             int4
    # conv 0:     108     6   108 + 24 = 132   54 + 24 = 78
    # dw 2:        54     6    54 + 24 =  78   27 + 24 = 51
    # dense 5:   1512     7  1512 + 28 = 1540 756 + 28 = 784
    # dense 7:     35     5    35 + 20 =  55   18 + 20 = 38
    assert rows8 == {"0": 132, "2": 78, "5": 1540, "7": 55}
    assert rows4 == {"0": 78, "2": 51, "5": 784, "7": 38}
    for n in p4.graph.nodes:
        if n.name in LAYERS:
            w, b = n.inputs[1].size, n.inputs[2].size
            assert (rows8[n.name], rows4[n.name]) == (w + 4 * b, (w + 1) // 2 + 4 * b)
    assert (r8["weight_bytes"], r4["weight_bytes"]) == (1805, 951)
    saved = 1805 - 951
    # the C arrays shrink at least as much: the int8 layers' fast kernels also store prepared
    # layouts (pair-packed weights padded to an even channel count, requantization records)
    assert r8["const_bytes"] - r4["const_bytes"] >= saved
    assert p8.sources().const_bytes - p4.sources().const_bytes >= saved


def test_int4_firmware_on_qemu_equals_reference(converted, tmp_path):
    _, calib, _, p4 = converted
    x = calib[:6]
    fw = p4.build("qemu-mps2-an386", tmp_path, x)
    assert fw.const_bytes == p4.sources().const_bytes
    res = fw.run(x)
    np.testing.assert_array_equal(res.outputs, p4.reference(x))
    assert res.unit == "instructions" and len(res.counts) == len(x)


def test_weight_dtype_per_layer(converted):
    m, calib, p8, _ = converted
    mixed = convert(m, calibration=calib, name="net", progress=False,
                    weight_dtype={"5": DType.s4, "0": DType.s8})
    got = {k: (w.dtype, w.encoding) for k, w in _weights(mixed).items()}
    assert got == {"0": (DType.s8, Dense()), "2": (DType.s8, Dense()),
                   "5": (DType.s4, Packed()), "7": (DType.s8, Dense())}
    assert mixed.report()["weight_bytes"] == 1805 - (1540 - 784)
    np.testing.assert_array_equal(mixed.run_host(calib[:8]), mixed.reference(calib[:8]))
    # the layers left int8 are exactly the int8 conversion's
    for k in ("0", "2", "7"):
        np.testing.assert_array_equal(_weights(mixed)[k].data, _weights(p8)[k].data)


def test_weight_dtype_errors(converted):
    m, calib, _, p4 = converted
    g = p4.float_graph
    ranges = calibrate(g, calib[:8].transpose(0, 2, 3, 1), progress=False)
    for arg, needle in [
        (DType.b1, r"weights are quantized to DType\.s8, DType\.s4, DType\.s2, not <DType\.b1"),
        ({"9": DType.s4}, r"names '9', which is no node of graph net \(its weighted nodes: 0, 2, 5, 7\)"),
        ({"4": DType.s4}, "names '4', a reshape node, which has no weights"),
        ({"5": DType.f32}, r"weight_dtype\['5'\]: weights are quantized to"),
        ("s4", "weight_dtype must be a DType or a mapping"),
    ]:
        with pytest.raises(QuantizationError, match=needle):
            quantize(g, ranges, weight_dtype=arg)
    with pytest.raises(ConversionError, match="weight_dtype must be a DType"):
        convert(m, calibration=calib, progress=False, weight_dtype={"5": 4})
    with pytest.raises(QuantizationError, match="no node of graph"):
        convert(m, calibration=calib, progress=False, weight_dtype={"fc": DType.s4})


def test_project_file_keeps_the_encoding(converted, tmp_path):
    p4 = converted[3]
    loaded = load_project(save_project(p4, tmp_path / "net.firmforge.npz"))
    for name, w in _weights(loaded).items():
        assert w.dtype is DType.s4 and w.encoding == Packed()
        np.testing.assert_array_equal(w.data, _weights(p4)[name].data)
    assert loaded.sources().files == p4.sources().files


def test_cli_weight_bits(tmp_path, monkeypatch):
    from firmforge.converter.cli import main

    m, calib = model()
    torch.save(m, tmp_path / "net.pt")
    np.save(tmp_path / "calib.npy", calib)
    monkeypatch.chdir(tmp_path)
    sizes = {}
    for bits in ("8", "4"):
        r = CliRunner().invoke(main, ["convert", "net.pt", "-o", f"out{bits}", "--calib",
                                      "calib.npy", "--weight-bits", bits, "--no-progress"])
        assert r.exit_code == 0, r.output
        sizes[bits] = r.output
    assert "weights 1,805 B" in sizes["8"] and "weights 951 B" in sizes["4"]
    assert "ff_dense_s8_s4(" in (tmp_path / "out4" / "sequential.c").read_text()
    r = CliRunner().invoke(main, ["analyze", "net.pt", "--calib", "calib.npy",
                                  "--weight-bits", "3"])
    assert r.exit_code == 2 and "'3' is not one of '8', '4', '2'" in r.output


def test_mnist_int4_accuracy(shared):
    """Int4 weights on the 2,000 held-back MNIST images (a short training run): host C ==
    reference, and accuracy within a point of the float model."""
    from examples.mnist import MnistCNN, float_accuracy, load_split, train

    x_tr, y_tr, x_te, y_te = load_split(shared)
    net = train(MnistCNN(), x_tr, y_tr, epochs=2)
    acc_float = float_accuracy(net, x_te, y_te)
    proj = convert(net, calibration=x_tr[:300], name="mnist4", progress=False,
                   weight_dtype=DType.s4)
    host = proj.run_host(x_te)
    np.testing.assert_array_equal(host, proj.reference(x_te))
    acc_int4 = float((host.argmax(1) == y_te).mean())
    assert acc_float >= 0.95, acc_float
    assert acc_int4 >= acc_float - 0.01, (acc_float, acc_int4)


# -- the C target and encodings it has no kernel for ---------------------------------------------
def _dense_graph(w: Value, b: Value | None = None):
    rng = np.random.default_rng(5)
    xq = act_quant(rng)
    x = Value("x", (1, w.shape[1]), DType.s8, xq)
    b = b or bias(rng, w.shape[0], 300)
    return single(DenseOp, "fc", [x, w, b], out_quant_for_acc(rng, xq, w.quant, w.shape[1]))


def test_unsupported_encodings_name_the_encoding():
    rng = np.random.default_rng(6)
    w8 = weights(rng, (4, 8), 0)
    w8.data[:, ::2] = 0
    # (rows along the input axis: the compressed-weight kernels read output channels)
    sparse = Value("w", w8.shape, DType.s8, w8.quant, w8.data, CSR(axis=1))
    with pytest.raises(UnsupportedOpError, match=r"no dense kernel for s8 weights stored csr "
                                                 r"\(axis 1\): the rows must be the output"):
        generate(_dense_graph(sparse), "m")
    unpacked = Value("w", w8.shape, DType.s4, w8.quant, np.clip(w8.data, -7, 7))
    with pytest.raises(UnsupportedOpError, match="s4 weights stored dense"):
        generate(_dense_graph(unpacked), "m")
    # a constant the kernel reads plainly (the bias) cannot be stored otherwise
    b = Value("b", (4,), DType.s32, None, np.array([1, 1, 2, 2], np.int32), Codebook(1))
    with pytest.raises(UnsupportedOpError, match=r"input 2 \(b\) stored 1-bit codebook; "
                                                 "ff_dense_s8_compact reads it dense"):
        generate(_dense_graph(w8, b), "m")
