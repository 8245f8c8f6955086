"""Whole models, randomly built: generated C == integer reference, bit for bit."""

import numpy as np
import pytest
import random_models

from firmforge.converter import convert, reference

CASES = [(t, s) for t in random_models.TOPOLOGIES for s in range(3)]


@pytest.mark.parametrize(("topology", "seed"), CASES,
                         ids=[f"{t.__name__}-{s}" for t, s in CASES])
def test_random_model_c_matches_reference(topology, seed):
    model, calib = random_models.build(topology, seed)
    proj = convert(model, calibration=calib, name=f"{topology.__name__}{seed}", progress=False)
    rng = np.random.default_rng(seed + 100)
    x = np.concatenate([calib[:8], 2.0 * rng.standard_normal((8, *calib.shape[1:]))]).astype(np.float32)
    want = proj.reference(x)
    got = proj.run_host(x)
    assert got.dtype == want.dtype == np.int8
    np.testing.assert_array_equal(got, want)
    # raw int8 inputs over the whole range go through unchanged
    q = rng.integers(-128, 128, (4, *proj.graph.inputs[0].shape[1:]), dtype=np.int8)
    q_fw = proj.input_layouts[0].from_ir(q)
    np.testing.assert_array_equal(proj.run_host(q_fw), proj.reference(q_fw))
    # the memory plan the C uses (in-place and view sharing, scratch) gives the same bytes
    planned = reference.run_planned(proj.graph, proj.sources().plan, [q])
    np.testing.assert_array_equal(planned[0], reference.run(proj.graph, [q])[0][0])


def test_planned_reference_catches_a_bad_plan():
    """Give two live tensors the same arena bytes: the planned reference must disagree."""
    model, calib = random_models.build(random_models.Residual, 0)
    proj = convert(model, calibration=calib, name="badplan", progress=False)
    plan = proj.sources().plan
    from firmforge.converter.plan import Storage

    arena = [b for b in plan.buffers if b.storage is Storage.ARENA]
    live = [(a, b) for a in arena for b in arena if a is not b and a.overlaps_in_time(b)
            and a.offset != b.offset]
    assert live, "the model should have two buffers live at once"
    a, b = live[0]
    b.offset = a.offset
    q = np.random.default_rng(1).integers(-128, 128, (3, *proj.graph.inputs[0].shape[1:]),
                                           dtype=np.int8)
    want = reference.run(proj.graph, [q])[0][0]
    assert not np.array_equal(reference.run_planned(proj.graph, plan, [q])[0], want)
