"""Board files: every one parses and is consistent; malformed ones are refused by key and file;
and every real board builds a generated model whose ELF fits and follows the board's memory map.

The memory maps, clocks and architectures expected below are written out from the parts'
datasheets (and ELF attribute names from the Arm/RISC-V ABIs), independently of the board files.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmforge.converter.ir import Act, DType, Graph, Value
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.shape import Pad
from firmforge.converter.plan import plan_memory
from firmforge.converter.project import Project
from firmforge.targets.board import build
from firmforge.targets.board.flash import IMAGE_FILE, images_needed
from firmforge.targets.board.project import write_project
from firmforge.targets.board.spec import Board, BoardError, all_boards, board_names, load_board
from firmforge.targets.c.writer import generate

from cases import act_quant, bias, out_quant_for_acc, random_inputs, single, weights

KB, MB = 1024, 1024 * 1024
# name -> (flash origin, flash size, RAM origin, RAM size, clock the firmware runs at)
REAL = {
    "arduino-uno": (0x0, 32 * KB - 512, 0x100, 2 * KB, 16_000_000),  # minus Optiboot
    "nucleo-f446re": (0x08000000, 512 * KB, 0x20000000, 128 * KB, 16_000_000),  # HSI
    "nucleo-l4r5zi": (0x08000000, 2 * MB, 0x20000000, 640 * KB, 4_000_000),  # MSI
    "stm32f746g-disco": (0x08000000, 1 * MB, 0x20000000, 320 * KB, 16_000_000),  # HSI
    "nrf52840-dk": (0x0, 1 * MB, 0x20000000, 256 * KB, 64_000_000),
    # RP2040: 264 KB of SRAM split into code/constants and data (no flash without boot2)
    "rpi-pico": (0x20000000, 192 * KB, 0x20030000, 72 * KB, 6_500_000),  # ROSC
    "hifive1-revb": (0x20010000, 4 * MB - 64 * KB, 0x80000000, 16 * KB, 16_000_000),
}
EMULATED = ["qemu-mps2-an385", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-mps2-an505", "qemu-microbit",
            "qemu-netduinoplus2",
            "qemu-riscv32-virt", "qemu-sifive-e", "simavr-atmega328p"]
# Arm build attributes (readelf -A): CPU architecture, FP architecture, FP precision.
ARM_ATTRS = {
    "nucleo-f446re": ("v7E-M", "VFPv4-D16", "SP only"),
    "nucleo-l4r5zi": ("v7E-M", "VFPv4-D16", "SP only"),
    "stm32f746g-disco": ("v7E-M", "FPv5/FP-D16 for ARMv8", "SP only"),  # FPv5 single only
    "nrf52840-dk": ("v7E-M", "VFPv4-D16", "SP only"),
    "rpi-pico": ("v6S-M", None, None),
}
DWT_CORES = ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33")


# ---------------------------------------------------------------- every board file


def test_all_board_files_parse():
    names = board_names()
    assert set(REAL) | set(EMULATED) <= set(names), sorted(set(REAL) | set(EMULATED) - set(names))
    boards = all_boards()
    assert [b.name for b in boards] == names
    for b in boards:
        assert (b.emulator is None) != (b.flasher is None), b.name
        assert "\n" not in b.description, b.name  # it lands in a Makefile comment line
        assert 0 < b.stack < b.ram.size
        f, r = b.flash, b.ram
        if b.family != "avr":  # AVR flash and RAM are separate address spaces
            assert f.origin + f.size <= r.origin or r.origin + r.size <= f.origin, b.name
        if b.family == "cortex-m":
            assert f"-mcpu={b.core}" in b.cflags and "-mthumb" in b.cflags, b.name
            hard = any(a in b.cflags for a in ("-mfloat-abi=hard", "-mfloat-abi=softfp"))
            assert ("FF_FPU" in b.defines) == hard, b.name
            consoles = {"FF_CONSOLE_SEMIHOSTING", "FF_CONSOLE_USART_STM32", "FF_CONSOLE_UART_NRF",
                        "FF_CONSOLE_UART_RP2040"}
            assert len(consoles & set(b.defines)) == 1, b.name
            assert len({"FF_EXIT_SEMIHOSTING", "FF_EXIT_SPIN"} & set(b.defines)) == 1, b.name
            # DWT: on real parts that have one; QEMU does not model it
            assert ("FF_CYCLES_DWT" in b.defines) == (b.flasher is not None
                                                      and b.core in DWT_CORES), b.name
        elif b.family == "riscv":
            assert f"-march={b.core}" in b.cflags and "-mabi=ilp32" in b.cflags, b.name
        elif b.family == "avr":
            assert f"-mmcu={b.core}" in b.cflags and b.std == "gnu99", b.name


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_board_memory_map_and_clock(name):
    b = load_board(name)
    assert (b.flash.origin, b.flash.size, b.ram.origin, b.ram.size, b.clock_hz) == REAL[name]
    assert b.emulator is None and b.flasher is not None
    assert b.compiler_package and b.cc == {"cortex-m": "arm-none-eabi-gcc",
                                           "riscv": "riscv64-unknown-elf-gcc",
                                           "avr": "avr-gcc"}[b.family]


def test_part_specific_flags():
    uno = load_board("arduino-uno")
    assert uno.cflags == ("-mmcu=atmega328p", "-Os") and uno.std == "gnu99"
    hifive = load_board("hifive1-revb")
    assert hifive.cflags == ("-march=rv32imac", "-mabi=ilp32", "-ffreestanding")
    assert load_board("stm32f746g-disco").cflags[-1] == "-mfpu=fpv5-sp-d16"
    pico = load_board("rpi-pico")
    assert "-mfloat-abi=soft" in pico.cflags and "FF_RAM_IMAGE_ENTRY" in pico.defines


# ---------------------------------------------------------------- malformed board files

BASE = """description = "a test board"
family = "cortex-m"
core = "cortex-m4"
clock_hz = 16_000_000

