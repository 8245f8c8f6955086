"""Design-space sweeps on Ray (``converter/sweeps.py``, ``firmforge sweep``): every configuration
measured as ``convert`` alone would, a failing one recorded while the others carry on, records
cached by configuration, the same results from a local Ray and from a separate Ray head through
its address, and clear errors for bad grids and unreachable clusters."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from firmforge.converter import SweepError, convert, pareto, sweep, write_results
from firmforge.converter.cli import main

ray = pytest.importorskip("ray", reason="ray is a dependency: `make venv` installs it")

GRID = {"weight_bits": [8, 4], "sparsity": [0.0, 0.5], "clusters": [300]}  # 300: too many
BOARD = "qemu-mps2-an386"


@pytest.fixture(scope="module")
def problem():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 3)).eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 12)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    return net, x, y


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grid_without_clusters():
    return {k: v for k, v in GRID.items() if k != "clusters"}


@pytest.fixture(scope="module")
def local_records(problem, tmp_path_factory):
    net, x, y = problem
    # "local": a Ray of the test's own, even when another `ray start` runs on the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cache = tmp_path_factory.mktemp("cache")
        good = sweep(net, _grid_without_clusters(), (x, y), calibration=x[:40], cache=cache,
                     progress=False)
        files = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}
        more = sweep(net, GRID | {"clusters": [None, 300]}, (x, y), calibration=x[:40],
                     cache=cache, progress=False)
        after = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}
        on_boards = sweep(net, {"board": [BOARD, "qemu-nowhere"]}, (x[:8], y[:8]),
                          calibration=x[:40], cache=tmp_path_factory.mktemp("cache"),
                          progress=False)
    finally:
        ray.shutdown()
    return good, more, files, after, on_boards


def test_local_sweep_measures_like_convert(problem, local_records):
    net, x, y = problem
    good, *_ = local_records
    assert [r["config"] for r in good] == [{"weight_bits": b, "sparsity": s}
                                           for b in (8, 4) for s in (0.0, 0.5)]
    for r in good:
        assert r["error"] is None
        proj = convert(net, calibration=x[:40], progress=False, **r["config"])
        acc = float((np.asarray(proj.reference(x)).argmax(1) == y).mean())
        assert (r["accuracy"], r["weight_bytes"], r["arena_bytes"]) == \
            (acc, proj.report()["weight_bytes"], proj.report()["arena_bytes"])
        assert r["instructions"] is None
    sizes = {tuple(r["config"].values()): r["weight_bytes"] for r in good}
    assert sizes[(4, 0.0)] < sizes[(8, 0.0)]
    front = pareto(good)
    assert front and all(a["weight_bytes"] < b["weight_bytes"] and a["accuracy"] < b["accuracy"]
                         for a, b in itertools.pairwise(front))


def test_failed_configuration_is_recorded_and_cache_reused(local_records):
    good, more, before, after, _ = local_records
    assert len(more) == 8
    failed = [r for r in more if r["error"] is not None]
    assert [r["config"]["clusters"] for r in failed] == [300] * 4
    assert all("300" in r["error"] for r in failed)
    same = [r for r in more if r["config"]["clusters"] is None]
    assert [r["accuracy"] for r in same] == [r["accuracy"] for r in good]
    # the four configurations of the first run were read back, not measured again
    assert all(after[name] == t for name, t in before.items()) and len(after) == 4 + 8


def test_board_instructions_and_a_failing_board(problem, local_records, tmp_path):
    net, x, _ = problem
    *_, on_boards = local_records
    ok, bad = on_boards
    assert ok["error"] is None and bad["error"] is not None and "qemu-nowhere" in bad["error"]
    fw = convert(net, calibration=x[:40], progress=False).build(BOARD, tmp_path, x[:1])
    assert ok["instructions"] == fw.run().instructions > 0 and ok["cycles"] is None
    assert pareto(on_boards, "instructions") == [ok]


def _head_processes(temp_dir: str) -> list[int]:
    """The pids of the processes of the Ray head whose session lives in ``temp_dir``."""
    pids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and temp_dir.encode() in (d / "cmdline").read_bytes():
                pids.append(int(d.name))
        except OSError:
            pass
    return pids


def test_sweep_through_a_separate_ray_head(problem, local_records, tmp_path):
    """A head of its own (its own port and temp dir, `ray start --block` in a new session),
    stopped by signalling that `ray start`: `ray stop` would stop every Ray on the machine."""
    net, x, y = problem
    good, *_ = local_records
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray-sweep-")  # short: Ray's unix sockets live there
    ray_cli = str(Path(sys.executable).parent / "ray")
    head = subprocess.Popen([ray_cli, "start", "--head", "--block", f"--port={port}",
                             "--num-cpus=2", f"--temp-dir={temp_dir}", "--include-dashboard=false",
                             "--disable-usage-stats"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "ray start failed"
                time.sleep(0.5)
        got = sweep(net, _grid_without_clusters(), (x, y), calibration=x[:40],
                    address=f"127.0.0.1:{port}", cache=tmp_path, progress=False)
    finally:
        ray.shutdown()
        os.kill(head.pid, signal.SIGTERM)  # `ray start --block` then stops what it started
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
    assert got == good
    deadline = time.monotonic() + 20
    while _head_processes(temp_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _head_processes(temp_dir) == []
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_bad_grids_and_addresses_are_clear_errors(problem, tmp_path):
    net, x, y = problem
    with pytest.raises(SweepError, match="did you mean 'weight_bits'"):
        sweep(net, {"weight_bit": [8]}, (x, y), calibration=x, cache=tmp_path)
    with pytest.raises(SweepError, match="the grid is empty"):
        sweep(net, {}, (x, y), calibration=x, cache=tmp_path)
    with pytest.raises(SweepError, match="non-empty list"):
        sweep(net, {"sparsity": []}, (x, y), calibration=x, cache=tmp_path)
    port = _free_port()
    with pytest.raises(SweepError, match=f"cannot reach the Ray cluster at ray://127.0.0.1:{port}"):
        sweep(net, {"weight_bits": [8]}, (x, y), calibration=x, cache=tmp_path,
              address=f"ray://127.0.0.1:{port}")


def test_results_files_and_cli_errors(local_records, problem, tmp_path):
    _, more, *_ = local_records
    files = write_results(more, tmp_path / "out")
    assert [f.name for f in files] == ["results.json", "results.csv", "pareto.png", "index.html"]
    assert json.loads(files[0].read_text()) == more
    assert files[1].read_text().count("\n") == 1 + len(more)
    assert files[2].read_bytes()[:4] == b"\x89PNG"
    page = files[3].read_text()
    error_type = next(r["error"] for r in more if r["error"]).split(":")[0]
    assert page.count('<tr class="front">') == len(pareto(more)) and error_type in page
    net, x, _ = problem
    torch.save(net, tmp_path / "net.pt")
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "grid.toml").write_text("weight_bitz = [8, 4]\n")
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "net.pt"), "--grid",
                                    str(tmp_path / "grid.toml"), "--calib", str(tmp_path / "x.npy"),
                                    "-o", str(tmp_path / "o")])
    assert res.exit_code != 0 and "did you mean 'weight_bits'" in res.output
    (tmp_path / "grid.toml").write_text("weight_bits = [8, 4]\n")
    port = _free_port()
    res = CliRunner().invoke(main, ["sweep", str(tmp_path / "net.pt"), "--grid",
                                    str(tmp_path / "grid.toml"), "--calib", str(tmp_path / "x.npy"),
                                    "--address", f"127.0.0.1:{port}", "-o", str(tmp_path / "o")])
    assert res.exit_code != 0 and f"cannot reach the Ray cluster at 127.0.0.1:{port}" in res.output
    assert not ray.is_initialized()
