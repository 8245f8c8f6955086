"""Deliberate one-token bugs, each applied to a copy of the tree, and the tests that catch them.

A test suite is only as strong as the bugs it fails on. Each mutation below changes one token
of a kernel or of a fixed-point helper the way a tired programmer would (a rounding tie, a
bound, an offset, a sign), in a fresh copy of the committed tree (``git archive HEAD``); the
suite then runs in that copy and the failing tests are listed. A mutation no test catches is
reported as SURVIVED and makes the script exit non-zero.

The first three are the audit's (issue 20): the rounding of ``ff_srdhm`` for negative ties,
``ff_rdbpot``'s ``+ (x < 0)``, and the average pool's top-padding clip. The others are one per
kernel family. By default each mutation runs the tests of its family (``tests=``), which takes
a few minutes per mutation; ``--full`` runs the whole suite (what ``make test`` runs) instead.

    make mutations        (.venv/bin/python tests/mutations.py [--full] [--only NAME ...])
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
PACKAGES = ("converter", "targets", "snn", "firmware", "boards")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # in the repository
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # the family's tests (without --full)


KERNELS = ("tests/test_kernels_conv.py", "tests/test_kernels_dense.py",
           "tests/test_kernels_eltwise.py", "tests/test_kernels_act.py",
           "tests/test_kernels_quant.py", "tests/test_kernels_nonlinear.py",
           "tests/test_kernels_pool.py", "tests/test_kernels_reduce.py",
           "tests/test_kernels_16x8.py", "tests/test_fixed_core.py",
           "tests/test_fixed_nonlinear.py", "tests/test_models.py", "tests/test_mlperf_tiny.py")

MUTATIONS = [
    # -- the audit's three -----------------------------------------------------------------------
    Mutation("srdhm-negative-tie", "firmware/core/ff_fixed.h",
             "(int64_t)a * (int64_t)b + ((int64_t)1 << 30), 31)",
             "(int64_t)a * (int64_t)b + ((int64_t)1 << 30) - ((int64_t)a * b < 0), 31)",
             KERNELS),
    Mutation("rdbpot-negative-threshold", "firmware/core/ff_fixed.h",
             "const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);",
             "const int32_t threshold = (mask >> 1);", KERNELS),
    Mutation("pool-top-padding-clip", "firmware/core/ff_pool.c",
             "w.y0 = iy < 0 ? 0 : iy;", "w.y0 = iy < -1 ? 0 : iy;",
             ("tests/test_kernels_pool.py", "tests/test_models.py", "tests/test_tflm_ops.py")),
    # -- one per kernel family -------------------------------------------------------------------
    Mutation("conv-input-offset", "firmware/core/ff_conv.c",
             "acc += ((int32_t)xp[i] + in_offset) * (int32_t)wp[i];",
             "acc += ((int32_t)xp[i] - in_offset) * (int32_t)wp[i];",
             ("tests/test_kernels_conv.py", "tests/test_models.py", "tests/test_tflm_ops.py")),
    Mutation("pointwise-small-k-prime", "targets/c/pairs.py",
             "((np.int64(1) << (32 - r)) + 1)[:, None],",
             "((np.int64(1) << (32 - r)) + 0)[:, None],",
             ("tests/test_kernels_pointwise.py", "tests/test_pairs.py")),
    Mutation("eltwise-sub-operands", "firmware/core/ff_eltwise.c",
             "v = elt_apply(op == ELT_SUB ? wa - wb : wa + wb, q + 2);",
             "v = elt_apply(op == ELT_SUB ? wb - wa : wa + wb, q + 2);",
             ("tests/test_kernels_eltwise.py", "tests/test_tflm_ops.py")),
    Mutation("relu6-clamp", "firmware/core/ff_act.c",
             "y[i] = (int8_t)ff_clamp(x[i], lo, hi);", "y[i] = (int8_t)ff_clamp(x[i], lo, hi - 1);",
             ("tests/test_kernels_act.py", "tests/test_models.py")),
    Mutation("mean-output-offset", "firmware/core/ff_reduce.c",
             "const int32_t v = ff_mbqm(acc, p->mult, p->shift) + p->out_offset;",
             "const int32_t v = ff_mbqm(acc, p->mult, p->shift) - p->out_offset;",
             ("tests/test_kernels_reduce.py", "tests/test_tflm_ops.py")),
    Mutation("slice-last-stride", "firmware/core/ff_shape.c",
             "for (int32_t i3 = 0; i3 < d3; i3++, xo += s3) {",
             "for (int32_t i3 = 0; i3 < d3; i3++, xo += s3 + (d3 > 2)) {",
             ("tests/test_kernels_shape.py", "tests/test_tflm_ops.py")),
    # -- DSP fast paths: only the emulated Cortex-M4/M33 tables run them ----------------------
    Mutation("pointwise-asm-input-register", "firmware/core/ff_conv_1x1.c",
             '"smlad %[e1], %[t], %[xb], %[e1]\\n\\t"', '"smlad %[e1], %[t], %[xa], %[e1]\\n\\t"',
             ("tests/test_kernels_on_boards.py", "-k", "conv2d_s8_1x1 and an386")),
    Mutation("im2col-dsp-weight-pair", "firmware/core/ff_conv_im2col.c",
             "FF_LDRD(w0, w1, wm, 24);", "FF_LDRD(w0, w1, wm, 20);",
             ("tests/test_kernels_on_boards.py", "-k", "conv2d_s8_im2col and an386")),
]


def _copy_tree(dst: Path) -> None:
    """The committed tree (what CI checks out) in ``dst``, with ``firmforge`` importable from
    it: the installed package points at the original checkout, so a shim directory of links
    named ``firmforge`` goes first on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    shim = dst / ".shim" / "firmforge"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("")
    for p in PACKAGES:
        (shim / p).symlink_to(dst / p)
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (dst.parent / "shared").symlink_to(shared)


