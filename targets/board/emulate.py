"""Run a firmware ELF in its board's emulator: QEMU (Cortex-M, RISC-V) or simavr (AVR).

``run_elf`` returns what the firmware printed, its exit status, one count per inference and
the stack's high-water mark after each (``ff:stack`` lines of the painted stack, see
``firmware/templates/common/main.c``):

- QEMU: executed **instructions** between the entries of ``ff_platform_mark_start`` and
  ``ff_platform_mark_stop``, counted by a TCG plugin (``firmware/tools/qemu_icount.c``) that
  adds one per executed instruction. QEMU does not model cycles; these are not cycles.
- simavr: **cycles** (simavr's cycle-accurate core) between the firmware's writes of 1 and 2 to
  GPIOR0, measured by a small libsimavr runner (``firmware/tools/simavr_run.c``).

Both counts depend only on the ELF, so every run gives the same numbers. A profile build also
calls ``ff_platform_mark_layer`` after each kernel: the count at each call is recorded
(``EmulatorRun.layers``). The plugin and the runner are compiled on first use into the firmforge
cache, once per source hash.

A stack that overflows is a ``StackOverflow`` (the firmware's trap or guard check reported it, or
a timed-out firmware's stack pointer lies below its stack), never a hang. The emulator runs in
its own process group, which is killed on timeout, so nothing is left running; before that it
is asked where the firmware was (QEMU's QMP socket, the simavr runner's SIGTERM report), and
the ``EmulatorTimeout`` names the PC, the function around it and the SP.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..c.host import cache_root, compiler
from ..paths import tools_dir
from .spec import Board
from .where import SymbolError, describe, qemu_registers, symbols

MARKS = ("ff_platform_mark_start", "ff_platform_mark_stop")
LAYER_MARK = "ff_platform_mark_layer"
SIMAVR_HEADER = Path("/usr/include/simavr/sim_avr.h")
# Exit codes of simavr_run.c besides the firmware's own status.
SIMAVR_CRASH, SIMAVR_LIMIT = 3, 4


class EmulatorError(RuntimeError):
    """The emulator could not run the firmware (base of the errors below)."""


class EmulatorMissingError(EmulatorError):
    """The board's emulator (or what firmforge needs to build its helper) is not installed."""


class EmulatorTimeout(EmulatorError):
    """The firmware did not finish in time (wall clock, or simavr's cycle limit)."""


class FirmwareCrash(EmulatorError):
    """The firmware faulted (it printed ``ff:fault``, simavr reported ``ff:crash``) or the
    emulator itself died."""


class StackOverflow(FirmwareCrash):
    """The firmware's stack outgrew the stack reserved for it on ``board``: ``reserved`` bytes,
    ``needed`` bytes measured (None when unknown: more than ``reserved``)."""

    def __init__(self, board: str, reserved: int, needed: int | None, detail: str) -> None:
        self.board, self.reserved, self.needed, self.detail = board, reserved, needed, detail
        need = f"needs {needed:,} B of stack" if needed is not None else \
            f"needs more than the {reserved:,} B of stack"
        super().__init__(f"stack overflow on {board}: the firmware {need}, {reserved:,} B are "
                         f"reserved ({detail})")

    def with_needed(self, needed: int | None, note: str = "") -> StackOverflow:
        """The same overflow with the need measured elsewhere (a build with a larger stack)."""
        return StackOverflow(self.board, self.reserved, needed,
                             self.detail + (f"; {note}" if note else ""))


@dataclass(frozen=True)
class EmulatorRun:
    text: str  # the firmware's console output
    status: int  # its exit status
    counts: list[int]  # one per inference (start -> stop mark)
    unit: str  # "instructions" (QEMU) or "cycles" (simavr)
    seconds: float  # wall time of the emulator process
    stack: list[int] = field(default_factory=list)  # high-water mark after each inference, bytes
    stack_reserved: int | None = None  # the reserved stack the firmware reported
    layers: list[list[int]] = field(default_factory=list)  # per inference: count at each layer mark


