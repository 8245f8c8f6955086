"""``firmforge sweep MODEL --grid sweep.toml --data x.npy --labels y.npy -o out/``: a
design-space sweep (``sweeps.py``) from the command line.

The grid file is TOML, one option per line with its list of values::

    weight_bits = [8, 4]
    sparsity = [0.0, 0.5, 0.75]
    board = ["qemu-mps2-an386"]

MODEL loads as for ``firmforge convert``; ``--calib`` gives the calibration samples, ``--data``
and ``--labels`` the accuracy's inputs and classes. Results go to ``out/results.{csv,json}``
and ``out/pareto.png``; the Pareto front is printed. ``cli.py`` adds ``sweep_command(cli)``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import ModuleType

import click
import numpy as np


def sweep_command(cli: ModuleType) -> click.Command:
    @click.command("sweep")
    @click.argument("model")
    @click.option("--grid", "grid_path", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="TOML file: option = [values, ...]")
    @click.option("--calib", "calib_path", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="float calibration samples (.npy)")
    @click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False),
                  help="inputs for the accuracy (.npy)")
    @click.option("--labels", "labels_path", type=click.Path(exists=True, dir_okay=False),
                  help="their classes (.npy of integers)")
    @click.option("--board", help="an emulated board: instructions of one inference")
    @click.option("--address", help="a Ray cluster (ray://host:10001 or host:6379); default: "
                  "a local Ray on every core")
    @click.option("--cache", type=click.Path(file_okay=False), help="record cache directory")
    @click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False))
    def sweep_cmd(model, grid_path, calib_path, data_path, labels_path, board, address, cache,
                  out_dir):
        """Convert MODEL under every configuration of a grid and measure each, on Ray."""
        from .sweeps import SweepError, pareto, sweep, write_results

        try:
            grid = tomllib.loads(Path(grid_path).read_text())
        except tomllib.TOMLDecodeError as e:
            raise cli.CLIError(f"{grid_path}: {e}") from None
        if (data_path is None) != (labels_path is None):
            raise cli.CLIError("--data and --labels go together")
        data = (np.load(data_path), np.load(labels_path)) if data_path else None
        try:
            records = sweep(cli._load_model(model), grid, data, calibration=np.load(calib_path),
                            board=board, address=address, cache=cache, progress=not cli.quiet())
        except SweepError as e:
            raise cli.CLIError(str(e)) from None
        write_results(records, out_dir)
        failed = sum(r["error"] is not None for r in records)
        click.echo(f"{len(records)} configurations ({failed} failed): {out_dir}/results.csv, "
                   f"{out_dir}/pareto.png")
        for r in pareto(records):
            click.echo(f"  pareto: {r['config']}  accuracy {r['accuracy']:.4f}  weights "
                       f"{r['weight_bytes']:,} B")

    return sweep_cmd
