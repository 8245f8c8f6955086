"""The requantization primitives, C (firmware/core/ff_fixed.h) == numpy twin (converter/fixed.py),
pinned where a one-character slip would hide: exact ties of every rounding, both signs.

Kernel outputs are int8: a rounding that goes the wrong way on ties shows only when an input
lands exactly on one, which random kernel cases rarely do. Here each primitive gets the ties
constructed on purpose (products whose low 31 bits are exactly 2^30, values of exactly
(2m+1) * 2^(e-1)), the int32 extremes, multipliers 2^30 and 2^31-1, and every shift TFLM uses,
plus independent closed forms computed with Python integers, so a shared mistake in both twins
cannot pass either.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from firmforge.converter import fixed
from firmforge.targets.c.host import STRICT_FLAGS
from firmforge.targets.paths import core_dir

INT32_MIN, INT32_MAX = fixed.INT32_MIN, fixed.INT32_MAX

# name -> C expression of element i (a, b int32; w int64; k an int argument per element)
C_EXPR = {
    "srdhm": "ff_srdhm(a[i], b[i])",
    "rdbpot": "ff_rdbpot(a[i], k[i])",
    "mbqm": "ff_mbqm(a[i], b[i], k[i])",
    "mbqm64": "ff_mbqm64(w[i], b[i], k[i])",
    "mbqm_smaller_than_one": "ff_mbqm_smaller_than_one(a[i], b[i], k[i])",
    "requant_s8": "ff_requant_s8(a[i], b[i], k[i], 0, -128, 127)",
}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    import cffi

    ffi = cffi.FFI()
    decl, body = [], []
    for name, expr in C_EXPR.items():
        sig = (f"void t_{name}(const int32_t *a, const int32_t *b, const int64_t *w, "
               "const int32_t *k, int32_t *out, int n)")
        decl.append(sig + ";")
        body.append(f"{sig} {{\n    (void)a; (void)b; (void)w; (void)k;\n"
                    f"    for (int i = 0; i < n; i++) out[i] = {expr};\n}}")
    ffi.cdef("\n".join(decl))
    ffi.set_source("_ff_fixed_core", '#include "ff_fixed.h"\n' + "\n".join(body),
                   include_dirs=[str(core_dir())],
                   extra_compile_args=[*(f for f in STRICT_FLAGS if f != "-pedantic"), "-O2",
                                       "-fno-wrapv", "-fsanitize=undefined",
                                       "-fno-sanitize-recover=undefined"],
                   extra_link_args=["-fsanitize=undefined"])
    so = ffi.compile(tmpdir=str(tmp_path_factory.mktemp("fixed_core")), verbose=False)
    spec = importlib.util.spec_from_file_location("_ff_fixed_core", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules.setdefault("_ff_fixed_core", mod)
    return mod


def _c(lib, name: str, a=0, b=0, w=0, k=0) -> np.ndarray:
    n = max(np.size(v) for v in (a, b, w, k))
    arrs = [np.ascontiguousarray(np.broadcast_to(np.asarray(v, dt), (n,)))
            for v, dt in ((a, np.int32), (b, np.int32), (w, np.int64), (k, np.int32))]
    out = np.zeros(n, np.int32)
    ffi = lib.ffi
    getattr(lib.lib, f"t_{name}")(
        ffi.from_buffer("int32_t[]", arrs[0]), ffi.from_buffer("int32_t[]", arrs[1]),
        ffi.from_buffer("int64_t[]", arrs[2]), ffi.from_buffer("int32_t[]", arrs[3]),
        ffi.from_buffer("int32_t[]", out, require_writable=True), n)
    return out.astype(np.int64)


def _round_half_away(num: int, den: int) -> int:
    """num / den rounded half away from zero, in exact integers (den > 0): rdbpot's rounding."""
    q, r = divmod(abs(num), den)
    q += 2 * r >= den
    return q if num >= 0 else -q


