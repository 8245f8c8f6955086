"""What an emitter function writes into: constant arrays, parameter structs and kernel calls.

An emitter (one per op, registered with ``@emit.register`` in ``targets/c/emit_*.py``) receives a
node and an ``EmitContext`` whose ``kernel`` is the node's kernel descriptor, and calls
``ctx.params(...)`` and ``ctx.call_kernel(...)``; everything it needs from Python (shapes,
multipliers, clamp bounds) is computed there, so the C kernel only does arithmetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ...converter.encoding import Dense, encode
from ...converter.ir import Graph, IRError, Names, Node, Value
from ...converter.plan import MemoryPlan, Storage

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while main".split())


def c_identifier(name: str) -> str:
    """A model or layer name made safe for C: [A-Za-z_][A-Za-z0-9_]*, never a keyword."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "x"
    s = re.sub(r"_+", "_", s)
    if s[0].isdigit() or s in _C_KEYWORDS:
        s = "n" + s if s[0].isdigit() else s + "_"
    return s


def c_literal(v: object) -> str:
    """A C99 literal of ``v``: integers that need more than 16 bits are ``long`` (32 bits on
    every target, AVR included), INT32_MIN is written as an expression (``2147483648`` alone
    does not fit ``long``); tuples and lists become brace initializers."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        iv = int(v)
        if iv == -(1 << 31):
            return "(-2147483647L - 1)"
        return f"{iv}L" if abs(iv) > 32767 else str(iv)
    if isinstance(v, str):
        return v
    if isinstance(v, (tuple, list)):
        return "{" + ", ".join(c_literal(x) for x in v) + "}"
    raise TypeError(f"no C literal for {type(v).__name__}")


@dataclass(frozen=True)
class Kernel:
    """The C kernel a node lowers to: ``fn(&params, operands...)`` declared in ``header``,
    with ``scratch`` bytes of caller-owned scratch (0: none). ``decodes`` lists the inputs the
    kernel reads in their storage encoding (``Value.encoding``, e.g. packed int4 weights); every
    other constant input must be stored ``Dense()``. ``inplace`` says whether the kernel may be
    given its first input's buffer as its output (None: as the op declares)."""

    fn: str
    header: str
    params: str | None = None
    scratch: int = 0
    decodes: tuple[int, ...] = ()
    inplace: bool | None = None


@dataclass
class ConstArray:
    symbol: str
    ctype: str
    data: np.ndarray
    comment: str = ""


