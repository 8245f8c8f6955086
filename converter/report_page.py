"""The HTML report of a converted model: one self-contained page plus ``report.json``.

``write_report(project, out_dir)`` gathers what an engineer choosing a deployment reads: the
model's totals (MACs, weight and constant bytes, arena and its lower bound, and with a board
run flash, RAM and instructions), a per-layer table (op, shapes, MACs, storage format and bits,
bytes, the arena slot of its output, instructions, SQNR of weights and outputs against float),
and figures (``report_figures.py``): weight histograms before and after quantization, the
per-layer SQNR, the arena's memory timeline with its peak against the lower bound, the per-layer
instruction profile of a board run, and for a spiking network its spikes per layer per step.

The output SQNR of a layer is ``10 log10(sum f^2 / sum (f - s (q - z))^2)`` over calibration
inputs, ``f`` the float model's output of that layer and ``q`` the quantized model's (same
value name, same shape); each layer sees the quantized model's own inputs, so the figure is
the error accumulated up to that layer, as the deployed model has it.

The figures are embedded as PNG data URIs (the page needs no other file) and also written
beside it. Every file is rendered in memory first and then moved into place, so an error leaves
the directory as it was.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import report_figures as figs
from .ir import IRError
from .plan import Storage
from .reference import run as run_reference

if TYPE_CHECKING:
    from .project import Firmware, Project, RunResult

SPIKING_SAMPLES = 16  # inputs the spike counts average over


@dataclass(frozen=True)
class Figure:
    file: str  # its PNG file beside the page
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def write_report(project: Project, out_dir: str | os.PathLike[str], *,
                 calibration: object = None, firmware: Firmware | None = None,
                 run: RunResult | None = None) -> Path:
    """Write ``index.html``, ``report.json`` and the figures' PNG files into ``out_dir``;
    returns the page's path. ``calibration``: float inputs in the framework's layout (output
    SQNR, and the spike counts of a spiking network); ``firmware`` and ``run`` (a profile
    build's run, ``proj.build(board, out, x, profile=True).run()``): flash, RAM and the
    instruction profile."""
    rep = project.report()
    layers = [dict(r) for r in rep["layers"]]
    out_sqnr = _output_sqnr(project, calibration)
    plan = project.sources().plan
    counts = {p.name: p.count for p in run.profile.layers} if run and run.profile else {}
    for r, n in zip(layers, project.graph.nodes, strict=True):
        r["output_sqnr_db"] = out_sqnr.get(n.name)
        r["arena_slot"] = _slot(plan, n.outputs[0])
        r["instructions"] = counts.get(n.name)
    summary = _summary(rep, firmware, run)
    board = firmware.board.name if firmware is not None else "the board"
    figures = _figures(project, layers, plan, run, board, calibration)
    page = _render(project.name, summary, layers, figures)
    data = {**rep, "layers": layers, "summary": summary,
            "figures": [f.file for f in figures]}
    files = {"index.html": page.encode(), "report.json": json.dumps(_jsonable(data), indent=2)
             .encode(), **{f.file: f.png for f in figures}}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".report-") as tmp:
        for name, content in files.items():
            (Path(tmp) / name).write_bytes(content)
        for name in files:
            os.replace(Path(tmp) / name, out / name)
    return out / "index.html"


def _slot(plan, value) -> str:
    try:
        b = plan.buffer(value)
    except IRError:  # a value the plan holds no buffer for
        return "-"
    if b.storage is Storage.ARENA:
        return f"{b.offset:,}-{b.offset + b.size:,}"
    return b.storage.value


def _summary(rep: dict, firmware, run) -> dict[str, object]:
    s: dict[str, object] = {k: rep[k] for k in ("macs", "weight_bytes", "const_bytes",
                                                 "arena_bytes", "arena_lower_bound",
                                                 "input_bytes", "output_bytes")}
    if firmware is not None:
        s.update(board=firmware.board.name, flash_bytes=firmware.flash_bytes,
                 ram_bytes=firmware.ram_bytes)
    if run is not None:
        s.update(instructions=int(run.counts[0]), unit=run.unit,
                 per_mac=run.counts[0] / rep["macs"] if rep["macs"] else None)
    return s


def _output_sqnr(project: Project, calibration: object) -> dict[str, float]:
    """Per node name, the output SQNR (module docstring); empty without a float model or
    calibration, or for graphs the one-shot reference cannot run alone (stateful, spiking)."""
    g, fg = project.graph, project.float_graph
    if calibration is None or fg is None or g.stateful or len(g.inputs) != 1 \
            or hasattr(project, "time_major_inputs"):
        return {}
    x = np.asarray(calibration, np.float32)
    q, _ = project.prepare_inputs([x])
    _, qt = run_reference(g, q, keep_all=True)
    _, ft = run_reference(fg, [project.input_layouts[0].to_ir(x)], keep_all=True)
    out = {}
    for n in g.nodes:
        v = n.outputs[0]
        f = ft.get(v.name)
        if v.quant is None or f is None or np.shape(f) != np.shape(qt[v.name]):
            continue
        f = np.asarray(f, np.float64)
        noise = float(np.sum((f - v.quant.dequantize(qt[v.name]).astype(np.float64)) ** 2))
        signal = float(np.sum(f ** 2))
        out[n.name] = math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-300) / noise)
    return out


def _figures(project: Project, layers: list[dict], plan, run, board: str, calibration
             ) -> list[Figure]:
    g = project.graph
    figures = []
    series = _weight_series(project)
    if series:
        figures.append(Figure("weights.png", "Weights before and after quantization",
                              "Histogram of each weighted layer's float weights (filled) and "
                              "of its stored weights dequantized (outline), log scale.",
                              figs.weight_histograms(series)))
    named = [r for r in layers if r.get("sqnr_db") is not None
             or r.get("output_sqnr_db") is not None]
    if named:
        figures.append(Figure("sqnr.png", "Quantization error per layer",
                              "SQNR against the float model: of the layer's weights, and of its "
                              "output on the calibration inputs (6 dB a bit).",
                              figs.sqnr_bars([r["name"] for r in named],
                                             [r.get("sqnr_db") for r in named],
                                             [r.get("output_sqnr_db") for r in named])))
    blocks = [figs.ArenaBlock(b.values[0].name.split("/")[-1][:18], b.offset, b.size,
                              b.start, min(b.end, len(g.nodes) - 1))
              for b in plan.buffers if b.storage is Storage.ARENA and b.size > 0]
    figures.append(Figure("memory.png", "Memory timeline",
                          f"Arena buffers over the {len(g.nodes)} steps; the arena "
                          f"({plan.arena_size:,} B) against the lower bound "
                          f"({plan.lower_bound:,} B), the most bytes live at once.",
                          figs.memory_timeline(blocks, [n.name for n in g.nodes],
                                               plan.arena_size, plan.lower_bound)))
    if run is not None and run.profile is not None:
        p = run.profile
        figures.append(Figure("profile.png", "Instruction profile",
                              f"{run.unit.capitalize()} per layer of one inference, counted in "
                              f"the emulator ({sum(x.count for x in p.layers):,} in the layers, "
                              f"{p.total:,} in all).",
                              figs.instruction_profile([x.name for x in p.layers],
                                                       [x.count for x in p.layers], run.unit,
                                                       board)))
    if calibration is not None and hasattr(project, "spiking_report"):
        x = np.asarray(calibration)
        sample = project.input_layouts[0].framework_shape(tuple(g.inputs[0].shape))[1:]
        x = x[:SPIKING_SAMPLES] if x.shape[1:] == sample else x[:, :SPIKING_SAMPLES]
        rep = project.spiking_report(x)  # static [B, ...] or time-major [T, B, ...]
        lif = [a for a in rep.layers if a.neurons]
        if lif:
            figures.append(Figure("spikes.png", "Spikes per layer per time step",
                                  "Spikes emitted at each step, mean over the first "
                                  f"{SPIKING_SAMPLES} calibration inputs (or fewer).",
                                  figs.spikes_per_step([a.name for a in lif],
                                                       [a.spikes for a in lif])))
    return figures


def _weight_series(project: Project) -> list[figs.WeightSeries]:
    floats = {n.name: n for n in project.float_graph.nodes} if project.float_graph else {}
    out = []
    for n in project.graph.nodes:
        if n.weight_axis is None or len(n.inputs) < 2 or not n.inputs[1].is_const:
            continue
        w = n.inputs[1]
        if w.quant is None or w.data is None:
            continue
        shape = [1] * w.data.ndim
        if np.size(w.quant.scale) > 1 and w.quant.axis is not None:
            shape[w.quant.axis] = -1
        deq = np.asarray(w.data, np.float64) * np.asarray(w.quant.scale, np.float64).reshape(shape)
        f = floats.get(n.name)
        fw = np.asarray(f.inputs[1].data, np.float64).ravel() \
            if f is not None and f.inputs[1].is_const and f.inputs[1].data is not None else None
        out.append(figs.WeightSeries(n.name, fw, deq.ravel(), w.dtype.bits))
    return out


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def _render(name: str, summary: dict, layers: list[dict], figures: list[Figure]) -> str:
    import jinja2

    from ..targets.paths import templates_dir

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir() / "report"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = _num
    return env.get_template("report.html.j2").render(name=name, summary=summary, layers=layers,
                                                  figures=figures)


def _num(x, digits: int = 1) -> str:
    """Thousands separated integers, ``digits`` decimals for floats, "-" for nothing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-" if x is None else ("inf" if x > 0 else "-inf")
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        return f"{float(x):,.{digits}f}"
    return str(x)
