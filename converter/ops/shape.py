"""Data movement: Reshape, Transpose, Concat, Split, Pad, StridedSlice. No arithmetic.

Reshape reinterprets the bytes (NHWC order), so in C it costs nothing: the planner gives its
output the input's buffer. Concat and Split require equal quantization of inputs and outputs
(TFLM copies bytes); firmforge's quantizer arranges that. Pad fills with the real value 0, i.e.
the zero point. StridedSlice copies the elements it selects, its bounds resolved by the importer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import DType, IRError, Node, QuantRule


@dataclass(eq=False, kw_only=True, repr=False)
class Reshape(Node):
    """Same elements, new shape (batch dimension included, and kept by the reference)."""

    shape: tuple[int, ...] = ()
    aliases_input: ClassVar[bool] = True
    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED

    def infer(self):
        x = self.x
        shape = tuple(self.shape)
        if math.prod(shape) != x.size or not shape or shape[0] != x.shape[0]:
            raise IRError(f"{self.name}: cannot reshape {x.shape} to {shape}")
        if x.dtype in (DType.b1, DType.t2) and shape[-1] != x.shape[-1] \
                and (shape[-1] % 32 or x.shape[-1] % 32):
            # b1 (t2) rows of the last axis are packed in 32-bit words (word pairs; ops/binary.py,
            # ops/ternary.py): the bytes stay the same only if both last dimensions fill whole
            # words.
            raise IRError(f"{self.name}: a {x.dtype.value} tensor {x.shape} cannot be reshaped "
                          f"to {shape} in "
                          "place: its rows are packed in 32-bit words, so the last dimension "
                          "must stay or be a multiple of 32 before and after")
        return [(shape, x.dtype)]

    def ref(self, xs):
        x = xs[0]
        return [x.reshape((x.shape[0], *self.shape[1:]))]


@dataclass(eq=False, kw_only=True, repr=False)
class Transpose(Node):
    """Permute dimensions; the batch dimension stays first."""

    perm: tuple[int, ...] = ()
    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED

    def infer(self):
        x = self.x
        if sorted(self.perm) != list(range(len(x.shape))) or self.perm[0] != 0:
            raise IRError(f"{self.name}: bad permutation {self.perm} for shape {x.shape}")
        return [(tuple(x.shape[p] for p in self.perm), x.dtype)]

    def ref(self, xs):
        return [np.ascontiguousarray(xs[0].transpose(self.perm))]


@dataclass(eq=False, kw_only=True, repr=False)
class Concat(Node):
    """Join inputs along ``axis`` (not the batch axis)."""

    axis: int = -1
    quant_rule: ClassVar[QuantRule] = QuantRule.JOINED

    def axis_index(self) -> int:
        """``axis`` as a non-negative dimension index (never the batch axis)."""
        nd = len(self.x.shape)
        a = self.axis % nd
        if a == 0:
            raise IRError(f"{self.name}: concatenation along the batch axis")
        return a

    def infer(self):
        a = self.axis_index()
        first = self.x
        for v in self.inputs:
            if v.dtype is not first.dtype or len(v.shape) != len(first.shape) or any(
                    d != e for i, (d, e) in enumerate(zip(v.shape, first.shape, strict=True)) if i != a):
                raise IRError(f"{self.name}: cannot concatenate {[u.shape for u in self.inputs]}")
        if first.dtype is not DType.f32:
            ys = [self.outputs[0]] if self.outputs and self.outputs[0].quant is not None else []
            if any(v.quant is None or not v.quant.same_as(first.quant) for v in self.inputs + ys):
                raise IRError(f"{self.name}: integer concat needs identical quantization of its "
                              "inputs and output (TFLM copies bytes)")
        shape = list(first.shape)
        shape[a] = sum(v.shape[a] for v in self.inputs)
        return [(tuple(shape), first.dtype)]

    def ref(self, xs):
        return [np.concatenate(xs, axis=self.axis_index())]


@dataclass(eq=False, kw_only=True, repr=False)
class Split(Node):
    """Cut the input along ``axis`` (not the batch axis) into consecutive pieces of ``sizes``
    elements, one output each: TFLite's SPLIT (equal pieces) and SPLIT_V (given sizes).

    y_i = x[..., o_i : o_i + sizes[i], ...] along ``axis``, with o_i = sizes[0] + ... +
    sizes[i-1]. TFLM copies the bytes (split.cc, split_v.cc), so integer outputs must carry the
    input's quantization; the quantizer gives every output the input's parameters.
    """

    axis: int = -1
    sizes: tuple[int, ...] = ()
    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED

    def axis_index(self) -> int:
        """``axis`` as a non-negative dimension index (never the batch axis)."""
        nd = len(self.x.shape)
        if not -nd <= self.axis < nd:
            raise IRError(f"{self.name}: axis {self.axis} is out of range for {self.x.shape}")
        a = self.axis % nd
        if a == 0:
            raise IRError(f"{self.name}: split along the batch axis")
        return a

    def infer(self):
        x, a = self.x, self.axis_index()
        sizes = tuple(self.sizes)
        if not sizes or min(sizes) < 1 or sum(sizes) != x.shape[a]:
            raise IRError(f"{self.name}: sizes {sizes} do not split dimension {a} of {x.shape}")
        if x.dtype is not DType.f32:
            if any(v.quant is not None and not v.quant.same_as(x.quant) for v in self.outputs):
                raise IRError(f"{self.name}: integer split needs every output quantized as its "
                              "input (TFLM copies bytes)")
        return [(tuple(s if d == a else n for d, n in enumerate(x.shape)), x.dtype)
                for s in sizes]

    def ref(self, xs):
        cuts = np.cumsum(self.sizes)[:-1]
        return [np.ascontiguousarray(y) for y in np.split(xs[0], cuts, axis=self.axis_index())]


@dataclass(eq=False, kw_only=True, repr=False)
class Pad(Node):
    """Constant padding: ``pads[d] = (before, after)`` for each dimension (batch: (0, 0))."""

    pads: tuple[tuple[int, int], ...] = ()
    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED

    def infer(self):
        x = self.x
        if len(self.pads) != len(x.shape) or any(min(p) < 0 for p in self.pads) or \
                tuple(self.pads[0]) != (0, 0):
            raise IRError(f"{self.name}: bad pads {self.pads} for shape {x.shape}")
        if x.dtype is not DType.f32 and x.quant is None:
            raise IRError(f"{self.name}: integer pad needs quantization parameters")
        return [(tuple(d + a + b for d, (a, b) in zip(x.shape, self.pads, strict=True)),
                 x.dtype)]

    def fill(self) -> int | float:
        return 0.0 if self.x.dtype is DType.f32 else self.y.quant.zp

    def ref(self, xs):
        return [np.pad(xs[0], self.pads, constant_values=self.fill())]


@dataclass(eq=False, kw_only=True, repr=False)
class StridedSlice(Node):
    """Every ``steps[d]``-th element of each dimension, from ``starts[d]`` towards ``stops[d]``
    (exclusive), the dimensions in ``shrink`` dropped from the output (each keeps one element):

        count[d] = len(range(starts[d], stops[d], steps[d]))
        y[i_0, ..., i_k] = x[starts[0] + i_0 * steps[0], ..., starts[k] + i_k * steps[k]]

    Bounds are resolved (TFLite's masks and negative indices are the importer's business): a
    negative step walks backwards and its stop may be -1 (before the first element). Every
    index visited lies inside its dimension, every count is at least 1, and the batch
    dimension is kept whole ((0, 1, 1), not shrunk). Bytes are copied, so output quantization
    parameters, where given, must equal the input's (as TFLM copies them).
    """

    starts: tuple[int, ...] = ()
    stops: tuple[int, ...] = ()
    steps: tuple[int, ...] = ()
    shrink: tuple[int, ...] = ()
    quant_rule: ClassVar[QuantRule] = QuantRule.SHARED

    def counts(self) -> tuple[int, ...]:
        """Elements taken along each input dimension (shrunk ones included); IRError if the
        slice is not one the class describes."""
        x = self.x
        rank = len(x.shape)
        if not len(self.starts) == len(self.stops) == len(self.steps) == rank:
            raise IRError(f"{self.name}: {len(self.starts)}/{len(self.stops)}/{len(self.steps)} "
                          f"starts/stops/steps for a {rank}-D input")
        if (self.starts[0], self.stops[0], self.steps[0]) != (0, 1, 1) or 0 in self.shrink:
            raise IRError(f"{self.name}: the batch dimension must be kept whole")
        counts = []
        for d, (n, a, b, s) in enumerate(zip(x.shape, self.starts, self.stops, self.steps,
                                             strict=True)):
            if s == 0:
                raise IRError(f"{self.name}: step 0 along dimension {d}")
            r = range(a, b, s)
            if not r:
                raise IRError(f"{self.name}: the slice {a}:{b}:{s} of dimension {d} is empty")
            if min(r[0], r[-1]) < 0 or max(r[0], r[-1]) >= n:
                raise IRError(f"{self.name}: the slice {a}:{b}:{s} leaves dimension {d} of "
                              f"size {n}")
            counts.append(len(r))
        if any(not 0 < d < rank or counts[d] != 1 for d in self.shrink):
            raise IRError(f"{self.name}: shrink axes {self.shrink} must be dimensions of one "
                          f"element, counts are {counts}")
        return tuple(counts)

    def infer(self):
        counts = self.counts()
        x = self.x
        y = self.outputs[0] if self.outputs else None
        if y is not None and y.quant is not None and not y.quant.same_as(x.quant):
            raise IRError(f"{self.name}: a quantized strided slice needs the output's "
                          "quantization to equal the input's (TFLM copies bytes)")
        return [(tuple(c for d, c in enumerate(counts) if d not in self.shrink), x.dtype)]

    def ref(self, xs):
        x = xs[0]
        index = [slice(None)]  # the whole batch, whatever its size
        for a, b, s in zip(self.starts[1:], self.stops[1:], self.steps[1:], strict=True):
            index.append(slice(a, None if b < 0 else b, s))
        y = x[tuple(index)]
        return [np.ascontiguousarray(y.reshape(y.shape[0], *self.y.shape[1:]))]
