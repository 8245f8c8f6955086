"""Dispatch from an op class to its HLS emitter.

Each family module ``targets/hls/emit_<family>.py`` registers one function per op on the type
annotation of its node argument (``@emit.register``); it checks the node's dtypes and raises
``UnsupportedOp`` for what the templates cannot compute, then writes the layer's configuration,
constants and call into the ``HlsContext``. Ops without a function fall through to the default,
which is unsupported too. This module imports every ``emit_*`` module, so adding an op means
adding its function there (and its template in ``firmware/hls``).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import singledispatch
from pathlib import Path

from ...converter.ir import Node
from .context import HlsContext, unsupported

__all__ = ["emit"]


@singledispatch
def emit(node: Node, ctx: HlsContext) -> None:
    raise unsupported(node, "(no HLS template)")


for _mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _mod.name.startswith("emit_"):
        importlib.import_module(f"{__package__}.{_mod.name}")
