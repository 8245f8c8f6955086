"""The C core and generated model C compile warning-free for every target family.

`make test` installs the cross compilers (`make toolchains`); a missing one is a failure here,
not a skip, because the promise is that all four compile the same sources.
"""

import shutil
import subprocess

import numpy as np
import pytest

from firmforge.targets.c.host import STRICT_FLAGS
from firmforge.targets.c.writer import generate
from firmforge.targets.paths import core_dir, core_sources

from cases import act_quant, bias, out_quant_for_acc, single, weights, weights_s4

TARGETS = {
    "gcc": ["-O2"],
    "arm-none-eabi-gcc": ["-Os", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                          "-mfpu=fpv4-sp-d16"],
    "riscv64-unknown-elf-gcc": ["-Os", "-march=rv32imac", "-mabi=ilp32", "-ffreestanding"],
    "avr-gcc": ["-Os", "-mmcu=atmega328p"],
}


def _model_sources(tmp_path):
    from firmforge.converter.ir import DType, Value
    from firmforge.converter.ops.dense import Dense

    rng = np.random.default_rng(0)
    xq = act_quant(rng)
    x = Value("x", (1, 24), DType.s8, xq)
    for name, make in (("cross", weights), ("cross4", weights_s4)):  # int8, packed int4
        w = make(rng, (7, 24), 0)
        g = single(Dense, "fc/1", [x, w, bias(rng, 7, 500)],
                   out_quant_for_acc(rng, xq, w.quant, 24))
        generate(g, name).write(tmp_path)
    return sorted(tmp_path.glob("*.c"))


@pytest.mark.parametrize("cc", list(TARGETS))
@pytest.mark.parametrize("std", ["-std=c99", "-std=gnu99"])
def test_core_and_model_compile_clean(cc, std, tmp_path):
    assert shutil.which(cc), f"{cc} is not installed (run `make toolchains`)"
    flags = [f for f in STRICT_FLAGS if f != "-std=c99"] + [std] + TARGETS[cc]
    if std == "-std=gnu99":
        flags.remove("-pedantic")  # gnu99 enables the AVR __flash address space
    sources = core_sources() + _model_sources(tmp_path)
    for c in sources:
        r = subprocess.run([cc, *flags, "-I", str(core_dir()), "-I", str(tmp_path), "-c", str(c),
                            "-o", str(tmp_path / (c.stem + ".o"))], capture_output=True, text=True)
        assert r.returncode == 0, f"{cc} {c.name}:\n{r.stderr}"
