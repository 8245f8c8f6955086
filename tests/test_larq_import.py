"""Binary MLPs given as Larq-style weights and batch norms (converter/frontends/larq.py): the
imported graph computes what Larq's layers compute, its batch norms and signs fold into
integer thresholds, and bad parameters are clear errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from firmforge.converter import convert
from firmforge.converter.frontends.larq import BatchNorm, BinaryDenseLayer, import_binary_mlp
from firmforge.converter.ir import DType, IRError
from firmforge.converter.passes import FLOAT_PIPELINE, run_passes
from firmforge.converter.reference import run


def _sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def _mlp(rng, sizes=(20, 64, 32, 10)):
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        bn = BatchNorm(rng.normal(0, 1, b), rng.normal(0, 1, b), rng.normal(0, 3, b),
                       rng.uniform(0.5, 4, b))
        layers.append(BinaryDenseLayer(rng.normal(0, 1, (a, b)), binary_input=i > 0,
                                       batch_norm=bn))
    return layers


def _larq(layers, x):
    """What Larq's QuantDense (ste_sign kernel and input quantizers) + BatchNormalization give."""
    h = x.astype(np.float64)
    for layer in layers:
        if layer.binary_input:
            h = _sign(h)
        h = h @ _sign(layer.kernel)
        bn = layer.batch_norm
        h = bn.gamma * (h - bn.mean) / np.sqrt(bn.variance + bn.epsilon) + bn.beta
    return h


def test_the_imported_graph_computes_larqs_layers():
    rng = np.random.default_rng(0)
    layers = _mlp(rng)
    g = import_binary_mlp(layers)
    x = rng.normal(0, 1, (200, 20)).astype(np.float32)
    np.testing.assert_allclose(run(g, [x])[0][0], _larq(layers, x), rtol=1e-4, atol=1e-3)
    folded = run_passes(g, FLOAT_PIPELINE)
    kinds = [n.kind for n in folded.nodes]
    assert "mul" not in kinds and kinds.count("binarize") == 1  # only the real-input layer's
    hidden = [n for n in folded.nodes if n.kind == "binarydense"]
    assert hidden[0].y.dtype is DType.b1 and hidden[-1].y.dtype is DType.f32
    np.testing.assert_allclose(run(folded, [x])[0][0], _larq(layers, x), rtol=1e-4, atol=1e-3)


def test_the_quantized_model_keeps_larqs_decisions():
    rng = np.random.default_rng(1)
    layers = _mlp(rng)
    x = rng.normal(0, 1, (400, 20)).astype(np.float32)
    proj = convert(import_binary_mlp(layers), calibration=x[:200], progress=False)
    y = proj.reference(x[200:])
    assert np.mean(y.argmax(1) == _larq(layers, x[200:]).argmax(1)) > 0.9


def test_bad_parameters_are_clear_errors():
    rng = np.random.default_rng(2)
    with pytest.raises(IRError, match="at least one layer"):
        import_binary_mlp([])
    with pytest.raises(IRError, match="does not take 4 inputs"):
        import_binary_mlp([BinaryDenseLayer(np.ones((8, 4))), BinaryDenseLayer(np.ones((5, 2)))])
    bn = BatchNorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    with pytest.raises(IRError, match="4 values each"):
        import_binary_mlp([BinaryDenseLayer(rng.normal(0, 1, (6, 4)), batch_norm=bn)])
