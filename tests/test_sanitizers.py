"""Every kernel row, built as a standalone program under AddressSanitizer and
UndefinedBehaviorSanitizer: it runs clean and prints exactly the reference's bytes."""

import importlib
import zlib
from pathlib import Path

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Graph
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

from cases import random_inputs

CASES_PER_ROW = 3


def _rows():
    rows = []
    for path in sorted(Path(__file__).parent.glob("test_kernels_*.py")):
        rows += importlib.import_module(path.stem).ROWS
    return rows


def _one_input(g: Graph, rng) -> Graph:
    """The runner feeds one input: further inputs become constants with random data."""
    for v in g.inputs[1:]:
        info = np.iinfo(v.dtype.np)
        v.data = rng.integers(info.min, info.max + 1, v.shape).astype(v.dtype.np)
    g.inputs = g.inputs[:1]
    g.validate()
    return g


@pytest.mark.parametrize("row", _rows(), ids=str)
def test_row_is_sanitizer_clean(row):
    rng = np.random.default_rng(zlib.crc32(b"asan" + row.name.encode()))
    for i in range(CASES_PER_ROW):
        g = _one_input(row.build(rng), rng)
        [x] = random_inputs(rng, g, batch=3)
        want = reference.run(g, [x])[0][0]
        got = run_native(generate(g, f"{row.name}_{i}"), g, x)
        np.testing.assert_array_equal(got, want, err_msg=f"{row.name} case {i}")
