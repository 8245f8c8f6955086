"""The two MLPerf Tiny int8 models: generated C == TFLM byte for byte on 200 random inputs each,
every intermediate tensor too, in a smaller arena than TFLM's, with constants in flash."""

import re

import pytest

from firmforge.converter import compare_tflm, convert

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
