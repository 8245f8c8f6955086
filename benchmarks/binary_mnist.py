"""Binary networks on MNIST: accuracy and weight bytes of binary vs int8 vs float, and the binary
MLP on an ATmega328P (flash, RAM, cycles).

    .venv/bin/python benchmarks/binary_mnist.py [--reste-cnn] [--no-avr]

Trains on the 8,000 training images of the shared split (examples/mnist.py) and measures on the
2,000 held-back ones: a float CNN (conv32-conv64-conv64-dense128-dense10, batch norms, ReLUs, max
pools); the same CNN with binary hidden layers (its first conv and last dense stay int8),
distilled from the float CNN; and a binary MLP (examples/mnist_binary.py). Each model is
converted with ``convert()``; "C" is the integer model's accuracy, from the reference over all
2,000 images, and the generated C compiled for this machine must give the same bytes on all of
them. "weights" is what the converted model stores (``report()['weight_bytes']``: packed bits,
int8 weights, thresholds and requantization records); "x smaller" is the float32 weights and
biases of the same architecture (after batch-norm folding) over that.

Trained models are cached in ~/.cache/firmforge/binary_mnist/, keyed by a hash of their training
configuration; without the cache everything trains from scratch (about 20 minutes of one core,
most of it the binary CNN's 40 epochs; ``--reste-cnn`` adds a second binary CNN, trained with
ReSTE, for about 12 more). Exits 1 when the
C differs from the reference or a bar fails: binary CNN >= 97.5 % and within 0.5 points of the
float CNN, weights >= 20x smaller than float; binary MLP >= 95 %; on the AVR, outputs equal to
the reference within 2 KB of RAM and 32 KB of flash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert
from firmforge.converter.compress.binarize import row_kernel_storage
from firmforge.converter.compress.binary import train_binary
from firmforge.converter.nn import BinaryConv2d, BinaryLinear

from examples.mnist import SPLIT_SEED, float_accuracy, load_split
from examples.mnist_binary import BinaryMLP, shift_pixels

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "firmforge" / \
    "binary_mnist"
AVR = "simavr-atmega328p"
AVR_IMAGES = 4  # test images built into the AVR image (784 B of flash each)

# Bumped whenever the training code changes what a configuration trains to.
VERSION = 2
CNN = {"first": 32, "channels": (64, 64), "hidden": 128}
FLOAT_CNN = {"version": VERSION, "kind": "float_cnn", "sizes": CNN, "epochs": 20, "lr": 1e-2,
             "batch": 64, "shift": 2, "seed": 0, "split_seed": SPLIT_SEED}


def binary_cnn_config(estimator: str) -> dict:
    return {"version": VERSION, "kind": "binary_cnn", "sizes": CNN, "estimator": estimator,
            "pad_value": 1.0, "epochs": 40, "lr": 1e-2, "batch": 64, "shift": 2,
            "distill": 0.9, "temperature": 1.0, "teacher": FLOAT_CNN, "seed": 0,
            "split_seed": SPLIT_SEED}


def binary_mlp_config(estimator: str) -> dict:
    return {"version": VERSION, "kind": "binary_mlp", "hidden": (128, 96),
            "estimator": estimator, "epochs": 60, "lr": 1e-2, "batch": 64, "shift": 1,
            "seed": 0, "split_seed": SPLIT_SEED}


# -- the models ---------------------------------------------------------------------------------
def cnn(config: dict) -> nn.Sequential:
    """Three 3x3 convs (each followed by batch norm and a 2x2 max pool: 28 -> 14 -> 7 -> 3), a
    hidden dense layer and the classifier. Float: ReLU after every batch norm. Binary: the
    convs after the first and the hidden dense layer are binary (each binarizes its input, so
    they need no ReLU), padding their binarized inputs with ``pad_value``."""
    first, (c1, c2), hidden = (config["sizes"][k] for k in ("first", "channels", "hidden"))
    if config["kind"] == "float_cnn":
        def conv(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                    nn.MaxPool2d(2)]
        return nn.Sequential(
            nn.Conv2d(1, first, 3, padding=1), nn.BatchNorm2d(first), nn.ReLU(), nn.MaxPool2d(2),
            *conv(first, c1), *conv(c1, c2), nn.Flatten(),
            nn.Linear(c2 * 3 * 3, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, 10))
    est, pad = config["estimator"], config["pad_value"]

    def bconv(i, o):
        return [BinaryConv2d(i, o, 3, padding=1, pad_value=pad, estimator=est),
                nn.BatchNorm2d(o), nn.MaxPool2d(2)]
    return nn.Sequential(
        nn.Conv2d(1, first, 3, padding=1), nn.BatchNorm2d(first), nn.MaxPool2d(2),  # int8
        *bconv(first, c1), *bconv(c1, c2), nn.Flatten(),
        BinaryLinear(c2 * 3 * 3, hidden, estimator=est), nn.BatchNorm1d(hidden),
        nn.Linear(hidden, 10))  # int8


def mlp(config: dict) -> nn.Module:
    return BinaryMLP(tuple(config["hidden"]), config["estimator"])


# -- training, cached ---------------------------------------------------------------------------
def digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def trained(config: dict, build: Callable[[dict], nn.Module], data: tuple[np.ndarray, ...],
            teacher: nn.Module | None = None) -> nn.Module:
    """``build(config)`` trained by ``config`` (loaded from the cache when it has that config)."""
    path = CACHE / f"{config['kind']}-{digest(config)}.pt"
    torch.manual_seed(config["seed"])
    model = build(config)
    if path.exists():
        saved = torch.load(path, weights_only=False)
        if json.dumps(saved["config"], sort_keys=True) == json.dumps(config, sort_keys=True):
            model.load_state_dict(saved["state_dict"])
            return model.eval()
    x, y = data[0], data[1]
    shift = config["shift"]
    distill = {"teacher": teacher, "distill": config["distill"],
               "temperature": config["temperature"]} if teacher is not None else {}
    t0 = time.perf_counter()
    train_binary(model, x, y, epochs=config["epochs"], lr=config["lr"], batch=config["batch"],
                 seed=config["seed"], augment=lambda b, g: shift_pixels(b, g, shift), **distill)
    print(f"  trained {path.name} in {time.perf_counter() - t0:.0f} s "
          f"({torch.get_num_threads()} threads)", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"config": config, "state_dict": model.state_dict()}, tmp)
    tmp.replace(path)
    return model.eval()


# -- measurement --------------------------------------------------------------------------------
@dataclass
class Row:
    label: str
    torch_accuracy: float
    c_accuracy: float | None  # None: the float row (nothing converted)
    weight_bytes: int
    float_bytes: int  # float32 weights and biases of the same architecture
    c_equal: bool = True

    def format(self) -> str:
        c = "-" if self.c_accuracy is None else f"{100 * self.c_accuracy:.2f}"
        same = "-" if self.c_accuracy is None else ("yes" if self.c_equal else "NO")
        return (f"{self.label:<34} {100 * self.torch_accuracy:>7.2f} {c:>7} {same:>9} "
                f"{self.weight_bytes:>9,} {self.float_bytes / self.weight_bytes:>9.1f}")


HEADER = (f"{'model':<34} {'torch %':>7} {'C %':>7} {'C == ref':>9} {'weights B':>9} "
          f"{'x smaller':>9}")


def float_bytes(report: dict) -> int:
    return sum(int(layer.get("float_bytes", 0)) for layer in report["layers"])


def measure(label: str, model: nn.Module, data: tuple[np.ndarray, ...]):
    """The converted model's row, and the project."""
    x_tr, _, x_te, y_te = data
    proj = convert(model, calibration=x_tr[:500], name="bmnist", progress=False)
    ref = proj.reference(x_te)
    same = bool(np.array_equal(proj.run_host(x_te), ref))
    rep = proj.report()
    row = Row(label, float_accuracy(model, x_te, y_te), float(np.mean(ref.argmax(1) == y_te)),
              int(rep["weight_bytes"]), float_bytes(rep), same)
    return row, proj


