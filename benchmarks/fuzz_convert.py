"""Coverage-guided fuzzing of the .tflite importer and the converter (atheris, libFuzzer).

    .venv/bin/python benchmarks/fuzz_convert.py [--runs 100000] [--out build/fuzz] [--check 300]
    .venv/bin/python benchmarks/fuzz_convert.py --replay FILE     # one case, with its outcome

Arguments starting with a single ``-`` (``-fork=1 -ignore_crashes=1``, ...) go to libFuzzer.

Stage one runs libFuzzer (through atheris, firmforge's converter and C target instrumented for
coverage) for ``--runs`` executions over the seed corpus (benchmarks/fuzzing/seeds.py: the suite's
single-operator models and the MLPerf Tiny models). Each execution is ``run_case``
(benchmarks/fuzzing/target.py): import the bytes, convert them, run the integer reference on
inputs drawn from a generator seeded by the bytes. Allowed outcomes: success, or one of
firmforge's clear errors with a message. Anything else (another exception, a case slower than
``--timeout`` seconds, more memory than ``--rss-mb``) is a crash: libFuzzer stops, saves the input
under OUT/crashes/ and the run fails. Mutations (benchmarks/fuzzing/mutate.py) are half field
mutations of the unpacked model, which stay well-formed flatbuffers and so reach past the
parser, the rest structural byte mutations and libFuzzer's own.

Stage two takes the corpus libFuzzer kept (inputs that reached new coverage; at most ``--check``
of them, evenly spaced in name order) and every seed, and checks what stage one cannot afford
per execution (benchmarks/fuzzing/check.py): the generated C compiled for the host equals the
reference byte for byte, and TFLM (in a child process) equals it wherever it accepts the model.

The summary prints the counts; the exit status is 1 on any crash or mismatch.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("ok", "large", "import: TFLiteFormatError", "import: UnsupportedTFLiteError",
          "convert: ConversionError", "convert: IRError", "convert: QuantizationError",
          "convert: CalibrationError")
COUNTERS = ("executions", *LABELS, "mutations: field", "mutations: byte", "mutations: libFuzzer")
# modules left uninstrumented: PyTorch's side, which a .tflite never reaches
_NOT_INSTRUMENTED = re.compile(r"firmforge\.converter\.(frontends\.torch_|nn$|quantize\.qat|cli$)")


def engine(counts_path: str, libfuzzer_args: list[str]) -> None:
    """The atheris process: instrument firmforge, then hand control to libFuzzer (which exits
    the process itself, with a non-zero status on a crash). The seeds (the last corpus
    directory) are also the bases the mutator falls back on when an input no longer parses."""
    import atheris

    _limit_address_space(libfuzzer_args)
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["firmforge"]):
        _import_firmforge()
        from benchmarks.fuzzing import mutate
        from benchmarks.fuzzing.target import run_case
    counts = np.memmap(counts_path, np.int64, "r+", shape=(len(COUNTERS),))
    seeds = Path(libfuzzer_args[-1])
    bases = [p.read_bytes() for p in sorted(seeds.glob("*.tflite")) if p.stat().st_size < 1 << 16]
    index = {name: i for i, name in enumerate(COUNTERS)}

    def test_one_input(data: bytes) -> None:
        counts[0] += 1
        label = run_case(data).label
        counts[index[label]] += 1  # a label outside LABELS: a KeyError, so a crash

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        import random

        kind, out = mutate.mutate(data, random.Random(seed), max_size, atheris.Mutate, bases)
        counts[index[f"mutations: {kind}"]] += 1
        return out

    atheris.Setup([sys.argv[0], *libfuzzer_args], test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


def _limit_address_space(libfuzzer_args: list[str]) -> None:
    """Address space capped at what the process maps now plus -rss_limit_mb: a case that
    allocates past it gets a MemoryError, a crash libFuzzer saves with its input. (Its own
    RSS limit, checked from another thread, can only name the input when a sanitizer's
    malloc hooks are there; under atheris it saved an empty file.)"""
    import resource

    mb = next((int(a.split("=", 1)[1]) for a in libfuzzer_args if a.startswith("-rss_limit_mb=")),
              0)
    if mb <= 0:
        return
    vm = next(int(line.split()[1]) << 10 for line in open("/proc/self/status")
              if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + (mb << 20), resource.RLIM_INFINITY))


def _import_firmforge() -> None:
    """Import every module of the converter and the C target up front (many are imported
    lazily, and only modules imported inside ``instrument_imports`` get coverage)."""
    import importlib
    import pkgutil

    for pkg in ("firmforge.converter", "firmforge.targets.c"):
        mod = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(mod.__path__, f"{pkg}."):
            if not _NOT_INSTRUMENTED.search(info.name):
                importlib.import_module(info.name)


# Executions per engine process. Under atheris the engine's resident memory grows about 15 KB
# an execution, for good (the same cases run uninstrumented, outside libFuzzer, hold steady at
# 243 MB over 3,400 executions): one long process crossed --rss-mb near 60,000 executions
# with no input to blame. A fresh process per chunk, each starting from the corpus the earlier
# ones kept, keeps every real memory blow-up reportable.
CHUNK = 25_000


def stage_one(args: argparse.Namespace, seeds: Path, corpus: Path, crashes: Path
              ) -> tuple[int, str, np.ndarray, float]:
    """Run the engine in chunks of ``CHUNK`` executions (each with its own libFuzzer seed);
    returns (exit status, the chunks' logs, counters, seconds). A crash ends the run."""
    counts_path = args.out / "counts.bin"
    np.zeros(len(COUNTERS), np.int64).tofile(counts_path)
    log_path = args.out / "libfuzzer.log"
    start, status, left, chunk = time.perf_counter(), 0, args.runs, 0
    with open(log_path, "w") as log:
        while left > 0 and status == 0:
            runs = min(CHUNK, left)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--engine", str(counts_path),
                   "--", f"-runs={runs}", f"-seed={args.seed + chunk}",
                   f"-max_len={args.max_len}", f"-timeout={args.timeout}",
                   f"-rss_limit_mb={args.rss_mb}", f"-artifact_prefix={crashes}/",
                   "-print_final_stats=1", *args.libfuzzer, str(corpus), str(seeds)]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace",
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            for line in proc.stdout:
                log.write(line)
                if re.match(r"#\d+\s+(INITED|pulse|DONE)", line) or "ERROR" in line:
                    print(f"  [{chunk + 1}] " + line.rstrip(), flush=True)
            status = proc.wait()
            left -= runs
            chunk += 1
    seconds = time.perf_counter() - start
    counts = np.fromfile(counts_path, np.int64)
    return status, log_path.read_text(errors="replace"), counts, seconds


