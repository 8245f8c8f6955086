"""The ``firmforge`` command line.

    firmforge convert MODEL -o OUT --calib calib.npy     write C sources for MODEL
    firmforge analyze MODEL [--calib calib.npy]          per-layer table, nothing written
    firmforge compare MODEL.tflite [--input x.npy]       TFLM vs reference vs C, layer by layer
    firmforge boards                                     boards, memory, what this machine can do
    firmforge build OUT --board B                        firmware project for B in OUT/B, built
    firmforge run OUT --board B [--input x.npy]          run in B's emulator, compare, count
                                [--profile]             ... and instructions per layer
    firmforge flash OUT --board B [--dry-run]            program a real board

MODEL is ``package.module:name`` (an ``nn.Module``, a class or function returning one), a
``.pt`` file saved with ``torch.save(model)``, or a ``.tflite`` file.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click
import numpy as np


class CLIError(click.ClickException):
    exit_code = 2


def _load_model(spec: str) -> object:
    path = Path(spec)
    if path.suffix.lower() in (".pt", ".pth", ".tflite", ".nir") or path.exists():
        return path
    if ":" not in spec:
        raise CLIError(f"MODEL {spec!r} is neither a file nor 'package.module:name'")
    mod_name, attr = spec.split(":", 1)
    sys.path.insert(0, str(Path.cwd()))
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise CLIError(f"cannot import {mod_name!r}: {e}") from e
    finally:
        sys.path.pop(0)
    try:
        obj = getattr(mod, attr)
    except AttributeError:
        raise CLIError(f"module {mod_name!r} has no attribute {attr!r}") from None
    import torch

    if not isinstance(obj, torch.nn.Module) and callable(obj):
        obj = obj()
    if not isinstance(obj, torch.nn.Module):
        raise CLIError(f"{spec} is a {type(obj).__name__}, not an nn.Module")
    return obj


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise CLIError(f"--example-shape {text!r}: expected integers like 1,1,28,28") from None
    if not shape or min(shape) <= 0:
        raise CLIError(f"--example-shape {text!r}: dimensions must be positive")
    return shape


def _load_arrays(paths: tuple[str, ...], what: str) -> list[np.ndarray]:
    """One ``.npy`` array per path (one per model input)."""
    out = []
    for path in paths:
        try:
            out.append(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as e:
            raise CLIError(f"cannot read {what} file {path}: {e}") from e
    return out


OBSERVERS = ("minmax", "percentile", "mse")


def _observer(name: str):
    from .quantize import MinMaxObserver, MSEObserver, PercentileObserver

    return {"minmax": MinMaxObserver, "percentile": PercentileObserver, "mse": MSEObserver}[name]


WEIGHT_BITS = ("8", "4", "2")


def _weight_dtype(bits: str):
    from .ir import DType

    return {"8": DType.s8, "4": DType.s4, "2": DType.s2}[bits]


def _per_layer(entries: tuple[str, ...], option: str, parse):
    """``--sparsity 0.5`` (every layer) or ``--sparsity fc1=0.8 --sparsity fc2=0.5`` (per
    layer) -> the value, a dict, or None."""
    if not entries:
        return None
    named = [e for e in entries if "=" in e]
    if len(entries) > 1 and len(named) != len(entries):
        raise CLIError(f"{option}: give one value for every layer or LAYER=VALUE entries, "
                       f"got {' '.join(entries)}")

    def parsed(text: str):
        try:
            return parse(text)
        except ValueError:
            raise CLIError(f"{option} {text!r}: not a valid value") from None

    if not named:
        return parsed(entries[0])
    return {k.strip(): parsed(v) for k, v in (e.split("=", 1) for e in entries)}


def _nm(text: str) -> tuple[int, int]:
    n, m = text.split(":")
    return int(n), int(m)


def _compression_options(fn):
    for deco in reversed([
        click.option("--sparsity", multiple=True,
                     help="magnitude pruning: fraction of each layer's weights removed, in "
                          "[0, 1); LAYER=S (repeatable) for single layers"),
        click.option("--sparsity-block", "sparsity_block", multiple=True,
                     help="with --sparsity: prune whole blocks of B output channels x 1 input "
                          "(B = 4 stores as block CSR, the fastest sparse kernel); "
                          "LAYER=B for single layers"),
        click.option("--nm", multiple=True,
                     help="N:M sparsity such as 2:4 (at most N nonzeros in every M weights of "
                          "a row); LAYER=N:M for single layers"),
        click.option("--clusters", multiple=True,
                     help="k-means clustering: at most K distinct weights per layer; LAYER=K "
                          "for single layers"),
    ]):
        fn = deco(fn)
    return fn


def _convert(model_spec, calib_paths, example_shape, name, observer, weight_bits, need_calib,
             progress, compression=None, **ptq):
    """Convert MODEL. A quantized .tflite file needs no calibration; a float model needs
    --calib (one file per input), or for ``analyze`` (sizes only) --example-shape;
    ``compression`` the keyword arguments of ``convert``'s compression options."""
    from .convert import CalibrationRequired, convert

    progress = progress and not quiet()
    model = _load_model(model_spec)
    spiking = _spiking_options(ptq)  # pops the spiking flags
    ptq = {**ptq, **spiking}
    arrays = _load_arrays(calib_paths, "calibration")
    calib = None if not arrays else arrays[0] if len(arrays) == 1 else tuple(arrays)
    shape = _parse_shape(example_shape)
    note = None
    if calib is None and not need_calib and shape is not None and not ptq.get("data_free"):
        calib = np.random.default_rng(0).standard_normal((64, *shape[1:])).astype(np.float32)
        note = "no --calib given: activation ranges come from random data (sizes do not depend on them)"
    example = None
    if shape is not None:
        example = np.zeros(shape, np.float32)
    try:
        proj = convert(model, example_input=example, calibration=calib, name=name,
                       observer=_observer(observer), progress=progress,
                       weight_dtype=_weight_dtype(weight_bits), **(compression or {}),
                       **ptq)
    except CalibrationRequired as e:
        hint = ("give --calib FILE.npy (one per input) or --example-shape to analyze a float "
                "model" if not need_calib else
                "give --calib FILE.npy (one per input): a float model needs calibration data")
        raise CLIError(hint) from e
    except (ValueError, OSError, NotImplementedError) as e:
        raise CLIError(str(e)) from e
    return proj, note


