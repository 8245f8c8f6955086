"""kws_ref_model with int4 weights: argmax agreement with the int8 model, and the sizes.

The MLPerf Tiny int8 keyword-spotting model's conv/dense weights are requantized to int4 per
channel (``converter/compress/requantize.py``: the int8 weights times their scales, quantized
again to [-7, 7] with max or least-squares scales; biases to the new scales; activations
untouched), and both models answer the
same inputs through the integer reference, whose answers the generated C reproduces (checked
here on a sample). There is no speech data in ../shared, so the inputs are:

- structured random MFCC-like inputs (a per-sample level and contrast, per-coefficient offsets,
  Gaussian texture), which reach more of the 12 classes than uniform noise (2 of 12);
- one input per class found by search on the int8 model's logits (tests/test_mlperf_tiny.py).

    .venv/bin/python benchmarks/kws_int4.py [--inputs 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from firmforge.converter import convert  # noqa: E402
from firmforge.converter.compress.requantize import requantize_weights  # noqa: E402
from firmforge.converter.ir import DType  # noqa: E402
from firmforge.converter.project import Project  # noqa: E402


def structured_inputs(shape: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    level = rng.uniform(-128, 127, (n, 1, 1, 1)) + rng.normal(0, 40, (n, 1, *shape[1:]))
    x = level + rng.uniform(1, 80, (n, 1, 1, 1)) * rng.standard_normal((n, *shape))
    return np.clip(np.rint(x), -128, 127).astype(np.int8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path,
                    default=ROOT.parent / "shared" / "models" / "mlperf-tiny" / "kws_ref_model.tflite")
    args = ap.parse_args()
    if not args.model.is_file():
        print(f"{args.model} is absent: the MLPerf Tiny models live in ../shared")
        return 2
    from test_mlperf_tiny import _inputs_for_every_class

    rng = np.random.default_rng(args.seed)
    p8 = convert(args.model, progress=False)
    projects = {}
    for mse in (False, True):
        g4 = requantize_weights(p8.graph, DType.s4, mse_scales=mse)
        projects[mse] = Project(g4.name, g4)
    p4 = projects[True]
    shape = tuple(p8.graph.inputs[0].shape[1:])
    sets = {"structured random": structured_inputs(shape, args.inputs, rng),
            "one per class (search)": _inputs_for_every_class(p8.graph, rng)}
    w8, w4 = p8.report()["weight_bytes"], p4.report()["weight_bytes"]
    print(f"{args.model.name}: weights int8 {w8:,} B, int4 {w4:,} B ({w8 / w4:.2f}x smaller)")
    print("argmax agreement of int4 with int8 (scales max|w| / 7, or by least squared error):")
    print(f"{'inputs':<24} {'count':>6} {'classes (int8)':>15} {'max scales':>11} {'MSE scales':>11}")
    for label, x in sets.items():
        a8 = np.asarray(p8.reference(x)).reshape(len(x), -1).argmax(1)
        agree = [np.mean(a8 == np.asarray(p.reference(x)).reshape(len(x), -1).argmax(1))
                 for p in projects.values()]
        print(f"{label:<24} {len(x):>6} {len(np.unique(a8)):>15} {agree[0]:>11.2%} "
              f"{agree[1]:>11.2%}")
    sample = sets["structured random"][:50]
    if not np.array_equal(p4.run_host(sample), p4.reference(sample)):
        print("int4 host C differs from the reference")
        return 1
    print("int4 host C == reference on 50 inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