def stage_two_models(corpus: Path, seeds: Path, cap: int) -> tuple[list[tuple[str, bytes]], int]:
    """Up to ``cap`` corpus entries (evenly spaced in name order) and every seed; also the size
    of the corpus."""
    kept = sorted(p for p in corpus.iterdir() if p.is_file())
    pick = kept if len(kept) <= cap else [kept[int(i)] for i in np.linspace(0, len(kept) - 1, cap)]
    models = [(f"corpus/{p.name}", p.read_bytes()) for p in pick]
    models += [(f"seeds/{p.name}", p.read_bytes()) for p in sorted(seeds.iterdir())]
    return models, len(kept)


def summary(status: int, log: str, counts: np.ndarray, seconds: float, runs: int) -> list[str]:
    c = dict(zip(COUNTERS, (int(x) for x in counts), strict=True))
    done = re.findall(r"Done (\d+) runs in (\d+) second", log)
    done = sum(int(d) for d, _ in done) if done and status == 0 else None
    n = c["executions"]
    from benchmarks.fuzzing.target import MAC_BUDGET, RUN_BUDGET

    imported = n - c["import: TFLiteFormatError"] - c["import: UnsupportedTFLiteError"]
    crashed = status != 0 or done is None

    def pct(k: int) -> str:
        return f"{k} ({100 * k / max(n, 1):.1f} %)"

    lines = ["stage one: atheris (libFuzzer), firmforge's importer, converter and C target "
             "instrumented",
             f"  executions            {n} (libFuzzer: {done if done is not None else '?'} runs of "
             f"{runs}) in {seconds:.0f} s, {1000 * seconds / max(n, 1):.1f} ms each",
             f"  crashes               {int(crashed)}",
             f"  imported              {pct(imported)}",
             f"  converted + reference {pct(c['ok'])}",
             f"  too large to run      {pct(c['large'])} (activations over "
             f"{RUN_BUDGET >> 20} MiB or over {MAC_BUDGET >> 20} Mi MACs a sample; float "
             "models not converted, int8 ones converted, not run)"]
    lines += [f"  refused at {k.split(': ')[0]:<7s}     {c[k]:6d}  {k.split(': ')[1]}"
              for k in LABELS[2:] if c[k]]
    lines.append("  mutations             " + ", ".join(
        f"{k[11:]} {c[k]}" for k in COUNTERS if k.startswith("mutations")))
    cov = re.findall(r"#\d+\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", log)
    if cov:
        lines.append(f"  coverage              {cov[-1][0]} edges, {cov[-1][1]} features; "
                     f"corpus {cov[-1][2]} inputs ({cov[-1][3]})")
    if crashed:
        tail = log[-3000:].splitlines()
        lines += [f"  libFuzzer stopped (exit status {status}); the end of its log:",
                  *("    " + t for t in tail[-40:])]
    return lines