def run_elf(board: Board, elf: Path, *, timeout: float = 60) -> EmulatorRun:
    """Run ``elf`` on ``board``'s emulator until the firmware exits; see the module docstring."""
    emu = board.emulator
    if emu is None:
        raise EmulatorMissingError(f"board {board.name} has no emulator (it is a real board: "
                                   "flash it instead)")
    elf = Path(elf)
    if not elf.is_file():
        raise FileNotFoundError(f"no firmware ELF at {elf}")
    if emu.kind == "qemu":
        return _run_qemu(board, elf, timeout)
    return _run_simavr(board, elf, timeout)


# --- QEMU -------------------------------------------------------------------------------------

_INSNS = re.compile(r"^ff:insns (\d+) (\d+)$", re.M)
_TOTAL = re.compile(r"^ff:insns-total (\d+)$", re.M)


def _run_qemu(board: Board, elf: Path, timeout: float) -> EmulatorRun:
    emu = board.emulator
    assert emu is not None
    if shutil.which(emu.program) is None:
        raise EmulatorMissingError(f"board {board.name} runs in {emu.program}, which is not "
                                   f"installed{_apt(emu.package)}")
    addrs = _addresses(board, elf)
    marks = mark_addresses(board, elf, addrs)
    plugin = str(build_tool("qemu_icount.c", shared=True))
    if marks is not None:
        plugin += f",start={marks[0]:#x},stop={marks[1]:#x}"
        if LAYER_MARK in addrs:  # a profile build
            plugin += f",layer={addrs[LAYER_MARK]:#x}"
    with tempfile.TemporaryDirectory(prefix="ff-qmp-") as d:
        sock = Path(d) / "qmp.sock"
        cmd = [emu.program, "-M", emu.machine, *emu.args, "-kernel", str(elf),
               "-plugin", plugin, "-d", "plugin", "-qmp", f"unix:{sock},server=on,wait=off"]

        def where(p: subprocess.Popen) -> Callable[[str, str], str]:
            regs = qemu_registers(sock)
            return lambda out, err: _where(board, elf, regs.get("pc"), regs.get("sp"))

        out, err, rc, secs = _run(cmd, timeout, f"{emu.program} ({board.name})", where)
    log = _LAYER.sub("", _TOTAL.sub("", _INSNS.sub("", err))).strip()
    _check_fault(board, out)
    total = _TOTAL.search(err)
    if rc < 0 or total is None or int(total.group(1)) == 0:
        # QEMU's exits (semihosting, the test device, its own errors) run the plugin's atexit;
        # a signal or an abort (a CPU lockup) does not. A total of 0: no firmware code ran.
        why = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        hint = ("\n(the instruction-count plugin uses QEMU's plugin API version 1, QEMU 4.2 "
                "to 8.x)") if "plugin" in log.lower() else ""
        raise FirmwareCrash(f"{emu.program} died running {elf.name} on {board.name} ({why}):\n"
                            f"{log or '(no message)'}{hint}\n{_tail(out)}")
    counts = _intervals(_INSNS.findall(err), board)
    return EmulatorRun(out, rc, counts, "instructions", secs, *_stack(out),
                       _layers(err, len(counts)))


def mark_addresses(board: Board, elf: Path, addrs: dict[str, int] | None = None
                   ) -> tuple[int, int] | None:
    """Entry addresses of the two mark functions, from the toolchain's ``nm`` (Thumb bit
    cleared); None when the firmware has neither (the linker drops them when nothing calls
    them), and then there are no counts."""
    addrs = _addresses(board, elf) if addrs is None else addrs
    found = {m: addrs[m] for m in MARKS if m in addrs}
    if not found:
        return None
    missing = [m for m in MARKS if m not in found]
    if missing:
        raise EmulatorError(f"{elf.name} has {', '.join(found)} but no {missing[0]}: both "
                            "marks or neither")
    start, stop = found[MARKS[0]], found[MARKS[1]]
    if start == stop:
        raise EmulatorError(f"{elf.name}: the two marks share one address ({start:#x}); the "
                            "compiler merged them")
    return start, stop


def _addresses(board: Board, elf: Path) -> dict[str, int]:
    """The addresses of the mark functions ``elf`` has (Thumb bit cleared)."""
    try:
        syms = symbols(board, elf)
    except SymbolError as e:
        raise EmulatorMissingError(f"{e}{_apt(board.compiler_package)}") from None
    return {s.name: s.addr for s in syms if s.name in (*MARKS, LAYER_MARK)}


