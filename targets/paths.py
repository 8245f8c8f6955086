"""Where the firmware tree (``firmware/``, shipped as package data) keeps each kind of file.

    core/        the C99 inference core (ff_*.c / ff_*.h)
    templates/   firmware project templates, one folder per family, plus common/
    tools/       host-side helpers built on demand (QEMU counting plugin, simavr runner)

Every target asks here; no other module spells these paths.
"""

from __future__ import annotations

from pathlib import Path

from .. import firmware


def firmware_dir() -> Path:
    return Path(firmware.__file__).parent


def core_dir() -> Path:
    return firmware_dir() / "core"


def templates_dir() -> Path:
    return firmware_dir() / "templates"


def tools_dir() -> Path:
    return firmware_dir() / "tools"


def core_sources() -> list[Path]:
    return sorted(core_dir().glob("*.c"))


def core_files(headers: list[str]) -> dict[str, str]:
    """The C core files a model needs: ``ff_fixed.h`` (and ``ff_dsp.h``, which it includes),
    its kernel headers, and every ``<header stem>*.c`` that implements them (``ff_conv.h`` ->
    ``ff_conv.c``, ``ff_conv_s16.c``)."""
    core = core_dir()
    files = {}
    for h in sorted({"ff_fixed.h", "ff_dsp.h", *headers}):
        files[h] = (core / h).read_text()
        for c in sorted(core.glob(h.replace(".h", "*.c"))):
            files[c.name] = c.read_text()
    return files
