"""TFLite import, one operator at a time: imported reference == TFLM == host C, byte for byte.

Every case is a one-operator .tflite file built in the test (tflite_cases), imported with
load_tflite and run three ways on the same random batch: firmforge's reference, TFLM (the
tflite-micro package) and the generated C on the host. All int cases share one host build.
Float files are imported as float graphs, checked against TFLM's float kernels, and quantized
by firmforge's own PTQ. Configurations that TFLM or firmforge refuse are asserted as refusals.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tflite_cases as tc

from firmforge.converter import compare_tflm, reference
from firmforge.converter.frontends.tflite import (
    TFLiteFormatError,
    UnsupportedTFLiteError,
    load_tflite,
)
from firmforge.converter.ir import DType, Graph
from firmforge.converter.quantize import calibrate, quantize
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

from tflm_harness import BuiltinOperator as Op
from tflm_harness import TensorSpec, TFLMRefused, build_model, run_model, schema

BATCH = 3
FAMILIES = tc.int8_cases()


def _inputs(rng, g: Graph, batch: int = BATCH) -> list[np.ndarray]:
    xs = []
    for v in g.inputs:
        if v.dtype is DType.f32:
            xs.append(rng.normal(0, 2, (batch, *v.shape[1:])).astype(np.float32))
        else:
            info = np.iinfo(v.dtype.np)
            xs.append(rng.integers(info.min, info.max + 1, (batch, *v.shape[1:]),
                                   dtype=v.dtype.np))
    return xs


def _import(case: tc.Case) -> Graph:
    imp = load_tflite(case.model, case.name)
    assert imp.graph.name == case.name
    assert {op for _, op in imp.op_of.values()} == {case.op}
    # the graph's boundary maps back to the file's tensors (TFLM's GetTensor indices)
    for v in [*imp.graph.inputs, *imp.graph.outputs]:
        assert v.name in imp.tensor_of
    return imp.graph


def _same(want, got, what: str) -> None:
    for w, o in zip(want, got, strict=True):
        o = np.asarray(o).reshape(w.shape)
        assert o.dtype == w.dtype, f"{what}: dtype {o.dtype} != {w.dtype}"
        if not np.array_equal(w, o):
            bad = np.argwhere(w != o)
            i = tuple(bad[0])
            raise AssertionError(f"{what}: {len(bad)} of {w.size} differ, first at {i}: "
                                 f"ref {w[i]} other {o[i]}")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_reference_equals_tflm(family):
    rng = tc.rng_for(f"inputs {family}")
    for case in FAMILIES[family]:
        g = _import(case)
        xs = _inputs(rng, g)
        want, _ = reference.run(g, xs)
        _same(want, run_model(case.model, xs), f"{case.name} TFLM\n{g!r}")


def test_host_c_equals_reference():
    """All int cases of every family compile into one host module; C == reference."""
    rng = tc.rng_for("host inputs")
    graphs = [_import(c) for cases in FAMILIES.values() for c in cases]
    graphs += [_quantized_float(c)[1] for c in tc.float_cases()]
    assert len({g.name for g in graphs}) == len(graphs)
    models = host.build([(generate(g, g.name), g) for g in graphs])
    for g, m in zip(graphs, models, strict=True):
        xs = _inputs(rng, g, 2)
        want, _ = reference.run(g, xs)
        _same(want, m.run(*xs), f"{g.name} host C\n{g!r}")


def _quantized_float(case: tc.Case) -> tuple[Graph, Graph, np.ndarray]:
    imp = load_tflite(case.model, case.name)
    assert not imp.quantized
    g = imp.graph
    assert all(v.dtype is DType.f32 for v in g.values())
    rng = tc.rng_for(f"calibrate {case.name}")
    data = rng.normal(0, 2, (64, *g.inputs[0].shape[1:])).astype(np.float32)
    return g, quantize(g, calibrate(g, data, progress=False)), data


@pytest.mark.parametrize("case", tc.float_cases(), ids=str)
def test_float_file_imports_and_quantizes(case):
    g, q, data = _quantized_float(case)
    xs = [data[:4]]  # inside the calibrated ranges
    wants, _ = reference.run(g, xs)
    qx = [q.inputs[0].quant.quantize(x, DType.s8) for x in xs]
    qys, _ = reference.run(q, qx)
    for want, got, qy, v in zip(wants, run_model(case.model, xs), qys, q.outputs, strict=True):
        np.testing.assert_allclose(want, got.reshape(want.shape), rtol=1e-4, atol=1e-4)
        # the int8 graph of firmforge's PTQ tracks the float one within a few output steps
        err = np.abs(v.quant.dequantize(qy) - want)
        assert err.max() <= 6 * v.quant.s + 0.05 * np.abs(want).max(), (case.name, err.max())


# -- refusals ------------------------------------------------------------------------------------
def _tflm_rejects(model: bytes, x_shape, dtype=np.int8, because: str | None = None) -> bool:
    try:
        run_model(model, [np.zeros((1, *x_shape[1:]), dtype)])
    except TFLMRefused as e:
        # refused, and for the reason the test names (TFLM's error reporter says which check)
        assert because is not None and re.search(because, e.log), f"TFLM refused: {e.log}"
        return True
    return False


def _dw_model(mult_option: int) -> bytes:
    rng = tc.rng_for("dw mult")
    x = tc.act(rng, (1, 5, 5, 2))
    w = tc.weights(rng, (1, 3, 3, 4), 3)
    y = tc.out_for_acc(rng, x, w, 9, (1, 3, 3, 4))
    opt = tc.options(schema.DepthwiseConv2DOptionsT, padding=tc.VALID, strideH=1, strideW=1,
                     dilationHFactor=1, dilationWFactor=1, depthMultiplier=mult_option)
    return build_model(Op.DEPTHWISE_CONV_2D, opt, [x, w, tc.bias(rng, 4, x, w)], [y])


def test_depth_multiplier_must_agree_with_the_shapes():
    """TFLM loops over the option's multiplier, so an option that disagrees with the shapes
    (2 input channels, 4 filter channels) leaves outputs unwritten: TFLM's answer is not the
    depthwise convolution of multiplier 2. firmforge refuses such files."""
    good = _dw_model(2)
    g = load_tflite(good).graph
    xs = [tc.rng_for("dw x").integers(-128, 128, (1, 5, 5, 2), dtype=np.int8)]
    want, _ = reference.run(g, xs)
    _same(want, run_model(good, xs), "dw multiplier 2")
    for m in (1, 0):
        bad = _dw_model(m)
        assert not np.array_equal(run_model(bad, xs)[0].reshape(want[0].shape), want[0])
        with pytest.raises(UnsupportedTFLiteError, match=f"depth_multiplier option {m} "
                           "disagrees with the shapes"):
            load_tflite(bad)


def _conv_with_act(rng, act: int):
    x = tc.act(rng, (1, 4, 4, 2))
    w = tc.weights(rng, (3, 1, 1, 2), 0)
    opt = tc.options(schema.Conv2DOptionsT, padding=tc.VALID, strideH=1, strideW=1,
                     dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=act)
    return build_model(Op.CONV_2D, opt, [x, w, tc.bias(rng, 3, x, w)],
                       [tc.out_for_acc(rng, x, w, 2, (1, 4, 4, 3))]), x


def test_options_firmforge_refuses_are_listed():
    """A fused TANH (TFLM silently runs it as no activation), CONCATENATION with an activation
    (TFLM refuses it too),
    PADV2 with a value other than the zero point, RELU6 whose output parameters differ from
    the input's (TFLM ignores them), a FULLY_CONNECTED read as 3 rows (a batch other than 1),
    a SQUEEZE that drops the batch, and int16 MUL, which TFLM runs but the IR's op class does
    not implement."""
    x_data = [tc.rng_for("refuse x").integers(-128, 128, (1, 4, 4, 2), dtype=np.int8)]
    conv, x = _conv_with_act(tc.rng_for("refuse"), schema.ActivationFunctionType.TANH)
    plain, _ = _conv_with_act(tc.rng_for("refuse"), schema.ActivationFunctionType.NONE)
    _same(run_model(plain, x_data), run_model(conv, x_data), "TFLM ignores a fused TANH")
    with pytest.raises(UnsupportedTFLiteError, match=r"operator 0 \(CONV_2D\): fused "
                       "activation TANH is not supported"):
        load_tflite(conv)
    rng = tc.rng_for("refuse more")
    cat = build_model(Op.CONCATENATION, tc.options(schema.ConcatenationOptionsT, axis=3,
                                                   fusedActivationFunction=1),
                      [x, tc.same_q(x, x.shape)], [tc.same_q(x, (1, 4, 4, 4))])
    # TFLM's Prepare refuses it as well
    with pytest.raises(TFLMRefused, match="params->activation != kTfLiteActNone"):
        run_model(cat, [np.zeros(x.shape, np.int8)] * 2)
    with pytest.raises(UnsupportedTFLiteError, match="fused activation on CONCATENATION"):
        load_tflite(cat)
    c = TensorSpec((1,), np.int8, x.scale, x.zero_point, data=np.array([5], np.int8))
    pads = tc.i32([[0, 0], [1, 1], [0, 0], [0, 0]])
    padv2 = build_model(Op.PADV2, None, [x, pads, c], [tc.same_q(x, (1, 6, 4, 2))])
    with pytest.raises(UnsupportedTFLiteError, match="PADV2 fills with"):
        load_tflite(padv2)
    relu6 = build_model(Op.RELU6, None, [x], [TensorSpec(x.shape, np.int8, 0.5, 3)])
    with pytest.raises(UnsupportedTFLiteError, match="relu6 needs the output's quantization"):
        load_tflite(relu6)
    fw = tc.weights(rng, (5, 8), 0)
    fx = tc.act(rng, (1, 3, 8))
    fc = build_model(Op.FULLY_CONNECTED, tc.options(schema.FullyConnectedOptionsT),
                     [fx, fw, tc.bias(rng, 5, fx, fw)], [tc.out_for_acc(rng, fx, fw, 8, (3, 5))])
    with pytest.raises(UnsupportedTFLiteError, match="read as 3 rows of 8"):
        load_tflite(fc)
    sq = build_model(Op.SQUEEZE, tc.options(schema.SqueezeOptionsT), [x],
                     [tc.same_q(x, (4, 4, 2))])
    with pytest.raises(UnsupportedTFLiteError, match="leading batch dimension of 1"):
        load_tflite(sq)
    for case in tc.binary_cases(1, np.int16, ("MUL",), "16"):
        a, b = (np.zeros(tuple(shape), np.int16) for shape in _spec_inputs(case.model))
        run_model(case.model, [a, b])  # TFLM runs them
        with pytest.raises(UnsupportedTFLiteError, match="has no s16 implementation"):
            load_tflite(case.model)


def test_minmax_compares_raw_integers_so_parameters_must_agree():
    """TFLM's MAXIMUM/MINIMUM have no Prepare: they compare the stored integers whatever the
    parameters. With operands of different scales (or an output with its own parameters) TFLM's
    answer is the maximum of the raw values, which is not the maximum of the real ones, so
    firmforge refuses such files instead of choosing between TFLM's bytes and the maximum."""
    rng = tc.rng_for("minmax refuse")
    a = TensorSpec((1, 4, 8), np.int8, 0.05, -20)
    b = TensorSpec(a.shape, np.int8, 0.15, 7)
    y_other = TensorSpec(a.shape, np.int8, 0.05, -19)
    xs = [rng.integers(-128, 128, (2, 4, 8), dtype=np.int8) for _ in range(2)]
    for name, pick in (("MAXIMUM", np.maximum), ("MINIMUM", np.minimum)):
        for ins, y in (([a, b], tc.same_q(a, a.shape)), ([a, tc.same_q(a, a.shape)], y_other)):
            model = build_model(getattr(Op, name), schema.MaximumMinimumOptionsT(), ins, [y])
            (got,) = run_model(model, xs)
            assert np.array_equal(got, pick(*xs))  # the raw integers, whatever the parameters
            real = pick(*((x.astype(np.float64) - s.zero_point) * s.scale
                          for x, s in zip(xs, ins, strict=True)))
            want = np.clip(np.round(real / y.scale) + y.zero_point, -128, 127)
            assert not np.array_equal(got, want)  # ... which is not the maximum of the reals
            with pytest.raises(UnsupportedTFLiteError, match="identical quantization"):
                load_tflite(model)


