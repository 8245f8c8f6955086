"""Keras / QKeras MLPs from model JSON plus HDF5 weights (converter/frontends/keras_h5.py).

The files are written here with h5py in the layouts Keras itself writes (``save_weights``:
root attribute ``layer_names``, groups ``<layer>/<layer>/kernel:0``; ``model.save(...h5)``: the
JSON in the root attribute ``model_config``, the weights under ``model_weights/``), so neither
TensorFlow nor Keras is needed. The imported float graph must compute what numpy computes from
the same weights, and the converted int8 project's host C must equal its reference.
"""

from __future__ import annotations

import itertools
import json

import h5py
import numpy as np
import pytest

from firmforge.converter import convert
from firmforge.converter.frontends.keras_h5 import (
    KerasFormatError,
    KerasNote,
    UnsupportedKerasError,
    load_keras,
)
from firmforge.converter.reference import run

SIZES = (16, 64, 32, 32, 5)


def _weights(seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32),  # Keras kernel (in, out)
             rng.normal(0, 0.1, b).astype(np.float32)) for a, b in itertools.pairwise(sizes)]


def _numpy_forward(weights, x):
    h = x.astype(np.float64)
    for i, (k, b) in enumerate(weights):
        h = h @ k.astype(np.float64) + b
        if i < len(weights) - 1:
            h = np.maximum(h, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _dense(name, units, activation="relu", cls="Dense", **extra):
    return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32",
                                          "units": units, "activation": activation,
                                          "use_bias": True, **extra}}


def _sequential(sizes=SIZES, qkeras=False):
    """Sequential JSON: InputLayer, then Dense layers with ReLU, the last with softmax (in QKeras
    form: QDense + QActivation("quantized_relu(6,0)") and a final Activation)."""
    layers = [{"class_name": "InputLayer",
               "config": {"batch_input_shape": [None, sizes[0]], "dtype": "float32",
                          "name": "input_1"}}]
    n = len(sizes) - 1
    for i, units in enumerate(sizes[1:]):
        last = i == n - 1
        if qkeras:
            layers.append(_dense(f"fc{i}", units, "linear", "QDense",
                                 kernel_quantizer="quantized_bits(6,0,alpha=1)",
                                 bias_quantizer="quantized_bits(6,0,alpha=1)"))
            layers.append({"class_name": "Activation" if last else "QActivation",
                           "config": {"name": f"act{i}", "activation":
                                      "softmax" if last else "quantized_relu(6,0)"}})
        else:
            layers.append(_dense(f"dense_{i}", units, "softmax" if last else "relu"))
    return {"class_name": "Sequential", "config": {"name": "jet_mlp", "layers": layers},
            "keras_version": "2.13.1", "backend": "tensorflow"}


def _functional(sizes=SIZES, keras3=False):
    """The same MLP as a functional model, in Keras 2's or Keras 3's JSON."""
    def inbound(prev):
        if keras3:
            return [{"args": [{"class_name": "__keras_tensor__", "config": {
                "shape": [None, 0], "dtype": "float32", "keras_history": [prev, 0, 0]}}],
                "kwargs": {}}]
        return [[[prev, 0, 0, {}]]]

    shape_key = "batch_shape" if keras3 else "batch_input_shape"
    layers = [{"class_name": "InputLayer", "name": "inp", "inbound_nodes": [],
               "config": {shape_key: [None, sizes[0]], "name": "inp"}}]
    prev = "inp"
    for i, units in enumerate(sizes[1:]):
        spec = _dense(f"dense_{i}", units, "softmax" if i == len(sizes) - 2 else "relu")
        spec.update(name=f"dense_{i}", inbound_nodes=inbound(prev))
        layers.append(spec)
        prev = f"dense_{i}"
    ends = (lambda n: [n, 0, 0]) if keras3 else (lambda n: [[n, 0, 0]])
    return {"class_name": "Functional",
            "config": {"name": "func_mlp", "layers": layers, "input_layers": ends("inp"),
                       "output_layers": ends(prev)}}


