"""The compression options of ``convert()`` applied to the IR, post-training.

``sparsity``, ``sparsity_block``, ``nm`` and ``clusters`` are each one value for every conv/dense
layer or a mapping from layer (node) names to it (layers it does not name are left alone);
``weight_bits`` is 8, 4 or 2, or such a mapping (unnamed layers: 8).

- Before quantization (``prune_graph``, on the float graph after batch-norm folding): magnitude
  pruning of each layer to its ``sparsity`` (with ``sparsity_block`` b, of whole blocks of b
  output channels x 1 input position: ``sparsity_block=4`` is what ``BlockCSR`` stores and its
  kernels skip), then N:M masks (the ``n`` largest of every ``m`` consecutive weights of a
  row). Symmetric weight quantization maps 0 to 0, so the integer weights keep every zero, the
  blocks and the N:M pattern.
- After quantization (``cluster_graph``): k-means in units of each channel's quantization step
  (``w / s_c``, a float in [-Q, Q]), centroids rounded to integers, so a layer's integer weights
  hold at most ``clusters`` distinct values across all its channels (zeros stay zero and count
  as one). ``choose_storage`` can then store them as a codebook. The scales, and so the biases,
  are those PTQ chose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..ir import DType, Graph, Node, Value
from .cluster import assign, check_clusters, kmeans_1d
from .prune import CompressionError, check_block, check_nm, check_sparsity, magnitude_mask, nm_mask

WEIGHT_BITS: dict[int, DType] = {8: DType.s8, 4: DType.s4, 2: DType.s2}


@dataclass(frozen=True)
class LayerPlan:
    """What happens to one layer's weights."""

    sparsity: float = 0.0
    nm: tuple[int, int] | None = None
    clusters: int | None = None
    dtype: DType = DType.s8
    block: int = 1  # rows (output channels) of a magnitude-pruning block

    @property
    def prunes(self) -> bool:
        return self.sparsity > 0 or self.nm is not None


def plan(graph: Graph, *, weight_bits: object = None, sparsity: object = None,
         sparsity_block: object = None, nm: object = None,
         clusters: object = None) -> dict[str, LayerPlan]:
    """Checked per-layer options for every weighted node of ``graph`` (node name -> plan).

    Raises CompressionError for a sparsity outside [0, 1), a block that is no positive integer
    or is given without a sparsity, a malformed N:M pattern or one whose ``m`` does not divide
    a layer's rows (naming the layer), a cluster count outside [2, 256] or above ``2**bits`` of
    the layer's weights, and names that are no weighted layer.
    """
    # binary and ternary layers (b1, t2 weights: ops/binary.py, ops/ternary.py) are as small as
    # weights get: left alone
    weighted = {n.name: n for n in graph.nodes
                if n.weight_axis is not None and n.inputs[1].dtype not in (DType.b1, DType.t2)}
    bits = _per_layer(weighted, weight_bits, "weight_bits", _check_bits)
    sp = _per_layer(weighted, sparsity, "sparsity", check_sparsity)
    blocks = _per_layer(weighted, sparsity_block, "sparsity_block", check_block)
    pat = _per_layer(weighted, nm, "nm", _check_pattern)
    cl = _per_layer(weighted, clusters, "clusters", check_clusters)
    alone = [k for k in blocks if k not in sp]
    if alone:
        raise CompressionError(f"sparsity_block sets the blocks of magnitude pruning, but "
                               f"layer {alone[0]} has no sparsity: give sparsity too")
    out = {}
    for name, node in weighted.items():
        b = bits.get(name, 8)
        p = LayerPlan(sp.get(name, 0.0), pat.get(name), cl.get(name), WEIGHT_BITS[b],
                      blocks.get(name, 1))
        if p.clusters is not None and p.clusters > 1 << b:
            raise CompressionError(f"layer {name}: {p.clusters} clusters need "
                                   f"{math.ceil(math.log2(p.clusters))}-bit weights, but its "
                                   f"weights have {b} bits (at most {1 << b} clusters)")
        if p.nm is not None:
            _check_rows(node, *p.nm)
        out[name] = p
    return out


def _check_bits(b: object, where: str) -> int:
    if isinstance(b, bool) or b not in WEIGHT_BITS:
        raise CompressionError(f"{where} must be 8, 4 or 2, got {b!r}")
    return int(b)  # type: ignore[arg-type]


