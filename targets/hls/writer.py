"""The generated HLS project, in memory: the top function, layer configurations, weight
headers, the C++ testbench, the Vitis HLS (and Catapult) scripts and a README.

    src/<prefix>.h            I/O types, sizes, the top function's declaration
    src/<prefix>.cpp          the top function: one template call per layer
    src/<prefix>_config.h     one CFG struct per layer (sizes, reuse, widths as typedefs)
    src/<prefix>_weights.h    const arrays typed with their computed widths
    src/ff_hls_*.h            the layer templates (firmware/hls)
    tb/tb.cpp                 reads tb_data/tb_input.txt, writes csim_output.txt, compares
    build_prj.tcl             Vitis HLS: csim, csynth, cosim, export (part and clock inside)
    build_catapult.tcl        (ac flavor) Catapult: compile, then synthesis to RTL
    README.md
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...converter.ir import Graph, Value
from ..c.context import c_identifier
from ..paths import firmware_dir
from . import text
from .context import Flavor, HlsContext, HlsOptions, IoStyle, UnsupportedOp, io_name
from .emit import emit
from .errors import HlsError, UnsupportedOpsError
from .estimate import totals
from .widths import ctype


@dataclass(frozen=True)
class Port:
    """A top-level input or output: its C++ name and element type, and its IR value."""

    name: str
    ctype: str
    value: Value

    @property
    def size(self) -> int:
        return self.value.size


@dataclass
class HlsSources:
    prefix: str
    options: HlsOptions
    files: dict[str, str]
    inputs: list[Port]
    outputs: list[Port]
    stateful: bool
    estimates: dict[str, object] = field(default_factory=dict)
    traced: list[Port] = field(default_factory=list)  # every layer output, FF_HLS_TRACE order


def check_options(options: HlsOptions) -> None:
    if not options.part or not isinstance(options.part, str):
        raise HlsError("an HLS project needs an FPGA part (part='xc7z020clg400-1', or a board)")
    if options.clock_ns is None or not float(options.clock_ns) > 0:
        raise HlsError(f"an HLS project needs a clock period in ns > 0, got {options.clock_ns!r}")
    reuses = options.reuse.values() if hasattr(options.reuse, "values") else [options.reuse]
    for r in reuses:
        if int(r) != r or int(r) < 1:
            raise HlsError(f"reuse factors are positive integers, got {r!r}")


def generate(graph: Graph, name: str, options: HlsOptions) -> HlsSources:
    """Every file of the project (deterministic); raises UnsupportedOpsError listing every op
    without a template, before anything is written."""
    check_options(options)
    prefix = c_identifier(name)
    ctx = HlsContext(graph, prefix, options)
    problems = []
    for v in [*graph.inputs, *graph.outputs]:
        if v.is_const:
            problems.append(f"{v.name}: a constant graph output (fold it away or drop it)")
            continue
        try:
            ctype(v)
        except HlsError as e:
            problems.append(f"{v.name}: graph {'input' if v in graph.inputs else 'output'} "
                            f"({e})")
    traced: list[Port] = []
    for node in graph.nodes:
        ctx.begin(node)
        try:
            emit(node, ctx)
        except UnsupportedOp as e:
            problems.append(str(e))
            continue
        for v in node.outputs:  # csim trace builds only (ff_hls_types.h)
            ctx.body.append(f"    FF_HLS_TRACE({len(traced)}, {ctx.buf(v)}, {v.size});")
            traced.append(Port(f"t{len(traced)}", ctype(v), v))
    if problems:
        raise UnsupportedOpsError(problems)
    ins = [Port(io_name("in", i, len(graph.inputs)), f"{prefix}_{io_name('in', i, len(graph.inputs))}_t", v)
           for i, v in enumerate(graph.inputs)]
    outs = [Port(io_name("out", i, len(graph.outputs)),
                 f"{prefix}_{io_name('out', i, len(graph.outputs))}_t", v)
            for i, v in enumerate(graph.outputs)]
    stateful = bool(ctx.statics)
    files = {f"src/{prefix}.h": text.top_header(prefix, ins, outs, stateful, options),
             f"src/{prefix}.cpp": text.top_source(ctx, ins, outs),
             f"src/{prefix}_config.h": text.config_header(ctx),
             f"src/{prefix}_weights.h": text.weights_header(ctx),
             "tb/tb.cpp": text.testbench(prefix, ins, outs, stateful, options),
             "build_prj.tcl": text.vitis_tcl(prefix, options),
             "README.md": text.readme(prefix, graph, ins, outs, stateful, options)}
    if options.flavor is Flavor.AC:
        files["build_catapult.tcl"] = text.catapult_tcl(prefix, options)
    for h in sorted((firmware_dir() / "hls").glob("ff_hls_*.h")):
        files[f"src/{h.name}"] = h.read_text()
    est = totals(ctx.estimates)
    return HlsSources(prefix, options, files, ins, outs, stateful, est, traced)


__all__ = ["Flavor", "HlsOptions", "HlsSources", "IoStyle", "Port", "generate"]
