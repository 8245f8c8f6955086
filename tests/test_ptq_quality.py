"""PTQ quality options: bias correction, layer-wise calibration (AdaRound), observers per layer,
data-free calibration (ZeroQ). Every converted project's host C still equals its reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.convert import ConversionError
from firmforge.converter.ir import DType
from firmforge.converter.quantize import CalibrationError, MinMaxObserver, PercentileObserver


def _dense_model(seed: int = 0) -> tuple[nn.Module, np.ndarray]:
    """One Dense layer on inputs with a nonzero mean and correlated features (where the
    quantization error of the weights has a mean that bias correction can remove)."""
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(48, 24)).eval()
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.0, 1.0, (512, 8)).astype(np.float32)
    x = (base @ rng.uniform(0, 1, (8, 48)).astype(np.float32)) / 4 + 0.5
    return m, x.astype(np.float32)


def _output_errors(proj, model, x):
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy().astype(np.float64)
    got = proj.dequantize(proj.reference(x)).astype(np.float64)
    return got - want


def test_bias_correction_reduces_the_mean_output_error():
    model, x = _dense_model()
    calib, test = x[:256], x[256:]
    plain = convert(model, calibration=calib, weight_dtype=DType.s4, progress=False)
    corrected = convert(model, calibration=calib, weight_dtype=DType.s4, bias_correction=True,
                        progress=False)
    bias_plain = np.abs(_output_errors(plain, model, test).mean(axis=0)).mean()
    bias_corr = np.abs(_output_errors(corrected, model, test).mean(axis=0)).mean()
    assert bias_corr < 0.5 * bias_plain
    # the weights are the same integers: only the bias moved
    w = [v for n in plain.graph.nodes for v in n.inputs[1:2]]
    wc = [v for n in corrected.graph.nodes for v in n.inputs[1:2]]
    assert all(np.array_equal(a.data, b.data) for a, b in zip(w, wc, strict=True))
    assert np.array_equal(corrected.run_host(test[:8]), corrected.reference(test[:8]))


def test_layerwise_calibration_beats_nearest_rounding_at_4_bits():
    model, x = _dense_model(1)
    calib, test = x[:256], x[256:]
    nearest = convert(model, calibration=calib, weight_dtype=DType.s4, progress=False)
    learned = convert(model, calibration=calib, weight_dtype=DType.s4,
                      layerwise_calibration=True, progress=False)
    mse_near = float(np.mean(_output_errors(nearest, model, test) ** 2))
    mse_learn = float(np.mean(_output_errors(learned, model, test) ** 2))
    assert mse_learn < 0.8 * mse_near, (mse_learn, mse_near)
    w = next(v for n in learned.graph.nodes for v in n.inputs[1:2])
    assert w.dtype is DType.s4 and np.abs(w.data).max() <= 7
    # rounding moved by at most one step from the nearest integers, same scales
    w0 = next(v for n in nearest.graph.nodes for v in n.inputs[1:2])
    assert np.array_equal(w.quant.scale, w0.quant.scale)
    assert np.abs(w.data.astype(int) - w0.data.astype(int)).max() <= 1
    assert np.array_equal(learned.run_host(test[:8]), learned.reference(test[:8]))


def test_observer_per_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    x = np.random.default_rng(0).standard_normal((200, 16)).astype(np.float32)
    x[0] *= 40  # one outlier: min/max stretches the range, a percentile does not
    base = convert(model, calibration=x, progress=False)
    layer = base.graph.nodes[0].name
    per = convert(model, calibration=x, progress=False,
                  observer={layer: lambda: PercentileObserver(99.0)})
    s0, s1 = base.graph.nodes[0].y.quant.s, per.graph.nodes[0].y.quant.s
    assert s1 < 0.5 * s0
    assert base.graph.nodes[-1].y.quant.s == per.graph.nodes[-1].y.quant.s  # not named: min/max
    with pytest.raises(CalibrationError, match="'nope', which is no layer or value"):
        convert(model, calibration=x, progress=False, observer={"nope": MinMaxObserver})


def _bn_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()


def test_data_free_needs_batchnorm_statistics():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3)).eval()
    with pytest.raises(ConversionError, match=r"BatchNorm.*has none"):
        convert(model, example_input=torch.zeros(1, 1, 6, 6), calibration=None, data_free=True,
                progress=False)
    with pytest.raises(ConversionError, match="example_input"):
        convert(_bn_cnn(), calibration=None, data_free=True, progress=False)
    with pytest.raises(ConversionError, match="calibration=None"):
        convert(_bn_cnn(), calibration=np.zeros((4, 1, 6, 6), np.float32), data_free=True,
                progress=False)


def test_data_free_inputs_match_the_batchnorm_statistics():
    from firmforge.converter.quantize.datafree import distill

    model = _bn_cnn()
    bn = model[1]
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():  # the statistics of data unlike the N(0, 1) the search starts from
        h = model[0](0.7 + 0.3 * torch.randn((256, 1, 6, 6), generator=gen))
        bn.running_mean.copy_(h.mean((0, 2, 3)))
        bn.running_var.copy_(h.var((0, 2, 3)))
    x = distill(model, (1, 6, 6), samples=32)
    with torch.no_grad():
        h = model[0](torch.from_numpy(x))
    assert np.allclose(h.mean((0, 2, 3)).numpy(), bn.running_mean.numpy(), atol=0.05)
    assert np.allclose(h.var((0, 2, 3)).numpy(), bn.running_var.numpy(), rtol=0.2)
    proj = convert(model, example_input=torch.zeros(1, 1, 6, 6), calibration=None,
                   data_free=True, progress=False)
    xs = np.random.default_rng(1).standard_normal((4, 1, 6, 6)).astype(np.float32)
    assert np.array_equal(proj.run_host(xs), proj.reference(xs))


@pytest.fixture(scope="module")
def small_mnist():
    from examples.mnist import MnistCNN, load_split, shared_dir, train

    try:
        xtr, ytr, xte, yte = load_split()
    except FileNotFoundError:
        pytest.skip(f"MNIST lives in {shared_dir()}/data/mnist, which is absent")
    torch.manual_seed(0)
    model = train(MnistCNN(), xtr[:2000], ytr[:2000], epochs=2, seed=0)
    return model, xtr[2000:2256], xte[:500], yte[:500]


def test_data_free_accuracy_near_real_calibration(small_mnist):
    model, calib, x, y = small_mnist
    real = convert(model, calibration=calib, progress=False)
    free = convert(model, example_input=torch.zeros(1, 1, 28, 28), calibration=None,
                   data_free=True, progress=False)
    acc_real = (np.asarray(real.reference(x)).argmax(-1) == y).mean()
    acc_free = (np.asarray(free.reference(x)).argmax(-1) == y).mean()
    assert acc_real > 0.8
    assert acc_free >= acc_real - 0.05, (acc_free, acc_real)
