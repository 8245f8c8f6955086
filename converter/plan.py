"""Memory planning: tensor lifetimes -> offsets in one static arena.

Each activation value gets a buffer. A buffer lives from the step that writes it to the last step
that reads it. Views (ops that declare ``aliases_input``, such as Reshape) share their input's
buffer; ops that declare ``inplace`` write over an input that dies at that step. Graph inputs and
outputs live in the caller's buffers (the ``in``/``out`` arguments of ``<name>_run``), so the
arena holds only intermediates and the kernels' scratch (sizes given by the target). State (the
``state`` values of stateful ops) lives in its own region, laid out once and never reused, since
it must survive from one inference to the next.

Placement is TFLM's greedy scheme (largest buffer first, at the lowest offset that does not
collide with a placed buffer whose lifetime overlaps). The report compares the arena with the
lower bound: the largest total size of buffers live at one step.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from .ir import Graph, IRError, Node, Value

ALIGN = 4


class Storage(enum.Enum):
    ARENA = "arena"
    INPUT = "input"
    OUTPUT = "output"
    STATE = "state"


@dataclass(eq=False)
class Buffer:
    values: list[Value]
    size: int
    start: int
    end: int
    storage: Storage = Storage.ARENA
    io_index: int = 0
    offset: int = 0

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_size: int
    lower_bound: int
    state_size: int = 0
    scratch: dict[int, Buffer] = field(default_factory=dict)  # node index -> scratch buffer
    copies: set[int] = field(default_factory=set)  # view nodes that must copy their bytes
    _of: dict[int, Buffer] = field(default_factory=dict, repr=False)

    def buffer(self, v: Value) -> Buffer:
        try:
            return self._of[id(v)]
        except KeyError:
            raise IRError(f"value {v.name} has no buffer (constant or unused?)") from None

    def live_bytes(self, step: int) -> int:
        return sum(b.size for b in self.buffers if b.storage is Storage.ARENA
                   and b.start <= step <= b.end)


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(graph: Graph, scratch: Sequence[int] = (),
                inplace: Sequence[bool] | None = None) -> MemoryPlan:
    """Assign every non-constant value of ``graph`` a buffer and place the arena buffers.

    The target's kernels have the last word on memory: ``scratch[t]`` is the scratch (bytes)
    the kernel of node ``t`` needs (default none), and ``inplace[t]`` whether that kernel may
    write its output over its first input (default: the op's own ``inplace`` declaration; a
    kernel with a line buffer can run a depthwise convolution in place, which the op alone
    cannot promise)."""
    if scratch and len(scratch) != len(graph.nodes):
        raise IRError(f"{len(scratch)} scratch sizes for {len(graph.nodes)} nodes")
    if inplace is None:
        inplace = [n.inplace for n in graph.nodes]
    if len(inplace) != len(graph.nodes):
        raise IRError(f"{len(inplace)} in-place flags for {len(graph.nodes)} nodes")
    last = len(graph.nodes)
    last_use: dict[int, int] = {}
    for t, node in enumerate(graph.nodes):
        for v in node.inputs:
            last_use[id(v)] = t
    for v in graph.outputs:
        last_use[id(v)] = last
    of: dict[int, Buffer] = {}
    buffers: list[Buffer] = []
    copies: set[int] = set()

    def add(b: Buffer, v: Value) -> None:
        b.values.append(v)
        b.size = max(b.size, v.nbytes)
        b.end = max(b.end, last_use.get(id(v), b.start))
        of[id(v)] = b

    for i, v in enumerate(graph.inputs):
        b = Buffer([], 0, 0, 0, Storage.INPUT, i)
        buffers.append(b)
        add(b, v)
    out_index = {id(v): i for i, v in enumerate(graph.outputs)}
    for t, node in enumerate(graph.nodes):
        for v in node.outputs:
            b = _shared(node, t, v, of, out_index, inplace[t])
            if b is None:
                if node.aliases_input:
                    copies.add(t)
                b = Buffer([], 0, t, t)
                buffers.append(b)
            add(b, v)
            if id(v) in out_index:
                b.storage, b.io_index = Storage.OUTPUT, out_index[id(v)]
    state_size = 0
    for node in graph.nodes:
        for v in node.state:
            if id(v) in of:
                raise IRError(f"state value {v.name} belongs to two nodes")
            b = Buffer([], 0, 0, last, Storage.STATE, offset=state_size)
            buffers.append(b)
            add(b, v)
            state_size = _aligned(state_size + b.size)
    scratch_buffers = {t: Buffer([], int(n), t, t) for t, n in enumerate(scratch) if n}
    arena = [b for b in buffers if b.storage is Storage.ARENA] + list(scratch_buffers.values())
    size = _place(arena)
    steps = range(max(last, 1))
    bound = max((sum(b.size for b in arena if b.start <= t <= b.end) for t in steps), default=0)
    return MemoryPlan(buffers, size, bound, state_size, scratch_buffers, copies, of)


def _shared(node: Node, t: int, v: Value, of: dict[int, Buffer],
            out_index: dict[int, int], inplace: bool) -> Buffer | None:
    """The input buffer that output ``v`` may share, or None for a fresh buffer.

    A view (Reshape) shares its input's bytes; an ``inplace`` op overwrites its first input when
    nothing reads that input later. Neither may make a caller-owned buffer serve two roles, so
    those cases get a fresh buffer (and the view becomes a copy).
    """
    src = node.inputs[0] if node.inputs else None
    if src is None or src.is_const or not (node.aliases_input or inplace):
        return None
    b = of[id(src)]
    is_out = id(v) in out_index
    if node.aliases_input:
        return None if is_out and b.storage is not Storage.ARENA else b
    if inplace and b.storage is Storage.ARENA and b.end == t \
            and v.nbytes == b.size and not is_out:
        return b
    return None


# Orders in which buffers are offered to the placer. Greedy placement is not optimal in general
# (TFLM's planner uses the first); each order wins on some graphs, so every one is tried.
_ORDERS = (
    lambda b: (-b.size, b.start),                     # largest first (TFLM's greedy)
    lambda b: (b.start, -b.size),                     # in execution order
    lambda b: (-(b.end - b.start), -b.size),          # longest-lived first
    lambda b: (-b.size * (b.end - b.start + 1), b.start),  # largest area in time x bytes first
)


def _place(buffers: list[Buffer]) -> int:
    """Place every buffer: for each order, put each buffer at the lowest offset (first fit) or in
    the tightest gap (best fit) that no placed buffer overlapping it in time occupies; keep the
    smallest arena found. Deterministic: the same graph always gets the same offsets."""
    best_size, best = -1, {}
    for key in _ORDERS:
        for best_fit in (False, True):
            at = _place_once(sorted(buffers, key=key), best_fit)
            size = max((_aligned(at[id(b)] + b.size) for b in buffers), default=0)
            if best_size < 0 or size < best_size:
                best_size, best = size, at
    for b in buffers:
        b.offset = best[id(b)]
    return max(best_size, 0)


def _place_once(order: list[Buffer], best_fit: bool) -> dict[int, int]:
    """Offsets (by buffer id) from one placement pass over ``order``."""
    at: dict[int, int] = {}
    placed: list[Buffer] = []
    for b in order:
        busy = sorted((at[id(p)], at[id(p)] + p.size) for p in placed if p.overlaps_in_time(b))
        gaps, cursor = [], 0
        for lo, hi in busy:
            if _aligned(cursor) + b.size <= lo:
                gaps.append((lo - _aligned(cursor), _aligned(cursor)))
            cursor = max(cursor, hi)
        gaps.append((1 << 62, _aligned(cursor)))  # the open end above everything
        at[id(b)] = min(gaps)[1] if best_fit else min(g[1] for g in gaps)
        placed.append(b)
    return at
