"""Keras and QKeras MLPs: the model's JSON (``model.to_json()``) plus its HDF5 weights.

Two sources are accepted:

* the JSON (a path to a ``.json`` file, or the text itself) and a weights file written by
  ``model.save_weights("w.h5")``: root attribute ``layer_names``, one group per layer, each with
  an attribute ``weight_names`` and datasets such as ``<layer>/<layer>/kernel:0``;
* a full ``model.save("model.h5")`` file: the JSON is the root attribute ``model_config`` and
  the weights the same layout under ``model_weights/``.

Layers: ``InputLayer``, ``Dense`` (activation linear, relu or softmax), ``Activation`` (the
same three), ``ReLU`` (plain), ``Softmax`` (last axis), ``Dropout`` (identity at inference),
``Flatten``; QKeras ``QDense`` and ``QActivation`` are read as their float weights, with
``quantized_relu`` taken as relu: firmforge then quantizes the float model to its own int8
scheme from the calibration data, so the QKeras quantizers' bit widths are not kept (a
``KerasNote`` warning says so). Anything else is an ``UnsupportedKerasError`` naming every
such layer's class and name. Sequential models and functional models that are one chain
(``Model``/``Functional``) are both accepted.

Keras Dense kernels are ``(in, out)``; the IR's Dense weights are ``(out, in)`` (ops/dense.py),
so kernels are transposed here. The result is a float ``Graph`` (batch first, features last),
the same kind of graph the other float frontends produce.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ir import Act, DType, Graph, IRError, Names, Node, Value, const, make_node
from ..ops.act import Relu
from ..ops.dense import Dense
from ..ops.nonlinear import Softmax
from ..ops.shape import Reshape
from .keras_config import (
    KerasFormatError,
    KerasLayer,
    UnsupportedKerasError,
    existing_file,
    layer_chain,
    model_name,
    parse_json,
    read_json,
)

__all__ = ["KerasFormatError", "KerasNote", "UnsupportedKerasError", "import_keras", "load_keras"]


class KerasNote(UserWarning):
    """Something the import did differently from the Keras model (QKeras quantizers dropped)."""


@dataclass
class _Builder:
    """The graph under construction: nodes so far and the current (single) activation."""

    names: Names
    nodes: list[Node]
    h: Value
    notes: list[str]

    def emit(self, cls: type[Node], inputs: list[Value], base: str, **attrs: object) -> Value:
        n = make_node(cls, self.names.fresh(base), inputs, [self.names.fresh(f"{base}.out")],
                      **attrs)
        self.nodes.append(n)
        self.h = n.outputs[0]
        return self.h

    def const(self, base: str, data: np.ndarray) -> Value:
        return const(self.names.fresh(base), np.ascontiguousarray(data, np.float32))


# -- entry points ------------------------------------------------------------------------------

def load_keras(source: str | os.PathLike | tuple, name: str | None = None) -> Graph:
    """The float graph of a Keras model: ``source`` is a full-model ``.h5`` path or a pair
    ``(json, weights.h5)`` where ``json`` is a path or the JSON text. Notes (QKeras
    quantizers dropped) are issued as ``KerasNote`` warnings."""
    if isinstance(source, tuple):
        if len(source) != 2:
            raise KerasFormatError(f"a Keras model is (model JSON, weights .h5): got a tuple of "
                                   f"{len(source)} items")
        config_src, weights = source
        config = read_json(config_src)
        default = Path(weights).stem if isinstance(weights, (str, os.PathLike)) else "keras_model"
        graph, notes = import_keras(config, weights, name=name or model_name(config, default))
    elif isinstance(source, (str, os.PathLike)):
        path = existing_file(source, "Keras model file")
        with _open_h5(path) as f:
            if "model_config" not in f.attrs:
                raise KerasFormatError(
                    f"{path} has no 'model_config' attribute: it is not a full Keras model "
                    "saved with model.save(...h5) (for a save_weights file give "
                    "(model JSON, weights .h5))")
            config = parse_json(_text(f.attrs["model_config"]), f"{path}:model_config")
        graph, notes = import_keras(config, path, name=name or model_name(config, path.stem))
    else:
        raise KerasFormatError(f"a Keras model is a .h5 path or (model JSON, weights .h5), got "
                               f"{type(source).__name__}")
    for note in notes:
        warnings.warn(note, KerasNote, stacklevel=2)
    return graph


def import_keras(config: dict, weights: str | os.PathLike, name: str = "keras_model"
                 ) -> tuple[Graph, list[str]]:
    """The float graph of the model described by ``config`` (the parsed ``to_json()``) with
    the weights in the HDF5 file ``weights``, and the notes of what was read differently."""
    layers = layer_chain(config)
    _check_support(layers, name)
    _read_weights(layers, existing_file(weights, "Keras weights file"))
    return _build(layers, name, config["config"])


# -- what is supported -------------------------------------------------------------------------

_ACTIVATIONS = ("linear", "relu", "softmax")


def _activation_name(act: object) -> str | None:
    """The plain name of a Keras activation (None, "relu", or a serialized object), with
    QKeras' ``quantized_relu(...)`` read as relu; None when it is not one firmforge imports."""
    if act is None:
        return "linear"
    if isinstance(act, dict):  # Keras 3 may serialize activations as {"class_name": ...}
        act = act.get("config", act.get("class_name"))
    if not isinstance(act, str):
        return None
    if act.startswith("quantized_relu"):
        return "relu"
    return act if act in _ACTIVATIONS else None


