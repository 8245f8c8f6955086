"""A design-space sweep of the MNIST demo CNN on Ray: 24 configurations (weight bits 8/4,
sparsity 0/50/75 %, a 16-entry codebook or not, bias correction or not), each converted and
measured on the 2,000 held-back images (accuracy of the integer reference, weight bytes, arena
bytes), run twice from an empty cache: on a local Ray with one CPU (serial) and with every CPU.
Workers are started and warmed up (torch and firmforge imported) before each timed run.
Prints both wall times, the speed-up, the Pareto front, and writes results and the Pareto plot.

    .venv/bin/python benchmarks/sweep_mnist.py [--out build/sweep_mnist] [--board qemu-mps2-an386]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmforge.converter import pareto, sweep, write_results  # noqa: E402
from firmforge.converter.sweeps import WORKER_ENV  # noqa: E402

from examples.mnist import MnistCNN, load_split, shared_dir, train  # noqa: E402

GRID = {"weight_bits": [8, 4], "sparsity": [0.0, 0.5, 0.75], "clusters": [None, 16],
        "bias_correction": [False, True]}


def _warm_up() -> int:
    import firmforge.converter.convert  # noqa: F401 - imports torch too

    return os.getpid()


def timed_sweep(model, data, calib, board, cpus: int) -> tuple[list[dict], float]:
    import ray

    global _warm
    _warm = ray.remote(num_cpus=1)(_warm_up)
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": WORKER_ENV | {
                 "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    try:
        # Start every worker and import torch and firmforge there first (about 7 s, once per
        # worker process, the same for both runs): the times below are the sweep's own.
        ray.get([_warm.remote() for _ in range(cpus)])
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            records = sweep(model, GRID, data, calibration=calib, board=board, cache=cache)
            return records, time.perf_counter() - t0
    finally:
        ray.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "sweep_mnist")
    ap.add_argument("--board", help="also count instructions on this emulated board")
    args = ap.parse_args()
    if not (shared_dir() / "data" / "mnist").is_dir():
        print(f"MNIST lives in {shared_dir()}/data/mnist, which is absent")
        return 2
    x_tr, y_tr, x_te, y_te = load_split()
    model = train(MnistCNN(), x_tr, y_tr)
    data, calib = (x_te, y_te), x_tr[:500]
    cpus = os.cpu_count() or 1
    serial, t1 = timed_sweep(model, data, calib, args.board, 1)
    parallel, tn = timed_sweep(model, data, calib, args.board, cpus)
    same = serial == parallel
    write_results(parallel, args.out)
    n, failed = len(parallel), sum(r["error"] is not None for r in parallel)
    print(f"\n{n} configurations ({failed} failed), MNIST CNN, {len(y_te)} held-back images")
    print(f"serial (1 CPU): {t1:.1f} s; parallel ({cpus} CPUs): {tn:.1f} s; speed-up "
          f"{t1 / tn:.2f}x; same records: {same}")
    print("\nPareto front (accuracy against weight bytes):")
    print("| weight bits | sparsity | clusters | bias correction | accuracy | weight bytes |")
    print("|---:|---:|---:|---|---:|---:|")
    for r in pareto(parallel):
        c = r["config"]
        print(f"| {c['weight_bits']} | {c['sparsity']:.0%} | {c['clusters'] or '-'} | "
              f"{c['bias_correction']} | {100 * r['accuracy']:.2f} % | {r['weight_bytes']:,} |")
    print(f"\nresults and pareto.png in {args.out}")
    return 0 if same and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
