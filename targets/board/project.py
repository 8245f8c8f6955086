"""A board's firmware project: generated model + C core + family template + test vectors.

Everything lands flat in one directory with a Makefile, so the project builds with ``make`` on
its own (no firmforge needed). Family templates live in ``firmware/templates/<family>/``: every
``.c``/``.S`` file there is compiled, ``*.j2`` files are rendered with the board's memory map,
and ``family.toml`` lists the flags every board of the family adds.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from ...converter.ir import Graph
from ..c.vectors import vector_files
from ..c.writer import CSources, write_files
from ..paths import core_files, templates_dir
from .spec import Board, BoardError

# Flags of every firmware build: strict C, dead code and data dropped at link time.
WARNINGS = ("-Wall", "-Wextra", "-Werror")
SECTIONS = ("-ffunction-sections", "-fdata-sections")
OPT = "-O2"


@dataclass(frozen=True)
class Family:
    name: str
    dir: Path
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    linker_script: str | None  # a .j2 template rendered to link.ld
    common_sources: tuple[str, ...]  # extra files taken from templates/common


def load_family(name: str) -> Family:
    d = templates_dir() / name
    f = d / "family.toml"
    if not f.exists():
        raise BoardError(f"no firmware template family {name!r} ({f} is missing)")
    data = tomllib.loads(f.read_text())
    unknown = set(data) - {"cflags", "ldflags", "linker_script", "common_sources"}
    if unknown:
        raise BoardError(f"{f}: unknown key {sorted(unknown)[0]!r}")
    return Family(name, d, tuple(data.get("cflags", ())), tuple(data.get("ldflags", ())),
                  data.get("linker_script"), tuple(data.get("common_sources", ())))


def compile_flags(board: Board, family: Family) -> list[str]:
    std = [f"-std={board.std}"] + (["-pedantic"] if board.std == "c99" else [])
    defines = [f"-D{k}={v}" for k, v in sorted(board.defines.items())]
    return [*std, *WARNINGS, OPT, *SECTIONS, *family.cflags, *board.cflags,
            f"-DFF_CLOCK_HZ={board.clock_hz}UL", *defines, "-I."]


def link_flags(board: Board, family: Family) -> list[str]:
    # Without a linker script of ours the stack is not a section (avr-libc puts it at the top of
    # RAM): the platform code reads the board's budget from this symbol.
    stack = [] if family.linker_script else [f"-Wl,--defsym=__ff_stack_size={board.stack}"]
    return ["-Wl,--gc-sections", "-Wl,-Map,firmware.map", *stack, *family.ldflags,
            *board.ldflags]


def project_files(src: CSources, graph: Graph, board: Board, vectors: np.ndarray | list[np.ndarray]
                  ) -> dict[str, str]:
    """Every file of the firmware project, in memory (name -> text)."""
    family = load_family(board.family)
    files = {**src.files, **core_files(src.headers)}
    common = templates_dir() / "common"
    files["main.c"] = (common / "main.c").read_text()
    files["ff_platform.h"] = (common / "ff_platform.h").read_text()
    for name in family.common_sources:
        files[name] = (common / name).read_text()
    for p in sorted(family.dir.iterdir()):
        if p.suffix in (".c", ".S", ".h"):
            files[p.name] = p.read_text()
    files.update(vector_files(src, graph, vectors))
    files.update(link_files(board, files))
    return files


def link_files(board: Board, names: object) -> dict[str, str]:
    """The files that depend on the board's memory map and stack: ``link.ld`` (families with a
    linker script of their own) and the ``Makefile``, for a project whose files are ``names``.
    Rewriting only these (another stack size) makes ``make`` relink without recompiling."""
    family = load_family(board.family)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([family.dir, templates_dir() / "common"]),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    ctx = {"board": board, "flash": board.flash, "ram": board.ram, "stack": board.stack}
    files = {}
    if family.linker_script:
        files["link.ld"] = env.get_template(family.linker_script).render(**ctx)
    sources = sorted(str(n) for n in names if str(n).endswith((".c", ".S")))
    files["Makefile"] = env.get_template("Makefile.j2").render(
        **ctx, cc=board.cc, objcopy=board.tool("objcopy"),
        cflags=compile_flags(board, family), ldflags=link_flags(board, family),
        sources=sources, linker_script=bool(family.linker_script))
    return files


def relink(board: Board, project_dir: Path) -> None:
    """Rewrite ``link.ld`` and the ``Makefile`` of a written project for ``board`` (typically
    the same board with another stack size); the next ``make`` relinks only."""
    names = [p.name for p in Path(project_dir).iterdir() if p.is_file()]
    write_files(link_files(board, names), Path(project_dir))


def write_project(src: CSources, graph: Graph, board: Board, out_dir: Path,
                  vectors: np.ndarray | list[np.ndarray]) -> list[Path]:
    """Write the project into ``out_dir`` (staged, so an error leaves nothing half-written)."""
    return write_files(project_files(src, graph, board, vectors), Path(out_dir))
