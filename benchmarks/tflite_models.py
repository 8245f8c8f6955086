"""MLPerf Tiny int8 models: inference time of the generated C (host, cffi), TFLM (tflite-micro)
and ai-edge-litert, and arena bytes against TFLM's, in one table.

    .venv/bin/python benchmarks/tflite_models.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert
from firmforge.converter.compare import tflm_arena

from examples.mnist import shared_dir

N = 200


def per_call(fn, n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def measure(path: Path) -> tuple:
    from ai_edge_litert.interpreter import Interpreter
    from tflite_micro.python.tflite_micro import runtime

    proj = convert(path)
    v = proj.graph.inputs[0]
    x = np.random.default_rng(0).integers(-128, 128, (N, *v.shape[1:])).astype(np.int8)
    proj.run_host(x[:1])  # compile (or load the cached build) outside the timing
    host = proj.host()
    t_c = per_call(lambda: host.run(x), N)

    tflm = runtime.Interpreter.from_file(str(path))

    def run_tflm():
        for i in range(N):
            tflm.set_input(x[i:i + 1], 0)
            tflm.invoke()

    lite = Interpreter(model_path=str(path), num_threads=1)
    lite.allocate_tensors()
    inp = lite.get_input_details()[0]["index"]

    def run_lite():
        for i in range(N):
            lite.set_tensor(inp, x[i:i + 1])
            lite.invoke()

    t_tflm = per_call(run_tflm, N)
    t_lite = per_call(run_lite, N)
    total, act = tflm_arena(path)
    rep = proj.report()
    return path.name, rep["macs"], t_c, t_tflm, t_lite, rep["arena_bytes"], act, total


def main() -> None:
    rows = [measure(shared_dir() / "models" / "mlperf-tiny" / name)
            for name in ("kws_ref_model.tflite", "ad01_int8.tflite")]
    print(f"{'model':<22} {'MACs':>10} {'host C':>9} {'TFLM':>9} {'LiteRT':>9}   "
          f"{'arena':>7} {'TFLM act':>9} {'TFLM all':>9}")
    for name, macs, t_c, t_tflm, t_lite, arena, act, total in rows:
        print(f"{name:<22} {macs:>10,} {1e6 * t_c:>7.1f}us {1e6 * t_tflm:>7.1f}us "
              f"{1e6 * t_lite:>7.1f}us   {arena:>6,}B {act:>8,}B {total:>8,}B")
    print(f"(per inference, best of 3 runs of {N}; host C and TFLM single-threaded reference "
          "kernels, LiteRT with its optimised kernels and 1 thread; arena: firmforge's "
          "intermediates vs TFLM's activation area and total arena)")


if __name__ == "__main__":
    main()
