"""Data movement: Reshape, Transpose, Concat, Split, Pad. No arithmetic.

Reshape reinterprets the bytes (NHWC order), so in C it costs nothing: the planner gives its
output the input's buffer. Concat and Split require equal quantization of inputs and outputs
(TFLM copies bytes); firmforge's quantizer arranges that. Pad fills with the real value 0, i.e.
the zero point.
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