def _layer_names(config):
    return [spec["config"]["name"] for spec in config["config"]["layers"]]


def _write_weights(group, config, weights):
    """Keras' save_weights layout into ``group`` (the file root or ``model_weights``): every
    layer is listed and has a group; weighted ones hold ``<name>/kernel:0`` and ``bias:0``."""
    names = _layer_names(config)
    group.attrs["layer_names"] = np.array([n.encode() for n in names])
    group.attrs["backend"] = b"tensorflow"
    dense = [s["config"]["name"] for s in config["config"]["layers"]
             if s["class_name"] in ("Dense", "QDense")]
    for name in names:
        g = group.create_group(name)
        if name in dense:
            k, b = weights[dense.index(name)]
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(),
                                                f"{name}/bias:0".encode()])
            g.create_dataset(f"{name}/kernel:0", data=k)
            g.create_dataset(f"{name}/bias:0", data=b)
        else:
            g.attrs["weight_names"] = np.array([], dtype="S1")


def _files(tmp_path, config, weights):
    js, h5 = tmp_path / "model.json", tmp_path / "weights.h5"
    js.write_text(json.dumps(config))
    with h5py.File(h5, "w") as f:
        _write_weights(f, config, weights)
    return js, h5


def _full_file(tmp_path, config, weights):
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["keras_version"] = b"2.13.1"
        _write_weights(f.create_group("model_weights"), config, weights)
    return path


def _inputs(n=300, seed=1):
    return np.random.default_rng(seed).normal(0, 1.5, (n, SIZES[0])).astype(np.float32)


# -- the imported float graph ------------------------------------------------------------------

@pytest.mark.parametrize("form", ["sequential", "functional", "functional_keras3", "full_h5"])
def test_float_graph_equals_numpy(tmp_path, form):
    weights = _weights()
    if form == "full_h5":
        source = _full_file(tmp_path, _sequential(), weights)
    else:
        config = {"sequential": _sequential, "functional": _functional,
                  "functional_keras3": lambda: _functional(keras3=True)}[form]()
        source = _files(tmp_path, config, weights)
    graph = load_keras(source)
    x = _inputs(200)
    got = run(graph, [x])[0][0]
    np.testing.assert_allclose(got, _numpy_forward(weights, x), rtol=1e-4, atol=1e-6)
    assert [n.kind for n in graph.nodes].count("dense") == 4


def test_json_text_and_weights_path(tmp_path):
    weights = _weights(3)
    js, h5 = _files(tmp_path, _sequential(), weights)
    graph = load_keras((js.read_text(), str(h5)), name="from_text")
    assert graph.name == "from_text"
    x = _inputs(20)
    np.testing.assert_allclose(run(graph, [x])[0][0], _numpy_forward(weights, x), rtol=1e-4,
                               atol=1e-6)


def test_activation_dropout_flatten_relu_softmax_layers(tmp_path):
    """Separate Activation/ReLU/Softmax layers, Dropout (identity) and a Flatten of a (4, 4)
    input compute the same as the fused form."""
    weights = _weights(5)
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4, 4],
                                                      "name": "in"}},
              {"class_name": "Flatten", "config": {"name": "flatten"}},
              _dense("d0", 64, "linear"), {"class_name": "ReLU", "config": {"name": "r0"}},
              {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5}},
              _dense("d1", 32, "linear"),
              {"class_name": "Activation", "config": {"name": "a1", "activation": "relu"}},
              _dense("d2", 32, "relu"), _dense("d3", 5, "linear"),
              {"class_name": "Softmax", "config": {"name": "sm", "axis": -1}}]
    config = {"class_name": "Sequential", "config": {"name": "mixed", "layers": layers}}
    graph = load_keras(_files(tmp_path, config, weights))
    x = _inputs(50)
    got = run(graph, [x.reshape(-1, 4, 4)])[0][0]
    np.testing.assert_allclose(got, _numpy_forward(weights, x), rtol=1e-4, atol=1e-6)


