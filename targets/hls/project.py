"""``HlsProject``: what ``Project.write_hls`` returns: the written HLS project, its C simulation
and its estimates.

    hp = proj.write_hls("out", part="xc7z020clg400-1", clock_ns=5, reuse=1, io="parallel")
    hp.csim(x)        the testbench compiled with g++ and run: equals proj.reference(x)
    hp.estimates      per-layer multipliers, adders, weight storage, latency; and totals
    hp.files          the written paths
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backend import HlsBackend
from .writer import HlsSources


@dataclass(eq=False)
class HlsProject:
    dir: Path
    sources: HlsSources
    files: list[Path]
    project: object  # a converter Project driven through the HLS backend (run_host is csim)
    _compiled: bool = field(default=False, repr=False)

    @property
    def prefix(self) -> str:
        return self.sources.prefix

    @property
    def backend(self) -> HlsBackend:
        return self.project.backend

    @property
    def estimates(self) -> dict[str, object]:
        """Per-layer rows (``layers``) and totals: ``multipliers``, ``adders``,
        ``latency_cycles``, ``weight_bits``, ``bram18``, and a ``note`` (estimates only)."""
        return self.sources.estimates

    def csim(self, *xs: object) -> np.ndarray | list[np.ndarray]:
        """The C simulation of ``xs`` (the arguments ``Project.reference`` takes): compiled
        once (cached by a hash of the sources), then run; returns what the reference does."""
        return self.project.run_host(*xs)

    def verify(self, *xs: object):
        """None when the C simulation equals the reference on ``xs``, else the first
        ``targets.backend.Mismatch``."""
        return self.project.verify(*xs)

    def reset(self) -> None:
        self.project.reset()

    def trace(self, *xs: object) -> dict[str, np.ndarray]:
        """Every layer's output in the C simulation of ``xs`` from the reset state, by value
        name (IR layout, as ``Project.tensors``)."""
        q, _ = self.project.prepare_inputs(xs)
        return self.project.host().trace(*q)

    def first_difference(self, *xs: object) -> str | None:
        """None when every layer's output of the C simulation equals the reference's (from
        the reset state), else a sentence naming the first layer whose bytes differ."""
        self.project.reset()
        want = self.project.tensors(*xs)
        got = self.trace(*xs)
        for node in self.project.graph.nodes:
            for v in node.outputs:
                g, w = got.get(v.name), want[v.name]
                if g is None:
                    return f"layer {node.name} ({node.kind}): no trace of {v.name}"
                bad = np.argwhere(g != w)
                if len(bad):
                    i = tuple(int(t) for t in bad[0])
                    return (f"layer {node.name} ({node.kind}): {v.name} differs at {len(bad)} "
                            f"of {w.size} elements, first {i}: csim {g[i]} != reference {w[i]}")
        return None
