"""Which multiplier arithmetic and which rounding TFLite Micro uses, established by experiment.

Real multipliers from float32 scales can be formed in float32 or in double; the two differ in
the last bits of the int32 multiplier and so change an output byte only near a rounding tie.
These tests walk seeded scale sets towards such ties, keep those where the two choices give
different bytes (over every possible input), and require TFLM to agree with the reference and
not with the alternative: the choice is established, not assumed. The same is done for the
double rounding of TFLM's requantization against single rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_tflm_ops as ops

from firmforge.converter import reference
from firmforge.converter.fixed import quantize_multiplier
from firmforge.converter.ir import DType, QuantParams, Value, const
from firmforge.converter.ops import eltwise
from firmforge.converter.ops.act import LeakyRelu, Relu
from firmforge.converter.ops.dense import BatchMatMul, Dense
from firmforge.converter.ops.eltwise import Add, Mul, Sub
from firmforge.converter.ops.quant import Quantize

from cases import act_quant, single
from tflm_harness import run_model

_ALL_INT8 = ops._ALL_INT8
to_tflite = ops.to_tflite
_rng = ops._rng


def _f32_add_requant(a: QuantParams, b: QuantParams, y: QuantParams, where: str):
    """The alternative: ADD/SUB multipliers with every quotient and product in float32."""
    sa, sb, sy = np.float32(a.s), np.float32(b.s), np.float32(y.s)
    twice = np.float32(2) * max(sa, sb)
    real_o = float(twice / (np.float32(1 << 20) * sy))
    return eltwise.AddRequant(20, *quantize_multiplier(float(sa / twice)),
                              *quantize_multiplier(float(sb / twice)),
                              *quantize_multiplier(real_o))


def _f32_relu_requant(self):
    sx, _, sy, _ = self._io()
    return quantize_multiplier(float(np.float32(sx) / np.float32(sy)))


def _f32_leaky_requant(self):
    sx, _, sy, _ = self._io()
    fx, fy, fa = np.float32(sx), np.float32(sy), np.float32(self.alpha)
    real_alpha = float(fx * fa / fy)
    return (*quantize_multiplier(float(fx / fy)), *quantize_multiplier(abs(real_alpha)),
            real_alpha < 0)


def _binary_grid(cls, rng):
    """Random scale sets; a (1, 256, 1) and b (1, 1, 256) cover all 65536 input pairs."""
    while True:
        a = Value("a", (1, 256, 1), DType.s8, act_quant(rng))
        b = Value("b", (1, 1, 256), DType.s8, act_quant(rng))
        yield (single(cls, "op", [a, b], act_quant(rng)),
               [_ALL_INT8.reshape(1, 256, 1), _ALL_INT8.reshape(1, 1, 256)])


def _near_ties(rng, steps: int = 8, unit: float = 1.0):
    """Pairs (s_num, s_den) with d * s_num / s_den near k + 1/2 for an input d: walk the float32
    neighbours of s_num / unit across the exact tie; then start again from another tie."""
    while True:
        s_den = np.float32(rng.uniform(0.01, 0.1))
        d, k = int(rng.integers(40, 128)), int(rng.integers(0, 120))
        t = np.float32(s_den * (k + 0.5) / d / unit)
        for _ in range(steps // 2):
            t = np.nextafter(t, np.float32(0))
        for _ in range(steps):
            yield float(t), float(s_den)
            t = np.nextafter(t, np.float32(1))


def _unary_grid(cls, rng, **attrs):
    for s_x, s_y in _near_ties(rng):
        x = Value("x", (1, 256), DType.s8, QuantParams.per_tensor(s_x, 0))
        yield (single(cls, "op", [x], QuantParams.per_tensor(s_y, 0), **attrs),
               [_ALL_INT8.reshape(1, 256)])


def _leaky_alpha_grid(rng):
    """Near-ties of LeakyRelu's alpha path (x - zp_x = -d): alpha walks its float32 neighbours
    from d * s_x * alpha / s_y = k + 1/2."""
    s_x = 0.05
    x = Value("x", (1, 256), DType.s8, QuantParams.per_tensor(s_x, 127))
    for alpha, s_y in _near_ties(rng, unit=s_x):
        yield (single(LeakyRelu, "op", [x], QuantParams.per_tensor(s_y, 0), alpha=alpha),
               [_ALL_INT8.reshape(1, 256)])


def _f32_product_dense_requant(self):
    """The alternative for per-tensor FULLY_CONNECTED: s_x * s_w in float32, then double."""
    x, w, _ = self.inputs
    prod = float(np.float32(x.quant.s) * np.float32(w.quant.s))
    m, s = quantize_multiplier(prod / float(np.float32(self.y.quant.s)))
    return np.array([m]), np.array([s])


def _f32_mul_requant(self):
    a, b = self.inputs
    prod = np.float32(a.quant.s) * np.float32(b.quant.s)
    return quantize_multiplier(float(prod / np.float32(self.y.quant.s)))


def _f32_quantize_requant(self):
    return quantize_multiplier(float(np.float32(self.x.quant.s) / np.float32(self.y.quant.s)))


def _mul_grid(rng):
    while True:
        a = Value("a", (1, 256, 1), DType.s8, act_quant(rng))
        b = Value("b", (1, 1, 256), DType.s8, act_quant(rng))
        yq = QuantParams.per_tensor(a.quant.s * b.quant.s * float(rng.uniform(20, 400)), 0)
        yield (single(Mul, "op", [a, b], yq),
               [_ALL_INT8.reshape(1, 256, 1), _ALL_INT8.reshape(1, 1, 256)])


def _dense_grid(rng):
    """One input feature times weights 1..8 (every accumulator of 8 channels); s_w walks its
    float32 neighbours around ties."""
    x_all = _ALL_INT8.reshape(256, 1)
    x = Value("x", (1, 1), DType.s8, QuantParams.per_tensor(0.05, 0))
    b = const("b", np.zeros(8, np.int32), DType.s32)
    for s_w, s_y in _near_ties(rng, unit=0.05):
        w = const("w", np.arange(1, 9, dtype=np.int8).reshape(8, 1), DType.s8,
                  QuantParams.per_tensor(s_w, 0))
        yield single(Dense, "fc", [x, w, b], QuantParams.per_tensor(s_y, 0)), [x_all]


def _f32_product_bmm_requant(self):
    """The alternative for BATCH_MATMUL (TFLM's source at hand): s_a * s_b in float32."""
    a, b = self.inputs
    prod = float(np.float32(a.quant.s) * np.float32(b.quant.s))
    return quantize_multiplier(prod / float(np.float32(self.y.quant.s)))


def _bmm_grid(rng):
    """Every int8 lhs value times a constant 1 (depth 1, 256 rows); s_a walks its float32
    neighbours around ties."""
    s_b = 0.05
    b = const("b", np.ones((1, 1), np.int8), DType.s8, QuantParams.per_tensor(s_b, 0))
    for s_a, s_y in _near_ties(rng, unit=s_b):
        a = Value("a", (1, 256, 1), DType.s8, QuantParams.per_tensor(s_a, 0))
        yield (single(BatchMatMul, "bmm", [a, b], QuantParams.per_tensor(s_y, 0)),
               [_ALL_INT8.reshape(1, 256, 1)])


PRECISION = {
    "add": (lambda rng: _binary_grid(Add, rng), eltwise, "add_requant", _f32_add_requant),
    "sub": (lambda rng: _binary_grid(Sub, rng), eltwise, "add_requant", _f32_add_requant),
    "relu": (lambda rng: _unary_grid(Relu, rng), Relu, "requant", _f32_relu_requant),
    "leaky_relu_identity": (lambda rng: _unary_grid(LeakyRelu, rng, alpha=0.25), LeakyRelu,
                            "requant", _f32_leaky_requant),
    "leaky_relu_alpha": (_leaky_alpha_grid, LeakyRelu, "requant", _f32_leaky_requant),
    "dense_per_tensor": (_dense_grid, Dense, "requant", _f32_product_dense_requant),
    "mul": (_mul_grid, Mul, "requant", _f32_mul_requant),
    "batch_matmul": (_bmm_grid, BatchMatMul, "requant", _f32_product_bmm_requant),
    "quantize_s8_s8": (lambda rng: _unary_grid(Quantize, rng, dtype=DType.s8), Quantize,
                       "requant", _f32_quantize_requant),
}


@pytest.mark.parametrize("name", list(PRECISION))
def test_multipliers_are_double(name, monkeypatch):
    build, target, attr, alternative = PRECISION[name]
    rng = _rng("precision" + name)
    found = 0
    for tries, (g, xs) in enumerate(build(rng)):
        if tries == 400:
            break
        want, _ = reference.run(g, xs)
        with monkeypatch.context() as m:
            m.setattr(target, attr, alternative)
            alt, _ = reference.run(g, xs)
        if np.array_equal(want[0], alt[0]):
            continue
        got = run_model(to_tflite(g), xs)[0].reshape(want[0].shape)
        assert np.array_equal(got, want[0]), f"{g!r} {g.nodes[0].attrs}"
        assert not np.array_equal(got, alt[0])
        found += 1
        if found == 2:
            return
    raise AssertionError(f"{name}: only {found} of 2 scale sets found where float32 and double "
                         f"multipliers disagree")


def _mbqm_single_rounding(x, m, s):
    """The alternative rounding: one rounding of x * m * 2**(s - 31) (TFLITE_SINGLE_ROUNDING)."""
    x = np.asarray(x, np.int64)
    total = 31 - s
    return (x * m + (np.int64(1) << (total - 1))) >> total


def test_requantization_is_double_rounding():
    """s_x / s_y = 0.1875 exactly: M = 0.75 * 2**31, S = -2. Double rounding rounds x * 0.75
    first (x = 2: 1.5 -> 2) and then / 4 (0.5 -> 1); single rounding rounds 0.375 -> 0."""
    x = Value("x", (1, 256), DType.s8, QuantParams.per_tensor(0.1875, 0))
    g = single(Quantize, "q", [x], QuantParams.per_tensor(1.0, 0), dtype=DType.s8)
    assert g.nodes[0].requant() == (3 << 29, -2)
    xs = [_ALL_INT8.reshape(1, 256)]
    want, _ = reference.run(g, xs)
    got = run_model(to_tflite(g), xs)[0]
    assert np.array_equal(got, want[0])
    single_rounded = _mbqm_single_rounding(xs[0], 3 << 29, -2)
    assert not np.array_equal(got, single_rounded)
    assert got[0, 128 + 2] == 1 and single_rounded[0, 128 + 2] == 0
