"""Instructions per inference of the generated firmware on emulated Cortex-M3/M4/M7/M33 and
RISC-V boards, instructions per MAC, flash (code vs weights) and RAM, for each MLPerf Tiny model
in ../shared and the MNIST CNN, in one table.

Instructions are counted by the QEMU TCG plugin firmforge builds (exact and repeatable); they are
not cycles.

    .venv/bin/python benchmarks/boards.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert

from examples.mnist import MnistCNN, load_split, shared_dir, train

BOARDS = ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505",
          "qemu-riscv32-virt"]
VECTORS = 2


def models():
    tiny = shared_dir() / "models" / "mlperf-tiny"
    for name in ("kws_ref_model.tflite", "ad01_int8.tflite"):
        proj = convert(tiny / name)
        v = proj.graph.inputs[0]
        x = np.random.default_rng(0).integers(-128, 128, (VECTORS, *v.shape[1:])).astype(np.int8)
        yield name.removesuffix(".tflite"), proj, x
    x_tr, y_tr, x_te, _ = load_split()
    cnn = train(MnistCNN(), x_tr, y_tr)
    yield "mnist_cnn", convert(cnn, calibration=x_tr[:500], name="mnist", progress=False), x_te[:VECTORS]


def main() -> None:
    print(f"{'model':<16} {'board':<18} {'MACs':>10} {'instructions':>13} {'/MAC':>6} "
          f"{'flash':>9} {'code':>8} {'weights':>9} {'RAM':>8} {'equal':>6}")
    for name, proj, x in models():
        macs = proj.report()["macs"]
        for board in BOARDS:
            with tempfile.TemporaryDirectory() as d:
                fw = proj.build(board, Path(d), x)
                res = fw.run(x)
            vec = proj.graph.inputs[0].nbytes * len(x)  # the vectors are stored quantized
            code = fw.flash_bytes - fw.const_bytes - vec
            print(f"{name:<16} {board:<18} {macs:>10,} {res.instructions:>13,} "
                  f"{res.instructions / macs:>6.2f} {fw.flash_bytes:>8,}B {code:>7,}B "
                  f"{fw.const_bytes:>8,}B {fw.ram_bytes:>7,}B {res.equal!s:>6}")
    print("(flash = code + weights/requantization tables + the embedded test vectors; "
          "RAM = arena + .data/.bss + the stack the linker script reserves)")


if __name__ == "__main__":
    main()
