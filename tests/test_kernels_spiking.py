"""Kernel table of the spiking layers: each kernel == the op's reference on random cases.

Synaptic currents (``ops/synapse.py``) on spike (u1) and int8 inputs, dense and conv, the s32
max pool, and the LIF step (``ops/spiking.py``) with every combination drawn at random: s16 or
s32 membrane, Q15 or shift decay, subtract/zero/none reset, synaptic, recurrent, readout, one
parameter per layer or per neuron, several rows of neurons. A LIF case runs 12 consecutive
steps (the state carries over), with currents wide enough to spike, to sink and, on s16, to
saturate. The boards and sanitizer harnesses run these ROWS too.
"""

import zlib

import numpy as np
import pytest

from firmforge.converter.ir import DType, Graph, Value, const
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.encode import RateEncode
from firmforge.converter.ops.pool import MaxPool2d
from firmforge.converter.ops.spiking import Q15_ONE, DecayMode, Lif, Reset
from firmforge.converter.ops.synapse import Conv2dCurrent, DenseCurrent
from firmforge.targets.c.emit import lower

from cases import Row, act_quant, single
from kernel_harness import check_row

LIF_STEPS = 12


def _spikes_or_s8(rng, g, batch):
    xs = []
    for v in g.inputs:
        if v.dtype is DType.u1:
            p = rng.uniform(0.02, 0.6)
            xs.append((rng.random((batch, *v.shape[1:])) < p).astype(np.uint8))
        else:
            xs.append(rng.integers(-128, 128, (batch, *v.shape[1:])).astype(np.int8))
    return xs


def _x(rng, shape, spikes: bool) -> Value:
    return Value("x", shape, DType.u1) if spikes else Value("x", shape, DType.s8, act_quant(rng))


def _wb(rng, w_shape):
    w = const("w", rng.integers(-127, 128, w_shape).astype(np.int8), DType.s8)
    b = const("b", rng.integers(-5000, 5000, w_shape[0]).astype(np.int32), DType.s32)
    return w, b


def _dense(spikes: bool, events: bool = True):
    def build(rng):
        rows, k, o = int(rng.integers(1, 4)), int(rng.integers(1, 70)), int(rng.integers(1, 40))
        return single(DenseCurrent, "fc", [_x(rng, (1, rows, k), spikes), *_wb(rng, (o, k))],
                      None, events=events, shift=int(rng.integers(0, 6)))
    return build


def _conv(spikes: bool):
    def build(rng):
        h, w, c = (int(v) for v in rng.integers(1, 9, 3))
        kh, kw = int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))
        o = int(rng.integers(1, 9))
        pad = Padding(*(int(p) for p in rng.integers(0, 2, 4)))
        stride = tuple(int(s) for s in rng.integers(1, 3, 2))
        return single(Conv2dCurrent, "conv", [_x(rng, (1, h, w, c), spikes),
                                              *_wb(rng, (o, kh, kw, c))], None,
                      stride=stride, padding=pad, dilation=(1, 1), shift=int(rng.integers(0, 6)))
    return build


def _maxpool_s32(rng):
    h, w, c = (int(v) for v in rng.integers(2, 9, 3))
    k = (int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1)))
    return single(MaxPool2d, "pool", [Value("x", (1, h, w, c), DType.s32)], None, kernel=k,
                  stride=tuple(int(s) for s in rng.integers(1, 3, 2)))


def _s32_inputs(rng, g, batch):
    return [rng.integers(-(1 << 30), 1 << 30, (batch, *v.shape[1:])).astype(np.int32)
            for v in g.inputs]


