"""benchmarks/jet_tagger.py: the seeded synthetic jet data and the MLP other tests and the
hls4ml benchmark reuse keep their promised shapes and determinism."""

import numpy as np

from benchmarks.jet_tagger import N_TEST, N_TRAIN, SIZES, make_jet_data, train_jet_tagger


def test_data_is_seeded():
    x, y = make_jet_data(500, seed=3)
    x2, y2 = make_jet_data(500, seed=3)
    assert x.shape == (500, SIZES[0]) and x.dtype == np.float32
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert set(np.unique(y)) == set(range(SIZES[-1]))
    assert not np.array_equal(make_jet_data(500, seed=4)[0], x)


def test_train_returns_model_and_splits():
    model, x_train, x_test, y_test = train_jet_tagger(seed=0, epochs=1)
    assert x_train.shape == (N_TRAIN, SIZES[0]) and x_test.shape == (N_TEST, SIZES[0])
    assert y_test.shape == (N_TEST,)
    assert not model.training
    assert [m.out_features for m in model if hasattr(m, "out_features")] == list(SIZES[1:])
