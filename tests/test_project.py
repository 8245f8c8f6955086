"""The Project API: inputs in any accepted form, reports, written sources that compile alone."""

import subprocess

import numpy as np
import torch
from torch import nn

from firmforge.converter import convert


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 5 * 5, 4)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1))


def _seeded():
    torch.manual_seed(0)
    return Net().eval()


def _project(name="net"):
    calib = np.random.default_rng(1).standard_normal((50, 2, 10, 10)).astype(np.float32)
    model = _seeded()
    return model, calib, convert(model, calibration=calib, name=name, progress=False)


def test_inputs_float_int_batched_or_single():
    _, calib, proj = _project()
    x = calib[:5]
    ref = proj.reference(x)
    assert ref.shape == (5, 4) and ref.dtype == np.int8
    np.testing.assert_array_equal(proj.reference(torch.from_numpy(x)), ref)
    np.testing.assert_array_equal(proj.run_host(x), ref)
    np.testing.assert_array_equal(proj.reference(x[0]), ref[0])  # one sample, no batch dim
    xin = proj.graph.inputs[0]
    q = xin.quant.quantize(proj.input_layouts[0].to_ir(x), xin.dtype)
    np.testing.assert_array_equal(proj.reference(proj.input_layouts[0].from_ir(q)), ref)


def test_int8_output_tracks_the_float_model():
    model, calib, proj = _project()
    with torch.no_grad():
        want = model(torch.from_numpy(calib)).numpy()
    got = proj.dequantize(proj.reference(calib))
    err = np.abs(got - want).max()
    assert err < 0.1 * np.abs(want).max(), err


def test_report_has_the_promised_keys():
    _, _, proj = _project()
    rep = proj.report()
    for k in ("weight_bytes", "arena_bytes", "arena_lower_bound", "macs", "layers"):
        assert k in rep
    kinds = [r["op"] for r in rep["layers"]]
    assert kinds[0] == "conv2d" and "batchnorm" not in " ".join(kinds)
    assert rep["macs"] == 10 * 10 * 6 * 2 * 9 + 150 * 4
    assert rep["weight_bytes"] == (6 * 18 + 4 * 150) + 4 * (6 + 4)
    assert rep["arena_lower_bound"] <= rep["arena_bytes"]


def test_written_sources_compile_standalone_and_are_deterministic(tmp_path):
    _, _, proj = _project("net")
    files = proj.write(tmp_path / "a")
    names = sorted(p.name for p in files)
    assert {"net.h", "net.c", "net_weights.c", "ff_fixed.h"} <= set(names)
    _, _, again = _project("net")
    again.write(tmp_path / "b")
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    c_files = [str(p) for p in (tmp_path / "a").glob("*.c")]
    r = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c",
                        *c_files], cwd=tmp_path / "a", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "a" / "net.c").read_text()
    assert "malloc" not in text and "ff_conv2d_s8" in text


class _ReferenceBackend:
    """A backend written outside targets/c: its "generated code" is the graph's text and its
    host build runs the integer reference with one element deliberately wrong when asked, so
    ``verify`` can be seen to catch it. Nothing in the converter knows it."""

    name = "reference-echo"

    def __init__(self, flip: bool = False) -> None:
        self.flip = flip

    def generate(self, graph, name):
        from types import SimpleNamespace

        return SimpleNamespace(prefix=name, files={f"{name}.txt": repr(graph)}, graph=graph)

    def write(self, generated, out_dir):
        from pathlib import Path

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for fname, text in generated.files.items():
            (out / fname).write_text(text)
            paths.append(out / fname)
        return paths

    def build_host(self, generated, graph):
        from firmforge.converter import reference

        flip = self.flip

        class Runner:
            def run(self, *xs):
                outs, _ = reference.run(graph, list(xs))
                if flip:
                    outs[0] = outs[0].copy()
                    outs[0].flat[3] ^= 1
                return outs

            def reset(self):
                pass

        return Runner()

    def verify(self, runner, inputs, expected):
        from firmforge.targets.backend import first_mismatch

        runner.reset()
        return first_mismatch(runner.run(*inputs), expected)


def test_a_second_backend_plugs_in_through_the_interface(tmp_path):
    _, calib, proj = _project("plug")
    other = proj.using(_ReferenceBackend())
    np.testing.assert_array_equal(other.run_host(calib[:3]), proj.run_host(calib[:3]))
    assert other.verify(calib[:3]) is None and proj.verify(calib[:3]) is None
    written = other.write(tmp_path / "out")
    assert sorted(p.name for p in written) == ["plug.firmforge.npz", "plug.txt"]
    bad = proj.using(_ReferenceBackend(flip=True)).verify(calib[:3])
    assert bad is not None and (bad.output, bad.sample, bad.count) == (0, 0, 1)
    assert "differs at 1 element" in str(bad)