def test_hard_swish_configurations_tflm_refuses():
    """TFLM's Prepare rejects an output multiplier s_x / (128 s_y) of 1 or more (a positive
    exponent) and its Eval has no int16 HardSwish: firmforge refuses both files as well."""
    x = TensorSpec((1, 4, 6), np.int8, 0.02, 3)
    for s_y in (0.02 / 128, 0.02 / 128 * 0.7):
        model = build_model(Op.HARD_SWISH, None, [x], [TensorSpec(x.shape, np.int8, s_y, 0)])
        assert _tflm_rejects(model, x.shape, because=r"output_multiplier_exponent <= 0")
        with pytest.raises(UnsupportedTFLiteError, match="TFLM's Prepare rejects it"):
            load_tflite(model)
    ok = build_model(Op.HARD_SWISH, None, [x], [TensorSpec(x.shape, np.int8, 0.02 / 100, 0)])
    assert not _tflm_rejects(ok, x.shape)
    load_tflite(ok)
    x16 = TensorSpec((1, 4, 6), np.int16, 0.001, 0)
    model = build_model(Op.HARD_SWISH, None, [x16], [TensorSpec(x16.shape, np.int16, 0.001, 0)])
    assert _tflm_rejects(model, x16.shape, np.int16, because="Unsupported type INT16")
    with pytest.raises(UnsupportedTFLiteError, match="hard_swish has no s16 implementation"):
        load_tflite(model)


