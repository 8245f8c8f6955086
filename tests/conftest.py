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
                     help="run the emulated kernel tables at their full case counts (200 per "
                          "fast path on the DSP boards; `make test-boards`, which CI runs); "
                          "without it they run a quarter of each")


def shared_dir() -> Path:
    return Path(os.environ.get("FIRMFORGE_SHARED", ROOT.parent / "shared"))


@pytest.fixture
def shared() -> Path:
    d = shared_dir()
    if not d.is_dir():
        pytest.skip(f"real data lives in {d}, which is absent on this machine")
    return d
