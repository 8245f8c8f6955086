"""Bad input gives one clear error naming the problem, and nothing is left half-written."""

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import ConversionError, convert
from firmforge.converter.frontends.torch_fx import (
    ExampleShapeError,
    InvalidWeightsError,
    UnsupportedModelError,
)
from firmforge.converter.quantize import CalibrationError


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.gelu = nn.GELU()
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x):
        return torch.exp(self.up(self.gelu(self.conv(x))))


CALIB = np.random.default_rng(0).standard_normal((16, 1, 8, 8)).astype(np.float32)


def test_every_unsupported_layer_is_listed_at_once():
    with pytest.raises(UnsupportedModelError) as e:
        convert(Unsupported(), calibration=CALIB)
    msg = str(e.value)
    for needle in ("gelu", "up", "exp"):
        assert needle in msg.lower(), msg


def test_wrong_example_shape_names_the_shape():
    with pytest.raises(ExampleShapeError, match=r"3, 8, 8"):
        convert(Tiny(), example_input=torch.zeros(1, 3, 8, 8), calibration=CALIB)


def test_calibration_of_the_wrong_shape():
    with pytest.raises((ConversionError, CalibrationError, ExampleShapeError)):
        convert(Tiny(), example_input=torch.zeros(1, 1, 8, 8), calibration=CALIB[:, :, :5])


def test_nan_weights_are_named():
    m = Tiny()
    with torch.no_grad():
        m.fc.weight[0, 0] = float("nan")
        m.conv.bias[1] = float("inf")
    with pytest.raises(InvalidWeightsError) as e:
        convert(m, calibration=CALIB)
    assert "fc.weight" in str(e.value) and "conv.bias" in str(e.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_calibration_names_the_sample(bad):
    calib = CALIB.copy()
    calib[5, 0, 2, 2] = bad
    with pytest.raises((ConversionError, CalibrationError), match="5"):
        convert(Tiny(), calibration=calib)


def test_empty_calibration_set():
    with pytest.raises((ConversionError, CalibrationError), match="empty"):
        convert(Tiny(), example_input=torch.zeros(1, 1, 8, 8), calibration=CALIB[:0])


def test_missing_calibration():
    with pytest.raises(ConversionError, match="calibration"):
        convert(Tiny(), example_input=torch.zeros(1, 1, 8, 8))


def test_unwritable_output_dir_leaves_nothing(tmp_path):
    proj = convert(Tiny(), calibration=CALIB, progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match="file"):
        proj.write(blocker / "out")
    with pytest.raises(OSError, match="not a directory"):
        proj.write(blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert blocker.read_text() == "not a directory"


def test_write_failure_midway_leaves_no_partial_files(tmp_path, monkeypatch):
    proj = convert(Tiny(), calibration=CALIB, progress=False)
    out = tmp_path / "out"
    import firmforge.targets.c.writer as writer

    real = writer.os.fdopen
    calls = {"n": 0}

    def failing(fd, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            import os
            os.close(fd)
            raise OSError(28, "No space left on device")
        return real(fd, *a, **k)

    monkeypatch.setattr(writer.os, "fdopen", failing)
    with pytest.raises(OSError, match="No space"):
        proj.write(out)
    assert list(out.iterdir()) == []


def test_bad_model_objects_and_files(tmp_path):
    with pytest.raises(ConversionError, match=r"nn\.Module"):
        convert(object(), calibration=CALIB)
    with pytest.raises(ConversionError, match="does not exist"):
        convert(tmp_path / "missing.pt", calibration=CALIB)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(ConversionError, match=r"torch\.save"):
        convert(junk, calibration=CALIB)


def test_bad_input_to_a_project():
    proj = convert(Tiny(), calibration=CALIB, progress=False)
    with pytest.raises(ValueError, match=r"1, 8, 8"):
        proj.reference(np.zeros((2, 1, 9, 9), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        proj.reference(np.full((1, 1, 8, 8), np.nan, np.float32))
    with pytest.raises(ValueError, match="int8"):
        proj.run_host(np.zeros((1, 1, 8, 8), np.int32))