def test_split_configurations_tflm_refuses_and_copies():
    """TFLM copies SPLIT's bytes whatever the outputs' parameters, so firmforge refuses outputs
    quantized unlike the input (TFLM's answer is then not the split of the real values); TFLM's
    Prepare refuses an axis computed at run time and its Eval an axis out of range: so does
    firmforge. A split along the batch (which TFLM runs) is firmforge's own refusal."""
    rng = tc.rng_for("split refuse")
    x = TensorSpec((1, 4, 6), np.int8, 0.05, 3)
    xs = [rng.integers(-128, 128, (2, 4, 6), dtype=np.int8)]
    opt = tc.options(schema.SplitOptionsT, numSplits=2)
    pieces = [tc.same_q(x, (1, 4, 3)), TensorSpec((1, 4, 3), np.int8, 0.1, 3)]
    model = build_model(Op.SPLIT, opt, [tc.i32(np.int32(2)), x], pieces)
    got = run_model(model, xs)
    assert np.array_equal(got[1], xs[0][:, :, 3:])  # the bytes, read with other parameters
    with pytest.raises(UnsupportedTFLiteError, match="quantized as its input"):
        load_tflite(model)
    pieces = [tc.same_q(x, (1, 4, 3))] * 2
    dynamic = build_model(Op.SPLIT, opt, [TensorSpec((1,), np.int32), x], pieces)
    with pytest.raises(TFLMRefused, match="Non-constant >axis< tensor"):
        run_model(dynamic, [np.array([2], np.int32), xs[0][:1]])
    with pytest.raises(UnsupportedTFLiteError, match=r"axis .* must be a constant"):
        load_tflite(dynamic)
    far = build_model(Op.SPLIT, tc.options(schema.SplitOptionsT, numSplits=1),
                      [tc.i32(np.int32(3)), x], [tc.same_q(x, x.shape)])
    # TFLM's Eval refuses the axis without saying why
    assert _tflm_rejects(far, x.shape, because=r"Node SPLIT \(number 0\) failed to invoke")
    with pytest.raises(TFLiteFormatError, match="axis 3 is out of range"):
        load_tflite(far)
    batch = build_model(Op.SPLIT, tc.options(schema.SplitOptionsT, numSplits=1),
                        [tc.i32(np.int32(0)), x], [tc.same_q(x, x.shape)])
    assert np.array_equal(run_model(batch, xs)[0], xs[0])
    with pytest.raises(UnsupportedTFLiteError, match="batch dimension"):
        load_tflite(batch)


