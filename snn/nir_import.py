"""NIR import: a NIR graph (from any framework) becomes a float IR graph of one time step.

NIR's neurons are continuous-time; ``dt`` (seconds) discretises them by forward Euler:

    LIF      tau dv/dt = (v_leak - v) + r I    ->  v[t] = (1 - dt/tau) v + (dt r/tau) I + (dt/tau) v_leak
    IF       dv/dt = r I                       ->  v[t] = v + dt r I
    LI       as LIF, never firing              (a readout: its output is v)
    CubaLIF  tau_syn dI/dt = -I + w_in S,  tau_mem dv/dt = (v_leak - v) + r I
             ->  I[t] = (1 - dt/tau_syn) I + (dt/tau_syn) w_in S
                 v[t] = (1 - dt/tau_mem) v + (dt r/tau_mem) I[t] + (dt/tau_mem) v_leak

so beta = 1 - dt/tau (alpha = 1 - dt/tau_syn), and the input factors (dt r/tau, and for
CubaLIF dt r/tau_mem * dt/tau_syn * w_in, a factor the synaptic current carries through
linearly) and the leak term are folded, per neuron, into the rows and bias of the weighted
layer (Affine, Linear, Conv2d) whose output the neuron reads. A neuron must read such a layer
(and only that one, or that one plus its own recurrent edge); the leak of a CubaLIF must be 0.

A spike is v > v_threshold. NIR resets v to v_reset (0 when absent) at the spike; the Lif op
decides the reset from the previous step's membrane (snnTorch's delayed reset), which gives the
same spikes for v_reset = 0: ``Reset.ZERO`` is the default, and ``reset=`` overrides it (NIR
cannot state reset by subtraction). A nonzero v_reset is refused.

Pools: AvgPool2d and SumPool2d (a sum is the average times the window's size, a factor
the next weighted layer's weights take). A pool of spikes makes no spikes, so a spiking graph
folds each pool into the weighted layer after it (``converter/passes/fold_pool.py``).

What exporters write, read as they write it: a leading batch dimension of 1 on the Input
(Norse, nirtorch); Flatten dimensions without the batch (Sinabs: ``start_dim=0``); parameters
as torch tensors; Conv2d ``padding="same"`` (odd kernels); an LI followed by a Threshold
(Spyx's reset-free PSU neuron: one firing Lif with ``Reset.NONE``); a recurrent Linear that
also reads the layer's input (Spyx's recurrent subgraphs: ``W (x + s)``).

Edges: several edges into a node sum their values; a neuron whose output comes back through a
Linear/Affine into its own input is recurrent (``Lif.recurrent``, that layer's weights as
``w_rec``, its bias joining the feed-forward bias); any other cycle is refused. Nested
``NIRGraph`` nodes are flattened. Images are CHW in NIR and NHWC in the IR; a Flatten of an
image flattens in CHW order (the IR transposes first, and the float passes fold that
transpose into the next layer's weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firmforge.converter.frontends import torch_lower as low
from firmforge.converter.frontends.torch_context import Ctx, T, Unsupported
from firmforge.converter.ir import DType, Graph, IRError, Value
from firmforge.converter.ops.eltwise import Add
from firmforge.converter.ops.spiking import Lif, Reset

_NEURONS = ("IF", "LIF", "LI", "CubaLIF")
_LAYERS = ("Affine", "Linear", "Conv2d")
_POOLS = ("AvgPool2d", "SumPool2d")


class NirImportError(ValueError):
    """The NIR file or graph cannot be read or converted; the message names the node."""


def import_nir(source, *, dt: float, reset: Reset | None = None) -> Graph:
    """The float graph of one time step of ``source`` (a path or a ``nir.NIRGraph``); see the
    module docstring. ``dt`` in seconds is required; ``reset`` defaults to ``Reset.ZERO``."""
    import nir

    if dt is None or not np.isfinite(dt) or dt <= 0:
        raise NirImportError(f"dt must be a positive time step in seconds, got {dt!r}")
    if isinstance(source, (str, Path)):
        try:
            graph = nir.read(str(source))
        except Exception as e:  # whatever h5py or nir raise, the file is not a NIR graph
            raise NirImportError(f"{source}: not a readable NIR file ({type(e).__name__}: "
                                 f"{e})") from e
    elif isinstance(source, nir.NIRGraph):
        graph = source
    else:
        raise NirImportError(f"expected a NIR graph or the path of a .nir file, got "
                             f"{type(source).__name__}")
    nodes, edges = _flatten(graph, "")
    try:
        return _Builder(nodes, edges, float(dt), reset or Reset.ZERO).build()
    except (Unsupported, IRError, KeyError, ValueError, TypeError) as e:
        if isinstance(e, NirImportError):
            raise
        raise NirImportError(str(e)) from e


def _flatten(g, prefix: str) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """Nested graphs inlined: their Input/Output nodes become pass-throughs."""
    import nir

    nodes, edges = {}, []
    for name, node in g.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            inner, inner_edges = _flatten(node, f"{full}.")
            nodes.update(inner)
            edges += inner_edges
            ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NirImportError(f"{full}: a nested graph needs one Input and one Output")
            nodes[full] = ("nested", f"{full}.{ins[0]}", f"{full}.{outs[0]}")
        else:
            nodes[full] = node
    for a, b in g.edges:
        edges.append((_endpoint(nodes, f"{prefix}{a}", 2), _endpoint(nodes, f"{prefix}{b}", 1)))
    return nodes, edges


def _endpoint(nodes, name: str, which: int) -> str:
    """An edge to a nested graph enters its Input; one from it leaves its Output."""
    n = nodes.get(name)
    if n is None:
        raise NirImportError(f"an edge names {name!r}, which is not a node of the graph")
    return n[which] if isinstance(n, tuple) else name


class _Builder:
    def __init__(self, nodes, edges, dt: float, reset: Reset) -> None:
        self.nodes = {k: v for k, v in nodes.items() if not isinstance(v, tuple)}
        self.nested = {k for k, v in nodes.items() if isinstance(v, tuple)}
        self.dt, self.reset = dt, reset
        self.preds: dict[str, list[str]] = {k: [] for k in self.nodes}
        for a, b in edges:
            self.preds[b].append(a)
        self.graph = Graph("nir")
        self.cx = Ctx(self.graph)
        self.done: dict[str, T] = {}
        self.gain: dict[int, float] = {}  # a SumPool2d's value (or its flatten) -> k*k

    def kind(self, name: str) -> str:
        return type(self.nodes[name]).__name__

    def build(self) -> Graph:
        top = [k for k in self.nodes if not any(k.startswith(f"{n}.") for n in self.nested)]
        ins = [k for k in top if self.kind(k) == "Input"]
        outs = [k for k in top if self.kind(k) == "Output"]
        if len(ins) != 1 or len(outs) != 1:
            raise NirImportError(f"a graph needs one Input and one Output, found {len(ins)} "
                                 f"and {len(outs)}")
        for k in self.nodes:
            if self.kind(k) not in ("Input", "Output", "Flatten", "Threshold", *_POOLS,
                                    *_NEURONS, *_LAYERS):
                raise NirImportError(f"node {k}: NIR {self.kind(k)} is not supported")
        shape = tuple(int(d) for d in np.asarray(
            next(iter(self.nodes[ins[0]].input_type.values()))).reshape(-1))
        if len(shape) in (2, 4) and shape[0] == 1:  # a batch of one (Norse, nirtorch)
            shape = shape[1:]
        self.done[ins[0]] = self.cx.placeholder("input", (1, *shape))
        self.graph.inputs.append(self.done[ins[0]].value)
        out = self.value(outs[0], [])
        self.graph.outputs.append(out.value)
        self.graph.validate()
        return self.graph

    def value(self, name: str, stack: list[str]) -> T:
        if name in self.done:
            return self.done[name]
        if name in stack:
            raise NirImportError(f"a cycle through {' -> '.join([*stack, name])} that is not "
                                 "a neuron's own recurrent weights")
        node, kind = self.nodes[name], self.kind(name)
        preds = self.preds[name]
        if not preds:
            raise NirImportError(f"node {name} ({kind}) has no input edge")
        if kind in _NEURONS:
            t = self.neuron(name, node, preds, [*stack, name])
        elif kind == "Threshold":
            t = self.threshold(name, node, preds, [*stack, name])
        else:
            xs = [self.value(p, [*stack, name]) for p in preds]
            x = xs[0] if len(xs) == 1 else self.sum(name, xs)
            t = self.layer(name, node, kind, x)
        self.done[name] = t
        return t

    def through(self, name: str) -> str:
        """The node behind a nested graph's Output/Input (which only pass values on)."""
        while self.kind(name) in ("Output", "Input") and len(self.preds[name]) == 1:
            name = self.preds[name][0]
        return name

    def sum(self, name: str, xs: list[T]) -> T:
        self.cx.begin(f"{name}.sum", xs[0].shape)
        v = xs[0].value
        for x in xs[1:]:
            v = self.cx.emit(Add, [v, x.value])
        return T(v, xs[0].shape)

    def layer(self, name: str, node, kind: str, x: T) -> T:
        gain = self.gain.get(id(x.value))
        if gain is not None and kind not in (*_LAYERS, "Flatten"):
            raise NirImportError(f"node {name} ({kind}) reads a SumPool2d: only a weighted "
                                 "layer (after a Flatten, or a Conv2d) may")
        if kind in ("Output", "Input"):  # the end, or a nested graph's way in
            return x
        out_shape = _out_shape(node, kind, x.shape)
        self.cx.begin(name, out_shape)
        if kind == "Flatten":
            t = self.cx.reshape(x, out_shape)
            if gain is not None:
                self.gain[id(t.value)] = gain
            return t
        gain = 1.0 if gain is None else gain
        if kind in ("Affine", "Linear"):
            w = np.asarray(node.weight, np.float32) * np.float32(gain)
            b = np.asarray(node.bias, np.float32) if kind == "Affine" and node.bias is not None \
                else None
            if w.ndim != 2 or w.shape[1] != x.shape[-1]:
                raise NirImportError(f"node {name}: weight {list(w.shape)} does not take an "
                                     f"input of {x.shape[-1]} features")
            return low.linear(self.cx, x, _t(w), _t(b))
        if kind == "Conv2d":
            w = np.asarray(node.weight, np.float32) * np.float32(gain)
            if w.ndim != 4 or x.rank != 4 or w.shape[1] * int(node.groups) != x.shape[1]:
                raise NirImportError(f"node {name}: weight {list(w.shape)} does not take an "
                                     f"input of shape {list(x.shape[1:])}")
            pad = node.padding if not isinstance(node.padding, str) else _same(node, name)
            b = np.asarray(node.bias, np.float32) if node.bias is not None else None
            return low.conv(self.cx, x, _t(w), _t(b), tuple(np.ravel(node.stride)), tuple(np.ravel(pad)),
                            tuple(np.ravel(node.dilation)), int(node.groups))
        if kind in _POOLS:
            k = tuple(int(v) for v in np.broadcast_to(np.ravel(node.kernel_size), (2,)))
            t = low.pool(self.cx, x, "avg", k, tuple(np.ravel(node.stride)),
                         tuple(np.ravel(node.padding)), False, count_include_pad=True)
            if kind == "SumPool2d":
                self.gain[id(t.value)] = float(k[0] * k[1])
            return t
        raise NirImportError(f"node {name}: NIR {kind} is not supported")

    def threshold(self, name: str, node, preds: list[str], stack: list[str]) -> T:
        """An LI read only by a Threshold: one firing Lif that never resets."""
        li = self.through(preds[0]) if len(preds) == 1 else None
        if li is None or self.kind(li) != "LI" or any(
                self.through(b) != name for b in self._readers(li)):
            raise NirImportError(f"node {name}: a Threshold must read one LI, and be its only "
                                 "reader (an LI and a Threshold make a neuron without reset)")
        t = self.neuron(li, self.nodes[li], self.preds[li], [*stack, li],
                        threshold=node.threshold)
        self.done[li] = t
        return t

    def _readers(self, name: str) -> list[str]:
        return [b for b, ps in self.preds.items() if name in ps]

    def _recurrent(self, name: str, preds: list[str]) -> tuple[list[str], list[str]]:
        """The Linear/Affine inputs of neuron ``name`` that read its own spikes: those reading
        only them (recurrent weights), and those also reading the layer's input (shared)."""
        rec, shared = [], []
        for p in preds:
            if self.kind(p) not in ("Linear", "Affine"):
                continue
            src = [self.through(q) for q in self.preds[p]]
            if name in src:
                (rec if all(q == name for q in src) else shared).append(p)
        return rec, shared

    def neuron(self, name: str, node, preds: list[str], stack: list[str],
               threshold: object = None) -> T:
        kind = type(node).__name__
        preds = [self.through(p) for p in preds]
        rec, shared = self._recurrent(name, preds)
        ff = [p for p in preds if p not in rec and p not in shared]
        if shared:
            # W (x + s): W is the feed-forward layer over x and the recurrent weights
            if ff or rec or len(shared) > 1:
                raise NirImportError(f"neuron {name} ({kind}) reads {', '.join(preds)}: a "
                                     "layer reading both the input and the neuron's spikes "
                                     "must be its only input")
            src = [q for q in self.preds[shared[0]] if self.through(q) != name]
            xs = [self.value(q, stack) for q in src]
            r = self.nodes[shared[0]]
            x = self.layer(shared[0], r, self.kind(shared[0]),
                           xs[0] if len(xs) == 1 else self.sum(shared[0], xs))
            self.done[shared[0]] = x
            rec_weight, rec_bias = r.weight, None
        else:
            if len(ff) != 1 or self.kind(ff[0]) not in _LAYERS or len(rec) > 1:
                raise NirImportError(f"neuron {name} ({kind}) must read one Affine, Linear or "
                                     "Conv2d (plus, for a recurrent layer, its own output "
                                     f"through one Linear/Affine); it reads {', '.join(preds)}")
            x = self.value(ff[0], stack)
            r = self.nodes[rec[0]] if rec else None
            rec_weight = None if r is None else r.weight
            rec_bias = r.bias if rec and self.kind(rec[0]) == "Affine" else None
            if rec:
                self.done[rec[0]] = x  # consumed inside the Lif
        producer = self.graph.producer(x.value)
        if producer is None or len(producer.inputs) < 3:
            raise NirImportError(f"neuron {name}: its input layer {(ff or shared)[0]} is not "
                                 "a weighted layer of its own")
        n = x.value.shape[-1]
        dt = self.dt
        p = {f: _per_neuron(node, f, x.shape, name) for f in ("tau", "tau_mem", "tau_syn", "r",
                                                        "v_leak", "v_threshold", "w_in")
             if hasattr(node, f) and getattr(node, f) is not None}
        v_reset = getattr(node, "v_reset", None)
        if v_reset is not None and np.any(np.asarray(v_reset) != 0):
            raise NirImportError(f"neuron {name}: v_reset != 0 is not supported (the Lif op "
                                 "resets to zero or by subtraction)")
        alpha = None
        if kind == "IF":
            beta, gain, leak = np.ones(n), dt * p["r"], np.zeros(n)
        elif kind == "CubaLIF":
            tau_mem, tau_syn = p["tau_mem"], p["tau_syn"]
            beta, alpha = 1 - dt / tau_mem, 1 - dt / tau_syn
            gain = dt * p["r"] / tau_mem * dt / tau_syn * p.get("w_in", np.ones(n))
            leak = dt / tau_mem * p["v_leak"]
            if np.any(leak != 0):
                raise NirImportError(f"neuron {name}: a CubaLIF with v_leak != 0 is not "
                                     "supported (its leak is not a current)")
        else:
            tau = p["tau"]
            beta, gain, leak = 1 - dt / tau, dt * p["r"] / tau, dt / tau * p["v_leak"]
        if np.any(beta < 0) or (alpha is not None and np.any(alpha < 0)):
            raise NirImportError(f"neuron {name}: dt {dt:g} is longer than its time constant "
                                 "(forward Euler would oscillate)")
        _scale_rows(producer, gain, leak)
        self.cx.begin(name, x.shape)
        fires = kind != "LI" or threshold is not None
        if threshold is not None:  # an LI and its Threshold
            p["v_threshold"] = _per_neuron(_Field(threshold), "v_threshold", x.shape, name)
        thr = p.get("v_threshold", np.zeros(n))  # an LI never compares it
        ins = [x.value, self.cx.const("beta", beta), self.cx.const("threshold", thr)]
        synaptic, recurrent = alpha is not None, rec_weight is not None
        if synaptic:
            ins.append(self.cx.const("alpha", alpha))
        if recurrent:
            w = np.asarray(rec_weight, np.float64) * gain[:, None]
            ins.append(self.cx.const("w_rec", w))
            if rec_bias is not None:
                _scale_rows(producer, np.ones(n), np.asarray(rec_bias, np.float64) * gain)
        reset = self.reset if kind != "LI" else Reset.NONE
        states = [Value(self.cx.unique(f"{name}.syn"), x.value.shape, DType.f32)] \
            if synaptic else []
        states.append(Value(self.cx.unique(f"{name}.mem"), x.value.shape, DType.f32))
        out = Value(self.cx.unique(name), x.value.shape, DType.f32)
        lif = Lif(name=out.name, inputs=ins, outputs=[out], state=states,
                  reset=reset, synaptic=synaptic,
                  recurrent=recurrent, fires=fires)
        lif.check()
        self.graph.nodes.append(lif)
        return T(out, x.shape)


