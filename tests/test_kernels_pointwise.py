"""The pointwise (1x1) convolution kernel ff_conv2d_s8_1x1 == reference (matmul_cases.py for
the shapes and quantization), also when it writes its output over its input: a chain of 1x1
convolutions with in_c == out_c, which the memory planner runs in place.

Pixel counts below, at and around the kernel's block of 4 (a short last block re-uses the
previous block's pixels; fewer than 4 pixels take the dense kernels), depths and channel counts
from matmul_cases; the layers the Cortex-M assembly computes whole (matmul_cases' fast shapes)
call ff_conv2d_s8_1x1_fast, the others ff_conv2d_s8_1x1."""

from __future__ import annotations

import collections
import re
import zlib

import matmul_cases as mc
import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value, const
from firmforge.converter.ops.common import Padding
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.plan import plan_memory
from firmforge.targets.c import host
from firmforge.targets.c.emit import lower
from firmforge.targets.c.writer import generate

from cases import Row, random_inputs, single
from kernel_harness import check_row

PIXELS = [(1, 1), (1, 2), (1, 3), (2, 2), (1, 5), (2, 3), (3, 3), (1, 9), (5, 5), (8, 8)]


def _bias(rng: np.random.Generator, n: int, name: str = "b") -> Value:
    """Biases of a few thousand, or anywhere in int32 (the int32 sum then wraps, as TFLM's)."""
    if rng.random() < 0.1:
        b = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64)
    else:
        b = rng.integers(-2000, 2001, n)
    return const(name, b.astype(np.int32), DType.s32)


def _pixels(rng: np.random.Generator, depth: int, least: int = 1) -> tuple[int, int]:
    """(h, w) from PIXELS with at least ``least`` pixels (fewer than 4 take the dense
    kernels)."""
    h, w = PIXELS[rng.integers(len(PIXELS))]
    while h * w < least:
        h, w = PIXELS[rng.integers(len(PIXELS))]
    return (h, min(w, 2)) if depth > 500 and h * w > 4 else (h, w)


def _pointwise(rng: np.random.Generator, x: Value, out_c: int, name: str, shape: mc.Shape,
               minus128: bool = True) -> Conv2d:
    c = x.shape[-1]
    w = mc.weights(rng, (out_c, 1, 1, c), name=f"{name}_w", minus128=minus128)
    node = Conv2d(name=name, inputs=[x, w, _bias(rng, out_c, f"{name}_b")], outputs=[],
                  act=mc.act(rng, shape))
    ((y_shape, dtype),) = node.infer()
    yq = mc.out_quant(rng, x.quant, w.quant, c, shape)
    node.outputs = [Value(f"{name}_y", y_shape, dtype, yq)]
    return node


def conv2d_s8_1x1(rng: np.random.Generator) -> Graph:
    shape = mc.Shape.draw(rng)
    c = mc.depth(rng, shape)
    x = Value("x", (1, *_pixels(rng, c), c), DType.s8, mc.in_quant(rng))
    node = _pointwise(rng, x, mc.outs(rng, c, shape), "pw", shape)
    g = Graph("pw", [node], [x], node.outputs)
    g.validate()
    return g


