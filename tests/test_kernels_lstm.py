"""Lstm kernels (ff_lstm_s8_s16, ff_lstm_s16_s8) == reference, bit for bit, across calls.

The table rows run 50 random LSTMs each through the shared harness, whose two samples are two
consecutive calls (the state carries over). A further test runs more calls with a reset in the
middle; the op's refusals are checked at the end.
"""

import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import DType, IRError, QuantParams
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import Row
from kernel_harness import check_row
from lstm_cases import ir_case, lstm_graph


def lstm_s8(rng: np.random.Generator):
    return lstm_graph(ir_case(rng, DType.s8))


def lstm_s16(rng: np.random.Generator):
    return lstm_graph(ir_case(rng, DType.s16))


ROWS = [Row("lstm_s8_s16", lstm_s8), Row("lstm_s16_s8", lstm_s16)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_table(row):
    check_row(row)


def test_calls_and_reset():
    """Six calls per model, C's reset between the fourth and the fifth, as the reference's."""
    rng = np.random.default_rng(zlib.crc32(b"lstm calls"))
    graphs = [lstm_graph(ir_case(rng, d), f"l{i}") for i, d in enumerate([DType.s8, DType.s16] * 6)]
    models = host.build([(generate(g, f"lstm_calls_{i}"), g) for i, g in enumerate(graphs)])
    for g, m in zip(graphs, models, strict=True):
        xs = [rng.integers(g.inputs[0].dtype.qmin, g.inputs[0].dtype.qmax + 1,
                           (1, *g.inputs[0].shape[1:])).astype(g.inputs[0].dtype.np)
              for _ in range(6)]
        state = reference.initial_state(g)
        for k, x in enumerate(xs):
            if k == 4:
                m.reset()
                state = reference.initial_state(g)
            want, _ = reference.run(g, [x], state=state)
            assert np.array_equal(m.run(x)[0], want[0]), f"{m.prefix} call {k}"


def _graph(**changes):
    g = lstm_graph(ir_case(np.random.default_rng(3), DType.s8))
    node = g.nodes[0]
    for name, q in changes.items():
        v = {"y": node.y, "c": node.state[1], "w_x": node.inputs[1]}[name]
        v.quant = q
    return node


@pytest.mark.parametrize("change,message", [
    (dict(y=QuantParams.per_tensor(0.5, 3)), "output state's"),
    (dict(c=QuantParams.per_tensor(2 ** -11, 5)), "zero point 0"),
    (dict(w_x=QuantParams(np.full(40, 0.01, np.float32), np.zeros(40), 1)), "one scale per gate"),
    (dict(w_x=QuantParams(np.full(4, 0.01, np.float32), np.ones(4), 0)), "zero points 0"),
    (dict(c=QuantParams.per_tensor(64.0, 0)), "cell state scale"),
])
def test_refused(change, message):
    node = _graph(**change)
    with pytest.raises(IRError, match=message):
        node.prepare()
