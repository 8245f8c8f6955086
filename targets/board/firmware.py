"""A converted model built for a board: write the project, build it, run it in the emulator.

``Project.build(board=..., out_dir=...)`` returns a ``Firmware``; ``fw.run(x)`` embeds ``x`` as
test vectors, rebuilds (only the vectors change), runs the board's emulator, parses the printed
outputs and compares them with the reference byte for byte. Counts are per inference:
instructions on QEMU boards (a TCG plugin), cycles on simavr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...converter import reference
from ..c.vectors import parse_outputs, vector_files
from ..c.writer import write_files
from .build import Sizes, check_fit, check_toolchain, elf_sizes, make
from .project import write_project
from .spec import Board, load_board

if TYPE_CHECKING:
    from ...converter.project import Project


@dataclass
class RunResult:
    """What the firmware printed, decoded, beside the reference."""

    outputs: np.ndarray  # framework layout, the model's output dtype
    reference: np.ndarray
    counts: list[int]  # per inference
    unit: str  # "instructions" (QEMU) or "cycles" (simavr)
    seconds: float
    log: str = field(repr=False, default="")

    @property
    def equal(self) -> bool:
        return bool(np.array_equal(self.outputs, self.reference))

    @property
    def instructions(self) -> int | None:
        """Instructions per inference (median over the vectors); None where cycles are counted."""
        return int(np.median(self.counts)) if self.unit == "instructions" and self.counts else None

    @property
    def cycles(self) -> int | None:
        return int(np.median(self.counts)) if self.unit == "cycles" and self.counts else None


@dataclass
class Firmware:
    project: Project
    board: Board
    dir: Path
    elf: Path
    sizes: Sizes
    predicted_flash: int
    predicted_ram: int

    @property
    def flash_bytes(self) -> int:
        return self.sizes.flash

    @property
    def ram_bytes(self) -> int:
        return self.sizes.ram

    @property
    def const_bytes(self) -> int:
        """Weights, biases and requantization tables in flash."""
        return self.project.sources().const_bytes

    def run(self, x: object | None = None, *, timeout: float = 120) -> RunResult:
        """Run the firmware on ``x`` (a batch, framework layout; float or the input's dtype)."""
        from .emulate import run_elf

        proj = self.project
        if x is None:
            q = _default_vectors(proj)
        else:
            q, _ = proj.prepare_input(x)
        write_files(vector_files(proj.sources(), proj.graph, [q]), self.dir)
        self.elf = make(self.board, self.dir)
        self.sizes = elf_sizes(self.board, self.elf)
        run = run_elf(self.board, self.elf, timeout=timeout)
        outs = parse_outputs(run.text, proj.graph, len(q))
        want, _ = reference.run(proj.graph, [q])
        outputs = proj._finish(outs, False)
        expected = proj._finish(want, False)
        return RunResult(outputs, expected, list(run.counts), run.unit, run.seconds, run.text)


def _default_vectors(proj: Project, n: int = 4) -> np.ndarray:
    v = proj.graph.inputs[0]
    rng = np.random.default_rng(0)
    if v.dtype.is_float:
        return rng.standard_normal((n, *v.shape[1:])).astype(np.float32)
    info = np.iinfo(v.dtype.np)
    return rng.integers(info.min, info.max + 1, (n, *v.shape[1:])).astype(v.dtype.np)


def build_firmware(proj: Project, board: str | Board, out_dir: str | os.PathLike[str],
                   x: object | None = None) -> Firmware:
    """Write ``proj``'s firmware project for ``board`` into ``out_dir`` and build it."""
    b = board if isinstance(board, Board) else load_board(board)
    check_toolchain(b)
    q = _default_vectors(proj) if x is None else proj.prepare_input(x)[0]
    src = proj.sources()
    g = proj.graph
    vec_bytes = q.nbytes
    io_bytes = sum(v.nbytes for v in [*g.inputs, *g.outputs])
    flash_min = src.const_bytes + vec_bytes  # known bytes only: no guess at the code size
    ram_min = src.plan.arena_size + io_bytes + b.stack
    check_fit(b, flash_min, ram_min,
              f"{src.const_bytes:,} B weights and tables + {vec_bytes:,} B test vectors")
    out = Path(out_dir)
    write_project(src, g, b, out, [q])
    elf = make(b, out)
    return Firmware(proj, b, out, elf, elf_sizes(b, elf), flash_min, ram_min)