def test_transpose_configurations_tflm_refuses():
    """TFLM's Prepare refuses a computed perm, a perm entry out of bounds and a 6-D input, its
    Eval int32 data: firmforge refuses each. TFLM moves the bytes whatever the output's
    parameters, and runs a perm that repeats a dimension or moves the batch: firmforge refuses
    those as well (the first is not TFLM's transpose of the real values, the others are not
    transposes the IR's batch-first graphs can hold)."""
    rng = tc.rng_for("transpose refuse")
    x = TensorSpec((1, 2, 3, 4), np.int8, 0.05, 3)
    xs = [rng.integers(-128, 128, (1, 2, 3, 4), dtype=np.int8)]

    def model(perm, y=None, spec=x):
        shape = tuple(spec.shape[d] for d in perm)
        return build_model(Op.TRANSPOSE, None, [spec, tc.i32(perm)],
                           [y or TensorSpec(shape, spec.dtype, spec.scale, spec.zero_point)])

    other = model([0, 3, 1, 2], TensorSpec((1, 4, 2, 3), np.int8, 0.1, 3))
    assert np.array_equal(run_model(other, xs)[0], xs[0].transpose(0, 3, 1, 2))
    with pytest.raises(UnsupportedTFLiteError, match="quantized as the input"):
        load_tflite(other)
    x1 = TensorSpec((1,), np.int8, 0.05, 3)  # 1-D, so that a perm input can be a model input
    computed = build_model(Op.TRANSPOSE, None, [x1, TensorSpec((1,), np.int32)],
                           [tc.same_q(x1, (1,))])
    with pytest.raises(TFLMRefused, match="Non-constant >perm< tensor"):
        run_model(computed, [np.array([5], np.int8), np.array([0], np.int32)])
    with pytest.raises(UnsupportedTFLiteError, match=r"perm .* must be a constant"):
        load_tflite(computed)
    far = build_model(Op.TRANSPOSE, None, [x, tc.i32([0, 1, 2, 4])], [tc.same_q(x, x.shape)])
    assert _tflm_rejects(far, x.shape, because="permutations array is out of bounds")
    with pytest.raises(TFLiteFormatError, match="out of bounds"):
        load_tflite(far)
    x6 = TensorSpec((1, 1, 2, 1, 2, 1), np.int8, 0.05, 3)
    six = model([0, 2, 1, 3, 4, 5], spec=x6)
    assert _tflm_rejects(six, x6.shape, because="only supports 1D-5D input arrays")
    with pytest.raises(UnsupportedTFLiteError, match="6-D input"):
        load_tflite(six)
    x32 = TensorSpec((1, 2, 3), np.int32)
    i32 = model([0, 2, 1], spec=x32)
    assert _tflm_rejects(i32, x32.shape, np.int32,
                         because="Type INT32 is currently not supported by Transpose")
    with pytest.raises(UnsupportedTFLiteError, match="s32 data"):
        load_tflite(i32)
    twice = model([0, 1, 1, 3])
    run_model(twice, xs)  # TFLM runs it
    with pytest.raises(UnsupportedTFLiteError, match="repeats a dimension"):
        load_tflite(twice)
    xb = TensorSpec((1, 1, 3), np.int8, 0.05, 3)
    batch = model([1, 0, 2], spec=xb)
    run_model(batch, [xs[0].reshape(-1)[:3].reshape(1, 1, 3)])
    with pytest.raises(UnsupportedTFLiteError, match="moves the batch"):
        load_tflite(batch)


