"""UNIDIRECTIONAL_SEQUENCE_LSTM: the integer reference (converter/ops/lstm.py, lut16.py) against
the tflite-micro package, byte for byte, over consecutive Invoke() calls and after a Reset().

Random configurations (sizes, layouts, scales that leave gates near-linear in some cases and
saturated in others, cell clips from inactive to biting) must match TFLM exactly. Where the
reference makes a choice that a plausible alternative would make differently (multipliers in
double or float32, truncated or rounded cell clip, the reset value of the output state, ...),
a test finds configurations where the two give different bytes and requires TFLM to agree with
the reference and not with the alternative: the choice is established, not assumed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmforge.converter.fixed import mbqm, quantize_multiplier, wrap32
from firmforge.converter.frontends.tflite import UnsupportedTFLiteError, load_tflite
from firmforge.converter.ir import DType
from firmforge.converter.ops import lstm, lut16

from lstm_cases import LstmCase, ir_case, random_case, reference_params, tflite_model
from tflm_harness import BuiltinOperator, Session, TensorSpec, TFLMRefused, run_op, schema

_ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(1, -1)
CALLS, RESET_AT = 7, 5  # five consecutive invokes, Reset(), two more


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng(list(tag.encode()))


def _reference_calls(case: LstmCase, xs: list[np.ndarray]) -> list[np.ndarray]:
    """The reference over the calls of ``_tflm_calls``: state carried, reset at RESET_AT."""
    q = reference_params(case)
    ys = []
    for k, x in enumerate(xs):
        if k % RESET_AT == 0:
            h, c = lstm.initial_state(q, case.batch, case.units)
        y, h, c = lstm.sequence(q, case.weights, x, h, c, case.time_major)
        ys.append(y)
    return ys


def _tflm_calls(case: LstmCase, xs: list[np.ndarray], **model_kw) -> list[np.ndarray]:
    session = Session(tflite_model(case, **model_kw))
    ys = []
    for k, x in enumerate(xs):
        if k == RESET_AT:
            session.reset()
        ys.append(session.invoke([x])[0].reshape(case.y_shape))
    return ys


def _inputs(case: LstmCase, rng: np.random.Generator) -> list[np.ndarray]:
    return [case.random_input(rng) for _ in range(CALLS)]


def _check(case: LstmCase, xs: list[np.ndarray]) -> None:
    want = _reference_calls(case, xs)
    got = _tflm_calls(case, xs)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert np.array_equal(g, w), (f"call {k}: {np.sum(g != w)} of {g.size} bytes differ; "
                                      f"{case.dtype} {case.x_shape} units {case.units}")


# -- the int16 lookup-table activations ------------------------------------------------------

def _tflm_act16(op: int, scale: float) -> np.ndarray:
    x = TensorSpec(_ALL_INT16.shape, np.int16, scale, 0)
    y = TensorSpec(_ALL_INT16.shape, np.int16, 2.0 ** -15, 0)
    return run_op(op, None, [x], [y], [_ALL_INT16])[0].reshape(-1)


def test_sigmoid_table_is_tflms():
    """Every entry of lut16.SIGMOID_TABLE, read back from TFLM's int16 TANH: at input scale
    ~1/12288 its rescale is the identity (multiplier 16384, shift 14), at ~2/12288 a doubling,
    so input 2 * 128 * k lands on T[k] with no interpolation and tanh = T[k] - 32768; T[255] is
    only ever interpolated towards, and one step before it gives T[255] - T[254]."""
    identity = _tflm_act16(BuiltinOperator.TANH, float(np.nextafter(np.float32(1 / 12288), 1)))
    double = _tflm_act16(BuiltinOperator.TANH, float(np.nextafter(np.float32(2 / 12288), 1)))
    table = [int(double[128 * k + 32768]) + 32768 for k in range(255)]
    assert table[:128] == [int(identity[256 * k + 32768]) + 32768 for k in range(128)]
    table.append(table[254] + int(double[128 * 254 + 127 + 32768]) + 32768 - table[254])
    assert table == lut16.SIGMOID_TABLE.tolist()


@pytest.mark.parametrize("op,scale_log2,rescale", [
    (BuiltinOperator.LOGISTIC, -12, (0, 0)),   # the gates' sigmoid
    (BuiltinOperator.TANH, -12, (0, 0)),       # the cell gate's tanh
    (BuiltinOperator.TANH, -10, (0, 2)),       # tanh of a Q5.10 cell state: x * 12
    (BuiltinOperator.TANH, -11, (0, 1)),
    (BuiltinOperator.TANH, -14, (3, 2)),       # Q1.14: (3x + 2) >> 2
    (BuiltinOperator.TANH, -15, (3, 3)),
])
def test_lut16_matches_tflm(op, scale_log2, rescale):
    """All 65536 inputs; TFLM's int16 TANH/LOGISTIC at these scales rescale exactly as the
    LSTM's gate and cell-state activations do (the TANH op's general path for 2**-14 and 2**-15
    computes (x * 3 * 2**13 + 2**(k + 12)) >> (k + 13), the same numbers)."""
    fn = lut16.sigmoid_s16 if op == BuiltinOperator.LOGISTIC else lut16.tanh_s16
    want = fn(_ALL_INT16.reshape(-1), *rescale)
    assert np.array_equal(_tflm_act16(op, 2.0 ** scale_log2), want)


# -- whole LSTMs -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("dtype", [DType.s8, DType.s16], ids=["int8", "16x8"])
def test_random_lstm(dtype, seed):
    rng = _rng(f"lstm{dtype.value}{seed}")
    case = random_case(rng, dtype)
    _check(case, _inputs(case, rng))


@pytest.mark.parametrize("dtype", [DType.s8, DType.s16], ids=["int8", "16x8"])
def test_long_sequence_wide_layer(dtype):
    """Larger sizes than the random ones: 64 units, 100 inputs, 12 steps, batch 3."""
    rng = _rng(f"wide{dtype.value}")
    case = random_case(rng, dtype, units=64, inputs=100, steps=12, batch=3)
    _check(case, _inputs(case, rng))


# -- choices established against the alternative ------------------------------------------------

def _f32_gate_multiplier(s_in, s_w):
    return quantize_multiplier(float(np.float32(s_in) * np.float32(s_w)) / lstm.GATE_SCALE)


def _f32_mul_multiplier(s_a, s_b, s_out):
    return quantize_multiplier(float(np.float32(s_a) * np.float32(s_b) / np.float32(s_out)))


def _rounded_cell_clip(cell_clip, s_c):
    return round(float(np.float32(cell_clip)) / s_c) if cell_clip > 0 else None


def _clip_below_one_step_ignored(cell_clip, s_c, _quantized=lstm.quantized_cell_clip):
    """The alternative: a clip that quantizes to 0 read as no clip at all."""
    return _quantized(cell_clip, s_c) or None


def _zero_initial_state(q, batch, units):
    return np.zeros((batch, units), q.dtype.np), np.zeros((batch, units), np.int16)


def _true_scale_cell_tanh(s_c):
    """TFLM's standalone int16 TANH rescale from the actual scale (not its rounded log2)."""
    m, shift = s_c * 4096.0 * 3.0, 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        m, shift = m * 2.0, shift + 1
    return int(m), shift


