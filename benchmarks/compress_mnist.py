"""MNIST CNN under compression: weight bytes and accuracy of the generated C on the 2,000
held-back images, for int8, int4 (plain, with bias correction, with layer-wise calibration
(AdaRound)), int2, magnitude pruning (post-training and gradual with fine-tuning), 2:4 sparsity
(post-training and SR-STE), k-means clusters, channel pruning, data-free int8 (calibrated on
inputs synthesized from the BatchNorm statistics, no images) and mixed 8/4-bit plans under two
flash budgets (between the all-int4 and all-int8 sizes of the C constants, which is what a
budget counts). Seeded: the same table on every run of one machine and thread count.

    .venv/bin/python benchmarks/compress_mnist.py [--steps 250]

Fine-tuning runs ``--steps`` Adam steps (batch 64) on the 8,000 training images (twice or
three times as many for the sparser rows). "x smaller" is
the float32 weights' bytes (weights and biases after batch-norm folding) over the stored bytes
of the converted model (``report()['weight_bytes']``: every format, biases included).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert
from firmforge.converter.compress.channels import prune_channels
from firmforge.converter.compress.finetune import prune_and_finetune, sr_ste_finetune, train_steps

from examples.mnist import MnistCNN, float_accuracy, load_split, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=250, help="fine-tuning steps")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x_tr, y_tr, x_te, y_te = load_split()
    torch.manual_seed(0)
    model = train(MnistCNN(), x_tr, y_tr, seed=0)
    calib = x_tr[:500]
    acc_float = float_accuracy(model, x_te, y_te)
    base = convert(model, calibration=calib, name="mnist", progress=False)
    float_bytes = 4 * sum(int(n.inputs[1].size + n.inputs[2].size)
                          for n in base.float_graph.nodes if n.weight_axis is not None)
    names = [n.name for n in base.graph.nodes if n.weight_axis is not None]  # conv, conv, dense
    later = {k: (2, 4) for k in names[1:]}  # the first conv's rows of 9 take no 2:4
    print(f"float32: {float_bytes:,} B of weights, accuracy {acc_float:.4f}; layers {names}")

    def tuned(fn):
        m = copy.deepcopy(model)
        fn(m)
        return m

    steps = args.steps
    rows = [
        ("int8", model, {}),
        ("int4", model, {"weight_bits": 4}),
        ("int2", model, {"weight_bits": 2}),
        ("int8, 16 clusters", model, {"clusters": 16}),
        ("int4, 8 clusters", model, {"weight_bits": 4, "clusters": 8}),
        ("int4 + 50% sparse, post-training", model, {"weight_bits": 4, "sparsity": 0.5}),
        ("int4 + 2:4, post-training", model, {"weight_bits": 4, "nm": later}),
        (f"int4 + 50% sparse, gradual ({steps} steps)",
         tuned(lambda m: prune_and_finetune(m, (x_tr, y_tr), 0.5, steps)),
         {"weight_bits": 4}),
        (f"int4 + 65% sparse, gradual ({2 * steps} steps)",
         tuned(lambda m: prune_and_finetune(m, (x_tr, y_tr), 0.65, 2 * steps)),
         {"weight_bits": 4}),
        (f"int4 + 75% sparse, gradual ({3 * steps} steps)",
         tuned(lambda m: prune_and_finetune(m, (x_tr, y_tr), 0.75, 3 * steps)),
         {"weight_bits": 4}),
        (f"int4 + 2:4, SR-STE ({steps} steps)",
         tuned(lambda m: sr_ste_finetune(m, (x_tr, y_tr), 2, 4, steps,
                                         layers=["features.4", "classifier.2"])),
         {"weight_bits": 4}),
        (f"int8, 50% channels removed ({steps} steps)",
         _channels(model, x_tr, y_tr, steps), {}),
        ("int4 + bias correction", model, {"weight_bits": 4, "bias_correction": True}),
        ("int4 + layer-wise (AdaRound)", model, {"weight_bits": 4, "layerwise_calibration": True}),
        ("int8, data-free (ZeroQ)", model, {"data_free": True}),
    ]
    c8 = base.sources().const_bytes
    c4 = convert(model, calibration=calib, progress=False, weight_bits=4).sources().const_bytes
    rows += [(f"mixed 8/4 bits, flash budget {b:,} B", model, {"flash_budget": b})
             for b in (int(c4 + 0.5 * (c8 - c4)), int(c4 + 0.15 * (c8 - c4)))]
    print(f"{'configuration':<44} {'weights':>9} {'x smaller':>9} {'C const':>9} {'accuracy':>9} "
          f"{'vs float':>9}")
    print(f"{'float32':<44} {float_bytes:>7,} B {1.0:>9.1f} {'-':>9} {acc_float:>9.4f} "
          f"{0.0:>+9.4f}")
    for label, m, opts in rows:
        free = opts.get("data_free", False)
        proj = convert(m, calibration=None if free else calib, name="mnist", progress=False,
                       example_input=torch.zeros(1, *x_tr.shape[1:]) if free else None, **opts)
        out = proj.run_host(x_te)
        if not np.array_equal(out, proj.reference(x_te)):
            sys.exit(f"{label}: host C differs from the reference")
        acc = float((out.argmax(1) == y_te).mean())
        wb = proj.report()["weight_bytes"]
        cb = proj.sources().const_bytes
        bits = "" if proj.budget_plan is None else "  bits " + "/".join(
            d.value for d in proj.budget_plan.plan.values())
        print(f"{label:<44} {wb:>7,} B {float_bytes / wb:>9.1f} {cb:>7,} B {acc:>9.4f} "
              f"{acc - acc_float:>+9.4f}{bits}")


def _channels(model, x, y, steps):
    pruned = prune_channels(model, 0.5)
    return train_steps(pruned, x, y, steps, lr=1e-3)


if __name__ == "__main__":
    main()
