"""Boards: one TOML file each in ``boards/``, data only, read into a checked ``Board``.

A board file names the firmware template family, the core and its compiler flags, the memory
map, the clock, the ``-D`` defines that pick the template's console/exit/counter, and either an
emulator (QEMU machine or simavr MCU) or a flasher with its arguments. Every key is checked:
a misspelled or missing key is an error naming the key and the file.

``memory.stack`` is the stack the firmware reserves, in bytes, or ``"auto"`` on a board with an
emulator: each build then measures the firmware's stack in the emulator (its high-water mark
with a measuring stack of up to ``AUTO_STACK_MEASURE`` bytes) and reserves that plus a margin
(``auto_stack``). Until a build sizes it, ``Board.stack`` of such a board is the measuring size.
"""

from __future__ import annotations

import difflib
import shutil
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

FAMILIES = ("cortex-m", "riscv", "avr", "host")
AUTO_STACK_MEASURE = 64 * 1024  # at most, and at most half the RAM
AUTO_STACK_MARGIN = 128  # bytes at least, and a quarter of the measured stack
EMULATORS = ("qemu", "simavr")
IMAGES = ("elf", "hex", "bin")


class BoardError(ValueError):
    """An unknown board or a malformed board file; the message names the file and the key."""


# The defines that choose and configure a console and an exit (templates/cortex-m/ff_console.h)
CONSOLE_DEFINES = ("FF_CONSOLE_", "FF_USART_", "FF_UART_", "FF_GPIO_", "FF_EXIT_")


@dataclass(frozen=True)
class Region:
    origin: int
    size: int


@dataclass(frozen=True)
class Emulator:
    kind: str  # qemu | simavr
    program: str  # qemu-system-arm, ... (simavr: the runner firmforge builds)
    machine: str  # QEMU machine, or simavr MCU name
    args: tuple[str, ...] = ()
    package: str = ""  # Debian package that provides the program


@dataclass(frozen=True)
class Flasher:
    tool: str
    args: tuple[str, ...]  # {elf} {hex} {bin} are replaced by the image paths
    package: str = ""


@dataclass(frozen=True)
class Board:
    name: str
    path: Path
    description: str
    family: str
    core: str
    clock_hz: int
    prefix: str  # toolchain prefix: "arm-none-eabi-" (empty for the host)
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    std: str
    compiler_package: str
    flash: Region
    ram: Region
    stack: int
    defines: dict[str, str] = field(default_factory=dict)
    emulator: Emulator | None = None
    flasher: Flasher | None = None
    stack_auto: bool = False  # memory.stack = "auto": sized by each build from a measurement

    @property
    def cc(self) -> str:
        return f"{self.prefix}gcc"

    def tool(self, name: str) -> str:
        """A binutils program of this board's toolchain (``size``, ``nm``, ``objcopy``)."""
        return f"{self.prefix}{name}"

    def with_semihosting_console(self) -> Board:
        """This board with its console and exit through semihosting (``--console
        semihosting``): output and exit status through a debugger attached to the part (openocd
        with semihosting enabled), instead of its UART. Cortex-M boards only."""
        if self.family != "cortex-m":
            raise BoardError(f"{self.name}: semihosting is a console of the Cortex-M boards; "
                             f"this is a {self.family} board")
        kept = {k: v for k, v in self.defines.items() if not k.startswith(CONSOLE_DEFINES)}
        return replace(self, defines={**kept, "FF_CONSOLE_SEMIHOSTING": "1",
                                      "FF_EXIT_SEMIHOSTING": "1"})

    @property
    def can_build(self) -> bool:
        return shutil.which(self.cc) is not None

    @property
    def can_emulate(self) -> bool:
        if self.emulator is None:
            return False
        if self.emulator.kind == "simavr":
            return Path("/usr/include/simavr/sim_avr.h").exists() and shutil.which("gcc") is not None
        return shutil.which(self.emulator.program) is not None


