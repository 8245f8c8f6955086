"""The interface between the converter and a code generator (a backend).

A backend turns a quantized Graph into generated sources, builds them for this machine and runs
them there. ``Project`` drives every backend through this interface, so a new target (the HLS
C++ project beside the MCU C) plugs in without touching the converter, and it verifies each one
the same way: run the host build, compare with the outputs the reference gave, byte for byte.
Targets never compute the reference themselves: the caller passes it in.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..converter.encoding import Encoding
from ..converter.ir import Graph, Node


class Generated(Protocol):
    """Generated sources: file name -> text, and the symbol prefix they use."""

    prefix: str
    files: dict[str, str]


class HostRunner(Protocol):
    """Generated code compiled for this machine."""

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """One array per graph input (batch first) -> one array per graph output."""
        ...

    def reset(self) -> None:
        """Restore the state of a stateful model."""
        ...


@dataclass(frozen=True)
class Mismatch:
    """Where a backend's output first differs from the expected bytes."""

    output: int
    sample: int
    index: tuple[int, ...]
    got: int
    want: int
    count: int  # differing elements in that output

    def __str__(self) -> str:
        return (f"output {self.output} differs at {self.count} element(s); first at sample "
                f"{self.sample} index {self.index}: got {self.got}, want {self.want}")


class Backend(abc.ABC):
    """A code generator: ``generate`` -> ``write`` / ``build_host`` -> ``verify``."""

    name: str

    @abc.abstractmethod
    def generate(self, graph: Graph, name: str) -> Generated:
        """Sources for ``graph`` with symbols prefixed by ``name`` (deterministic)."""

    @abc.abstractmethod
    def write(self, generated: Generated, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``generated`` and the support files it needs into ``out_dir`` (all or none)."""

    @abc.abstractmethod
    def build_host(self, generated: Generated, graph: Graph) -> HostRunner:
        """Compile ``generated`` for this machine."""

    def runs(self, node: Node, encoding: Encoding) -> bool:
        """Whether this backend computes ``node`` with its weights (input 1) stored
        ``encoding`` (``converter.passes.storage`` asks before it picks a format). A backend
        that does not say runs only what it is given: the pass then leaves the weights alone."""
        return False

    def verify(self, runner: HostRunner, inputs: Sequence[np.ndarray],
               expected: Sequence[np.ndarray]) -> Mismatch | None:
        """Run ``inputs`` from the reset state; None when every output equals ``expected``."""
        runner.reset()
        return first_mismatch(runner.run(*inputs), expected)


def first_mismatch(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> Mismatch | None:
    """The first element where ``got`` differs from ``want`` (outputs in order), or None."""
    if len(got) != len(want):
        raise ValueError(f"{len(got)} outputs to compare with {len(want)}")
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            raise ValueError(f"output {k}: shape {g.shape} != expected {w.shape}")
        bad = np.argwhere(g != w)
        if len(bad):
            i = tuple(int(t) for t in bad[0])
            return Mismatch(k, i[0], i[1:], int(g[i]), int(w[i]), len(bad))
    return None