def _lif(membrane: DType):
    def build(rng):
        rows, n = int(rng.integers(1, 4)), int(rng.integers(1, 24))
        fires = bool(rng.random() < 0.85)
        recurrent = fires and bool(rng.random() < 0.4)
        synaptic = bool(rng.random() < 0.4)
        reset = Reset.NONE if not fires else [Reset.SUBTRACT, Reset.ZERO, Reset.NONE][
            int(rng.integers(3))]
        shift = bool(rng.random() < 0.35)

        def factor(name):
            if shift:
                return const(name, np.array([rng.integers(1, 9)], np.int32), DType.s32)
            size = n if rng.random() < 0.5 else 1
            return const(name, rng.integers(0, Q15_ONE + 1, size).astype(np.int32), DType.s32)

        size = n if rng.random() < 0.5 else 1
        thr = const("thr", rng.integers(1, 3000, size).astype(np.int32), DType.s32)
        ins = [Value("i", (1, rows, n), DType.s32), factor("beta"), thr]
        if synaptic:
            ins.append(factor("alpha"))
        if recurrent:
            ins.append(const("w_rec", rng.integers(-127, 128, (n, n)).astype(np.int8), DType.s8))
        states = [Value(f"s{k}", (1, rows, n), membrane) for k in range(1 + synaptic)]
        node = Lif(name="lif", inputs=ins, outputs=[], state=states, reset=reset,
                   synaptic=synaptic, recurrent=recurrent, fires=fires,
                   decay_mode=DecayMode.SHIFT if shift else DecayMode.Q15)
        (shape, dt), = node.infer()
        node.outputs = [Value("y", shape, dt)]
        g = Graph("lif", [node], [ins[0]], [node.y])
        g.validate()
        return g
    return build


def _currents(rng, g, batch):
    """LIF_STEPS steps of currents around the thresholds, now and then far beyond them."""
    v = g.inputs[0]
    scale = 10 ** rng.uniform(1, 4.5)
    i = rng.normal(scale * 0.3, scale, (LIF_STEPS, *v.shape[1:]))
    return [np.clip(np.rint(i), -(1 << 30), 1 << 30).astype(np.int32)]


def _rate_encode(rng):
    h, w, c = (int(v) for v in rng.integers(1, 12, 3))
    x = Value("x", (1, h, w, c), DType.s8, act_quant(rng))
    node = RateEncode(name="enc", inputs=[x], outputs=[],
                      state=[Value("r", (1, 1), DType.s32)])
    (shape, dt), = node.infer()
    node.outputs = [Value("y", shape, dt)]
    g = Graph("enc", [node], [x], [node.y])
    g.validate()
    return g


def _intensities(rng, g, batch):
    return [rng.integers(-128, 128, (LIF_STEPS, *v.shape[1:])).astype(np.int8) for v in g.inputs]


ROWS = [
    Row("dense_u1_s8_s32", _dense(True), 50, _spikes_or_s8),
    Row("dense_u1_s8_s32_scan", _dense(True, events=False), 50, _spikes_or_s8),
    Row("dense_s8_s8_s32", _dense(False), 50, _spikes_or_s8),
    Row("conv2d_u1_s8_s32", _conv(True), 50, _spikes_or_s8),
    Row("conv2d_s8_s8_s32", _conv(False), 50, _spikes_or_s8),
    Row("maxpool2d_s32", _maxpool_s32, 50, _s32_inputs),
    Row("lif_s16", _lif(DType.s16), 60, _currents),
    Row("lif_s32", _lif(DType.s32), 60, _currents),
    Row("rate_encode_s8_u1", _rate_encode, 50, _intensities),
]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def test_lif_rows_cover_every_mode():
    seen = set()
    for row in ROWS[-3:-1]:
        rng = np.random.default_rng(zlib.crc32(row.name.encode()))
        for _ in range(row.count):
            n = row.build(rng).nodes[0]
            seen.add((n.reset, n.synaptic, n.recurrent, n.fires, n.decay_mode))
            assert lower(n).fn == f"ff_lif_{n.membrane.value}"
    assert {s[0] for s in seen} == set(Reset)
    assert {s[4] for s in seen} == set(DecayMode)
    assert all(any(s[k] for s in seen) and any(not s[k] for s in seen) for k in (1, 2, 3))