def _round_half_up(num: int, den: int) -> int:
    """num / den rounded half up, towards +infinity on ties (den even > 0): srdhm's rounding.
    gemmlowp nudges a negative product by 1 - 2^30, not -2^30, so -2.5 becomes -2."""
    return (num + den // 2) // den


# -- ff_srdhm ------------------------------------------------------------------------------------
def _srdhm_ties(rng) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose doubled product is an exact half: a = odd * 2^e, b = +-2^(30 - e), so
    a * b = odd * 2^30, for every split e of the power of two and all four sign pairs."""
    a, b = [], []
    for e in range(31):
        odd = rng.integers(0, 1 << (30 - e), 40) * 2 + 1
        for s_a, s_b in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
            a += list(s_a * (odd << e))
            b += [s_b * (1 << (30 - e))] * odd.size
    return np.array(a, np.int64), np.array(b, np.int64)


def test_srdhm_ties_round_half_up(lib):
    rng = np.random.default_rng(1)
    a, b = _srdhm_ties(rng)
    # sanity of the construction: every product is an odd multiple of 2^30
    prods = [int(x) * int(y) for x, y in zip(a, b, strict=True)]
    assert all(p % (1 << 31) == 1 << 30 for p in prods)
    want = np.array([_round_half_up(p, 1 << 31) for p in prods], np.int64)
    np.testing.assert_array_equal(fixed.srdhm(a, b), want)
    np.testing.assert_array_equal(_c(lib, "srdhm", a, b), want)


def test_srdhm_extremes_and_random(lib):
    rng = np.random.default_rng(2)
    edges = np.array([INT32_MIN, INT32_MIN + 1, -(1 << 30), -1, 0, 1, 1 << 30, INT32_MAX])
    a = np.concatenate([np.repeat(edges, edges.size), rng.integers(INT32_MIN, INT32_MAX, 20000)])
    b = np.concatenate([np.tile(edges, edges.size), rng.integers(INT32_MIN, INT32_MAX, 20000)])
    want = np.array([INT32_MAX if x == y == INT32_MIN else _round_half_up(int(x) * int(y), 1 << 31)
                     for x, y in zip(a, b, strict=True)], np.int64)
    np.testing.assert_array_equal(fixed.srdhm(a, b), want)
    np.testing.assert_array_equal(_c(lib, "srdhm", a, b), want)


# -- ff_rdbpot -----------------------------------------------------------------------------------
def test_rdbpot_ties_both_signs_every_exponent(lib):
    rng = np.random.default_rng(3)
    xs, es = [], []
    for e in range(1, 32):
        m = rng.integers(0, max(1, (1 << (31 - e)) - 1), 30)
        tie = (2 * m + 1) << (e - 1)
        tie = tie[tie <= INT32_MAX]
        xs += [*tie, *(-tie), *(tie - 1), *(-tie + 1), *(tie + 1), *(-tie - 1)]
        es += [e] * (6 * tie.size)
    x = np.clip(np.array(xs, np.int64), INT32_MIN, INT32_MAX)
    e = np.array(es, np.int64)
    want = np.array([_round_half_away(int(v), 1 << int(k)) for v, k in zip(x, e, strict=True)])
    np.testing.assert_array_equal(fixed.rdbpot(x, e), want)
    np.testing.assert_array_equal(_c(lib, "rdbpot", a=x, k=e), want)
    # exponent 0 is the identity, INT32_MIN included
    edge = np.array([INT32_MIN, -1, 0, 1, INT32_MAX])
    np.testing.assert_array_equal(_c(lib, "rdbpot", a=edge, k=0), edge)


# -- ff_mbqm, ff_mbqm_smaller_than_one, ff_requant_s8 ----------------------------------------------
def _mbqm_exact(x: int, m: int, s: int) -> int:
    """TFLM's double rounding in exact integers: srdhm(x * 2^max(s,0), m), then rdbpot."""
    left, right = max(s, 0), max(-s, 0)
    v = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap of the left shift
    hi = INT32_MAX if v == m == INT32_MIN else _round_half_up(v * m, 1 << 31)
    return _round_half_away(hi, 1 << right) if right else hi


@pytest.mark.parametrize("multiplier", [1 << 30, (1 << 31) - 1, 1518500250, 1073741825])
def test_mbqm_every_shift(lib, multiplier):
    rng = np.random.default_rng(multiplier % 1000)
    xs, ss = [], []
    for s in range(-31, 31):
        bound = INT32_MAX >> max(s, 0)
        x = np.concatenate([rng.integers(-bound, bound, 60, endpoint=True),
                            [-bound, -1, 0, 1, bound]])
        if s < 0:  # values whose first product lands on a tie of the final shift
            x = np.concatenate([x, ((2 * rng.integers(0, 1 << 10, 20) + 1) << (-s - 1))
                                .clip(-bound, bound)])
        xs += list(x)
        ss += [s] * x.size
    x, s = np.array(xs, np.int64), np.array(ss, np.int64)
    want = np.array([_mbqm_exact(int(a), multiplier, int(b)) for a, b in zip(x, s, strict=True)])
    np.testing.assert_array_equal(fixed.mbqm(x, multiplier, s), want)
    np.testing.assert_array_equal(_c(lib, "mbqm", a=x, b=multiplier, k=s), want)
    small = s <= 0
    np.testing.assert_array_equal(_c(lib, "mbqm_smaller_than_one", a=x[small], b=multiplier,
                                     k=s[small]),
                                  fixed.mbqm_smaller_than_one(x[small], multiplier, s[small]))
    np.testing.assert_array_equal(_c(lib, "requant_s8", a=x, b=multiplier, k=s),
                                  np.clip(want, -128, 127))


# -- ff_mbqm64 -----------------------------------------------------------------------------------
def _mbqm64_exact(x: int, m: int, s: int) -> int:
    reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
    total = 15 - s
    r = (x * reduced + (1 << (total - 1))) >> total  # Python's >> floors, as an arithmetic shift
    return (r + (1 << 31)) % (1 << 32) - (1 << 31)


def test_mbqm64_ties_and_range(lib):
    rng = np.random.default_rng(4)
    xs, ms, ss = [], [], []
    for s in range(-31, 8):
        for m in (1 << 30, (1 << 31) - 1, 0x7FFF0000 - 1, 0x7FFF0000, int(rng.integers(1 << 30,
                                                                                       1 << 31))):
            x = np.concatenate([rng.integers(-(1 << 47), 1 << 47, 30),
                                [-(1 << 47) + 1, -1, 0, 1, (1 << 47) - 1]])
            xs += list(x)
            ms += [m] * x.size
            ss += [s] * x.size
    x, m, s = (np.array(v, np.int64) for v in (xs, ms, ss))
    want = np.array([_mbqm64_exact(int(a), int(b), int(c)) for a, b, c in zip(x, m, s, strict=True)])
    np.testing.assert_array_equal(fixed.mbqm64(x, m, s), want)
    np.testing.assert_array_equal(_c(lib, "mbqm64", w=x, b=m, k=s), want)