def test_batch_matmul_configurations_tflm_refuses():
    """TFLM's Prepare refuses operands of different types (a hybrid float x int8), depths that
    differ, batch dims that do not broadcast, 6-D operands and int16 zero points other than 0:
    so does firmforge. TFLM runs int16 and rank-2 activations, which firmforge refuses (no
    int16 kernel; a rank-2 activation has no batch dimension of its own)."""
    opt = tc.options(schema.BatchMatMulOptionsT)

    def q(shape, dtype=np.int8, zp=0):
        return TensorSpec(shape, dtype, None if dtype == np.float32 else 0.05,
                          None if dtype == np.float32 else zp)

    def refused(a, b, y, match, why, error=UnsupportedTFLiteError):
        model = build_model(Op.BATCH_MATMUL, opt, [a, b], [y])
        assert _tflm_rejects(model, a.shape, a.dtype, because=why)
        with pytest.raises(error, match=match):
            load_tflite(model)

    w = q((3, 4))
    w.data = np.ones((3, 4), np.int8)
    refused(q((1, 2, 3), np.float32), w, q((1, 2, 4), np.float32), "f32 x s8",
            r"lhs_data->type == rhs_data->type")
    refused(q((1, 2, 3)), q((1, 5, 4)), q((1, 2, 4)), "do not multiply",
            r"accum_dim_lhs != accum_dim_rhs \(3 != 5\)")
    refused(q((1, 2, 2, 3)), q((1, 3, 3, 4)), q((1, 2, 2, 4)), "do not broadcast",
            r"rhs_dim != 1 \(3 != 1\)")
    refused(q((1, 1, 1, 1, 2, 3)), q((1, 1, 1, 1, 3, 4)), q((1, 1, 1, 1, 2, 4)), "2 to 5",
            r"lhs_rank <= 5")
    refused(q((1, 2, 3), np.int16, 1), q((1, 3, 4), np.int16), q((1, 2, 4), np.int16), "s16",
            r"lhs_data->params.zero_point != 0 \(1 != 0\)")
    runs = [build_model(Op.BATCH_MATMUL, opt, [q((1, 2, 3), np.int16), q((1, 3, 4), np.int16)],
                        [q((1, 2, 4), np.int16)]),
            build_model(Op.BATCH_MATMUL, opt, [q((1, 3)), w], [q((1, 4))])]
    for model, match in zip(runs, ("s16 x s16", "keep the batch first"), strict=True):
        sub = schema.Model.GetRootAs(model, 0).Subgraphs(0)
        xs = [np.zeros(tuple(sub.Tensors(sub.Inputs(i)).ShapeAsNumpy()),
                       np.int16 if "s16" in match else np.int8) for i in range(sub.InputsLength())]
        run_model(model, xs)  # TFLM runs it
        with pytest.raises(UnsupportedTFLiteError, match=match):
            load_tflite(model)

