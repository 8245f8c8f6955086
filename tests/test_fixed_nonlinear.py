"""The gemmlowp fixed-point twins (converter/fixed.py == firmware/core/ff_fixed.h) on raw int32
(and on raw int16 for HardSwish's primitives).

int8 kernel outputs hide most intermediate bits, so the primitives are compared directly: each C
function, wrapped in a loop over an array, against the numpy function of the same name on random
int32 values and edge cases. A coarse float check guards against a mistake shared by both twins.
"""

import importlib.util
import math
import sys

import numpy as np
import pytest

from firmforge.converter import fixed
from firmforge.targets.c.host import STRICT_FLAGS
from firmforge.targets.paths import core_dir

# name -> (C expression of element i, extra int argument values); results go to out[i].
CASES = {
    "srmbpot": ("ff_srmbpot(a[i], k)", [-31, -12, -2, -1, 0, 1, 2, 5, 30]),
    "rounding_half_sum": ("ff_rounding_half_sum(a[i], b[i])", [0]),
    "mbqm_greater_than_one": ("ff_mbqm_greater_than_one(a[i], b[i], k)", [0, 1, 7, 20, 31]),
    "exp_on_interval_between_negative_one_quarter_and_0_excl":
        ("ff_exp_on_interval_between_negative_one_quarter_and_0_excl(a[i])", [0]),
    "exp_on_negative_values": ("ff_exp_on_negative_values(a[i], k)", [0, 1, 2, 4, 5, 6, 8, 12]),
    "one_over_one_plus_x_for_x_in_0_1": ("ff_one_over_one_plus_x_for_x_in_0_1(a[i])", [0]),
    "one_minus_x_over_one_plus_x_for_x_in_0_1":
        ("ff_one_minus_x_over_one_plus_x_for_x_in_0_1(a[i])", [0]),
    "logistic_q31": ("ff_logistic_q31(a[i], k)", [0, 2, 4, 6]),
    "tanh_q31": ("ff_tanh_q31(a[i], k)", [0, 2, 4, 6]),
    "clz32": ("ff_clz32((uint32_t)a[i])", [0]),
    "get_reciprocal": ("ff_get_reciprocal(a[i], k, &bits[i])", [0, 5, 12]),
    "srdhm16": ("ff_srdhm16(a[i], b[i])", [0]),
    "sdhm16": ("ff_sdhm16(a[i], b[i])", [0]),
    "rdbpot16": ("ff_rdbpot16(a[i], k)", list(range(32))),
    "saturating_left_shift16": ("ff_saturating_left_shift16(a[i], k)", [0, 1, 2, 7, 15, 16, 30]),
}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    import cffi

    ffi = cffi.FFI()
    decl, body = [], []
    for name, (expr, _) in CASES.items():
        sig = (f"void t_{name}(const int32_t *a, const int32_t *b, int32_t *out, int *bits, "
               "int n, int k)")
        decl.append(sig + ";")
        body.append(f"{sig} {{\n    (void)a; (void)b; (void)bits; (void)k;\n"
                    f"    for (int i = 0; i < n; i++) out[i] = {expr};\n}}")
    ffi.cdef("\n".join(decl))
    ffi.set_source("_ff_fixed_nonlinear", '#include "ff_fixed.h"\n' + "\n".join(body),
                   include_dirs=[str(core_dir())],
                   # cffi's own glue is not -pedantic clean; -fno-wrapv undoes the -fwrapv that
                   # Python's build flags add, so signed overflow would not go unnoticed
                   extra_compile_args=[*(f for f in STRICT_FLAGS if f != "-pedantic"), "-O2",
                                       "-fno-wrapv", "-fsanitize=undefined",
                                       "-fno-sanitize-recover=undefined"],
                   extra_link_args=["-fsanitize=undefined"])
    so = ffi.compile(tmpdir=str(tmp_path_factory.mktemp("fixed")), verbose=False)
    spec = importlib.util.spec_from_file_location("_ff_fixed_nonlinear", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules.setdefault("_ff_fixed_nonlinear", mod)
    return mod


def _domain(name: str, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in each function's documented domain, with the edges of that domain."""
    lo, hi = fixed.INT32_MIN, fixed.INT32_MAX
    edges = [lo, lo + 1, -(1 << 30), -(1 << 28), -1, 0, 1, 1 << 28, 1 << 30, hi - 1, hi]
    a = np.concatenate([rng.integers(lo, hi, 20000, endpoint=True),
                        rng.integers(-4096, 4096, 4000), edges]).astype(np.int64)
    b = rng.integers(lo, hi, a.size, endpoint=True).astype(np.int64)
    if name.startswith("exp_on_negative"):
        a = -np.abs(a).clip(0, hi)
    elif name.startswith("exp_on_interval"):
        a = -(np.abs(a) % (1 << 29)) - 1
    elif name.startswith("one_"):
        a = np.abs(a).clip(0, hi)
    elif name == "get_reciprocal":
        a = np.abs(a).clip(1, hi)
    elif name == "mbqm_greater_than_one":
        b = np.abs(b).clip(1 << 30, hi)  # a QuantizeMultiplier significand; a * 2**k may wrap
    if name.endswith("16"):  # int16 values, with the int16 edges
        edges16 = np.array([-32768, -32767, -16384, -1, 0, 1, 16384, 32766, 32767])
        a = np.concatenate([a % 65536 - 32768, edges16, edges16])
        b = np.concatenate([b % 65536 - 32768, edges16, edges16[::-1]])
    return a, b


@pytest.mark.parametrize("name", list(CASES))
def test_c_twin_matches_numpy(lib, name):
    rng = np.random.default_rng(len(name))
    for k in CASES[name][1]:
        a, b = _domain(name, k, rng)
        a32, b32 = a.astype(np.int32), b.astype(np.int32)
        out = np.zeros(a.size, np.int32)
        bits = np.zeros(a.size, np.intc)
        ffi = lib.ffi
        getattr(lib.lib, f"t_{name}")(ffi.from_buffer("int32_t[]", a32),
                                      ffi.from_buffer("int32_t[]", b32),
                                      ffi.from_buffer("int32_t[]", out),
                                      ffi.from_buffer("int[]", bits), a.size, k)
        fn = getattr(fixed, name)
        if name in ("srmbpot", "exp_on_negative_values", "logistic_q31", "tanh_q31",
                    "rdbpot16", "saturating_left_shift16"):
            want = fn(a, k)
        elif name in ("rounding_half_sum", "srdhm16", "sdhm16"):
            want = fn(a, b)
        elif name == "mbqm_greater_than_one":
            want = fn(a, b, k)
        elif name == "get_reciprocal":
            want, want_bits = fn(a, k)
            np.testing.assert_array_equal(bits, want_bits, err_msg=f"{name} k={k} bits")
        else:
            want = fn(a)
        bad = np.flatnonzero(out != want)
        assert bad.size == 0, (f"{name} k={k}: {bad.size} differ, first a={a[bad[0]]} "
                               f"b={b[bad[0]]}: C {out[bad[0]]} != numpy {want[bad[0]]}")


def test_functions_approximate_their_math():
    """Coarse float check: the shared definition computes what its name says."""
    q = 2.0 ** 31
    a = -np.linspace(0, 31.9, 2001)
    e = fixed.exp_on_negative_values(np.round(a * 2 ** 26).astype(np.int64), 5) / q
    assert np.max(np.abs(e - np.exp(a))) < 5e-7
    t = np.linspace(-15.9, 15.9, 2001)
    raw = np.round(t * 2 ** 27).astype(np.int64)
    assert np.max(np.abs(fixed.logistic_q31(raw, 4) / q - 1 / (1 + np.exp(-t)))) < 1e-6
    assert np.max(np.abs(fixed.tanh_q31(raw, 4) / q - np.tanh(t))) < 1e-6
    u = np.linspace(0, 0.999, 1000)
    ru = np.round(u * q).astype(np.int64)
    assert np.max(np.abs(fixed.one_over_one_plus_x_for_x_in_0_1(ru) / q - 1 / (1 + u))) < 1e-8
    s = np.array([1, 3, 2 ** 19, 12345678, 2 ** 31 - 1])
    scale, nbits = fixed.get_reciprocal(s, 12)
    got = scale / q * 2.0 ** -nbits.astype(float)
    np.testing.assert_allclose(got, 1 / (s / 2.0 ** 19), rtol=1e-8)
    assert list(fixed.clz32(np.array([0, 1, 255, 1 << 31, -1]))) == [32, 31, 24, 0, 0]
    assert math.isclose(fixed.exp_on_negative_values(np.array([0]), 5)[0], fixed.INT32_MAX)
    v = np.arange(-32768, 32768)
    assert np.max(np.abs(fixed.srdhm16(v, 24576) - v * 0.75)) <= 0.5
    assert np.max(np.abs(fixed.sdhm16(v, 24576) - v * 0.75)) < 1
    # int16 rounding shifts: exact up to 15; beyond, TFLM's degenerate mask (sign, 0 -> 1)
    assert np.max(np.abs(fixed.rdbpot16(v, 4) - v / 16)) <= 0.5
    assert list(fixed.rdbpot16(np.array([-300, -1, 0, 1, 300]), 17)) == [-1, -1, 1, 1, 1]
