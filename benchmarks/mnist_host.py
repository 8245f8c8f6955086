"""MNIST CNN on the host: convert time, arena vs its lower bound, weight bytes, and inference time
per image of the generated C (cffi) against the float PyTorch model.

    .venv/bin/python benchmarks/mnist_host.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert

from examples.mnist import MnistCNN, float_accuracy, load_split, train


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    x_tr, y_tr, x_te, y_te = load_split()
    model = train(MnistCNN(), x_tr, y_tr)
    t = time.perf_counter()
    proj = convert(model, calibration=x_tr[:500], name="mnist", progress=False)
    t_convert = time.perf_counter() - t
    t = time.perf_counter()
    proj.run_host(x_te[:1])  # first call compiles (or loads the cached build)
    t_build = time.perf_counter() - t
    rep = proj.report()

    n = 500
    xs = x_te[:n]
    q, _ = proj.prepare_input(xs)
    host = proj.host()
    t_c = best_of(lambda: host.run(q)) / n
    torch.set_num_threads(1)
    xt = torch.from_numpy(xs)
    with torch.no_grad():
        t_torch_1 = best_of(lambda: [model(xt[i:i + 1]) for i in range(n)]) / n
        t_torch_b = best_of(lambda: model(xt)) / n
    acc_int8 = float((proj.run_host(x_te).argmax(1) == y_te).mean())

    print("MNIST CNN (host, 1 thread)")
    print(f"  convert (trace, fold, calibrate 500, quantize, generate)  {t_convert:8.2f} s")
    print(f"  host build (gcc + cffi, or cache hit)                    {t_build:8.2f} s")
    print(f"  weights                        {rep['weight_bytes']:>8,} B   "
          f"(float32 {4 * sum(p.numel() for p in model.parameters()):,} B)")
    print(f"  arena                          {rep['arena_bytes']:>8,} B   "
          f"(lower bound {rep['arena_lower_bound']:,} B)")
    print(f"  MACs per image                 {rep['macs']:>8,}")
    print(f"  generated C, per image         {1e6 * t_c:8.1f} us")
    print(f"  PyTorch float, batch 1         {1e6 * t_torch_1:8.1f} us")
    print(f"  PyTorch float, batch {n}      {1e6 * t_torch_b:8.1f} us per image")
    print(f"  accuracy float / int8 C        {100 * float_accuracy(model, x_te, y_te):.2f} % / "
          f"{100 * acc_int8:.2f} %")


if __name__ == "__main__":
    main()