def test_unbatched_activations_only_in_elementwise_operators(tmp_path):
    """A tensor stored without a leading batch dimension is one sample with a batch of 1
    prepended, which only elementwise operators may read: TFLM runs a PAD of a [5, 3] input and
    a SOFTMAX of a [6] one, firmforge refuses both (their paddings and axis count dimensions by
    position; a rank-0 softmax would run over the batch). The layer comparison feeds TFLM each
    sample in the file's own shape."""
    rng = tc.rng_for("unbatched refusals")
    x = tc.act(rng, (5, 3))
    pad = build_model(Op.PAD, None, [x, tc.i32([[1, 0], [0, 2]])], [tc.same_q(x, (6, 5))])
    smax = build_model(Op.SOFTMAX, tc.options(schema.SoftmaxOptionsT, beta=1.0),
                       [tc.act(rng, (6,))], [TensorSpec((6,), np.int8, 1 / 256, -128)])
    for model, shape in ((pad, (5, 3)), (smax, (6,))):
        run_model(model, [np.zeros((1, *shape), np.int8)])  # TFLM runs them
        with pytest.raises(UnsupportedTFLiteError, match="without a leading batch dimension"):
            load_tflite(model)
    sub = next(c for c in tc.unbatched_cases() if c.op == "SUB")
    (tmp_path / "sub.tflite").write_bytes(sub.model)
    result = compare_tflm(tmp_path / "sub.tflite", samples=3)
    assert result.ok, result.format()
    assert [v.shape for v in load_tflite(sub.model).graph.inputs] == [(1, 2, 5, 8), (1, 8)]


def _slice_model(x: TensorSpec, y_shape, begin, end, strides, **opts) -> bytes:
    opt = tc.options(schema.StridedSliceOptionsT, **opts)
    return build_model(Op.STRIDED_SLICE, opt, [x, tc.i32(begin), tc.i32(end), tc.i32(strides)],
                       [tc.same_q(x, y_shape)])


def test_strided_slices_tflm_mishandles_are_refused():
    """TFLM ignores the ellipsis and new-axis masks and ``offset`` (the plain slice comes out),
    writes nothing for a shrunk axis walked backwards or indexed outside the axis, reads one
    int32 per dimension whatever the length of begin, and copies bytes whatever the output's
    parameters. firmforge refuses each, as it refuses shrinking the batch away; TFLM itself
    refuses a 5-D input."""
    rng = tc.rng_for("strided slice refusals")
    x = tc.act(rng, (1, 4, 6))
    xs = [np.arange(24, dtype=np.int8).reshape(1, 4, 6)]
    plain = run_model(_slice_model(x, (1, 2, 3), [0, 1, 0], [1, 3, 6], [1, 1, 2]), xs)[0]
    assert np.array_equal(plain, xs[0][:, 1:3, 0:6:2])
    ignored = {"ellipsisMask": 1, "newAxisMask": 2, "offset": True}
    for opt, value in ignored.items():
        model = _slice_model(x, (1, 2, 3), [0, 1, 0], [1, 3, 6], [1, 1, 2], **{opt: value})
        if opt != "offset":  # (offset makes end relative: 1 + 3 leaves the axis)
            assert np.array_equal(run_model(model, xs)[0], plain), opt
        with pytest.raises(UnsupportedTFLiteError, match="TFLM ignores it"):
            load_tflite(model)
    refused = [((1, 6), [0, 2, 0], [1, 1, 6], [1, -1, 1], {"shrinkAxisMask": 2},
                "TFLM writes no output"),
               ((1, 6), [0, 4, 0], [1, 5, 6], [1, 1, 1], {"shrinkAxisMask": 2},
                "TFLM writes no output"),
               ((1, 2, 3), [0, 1], [1, 3], [1, 1], {}, "one per dimension"),
               ((2, 6), [0, 1, 0], [1, 3, 6], [1, 1, 1], {"shrinkAxisMask": 1}, "batch")]
    for y_shape, b, e, st, opts, match in refused:
        with pytest.raises(UnsupportedTFLiteError, match=match):
            load_tflite(_slice_model(x, y_shape, b, e, st, **opts))
    y = TensorSpec((1, 2, 3), np.int8, float(x.scale) * 2, x.zero_point)
    opt = tc.options(schema.StridedSliceOptionsT)
    other_q = build_model(Op.STRIDED_SLICE, opt, [x, tc.i32([0, 1, 0]), tc.i32([1, 3, 6]),
                                                  tc.i32([1, 1, 2])], [y])
    assert np.array_equal(run_model(other_q, xs)[0], plain)  # the same bytes
    with pytest.raises(UnsupportedTFLiteError, match="TFLM copies bytes"):
        load_tflite(other_q)
    x5 = tc.act(rng, (1, 2, 2, 2, 2))
    five = _slice_model(x5, (1, 2, 2, 2, 2), [0] * 5, [1, 2, 2, 2, 2], [1] * 5)
    with pytest.raises(TFLMRefused, match="input dim should not exceed 4"):
        run_model(five, [np.zeros((1, 2, 2, 2, 2), np.int8)])
    with pytest.raises(UnsupportedTFLiteError, match="at most 4 dimensions"):
        load_tflite(five)


