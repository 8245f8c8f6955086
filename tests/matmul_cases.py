"""Random cases for the pair-packed matrix-product kernels (ff_conv2d_s8_1x1, ff_dense_s8): the
shapes and quantization that reach every branch of their fast and portable paths.

- depths: 1, below and at multiples of 4, odd, and long ones around and beyond the 508-input
  chunk (FF_PAIR_CHUNK) up to two chunks and a tail;
- output channel counts: 1, odd, not multiples of 4 or 8 (a pair without partner, blocks of 8
  with leftovers);
- input zero points -128 and 127 as often as random ones; output zero points at both ends and
  output scales that saturate at both clamps; Relu/Relu6 ranges (narrow) and the full range;
- multipliers below 1/4 (the assembly requantization) and from 1/4 up to above 1 (right shifts
  under 2 and left shifts: the C requantization), and a channel whose multiplier flushes to 0;
- weights over [-127, 127] with whole channels at +-127 (the largest sums), and -128 sprinkled
  in some cases (packable or not: the converter then takes the general convolution).

Two cases in five are shaped for the Cortex-M assembly (``Shape.fast``: depth a multiple of 4,
an even channel count, the full output range, multipliers below 1/4), the rest are drawn from
everything above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmforge.converter.ir import Act, DType, QuantParams, Value, const

DEPTHS = [1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 33, 64, 100, 128]
LONG_DEPTHS = [507, 508, 509, 512, 640, 1017, 1030]
OUTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 31, 64]
SHORT_OUTS = [1, 2, 3, 8, 9, 17]  # beside a long depth, so that 50 cases fit a board's flash
ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6]


@dataclass
class Shape:
    """Whether a case is shaped for the assembly paths (drawn once per case)."""

    fast: bool

    @staticmethod
    def draw(rng: np.random.Generator) -> Shape:
        return Shape(bool(rng.random() < 0.4))


def pick(rng: np.random.Generator, values: list[int]) -> int:
    return int(values[rng.integers(len(values))])


def depth(rng: np.random.Generator, shape: Shape, long: float = 0.15) -> int:
    d = pick(rng, LONG_DEPTHS) if rng.random() < long else pick(rng, DEPTHS)
    return max(4, d // 4 * 4) if shape.fast else d


def outs(rng: np.random.Generator, depth: int, shape: Shape) -> int:
    o = pick(rng, SHORT_OUTS if depth > 128 else OUTS)
    return max(2, o // 2 * 2) if shape.fast else o


def in_quant(rng: np.random.Generator) -> QuantParams:
    u = rng.random()
    zp = -128 if u < 0.3 else (127 if u < 0.45 else int(rng.integers(-128, 128)))
    return QuantParams.per_tensor(float(rng.uniform(0.005, 0.2)), zp)


def weights(rng: np.random.Generator, shape: tuple[int, ...], name: str = "w",
            minus128: bool = True) -> Value:
    """Per-channel symmetric int8 weights along axis 0 (out, ..., depth); with ``minus128``,
    one case in ten has some -128 values."""
    o = shape[0]
    w = rng.integers(-127, 128, shape).astype(np.int64)
    for c in range(o):
        if rng.random() < 0.1:  # a whole channel at one end: the largest sums
            w[c] = 127 if rng.random() < 0.5 else -127
    if minus128 and rng.random() < 0.1:  # -128 here and there
        w[rng.random(shape) < 0.05] = -128
    scales = rng.uniform(0.002, 0.02, o)
    if o > 1 and rng.random() < 0.05:  # a channel whose multiplier flushes to 0
        scales[int(rng.integers(o))] = 1e-30
    return const(name, w.astype(np.int8), DType.s8,
                 QuantParams(scales.astype(np.float32), np.zeros(o), 0))


def out_quant(rng: np.random.Generator, xq: QuantParams, wq: QuantParams, depth: int,
              shape: Shape) -> QuantParams:
    """Mostly a scale near the accumulator's spread (outputs in range and at both clamps);
    sometimes one so small that the multipliers exceed 1/4 (right shift < 2) or 1 (left
    shift)."""
    u = rng.random()
    zp = -128 if u < 0.2 else (127 if u < 0.3 else int(rng.integers(-128, 128)))
    base = xq.s * float(np.median(wq.scale))
    if not shape.fast and rng.random() < 0.15:
        return QuantParams.per_tensor(base / float(rng.uniform(0.3, 6.0)), zp)
    spread = 74.0 * 73.0 * math.sqrt(depth) * base
    return QuantParams.per_tensor(spread / float(rng.uniform(15, 150)), zp)


def act(rng: np.random.Generator, shape: Shape) -> Act:
    return Act.NONE if shape.fast else ACTS[rng.integers(len(ACTS))]
