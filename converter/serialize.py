"""Save and load a converted Project (its quantized Graph and boundary layouts) as one ``.npz``.

``firmforge convert -o OUT`` writes it beside the C sources so that ``firmforge build``/``run``
can rebuild firmware and compare with the reference from OUT alone. The file holds a JSON header
(values, nodes, attributes) and the constant arrays; nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from . import ops  # noqa: F401  (defines every op class, so Node.kinds is complete)
from .encoding import FORMATS, Dense, Encoding
from .ir import Act, DType, Graph, IRError, Node, QuantParams, Value
from .layout import Layout
from .mst_tree import MSTRows
from .ops.common import Padding
from .ops.spiking import DecayMode, Reset
from .project import Project

FORMAT = "firmforge-project/1"
SUFFIX = ".firmforge.npz"


def _attr(v: object) -> object:
    if isinstance(v, enum.Enum):
        return {"enum": type(v).__name__, "value": v.value}
    if isinstance(v, Padding):
        return {"padding": dataclasses.astuple(v)}
    if isinstance(v, tuple):
        return {"tuple": [_attr(x) for x in v]}
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    raise TypeError(f"cannot save attribute of type {type(v).__name__}")


_ENUMS = {"Act": Act, "DType": DType, "Reset": Reset, "DecayMode": DecayMode}


def _unattr(v: object) -> object:
    if isinstance(v, dict):
        if "enum" in v:
            return _ENUMS[v["enum"]](v["value"])
        if "padding" in v:
            return Padding(*v["padding"])
        if "tuple" in v:
            return tuple(_unattr(x) for x in v["tuple"])
    return v


def _encoding(entry: dict | None, path: Path) -> Encoding:
    """A constant's storage encoding from its JSON entry (absent: dense)."""
    if entry is None:
        return Dense()
    fields = dict(entry)
    cls = {c.__name__: c for c in (*FORMATS, MSTRows)}.get(fields.pop("format", None))
    if cls is not None:
        try:
            return cls(**fields)
        except TypeError:
            pass
    raise IRError(f"{path}: unknown storage encoding {entry!r}")


def save_project(proj: Project, path: str | os.PathLike[str]) -> Path:
    g = proj.graph
    arrays: dict[str, np.ndarray] = {}
    values = []
    index: dict[int, int] = {}
    for v in g.values():
        index[id(v)] = len(values)
        entry = {"name": v.name, "shape": list(v.shape), "dtype": v.dtype.value}
        if v.quant is not None:
            key = f"q{len(values)}"
            arrays[key + "s"] = v.quant.scale
            arrays[key + "z"] = v.quant.zero_point
            entry["quant"] = {"key": key, "axis": v.quant.axis}
        if v.is_const:
            arrays[f"d{len(values)}"] = v.data
            entry["data"] = f"d{len(values)}"
            if not isinstance(v.encoding, Dense):
                entry["encoding"] = {"format": type(v.encoding).__name__,
                                     **dataclasses.asdict(v.encoding)}
        values.append(entry)
    nodes = [{"op": type(n).__name__, "name": n.name, "attrs": {k: _attr(a) for k, a in n.attrs.items()},
              "inputs": [index[id(v)] for v in n.inputs], "outputs": [index[id(v)] for v in n.outputs],
              "state": [index[id(v)] for v in n.state]} for n in g.nodes]
    header = {"format": FORMAT, "name": proj.name, "graph": g.name, "values": values, "nodes": nodes,
              "inputs": [index[id(v)] for v in g.inputs], "outputs": [index[id(v)] for v in g.outputs],
              "input_layouts": [lay.value for lay in proj.input_layouts],
              "output_layouts": [lay.value for lay in proj.output_layouts]}
    arrays["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    # np.savez stamps the current time into the zip; fixed stamps keep the file byte-identical
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[key]), allow_pickle=False)
    os.replace(tmp, path)
    return path


def load_project(path: str | os.PathLike[str]) -> Project:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(arrays.pop("header").tobytes().decode())
    except (OSError, ValueError, KeyError) as e:
        raise IRError(f"{path} is not a firmforge project file: {e}") from None
    if header.get("format") != FORMAT:
        raise IRError(f"{path}: unsupported project format {header.get('format')!r}")
    kinds = {cls.__name__: cls for cls in Node.kinds}
    values = []
    for e in header["values"]:
        q = None
        if "quant" in e:
            k = e["quant"]["key"]
            q = QuantParams(arrays[k + "s"], arrays[k + "z"], e["quant"]["axis"])
        data = arrays[e["data"]] if "data" in e else None
        values.append(Value(e["name"], tuple(e["shape"]), DType(e["dtype"]), q, data,
                            _encoding(e.get("encoding"), path)))
    nodes = []
    for e in header["nodes"]:
        if e["op"] not in kinds:
            raise IRError(f"{path}: unknown op {e['op']!r} (saved by a newer firmforge?)")
        nodes.append(kinds[e["op"]](name=e["name"], inputs=[values[i] for i in e["inputs"]],
                                    outputs=[values[i] for i in e["outputs"]],
                                    state=[values[i] for i in e["state"]],
                                    **{k: _unattr(a) for k, a in e["attrs"].items()}))
    g = Graph(header["graph"], nodes, [values[i] for i in header["inputs"]],
              [values[i] for i in header["outputs"]])
    g.validate()
    return Project(header["name"], g, None, [Layout(s) for s in header["input_layouts"]],
                   [Layout(s) for s in header["output_layouts"]])
