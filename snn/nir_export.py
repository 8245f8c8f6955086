"""NIR export of a float spiking graph (a SpikingProject's ``float_graph``), so other tools
and chips can take the network firmforge quantized.

Each Lif becomes the NIR neuron whose forward-Euler step with ``dt`` is exactly its update
(``nir_import.py`` has the equations): beta = 1 - dt/tau, and r chosen so that the input
factor dt r / tau is 1:

    Lif (fires)              LIF(tau = dt / (1 - beta), r = tau / dt, v_leak = 0, v_threshold)
    Lif with beta = 1        IF(r = 1 / dt, v_threshold)
    synaptic Lif             CubaLIF(tau_syn = dt / (1 - alpha), tau_mem, r = tau_mem / dt,
                                     w_in = tau_syn / dt)
    readout Lif (no firing)  LI(tau, r = tau / dt, v_leak = 0)

with one value per neuron (per channel of an image, repeated over its pixels, as NIR's shapes
want). A recurrent Lif gets its weights as a Linear node on an edge from the neuron back to
itself. Dense becomes Affine, Conv2d Conv2d (OIHW), a reshape of an image Flatten (with the
next layer's columns put back into NIR's CHW order). NIR cannot state a reset: it is always
written as reset to v_reset = 0; import with ``reset=`` the mode the graph had (the project's
Lif nodes say it). Max pooling has no NIR node and is refused; a rate encoder stays out (NIR's
input is then its spike train).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firmforge.converter.ir import Graph, Value
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.encode import RateEncode
from firmforge.converter.ops.shape import Reshape
from firmforge.converter.ops.spiking import Lif


class NirExportError(ValueError):
    """The graph holds something NIR cannot state; the message names the node."""


def export_nir(graph: Graph, path: str | Path | None, *, dt: float):
    """``graph`` as a ``nir.NIRGraph`` (written to ``path`` unless it is None)."""
    import nir

    if not dt or dt <= 0:
        raise NirExportError(f"dt must be a positive time step in seconds, got {dt!r}")
    nodes: dict[str, object] = {}
    edges: list[tuple[str, str]] = []
    src: dict[int, str] = {}
    chw: dict[int, tuple[int, int, int]] = {}  # flattened image values: their (H, W, C)
    x = graph.inputs[0]
    nodes["input"] = nir.Input(np.array(_nir_shape(x.shape)))
    src[id(x)] = "input"
    for n in graph.nodes:
        name = n.name.replace(".", "_")
        if isinstance(n, RateEncode):  # NIR's input is the encoded spike train
            src[id(n.y)] = "input"
            continue
        if isinstance(n, Reshape):
            if len(n.x.shape) == 4 and len(n.y.shape) == 2:
                nodes[name] = nir.Flatten(np.array(_nir_shape(n.x.shape)), 0, -1)
                chw[id(n.y)] = tuple(n.x.shape[1:])
            else:
                raise NirExportError(f"{n.name}: only the flatten of an image has a NIR node")
        elif isinstance(n, Dense) and type(n) is Dense:
            w = np.asarray(n.inputs[1].data, np.float32)
            if id(n.x) in chw:  # columns in NHWC flatten order -> NIR's CHW order
                h, wd, c = chw[id(n.x)]
                w = w.reshape(-1, h, wd, c).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
            nodes[name] = nir.Affine(w, np.asarray(n.inputs[2].data, np.float32))
        elif isinstance(n, Conv2d) and type(n) is Conv2d:
            p = n.padding
            if p.top != p.bottom or p.left != p.right:
                raise NirExportError(f"{n.name}: NIR's Conv2d pads both sides alike")
            w = np.asarray(n.inputs[1].data, np.float32).transpose(0, 3, 1, 2)
            nodes[name] = nir.Conv2d(np.array(n.x.shape[1:3]), w, np.array(n.stride),
                                     np.array([p.top, p.left]), np.array(n.dilation), n.groups,
                                     np.asarray(n.inputs[2].data, np.float32))
        elif isinstance(n, Lif):
            nodes[name] = _neuron(n, dt)
            if n.recurrent:
                rec = f"{name}_rec"
                nodes[rec] = nir.Linear(np.asarray(n.w_rec.data, np.float32))
                edges += [(name, rec), (rec, name)]
        else:
            raise NirExportError(f"{n.name}: {n.kind} has no NIR node")
        edges.append((src[id(n.inputs[0])], name))
        src[id(n.y)] = name
    nodes["output"] = nir.Output(np.array(_nir_shape(graph.outputs[0].shape)))
    edges.append((src[id(graph.outputs[0])], "output"))
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    if path is not None:
        nir.write(str(path), g)
    return g


def _nir_shape(shape: tuple[int, ...]) -> list[int]:
    """IR shape (batch first, NHWC) -> NIR's (CHW, no batch)."""
    s = list(shape[1:])
    return [s[2], s[0], s[1]] if len(s) == 3 else s


def _per(v: Value | None, node: Lif) -> np.ndarray:
    """One value per neuron, over NIR's whole shape (an image's channel over its pixels)."""
    a = np.broadcast_to(np.asarray(v.data, np.float64).reshape(-1), (node.neurons,))
    shape = node.current.shape
    if len(shape) == 4:
        return np.broadcast_to(a[:, None, None], (shape[3], shape[1], shape[2])).copy()
    return a.copy()


def _neuron(n: Lif, dt: float) -> object:
    import nir

    beta, thr = _per(n.beta, n), _per(n.threshold, n)
    zeros = np.zeros_like(beta)
    if np.any(beta >= 1) and not np.all(beta >= 1):
        raise NirExportError(f"{n.name}: beta = 1 for some neurons only (IF and LIF mixed)")
    if n.synaptic:
        alpha = _per(n.alpha, n)
        if np.any(alpha >= 1) or np.any(beta >= 1):
            raise NirExportError(f"{n.name}: a synaptic layer without leak has no NIR node")
        tau_syn, tau_mem = dt / (1 - alpha), dt / (1 - beta)
        return nir.CubaLIF(tau_syn, tau_mem, tau_mem / dt, zeros, thr, w_in=tau_syn / dt)
    if np.all(beta >= 1):
        return nir.IF(np.full_like(beta, 1 / dt), thr)
    tau = dt / (1 - beta)
    if not n.fires:
        return nir.LI(tau, tau / dt, zeros)
    return nir.LIF(tau, tau / dt, zeros, thr)

