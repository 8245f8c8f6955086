"""Firmware in the emulators: each emulated board runs a generated conv net == the reference.

Per board, one firmware project (conv 3x3 + max-pool + reshape + dense, int8) is built once;
its outputs must equal ``converter.reference`` bit for bit, with one instruction (QEMU) or
cycle (simavr) count per inference, the same on a second run. Variants of the same project
(only main.c replaced, so make recompiles one file) check the exit status, faults, a firmware
that never ends, one that prints garbage, and that the counters are exact: a loop of 1,000
more iterations costs exactly 2,000 more instructions (two per iteration), or 4,000 more AVR
cycles (sbiw + taken brne, two cycles each).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, Value
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.pool import MaxPool2d
from firmforge.converter.ops.shape import Reshape
from firmforge.targets.board import build
from firmforge.targets.board.emulate import (
    EmulatorMissingError,
    EmulatorTimeout,
    FirmwareCrash,
    StackOverflow,
    run_elf,
)
from firmforge.targets.board.project import write_project
from firmforge.targets.board.spec import Board, load_board
from firmforge.targets.c.vectors import FirmwareOutputError, parse_outputs
from firmforge.targets.c.writer import generate

from cases import act_quant, bias, out_quant_for_acc, random_inputs, weights

BOARDS = ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505",
          "qemu-riscv32-virt", "qemu-sifive-e", "simavr-atmega328p"]
VECTORS = 3


def conv_net(rng: np.random.Generator) -> Graph:
    """x[1,6,6,2] -> conv 3x3 (4 ch, pad 1, relu) -> max-pool 2x2 -> [1,36] -> dense 10."""
    xq = act_quant(rng)
    x = Value("x", (1, 6, 6, 2), DType.s8, xq)
    w1 = weights(rng, (4, 3, 3, 2), axis=0, name="w1")
    c_q = out_quant_for_acc(rng, xq, w1.quant, 18)
    conv = Conv2d(name="conv", inputs=[x, w1, bias(rng, 4, 300, "b1")], outputs=[],
                  padding=Padding(1, 1, 1, 1), act=Act.RELU)
    conv.outputs = [Value("c", (1, 6, 6, 4), DType.s8, c_q)]
    pool = MaxPool2d(name="pool", inputs=conv.outputs, outputs=[])
    pool.outputs = [Value("p", (1, 3, 3, 4), DType.s8, c_q)]
    flat = Reshape(name="flat", inputs=pool.outputs, outputs=[], shape=(1, 36))
    flat.outputs = [Value("f", (1, 36), DType.s8, c_q)]
    w2 = weights(rng, (10, 36), axis=0, name="w2")
    fc = Dense(name="fc", inputs=[flat.outputs[0], w2, bias(rng, 10, 2000, "b2")], outputs=[])
    fc.outputs = [Value("y", (1, 10), DType.s8, out_quant_for_acc(rng, c_q, w2.quant, 36))]
    g = Graph("net", [conv, pool, flat, fc], [x], fc.outputs)
    g.validate()
    return g


class Built:
    """One board's project, built once; ``variant`` rebuilds it with another main.c."""

    def __init__(self, board: Board, root: Path) -> None:
        rng = np.random.default_rng(sum(map(ord, board.name)))
        self.board, self.graph = board, conv_net(rng)
        self.inputs = random_inputs(rng, self.graph, batch=VECTORS)
        self.dir = root / board.name
        write_project(generate(self.graph, "net"), self.graph, board, self.dir, self.inputs)
        self.elf = build.make(board, self.dir)

    def variant(self, name: str, main_c: str) -> Path:
        d = self.dir.parent / f"{self.board.name}-{name}"
        shutil.copytree(self.dir, d)  # copy2 keeps mtimes: only main.c is rebuilt
        (d / "main.c").write_text(main_c)
        (d / "build" / "main.o").unlink()  # whatever the timestamps' resolution
        return build.make(self.board, d)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("emu")
    cache: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            board = load_board(name)
            assert board.can_build and board.can_emulate, f"{name}: run `make toolchains`"
            cache[name] = Built(board, root)
        return cache[name]

    return get


def _main(body: str) -> str:
    """A main.c for a variant: the platform and ``body``, no model."""
    return ('#include <stdint.h>\n#include "ff_platform.h"\n\n'
            f"int main(void) {{\n    ff_platform_init();\n{body}\n    return 0;\n}}\n")


