"""Svdf kernels (ff_svdf_s8_s16, ff_svdf_s8) == reference, bit for bit, across calls.

The table rows run 50 random SVDFs each through the shared harness, whose two samples are two
consecutive calls (the state carries over); the cases vary rank, memory, zero points, the bias
(absent in some) and the output clamp (a fused activation in some), and reach the clamps of the
state and of the output. A further test runs more calls with a reset in the middle; the op's
refusals are checked at the end.
"""

import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, IRError, QuantParams, Value
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row
from kernel_harness import check_row
from svdf_cases import random_case, svdf_graph


def _graph(rng: np.random.Generator, dtype: DType, name: str = "svdf"):
    case = random_case(rng, dtype, batch=1, with_bias=rng.random() < 0.85)
    act = Act.NONE if rng.random() < 0.6 else list(Act)[int(rng.integers(1, 4))]
    return svdf_graph(case, name, act)


def svdf_s8_s16(rng: np.random.Generator):
    return _graph(rng, DType.s16)


def svdf_s8(rng: np.random.Generator):
    return _graph(rng, DType.s8)


ROWS = [Row("svdf_s8_s16", svdf_s8_s16), Row("svdf_s8", svdf_s8)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_table(row):
    check_row(row)


def test_calls_and_reset():
    """Nine calls per model, C's reset between the sixth and the seventh, as the reference's;
    memories longer than the calls and shorter."""
    rng = np.random.default_rng(zlib.crc32(b"svdf calls"))
    graphs = [_graph(rng, d, f"s{i}") for i, d in enumerate([DType.s16, DType.s8] * 6)]
    models = host.build([(generate(g, f"svdf_calls_{i}"), g) for i, g in enumerate(graphs)])
    for g, m in zip(graphs, models, strict=True):
        xs = [rng.integers(-128, 128, (1, *g.inputs[0].shape[1:])).astype(np.int8)
              for _ in range(9)]
        state = reference.initial_state(g)
        for k, x in enumerate(xs):
            if k == 6:
                m.reset()
                state = reference.initial_state(g)
            want, _ = reference.run(g, [x], state=state)
            assert np.array_equal(m.run(x)[0], want[0]), f"{m.prefix} call {k}"


def _node(dtype=DType.s16, **changes):
    case = random_case(np.random.default_rng(5), dtype, batch=1, rank=2, units=3)
    node = svdf_graph(case).nodes[0]
    for name, q in changes.items():
        v = {"y": node.y, "state": node.state[0], "w_feature": node.inputs[1],
             "w_time": node.inputs[2], "bias": node.inputs[3]}[name]
        v.quant = q
    return node


@pytest.mark.parametrize("change,message", [
    (dict(bias=QuantParams.per_tensor(0.5)), "bias scale"),
    (dict(w_time=QuantParams.per_tensor(0.01, 3)), "zero point 0"),
    (dict(w_feature=QuantParams(np.full(6, 0.01, np.float32), np.zeros(6), 0)),
     "per-tensor parameters"),
    (dict(y=QuantParams.per_tensor(1e-30)), "too large"),
])
def test_refused(change, message):
    node = _node(**change)
    with pytest.raises((IRError, ValueError), match=message):
        node.prepare()


def test_shapes_and_types_refused():
    node = _node()
    s = node.state[0]
    node.state = [Value("s", (1, s.shape[1] + 1), s.dtype, s.quant)]
    with pytest.raises(IRError, match="state must be one value"):
        node.infer()
    node = _node()
    node.state = [Value("s", s.shape, DType.s8, s.quant)]
    with pytest.raises(IRError, match="both s16 or both s8"):
        node.infer()
    node = _node()
    node.rank = 4
    with pytest.raises(IRError, match="not a multiple of rank 4"):
        node.infer()
