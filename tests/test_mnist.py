"""MNIST: the int8 C model keeps the float model's accuracy on the 2,000 held-back images."""

import numpy as np
import pytest

from firmforge.converter import convert


@pytest.fixture(scope="module")
def mnist(request):
    from conftest import shared_dir

    if not (shared_dir() / "data" / "mnist").is_dir():
        pytest.skip(f"MNIST lives in {shared_dir()}/data/mnist, which is absent on this machine")
    from examples.mnist import MnistCNN, float_accuracy, load_split, train

    x_tr, y_tr, x_te, y_te = load_split(shared_dir())
    model = train(MnistCNN(), x_tr, y_tr)
    return model, float_accuracy(model, x_te, y_te), (x_tr, y_tr, x_te, y_te)


def test_int8_accuracy_within_half_a_point_of_float(mnist):
    model, acc_float, (x_tr, _, x_te, y_te) = mnist
    proj = convert(model, calibration=x_tr[:500], name="mnist", progress=False)
    host = proj.run_host(x_te)
    np.testing.assert_array_equal(host, proj.reference(x_te))
    acc_int8 = float((host.argmax(1) == y_te).mean())
    assert acc_float >= 0.97, f"float model reached only {acc_float:.4f}"
    assert abs(acc_float - acc_int8) <= 0.005, (acc_float, acc_int8)
