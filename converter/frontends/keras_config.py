"""The Keras model JSON (``model.to_json()``, or a full .h5 file's ``model_config``): its
layers in execution order, for frontends/keras_h5.py.

A Sequential model lists its layers in order (Keras 2.0 wrote the bare list as the config). A
functional model (``Model``/``Functional``) lists layers with the calls that feed them
(``inbound_nodes``: Keras 2 as ``[[name, node, tensor, kwargs], ...]``, Keras 3 as tensors
whose ``keras_history`` names the producing layer); only single chains from one input to one
output are accepted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class KerasFormatError(ValueError):
    """The JSON or the weights file cannot be read as a Keras model; the message says where."""


class UnsupportedKerasError(ValueError):
    """A well-formed Keras model uses layers or options firmforge cannot import (all listed)."""


@dataclass(eq=False)
class KerasLayer:
    """One layer of the chain: its Keras class, name, config and weights (filled later)."""

    cls: str
    name: str
    config: dict
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"layer {self.name!r} ({self.cls})"


def existing_file(p: str | os.PathLike, what: str) -> Path:
    """``p`` as a Path, or a KerasFormatError naming ``what`` when no such file exists."""
    path = Path(p)
    if not path.is_file():
        raise KerasFormatError(f"{what} {path} does not exist")
    return path


def read_json(src: object) -> dict:
    """The parsed model JSON from a dict, the JSON text (str or bytes) or a path to it."""
    if isinstance(src, dict):
        return src
    if isinstance(src, (bytes, bytearray)):
        src = bytes(src).decode("utf-8", "replace")
    if isinstance(src, str) and src.lstrip().startswith("{"):
        return parse_json(src, "the model JSON")
    if isinstance(src, (str, os.PathLike)):
        path = existing_file(src, "Keras model JSON")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise KerasFormatError(f"cannot read {path}: {e}") from None
        return parse_json(text, str(path))
    raise KerasFormatError(f"the model JSON must be a path, the JSON text or a dict, got "
                           f"{type(src).__name__}")


def parse_json(text: str, where: str) -> dict:
    """``text`` parsed and checked to be a Keras model JSON; ``where`` names it in errors."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise KerasFormatError(f"{where} is not valid JSON: {e}") from None
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise KerasFormatError(f"{where} is not a Keras model JSON: expected an object with "
                               "'class_name' and 'config' (model.to_json())")
    return config


def model_name(config: dict, default: str) -> str:
    """The model's own name from its JSON, else ``default``."""
    inner = config.get("config")
    named = inner.get("name") if isinstance(inner, dict) else None
    return named if isinstance(named, str) and named else default


def layer_chain(config: dict) -> list[KerasLayer]:
    """The model's layers in execution order (a Sequential list, or a functional chain)."""
    kind = config["class_name"]
    inner = config["config"]
    # Keras 2.0 wrote a Sequential's config as the bare list of layers
    raw = inner if isinstance(inner, list) else inner.get("layers") if isinstance(inner, dict) \
        else None
    if not isinstance(raw, list) or not raw:
        raise KerasFormatError(f"model JSON: config of {kind!r} has no list of layers")
    layers = []
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
                or not isinstance(spec.get("config"), dict):
            raise KerasFormatError(f"model JSON: layer {i} is not an object with 'class_name' "
                                   "and 'config'")
        lname = spec["config"].get("name") or spec.get("name") or f"layer{i}"
        layers.append(KerasLayer(spec["class_name"], str(lname), spec["config"]))
    if kind == "Sequential":
        return layers
    if kind in ("Model", "Functional"):
        return _functional_order(inner, raw, layers)
    raise KerasFormatError(f"model JSON: class_name {kind!r} is not a Keras model (expected "
                           "Sequential, Model or Functional)")


def _functional_order(inner: dict, raw: list[dict], layers: list[KerasLayer]) -> list[KerasLayer]:
    """A functional model's layers from its input to its output; only single chains."""
    by_name = {layer.name: layer for layer in layers}
    inbound = {layer.name: _inbound(spec, layer) for spec, layer in zip(raw, layers, strict=True)}
    outs = _endpoints(inner.get("output_layers"))
    ins = _endpoints(inner.get("input_layers"))
    if len(outs) != 1 or len(ins) != 1:
        raise UnsupportedKerasError(f"functional model with {len(ins)} inputs and {len(outs)} "
                                    "outputs: only single-input, single-output chains import")
    order = []
    at = outs[0]
    while True:
        if at not in by_name:
            raise KerasFormatError(f"model JSON: the functional graph names layer {at!r}, "
                                   "which is not among its layers")
        layer = by_name[at]
        if any(layer is seen for seen in order):
            raise KerasFormatError(f"model JSON: the functional graph has a cycle at {at!r}")
        order.append(layer)
        if at == ins[0]:
            break
        prev = inbound[at]
        if len(prev) != 1:
            raise UnsupportedKerasError(
                f"{layer.label} reads {len(prev)} tensors: only single chains of layers import "
                "(no merges, no shared layers)")
        at = prev[0]
    return order[::-1]


def _endpoints(spec: object) -> list[str]:
    """Layer names of ``input_layers``/``output_layers``: ``[[name, 0, 0], ...]`` or, for one
    tensor, Keras 3's bare ``[name, 0, 0]``."""
    if not isinstance(spec, list):
        raise KerasFormatError("model JSON: a functional model needs 'input_layers' and "
                               "'output_layers'")
    if len(spec) == 3 and isinstance(spec[0], str):
        return [spec[0]]
    try:
        return [str(e[0]) for e in spec]
    except (TypeError, IndexError, KeyError):
        raise KerasFormatError(f"model JSON: cannot read the endpoints {spec!r}") from None


def _inbound(spec: dict, layer: KerasLayer) -> list[str]:
    """Names of the layers whose outputs ``layer`` reads, over all its calls. Keras 2 lists
    calls as ``[[name, node, tensor, kwargs], ...]``; Keras 3 as ``{"args": [tensor]}`` with
    ``keras_history`` [name, node, tensor] in each tensor's config."""
    names: list[str] = []

    def tensors(obj: object) -> None:
        if isinstance(obj, dict):
            history = obj.get("config", {}).get("keras_history") \
                if isinstance(obj.get("config"), dict) else None
            if isinstance(history, list) and history:
                names.append(str(history[0]))
                return
            for v in obj.values():
                tensors(v)
        elif isinstance(obj, list):
            if len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int):
                names.append(obj[0])
                return
            for v in obj:
                tensors(v)

    calls = spec.get("inbound_nodes", [])
    if not isinstance(calls, list):
        raise KerasFormatError(f"model JSON: {layer.label} has malformed 'inbound_nodes'")
    tensors(calls)
    return names
