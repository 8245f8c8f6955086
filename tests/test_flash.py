"""Flashing real boards: the exact command lines, and what happens when a tool runs or fails.

The expected command lines are written out by hand from each flasher's documentation (avrdude,
st-flash, openocd, nrfjprog, picotool), not produced by the code under test. Fake flasher
scripts put first on PATH record the arguments they receive, so ``flash()`` is checked to
really execute the tool with them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from firmforge.targets.board.flash import (
    EmulatedBoardError,
    FlasherMissingError,
    FlashError,
    FlashToolError,
    ImageMissingError,
    flash,
    flash_command,
    images_needed,
)
from firmforge.targets.board.spec import all_boards, load_board

# {d} is the project directory; every image path is absolute.
EXPECTED = {
    "arduino-uno": ["avrdude", "-c", "arduino", "-p", "m328p", "-P", "/dev/ttyACM0", "-b",
                    "115200", "-U", "flash:w:{d}/firmware.hex:i"],
    "nucleo-f446re": ["st-flash", "--reset", "write", "{d}/firmware.bin", "0x08000000"],
    "nucleo-l4r5zi": ["openocd", "-f", "board/st_nucleo_l4.cfg", "-c",
                      "program {{d}/firmware.elf} verify reset exit"],
    "stm32f746g-disco": ["openocd", "-f", "board/stm32f746g-disco.cfg", "-c",
                         "program {{d}/firmware.elf} verify reset exit"],
    "nrf52840-dk": ["nrfjprog", "--program", "{d}/firmware.hex", "--chiperase", "--verify",
                    "--reset"],
    "rpi-pico": ["picotool", "load", "-x", "{d}/firmware.elf"],
    "hifive1-revb": ["openocd", "-f", "board/sifive-hifive1-revb.cfg", "-c",
                     "program {{d}/firmware.elf} verify; resume 0x20010000; exit"],
}
IMAGES = {"arduino-uno": "hex", "nucleo-f446re": "bin", "nucleo-l4r5zi": "elf",
          "stm32f746g-disco": "elf", "nrf52840-dk": "hex", "rpi-pico": "elf",
          "hifive1-revb": "elf"}
PACKAGES = {"avrdude": "avrdude", "st-flash": "stlink-tools", "openocd": "openocd"}


def expected(name: str, d: Path) -> list[str]:
    return [a.replace("{d}", str(d)) for a in EXPECTED[name]]


def fake_tool(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(exist_ok=True)
    p = bin_dir / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


def built_project(d: Path) -> Path:
    d.mkdir()
    for kind in ("elf", "hex", "bin"):
        (d / f"firmware.{kind}").write_bytes(b"\x7fimage")
    return d


def test_every_board_with_a_flasher_is_listed_here():
    assert sorted(b.name for b in all_boards() if b.flasher is not None) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dry_run_commands_are_exact(name, tmp_path):
    board = load_board(name)
    assert flash_command(board, tmp_path) == expected(name, tmp_path)
    # a dry run needs neither the tool nor the images, and returns the same command
    assert flash(board, tmp_path, dry_run=True) == expected(name, tmp_path)
    assert images_needed(board) == [IMAGES[name]]
    pkg = board.flasher.package
    assert pkg == PACKAGES.get(board.flasher.tool, ""), name
    if not pkg:  # not packaged in Debian: the board says where the tool comes from
        assert board.flasher.tool in board.description


def test_relative_project_dir_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cmd = flash_command(load_board("rpi-pico"), Path("proj"))
    assert cmd == ["picotool", "load", "-x", str(tmp_path / "proj" / "firmware.elf")]


def test_tcl_braces_keep_a_path_with_spaces_in_one_word(tmp_path):
    d = tmp_path / "my project"
    cmd = flash_command(load_board("nucleo-l4r5zi"), d)
    assert cmd[-1] == f"program {{{d}/firmware.elf}} verify reset exit"


def test_port_default_and_override(tmp_path):
    uno = load_board("arduino-uno")
    assert flash_command(uno, tmp_path)[6] == "/dev/ttyACM0"
    want = expected("arduino-uno", tmp_path)
    want[6] = "/dev/ttyUSB3"
    assert flash_command(uno, tmp_path, port="/dev/ttyUSB3") == want
    with pytest.raises(FlashError, match=r"takes no serial port"):
        flash_command(load_board("nucleo-f446re"), tmp_path, port="/dev/ttyACM0")


def _board_file(tmp_path: Path, args: str, package: str = "") -> Path:
    p = tmp_path / "myboard.toml"
    p.write_text(f"""description = "test board"
