"""``firmforge monitor``: a board's results read from its serial port, compared with the
reference. Without hardware: QEMU's STM32F405 (qemu-netduinoplus2) writes its USART to a
pseudo-terminal (``-serial pty``), started paused until the monitor has the port open; and a
pty of the test's own for what a real port can do wrong (noise, a vanished device)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from firmforge.converter import convert
from firmforge.converter.cli import main
from firmforge.targets.board.monitor import MonitorError, SerialPort
from firmforge.targets.board.spec import boards_dir

BOARD = "netduino-uart"  # qemu-netduinoplus2 as a real board: it prints ff:exit and sleeps


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 6)).eval()
    x = np.random.default_rng(0).standard_normal((32, 20)).astype(np.float32)
    out = tmp_path_factory.mktemp("out")
    convert(net, calibration=x, progress=False).write(out)
    # A semihosting exit would end QEMU, and the pty's hangup flush the last lines before the
    # monitor reads them; a real board stays up, and so does this one.
    text = (boards_dir() / "qemu-netduinoplus2.toml").read_text()
    board = out.parent / f"{BOARD}.toml"
    text = text.replace("FF_EXIT_SEMIHOSTING = 1", "FF_EXIT_SPIN = 1")
    board.write_text(text.replace('stack = "auto"', "stack = 4096"))  # (sized without a run)
    res = CliRunner().invoke(main, ["build", str(out), "--board", str(board)])
    assert res.exit_code == 0, res.output
    return out, board


def _qmp(sock: Path, command: str) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sock))
        f = s.makefile("rw")
        f.readline()
        for cmd in ({"execute": "qmp_capabilities"}, {"execute": command}):
            f.write(json.dumps(cmd) + "\n")
            f.flush()
            while "return" not in (msg := json.loads(f.readline())) and "error" not in msg:
                pass


def _holds_open(pid: int, path: str) -> bool:
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd_dir / fd) == path for fd in os.listdir(fd_dir))
    except OSError:
        return False


def test_monitor_reads_qemu_through_a_pty(built, tmp_path):
    out, board = built
    elf = out / BOARD / "firmware.elf"
    sock = tmp_path / "qmp.sock"
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", "netduinoplus2", "-display", "none", "-monitor", "none",
         "-serial", "pty", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf),
         "-S", "-qmp", f"unix:{sock},server=on,wait=off"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = qemu.stdout.readline()
        m = re.search(r"(/dev/pts/\d+)", line)
        assert m, line
        pts = m.group(1)
        mon = subprocess.Popen([sys.executable, "-m", "firmforge.converter.cli", "monitor",
                                str(out), "--board", str(board), "--port", pts, "--timeout",
                                "30"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        t0 = time.monotonic()
        while not _holds_open(mon.pid, pts):  # start the SoC only once the port is open
            assert mon.poll() is None and time.monotonic() - t0 < 30, mon.stdout.read()
            time.sleep(0.05)
        _qmp(sock, "cont")
        text, _ = mon.communicate(timeout=60)
    finally:
        qemu.kill()
        qemu.wait()
    assert mon.returncode == 0, text
    assert f"{BOARD} on {pts}: 4 inputs, outputs equal to the reference: True" in text


def test_monitor_errors_are_clear(built, tmp_path):
    out, board = built
    res = CliRunner().invoke(main, ["monitor", str(out), "--board", str(board), "--port",
                                    "/dev/ttyNOPE9"])
    assert res.exit_code != 0
    assert "cannot open serial port /dev/ttyNOPE9" in res.output
    assert "plugged in" in res.output and "Serial ports here" in res.output

    master, slave = os.openpty()
    name = os.ttyname(slave)
    with SerialPort(name) as port:  # noise where the protocol should be: a wrong baud rate
        os.write(master, b"ff:out 0 1 2 3\n\x1b\x8fz\xf0\x0fq\n")
        with pytest.raises(MonitorError, match="wrong baud rate"):
            port.read(5)
    with SerialPort(name) as port:
        os.write(master, b"ff:out 0 1 2\nhello there\n")
        with pytest.raises(MonitorError, match="not the firmware's protocol: 'hello there'"):
            port.read(5)
    with SerialPort(name) as port:  # a board that says nothing
        with pytest.raises(MonitorError, match=r"no complete result within 0\.5 s"):
            port.read(0.5)
    port = SerialPort(name)
    os.write(master, b"ff:out 0 1 2\n")
    threading.Timer(0.3, lambda: (os.close(master), os.close(slave))).start()
    with pytest.raises(MonitorError, match="went away while reading"):  # unplugged
        port.read(5)
    port.close()

    res = CliRunner().invoke(main, ["monitor", str(tmp_path), "--board", str(board), "--port",
                                    name])
    assert res.exit_code != 0 and "holds no converted model" in res.output
