"""A converted spiking network: a Project whose graph is one time step, run for T steps.

Inputs are time-major as in snnTorch, ``[T, batch, ...]`` (framework layout per step). Each
batch element runs its T steps from the reset state, one graph call per step, in the reference
and in the generated C alike, and the outputs come back time-major ``[T, batch, ...]``
(``Readout.SPIKES``), or decoded over the steps:

    Readout.COUNT        spikes per output neuron over the T steps          [batch, ...]
    Readout.FIRST_SPIKE  the first step at which each output neuron spiked, T if it never did
    Readout.MEMBRANE     a readout layer's membrane (a non-firing last layer) at every step

(the class is the argmax of the count, the argmin of the first spike, or of the membrane at
the last step).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from firmforge.converter.ir import DType, Graph, IRError, Stateful
from firmforge.converter.project import Project

from .report import SpikingReport, spiking_report


class Readout(enum.Enum):
    SPIKES = "spikes"
    COUNT = "count"
    FIRST_SPIKE = "first_spike"
    MEMBRANE = "membrane"


def decode(spikes: np.ndarray, readout: Readout) -> np.ndarray:
    """Time-major outputs [T, batch, ...] -> what ``readout`` returns (module docstring)."""
    s = np.asarray(spikes)
    if readout in (Readout.SPIKES, Readout.MEMBRANE):
        return s
    if readout is Readout.COUNT:
        return s.astype(np.int64).sum(axis=0).astype(np.int32)
    fired = s != 0
    first = np.argmax(fired, axis=0)
    return np.where(fired.any(axis=0), first, s.shape[0]).astype(np.int32)


@dataclass(eq=False)
class SpikingProject(Project):
    """``steps``: the T of ``reference()``/``run_host()`` when an input is static (given once
    per batch element and presented at every step); ``readout``: see the module docstring;
    ``decays``: the per-layer decay choice and error (``snn.quantize.DecayChoice``)."""

    steps: int = 1
    readout: Readout = Readout.SPIKES
    decays: list = field(default_factory=list)
    membrane_peaks: dict = field(default_factory=dict)

    def time_major_inputs(self, x: object) -> np.ndarray:
        """[T, B, ...] (or a static [B, ...], repeated for ``steps``) framework layout -> IR
        integers [T, B, ...]."""
        v = self.graph.inputs[0]
        layout = self.input_layouts[0]
        arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
        sample = layout.framework_shape(tuple(v.shape))[1:]
        if arr.shape[1:] == sample:  # static: the same input at every step
            arr = np.broadcast_to(arr, (self.steps, *arr.shape))
        if arr.ndim != len(sample) + 2 or arr.shape[2:] != sample:
            raise IRError(f"{self.name}: inputs are time-major [T, batch, "
                          f"{', '.join(map(str, sample))}] (or one static batch [batch, ...]), "
                          f"got {list(arr.shape)}")
        t, b = arr.shape[:2]
        flat = np.ascontiguousarray(arr).reshape(t * b, *sample)
        if v.dtype is DType.u1:  # spikes: 0 and 1 of any numeric type
            bad = (flat != 0) & (flat != 1)
            if np.any(bad):
                raise IRError(f"input {v.name} of {self.name} is spikes: its values must be 0 "
                              f"or 1, got {np.unique(flat[bad])[:4].tolist()}")
            q = layout.to_ir(flat.astype(np.uint8))
        else:
            q, _ = self.prepare_input(flat)
        return q.reshape(t, b, *q.shape[1:])

    def prepare_inputs(self, xs) -> tuple[list[np.ndarray], bool]:
        """One time-major sequence ``[T, 1, ...]`` (or ``[T, ...]`` of one sample) -> its T
        steps as consecutive samples, as firmware runs them (``build``/``Firmware.run``: every
        vector is one step, from the reset state)."""
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])
        if len(xs) != 1:
            raise IRError(f"{self.name} takes one time-major input, got {len(xs)}")
        x = np.asarray(xs[0].detach().cpu().numpy() if hasattr(xs[0], "detach") else xs[0])
        sample = self.input_layouts[0].framework_shape(tuple(self.graph.inputs[0].shape))[1:]
        if x.shape[1:] == sample:
            x = x[:, None]
        q = self.time_major_inputs(x)
        if q.shape[1] != 1:
            raise IRError(f"{self.name}: firmware runs one sequence [T, 1, ...], got a batch of "
                          f"{q.shape[1]}")
        return [np.ascontiguousarray(q[:, 0])], False

    def _steps(self, q: np.ndarray, one) -> np.ndarray:
        outs = []
        for b in range(q.shape[1]):
            outs.append(one(np.ascontiguousarray(q[:, b])))
        return self._decode(np.stack(outs, axis=1))

    def _decode(self, y: np.ndarray) -> np.ndarray:
        """[T, B, ...] IR-layout outputs -> framework layout, decoded by the readout."""
        lay = self.output_layouts[0]
        t, bsz = y.shape[:2]
        y = lay.from_ir(y.reshape(t * bsz, *y.shape[2:]))
        return decode(y.reshape(t, bsz, *y.shape[1:]), self.readout)

    def reference(self, x: object) -> np.ndarray:  # type: ignore[override]
        """The integer reference over all steps (module docstring)."""
        q = self.time_major_inputs(x)
        y = np.stack([t[self.graph.outputs[0].name] if not self.graph.outputs[0].is_const
                      else self.graph.outputs[0].data for t in batched_steps(self.graph, q)])
        return self._decode(y)

    def run_host(self, x: object) -> np.ndarray:  # type: ignore[override]
        """The generated C over all steps, each batch element from the reset state."""
        q = self.time_major_inputs(x)
        host = self.host()

        def one(seq: np.ndarray) -> np.ndarray:
            host.reset()
            return host.run(seq)[0]

        return self._steps(q, one)

    def step_tensors(self, x: object) -> list[dict[str, np.ndarray]]:
        """Every value of every step (IR layout, [B, ...] each), every element from reset."""
        return batched_steps(self.graph, self.time_major_inputs(x))

    def to_nir(self, path, dt: float = 1e-4):
        """The float network as a NIR graph written to ``path`` (``snn/nir_export.py``),
        its time constants stated for ``dt`` seconds a step (default snnTorch's 1e-4). NIR
        cannot state the reset: import it back with ``reset=`` this project's."""
        from .nir_export import export_nir

        return export_nir(self.float_graph, path, dt=dt)

    def spiking_report(self, x: object) -> SpikingReport:
        """Spikes per layer and step, synaptic operations and the energy proxy, averaged over
        the batch elements of ``x`` (``snn/report.py``)."""
        return spiking_report(self.graph, self.step_tensors(x))


def batched_steps(graph: Graph, q: np.ndarray) -> list[dict[str, np.ndarray]]:
    """See ``batched_steps_with_state``: every value of every step."""
    return [values for values, _ in batched_steps_with_state(graph, q)]


def batched_steps_with_state(graph: Graph, q: np.ndarray):
    """The reference of T steps for B independent sequences at once: each op's ``ref`` on the
    whole batch, with one state row per sequence (every op of a spiking graph computes its
    rows independently, so this is ``reference.run`` of each sequence alone, B times faster;
    tests/test_spiking.py checks the two agree). Yields, per step, every value and the state
    after it."""
    t_steps, b = q.shape[:2]
    state = {}
    for node in graph.nodes:
        if isinstance(node, Stateful):
            for v, a in zip(node.state, node.initial_state(), strict=True):
                state[v.name] = np.repeat(a, b, axis=0)
    for t in range(t_steps):
        env = {id(graph.inputs[0]): q[t]}
        for node in graph.nodes:
            args = [v.data if v.is_const else env[id(v)] for v in node.inputs]
            if isinstance(node, Stateful):
                outs, new = node.ref(args, [state[s.name] for s in node.state])
                state.update((s.name, a) for s, a in zip(node.state, new, strict=True))
            else:
                outs = node.ref(args)
            env.update((id(v), y) for v, y in zip(node.outputs, outs, strict=True))
        yield {v.name: env[id(v)] for v in graph.values() if id(v) in env}, state