family = "cortex-m"
core = "cortex-m4"
clock_hz = 1_000_000
[toolchain]
prefix = "arm-none-eabi-"
[memory]
flash = {{ origin = 0, size = 4096 }}
ram = {{ origin = 0x20000000, size = 4096 }}
stack = 1024
[flasher]
tool = "ff-fake-flasher"
args = {args}
package = "{package}"
""")
    return p


def test_port_without_default_is_required(tmp_path):
    board = load_board(_board_file(tmp_path, '["--port={port}", "{hex}"]'))
    with pytest.raises(FlashError, match=r"needs the serial port .*--port"):
        flash_command(board, tmp_path)
    assert flash_command(board, tmp_path / "p", port="COM3") == [
        "ff-fake-flasher", "--port=COM3", str(tmp_path / "p" / "firmware.hex")]


def test_unknown_placeholder_names_the_board_file(tmp_path):
    board = load_board(_board_file(tmp_path, '["{hexx}"]'))
    with pytest.raises(FlashError) as e:
        flash_command(board, tmp_path)
    assert "{hexx}" in str(e.value) and str(board.path) in str(e.value)
    board = load_board(_board_file(tmp_path, '["{elf:x.elf}"]'))
    with pytest.raises(FlashError, match=r"takes no default"):
        flash_command(board, tmp_path)


def test_emulated_boards_are_not_flashed(tmp_path):
    emulated = [b for b in all_boards() if b.emulator is not None]
    assert emulated
    for b in emulated:
        for dry_run in (False, True):
            with pytest.raises(EmulatedBoardError) as e:
                flash(b, tmp_path, dry_run=dry_run)
            assert str(e.value) == f"{b.name} is emulated: use `firmforge run`"
        with pytest.raises(EmulatedBoardError):
            flash_command(b, tmp_path)
    with pytest.raises(EmulatedBoardError, match=r"qemu-mps2-an386 is emulated: use `firmforge"):
        flash(load_board("qemu-mps2-an386"), tmp_path)


@pytest.mark.parametrize("name", ["nucleo-f446re", "arduino-uno", "nrf52840-dk", "rpi-pico"])
def test_missing_tool_names_its_package_or_source(name, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    board = load_board(name)
    with pytest.raises(FlasherMissingError) as e:
        flash(board, built_project(tmp_path / "p"))
    msg = str(e.value)
    assert board.flasher.tool in msg and name in msg
    if board.flasher.package:
        assert f"apt-get install {board.flasher.package}" in msg
    else:
        assert "Debian has no package" in msg
        assert {"nrf52840-dk": "nRF Command Line Tools",
                "rpi-pico": "github.com/raspberrypi/picotool"}[name] in msg


def test_fake_flasher_runs_with_the_exact_arguments(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    log = tmp_path / "args.log"
    # one argument per line, as the tool received it
    for tool in ("avrdude", "st-flash", "openocd", "nrfjprog", "picotool"):
        fake_tool(bin_dir, tool, f'printf "%s\\n" "$0" "$@" > "{log}"\necho flashed\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    d = built_project(tmp_path / "my proj")
    for name in sorted(EXPECTED):
        log.unlink(missing_ok=True)
        ran = flash(load_board(name), d)
        want = expected(name, d.resolve())
        assert ran == want
        got = log.read_text().splitlines()
        assert Path(got[0]).name == want[0] and got[1:] == want[1:], name


def test_missing_image_says_build_first(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "st-flash", f'touch "{tmp_path}/ran"\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    d = tmp_path / "p"
    d.mkdir()
    (d / "firmware.elf").write_bytes(b"")  # only the .elf: st-flash needs the .bin
    with pytest.raises(ImageMissingError) as e:
        flash(load_board("nucleo-f446re"), d)
    assert str(d / "firmware.bin") in str(e.value) and "build the project first" in str(e.value)
    assert not (tmp_path / "ran").exists()


def test_failing_flasher_reports_its_output(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "st-flash", 'echo "st-flash 1.7.0"\n'
                                   'echo "ERROR: Couldn\'t find any ST-Link devices" >&2\nexit 3\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(FlashToolError) as e:
        flash(load_board("nucleo-f446re"), built_project(tmp_path / "p"))
    msg = str(e.value)
    assert "exit status 3" in msg
    assert "st-flash 1.7.0" in msg and "Couldn't find any ST-Link devices" in msg
    assert "st-flash --reset write" in msg


def test_hanging_flasher_times_out_with_its_output(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "picotool", 'echo "Loading into RAM"\nsleep 30\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(FlashToolError) as e:
        flash(load_board("rpi-pico"), built_project(tmp_path / "p"), timeout=0.5)
    assert "did not finish within 0.5 s" in str(e.value) and "Loading into RAM" in str(e.value)
