"""One fuzz case: the bytes of a .tflite model through the importer, the converter and the
integer reference. Shared by the atheris engine (benchmarks/fuzz_convert.py) and the suite's
seeded subset (tests/test_fuzz_convert.py).

    case = run_case(data)     # never raises for an allowed outcome
    case.stage                # "import" (refused there), "convert" (refused there), "ok",
                              # or "large" (converted; too large to run, see RUN_BUDGET)
    case.error                # the clear error firmforge raised, or None
    case.project, case.inputs, case.outputs   # when converted: the reference's answer

Allowed outcomes are success, or one of firmforge's documented errors (``CLEAR_ERRORS``, all
ValueError subclasses) carrying a message. Any other exception propagates: to atheris it is a
crash, to a test a failure. A converted model must also run through the reference on
deterministic inputs drawn from a generator seeded by the bytes (so a case replays exactly),
unless its activations exceed ``RUN_BUDGET`` bytes a sample or its layers ``MAC_BUDGET``
multiply-accumulates: a mutated dimension easily makes a legal model with a gigabyte tensor, which
converts in milliseconds but would take the fuzzer seconds and gigabytes to run (and TFLM, and
any board, could not hold it either). A float model over those budgets is not converted at all:
its conversion would calibrate on samples of that size (``make fuzz`` ran out of memory on one,
its random calibration input alone gigabytes).
"""

from __future__ import annotations

import signal
import zlib
from dataclasses import dataclass, field

import numpy as np

from firmforge.converter import ConversionError, Project, convert, reference
from firmforge.converter.convert import CalibrationRequired
from firmforge.converter.frontends.tflite import (
    TFLiteFormatError,
    UnsupportedTFLiteError,
    load_tflite,
)
from firmforge.converter.ir import Graph, IRError, random_batch
from firmforge.converter.quantize import CalibrationError, QuantizationError

IMPORT_ERRORS = (TFLiteFormatError, UnsupportedTFLiteError)
CLEAR_ERRORS = (*IMPORT_ERRORS, ConversionError, IRError, QuantizationError, CalibrationError)
BATCH = 2  # samples per reference run (two, so that state carried across samples shows)
CALIBRATION = 4  # float models: random calibration samples
RUN_BUDGET = 4 << 20  # bytes of activations (every non-constant value) per sample
MAC_BUDGET = 64 << 20  # multiply-accumulates per sample


@dataclass
class Case:
    """The outcome of one case (see the module docstring)."""

    stage: str  # "import", "convert", "ok" or "large"
    error: ValueError | None = None
    project: Project | None = None
    inputs: list[np.ndarray] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.stage if self.error is None else f"{self.stage}: {type(self.error).__name__}"


class UnclearError(AssertionError):
    """firmforge raised one of its error classes without saying why."""


def seed_of(data: bytes) -> int:
    return zlib.crc32(data)


class CaseTimeout(AssertionError):
    """A case ran longer than its time limit."""


def run_case(data: bytes, name: str | None = None, seconds: float | None = None) -> Case:
    """Import, convert and run ``data`` (see the module docstring); ``name`` names the model
    (its C prefix). ``seconds``: a time limit (SIGALRM; None inside libFuzzer, which keeps its
    own with ``-timeout`` and the same signal), past which ``CaseTimeout`` is raised."""
    if seconds is None:
        return _run_case(data, name)

    def alarm(signum: int, frame: object) -> None:
        raise CaseTimeout(f"the case took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return _run_case(data, name)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _run_case(data: bytes, name: str | None) -> Case:
    try:
        proj = _convert(data, name)
    except CLEAR_ERRORS as e:
        if not str(e).strip():
            raise UnclearError(f"{type(e).__name__} without a message") from e
        return Case("import" if isinstance(e, IMPORT_ERRORS) else "convert", e)
    if proj is None or too_large(proj.graph):
        return Case("large", None, proj)
    rng = np.random.default_rng(seed_of(data))
    xs = [random_batch(v, BATCH, rng) for v in proj.graph.inputs]
    ys, _ = reference.run(proj.graph, xs)
    return Case("ok", None, proj, xs, ys)


def _convert(data: bytes, name: str | None) -> Project | None:
    """``convert`` on the bytes; a float model gets random calibration data in its inputs'
    shapes (firmforge's own PTQ, as for a float file given with calibration samples), unless
    it is too large to run (None)."""
    try:
        return convert(data, name=name, progress=False)
    except CalibrationRequired:
        pass
    graph = load_tflite(data).graph
    if too_large(graph):
        return None
    rng = np.random.default_rng(seed_of(data) ^ 0x5A5A)
    calib = tuple(rng.standard_normal((CALIBRATION, *v.shape[1:])).astype(np.float32)
                  for v in graph.inputs)
    return convert(data, calibration=calib[0] if len(calib) == 1 else calib, name=name,
                   progress=False)


def too_large(graph: Graph) -> bool:
    """Over the budgets of one sample: activation bytes or multiply-accumulates."""
    return activation_bytes(graph) > RUN_BUDGET or sum(n.macs() for n in graph.nodes) > MAC_BUDGET


def activation_bytes(graph: Graph) -> int:
    """Bytes of every non-constant value of ``graph`` for one sample."""
    return sum(v.nbytes for v in graph.values() if not v.is_const)