# --- simavr -----------------------------------------------------------------------------------

_CYCLES = re.compile(r"^ff:cycles (\d+) (\d+)$", re.M)


def _run_simavr(board: Board, elf: Path, timeout: float) -> EmulatorRun:
    emu = board.emulator
    assert emu is not None
    if not SIMAVR_HEADER.exists():
        raise EmulatorMissingError(f"board {board.name} runs in simavr through a runner built "
                                   f"against libsimavr, whose headers ({SIMAVR_HEADER}) are "
                                   f"missing{_apt(emu.package or 'libsimavr-dev')}")
    runner = build_tool("simavr_run.c", shared=False)
    # A cycle limit equal to the timeout in the chip's own seconds: a firmware that runs longer
    # than that on the real part is stuck, and simavr tells so deterministically.
    limit = max(1, int(timeout * board.clock_hz))
    cmd = [str(runner), emu.machine, str(board.clock_hz), str(elf), str(limit)]

    def where(p: subprocess.Popen) -> Callable[[str, str], str]:
        p.send_signal(signal.SIGTERM)  # the runner prints its PC and SP, then exits
        return lambda out, err: _where_simavr(board, elf, err)

    out, err, rc, secs = _run(cmd, timeout, f"simavr ({board.name})", where)
    _check_fault(board, out)
    crash = re.search(r"^ff:crash.*$", err, re.M)
    if rc == SIMAVR_CRASH and crash:
        raise FirmwareCrash(f"the firmware crashed in simavr on {board.name}: {crash.group(0)}\n"
                            f"{_tail(out)}")
    if rc == SIMAVR_LIMIT and re.search(r"^ff:cycle-limit", err, re.M):
        raise EmulatorTimeout(f"the firmware on {board.name} did not finish within {limit:,} "
                              f"cycles ({timeout:g} s at {board.clock_hz:,} Hz); it was at "
                              f"{_where_simavr(board, elf, err)}\nlast output:\n{_tail(out)}")
    if rc < 0 or re.search(r"^simavr_run:", err, re.M):
        raise FirmwareCrash(f"the simavr runner failed on {board.name} (exit code {rc}):\n"
                            f"{err.strip()}")
    counts = _intervals(_CYCLES.findall(err), board)
    return EmulatorRun(out, rc, counts, "cycles", secs, *_stack(out), _layers(err, len(counts)))


_SIMAVR_AT = re.compile(r"^ff:(?:stopped|cycle-limit \d+) pc=0x([0-9a-f]+) sp=0x([0-9a-f]+)", re.M)


def _where_simavr(board: Board, elf: Path, err: str) -> str:
    m = _SIMAVR_AT.search(err)
    return _where(board, elf, int(m.group(1), 16) if m else None,
                  int(m.group(2), 16) if m else None)


def _where(board: Board, elf: Path, pc: int | None, sp: int | None) -> str:
    """Where the firmware was; a stack pointer below the stack makes the timeout an overflow."""
    text, below = describe(board, elf, pc, sp)
    if below:
        raise StackOverflow(board.name, board.stack, None,
                            f"the firmware stopped making progress with {text}")
    return text


# --- shared -----------------------------------------------------------------------------------

Where = Callable[[subprocess.Popen], Callable[[str, str], str]]


