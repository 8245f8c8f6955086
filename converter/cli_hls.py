"""``firmforge hls MODEL --part PART --clock 5ns -o OUT``: the HLS C++ project of a model.

``cli.py`` adds ``hls_command(cli)`` to the ``firmforge`` group, passing itself: MODEL is
loaded and converted exactly as ``firmforge convert`` does, with the same shared options (and
this module never imports ``cli``, which also runs as ``python -m firmforge.converter.cli``).
"""

from __future__ import annotations

import re
from types import ModuleType

import click

_CLOCK = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ns|mhz)?\s*$", re.I)


def parse_clock(text: str) -> float:
    """``5ns``, ``5`` (ns) or ``200MHz`` -> the period in ns."""
    m = _CLOCK.match(text)
    if not m or float(m.group(1)) <= 0:
        raise click.BadParameter(f"--clock {text!r}: give a period such as 5ns or a frequency such as "
                       "200MHz")
    value = float(m.group(1))
    return 1000.0 / value if (m.group(2) or "").lower() == "mhz" else value


def hls_command(cli: ModuleType) -> click.Command:
    """The ``hls`` command, with the shared options and helpers of ``cli``."""
    CLIError = cli.CLIError

    @click.command("hls")
    @cli._with_common
    @cli._compression_options
    @click.option("--part", help="FPGA part, e.g. xc7z020clg400-1 (or take it from --board)")
    @click.option("--clock", "clock", help="clock period (5ns) or frequency (200MHz)")
    @click.option("--board", "board_name", help="an fpga/asic board file from boards/ (pynq-z2, "
                  "zcu104, alveo-u250, asic): its part and clock")
    @click.option("--reuse", multiple=True, help="reuse factor: N for every layer, or LAYER=N")
    @click.option("--io", type=click.Choice(["parallel", "stream"]), default="parallel",
                  show_default=True, help="arrays or streams at the top function")
    @click.option("--flavor", type=click.Choice(["ap", "ac"]), default="ap", show_default=True,
                  help="ap_int (Vitis HLS) or ac_int (Catapult)")
    @click.option("--csim/--no-csim", default=False, help="also run the C simulation (g++) on the "
                  "test vectors and compare with the reference")
    @click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
                  help="output directory for the HLS project")
    def hls_cmd(model, calib_paths, example_shape, name, observer, weight_bits, progress, sparsity,
                sparsity_block, nm, clusters, part, clock, board_name, reuse, io, flavor, csim,
                out_dir, **ptq):
        """Convert MODEL to a Vitis HLS C++ project in OUT."""
        if board_name is None and (part is None or clock is None):
            raise CLIError("an HLS project needs --part and --clock (or --board)")
        compression = {"sparsity": cli._per_layer(sparsity, "--sparsity", float),
                       "sparsity_block": cli._per_layer(sparsity_block, "--sparsity-block", int),
                       "nm": cli._per_layer(nm, "--nm", lambda t: tuple(int(v) for v in t.split(":"))),
                       "clusters": cli._per_layer(clusters, "--clusters", int)}
        proj, _ = cli._convert(model, calib_paths, example_shape, name, observer, weight_bits, True,
                           progress, compression, **cli._ptq_options(ptq))
        try:
            hp = proj.write_hls(out_dir, part=part,
                                clock_ns=parse_clock(clock) if clock is not None else None,
                                reuse=cli._per_layer(reuse, "--reuse", int) or 1, io=io,
                                flavor=flavor, board=board_name)
        except (ValueError, OSError) as e:  # HlsError and BoardError are ValueErrors
            raise CLIError(str(e)) from e
        est = hp.estimates
        click.echo(f"wrote {len(hp.files)} files to {out_dir}: {est['multipliers']:,} multipliers, "
                   f"{est['latency_cycles']:,} cycles, {est['weight_bits']:,} weight bits "
                   "(estimates; synthesis gives the real numbers)")
        if csim:
            from .reference import run

            q = proj.random_inputs()  # IR batches, consecutive steps of a stateful model
            bad = hp.backend.verify(hp.project.host(), q, run(proj.graph, q)[0])
            if bad is not None:
                raise CLIError(f"C simulation differs from the reference: {bad}")
            click.echo("C simulation equals the reference")

    return hls_cmd
