"""The `firmforge` command line: convert and analyze, with clear errors and exit code 2."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "firmforge.converter.cli"]


def _run(args, cwd):
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_convert_module_spec_and_pt_file(tmp_path):
    calib = np.random.default_rng(0).random((40, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "calib.npy", calib)
    r = _run(["convert", "examples.mnist:MnistCNN", "-o", "out", "--calib", "calib.npy",
              "--name", "cnn", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert {"cnn.h", "cnn.c", "cnn_weights.c"} <= {p.name for p in (tmp_path / "out").iterdir()}
    from examples.mnist import MnistCNN

    torch.save(MnistCNN().eval(), tmp_path / "m.pt")
    r = _run(["convert", "m.pt", "-o", "out2", "--calib", "calib.npy", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out2" / "mnistcnn.c").exists()


def test_analyze_prints_the_layer_table_and_writes_nothing(tmp_path):
    r = _run(["analyze", "examples.mnist:MnistCNN", "--example-shape", "1,1,28,28",
              "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "conv2d" in r.stdout and "dense" in r.stdout and "MACs" in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_errors_are_one_line_with_exit_code_2(tmp_path):
    for args, needle in [
        (["convert", "nosuch.module:Net", "-o", "o", "--calib", "c.npy"], "cannot import"),
        (["convert", "examples.mnist:Nope", "-o", "o", "--calib", "c.npy"], "no attribute"),
        (["convert", "examples.mnist:MnistCNN", "-o", "o"], "calibration"),
        (["convert", "examples.mnist:MnistCNN", "-o", "o", "--calib", "missing.npy"], "missing.npy"),
        (["analyze", "examples.mnist:MnistCNN", "--example-shape", "1,a"], "example-shape"),
    ]:
        r = _run(args, tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
