"""Every kernel-table row, run where the kernels run: compiled for an emulated board and executed
in its emulator, many cases per firmware image, every output byte equal to the reference.

- The rows whose kernels have Cortex-M DSP fast paths (``#if __ARM_FEATURE_DSP``) run 200
  random cases on Cortex-M4 (qemu-mps2-an386) and Cortex-M33 (qemu-mps2-an505), where the fast
  paths are compiled in: there they must give the portable kernels' bytes; and 50 on Cortex-M3
  (qemu-mps2-an385) and RISC-V (qemu-riscv32-virt), which run the portable paths.
- Every other row runs 50 cases on Cortex-M4 and on RISC-V (qemu-riscv32-virt: another compiler,
  ABI and word order of arguments), so no kernel is only ever tested on the host.
- Every row also draws 50 cases for the Cortex-M0 of qemu-microbit (ARMv6-M, rpi-pico's
  architecture: no DSP extension, no divide instruction; output through the nRF51 UART), packed
  into images as for the AVR below.
- Every row also draws 50 cases for the ATmega328P (simavr-atmega328p: an 8-bit core whose
  ``int`` has 16 bits, so every integer promotion in the C core is tested where it differs);
  the cases that fit its 2 KB of RAM run, packed into as few firmware images as their memory
  allows (``check_row_packed``), and the rest are counted. The end of the run prints both
  counts (README quotes them) and the rows that lost the most draws, such as the long
  accumulations (long by design) and the global means (inputs up to 32x32x19).

Those are the counts of ``--full-tables`` (``make test-boards``, which CI runs after
``make test``); ``make test`` runs the first quarter of the same draws (12 per row on AVR).

Rows with float inputs or outputs (the f32 quantize kernels) and cases that mix dtypes among
their inputs stay host-only: the firmware's test vectors are integers of one type.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from firmforge.converter.ir import DType

from kernel_harness import check_row_on_board, check_row_packed

# Rows whose kernels have DSP fast paths, checked on the cores that compile them in, and with
# fewer cases on cores without the DSP extension, which take their portable path.
FAST_PATH_ROWS = {"conv2d_s8", "conv2d_s8_1x1", "conv2d_s8_1x1_inplace", "conv2d_s8_1x1_small",
                  "dwconv2d_s8", "dense_s8", "dense_s8_compact", "avgpool2d_s8", "maxpool2d_s8", "add_s8",
                  "dwconv2d_s8_3x3", "dwconv2d_s8_3x3_c4", "dwconv2d_s8_3x3_inplace",
                  "conv2d_s8_im2col", "avgpool2d_s8_global", "maxpool2d_s8_global",
                  "dense_sparse_blockcsr", "conv2d_sparse_blockcsr"}
DSP_BOARDS = ["qemu-mps2-an386", "qemu-mps2-an505"]
NO_DSP_BOARDS = ["qemu-mps2-an385", "qemu-riscv32-virt"]
PORTABLE_BOARDS = ["qemu-mps2-an386", "qemu-riscv32-virt"]
# The 8-bit board, whose 16-bit int is what the C core's integer promotions must survive: every
# row, the cases of its own draws that fit 2 KB of RAM (see check_row_packed).
AVR_BOARD = "simavr-atmega328p"
AVR_CASES = 50
M0_BOARD = "qemu-microbit"  # Cortex-M0 (ARMv6-M: no DSP, no divide), 16 KB of RAM
M0_CASES = 50


def _rows():
    rows = []
    for path in sorted(Path(__file__).parent.glob("test_kernels_*.py")):
        if path.stem != Path(__file__).stem:
            rows += importlib.import_module(path.stem).ROWS
    return rows


def _runs_on_boards(row) -> bool:
    """Integer inputs of one dtype and integer outputs of one dtype (checked on a few cases)."""
    rng = np.random.default_rng(0)
    for _ in range(8):
        g = row.build(rng)
        ins, outs = {v.dtype for v in g.inputs}, {v.dtype for v in g.outputs}
        if DType.f32 in ins | outs or len(ins) != 1 or len(outs) != 1:
            return False
    return True


ROWS = [r for r in _rows() if _runs_on_boards(r)]
CASES = ([(r, b, 200) for r in ROWS if r.name in FAST_PATH_ROWS for b in DSP_BOARDS]
         + [(r, b, 50) for r in ROWS if r.name in FAST_PATH_ROWS for b in NO_DSP_BOARDS]
         + [(r, b, 50) for r in ROWS if r.name not in FAST_PATH_ROWS for b in PORTABLE_BOARDS])


def test_every_fast_path_row_exists():
    assert FAST_PATH_ROWS <= {r.name for r in ROWS}


@pytest.mark.parametrize(("row", "board", "count"), CASES,
                         ids=[f"{r.name}-{b}" for r, b, _ in CASES])
def test_row_in_emulator(row, board, count, tmp_path, request):
    if not request.config.getoption("--full-tables"):
        count //= 4  # `make test`: the first quarter of the same draws (the full set: CI's
        #              `make test-boards`)
    check_row_on_board(row, board, tmp_path, count=count)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.name}-{AVR_BOARD}" for r in ROWS])
def test_row_on_avr(row, tmp_path, request):
    count = AVR_CASES if request.config.getoption("--full-tables") else AVR_CASES // 4
    p = check_row_packed(row, AVR_BOARD, tmp_path, count)
    # for the count at the end of the run (conftest.py), from whichever worker ran it
    request.node.user_properties.append(("avr_cases", (row.name, p.ran, p.too_big, p.images)))
    assert p.ran, (f"{row.name}: none of its {count} cases fits {AVR_BOARD}: draw smaller "
                   "shapes for it, or leave it out of the AVR tables with a reason")


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.name}-{M0_BOARD}" for r in ROWS])
def test_row_on_cortex_m0(row, tmp_path, request):
    """The ARMv6-M build (rpi-pico's core) on the micro:bit's nRF51822, output read from its
    UART: the cases that fit its 16 KB, packed as on the AVR."""
    count = M0_CASES if request.config.getoption("--full-tables") else M0_CASES // 4
    p = check_row_packed(row, M0_BOARD, tmp_path, count)
    assert p.ran, f"{row.name}: none of its {count} cases fits {M0_BOARD}"