[toolchain]
prefix = "arm-none-eabi-"
cflags = ["-mcpu=cortex-m4", "-mthumb"]

[memory]
flash = { origin = 0x08000000, size = 0x80000 }
ram = { origin = 0x20000000, size = 0x20000 }
stack = 4096

[emulator]
kind = "qemu"
program = "qemu-system-arm"
machine = "mps2-an386"
"""
EMU = '[emulator]\nkind = "qemu"\nprogram = "qemu-system-arm"\nmachine = "mps2-an386"\n'
TOOLCHAIN = '[toolchain]\nprefix = "arm-none-eabi-"\ncflags = ["-mcpu=cortex-m4", "-mthumb"]\n'

# (case, text replaced, replacement, what the message must say)
MALFORMED = [
    ("missing-key", "clock_hz = 16_000_000\n", "", "missing key 'clock_hz'"),
    ("missing-nested-key", 'prefix = "arm-none-eabi-"\n', "", "missing key 'toolchain.prefix'"),
    ("missing-region-key", "origin = 0x08000000, size = 0x80000", "origin = 0x08000000",
     "missing key 'memory.flash.size'"),
    ("missing-table", TOOLCHAIN, "", "missing table [toolchain]"),
    ("unknown-key", "clock_hz = 16_000_000\n", "clock_hz = 16_000_000\nclock_mhz = 16\n",
     "unknown key 'clock_mhz'"),
    ("unknown-nested-key", 'machine = "mps2-an386"\n', 'machine = "mps2-an386"\nmachin = "x"\n',
     "unknown key 'emulator.machin'"),
    ("unknown-region-key", "size = 0x20000 }", "size = 0x20000, end = 0x20020000 }",
     "unknown key 'memory.ram.end'"),
    ("wrong-type", "clock_hz = 16_000_000", 'clock_hz = "16 MHz"', "key 'clock_hz' must be int"),
    ("bool-for-int", "stack = 4096", "stack = true", "key 'memory.stack' must be int"),
    ("not-a-list", 'cflags = ["-mcpu=cortex-m4", "-mthumb"]', 'cflags = "-mthumb"',
     "key 'toolchain.cflags' must be list"),
    ("list-of-non-strings", '"-mthumb"]', "1]", "key 'toolchain.cflags' must be a list of strings"),
    ("define-type", "stack = 4096\n", "stack = 4096\n[defines]\nFF_X = [1]\n",
     "key 'defines.FF_X' must be int/str"),
    ("bad-family", 'family = "cortex-m"', 'family = "arm"',
     "key 'family' is 'arm'; expected one of cortex-m, riscv, avr, host"),
    ("bad-emulator-kind", 'kind = "qemu"', 'kind = "renode"',
     "key 'emulator.kind' is 'renode'; expected one of qemu, simavr"),
    ("region-zero-size", "size = 0x80000", "size = 0", "[memory.flash] needs origin >= 0 and size > 0"),
    ("region-negative-origin", "origin = 0x20000000", "origin = -1",
     "[memory.ram] needs origin >= 0 and size > 0"),
    ("region-not-a-table", "{ origin = 0x08000000, size = 0x80000 }", "0x08000000",
     "[memory.flash] must be a table"),
    ("stack-too-big", "stack = 4096", "stack = 0x20000",
     "memory.stack must be positive and smaller than the RAM"),
    ("no-emulator-or-flasher", EMU, "", "a board needs an [emulator] or a [flasher] table"),
    ("flasher-without-tool", EMU, '[flasher]\nargs = ["{elf}"]\n', "missing key 'flasher.tool'"),
    ("not-toml", 'family = "cortex-m"', "family = cortex-m", "not valid TOML"),
]


def test_base_board_file_is_valid(tmp_path):
    p = tmp_path / "base.toml"
    p.write_text(BASE)
    b = load_board(p)
    assert (b.name, b.flash.size, b.ram.origin, b.emulator.machine) == ("base", 0x80000,
                                                                        0x20000000, "mps2-an386")


@pytest.mark.parametrize("case,old,new,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_board_file_names_key_and_file(tmp_path, case, old, new, message):
    assert BASE.count(old) == 1, case
    p = tmp_path / f"{case}.toml"
    p.write_text(BASE.replace(old, new))
    with pytest.raises(BoardError) as e:
        load_board(p)
    assert str(p) in str(e.value) and message in str(e.value), str(e.value)


@pytest.mark.parametrize("typo,close", [("nucleo-f446", "nucleo-f446re"),
                                        ("arduino_uno", "arduino-uno"),
                                        ("hifive1", "hifive1-revb"),
                                        ("rpi-pic0", "rpi-pico"),
                                        ("qemu-mps2-an368", "qemu-mps2-an386")])
def test_unknown_board_suggests_close_names(typo, close):
    with pytest.raises(BoardError) as e:
        load_board(typo)
    msg = str(e.value)
    assert f"unknown board {typo!r}" in msg and "did you mean" in msg
    assert close in msg.split("did you mean")[1]


def test_unknown_board_without_close_name(tmp_path):
    with pytest.raises(BoardError) as e:
        load_board("zzzz")
    assert "unknown board 'zzzz'" in str(e.value) and "did you mean" not in str(e.value)
    with pytest.raises(BoardError, match="does not exist"):
        load_board(tmp_path / "nope.toml")


# ---------------------------------------------------------------- builds for the real boards


def dense(rng: np.random.Generator, k: int, o: int, name: str = "tiny") -> Graph:
    """One int8 fully connected layer x[1,k] -> y[1,o] with ReLU."""
    xq = act_quant(rng)
    w = weights(rng, (o, k), axis=0)
    return single(Dense, name, [Value("x", (1, k), DType.s8, xq), w, bias(rng, o, 2000)],
                  out_quant_for_acc(rng, xq, w.quant, k), act=Act.RELU)


def padded_sum(rng: np.random.Generator, k: int, n: int) -> Graph:
    """x[1,k] padded to n values, then one output from all of them: an n-byte intermediate in
    the arena from a few constants (a wide layer would also take flash for its n channels)."""
    xq = act_quant(rng)
    x = Value("x", (1, k), DType.s8, xq)
    pad = Pad(name="pad", inputs=[x], outputs=[], pads=((0, 0), (0, n - k)))
    pad.outputs = [Value("p", (1, n), DType.s8, xq)]
    w = weights(rng, (1, n), axis=0)
    fc = Dense(name="fc", inputs=[pad.outputs[0], w, bias(rng, 1, 2000)], outputs=[],
               act=Act.RELU)
    fc.outputs = [Value("y", (1, 1), DType.s8, out_quant_for_acc(rng, xq, w.quant, n))]
    g = Graph("padded", [pad, fc], [x], fc.outputs)
    g.validate()
    return g


class Built:
    def __init__(self, board: Board, d: Path) -> None:
        rng = np.random.default_rng(7)
        self.board, self.dir = board, d
        self.graph = dense(rng, 16, 8)
        write_project(generate(self.graph), self.graph, board, d, random_inputs(rng, self.graph))
        self.elf = build.make(board, d)
        self.sizes = build.elf_sizes(board, self.elf)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            board = load_board(name)
            # `make test` installs every cross compiler first, so a missing one is a failure
            assert board.can_build, f"{board.cc} is not installed (run `make toolchains`)"
            cache[name] = Built(board, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


def _readelf(board: Board, *args: str) -> str:
    return subprocess.run([board.tool("readelf"), *args], capture_output=True, text=True,
                          check=True).stdout


def _memory_configuration(map_file: Path) -> dict[str, tuple[int, int]]:
    text = map_file.read_text()
    block = text.split("Memory Configuration", 1)[1].split("Linker script and memory map", 1)[0]
    return {m.group(1): (int(m.group(2), 16), int(m.group(3), 16))
            for m in re.finditer(r"^(\w+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", block, re.M)}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_board_firmware_fits_its_memory_map(name, built):
    b = built(name)
    board, sizes = b.board, b.sizes
    assert 0 < sizes.flash <= board.flash.size and 0 < sizes.ram <= board.ram.size
    assert sizes.ram >= board.stack
    # every allocated section lies inside the flash or inside the RAM of the board
    def inside(region, addr: int, size: int) -> bool:
        return region.origin <= addr and addr + size <= region.origin + region.size

    in_flash = []
    for sec, (addr, size, _) in sizes.sections.items():
        if board.family == "avr" and addr >= 0x800000:  # avr-gcc's data address space
            assert inside(board.ram, addr - 0x800000, size), sec
        elif board.ram.origin <= addr < board.ram.origin + board.ram.size:
            assert inside(board.ram, addr, size), sec
        else:
            assert inside(board.flash, addr, size), sec
            in_flash.append(addr)
    # the image starts where the part (or its bootloader) starts executing / reads vectors
    assert min(in_flash) == board.flash.origin
    # the linker was given the board's regions (on AVR: the data region leaves the stack)
    regions = _memory_configuration(b.dir / "firmware.map")
    if board.family == "avr":
        assert regions["text"] == (board.flash.origin, board.flash.size)
        assert regions["data"] == (0x800000 + board.ram.origin, board.ram.size - board.stack)
    else:
        assert regions["FLASH"] == (board.flash.origin, board.flash.size)
        assert regions["RAM"] == (board.ram.origin, board.ram.size)
    # what the flasher reads has been built
    for kind in images_needed(board):
        assert (b.dir / IMAGE_FILE[kind]).stat().st_size > 0


@pytest.mark.parametrize("name", sorted(ARM_ATTRS))
def test_arm_build_attributes_match_the_part(name, built):
    b = built(name)
    arch, fp, precision = ARM_ATTRS[name]
    attrs = _readelf(b.board, "-A", str(b.elf))
    assert f"Tag_CPU_arch: {arch}\n" in attrs
    header = _readelf(b.board, "-h", str(b.elf))
    if fp is None:
        assert "Tag_FP_arch" not in attrs and "soft-float ABI" in header
    else:
        assert f"Tag_FP_arch: {fp}\n" in attrs and f"Tag_ABI_HardFP_use: {precision}\n" in attrs
        assert "Tag_ABI_VFP_args: VFP registers" in attrs and "hard-float ABI" in header


UART_BOARDS = ["nucleo-f446re", "nucleo-l4r5zi", "stm32f746g-disco", "nrf52840-dk", "rpi-pico"]


@pytest.mark.parametrize("name", UART_BOARDS)
def test_real_boards_print_through_their_uart_without_semihosting(name, built, tmp_path):
    """Flashed without a debugger, a semihosting BKPT would be a HardFault: the default build
    has none (console on the UART, "ff:exit" then sleep), ``--console semihosting`` has them."""
    b = built(name)

    def bkpts(elf: Path) -> int:
        text = subprocess.run([b.board.tool("objdump"), "-d", str(elf)], capture_output=True,
                              text=True, check=True).stdout
        return text.count("bkpt\t0x00ab")

    assert bkpts(b.elf) == 0
    semi = Built(b.board.with_semihosting_console(), tmp_path)
    assert bkpts(semi.elf) >= 2  # the console's SYS_WRITEC and the exit
    with pytest.raises(BoardError, match="Cortex-M"):
        load_board("hifive1-revb").with_semihosting_console()


def test_hifive1_and_uno_elf_headers(built):
    hifive = built("hifive1-revb")
    header = _readelf(hifive.board, "-h", str(hifive.elf))
    assert "ELF32" in header and "RISC-V" in header and "RVC, soft-float ABI" in header
    assert re.search(r"Entry point address:\s+0x20010000\n", header)
    arch = _readelf(hifive.board, "-A", str(hifive.elf))
    assert re.search(r'Tag_RISCV_arch: "rv32i\w*_m\w*_a\w*_c\w*"', arch)
    uno = built("arduino-uno")
    assert "avr:5" in _readelf(uno.board, "-h", str(uno.elf))


def test_rp2040_image_starts_with_code(built):
    """The bootrom jumps into a RAM image at its lowest address: that must be an instruction,
    not the vector table (whose first word is the initial stack pointer, a RAM address)."""
    b = built("rpi-pico")
    first = int.from_bytes((b.dir / "firmware.bin").read_bytes()[:4], "little")
    lo, hi = 0x20000000, 0x20042000
    assert not lo <= first <= hi, (f"first word 0x{first:08x} is an SRAM address: the vector "
                                   f"table, not the entry code the bootrom needs")


def test_uno_linker_keeps_optiboot_and_the_stack(built, tmp_path):
    """A firmware that would fit the ATmega328P's 32 KB does not link for the Uno, whose top
    512 B hold Optiboot; static RAM that leaves less than the stack budget is refused too."""
    tiny = built("arduino-uno")
    uno = tiny.board
    chip = load_board("simavr-atmega328p").flash.size  # 32,768 B
    assert chip - uno.flash.size == 512
    # code besides the tiny model's 128 B of weights, 32 B of bias and 32 B of vectors
    code = tiny.sizes.flash - (128 + 32 + 32)
    o = 32  # enough outputs that the k inputs (a static buffer in RAM) fit the 2 KB
    k = (0x7F00 - code - 16 * o) // (o + 1)  # weights o*k, bias and tables 16*o, k inputs
    rng = np.random.default_rng(3)
    # A larger dense layer takes more kernel code than the tiny model's, so steer k (each input
    # adds o + 1 bytes: a weight per output and its test vector) until the Uno's link
    # overflows its region by 1 to 512 B: an image the chip's 32 KB would hold.
    over = 0
    for _ in range(6):
        g = dense(rng, k, o)
        src, x = generate(g), random_inputs(rng, g, batch=1)
        write_project(src, g, uno, tmp_path / f"uno{k}", x)
        try:
            flash = build.elf_sizes(uno, build.make(uno, tmp_path / f"uno{k}")).flash
            over = flash - uno.flash.size  # it linked: at most 0
        except build.FitError as e:
            m = re.search(r"region text overflowed by ([\d,]+)", str(e))
            assert m, str(e)
            over = int(m.group(1).replace(",", ""))
        if 0 < over <= chip - uno.flash.size:
            break
        k -= (over - 256) // (o + 1)
    assert 0 < over <= chip - uno.flash.size, over
    # a 1,700-byte intermediate: fits the 2 KB of RAM, not with the 512 B stack kept free
    g = padded_sum(rng, 4, 1700)
    src, x = generate(g), random_inputs(rng, g, batch=1)
    assert 1536 < src.plan.arena_size < 2048
    write_project(src, g, uno, tmp_path / "uno-ram", x)
    with pytest.raises(build.FitError, match=r"does not fit board arduino-uno: .*region `?data"):
        build.make(uno, tmp_path / "uno-ram")


# ---------------------------------------------------------------- refused before compiling


def least_needs(graph: Graph, vectors: int, stack: int) -> tuple[int, int]:
    """Lower bounds from the graph alone. Flash: every constant plus the test vectors (the
    emitter adds requantization tables on top); RAM: arena, input and output, stack."""
    consts = {id(v): v for n in graph.nodes for v in n.inputs if v.is_const}
    io_in = sum(v.nbytes for v in graph.inputs)
    io_out = sum(v.nbytes for v in graph.outputs)
    flash = sum(v.nbytes for v in consts.values()) + vectors * io_in
    return flash, plan_memory(graph).arena_size + io_in + io_out + stack


_NEEDS = re.compile(r"(flash|RAM): needs at least ([\d,]+) B \(([^)]*)\), the board has ([\d,]+) B "
                    r"\(short by ([\d,]+) B\)")


def _refused(board: Board, graph: Graph, out: Path) -> dict[str, tuple[int, int, int, str]]:
    """Build ``graph`` for ``board`` through the Project API; it must fail on the fit check,
    before anything is written or compiled. Returns region -> (needed, has, short, detail)."""
    x = random_inputs(np.random.default_rng(0), graph, batch=1)[0]
    with pytest.raises(build.FitError) as e:
        Project(graph.name, graph).build(board.name, out, x)
    assert not out.exists()
    msg = str(e.value)
    assert msg.startswith(f"the model does not fit board {board.name}: ")
    found = {}
    for m in _NEEDS.finditer(msg):
        need, has, short = (int(m.group(i).replace(",", "")) for i in (2, 4, 5))
        assert short == need - has > 0
        found[m.group(1)] = (need, has, short, m.group(3))
    return found


@pytest.mark.parametrize("name", sorted(REAL))
def test_model_too_big_is_refused_before_compiling(name, tmp_path):
    board = load_board(name)
    assert board.can_build, f"{board.cc} is not installed (run `make toolchains`)"
    rng = np.random.default_rng(5)
    # weights alone one row over the flash, with input and output small enough for the RAM
    n = math.isqrt(board.flash.size) + 1
    g = dense(rng, n, n, "big")
    flash_min, ram_min = least_needs(g, 1, board.stack)
    assert flash_min > board.flash.size and ram_min <= board.ram.size
    found = _refused(board, g, tmp_path / "flash")
    assert list(found) == ["flash"]
    need, has, _, detail = found["flash"]
    assert has == board.flash.size and need >= flash_min
    assert f"{n:,} B test vectors" in detail
    # an input as large as the RAM: the flash holds it, the RAM cannot
    g = dense(rng, board.ram.size, 1, "wide")
    flash_min, ram_min = least_needs(g, 1, board.stack)
    assert flash_min <= board.flash.size and ram_min > board.ram.size
    found = _refused(board, g, tmp_path / "ram")
    assert list(found) == ["RAM"]
    need, has, _, detail = found["RAM"]
    assert (need, has) == (ram_min, board.ram.size)
    assert detail == f"arena, state, I/O buffers, {board.stack:,} B stack"
    build.check_fit(board, board.flash.size, board.ram.size, "exactly full")  # no error
