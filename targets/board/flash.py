"""Flash a built firmware project onto a real board with the flasher its board file names.

A board file's ``[flasher]`` gives the tool and its arguments. Arguments may hold placeholders,
replaced whole-word inside each argument:

- ``{elf}``, ``{hex}``, ``{bin}``: the absolute path of ``firmware.elf``/``.hex``/``.bin`` in the
  project directory (``make`` builds all three).
- ``{port}``: the serial port given with ``port=`` (``firmforge flash --port``); an argument
  without it is an error. ``{port:/dev/ttyACM0}`` gives a default used when no port is given.

A placeholder is ``{name}`` or ``{name:default}`` with ``name`` an identifier; any other brace is
kept as written, so Tcl braces in an openocd command quote a path that may hold spaces:
``"program {{elf}} verify reset exit"`` becomes ``program {/abs/firmware.elf} verify reset exit``.
An unknown placeholder name is an error (a typo would otherwise reach the tool verbatim).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from .spec import IMAGES, Board, Flasher

IMAGE_FILE = {kind: f"firmware.{kind}" for kind in IMAGES}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)(?::([^{}]*))?\}")


class FlashError(RuntimeError):
    """Flashing is impossible or failed; the message says why and what to do."""


class EmulatedBoardError(FlashError):
    """The board is emulated (or the host): there is nothing to flash."""


class FlasherMissingError(FlashError):
    """The flasher program is not installed; the message names its Debian package or source."""


class ImageMissingError(FlashError):
    """The image the flasher needs has not been built."""


class FlashToolError(FlashError):
    """The flasher ran and failed (or hung); the message has its output."""


def _flasher(board: Board) -> Flasher:
    if board.flasher is None:
        if board.emulator is not None:
            raise EmulatedBoardError(f"{board.name} is emulated: use `firmforge run`")
        raise EmulatedBoardError(f"{board.name} has no flasher: it runs on this machine")
    return board.flasher


def flash_command(board: Board, project_dir: Path, *, port: str | None = None) -> list[str]:
    """The flasher's command line with every placeholder replaced (nothing is checked on disk)."""
    fl = _flasher(board)
    images = Path(project_dir).resolve()
    used_port = False

    def subst(m: re.Match[str]) -> str:
        nonlocal used_port
        name, default = m.group(1), m.group(2)
        if name in IMAGE_FILE:
            if default is not None:
                raise FlashError(f"{board.path}: flasher placeholder {m.group(0)!r}: an image "
                                 f"path takes no default")
            return str(images / IMAGE_FILE[name])
        if name == "port":
            used_port = True
            if port is not None:
                return port
            if default:
                return default
            raise FlashError(f"flashing {board.name} needs the serial port of the board "
                             f"(--port, e.g. /dev/ttyACM0)")
        known = ", ".join("{" + n + "}" for n in (*IMAGE_FILE, "port"))
        raise FlashError(f"{board.path}: unknown placeholder {m.group(0)!r} in flasher.args "
                         f"(known: {known})")

    cmd = [fl.tool] + [_PLACEHOLDER.sub(subst, a) for a in fl.args]
    if port is not None and not used_port:
        raise FlashError(f"{board.name} is flashed with {fl.tool}, which takes no serial port; "
                         f"drop --port")
    return cmd


def images_needed(board: Board) -> list[str]:
    """The image kinds (``elf``/``hex``/``bin``) the board's flasher reads."""
    fl = _flasher(board)
    kinds = {m.group(1) for a in fl.args for m in _PLACEHOLDER.finditer(a)}
    return [k for k in IMAGES if k in kinds]


def flash(board: Board, project_dir: Path, *, dry_run: bool = False, port: str | None = None,
          timeout: float = 300) -> list[str]:
    """Run the board's flasher on the built project; return the command it ran.

    With ``dry_run`` the command is only returned: neither the tool nor the images need to exist.
    """
    cmd = flash_command(board, project_dir, port=port)
    if dry_run:
        return cmd
    fl = _flasher(board)
    if shutil.which(fl.tool) is None:
        if fl.package:
            how = f"Debian package {fl.package}: `apt-get install {fl.package}`"
        else:
            how = f"Debian has no package for it; from {board.path.name}: {board.description}"
        raise FlasherMissingError(f"flashing {board.name} needs {fl.tool}, which is not "
                                  f"installed ({how})")
    project_dir = Path(project_dir)
    for kind in images_needed(board):
        image = project_dir / IMAGE_FILE[kind]
        if not image.is_file():
            raise ImageMissingError(f"{image} does not exist: build the project first "
                                    f"(`firmforge build` or `make -C {project_dir}`)")
    # A session of its own, so a timeout kills whatever the tool started too (a child that
    # kept our pipe open would make the wait hang).
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, errors="replace",
                          start_new_session=True) as p:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            raise FlashToolError(f"{fl.tool} did not finish within {timeout:g} s "
                                 f"({_shell(cmd)}):\n{_tail(out or '')}") from None
    if p.returncode:
        raise FlashToolError(f"{fl.tool} failed with exit status {p.returncode} "
                             f"({_shell(cmd)}):\n{_tail(out)}")
    return cmd


def _shell(cmd: list[str]) -> str:
    return shlex.join(cmd)


def _tail(text: str, limit: int = 6000) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else "...\n" + text[-limit:]
