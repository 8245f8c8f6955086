"""Per-layer instruction profiles from the emulators (``proj.build(..., profile=True)``,
``firmforge run --profile``): one row per layer in the order they run, adding up to the whole
inference exactly; the default build carries no marks at all."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.targets.board.where import symbols
from firmforge.targets.c.writer import PROFILE_MARK, generate


class Net(nn.Module):
    """1x8x8 -> conv 3x3 (4 ch) + ReLU -> max-pool -> dense 10: small enough for the AVR."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(5)
    x = np.random.default_rng(5).standard_normal((32, 1, 8, 8)).astype(np.float32)
    return convert(Net().eval(), calibration=x, name="net", progress=False), x[:2]


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-riscv32-virt", "simavr-atmega328p"])
def test_profile_adds_up_to_the_inference(net, board, tmp_path):
    proj, x = net
    fw = proj.build(board, tmp_path / "profile", x, profile=True)
    res = fw.run()
    assert res.equal
    p = res.profile
    assert [(lay.name, lay.op) for lay in p.layers] == [(n.name, n.kind) for n in proj.graph.nodes]
    assert sum(lay.count for lay in p.layers) + p.tail == p.total == res.counts[0]
    assert p.unit == res.unit == ("cycles" if board.startswith("simavr") else "instructions")
    for lay, node in zip(p.layers, proj.graph.nodes, strict=True):
        assert lay.macs == node.macs()
        assert lay.count > 0 and (lay.macs == 0 or lay.count > lay.macs)  # an instruction per MAC
    conv, fc = p.layers[0], p.layers[-1]
    assert conv.macs == 8 * 8 * 4 * 9 and fc.macs == 64 * 10
    # the marks cost a call and a return each (and the GPIOR0 write on AVR: 10 cycles); the
    # plain build runs the same kernels
    plain = proj.build(board, tmp_path / "plain", x).run()
    assert plain.profile is None and plain.equal
    assert 0 < p.total - plain.counts[0] <= 12 * len(p.layers)
    text = p.format()
    assert text.index(conv.name) < text.index(fc.name) and f"{p.total:,}" in text


def test_default_build_has_no_marks(net, tmp_path):
    """The profile build is the default build plus one mark call per layer; the default
    firmware links no layer mark at all."""
    proj, x = net
    plain, prof = generate(proj.graph, "net"), generate(proj.graph, "net", profile=True)
    assert plain.files["net.c"] == proj.sources().files["net.c"]
    assert "ff_platform_mark_layer" not in plain.files["net.c"]
    lines = prof.files["net.c"].splitlines()
    assert lines.count(PROFILE_MARK) == len(proj.graph.nodes)
    decl = lines.index("void ff_platform_mark_layer(void);")
    kept = [ln for i, ln in enumerate(lines) if ln != PROFILE_MARK and not decl - 1 <= i <= decl + 1]
    assert kept == plain.files["net.c"].splitlines()
    assert {k: v for k, v in prof.files.items() if k != "net.c"} == \
        {k: v for k, v in plain.files.items() if k != "net.c"}
    fw = proj.build("qemu-mps2-an386", tmp_path / "fw", x)
    assert "ff_platform_mark_layer" not in {s.name for s in symbols(fw.board, fw.elf)}


def test_cli_run_profile_prints_the_table(net, tmp_path):
    proj, _ = net
    proj.write(tmp_path / "out")
    r = subprocess.run([sys.executable, "-m", "firmforge.converter.cli", "run", "out", "--board",
                        "qemu-mps2-an386", "--count", "1", "--profile"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "1/1 inferences equal the reference" in out and "stack:" in out and "code " in out
    rows = out[out.index("per layer"):].splitlines()
    names = [n.name for n in proj.graph.nodes]
    order = [next(i for i, row in enumerate(rows) if row.startswith(name)) for name in names]
    assert order == sorted(order)  # in the order the layers run
    total = next(row for row in rows if row.startswith("total"))
    insns = int(out.split("instructions per inference: ")[1].split()[0].replace(",", ""))
    assert f"{insns:,}" in total  # the table's total is the whole inference
