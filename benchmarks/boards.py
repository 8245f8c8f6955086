"""Instructions per inference of the generated firmware on emulated Cortex-M3/M4/M7/M33 and
RISC-V boards, instructions per MAC, flash (code apart from constants and test vectors) and RAM
(arena + I/O buffers + the measured stack), for each MLPerf Tiny model in ../shared, the MNIST
CNN and a MobileNet-style 96x96x3 image model, in one table; beside each qemu-mps2-an386 row,
TensorFlow Lite Micro with CMSIS-NN on the same emulated Cortex-M4. Exits non-zero when any
output differs from the reference.

Instructions are counted by the QEMU TCG plugin firmforge builds (exact and repeatable); they are
not cycles. The stack is the high-water mark of the painted stack after the run; the emulated
boards reserve it from a measurement at build time (``memory.stack = "auto"``), shown as
"reserved". Code is the flash minus the model's weights, tables and parameter structs and minus
the test vectors, from the linker map.

TFLM+CMSIS-NN: when ../shared/tools/peer-tflm has been built (``$PEER_BUILD``, default
/tmp/peer-tflm-build; see its README), its ``run.sh`` is run and its figures are printed;
otherwise the figures quoted in its README and in issue 14 are printed, marked as quoted.

    .venv/bin/python benchmarks/boards.py [--quick]      (--quick: qemu-mps2-an386 only)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert
from firmforge.targets.board.build import core_functions

from examples import mobilenet
from examples.mnist import MnistCNN, load_split, shared_dir, train

BOARDS = ["qemu-mps2-an386", "qemu-mps2-an385", "qemu-mps2-an500", "qemu-mps2-an505",
          "qemu-riscv32-virt"]
VECTORS = 2
PEER = shared_dir() / "tools" / "peer-tflm"
# TFLM 90b983c2 + CMSIS-NN 99f736a6, arm-none-eabi-gcc 12.2.1 -O2, QEMU 7.2 mps2-an386: the
# figures of ../shared/tools/peer-tflm/README.md and issue 14 (instructions per Invoke, smallest
# arena with which AllocateTensors() succeeds, code = text - model - input)
QUOTED = {"kws_ref_model": (7_697_369, 22_824, 77_230), "ad01_int8": (583_042, 3_012, 46_296)}
PEER_NAMES = {"kws": "kws_ref_model", "ad": "ad01_int8"}


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
    model, calib = mobilenet.model_and_data()
    yield "mobilenet_96", convert(model, calibration=calib, name="mobilenet", progress=False), \
        calib[:VECTORS]


def peer_figures() -> tuple[dict[str, tuple[int, int, int]], str]:
    """model -> (instructions, smallest arena, code bytes) of TFLM+CMSIS-NN, and where from."""
    build = Path(os.environ.get("PEER_BUILD", "/tmp/peer-tflm-build"))
    if (build / "models.txt").exists() and any((build / "cmsis" / "fw").glob("*.elf")):
        r = subprocess.run([str(PEER / "run.sh")], capture_output=True, text=True,
                           env={**os.environ, "PEER_BUILD": str(build)})
        found = {}
        for line in r.stdout.splitlines():
            cells = [c.strip().replace(",", "") for c in line.strip().strip("|").split("|")]
            if len(cells) >= 12 and cells[0] in PEER_NAMES and cells[11] == "yes":
                found[PEER_NAMES[cells[0]]] = (int(cells[2]), int(cells[7]), int(cells[9]))
        if found:
            return found, (f"measured now by ../shared/tools/peer-tflm/run.sh ({build}; outputs "
                           "equal to the host tflite-micro package)")
    return QUOTED, ("quoted from ../shared/tools/peer-tflm/README.md and issue 14 (the peer build "
                    f"is absent: no {build}/models.txt)")


def main() -> None:
    boards = BOARDS[:1] if "--quick" in sys.argv else BOARDS
    peer, source = peer_figures()
    head = (f"{'model':<14} {'board':<18} {'MACs':>10} {'instructions':>12} {'/MAC':>6} "
            f"{'code':>8} {'consts':>8} {'arena':>7} {'I/O':>6} {'stack':>6} {'RAM':>7} "
            f"{'reserved':>8} {'equal':>5}  TFLM+CMSIS-NN (instructions, /MAC, arena, code)")
    print(head)
    print("-" * len(head))
    kernels = {}
    mismatches = []
    for name, proj, x in models():
        macs = proj.report()["macs"]
        plan = proj.sources().plan
        io = sum(v.nbytes for v in [*proj.graph.inputs, *proj.graph.outputs])
        for board in boards:
            with tempfile.TemporaryDirectory() as d:
                fw = proj.build(board, Path(d), x)
                res = fw.run(x)
                split = fw.flash_split
                if board == "qemu-mps2-an386":
                    kernels[name] = core_functions(fw.dir)
            consts = split.weights + split.params
            if not res.equal:
                mismatches.append(f"{name} on {board}")
            ram = plan.arena_size + plan.state_size + io + res.stack_bytes
            tflm = ""
            if board == "qemu-mps2-an386" and name in peer:
                insns, arena, code = peer[name]
                tflm = f"{insns:,}, {insns / macs:.2f}, {arena:,} B, {code:,} B"
            print(f"{name:<14} {board:<18} {macs:>10,} {res.instructions:>12,} "
                  f"{res.instructions / macs:>6.2f} {split.code:>7,}B {consts:>7,}B "
                  f"{plan.arena_size + plan.state_size:>6,}B {io:>5,}B {res.stack_bytes:>5,}B "
                  f"{ram:>6,}B {res.stack_reserved:>7,}B {res.equal!s:>5}  {tflm}")
    print("\ncode: flash minus weights/tables/parameter structs (consts) and test vectors, from the "
          "linker map;\nRAM = arena + I/O buffers (input and output, the runner's) + stack (measured "
          "high-water mark);\nreserved: the stack the firmware reserves (measured at build time plus "
          "a margin); the linked RAM adds a 32 B guard.")
    print(f"TFLM+CMSIS-NN figures: {source}.")
    for name, fns in kernels.items():
        print(f"\nC core functions linked into {name} on qemu-mps2-an386 ({len(fns)}): "
              f"{', '.join(fns)}")
    if mismatches:
        # a figure measured on wrong outputs is no figure: fail the benchmark (and `make bench`)
        sys.exit("outputs differ from the reference: " + ", ".join(mismatches))


if __name__ == "__main__":
    main()
