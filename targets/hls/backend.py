"""The HLS C++ backend: ``writer.generate`` for the project, g++ C simulation as its host build.

``HlsBackend(options)`` plugs into ``Project`` like the C backend (``Project.using``): its
host runner is the C simulation, so ``run_host`` and ``verify`` compare the HLS C++ with the
reference exactly as they do the MCU C.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ...converter.ir import Graph
from ..backend import Backend
from .context import HlsOptions
from .csim import compile_csim, run_csim
from .writer import HlsSources, generate


class CsimRunner:
    """The compiled testbench as a ``HostRunner``. A stateful model carries its state from one
    ``run`` to the next until ``reset``: the testbench starts from the reset state on every
    process, so the inputs since the last reset are replayed and only the new outputs kept."""

    def __init__(self, binary: Path, src: HlsSources) -> None:
        self.binary = binary
        self.src = src
        self._history: list[np.ndarray] | None = None

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        batches = [np.asarray(x) for x in inputs]
        if not self.src.stateful:
            return run_csim(self.binary, self.src, batches)
        if self._history is None:
            full = batches
        else:
            full = [np.concatenate([h, b]) for h, b in zip(self._history, batches, strict=True)]
        outs = run_csim(self.binary, self.src, full)
        self._history = full
        n = len(batches[0])
        return [o[len(o) - n:] for o in outs]

    def reset(self) -> None:
        self._history = None

    def trace(self, *inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output for ``inputs`` from the reset state (a trace build), by value
        name, IR layout."""
        traced: dict[str, np.ndarray] = {}
        run_csim(compile_csim(self.src, trace=True), self.src, [np.asarray(x) for x in inputs],
                 trace=traced)
        return traced


class HlsBackend(Backend):
    name = "hls"

    def __init__(self, options: HlsOptions) -> None:
        self.options = options

    def generate(self, graph: Graph, name: str) -> HlsSources:
        return generate(graph, name, self.options)

    def write(self, generated: HlsSources, out_dir: str | os.PathLike[str],
              extra: dict[str, str] | None = None) -> list[Path]:
        """Every file, staged beside ``out_dir`` and moved into place (all or none); ``extra``
        adds files (test vectors) by relative path."""
        out = Path(out_dir)
        files = {**generated.files, **(extra or {})}
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".hls-", dir=out.parent))
        try:
            for rel, body in files.items():
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                (stage / rel).write_text(body)
            out.mkdir(exist_ok=True)
            written = []
            for rel in sorted(files):
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / rel, dest)
                written.append(dest)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return written

    def build_host(self, generated: HlsSources, graph: Graph) -> CsimRunner:
        return CsimRunner(compile_csim(generated), generated)
