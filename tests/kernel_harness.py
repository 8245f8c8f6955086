"""Runs a kernel table: every case's generated C (one host build per row) == the reference."""

from __future__ import annotations

import zlib

import numpy as np

from firmforge.converter import reference
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row, random_inputs


def check_row(row: Row) -> None:
    rng = np.random.default_rng(zlib.crc32(row.name.encode()))
    graphs = [row.build(rng) for _ in range(row.count)]
    sources = [(generate(g, f"{row.name}_{i}"), g) for i, g in enumerate(graphs)]
    models = host.build(sources)
    for i, (g, m) in enumerate(zip(graphs, models, strict=True)):
        xs = random_inputs(rng, g, batch=2)
        want, _ = reference.run(g, xs)
        got = m.run(*xs)
        for w, o in zip(want, got, strict=True):
            if not np.array_equal(w, o):
                bad = np.argwhere(w != o)
                raise AssertionError(
                    f"{row.name} case {i} differs at {len(bad)} of {w.size} elements, first "
                    f"{tuple(bad[0])}: C {o[tuple(bad[0])]} != ref {w[tuple(bad[0])]}\n{g!r}\n"
                    f"attrs {g.nodes[0].attrs}")