def replay(path: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from benchmarks.fuzzing.target import run_case

    data = path.read_bytes()
    case = run_case(data)
    print(f"{path}: {case.label}" + (f"\n{case.error}" if case.error else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--engine"]:
        engine(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100_000, help="libFuzzer executions")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz")
    p.add_argument("--check", type=int, default=300, help="corpus entries in stage two")
    p.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    p.add_argument("--timeout", type=int, default=10, help="seconds per execution")
    p.add_argument("--rss-mb", type=int, default=3072, help="memory limit of the engine")
    p.add_argument("--max-len", type=int, default=300_000, help="bytes per input")
    p.add_argument("--keep", action="store_true", help="start from the corpus of the last run")
    p.add_argument("--no-tflm", action="store_true", help="stage two without TFLM")
    p.add_argument("--replay", type=Path, help="run one input file and print its outcome")
    args, args.libfuzzer = p.parse_known_args(argv)
    if any(not a.startswith("-") or a.startswith("--") for a in args.libfuzzer):
        p.error(f"unknown arguments {args.libfuzzer}")
    if args.replay:
        return replay(args.replay)
    sys.path.insert(0, str(ROOT))
    from benchmarks.fuzzing.seeds import seed_models

    seeds, corpus, crashes = (args.out / d for d in ("seeds", "corpus", "crashes"))
    for d in (seeds, corpus) if not args.keep else (seeds,):
        shutil.rmtree(d, ignore_errors=True)
    for d in (seeds, corpus, crashes):
        d.mkdir(parents=True, exist_ok=True)
    for name, data in seed_models():
        (seeds / f"{name}-{hashlib.sha1(data).hexdigest()[:8]}.tflite").write_bytes(data)
    t0 = time.perf_counter()
    status, log, counts, seconds = stage_one(args, seeds, corpus, crashes)
    lines = summary(status, log, counts, seconds, args.runs)
    print("\n".join(lines), flush=True)

    from benchmarks.fuzzing.check import check_models

    models, kept = stage_two_models(corpus, seeds, args.check)
    t1 = time.perf_counter()
    rep = check_models(models, tflm=not args.no_tflm)
    print(f"stage two: {min(kept, args.check)} of the {kept} corpus entries libFuzzer kept and "
          f"{len(models) - min(kept, args.check)} seeds, through the host C and TFLM "
          f"({time.perf_counter() - t1:.0f} s)")
    print(rep.format())
    ok = status == 0 and "Done" in log and not rep.failures
    print(f"fuzz: {'PASS' if ok else 'FAIL'}: {int(counts[0])} executions, "
          f"{int(status != 0)} crashes, {len(rep.failures)} stage-two failures, "
          f"{time.perf_counter() - t0:.0f} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
