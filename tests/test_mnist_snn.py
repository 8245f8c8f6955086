"""MNIST with a spiking CNN (examples/mnist_snn.py), on the shared 8,000 / 2,000 split: rate
coded with T = 25 steps, at least 97.5 % on the held-back images in float snnTorch, the fixed
point (s16 membranes, the rate encoder on device) within 0.5 points of it, and the C equal to
the reference. Runs under `make test-snn` (--snn-mnist): the training takes minutes."""

import numpy as np
import pytest

from firmforge.converter import SpikingOptions, convert
from firmforge.converter.ir import DType
from firmforge.snn.convert import Encoder
from firmforge.snn.project import Readout


@pytest.fixture(scope="module")
def trained():
    from conftest import shared_dir

    if not (shared_dir() / "data" / "mnist").is_dir():
        pytest.skip(f"MNIST lives in {shared_dir()}/data/mnist, which is absent on this machine")
    from examples.mnist import load_split
    from examples.mnist_snn import STEPS, snn_accuracy, train_snn

    x_tr, y_tr, x_te, y_te = load_split(shared_dir())
    net = train_snn(x_tr, y_tr, progress=False)
    return net, snn_accuracy(net, x_te, y_te), STEPS, (x_tr, x_te, y_te)


def test_spiking_cnn_accuracy_float_and_fixed_point(trained):
    net, acc_float, steps, (x_tr, x_te, y_te) = trained
    proj = convert(net, calibration=x_tr[:64], steps=steps,
                   spiking=SpikingOptions(membrane=DType.s16, encoder=Encoder.RATE,
                                          readout=Readout.COUNT))
    counts = proj.reference(x_te)
    acc_fixed = float((counts.argmax(1) == y_te).mean())
    assert acc_float >= 0.975, acc_float
    assert abs(acc_fixed - acc_float) <= 0.005, (acc_float, acc_fixed)
    np.testing.assert_array_equal(proj.run_host(x_te[:100]), counts[:100])