@pytest.mark.parametrize("name", BOARDS)
def test_model_matches_reference_with_repeatable_counts(built, name):
    b = built(name)
    want, _ = reference.run(b.graph, b.inputs)
    first = run_elf(b.board, b.elf, timeout=30)
    got = parse_outputs(first.text, b.graph, VECTORS)
    for w, o in zip(want, got, strict=True):
        np.testing.assert_array_equal(o, w)
    assert first.status == 0
    assert first.unit == ("cycles" if b.board.emulator.kind == "simavr" else "instructions")
    assert len(first.counts) == VECTORS and min(first.counts) > 0
    again = run_elf(b.board, b.elf, timeout=30)
    assert again.counts == first.counts and again.text == first.text
    sizes = build.elf_sizes(b.board, b.elf)
    assert 0 < sizes.flash <= b.board.flash.size and b.board.stack < sizes.ram <= b.board.ram.size
    if b.board.family != "avr":  # the template's linker script reserves the stack as .stack
        assert sizes.sections[".stack"][1] == b.board.stack


@pytest.mark.parametrize("name", BOARDS)
def test_exit_status_reaches_the_host(built, name):
    b = built(name)
    run = run_elf(b.board, b.variant("exit", _main('    ff_platform_putc(\'x\');\n'
                                                   "    ff_platform_exit(7);")), timeout=30)
    assert run.status == 7 and run.text == "x"


_TRAP = {"avr": "    *(volatile uint8_t *)0x2000u = 1u; /* past the end of RAM */",
         "cortex-m": "    __builtin_trap();", "riscv": "    __builtin_trap();"}


@pytest.mark.parametrize("name", BOARDS)
def test_fault_is_a_firmware_crash(built, name):
    b = built(name)
    elf = b.variant("trap", _main(_TRAP[b.board.family]))
    with pytest.raises(FirmwareCrash, match=r"ff:(fault|crash)"):
        run_elf(b.board, elf, timeout=30)


# Cortex-M exceptions a firmware can raise by itself, and the name the fault handler must print
# for each (it reads the exception number from IPSR); the undefined instruction is a UsageFault
# because the startup enables that fault's own handler on these cores.
_EXCEPTIONS = {
    "UsageFault": "    __builtin_trap();",
    "NMI": "    *(volatile uint32_t *)0xE000ED04u = 1u << 31; /* ICSR.NMIPENDSET */",
    "SVCall": '    __asm__ volatile("svc #0");',
    "PendSV": "    *(volatile uint32_t *)0xE000ED04u = 1u << 28; /* ICSR.PENDSVSET */\n"
              '    __asm__ volatile("dsb\\n\\tisb" ::: "memory");',
    "IRQ": "    *(volatile uint32_t *)0xE000E100u = 1u; /* NVIC_ISER0: enable IRQ 0 */\n"
           "    *(volatile uint32_t *)0xE000E200u = 1u; /* NVIC_ISPR0: pend it */\n"
           '    __asm__ volatile("dsb\\n\\tisb" ::: "memory");',
}


@pytest.mark.parametrize("name", [b for b in BOARDS if b.startswith("qemu-mps2")])
def test_cortex_m_exception_is_reported_by_name(built, name):
    """Every exception reaches the one fault handler, which names it from IPSR."""
    b = built(name)
    for exc, body in _EXCEPTIONS.items():
        elf = b.variant(f"exc-{exc}", _main(body + "\n    ff_platform_exit(0);"))
        with pytest.raises(FirmwareCrash, match=rf"ff:fault {exc}\n"):
            run_elf(b.board, elf, timeout=30)


