"""Build a firmware project with the board's cross compiler and read its sizes from the ELF.

Flash holds code, constants and the initial values of ``.data``; RAM holds ``.data``, ``.bss``
and the stack the linker script reserves (with its 32-byte guard). A model that cannot fit is
refused before compiling, from what it must occupy at least (weights, tables and test vectors in
flash; arena, the runner's input/output buffers and the stack in RAM).

``flash_split`` divides the flash into code and data exactly, from the linker map: every input
section is listed there with its size and the object it came from, so the bytes of the model's
weights and tables (``<prefix>_weights.o``), of its parameter structs (the read-only data of
``<prefix>.o``) and of the test vectors (``ff_vectors.o``) are known to the byte; code is the
rest (instructions, the kernels' and the runner's own constants, alignment padding, the vector
table and the initial image of ``.data``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..paths import core_sources
from .spec import Board, Region


class BuildError(RuntimeError):
    """The compiler, the linker or make failed; the message has their output."""


class ToolchainMissingError(BuildError):
    """The board's compiler is not installed."""


class FitError(BuildError):
    """The model does not fit the board's flash or RAM; the message has the numbers."""


@dataclass(frozen=True)
class Sizes:
    flash: int
    ram: int
    sections: dict[str, tuple[int, int, bool]]  # name -> (address, size, occupies flash)


def check_toolchain(board: Board) -> None:
    if shutil.which(board.cc) is None:
        pkg = f" (Debian package {board.compiler_package}: `apt-get install " \
              f"{board.compiler_package}`, or `make toolchains`)" if board.compiler_package else ""
        raise ToolchainMissingError(f"board {board.name} needs the compiler {board.cc}, which is "
                                    f"not installed{pkg}")
    if shutil.which("make") is None:
        raise ToolchainMissingError("building firmware needs `make` (Debian package make)")


@dataclass(frozen=True)
class FlashSplit:
    """Flash bytes by kind, from the linker map; ``code`` is the rest of ``Sizes.flash``."""

    code: int
    weights: int  # the model's constant arrays: weights, biases, requantization tables
    params: int  # the model's kernel parameter structs
    vectors: int  # the embedded test vectors


# an input section in a GNU ld map: " .name  0xADDR  0xSIZE file", the name alone on its line
# when it is long
_INPUT = re.compile(r"^ (\.\S+)(?:[ \t]*\n[ \t]+|[ \t]+)0x([0-9a-f]+)[ \t]+0x([0-9a-f]+)[ \t]+(\S+)$",
                    re.M)
_READ_ONLY = (".rodata", ".srodata", ".progmem")


def flash_split(board: Board, project_dir: Path, prefix: str, sizes: Sizes) -> FlashSplit:
    """Code, model constants and test vectors of a built project (see the module docstring)."""
    text = (Path(project_dir) / "firmware.map").read_text(errors="replace")
    text = text.split("Linker script and memory map", 1)[-1]  # not the discarded sections
    parts = {"weights": 0, "params": 0, "vectors": 0}
    flash = board.flash
    for name, addr, size, obj in _INPUT.findall(text):
        if not name.startswith(_READ_ONLY) or not flash.origin <= int(addr, 16) < flash.origin + flash.size:
            continue
        where = Path(obj).name
        kind = {f"{prefix}_weights.o": "weights", f"{prefix}.o": "params",
                "ff_vectors.o": "vectors"}.get(where)
        if kind:
            parts[kind] += int(size, 16)
    return FlashSplit(sizes.flash - sum(parts.values()), **parts)


def core_functions(project_dir: Path) -> list[str]:
    """The C core's functions the linker kept in a built project (``-ffunction-sections`` and
    ``--gc-sections`` drop the ones the model never calls), from the linker map: every
    ``.text.<function>`` input section that came from a core file (``firmware/core/*.c``)."""
    core = {f"{p.stem}.o" for p in core_sources()}
    text = (Path(project_dir) / "firmware.map").read_text(errors="replace")
    text = text.split("Linker script and memory map", 1)[-1]
    return sorted({name.removeprefix(".text.") for name, _, size, obj in _INPUT.findall(text)
                   if name.startswith(".text.") and Path(obj).name in core and int(size, 16)})


