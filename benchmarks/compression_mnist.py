"""Compression of the demo's MNIST CNN: weight bytes and accuracy on the 2,000 held-back images.

Rows: float32, int8, int4 (plain, + bias correction, + layer-wise calibration (AdaRound), both),
data-free int8 (calibrated on inputs synthesized from the BatchNorm statistics, no images), and
mixed 8/4-bit plans under two flash budgets (between the all-int4 and all-int8 sizes). Sizes:
``weight bytes`` are the stored constant tensors (``proj.report()['weight_bytes']``), ``C const``
adds the requantization records the C target keeps beside them (what a flash budget counts);
``ratio`` is float32 weight bytes over the stored weight bytes. Accuracy is the integer
reference's (== the generated C, bit for bit). Seeded: the same table on every run.

    .venv/bin/python benchmarks/compression_mnist.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert
from firmforge.converter.ir import DType

from examples.mnist import float_accuracy, trained_cnn

CALIB = 512  # calibration images from the training split


def accuracy(proj, x: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(proj.reference(x)).argmax(-1) == y).mean())


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model, (xtr, _ytr, xte, yte) = trained_cnn(seed=0)
    calib = xtr[np.random.default_rng(0).permutation(len(xtr))[:CALIB]]
    rows = []

    def add(label: str, **kw) -> object:
        t = time.perf_counter()
        cal = None if kw.get("data_free") else calib
        ex = torch.zeros(1, *xtr.shape[1:]) if kw.get("data_free") else None
        proj = convert(model, example_input=ex, calibration=cal, progress=False, **kw)
        rep = proj.report()
        plan = proj.budget_plan
        note = ""
        if plan is not None:
            note = "bits " + "/".join(d.value for d in plan.plan.values())
        rows.append((label, rep["weight_bytes"], proj.sources().const_bytes,
                     accuracy(proj, xte, yte), f"{note} ({time.perf_counter() - t:.0f} s)"))
        return proj

    p8 = add("int8")
    fg = p8.float_graph  # BatchNorm folded: the float32 weights and biases the C would hold
    float_bytes = sum({id(v): v.nbytes for n in fg.nodes for v in n.inputs if v.is_const}.values())
    rows.insert(0, ("float32", float_bytes, None, float_accuracy(model, xte, yte), ""))
    p4 = add("int4", weight_dtype=DType.s4)
    add("int4 + bias correction", weight_dtype=DType.s4, bias_correction=True)
    add("int4 + layer-wise (AdaRound)", weight_dtype=DType.s4, layerwise_calibration=True)
    add("int4 + both", weight_dtype=DType.s4, layerwise_calibration=True, bias_correction=True)
    add("int8 data-free (ZeroQ)", data_free=True)
    c8, c4 = p8.sources().const_bytes, p4.sources().const_bytes
    for frac in (0.5, 0.15):
        budget = int(c4 + frac * (c8 - c4))
        add(f"mixed, budget {budget:,} B", flash_budget=budget)

    head = ("configuration", "weight B", "ratio", "C const B", "accuracy", "notes")
    table = [head] + [(label, f"{wb:,}", f"{float_bytes / wb:.1f}x",
                       "-" if cb is None else f"{cb:,}", f"{acc * 100:.2f}%", note)
                      for label, wb, cb, acc, note in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(w) if j in (0, 5) else c.rjust(w)
                        for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{len(xte):,} held-back images, {CALIB} calibration images; "
          f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