def _spiking_options(opts: dict) -> dict:
    """``steps``/``dt``/``spiking`` for ``convert`` from the spiking flags (popped from
    ``opts``); empty when none was given."""
    from ..snn.convert import Encoder
    from ..snn.project import Readout
    from .convert import SpikingOptions
    from .ir import DType
    from .ops.spiking import Reset

    steps, dt = opts.pop("steps", None), opts.pop("dt", None)
    membrane, reset = opts.pop("membrane", "16"), opts.pop("reset", None)
    encoder, readout = opts.pop("encoder", None), opts.pop("readout", None)
    if steps is None and dt is None:
        return {}
    spiking = SpikingOptions(membrane=DType.s16 if membrane == "16" else DType.s32,
                             reset=Reset(reset) if reset else None,
                             encoder=Encoder(encoder) if encoder else None,
                             readout=Readout(readout) if readout else None)
    return {"steps": steps, "dt": dt, "spiking": spiking}


def _ptq_options(opts: dict) -> dict:
    """The convert() keywords of the PTQ-quality and budget options that were given."""
    out = {k: v for k, v in opts.items()
           if k in ("bias_correction", "layerwise_calibration", "range_search", "data_free")
           and v}
    out.update((k, opts[k]) for k in ("steps", "dt", "membrane", "reset", "encoder", "readout")
               if opts.get(k) is not None)
    if opts.get("flash_budget"):
        out["flash_budget"] = opts["flash_budget"]
    if opts.get("budget_board"):
        out["board"] = opts["budget_board"]
    if opts.get("mst"):
        out["mst"] = True
    return out


