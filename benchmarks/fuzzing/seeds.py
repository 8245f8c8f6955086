"""The fuzzer's seed corpus: the suite's small single-operator .tflite models (tests/tflite_cases.py:
every int8, int16, int4, LSTM, SVDF and float case, a few hundred bytes each, covering every
operator the importer maps) and the MLPerf Tiny models in ../shared (two real networks)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"


def small_models() -> list[tuple[str, bytes]]:
    """(name, bytes) of every case of tests/tflite_cases.py, in a fixed order."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import tflite_cases as tc

    cases = [c for family in tc.int8_cases().values() for c in family] + tc.float_cases()
    return [(c.name, c.model) for c in cases]


def mlperf_models(folder: Path = MLPERF) -> list[tuple[str, bytes]]:
    return [(f.stem, f.read_bytes()) for f in sorted(folder.glob("*.tflite"))]


def seed_models(folder: Path = MLPERF) -> list[tuple[str, bytes]]:
    return small_models() + mlperf_models(folder)