def test_qkeras_layers_read_as_float_with_a_note(tmp_path):
    weights = _weights(7)
    with pytest.warns(KerasNote, match="QKeras"):
        graph = load_keras(_files(tmp_path, _sequential(qkeras=True), weights))
    x = _inputs(50)
    np.testing.assert_allclose(run(graph, [x])[0][0], _numpy_forward(weights, x), rtol=1e-4,
                               atol=1e-6)


# -- conversion --------------------------------------------------------------------------------

def _check_project(proj, weights, x):
    assert proj.verify(x) is None  # the host C equals the integer reference, byte for byte
    np.testing.assert_array_equal(proj.run_host(x[:20]), proj.reference(x[:20]))
    q = proj.dequantize(proj.reference(x))
    want = _numpy_forward(weights, x)
    assert np.abs(q - want).max() < 0.1
    assert (q.argmax(1) == want.argmax(1)).mean() > 0.9


def test_convert_json_and_weights_to_int8(tmp_path):
    weights = _weights()
    x = _inputs(300)
    proj = convert(_files(tmp_path, _sequential(), weights), calibration=x, progress=False)
    assert proj.graph.inputs[0].dtype.value == "s8"
    _check_project(proj, weights, x)


def test_convert_full_model_h5(tmp_path):
    weights = _weights(2)
    x = _inputs(300, seed=4)
    proj = convert(str(_full_file(tmp_path, _functional(), weights)), calibration=x,
                   name="jet", progress=False)
    _check_project(proj, weights, x)


# -- bad input ---------------------------------------------------------------------------------

def test_missing_files(tmp_path):
    js, h5 = _files(tmp_path, _sequential(), _weights())
    with pytest.raises(KerasFormatError, match="does not exist"):
        convert(str(tmp_path / "nope.h5"), calibration=_inputs(10))
    with pytest.raises(KerasFormatError, match=r"weights file .* does not exist"):
        load_keras((js, tmp_path / "nope.h5"))
    with pytest.raises(KerasFormatError, match=r"JSON .* does not exist"):
        load_keras((tmp_path / "nope.json", h5))


def test_malformed_json(tmp_path):
    js, h5 = _files(tmp_path, _sequential(), _weights())
    js.write_text('{"class_name": "Sequential", "config": {"layers": [')
    with pytest.raises(KerasFormatError, match="not valid JSON"):
        load_keras((js, h5))
    with pytest.raises(KerasFormatError, match="not a Keras model JSON"):
        load_keras(('{"layers": []}', h5))
    with pytest.raises(KerasFormatError, match="no list of layers"):
        load_keras(('{"class_name": "Sequential", "config": {}}', h5))


def test_h5_without_model_config(tmp_path):
    _, h5 = _files(tmp_path, _sequential(), _weights())
    with pytest.raises(KerasFormatError, match="model_config"):
        load_keras(h5)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(KerasFormatError, match="not an HDF5 file"):
        load_keras(bad)


def test_missing_weight_dataset(tmp_path):
    js, h5 = _files(tmp_path, _sequential(), _weights())
    with h5py.File(h5, "a") as f:
        del f["dense_2/dense_2/bias:0"]
    with pytest.raises(KerasFormatError, match=r"dense_2.*bias:0"):
        load_keras((js, h5))
    with h5py.File(h5, "a") as f:
        del f["dense_1"]
    with pytest.raises(KerasFormatError, match="no weights group for layer 'dense_1'"):
        load_keras((js, h5))


