"""``firmforge report PROJECT_OR_MODEL -o report/``: the HTML report of a model.

PROJECT_OR_MODEL is either a directory ``firmforge convert`` wrote (the converted model is read
back from it) or a model, converted exactly as ``firmforge convert`` does with the same shared
options. ``--calib`` samples also give the per-layer output error against float (a float model
only: a read-back project keeps no float graph); ``--board`` builds a profile firmware for that
emulated board and runs it once, adding flash, RAM and the per-layer instruction profile.
``cli.py`` adds ``report_command(cli)`` to the group, passing itself (as ``cli_hls.py``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import ModuleType

import click


def report_command(cli: ModuleType) -> click.Command:
    """The ``report`` command, with the shared options and helpers of ``cli``."""
    CLIError = cli.CLIError

    @click.command("report")
    @cli._with_common
    @click.option("--board", "board_name", help="an emulated board (e.g. qemu-mps2-an386): run "
                  "the model there once for flash, RAM and the instruction profile")
    @click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
                  help="directory for index.html, report.json and the figures")
    def report_cmd(model, calib_paths, example_shape, name, observer, weight_bits, progress,
                   board_name, out_dir, **ptq):
        """Write the HTML report of PROJECT_OR_MODEL (a `firmforge convert` output directory or
        a model) into OUT."""
        if Path(model).is_dir():
            proj = cli._load_out(model)
        else:
            proj, _ = cli._convert(model, calib_paths, example_shape, name, observer, weight_bits,
                                   False, progress, **cli._ptq_options(ptq))
        arrays = cli._load_arrays(calib_paths, "calibration")
        calib = arrays[0] if len(arrays) == 1 else None
        firmware = run = None
        if board_name is not None:
            board = cli._board(board_name)
            if board.emulator is None:
                raise CLIError(f"{board.name} is a real board: --board takes an emulated one "
                               f"(qemu-*, simavr-*) to count instructions")
            with tempfile.TemporaryDirectory(prefix="ff-report-") as tmp:
                try:
                    firmware = proj.build(board.name, tmp, profile=True)
                    run = firmware.run()
                except (RuntimeError, ValueError, OSError) as e:
                    raise CLIError(f"{board.name}: {e}") from e
        try:
            page = proj.report_html(out_dir, calibration=calib, firmware=firmware, run=run)
        except OSError as e:
            raise CLIError(str(e)) from e
        click.echo(f"wrote {page}")

    return report_cmd