def _check_pattern(p: object, where: str) -> tuple[int, int]:
    if not (isinstance(p, (tuple, list)) and len(p) == 2):
        raise CompressionError(f"{where} must be a pair (n, m) such as (2, 4), got {p!r}")
    return check_nm(p[0], p[1], where)


def _per_layer(weighted: Mapping[str, Node], option: object, what: str, check) -> dict:
    """``option`` (None, one value, or a mapping from layer names) checked, per layer."""
    if option is None:
        return {}
    if isinstance(option, Mapping):
        unknown = [k for k in option if k not in weighted]
        if unknown:
            known = ", ".join(list(weighted)[:16]) or "none"
            raise CompressionError(f"{what} names {unknown[0]!r}, which is not a conv/dense "
                                   f"layer of the model (its layers: {known})")
        return {k: check(v, f"{what}[{k!r}]") for k, v in option.items() if v is not None}
    value = check(option, what)
    return dict.fromkeys(weighted, value)


def _check_rows(node: Node, n: int, m: int) -> None:
    w = node.inputs[1]
    rows = w.data.size // w.shape[node.weight_axis]
    if rows % m:
        raise CompressionError(f"layer {node.name}: N:M sparsity {n}:{m} needs rows whose "
                               f"length divides by {m}, but its rows hold {rows} weights "
                               f"(weights {list(w.shape)})")


def weight_dtypes(plans: Mapping[str, LayerPlan]) -> dict[str, DType]:
    """The ``weight_dtype`` mapping for the quantizer."""
    return {k: p.dtype for k, p in plans.items()}


def prune_graph(graph: Graph, plans: Mapping[str, LayerPlan]) -> Graph:
    """A copy of the float ``graph`` with each layer's weights pruned as planned (magnitude
    pruning to its sparsity, of weights or blocks, then its N:M mask); ``graph`` is not
    modified."""
    if not any(p.prunes for p in plans.values()):
        return graph
    g = graph.copy()
    done: set[int] = set()
    for node in g.nodes:
        p = plans.get(node.name)
        w = node.inputs[1] if p is not None else None
        if p is None or not p.prunes or id(w) in done:
            continue
        done.add(id(w))
        data = np.asarray(w.data)
        keep = magnitude_mask(data, p.sparsity, block=p.block, axis=node.weight_axis)
        if p.nm is not None:
            keep &= nm_mask(data, *p.nm, axis=node.weight_axis, name=f"layer {node.name}")
        w.data = np.where(keep, data, 0).astype(data.dtype)
    return g


def cluster_graph(qgraph: Graph, fgraph: Graph, plans: Mapping[str, LayerPlan]) -> Graph:
    """A copy of the quantized ``qgraph`` whose clustered layers hold at most ``clusters``
    distinct integer weights; k-means runs on the float weights of ``fgraph`` (same node
    names) divided by their channel's scale."""
    if not any(p.clusters for p in plans.values()):
        return qgraph
    g = qgraph.copy()
    floats = {n.name: n.inputs[1].data for n in fgraph.nodes if n.weight_axis is not None}
    done: set[int] = set()
    for node in g.nodes:
        p = plans.get(node.name)
        if p is None or not p.clusters or id(node.inputs[1]) in done:
            continue
        done.add(id(node.inputs[1]))
        _cluster_value(node.inputs[1], floats[node.name], p.clusters)
    return g


def _cluster_value(w: Value, wf: np.ndarray, k: int) -> None:
    q = np.asarray(w.data)
    qmax = w.dtype.qmax  # symmetric weights: [-qmax, qmax]
    shape = [1] * q.ndim
    shape[w.quant.axis] = -1
    steps = np.asarray(wf, np.float64) / w.quant.scale.astype(np.float64).reshape(shape)
    steps = np.clip(steps, -qmax, qmax)
    nz = q != 0
    budget = k - 1 if not nz.all() else k
    out = np.zeros(q.shape, np.int64)
    if nz.any():
        if budget >= 2:
            c, _ = kmeans_1d(steps[nz], budget)
        else:
            c = np.array([steps[nz].mean()])
        c = np.unique(np.clip(np.round(c), -qmax, qmax))
        out[nz] = c[assign(steps[nz], c)]
    w.data = out.astype(q.dtype)