def _int32_requant_16x8(acc, m, s):
    return mbqm(wrap32(acc), m, s)


def _reduced16(mult: int) -> int:
    """The 16-bit multiplier of fixed.mbqm64."""
    return (mult + (1 << 15)) >> 16 if mult < 0x7FFF0000 else 0x7FFF


def _gate_tie_case(rng, dtype):
    """A 16x8 case where double and float32 products give different 16-bit multipliers (the
    last bits of a 31-bit multiplier hardly ever move an output byte; the int64 requantization
    rounds them away unless they cross a 2**16 boundary, and then every output shifts). The
    multiplier code is shared with int8 (CreateGateParams), so this settles both."""
    case = random_case(rng, dtype)
    s_in = [case.x_q[0]] * 4 + [case.h_q[0]] * 4
    for s, s_w in zip(s_in, case.w_scales, strict=True):
        if _reduced16(lstm.gate_multiplier(s, float(s_w))[0]) != _reduced16(
                _f32_gate_multiplier(s, float(s_w))[0]):
            return case
    return None


def _clip_case(rng, dtype):
    case = random_case(rng, dtype)
    case.cell_clip = float(np.float32(rng.uniform(0.1, 1.0)))
    frac = case.cell_clip / case.s_c % 1.0
    return case if 0.5 <= frac < 0.95 else None  # rounding and truncation disagree


