"""Low-bit weights for an already quantized graph (converter/compress/requantize.py): int8
weights re-derived at int8 are the same integers, int4/int2 ones stay in range with the C
equal to the reference, and the least-squares scales never do worse than max scales."""

from __future__ import annotations

import numpy as np
import pytest
from test_compress import small_model

from firmforge.converter import convert
from firmforge.converter.compress import CompressionError
from firmforge.converter.compress.requantize import requantize_weights
from firmforge.converter.encoding import Packed
from firmforge.converter.ir import DType
from firmforge.converter.project import Project


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
