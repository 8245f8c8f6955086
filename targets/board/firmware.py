"""A generated model built for a board: write the project, build it, run it in the emulator.

``build_firmware(sources, graph, board, out_dir, vectors)`` writes the project with ``vectors``
(one array per graph input, batch first, IR layout) embedded as test vectors and builds it once;
``BuiltFirmware.run()`` runs those vectors on the board's emulator and returns the outputs it
printed (IR layout) with the instruction (QEMU) or cycle (simavr) count of each inference and
the stack's high-water mark. Running other vectors rewrites the vector files and rebuilds once
(make recompiles only them). Comparing with the reference is the caller's business: targets
never compute it.

The stack. On a board whose ``memory.stack`` is ``"auto"`` the build measures it: it links with
a measuring stack, runs the vectors once in the emulator, then relinks (nothing is recompiled)
with the measured high-water mark plus a margin (``spec.auto_stack``). A firmware whose stack
overflows raises ``StackOverflow``; when the firmware could not tell how much it needed (a trap
stops it at the first byte past the stack), the project is relinked in a scratch copy with a
larger stack and run again to measure it, so the error names the size to reserve.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ...converter.ir import Graph
from ..c.vectors import parse_outputs, vector_files
from ..c.writer import CSources, write_files
from . import build
from .build import FlashSplit, Sizes, elf_sizes, make
from .project import relink, write_project
from .spec import Board, auto_stack, load_board

# The largest stack a measurement after an overflow links with.
MEASURE_MAX = 1024 * 1024


@dataclass
class FirmwareRun:
    """What one emulator run of the firmware printed, decoded."""

    outputs: list[np.ndarray]  # one per graph output, [vectors, ...] in IR layout
    counts: list[int]  # per inference
    unit: str  # "instructions" (QEMU) or "cycles" (simavr)
    seconds: float
    log: str = field(repr=False, default="")
    stack: list[int] = field(default_factory=list)  # high-water mark after each inference
    stack_reserved: int | None = None
    layers: list[list[int]] = field(default_factory=list)  # profile builds: count at each mark

    @property
    def stack_bytes(self) -> int | None:
        """The stack's high-water mark over the run, in bytes (None: not measured)."""
        return max(self.stack) if self.stack else None


