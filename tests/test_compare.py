"""The divergence finder names the first layer whose bytes differ, with the elements."""

import subprocess
import sys

import numpy as np
import pytest

from firmforge.converter import compare_tflm
from firmforge.converter.ops.conv import DepthwiseConv2d


@pytest.fixture
def kws(shared):
    path = shared / "models" / "mlperf-tiny" / "kws_ref_model.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent on this machine")
    return path


def test_a_wrong_reference_is_located(kws, monkeypatch):
    real = DepthwiseConv2d.ref

    def off_by_one(self, xs):
        (y,) = real(self, xs)
        y = y.copy()
        y.reshape(len(y), -1)[:, 5] ^= 1  # element 5 of every sample
        return [y]

    monkeypatch.setattr(DepthwiseConv2d, "ref", off_by_one)
    result = compare_tflm(kws, samples=3, host=True)
    bad = result.first_mismatch
    assert not result.ok and bad is not None
    assert bad.op == "DEPTHWISE_CONV_2D" and not bad.ref_equal and bad.host_equal
    assert bad.mismatches == 3 and bad.max_abs_diff == 1  # element 5 of each of 3 samples
    assert bad.examples[0][0] == 0
    first_dw = next(r for r in result.rows if r.op == "DEPTHWISE_CONV_2D")
    assert bad is first_dw
    text = result.format()
    assert "first difference" in text and bad.node in text


def test_cli_compare_exit_codes(kws, tmp_path):
    x = np.random.default_rng(3).integers(-128, 128, (4, 49, 10, 1)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    cmd = [sys.executable, "-m", "firmforge.converter.cli", "compare", str(kws),
           "--input", str(tmp_path / "x.npy")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "layers equal byte for byte" in r.stdout and "TFLM" in r.stdout
    np.save(tmp_path / "bad.npy", x.astype(np.int16))
    r = subprocess.run([*cmd[:-1], str(tmp_path / "bad.npy")], capture_output=True, text=True)
    assert r.returncode == 2 and "int8" in r.stderr and "Traceback" not in r.stderr
