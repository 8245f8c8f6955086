"""What an HLS emitter writes into: layer configuration structs, constant arrays, the calls of
the top function and the static state of stateful layers.

An emitter (one per op class, ``@emit.register`` in ``targets/hls/emit_*.py``) receives a node
and an ``HlsContext``. Everything the C++ template needs is computed there in Python (sizes,
widths, multipliers, clamps, zero points) and written as ``static const`` members and
``typedef``s of one struct per layer, the template's ``CFG`` parameter; the template only does
arithmetic.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ...converter.ir import Graph, Names, Node, Value
from ..c.context import c_identifier
from .estimate import LayerEstimate
from .widths import ctype


class IoStyle(enum.Enum):
    """How the top function takes its inputs and gives its outputs."""

    PARALLEL = "parallel"  # arrays (io_parallel): every element a port, fully partitioned
    STREAM = "stream"  # hls::stream / ac_channel at the top, arrays inside (io_stream)


class Flavor(enum.Enum):
    """Which arbitrary-precision library the project is written for."""

    AP = "ap"  # Xilinx ap_int / hls::stream (Vitis HLS)
    AC = "ac"  # Mentor ac_int / ac_channel (Catapult)


@dataclass(frozen=True)
class HlsOptions:
    part: str
    clock_ns: float
    reuse: int | Mapping[str, int] = 1  # one factor, or one per layer (node) name
    io: IoStyle = IoStyle.PARALLEL
    flavor: Flavor = Flavor.AP

    def reuse_of(self, node: Node) -> int:
        r = self.reuse.get(node.name, 1) if isinstance(self.reuse, Mapping) else self.reuse
        return int(r)


class UnsupportedOp(NotImplementedError):
    """One op the HLS target has no template for (collected into UnsupportedOpsError)."""


def unsupported(node: Node, what: str = "") -> UnsupportedOp:
    return UnsupportedOp(f"{node.name}: {node.kind}{' ' + what if what else ''}")


@dataclass
class HlsContext:
    graph: Graph
    prefix: str
    options: HlsOptions
    configs: list[str] = field(default_factory=list)
    consts: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    statics: list[tuple[str, str]] = field(default_factory=list)  # (declaration, reset loop)
    locals: list[str] = field(default_factory=list)
    headers: set[str] = field(default_factory=set)
    estimates: list[LayerEstimate] = field(default_factory=list)
    node: Node | None = None
    layer: str = ""
    _layers: Names = field(default_factory=Names)
    _bufs: dict[int, str] = field(default_factory=dict)
    _buf_names: Names = field(default_factory=Names)

    def __post_init__(self) -> None:
        for i, v in enumerate(self.graph.inputs):
            self._bufs[id(v)] = io_name("in", i, len(self.graph.inputs))
            self._buf_names.taken.add(self._bufs[id(v)])

    # -- used by the writer ---------------------------------------------------------------------
    def begin(self, node: Node) -> None:
        self.node = node
        self.layer = self._layers.fresh(c_identifier(node.name))
        shapes = " ".join("x".join(map(str, v.shape[1:])) for v in node.inputs if not v.is_const)
        out = " ".join("x".join(map(str, v.shape[1:])) for v in node.outputs)
        self.body.append(f"    // {comment_safe(node.name)}: {node.kind} {shapes} -> {out}")

    # -- used by emitters -----------------------------------------------------------------------
    @property
    def reuse(self) -> int:
        return self.options.reuse_of(self.node)

    def sym(self, tag: str) -> str:
        return f"{self.prefix}_{self.layer}_{tag}"

    def buf(self, v: Value) -> str:
        """The array holding activation ``v`` (a top-level argument or a local array)."""
        if id(v) not in self._bufs:
            name = self._buf_names.fresh(f"v_{c_identifier(v.name)}")
            self._bufs[id(v)] = name
            n = v.size
            self.locals.append(f"    {ctype(v)} {name}[{n}];\n"
                               f"#pragma HLS ARRAY_PARTITION variable = {name} complete")
        return self._bufs[id(v)]

    def const(self, tag: str, ctype_: str, data: np.ndarray, comment: str = "") -> str:
        """A ``static const`` array in ``<prefix>_weights.h``; returns its symbol."""
        s = self.sym(tag)
        flat = np.asarray(data).astype(np.int64).ravel()
        if flat.size == 0:
            flat = np.zeros(1, np.int64)
        self.consts.append(const_array(s, ctype_, flat, comment))
        return s

    def bit_rows(self, tag: str, bits: np.ndarray, comment: str = "") -> str:
        """Rows of bits (O, K) as ``static const ff_uint<K>`` words, bit k of row o = bits[o, k],
        built from a constant-initialized table of 32-bit chunks (ff_hls_bit_row)."""
        s = self.sym(tag)
        o, k = bits.shape
        chunks = -(-k // 32)
        padded = np.zeros((o, chunks * 32), np.uint64)
        padded[:, :k] = bits != 0
        words = (padded.reshape(o, chunks, 32) << np.arange(32, dtype=np.uint64)).sum(axis=2)
        raw = ",\n    ".join("{" + ", ".join(f"{int(w)}u" for w in row) + "}" for row in words)
        rows = ",\n    ".join(f"ff_hls_bit_row<{k}>({s}_chunks[{i}])" for i in range(o))
        note = f"// {comment_safe(comment)}\n" if comment else ""
        self.consts.append(f"{note}static const unsigned {s}_chunks[{o}][{chunks}] = {{\n    {raw}\n}};\n"
                           f"static const ff_uint<{k}> {s}[{o}] = {{\n    {rows}\n}};")
        return s

    def config(self, ints: Mapping[str, int | bool], types: Mapping[str, str]) -> str:
        """The layer's configuration struct (the template's CFG); returns its name."""
        name = self.sym("cfg")
        lines = [f"struct {name} {{"]
        for k, v in ints.items():
            iv = int(v)
            t, lit = ("int", str(iv)) if -(1 << 31) < iv < (1 << 31) else ("long long", f"{iv}LL")
            lines.append(f"    static const {t} {k} = {lit};")
        lines += [f"    typedef {t} {k};" for k, t in types.items()]
        self.configs.append("\n".join(lines) + "\n};")
        return name

    def call(self, header: str, text: str) -> None:
        self.headers.add(header)
        self.body.append(f"    {text};")

    def state(self, tag: str, ctype_: str, n: int, reset: int) -> str:
        """A state array kept across calls of the top function (a ``static`` array: how HLS
        keeps registers or BRAM between invocations); the ``reset`` port fills it with
        ``reset`` (the state's reset value)."""
        s = f"s_{self.layer}_{tag}"
        self.statics.append((f"    static {ctype_} {s}[{n}];",
                             f"        for (int i = 0; i < {n}; i++) {s}[i] = {reset};"))
        return s

    def estimate(self, row: LayerEstimate) -> None:
        self.estimates.append(row)


def io_name(kind: str, index: int, count: int) -> str:
    return f"{kind}{index}" if count > 1 else kind


def const_array(sym: str, ctype_: str, flat: np.ndarray, comment: str = "") -> str:
    vals = [str(int(v)) if -(1 << 31) < int(v) < (1 << 31) else f"{int(v)}LL" for v in flat]
    rows = [", ".join(vals[i:i + 16]) for i in range(0, len(vals), 16)]
    body = ",\n    ".join(rows)
    note = f"// {comment_safe(comment)}\n" if comment else ""
    return f"{note}static const {ctype_} {sym}[{len(vals)}] = {{\n    {body}\n}};"


def comment_safe(s: str) -> str:
    """A model's name inside a // comment: no line break, and no backslash (one at the end of
    a line would continue the comment over the next line of code)."""
    return re.sub(r"[\r\n\\]", " ", s).replace("*/", "* /")