class _Field:
    """A bare value read like a node's field (a Threshold's threshold)."""

    def __init__(self, v_threshold: object) -> None:
        self.v_threshold = v_threshold


def _t(a: np.ndarray | None):
    """A constant as the torch tensor the shared lowering helpers take."""
    import torch

    return None if a is None else torch.from_numpy(np.ascontiguousarray(a, np.float32))


def _per_neuron(node, field: str, shape: tuple[int, ...], name: str) -> np.ndarray:
    """One value per neuron of the IR's last axis: a scalar is broadcast; on an image (CHW)
    NIR's full (C, H, W) arrays must be constant over each channel's pixels."""
    a = np.asarray(getattr(node, field), np.float64).reshape(-1)
    n = shape[1] if len(shape) == 4 else shape[-1]
    if a.size == 1:
        return np.full(n, a[0])
    if a.size == n:
        return a
    if len(shape) == 4 and a.size == int(np.prod(shape[1:])):
        per_pixel = a.reshape(shape[1], -1)
        if np.all(per_pixel == per_pixel[:, :1]):
            return per_pixel[:, 0]
    raise NirImportError(f"neuron {name}: {field} has {a.size} entries for {n} neurons (one "
                         "per neuron, or per channel of an image)")


def _scale_rows(layer, gain: np.ndarray, leak: np.ndarray) -> None:
    """Multiply the layer's output rows (and bias) by ``gain`` and add ``leak`` to its bias."""
    w, b = layer.inputs[1], layer.inputs[2]
    shape = (-1,) + (1,) * (w.data.ndim - 1)
    layer.inputs[1] = Value(w.name, w.shape, DType.f32,
                            data=(w.data * gain.reshape(shape)).astype(np.float32))
    layer.inputs[2] = Value(b.name, b.shape, DType.f32,
                            data=(b.data * gain + leak).astype(np.float32))


