"""snn/report.py: spikes per layer and step, synaptic operations, the energy proxy.

The counts are checked against brute force: a Dense SOP count is the number of (active input,
output) pairs; a convolution's is the number of (output position, tap) pairs that read an active
input, counted by running the convolution itself with all-one weights on the spike map."""

import numpy as np
import pytest

from firmforge.converter.ir import DType, Graph, Value
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.spiking import Lif
from firmforge.converter.reference import run
from firmforge.snn.report import ACCUMULATE_PJ, MAC_PJ, spiking_report


def _const(name, a):
    a = np.asarray(a, np.float32)
    return Value(name, a.shape, DType.f32, data=a)


def _lif(name, current, rng, recurrent=False):
    n = current.shape[-1]
    ins = [current, _const(f"{name}_beta", [0.8]), _const(f"{name}_thr", [0.5])]
    if recurrent:
        ins.append(_const(f"{name}_wrec", rng.normal(0, 0.3, (n, n))))
    out = Value(f"{name}_spk", current.shape, DType.f32)
    mem = Value(f"{name}_mem", current.shape, DType.f32)
    return Lif(name=name, inputs=ins, outputs=[out], state=[mem], recurrent=recurrent), out


def _steps(graph, xs):
    return [run(graph, [x], keep_all=True)[1] for x in xs]


def test_dense_and_recurrent_counts():
    rng = np.random.default_rng(0)
    x = Value("x", (1, 12), DType.f32)
    l1, s1 = _lif("l1", x, rng)
    h = Value("h", (1, 7), DType.f32)
    fc = Dense(name="fc", inputs=[s1, _const("w", rng.normal(0, 1, (7, 12))),
                                  _const("b", np.zeros(7))], outputs=[h])
    l2, s2 = _lif("l2", h, rng, recurrent=True)
    g = Graph("net", [l1, fc, l2], [x], [s2])
    g.validate()
    xs = rng.uniform(0, 1.5, (20, 1, 12)).astype(np.float32)
    steps = _steps(g, xs)
    rep = spiking_report(g, steps)
    by = {a.name: a for a in rep.layers}
    spk1 = np.array([t["l1_spk"].sum() for t in steps])
    spk2 = np.array([t["l2_spk"].sum() for t in steps])
    assert spk1.sum() > 0 and spk2.sum() > 0
    np.testing.assert_array_equal(by["l1"].spikes, spk1)
    np.testing.assert_array_equal(by["fc"].sops, spk1 * 7)
    np.testing.assert_array_equal(by["l2"].sops, np.concatenate([[0], spk2[:-1]]) * 7)
    assert by["fc"].macs == 84 and by["l2"].macs == 49
    assert rep.ann_macs == 20 * (84 + 49)
    want = (spk1.sum() * 7 + spk2[:-1].sum() * 7) * ACCUMULATE_PJ / (20 * 133 * MAC_PJ)
    assert rep.energy_ratio == pytest.approx(want)
    assert "SOPs" in rep.table()


@pytest.mark.parametrize("stride,pad,dil", [((1, 1), (1, 1, 1, 1), (1, 1)),
                                            ((2, 2), (0, 1, 0, 1), (1, 1)),
                                            ((2, 1), (2, 2, 1, 1), (2, 2))])
def test_conv_sops_count_every_tap_that_reads_a_spike(stride, pad, dil):
    rng = np.random.default_rng(1)
    x = Value("x", (1, 9, 8, 3), DType.f32)
    l1, s1 = _lif("l1", x, rng)
    w = rng.normal(0, 1, (5, 3, 3, 3))
    conv = Conv2d(name="conv", inputs=[s1, _const("w", w), _const("b", np.zeros(5))],
                  outputs=[Value("c", (1, 1, 1, 5), DType.f32)], stride=stride,
                  padding=Padding(*pad), dilation=dil)
    (shape, _), = conv.infer()
    conv.outputs[0] = Value("c", shape, DType.f32)
    g = Graph("net", [l1, conv], [x], [conv.outputs[0]])
    g.validate()
    xs = rng.uniform(0, 1.5, (6, 1, 9, 8, 3)).astype(np.float32)
    steps = _steps(g, xs)
    got = {a.name: a for a in spiking_report(g, steps).layers}["conv"].sops
    ones = Conv2d(name="ones", inputs=[s1, _const("w1", np.ones((1, 3, 3, 3))),
                                       _const("b1", np.zeros(1))],
                  outputs=[Value("o", (*shape[:3], 1), DType.f32)], stride=stride,
                  padding=Padding(*pad), dilation=dil)
    want = [float(ones.ref([t["l1_spk"], ones.inputs[1].data, ones.inputs[2].data])[0].sum()) * 5
            for t in steps]
    assert max(want) > 0
    np.testing.assert_allclose(got, want)