def check_fit(board: Board, flash_min: int, ram_min: int, what: str) -> None:
    """Refuse before compiling when the least the model needs exceeds the board's memory
    (``ram_min`` includes the board's stack, except for a stack the build measures)."""
    stack = "a stack to be measured" if board.stack_auto else f"{board.stack:,} B stack"
    problems = []
    if flash_min > board.flash.size:
        problems.append(f"flash: needs at least {flash_min:,} B ({what}), the board has "
                        f"{board.flash.size:,} B (short by {flash_min - board.flash.size:,} B)")
    if ram_min > board.ram.size:
        problems.append(f"RAM: needs at least {ram_min:,} B (arena, state, I/O buffers, "
                        f"{stack}), the board has {board.ram.size:,} B "
                        f"(short by {ram_min - board.ram.size:,} B)")
    if problems:
        raise FitError(f"the model does not fit board {board.name}: " + "; ".join(problems))


_OVERFLOW = re.compile(r"region `?'?(\w+)'? overflowed by (\d+) bytes")
# ld's words when a NOBITS section (.bss) runs past the end of its region
_OUTSIDE = re.compile(r"address 0x([0-9a-f]+) of \S+ section `([^']+)' is not within region `([^']+)'")


def make(board: Board, project_dir: Path, timeout: float = 600) -> Path:
    """Run ``make`` in the project; return the ELF's path."""
    check_toolchain(board)
    env = {**os.environ, "MAKEFLAGS": f"-j{os.cpu_count() or 1}"}
    r = subprocess.run(["make", "-C", str(project_dir), "firmware.elf", "firmware.hex",
                        "firmware.bin"], capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode:
        log = r.stdout[-3000:] + r.stderr[-6000:]
        m = _OVERFLOW.search(log)
        if m:
            raise FitError(f"the firmware does not fit board {board.name}: region {m.group(1)} "
                           f"overflowed by {int(m.group(2)):,} bytes (flash {board.flash.size:,} B, "
                           f"RAM {board.ram.size:,} B)")
        m = _OUTSIDE.search(log)
        if m:
            raise FitError(f"the firmware does not fit board {board.name}: section {m.group(2)} "
                           f"ends at 0x{m.group(1)}, past the end of region {m.group(3)} "
                           f"(flash {board.flash.size:,} B, RAM {board.ram.size:,} B)")
        raise BuildError(f"building for {board.name} failed:\n{log}")
    return project_dir / "firmware.elf"


def elf_sizes(board: Board, elf: Path) -> Sizes:
    """Flash and RAM of an ELF from its allocated sections (``readelf -S``)."""
    readelf = board.tool("readelf")
    if shutil.which(readelf) is None:
        readelf = "readelf"
    r = subprocess.run([readelf, "-S", "-W", str(elf)], capture_output=True, text=True)
    if r.returncode:
        raise BuildError(f"cannot read sections of {elf}: {r.stderr}")
    sections = {}
    flash = ram = 0
    for line in r.stdout.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+"
                     r"[0-9a-f]+\s+(\S*)", line)
        if not m or "A" not in m.group(5):
            continue
        name, kind, addr, size = m.group(1), m.group(2), int(m.group(3), 16), int(m.group(4), 16)
        if size == 0:
            continue
        in_ram = _within(board.ram, addr, board.family)
        loaded = kind != "NOBITS"
        occupies_flash = loaded  # code, constants and .data's initial image
        sections[name] = (addr, size, occupies_flash)
        if occupies_flash:
            flash += size
        if in_ram:
            ram += size
    if ".stack" not in sections:  # stack not reserved by a section (avr-libc): count the budget
        ram += board.stack
    return Sizes(flash, ram, sections)


def check_stack_room(board: Board, sizes: Sizes) -> None:
    """Where the stack is no section (AVR: avr-libc's stack starts at the top of RAM), refuse
    static data that reaches into the board's stack budget; the linker saw no stack."""
    if ".stack" in sizes.sections:
        return
    end = max((a + n for a, n, _ in sizes.sections.values() if _within(board.ram, a, board.family)),
              default=0)
    if board.family == "avr":
        end -= 0x800000
    top = board.ram.origin + board.ram.size
    if end > top - board.stack:
        raise FitError(f"the firmware does not fit board {board.name}: its static data ends at "
                       f"{end:#x}, inside the {board.stack:,} B stack budget below {top:#x} "
                       f"(short by {end - (top - board.stack):,} B)")


def _within(region: Region, addr: int, family: str) -> bool:
    if family == "avr":  # avr-gcc places data addresses at 0x800000 + RAM address
        addr = addr - 0x800000 if addr >= 0x800000 else -1
    return region.origin <= addr < region.origin + region.size
