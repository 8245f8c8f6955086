"""Where a firmware was: its symbols, the function around an address, its stack's bounds, and
the registers of a running QEMU.

The symbols come from the board toolchain's ``nm -S -n`` (no debug information needed: the
firmware is built without ``-g``). QEMU 7.2 answers ``info registers`` through a QMP socket
(``-qmp unix:PATH,server=on,wait=off``) while the guest runs, plugin or not: that is how a
timed-out emulator tells its PC and SP before it is killed. simavr's runner prints both itself
(``firmware/tools/simavr_run.c``, on SIGTERM or at its cycle limit).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .spec import Board

# Linker-script symbols of the cortex-m and riscv templates (link.ld.j2)
STACK_SYMBOLS = ("__ff_stack_guard", "__ff_stack_bottom", "__ff_stack_top")


class SymbolError(RuntimeError):
    """The toolchain's nm is missing or cannot read the ELF."""


@dataclass(frozen=True)
class Symbol:
    addr: int
    size: int
    kind: str  # nm's letter: T/t code, D/d/B/b data, A absolute, ...
    name: str


def symbols(board: Board, elf: Path) -> list[Symbol]:
    """Every symbol of ``elf`` by address (Thumb bit cleared on code symbols)."""
    nm = board.tool("nm")
    if shutil.which(nm) is None:
        pkg = f" (Debian package {board.compiler_package})" if board.compiler_package else ""
        raise SymbolError(f"reading symbols of {Path(elf).name} needs {nm}{pkg}")
    r = subprocess.run([nm, "-S", "-n", str(elf)], capture_output=True, text=True)
    if r.returncode:
        raise SymbolError(f"{nm} cannot read {elf}: {r.stderr.strip()}")
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            addr, size, kind, name = int(parts[0], 16), int(parts[1], 16), parts[2], parts[3]
        elif len(parts) == 3:
            addr, size, kind, name = int(parts[0], 16), 0, parts[1], parts[2]
        else:
            continue
        if kind in "Tt" and board.family == "cortex-m":
            addr &= ~1
        out.append(Symbol(addr, size, kind, name))
    return out


def function_at(syms: list[Symbol], pc: int) -> str:
    """``name+0xoff`` of the code symbol around ``pc``, or ``?`` outside every function."""
    best = None
    for s in syms:
        if s.kind in "TtWw" and s.addr <= pc and (s.size == 0 or pc < s.addr + s.size):
            if best is None or s.addr >= best.addr:
                best = s
    if best is None:
        return "?"
    return best.name if pc == best.addr else f"{best.name}+{pc - best.addr:#x}"


@dataclass(frozen=True)
class StackBounds:
    guard: int  # lowest byte of the guard
    bottom: int  # lowest byte of the reserved stack
    top: int  # one past the highest

    @property
    def reserved(self) -> int:
        return self.top - self.bottom


def stack_bounds(board: Board, syms: list[Symbol]) -> StackBounds | None:
    """The reserved stack of a firmware: from its linker symbols (cortex-m, riscv) or, on AVR,
    the board's budget below the top of RAM (avr-libc's initial SP is RAMEND)."""
    found = {s.name: s.addr for s in syms if s.name in STACK_SYMBOLS}
    if len(found) == len(STACK_SYMBOLS):
        return StackBounds(*(found[n] for n in STACK_SYMBOLS))
    if board.family == "avr":
        top = board.ram.origin + board.ram.size
        return StackBounds(top - board.stack, top - board.stack, top)
    return None


def qemu_registers(sock: Path, timeout: float = 3.0) -> dict[str, int]:
    """``pc`` and ``sp`` of a running QEMU through its QMP socket (HMP ``info registers``:
    ``R15``/``R13`` on Arm, ``pc``/``x2/sp`` on RISC-V), then ``quit``; empty when QEMU does
    not answer."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            f = s.makefile("rw")
            f.readline()  # the greeting
            text = ""
            for cmd in ({"execute": "qmp_capabilities"},
                        {"execute": "human-monitor-command",
                         "arguments": {"command-line": "info registers"}}):
                f.write(json.dumps(cmd) + "\n")
                f.flush()
                while True:  # skip asynchronous events until the command's answer
                    msg = json.loads(f.readline())
                    if "return" in msg or "error" in msg:
                        break
                if isinstance(msg.get("return"), str):
                    text = msg["return"]
            f.write(json.dumps({"execute": "quit"}) + "\n")
            f.flush()
            f.readline()  # its answer: QEMU has taken the command
    except (OSError, ValueError):
        return {}
    regs = {}
    for key, pattern in (("pc", r"\bR15=([0-9a-f]{8})|^\s*pc\s+([0-9a-f]+)"),
                         ("sp", r"\bR13=([0-9a-f]{8})|\bx2/sp\s+([0-9a-f]+)")):
        m = re.search(pattern, text, re.M)
        if m:
            regs[key] = int(m.group(1) or m.group(2), 16)
    return regs


def describe(board: Board, elf: Path, pc: int | None, sp: int | None) -> tuple[str, bool]:
    """``pc=0x... in <function>, sp=0x... (<where in the stack>)`` and whether that stack
    pointer lies below the reserved stack (an overflow that did not trap)."""
    if pc is None:
        return "(the emulator did not say where the firmware was)", False
    try:
        syms = symbols(board, elf)
    except SymbolError as e:
        return f"pc={pc:#x} ({e}), sp={sp:#x}" if sp is not None else f"pc={pc:#x} ({e})", False
    text = f"pc={pc:#x} in {function_at(syms, pc)}"
    if sp is None:
        return text, False
    b = stack_bounds(board, syms)
    if b is None:
        return f"{text}, sp={sp:#x}", False
    if b.bottom <= sp <= b.top:
        return (f"{text}, sp={sp:#x} ({b.top - sp:,} B of the {b.reserved:,} B stack in "
                f"use)"), False
    if sp < b.bottom:
        return (f"{text}, sp={sp:#x}: {b.bottom - sp:,} B below the {b.reserved:,} B stack"), True
    return f"{text}, sp={sp:#x} (outside the {b.reserved:,} B stack)", False