_common = [
    click.argument("model"),
    click.option("--calib", "calib_paths", type=click.Path(dir_okay=False), multiple=True,
                 help="float calibration samples (.npy, [N, ...] in the model's input layout); "
                      "repeat once per input for a model with several; not needed for an int8 "
                      ".tflite file"),
    click.option("--example-shape", help="input shape with batch, e.g. 1,1,28,28"),
    click.option("--name", help="symbol prefix of the generated C (default: the model's class)"),
    click.option("--observer", type=click.Choice(OBSERVERS), default="minmax", show_default=True,
                 help="how calibration chooses activation ranges"),
    click.option("--weight-bits", type=click.Choice(WEIGHT_BITS), default="8", show_default=True,
                 help="conv/dense weights: int8, int4 packed two per byte (per-channel "
                      "symmetric in [-7, 7]) or int2 packed four per byte (in [-1, 1]); a "
                      "quantized .tflite's int8 weights are requantized (GPTQ with --calib)"),
    click.option("--progress/--no-progress", default=True, help="progress bar on calibration"),
    click.option("--bias-correction", is_flag=True,
                 help="subtract each layer's mean output error from quantized weights from its bias"),
    click.option("--layerwise-calibration", is_flag=True,
                 help="learn the rounding of conv/dense weights per layer (AdaRound)"),
    click.option("--range-search", is_flag=True,
                 help="shrink each activation range to the one whose int8 output is closest "
                      "to the float model's on the calibration data (softmax KL for a "
                      "classifier)"),
    click.option("--data-free", is_flag=True,
                 help="no --calib: calibrate on inputs synthesized from the model's BatchNorm "
                      "statistics (needs --example-shape)"),
    click.option("--flash-budget", help="choose 8/4-bit weights per layer so that the C "
                 "constants fit, e.g. 20KB (x1000), 16KiB or 20000"),
    click.option("--budget-board", help="the flash budget is this board's flash size"),
    click.option("--steps", type=click.IntRange(1), help="a spiking network (snnTorch module "
                 "or .nir file): the time steps T of one inference; --calib then holds "
                 "[T, N, ...] sequences or static [N, ...] inputs"),
    click.option("--dt", type=float, help="a .nir file's time step in seconds (required there)"),
    click.option("--membrane", type=click.Choice(["16", "32"]), default="16", show_default=True,
                 help="spiking: membrane width in bits"),
    click.option("--reset", type=click.Choice(["subtract", "zero", "none"]),
                 help="spiking, .nir: the reset NIR cannot state (default zero)"),
    click.option("--encoder", type=click.Choice(["rate"]),
                 help="spiking: rate-code a static input on device"),
    click.option("--readout", type=click.Choice(["spikes", "count", "first_spike", "membrane"]),
                 help="spiking: what the model returns (default spikes per step)"),
    click.option("--mst", is_flag=True,
                 help="binary layers with similar output channels compute a channel from "
                      "another's by the weight words where they differ (MST channel reuse)"),
]


def _with_common(fn):
    for deco in reversed(_common):
        fn = deco(fn)
    return fn


@click.group()
@click.version_option(package_name="firmforge")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars (results and errors only)")
def main(quiet: bool) -> None:
    """firmforge: trained networks to bit-exact microcontroller C."""


