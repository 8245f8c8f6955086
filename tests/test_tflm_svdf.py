"""SVDF: the integer reference (converter/ops/svdf.py) against the tflite-micro package, byte for
byte, over consecutive Invoke() calls and after a Reset(): the outputs and the state tensor
itself (read back from TFLM after every call).

Random configurations (int16 and int8 states, ranks, memory lengths, batches, fused activation
codes, scales that leave the state and the output inside their ranges in some cases and clamped
in others) must match TFLM exactly. Where the reference makes a choice that a plausible
alternative would make differently (scale products in double, the clamp before the state's zero
point, no fused activation, which filters form a unit, the newest entry in this call's output,
the reset values, wrapping sums), a test finds configurations where the two give different
bytes and requires TFLM to agree with the reference and not with the alternative.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from tflite_cases import rewrite
from tflite_micro.python.tflite_micro import runtime

from firmforge.converter import reference
from firmforge.converter.fixed import INT32_MAX, INT32_MIN
from firmforge.converter.frontends.tflite import UnsupportedTFLiteError, load_tflite
from firmforge.converter.ir import DType
from firmforge.converter.ops import svdf

from svdf_cases import ACT_OF_CODE, SvdfCase, random_case, reference_calls, tflite_model
from tflm_harness import BuiltinOperator, Session, TensorSpec, TFLMRefused, build_model, schema

CALLS, RESET_AT = 7, 5  # five consecutive invokes, Reset(), two more
_STATE = 4  # the state's tensor index in tflite_model's models


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng(list(tag.encode()))


def _inputs(case: SvdfCase, rng: np.random.Generator) -> list[np.ndarray]:
    return [case.random_input(rng) for _ in range(CALLS)]


def _tflm_calls(case: SvdfCase, xs: list[np.ndarray], **model_kw
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """TFLM's outputs and its state tensor after each call, Reset() before call RESET_AT."""
    interp = runtime.Interpreter.from_bytes(
        tflite_model(case, **model_kw), arena_size=1 << 20,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    ys, states = [], []
    for k, x in enumerate(xs):
        if k == RESET_AT:
            interp.reset()
        interp.set_input(x, 0)
        interp.invoke()
        ys.append(np.array(interp.get_output(0), copy=True).reshape(case.batch, case.units))
        states.append(np.array(interp.GetTensor(_STATE, 0)["tensor_data"], copy=True))
    return ys, states


def _reference(case: SvdfCase, xs: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return reference_calls(case, xs, RESET_AT)


def _check(case: SvdfCase, xs: list[np.ndarray]) -> None:
    want, want_state = _reference(case, xs)
    got, got_state = _tflm_calls(case, xs)
    what = (f"{case.state_dtype.value} state, batch {case.batch}, {case.inputs} inputs, "
            f"{case.units} units, rank {case.rank}, memory {case.memory}")
    for k in range(len(xs)):
        assert np.array_equal(got[k], want[k]), (f"call {k}: {np.sum(got[k] != want[k])} of "
                                                 f"{want[k].size} outputs differ; {what}")
        assert np.array_equal(got_state[k], want_state[k]), f"call {k}: state differs; {what}"


_DTYPES = pytest.mark.parametrize("dtype", [DType.s16, DType.s8], ids=["int16_state",
                                                                       "int8_state"])


# -- whole SVDFs -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(16))
@_DTYPES
def test_random_svdf(dtype, seed):
    rng = _rng(f"svdf{dtype.value}{seed}")
    case = random_case(rng, dtype)
    _check(case, _inputs(case, rng))


@_DTYPES
def test_ranks_memories_batches(dtype):
    """Every combination of rank 1, 2, 5, memory 1, 2, 10 and batch 1, 3."""
    rng = _rng(f"grid{dtype.value}")
    for rank in (1, 2, 5):
        for memory in (1, 2, 10):
            for batch in (1, 3):
                case = random_case(rng, dtype, rank=rank, memory=memory, batch=batch)
                _check(case, _inputs(case, rng))


@pytest.mark.parametrize("sizes", [dict(inputs=96, units=64, memory=8),
                                   dict(inputs=32, units=32, memory=32),
                                   dict(inputs=200, units=16, rank=4, memory=40)], ids=str)
@_DTYPES
def test_keyword_sized_layers(dtype, sizes):
    """The sizes of TFLM's keyword_scrambled models, and a larger rank-4 layer."""
    rng = _rng(f"wide{dtype.value}{sorted(sizes.items())}")
    case = random_case(rng, dtype, batch=1, **{"rank": 1, **sizes})
    _check(case, _inputs(case, rng))


# -- choices established against the alternative ------------------------------------------------

def _float32_scale(a: float, b: float, c: float) -> float:
    """The expression as TFLM's source spells it, float32 operands in float32 arithmetic."""
    return float(np.float32(np.float32(a) * np.float32(b)) / np.float32(c))


def _clamp_after_zero_point(q: svdf.SvdfQuant, d: np.ndarray) -> np.ndarray:
    t = q.state_dtype
    return np.clip(q.state_zp + svdf.mbqm(d, *q.feature_mul), t.qmin, t.qmax).astype(t.np)


def _strided_units(t: np.ndarray, rank: int) -> np.ndarray:
    return t.reshape(t.shape[0], rank, -1).sum(axis=1)


def _output_before_update(q, w_feature, w_time, bias, rank, x, state, clamp=(-128, 127)):
    return (svdf.output(q, w_time, bias, rank, state, clamp),
            svdf.advance(q, w_feature, x, state))


def _zero_reset(node: svdf.Svdf) -> list[np.ndarray]:
    return [np.zeros(v.shape, v.dtype.np) for v in node.state]


def _zero_point_reset(node: svdf.Svdf) -> list[np.ndarray]:
    return [np.full(v.shape, v.quant.zp, v.dtype.np) for v in node.state]


def _saturate32(x: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64), INT32_MIN, INT32_MAX)


def _large_state(rng, dtype):
    """Many feature projections near the top of the int16 range, where a multiplier's last
    bits move a few of them by one step."""
    return random_case(rng, dtype, reach=float(rng.uniform(8000, 25000)), batch=3,
                       units=int(rng.integers(40, 80)), rank=1, memory=2)


def _with_zero_point(rng, dtype):
    case = random_case(rng, dtype)
    return case if case.state_q[1] != 0 else None


def _rank_case(rng, dtype):
    return random_case(rng, dtype, rank=int(rng.integers(2, 5)))


def _act_case(rng, dtype):
    return random_case(rng, dtype, act=int(rng.integers(1, 4)))


def _big_time_weights(rng, dtype):
    case = random_case(rng, dtype, memory=int(rng.integers(4, 16)))
    case.w_time = rng.choice([-32768, 32767], case.w_time.shape).astype(np.int16)
    return case


# name: (dtype, case drawer, what to patch, its alternative); what to patch is an attribute
# of converter/ops/svdf.py or, with a dot, of its Svdf class. A configuration tells the two
# apart when the outputs or the state bytes differ (a multiplier's last bits show in the int16
# state long before they move an int8 output). The int16 rows settle choices shared with int8
# where int8 states are too coarse to show them.
CHOICES = {
    "scales_in_double": (DType.s16, _large_state, "effective_scale", _float32_scale),
    "state_clamped_before_zero_point": (DType.s8, _with_zero_point, "to_state",
                                        _clamp_after_zero_point),
    "unit_owns_consecutive_filters": (DType.s8, _rank_case, "unit_sums", _strided_units),
    "newest_entry_in_this_output": (DType.s8, None, "step", _output_before_update),
    "int8_state_reset_to_zero_point": (DType.s8, _with_zero_point, "Svdf.initial_state",
                                       _zero_reset),
    "int16_state_reset_to_zero": (DType.s16, _with_zero_point, "Svdf.initial_state",
                                  _zero_point_reset),
    "sums_wrap_in_int32": (DType.s16, _big_time_weights, "wrap32", _saturate32),
}


def _flat(ys: list[np.ndarray], states: list[np.ndarray]) -> list[np.ndarray]:
    return [*ys, *states]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("name", list(CHOICES))
def test_choice_established(name, monkeypatch):
    dtype, draw, attr, alternative = CHOICES[name]
    owner, attr = (svdf.Svdf, attr[5:]) if attr.startswith("Svdf.") else (svdf, attr)
    rng = _rng("choice" + name)
    found = runs = 0
    for _ in range(5000):
        case = (draw or random_case)(rng, dtype)
        if case is None:
            continue
        runs += 1
        if runs > 300:
            break
        xs = _inputs(case, rng)
        want = _flat(*_reference(case, xs))
        with monkeypatch.context() as m:
            m.setattr(owner, attr, alternative)
            alt = _flat(*_reference(case, xs))
        if _same(alt, want):
            continue
        got = _flat(*_tflm_calls(case, xs))
        assert _same(got, want), name
        assert not _same(got, alt), name
        found += 1
        if found == 2:
            return
    raise AssertionError(f"{name}: only {found} of 2 configurations tell the two apart")


def test_fused_activation_is_not_applied():
    """TFLM's integer SVDF clamps to int8 only, whatever the fused activation: with RELU,
    RELU_N1_TO_1 or RELU6, where applying it would change bytes, TFLM does not."""
    rng = _rng("act")
    shown = set()
    for _ in range(300):
        case = _act_case(rng, DType.s8 if rng.random() < 0.5 else DType.s16)
        xs = _inputs(case, rng)
        want, _ = _reference(case, xs)
        applied, _ = reference_calls(case, xs, RESET_AT, ACT_OF_CODE[case.act])
        if all(np.array_equal(a, w) for a, w in zip(applied, want, strict=True)):
            continue
        got, _ = _tflm_calls(case, xs)
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
        shown.add(case.act)
        if len(shown) == 3:
            return
    raise AssertionError(f"only activation codes {sorted(shown)} were told apart")


# -- what TFLM runs and what it refuses ----------------------------------------------------------

def _small_case(dtype=DType.s16, **kw) -> SvdfCase:
    return random_case(_rng(f"small{dtype.value}{kw}"), dtype, batch=1, units=4, rank=2,
                       memory=3, inputs=5, **kw)


def test_bias_scale_checked_like_tflm():
    """TFLM's Prepare needs the bias scale within an absolute 1e-5 of state scale times time
    weight scale: 0.9e-5 off runs (and firmforge equals it), 1.1e-5 off is refused by both."""
    case = _small_case()
    near = tflite_model(case, bias_scale=case.bias_scale + 0.9e-5)
    far = tflite_model(case, bias_scale=case.bias_scale + 1.1e-5)
    xs = _inputs(case, _rng("bias scale"))
    session = Session(near)
    g = load_tflite(near).graph
    state = reference.initial_state(g)
    for x in xs:
        want, _ = reference.run(g, [x], state=state)
        assert np.array_equal(session.invoke([x])[0], want[0])
    with pytest.raises(TFLMRefused, match=r"bias->params\.scale"):
        Session(far)
    with pytest.raises(UnsupportedTFLiteError, match=r"bias scale .* TFLM's SVDF requires"):
        load_tflite(far)


def test_int8_svdf_without_bias_crashes_tflm_and_is_refused(tmp_path):
    """The schema makes the bias optional, but TFLM's int8 Prepare reads its scale through a
    null pointer: the interpreter dies (in a child process here). firmforge refuses the file."""
    case = _small_case(DType.s8)
    path = tmp_path / "no_bias.tflite"
    path.write_bytes(tflite_model(case, omit_bias=True))
    child = ("from tflite_micro.python.tflite_micro import runtime; import sys; "
             "runtime.Interpreter.from_bytes(open(sys.argv[1], 'rb').read(), arena_size=1 << 16)")
    r = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True)
    assert r.returncode < 0, r.returncode  # killed by a signal (SIGSEGV)
    with pytest.raises(UnsupportedTFLiteError, match="int8 SVDF without a bias"):
        load_tflite(path)


