"""Converted models on boards: firmware built with the real cross compilers, run in QEMU and
simavr, outputs equal to the reference byte for byte, counts reported and repeatable."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.targets.board.build import FitError, ToolchainMissingError
from firmforge.targets.board.emulate import EmulatorTimeout
from firmforge.targets.board.project import project_files
from firmforge.targets.board.spec import BoardError, load_board


@pytest.fixture(scope="module")
def mnist():
    from conftest import shared_dir

    if not (shared_dir() / "data" / "mnist").is_dir():
        pytest.skip(f"MNIST lives in {shared_dir()}/data/mnist, which is absent on this machine")
    from examples.mnist import MnistCNN, load_split, train

    x_tr, y_tr, x_te, _ = load_split(shared_dir())
    model = train(MnistCNN(), x_tr, y_tr, epochs=2)
    return convert(model, calibration=x_tr[:300], name="mnist", progress=False), x_te[:8]


def mlp() -> tuple[nn.Module, np.ndarray]:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 8)).eval()
    return model, np.random.default_rng(3).standard_normal((64, 16)).astype(np.float32)


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-mps2-an505", "qemu-riscv32-virt"])
def test_mnist_on_emulated_boards_equals_reference(mnist, board, tmp_path):
    proj, x = mnist
    fw = proj.build(board, tmp_path, x)
    b = fw.board
    assert 0 < fw.flash_bytes <= b.flash.size and 0 < fw.ram_bytes <= b.ram.size
    assert fw.flash_bytes >= fw.const_bytes + x.size
    res = fw.run(x)
    np.testing.assert_array_equal(res.outputs, proj.reference(x))
    assert res.unit == "instructions" and len(res.counts) == len(x)
    macs = proj.report()["macs"]
    assert macs < res.instructions < 100 * macs, res.instructions


def test_instruction_counts_repeat_exactly(mnist, tmp_path):
    proj, x = mnist
    fw = proj.build("qemu-mps2-an386", tmp_path, x[:2])
    assert fw.run(x[:2]).counts == fw.run(x[:2]).counts


def test_mlp_on_atmega328p_with_exact_cycles(tmp_path):
    """simavr's cycle count of an inference is exact: it depends on the input alone, so the
    same input costs the same cycles at any position of any run, to the cycle. (The counter
    itself is pinned to the instruction set's cycle costs in test_emulators.py.)"""
    model, calib = mlp()
    proj = convert(model, calibration=calib, name="mlp", progress=False)
    fw = proj.build("simavr-atmega328p", tmp_path, calib[:3])
    assert fw.flash_bytes <= 32 * 1024 and fw.ram_bytes <= 2 * 1024
    first = fw.run(calib[:3])
    np.testing.assert_array_equal(first.outputs, proj.reference(calib[:3]))
    assert first.unit == "cycles" and first.instructions is None
    assert first.cycles > 16 * 24 + 24 * 8  # at least a cycle per MAC
    order = [2, 0, 0, 1, 2]
    again = fw.run(calib[order])
    np.testing.assert_array_equal(again.outputs, proj.reference(calib[order]))
    assert again.counts == [first.counts[i] for i in order]


def test_generated_projects_are_byte_identical():
    model, calib = mlp()
    board = load_board("qemu-mps2-an386")
    a = convert(model, calibration=calib, name="mlp", progress=False)
    b = convert(model, calibration=calib, name="mlp", progress=False)
    fa = project_files(a.sources(), a.graph, board, [a.prepare_input(calib[:2])[0]])
    fb = project_files(b.sources(), b.graph, board, [b.prepare_input(calib[:2])[0]])
    assert fa == fb and "Makefile" in fa and "link.ld" in fa


def test_project_written_again_rebuilds_only_what_changed(tmp_path):
    """Another model in the same directory recompiles the model and the vectors, not the C
    core; another board recompiles everything (its flags differ), and each runs right."""
    model, calib = mlp()
    a = convert(model, calibration=calib, name="mlp", progress=False)
    torch.manual_seed(4)
    b = convert(nn.Sequential(nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 8)).eval(),
                calibration=calib, name="mlp", progress=False)

    def objects():
        return {p.name: p.stat().st_mtime_ns for p in (tmp_path / "build").glob("*.o")}

    a.build("simavr-atmega328p", tmp_path, calib[:2])
    first = objects()
    fw = b.build("simavr-atmega328p", tmp_path, calib[2:4])
    again = objects()
    assert {n for n in first if again[n] != first[n]} == {"mlp.o", "mlp_weights.o",
                                                          "ff_vectors.o", "main.o"}
    np.testing.assert_array_equal(fw.run().outputs, b.reference(calib[2:4]))
    fw = b.build("qemu-mps2-an385", tmp_path, calib[2:4])
    assert all(objects()[n] != again[n] for n in again)
    np.testing.assert_array_equal(fw.run().outputs, b.reference(calib[2:4]))


def test_unknown_board_suggests_close_names():
    with pytest.raises(BoardError, match="did you mean qemu-mps2-an386"):
        load_board("qemu-mps2-an368")


def test_missing_toolchain_names_the_package(tmp_path):
    src = load_board("qemu-mps2-an386").path.read_text()
    bad = tmp_path / "nocc.toml"
    bad.write_text(src.replace('prefix = "arm-none-eabi-"', 'prefix = "nosuch-none-eabi-"'))
    model, calib = mlp()
    proj = convert(model, calibration=calib, progress=False)
    with pytest.raises(ToolchainMissingError, match="gcc-arm-none-eabi"):
        proj.build(str(bad), tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


def test_too_big_for_the_board_fails_before_compiling(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10)).eval()
    calib = np.random.default_rng(0).standard_normal((16, 200)).astype(np.float32)
    proj = convert(model, calibration=calib, progress=False)
    with pytest.raises(FitError, match=r"flash: needs at least [\d,]+ B .* has 32,768 B"):
        proj.build("simavr-atmega328p", tmp_path / "fw")
    assert not (tmp_path / "fw").exists()


def test_emulator_timeout_leaves_no_process(mnist, tmp_path):
    proj, x = mnist
    fw = proj.build("qemu-mps2-an385", tmp_path, x)
    with pytest.raises(EmulatorTimeout):
        fw.run(np.concatenate([x] * 40), timeout=0.5)
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout


def test_cli_convert_build_run_flash(tmp_path):
    model, calib = mlp()
    torch.save(model, tmp_path / "mlp.pt")
    np.save(tmp_path / "calib.npy", calib)
    ff = [sys.executable, "-m", "firmforge.converter.cli"]

    def run(*args):
        return subprocess.run([*ff, *args], cwd=tmp_path, capture_output=True, text=True)

    assert run("convert", "mlp.pt", "-o", "out", "--calib", "calib.npy", "--no-progress").returncode == 0
    r = run("build", "out", "--board", "qemu-mps2-an386")
    assert r.returncode == 0 and "flash" in r.stdout, r.stderr
    r = run("run", "out", "--board", "qemu-mps2-an386", "--count", "3")
    assert r.returncode == 0, r.stderr
    assert "3/3 inferences equal the reference" in r.stdout and "instructions per inference" in r.stdout
    r = run("boards")
    assert r.returncode == 0 and "qemu-mps2-an386" in r.stdout and "nucleo-f446re" in r.stdout
    r = run("flash", "out", "--board", "qemu-mps2-an386")
    assert r.returncode == 2 and "emulated" in r.stderr
    r = run("build", "out", "--board", "nucleo-f466re")
    assert r.returncode == 2 and "nucleo-f446re" in r.stderr
