"""Low-bit weights for an already quantized graph (converter/compress/requantize.py): int8
weights re-derived at int8 are the same integers, int4/int2 ones stay in range with the C
equal to the reference, and the least-squares scales never do worse than max scales."""

from __future__ import annotations

import numpy as np
import pytest
from test_compress import small_model

from firmforge.converter import ConversionError, convert
from firmforge.converter.compress import CompressionError, gptq
from firmforge.converter.compress.requantize import requantize_weights
from firmforge.converter.encoding import Packed
from firmforge.converter.ir import DType
from firmforge.converter.ops.conv import requantize_out
from firmforge.converter.project import Project
from firmforge.converter.reference import run


@pytest.fixture(scope="module")
def int8():
    m, x = small_model()
    return convert(m, calibration=x, name="net", progress=False, storage=None), x


def _project(proj, g) -> Project:
    """``g`` in place of ``proj``'s graph, with its input and output layouts."""
    return Project(g.name, g, proj.float_graph, proj.input_layouts, proj.output_layouts)


def _layers(g):
    return {n.name: n for n in g.nodes if n.weight_axis is not None}


def test_int8_requantized_at_int8_is_the_same_integers(int8):
    proj, x = int8
    g8 = requantize_weights(proj.graph, DType.s8)
    for name, n in _layers(proj.graph).items():
        m = _layers(g8)[name]
        np.testing.assert_array_equal(m.inputs[1].data, n.inputs[1].data)
        np.testing.assert_array_equal(m.inputs[2].data, n.inputs[2].data)
    np.testing.assert_array_equal(_project(proj, g8).reference(x), proj.reference(x))


@pytest.mark.parametrize(("dtype", "qmax"), [(DType.s4, 7), (DType.s2, 1)])
@pytest.mark.parametrize("mse", [False, True])
def test_low_bit_weights_in_range_and_c_equals_reference(int8, dtype, qmax, mse):
    proj, x = int8
    g = requantize_weights(proj.graph, dtype, mse_scales=mse)
    for n in _layers(g).values():
        w = n.inputs[1]
        assert w.dtype is dtype and isinstance(w.encoding, Packed)
        assert np.abs(w.data).max() <= qmax
    p = _project(proj, g)
    np.testing.assert_array_equal(p.run_host(x), p.reference(x))


def test_least_squares_scales_lower_the_weight_error(int8):
    proj, _ = int8
    errs = {}
    for mse in (False, True):
        g = requantize_weights(proj.graph, DType.s4, mse_scales=mse)
        total = 0.0
        for name, n in _layers(proj.graph).items():
            w8, w4 = n.inputs[1], _layers(g)[name].inputs[1]
            shape = [1] * w8.data.ndim
            shape[n.weight_axis % w8.data.ndim] = -1
            f8 = w8.data * np.asarray(w8.quant.scale, np.float64).reshape(shape)
            f4 = w4.data * np.asarray(w4.quant.scale, np.float64).reshape(shape)
            total += float(((f8 - f4) ** 2).sum())
        errs[mse] = total
    assert errs[True] < errs[False]


def test_only_the_named_layers_change(int8):
    proj, _ = int8
    g = requantize_weights(proj.graph, DType.s4, layers=["5"])
    assert {n: v.inputs[1].dtype for n, v in _layers(g).items()} == {
        "0": DType.s8, "3": DType.s8, "5": DType.s4}


def test_bad_requests_are_clear_errors(int8):
    proj, _ = int8
    with pytest.raises(CompressionError, match="no layer with int8 constant weights named nope"):
        requantize_weights(proj.graph, DType.s4, layers=["nope"])
    with pytest.raises(CompressionError, match="not s16"):
        requantize_weights(proj.graph, DType.s16)


# -- data-aware rounding (converter/compress/gptq.py) ------------------------------------------

def test_gptq_on_uncorrelated_inputs_is_round_to_nearest():
    """With H diagonal no error moves to other columns: every weight rounds to nearest."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (6, 9))
    s = np.abs(w).max(axis=1) / 7
    q = gptq.gptq(w, np.diag(rng.uniform(1, 3, 9)), s, 7)
    np.testing.assert_array_equal(q, np.clip(np.round(w / s[:, None]), -7, 7))


def test_gptq_lowers_the_output_error_of_correlated_inputs():
    rng = np.random.default_rng(1)
    mix = rng.normal(0, 1, (12, 12))
    x = rng.normal(0, 1, (2000, 12)) @ mix  # strongly correlated inputs
    w = rng.normal(0, 1, (16, 12))
    s = np.abs(w).max(axis=1) / 7
    h = gptq.hessian(x)
    nearest = np.clip(np.round(w / s[:, None]), -7, 7)
    ours = gptq.gptq(w, h, s, 7)

    def err(q):
        return float(((x @ (w - q * s[:, None]).T) ** 2).sum())

    assert np.abs(ours).max() <= 7
    assert err(ours) < 0.7 * err(nearest)


def test_refine_ends_where_no_single_step_lowers_the_output_error():
    """After refine, moving any one integer by +-1 (within range) does not lower the output
    error, counted directly on the rows; from rounding to nearest on correlated inputs it
    lowers the error (no row's error rises)."""
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (500, 10)) @ rng.normal(0, 1, (10, 10))
    w = rng.normal(0, 1, (6, 10))
    s = np.abs(w).max(axis=1) / 7
    h = gptq.hessian(x)
    start = np.clip(np.round(w / s[:, None]), -7, 7).astype(np.int64)
    q = gptq.refine(w, h, start, s, 7, sweeps=50)

    def err(q):
        return ((x @ (w - q * s[:, None]).T) ** 2).sum(axis=0)

    assert np.all(err(q) <= err(start)) and err(q).sum() < 0.9 * err(start).sum()
    assert np.abs(q).max() <= 7
    for j in range(10):
        for d in (1, -1):
            moved = q.copy()
            moved[:, j] += d
            ok = np.abs(moved[:, j]) <= 7
            assert np.all(err(moved)[ok] >= err(q)[ok] * (1 - 1e-9))