@dataclass
class EmitContext:
    graph: Graph
    plan: MemoryPlan
    prefix: str
    arrays: list[ConstArray] = field(default_factory=list)
    structs: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    headers: set[str] = field(default_factory=set)
    step: int = 0
    kernel: Kernel | None = None
    _layer: str = ""
    _layer_names: Names = field(default_factory=Names)
    _const_symbols: dict[int, dict[str, str]] = field(default_factory=dict)
    _symbols: Names = field(default_factory=Names)

    # -- used by the writer ---------------------------------------------------------------------
    def begin(self, node: Node, step: int, kernel: Kernel) -> None:
        self.step = step
        self.kernel = kernel
        self._layer = self._layer_names.fresh(c_identifier(node.name))
        shapes = " ".join("x".join(map(str, v.shape[1:])) for v in node.inputs if not v.is_const)
        out = " ".join("x".join(map(str, v.shape[1:])) for v in node.outputs)
        self.body.append(f"    /* {_comment_safe(node.name)}: {node.kind} {shapes} -> {out} */")

    def symbol(self, tag: str) -> str:
        return self._symbols.fresh(f"{self.prefix}_{self._layer}_{tag}")

    # -- used by emitters -----------------------------------------------------------------------
    def ptr(self, v: Value) -> str:
        """C expression for the data of ``v``: arena offset, caller buffer or constant array."""
        if v.is_const:
            return self.const(v)
        b = self.plan.buffer(v)
        ctype = v.dtype.ctype
        if b.storage is Storage.INPUT:
            return _io_name("in", b.io_index, len(self.graph.inputs))
        if b.storage is Storage.OUTPUT:
            return _io_name("out", b.io_index, len(self.graph.outputs))
        cast = "" if ctype == "int8_t" else f"({ctype} *)"
        region = "state" if b.storage is Storage.STATE else "arena"
        return f"{cast}({region} + {b.offset})"

    def scratch(self) -> str:
        """Pointer to the current node's scratch buffer (``kernel.scratch`` bytes)."""
        return f"(arena + {self.plan.scratch[self.step].offset})"

    def const(self, v: Value, ctype: str | None = None) -> str:
        """The symbol of a constant stored as one array (``Dense()``, whose C type ``ctype``
        may override, or ``Packed()``); emitted once however often it is used."""
        syms = self.const_arrays(v, ctype)
        if len(syms) != 1:
            raise IRError(f"{v.name} is stored {v.encoding} in {len(syms)} arrays "
                          f"({', '.join(syms)}): use const_arrays")
        return next(iter(syms.values()))

    def const_arrays(self, v: Value, ctype: str | None = None) -> dict[str, str]:
        """The symbols of the arrays a constant is stored as, by their role in its encoding
        (``converter/encoding.py``: ``values``, ``packed``, ``row_ptr``, ...)."""
        if not v.is_const:
            raise IRError(f"{v.name} is not a constant")
        if id(v) not in self._const_symbols:
            enc = encode(v.data, v.dtype, v.encoding)
            dense = isinstance(v.encoding, Dense)
            syms = {}
            for a in enc.arrays:
                tag = _tag(v.name) if len(enc.arrays) == 1 else f"{_tag(v.name)}_{a.name}"
                note = v.name if dense else f"{v.name}: {v.dtype.value}{list(v.shape)} " \
                    f"stored {v.encoding}" + (f", {a.name}" if len(enc.arrays) > 1 else "")
                syms[a.name] = self.array(tag, a.data, ctype if dense and ctype else a.ctype,
                                          note)
            self._const_symbols[id(v)] = syms
        return self._const_symbols[id(v)]

    def array(self, tag: str, data: np.ndarray, ctype: str, comment: str = "") -> str:
        """A constant array in ``<prefix>_weights.c``; returns its symbol. C has no empty
        arrays, so an empty one (the values of an all-zero sparse tensor) is stored as one
        zero element, which no kernel reads."""
        sym = self.symbol(tag)
        data = np.asarray(data).ravel()
        if data.size == 0:
            data = np.zeros(1, data.dtype)
        self.arrays.append(ConstArray(sym, ctype, data, comment))
        return sym

    def params(self, ctype: str | None = None, /, **fields: object) -> str:
        """A ``static FF_CONST`` parameter struct (of the kernel's type unless ``ctype`` says);
        returns ``&symbol`` to pass to the kernel."""
        ctype = ctype or self.kernel.params
        if ctype is None:
            raise IRError(f"kernel {self.kernel.fn} takes no parameter struct")
        sym = self.symbol("p")
        inits = ",\n".join(f"    .{k} = {c_literal(v)}" for k, v in fields.items())
        self.structs.append(f"static FF_CONST {ctype} {sym} = {{\n{inits}\n}};")
        return f"&{sym}"

    def call_kernel(self, *args: object) -> None:
        """Call the node's kernel with ``args``."""
        self.call(self.kernel.header, self.kernel.fn, *args)

    def call(self, header: str, fn: str, *args: object) -> None:
        """Call any core function (a copy beside the kernel, say)."""
        self.headers.add(header)
        self.body.append(f"    {fn}({', '.join(c_literal(a) for a in args)});")


def _io_name(kind: str, index: int, count: int) -> str:
    return kind if count == 1 else f"{kind}{index}"


def _tag(name: str) -> str:
    tail = c_identifier(name.rsplit(".", 1)[-1].rsplit("/", 1)[-1])
    return tail[:24] or "c"


def _comment_safe(s: str) -> str:
    return s.replace("*/", "* /").replace("\n", " ")

