"""choose_storage: how each layer's weights are stored, chosen by size among the formats the
target runs for that layer.

The storage format of a constant is its ``Value.encoding`` (``encoding.py``), which every
target reads; the numbers (``Value.data``) and so the reference never change. So the choice is a
pass over the quantized graph, one place for every target, and what it decides is what
``Value.nbytes`` and ``proj.report()['weight_bytes']`` count. What the pass cannot know is which
formats a target has kernels for: the caller passes that in as ``runs(node, encoding)`` (a
backend's ``runs``; ``Project`` and ``convert()`` pass their backend's), so no converter module
imports a target and a backend without these kernels is never handed a format it cannot run.

For every node with weights (``Node.weight_axis``) whose constant weights are stored in their
dtype's default format (``Dense()``; ``Packed()`` for sub-byte dtypes), ``"auto"`` compares the
stored bytes (``Encoded.nbytes``: values, indices, pointers and tables) of

    the default format, block CSR (int8), CSR, N:M, bitmask, codebook
                                                            (PREFERENCE: fastest kernels first)

where N:M is the pattern of the fewest bytes among m in NM_GROUPS, each with the smallest n the
data fits (ranked by their layout's arithmetic, then encoded), and a codebook with the
fewest index bits that hold the distinct values, when those are fewer bits than the dtype's; a
format enters only when ``runs`` says the target has a kernel for it at that layer. Speed
decides near-ties, because the dense kernels are the fastest (on a Cortex-M4 the int8 dense
kernel takes ~1 instruction per multiply-accumulate, block CSR ~2 per stored weight (4 per
column of a 4-row group, zeros included), CSR ~4 to 5 per nonzero, N:M and bitmask 6 to 20, a
codebook ~6 per weight; benchmarks/sparse_speed.py): walking that order,

- the default is left only for a format that stores at most 1 - MIN_SAVING of its bytes
  (three quarters): a layer with the zeros an unpruned quantized layer has (MLPerf Tiny's
  ad01 has three with 24-31%: a bitmask would save 2.6% of the model's flash and make it
  1.8x slower) keeps its dense kernel, a pruned (about half or more) or clustered one does not;
- a later format replaces a compressed choice only when smaller by more than ``tie``:
  TIE_BYTES or TIE_FRACTION of the choice's bytes, whichever is more.

``storage`` is ``"auto"`` (every layer as above), ``None`` (nothing changes), or a mapping from
layer (node) names to a format (an ``Encoding`` instance, forced), ``"auto"`` or ``None`` for
that layer, the layers it does not name being ``"auto"``. A forced format that the data does not
fit (an N:M pattern the weights break, more distinct values than a codebook holds) or that the
target does not run for that layer is a StorageError naming the layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np

from ..encoding import (
    CSR,
    NM,
    Bitmask,
    BlockCSR,
    Codebook,
    Dense,
    Encoding,
    Packed,
    PackedRows,
    encode,
    row_view,
)
from ..ir import DType, Graph, IRError, Node, Value

AUTO = "auto"
MIN_SAVING = 1 / 4  # leaving the default storage must save at least this part of its bytes
TIE_BYTES = 16  # among the others, a later format in PREFERENCE must save more than this ...
TIE_FRACTION = 1 / 32  # ... and more than this part of the current choice's bytes
NM_GROUPS = (*range(2, 33), 64, 128, 256)  # the m of the N:M candidates
PREFERENCE: tuple[type[Encoding], ...] = (Dense, Packed, PackedRows, BlockCSR, CSR, NM, Bitmask,
                                          Codebook)

Runs = Callable[[Node, Encoding], bool]
LayerStorage = Encoding | Literal["auto"] | None
StorageOption = Literal["auto"] | Mapping[str, LayerStorage] | None
_PACKABLE = (DType.s4, DType.s2, DType.b1, DType.u1)


class StorageError(IRError):
    """A storage request that cannot be met (the message names the layer)."""


def default_storage(dtype: DType) -> Encoding:
    """What the quantizer and importers store weights of ``dtype`` as."""
    if dtype is DType.b1:
        return PackedRows()
    return Packed() if dtype in _PACKABLE else Dense()


def candidates(v: Value, axis: int) -> list[Encoding]:
    """The formats worth comparing for the constant ``v`` (rows along ``axis``), in PREFERENCE
    order: the default, then the sparse formats when ``v`` has zeros (block CSR for int8 only),
    then the codebook when its distinct values need fewer index bits than the dtype has."""
    default = default_storage(v.dtype)
    found = [default]
    data = np.asarray(v.data)
    if v.dtype is not DType.b1 and np.any(data == 0):
        rows = row_view(data, axis)
        if v.dtype is DType.s8:
            found.append(BlockCSR(axis))
        found.append(CSR(axis))
        nm = _best_nm(rows, v.dtype, axis)
        if nm is not None:
            found.append(nm)
        found.append(Bitmask(axis))
    distinct = np.unique(data).size
    bits = max(1, math.ceil(math.log2(distinct)))
    if bits < v.dtype.bits:
        found.append(Codebook(bits))
    return sorted(found, key=lambda e: PREFERENCE.index(type(e)))


def _best_nm(rows: np.ndarray, dtype: DType, axis: int) -> NM | None:
    """The N:M pattern of the fewest stored bytes among m in NM_GROUPS, n the smallest that
    fits (only patterns with n < m). Sizes by encoding.py's layout: per row ceil(G n ib / 8)
    index bytes, and G n values per row in the dtype's storage."""
    r, c = rows.shape
    best, best_bytes = None, None
    for m in NM_GROUPS:
        n = _nm_fit(rows, m)
        if n >= m:
            continue
        slots = r * -(-c // m) * n
        values = slots * dtype.np.itemsize if dtype.bits >= 8 else -(-slots * dtype.bits // 8)
        size = values + r * -(-(slots // r) * NM(n, m).index_bits // 8)
        if best_bytes is None or size < best_bytes:
            best, best_bytes = NM(n, m, axis), size
    return best


def _nm_fit(rows: np.ndarray, m: int) -> int:
    """The smallest n (at least 1) such that every group of m columns of every row holds at most
    n nonzeros (the last group padded with zeros)."""
    r, c = rows.shape
    padded = np.zeros((r, -(-c // m) * m), bool)
    padded[:, :c] = rows != 0
    return max(1, int(padded.reshape(r, -1, m).sum(axis=2).max()))


def smallest(v: Value, node: Node, runs: Runs) -> Encoding:
    """The format of ``v`` (``node``'s weights) that ``choose_storage`` picks under ``"auto"``."""
    sizes = [(e, encode(v.data, v.dtype, e).nbytes) for e in candidates(v, node.weight_axis)]
    default, default_bytes = v.encoding, v.nbytes
    best, best_bytes = default, default_bytes
    for enc, n in sizes:
        need = default_bytes * (1 - MIN_SAVING) if best == default else best_bytes - tie(best_bytes)
        if enc != default and n <= need and runs(node, enc):
            best, best_bytes = enc, n
    return best


def tie(nbytes: int) -> int:
    """The saving a later format needs over a choice of ``nbytes`` to replace it."""
    return max(TIE_BYTES, int(nbytes * TIE_FRACTION))


def choose_storage(graph: Graph, runs: Runs, storage: StorageOption = AUTO) -> Graph:
    """A copy of ``graph`` whose weights are stored as ``storage`` asks (module doc)."""
    requests = _requests(graph, storage)
    g = graph.copy()
    done: set[int] = set()
    for node in g.nodes:
        request = requests.get(node.name)
        if request is None or len(node.inputs) < 2 or not node.inputs[1].is_const:
            continue
        w = node.inputs[1]
        if id(w) in done:
            continue
        done.add(id(w))
        if request == AUTO:
            if w.encoding == default_storage(w.dtype):
                w.encoding = smallest(w, node, runs)
            continue
        try:
            encode(w.data, w.dtype, request)
        except IRError as e:
            raise StorageError(f"layer {node.name}: its weights {w.name} cannot be stored "
                               f"{request}: {e}") from None
        if not runs(node, request):
            raise StorageError(f"layer {node.name}: the target has no {node.kind} kernel for "
                               f"{w.dtype.value} weights stored {request}")
        w.encoding = request
    return g


def _requests(graph: Graph, storage: StorageOption) -> dict[str, LayerStorage]:
    """Node name -> its request, for every node with constant weights."""
    weighted = [n for n in graph.nodes if n.weight_axis is not None]
    if storage is None or storage == AUTO:
        return {n.name: storage for n in weighted}
    if not isinstance(storage, Mapping):
        raise StorageError(f"storage must be 'auto', None or a mapping from layer names to a "
                           f"format (an Encoding), 'auto' or None, not {storage!r}")
    by_name = {n.name: n for n in weighted}
    for name, req in storage.items():
        if name not in by_name:
            known = ", ".join(list(by_name)[:12]) or "none"
            raise StorageError(f"storage names {name!r}, which is no layer with weights of "
                               f"graph {graph.name} (they are: {known})")
        if not (req is None or req == AUTO or isinstance(req, Encoding)):
            raise StorageError(f"storage[{name!r}] must be a format (an Encoding such as "
                               f"CSR()), 'auto' or None, not {req!r}")
    return {n: storage.get(n, AUTO) for n in by_name}
