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
    optimal: bool = False  # arena_size proven the smallest any placement of these buffers gets

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
    steps = range(max(last, 1))
    bound = max((sum(b.size for b in arena if b.start <= t <= b.end) for t in steps), default=0)
    size, optimal = _place(arena, _aligned(bound))
    return MemoryPlan(buffers, size, bound, state_size, scratch_buffers, copies, of, optimal)


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


def _place(buffers: list[Buffer], bound: int) -> tuple[int, bool]:
    """Place every buffer; returns (arena size, whether it is proven optimal).

    First, for each order, each buffer goes to the lowest offset (first fit) or into the
    tightest gap (best fit) that no placed buffer overlapping it in time occupies; the smallest
    arena wins. It is optimal when it meets ``bound`` (the bytes live at the busiest step).
    Otherwise an exact search follows for graphs small enough: every optimal placement is the
    first-fit placement of some order (place the buffers of an optimal solution by increasing
    offset: none lands higher than there), so a depth-first search over orders, cut where the
    partial arena reaches the best found, finds the optimum. Deterministic."""
    best_size, best = -1, {}
    for key in _ORDERS:
        for best_fit in (False, True):
            at = _place_once(sorted(buffers, key=key), best_fit)
            size = max((_aligned(at[id(b)] + b.size) for b in buffers), default=0)
            if best_size < 0 or size < best_size:
                best_size, best = size, at
    optimal = best_size <= bound
    if not optimal and len(buffers) <= EXACT_MAX_BUFFERS:
        best_size, best, optimal = _search(buffers, best_size, best, bound)
    for b in buffers:
        b.offset = best[id(b)]
    return max(best_size, 0), optimal


# The exact search's reach: at most this many arena buffers and this many search nodes (it
# stops early, at the bound or the budget; the heuristic answer stands when the budget runs out).
EXACT_MAX_BUFFERS = 10
SEARCH_BUDGET = 20_000


def _search(buffers: list[Buffer], size: int, at: dict[int, int], bound: int
            ) -> tuple[int, dict[int, int], bool]:
    best = [size, dict(at)]
    nodes = [0]
    order = sorted(buffers, key=lambda b: (-b.size, b.start))

    def visit(placed: dict[int, int], rest: list[Buffer], top: int) -> bool:
        nodes[0] += 1
        if nodes[0] > SEARCH_BUDGET:
            return False
        if not rest:
            if top < best[0]:
                best[0], best[1] = top, dict(placed)
            return best[0] <= bound
        for i, b in enumerate(rest):
            busy = sorted((placed[id(p)], placed[id(p)] + p.size) for p in buffers
                          if id(p) in placed and p.overlaps_in_time(b))
            offset = 0
            for lo, hi in busy:
                if offset + b.size <= lo:
                    break
                offset = max(offset, _aligned(hi))
            new_top = max(top, _aligned(offset + b.size))
            if new_top >= best[0]:
                continue
            placed[id(b)] = offset
            if visit(placed, rest[:i] + rest[i + 1:], new_top):
                return True
            del placed[id(b)]
        return False

    visit({}, order, 0)
    complete = nodes[0] <= SEARCH_BUDGET
    return best[0], best[1], complete or best[0] <= bound


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
