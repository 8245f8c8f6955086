"""Every kernel row, built as a standalone program under AddressSanitizer and
UndefinedBehaviorSanitizer: it runs clean and prints exactly the reference's bytes. The arena is
checked too: before each layer only that layer's buffers in it are addressable
(``generate(check_arena=True)``), so a kernel overrunning into a neighbour is caught."""

import importlib
import zlib
from pathlib import Path

import numpy as np
import pytest
import random_models

from firmforge.converter import convert, reference
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

CASES_PER_ROW = 3  # `make test`
FULL_CASES_PER_ROW = 8  # --full-tables (`make test-sanitizers`, in CI): over 1,000 shapes


def _rows():
    rows = []
    for path in sorted(Path(__file__).parent.glob("test_kernels_*.py")):
        if path.stem != "test_kernels_on_boards":  # its ROWS are the others' again
            rows += importlib.import_module(path.stem).ROWS
    return rows


@pytest.mark.parametrize("row", _rows(), ids=str)
def test_row_is_sanitizer_clean(row, request):
    rng = np.random.default_rng(zlib.crc32(b"asan" + row.name.encode()))
    full = request.config.getoption("--full-tables")
    for i in range(FULL_CASES_PER_ROW if full else CASES_PER_ROW):
        g = row.build(rng)
        xs = row.draw(rng, g, 3)
        want, _ = reference.run(g, xs)
        got = run_native(generate(g, f"{row.name}_{i}", check_arena=True), g, xs)
        for w, o in zip(want, got, strict=True):
            np.testing.assert_array_equal(o, w, err_msg=f"{row.name} case {i}")


@pytest.mark.parametrize("topology", random_models.TOPOLOGIES, ids=lambda t: t.__name__)
def test_whole_models_are_sanitizer_clean_with_the_arena_checked(topology):
    """Multi-layer models keep their intermediates in the arena, where the per-layer check
    matters: every layer touches only its own buffers, and the bytes are the reference's."""
    model, calib = random_models.build(topology, 1)
    proj = convert(model, calibration=calib, name=f"asan_{topology.__name__}", progress=False)
    g = proj.graph
    x = np.random.default_rng(5).integers(-128, 128, (3, *g.inputs[0].shape[1:]), dtype=np.int8)
    want, _ = reference.run(g, [x])
    got = run_native(generate(g, check_arena=True), g, [x])
    np.testing.assert_array_equal(got[0], want[0])


def test_the_arena_check_catches_a_stray_write_into_another_buffer():
    """A byte written by the last layer into arena bytes that are not its own (the first
    layer's output, dead by then): inside one static array, so only the arena check sees it."""
    model, calib = random_models.build(random_models.Plain, 0)
    g = convert(model, calibration=calib, name="stray", progress=False).graph
    x = np.random.default_rng(6).integers(-128, 128, (1, *g.inputs[0].shape[1:]), dtype=np.int8)
    src = generate(g, check_arena=True)
    last = {src.plan.buffer(v).offset for v in g.nodes[-1].inputs if not v.is_const}
    victim = src.plan.buffer(g.nodes[0].outputs[0]).offset
    assert victim not in last
    lines = src.files["stray.c"].splitlines()
    end = max(i for i, line in enumerate(lines) if line.startswith("    ff_"))
    # through a pointer the compiler cannot follow, as a kernel's would be (ASan does not
    # instrument an access it proves inside a static array)
    stray = f"    {{ int8_t *volatile p = arena; p[{victim}] = 1; }}"
    lines.insert(end + 1, stray)
    src.files["stray.c"] = "\n".join(lines)
    with pytest.raises(RuntimeError, match="use-after-poison"):
        run_native(src, g, [x])
    src.files["stray.c"] = generate(g, "stray").files["stray.c"].replace(
        "\n}\n", f"\n{stray}\n}}\n")
    run_native(src, g, [x])  # the same write without the check: ASan alone says nothing
