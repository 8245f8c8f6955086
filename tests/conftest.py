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
                          "200 per fast path on the DSP boards and 50 drawn per row on AVR "
                          "(`make test-boards`), under ASan/UBSan 8 per row "
                          "(`make test-sanitizers`); CI runs both")
    parser.addoption("--snn-mnist", action="store_true",
                     help="train the spiking MNIST CNN (about 10 minutes on two cores) and "
                          "check its accuracy in float and in C (`make test-snn`; CI runs it)")


def pytest_ignore_collect(collection_path, config: pytest.Config) -> bool | None:
    """The spiking MNIST training runs in its own CI step (`make test-snn`), not in `make
    test`, which it would stretch past its time budget."""
    if collection_path.name == "test_mnist_snn.py" and not config.getoption("--snn-mnist"):
        return True
    return None


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """The number of random shapes the sanitizer table ran, and of kernel cases the AVR table
    ran and left out as too big for the chip (quoted in README)."""
    passed = [r for r in terminalreporter.stats.get("passed", []) if r.when == "call"]
    rows = [r for r in passed if "test_row_is_sanitizer_clean" in r.nodeid]
    if rows:
        from test_sanitizers import CASES_PER_ROW, FULL_CASES_PER_ROW

        per = FULL_CASES_PER_ROW if config.getoption("--full-tables") else CASES_PER_ROW
        terminalreporter.write_line(f"sanitizer table: {len(rows)} rows x {per} random shapes "
                                    f"= {len(rows) * per} shapes clean under ASan and UBSan")
    # user_properties travel with the report, so this works with xdist workers too
    avr = [v for r in passed for k, v in r.user_properties if k == "avr_cases"]
    if avr:
        from test_kernels_on_boards import AVR_BOARD

        ran, big, images = (sum(a[i] for a in avr) for i in (1, 2, 3))
        terminalreporter.write_line(
            f"{AVR_BOARD} table: {len(avr)} rows, {ran} cases equal to the reference in "
            f"{images} firmware images; {big} of the {ran + big} drawn left out as too big "
            "for the chip")
        # per row, the rows that lost a fifth or more of their draws by name, the rest counted
        most = sorted((a for a in avr if a[2] * 5 >= a[1] + a[2]), key=lambda a: (-a[2], a[0]))
        some = sum(1 for a in avr if 0 < a[2] * 5 < a[1] + a[2])
        if most or some:
            terminalreporter.write_line(
                "  too big/drawn: " + ", ".join(f"{n} {b}/{r + b}" for n, r, b, _ in most)
                + f"{'; ' if most else ''}{some} rows under a fifth, "
                f"{len(avr) - len(most) - some} none")


def shared_dir() -> Path:
    return Path(os.environ.get("FIRMFORGE_SHARED", ROOT.parent / "shared"))


@pytest.fixture
def shared() -> Path:
    d = shared_dir()
    if not d.is_dir():
        pytest.skip(f"real data lives in {d}, which is absent on this machine")
    return d
