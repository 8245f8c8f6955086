"""Transposes left by layout conversion (NCHW order for a flatten, back to NHWC after a view).

simplify_transposes
    Transpose(Transpose(x)) is one transpose with the composed permutation; an identity
    permutation is dropped; a permutation that moves only size-1 dims keeps the element order, so
    it becomes a (free) Reshape; a chain of transposes and reshapes that composes to at most one
    transpose of its input and a reshape becomes those.

fold_transpose_into_dense
    Transpose -> Reshape to [N, K] -> Dense: the Dense reads the untransposed tensor flattened, and
    its weight columns are permuted instead: w'[:, j] = w[:, src(j)], where src(j) is the position
    in the transposed, flattened order of the element at flat position j before the transpose.
    Dense -> Reshape -> Transpose: the rows (and bias) are permuted so that a plain reshape of the
    Dense output already is the transposed tensor: w'[i] = w[src'(i)].
"""

from __future__ import annotations

import itertools

import numpy as np

from ..ir import DType, Graph, Value
from ..ops.binary import Binarize, BinaryDense
from ..ops.dense import Dense
from ..ops.shape import Reshape, Transpose
from ._graph import aliases_io, bypass, new_const, prune, sole_consumer


def simplify_transposes(graph: Graph) -> Graph:
    g = graph.copy()
    changed = True
    while changed:
        changed = False
        for i, t in enumerate(g.nodes):
            if not isinstance(t, Transpose):
                continue
            x, y = t.inputs[0], t.outputs[0]
            q = g.producer(x)
            if isinstance(q, Transpose):
                t.perm = tuple(q.perm[p] for p in t.perm)
                t.inputs = [q.inputs[0]]
                prune(g)
            elif t.perm == tuple(range(len(t.perm))) and not aliases_io(g, x, y):
                bypass(g, t, x)
            elif _keeps_order(x.shape, t.perm):
                g.nodes[i] = Reshape(name=t.name, inputs=[x], outputs=[y], shape=tuple(y.shape))
            else:
                continue
            changed = True
            break
        changed = changed or _collapse_chain(g)
    return g


def _collapse_chain(g: Graph) -> bool:
    """A run of Transpose/Reshape nodes (each read only by the next) that amounts to one
    transpose of its input (possibly none) followed by a reshape is rewritten as just that, when
    shorter (e.g. NHWC -> NCHW -> [N, C, H*W] -> NCL's [N, 1, H*W, C] is one Reshape)."""
    for start in g.nodes:
        if not isinstance(start, (Transpose, Reshape)):
            continue
        chain = [start]
        while isinstance(nxt := sole_consumer(g, chain[-1].outputs[0]), (Transpose, Reshape)):
            chain.append(nxt)
        x = start.inputs[0]
        for end in range(len(chain) - 1, 0, -1):
            perm = _as_one_transpose(tuple(x.shape), chain[:end + 1])
            if perm is None:
                continue
            last = chain[end]
            y = last.outputs[0]
            new: list = []
            src = x
            if perm != tuple(range(len(perm))):
                t_shape = tuple(x.shape[p] for p in perm)
                mid = y if t_shape == tuple(y.shape) else Value(
                    g.unique_name(f"{last.name}.transpose"), t_shape, x.dtype, x.quant)
                new.append(Transpose(name=mid.name if mid is not y else last.name, inputs=[x],
                                     outputs=[mid], perm=perm))
                src = mid
            if src is not y:
                new.append(Reshape(name=last.name, inputs=[src], outputs=[y],
                                   shape=tuple(y.shape)))
            if len(new) > end:
                continue
            i = g.nodes.index(start)
            for n in chain[:end + 1]:
                g.nodes.remove(n)
            g.nodes[i:i] = new
            return True
    return False


