"""Every .tflite file in TFLM's own tree, run as a user would: import, then TFLM vs firmforge's
reference vs the generated C, layer by layer (``compare_tflm``).

    .venv/bin/python benchmarks/tflm_tree.py [--mirror DIR] [--samples N] [--match TEXT]

``--mirror`` is a bare git mirror of github.com/tensorflow/tflite-micro (the files are read from
its HEAD; nothing is checked out or copied into this repository); default
``/work/.mirror/tensorflow+tflite-micro/repo``. Without one, the script says so and exits 0.
Prints one line per model (equal / differs / refused and why) and the totals.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from firmforge.converter.compare import compare_tflm
from firmforge.converter.frontends.tflite import load_tflite

DEFAULT_MIRROR = Path("/work/.mirror/tensorflow+tflite-micro/repo")


def _files(mirror: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(mirror), "ls-tree", "-r", "--name-only", "HEAD"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(p for p in out.splitlines() if p.endswith(".tflite"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--match", default="", help="only paths containing this text")
    args = ap.parse_args()
    if not (args.mirror / "HEAD").exists():
        print(f"no tflite-micro mirror at {args.mirror}: nothing to compare")
        return 0
    counts = {"equal": 0, "differs": 0, "float": 0, "refused": 0}
    with tempfile.TemporaryDirectory() as d:
        for rel in _files(args.mirror):
            if args.match not in rel:
                continue
            path = Path(d) / Path(rel).name
            path.write_bytes(subprocess.run(["git", "-C", str(args.mirror), "show", f"HEAD:{rel}"],
                                            capture_output=True, check=True).stdout)
            t0 = time.perf_counter()
            try:
                if not load_tflite(path).quantized:
                    counts["float"] += 1
                    print(f"float    {rel} (firmforge quantizes float files itself)")
                    continue
                res = compare_tflm(path, samples=args.samples)
            except (ValueError, RuntimeError, NotImplementedError) as e:
                counts["refused"] += 1
                print(f"refused  {rel}: {str(e).splitlines()[0][:150]}")
                continue
            kind = "equal" if res.ok else "differs"
            counts[kind] += 1
            extra = "" if res.ok else f": first at {res.first_mismatch.node}"
            print(f"{kind:<8} {rel} ({len(res.rows)} layers, {time.perf_counter() - t0:.1f} s){extra}")
    total = sum(counts.values())
    print(f"\n{total} files: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if counts["differs"] else 0


if __name__ == "__main__":
    sys.exit(main())
