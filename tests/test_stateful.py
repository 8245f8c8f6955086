"""The stateful-op seam, with TFLM's LSTM as its user: state gets its own memory region, the
generated C resets it, and every way of running the model — the reference, the host C, a saved
and reloaded project, the firmware in QEMU — carries the state from one inference to the next
exactly as TFLM's consecutive ``Invoke()`` calls do.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from firmforge.converter import convert
from firmforge.converter.ir import DType
from firmforge.converter.plan import Storage
from firmforge.converter.serialize import load_project

from lstm_cases import ir_case, tflite_model
from tflm_harness import Session

CALLS = 6


@pytest.fixture(scope="module", params=[DType.s8, DType.s16], ids=["int8", "16x8"])
def lstm_file(request, tmp_path_factory):
    rng = np.random.default_rng(7 if request.param is DType.s8 else 8)
    case = ir_case(rng, request.param, units=10, inputs=6)
    path = tmp_path_factory.mktemp("lstm") / "lstm.tflite"
    path.write_bytes(tflite_model(case))
    xs = [case.random_input(rng) for _ in range(CALLS)]
    session = Session(path.read_bytes())
    want = [session.invoke([x])[0].reshape(case.y_shape) for x in xs]
    return path, xs, want


def test_state_has_its_own_region(lstm_file):
    path, _, _ = lstm_file
    proj = convert(path)
    src = proj.sources()
    plan = src.plan
    state = [b for b in plan.buffers if b.storage is Storage.STATE]
    (node,) = [n for n in proj.graph.nodes if n.state]
    assert [b.values[0] for b in state] == node.state
    spans = sorted((b.offset, b.offset + b.size) for b in state)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    assert plan.state_size >= sum(v.nbytes for v in node.state)
    # never in the arena, whatever the arena reuses
    assert all(b.storage is not Storage.STATE for b in plan.scratch.values())
    assert plan.lower_bound <= plan.arena_size
    # the plan itself, executed: state carried in its region gives TFLM's call sequence
    from firmforge.converter.reference import run_planned

    _, xs, want = lstm_file
    planned = run_planned(proj.graph, plan, [np.concatenate(xs)])[0]
    np.testing.assert_array_equal(planned, np.concatenate(want))
    header = src.files[f"{src.prefix}.h"]
    assert f"void {src.prefix}_reset(void);" in header and "_STATE_SIZE" in header
    assert proj.report()["state_bytes"] == plan.state_size


def test_saved_project_carries_state_like_tflm(lstm_file, tmp_path):
    path, xs, want = lstm_file
    convert(path).write(tmp_path / "out")
    (saved,) = (tmp_path / "out").glob("*.firmforge.npz")
    proj = load_project(saved)
    for k, (x, w) in enumerate(zip(xs, want, strict=True)):
        np.testing.assert_array_equal(proj.reference(x), w, err_msg=f"call {k}")
    proj.reset()
    np.testing.assert_array_equal(proj.run_host(np.concatenate(xs)), np.concatenate(want))
    # tensors() runs from the current state without moving it
    proj.reset()
    proj.tensors(xs[0])
    np.testing.assert_array_equal(proj.reference(xs[0]), want[0])


def test_firmware_in_qemu_carries_state_like_tflm(lstm_file, tmp_path):
    path, xs, want = lstm_file
    proj = convert(path)
    batch = np.concatenate(xs)
    fw = proj.build("qemu-mps2-an386", tmp_path / "fw", batch)
    res = fw.run()
    assert res.equal
    np.testing.assert_array_equal(res.outputs, np.concatenate(want))
    # the same vectors again: the firmware resets first, so the same answers
    np.testing.assert_array_equal(fw.run().outputs, res.outputs)


def test_cli_runs_a_stateful_model(lstm_file, tmp_path):
    path, xs, _ = lstm_file
    np.save(tmp_path / "x.npy", np.concatenate(xs))
    for args in (["convert", path, "-o", "out"],
                 ["run", "out", "--board", "qemu-riscv32-virt", "--input", "x.npy"]):
        r = subprocess.run([sys.executable, "-m", "firmforge.converter.cli", *map(str, args)],
                           capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert f"{CALLS}/{CALLS} inferences equal the reference" in r.stdout
