"""The prepared requantization of the fast int8 kernels (ff_rq in ff_fixed.h, rq_* in
converter/fixed.py) gives mbqm's bytes wherever rq_valid admits it.

The header comment proves it; these tests check the proof's claims numerically: the Python twin
against mbqm on random accumulators up to the bound and on every rounding tie of a range of
accumulators (multipliers 2^30 and 3 * 2^29 make half of all products ties), and the C twin
against the Python one, built with UBSan so that an overflow inside it would show.
"""

import importlib.util
import sys

import numpy as np
import pytest

from firmforge.converter.fixed import (
    RQ_ACC_LIMIT,
    RQ_MAX_RIGHT,
    mbqm,
    rq_apply,
    rq_record,
    rq_scale,
    rq_valid,
)
from firmforge.targets.c.host import STRICT_FLAGS
from firmforge.targets.paths import core_dir

SHIFTS = range(-RQ_MAX_RIGHT, 8)


def _random_case(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    mult = rng.integers(1 << 30, 1 << 31, n)
    mult[: n // 50] = 0
    shift = rng.integers(-RQ_MAX_RIGHT, 8, n)
    lim = RQ_ACC_LIMIT >> np.maximum(shift, 0)
    acc = (rng.random(n) * (2 * lim + 1)).astype(np.int64) - lim
    acc[:8] = lim[:8]  # the bound itself
    return acc, mult, shift


def test_rq_equals_mbqm_on_random_accumulators():
    rng = np.random.default_rng(1)
    for _ in range(4):
        acc, mult, shift = _random_case(rng, 500_000)
        zp = int(rng.integers(-128, 128))
        assert rq_valid(mult, shift, np.abs(acc))
        got = rq_apply(acc * rq_scale(shift), rq_record(mult, shift, zp))
        np.testing.assert_array_equal(got, mbqm(acc, mult, shift) + zp)


@pytest.mark.parametrize("mult", [0, 1, 1 << 30, 3 << 29, 5 << 28, (1 << 30) + 1, (1 << 31) - 1])
def test_rq_equals_mbqm_on_ties(mult):
    acc = np.arange(-70_000, 70_001, dtype=np.int64)
    for s in SHIFTS:
        a = acc[np.abs(acc) << max(s, 0) <= RQ_ACC_LIMIT]
        m, sh = np.full(a.shape, mult), np.full(a.shape, s)
        for zp in (-128, 0, 127):
            got = rq_apply(a * rq_scale(sh), rq_record(m, sh, zp))
            np.testing.assert_array_equal(got, mbqm(a, m, sh) + zp, err_msg=f"shift {s}")


def test_rq_valid_refuses_what_the_proof_excludes():
    assert rq_valid([1 << 30], [0], [RQ_ACC_LIMIT])
    assert not rq_valid([1 << 30], [0], [RQ_ACC_LIMIT + 1])
    assert not rq_valid([1 << 30], [3], [RQ_ACC_LIMIT >> 2])
    assert not rq_valid([1 << 30], [-RQ_MAX_RIGHT - 1], [1])
    assert not rq_valid([-1], [0], [1])
    assert not rq_valid([1 << 30], [8], [1], max_left=7)


def test_c_twin_matches_python():
    import cffi

    ffi = cffi.FFI()
    sig = "void t_rq(const int32_t *acc, const int32_t *rec, int32_t *out, int n)"
    ffi.cdef(sig + ";")
    body = (f"{sig} {{\n    for (int i = 0; i < n; i++) out[i] = "
            "ff_rq_apply(acc[i], (const ff_rq *)(rec + 4 * i));\n}")
    ffi.set_source("_ff_fixed_rq", '#include "ff_fixed.h"\n' + body,
                   include_dirs=[str(core_dir())],
                   extra_compile_args=[*(f for f in STRICT_FLAGS if f != "-pedantic"), "-O2",
                                       "-fno-wrapv", "-fsanitize=undefined",
                                       "-fno-sanitize-recover=undefined"],
                   extra_link_args=["-fsanitize=undefined"])
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        so = ffi.compile(tmpdir=tmp, verbose=False)
        spec = importlib.util.spec_from_file_location("_ff_fixed_rq", so)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules.setdefault("_ff_fixed_rq", mod)
    rng = np.random.default_rng(2)
    acc, mult, shift = _random_case(rng, 200_000)
    acc2 = (acc * rq_scale(shift)).astype(np.int32)
    rec = np.zeros((acc.size, 4), np.int32)  # bias, mult, rnd, rsh
    rec[:, 1:] = rq_record(mult, shift, -7)
    out = np.zeros(acc.size, np.int32)
    mod.lib.t_rq(ffi.from_buffer("int32_t[]", acc2), ffi.from_buffer("int32_t[]", rec),
                 ffi.from_buffer("int32_t[]", out), acc.size)
    np.testing.assert_array_equal(out, rq_apply(acc2, rec[:, 1:]))
