"""What a spiking network does per time step: spikes per layer, synaptic operations, and the
energy proxy of those operations against the multiply-accumulates of the equivalent ANN.

A synaptic operation (SOP) is one weight added to one neuron because one input spiked: an
event-driven layer does exactly these additions and nothing for silent inputs. Per step,

    Dense      SOP = (active inputs) * O                     (O outputs per input)
    Conv2d     SOP = sum over active inputs (y, x, c) of reach(y, x) * O / groups
    recurrent  SOP = (neurons that spiked at the previous step) * N

where ``reach(y, x)`` counts the output positions whose window covers input pixel (y, x)
(fewer at the borders, none for pixels a stride skips). The equivalent ANN does every layer's
MACs at every step (``Node.macs()``). The energy proxy prices an SOP as an accumulate and a MAC
as a multiply plus an accumulate: 0.9 pJ and 3.7 + 0.9 = 4.6 pJ, Horowitz's 45 nm figures for
32-bit float (ISSCC 2014), the convention of the SNN literature. It is a proxy for comparing
the two kinds of work, not a measurement of any chip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from firmforge.converter.ir import DType, Graph, Node, Value
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.spiking import Lif

ACCUMULATE_PJ = 0.9  # one 32-bit float add, 45 nm (Horowitz 2014)
MAC_PJ = 3.7 + 0.9   # one 32-bit float multiply and one add


@dataclass(frozen=True)
class LayerActivity:
    """One neuron layer's or synaptic layer's counts, averaged over the batch, per step."""

    name: str
    kind: str
    neurons: int                    # outputs of a Lif layer, 0 for a synaptic layer
    spikes: np.ndarray              # (T,) spikes emitted per step (Lif layers)
    sops: np.ndarray                # (T,) synaptic operations per step (synaptic layers)
    macs: int                       # the equivalent ANN layer's MACs per step


@dataclass(frozen=True)
class SpikingReport:
    steps: int
    layers: list[LayerActivity]

    @property
    def sops(self) -> float:
        return float(sum(a.sops.sum() for a in self.layers))

    @property
    def ann_macs(self) -> int:
        return self.steps * sum(a.macs for a in self.layers)

    @property
    def energy_ratio(self) -> float:
        """Energy proxy of the SNN's SOPs over that of the ANN's MACs (below 1: cheaper)."""
        return self.sops * ACCUMULATE_PJ / max(self.ann_macs * MAC_PJ, 1e-300)

    def table(self) -> str:
        head = ("layer", "op", "neurons", "spikes/step", "rate", "SOPs/step", "ANN MACs/step")
        rows = []
        for a in self.layers:
            rate = a.spikes.mean() / a.neurons if a.neurons else None
            rows.append((a.name, a.kind, f"{a.neurons:,}" if a.neurons else "",
                         f"{a.spikes.mean():,.1f}" if a.neurons else "",
                         f"{rate:.1%}" if rate is not None else "",
                         f"{a.sops.mean():,.0f}" if a.macs else "",
                         f"{a.macs:,}" if a.macs else ""))
        widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
        lines = ["  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                 for r in (head, tuple("-" * w for w in widths), *rows)]
        lines.append(f"{self.steps} steps: {self.sops:,.0f} SOPs against {self.ann_macs:,} "
                     f"ANN MACs; energy proxy {self.energy_ratio:.3f}x the ANN's "
                     f"({ACCUMULATE_PJ:g} pJ per SOP, {MAC_PJ:g} pJ per MAC)")
        return "\n".join(lines)


def spiking_report(graph: Graph, steps: Sequence[dict[str, np.ndarray]]) -> SpikingReport:
    """Counts of ``graph`` (one time step) from the tensors of each step: ``steps[t]`` maps
    value names to arrays (batch first), as ``reference.run(..., keep_all=True)`` returns them
    for the graph's inputs and every computed value."""
    spiking = _spike_values(graph)
    layers = []
    for node in graph.nodes:
        x = node.inputs[0]
        if isinstance(node, Lif):
            spikes = np.array([_per_sample(t[node.y.name]) for t in steps]) if node.fires \
                else np.zeros(len(steps))
            neurons = node.current.size // node.current.shape[0]  # of one sample
            rec, ann = np.zeros(len(steps)), 0
            if node.recurrent:  # the spikes of the step before feed back through w_rec
                rec = np.concatenate([[0.0], spikes[:-1]]) * node.neurons
                ann = neurons * node.neurons
            layers.append(LayerActivity(node.name, node.kind, neurons, spikes, rec, ann))
        elif x.name in spiking and isinstance(node, (Dense, Conv2d)):
            sops = np.array([_sops(node, t[x.name]) for t in steps])
            layers.append(LayerActivity(node.name, node.kind, 0, np.zeros(len(steps)), sops,
                                        node.macs() // max(x.shape[0], 1)))
    return SpikingReport(len(steps), layers)


def _spike_values(graph: Graph) -> set[str]:
    """Names of the values that hold spikes: u1 values, a firing Lif's outputs (f32 0/1 in a
    float graph), and values that only move such spikes (reshapes, transposes)."""
    names = {v.name for v in graph.values() if v.dtype is DType.u1}
    for node in graph.nodes:
        if isinstance(node, Lif) and node.fires:
            names.add(node.y.name)
        elif node.aliases_input and node.inputs[0].name in names:
            names.update(v.name for v in node.outputs)
    return names


def _per_sample(a: np.ndarray) -> float:
    """Sum over one sample, averaged over the batch."""
    a = np.asarray(a, np.float64)
    return float(a.sum() / max(a.shape[0], 1))


def _sops(node: Node, spikes: np.ndarray) -> float:
    s = np.asarray(spikes, np.float64)
    w: Value = node.inputs[1]
    if isinstance(node, Dense):
        return _per_sample(s) * w.shape[0]
    reach = _reach(node, s.shape[1:3])                       # (H, W)
    per_pixel = s.sum(axis=3) if s.ndim == 4 else s          # active channels per pixel
    fanout = w.shape[0] // node.groups
    return float((per_pixel * reach).sum() / max(s.shape[0], 1)) * fanout


def _reach(node: Conv2d, size: tuple[int, int]) -> np.ndarray:
    """(H, W): how many output positions each input pixel's value reaches."""
    (h, w), (_, kh, kw, _) = size, node.inputs[1].shape
    p, (sh, sw), (dh, dw) = node.padding, node.stride, node.dilation
    _, oh, ow, _ = node.y.shape
    reach = np.zeros((h + p.top + p.bottom, w + p.left + p.right))
    for ky in range(kh):
        for kx in range(kw):
            reach[ky * dh: ky * dh + (oh - 1) * sh + 1: sh,
                  kx * dw: kx * dw + (ow - 1) * sw + 1: sw] += 1
    return reach[p.top: p.top + h, p.left: p.left + w]
