"""``firmforge flash OUT --board B [--monitor PORT]`` and ``firmforge monitor OUT --board B
--port /dev/ttyACM0``: put the firmware on a real board, and read its results back.

The board's firmware (``firmforge build OUT --board B``, then ``flash``) prints its outputs on
the serial port (``targets/board/monitor.py``); this reads them, compares them with the
reference of the same test vectors (``OUT/B/ff_vectors.json``, written by the build) and prints
what ``fw.run()`` reports for an emulator: whether the outputs are equal, and with a cycle
counter the cycles and milliseconds (at the board file's clock) of each inference.
``cli.py`` adds both commands (``flash_command(cli)``, ``monitor_command(cli)``); ``flash
--monitor`` opens the port before the flasher resets the board, then reads it the same way.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import click
import numpy as np


def expected(cli: ModuleType, out_dir: str, board) -> tuple[object, list[np.ndarray]]:
    """(the converted project, the firmware's test vectors): checked before any port opens."""
    from ..targets.c.vectors import VECTORS_JSON, read_vectors_json

    proj = cli._load_out(out_dir)
    vec = Path(out_dir) / board.name / VECTORS_JSON
    if not vec.is_file():
        raise cli.CLIError(f"{vec} is missing: build the firmware first "
                           f"(`firmforge build {out_dir} --board {board.name}`)")
    return proj, read_vectors_json(vec.read_text())


def report_serial(cli: ModuleType, proj, xs: list[np.ndarray], board, port, timeout: float
                  ) -> bool:
    """Read ``port`` (an open ``SerialPort``), check the outputs against the reference of
    ``xs``, print the result; whether they are equal (and the firmware exited with 0)."""
    from ..targets.board.monitor import MonitorError
    from ..targets.c.vectors import FirmwareOutputError, parse_outputs
    from .reference import run

    try:
        got = port.read(timeout)
        outs = parse_outputs(got.text, proj.graph, len(xs[0]))
    except (MonitorError, FirmwareOutputError) as e:
        raise cli.CLIError(str(e)) from e
    want, _ = run(proj.graph, xs)
    equal = all(np.array_equal(a, b) for a, b in zip(outs, want, strict=True))
    click.echo(f"{board.name} on {port.port}: {len(xs[0])} inputs, outputs equal to the "
               f"reference: {equal}")
    for i, c in enumerate(got.cycles):
        click.echo(f"  inference {i}: {c:,} cycles = {1000 * c / board.clock_hz:.3f} ms at "
                   f"{board.clock_hz / 1e6:g} MHz")
    if got.status not in (None, 0):
        click.echo(f"  the firmware exited with status {got.status}")
    return equal and got.status in (None, 0)


def monitor_command(cli: ModuleType) -> click.Command:
    @click.command("monitor")
    @click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
    @cli._board_option
    @click.option("--port", required=True, help="the board's serial port, e.g. /dev/ttyACM0")
    @click.option("--baud", default=115200, show_default=True, help="the console's baud rate")
    @click.option("--timeout", default=30.0, show_default=True,
                  help="seconds to wait for the results")
    def monitor_cmd(out_dir, board_name, port, baud, timeout):
        """Read the results of OUT's firmware from a board's serial PORT and compare them with
        the reference (start or reset the board after this command starts)."""
        from ..targets.board.monitor import MonitorError, SerialPort

        board = cli._board(board_name)
        proj, xs = expected(cli, out_dir, board)
        try:
            sp = SerialPort(port, baud)
        except MonitorError as e:
            raise cli.CLIError(str(e)) from e
        with sp:
            ok = report_serial(cli, proj, xs, board, sp, timeout)
        if not ok:
            raise SystemExit(1)

    return monitor_cmd


def flash_command(cli: ModuleType) -> click.Command:
    @click.command("flash")
    @click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
    @cli._board_option
    @click.option("--dry-run", is_flag=True, help="print the flasher command instead of running it")
    @click.option("--port", help="serial port for flashers that need one (e.g. /dev/ttyACM0)")
    @click.option("--monitor", "monitor_port", help="then read the results from this serial port "
                  "(opened before flashing) and compare them with the reference")
    @click.option("--timeout", default=30.0, show_default=True, help="seconds for --monitor")
    def flash_cmd(out_dir, board_name, dry_run, port, monitor_port, timeout):
        """Flash OUT's built firmware for a real board with the board's flasher."""
        import contextlib
        import shlex

        from ..targets.board.flash import flash
        from ..targets.board.monitor import MonitorError, SerialPort

        board = cli._board(board_name)
        with contextlib.ExitStack() as stack:
            serial_port = None
            if monitor_port and not dry_run:
                proj, xs = expected(cli, out_dir, board)
                try:
                    serial_port = stack.enter_context(SerialPort(monitor_port))
                except MonitorError as e:
                    raise cli.CLIError(str(e)) from e
            try:
                cmd = flash(board, Path(out_dir) / board.name, dry_run=dry_run, port=port)
            except (RuntimeError, ValueError, OSError) as e:
                raise cli.CLIError(str(e)) from e
            click.echo(shlex.join(cmd) if dry_run else f"flashed {board.name}")
            if serial_port is not None and not report_serial(cli, proj, xs, board, serial_port,
                                                             timeout):
                raise SystemExit(1)

    return flash_cmd
