"""Fuzz the TFLite frontend with mutations of real models (longer runs than the test suite).

    .venv/bin/python benchmarks/fuzz_tflite.py [--cases 20000] [--seed 0] [--models DIR]

Each case mutates the bytes of an MLPerf Tiny model (byte flips, truncation, insertion, or a
4-byte field overwritten with an extreme value) and imports it. Allowed outcomes: the import
succeeds and the graph validates, or it raises a ValueError subclass. Anything else (another
exception type, a case slower than the time limit) is printed with its seed so that it can be
replayed with ``--replay SEED``. ``check_one`` is shared with tests/test_tflite_fuzz.py.
"""

from __future__ import annotations

import argparse
import collections
import functools
import random
import signal
import struct
import sys
import time
import traceback
from pathlib import Path

EXTREMES = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x00010000, 0x7FFFFFF0)
TIME_LIMIT = 2.0  # seconds per case; the clean models import in a few milliseconds


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout


def check_one(data: bytes, seconds: float = TIME_LIMIT) -> str:
    """Import ``data``: 'ok', or the name of the ValueError subclass raised. Raises
    AssertionError for anything else, including a case that takes longer than ``seconds``."""
    from firmforge.converter.frontends.tflite import load_tflite

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        imp = load_tflite(data)
        imp.graph.validate()
        outcome = "ok"
    except CaseTimeout:
        raise AssertionError(f"import took longer than {seconds} s") from None
    except ValueError as e:
        outcome = type(e).__name__
    except Exception as e:  # the point of fuzzing: report it with the case
        raise AssertionError(f"{type(e).__name__} escaped the frontend:\n"
                             f"{traceback.format_exc()}") from e
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return outcome


@functools.lru_cache(maxsize=8)
def structural_positions(data: bytes) -> tuple[int, ...]:
    """4-aligned byte positions outside the buffers' data (tables, vectors, offsets): most of
    a model's bytes are weights, where a mutation only changes numbers."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    m = schema.Model.GetRootAs(data, 0)
    inside = bytearray(len(data))
    for i in range(m.BuffersLength()):
        b = m.Buffers(i)
        n = b.DataLength()
        if n:
            start = b._tab.Vector(b._tab.Offset(4))
            inside[start:start + n] = b"\x01" * n
    return tuple(p for p in range(0, len(data) - 3, 4) if not any(inside[p:p + 4]))


def _position(data: bytes, rng: random.Random) -> int:
    if rng.random() < 0.5:
        return rng.choice(structural_positions(data))
    return rng.randrange(len(data) // 4) * 4


def flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[_position(data, rng) + rng.randrange(4)] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data))]


def insert(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[at:]


def overwrite(data: bytes, rng: random.Random) -> bytes:
    """A 4-aligned field (offsets, lengths, indices all are) set to an extreme value."""
    out = bytearray(data)
    pos = _position(data, rng)
    value = rng.choice((*EXTREMES, len(data), len(data) - 4, rng.randrange(len(data))))
    struct.pack_into("<I", out, pos, value & 0xFFFFFFFF)
    return bytes(out)


MUTATIONS = (flip, truncate, insert, overwrite)


def mutate(data: bytes, seed: int) -> tuple[str, bytes]:
    rng = random.Random(seed)
    m = rng.choice(MUTATIONS)
    return m.__name__, m(data, rng)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    p.add_argument("--cases", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", type=Path, default=root.parent / "shared" / "models" / "mlperf-tiny")
    p.add_argument("--replay", type=int, default=None, help="run one seed and show its outcome")
    args = p.parse_args(argv)
    models = {f.stem: f.read_bytes() for f in sorted(args.models.glob("*.tflite"))}
    if not models:
        print(f"no .tflite models in {args.models}")
        return 2
    names = sorted(models)
    seeds = [args.replay] if args.replay is not None else range(args.seed, args.seed + args.cases)
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    failures = []
    slowest = (0.0, None)
    start = time.perf_counter()
    for seed in seeds:
        name = names[seed % len(names)]
        kind, data = mutate(models[name], seed)
        t0 = time.perf_counter()
        try:
            outcome = check_one(data)
        except AssertionError as e:
            failures.append((seed, name, kind, str(e)))
            outcome = "FAILURE"
        dt = time.perf_counter() - t0
        slowest = max(slowest, (dt, seed))
        counts[(kind, outcome)] += 1
    total = time.perf_counter() - start
    n = sum(counts.values())
    print(f"{n} cases over {', '.join(names)} in {total:.1f} s "
          f"({1000 * total / max(n, 1):.2f} ms each, slowest {1000 * slowest[0]:.1f} ms, "
          f"seed {slowest[1]})")
    for kind in (m.__name__ for m in MUTATIONS):
        row = {o: c for (k, o), c in counts.items() if k == kind}
        print(f"  {kind:9s} " + ", ".join(f"{o} {c}" for o, c in sorted(row.items())))
    for seed, name, kind, msg in failures[:20]:
        print(f"FAILURE seed {seed} ({name}, {kind}): {msg}")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
