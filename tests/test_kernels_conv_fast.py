"""The specialised int8 convolution kernels (prepared operands, DSP fast paths) == reference.

- ``dwconv2d_s8_3x3``: 3x3 depthwise layers (``ff_dwconv2d_s8_3x3``) over every stride 1..3 and
  padding combination (SAME, VALID, symmetric, each side up to a full window), 1..64 channels
  (1, odd counts, counts that are not multiples of 4), zero points at -128 and 127 a third of the
  time, every fused activation (both clamps reached), biases up to 10^5.
- ``dwconv2d_s8_3x3_c4``: the same with 4 to 64 channels in whole blocks of four
  (``ff_dwconv2d_s8_3x3_c4``).
- ``dwconv2d_s8_3x3_inplace``: relu -> 3x3 depthwise (stride 1, SAME: the planner gives it its
  input's buffer) -> relu, so the kernel writes its output over its input.
- ``conv2d_s8_im2col``: first convolutions (``ff_conv2d_s8_im2col``): 1-4 input channels,
  kernels 1x1 to 10x4, strides 1-2, every padding, 1-16 output channels (odd counts too),
  extreme zero points, biases up to 3 * 10^5. (``conv2d_s8`` in ``test_kernels_conv.py`` runs
  the same kernel on grouped, dilated and deeper shapes, where the general kernel may apply.)

The kernel tables on the emulated boards (``test_kernels_on_boards.py``) run these rows with the
DSP fast paths compiled in (Cortex-M4, M33).
"""

from __future__ import annotations

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value
from firmforge.converter.ops.act import Relu
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d, DepthwiseConv2d
from firmforge.converter.plan import Storage
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from cases import (
    Row,
    act_quant_extreme,
    bias,
    out_quant_for_acc,
    random_inputs,
    single,
    weights,
    zero_point_s8,
)
from kernel_harness import check_row

ACTS = [Act.NONE, Act.RELU, Act.RELU6, Act.RELU_N1_TO_1]
CHANNELS = [1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 33, 64]


def _pad(rng: np.random.Generator, hw: tuple[int, int], stride: tuple[int, int]) -> Padding:
    kind = int(rng.integers(4))
    if kind == 0:
        return Padding.same(hw, (3, 3), stride)
    if kind == 1:
        return Padding()
    if kind == 2:
        return Padding(1, 1, 1, 1)
    return Padding(*(int(rng.integers(0, 4)) for _ in range(4)))


def _spatial(rng: np.random.Generator) -> tuple[tuple[int, int], tuple[int, int], Padding]:
    stride = tuple(int(rng.choice([1, 1, 2, 2, 3])) for _ in range(2))
    while True:
        hw = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        pad = _pad(rng, hw, stride)
        if all(n + a + b >= 3 for n, a, b in zip(hw, (pad.top, pad.left),
                                                 (pad.bottom, pad.right), strict=True)):
            return hw, stride, pad


def dwconv2d_s8_3x3(rng: np.random.Generator) -> Graph:
    hw, stride, pad = _spatial(rng)
    c = int(rng.choice(CHANNELS))
    xq = act_quant_extreme(rng)
    x = Value("x", (1, *hw, c), DType.s8, xq)
    w = weights(rng, (1, 3, 3, c), axis=3)
    yq = out_quant_for_acc(rng, xq, w.quant, 9)
    yq = QuantParams.per_tensor(yq.s, zero_point_s8(rng))
    spread = int(rng.choice([1000, 1000, 100_000]))
    return single(DepthwiseConv2d, "dw3", [x, w, bias(rng, c, spread)], yq, stride=stride,
                  padding=pad, act=ACTS[int(rng.integers(len(ACTS)))])


def dwconv2d_s8_3x3_c4(rng: np.random.Generator) -> Graph:
    """The same layers with a multiple of 4 channels (``ff_dwconv2d_s8_3x3_c4``)."""
    while True:
        g = dwconv2d_s8_3x3(rng)
        if g.inputs[0].shape[3] % 4 == 0:
            return g


def _inplace_chain(rng: np.random.Generator) -> Graph:
    """relu -> 3x3 depthwise, stride 1, SAME (or another same-size padding) -> relu."""
    hw = (int(rng.integers(1, 10)), int(rng.integers(1, 10)))
    top, left = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    pad = Padding(top, 2 - top, left, 2 - left) if rng.random() < 0.5 else Padding(1, 1, 1, 1)
    c = int(rng.choice(CHANNELS))
    x = Value("x", (1, *hw, c), DType.s8, act_quant_extreme(rng))
    t = Value("t", x.shape, DType.s8, act_quant_extreme(rng))
    w = weights(rng, (1, 3, 3, c), axis=3)
    uq = out_quant_for_acc(rng, t.quant, w.quant, 9)
    u = Value("u", x.shape, DType.s8, QuantParams.per_tensor(uq.s, zero_point_s8(rng)))
    y = Value("y", x.shape, DType.s8, act_quant_extreme(rng))
    dw = DepthwiseConv2d(name="dw", inputs=[t, w, bias(rng, c, 1000)], outputs=[u],
                         padding=pad, act=ACTS[int(rng.integers(len(ACTS)))])
    g = Graph("dw_inplace", [Relu(name="r1", inputs=[x], outputs=[t]), dw,
                             Relu(name="r2", inputs=[u], outputs=[y])], [x], [y])
    g.validate()
    return g


FIRST_KERNELS = [(3, 3), (3, 3), (10, 4), (5, 5), (1, 7), (4, 10), (2, 2), (1, 1)]