@dataclass
class BuiltFirmware:
    """A built firmware project. ``min_flash`` and ``min_ram`` are true lower bounds computed
    before compiling (constants and vectors; arena, state, I/O and a fixed stack), never above
    the linked sizes. ``board.stack`` is the stack reserved (sized by the build on an
    ``"auto"`` board, where ``stack_measured`` is the measurement it came from)."""

    graph: Graph
    sources: CSources
    board: Board
    dir: Path
    elf: Path
    sizes: Sizes
    min_flash: int
    min_ram: int
    vectors: list[np.ndarray]
    stack_measured: int | None = None
    profile: bool = False

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

    @property
    def flash_split(self) -> FlashSplit:
        """Code, weights and tables, parameter structs and test vectors, from the linker map."""
        return build.flash_split(self.board, self.dir, self.sources.prefix, self.sizes)

    @property
    def code_bytes(self) -> int:
        return self.flash_split.code

    @property
    def stack_reserved(self) -> int:
        return self.board.stack

    def run(self, vectors: list[np.ndarray] | None = None, *, timeout: float = 120
            ) -> FirmwareRun:
        """Run ``vectors`` (default: the ones built in) on the board's emulator, from the
        model's reset state, one after the other."""
        from .emulate import StackOverflow, run_elf

        if vectors is not None and not _same(vectors, self.vectors):
            write_files(vector_files(self.sources, self.graph, vectors), self.dir)
            self.vectors = [np.asarray(v) for v in vectors]
            self.elf = make(self.board, self.dir)
            self.sizes = elf_sizes(self.board, self.elf)
        try:
            run = run_elf(self.board, self.elf, timeout=timeout)
        except StackOverflow as e:
            if e.needed is not None:
                raise
            raise _measure_need(self.board, self.dir, self.sizes, e, timeout) from None
        outs = parse_outputs(run.text, self.graph, len(self.vectors[0]))
        return FirmwareRun(outs, list(run.counts), run.unit, run.seconds, run.text, run.stack,
                           run.stack_reserved, run.layers)


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(
        np.asarray(x).dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _measure_need(board: Board, project: Path, sizes: Sizes, overflow, timeout: float):
    """``overflow`` with the stack the firmware needs, measured in a scratch copy of the project
    relinked with the largest stack the RAM leaves (at most ``MEASURE_MAX``)."""
    from .emulate import StackOverflow, run_elf

    if board.family == "avr":  # the stack is no section: nothing to relink
        return overflow
    static = sizes.ram - board.stack
    room = min(MEASURE_MAX, board.ram.size - static - 256) // 64 * 64
    if room <= board.stack:
        return overflow.with_needed(None, "the RAM has no room for a larger stack to measure in")
    with tempfile.TemporaryDirectory(prefix="ff-stack-") as d:
        copy = Path(d) / "fw"
        shutil.copytree(project, copy)  # keeps mtimes: make relinks only
        big = replace(board, stack=room)
        relink(big, copy)
        try:
            run = run_elf(big, make(big, copy), timeout=timeout)
        except StackOverflow:
            return overflow.with_needed(None, f"more than {room:,} B, measured with that stack")
    if not run.stack:
        return overflow
    return overflow.with_needed(max(run.stack), f"measured with a {room:,} B stack")


def build_firmware(sources: CSources, graph: Graph, board: str | Board,
                   out_dir: str | os.PathLike[str], vectors: list[np.ndarray], *,
                   profile: bool = False, timeout: float = 120) -> BuiltFirmware:
    """Write the firmware project of ``sources`` for ``board`` into ``out_dir`` with
    ``vectors`` as its test vectors, and build it; on an ``"auto"`` board, measure the stack
    (one emulator run of the vectors, within ``timeout`` seconds) and relink with it.
    ``profile``: ``sources`` were generated with layer marks."""
    b = board if isinstance(board, Board) else load_board(board)
    build.check_toolchain(b)
    vectors = [np.asarray(v) for v in vectors]
    vec_bytes = sum(v.nbytes for v in vectors)
    flash_min = sources.const_bytes + vec_bytes  # known bytes only: no guess at the code size
    io_bytes = sum(v.nbytes for v in [*graph.inputs, *graph.outputs])  # the runner's buffers
    static_min = sources.plan.arena_size + sources.plan.state_size + io_bytes
    ram_min = static_min + (0 if b.stack_auto else b.stack)
    build.check_fit(b, flash_min, ram_min,
              f"{sources.const_bytes:,} B weights and tables + {vec_bytes:,} B test vectors")
    out = Path(out_dir)
    measured = None
    if b.stack_auto:  # measure with what the RAM leaves, up to the board's measuring size
        b = replace(b, stack=max(64, min(b.stack, (b.ram.size - static_min - 1024) // 64 * 64)))
    write_project(sources, graph, b, out, vectors)
    elf = make(b, out)
    sizes = elf_sizes(b, elf)
    build.check_stack_room(b, sizes)
    if b.stack_auto:
        measured = _measure(b, elf, timeout)
        b = replace(b, stack=auto_stack(measured))
        relink(b, out)
        elf = make(b, out)
        sizes = elf_sizes(b, elf)
    return BuiltFirmware(graph, sources, b, out, elf, sizes, flash_min, ram_min, vectors,
                         measured, profile)


def _measure(board: Board, elf: Path, timeout: float) -> int:
    """The stack's high-water mark of one run of the built-in vectors."""
    from .emulate import EmulatorError, StackOverflow, run_elf

    try:
        run = run_elf(board, elf, timeout=timeout)
    except StackOverflow as e:
        raise e.with_needed(None, f"while measuring the stack for memory.stack = \"auto\" with "
                            f"{board.stack:,} B") from None
    if not run.stack:
        raise EmulatorError(f"{board.name}: the firmware reported no stack measurement "
                            "(no ff:stack lines); cannot size memory.stack = \"auto\"")
    return max(run.stack)
