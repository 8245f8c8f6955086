"""Every kernel row, built as a standalone program under AddressSanitizer and
UndefinedBehaviorSanitizer: it runs clean and prints exactly the reference's bytes."""

import importlib
import zlib
from pathlib import Path

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

from cases import random_inputs

CASES_PER_ROW = 3


def _rows():
    rows = []
    for path in sorted(Path(__file__).parent.glob("test_kernels_*.py")):
        rows += importlib.import_module(path.stem).ROWS
    return rows


@pytest.mark.parametrize("row", _rows(), ids=str)
def test_row_is_sanitizer_clean(row):
    rng = np.random.default_rng(zlib.crc32(b"asan" + row.name.encode()))
    for i in range(CASES_PER_ROW):
        g = row.build(rng)
        xs = random_inputs(rng, g, batch=3)
        want, _ = reference.run(g, xs)
        got = run_native(generate(g, f"{row.name}_{i}"), g, xs)
        for w, o in zip(want, got, strict=True):
            np.testing.assert_array_equal(o, w, err_msg=f"{row.name} case {i}")
