"""The integer reference interpreter: runs a Graph in numpy, node by node, with each op's ``ref``.

For a quantized graph this *is* the answer every backend must reproduce bit for bit. It runs a
whole batch at once (every op's reference accepts any size in dimension 0) and can return every
intermediate tensor for layer-by-layer comparison.

A stateful graph (ops derived from ``Stateful``) runs one sample at a time instead: sample ``i``
sees the state sample ``i - 1`` left, as TFLM's consecutive ``Invoke()`` calls see their
variable tensors. The state is a dict from state value name to array; ``run`` updates the one it
is given in place, so a caller can carry it across calls (``Project.reference`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bitstream import pack_ternary_rows, unpack_ternary_rows
from .ir import DType, Graph, IRError, Node, Stateful, Value
from .ops.binary import pack_rows, unpack_rows
from .plan import MemoryPlan, Storage

State = dict[str, np.ndarray]


def initial_state(graph: Graph) -> State:
    """Every state value of ``graph`` at its reset value (empty for a stateless graph)."""
    state: State = {}
    for node in graph.nodes:
        if isinstance(node, Stateful):
            state.update((v.name, a) for v, a in zip(node.state, node.initial_state(), strict=True))
    return state


def run(graph: Graph, inputs: Sequence[np.ndarray], *, keep_all: bool = False,
        state: State | None = None) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Run ``graph`` on ``inputs`` (one array per graph input, batch first, the input's dtype).

    Returns ``(outputs, tensors)``; ``tensors`` maps value names to arrays and is filled only with
    ``keep_all=True``. A stateful graph starts from ``state`` (updated in place) or, when it is
    None, from the reset state.
    """
    if len(inputs) != len(graph.inputs):
        raise IRError(f"graph {graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    xs = [_check_input(v, np.asarray(x)) for v, x in zip(graph.inputs, inputs, strict=True)]
    if not graph.stateful:
        return _run_batch(graph, xs, keep_all, {})
    if state is None:
        state = initial_state(graph)
    missing = set(initial_state(graph)) - set(state)
    if missing:
        raise IRError(f"graph {graph.name}: no state given for {sorted(missing)}")
    runs = [_run_batch(graph, [x[i:i + 1] for x in xs], keep_all, state)
            for i in range(xs[0].shape[0])]
    outputs = [np.concatenate([r[0][k] for r in runs]) for k in range(len(graph.outputs))]
    tensors = {k: np.concatenate([r[1][k] for r in runs]) for k in runs[0][1]} if runs else {}
    return outputs, tensors


def _run_batch(graph: Graph, xs: list[np.ndarray], keep_all: bool, state: State
               ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    env: dict[int, np.ndarray] = {id(v): x for v, x in zip(graph.inputs, xs, strict=True)}
    for node in graph.nodes:
        args = [v.data if v.is_const else env[id(v)] for v in node.inputs]
        outs = _step(node, args, state)
        for v, y in zip(node.outputs, outs, strict=True):
            if y.dtype != v.dtype.np or tuple(y.shape[1:]) != tuple(v.shape[1:]):
                raise IRError(f"{node.name}: reference produced {y.dtype}{list(y.shape)}, "
                              f"value {v.name} is {v.dtype.value}{list(v.shape)}")
            env[id(v)] = y
    outputs = [v.data if v.is_const else env[id(v)] for v in graph.outputs]
    tensors = {}
    if keep_all:
        tensors = {v.name: env[id(v)] for v in graph.values() if id(v) in env}
    return outputs, tensors


def _step(node: Node, args: list[np.ndarray], state: State) -> list[np.ndarray]:
    if not isinstance(node, Stateful):
        return node.ref(args)
    outs, new = node.ref(args, [state[v.name] for v in node.state])
    for v, a in zip(node.state, new, strict=True):
        if a.dtype != v.dtype.np or a.shape != v.shape:
            raise IRError(f"{node.name}: new state {v.name} is {a.dtype}{list(a.shape)}, "
                          f"the value is {v.dtype.value}{list(v.shape)}")
        state[v.name] = a
    return outs


def _check_input(v: Value, x: np.ndarray) -> np.ndarray:
    if tuple(x.shape[1:]) != tuple(v.shape[1:]):
        raise IRError(f"input {v.name} expects shape [batch, {', '.join(map(str, v.shape[1:]))}], "
                      f"got {list(x.shape)}")
    if x.dtype != v.dtype.np:
        raise IRError(f"input {v.name} expects {v.dtype.np}, got {x.dtype}")
    if v.dtype is DType.u1 and np.any((x != 0) & (x != 1)):
        raise IRError(f"input {v.name} is u1 (spikes): its values must be 0 or 1, got "
                      f"{np.unique(x[(x != 0) & (x != 1)])[:4].tolist()}")
    if v.dtype in (DType.b1, DType.t2):
        bad = np.setdiff1d(np.unique(x), (-1, 1) if v.dtype is DType.b1 else (-1, 0, 1))
        if bad.size:
            raise IRError(f"input {v.name} is {v.dtype.value}: its values must be -1 "
                          f"{'or' if v.dtype is DType.b1 else ', 0 or'} +1, got {bad[:4].tolist()}")
    return x


def run_planned(graph: Graph, plan: MemoryPlan, inputs: Sequence[np.ndarray]
                ) -> list[np.ndarray]:
    """The reference executed the way the generated C executes it: every activation lives at its
    planned place (arena offset, caller buffer or state region), each node reads its inputs from
    those bytes and writes its outputs there, and each node's scratch is filled with garbage
    first. Equal outputs to ``run`` prove the plan (lifetimes, in-place and view sharing,
    scratch placement) for these inputs; a buffer reused too early shows as different bytes.
    Samples run one after the other from the reset state, as consecutive calls do."""
    xs = [_check_input(v, np.asarray(x)) for v, x in zip(graph.inputs, inputs, strict=True)]
    regions = {Storage.ARENA: np.zeros(max(plan.arena_size, 1), np.uint8),
               Storage.STATE: np.zeros(max(plan.state_size, 1), np.uint8)}
    io = {(Storage.INPUT, k): np.zeros(v.nbytes, np.uint8) for k, v in enumerate(graph.inputs)}
    io.update({(Storage.OUTPUT, k): np.zeros(v.nbytes, np.uint8)
               for k, v in enumerate(graph.outputs)})

    def place(v: Value) -> np.ndarray:
        b = plan.buffer(v)
        if b.storage in (Storage.INPUT, Storage.OUTPUT):
            return io[(b.storage, b.io_index)][:v.nbytes]
        return regions[b.storage][b.offset:b.offset + v.nbytes]

    def load(v: Value, shape: tuple[int, ...]) -> np.ndarray:
        if v.dtype is DType.b1:  # bit-packed rows (ops/binary.py)
            words = place(v).copy().view("<u4").reshape(*shape[:-1], -1)
            return unpack_rows(words, shape[-1])
        if v.dtype is DType.t2:  # rows of bit-plane word pairs (ops/ternary.py)
            words = place(v).copy().view("<u4").reshape(*shape[:-1], -1)
            return unpack_ternary_rows(words, shape[-1])
        if v.dtype is DType.u1:  # spikes: the flattened bits, least significant first
            bits = np.unpackbits(place(v).copy(), bitorder="little")[:int(np.prod(shape))]
            return bits.reshape(shape)
        return place(v).view(v.dtype.np).reshape(shape).copy()

    def store(v: Value, a: np.ndarray) -> None:
        if v.dtype is DType.u1:
            place(v)[:] = np.packbits(np.asarray(a, np.uint8).reshape(-1), bitorder="little")
            return
        if v.dtype is DType.b1:
            place(v)[:] = pack_rows(a).astype("<u4").reshape(-1).view(np.uint8)
            return
        if v.dtype is DType.t2:
            place(v)[:] = pack_ternary_rows(a).astype("<u4").reshape(-1).view(np.uint8)
            return
        place(v)[:] = np.ascontiguousarray(a, v.dtype.np).reshape(-1).view(np.uint8)

    for name, a in initial_state(graph).items():
        store(next(s for n in graph.nodes for s in n.state if s.name == name), a)
    samples = []
    for i in range(xs[0].shape[0]):
        for v, x in zip(graph.inputs, xs, strict=True):
            store(v, x[i:i + 1])
        for t, node in enumerate(graph.nodes):
            if t in plan.scratch:
                b = plan.scratch[t]
                regions[Storage.ARENA][b.offset:b.offset + b.size] = 0xA5
            args = [v.data if v.is_const else load(v, (1, *v.shape[1:])) for v in node.inputs]
            if isinstance(node, Stateful):
                outs, new = node.ref(args, [load(s, s.shape) for s in node.state])
                for s, a in zip(node.state, new, strict=True):
                    store(s, a)
            else:
                outs = node.ref(args)
            for v, y in zip(node.outputs, outs, strict=True):
                store(v, y)
        samples.append([v.data if v.is_const else load(v, (1, *v.shape[1:]))
                        for v in graph.outputs])
    return [np.concatenate([s[k] for s in samples]) for k in range(len(graph.outputs))]
