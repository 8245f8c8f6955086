"""The HLS target's clear errors (unsupported ops all listed before anything is written, widths
beyond the templates, a missing part or clock, bad options), the `firmforge hls` command and
the FPGA/ASIC board files."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.targets.board.spec import (
    BoardError,
    board_names,
    hls_board_names,
    load_board,
    load_hls_board,
)
from firmforge.targets.hls import widths
from firmforge.targets.hls.errors import HlsError, UnsupportedOpsError, WidthError

from hls_models import PART, mlp

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small():
    return mlp()


def test_unsupported_ops_are_all_listed_and_nothing_is_written(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4), nn.Sigmoid())
    cal = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    proj = convert(model, calibration=cal, progress=False)
    out = tmp_path / "out"
    with pytest.raises(UnsupportedOpsError) as e:
        proj.write_hls(out, part=PART, clock_ns=5)
    assert isinstance(e.value, ValueError)
    msg = str(e.value)
    assert "2 op(s)" in msg and "tanh" in msg and "sigmoid" in msg
    assert len(e.value.problems) == 2
    assert not out.exists()


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"clock_ns": 5}, "part"),
    ({"part": PART}, "clock"),
    ({"part": PART, "clock_ns": 0}, "clock"),
    ({"part": PART, "clock_ns": -3}, "clock"),
    ({"part": "", "clock_ns": 5}, "part"),
    ({"part": PART, "clock_ns": 5, "reuse": 0}, "reuse"),
    ({"part": PART, "clock_ns": 5, "reuse": 1.5}, "reuse"),
    ({"part": PART, "clock_ns": 5, "io": "axi"}, "io"),
    ({"part": PART, "clock_ns": 5, "flavor": "verilog"}, "flavor"),
])
def test_bad_options_are_clear_errors(small, tmp_path, kwargs, words):
    with pytest.raises(HlsError, match=words):
        small.write_hls(tmp_path / "o", **kwargs)
    assert not (tmp_path / "o").exists()


def test_accumulator_beyond_the_templates_is_a_width_error(small, tmp_path, monkeypatch):
    """The templates widen accumulators to 64 bits at most; a layer that needs more is refused
    with the layer and the width named (a lower limit stands in for a 2^48-deep layer)."""
    monkeypatch.setattr(widths, "MAX_BITS", 16)
    with pytest.raises(WidthError, match=r"accumulator needs \d+ bits.*at most 16"):
        small.write_hls(tmp_path / "o", part=PART, clock_ns=5)
    assert not (tmp_path / "o").exists()
    assert widths.signed_bits(-128, 127) == 8 and widths.signed_bits(0, 1) == 2
    assert widths.signed_bits(-(1 << 40), 1 << 40) == 42


def test_per_layer_reuse(small, tmp_path):
    names = [n.name for n in small.graph.nodes]
    hp = small.write_hls(tmp_path / "o", part=PART, clock_ns=5, reuse={names[0]: 8})
    assert [r["reuse"] for r in hp.estimates["layers"]] == [8, 1, 1, 1]
    x = np.random.default_rng(5).standard_normal((10, 16)).astype(np.float32)
    np.testing.assert_array_equal(hp.csim(x), small.reference(x))


def test_hostile_layer_names_never_reach_the_cpp_unsanitised(small, tmp_path):
    """Names from a model file become identifiers and comments: a trailing backslash, a line
    break or a comment end must not change the generated code."""
    proj = replace(small, graph=small.graph.copy(), _sources=None, _host=None)
    for i, (n, bad) in enumerate(zip(proj.graph.nodes, ["fc\\", "a\nb", "x*/y", "1 2"],
                                     strict=True)):
        n.name = bad
        n.outputs[0].name = f"{bad}_{i}"
    hp = proj.write_hls(tmp_path / "o", part=PART, clock_ns=5)
    x = np.random.default_rng(9).standard_normal((8, 16)).astype(np.float32)
    np.testing.assert_array_equal(hp.csim(x), small.reference(x))


def test_hls_boards():
    assert set(hls_board_names()) == {"pynq-z2", "zcu104", "alveo-u250", "asic"}
    assert not set(hls_board_names()) & set(board_names())
    parts = {b: load_hls_board(b).part for b in hls_board_names()}
    assert parts == {"pynq-z2": "xc7z020clg400-1", "zcu104": "xczu7ev-ffvc1156-2-e",
                     "alveo-u250": "xcu250-figd2104-2L-e", "asic": None}
    assert load_hls_board("asic").kind == "asic" and load_hls_board("asic").clock_ns > 0
    with pytest.raises(BoardError, match="HLS"):
        load_board("pynq-z2")
    with pytest.raises(BoardError, match="did you mean pynq-z2"):
        load_hls_board("pynq-z3")


def test_bad_hls_board_file(tmp_path):
    p = tmp_path / "fpga.toml"
    p.write_text('description = "x"\nkind = "fpga"\nclock_ns = 5\n')
    with pytest.raises(BoardError, match="missing key 'part'"):
        load_hls_board(p)
    p.write_text('description = "x"\nkind = "fpga"\npart = "p"\nclock_ns = 5\nclok = 1\n')
    with pytest.raises(BoardError, match="unknown key 'clok'"):
        load_hls_board(p)


def test_board_gives_part_and_clock(small, tmp_path):
    hp = small.write_hls(tmp_path / "z", board="zcu104")
    tcl = (hp.dir / "build_prj.tcl").read_text()
    assert "xczu7ev-ffvc1156-2-e" in tcl and "set clock_ns 5" in tcl


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "firmforge.converter.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_hls(tmp_path):
    (tmp_path / "hlsnet.py").write_text(
        "import torch\nfrom torch import nn\ntorch.manual_seed(0)\n"
        "model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5))\n")
    np.save(tmp_path / "cal.npy",
            np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32))
    common = ["hls", "hlsnet:model", "--calib", "cal.npy", "--no-progress"]
    r = _cli([*common, "--part", PART, "--clock", "5ns", "--reuse", "2", "--io", "stream",
              "-o", "out", "--csim"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "multipliers" in r.stdout and "C simulation equals the reference" in r.stdout
    assert "static const int reuse = 2;" in (tmp_path / "out/src/sequential_config.h").read_text()
    assert "set clock_ns 5" in (tmp_path / "out/build_prj.tcl").read_text()
    r = _cli([*common, "--clock", "200MHz", "-o", "out2"], tmp_path)
    assert r.returncode == 2 and "--part and --clock" in r.stderr
    r = _cli([*common, "--board", "pynq-z2", "-o", "out3"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "set clock_ns 10" in (tmp_path / "out3/build_prj.tcl").read_text()
    r = _cli(["boards"], tmp_path)
    assert r.returncode == 0 and "xczu7ev-ffvc1156-2-e" in r.stdout and "asic" in r.stdout
