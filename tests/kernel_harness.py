"""Runs a kernel table: every case's generated C == the reference, on the host (one cffi build
per row) or in a board's emulator (``check_row_on_board``: many cases per firmware image;
``check_row_packed``: on a board with little memory, the cases that fit, packed into images by
the memory they need)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmforge.converter import reference
from firmforge.converter.ir import Graph
from firmforge.targets.board.build import FitError
from firmforge.targets.board.emulate import StackOverflow
from firmforge.targets.board.firmware import build_firmware
from firmforge.targets.board.spec import Board, load_board
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row


def check_row(row: Row) -> None:
    rng = np.random.default_rng(zlib.crc32(row.name.encode()))
    graphs = [row.build(rng) for _ in range(row.count)]
    sources = [(generate(g, f"{row.name}_{i}"), g) for i, g in enumerate(graphs)]
    models = host.build(sources)
    for i, (g, m) in enumerate(zip(graphs, models, strict=True)):
        xs = row.draw(rng, g)
        want, _ = reference.run(g, xs)
        got = m.run(*xs)
        for w, o in zip(want, got, strict=True):
            if not np.array_equal(w, o):
                bad = np.argwhere(w != o)
                raise AssertionError(
                    f"{row.name} case {i} differs at {len(bad)} of {w.size} elements, first "
                    f"{tuple(bad[0])}: C {o[tuple(bad[0])]} != ref {w[tuple(bad[0])]}\n{g!r}\n"
                    f"attrs {g.nodes[0].attrs}")


def merge_graphs(graphs: list[Graph], name: str) -> Graph:
    """Independent one-node graphs as one graph (every input and output of each, names
    prefixed by the case index), so one firmware image runs a whole table of cases."""
    nodes, inputs, outputs = [], [], []
    for i, g in enumerate(graphs):
        g = g.copy()
        for v in g.values():
            v.name = f"c{i}_{v.name}"
        for n in g.nodes:
            n.name = f"c{i}_{n.name}"
        nodes += g.nodes
        inputs += g.inputs
        outputs += g.outputs
    merged = Graph(name, nodes, inputs, outputs)
    merged.validate()
    return merged


def check_row_on_board(row: Row, board: str, out_dir: Path, count: int = 200,
                       per_image: int = 50) -> None:
    """``count`` random cases of ``row`` compiled for ``board`` (up to ``per_image`` cases per
    firmware image, cases of one input/output dtype signature per image, as the firmware's test
    vectors are of one type) and run in its emulator: every output byte equals the reference.
    This is how the fast paths behind ``#if __ARM_FEATURE_DSP`` are checked against the portable
    kernels' answer, on the cores that take them."""
    rng = np.random.default_rng(zlib.crc32(f"{row.name} on {board}".encode()))
    graphs = [row.build(rng) for _ in range(count)]
    for members in _dtype_groups(row, graphs).values():
        for k in range(0, len(members), per_image):
            idx = members[k:k + per_image]
            # each case's inputs from the row's generator, in the merged graph's input order
            _run_image(row, board, out_dir, idx, [graphs[i] for i in idx],
                       [row.draw(rng, graphs[i]) for i in idx])


def _dtype_groups(row: Row, graphs: list[Graph]) -> dict[tuple[frozenset, frozenset], list[int]]:
    """The cases' indices by input and output dtype: one firmware image holds one of each."""
    groups: dict[tuple[frozenset, frozenset], list[int]] = {}
    for i, g in enumerate(graphs):
        key = (frozenset(v.dtype for v in g.inputs), frozenset(v.dtype for v in g.outputs))
        if len(key[0]) != 1 or len(key[1]) != 1:
            raise ValueError(f"{row.name}: a case mixes dtypes in its inputs or outputs, which "
                             "firmware test vectors cannot hold")
        groups.setdefault(key, []).append(i)
    return groups


def _run_image(row: Row, board: str | Board, out_dir: Path, idx: list[int], part: list[Graph],
               inputs: list[list[np.ndarray]]) -> None:
    """Cases ``idx`` (graphs ``part``, inputs ``inputs``) as one firmware image on ``board``:
    every output byte equals the reference, or the error names the case."""
    name = board if isinstance(board, str) else board.name
    g = merge_graphs(part, row.name)
    xs = [x for case in inputs for x in case]
    want, _ = reference.run(g, xs)
    # One project directory per row, each image written over the last: only the model and the
    # vectors change, so make keeps the C core's objects (most of a build's time).
    fw = build_firmware(generate(g), g, board, out_dir / row.name, xs)
    got = fw.run().outputs
    outs = [len(p.outputs) for p in part]
    for j, (w, o) in enumerate(zip(want, got, strict=True)):
        if not np.array_equal(w, o):
            case = next(n for n, c in enumerate(np.cumsum(outs)) if j < c)
            bad = np.argwhere(w != o)
            raise AssertionError(
                f"{row.name} case {idx[case]} on {name} differs at {len(bad)} of "
                f"{w.size} elements, first {tuple(bad[0])}: firmware "
                f"{o[tuple(bad[0])]} != ref {w[tuple(bad[0])]}\n{part[case]!r}\n"
                f"attrs {part[case].nodes[0].attrs}")