def _problem(layer: KerasLayer) -> str | None:
    """Why ``layer`` cannot be imported, or None."""
    c = layer.config
    if layer.cls not in _HANDLERS:
        return f"{layer.label}: layer class not supported"
    if layer.cls in ("Dense", "QDense", "Activation", "QActivation"):
        act = c.get("activation", "linear")
        if _activation_name(act) is None:
            return f"{layer.label}: activation {act!r} not supported (linear, relu, softmax)"
    if layer.cls == "ReLU" and any(c.get(k) not in (None, 0, 0.0) for k in
                                   ("max_value", "negative_slope", "threshold")):
        return f"{layer.label}: only a plain ReLU (no max_value, negative_slope, threshold)"
    if layer.cls == "Softmax" and c.get("axis", -1) not in (-1, [-1]):
        return f"{layer.label}: softmax over axis {c.get('axis')!r}; only the last axis (-1)"
    return None


def _check_support(layers: list[KerasLayer], name: str) -> None:
    """Name every layer firmforge cannot import, in one error, before reading any weights."""
    problems = [p for p in map(_problem, layers) if p]
    if problems:
        n = len(problems)
        raise UnsupportedKerasError(f"{name}: {n} layer{'s' * (n > 1)} firmforge does not "
                                    "import:\n  " + "\n  ".join(problems))


# -- reading the weights -----------------------------------------------------------------------


def _open_h5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise KerasFormatError(f"{path} is not an HDF5 file: {e}") from None


def _text(v: object) -> str:
    return v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)


