"""kws_ref_model with int4 weights: argmax agreement with the int8 model, and the sizes.

The MLPerf Tiny int8 keyword-spotting model's conv/dense weights are requantized to int4 per
channel (``converter/compress/requantize.py``; activations untouched, so the model keeps its
input and output encodings), in four ways:

- nearest rounding with scales max|w| / 7 ("max"), or of least squared weight error ("MSE");
- data-aware ("GPTQ"): calibrated on 256 inputs (another seed than the ones judged), layer by
  layer, GPTQ rounding refined by coordinate descent towards the int8 model's outputs on the
  rows each channel's ReLU lets through, scales of least output error, bias correction;
- the same with the first convolution (2,560 of the 22,016 weights; with the first depthwise
  convolution, the layer the model is most sensitive to) kept int8, as low-bit schemes usually
  keep their first layer;
- the same with int4 only in the 1x1 convolutions and the dense layer (17,152 weights, 78 %),
  the first and the depthwise convolutions (9 weights per channel) int8.

Both models answer the same inputs through the integer reference, whose answers the generated C
reproduces (checked on a sample). There is no speech data in ../shared, so the inputs are:

- "speech-like": MFCCs, computed as MLPerf Tiny's KWS pipeline does, of synthesized words
  (formant-synthesized syllables over background noise; ``kws_inputs.py``), quantized with the
  model's input parameters; the figure the issue asks for is on these;
- "structured random": int8 tensors with a per-sample level and contrast and per-coefficient
  offsets (they reach 8 of the 12 classes; their statistics are not speech's);
- "one per class": one input per class found by search on the int8 model's logits.

"confident" restricts a set to the inputs whose int8 top softmax output is at least 0.5.

Each cell gives two agreements: strict (the int4 argmax is numpy's argmax of the int8 output,
the first of equal maxima), then tie-aware (the int4 argmax is one of the classes sharing the
int8 output's maximum: 2.4 % of the speech-like inputs give two classes the same int8
probability, where the int8 model names no single class).

With ``--per-layer`` it also requantizes each layer alone (the others int8) and prints the
disagreement each one causes by itself: their sum far exceeds the disagreement of all layers
together, because most disagreements are inputs whose int8 top two classes are within an LSB
or two of each other, which any perturbation of the network flips.

    .venv/bin/python benchmarks/kws_int4.py [--inputs 10000] [--random-inputs 2000] [--seed 0]
                                            [--per-layer]

10,000 speech-like inputs put the standard error of an agreement near 95 % at 0.2 points
(2,000 would leave 0.5).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from kws_inputs import speech_like_inputs  # noqa: E402

from firmforge.converter import convert  # noqa: E402
from firmforge.converter.compress.requantize import requantize_weights  # noqa: E402
from firmforge.converter.ir import DType  # noqa: E402
from firmforge.converter.ops.conv import DepthwiseConv2d  # noqa: E402
from firmforge.converter.project import Project  # noqa: E402

CALIBRATION = 256


def structured_inputs(shape: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    level = rng.uniform(-128, 127, (n, 1, 1, 1)) + rng.normal(0, 40, (n, 1, *shape[1:]))
    x = level + rng.uniform(1, 80, (n, 1, 1, 1)) * rng.standard_normal((n, *shape))
    return np.clip(np.rint(x), -128, 127).astype(np.int8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=10_000, help="speech-like inputs judged")
    ap.add_argument("--random-inputs", type=int, default=2000,
                    help="structured random inputs judged")
    ap.add_argument("--per-layer", action="store_true",
                    help="also requantize each layer alone and print what it costs")
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
    q = p8.graph.inputs[0].quant
    scale, zp = float(q.scale[0]), int(np.asarray(q.zp).reshape(-1)[0])
    shape = tuple(p8.graph.inputs[0].shape[1:])
    calib = speech_like_inputs(CALIBRATION, scale, zp, np.random.default_rng(args.seed + 1))
    weighted = [n.name for n in p8.graph.nodes if n.weight_axis is not None]
    pointwise = [n.name for n in p8.graph.nodes[1:] if n.weight_axis is not None
                 and not isinstance(n, DepthwiseConv2d)]
    graphs = {
        "max": requantize_weights(p8.graph, DType.s4),
        "MSE": requantize_weights(p8.graph, DType.s4, mse_scales=True),
        "GPTQ": requantize_weights(p8.graph, DType.s4, calibration=calib),
        "GPTQ, 1st int8": requantize_weights(p8.graph, DType.s4, weighted[1:],
                                             calibration=calib),
        "GPTQ, 1x1 + dense": requantize_weights(p8.graph, DType.s4, pointwise,
                                                calibration=calib),
    }
    projects = {k: Project(g.name, g) for k, g in graphs.items()}
    sets = {"speech-like": speech_like_inputs(args.inputs, scale, zp, rng),
            "structured random": structured_inputs(shape, args.random_inputs, rng),
            "one per class": _inputs_for_every_class(p8.graph, rng)}
    w8 = p8.report()["weight_bytes"]
    print(f"{args.model.name}: weight bytes (biases included): int8 {w8:,}; " + ", ".join(
        f"{k} {p.report()['weight_bytes']:,} ({w8 / p.report()['weight_bytes']:.2f}x smaller)"
        for k, p in projects.items() if k in ("MSE", "GPTQ, 1st int8", "GPTQ, 1x1 + dense")))
    print()
    print("| inputs | count | int8 classes | " + " | ".join(projects) + " |")
    print("|---|---:|---:|" + "---:|" * len(projects))
    for label, x in sets.items():
        y8 = np.asarray(p8.reference(x)).reshape(len(x), -1)
        a8 = y8.argmax(1)
        tops = y8 == y8.max(1, keepdims=True)
        picks = {k: np.asarray(p.reference(x)).reshape(len(x), -1).argmax(1)
                 for k, p in projects.items()}
        rows = [(label, np.ones(len(x), bool))]
        if label != "one per class":
            rows.append((f"{label}, confident", (y8.max(1).astype(np.int64) + 128) >= 128))
        for name, keep in rows:
            cells = " | ".join(f"{(a == a8)[keep].mean():.1%} / "
                               f"{tops[np.arange(len(x)), a][keep].mean():.1%}"
                               for a in picks.values())
            print(f"| {name} | {int(keep.sum())} | {len(np.unique(a8[keep]))} | {cells} |")
    sample = sets["speech-like"][:50]
    for k, p in projects.items():
        if not np.array_equal(p.run_host(sample), p.reference(sample)):
            print(f"{k}: int4 host C differs from the reference")
            return 1
    print(f"\nhost C == reference on 50 inputs for each of the {len(projects)} int4 models")
    if args.per_layer:
        per_layer(p8, weighted, calib, sets["speech-like"])
    return 0


def per_layer(p8: Project, layers: list[str], calib: np.ndarray, x: np.ndarray) -> None:
    """Disagreement with the int8 model when one layer alone is int4 (GPTQ), each in turn."""
    a8 = np.asarray(p8.reference(x)).reshape(len(x), -1).argmax(1)
    print(f"\n| layer int4 alone (GPTQ), the others int8 | disagreement on {len(x):,} inputs |")
    print("|---|---:|")
    total = 0.0
    for name in layers:
        g = requantize_weights(p8.graph, DType.s4, [name], calibration=calib)
        a4 = np.asarray(Project(g.name, g).reference(x)).reshape(len(x), -1).argmax(1)
        total += (a4 != a8).mean()
        print(f"| {name} | {(a4 != a8).mean():.2%} |")
    print(f"| sum of the rows | {total:.2%} |")


if __name__ == "__main__":
    sys.exit(main())
