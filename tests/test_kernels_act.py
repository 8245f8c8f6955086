"""Standalone activation kernels (Relu, Relu6, LeakyRelu, HardSwish int8; LeakyRelu int16) ==
reference on random shapes.

Scales over the whole activation range (so the requantizing Relu both shrinks and grows), zero
points anywhere in int8 (and, for int16 LeakyRelu, whose TFLM kernel applies them, up to +-8000),
LeakyRelu alphas from 0 through > 1 and negative, HardSwish scale pairs over every branch of its
int16 arithmetic; plus a chain where the planner runs each activation in place over its input.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import DType, Graph, QuantParams, Value
from firmforge.converter.ops.act import HardSwish, LeakyRelu, Relu, Relu6
from firmforge.converter.ops.quant import Quantize
from firmforge.converter.plan import plan_memory
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row, act_quant, random_inputs, single
from kernel_harness import check_row

ALPHAS = [0.0, 0.01, 0.1, 0.3, 0.5, 0.99, 1.0, 1.5, 3.0, -0.2, -1.0]


def _shape(rng: np.random.Generator) -> tuple[int, ...]:
    rank = int(rng.integers(2, 5))
    return (1, *(int(rng.choice([1, 2, 3, 7, 16, 33])) for _ in range(rank - 1)))


def relu_s8(rng):
    return single(Relu, "relu", [Value("x", _shape(rng), DType.s8, act_quant(rng))],
                  act_quant(rng))


def relu6_s8(rng):
    q = QuantParams.per_tensor(float(rng.uniform(0.005, 0.1)), int(rng.integers(-128, 128)))
    return single(Relu6, "relu6", [Value("x", _shape(rng), DType.s8, q)], q)


def leaky_relu_s8(rng):
    alpha = float(ALPHAS[int(rng.integers(len(ALPHAS)))])
    return single(LeakyRelu, "leaky_relu", [Value("x", _shape(rng), DType.s8, act_quant(rng))],
                  act_quant(rng), alpha=alpha)


def hard_swish_scales(rng: np.random.Generator) -> tuple[QuantParams, QuantParams]:
    """Input scales from 1e-5 to 3 (the relu multiplier's exponent from below -16 to above 0)
    and output multipliers s_x / (128 s_y) from 2**-22 (exponent below -16, where TFLM's int16
    rounding shift degenerates) to just below 1 (outputs saturate at both ends)."""
    sx = float(10 ** rng.uniform(-5, 0.5))
    sy = sx / 128 / 2.0 ** rng.uniform(-22, -0.02)
    return (QuantParams.per_tensor(sx, int(rng.integers(-128, 128))),
            QuantParams.per_tensor(sy, int(rng.integers(-128, 128))))


def hard_swish_s8(rng):
    xq, yq = hard_swish_scales(rng)
    return single(HardSwish, "hard_swish", [Value("x", _shape(rng), DType.s8, xq)], yq)


def _q16(rng) -> QuantParams:
    """int16 parameters; a zero point in half of the cases."""
    zp = int(rng.integers(-8000, 8001)) if rng.random() < 0.5 else 0
    return QuantParams.per_tensor(float(rng.uniform(1e-4, 1e-2)), zp)


def leaky_relu_s16(rng):
    alpha = float(ALPHAS[int(rng.integers(len(ALPHAS)))])
    return single(LeakyRelu, "leaky_relu", [Value("x", _shape(rng), DType.s16, _q16(rng))],
                  _q16(rng), alpha=alpha)


ROWS = [Row("relu_s8", relu_s8), Row("relu6_s8", relu6_s8), Row("leaky_relu_s8", leaky_relu_s8),
        Row("leaky_relu_s16", leaky_relu_s16), Row("hard_swish_s8", hard_swish_s8)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def _chain(rng: np.random.Generator, i: int) -> Graph:
    """quantize -> relu -> leaky_relu -> relu6 -> quantize: the three middle ops run in place."""
    shape = _shape(rng)
    qs = [act_quant(rng) for _ in range(4)]
    six = QuantParams.per_tensor(float(rng.uniform(0.01, 0.05)), int(rng.integers(-128, 0)))
    vals = [Value(f"v{k}", shape, DType.s8, q) for k, q in enumerate([*qs[:3], six, six])]
    y = Value("y", shape, DType.s8, qs[3])
    nodes = [Quantize(name="q0", inputs=[vals[0]], outputs=[vals[1]], dtype=DType.s8),
             Relu(name="relu", inputs=[vals[1]], outputs=[vals[2]]),
             LeakyRelu(name="lrelu", inputs=[vals[2]], outputs=[vals[3]], alpha=-0.4),
             Relu6(name="relu6", inputs=[vals[3]], outputs=[vals[4]]),
             Quantize(name="q1", inputs=[vals[4]], outputs=[y], dtype=DType.s8)]
    g = Graph(f"act_chain_{i}", nodes, [vals[0]], [y])
    g.validate()
    return g


def test_inplace_chain():
    rng = np.random.default_rng(11)
    graphs = [_chain(rng, i) for i in range(6)]
    for g in graphs:
        plan = plan_memory(g)
        bufs = {id(plan.buffer(n.y)) for n in g.nodes[:4]}
        assert len(bufs) == 1, "the planner should run relu, leaky_relu and relu6 in place"
    models = host.build([(generate(g), g) for g in graphs])
    for g, m in zip(graphs, models, strict=True):
        xs = random_inputs(rng, g, batch=3)
        want, _ = reference.run(g, xs)
        assert np.array_equal(m.run(*xs)[0], want[0]), g
