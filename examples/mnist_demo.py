"""`make demo`: train a small CNN on MNIST, convert it to int8 C, run the C on the host.

Prints float and int8 accuracy on the 2,000 held-back images, weight and arena bytes, and the
time each stage took; ends by writing the HTML report (``OUT/report/index.html``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter import convert

from examples.mnist import MnistCNN, float_accuracy, load_split, train

BOARD = "qemu-mps2-an386"
FIRMWARE_IMAGES = 2000  # test images embedded in the firmware image (784 B each, in flash)


class Stages:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float]] = []

    def __call__(self, name: str):
        stages = self

        class _Timer:
            def __enter__(self):
                print(f"-- {name} ...", flush=True)
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                stages.rows.append((name, time.perf_counter() - self.t))

        return _Timer()


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo-out")
    stage = Stages()
    with stage("load MNIST (../shared, 8,000 train / 2,000 test)"):
        x_train, y_train, x_test, y_test = load_split()
    with stage("train float CNN"):
        model = train(MnistCNN(), x_train, y_train)
    with stage("float accuracy"):
        acc_float = float_accuracy(model, x_test, y_test)
    with stage("convert (trace, fold, calibrate on 500 images, quantize, generate C)"):
        proj = convert(model, calibration=x_train[:500], name="mnist")
        proj.write(out_dir)
    with stage("int8 reference on 2,000 images"):
        ref = proj.reference(x_test)
    with stage("generated C on the host (cffi), 2,000 images"):
        host = proj.run_host(x_test)
    n_fw = FIRMWARE_IMAGES
    with stage(f"firmware for {BOARD}: build, run {n_fw} embedded test images in QEMU"):
        fw = proj.build(BOARD, out_dir / BOARD, x_test[:n_fw])
        run = fw.run(x_test[:n_fw])
    with stage(f"report: profile build on {BOARD}, one image; HTML with figures"):
        pfw = proj.build(BOARD, out_dir / f"{BOARD}-profile", x_test[:1], profile=True)
        page = proj.report_html(out_dir / "report", calibration=x_train[:500], firmware=pfw,
                                run=pfw.run())
    rep = proj.report()
    acc_int8 = float((host.argmax(1) == y_test).mean())
    acc_fw = float((run.outputs.argmax(1) == y_test[:n_fw]).mean())
    same = bool(np.array_equal(host, ref)) and run.equal
    print()
    print(f"float accuracy      {100 * acc_float:6.2f} %")
    print(f"int8 accuracy (C)   {100 * acc_int8:6.2f} %   (C == reference bit for bit: {same})")
    print(f"weights             {rep['weight_bytes']:,} B int8/int32 "
          f"(float32: {4 * sum(p.numel() for p in model.parameters()):,} B)")
    print(f"arena               {rep['arena_bytes']:,} B (lower bound {rep['arena_lower_bound']:,} B)"
          f" + input {rep['input_bytes']} B + output {rep['output_bytes']} B")
    print(f"MACs per inference  {rep['macs']:,}")
    print(f"C sources           {out_dir}/")
    print(f"report              {page} (figures beside it, numbers in report.json)")
    print()
    print(f"on {BOARD} (Cortex-M4F, QEMU), {n_fw} embedded test images:")
    print(f"  accuracy          {100 * acc_fw:6.2f} %   (outputs == reference: {run.equal})")
    images = x_test[:n_fw].size  # one int8 byte per pixel in the firmware
    print(f"  flash             {fw.flash_bytes:,} B = code {fw.flash_bytes - fw.const_bytes - images:,}"
          f" B + weights and tables {fw.const_bytes:,} B + test images {images:,} B")
    print(f"  RAM               {fw.ram_bytes:,} B (arena {rep['arena_bytes']:,} B, stack "
          f"{fw.board.stack:,} B)")
    print(f"  instructions      {run.instructions:,} per inference "
          f"({run.instructions / rep['macs']:.2f} per MAC; counted by a QEMU plugin, not cycles)")
    print()
    for name, seconds in stage.rows:
        print(f"{seconds:8.2f} s  {name}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