def conv2d_s8_1x1_inplace(rng: np.random.Generator) -> Graph:
    """x -> 1x1 (c0 -> c) -> 1x1 (c -> c) -> 1x1 (c -> c) -> 1x1 (c -> c3) -> y: the two middle
    convolutions write over their inputs (the planner gives them the same buffer; no -128
    weights, which could send a layer to the general kernel)."""
    shape = mc.Shape.draw(rng)
    c0, c = mc.depth(rng, shape, 0), mc.depth(rng, shape, 0)
    c = max(2, c // 2 * 2) if shape.fast else c
    x = Value("x", (1, *_pixels(rng, c, least=4), c0), DType.s8, mc.in_quant(rng))
    nodes = [_pointwise(rng, x, c, "a", shape, False)]
    for name in ("b", "c"):
        nodes.append(_pointwise(rng, nodes[-1].y, c, name, shape, False))
    nodes.append(_pointwise(rng, nodes[-1].y, mc.pick(rng, mc.OUTS), "d", shape, False))
    g = Graph("pw_chain", nodes, [x], nodes[-1].outputs)
    g.validate()
    return g


SMALL_OUTS = [2, 6, 8, 10, 16, 18, 32, 34, 7]  # even, most not multiples of 4; 7 falls back


def conv2d_s8_1x1_small(rng: np.random.Generator) -> Graph:
    """8, 16 or 32 input channels (ff_conv2d_s8_1x1_c8 / _c16 / _c32 where their conditions
    hold): output
    channel counts not multiples of 4, zero points at both ends (matmul_cases), narrow ranges
    and right shifts under 2 now and then (the other kernels), and in three cases in ten
    biases that bring the accumulator bound just under 2^(32 - right), the edge of what the
    two-SMMLAR requantization is proven for (and, one in five of those, just over it)."""
    shape = mc.Shape(bool(rng.random() < 0.85))
    c = mc.pick(rng, [8, 16, 32])
    x = Value("x", (1, *_pixels(rng, c, least=4), c), DType.s8, mc.in_quant(rng))
    node = _pointwise(rng, x, mc.pick(rng, SMALL_OUTS), "pw", shape)
    if rng.random() < 0.3:
        w = node.inputs[1]
        o = w.shape[0]
        _, shift = (np.broadcast_to(a, (o,)) for a in node.requant())
        span = max(128 + x.quant.zp, 127 - x.quant.zp)
        used = span * np.abs(w.data.astype(np.int64)).reshape(o, -1).sum(axis=1)
        edge = (np.int64(1) << np.clip(32 + shift.astype(np.int64), 0, 31)) - 1 - used
        edge += rng.random() < 0.2  # one past the edge: the other kernels
        sign = rng.choice([-1, 1], o)
        b = np.clip(sign * edge, -(1 << 31), (1 << 31) - 1)
        node.inputs[2] = const("pw_b", b.astype(np.int32), DType.s32)
    g = Graph("pw_small", [node], [x], node.outputs)
    g.validate()
    return g


ROWS = [Row("conv2d_s8_1x1", conv2d_s8_1x1), Row("conv2d_s8_1x1_inplace", conv2d_s8_1x1_inplace),
        Row("conv2d_s8_1x1_small", conv2d_s8_1x1_small)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_kernel_matches_reference(row):
    check_row(row)


def _calls(g: Graph) -> str:
    return generate(g, "m").files["m.c"]


_PW_CALL = re.compile(r"ff_conv2d_s8_1x1(_fast|_c8|_c16)?\(")


def test_pointwise_conv_uses_1x1_kernel_only_when_it_applies():
    rng = np.random.default_rng(7)
    x = Value("x", (1, 3, 5, 16), DType.s8, mc.in_quant(rng))
    node = _pointwise(rng, x, 8, "pw", mc.Shape(True))
    plain = Graph("pw", [node], [x], node.outputs)
    assert _PW_CALL.search(_calls(plain))
    few = Value("x", (1, 1, 3, 16), DType.s8, x.quant)  # three pixels: a matrix-vector product
    g = single(Conv2d, "pw", [few, *node.inputs[1:]], node.y.quant)
    assert "ff_dense_s8_compact(" in _calls(g) and not _PW_CALL.search(_calls(g))
    for change in ({"stride": (2, 1)}, {"padding": Padding(0, 1, 0, 0)}):
        g = single(Conv2d, "conv", node.inputs, node.y.quant, **change)
        body = _calls(g)
        assert not _PW_CALL.search(body)
        assert "ff_conv2d_s8(" in body or "ff_conv2d_s8_im2col(" in body


def _fixed_pointwise(in_c: int, out_c: int, pixels: int = 8, act: Act = Act.NONE,
                     zp: int = 3, small_mult: bool = True) -> Conv2d:
    """A pointwise Conv2d with multipliers far below 1/4 (right shifts of at least 2) unless
    ``small_mult`` is False (then about 1)."""
    rng = np.random.default_rng(in_c * 100 + out_c)
    x = Value("x", (1, 1, pixels, in_c), DType.s8, QuantParams.per_tensor(0.05, 0))
    wq = QuantParams(np.full(out_c, 0.01, np.float32), np.zeros(out_c), 0)
    w = const("w", rng.integers(-127, 128, (out_c, 1, 1, in_c)).astype(np.int8), DType.s8, wq)
    b = const("b", np.zeros(out_c, np.int32), DType.s32)
    yq = QuantParams.per_tensor(0.05 * 0.01 * (1000 if small_mult else 1), zp)
    return single(Conv2d, "pw", [x, w, b], yq, act=act).nodes[0]


def test_pointwise_variant_is_chosen_at_conversion():
    """ff_conv2d_s8_1x1_fast exactly when the assembly computes the whole layer: in_c a
    multiple of 4 up to 508, out_c even, the full output range, right shifts of at least 2;
    fewer than 4 pixels go to the dense kernels (the compact one below 1024 MACs)."""
    assert lower(_fixed_pointwise(64, 64)).fn == "ff_conv2d_s8_1x1_fast"
    assert lower(_fixed_pointwise(508, 2, pixels=4)).fn == "ff_conv2d_s8_1x1_fast"
    assert lower(_fixed_pointwise(512, 2, pixels=4)).fn == "ff_conv2d_s8_1x1"  # two chunks
    assert lower(_fixed_pointwise(62, 64)).fn == "ff_conv2d_s8_1x1"  # in_c % 4 != 0
    assert lower(_fixed_pointwise(64, 63)).fn == "ff_conv2d_s8_1x1"  # an unpaired channel
    assert lower(_fixed_pointwise(64, 64, act=Act.RELU, zp=-100)).fn == "ff_conv2d_s8_1x1"
    assert lower(_fixed_pointwise(64, 64, small_mult=False)).fn == "ff_conv2d_s8_1x1"
    assert lower(_fixed_pointwise(64, 8, pixels=3)).fn == "ff_dense_s8_fast"
    assert lower(_fixed_pointwise(16, 8, pixels=3)).fn == "ff_dense_s8_compact"


def test_small_depth_variant_is_chosen_at_conversion():
    """ff_conv2d_s8_1x1_c8 / _c16 / _c32 exactly for 8, 16 or 32 input channels, out_c even, the
    full output range, right shifts of at least 2 and accumulator bounds below 2^(32 - right)."""
    assert lower(_fixed_pointwise(8, 16)).fn == "ff_conv2d_s8_1x1_c8"
    assert lower(_fixed_pointwise(16, 32)).fn == "ff_conv2d_s8_1x1_c16"
    assert lower(_fixed_pointwise(16, 6, pixels=4)).fn == "ff_conv2d_s8_1x1_c16"
    assert lower(_fixed_pointwise(12, 16)).fn == "ff_conv2d_s8_1x1_fast"
    assert lower(_fixed_pointwise(32, 16)).fn == "ff_conv2d_s8_1x1_c32"
    assert lower(_fixed_pointwise(64, 16)).fn == "ff_conv2d_s8_1x1_fast"  # kws's layers
    assert lower(_fixed_pointwise(32, 16)).scratch == 64
    assert lower(_fixed_pointwise(8, 15)).fn == "ff_conv2d_s8_1x1"  # an unpaired channel
    assert lower(_fixed_pointwise(8, 16, act=Act.RELU, zp=-100)).fn == "ff_conv2d_s8_1x1"
    assert lower(_fixed_pointwise(16, 16, small_mult=False)).fn == "ff_conv2d_s8_1x1"
    assert lower(_fixed_pointwise(8, 16, pixels=3)).fn == "ff_dense_s8_compact"
    node = _fixed_pointwise(8, 16)
    node.inputs[2] = const("b", np.full(16, 1 << 30, np.int32), DType.s32)  # past the bound
    assert lower(node).fn == "ff_conv2d_s8_1x1_fast"


@pytest.mark.parametrize(("seed", "count"), [("{}", 50), ("{} on qemu-mps2-an386", 200),
                                             ("{} on qemu-mps2-an505", 200)])
def test_rows_reach_every_variant(seed, count):
    """The host table and the DSP boards' tables call both entry points on many layers."""
    for row in ROWS:
        rng = np.random.default_rng(zlib.crc32(seed.format(row.name).encode()))
        found = collections.Counter(lower(n).fn for _ in range(count) for n in row.build(rng).nodes)
        if row.name == "conv2d_s8_1x1_small":
            small = [f"ff_conv2d_s8_1x1_c{c}" for c in (8, 16, 32)]
            assert all(found[fn] >= 5 for fn in small), found
            assert sum(found.values()) - sum(found[fn] for fn in small) >= 3, found
            continue
        assert found["ff_conv2d_s8_1x1"] >= 5 and found["ff_conv2d_s8_1x1_fast"] >= 5, found


def test_weights_the_pairs_cannot_hold_take_the_general_kernel():
    """w[2j + 1] = -128 beside a negative w[2j] does not pack into int16: the general kernel
    computes the same bytes."""
    rng = np.random.default_rng(3)
    x = Value("x", (1, 2, 3, 9), DType.s8, mc.in_quant(rng))
    node = _pointwise(rng, x, 6, "pw", mc.Shape(False))
    w = node.inputs[1].data.copy()
    w[2, 0, 0, 4], w[3, 0, 0, 4] = -5, -128
    node.inputs[1] = const("w", w, DType.s8, node.inputs[1].quant)
    g = Graph("pw", [node], [x], node.outputs)
    g.validate()
    assert "ff_conv2d_s8(" in _calls(g) or "ff_conv2d_s8_im2col(" in _calls(g)
    xs = random_inputs(rng, g, batch=2)
    (m,) = host.build([(generate(g, "unpackable"), g)])
    assert np.array_equal(m.run(*xs)[0], reference.run(g, xs)[0][0])


def test_inplace_chain_runs_in_place_and_the_planned_reference_agrees():
    """The planner gives the middle 1x1 convolutions their input's buffer; the C and the
    reference executed on that plan (reference.run_planned, scratch filled with garbage) both
    equal the reference."""
    rng = np.random.default_rng(5)
    graphs = [conv2d_s8_1x1_inplace(rng) for _ in range(6)]
    sources = [generate(g, f"chain_{i}") for i, g in enumerate(graphs)]
    for g, src in zip(graphs, sources, strict=True):
        plan = src.plan
        for node in g.nodes[1:3]:
            assert plan.buffer(node.y) is plan.buffer(node.inputs[0]), "not in place"
            if lower(node).fn not in ("ff_conv2d_s8_1x1_c8", "ff_conv2d_s8_1x1_c16"):
                assert plan.scratch[g.nodes.index(node)].size > 0  # those two keep none
        xs = random_inputs(rng, g, batch=3)
        want = reference.run(g, xs)[0][0]
        assert np.array_equal(reference.run_planned(g, plan, xs)[0], want)
        # the kernel's descriptor, not the op, allows it: the op alone would not run in place
        alone = plan_memory(g)
        assert alone.buffer(g.nodes[1].y) is not alone.buffer(g.nodes[1].inputs[0])
    models = host.build(list(zip(sources, graphs, strict=True)))
    for g, m in zip(graphs, models, strict=True):
        xs = random_inputs(rng, g, batch=3)
        assert np.array_equal(m.run(*xs)[0], reference.run(g, xs)[0][0])


def test_keyword_model_runs_its_pointwise_layers_in_place(shared):
    """kws_ref_model's four 64 -> 64 pointwise layers write over their inputs; the planned
    reference (the C's arena offsets, in-place sharing and garbage scratch) gives the reference's
    bytes."""
    from firmforge.converter import convert

    path = shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent on this machine")
    proj = convert(path)
    plan = proj.sources().plan
    pointwise = [t for t, n in enumerate(proj.graph.nodes)
                 if "ff_conv2d_s8_1x1_fast(" in _calls_of(proj, n.name)]
    assert len(pointwise) == 4  # every one meets the assembly's conditions
    for t in pointwise:
        node = proj.graph.nodes[t]
        assert plan.buffer(node.y) is plan.buffer(node.inputs[0])
        assert plan.scratch[t].size == 8 * node.inputs[0].shape[-1]
    x = np.random.default_rng(9).integers(-128, 128, (4, *proj.graph.inputs[0].shape[1:]))
    x = x.astype(np.int8)
    assert np.array_equal(reference.run_planned(proj.graph, plan, [x])[0],
                          reference.run(proj.graph, [x])[0][0])


def _calls_of(proj, layer: str) -> str:
    """The kernel call lines the generated C has for ``layer`` (the comment names it)."""
    src = proj.sources()
    body = src.files[f"{src.prefix}.c"].splitlines()
    out = []
    for i, line in enumerate(body):
        if line.strip().startswith(f"/* {layer}:"):
            out.append(body[i + 1])
    return "\n".join(out)
