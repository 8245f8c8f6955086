"""Elementwise kernels (Add, Sub, Mul int8; Maximum, Minimum int8 and int16) == reference on
random broadcasts.

Operands of rank 2..4 broadcast along random dimensions (either or both sides), a third of the
cases with a constant operand (first or second, sometimes of lower rank, read from constant
memory by the _c kernels), every fused activation; Maximum/Minimum with one shared quantization
and constants holding the dtype's extremes and values that tie with the other operand; plus
graphs where the planner makes the kernel write its output over its first input.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value, const
from firmforge.converter.ops.act import Relu
from firmforge.converter.ops.eltwise import Add, Binary, Maximum, Minimum, MinMax, Mul, Sub
from firmforge.converter.plan import Storage, plan_memory
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row, act_quant, act_quant_extreme, random_inputs, single, zero_point_s8
from kernel_harness import check_row

ACTS = [Act.NONE, Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]


def _out_quant(rng, cls, a: QuantParams, b: QuantParams) -> QuantParams:
    if cls is Mul:  # keep the product's real range near the output's, or (a tenth of the
        # cases) far below it: left shifts around and beyond 13, where ff_mul_s8 turns to ff_mbqm
        factor = float(rng.uniform(20, 400)) if rng.random() < 0.9 else 2.0 ** -rng.integers(11, 20)
        return QuantParams.per_tensor(a.s * b.s * factor, zero_point_s8(rng))
    return act_quant_extreme(rng)


def _operand(rng, name: str, shape: tuple[int, ...], constant: bool) -> Value:
    q = act_quant_extreme(rng)
    if not constant:
        return Value(name, shape, DType.s8, q)
    if rng.random() < 0.5:  # a lower-rank constant (numpy aligns trailing dimensions)
        shape = shape[int(rng.integers(1, len(shape))):]
    return const(name, rng.integers(-128, 128, shape).astype(np.int8), DType.s8, q)


def _binary_graph(rng: np.random.Generator, cls: type[Binary]) -> Graph:
    rank = int(rng.integers(2, 5))
    out = (1, *(int(rng.choice([1, 2, 3, 5, 8, 17])) for _ in range(rank - 1)))
    sa = tuple(d if k == 0 or rng.random() < 0.7 else 1 for k, d in enumerate(out))
    sb = tuple(d if k == 0 or rng.random() < 0.5 else 1 for k, d in enumerate(out))
    which = int(rng.integers(6))  # 0: a constant, 1: b constant, else both activations
    a = _operand(rng, "a", sa, which == 0)
    b = _operand(rng, "b", sb, which == 1)
    yq = _out_quant(rng, cls, a.quant, b.quant)
    act = ACTS[int(rng.integers(len(ACTS)))]
    return single(cls, cls.__name__.lower(), [a, b], yq, act=act)


def _minmax_graph(rng: np.random.Generator, cls: type[MinMax], dtype: DType) -> Graph:
    """Broadcasting operands sharing one quantization; a constant operand (a third of the
    cases) holds the dtype's extremes and small values, which tie with random inputs often."""
    rank = int(rng.integers(2, 5))
    out = (1, *(int(rng.choice([1, 2, 3, 5, 8, 17])) for _ in range(rank - 1)))
    shapes = [tuple(d if k == 0 or rng.random() < 0.6 else 1 for k, d in enumerate(out))
              for _ in range(2)]
    q = act_quant(rng, dtype)
    which = int(rng.integers(6))  # 0: a constant, 1: b constant, else both activations
    ops = []
    for i, shape in enumerate(shapes):
        if which != i:
            ops.append(Value("ab"[i], shape, dtype, q))
            continue
        shape = shape[int(rng.integers(len(shape))):]  # sometimes of lower rank
        pool = np.array([dtype.qmin, dtype.qmax, -1, 0, 1], dtype.np)
        ops.append(const("ab"[i], rng.choice(pool, shape), dtype, q))
    return single(cls, cls.__name__.lower(), ops, q)


ROWS = [Row(f"{cls.__name__.lower()}_s8", lambda rng, cls=cls: _binary_graph(rng, cls))
        for cls in (Add, Sub, Mul)]
ROWS += [Row(f"{cls.__name__.lower()}_{d.value}",
             lambda rng, cls=cls, d=d: _minmax_graph(rng, cls, d))
         for cls in (Maximum, Minimum) for d in (DType.s8, DType.s16)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def _inplace_graph(rng: np.random.Generator, cls: type[Binary]) -> Graph:
    """relu -> op (over relu's output, b broadcast) -> relu: the op's output shares t's buffer."""
    shape = (1, 3, 4, 5)
    x = Value("x", shape, DType.s8, act_quant(rng))
    t = Value("t", shape, DType.s8, act_quant(rng))
    b = Value("b", (1, 1, 4, 1), DType.s8, act_quant(rng))
    u = Value("u", shape, DType.s8, _out_quant(rng, cls, t.quant, b.quant))
    y = Value("y", shape, DType.s8, act_quant(rng))
    nodes = [Relu(name="r1", inputs=[x], outputs=[t]),
             cls(name="op", inputs=[t, b], outputs=[u], act=Act.RELU),
             Relu(name="r2", inputs=[u], outputs=[y])]
    g = Graph(f"inplace_{cls.__name__.lower()}", nodes, [x, b], [y])
    g.validate()
    return g


def test_inplace_output_over_first_input():
    rng = np.random.default_rng(7)
    graphs = [_inplace_graph(rng, cls) for cls in (Add, Sub, Mul) for _ in range(4)]
    for g in graphs:
        plan = plan_memory(g)
        t, u = g.nodes[1].inputs[0], g.nodes[1].y
        assert plan.buffer(t) is plan.buffer(u) and plan.buffer(u).storage is Storage.ARENA
    models = host.build([(generate(g, f"{g.name}_{i}"), g) for i, g in enumerate(graphs)])
    for g, m in zip(graphs, models, strict=True):
        xs = random_inputs(rng, g, batch=3)
        want, _ = reference.run(g, xs)
        assert np.array_equal(m.run(*xs)[0], want[0]), g
