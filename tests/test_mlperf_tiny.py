"""The two MLPerf Tiny int8 models: generated C == TFLM byte for byte on 200 random inputs each,
every intermediate tensor too, and for kws on inputs of every one of its classes; in a smaller
arena than TFLM's, with constants in flash."""

import re

import numpy as np
import pytest

from firmforge.converter import compare_tflm, convert
from firmforge.converter.compare import tflm_run
from firmforge.converter.ir import Graph
from firmforge.targets.c import host
from firmforge.targets.c.writer import generate

MODELS = {"kws_ref_model.tflite": 16_000, "ad01_int8.tflite": 1_000}


@pytest.fixture(params=sorted(MODELS))
def model(request, shared):
    path = shared / "models" / "mlperf-tiny" / request.param
    if not path.exists():
        pytest.skip(f"{path} is absent on this machine")
    return path, MODELS[request.param]


def test_host_c_equals_tflm_on_every_layer(model):
    path, _ = model
    result = compare_tflm(path, samples=200, seed=7)
    assert result.samples == 200 and len(result.rows) >= 3
    assert result.ok, result.format()
    assert all(r.host_equal for r in result.rows)


def test_arena_is_below_tflm_and_constants_live_in_flash(model, tmp_path):
    path, limit = model
    proj = convert(path)
    rep = proj.report()
    assert rep["arena_bytes"] <= limit, rep["arena_bytes"]
    result = compare_tflm(path, samples=1, host=False)
    assert result.tflm_arena_bytes is not None and rep["arena_bytes"] < result.tflm_arena_bytes
    proj.write(tmp_path)
    weights = (tmp_path / f"{proj.sources().prefix}_weights.c").read_text()
    model_c = (tmp_path / f"{proj.sources().prefix}.c").read_text()
    # multipliers and shifts (alone, or in the pair-packed kernels' requantization records) are
    # FF_CONST arrays next to the weights, none of them in RAM
    assert re.search(r"FF_CONST int32_t \w+_(mult|rec)\[", weights)
    assert re.search(r"FF_CONST int32_t \w+_(shift|rec)\[", weights)
    ram = [line for line in model_c.splitlines() if line.startswith("static") and "FF_CONST" not in line]
    assert len(ram) == 1 and "_arena" in ram[0], ram


def _inputs_for_every_class(g: Graph, rng: np.random.Generator) -> np.ndarray:
    """One int8 input per class that the model classifies as that class, found by search.

    Uniform random inputs make kws_ref_model answer 2 of its 12 classes, and 85 % of its softmax
    outputs sit at -128, so they compare TFLM and firmforge on a corner of the model. The search
    starts from structured inputs (per-sample level and contrast, per-coefficient offsets, and
    constant inputs with a separate first coefficient, which is where "silence" lives) and climbs
    the margin of the wanted logit over the others by random perturbation. It reads the logits
    (the graph without its final SOFTMAX, as host C), not the softmax, whose saturated output
    gives the climb no slope. Which inputs it finds does not matter: TFLM judges them after."""
    last = g.nodes[-1]
    assert last.kind == "softmax", "a classifier ending in SOFTMAX"
    head = Graph(f"{g.name}_logits", g.nodes[:-1], g.inputs, [last.inputs[0]])
    (logits,) = host.build([(generate(head, "logits"), head)])
    shape = tuple(g.inputs[0].shape[1:])

    def margin(x: np.ndarray, k: int) -> np.ndarray:
        z = logits.run(x)[0].reshape(len(x), -1).astype(np.int32)
        return z[:, k] - np.delete(z, k, axis=1).max(axis=1)

    n, keep = 256, 16
    level = rng.uniform(-128, 127, (n, 1, 1, 1)) + rng.normal(0, 40, (n, 1, *shape[1:]))
    noisy = level + rng.uniform(1, 80, (n, 1, 1, 1)) * rng.standard_normal((n, *shape))
    first, rest = (a.reshape(-1) for a in np.meshgrid(np.arange(-128, 128, 8),
                                                      np.arange(-128, 128, 8)))
    flat = np.broadcast_to(rest.reshape(-1, *[1] * len(shape)), (len(rest), *shape)).copy()
    flat[:, :, 0] = first.reshape(-1, *[1] * (len(shape) - 1))
    seeds = np.clip(np.concatenate([noisy, flat]), -128, 127).astype(np.int8)
    found = []
    for k in range(int(np.prod(last.outputs[0].shape[1:]))):
        m = margin(seeds, k)
        order = np.argsort(-m, kind="stable")[:keep]
        pop, best = seeds[order], m[order[0]]
        for _ in range(1000):
            if best > 0:
                break
            kids = np.repeat(pop, 4, axis=0).astype(np.int16)
            kids += (rng.standard_normal(kids.shape) *
                     rng.uniform(2, 30, (len(kids), 1, 1, 1))).astype(np.int16)
            both = np.concatenate([pop, np.clip(kids, -128, 127).astype(np.int8)])
            mb = margin(both, k)
            order = np.argsort(-mb, kind="stable")[:keep]
            pop, best = both[order], mb[order[0]]
        assert best > 0, f"no input found for class {k}"
        found.append(pop[0])
    return np.stack(found)


def test_host_c_equals_tflm_on_inputs_of_every_class(shared):
    """TFLM == reference == host C on every layer for inputs that make kws_ref_model answer
    each of its 12 classes (TFLM's own outputs say so too)."""
    path = shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent on this machine")
    x = _inputs_for_every_class(convert(path).graph, np.random.default_rng(11))
    result = compare_tflm(path, x, host=True)
    assert result.ok and all(r.host_equal for r in result.rows), result.format()
    (tflm_out,), _ = tflm_run(path, [x], [], 1)
    assert list(tflm_out.reshape(len(x), -1).argmax(axis=1)) == list(range(len(x)))