def _float_model() -> bytes:
    rng = _rng("float")
    f = np.float32
    ins = [TensorSpec((1, 5), f, name="x"),
           TensorSpec((4, 5), f, data=rng.normal(0, 1, (4, 5)).astype(f)),
           TensorSpec((4, 3), f, data=rng.normal(0, 1, (4, 3)).astype(f)),
           TensorSpec((2,), f, data=rng.normal(0, 1, 2).astype(f)),
           TensorSpec((1, 12), f, variable=True)]
    opts = schema.SVDFOptionsT()
    opts.rank = 2
    return build_model(BuiltinOperator.SVDF, opts, ins, [TensorSpec((1, 2), f)])


def test_refusals():
    """What TFLM runs but firmforge does not: a float SVDF (firmforge's quantizer has no rule
    for one), per-channel feature weights (TFLM reads the first scale only). And what TFLM
    would run reading past the state buffer: int16 time weights with an int8 state."""
    model = _float_model()
    Session(model).invoke([np.ones((1, 5), np.float32)])
    with pytest.raises(UnsupportedTFLiteError, match="f32 SVDF"):
        load_tflite(model)
    case = _small_case()
    per_channel = TensorSpec(case.w_feature.shape, np.int8, np.full(case.filters, case.s_wf),
                             np.zeros(case.filters), 0, data=case.w_feature)

    def with_input(model: bytes, i: int, spec: TensorSpec) -> bytes:
        def edit(m):
            sub = m.subgraphs[0]
            t = sub.tensors[sub.operators[0].inputs[i]]
            t.quantization = spec._quantization()
            t.type = {np.dtype(np.int8): schema.TensorType.INT8,
                      np.dtype(np.int16): schema.TensorType.INT16}[np.dtype(spec.dtype)]
        return rewrite(model, edit)

    with pytest.raises(UnsupportedTFLiteError, match="per-channel SVDF weights"):
        load_tflite(with_input(tflite_model(case), 1, per_channel))
    state8 = TensorSpec(case.state_shape, np.int8, case.state_q[0], 0)
    with pytest.raises(UnsupportedTFLiteError, match="both s16 or both s8"):
        load_tflite(with_input(tflite_model(case), _STATE, state8))