def test_weight_shape_mismatch(tmp_path):
    weights = _weights()
    weights[1] = (weights[1][0].T.copy(), weights[1][1])  # (out, in): PyTorch's layout
    source = _files(tmp_path, _sequential(), weights)
    with pytest.raises(KerasFormatError, match=r"'dense_1' \(Dense\): kernel shape \(32, 64\)"):
        load_keras(source)
    weights = _weights()
    weights[2] = (weights[2][0], np.zeros(7, np.float32))
    source = _files(tmp_path, _sequential(), weights)  # overwrites the files
    with pytest.raises(KerasFormatError, match=r"'dense_2' \(Dense\): bias shape \(7,\)"):
        load_keras(source)


def test_unsupported_layers_are_named(tmp_path):
    config = _sequential()
    config["config"]["layers"].insert(2, {"class_name": "BatchNormalization",
                                          "config": {"name": "bn0"}})
    config["config"]["layers"][1]["config"]["activation"] = "tanh"
    with pytest.raises(UnsupportedKerasError) as e:
        load_keras(_files(tmp_path, config, _weights()))
    msg = str(e.value)
    assert "'bn0' (BatchNormalization): layer class not supported" in msg
    assert "'dense_0' (Dense): activation 'tanh'" in msg
    assert isinstance(e.value, ValueError)


def test_merging_functional_model_is_refused(tmp_path):
    config = _functional()
    config["config"]["layers"][2]["inbound_nodes"] = [[["inp", 0, 0, {}], ["dense_0", 0, 0, {}]]]
    with pytest.raises(UnsupportedKerasError, match=r"'dense_1' .* reads 2 tensors"):
        load_keras(_files(tmp_path, config, _weights()))


def test_same_int8_model_as_the_torch_frontend(tmp_path):
    """A PyTorch MLP and its Keras twin (kernel = weight.T) quantize to the same bytes: the
    kernel transpose and the layer semantics agree across frontends."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                          nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5),
                          nn.Softmax(dim=1)).eval()
    weights = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
               for m in model if isinstance(m, nn.Linear)]
    x = _inputs(300, seed=9)
    keras = convert(_files(tmp_path, _sequential(), weights), calibration=x, progress=False)
    torch_proj = convert(model, calibration=x, progress=False)
    np.testing.assert_array_equal(keras.reference(x), torch_proj.reference(x))


def test_dense_without_bias(tmp_path):
    weights = _weights(11)
    config = _sequential()
    config["config"]["layers"][2]["config"]["use_bias"] = False
    js, h5 = _files(tmp_path, config, weights)
    with h5py.File(h5, "a") as f:
        del f["dense_1/dense_1/bias:0"]
        f["dense_1"].attrs["weight_names"] = np.array([b"dense_1/kernel:0"])
    weights[1] = (weights[1][0], np.zeros_like(weights[1][1]))
    x = _inputs(30)
    np.testing.assert_allclose(run(load_keras((js, h5)), [x])[0][0], _numpy_forward(weights, x),
                               rtol=1e-4, atol=1e-6)


def test_other_keras_formats_are_named(tmp_path):
    archive = tmp_path / "model.keras"
    archive.write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match=r"\.keras archives are not read"):
        convert(str(archive), calibration=_inputs(10))
    js = tmp_path / "model.json"
    js.write_text(json.dumps(_sequential()))
    h5 = tmp_path / "model.weights.h5"
    with h5py.File(h5, "w") as f:  # Keras 3's save_weights layout
        f.create_dataset("layers/dense_0/vars/0", data=np.zeros((16, 64), np.float32))
    with pytest.raises(KerasFormatError, match=r"Keras 3's \.weights\.h5 layout"):
        load_keras((js, h5))


def test_non_numeric_weights(tmp_path):
    js, h5 = _files(tmp_path, _sequential(), _weights())
    with h5py.File(h5, "a") as f:
        del f["dense_0/dense_0/kernel:0"]
        f["dense_0/dense_0"].create_dataset("kernel:0", data=np.array([b"a", b"b"]))
    with pytest.raises(KerasFormatError, match=r"'dense_0' .*not numbers"):
        load_keras((js, h5))
