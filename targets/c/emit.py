"""Dispatch from an op class to its C kernel and its emitter.

Each family module ``targets/c/emit_<family>.py`` registers, per op, two functions on the type
annotation of their node argument:

- ``@kernel.register``: the ``Kernel`` descriptor the node lowers to (function, header,
  parameter struct, caller-owned scratch, inputs it reads encoded), chosen from the node's
  dtypes and weight encodings; it raises ``UnsupportedOpError`` for what the C target cannot
  compute. The writer asks every node first (``lower``, which also refuses an encoded constant
  the kernel would read as dense), so an unsupported op fails before anything is planned, and
  the memory plan sizes scratch from the descriptors (scratch belongs to the target, not to
  the op).
- ``@emit.register``: writes the call into an ``EmitContext`` whose ``kernel`` is that
  descriptor (``ctx.params(...)``, ``ctx.call_kernel(...)``).

This module imports every ``emit_*`` module, so adding an op means adding its functions there.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import singledispatch
from pathlib import Path

from ...converter.encoding import Dense
from ...converter.ir import Node, Value
from .context import EmitContext, Kernel

__all__ = ["EmitContext", "Kernel", "UnsupportedOpError", "data_input", "emit", "kernel", "lower",
           "stored", "unsupported"]


class UnsupportedOpError(NotImplementedError):
    """An op (or an op with these dtypes) that the C target cannot generate."""


@singledispatch
def kernel(node: Node) -> Kernel:
    raise UnsupportedOpError(f"{node.name}: the C target has no kernel for {node.kind}")


@singledispatch
def emit(node: Node, ctx: EmitContext) -> None:
    raise UnsupportedOpError(f"{node.name}: the C target has no emitter for {node.kind}")


def unsupported(node: Node, what: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"{node.name}: the C target has no {node.kind} kernel for {what}")


def stored(v: Value) -> str:
    """`` stored <encoding>`` of a constant, for messages (`` stored packed``)."""
    return f" stored {v.encoding}" if v.is_const else ""


def lower(node: Node) -> Kernel:
    """``kernel(node)``, refusing a constant input in an encoding the kernel does not decode
    (it would read packed or sparse bytes as plain values)."""
    k = kernel(node)
    for i, v in enumerate(node.inputs):
        if v.is_const and i not in k.decodes and not isinstance(v.encoding, Dense):
            raise UnsupportedOpError(f"{node.name}: the C target has no {node.kind} kernel for "
                                     f"input {i} ({v.name}) stored {v.encoding}; {k.fn} reads it "
                                     "dense")
    return k


def data_input(node: Node, *values: Value) -> None:
    """Kernels read activations (``values``, default the first input): a constant operand
    should have been folded."""
    if any(v.is_const for v in values or node.inputs[:1]):
        raise unsupported(node, "a constant input (fold it first)")


for _mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _mod.name.startswith("emit_"):
        importlib.import_module(f"{__package__}.{_mod.name}")