def _processes_running(path: Path) -> list[int]:
    """Pids whose command line mentions ``path`` (read from /proc, no psutil)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and p.name != str(os.getpid()):
            try:
                if str(path).encode() in (p / "cmdline").read_bytes():
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-riscv32-virt", "simavr-atmega328p"])
def test_endless_firmware_times_out_and_leaves_nothing_running(built, name):
    """The timeout says where the firmware was: the PC (QEMU's QMP socket, the simavr
    runner's report), the function around it from the ELF's symbols, and the SP."""
    b = built(name)
    elf = b.variant("spin", _main("    for (;;) {\n    }"))
    with pytest.raises(EmulatorTimeout, match="did not finish") as e:
        run_elf(b.board, elf, timeout=0.5)
    assert re.search(r"at pc=0x[0-9a-f]+ in main\+0x[0-9a-f]+, sp=0x[0-9a-f]+ \(\d+ B of the "
                     r"[\d,]+ B stack in use\)", str(e.value)), str(e.value)
    assert _processes_running(elf) == []


def test_timeout_with_the_stack_pointer_below_the_stack_is_an_overflow(built):
    """A firmware stuck with its SP below the stack (moved there without a store the trap zone
    would see) is reported as the stack overflow it is, not as a plain timeout."""
    b = built("qemu-mps2-an385")
    elf = b.variant("sunk", _main('    __asm__ volatile("sub sp, sp, #0x100000");\n'
                                  "    for (;;) {\n    }"))
    with pytest.raises(StackOverflow, match=r"stopped making progress with pc=0x[0-9a-f]+ in "
                                            r"main\+0x[0-9a-f]+, sp=0x[0-9a-f]+: [\d,]+ B below"):
        run_elf(b.board, elf, timeout=0.5)
    assert _processes_running(elf) == []


@pytest.mark.parametrize("name", ["qemu-mps2-an386", "simavr-atmega328p"])
def test_garbage_output_is_an_output_error(built, name):
    b = built(name)
    body = "".join(f"    ff_platform_putc('{c}');\n" for c in [*"hello", "\\n"])
    run = run_elf(b.board, b.variant("garbage", _main(body)), timeout=30)
    assert run.status == 0
    with pytest.raises(FirmwareOutputError, match="never finished"):
        parse_outputs(run.text, b.graph, VECTORS)


# A counted loop between the marks; its cost per iteration is fixed by the instruction set.
_LOOPS = {
    "cortex-m": ('movw r0, #{n}\\n1: subs r0, r0, #1\\n bne 1b', '"r0", "cc"', 2),
    "riscv": ('li t0, {n}\\n1: addi t0, t0, -1\\n bnez t0, 1b', '"t0"', 2),
    "avr": ('ldi r24, lo8({n})\\n ldi r25, hi8({n})\\n1: sbiw r24, 1\\n brne 1b',
            '"r24", "r25", "cc"', 4),
}


@pytest.mark.parametrize("name", ["qemu-mps2-an385", "qemu-sifive-e", "simavr-atmega328p"])
def test_counts_are_exact(built, name):
    b = built(name)
    asm, clobbers, per_iteration = _LOOPS[b.board.family]
    counts = []
    for n in (100, 1100):
        body = (f"    ff_platform_mark_start();\n"
                f'    __asm__ volatile("{asm.format(n=n)}" ::: {clobbers});\n'
                f"    ff_platform_mark_stop();\n    ff_platform_exit(0);")
        run = run_elf(b.board, b.variant(f"loop{n}", _main(body)), timeout=30)
        assert len(run.counts) == 1
        counts.append(run.counts[0])
    assert counts[1] - counts[0] == 1000 * per_iteration, counts


def test_dwt_cycle_lines_follow_each_output_line(built, tmp_path):
    """FF_CYCLES_DWT (real boards) prints "ff:cycles <k> <n>" after each output line; QEMU
    does not model the counter (n reads 0), but the lines and the outputs must be intact."""
    b = built("qemu-mps2-an385")
    board = replace(b.board, defines={**b.board.defines, "FF_CYCLES_DWT": "1"})
    write_project(generate(b.graph, "net"), b.graph, board, tmp_path, b.inputs)
    run = run_elf(board, build.make(board, tmp_path), timeout=30)
    lines = run.text.splitlines()
    outs = [i for i, line in enumerate(lines) if line.startswith("ff:out ")]
    assert [lines[i + 1].rsplit(" ", 1)[0] for i in outs] == [f"ff:cycles {k}" for k in
                                                              range(VECTORS)]
    want, _ = reference.run(b.graph, b.inputs)
    np.testing.assert_array_equal(parse_outputs(run.text, b.graph, VECTORS)[0], want[0])


def test_ram_image_entry_stub_boots(built, tmp_path):
    """FF_RAM_IMAGE_ENTRY (RP2040 RAM images): an image entered at its first byte, with no
    vector table at the reset VTOR. QEMU's loader device starts the core at the stub; the stub
    must find the vector table, the stack and the reset handler on its own."""
    b = built("qemu-mps2-an385")
    emu = b.board.emulator
    board = replace(b.board, defines={**b.board.defines, "FF_RAM_IMAGE_ENTRY": "1"},
                    flash=replace(b.board.flash, origin=0x20000000, size=0x100000),
                    ram=replace(b.board.ram, origin=0x20100000, size=0x100000),
                    emulator=replace(emu, args=(*emu.args, "-device",
                                                "loader,addr=0x20000001,cpu-num=0")))
    write_project(generate(b.graph, "net"), b.graph, board, tmp_path, b.inputs)
    run = run_elf(board, build.make(board, tmp_path), timeout=30)
    want, _ = reference.run(b.graph, b.inputs)
    np.testing.assert_array_equal(parse_outputs(run.text, b.graph, VECTORS)[0], want[0])


def test_missing_emulator_names_the_package():
    board = load_board("qemu-mps2-an385")
    gone = replace(board, emulator=replace(board.emulator, program="qemu-system-nonexistent"))
    with pytest.raises(EmulatorMissingError, match="apt-get install qemu-system-arm"):
        run_elf(gone, Path(__file__))
