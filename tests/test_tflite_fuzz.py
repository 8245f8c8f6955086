"""Hypothesis mutates the real MLPerf Tiny models; the import either succeeds with a valid
graph or raises a ValueError subclass: never another exception, a hang or a crash.

About 300 derandomized examples (a few seconds); benchmarks/fuzz_tflite.py runs many more.
Each example runs under a time limit (signal-based, in check_one).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_tflite import EXTREMES, check_one, structural_positions

from conftest import shared_dir

MODELS = ("kws_ref_model", "ad01_int8")
SETTINGS = settings(max_examples=75, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _model(name: str) -> bytes:
    path = shared_dir() / "models" / "mlperf-tiny" / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"real data lives in {path.parent}, which is absent on this machine")
    return path.read_bytes()


def _positions(data: bytes):
    """Anywhere, or (as often) in the tables and vectors rather than the weights."""
    return (st.integers(0, len(data) // 4 - 1).map(lambda i: 4 * i)
            | st.sampled_from(structural_positions(data)))


@st.composite
def flips(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        out[draw(_positions(data)) + draw(st.integers(0, 3))] ^= 1 << draw(st.integers(0, 7))
    return bytes(out)


@st.composite
def truncations(draw, data: bytes) -> bytes:
    return data[:draw(st.integers(0, len(data) - 1))]


@st.composite
def insertions(draw, data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]


@st.composite
def overwrites(draw, data: bytes) -> bytes:
    """Offsets, lengths and indices are 4-byte aligned fields: set some to extreme values."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(_positions(data))
        value = draw(st.sampled_from((*EXTREMES, len(data), len(data) - 4))
                     | st.integers(0, 0xFFFFFFFF))
        struct.pack_into("<I", out, pos, value)
    return bytes(out)


def _mutants(data: bytes):
    return st.one_of(flips(data), truncations(data), insertions(data), overwrites(data))


@pytest.mark.parametrize("name", MODELS)
def test_mutated_models_fail_cleanly(name):
    data = _model(name)
    assert check_one(data) == "ok"
    outcomes = []

    @SETTINGS
    @given(_mutants(data))
    def run(mutant: bytes) -> None:
        outcomes.append(check_one(mutant))

    run()
    # the mutations reach past the header checks: some imports still succeed, others are
    # refused by the format checks deeper in the file
    assert "ok" in outcomes and "TFLiteFormatError" in outcomes
    assert set(outcomes) <= {"ok", "TFLiteFormatError", "UnsupportedTFLiteError"}


@pytest.mark.parametrize("name", MODELS)
def test_overwritten_fields(name):
    data = _model(name)

    @SETTINGS
    @given(overwrites(data))
    def run(mutant: bytes) -> None:
        assert check_one(mutant) in {"ok", "TFLiteFormatError", "UnsupportedTFLiteError"}

    run()