def _tiny_clip_case(rng, dtype):
    case = random_case(rng, dtype)
    case.cell_clip = float(np.float32(case.s_c * rng.uniform(0.1, 0.9)))
    return case


def _non_pot_case(rng, dtype):
    case = random_case(rng, dtype)
    return case if abs(math.log2(case.s_c) - round(math.log2(case.s_c))) > 0.05 else None


def _zp_case(rng, dtype):
    case = random_case(rng, dtype)
    return case if case.h_q[1] != 0 else None


# name: (dtype, case drawer, attribute of lstm.py, its alternative). The 16x8 rows settle
# choices shared with int8 where int8 outputs are too coarse to show them (8 output bits
# against 15 bits of a gate).
CHOICES = {
    "gate_multiplier_double": (DType.s16, _gate_tie_case, "gate_multiplier",
                               _f32_gate_multiplier),
    "mul_multiplier_double": (DType.s16, None, "mul_multiplier", _f32_mul_multiplier),
    "cell_clip_truncated": (DType.s8, _clip_case, "quantized_cell_clip", _rounded_cell_clip),
    "cell_clip_to_zero": (DType.s8, _tiny_clip_case, "quantized_cell_clip",
                          _clip_below_one_step_ignored),
    "cell_tanh_rounded_log2": (DType.s8, _non_pot_case, "cell_tanh_rescale",
                               _true_scale_cell_tanh),
    "state_reset_to_zero_point": (DType.s8, _zp_case, "initial_state", _zero_initial_state),
    "requant_int64_16x8": (DType.s16, None, "mbqm64", _int32_requant_16x8),
}


@pytest.mark.parametrize("name", list(CHOICES))
def test_choice_established(name, monkeypatch):
    dtype, draw, attr, alternative = CHOICES[name]
    rng = _rng("choice" + name)
    found = runs = 0
    for _ in range(5000):
        case = (draw or random_case)(rng, dtype)
        if case is None:
            continue
        runs += 1
        if runs > 200:
            break
        xs = _inputs(case, rng)
        want = _reference_calls(case, xs)
        with monkeypatch.context() as m:
            m.setattr(lstm, attr, alternative)
            alt = _reference_calls(case, xs)
        if all(np.array_equal(a, w) for a, w in zip(alt, want, strict=True)):
            continue
        got = _tflm_calls(case, xs)
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True)), name
        assert not all(np.array_equal(g, a) for g, a in zip(got, alt, strict=True)), name
        found += 1
        if found == 2:
            return
    raise AssertionError(f"{name}: only {found} of 2 configurations tell the two apart")


# -- what TFLM runs and what it refuses ----------------------------------------------------------

def _variant_tensors(units: int) -> dict[str, dict[int, TensorSpec]]:
    def vec(name):
        return TensorSpec((units,), np.int16, 0.01, 0, data=np.ones(units, np.int16), name=name)
    proj = TensorSpec((units, units), np.int8, 0.01, 0, data=np.ones((units, units), np.int8))
    return {
        "peephole": {9: vec("p_i"), 10: vec("p_f"), 11: vec("p_o")},
        "projection": {16: proj},
        "layer_norm": {20 + k: vec(f"ln{k}") for k in range(4)},
        # CIFG: no input gate (its weights and bias omitted)
        "cifg": {1: None, 5: None, 12: None},
    }