# What a packed image holds besides its cases: the runner's own RAM (its .data, the strings it
# prints: 102 B with avr-gcc 5.4) and flash for the code (the runner, the row's kernels and one
# call per case: 3-9 KB on AVR). Estimates only: an image the linker refuses is split in two.
RUNNER_RAM = 128
CODE_FLASH = 12 * 1024
# The merged model's run function takes a pointer per input and output of every case, and AVR
# passes all but the first 18 bytes of arguments on the stack: 4 B of stack per value measured
# (add_s8: 209 B with 3 values, 613 B with 103), out of the 512 B the board reserves, where the
# deepest kernels take 330-380 B themselves. 40 values leave them room; an image that overflows
# the stack all the same is split in two.
MAX_VALUES = 40


@dataclass(frozen=True)
class Packing:
    """What ``check_row_packed`` ran: cases in the emulator, cases too big for the board
    alone, and the firmware images the cases that fit took."""

    ran: int
    too_big: int
    images: int


@dataclass(frozen=True)
class _Need:
    arena: int  # scratch: the cases of an image run one after the other, so the largest counts
    ram: int  # state and the runner's input/output buffers: every case of an image has its own
    flash: int  # constants and test vectors
    values: int  # inputs and outputs: arguments of the merged run function


def _need(g: Graph, xs: list[np.ndarray]) -> _Need:
    src = generate(g)
    io = sum(v.nbytes for v in [*g.inputs, *g.outputs])
    return _Need(src.plan.arena_size, src.plan.state_size + io,
                 src.const_bytes + sum(x.nbytes for x in xs), len(g.inputs) + len(g.outputs))


def _total(needs: list[_Need]) -> _Need:
    return _Need(max(n.arena for n in needs), sum(n.ram for n in needs),
                 sum(n.flash for n in needs), sum(n.values for n in needs))


def check_row_packed(row: Row, board: str, out_dir: Path, count: int) -> Packing:
    """``count`` random cases of ``row`` on ``board``, whose RAM holds few of them: those that
    fit the board alone are packed into firmware images by what they need (first fit, largest
    first: an image's arena is its largest case's, its state and I/O buffers the sum of its
    cases', plus the board's stack and ``RUNNER_RAM``; its constants and vectors within the
    flash the code leaves; at most ``MAX_VALUES`` inputs and outputs), each image checked as in
    ``check_row_on_board``. The cases drawn do not depend on what fits, so the counts are those
    of the row's own generator."""
    b = load_board(board)
    ram = b.ram.size - b.stack - RUNNER_RAM
    flash = b.flash.size - CODE_FLASH

    def fits(n: _Need) -> bool:
        return n.arena + n.ram <= ram and n.flash <= flash and n.values <= MAX_VALUES

    rng = np.random.default_rng(zlib.crc32(f"{row.name} on {board}".encode()))
    graphs = [row.build(rng) for _ in range(count)]
    inputs = [row.draw(rng, g) for g in graphs]
    needs = [_need(g, xs) for g, xs in zip(graphs, inputs, strict=True)]
    small = {i for i, n in enumerate(needs) if fits(n)}
    images = 0
    for members in _dtype_groups(row, graphs).values():
        bins: list[list[int]] = []
        for i in sorted((i for i in members if i in small),
                        key=lambda i: (-(needs[i].arena + needs[i].ram), i)):
            image = next((m for m in bins if fits(_total([needs[j] for j in [*m, i]]))), None)
            if image is None:
                bins.append([i])
            else:
                image.append(i)
        for image in bins:
            images += _run_split(row, b, out_dir, sorted(image), graphs, inputs)
    return Packing(len(small), count - len(small), images)


def _run_split(row: Row, board: Board, out_dir: Path, idx: list[int], graphs: list[Graph],
               inputs: list[list[np.ndarray]]) -> int:
    """Run cases ``idx`` as one image, or, where it is too big after all (the code, the runner
    or the stack took more than estimated), as two halves; the number of images run. One case
    that does not fit alone is an error: the estimates are wrong."""
    try:
        _run_image(row, board, out_dir, idx, [graphs[i] for i in idx], [inputs[i] for i in idx])
        return 1
    except (FitError, StackOverflow):
        if len(idx) == 1:
            raise
    half = len(idx) // 2
    return (_run_split(row, board, out_dir, idx[:half], graphs, inputs)
            + _run_split(row, board, out_dir, idx[half:], graphs, inputs))