def _run(cmd: list[str], timeout: float, what: str, where: Where
         ) -> tuple[str, str, int, float]:
    """Run ``cmd`` in a new process group. On timeout, ``where`` asks the still running
    emulator where the firmware is and to stop, and returns what describes that position from
    the final output; whatever is left of the group is then killed."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            position = where(p)  # asks the emulator where it is, and to stop
            out, err = p.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            out, err = p.communicate()
        except BaseException:
            _kill_group(p)
            raise
        _kill_group(p)
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        raise EmulatorTimeout(f"{what} did not finish within {timeout:g} s (stopped); the "
                              f"firmware was at {position(out, err)}\nlast output:\n"
                              f"{_tail(out)}") from None
    except BaseException:  # Ctrl-C or any error while waiting: leave nothing running
        _kill_group(p)
        raise
    secs = time.monotonic() - t0
    return (out.decode(errors="replace"), err.decode(errors="replace"), p.returncode, secs)


def _kill_group(p: subprocess.Popen) -> None:
    """SIGKILL the process group of ``p`` (its own session), then reap ``p``. Only while ``p``
    is unreaped: its pid, hence the group id, cannot have been reused."""
    if p.returncode is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


_STACK = re.compile(r"^ff:stack (\d+) (\d+) (\d+)$", re.M)
_OVERFLOW_GUARD = re.compile(r"^ff:stack-overflow (guard|budget) (\d+) (\d+)$", re.M)
_OVERFLOW_TRAP = re.compile(r"^ff:stack-overflow (\w+) sp=0x([0-9a-f]+) reserved=(\d+).*$", re.M)
_LAYER = re.compile(r"^ff:layer (\d+) (\d+)\n?", re.M)


def _stack(out: str) -> tuple[list[int], int | None]:
    found = _STACK.findall(out)
    return [int(u) for _, u, _ in found], (int(found[-1][2]) if found else None)


def _layers(err: str, intervals: int) -> list[list[int]]:
    per: list[list[int]] = [[] for _ in range(intervals)]
    for k, n in _LAYER.findall(err):
        if int(k) < intervals:
            per[int(k)].append(int(n))
    return per if any(per) else []


def _check_fault(board: Board, out: str) -> None:
    m = _OVERFLOW_TRAP.search(out)
    if m:
        raise StackOverflow(board.name, int(m.group(3)), None,
                            f"{m.group(1)} trapped it, sp=0x{m.group(2)}")
    m = _OVERFLOW_GUARD.search(out)
    if m:
        used, reserved = int(m.group(2)), int(m.group(3))
        if m.group(1) == "budget":  # AVR: measured past the budget, the guard intact
            raise StackOverflow(board.name, reserved, used, "measured after an inference")
        raise StackOverflow(board.name, reserved, None, "the guard below the stack was "
                            "overwritten, found after an inference")
    m = re.search(r"^ff:fault.*$", out, re.M)
    if m:
        raise FirmwareCrash(f"the firmware faulted on {board.name}: {m.group(0)}\n{_tail(out)}")


def _intervals(found: list[tuple[str, str]], board: Board) -> list[int]:
    idx = [int(k) for k, _ in found]
    if idx != list(range(len(idx))):
        raise EmulatorError(f"{board.name}: counter intervals out of order: {idx}")
    return [int(n) for _, n in found]


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _apt(package: str) -> str:
    return f" (Debian package {package}: `apt-get install {package}`, or `make toolchains`)" \
        if package else ""


def build_tool(source: str, *, shared: bool) -> Path:
    """Compile ``firmware/tools/<source>`` for the host, cached by the hash of source and flags:
    a shared object (the QEMU plugin) or a program linked against libsimavr."""
    src = tools_dir() / source
    cc = compiler()
    flags = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2"]
    if shared:
        flags += ["-shared", "-fPIC"]
        libs: list[str] = []
    else:
        # simavr's headers are not -pedantic clean; -isystem keeps their warnings out
        flags += ["-isystem", str(SIMAVR_HEADER.parent)]
        libs = ["-lsimavr"]
    if shutil.which(cc) is None:
        raise EmulatorMissingError(f"building {source} needs a host C compiler ({cc})")
    h = hashlib.sha256(repr((src.read_text(), cc, flags, libs)).encode()).hexdigest()[:16]
    out_dir = cache_root() / "tools"
    out = out_dir / f"{src.stem}-{h}{'.so' if shared else ''}"
    if out.exists():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out_dir)
    os.close(fd)
    try:
        r = subprocess.run([cc, *flags, str(src), "-o", tmp, *libs], capture_output=True,
                           text=True)
        if r.returncode:
            hint = "" if shared else _apt("libsimavr-dev")
            raise EmulatorMissingError(f"cannot build {source}{hint}:\n{r.stderr[-3000:]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)  # atomic: a parallel build of the same hash is harmless
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
