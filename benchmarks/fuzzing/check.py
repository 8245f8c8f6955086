"""Stage two of the fuzzer: models the fuzzer kept, through the host C and through TFLM.

For each model: ``run_case`` (import, convert, reference). A converted model's generated C is
compiled for the host (many models per cffi build) and run on the reference's inputs: its output
bytes must equal the reference's. Every model also runs in TFLM, in a child process
(``tflm_worker``): where TFLM accepts a quantized model firmforge converted, the outputs must be
byte-equal; where TFLM accepts a model firmforge refused, firmforge's error must be one of its
clear errors (``run_case`` guarantees it; the count is recorded). TFLM refusing or crashing is
recorded with its reason, never counted against firmforge. Float models are quantized by
firmforge's own PTQ, so TFLM's float answer is no reference for them.

    report = check_models([(name, data), ...])
    report.failures     # list of (name, what went wrong): empty means all equal
    print(report.format())
"""

from __future__ import annotations

import collections
import re
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from benchmarks.fuzzing.target import Case, run_case
from benchmarks.fuzzing.tflm_worker import TFLM
from firmforge.targets.c import host
from firmforge.targets.c.host import HostBuildError

TIME_LIMIT = 10.0  # seconds per run_case
BUILD_BATCH = 40  # models per cffi build (one compile is about a second plus the models)


@dataclass
class Report:
    checked: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    host_checked: int = 0
    host_equal: int = 0
    tflm_accepted: int = 0
    tflm_equal: int = 0
    tflm_float: int = 0  # accepted, float model: no comparison
    tflm_refused: collections.Counter = field(default_factory=collections.Counter)
    firmforge_refused: collections.Counter = field(default_factory=collections.Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def format(self) -> str:
        converted = self.outcomes["ok"]
        lines = [f"  models checked        {self.checked} ({converted} converted and run; "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()) if k != "ok")
                 + ")",
                 f"  host C == reference   {self.host_equal} of {self.host_checked}",
                 f"  TFLM accepted         {self.tflm_accepted}: {self.tflm_equal} byte-equal to "
                 f"firmforge, {self.tflm_float} float models (firmforge's own PTQ, not compared), "
                 f"{sum(self.firmforge_refused.values())} refused by firmforge with a clear error"
                 + _counts(self.firmforge_refused),
                 f"  TFLM refused          {sum(self.tflm_refused.values())}"
                 + _counts(self.tflm_refused, 8)]
        lines.append(f"  failures              {len(self.failures)}")
        lines += [f"    {name}: {what}" for name, what in self.failures[:20]]
        return "\n".join(lines)


def _counts(c: collections.Counter, top: int | None = None) -> str:
    if not c:
        return ""
    return "".join(f"\n      {n:5d}  {k}" for k, n in c.most_common(top))


def check_models(models: Sequence[tuple[str, bytes]], *, tflm: bool = True,
                 seconds: float = TIME_LIMIT) -> Report:
    """Stage two over ``models`` (see the module docstring); ``seconds`` limits each
    ``run_case``."""
    rep = Report()
    cases: list[tuple[str, bytes, Case]] = []
    for i, (name, data) in enumerate(models):
        rep.checked += 1
        try:
            case = run_case(data, name=f"fz{i:04d}", seconds=seconds)
        except Exception:  # stage one would have reported it: here it is one failure
            rep.failures.append((name, "run_case raised:\n" + traceback.format_exc(limit=4)))
            continue
        rep.outcomes[case.label] += 1
        cases.append((name, data, case))
    converted = [(n, c) for n, _, c in cases if c.stage == "ok"]
    for start in range(0, len(converted), BUILD_BATCH):
        _check_host(converted[start:start + BUILD_BATCH], rep)
    if tflm:
        with TFLM() as worker:
            for name, data, case in cases:
                if case.stage != "large":  # (nor could TFLM's arena hold it)
                    _check_tflm(worker, name, data, case, rep)
    return rep


def _check_host(batch: list[tuple[str, Case]], rep: Report) -> None:
    sources = [(c.project.sources(), c.project.graph) for _, c in batch]
    try:
        models = host.build(sources)
    except HostBuildError:  # find which of them: one build each
        models = []
        for (name, _), src in zip(batch, sources, strict=True):
            try:
                models += host.build([src])
            except HostBuildError as e:
                rep.failures.append((name, f"the generated C does not compile: {str(e)[:400]}"))
                models.append(None)
    for (name, case), model in zip(batch, models, strict=True):
        if model is None:
            continue
        rep.host_checked += 1
        got = model.run(*case.inputs)
        bad = _difference(case.outputs, got)
        if bad is None:
            rep.host_equal += 1
        else:
            rep.failures.append((name, f"host C != reference: {bad}"))


def _check_tflm(worker: TFLM, name: str, data: bytes, case: Case, rep: Report) -> None:
    quantized = case.project is not None and case.project.float_graph is None
    # a float model: TFLM's own random inputs (firmforge's quantized graph takes integers)
    status, result = worker.run(data, case.inputs if quantized else None)
    if status == "refused":
        rep.tflm_refused[_reason(str(result))] += 1
        return
    if status == "mismatch":
        rep.failures.append((name, f"TFLM's inputs differ from firmforge's: {result}"))
        return
    rep.tflm_accepted += 1
    if case.project is None:
        rep.firmforge_refused[case.label] += 1
        return
    if not quantized:
        rep.tflm_float += 1
        return
    bad = _difference(case.outputs, result)
    if bad is None:
        rep.tflm_equal += 1
    else:
        rep.failures.append((name, f"TFLM != reference: {bad}"))


def _difference(want: list[np.ndarray], got: list[np.ndarray]) -> str | None:
    """None when every output has the same dtype and bytes (the sample's shape may differ by
    the batch dimension firmforge gives an unbatched tensor); else what differs."""
    if len(want) != len(got):
        return f"{len(got)} outputs, the reference has {len(want)}"
    for k, (w, g) in enumerate(zip(want, got, strict=True)):
        g = np.asarray(g)
        if g.dtype != w.dtype or g.size != w.size:
            return f"output {k} is {g.dtype}{list(g.shape)}, the reference's {w.dtype}{list(w.shape)}"
        g = g.reshape(w.shape)
        if not np.array_equal(w, g):
            i = tuple(int(j) for j in np.argwhere(w != g)[0])
            n = int(np.count_nonzero(w != g))
            return f"output {k}: {n} of {w.size} elements differ, first at {i}: {w[i]} vs {g[i]}"
    return None


def _reason(text: str) -> str:
    """The line of TFLM's log that names the failed check, without its line number."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    checks = [ln for ln in lines if re.search(r"\.(cc|h):\d+", ln)]
    line = (checks or [ln for ln in lines if "Failed" not in ln] or lines or ["(no reason)"])[0]
    line = re.sub(r"\.(cc|h):\d+", r".\1", line)
    return line[:110]
