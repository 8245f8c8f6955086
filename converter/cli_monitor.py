"""``firmforge monitor OUT --board B --port /dev/ttyACM0``: read a flashed board's results.

The board's firmware (``firmforge build OUT --board B``, then ``flash``) prints its outputs on
the serial port (``targets/board/monitor.py``); this reads them, compares them with the
reference of the same test vectors (``OUT/B/ff_vectors.json``, written by the build) and prints
what ``fw.run()`` reports for an emulator: whether the outputs are equal, and with a cycle
counter the cycles and milliseconds (at the board file's clock) of each inference.
``cli.py`` adds the command (``monitor_command(cli)``), and ``flash --monitor`` calls
``report_serial`` with the port opened before the flasher resets the board.
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