def test_layer_rows_reproduce_the_integer_accumulators(int8):
    """gptq.rows (the patches and rows the weights multiply) times the weights gives exactly
    the int8 reference's accumulators (padding reads the zero point)."""
    proj, x = int8
    xq = proj.graph.inputs[0].quant.quantize(np.transpose(x, (0, 2, 3, 1))[:4], DType.s8)
    _, tensors = run(proj.graph, [xq], keep_all=True)
    for node in _layers(proj.graph).values():
        r = gptq.rows(node, tensors[node.inputs[0].name])
        w = node.inputs[1].data.reshape(node.inputs[1].shape[0], -1).astype(np.int64)
        acc = r.astype(np.int64) @ w.T + node.inputs[2].data.astype(np.int64)
        y = requantize_out(node, acc.reshape(*node.y.shape[:0], -1, w.shape[0]))
        np.testing.assert_array_equal(y.reshape(-1), tensors[node.y.name].reshape(-1))


def test_calibrated_int4_tracks_the_int8_model_better(int8):
    proj, _ = int8
    x = np.random.default_rng(9).standard_normal((300, 4, 6, 6)).astype(np.float32)
    xq = proj.graph.inputs[0].quant.quantize(np.transpose(x, (0, 2, 3, 1)), DType.s8)
    cal, held = xq[:250], xq[250:]  # at least as many samples as a layer has inputs (288)
    want = run(proj.graph, [held])[0][0].astype(np.int64)
    plain = requantize_weights(proj.graph, DType.s4, mse_scales=True)
    aware = requantize_weights(proj.graph, DType.s4, calibration=cal)
    e_plain = np.abs(run(plain, [held])[0][0] - want).mean()
    e_aware = np.abs(run(aware, [held])[0][0] - want).mean()
    assert e_aware < e_plain
    p = _project(proj, aware)
    np.testing.assert_array_equal(p.run_host(x[250:]), p.reference(x[250:]))


def test_convert_requantizes_an_int8_tflite_file_to_fewer_bits(shared):
    path = shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent on this machine")
    p8 = convert(path, progress=False)
    x = p8.random_inputs(8, seed=3)[0]  # integer inputs of the file
    p = convert(path, weight_bits={"conv_2d_2": 4, "fully_connected_11": 2}, calibration=x,
                progress=False)
    before, after = _layers(p8.graph), _layers(p.graph)
    assert {k: n.inputs[1].dtype for k, n in after.items() if n.inputs[1].dtype is not DType.s8} \
        == {"conv_2d_2": DType.s4, "fully_connected_11": DType.s2}
    for name in set(after) - {"conv_2d_2", "fully_connected_11"}:  # the rest as stored
        np.testing.assert_array_equal(after[name].inputs[1].data, before[name].inputs[1].data)
        np.testing.assert_array_equal(after[name].inputs[2].data, before[name].inputs[2].data)
    assert p.report()["weight_bytes"] < p8.report()["weight_bytes"]
    np.testing.assert_array_equal(p.run_host(x), p.reference(x))
    # every layer, without data: nearest rounding; int8 everywhere is the file itself
    assert convert(path, weight_bits=4, progress=False).report()["weight_bytes"] == 13_360
    same = convert(path, weight_bits=8, progress=False)
    np.testing.assert_array_equal(same.reference(x), p8.reference(x))


@pytest.mark.parametrize("options, message", [
    ({"weight_bits": 3}, "weight_bits must be 8, 4 or 2"),
    ({"sparsity": 0.5}, "already quantized; sparsity: only for float models"),
    ({"weight_bits": {"conv_2d_9": 4}}, "no layer with int8 constant weights named conv_2d_9"),
])
def test_requantizing_a_tflite_file_refuses_bad_requests(shared, options, message):
    path = shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent on this machine")
    with pytest.raises(ConversionError, match=message):
        convert(path, progress=False, **options)