def quiet() -> bool:
    """``firmforge --quiet``: every command leaves its progress bars out."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("quiet"))


@main.command("convert")
@_with_common
@_compression_options
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="output directory for the C sources")
def convert_cmd(model, calib_paths, example_shape, name, observer, weight_bits, progress,
                sparsity, sparsity_block, nm, clusters, out_dir, **ptq):
    """Convert MODEL to int8 C sources in OUT."""
    compression = {"sparsity": _per_layer(sparsity, "--sparsity", float),
                   "sparsity_block": _per_layer(sparsity_block, "--sparsity-block", int),
                   "nm": _per_layer(nm, "--nm", _nm),
                   "clusters": _per_layer(clusters, "--clusters", int)}
    proj, _ = _convert(model, calib_paths, example_shape, name, observer, weight_bits, True,
                       progress, compression, **_ptq_options(ptq))
    try:
        files = proj.write(out_dir)
    except OSError as e:
        raise CLIError(str(e)) from e
    rep = proj.report()
    click.echo(f"wrote {len(files)} files to {out_dir}: weights {rep['weight_bytes']:,} B, "
               f"arena {rep['arena_bytes']:,} B, {rep['macs']:,} MACs")


@main.command("analyze")
@_with_common
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def analyze_cmd(model, calib_paths, example_shape, name, observer, weight_bits, progress,
                as_json, **ptq):
    """Print MODEL's per-layer table (op, shapes, MACs, weight bytes, arena, storage format,
    bits, sparsity, float bytes, weight SQNR) without writing code."""
    from .report import format_table

    proj, note = _convert(model, calib_paths, example_shape, name, observer, weight_bits, False,
                          progress, **_ptq_options(ptq))
    rep = proj.report()
    if as_json:
        click.echo(json.dumps(rep, indent=2))
        return
    click.echo(format_table(rep))
    if note:
        click.echo(f"note: {note}")


@main.command("compare")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--input", "input_paths", type=click.Path(exists=True, dir_okay=False),
              multiple=True, help="inputs (.npy) of the model's dtype and shape, batch first; "
                                  "repeat once per model input; default random")
@click.option("--samples", default=10, show_default=True, help="random inputs when no --input")
@click.option("--seed", default=0, show_default=True)
@click.option("--host/--no-host", default=True, help="also run the generated C (trace build)")
def compare_cmd(model, input_paths, samples, seed, host):
    """Run MODEL.tflite in TFLM, the firmforge reference and the host C; compare every layer."""
    from .compare import compare_tflm

    x = _load_arrays(input_paths, "input") or None
    try:
        result = compare_tflm(model, x, samples=samples, seed=seed, host=host)
    except (ValueError, OSError, RuntimeError, NotImplementedError) as e:
        raise CLIError(str(e)) from e
    click.echo(result.format())
    if not result.ok:
        sys.exit(1)


def _load_out(out_dir: str):
    from .serialize import SUFFIX, load_project

    found = sorted(Path(out_dir).glob(f"*{SUFFIX}"))
    if not found:
        raise CLIError(f"{out_dir} holds no converted model (*{SUFFIX}); run "
                       "`firmforge convert MODEL -o {out_dir}` first")
    if len(found) > 1:
        raise CLIError(f"{out_dir} holds several converted models: "
                       f"{', '.join(p.name for p in found)}")
    try:
        return load_project(found[0])
    except ValueError as e:
        raise CLIError(str(e)) from e


def _board(name: str):
    from ..targets.board.spec import load_board

    try:
        return load_board(name)
    except ValueError as e:
        raise CLIError(str(e)) from e


_board_option = click.option("--board", "-b", "board_name", required=True,
                             help="board name (see `firmforge boards`) or a board .toml file")


@main.command("boards")
def boards_cmd():
    """List the boards with flash, RAM, clock and what this machine can do with each."""
    from ..targets.board.spec import all_boards, hls_board_names, load_hls_board

    try:
        boards = all_boards()
        hls = [load_hls_board(n) for n in hls_board_names()]
    except ValueError as e:
        raise CLIError(str(e)) from e
    click.echo(f"{'board':<20} {'core':<12} {'flash':>9} {'RAM':>9} {'clock':>8}  build  emulate")
    for b in boards:
        emu = ("yes" if b.can_emulate else "no") if b.emulator else "-"
        click.echo(f"{b.name:<20} {b.core:<12} {b.flash.size // 1024:>6} KB {b.ram.size // 1024:>6} KB "
                   f"{b.clock_hz / 1e6:>5.0f} MHz  {'yes' if b.can_build else 'no':<5}  {emu}")
    click.echo(f"\n{'HLS target':<20} {'kind':<5} {'part':<24} clock  (firmforge hls --board)")
    for h in hls:
        click.echo(f"{h.name:<20} {h.kind:<5} {h.part or '-':<24} {h.clock_ns:g} ns")


_console_option = click.option(
    "--console", type=click.Choice(["board", "semihosting"]), default="board", show_default=True,
    help="board: the board file's console (a real board's UART); semihosting: output and exit "
         "through an attached debugger (Cortex-M)")


def _build(proj, out_dir: str, board_name: str, xs: list[np.ndarray], profile: bool = False,
           timeout: float = 120, console: str = "board"):
    from ..targets.board.build import BuildError

    board = _board(board_name)
    try:
        if console == "semihosting":
            board = board.with_semihosting_console()
        return proj.build(board, Path(out_dir) / board.name, *xs, profile=profile, timeout=timeout)
    except (BuildError, RuntimeError, ValueError, OSError) as e:
        raise CLIError(str(e)) from e


def _sizes(fw) -> list[str]:
    """The flash split (code vs constants vs test vectors) and the RAM with the stack."""
    b, split = fw.board, fw.flash_split
    stack = (f"{fw.stack_reserved:,} B stack sized from {fw.stack_measured:,} B measured"
             if fw.stack_measured is not None else f"{fw.stack_reserved:,} B stack")
    return [f"flash {fw.flash_bytes:>9,} B of {b.flash.size:,} B: code {split.code:,} B, weights "
            f"and tables {split.weights:,} B, parameter structs {split.params:,} B, test vectors "
            f"{split.vectors:,} B",
            f"RAM   {fw.ram_bytes:>9,} B of {b.ram.size:,} B (arena, state, I/O buffers, {stack})"]


@main.command("build")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
@_board_option
@click.option("--profile", is_flag=True, help="a profile build: a mark after each layer")
@_console_option
def build_cmd(out_dir, board_name, profile, console):
    """Write OUT's firmware project for a board into OUT/BOARD and build it."""
    fw = _build(_load_out(out_dir), out_dir, board_name, [], profile, console=console)
    click.echo(f"built {fw.elf}")
    for line in _sizes(fw):
        click.echo(line)