def auto_stack(measured: int) -> int:
    """The stack an ``"auto"`` board reserves for a firmware whose measured high-water mark is
    ``measured`` bytes: a quarter more, at least ``AUTO_STACK_MARGIN`` bytes more, rounded up
    to 64 bytes. The measurement is exact for the vectors it ran, and the generated code's
    stack does not depend on the data (no recursion, no variable-length arrays); the margin is
    for what a measurement cannot see (a different input path through a kernel)."""
    need = measured + max(measured // 4, AUTO_STACK_MARGIN)
    return (need + 63) // 64 * 64


def boards_dir() -> Path:
    from ... import boards

    return Path(boards.__file__).parent


def board_names() -> list[str]:
    """The microcontroller boards (FPGA and ASIC targets are ``hls_board_names``)."""
    return sorted(p.stem for p in boards_dir().glob("*.toml") if _kind(p) == "mcu")


def _kind(path: Path) -> str:
    """A board file's ``kind``: "mcu" (the default), "fpga" or "asic"."""
    try:
        kind = tomllib.loads(path.read_text()).get("kind", "mcu")
    except tomllib.TOMLDecodeError:
        return "mcu"  # load_board reports the syntax error
    return kind if isinstance(kind, str) else "mcu"


def load_board(name: str | Path) -> Board:
    """A board by name (``qemu-mps2-an386``) or by the path of a board file."""
    path = Path(name)
    if path.suffix != ".toml":
        path = boards_dir() / f"{name}.toml"
        if not path.exists():
            close = difflib.get_close_matches(str(name), board_names(), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise BoardError(f"unknown board {name!r}{hint} (`firmforge boards` lists them)")
    if not path.exists():
        raise BoardError(f"board file {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path}: not valid TOML: {e}") from None
    if data.get("kind", "mcu") != "mcu":
        raise BoardError(f"{path.stem} is an {data.get('kind')} target, not a microcontroller "
                         "board: use it for HLS projects (`firmforge hls --board`)")
    return _parse(path, data)


def all_boards() -> list[Board]:
    return [load_board(n) for n in board_names()]


class _Table:
    """Typed, checked access to one TOML table; reports unknown and missing keys by name."""

    def __init__(self, path: Path, where: str, data: object) -> None:
        if not isinstance(data, dict):
            raise BoardError(f"{path}: [{where}] must be a table")
        self.path, self.where, self.data, self.used = path, where, data, set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: object = ...) -> object:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise BoardError(f"{self.path}: missing key '{self._key(key)}'")
            return default
        v = self.data[key]
        ints = kind is int or (isinstance(kind, tuple) and int in kind)
        if not isinstance(v, kind) or (ints and isinstance(v, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise BoardError(f"{self.path}: key '{self._key(key)}' must be {names}, "
                             f"got {type(v).__name__} {v!r}")
        return v

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        v = self.get(key, list, list(default))
        if not all(isinstance(s, str) for s in v):
            raise BoardError(f"{self.path}: key '{self._key(key)}' must be a list of strings")
        return tuple(v)

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        v = self.get(key, str)
        if v not in options:
            raise BoardError(f"{self.path}: key '{self._key(key)}' is {v!r}; expected one of "
                             f"{', '.join(options)}")
        return v

    def table(self, key: str, required: bool = True) -> _Table | None:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise BoardError(f"{self.path}: missing table [{self._key(key)}]")
            return None
        return _Table(self.path, self._key(key), self.data[key])

    def done(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            known = ", ".join(sorted(self.used))
            raise BoardError(f"{self.path}: unknown key '{self._key(extra[0])}' (known here: "
                             f"{known})")


def _region(t: _Table) -> Region:
    r = Region(t.get("origin", int), t.get("size", int))
    t.done()
    if r.origin < 0 or r.size <= 0:
        raise BoardError(f"{t.path}: [{t.where}] needs origin >= 0 and size > 0")
    return r


def _parse(path: Path, data: dict) -> Board:
    top = _Table(path, "", data)
    tc = top.table("toolchain")
    mem = top.table("memory")
    defines_t = top.table("defines", required=False)
    emu_t = top.table("emulator", required=False)
    fl_t = top.table("flasher", required=False)
    defines = {}
    if defines_t is not None:
        for k in defines_t.data:
            v = defines_t.get(k, (int, str))
            defines[k] = str(v)
    emulator = flasher = None
    if emu_t is not None:
        emulator = Emulator(emu_t.choice("kind", EMULATORS), emu_t.get("program", str),
                            emu_t.get("machine", str), emu_t.strings("args"),
                            emu_t.get("package", str, ""))
        emu_t.done()
    if fl_t is not None:
        flasher = Flasher(fl_t.get("tool", str), fl_t.strings("args"), fl_t.get("package", str, ""))
        fl_t.done()
    board = Board(
        name=path.stem, path=path, description=top.get("description", str),
        family=top.choice("family", FAMILIES), core=top.get("core", str),
        clock_hz=top.get("clock_hz", int), prefix=tc.get("prefix", str),
        cflags=tc.strings("cflags"), ldflags=tc.strings("ldflags"),
        std=tc.get("std", str, "c99"), compiler_package=tc.get("package", str, ""),
        flash=_region(mem.table("flash")), ram=_region(mem.table("ram")),
        stack=0, defines=defines, emulator=emulator, flasher=flasher)
    stack = mem.get("stack", (int, str))
    tc.done()
    mem.done()
    top.done()
    if emulator is None and flasher is None and board.family != "host":
        raise BoardError(f"{path}: a board needs an [emulator] or a [flasher] table")
    if stack == "auto":
        if emulator is None:
            raise BoardError(f"{path}: memory.stack = \"auto\" needs an [emulator] to measure "
                             "the stack in; give a size in bytes")
        measure = min(AUTO_STACK_MEASURE, board.ram.size // 2) // 64 * 64
        return replace(board, stack=measure, stack_auto=True)
    if isinstance(stack, str):
        raise BoardError(f"{path}: key 'memory.stack' is {stack!r}; expected a size in bytes "
                         "or \"auto\"")
    if stack <= 0 or stack >= board.ram.size:
        raise BoardError(f"{path}: memory.stack must be positive and smaller than the RAM")
    return replace(board, stack=stack)


# -- FPGA and ASIC targets of the HLS backend --------------------------------------------------
#
# A board file with ``kind = "fpga"`` or ``kind = "asic"`` carries only what an HLS project
# needs: a description, the FPGA part (fpga only) and the clock period in ns.

HLS_KINDS = ("fpga", "asic")


@dataclass(frozen=True)
class HlsBoard:
    name: str
    path: Path
    description: str
    kind: str  # fpga | asic
    part: str | None  # the FPGA part (None for an ASIC: a clock target only)
    clock_ns: float


def hls_board_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml") if _kind(p) in HLS_KINDS)


def load_hls_board(name: str | Path) -> HlsBoard:
    """An FPGA or ASIC target by name (``pynq-z2``) or by the path of its board file."""
    path = Path(name)
    if path.suffix != ".toml":
        path = boards_dir() / f"{name}.toml"
    if not path.exists() or _kind(path) not in HLS_KINDS:
        close = difflib.get_close_matches(str(name), hls_board_names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise BoardError(f"unknown FPGA/ASIC board {name!r}{hint} (known: "
                         f"{', '.join(hls_board_names())})")
    top = _Table(path, "", tomllib.loads(path.read_text()))
    kind = top.choice("kind", HLS_KINDS)
    part = top.get("part", str) if kind == "fpga" else None
    clock = top.get("clock_ns", (int, float))
    board = HlsBoard(path.stem, path, top.get("description", str), kind, part, float(clock))
    top.done()
    if board.clock_ns <= 0:
        raise BoardError(f"{path}: clock_ns must be positive")
    return board