def _tconv(rng, x: TensorSpec, bias_dtype, out_shape=(1, 5, 4, 2), spec=None,
           y_zero_point=0) -> bytes:
    w = tc.weights(rng, (2, 3, 2, x.shape[3]), 0)
    y = tc.out_for_acc(rng, x, w, 6, out_shape)
    y.zero_point = y_zero_point
    shape = tc.i32(spec if spec is not None else out_shape)
    opt = tc.options(schema.TransposeConvOptionsT, padding=tc.SAME, strideH=2, strideW=2)
    return build_model(Op.TRANSPOSE_CONV, opt, [shape, w, x, tc.bias(rng, 2, x, w, bias_dtype)],
                       [y])


def test_transpose_convs_firmforge_refuses():
    """16x8 TRANSPOSE_CONV with an int32 bias (TFLM reads every 16x8 bias but an int16 one as
    int64) or with zero points (TFLM's int16 kernel ignores them: the same bytes come out), INT4
    filters (which TFLM refuses), and a constant output_shape that contradicts the stored output
    (TFLM uses the latter)."""
    rng = tc.rng_for("tconv refusals")
    x16 = tc.act(rng, (1, 3, 2, 3), np.int16)
    with pytest.raises(UnsupportedTFLiteError, match="s64 bias"):
        load_tflite(_tconv(rng, x16, np.int32))
    xs = [tc.rng_for("tconv x").integers(-32768, 32768, (1, 3, 2, 3), dtype=np.int16)]
    plain = _tconv(tc.rng_for("same"), x16, np.int64)
    zx = TensorSpec(x16.shape, np.int16, x16.scale, 1000)
    shifted = _tconv(tc.rng_for("same"), zx, np.int64, y_zero_point=-300)
    assert np.array_equal(run_model(plain, xs)[0], run_model(shifted, xs)[0])
    with pytest.raises(UnsupportedTFLiteError, match="zero points of 0"):
        load_tflite(shifted)
    x8 = tc.act(rng, (1, 3, 2, 3))
    w4 = tc.weights4(rng, (2, 3, 2, 3), 0)
    opt = tc.options(schema.TransposeConvOptionsT, padding=tc.SAME, strideH=2, strideW=2)
    int4 = build_model(Op.TRANSPOSE_CONV, opt, [tc.i32((1, 5, 4, 2)), w4, x8],
                       [tc.out_for_acc(rng, x8, w4, 6, (1, 5, 4, 2))])
    # TFLM refuses INT4 filters here ("hybrid")
    with pytest.raises(TFLMRefused, match="Hybrid models are not supported"):
        run_model(int4, [np.zeros((1, 3, 2, 3), np.int8)])
    with pytest.raises(UnsupportedTFLiteError, match="INT4 filters"):
        load_tflite(int4)
    bad = _tconv(rng, x8, np.int32, spec=(1, 6, 4, 2))
    run_model(bad, [np.zeros((1, 3, 2, 3), np.int8)])  # TFLM runs it (the stored size)
    with pytest.raises(TFLiteFormatError, match="disagrees with the stored output"):
        load_tflite(bad)


def _spec_inputs(model: bytes):
    sub = schema.Model.GetRootAs(model, 0).Subgraphs(0)
    return [sub.Tensors(sub.Inputs(i)).ShapeAsNumpy() for i in range(sub.InputsLength())]


def test_several_problems_make_one_error():
    """Two refused operators in one model: one error lists both, with index and name."""
    rng = tc.rng_for("two problems")
    x = tc.act(rng, (1, 8))
    raw = build_model(Op.LEAKY_RELU, tc.options(schema.LeakyReluOptionsT, alpha=0.1), [x],
                      [tc.act(rng, (1, 8))])

    def edit(m):
        # the LEAKY_RELU becomes a GELU; a custom operator reads its output
        sub = m.subgraphs[0]
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 8], schema.TensorType.INT8, 0, b"y2"
        t.quantization = sub.tensors[1].quantization
        sub.tensors.append(t)
        custom = schema.OperatorCodeT()
        custom.builtinCode = custom.deprecatedBuiltinCode = Op.CUSTOM
        custom.customCode, custom.version = b"MyOp", 1
        m.operatorCodes.append(custom)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 1, [1], [2]
        sub.operators.append(op)
        sub.outputs = [2]
        m.operatorCodes[0].builtinCode = Op.GELU
        m.operatorCodes[0].deprecatedBuiltinCode = 127

    with pytest.raises(UnsupportedTFLiteError) as e:
        load_tflite(tc.rewrite(raw, edit), "two")
    msg = str(e.value)
    assert "two: 2 operators firmforge does not support" in msg
    assert "operator 0 (GELU): operator not supported" in msg
    assert "operator 1 (CUSTOM 'MyOp'): custom operators are not supported" in msg