@main.command("run")
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False))
@_board_option
@click.option("--input", "input_paths", type=click.Path(exists=True, dir_okay=False),
              multiple=True, help="inputs (.npy, batch first, framework layout), repeated once "
                                  "per model input; default: random inputs")
@click.option("--count", default=4, show_default=True, help="random inputs when no --input")
@click.option("--timeout", default=300.0, show_default=True, help="seconds for the emulator")
@click.option("--profile", is_flag=True, help="build with a mark after each layer and print "
                                              "instructions (cycles on AVR) per layer")
def run_cmd(out_dir, board_name, input_paths, count, timeout, profile):
    """Run OUT's model on an emulated board and compare with the reference byte for byte."""
    from ..targets.board.build import BuildError

    proj = _load_out(out_dir)
    xs = _load_arrays(input_paths, "input")
    if not xs:
        xs = [lay.from_ir(q) for lay, q in zip(proj.input_layouts, proj.random_inputs(count),
                                                strict=True)]
    fw = _build(proj, out_dir, board_name, xs, profile, timeout)
    try:
        res = fw.run(timeout=timeout)
    except (BuildError, RuntimeError, ValueError) as e:
        raise CLIError(str(e)) from e
    outs = res.outputs if isinstance(res.outputs, list) else [res.outputs]
    refs = res.reference if isinstance(res.reference, list) else [res.reference]
    n = len(outs[0])
    same = np.ones(n, bool)
    for o, r in zip(outs, refs, strict=True):
        same &= (o == r).reshape(n, -1).all(axis=1)
    click.echo(f"{fw.board.name}: {int(same.sum())}/{n} inferences equal the reference "
               "byte for byte")
    if res.counts:
        per = res.instructions if res.unit == "instructions" else res.cycles
        macs = proj.report()["macs"]
        click.echo(f"{res.unit} per inference: {per:,}" + (f" ({per / macs:.2f} per MAC)" if macs else ""))
    if res.stack_bytes is not None:
        click.echo(f"stack: {res.stack_bytes:,} B used (high-water mark) of {res.stack_reserved:,} B "
                   "reserved")
    for line in _sizes(fw):
        click.echo(line)
    if res.profile is not None:
        click.echo(f"\nper layer, first inference (a profile build: each layer includes its "
                   f"mark's call):\n{res.profile.format()}")
    if not res.equal:
        sys.exit(1)


main.add_command(__import__(f"{__package__}.cli_hls", fromlist=["hls_command"])
                 .hls_command(sys.modules[__name__]))  # `firmforge hls` (cli_hls.py)
_devices = __import__(f"{__package__}.cli_monitor", fromlist=["monitor_command"])
main.add_command(_devices.flash_command(sys.modules[__name__]))  # `firmforge flash` (cli_monitor.py)
main.add_command(_devices.monitor_command(sys.modules[__name__]))  # `firmforge monitor`
main.add_command(__import__(f"{__package__}.cli_sweep", fromlist=["sweep_command"])
                 .sweep_command(sys.modules[__name__]))  # `firmforge sweep` (cli_sweep.py)
main.add_command(__import__(f"{__package__}.cli_report", fromlist=["report_command"])
                 .report_command(sys.modules[__name__]))  # `firmforge report` (cli_report.py)

if __name__ == "__main__":
    main()