def conv2d_s8_im2col(rng: np.random.Generator) -> Graph:
    """First layers of image and keyword models (ff_conv2d_s8_im2col): 1-4 input channels,
    kernels up to 10 high or wide, strides 1-2, SAME, VALID or any padding up to the kernel."""
    k = FIRST_KERNELS[int(rng.integers(len(FIRST_KERNELS)))]
    stride = tuple(int(rng.choice([1, 2, 2])) for _ in range(2))
    ci = int(rng.choice([1, 1, 2, 3, 3, 4]))
    o = int(rng.choice([1, 2, 3, 5, 8, 16]))
    while True:
        hw = (int(rng.integers(1, 14)), int(rng.integers(1, 14)))
        kind = int(rng.integers(3))
        pad = (Padding.same(hw, k, stride) if kind == 0 else Padding() if kind == 1 else
               Padding(*(int(rng.integers(0, kk)) for kk in (k[0], k[0], k[1], k[1]))))
        if hw[0] + pad.top + pad.bottom >= k[0] and hw[1] + pad.left + pad.right >= k[1]:
            break
    xq = act_quant_extreme(rng)
    x = Value("x", (1, *hw, ci), DType.s8, xq)
    w = weights(rng, (o, *k, ci), axis=0)
    yq = out_quant_for_acc(rng, xq, w.quant, k[0] * k[1] * ci)
    yq = QuantParams.per_tensor(yq.s, zero_point_s8(rng))
    spread = int(rng.choice([3000, 3000, 300_000]))
    return single(Conv2d, "conv_first", [x, w, bias(rng, o, spread)], yq, stride=stride,
                  padding=pad, act=ACTS[int(rng.integers(len(ACTS)))])


ROWS = [Row("dwconv2d_s8_3x3", dwconv2d_s8_3x3),
        Row("dwconv2d_s8_3x3_c4", dwconv2d_s8_3x3_c4),
        Row("dwconv2d_s8_3x3_inplace", _inplace_chain),
        Row("conv2d_s8_im2col", conv2d_s8_im2col)]


def test_dwconv2d_s8_3x3():
    check_row(ROWS[0])


def test_dwconv2d_s8_3x3_c4():
    check_row(ROWS[1])
    rng = np.random.default_rng(5)
    assert all("ff_dwconv2d_s8_3x3_c4(" in generate(dwconv2d_s8_3x3_c4(rng), "m").files["m.c"]
               for _ in range(20))


def test_dwconv2d_s8_3x3_inplace():
    check_row(ROWS[2])


def test_conv2d_s8_im2col():
    check_row(ROWS[3])
    rng = np.random.default_rng(4)
    assert all("ff_conv2d_s8_im2col(" in generate(conv2d_s8_im2col(rng), "m").files["m.c"]
               for _ in range(20))


def test_3x3_depthwise_takes_the_specialised_kernel():
    rng = np.random.default_rng(3)
    graphs = [dwconv2d_s8_3x3(rng) for _ in range(40)]
    # channels in whole blocks of four take the _c4 variant
    assert all(f"ff_dwconv2d_s8_3x3{'_c4' if g.inputs[0].shape[3] % 4 == 0 else ''}("
               in generate(g, "m").files["m.c"] for g in graphs)
    # a bias too large for the prepared requantization falls back to the general kernel
    b = graphs[0].nodes[0].inputs[2]
    b.data = np.full(b.shape, 1 << 30, np.int32)
    assert "ff_dwconv2d_s8(" in generate(graphs[0], "m").files["m.c"]


def test_inplace_depthwise_plan_and_planned_reference():
    """The output shares the input's arena bytes, the C equals the reference, and so does the
    reference executed on the C's memory plan (garbage in the scratch ring)."""
    rng = np.random.default_rng(11)
    graphs = [_inplace_chain(rng) for _ in range(12)]
    sources = [generate(g, f"ip{i}") for i, g in enumerate(graphs)]
    models = host.build(list(zip(sources, graphs, strict=True)))
    for g, src, m in zip(graphs, sources, models, strict=True):
        plan = src.plan
        t, u = g.nodes[1].inputs[0], g.nodes[1].y
        assert plan.buffer(t) is plan.buffer(u) and plan.buffer(u).storage is Storage.ARENA
        assert "ff_dwconv2d_s8_3x3" in src.files[f"{src.prefix}.c"]
        xs = random_inputs(rng, g, batch=3)
        want, _ = reference.run(g, xs)
        assert np.array_equal(m.run(*xs)[0], want[0])
        assert np.array_equal(reference.run_planned(g, plan, xs)[0], want[0])


def test_kws_depthwise_layers_run_in_place(shared):
    """In the MLPerf Tiny keyword model every depthwise layer (3x3, stride 1, SAME) takes the
    specialised kernel and writes over its input; the reference executed on that memory plan,
    the host C and the reference agree."""
    from firmforge.converter import convert

    path = shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent on this machine")
    proj = convert(path)
    g, src = proj.graph, proj.sources()
    body = src.files[f"{src.prefix}.c"]
    dws = [n for n in g.nodes if isinstance(n, DepthwiseConv2d)]
    assert len(dws) == 4 and body.count("ff_dwconv2d_s8_3x3_c4(") == 4
    for n in dws:
        assert src.plan.buffer(n.inputs[0]) is src.plan.buffer(n.y)
    x = np.random.default_rng(3).integers(-128, 128, (3, *g.inputs[0].shape[1:]), dtype=np.int8)
    want = reference.run(g, [x])[0][0]
    np.testing.assert_array_equal(reference.run_planned(g, src.plan, [x])[0], want)
    np.testing.assert_array_equal(proj.run_host(x), want)
