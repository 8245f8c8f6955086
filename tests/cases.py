"""Random quantized single-op graphs for the table-driven kernel tests.

Each builder returns a Graph of one node with random but sane quantization: activation scales
and zero points over the whole int8 range, per-channel symmetric weights, and an output scale
drawn around the accumulator's spread so that results exercise both the linear range and the
clamps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from firmforge.converter.encoding import Packed
from firmforge.converter.ir import DType, Graph, Node, QuantParams, Value, const


@dataclass
class Row:
    """One row of a kernel table: an op name, a graph builder, how many random cases, and the
    row's own input generator where uniform random inputs would miss what it tests (the
    largest accumulations, float specials); every harness (host, sanitizers, emulated boards)
    draws a case's inputs through ``draw``."""

    name: str
    build: Callable[[np.random.Generator], Graph]
    count: int = 50
    inputs: Callable[[np.random.Generator, Graph, int], list[np.ndarray]] | None = None

    def draw(self, rng: np.random.Generator, g: Graph, batch: int = 2) -> list[np.ndarray]:
        """``batch`` samples of inputs for case ``g`` (one array per graph input)."""
        return (self.inputs or random_inputs)(rng, g, batch)

    def __str__(self) -> str:
        return self.name


def act_quant(rng: np.random.Generator, dtype: DType = DType.s8) -> QuantParams:
    if dtype is DType.s16:
        return QuantParams.per_tensor(float(rng.uniform(1e-4, 1e-2)), 0)
    return QuantParams.per_tensor(float(rng.uniform(0.005, 0.2)),
                                  int(rng.integers(dtype.qmin, dtype.qmax + 1)))


def zero_point_s8(rng: np.random.Generator) -> int:
    """An int8 zero point: one of the extremes (-128, 127) a third of the time, else any."""
    if rng.random() < 1 / 3:
        return int(rng.choice([-128, 127]))
    return int(rng.integers(-128, 128))


def act_quant_extreme(rng: np.random.Generator) -> QuantParams:
    """int8 activation parameters whose zero point is often at an extreme."""
    return QuantParams.per_tensor(float(rng.uniform(0.005, 0.2)), zero_point_s8(rng))


def weights(rng: np.random.Generator, shape: tuple[int, ...], axis: int, name: str = "w"
            ) -> Value:
    """Per-channel symmetric int8 weights along ``axis``; a few cases use a full-range channel."""
    w = rng.integers(-127, 128, shape).astype(np.int8)
    scales = rng.uniform(0.002, 0.02, shape[axis]).astype(np.float32)
    return const(name, w, DType.s8, QuantParams(scales, np.zeros(shape[axis]), axis))


def weights_s4(rng: np.random.Generator, shape: tuple[int, ...], axis: int, name: str = "w"
               ) -> Value:
    """Per-channel symmetric int4 weights along ``axis``, stored ``Packed()``: the whole nibble
    range [-8, 7] (the kernels must sign-extend -8, which firmforge's PTQ never produces)."""
    w = rng.integers(-8, 8, shape).astype(np.int8)
    scales = rng.uniform(0.02, 0.3, shape[axis]).astype(np.float32)
    return Value(name, shape, DType.s4, QuantParams(scales, np.zeros(shape[axis]), axis), w,
                 Packed())


S4_MEAN_ABS = 4.0  # mean |w| of uniform int4 weights in [-8, 7] (73 for int8 in [-127, 127])


def bias(rng: np.random.Generator, n: int, spread: float, name: str = "b") -> Value:
    return const(name, rng.integers(-int(spread), int(spread) + 1, n).astype(np.int32), DType.s32)


def out_quant_for_acc(rng: np.random.Generator, x_q: QuantParams, w_q: QuantParams, depth: int,
                      w_abs: float = 73.0) -> QuantParams:
    """Output scale near the real-valued spread of an accumulator over ``depth`` products
    (``w_abs``: the mean magnitude of the integer weights)."""
    spread = 74.0 * w_abs * math.sqrt(depth) * x_q.s * float(np.mean(w_q.scale))
    return QuantParams.per_tensor(spread / float(rng.uniform(15, 150)),
                                  int(rng.integers(-128, 128)))


def single(node_cls: type[Node], name: str, inputs: list[Value], out_quant: QuantParams | None,
           **attrs: object) -> Graph:
    """A graph holding one node whose outputs (y, y1, y2, ...) come from its own shape
    inference."""
    node = node_cls(name=name, inputs=inputs, outputs=[], **attrs)
    node.outputs = [Value(f"y{i or ''}", s, d, out_quant) for i, (s, d) in enumerate(node.infer())]
    g = Graph(name, [node], [v for v in inputs if not v.is_const], list(node.outputs))
    g.validate()
    return g


def random_inputs(rng: np.random.Generator, g: Graph, batch: int = 2) -> list[np.ndarray]:
    xs = []
    for v in g.inputs:
        info = np.iinfo(v.dtype.np)
        xs.append(rng.integers(info.min, info.max + 1, (batch, *v.shape[1:])).astype(v.dtype.np))
    return xs