def avr_section(label: str, proj, model: nn.Module, x_calib: np.ndarray, x: np.ndarray,
                out_dir: Path) -> list[str]:
    """Build a binary MLP for the ATmega328P with ``AVR_IMAGES`` test images, run them in
    simavr; failures as messages. Its binary dense layers take the row kernel there
    (``row_kernel_storage``): the block kernel's index list does not fit in 2 KB of RAM."""
    proj = convert(model, calibration=x_calib, name=proj.name, progress=False,
                   storage=row_kernel_storage(proj.graph))
    fw = proj.build(AVR, out_dir, x[:AVR_IMAGES])
    run = fw.run()
    split = fw.flash_split
    board = fw.board
    print(f"\n{label} on {AVR} ({board.flash.size // 1024} KB flash, "
          f"{board.ram.size // 1024} KB RAM, {board.clock_hz // 10**6} MHz), {AVR_IMAGES} "
          f"held-back images:")
    print(f"  outputs == reference  {run.equal}")
    print(f"  flash                 {fw.flash_bytes:,} B = code {split.code:,} + weights and "
          f"thresholds {split.weights:,} + parameter structs {split.params:,} + test images "
          f"{split.vectors:,}")
    rep = proj.report()
    static = fw.ram_bytes - fw.stack_reserved
    print(f"  RAM                   {fw.ram_bytes:,} B = static {static:,} (arena "
          f"{rep['arena_bytes']:,}, input {rep['input_bytes']:,}, output "
          f"{rep['output_bytes']:,}, runner) + stack reserved {fw.stack_reserved:,} "
          f"(measured high-water mark {run.stack_bytes:,})")
    print(f"  cycles                {run.cycles:,} per inference (median; "
          f"{1e3 * run.cycles / board.clock_hz:.1f} ms at {board.clock_hz // 10**6} MHz), "
          f"{min(run.counts):,} to {max(run.counts):,}")
    problems = []
    if not run.equal:
        problems.append(f"{AVR}: outputs differ from the reference")
    if fw.ram_bytes > board.ram.size or fw.flash_bytes > board.flash.size:
        problems.append(f"{AVR}: {fw.flash_bytes} B flash / {fw.ram_bytes} B RAM do not fit")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reste-cnn", action="store_true",
                    help="also train and measure the binary CNN with ReSTE (about 4 minutes)")
    ap.add_argument("--no-avr", action="store_true", help="skip the ATmega328P section")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads while training (a trained model depends on the count; "
                         "2 spinning threads lose badly on a busy machine)")
    ap.add_argument("--out", type=Path, default=Path("out/binary_mnist"),
                    help="where the AVR firmware project is written")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_split()

    print("training (or loading from the cache) ...", flush=True)
    teacher = trained(FLOAT_CNN, cnn, data)
    nets = [("binary CNN (STE, distilled)", trained(binary_cnn_config("ste"), cnn, data, teacher))]
    if args.reste_cnn:
        nets.append(("binary CNN (ReSTE, distilled)",
                     trained(binary_cnn_config("reste"), cnn, data, teacher)))
    mlps = [(f"binary MLP ({name})", trained(binary_mlp_config(est), mlp, data))
            for name, est in (("STE", "ste"), ("ReSTE", "reste"))]

    int8, _ = measure("int8 CNN", teacher, data)
    rows = [Row("float32 CNN", int8.torch_accuracy, None, int8.float_bytes, int8.float_bytes),
            int8]
    cnn_rows = [measure(label, m, data)[0] for label, m in nets]
    mlp_rows, mlp_projs = zip(*(measure(label, m, data) for label, m in mlps), strict=True)
    rows += [*cnn_rows, *mlp_rows]
    print("\n2,000 held-back MNIST images; C accuracy from the integer reference, the host C "
          "equal to it on every image where 'yes'\n")
    print(HEADER)
    for row in rows:
        print(row.format())

    problems = [f"{r.label}: host C differs from the reference" for r in rows if not r.c_equal]
    for r in cnn_rows:
        if r.c_accuracy < 0.975 or r.c_accuracy < int8.torch_accuracy - 0.005:
            problems.append(f"{r.label}: {100 * r.c_accuracy:.2f} % (bar: >= 97.5 % and within "
                            f"0.5 points of the float CNN's {100 * int8.torch_accuracy:.2f} %)")
        if r.float_bytes / r.weight_bytes < 20:
            problems.append(f"{r.label}: weights only {r.float_bytes / r.weight_bytes:.1f}x "
                            f"smaller than float")
    problems += [f"{r.label}: {100 * r.c_accuracy:.2f} % (bar: >= 95 %)"
                 for r in mlp_rows if r.c_accuracy < 0.95]
    if not args.no_avr:
        best = max(range(len(mlp_rows)), key=lambda i: mlp_rows[i].c_accuracy)
        problems += avr_section(mlp_rows[best].label, mlp_projs[best], mlps[best][1],
                                data[0][:500], data[2], args.out / AVR)
    for p in problems:
        print(f"FAILED: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