@pytest.mark.parametrize("variant,message", [
    ("peephole", "peephole connections"), ("projection", "a projection layer"),
    ("layer_norm", "layer normalisation"), ("cifg", "a CIFG LSTM")])
def test_lstm_variants_are_refused(variant, message):
    """TFLM's kernel runs only the standard LSTM; firmforge refuses the same variants, by name."""
    case = ir_case(_rng("variant"), DType.s8, units=4, inputs=3)
    model = tflite_model(case, extra=_variant_tensors(case.units)[variant])
    with pytest.raises(TFLMRefused, match=r"internal_tensors_\[i\] [!=]= nullptr"):
        Session(model)
    with pytest.raises(UnsupportedTFLiteError, match=message):
        load_tflite(model)


def test_other_refusals():
    """What TFLM runs but not as an LSTM (a cell activation other than TANH, per-channel
    weights, for which it reads an unset multiplier) firmforge refuses, naming the feature."""
    case = ir_case(_rng("refusals"), DType.s8, units=4, inputs=3)
    with pytest.raises(UnsupportedTFLiteError, match="LSTM cell activation RELU6"):
        load_tflite(tflite_model(case, activation=schema.ActivationFunctionType.RELU6))
    w = case.weights.w_x[0]
    per_channel = TensorSpec(w.shape, np.int8, np.full(4, 0.01), np.zeros(4), 0, data=w)
    with pytest.raises(UnsupportedTFLiteError, match="per-channel LSTM weights"):
        load_tflite(tflite_model(case, extra={1: per_channel}))


def test_tflm_leaves_cell_gate_unactivated_without_tanh(monkeypatch):
    """With any cell activation but TANH (the schema has no SIGMOID), TFLM's kernel applies none
    and feeds the raw Q3.12 pre-activation on as the cell gate: not an LSTM, so refused."""
    rng = _rng("act")
    case = random_case(rng, DType.s8)
    case.s_c = 2.0 ** -11  # so that only the cell gate's tanh has the rescale (0, 0)
    xs = _inputs(case, rng)
    got = _tflm_calls(case, xs, activation=schema.ActivationFunctionType.NONE)
    calls = []

    def tanh_but_cell_gate(x, multiplier=0, left_shift=0):
        calls.append(0)
        gate = (multiplier, left_shift) == (0, 0)
        return x.astype(np.int16) if gate else lut16.tanh_s16(x, multiplier, left_shift)

    monkeypatch.setattr(lstm, "tanh_s16", tanh_but_cell_gate)
    assert all(np.array_equal(g, w) for g, w in zip(got, _reference_calls(case, xs), strict=True))
    assert calls


# -- the Project: convert a file, run it call after call -------------------------------------------

@pytest.mark.parametrize("dtype", [DType.s8, DType.s16], ids=["int8", "16x8"])
def test_project_calls_equal_tflm_invokes(dtype, tmp_path):
    """``convert(file)``; consecutive ``reference``/``run_host`` calls == consecutive
    Invoke()s, ``reset()`` == Reset(); a batch of samples == that many Invoke()s."""
    from firmforge.converter import convert

    rng = _rng(f"project{dtype.value}")
    case = ir_case(rng, dtype, units=12, inputs=9)
    path = tmp_path / "lstm.tflite"
    path.write_bytes(tflite_model(case))
    proj = convert(path, progress=False)
    session = Session(path.read_bytes())
    xs = _inputs(case, rng)
    for k, x in enumerate(xs):
        if k == RESET_AT:
            proj.reset()
            session.reset()
        want = session.invoke([x])[0].reshape(case.y_shape)
        assert np.array_equal(proj.reference(x), want), f"reference, call {k}"
        assert np.array_equal(proj.run_host(x), want), f"host C, call {k}"
    proj.reset()
    session.reset()
    want = np.concatenate([session.invoke([x])[0].reshape(case.y_shape) for x in xs[:3]])
    batch = np.concatenate(xs[:3])
    assert np.array_equal(proj.reference(batch), want)
    assert np.array_equal(proj.run_host(batch), want)
