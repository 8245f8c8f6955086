"""The spiking MNIST CNN (examples/mnist_snn.py): accuracy against time steps, float snnTorch
against firmforge's fixed point, their agreement, and the firmware on emulated boards.

For each T, the network trained at T = 25 is run for T steps: snnTorch in float on the device's
rate code, and the converted fixed-point network (s16 membranes, the rate encoder on device)
in the integer reference; the class is the output neuron with the most spikes. "agreement" is
the share of held-back images both classify alike. Then the T = 25 firmware runs one image on
qemu-mps2-an386 and qemu-riscv32-virt (outputs checked against the reference), with its
instructions per inference (25 steps) and per step, and the spiking report (spikes per layer,
synaptic operations against the equivalent ANN's MACs) on 100 images.

    .venv/bin/python benchmarks/snn_mnist.py [--images 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmforge.converter import SpikingOptions, convert  # noqa: E402
from firmforge.converter.ir import DType  # noqa: E402
from firmforge.snn.convert import Encoder  # noqa: E402
from firmforge.snn.project import Readout  # noqa: E402

from examples.mnist import load_split, shared_dir  # noqa: E402
from examples.mnist_snn import STEPS, forward_steps, rate_spikes, train_snn  # noqa: E402

BOARDS = ("qemu-mps2-an386", "qemu-riscv32-virt")


def project(net, x_tr, steps: int):
    return convert(net, calibration=x_tr[:64], steps=steps, name="mnist_snn",
                   spiking=SpikingOptions(membrane=DType.s16, encoder=Encoder.RATE,
                                          readout=Readout.COUNT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    args = ap.parse_args()
    if not (shared_dir() / "data" / "mnist").is_dir():
        print(f"MNIST lives in {shared_dir()}/data/mnist, which is absent")
        return 2
    x_tr, y_tr, x_te, y_te = load_split(shared_dir())
    x_te, y_te = x_te[:args.images], y_te[:args.images]
    net = train_snn(x_tr, y_tr)
    print(f"spiking CNN, rate coded, {len(y_te)} held-back images\n")
    print("| steps T | float snnTorch | fixed point (C) | agreement |")
    print("|---:|---:|---:|---:|")
    ok = True
    for steps in (5, 10, 15, 20, 25):
        proj = project(net, x_tr, steps)
        counts = proj.reference(x_te)
        fixed = counts.argmax(1)
        with torch.no_grad():
            fl = np.concatenate([forward_steps(net, rate_spikes(x_te[i:i + 500], steps))
                                 .sum(0).argmax(1).numpy() for i in range(0, len(x_te), 500)])
        print(f"| {steps} | {(fl == y_te).mean():.2%} | {(fixed == y_te).mean():.2%} | "
              f"{(fl == fixed).mean():.2%} |")
    proj = project(net, x_tr, STEPS)
    host = proj.run_host(x_te[:50])
    ok &= bool(np.array_equal(host, proj.reference(x_te[:50])))
    print(f"\nhost C == reference on 50 images: {ok}")
    rep = proj.spiking_report(x_te[:100])
    print("\n" + rep.table())
    with tempfile.TemporaryDirectory() as tmp:
        seq = np.broadcast_to(x_te[:1], (STEPS, 1, *x_te.shape[1:]))
        for board in BOARDS:
            fw = proj.build(board, Path(tmp) / board, seq)
            run = fw.run()
            ok &= run.equal
            total = sum(run.counts)
            print(f"\n{board}: {total:,} instructions per inference ({STEPS} steps, "
                  f"{total // STEPS:,} per step), flash {fw.flash_bytes:,} B, RAM "
                  f"{fw.ram_bytes:,} B, spikes equal to the reference: {run.equal}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