def _same(node, name: str) -> tuple[int, int]:
    """``padding="same"`` of a stride-1 Conv2d: (d (k - 1) / 2) on each side, for odd spans."""
    k = np.asarray(node.weight).shape[2:]
    d = np.broadcast_to(np.ravel(node.dilation), (2,))
    s = np.broadcast_to(np.ravel(node.stride), (2,))
    span = [int(d[i]) * (int(k[i]) - 1) for i in range(2)]
    if str(node.padding).lower() != "same" or any(int(v) != 1 for v in s) or any(
            v % 2 for v in span):
        raise NirImportError(f"node {name}: Conv2d padding {node.padding!r} with stride "
                             f"{tuple(int(v) for v in s)} and kernel {tuple(k)}: give explicit "
                             "padding (only stride-1 'same' with an odd kernel is symmetric)")
    return span[0] // 2, span[1] // 2


def _out_shape(node, kind: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if kind in ("Affine", "Linear"):
        return (*shape[:-1], np.asarray(node.weight).shape[0])
    if kind == "Flatten":
        start = int(node.start_dim) + 1 if node.start_dim >= 0 else len(shape) + node.start_dim
        end = int(node.end_dim) + 1 if node.end_dim >= 0 else len(shape) + node.end_dim
        return (*shape[:start], int(np.prod(shape[start:end + 1])), *shape[end + 1:])
    if kind == "Conv2d":
        w = np.asarray(node.weight)
        k = w.shape[2:]
        s, p, d = (np.broadcast_to(np.ravel(v), (2,)) for v in
                   (node.stride, node.padding, node.dilation))
        if isinstance(node.padding, str):
            return (shape[0], w.shape[0], *shape[2:])  # "same", stride 1 (checked by _same)
        hw = [(shape[2 + i] + 2 * int(p[i]) - int(d[i]) * (k[i] - 1) - 1) // int(s[i]) + 1
              for i in range(2)]
        return (shape[0], w.shape[0], *hw)
    if kind in _POOLS:
        k, s, p = (np.broadcast_to(np.ravel(v), (2,)) for v in
                   (node.kernel_size, node.stride, node.padding))
        hw = [(shape[2 + i] + 2 * int(p[i]) - int(k[i])) // int(s[i]) + 1 for i in range(2)]
        return (shape[0], shape[1], *hw)
    return shape
