"""An int8 layer read only by a sign gives the float model's signs (quantize/sign_boundary.py):
its bias is shifted per channel so that each threshold falls halfway between two int8 steps.
Before, every output within half a step below a threshold read +1 (a binary CNN's first conv
flipped 7 % of its signs on MNIST)."""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter import convert
from firmforge.converter.ir import DType, Graph, Value, const, make_node
from firmforge.converter.ops.binary import Binarize
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.eltwise import Add
from firmforge.converter.ops.pool import MaxPool2d
from firmforge.converter.quantize.sign_boundary import centred
from firmforge.converter.reference import run

# Inputs and weights on their int8 grids (input scale 0.01, zero point 0; weight scale 0.001
# per channel), so the int8 accumulator is the float conv exactly: any sign the int8 model
# reads differently is the output's rounding, what this is about.
X_STEP, W_STEP = 0.01, 0.001


def _grid_weights(rng, shape: tuple[int, ...]) -> np.ndarray:
    k = rng.integers(-20, 21, shape)
    k.reshape(shape[0], -1)[:, 0] = 127  # each channel's largest: its scale is W_STEP
    return (k * W_STEP).astype(np.float32)


def _conv_sign_graph(rng, thresholds: np.ndarray, pool: bool, also_add: bool = False) -> Graph:
    """Conv2d (outputs mostly just around the thresholds, with rare large ones that make the
    int8 step coarse) -> [MaxPool] -> sign; optionally the conv output also feeds an Add."""
    x = Value("x", (1, 8, 8, 3), DType.f32)
    w = _grid_weights(rng, (16, 3, 3, 3))  # [:, 0, 0, 0] = 0.127: the rare large outputs
    conv = make_node(Conv2d, "conv", [x, const("w", w), const("b", np.zeros(16, np.float32))],
                     ["z"], padding=Padding(1, 1, 1, 1))
    nodes, v = [conv], conv.outputs[0]
    if pool:
        nodes.append(make_node(MaxPool2d, "pool", [v], ["p"]))
        v = nodes[-1].outputs[0]
    sign = make_node(Binarize, "sign", [v, const("t", thresholds.astype(np.float32)),
                                        const("f", np.zeros(16, np.uint8), DType.u1)], ["s"])
    nodes.append(sign)
    outs = [sign.outputs[0]]
    if also_add:
        add = make_node(Add, "add", [conv.outputs[0], conv.outputs[0]], ["a"])
        nodes.append(add)
        outs.append(add.outputs[0])
    g = Graph("g", nodes, [x], outs)
    g.validate()
    return g


def _inputs(rng, n: int, shape: tuple[int, ...] = (8, 8, 3)) -> np.ndarray:
    """On the input grid, range exactly [-1.28, 1.27] (scale 0.01, zero point 0); the first
    channel mostly 0, now and then 1.27."""
    x = rng.integers(-30, 31, (n, *shape))
    x[..., 0] = np.where(rng.random((n, *shape[:-1])) < 0.03, 127, 0)
    x.reshape(n, -1)[0, :2] = (-128, 127)
    return (x * X_STEP).astype(np.float32)


@pytest.mark.parametrize("pool", [False, True])
@pytest.mark.parametrize("zero_thresholds", [True, False])
def test_signs_of_an_int8_layer_equal_the_float_signs(pool, zero_thresholds):
    rng = np.random.default_rng(int(pool) * 2 + int(zero_thresholds))
    t = np.zeros(16) if zero_thresholds else rng.normal(0, 0.01, 16)
    g = _conv_sign_graph(rng, t, pool)
    proj = convert(g, calibration=_inputs(rng, 64), progress=False)
    x = _inputs(rng, 200)
    want = run(g, [x])[0][0]
    got = proj.reference(x)
    step = proj.graph.nodes[0].outputs[0].quant.s
    near = np.abs(run(g, [x], keep_all=True)[1]["p" if pool else "z"] - t) < step / 2
    assert near.mean() > 0.02  # the case this is about: many outputs within half a step
    # what is left: outputs within one bias step of a threshold (float32 ties)
    assert np.mean(got != want) < 1e-3, np.mean(got != want)
    np.testing.assert_array_equal(proj.run_host(x), got)


def test_an_int8_output_read_by_others_too_is_left_alone():
    rng = np.random.default_rng(7)
    g = _conv_sign_graph(rng, np.zeros(16), pool=False, also_add=True)
    plain = _conv_sign_graph(rng, np.zeros(16), pool=False)
    calib = _inputs(rng, 64)
    proj = convert(g, calibration=calib, progress=False)
    bias = next(n for n in proj.graph.nodes if n.name == "conv").inputs[2].data
    assert not bias.any()  # a zero float bias stays 0: the Add reads the same values
    centred_bias = next(n for n in convert(plain, calibration=calib, progress=False).graph.nodes
                        if n.name == "conv").inputs[2].data
    assert centred_bias.any()


def test_centred_thresholds_fall_halfway_between_steps():
    """The integer threshold k + 1 + zp and the shifted bias put the real threshold at
    (k + 1/2) s, within one bias unit."""
    rng = np.random.default_rng(8)
    t = np.concatenate([[0.0, 0.1, -0.1, 0.05, 1e-9], rng.normal(0, 1, 27)])
    s, zp, sx = 0.1, -3, 0.02
    ws = rng.uniform(0.001, 0.01, t.size)
    bias = const("b", rng.integers(-500, 500, t.size).astype(np.int32), DType.s32)
    b, thr = centred(bias, t, sx, ws, s, zp)
    shift = (b.astype(np.float64) - bias.data) * sx * ws  # the real shift delta
    mid = (thr - zp - 0.5) * s  # where the shifted threshold must sit
    assert np.all(np.abs(t + shift - mid) <= sx * ws / 2 + 1e-12)
    assert np.all(np.abs(shift) <= s / 2 + sx * ws)


def test_a_dense_layer_is_centred_too():
    rng = np.random.default_rng(9)
    x = Value("x", (1, 20), DType.f32)
    w = _grid_weights(rng, (12, 20))
    fc = make_node(Dense, "fc", [x, const("w", w), const("b", np.zeros(12, np.float32))], ["z"])
    sign = make_node(Binarize, "sign", [fc.outputs[0], const("t", np.zeros(12, np.float32)),
                                        const("f", np.zeros(12, np.uint8), DType.u1)], ["s"])
    g = Graph("g", [fc, sign], [x], sign.outputs)
    xs = _inputs(rng, 300, (20,))
    proj = convert(g, calibration=xs[:100], progress=False)
    assert np.mean(proj.reference(xs[100:]) != run(g, [xs[100:]])[0][0]) < 1e-3
