"""The HTML report (``proj.report_html``, ``firmforge report``): its numbers come from the
project and the emulator run, its figures render in a real browser (Chromium, driven by
Playwright) with no errors logged, and its files appear whole or not at all."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from firmforge.converter import SpikingOptions, convert
from firmforge.converter.cli import main
from firmforge.converter.ir import DType

BOARD = "qemu-mps2-an386"
CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by `make toolchains`


class Net(nn.Module):
    """1x12x12 -> conv 3x3 (6) + ReLU -> max-pool -> conv 3x3 (8) + ReLU -> dense 10."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 8, 3)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        return self.fc(torch.flatten(torch.relu(self.c2(x)), 1))


@pytest.fixture(scope="module")
def model_and_data():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    return Net().eval(), rng.random((64, 1, 12, 12), dtype=np.float32)


@pytest.fixture(scope="module")
def report_dir(model_and_data, tmp_path_factory):
    net, x = model_and_data
    proj = convert(net, calibration=x, progress=False)
    out = tmp_path_factory.mktemp("report")
    fw = proj.build(BOARD, out / "fw", x[:1], profile=True)
    run = fw.run()
    assert run.equal
    page = proj.report_html(out / "report", calibration=x, firmware=fw, run=run)
    return proj, fw, run, page


def test_report_numbers_come_from_the_project_and_the_run(report_dir):
    proj, fw, run, page = report_dir
    data = json.loads((page.parent / "report.json").read_text())
    rep = proj.report()
    s = data["summary"]
    assert (s["weight_bytes"], s["arena_bytes"], s["macs"]) == \
        (rep["weight_bytes"], rep["arena_bytes"], rep["macs"])
    assert (s["flash_bytes"], s["ram_bytes"], s["instructions"]) == \
        (fw.flash_bytes, fw.ram_bytes, run.counts[0])
    layers = data["layers"]
    assert [r["name"] for r in layers] == [n.name for n in proj.graph.nodes]
    assert [r["instructions"] for r in layers] == [p.count for p in run.profile.layers]
    plan = proj.sources().plan
    for r, n in zip(layers, proj.graph.nodes, strict=True):
        b = plan.buffer(n.outputs[0])
        want = f"{b.offset:,}-{b.offset + b.size:,}" if b.storage.value == "arena" \
            else b.storage.value
        assert r["arena_slot"] == want
    assert set(data["figures"]) == {"weights.png", "sqnr.png", "memory.png", "profile.png"}
    for f in data["figures"]:
        assert (page.parent / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_output_sqnr_measures_the_quantization_error(model_and_data, tmp_path):
    """4-bit weights lose about 24 dB of weight SQNR against 8-bit ones, and their outputs are
    worse too: the report's error columns measure the model, not a constant."""
    net, x = model_and_data
    sq = {}
    for bits in (8, 4):
        proj = convert(net, calibration=x, weight_bits=bits, progress=False)
        page = proj.report_html(tmp_path / str(bits), calibration=x)
        sq[bits] = json.loads((page.parent / "report.json").read_text())["layers"]
    for r8, r4 in zip(sq[8], sq[4], strict=True):
        if r8.get("sqnr_db") is not None:
            assert r8["sqnr_db"] - r4["sqnr_db"] > 15
    last8, last4 = sq[8][-1]["output_sqnr_db"], sq[4][-1]["output_sqnr_db"]
    assert 15 < last8 and last4 < last8


def test_every_figure_renders_in_chromium_without_errors(report_dir):
    proj, _, _, page = report_dir
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make venv` installs it (pip, dev extras)")
    if shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is absent: `make toolchains` installs Debian's chromium")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox"])
        tab = browser.new_page()
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(page.as_uri())
        images = tab.evaluate("Array.from(document.images).map(i => "
                              "[i.dataset.file, i.complete, i.naturalWidth, i.naturalHeight])")
        rows = tab.evaluate("document.querySelectorAll('#layers tr').length")
        browser.close()
    assert errors == []
    assert [i[0] for i in images] == ["weights.png", "sqnr.png", "memory.png", "profile.png"]
    assert all(done and w > 100 and h > 100 for _, done, w, h in images), images
    assert rows == 1 + len(proj.graph.nodes)


def test_spiking_report_draws_spikes_per_step(tmp_path):
    from spiking_nets import random_mlp

    net, n_in = random_mlp(3, depth=2)
    rng = np.random.default_rng(0)
    cal = (rng.random((20, 8, n_in)) < 0.4).astype(np.float32)
    proj = convert(net, calibration=cal, steps=20, spiking=SpikingOptions(membrane=DType.s32))
    page = proj.report_html(tmp_path, calibration=cal)
    assert "spikes.png" in json.loads((tmp_path / "report.json").read_text())["figures"]
    assert "Spikes per layer per time step" in page.read_text()


def test_cli_report_from_a_model_and_from_a_converted_directory(model_and_data, tmp_path):
    net, x = model_and_data
    torch.save(net, tmp_path / "net.pt")
    np.save(tmp_path / "cal.npy", x)
    runner = CliRunner()
    res = runner.invoke(main, ["report", str(tmp_path / "net.pt"), "--calib",
                               str(tmp_path / "cal.npy"), "-o", str(tmp_path / "r1"),
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    first = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert first["layers"][0]["output_sqnr_db"] > 20
    res = runner.invoke(main, ["convert", str(tmp_path / "net.pt"), "--calib",
                               str(tmp_path / "cal.npy"), "-o", str(tmp_path / "c"),
                               "--no-progress"])
    assert res.exit_code == 0, res.output
    (tmp_path / "r2").mkdir()
    (tmp_path / "r2" / "notes.txt").write_text("mine")
    res = runner.invoke(main, ["report", str(tmp_path / "c"), "-o", str(tmp_path / "r2")])
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "r2" / "report.json").read_text())
    assert again["summary"] == first["summary"]  # the same model read back
    assert (tmp_path / "r2" / "notes.txt").read_text() == "mine"  # other files are kept
    assert sorted(p.name for p in (tmp_path / "r2").iterdir()) == \
        ["index.html", "memory.png", "notes.txt", "report.json", "weights.png"]


def test_cli_report_refuses_a_real_board_before_writing(model_and_data, tmp_path):
    net, x = model_and_data
    torch.save(net, tmp_path / "net.pt")
    np.save(tmp_path / "cal.npy", x)
    res = CliRunner().invoke(main, ["report", str(tmp_path / "net.pt"), "--calib",
                                    str(tmp_path / "cal.npy"), "--board", "nucleo-f446re",
                                    "-o", str(tmp_path / "r"), "--no-progress"])
    assert res.exit_code != 0 and "emulated" in res.output
    assert not (tmp_path / "r").exists()


def test_quiet_leaves_the_progress_bars_out(model_and_data, tmp_path):
    net, x = model_and_data
    torch.save(net, tmp_path / "net.pt")
    np.save(tmp_path / "cal.npy", x)
    args = ["report", str(tmp_path / "net.pt"), "--calib", str(tmp_path / "cal.npy"),
            "-o", str(tmp_path / "r")]
    loud = CliRunner().invoke(main, args)
    hushed = CliRunner().invoke(main, ["--quiet", *args])
    assert loud.exit_code == 0 and hushed.exit_code == 0, loud.output + hushed.output
    assert "calibrate" in loud.output and "calibrate" not in hushed.output
    assert hushed.output.strip() == f"wrote {tmp_path / 'r' / 'index.html'}"
