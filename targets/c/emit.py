"""Dispatch from an op class to its C emitter.

Each family module ``targets/c/emit_<family>.py`` registers one function per op with
``@emit.register``; the type annotation of the node argument selects it. This module imports
every ``emit_*`` module, so adding an op means adding its function there and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import singledispatch
from pathlib import Path

from ...converter.ir import Node
from .context import EmitContext


class UnsupportedOpError(NotImplementedError):
    """An op (or an op with these dtypes) that the C target cannot generate."""


@singledispatch
def emit(node: Node, ctx: EmitContext) -> None:
    raise UnsupportedOpError(f"{node.name}: the C target has no kernel for {node.kind}")


def unsupported(node: Node, what: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"{node.name}: the C target has no {node.kind} kernel for {what}")


for _mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _mod.name.startswith("emit_"):
        importlib.import_module(f"{__package__}.{_mod.name}")
