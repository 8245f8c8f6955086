"""The firmware's stack on emulated boards: measured on every run (a painted stack), sized from
the measurement on "auto" boards, and an overflow is a ``StackOverflow`` naming the board, the
reserved and the needed size (a trap, or the guard check after an inference), never a hang or a
silent "equal"; a firmware that never ends times out saying where it was. Plus the flash split
(code apart from constants and test vectors) and the kernels the linker keeps."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.targets.board import build
from firmforge.targets.board.emulate import StackOverflow, run_elf
from firmforge.targets.board.spec import auto_stack, load_board

MEASURED = ["qemu-mps2-an386", "qemu-mps2-an505", "qemu-riscv32-virt", "simavr-atmega328p"]


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 8)).eval()
    x = np.random.default_rng(3).standard_normal((64, 16)).astype(np.float32)
    return convert(model, calibration=x, name="mlp", progress=False), x[:2]


@pytest.fixture(scope="module")
def built(mlp, tmp_path_factory):
    """The mlp built once per board with the board file as it is, and its first run."""
    cache = {}

    def get(name: str):
        if name not in cache:
            proj, x = mlp
            fw = proj.build(name, tmp_path_factory.mktemp(name), x)
            cache[name] = fw, fw.run()
        return cache[name]

    return get


@pytest.mark.parametrize("name", MEASURED)
def test_stack_is_measured_and_sized(built, name):
    fw, res = built(name)
    assert res.equal
    # main -> ff_vectors_run -> mlp_run -> kernel, and the runner's printing: tens of bytes at
    # least; the reserved stack holds it
    assert 32 < res.stack_bytes < res.stack_reserved == fw.stack_reserved
    if fw.board.stack_auto:  # QEMU boards: sized by the build from its own measurement
        assert fw.stack_measured == res.stack_bytes
        assert fw.stack_reserved == auto_stack(res.stack_bytes) < 1024
        assert fw.built.sizes.sections[".stack"][1] == fw.stack_reserved
        assert fw.ram_bytes < fw.stack_reserved + 1024  # no 8 KB reserved whatever the need
    else:  # AVR: the board's budget (avr-libc's stack is no section)
        assert fw.stack_measured is None and res.stack_reserved == load_board(name).stack


def _board_file(tmp_path: Path, name: str, stack: int) -> Path:
    text = load_board(name).path.read_text()
    p = tmp_path / f"{name}-tiny.toml"
    p.write_text(re.sub(r"(?m)^stack = .*$", f"stack = {stack}", text, count=1))
    return p


@pytest.mark.parametrize("name", ["qemu-mps2-an386", "qemu-riscv32-virt", "simavr-atmega328p"])
def test_overflow_is_a_stack_overflow_with_the_size_needed(built, mlp, name, tmp_path):
    """A board file with a 64-byte stack: the model needs more. The firmware traps (QEMU
    boards) or finds its stack past the budget (AVR) and the error names the board, the 64 B
    reserved and the size measured with the board's own stack: no timeout, no output."""
    need = built(name)[1].stack_bytes
    proj, x = mlp
    fw = proj.build(str(_board_file(tmp_path, name, 64)), tmp_path / "fw", x)
    with pytest.raises(StackOverflow) as e:
        fw.run(timeout=30)
    err = e.value
    assert (err.board, err.reserved, err.needed) == (f"{name}-tiny", 64, need)
    assert f"stack overflow on {name}-tiny: the firmware needs {need:,} B of stack, 64 B are " \
           "reserved" in str(err)


_DEEP_MAIN = """#include <stdint.h>
#include "ff_platform.h"

/* one frame of 4 KB: it skips the 32-byte guard below the stack */
__attribute__((noinline)) static int32_t deep(int32_t n) {
    volatile int32_t buf[1024];
    for (int32_t i = 0; i < 1024; i += 256) {
        buf[i] = n + i;
    }
    return buf[n & 1023];
}

int main(void) {
    ff_platform_init();
    ff_platform_putc((char)('0' + (deep(3) & 7)));
    ff_platform_exit(0);
    return 0;
}
"""


@pytest.mark.parametrize("name", ["qemu-mps2-an386", "qemu-riscv32-virt"])
def test_a_frame_larger_than_the_guard_traps(built, name, tmp_path):
    """The trap zone below the guard (an MPU region, a locked PMP entry) catches a frame that
    jumps over the guard: it would otherwise write below the RAM unseen and exit 0."""
    fw = built(name)[0]
    d = tmp_path / "deep"
    shutil.copytree(fw.dir, d)
    (d / "main.c").write_text(_DEEP_MAIN)
    (d / "build" / "main.o").unlink()
    with pytest.raises(StackOverflow, match=r"trapped it, sp=0x"):
        run_elf(fw.board, build.make(fw.board, d), timeout=30)


def test_flash_split_from_the_linker_map(mlp, built, tmp_path):
    """Code is flash minus the model's constants and the vectors, exactly: the weights the map
    shows are the generator's constant bytes, the vectors are the inputs' bytes, and more
    vectors change the flash by their bytes, the code hardly (the runner's loop bound is an
    immediate of main). Only the dense kernel the model calls (both layers are below
    COMPACT_MACS: the compact one) is linked out of ff_dense.c and ff_dense_s8.c."""
    proj, x = mlp
    fw = built("qemu-mps2-an386")[0]
    split = fw.flash_split
    assert split.weights == fw.const_bytes > 0 and split.params > 0
    assert split.vectors == proj.prepare_input(x)[0].nbytes
    assert fw.code_bytes == split.code == fw.flash_bytes - split.weights - split.params - split.vectors
    assert 1000 < fw.code_bytes < 8000
    more = proj.build("qemu-mps2-an386", tmp_path / "more", np.concatenate([x] * 5))
    assert abs(more.code_bytes - fw.code_bytes) <= 8
    assert more.flash_split.vectors - split.vectors == 4 * split.vectors
    linked = build.core_functions(fw.dir)
    assert linked == ["ff_dense_s8_compact"], linked
    assert not {"ff_dense_s8_s4", "ff_dense_s16_s8", "ff_batch_matmul_s8"} & set(linked)