def _read_weights(layers: list[KerasLayer], path: Path) -> None:
    """Fill each Dense/QDense layer's ``kernel`` and ``bias`` from the HDF5 file."""
    import h5py

    with _open_h5(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        for layer in layers:
            if layer.cls not in ("Dense", "QDense"):
                continue
            group = root.get(layer.name)
            if not isinstance(group, h5py.Group) and "layer_names" not in root.attrs \
                    and isinstance(root.get("layers"), h5py.Group):
                raise KerasFormatError(
                    f"{path} is in Keras 3's .weights.h5 layout (layers/<name>/vars/<i>), which "
                    "is not read: save the model with model.save('model.h5') (legacy HDF5)")
            if not isinstance(group, h5py.Group):
                held = ", ".join(sorted(root.keys())[:12]) or "nothing"
                raise KerasFormatError(f"{path}: no weights group for {layer.label} (the file "
                                       f"holds: {held})")
            layer.weights = _datasets(group, path, layer)


def _datasets(group, path: Path, layer: KerasLayer) -> dict[str, np.ndarray]:
    """A layer group's arrays by their short name (``kernel``, ``bias``): the datasets listed in
    ``weight_names`` if the attribute is there, else every dataset below the group."""
    import h5py

    found: dict[str, np.ndarray] = {}
    if "weight_names" in group.attrs:
        for wname in (_text(w) for w in group.attrs["weight_names"]):
            ds = group.get(wname)
            if not isinstance(ds, h5py.Dataset):
                raise KerasFormatError(f"{path}: {layer.label} lists weight {wname!r}, but the "
                                       f"file has no dataset {group.name}/{wname}")
            found[_short(wname)] = np.asarray(ds[()])
    else:
        def visit(key: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                found[_short(key)] = np.asarray(obj[()])
        group.visititems(visit)
    need = ["kernel", "bias"] if layer.config.get("use_bias", True) else ["kernel"]
    for w in need:
        if w not in found:
            raise KerasFormatError(f"{path}: missing weight dataset '{w}' of {layer.label} "
                                   f"(under {group.name}; found: {sorted(found) or 'none'})")
    return found


def _short(wname: str) -> str:
    """``dense/kernel:0`` -> ``kernel``."""
    return wname.rsplit("/", 1)[-1].split(":", 1)[0]


# -- building the graph ------------------------------------------------------------------------

def _input_shape(layers: list[KerasLayer], model: object) -> tuple[int, ...]:
    """Per-sample input shape: from the InputLayer or the first layer's declared batch shape
    (Keras 2 ``batch_input_shape``, Keras 3 ``batch_shape``, or the build configs), else (for
    a model starting with a Dense) the first kernel's input size."""
    first = layers[0].config
    candidates = [first.get("batch_input_shape"), first.get("batch_shape"),
                  (first.get("build_config") or {}).get("input_shape"),
                  model.get("build_input_shape") if isinstance(model, dict) else None]
    shape = next((s for s in candidates if s is not None), None)
    if shape is None:
        dense = next((lay for lay in layers if lay.weights), None)
        if dense is None or layers.index(dense) != next(
                i for i, lay in enumerate(layers) if lay.cls not in ("InputLayer", "Dropout")):
            raise KerasFormatError("model JSON: the input shape is not stated (no InputLayer "
                                   "or batch_input_shape)")
        return (int(dense.weights["kernel"].shape[0]),)
    if not isinstance(shape, list):
        raise KerasFormatError(f"model JSON: input shape {shape!r} is not a list")
    dims = shape[1:]
    if not dims or not all(isinstance(d, int) and d > 0 for d in dims):
        raise UnsupportedKerasError(f"input shape {shape!r}: every dimension but the batch "
                                    "must be a fixed positive size")
    return tuple(dims)


def _build(layers: list[KerasLayer], name: str, model: object) -> tuple[Graph, list[str]]:
    x = Value("input", (1, *_input_shape(layers, model)), DType.f32)
    b = _Builder(Names(["input"]), [], x, [])
    for layer in layers:
        try:
            _HANDLERS[layer.cls](b, layer)
        except IRError as e:
            raise KerasFormatError(f"{layer.label}: {e}") from None
    if any(lay.cls.startswith("Q") for lay in layers):
        b.notes.append(f"{name}: QKeras layers were read as their float weights "
                       "(quantized_relu as relu); their quantizers are not kept, firmforge "
                       "quantizes the float model to int8 from the calibration data")
    g = Graph(name, b.nodes, [x], [b.h])
    g.validate()
    return g, b.notes


def _dense(b: _Builder, layer: KerasLayer) -> None:
    try:
        kernel = np.asarray(layer.weights["kernel"], np.float64)
        bias = np.asarray(layer.weights.get("bias", 0.0), np.float64)
    except (TypeError, ValueError) as e:
        raise KerasFormatError(f"{layer.label}: weights are not numbers: {e}") from None
    units = layer.config.get("units")
    k_in = b.h.shape[-1]
    if kernel.ndim != 2 or kernel.shape[0] != k_in or (units is not None and
                                                        kernel.shape[1] != units):
        raise KerasFormatError(f"{layer.label}: kernel shape {kernel.shape} does not match "
                               f"({k_in}, {units if units is not None else 'units'}) = (inputs, "
                               "units)")
    out = kernel.shape[1]
    if "bias" not in layer.weights:  # use_bias=False
        bias = np.zeros(out)
    if bias.shape != (out,):
        raise KerasFormatError(f"{layer.label}: bias shape {bias.shape} does not match ({out},)")
    if not (np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias))):
        raise KerasFormatError(f"{layer.label}: weights hold NaN or Inf")
    act = _activation_name(layer.config.get("activation", "linear"))
    base = _safe(layer.name)
    b.emit(Dense, [b.h, b.const(f"{base}.kernel", kernel.T),  # Keras (in, out) -> IR (out, in)
                   b.const(f"{base}.bias", bias)], base,
           act=Act.RELU if act == "relu" else Act.NONE)
    if act == "softmax":
        b.emit(Softmax, [b.h], f"{base}.softmax")


def _activation(b: _Builder, layer: KerasLayer) -> None:
    act = _activation_name(layer.config.get("activation", "linear"))
    if act == "relu":
        b.emit(Relu, [b.h], _safe(layer.name))
    elif act == "softmax":
        b.emit(Softmax, [b.h], _safe(layer.name))


def _relu(b: _Builder, layer: KerasLayer) -> None:
    b.emit(Relu, [b.h], _safe(layer.name))


def _softmax(b: _Builder, layer: KerasLayer) -> None:
    b.emit(Softmax, [b.h], _safe(layer.name))


def _flatten(b: _Builder, layer: KerasLayer) -> None:
    if len(b.h.shape) > 2:  # Keras flattens row-major, as the IR's Reshape does
        b.emit(Reshape, [b.h], _safe(layer.name), shape=(1, math.prod(b.h.shape[1:])))


def _identity(b: _Builder, layer: KerasLayer) -> None:
    """InputLayer (the graph input is made from its shape) and Dropout (inference)."""


def _safe(name: str) -> str:
    """A layer name as a value-name base (the C target sanitizes symbols itself; this keeps
    names readable and free of the separators Keras 3 puts in paths)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "layer"


# The Keras layer class names (the format's own vocabulary) and the function that imports each.
_HANDLERS: dict[str, Callable[[_Builder, KerasLayer], None]] = {
    "InputLayer": _identity,
    "Dense": _dense,
    "QDense": _dense,
    "Activation": _activation,
    "QActivation": _activation,
    "ReLU": _relu,
    "Softmax": _softmax,
    "Dropout": _identity,
    "Flatten": _flatten,
}
