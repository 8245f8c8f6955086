"""Mixed precision under a flash budget: the integer program's plan fits and is optimal
(brute force over every assignment), an impossible budget says by how much, and the converted
project of a plan runs on the host exactly as its reference."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.compress.budget import BudgetError, LayerChoice, parse_size, solve
from firmforge.converter.convert import ConversionError
from firmforge.converter.ir import DType

CANDS = (DType.s8, DType.s4, DType.b1)  # three stand-in choices per layer


def _table(seed: int, layers: int) -> list[LayerChoice]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(layers):
        saved = np.sort(rng.integers(10, 400, len(CANDS) - 1))
        loss = np.sort(rng.uniform(0, 1, len(CANDS) - 1))
        out.append(LayerChoice(f"l{i}", CANDS[0], 0, 0.0))
        out += [LayerChoice(f"l{i}", d, -int(s), float(e))
                for d, s, e in zip(CANDS[1:], saved, loss, strict=True)]
    return out


@pytest.mark.parametrize("seed", range(12))
def test_plan_is_optimal_by_brute_force(seed):
    layers = [f"l{i}" for i in range(4)]
    table = _table(seed, len(layers))
    base = 2000
    smallest = base + sum(min(c.bytes for c in table if c.name == n) for n in layers)
    budget = int(np.random.default_rng(seed + 100).integers(smallest, base + 1))
    plan = solve(layers, budget, base, table)
    best = None
    for combo in itertools.product(*[[c for c in table if c.name == n] for n in layers]):
        size = base + sum(c.bytes for c in combo)
        loss = sum(c.loss for c in combo)
        if size <= budget and (best is None or loss < best - 1e-12):
            best = loss
    assert plan.predicted_bytes <= budget
    assert plan.predicted_loss == pytest.approx(best, abs=1e-9)
    assert set(plan.plan) == set(layers)
    assert "budget" in plan.format()


def test_infeasible_budget_says_by_how_much():
    layers = ["a", "b"]
    table = [LayerChoice("a", DType.s8, 0, 0), LayerChoice("a", DType.s4, -100, 1.0),
             LayerChoice("b", DType.s8, 0, 0), LayerChoice("b", DType.s4, -300, 1.0)]
    with pytest.raises(BudgetError, match=r"budget 500 B cannot be met: .* takes 600 B, "
                                          r"100 B over"):
        solve(layers, 500, 1000, table)


def test_parse_size():
    assert parse_size("20KB") == 20_000
    assert parse_size("16KiB") == 16_384
    assert parse_size(1234) == 1234
    assert parse_size("1.5K") == 1500
    with pytest.raises(ValueError, match="cannot read"):
        parse_size("lots")


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 10)).eval()
    x = np.random.default_rng(0).standard_normal((128, 32)).astype(np.float32)
    return model, x


def test_convert_under_a_budget_fits_and_runs_exactly(mlp):
    model, x = mlp
    c8 = convert(model, calibration=x, progress=False).sources().const_bytes
    c4 = convert(model, calibration=x, weight_dtype=DType.s4,
                 progress=False).sources().const_bytes
    budget = (c8 + c4) // 2
    proj = convert(model, calibration=x, flash_budget=budget, progress=False)
    plan = proj.budget_plan
    assert proj.sources().const_bytes == plan.predicted_bytes <= budget
    dtypes = {n.name: n.inputs[1].dtype for n in proj.graph.nodes if n.weight_axis is not None}
    assert dtypes == plan.plan
    assert DType.s4 in dtypes.values() and DType.s8 in dtypes.values()
    assert np.array_equal(proj.run_host(x[:8]), proj.reference(x[:8]))
    with pytest.raises(ConversionError, match=r"budget 1,000 B cannot be met") as err:
        convert(model, calibration=x, flash_budget=1000, progress=False)
    smallest = int(re.search(r"takes ([\d,]+) B", str(err.value))[1].replace(",", ""))
    assert smallest <= c4  # all int4 (or fewer bits, where the quantizer has them)
    assert f"{smallest - 1000:,} B over" in str(err.value)
    big = convert(model, calibration=x, flash_budget="1MB", progress=False)
    assert set(big.budget_plan.plan.values()) == {DType.s8}


def test_cli_flash_budget_and_analyze_columns(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from firmforge.converter.cli import main

    monkeypatch.chdir(tmp_path)
    np.save("calib.npy", np.random.default_rng(0).random((32, 1, 28, 28), dtype=np.float32))
    r = CliRunner().invoke(main, ["analyze", "examples.mnist:MnistCNN", "--calib", "calib.npy",
                                  "--flash-budget", "7KB", "--bias-correction"])
    assert r.exit_code == 0, r.output
    assert "budget 7,000 B: plan" in r.output  # the plan's table
    for col in ("format", "bits", "sparsity", "float B", "SQNR dB"):
        assert col in r.output
    r = CliRunner().invoke(main, ["analyze", "examples.mnist:MnistCNN", "--calib", "calib.npy",
                                  "--flash-budget", "1KB", "--no-progress"])
    assert r.exit_code == 2 and "cannot be met" in r.output


def test_budget_from_a_board_file_and_conflicting_options(mlp):
    model, x = mlp
    proj = convert(model, calibration=x, board="arduino-uno", progress=False)
    assert proj.budget_plan.budget == 0x7E00  # the board file's flash: 32 KB less Optiboot
    assert set(proj.budget_plan.plan.values()) == {DType.s8}  # int8 fits: nothing to lose
    with pytest.raises(ConversionError, match="not both"):
        convert(model, calibration=x, board="arduino-uno", flash_budget=9000, progress=False)
    with pytest.raises(ConversionError, match="not both"):
        convert(model, calibration=x, weight_dtype=DType.s4, flash_budget=9000, progress=False)
    with pytest.raises(ConversionError, match="cannot read"):
        convert(model, calibration=x, flash_budget="lots", progress=False)
