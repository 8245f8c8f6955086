"""Per-layer instruction (or cycle) profile of one inference in an emulator.

A profile build (``proj.build(board, out, x, profile=True)``) calls the platform's layer mark
after each node's kernel calls; the emulator records its counter at every call inside the
inference (the QEMU plugin counts instructions, the simavr runner cycles). Layer ``k`` is then
the span from mark ``k - 1`` (the start of the inference for the first) to mark ``k``: its
kernel calls plus the call of one mark (two instructions on Cortex-M, a call and a return).
What follows the last mark is the return to the runner and its call of the stop mark. The
layers and that tail add up to the whole inference exactly: ``Profile.of`` checks it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .ir import Graph


class ProfileError(RuntimeError):
    """The marks an emulator recorded do not fit the graph (another build, a lost mark)."""


@dataclass(frozen=True)
class LayerProfile:
    name: str  # the node's name
    op: str  # its op kind
    count: int  # instructions (QEMU) or cycles (simavr)
    macs: int

    @property
    def per_mac(self) -> float | None:
        return self.count / self.macs if self.macs else None


@dataclass(frozen=True)
class Profile:
    layers: list[LayerProfile]  # in the order the layers run
    tail: int  # after the last layer: the return to the runner and the call of the stop mark
    total: int  # the whole inference, as counted without a profile (``RunResult.counts``)
    unit: str  # "instructions" or "cycles"

    @classmethod
    def of(cls, graph: Graph, marks: list[int], total: int, unit: str) -> Profile:
        """The profile from the counter at each layer mark (counted from the inference's
        start) and the inference's ``total``."""
        nodes = graph.nodes
        if len(marks) != len(nodes):
            raise ProfileError(f"the firmware passed {len(marks)} layer marks in one inference; "
                               f"{graph.name} has {len(nodes)} layers (not a profile build of "
                               "this graph?)")
        bounds = [0, *marks]
        if any(nxt < cur for cur, nxt in itertools.pairwise(bounds)) or marks[-1] > total:
            raise ProfileError(f"layer marks out of order: {marks} (total {total})")
        layers = [LayerProfile(n.name, n.kind, b - a, n.macs())
                  for n, a, b in zip(nodes, bounds[:-1], marks, strict=True)]
        prof = cls(layers, total - marks[-1], total, unit)
        assert sum(lay.count for lay in layers) + prof.tail == total
        return prof

    @property
    def macs(self) -> int:
        return sum(lay.macs for lay in self.layers)

    def format(self) -> str:
        """The table ``firmforge run --profile`` prints, layers in the order they run."""
        w = max([len(lay.name) for lay in self.layers] + [24])
        ow = max([len(lay.op) for lay in self.layers] + [8])
        head = f"{'layer':<{w}}  {'op':<{ow}}  {self.unit:>13}  {'MACs':>11}  {'per MAC':>7}  share"
        lines = [head, "-" * len(head)]
        for lay in self.layers:
            per = f"{lay.per_mac:7.2f}" if lay.per_mac is not None else f"{'-':>7}"
            lines.append(f"{lay.name:<{w}}  {lay.op:<{ow}}  {lay.count:>13,}  {lay.macs:>11,}  "
                         f"{per}  {100 * lay.count / self.total:5.1f}%")
        lines.append(f"{'(return to the runner)':<{w}}  {'':<{ow}}  {self.tail:>13,}  {'':>11}  "
                     f"{'':>7}  {100 * self.tail / self.total:5.1f}%")
        lines.append("-" * len(head))
        per = f"{self.total / self.macs:7.2f}" if self.macs else f"{'-':>7}"
        lines.append(f"{'total (whole inference)':<{w}}  {'':<{ow}}  {self.total:>13,}  "
                     f"{self.macs:>11,}  {per}  100.0%")
        return "\n".join(lines)
