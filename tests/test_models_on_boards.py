"""The benchmark models as firmware on every emulated 32-bit core family: the MLPerf Tiny
keyword model and the MobileNet-style 96x96x3 model equal the reference byte for byte on
Cortex-M3 (an385, portable kernels), M4 (an386, DSP fast paths), M7 (an500), M33 (an505, DSP fast
paths) and RISC-V (riscv32-virt, portable kernels), from the same generated sources; and the MNIST
demo CNN on two emulated MCU SoCs (STM32F405, nRF51822) through their UARTs."""

from __future__ import annotations

import subprocess

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


@pytest.fixture(scope="module")
def mnist_cnn():
    from examples.mnist import MnistCNN, load_split, train

    if not (shared_dir() / "data" / "mnist").is_dir():
        pytest.skip(f"MNIST lives in {shared_dir()}/data/mnist, which is absent")
    x_tr, y_tr, x_te, y_te = load_split(shared_dir())
    model = train(MnistCNN(), x_tr[:2000], y_tr[:2000], epochs=2)
    proj = convert(model, calibration=x_tr[:200], name="mnist", progress=False)
    return proj, x_te[:4], y_te[:4]


@pytest.mark.parametrize("board", ["qemu-netduinoplus2", "qemu-microbit"])
def test_mnist_cnn_on_emulated_socs_through_their_uart(mnist_cnn, board, tmp_path):
    """Real MCU SoCs in QEMU (STM32F405, nRF51822 Cortex-M0) with the real boards' console: the
    result lines come from the modelled USART/UART, not from semihosting, whose console the
    firmware does not even contain."""
    proj, x, y = mnist_cnn
    fw = proj.build(board, tmp_path, x)
    res = fw.run()
    assert res.equal and np.array_equal(res.outputs, proj.reference(x))
    assert (res.outputs.argmax(1) == y).mean() >= 0.75  # a trained network, not noise
    assert res.counts[0] > 100_000
    text = subprocess.run([fw.board.tool("objdump"), "-d", str(fw.elf)], capture_output=True,
                          text=True, check=True).stdout
    # one semihosting call site: the exit (QEMU stands in for a real board's debugger there)
    assert text.count("bkpt\t0x00ab") == 1
