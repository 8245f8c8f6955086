"""The fuzzer's fast seeded subset, and one regression test for each bug it found.

A fixed set of mutants of the suite's single-operator models (benchmarks/fuzzing/mutate.py:
mostly field mutations, which stay well-formed flatbuffers and reach past the parser) goes the
whole way ``make fuzz`` takes its corpus: import, convert, the reference, the host C (equal
bytes), TFLM (equal bytes where it accepts a quantized model firmforge converted; firmforge's
refusals must be its clear errors). ``make fuzz`` runs atheris for 100,000 executions.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
import tflite_cases as tc

from benchmarks.fuzzing.check import check_models
from benchmarks.fuzzing.mutate import field_mutation, mutate, plain_bytes
from benchmarks.fuzzing.seeds import small_models
from benchmarks.fuzzing.target import CLEAR_ERRORS, run_case
from firmforge.converter import ConversionError, convert
from firmforge.converter.frontends.tflite import (
    TFLiteFormatError,
    UnsupportedTFLiteError,
    load_tflite,
)

from tflm_harness import run_model

SEEDS = 40  # seed models, evenly spread over tflite_cases' families
MUTANTS = 8  # mutants drawn from each: every one that imports is kept, and one that does not
ALLOWED = {"ok", "large", *(f"{s}: {e.__name__}" for s in ("import", "convert")
                            for e in CLEAR_ERRORS)}


def _mutants() -> list[tuple[str, bytes]]:
    models = small_models()
    picked = [models[int(i)] for i in np.linspace(0, len(models) - 1, SEEDS)]
    out, seen = [], set()
    for name, data in picked:
        rng = random.Random(name)
        refused = 0
        for k in range(MUTANTS):
            m = mutate(data, rng, 1 << 20, functools.partial(_plain, rng=rng))[1]
            if m in seen:
                continue
            seen.add(m)
            imports = run_case(m, seconds=5).stage != "import"
            if imports or not refused:
                out.append((f"{name}~{k}", m))
                refused += not imports
    return out


def _plain(data: bytes, max_size: int, rng: random.Random) -> bytes:
    return plain_bytes(data, rng)


def test_seeded_mutants_convert_run_and_equal_host_c_and_tflm():
    rep = check_models(_mutants())
    assert rep.failures == [], rep.format()
    assert set(rep.outcomes) <= ALLOWED, rep.outcomes
    # the mutations reach past the parser: many convert and run everywhere, others are
    # refused by the checks behind it
    assert rep.host_checked == rep.outcomes["ok"] >= 60, rep.format()
    assert rep.host_equal == rep.host_checked
    assert rep.tflm_equal >= 40, rep.format()
    assert rep.outcomes["import: TFLiteFormatError"] >= 10, rep.outcomes


def test_field_mutations_stay_well_formed():
    """A field mutation repacks the model: the container checks still pass (so the import gets
    to the operators) while the model differs from its seed."""
    from firmforge.converter.frontends.tflite_schema import read_model

    changed = 0
    for name, data in small_models()[::25]:
        rng = random.Random(name)
        for _ in range(5):
            m = field_mutation(data, rng)
            if m is None:
                continue
            try:
                read_model(m)
            except TFLiteFormatError as e:  # a vector index or a buffer size out of range
                assert str(e)
            changed += m != data
    assert changed >= 40


# -- regressions: what the fuzzer found -----------------------------------------------------------

def _case(name: str) -> bytes:
    cases = {c.name: c for family in tc.int8_cases().values() for c in family}
    return cases[name].model


def _tensor(m, i):
    return m.subgraphs[0].tensors[i]


def _refused(data: bytes, cls: type, match: str) -> None:
    case = run_case(data)
    assert isinstance(case.error, cls), case.label
    assert match in str(case.error), str(case.error)


def test_scales_without_zero_points_are_refused():
    """TFLM reads a tensor with scales but no zero points as unquantized (an int8 HARD_SWISH
    then writes zeros); firmforge took zero points of 0 and computed something else."""
    def edit(m):
        _tensor(m, 1).quantization.zeroPoint = []

    data = tc.rewrite(_case("hard_swish0"), edit)
    x = np.arange(-128, 128, dtype=np.int8).reshape(-1, 1)
    x = np.resize(x, (1, *(int(d) for d in _tensor_shape(data, 0)))).astype(np.int8)
    assert not np.any(run_model(data, [x])[0])  # TFLM: no quantization, all zeros
    _refused(data, TFLiteFormatError, "no zero points (TFLM reads it as unquantized)")


def _tensor_shape(data: bytes, i: int) -> tuple[int, ...]:
    from tflm_harness import schema

    return tuple(schema.Model.GetRootAs(data, 0).Subgraphs(0).Tensors(i).ShapeAsNumpy())


@pytest.mark.parametrize("name", ["softmax0", "quantize0"])
def test_operator_without_outputs(name):
    """SOFTMAX and QUANTIZE read their output's type before checking the output count (an
    IndexError)."""
    def edit(m):
        m.subgraphs[0].operators[0].outputs = []

    _refused(tc.rewrite(_case(name), edit), TFLiteFormatError, "makes 1 output(s), has 0")


def test_float_shape_operands():
    """A float size_splits (SPLIT_V) or output_shape (TRANSPOSE_CONV) met int() (a ValueError
    on NaN)."""
    def float_input(i):
        def edit(m):
            t = _tensor(m, m.subgraphs[0].operators[0].inputs[i])
            t.type = tc.schema.TensorType.FLOAT32
            m.buffers[t.buffer].data = np.full(int(np.prod(t.shape)), np.nan, np.float32) \
                .view(np.uint8)
        return edit

    _refused(tc.rewrite(_case("split_v0"), float_input(1)), TFLiteFormatError,
             "size_splits of type float32")
    _refused(tc.rewrite(_case("tconv0"), float_input(0)), TFLiteFormatError,
             "output_shape of type float32")


def test_state_zero_point_out_of_range():
    """An int8 SVDF state with a zero point past int8 (an OverflowError filling the state)."""
    data = _case("svdf1")

    def edit(m):
        state = _tensor(m, m.subgraphs[0].operators[0].inputs[4])
        assert state.isVariable and state.type == tc.schema.TensorType.INT8
        state.quantization.zeroPoint = [4986457030630]

    _refused(tc.rewrite(data, edit), TFLiteFormatError, "zero point 4986457030630 is outside")


def test_variable_tensor_with_data():
    """TFLM allocates a variable tensor in its arena and resets it, ignoring any data in the
    file: a conv bias marked variable is zero to TFLM, its stored values to firmforge (an
    off-by-one output of a 16x8 conv)."""
    def edit(m):
        _tensor(m, m.subgraphs[0].operators[0].inputs[2]).isVariable = True

    _refused(tc.rewrite(_case("conv160"), edit), TFLiteFormatError,
             "a variable tensor with constant data")


def test_graph_output_listed_twice():
    """A SPLIT whose graph outputs name one piece twice: the generated C left one output
    buffer unwritten (and gcc refused the unused parameter)."""
    def edit(m):
        sub = m.subgraphs[0]
        sub.outputs = [sub.outputs[-1], *sub.outputs[:-1], sub.outputs[-1]]

    data = tc.rewrite(_case("split0"), edit)
    _refused(data, UnsupportedTFLiteError, "is listed twice")


def _options(name: str, **fields) -> bytes:
    def edit(m):
        for k, v in fields.items():
            setattr(m.subgraphs[0].operators[0].builtinOptions, k, v)
    return tc.rewrite(_case(name), edit)


def test_huge_dilations_and_strides():
    """A dilation or a stride near 2**31 (indices past int32 in the kernels and in TFLM), or
    past int16 (TFLM's parameters), is refused; a large one that fits runs without memory for
    the padding or the scatter (the reference allocated the padded input, 864 GiB, or the
    transposed conv's full result), and equals the host C and TFLM."""
    big = 2**31 - 1
    _refused(_options("conv0", dilationWFactor=big, padding=tc.SAME), UnsupportedTFLiteError,
             "keep them as int16")
    _refused(_options("dw0", dilationHFactor=big, padding=tc.SAME), UnsupportedTFLiteError,
             "keep them as int16")
    _refused(_options("tconv0", strideH=big), UnsupportedTFLiteError, "keep them as int16")
    # TFLM keeps strides, dilations and paddings as int16: 65,536 is 0 there (make fuzz found a
    # conv and a depthwise conv of dilation 65,536 and 65,535 on which TFLM computed another
    # window), so past 32,767 there is no TFLM answer to reproduce
    for n, k in (("conv0", "dilationHFactor"), ("dw0", "dilationWFactor"), ("tconv0", "strideW")):
        _refused(_options(n, **{k: 32768, "padding": tc.SAME}), UnsupportedTFLiteError,
                 "TFLM's kernels keep them as int16")
    fits = [(f"{n} {k}", _options(n, **{k: 32767, "padding": tc.SAME}))
            for n in ("conv0", "conv1", "conv2", "dw0", "dw1", "dw2")
            for k in ("dilationHFactor", "dilationWFactor")]
    fits += [(f"{n} stride", _options(n, strideH=32767)) for n in ("tconv0", "tconv1", "tconv2")]
    rep = check_models(fits, seconds=5)
    assert rep.failures == [], rep.format()
    assert rep.host_equal == rep.outcomes["ok"] >= 8 and rep.tflm_equal >= 8, rep.format()


def test_float_models_too_large_to_run_are_not_calibrated():
    """make fuzz ran out of memory (3.4 GB) on a mutated float model: its random calibration
    samples, drawn before the size check, took gigabytes (here 3.5 GB and seconds). A float
    model over the budgets is now 'large' before any calibration."""
    conv = next(c for c in tc.float_cases() if c.name == "float_conv0").model

    def huge_input(m):  # the input and output grow; the const filter stays as it is
        sub = m.subgraphs[0]
        for i in (*sub.inputs, *sub.outputs):
            t = sub.tensors[i]
            t.shape = [t.shape[0], 6000, 6000, *t.shape[3:]]

    case = run_case(tc.rewrite(conv, huge_input), seconds=5)
    assert case.stage == "large" and case.project is None, case.label


def test_float_weights_near_float_max_are_refused():
    """make fuzz: a float FULLY_CONNECTED + RELU whose first output channel has a weight near
    -2.5e38 on an input that calibration never saw negative (so that channel stays 0 and the
    output's scale small) quantized to a requantization multiplier near 1e37, past a 32-bit
    shift; quantize_multiplier's ValueError escaped conversion. It is a ConversionError now."""
    fc = next(c for c in tc.float_cases() if c.op == "FULLY_CONNECTED").model

    def huge_weight(m):
        sub = m.subgraphs[0]
        op = sub.operators[0]
        op.builtinOptions.fusedActivationFunction = 1  # RELU
        w = sub.tensors[op.inputs[1]]
        data = np.frombuffer(bytes(m.buffers[w.buffer].data), np.float32).copy()
        data[0] = -2.4e38
        m.buffers[w.buffer].data = data.view(np.uint8)

    data = tc.rewrite(fc, huge_weight)
    shape = load_tflite(data).graph.inputs[0].shape
    x = np.random.default_rng(0).uniform(0, 1, (8, *shape[1:])).astype(np.float32)
    with pytest.raises(ConversionError, match="too large for a 32-bit shift"):
        convert(data, calibration=x, progress=False)


def test_float_weight_near_float_max_in_a_sparse_candidate():
    """make fuzz (CI): the same huge weight in a one-channel float CONV_2D rounds every other
    weight of the channel to 0, so the storage pass asked the C backend about sparse formats;
    the sparse kernel's multiplier check raised MultiplierError there, before the check that
    turns it into a ConversionError."""
    conv = next(c for c in tc.float_cases() if c.name == "float_conv0").model

    def huge_weight(m):
        sub = m.subgraphs[0]
        op = sub.operators[0]
        op.builtinOptions.fusedActivationFunction = 1  # RELU
        w = sub.tensors[op.inputs[1]]
        assert w.shape[0] == 1
        data = np.frombuffer(bytes(m.buffers[w.buffer].data), np.float32).copy()
        data[0] = -2.2e38
        m.buffers[w.buffer].data = data.view(np.uint8)

    data = tc.rewrite(conv, huge_weight)
    shape = load_tflite(data).graph.inputs[0].shape
    x = np.random.default_rng(0).uniform(0, 1, (8, *shape[1:])).astype(np.float32)
    with pytest.raises(ConversionError, match="too large for a 32-bit shift"):
        convert(data, calibration=x, progress=False)


def test_convert_takes_bytes(shared):
    data = (shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite").read_bytes()
    proj = convert(data)
    x = proj.random_inputs(2)
    assert np.array_equal(proj.reference(*x), convert(data, name="kws").reference(*x))
