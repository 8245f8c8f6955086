"""Input and output buffers larger than the stack, on every emulated family: the firmware runs
them correctly (the runner's buffers are static, not on the stack) or the build refuses with a
clear error before compiling. The case that once hung: a 27 KB input on an 8 KB stack."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from firmforge.converter import convert
from firmforge.targets.board.build import FitError

# one board per emulated family (Cortex-M, the two RISC-V machines, AVR)
BOARDS = ["qemu-mps2-an386", "qemu-mps2-an505", "qemu-riscv32-virt", "qemu-sifive-e",
          "simavr-atmega328p"]


def _project(n: int):
    """A one-layer model whose input and output hold n bytes each (int8 LeakyReLU)."""
    x = np.random.default_rng(n).standard_normal((8, n)).astype(np.float32)
    return convert(nn.Sequential(nn.LeakyReLU(0.1)).eval(), calibration=x, name="bigio",
                   progress=False), x[:2]


@pytest.mark.parametrize("board", BOARDS)
def test_io_larger_than_the_stack_runs_correctly(board, tmp_path):
    # 600 B each way fits the atmega328p's 2 KB next to its 512 B stack; the other boards take
    # 6,000 B each way, far past the stack they reserve (a few hundred bytes)
    n = 600 if board.startswith("simavr") else 6000
    proj, x = _project(n)
    fw = proj.build(board, tmp_path, x)
    res = fw.run()
    assert res.equal and np.array_equal(res.outputs, proj.reference(x))
    assert 2 * n > res.stack_reserved > res.stack_bytes > 0


def test_io_larger_than_the_ram_is_refused_before_compiling(tmp_path):
    proj, x = _project(3000)
    with pytest.raises(FitError, match=r"does not fit board simavr-atmega328p: RAM: needs at "
                                       r"least [\d,]+ B"):
        proj.build("simavr-atmega328p", tmp_path, x)
    assert not (tmp_path / "firmware.elf").exists()
