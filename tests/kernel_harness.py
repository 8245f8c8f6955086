"""Runs a kernel table: every case's generated C == the reference, on the host (one cffi build
per row) or in a board's emulator (``check_row_on_board``: many cases per firmware image)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from firmforge.converter import reference
from firmforge.converter.ir import Graph
from firmforge.targets.board.firmware import build_firmware
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
    groups: dict[tuple[frozenset, frozenset], list[int]] = {}
    for i, g in enumerate(graphs):
        key = (frozenset(v.dtype for v in g.inputs), frozenset(v.dtype for v in g.outputs))
        if len(key[0]) != 1 or len(key[1]) != 1:
            raise ValueError(f"{row.name}: a case mixes dtypes in its inputs or outputs, which "
                             "firmware test vectors cannot hold")
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        for k in range(0, len(members), per_image):
            idx = members[k:k + per_image]
            part = [graphs[i] for i in idx]
            g = merge_graphs(part, f"{row.name}_{idx[0]}")
            # each case's inputs from the row's generator, in the merged graph's input order
            xs = [x for p in part for x in row.draw(rng, p)]
            want, _ = reference.run(g, xs)
            fw = build_firmware(generate(g), g, board, out_dir / f"{row.name}_{idx[0]}", xs)
            got = fw.run().outputs
            outs = [len(p.outputs) for p in part]
            for j, (w, o) in enumerate(zip(want, got, strict=True)):
                if not np.array_equal(w, o):
                    case = next(n for n, c in enumerate(np.cumsum(outs)) if j < c)
                    bad = np.argwhere(w != o)
                    raise AssertionError(
                        f"{row.name} case {idx[case]} on {board} differs at {len(bad)} of "
                        f"{w.size} elements, first {tuple(bad[0])}: firmware "
                        f"{o[tuple(bad[0])]} != ref {w[tuple(bad[0])]}\n{part[case]!r}\n"
                        f"attrs {part[case].nodes[0].attrs}")
