"""The benchmark models as firmware on every emulated 32-bit core family: the MLPerf Tiny
keyword model and the MobileNet-style 96x96x3 model equal the reference byte for byte on
Cortex-M3 (an385, portable kernels), M4 (an386, DSP fast paths), M7 (an500), M33 (an505, DSP fast
paths) and RISC-V (riscv32-virt, portable kernels), from the same generated sources."""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter import convert

from conftest import shared_dir
from examples import mobilenet

BOARDS = ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505",
          "qemu-riscv32-virt"]


@pytest.fixture(scope="module")
def kws():
    path = shared_dir() / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent on this machine")
    proj = convert(path)
    # inputs over the whole int8 range and one near the zero point (a quiet input)
    rng = np.random.default_rng(14)
    shape = proj.graph.inputs[0].shape[1:]
    x = np.stack([rng.integers(-128, 128, shape), rng.integers(70, 96, shape)]).astype(np.int8)
    return proj, x


@pytest.fixture(scope="module")
def image():
    model, calib = mobilenet.model_and_data(calibration=8)
    return convert(model, calibration=calib, name="mobilenet", progress=False), calib[:1]


@pytest.mark.parametrize("board", BOARDS)
def test_keyword_model_equals_the_reference(kws, board, tmp_path):
    proj, x = kws
    res = proj.build(board, tmp_path, x).run()
    assert res.equal and np.array_equal(res.outputs, proj.reference(x))


@pytest.mark.parametrize("board", [b for b in BOARDS if b != "qemu-mps2-an386"])
def test_image_model_equals_the_reference(image, board, tmp_path):
    # (qemu-mps2-an386 runs it in test_mobilenet_board.py)
    proj, x = image
    res = proj.build(board, tmp_path, x).run()
    assert res.equal and np.array_equal(res.outputs, proj.reference(x))
