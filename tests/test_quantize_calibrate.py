"""Observers and calibration (converter/quantize/calibrate.py, histogram.py)."""

import functools

import numpy as np
import pytest

from firmforge.converter.ir import Act, DType, Graph, Value, const, make_node
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.shape import Reshape
from firmforge.converter.quantize import (
    CalibrationError,
    LogitObserver,
    MinMaxObserver,
    MSEObserver,
    Observer,
    PercentileObserver,
    calibrate,
)
from firmforge.converter.reference import run


def _feed(obs, x, parts=10):
    for b in np.array_split(np.asarray(x, np.float32), parts):
        obs.observe(b)
    return obs.range()


def _int8_mse(x, lo, hi):
    """Error of the asymmetric int8 quantizer of the spec with range (lo, hi), written out here."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = float(np.float32((hi - lo) / 255))
    z = np.clip(np.floor(-128 - lo / s + 0.5), -128, 127)
    q = np.clip(np.floor(x / s + 0.5) + z, -128, 127)
    return float(np.mean(((q - z) * s - x) ** 2))


# -- observers ---------------------------------------------------------------------------------

def test_minmax_is_exact_running_extremes():
    rng = np.random.default_rng(0)
    batches = [rng.normal(i, 1 + i, (7, 5)).astype(np.float32) for i in range(6)]
    obs = MinMaxObserver()
    for b in batches:
        obs.observe(b)
    every = np.concatenate(batches)
    assert obs.range() == (float(every.min()), float(every.max()))
    assert isinstance(obs, Observer)


@pytest.mark.parametrize("make", [MinMaxObserver, PercentileObserver, MSEObserver, LogitObserver])
def test_observer_without_data_or_with_nan_raises(make):
    with pytest.raises(CalibrationError, match="no data"):
        make().range()
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(CalibrationError, match="NaN or Inf"):
            make().observe(np.array([0.0, bad, 1.0], np.float32))


def test_logit_observer_clips_span_below_each_rows_largest():
    """Lower end: the smallest logit of any row that is within ``span`` of its row's largest
    (rows wholly within the span keep their minimum); upper end: the largest logit."""
    rows = np.array([[10.0, 9.0, -30.0], [2.0, 1.5, 0.5], [4.0, -9.0, 3.0]], np.float32)
    obs = LogitObserver(span=8.0)
    obs.observe(rows[:2])
    obs.observe(rows[2:])
    assert obs.range() == (-4.0, 10.0)  # row 3: 4 - 8; row 1 clips at 2, row 2 keeps 0.5
    wide = LogitObserver(span=100.0)
    wide.observe(rows)
    assert wide.range() == (-30.0, 10.0)  # a span past every row is min/max
    with pytest.raises(ValueError, match="span must be positive"):
        LogitObserver(span=0)


def test_percentile_clips_outliers_of_each_tail():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 100_000), [1000.0, -800.0, 950.0]])
    lo, hi = _feed(PercentileObserver(99.9), rng.permutation(x))
    true_lo, true_hi = np.percentile(x, 0.1), np.percentile(x, 99.9)  # about -3.09, 3.09
    assert abs(lo - true_lo) < 0.5 and abs(hi - true_hi) < 0.5
    assert _feed(PercentileObserver(100.0), x) == (float(np.float32(x.min())),
                                                   float(np.float32(x.max())))


def test_percentile_is_accurate_on_a_dense_histogram():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.0, 3.0, 200_000)
    lo, hi = _feed(PercentileObserver(99.0), x)
    assert lo == pytest.approx(np.percentile(x, 1.0), abs=2e-3)
    assert hi == pytest.approx(np.percentile(x, 99.0), abs=2e-3)


def test_percentile_tails_are_separate_for_one_sided_data():
    rng = np.random.default_rng(3)
    x = np.maximum(rng.normal(0, 1, 50_000), 0.0)  # half exact zeros, like a ReLU output
    lo, hi = _feed(PercentileObserver(99.0), x)
    assert 0.0 <= lo < 1e-3  # |x|-based clipping would have produced a symmetric range
    assert hi == pytest.approx(np.percentile(x, 99.0), rel=5e-3)
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(40.0)


def test_histogram_grows_without_keeping_data():
    rng = np.random.default_rng(4)
    obs = PercentileObserver(100.0, bins=256)
    obs.observe(np.full(10, 0.25, np.float32))  # a constant first batch
    tiny = rng.uniform(-0.001, 0.001, 500).astype(np.float32)
    obs.observe(tiny)
    big = rng.uniform(-40.0, 70.0, 5000).astype(np.float32)
    obs.observe(big)
    obs.observe(np.array([-123.5], np.float32))
    assert obs.hist.counts.shape == (256,)
    assert int(obs.hist.counts.sum()) == 5511
    # Growing merges whole bins, so the counts are those of the data over the final edges (up to
    # a value that sat on the top edge of an earlier, narrower histogram: one per batch).
    every = np.concatenate([np.full(10, 0.25), tiny, big, [-123.5]]).astype(np.float32)
    assert np.abs(obs.hist.counts - np.histogram(every, bins=obs.hist.edges)[0]).sum() <= 2 * 4
    assert obs.range() == (-123.5, float(big.max()))
    e = obs.hist.edges
    assert e[0] <= -123.5 and e[-1] >= big.max() and e[-1] - e[0] < 4 * (big.max() + 123.5)


@pytest.mark.parametrize("dist", ["laplace", "student_t3"])
def test_mse_range_beats_minmax_on_heavy_tails(dist):
    rng = np.random.default_rng(5)
    x = rng.laplace(0, 1, 100_000) if dist == "laplace" else rng.standard_t(3, 100_000)
    x = x.astype(np.float32)
    lo, hi = _feed(MSEObserver(), x)
    assert x.min() < lo <= 0.0 <= hi < x.max()
    mse = _int8_mse(x, lo, hi)
    assert mse < 0.9 * _int8_mse(x, float(x.min()), float(x.max()))
    # ...and no clipping range on a grid of fractions of min/max does better on the real data.
    fracs = np.linspace(0.1, 1.0, 16)
    best = min(_int8_mse(x, a * float(x.min()), b * float(x.max())) for a in fracs for b in fracs)
    assert mse < 1.01 * best


def test_mse_range_keeps_uniform_data_and_stays_inside_minmax():
    rng = np.random.default_rng(6)
    x = rng.uniform(-1.0, 3.0, 100_000).astype(np.float32)
    lo, hi = _feed(MSEObserver(), x)
    assert x.min() <= lo and hi <= x.max()
    assert (hi - lo) > 0.98 * (x.max() - x.min())
    relu = np.maximum(rng.standard_t(4, 100_000), 0).astype(np.float32)
    lo, hi = _feed(MSEObserver(), relu)
    assert lo == 0.0 and 0.0 < hi < relu.max()
    assert _feed(MSEObserver(), np.full(100, 2.5)) == (2.5, 2.5)


# -- calibrate ---------------------------------------------------------------------------------

def _net(rng):
    """x -> conv(relu) -> reshape -> dense."""
    x = Value("x", (1, 6, 6, 2), DType.f32)
    w = const("w", rng.normal(0, 0.4, (4, 3, 3, 2)).astype(np.float32))
    conv = make_node(Conv2d, "conv", [x, w, const("b", np.zeros(4, np.float32))], ["c"],
                     act=Act.RELU)
    flat = make_node(Reshape, "flat", [conv.y], ["f"], shape=(1, 64))
    wd = const("wd", rng.normal(0, 0.2, (3, 64)).astype(np.float32))
    fc = make_node(Dense, "fc", [flat.y, wd, const("bd", np.ones(3, np.float32))], ["y"])
    g = Graph("net", [conv, flat, fc], [x], [fc.y])
    g.validate()
    return g


class _Recorder:
    """An observer that records the batch sizes it saw (and acts as min/max)."""

    sizes: list

    def __init__(self):
        self.inner = MinMaxObserver()
        self.sizes = []

    def observe(self, x):
        self.sizes.append(len(x))
        self.inner.observe(x)

    def range(self):
        return self.inner.range()


def test_calibrate_observes_every_value_with_minmax():
    rng = np.random.default_rng(7)
    g = _net(rng)
    data = rng.normal(0, 1, (70, 6, 6, 2)).astype(np.float32)
    ranges = calibrate(g, data, progress=False)
    _, tensors = run(g, [data], keep_all=True)
    assert set(ranges) == {"x", "c", "f", "y"}
    for name, t in tensors.items():
        assert ranges[name] == (float(t.min()), float(t.max()))
    batches = [data[:5], data[5:50].astype(np.float64), data[50:]]
    assert calibrate(g, iter(batches), progress=False) == ranges


def test_calibrate_splits_arrays_into_batches_of_32_and_takes_factories():
    rng = np.random.default_rng(8)
    g = _net(rng)
    made = []

    def factory():
        made.append(_Recorder())
        return made[-1]

    calibrate(g, rng.normal(0, 1, (70, 6, 6, 2)).astype(np.float32), observer=factory,
              progress=False)
    assert len(made) == 4 and all(r.sizes == [32, 32, 6] for r in made)
    r = calibrate(g, rng.normal(0, 1, (40, 6, 6, 2)),
                  observer=functools.partial(PercentileObserver, 99.0), progress=False)
    assert all(lo <= hi for lo, hi in r.values())
    with pytest.raises(TypeError, match="factory"):
        calibrate(g, rng.normal(0, 1, (4, 6, 6, 2)), observer=MinMaxObserver(), progress=False)


def test_calibrate_progress_bar(capsys):
    rng = np.random.default_rng(9)
    g = _net(rng)
    data = rng.normal(0, 1, (40, 6, 6, 2)).astype(np.float32)
    calibrate(g, data, progress=False)
    assert capsys.readouterr().err == ""
    calibrate(g, data, progress=True)
    assert "2/2" in capsys.readouterr().err


def test_calibrate_rejects_empty_sets():
    g = _net(np.random.default_rng(10))
    for empty in ([], iter([]), np.zeros((0, 6, 6, 2), np.float32),
                  [np.zeros((0, 6, 6, 2), np.float32)]):
        with pytest.raises(CalibrationError, match="empty calibration set"):
            calibrate(g, empty, progress=False)


def test_calibrate_names_the_sample_with_nan_or_inf():
    rng = np.random.default_rng(11)
    g = _net(rng)
    data = rng.normal(0, 1, (50, 6, 6, 2)).astype(np.float32)
    data[37, 2, 3, 1] = np.nan
    with pytest.raises(CalibrationError, match="sample 37 "):
        calibrate(g, data, progress=False)
    data[37, 2, 3, 1] = 0.0
    data[44, 0, 0, 0] = -np.inf
    with pytest.raises(CalibrationError, match="sample 44 "):
        calibrate(g, [data[:40], data[40:]], progress=False)


def test_calibrate_names_expected_and_got_shapes():
    g = _net(np.random.default_rng(12))
    with pytest.raises(CalibrationError, match=r"expected \[n, 6, 6, 2\], got \[6, 6, 2\]"):
        calibrate(g, np.zeros((6, 6, 2), np.float32), progress=False)
    with pytest.raises(CalibrationError, match=r"expected \[n, 6, 6, 2\], got \[3, 6, 2, 6\]"):
        calibrate(g, [np.zeros((3, 6, 2, 6), np.float32)], progress=False)


def test_calibrate_names_the_layer_that_overflows():
    rng = np.random.default_rng(13)
    g = _net(rng)
    g.nodes[2].inputs[1] = const("wd", np.full((3, 64), 3e38, np.float32))
    with pytest.raises(CalibrationError, match=r"layer fc \(dense\).* value y"):
        calibrate(g, rng.uniform(1, 2, (8, 6, 6, 2)).astype(np.float32), progress=False)


def test_calibrate_needs_a_float_single_input_graph():
    x = Value("x", (1, 4), DType.s8)
    g = Graph("q", [], [x], [x])
    with pytest.raises(CalibrationError, match="float graph"):
        calibrate(g, np.zeros((1, 4)), progress=False)