def _apply(tree: Path, m: Mutation) -> None:
    f = tree / m.path
    text = f.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"{m.name}: the text to mutate occurs {text.count(m.old)} times in "
                         f"{m.path} (the code changed: update the mutation)")
    f.write_text(text.replace(m.old, m.new))


def _run(tree: Path, tests: list[str], jobs: int) -> tuple[list[str], str]:
    env = {**os.environ, "PYTHONPATH": str(tree / ".shim"), "FIRMFORGE_SHARED":
           str(ROOT.parent / "shared")}
    # test_packaging checks the installed package itself, which the copy cannot be
    r = subprocess.run([str(PY), "-m", "pytest", "-q", "-n", str(jobs), "-p", "no:cacheprovider",
                        "--deselect", "tests/test_packaging.py", *tests],
                       cwd=tree, env=env, capture_output=True, text=True)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", r.stdout, re.M)
    return failed, r.stdout[-2000:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="run the whole suite per mutation")
    ap.add_argument("--only", nargs="*", default=None, help="mutation names to run")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    chosen = [m for m in MUTATIONS if args.only is None or m.name in args.only]
    if not chosen:
        raise SystemExit(f"no such mutation; known: {', '.join(m.name for m in MUTATIONS)}")
    survived = []
    for i, m in enumerate(chosen, 1):
        with tempfile.TemporaryDirectory(prefix="ff-mutant-") as d:
            tree = Path(d) / "firmforge"
            tree.mkdir()
            _copy_tree(tree)
            _apply(tree, m)
            t0 = time.time()
            failed, tail = _run(tree, ["tests"] if args.full else list(m.tests), args.jobs)
        verdict = f"caught by {len(failed)} tests" if failed else "SURVIVED"
        print(f"[{i}/{len(chosen)}] {m.name} ({m.path}): {verdict} in {time.time() - t0:.0f} s",
              flush=True)
        for t in failed[:12]:
            print(f"    {t}")
        if len(failed) > 12:
            print(f"    ... and {len(failed) - 12} more")
        if not failed:
            survived.append(m.name)
            print(tail)
    if survived:
        sys.exit(f"mutations no test caught: {', '.join(survived)}")
    print(f"all {len(chosen)} mutations caught")


if __name__ == "__main__":
    main()