# -- the Project: convert a file, run it call after call -------------------------------------------

@_DTYPES
def test_project_calls_equal_tflm_invokes(dtype, tmp_path):
    """``convert(file)``; consecutive ``reference``/``run_host`` calls == consecutive
    Invoke()s, ``reset()`` == Reset(); a batch of samples == that many Invoke()s. The file
    carries a fused RELU6, which TFLM (and so firmforge) does not apply."""
    from firmforge.converter import convert

    rng = _rng(f"project{dtype.value}")
    case = random_case(rng, dtype, batch=1, inputs=20, units=8, rank=2, memory=6, act=3)
    path = tmp_path / "svdf.tflite"
    path.write_bytes(tflite_model(case))
    proj = convert(path, progress=False)
    session = Session(path.read_bytes())
    xs = _inputs(case, rng)
    for k, x in enumerate(xs):
        if k == RESET_AT:
            proj.reset()
            session.reset()
        want = session.invoke([x])[0]
        assert np.array_equal(proj.reference(x), want), f"reference, call {k}"
        assert np.array_equal(proj.run_host(x), want), f"host C, call {k}"
    proj.reset()
    session.reset()
    want = np.concatenate([session.invoke([x])[0] for x in xs])
    batch = np.concatenate(xs)
    assert np.array_equal(proj.reference(batch), want)
    assert np.array_equal(proj.run_host(batch), want)


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "simavr-atmega328p"])
@_DTYPES
def test_firmware_calls_equal_tflm_invokes(dtype, board, tmp_path):
    """The firmware (Cortex-M4 in QEMU; AVR in simavr, whose ``int`` has 16 bits) runs a batch
    as consecutive inferences from the reset state: its outputs equal TFLM's Invoke()s."""
    from firmforge.converter import convert

    rng = _rng(f"firmware{dtype.value}{board}")
    case = random_case(rng, dtype, batch=1, inputs=12, units=6, rank=2, memory=5)
    path = tmp_path / "svdf.tflite"
    path.write_bytes(tflite_model(case))
    session = Session(path.read_bytes())
    xs = np.concatenate(_inputs(case, rng))
    want = np.concatenate([session.invoke([x[None]])[0] for x in xs])
    res = convert(path, progress=False).build(board, tmp_path / "fw", xs).run()
    assert res.equal
    np.testing.assert_array_equal(np.asarray(res.outputs).reshape(want.shape), want)