def _as_one_transpose(shape: tuple[int, ...], chain: list) -> tuple[int, ...] | None:
    """A permutation p such that ``chain`` equals Transpose(p) then a reshape, or None."""
    a = np.arange(int(np.prod(shape))).reshape(shape)
    for n in chain:
        a = a.transpose(n.perm) if isinstance(n, Transpose) else a.reshape(n.shape)
    base = np.arange(a.size).reshape(shape)
    found = [(0, *rest) for rest in itertools.permutations(range(1, len(shape)))
             if np.array_equal(base.transpose((0, *rest)).reshape(-1), a.reshape(-1))]
    # with unit dims several permutations match: prefer none, then one needing no reshape
    found.sort(key=lambda p: (p != tuple(range(len(p))),
                              tuple(shape[i] for i in p) != a.shape))
    return found[0] if found else None


def _keeps_order(shape: tuple[int, ...], perm: tuple[int, ...]) -> bool:
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def fold_transpose_into_dense(graph: Graph) -> Graph:
    g = graph.copy()
    while _before_dense(g) or _after_dense(g):
        prune(g)
    return g


def _source_index(shape: tuple[int, ...], perm: tuple[int, ...]) -> np.ndarray:
    """For a transpose of a tensor of ``shape`` (no batch) by ``perm`` (no batch): entry j is the
    flat position, in the transposed tensor, of the element at flat position j of the input."""
    out_shape = tuple(shape[p] for p in perm)
    k = np.arange(int(np.prod(out_shape))).reshape(out_shape)
    return k.transpose(np.argsort(perm)).reshape(-1)


def _before_dense(g: Graph) -> bool:
    for t in g.nodes:
        if not isinstance(t, Transpose):
            continue
        r = sole_consumer(g, t.outputs[0])
        if not isinstance(r, Reshape) or len(r.outputs[0].shape) != 2:
            continue
        z = r.outputs[0]
        users = g.consumers(z)
        sign = users[0] if len(users) == 1 and _uniform_sign(users[0]) else None
        if sign is not None:  # a flatten's sign before binary dense layers: it commutes
            users = g.consumers(sign.outputs[0])
        layer_in = z if sign is None else sign.outputs[0]
        if not users or any(not isinstance(d, (Dense, BinaryDense)) or d.inputs[0] is not layer_in
                            or not d.inputs[1].is_const for d in users) or any(
                o in (z, layer_in) for o in g.outputs):
            continue
        x = t.inputs[0]
        src = _source_index(tuple(x.shape[1:]), tuple(p - 1 for p in t.perm[1:]))
        if x.dtype is DType.b1 and x.shape[-1] % 32:
            continue  # the flattened b1 rows would pack differently (ops/binary.py)
        for d in users:
            w = d.inputs[1]
            cols = w.data[:, src]
            moved = (Value(g.unique_name(w.name), w.shape, w.dtype, w.quant, cols, w.encoding)
                     if w.dtype is DType.b1 else new_const(g, w, cols))
            d.inputs = [layer_in, moved, d.inputs[2]]
        r.inputs = [x]
        return True
    return False


def _uniform_sign(n: object) -> bool:
    """A Binarize with one threshold and flip for every element (what a binary layer applies
    to its input): it gives the same sign to an element wherever the element is."""
    if not isinstance(n, Binarize):
        return False
    _, t, flip = n.inputs
    return bool(np.ptp(t.data) == 0 and np.ptp(flip.data) == 0)


def _after_dense(g: Graph) -> bool:
    for d in g.nodes:
        if not isinstance(d, Dense) or len(d.outputs[0].shape) != 2:
            continue
        _, w, b = d.inputs
        r = sole_consumer(g, d.outputs[0])
        t = sole_consumer(g, r.outputs[0]) if isinstance(r, Reshape) else None
        if not isinstance(t, Transpose) or not (w.is_const and b.is_const):
            continue
        # output element i of the transposed tensor is Dense feature src'[i]
        mid = tuple(r.outputs[0].shape[1:])
        perm = tuple(p - 1 for p in t.perm[1:])
        src = np.arange(int(np.prod(mid))).reshape(mid).transpose(perm).reshape(-1)
        d.inputs = [d.inputs[0], new_const(g, w, w.data[src]), new_const(g, b, b.data[src])]
        r.shape = tuple(t.outputs[0].shape)
        r.outputs = [t.outputs[0]]
        g.nodes.remove(t)
        return True
    return False

