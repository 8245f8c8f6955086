"""Where the firmware tree (``firmware/``, shipped as package data) keeps each kind of file.

    core/        the C99 inference core (ff_*.c / ff_*.h)
    templates/   firmware project templates, one folder per family, plus common/
    tools/       host-side helpers built on demand (QEMU counting plugin, simavr runner)

Every target asks here; no other module spells these paths.
"""

from __future__ import annotations

import re
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
    """The C core files a model needs: its kernel headers, every ``<header stem>*.c`` that
    implements them (``ff_conv.h`` -> ``ff_conv.c``, ``ff_conv_s16.c``), and every core header
    those files include (``ff_fixed.h``, ``ff_dsp.h``, ``ff_pairs.h``, ...), transitively."""
    core = core_dir()
    files: dict[str, str] = {}
    todo = sorted({"ff_fixed.h", *headers})
    while todo:
        h = todo.pop()
        if h in files:
            continue
        files[h] = (core / h).read_text()
        for c in sorted(core.glob(h.replace(".h", "*.c"))):
            files[c.name] = c.read_text()
        for text in [files[h]] + [files[c.name] for c in core.glob(h.replace(".h", "*.c"))]:
            todo += [i for i in _INCLUDE.findall(text) if (core / i).is_file()]
    return dict(sorted(files.items()))


# `#include "ff_x.h"`: the core's own headers (system headers use angle brackets)
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