def test_same_padding_is_tflites():
    """Padding.same against a transcription of TFLite's ComputePaddingHeightWidth (output size
    ceil(n / s), total (out - 1) * s + (k - 1) * d + 1 - n clipped at 0, the smaller half
    first), dilation included; the IR's window size then reproduces TFLite's output size."""
    from firmforge.converter.ops.common import Padding, window_out

    for n in range(1, 13):
        for k in range(1, 6):
            for s in range(1, 5):
                for d in range(1, 4):
                    out = (n + s - 1) // s
                    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
                    p = Padding.same((n, 1), (k, 1), (s, 1), (d, 1))
                    assert (p.top, p.bottom) == (total // 2, total - total // 2)
                    assert window_out(n, k, s, d, p.top, p.bottom) == out


def test_constant_only_operators_make_no_nodes():
    """A RESHAPE whose shape comes from SHAPE (and a PACK firmforge cannot evaluate), and a
    CONV_2D whose weights are DEQUANTIZE(float16 constant): one IR node each, the weights
    folded to float32 (the float16 values exactly)."""
    rng = tc.rng_for("const only")
    x = tc.act(rng, (1, 2, 3, 4))

    def shape_chain(m):
        sub = m.subgraphs[0]
        names = {}
        for name, ttype, shape in (("s", schema.TensorType.INT32, [4]),
                                   ("p", schema.TensorType.INT32, [2, 4])):
            t = schema.TensorT()
            t.shape, t.type, t.buffer, t.name = shape, ttype, 0, name.encode()
            names[name] = len(sub.tensors)
            sub.tensors.append(t)
        for code_name in ("SHAPE", "PACK"):
            code = schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = getattr(Op, code_name)
            code.version = 1
            m.operatorCodes.append(code)
        shape_op, pack_op = schema.OperatorT(), schema.OperatorT()
        shape_op.opcodeIndex, shape_op.inputs, shape_op.outputs = 1, [0], [names["s"]]
        pack_op.opcodeIndex, pack_op.inputs, pack_op.outputs = 2, [names["s"]] * 2, [names["p"]]
        reshape = sub.operators[0]
        reshape.inputs = [0, names["s"]]
        sub.operators = [shape_op, pack_op, reshape]

    model = tc.rewrite(build_model(Op.RESHAPE, None, [x, tc.i32([1, 2, 3, 4])],
                                   [tc.same_q(x, x.shape)]), shape_chain)
    imp = load_tflite(model)
    assert [type(n).__name__ for n in imp.graph.nodes] == ["Reshape"]
    assert imp.op_of == {"reshape_2": (2, "RESHAPE")}

    conv = tc.conv_cases(1, np.float32, "fp16 weights")[0].model

    def fp16_weights(m):
        sub = m.subgraphs[0]
        w = sub.tensors[1]
        half = schema.TensorT()
        half.shape, half.type, half.name = list(w.shape), schema.TensorType.FLOAT16, b"w16"
        data = np.frombuffer(bytes(m.buffers[w.buffer].data), "<f4").astype("<f2")
        m.buffers[w.buffer].data = np.frombuffer(data.tobytes(), np.uint8)
        half.buffer, w.buffer = w.buffer, 0
        sub.tensors.append(half)
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = Op.DEQUANTIZE
        code.version = 1
        m.operatorCodes.append(code)
        deq = schema.OperatorT()
        deq.opcodeIndex, deq.inputs, deq.outputs = 1, [len(sub.tensors) - 1], [1]
        sub.operators = [deq, *sub.operators]

    imp = load_tflite(tc.rewrite(conv, fp16_weights))
    assert not imp.quantized
    (node,) = imp.graph.nodes
    f32 = load_tflite(conv).graph.nodes[0].inputs[1].data
    assert node.inputs[1].dtype is DType.f32
    assert np.array_equal(node.inputs[1].data, f32.astype(np.float16).astype(np.float32))
