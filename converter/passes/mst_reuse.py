"""mst_reuse: MST channel reuse for binary layers (from "MST-compression"), opt-in
(``convert(..., mst=True)``, ``firmforge convert --mst``; or one layer with
``storage={"name": MSTRows()}``).

A BinaryDense or BinaryConv2d output channel can be computed from a similar channel's mismatch
by the words where their weights differ (``converter/mst_tree.py``: the math and the minimum
spanning tree that orders the channels). The numbers never change, so the reference stays the
plain XNOR-popcount math and the pass only changes the weights' storage: ``PackedRows`` ->
``MSTRows``, which the C target runs with ff_bnn_mst.h's kernels, bit-exact with the row
kernels.

The pass takes a layer when its tree reads at most ``1 - MIN_SAVING`` of the words the plain
kernel reads per input row (each channel's whole row). Below that it declines: a diff word
costs more than a row word (its index, mask and bits are three loads) and every reused channel
some bookkeeping, so a small word saving is no instruction saving. Measured on a Cortex-M4
(benchmarks/binary_mst.py, dense 512 -> 128, instructions against the same kernel computing
every channel fully): 55% of the words take 76% of the instructions, 87% of the words 113%;
a 3x3 conv 64 -> 64: 65% of the words 86%, 89% of the words 114%. Random
+-1 weights of a row longer than a few words never qualify (two random rows differ in every
word); channels that are a few bit flips apart do.

A BinaryDense's plain kernel is not the row kernel but ff_bnn_dense.c's block kernel, which
counts 32 outputs at once in bit-sliced lanes: about a third of the row kernel's instructions
per word (the same benchmark: 12,879 against 38,577 for 512 -> 128). Against it the tree must
read at most ``1 - DENSE_MIN_SAVING`` of the words: 0.5% flipped bits (18% of the words) were
break-even (12,559 against 12,231 instructions), 0.1% (6%) saved 49%. Layers whose weights another storage was
chosen for are left alone, and so is a layer the target has no kernel for (``runs``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..encoding import PackedRows
from ..ir import DType, Graph, Node
from ..mst_tree import MSTRows, ReuseTree, channel_rows, reuse_tree
from ..ops.binary import BinaryConv2d, BinaryDense

MIN_SAVING = 1 / 4  # the words a conv's tree must save, as a part of the plain kernel's
DENSE_MIN_SAVING = 0.85  # the same for a dense layer, against the block kernel (module doc)

Runs = Callable[[Node, MSTRows], bool]


def reuse_plan(node: Node) -> ReuseTree | None:
    """The reuse tree of a binary layer's weights, None for any other node."""
    if not isinstance(node, (BinaryDense, BinaryConv2d)):
        return None
    w = node.inputs[1]
    if not w.is_const or w.dtype is not DType.b1:
        return None
    return reuse_tree(channel_rows(w.data))


def worth_it(tree: ReuseTree, min_saving: float) -> bool:
    """Whether the tree saves enough of the plain kernel's words (module doc)."""
    return tree.words_read <= tree.plain_words * (1 - min_saving)


def required_saving(node: Node) -> float:
    """The part of the words a layer's tree must save: ``DENSE_MIN_SAVING`` for a dense layer,
    ``MIN_SAVING`` for a convolution (module doc)."""
    return DENSE_MIN_SAVING if isinstance(node, BinaryDense) else MIN_SAVING


def mst_reuse(graph: Graph, runs: Runs | None = None, min_saving: float | None = None) -> Graph:
    """A copy of ``graph`` whose binary layers store their weights ``MSTRows`` where that
    saves ``min_saving`` of the words read (by default ``required_saving``) and
    ``runs(node, MSTRows())`` (a backend's) holds."""
    g = graph.copy()
    done: set[int] = set()
    for node in g.nodes:
        if not isinstance(node, (BinaryDense, BinaryConv2d)):
            continue
        w = node.inputs[1]
        if id(w) in done or w.encoding != PackedRows():
            continue
        done.add(id(w))
        tree = reuse_plan(node)
        need = required_saving(node) if min_saving is None else min_saving
        if tree is not None and worth_it(tree, need) \
                and (runs is None or runs(node, MSTRows())):
            w.encoding = MSTRows()
    return g
