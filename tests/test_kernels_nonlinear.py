"""Sigmoid, Tanh and Softmax int8 kernels == reference, bit for bit.

The table rows run 50 random graphs each through the shared harness (uniform random int8 inputs).
Two further tests cover what uniform inputs rarely reach: every int8 input value for sigmoid/tanh,
and softmax rows whose values crowd near the row maximum (many terms in the sum, long rows).
"""

import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import DType, IRError, QuantParams, Value, make_node
from firmforge.converter.ops.nonlinear import Sigmoid, Softmax, Tanh
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row, single
from kernel_harness import check_row

SIGMOID_OUT = QuantParams.per_tensor(1 / 256, -128)
TANH_OUT = QuantParams.per_tensor(1 / 128, 0)
SOFTMAX_OUT = SIGMOID_OUT


def in_quant(rng: np.random.Generator) -> QuantParams:
    """Input scale log-uniform over 1e-4 .. 20 (sigmoid/tanh saturate everywhere above ~0.12,
    softmax keeps a single element), with edge cases: a power of two, a scale whose radius is 0."""
    u = rng.random()
    if u < 0.1:
        scale = float(2.0 ** int(rng.integers(-12, 4)))
    else:
        scale = float(np.exp(rng.uniform(np.log(1e-4), np.log(20.0))))
    return QuantParams.per_tensor(scale, int(rng.integers(-128, 128)))


def act_shape(rng: np.random.Generator) -> tuple[int, ...]:
    return [(1, int(rng.integers(1, 70))), (1, 3, int(rng.integers(1, 20))),
            (1, 2, 3, int(rng.integers(1, 9)))][rng.integers(3)]


def sigmoid_s8(rng: np.random.Generator):
    x = Value("x", act_shape(rng), DType.s8, in_quant(rng))
    return single(Sigmoid, "sigmoid", [x], SIGMOID_OUT)


def tanh_s8(rng: np.random.Generator):
    x = Value("x", act_shape(rng), DType.s8, in_quant(rng))
    return single(Tanh, "tanh", [x], TANH_OUT)


def beta(rng: np.random.Generator) -> float:
    return float(rng.choice([1.0, 1.0, 0.5, 2.0, float(rng.uniform(0.05, 10.0))]))


def softmax_graph(rng: np.random.Generator, depth: int):
    lead = [(1,), (1, int(rng.integers(1, 4))), (1, 2, int(rng.integers(1, 3)))][rng.integers(3)]
    x = Value("x", (*lead, depth), DType.s8, in_quant(rng))
    return single(Softmax, "softmax", [x], SOFTMAX_OUT, beta=beta(rng))


def softmax_s8(rng: np.random.Generator):
    return softmax_graph(rng, int(rng.integers(1, 301)))


def softmax_s8_s16(rng: np.random.Generator):
    """int8 in, int16 out (scale 1/65536, zero point -32768): 256 times finer steps, so the
    rounding of every quotient shows."""
    lead = [(1,), (1, int(rng.integers(1, 4)))][rng.integers(2)]
    x = Value("x", (*lead, int(rng.integers(1, 301))), DType.s8, in_quant(rng))
    return single(Softmax, "softmax", [x], QuantParams.per_tensor(1 / 65536, -32768),
                  beta=beta(rng), out_dtype=DType.s16)


ROWS = [Row("sigmoid_s8", sigmoid_s8), Row("tanh_s8", tanh_s8), Row("softmax_s8", softmax_s8),
        Row("softmax_s8_s16", softmax_s8_s16)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def _build(name: str, graphs: list) -> list[host.HostModel]:
    return host.build([(generate(g, f"{name}_{i}"), g) for i, g in enumerate(graphs)])


def _assert_same(name: str, i: int, g, want: np.ndarray, got: np.ndarray) -> None:
    if not np.array_equal(want, got):
        bad = np.argwhere(want != got)
        at = tuple(bad[0])
        raise AssertionError(f"{name} case {i}: {len(bad)} of {want.size} differ, first {at}: "
                             f"C {got[at]} != ref {want[at]}\n{g!r}\nattrs {g.nodes[0].attrs}\n"
                             f"params {g.nodes[0].requant()}")


@pytest.mark.parametrize("cls, out_q", [(Sigmoid, SIGMOID_OUT), (Tanh, TANH_OUT)],
                         ids=["sigmoid", "tanh"])
def test_every_int8_input(cls, out_q):
    """All 256 input values at 40 scales and zero points (incl. scales at and past saturation)."""
    rng = np.random.default_rng(zlib.crc32(cls.__name__.encode()))
    scales = [*np.exp(np.linspace(np.log(2e-4), np.log(16.0), 34)), 2.0 ** -10, 1 / 16, 0.125,
              1.0, 8.0, 16.0]
    graphs = [single(cls, cls.__name__.lower(), [Value("x", (1, 256), DType.s8,
              QuantParams.per_tensor(float(s), int(rng.integers(-128, 128))))], out_q)
              for s in scales]
    xs = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for i, (g, m) in enumerate(zip(graphs, _build(f"all_{cls.__name__.lower()}", graphs),
                                   strict=True)):
        _assert_same(cls.__name__, i, g, reference.run(g, [xs])[0][0], m.run(xs)[0])


def test_softmax_crowded_rows():
    """Rows whose values lie within a few steps of the maximum, long rows included, so that
    hundreds of terms enter the sum (and the reciprocal's exponent moves)."""
    rng = np.random.default_rng(7)
    depths = [1, 2, 3, 10, 64, 255, 300, 511, 600, 1000]
    graphs = [softmax_graph(rng, d) for d in depths for _ in range(3)]
    models = _build("crowded_softmax", graphs)
    for i, (g, m) in enumerate(zip(graphs, models, strict=True)):
        shape = (4, *g.inputs[0].shape[1:])
        top = rng.integers(-128, 128)
        spread = int(rng.choice([1, 3, 10, 60, 256]))
        xs = np.clip(top - rng.integers(0, spread, shape), -128, 127).astype(np.int8)
        xs[0] = top  # a whole row tied at the maximum
        _assert_same("softmax", i, g, reference.run(g, [xs])[0][0], m.run(xs)[0])


@pytest.mark.parametrize("cls, scale, zp", [
    (Sigmoid, 1 / 128, -128), (Sigmoid, 1 / 256, 0), (Tanh, 1 / 256, 0), (Tanh, 1 / 128, -128),
    (Softmax, 1 / 255, -128), (Softmax, 1 / 256, 0)])
def test_output_quantization_is_enforced(cls, scale, zp):
    x = Value("x", (1, 8), DType.s8, QuantParams.per_tensor(0.1, 0))
    node = make_node(cls, "n", [x], ["y"])
    node.outputs[0].quant = QuantParams.per_tensor(scale, zp)
    want = "1/128 and zero point 0" if cls is Tanh else "1/256 and zero point -128"
    with pytest.raises(IRError, match=want):
        node.check()


def test_softmax_rejects_tiny_beta_times_scale():
    x = Value("x", (1, 8), DType.s8, QuantParams.per_tensor(1e-5, 0))
    node = make_node(Softmax, "n", [x], ["y"], beta=1e-3)
    with pytest.raises(IRError, match="beta"):
        node.requant()
