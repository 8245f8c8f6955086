"""Shared fixtures: where ../shared lives, and the repository root on sys.path for examples/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per xdist worker: two workers on two cores with two spinning OpenMP
    # threads each slow training down by an order of magnitude.
    import torch

    torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full-tables", action="store_true",
                     help="run the kernel tables at their full case counts: in the emulators "
                          "200 per fast path on the DSP boards (`make test-boards`), under "
                          "ASan/UBSan 8 per row (`make test-sanitizers`); CI runs both")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """The number of random shapes the sanitizer table ran (quoted in README)."""
    rows = [r for r in terminalreporter.stats.get("passed", [])
            if "test_row_is_sanitizer_clean" in r.nodeid and r.when == "call"]
    if rows:
        from test_sanitizers import CASES_PER_ROW, FULL_CASES_PER_ROW

        per = FULL_CASES_PER_ROW if config.getoption("--full-tables") else CASES_PER_ROW
        terminalreporter.write_line(f"sanitizer table: {len(rows)} rows x {per} random shapes "
                                    f"= {len(rows) * per} shapes clean under ASan and UBSan")


def shared_dir() -> Path:
    return Path(os.environ.get("FIRMFORGE_SHARED", ROOT.parent / "shared"))


@pytest.fixture
def shared() -> Path:
    d = shared_dir()
    if not d.is_dir():
        pytest.skip(f"real data lives in {d}, which is absent on this machine")
    return d
