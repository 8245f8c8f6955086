"""HardSwish's integer reference == TFLM over every int8 input, and the formula established.

TFLM's int8 HardSwish is a chain of int16 fixed-point steps (converter/ops/act.py). Every scale
pair below runs all 256 int8 inputs through a one-operator TFLM model and the reference. Then
each plausible variant of the formula (the float definition rounded once, the output
multiplier divided in float32 as TFLM's source at hand writes it, a rounding final multiply,
exact rounding shifts for large exponents, truncated Q15 multipliers) is shown to be a
different function that TFLM does not compute: on scale pairs where the variant and the
reference disagree, the tflite-micro package agrees with the reference.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np
import pytest

from firmforge.converter import fixed, reference
from firmforge.converter.ir import DType, Graph, QuantParams, Value
from firmforge.converter.ops import act
from firmforge.converter.ops.act import HardSwish, HardSwishRequant

from cases import single
from tflm_harness import BuiltinOperator as Op
from tflm_harness import TensorSpec, build_model, run_model

ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _graph(sx: float, zx: int, sy: float, zy: int) -> Graph:
    x = Value("x", (1, 256), DType.s8, QuantParams.per_tensor(sx, zx))
    return single(HardSwish, "hs", [x], QuantParams.per_tensor(sy, zy))


def _tflm(g: Graph) -> np.ndarray:
    xq, yq = g.inputs[0].quant, g.outputs[0].quant
    model = build_model(Op.HARD_SWISH, None, [TensorSpec((1, 256), np.int8, xq.s, xq.zp)],
                        [TensorSpec((1, 256), np.int8, yq.s, yq.zp)])
    return run_model(model, [ALL_INT8])[0]


def _ref(g: Graph) -> np.ndarray:
    return reference.run(g, [ALL_INT8])[0][0]


def _random_pairs(rng: np.random.Generator) -> Iterator[Graph]:
    """Input scales from 1e-5 to 3, output multipliers s_x / (128 s_y) from 2**-22 to just
    below 1, zero points anywhere."""
    while True:
        sx = float(10 ** rng.uniform(-5, 0.5))
        sy = sx / 128 / 2.0 ** rng.uniform(-22, -0.02)
        yield _graph(sx, int(rng.integers(-128, 128)), sy, int(rng.integers(-128, 128)))


def test_every_int8_input_equals_tflm_for_random_scale_pairs():
    rng = _rng("hard swish pairs")
    branches = set()
    for _, g in zip(range(150), _random_pairs(rng), strict=False):
        r = g.nodes[0].requant()
        branches.add(("out_exp<=-16" if r.out_exp <= -16 else "out_exp>-16",
                      "relu_exp>0" if r.relu_exp > 0 else "relu_exp<0" if r.relu_exp < 0
                      else "relu_exp=0"))
        got, want = _tflm(g), _ref(g)
        assert np.array_equal(got, want), (g.nodes[0].x.quant.s, g.nodes[0].y.quant.s, r,
                                           np.flatnonzero(got != want)[:5])
    # every branch of the int16 arithmetic was taken (relu_exp == 0 is a narrow band of s_x)
    assert branches >= {(o, e) for o in ("out_exp<=-16", "out_exp>-16")
                        for e in ("relu_exp>0", "relu_exp<0")}, branches


def test_outputs_reach_both_clamps_and_track_the_float_definition():
    """A fine input scale and a coarse-enough output: the outputs span [-128, 127], and every
    one is within one step of round(hardswish(x) / s_y) (TFLM's rounding steps, not a copy)."""
    g = _graph(0.05, -10, 0.05 / 128 / 0.6, 100)
    got = _tflm(g)
    assert np.array_equal(got, _ref(g)) and got.min() == -128 and got.max() == 127
    g = _graph(0.05, -10, 0.04, -100)
    x = (ALL_INT8[0].astype(np.float64) + 10) * np.float32(0.05)
    ideal = np.clip(np.round(x * np.clip(x + 3, 0, 6) / 6 / np.float32(0.04)) - 100, -128, 127)
    got = _tflm(g)
    assert np.array_equal(got, _ref(g)) and np.max(np.abs(got - ideal)) <= 1


# -- variants of the formula that TFLM does not compute ------------------------------------------

_REQUANT = HardSwish.requant


def _float32_requant(self: HardSwish) -> HardSwishRequant:
    """The output multiplier from a float32 quotient, widened (TFLM's source at hand)."""
    r = _REQUANT(self)
    sx, _, sy, _ = self._io()
    hires = np.float32(1 / 128) * np.float32(sx)
    mo, eo = fixed.quantize_multiplier(float(hires / np.float32(sy)))
    return HardSwishRequant(fixed.downscale_multiplier16(mo), eo, r.relu_mult, r.relu_exp)


def _truncated_requant(self: HardSwish) -> HardSwishRequant:
    """Q31 multipliers truncated to Q15 instead of rounded."""
    r = _REQUANT(self)
    sx, _, sy, _ = self._io()
    mo, _ = fixed.quantize_multiplier(sx / 128 / sy)
    mr, _ = fixed.quantize_multiplier(sx / 128 / (3 / 32768))
    return HardSwishRequant(mo >> 16, r.out_exp, mr >> 16, r.relu_exp)


def _near_q15_ties(rng: np.random.Generator) -> Iterator[Graph]:
    """Scale pairs whose output multiplier s_x / (128 s_y) lies where float32 and double
    quotients round to different Q15 multipliers: a Q15 rounding boundary (k + 1/2) / 2**15 of
    the significand, approached over the float32 neighbours of s_y."""
    while True:
        k = int(rng.integers(1 << 14, (1 << 15) - 1))
        real = (k + 0.5) / 2 ** 15 * 2.0 ** int(rng.integers(-6, 1))
        sx = np.float32(rng.uniform(0.01, 0.1))
        sy = np.float32(sx / 128 / real)
        sy = np.nextafter(sy, np.float32(0)) if rng.random() < 0.5 else sy
        for _ in range(6):
            yield _graph(float(sx), int(rng.integers(-128, 128)), float(sy),
                         int(rng.integers(-128, 128)))
            sy = np.nextafter(sy, np.float32(np.inf))


def _float_formula(g: Graph) -> np.ndarray:
    """The float definition, rounded once to the output grid."""
    xq, yq = g.inputs[0].quant, g.outputs[0].quant
    x = (ALL_INT8[0].astype(np.float64) - xq.zp) * xq.s
    return np.clip(np.round(x * np.clip(x + 3, 0, 6) / 6 / yq.s) + yq.zp, -128, 127)


VARIANTS = {
    "float_definition": (_random_pairs, None, None, _float_formula),
    "rounding_final_multiply": (_random_pairs, act, "sdhm16", fixed.srdhm16),
    "exact_shift_for_large_exponents": (_random_pairs, act, "rdbpot16", fixed.rdbpot),
    "truncated_q15_multipliers": (_random_pairs, HardSwish, "requant", _truncated_requant),
    "float32_output_multiplier": (_near_q15_ties, HardSwish, "requant", _float32_requant),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_is_not_what_tflm_computes(name, monkeypatch):
    build, target, attr, variant = VARIANTS[name]
    found = 0
    for tries, g in enumerate(build(_rng("variant " + name))):
        assert tries < 3000, f"{name}: only {found} of 3 disagreeing scale pairs found"
        want = _ref(g)
        if attr is None:
            alt = variant(g)
        else:
            with monkeypatch.context() as m:
                m.setattr(target, attr, variant)
                alt = _ref(g)
        if np.array_equal(alt, want):
            continue
        got = _tflm(g)
        assert np.array_equal(got, want), (name, g.inputs[0].quant.s, g.outputs[0].quant.s)
        assert not np.array_equal(got, alt)
        found += 1
        if found == 3:
            return


def test_relu_multiplier_is_the_same_in_float32_and_double():
    """The relu multiplier divides s_x / 128 by 3 * 2**-15: over many float32 input scales its
    float32 and double quotients give the same Q15 multiplier and exponent, so no model can tell
    the two apart (and the reference needs no choice there)."""
    sx = (10 ** _rng("relu scales").uniform(-5, 0.5, 20000)).astype(np.float32)
    for s in sx:
        hires = np.float32(1 / 128) * s
        m32, e32 = fixed.quantize_multiplier(float(hires / (np.float32(3) / np.float32(32768))))
        m64, e64 = fixed.quantize_multiplier(float(s) / 128 / (3 / 32768))
        assert (fixed.downscale_multiplier16(m32), e32) == (fixed.downscale_multiplier16(m64), e64)
