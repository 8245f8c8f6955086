"""A generated model built for a board: write the project, build it, run it in the emulator.

``build_firmware(sources, graph, board, out_dir, vectors)`` writes the project with ``vectors``
(one array per graph input, batch first, IR layout) embedded as test vectors and builds it once;
``Firmware.run()`` runs those vectors on the board's emulator and returns the outputs it printed
(IR layout) with the instruction (QEMU) or cycle (simavr) count of each inference. Running other
vectors rewrites the vector files and rebuilds once (make recompiles only them). Comparing with
the reference is the caller's business: targets never compute it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...converter.ir import Graph
from ..c.vectors import parse_outputs, vector_files
from ..c.writer import CSources, write_files
from .build import Sizes, check_fit, check_toolchain, elf_sizes, make
from .project import write_project
from .spec import Board, load_board


@dataclass
class FirmwareRun:
    """What one emulator run of the firmware printed, decoded."""

    outputs: list[np.ndarray]  # one per graph output, [vectors, ...] in IR layout
    counts: list[int]  # per inference
    unit: str  # "instructions" (QEMU) or "cycles" (simavr)
    seconds: float
    log: str = field(repr=False, default="")


@dataclass
class BuiltFirmware:
    """A built firmware project. ``min_flash`` and ``min_ram`` are true lower bounds computed
    before compiling (constants and vectors; arena, state and stack), never above the linked
    sizes."""

    graph: Graph
    sources: CSources
    board: Board
    dir: Path
    elf: Path
    sizes: Sizes
    min_flash: int
    min_ram: int
    vectors: list[np.ndarray]

    @property
    def flash_bytes(self) -> int:
        return self.sizes.flash

    @property
    def ram_bytes(self) -> int:
        return self.sizes.ram

    @property
    def const_bytes(self) -> int:
        """Weights, biases and requantization tables in flash."""
        return self.sources.const_bytes

    def run(self, vectors: list[np.ndarray] | None = None, *, timeout: float = 120
            ) -> FirmwareRun:
        """Run ``vectors`` (default: the ones built in) on the board's emulator, from the
        model's reset state, one after the other."""
        from .emulate import run_elf

        if vectors is not None and not _same(vectors, self.vectors):
            write_files(vector_files(self.sources, self.graph, vectors), self.dir)
            self.vectors = [np.asarray(v) for v in vectors]
            self.elf = make(self.board, self.dir)
            self.sizes = elf_sizes(self.board, self.elf)
        run = run_elf(self.board, self.elf, timeout=timeout)
        outs = parse_outputs(run.text, self.graph, len(self.vectors[0]))
        return FirmwareRun(outs, list(run.counts), run.unit, run.seconds, run.text)


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        np.asarray(x).dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def build_firmware(sources: CSources, graph: Graph, board: str | Board,
                   out_dir: str | os.PathLike[str], vectors: list[np.ndarray]) -> BuiltFirmware:
    """Write the firmware project of ``sources`` for ``board`` into ``out_dir`` with
    ``vectors`` as its test vectors, and build it."""
    b = board if isinstance(board, Board) else load_board(board)
    check_toolchain(b)
    vectors = [np.asarray(v) for v in vectors]
    vec_bytes = sum(v.nbytes for v in vectors)
    flash_min = sources.const_bytes + vec_bytes  # known bytes only: no guess at the code size
    io_bytes = sum(v.nbytes for v in [*graph.inputs, *graph.outputs])  # the runner's buffers
    ram_min = sources.plan.arena_size + sources.plan.state_size + io_bytes + b.stack
    check_fit(b, flash_min, ram_min,
              f"{sources.const_bytes:,} B weights and tables + {vec_bytes:,} B test vectors")
    out = Path(out_dir)
    write_project(sources, graph, b, out, vectors)
    elf = make(b, out)
    return BuiltFirmware(graph, sources, b, out, elf, elf_sizes(b, elf), flash_min, ram_min, vectors)
